"""Every committed event reaches Kafka exactly as API.md specifies, in stream order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import jsonschema
import orjson

from contracts import generation
from contracts.enveloppe import TOPIC_IDENTITES, TOPIC_PARCOURS, identifiant_evenement
from contracts.evenements import PAYLOADS
from services.runtime.kafka_local import LocalKafkaBroker
from tests.integration.conftest import Api
from tests.integration.relais_outils import Recu, lire_jusqua, relais_actif

ENTETES_ATTENDUES = [
    "ce_specversion",
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_subject",
    "ce_time",
    "ce_dataschema",
    "content-type",
    "ce_sequence",
    "ce_partitionkey",
    "ce_correlationid",
    "ce_causationid",
    "traceparent",
    "ce_auteur",
]


async def _scenario(api: Api, nom: str, prenoms: str) -> tuple[str, str]:
    lieu = (
        await api.post("/v1/lieux", {"nom": "MECS Les Tilleuls", "type": "mecs", "departement": "59", "capacite": 12})
    ).json()["id"]
    ouvert = (
        await api.post(
            "/v1/parcours",
            {
                "personne": {"nom": nom, "prenoms": prenoms, "date_naissance": "2011-03-14", "sexe": "F"},
                "departement": "59",
                "date_effet": "2025-01-06",
            },
        )
    ).json()
    pid = ouvert["id"]
    ip = (
        await api.post(
            f"/v1/parcours/{pid}/informations-preoccupantes",
            {"origine": "education_nationale", "dangers": ["negligences"], "date_effet": "2025-01-07"},
        )
    ).json()
    await api.post(
        f"/v1/parcours/{pid}/evaluations",
        {"ip_id": ip["ip_id"], "suite": "saisine_judiciaire", "date_effet": "2025-02-01"},
    )
    mesure = (
        await api.post(
            f"/v1/parcours/{pid}/mesures",
            {
                "cadre": "judiciaire",
                "nature": "confiage_ase",
                "autorite": "juge_des_enfants",
                "reference_decision": "JE-2025-0042",
                "date_debut": "2025-02-03",
                "date_echeance": "2027-02-02",
                "date_effet": "2025-02-03",
            },
        )
    ).json()
    await api.post(
        f"/v1/parcours/{pid}/accueil", {"mesure_id": mesure["mesure_id"], "lieu_id": lieu, "date_effet": "2025-02-04"}
    )
    reponse = await api.post(
        f"/v1/parcours/{pid}/rectifications",
        {"version_rectifiee": 1, "champ": "date_naissance", "nouvelle_valeur": "2011-03-15", "motif": f"erreur {nom}"},
    )
    assert reponse.status_code == 200, reponse.text
    await api.post(f"/v1/parcours/{pid}/ppe", {"date_effet": "2026-11-28"})
    return pid, lieu


async def test_every_committed_event_is_on_kafka_as_specified_and_in_stream_order(
    api: Api, base_url: str, kafka_broker: LocalKafkaBroker
) -> None:
    nom, prenoms = f"Zephyrin{uuid.uuid4().hex[:8]}", "Ondine Marcelle"
    pid, lieu = await _scenario(api, nom, prenoms)
    evenements = {flux: list(api.application.repository.event_store.get(uuid.UUID(flux))) for flux in (pid, lieu)}
    attendus = {(flux, e.originator_version) for flux, evs in evenements.items() for e in evs}

    async with relais_actif(base_url, kafka_broker.bootstrap_servers):
        recus = await lire_jusqua(
            kafka_broker.bootstrap_servers,
            [TOPIC_PARCOURS],
            lambda r: {(m.entetes["ce_subject"], int(m.entetes["ce_sequence"])) for m in r} >= attendus,
            filtre=lambda m: m.entetes.get("ce_subject") in evenements,
        )

    par_id = {(m.entetes["ce_subject"], int(m.entetes["ce_sequence"])): m for m in recus}
    for flux, evs in evenements.items():
        for e in evs:
            m = par_id[(flux, e.originator_version)]
            assert list(m.entetes) == ENTETES_ATTENDUES
            assert m.cle == flux.encode()
            assert m.entetes["ce_specversion"] == "1.0"
            assert m.entetes["ce_id"] == identifiant_evenement(uuid.UUID(flux), e.originator_version)
            assert m.entetes["ce_partitionkey"] == flux
            assert m.entetes["content-type"] == "application/json"
            assert m.entetes["ce_source"] == ("/ase/59/parcours" if flux == pid else "/ase/59/lieux")
            assert datetime.fromisoformat(m.entetes["ce_time"]) == e.metadonnees.enregistre_le.astimezone(UTC)
            assert m.entetes["ce_correlationid"] == e.metadonnees.correlation_id
            assert m.entetes["traceparent"].startswith("00-")
            assert m.entetes["ce_auteur"] == e.metadonnees.auteur == "alice"
            type_ce = m.entetes["ce_type"]
            assert type_ce == PAYLOADS[type_ce].type_cloudevents()
            assert PAYLOADS[type_ce].nom_evenement() == type(e).__name__
            assert m.entetes["ce_dataschema"].endswith(f"/{type_ce}.json")
            assert m.valeur is not None
            schema = orjson.loads(
                (generation.DOSSIER_CONTRATS / generation.SOUS_DOSSIER_SCHEMAS / f"{type_ce}.json").read_bytes()
            )
            jsonschema.validate(
                orjson.loads(m.valeur), schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
            )
            corps = PAYLOADS[type_ce].model_validate_json(m.valeur)
            assert corps.date_effet == e.date_effet

    # Per key, offsets grow with the stream version: consumers see each stream in order.
    for flux in evenements:
        dans_l_ordre = sorted((m for m in recus if m.cle == flux.encode()), key=lambda m: m.offset)
        versions = [int(m.entetes["ce_sequence"]) for m in dans_l_ordre]
        assert versions == sorted(versions)
        assert len({m.partition for m in dans_l_ordre}) == 1

    ouverture = orjson.loads(par_id[(pid, 1)].valeur or b"")
    assert ouverture["mois_naissance"] == "2011-03"
    assert "date_naissance" not in ouverture
    rectification = next(
        orjson.loads(m.valeur or b"")
        for m in recus
        if m.entetes["ce_type"] == "fr.ase.parcours.saisie_rectifiee.v2" and m.cle == pid.encode()
    )
    assert rectification["nouvelle_valeur"] == "2011-03"


async def test_no_name_or_birth_date_appears_in_any_byte_of_the_public_topic(
    api: Api, base_url: str, kafka_broker: LocalKafkaBroker
) -> None:
    nom, prenoms = f"Quillebeuf{uuid.uuid4().hex[:8]}", f"Anatole{uuid.uuid4().hex[:6]}"
    pid, _ = await _scenario(api, nom, prenoms)
    personne_id = (await api.get(f"/v1/parcours/{pid}")).json()["personne_id"]

    def tout_le_sujet(m: Recu) -> bool:
        return True

    async with relais_actif(base_url, kafka_broker.bootstrap_servers):
        identites = await lire_jusqua(
            kafka_broker.bootstrap_servers,
            [TOPIC_IDENTITES],
            lambda r: any(m.cle == personne_id.encode() for m in r),
        )
        publics = await lire_jusqua(
            kafka_broker.bootstrap_servers,
            [TOPIC_PARCOURS],
            lambda r: any(m.cle == pid.encode() and m.entetes["ce_type"].endswith("ppe_etabli.v1") for m in r),
            filtre=tout_le_sujet,
        )

    octets = b"".join(
        m.cle + (m.valeur or b"") + b"".join(k.encode() + v.encode() for k, v in m.entetes.items()) for m in publics
    )
    for secret in (nom, prenoms, "2011-03-14", "2011-03-15", "14/03/2011"):
        assert secret.encode() not in octets
    # The restricted identities topic is where the name travels, keyed by personne_id.
    identite = next(m for m in identites if m.cle == personne_id.encode())
    assert nom.encode() in (identite.valeur or b"")
