"""The restricted topic: what the public topic withholds reaches the département's caseworkers, and no one else.

Issue 9: the name of a lieu that is a private person (an assistant familial)
was rightly absent from the public topic, but the caseworkers placing children
there never saw it either (the dossier and the occupation showed null, in both
feeds); and a court's reference or the exact date of majority could not leave
the public topic without leaving the dossier too. They now travel on
``ase.parcours.restreint.v1``: the dossier, the auditors' chronology and the
occupation show them, built from the store or from Kafka alike, while the
public topic carries none of them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import orjson
import pytest

from contracts.enveloppe import TOPIC_PARCOURS, TOPIC_RESTREINT
from droit.calendrier import anniversaire
from services.projections import catalogue
from services.projections.readmodels.audit import ProjectionAudit, evenements_du_parcours
from services.projections.readmodels.dossiers import ProjectionDossiers
from services.projections.readmodels.occupation import occupation_lieu
from services.projections.readmodels.pilotage import ProjectionPilotage
from services.runtime.feeds import FeedKafka, Positions
from services.runtime.moteur import Moteur, Projection
from tests.integration.conftest import Api, Lecture
from tests.integration.kafka_fixtures import KafkaBroker
from tests.integration.pilotage_outils import Referent
from tests.integration.projections_outils import (
    SeulementCetteBase,
    amorcer,
    debuts_de_nos_evenements,
    executer_jusqua,
    relais_a_jour,
)
from tests.integration.relais_outils import lire_jusqua, relais_actif
from tests.integration.schemas import schema_a_part

NOM_ASSISTANTE = "Mme Claire Dupont"
REFERENCE = "JE-2025/00042"
NE_LE = date(2008, 5, 20)
MAJORITE = anniversaire(NE_LE, 18)  # 2026-05-20, before the tests' today (2026-11-28)


@pytest.fixture
async def pool(base_url: str) -> Any:
    reserve = await asyncpg.create_pool(base_url, min_size=1, max_size=6)
    yield reserve
    await reserve.close()


async def _histoire(api: Api) -> tuple[str, str, str]:
    """A child placed with an assistant familial under a judge's confiage, then of age; (parcours, lieu, mesure)."""
    nord = Referent(api)
    lieu = await nord.lieu("assistant_familial", capacite=2, nom=NOM_ASSISTANTE)
    parcours_id = str((await nord.ouvrir(date(2025, 3, 3), ne_le=NE_LE))["id"])
    mesure = await nord.mesure(
        parcours_id,
        date(2025, 3, 3),
        cadre="judiciaire",
        nature="confiage_ase",
        autorite="juge_des_enfants",
        echeance=date(2026, 3, 2),
        reference=REFERENCE,
    )
    await nord.placer(parcours_id, mesure, lieu, date(2025, 3, 4))
    return parcours_id, lieu, mesure


async def _par_kafka(pool: asyncpg.Pool, bootstrap: str, projection: Projection) -> str:
    """``projection`` built by its engine from the shared topics (this test's events only)."""
    seule = SeulementCetteBase(projection)
    feed = FeedKafka(bootstrap, list(projection.sujets), groupe=f"test.restreint.{uuid.uuid4().hex}", taille_lot=3)
    fins: Positions = await feed.fins()
    schema = schema_a_part(projection.nom)
    await amorcer(pool, schema, seule, await debuts_de_nos_evenements(pool, bootstrap, fins))
    await executer_jusqua(Moteur(seule, schema, pool, feed), fins)
    return schema


async def _dossier(pool: asyncpg.Pool, schema: str, parcours_id: str) -> dict[str, Any]:
    async with pool.acquire() as conn:
        dossier = await conn.fetchrow(
            f'SELECT d.majorite_atteinte_le, l.nom AS lieu_nom FROM "{schema}".dossiers d '
            f'LEFT JOIN "{schema}".lieux l USING (lieu_id) WHERE d.parcours_id = $1',
            UUID(parcours_id),
        )
        references = await conn.fetch(
            f'SELECT reference_decision, levee_le FROM "{schema}".mesures WHERE parcours_id = $1', UUID(parcours_id)
        )
        lieu = await conn.fetchval(f'SELECT nom FROM "{schema}".lieux WHERE type = $1', "assistant_familial")
    return {
        "majorite_atteinte_le": dossier["majorite_atteinte_le"],
        "lieu": lieu,
        "mesures": sorted((r["reference_decision"], r["levee_le"]) for r in references),
    }


async def test_the_assistant_familial_s_name_is_shown_to_the_caseworker_in_the_dossier_and_the_occupation_in_both_feeds_and_absent_from_the_public_topic(
    api: Api, lecture: Lecture, base_url: str, pool: asyncpg.Pool, kafka_broker: KafkaBroker
) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    async with relais_actif(base_url, bootstrap):
        parcours_id, lieu, _mesure = await _histoire(api)
        # The store's feed, through the read API: the caseworker sees whom the child lives with.
        await lecture.a_jour()
        dossier = (await lecture.get(f"/v1/dossiers/{parcours_id}", role="referent")).json()
        assert dossier["accueil"]["lieu_nom"] == NOM_ASSISTANTE
        assert [m["reference_decision"] for m in dossier["mesures_actives"]] == [REFERENCE]
        occupation = (await lecture.get(f"/v1/lieux/{lieu}/occupation")).json()
        assert occupation["nom"] == NOM_ASSISTANTE

        # Majority: dated on the 18th birthday, to the day, for the caseworker and the auditor.
        await Referent(api).envoyer(f"/v1/parcours/{parcours_id}/majorite", {})
        await relais_a_jour(pool)
    await lecture.a_jour()
    dossier = (await lecture.get(f"/v1/dossiers/{parcours_id}", role="referent")).json()
    assert dossier["majorite_atteinte_le"] == MAJORITE.isoformat()
    chronologie = (await lecture.get(f"/v1/audit/parcours/{parcours_id}/chronologie", role="auditeur")).json()
    par_nom = {e["nom"]: e for e in chronologie["evenements"]}
    assert par_nom["MajoriteAtteinte"]["date_effet"] == MAJORITE.isoformat()
    assert par_nom["MesureLevee"]["date_effet"] == MAJORITE.isoformat()
    assert par_nom["MesureDecidee"]["donnees"]["reference_decision"] == REFERENCE

    # Kafka: the same, built by the projections from the public and the restricted topics.
    async with pool.acquire() as conn:
        actif = await catalogue.schema_actif(conn, "dossiers")
        actif_pilotage = await catalogue.schema_actif(conn, "pilotage")
        actif_audit = await catalogue.schema_actif(conn, "audit")
    assert actif is not None
    assert actif_pilotage is not None
    assert actif_audit is not None
    attendu = {"majorite_atteinte_le": MAJORITE, "lieu": NOM_ASSISTANTE, "mesures": [(REFERENCE, MAJORITE)]}
    assert await _dossier(pool, actif, parcours_id) == attendu
    schema = await _par_kafka(pool, bootstrap, ProjectionDossiers())
    assert await _dossier(pool, schema, parcours_id) == attendu
    schema_pilotage = await _par_kafka(pool, bootstrap, ProjectionPilotage())
    for s in (actif_pilotage, schema_pilotage):
        lu = await occupation_lieu(pool, s, UUID(lieu))
        assert lu is not None
        assert lu.nom == NOM_ASSISTANTE, s
    schema_audit = await _par_kafka(pool, bootstrap, ProjectionAudit())
    for s in (actif_audit, schema_audit):
        async with pool.acquire() as conn:
            evenements = {e.nom: e for e in await evenements_du_parcours(conn, s, UUID(parcours_id))}
        assert evenements["MajoriteAtteinte"].date_effet == MAJORITE, s
        assert evenements["MesureDecidee"].donnees["reference_decision"] == REFERENCE, s

    # The public topic carries none of it; the restricted one carries it all.
    flux = {parcours_id, lieu}
    recus = await lire_jusqua(
        bootstrap,
        [TOPIC_PARCOURS, TOPIC_RESTREINT],
        lambda r: (
            {m.entetes["ce_type"] for m in r} >= {"fr.ase.parcours.majorite_atteinte.v2"}
            and len([m for m in r if m.topic == TOPIC_RESTREINT]) >= 5
        ),
        filtre=lambda m: m.entetes.get("ce_subject") in flux,
    )
    publics = b"\n".join(m.valeur or b"" for m in recus if m.topic == TOPIC_PARCOURS)
    restreints = b"\n".join(m.valeur or b"" for m in recus if m.topic == TOPIC_RESTREINT)
    for secret in (NOM_ASSISTANTE, "Dupont", REFERENCE, MAJORITE.isoformat(), NE_LE.isoformat()):
        assert secret.encode() not in publics, secret
    for secret in (NOM_ASSISTANTE, REFERENCE, MAJORITE.isoformat()):
        assert secret.encode() in restreints, secret


async def _chronologie_kafka(pool: asyncpg.Pool, schema: str, parcours_id: str, connu_le: datetime) -> list[str]:
    async with pool.acquire() as conn:
        return [e.nom for e in await evenements_du_parcours(conn, schema, UUID(parcours_id), connu_le=connu_le)]


async def test_a_majority_recorded_on_the_18th_birthday_is_public_on_the_first_of_its_month_and_exact_for_the_auditor_in_both_feeds(
    api: Api, lecture: Lecture, base_url: str, pool: asyncpg.Pool, kafka_broker: KafkaBroker
) -> None:
    """Issue 9, point 4: the public ``ce_time`` of a majority recorded on the birthday told the day.

    It is now the first instant of its month (UTC); the restricted record carries the exact time, which the
    audit chronology, its ``connu_le`` state and the dossiers' journal show, from the store or from Kafka.
    """
    bootstrap = kafka_broker.bootstrap_servers
    exacte = datetime.combine(MAJORITE, datetime.min.time(), tzinfo=UTC) + timedelta(hours=9, minutes=30, seconds=15)
    debut_du_mois = datetime(MAJORITE.year, MAJORITE.month, 1, tzinfo=UTC)
    async with relais_actif(base_url, bootstrap):
        api.horloge.regler(exacte - timedelta(days=16))
        parcours_id = str((await Referent(api).ouvrir(MAJORITE - timedelta(days=16), ne_le=NE_LE))["id"])
        api.horloge.regler(exacte)  # the majority clock's run, on the birthday itself
        await Referent(api).envoyer(f"/v1/parcours/{parcours_id}/majorite", {})
        await relais_a_jour(pool)

    # Kafka: the public record says the month only, the restricted one the exact time.
    recus = await lire_jusqua(
        bootstrap,
        [TOPIC_PARCOURS, TOPIC_RESTREINT],
        lambda r: {(m.topic, m.entetes["ce_sequence"]) for m in r} >= {(TOPIC_PARCOURS, "2"), (TOPIC_RESTREINT, "2")},
        filtre=lambda m: m.entetes.get("ce_subject") == parcours_id,
    )
    majorite = {m.topic: m for m in recus if m.entetes["ce_sequence"] == "2"}
    assert datetime.fromisoformat(majorite[TOPIC_PARCOURS].entetes["ce_time"]) == debut_du_mois
    assert MAJORITE.isoformat().encode() not in (majorite[TOPIC_PARCOURS].valeur or b"")
    assert datetime.fromisoformat(majorite[TOPIC_RESTREINT].entetes["ce_time"]) == exacte
    assert majorite[TOPIC_RESTREINT].valeur is not None
    assert datetime.fromisoformat(orjson.loads(majorite[TOPIC_RESTREINT].valeur)["enregistre_le"]) == exacte

    # The store's feed, through the read API: the exact time in the chronology and the state known.
    await lecture.a_jour()
    entetes = api.jeton("auditeur", ("59",), "inspectrice")
    chronologie = (await lecture.client.get(f"/v1/audit/parcours/{parcours_id}/chronologie", headers=entetes)).json()
    par_nom = {e["nom"]: e for e in chronologie["evenements"]}
    assert datetime.fromisoformat(par_nom["MajoriteAtteinte"]["enregistre_le"]) == exacte
    chemin = f"/v1/audit/parcours/{parcours_id}/etat"
    for connu_le, version in ((exacte - timedelta(seconds=1), 1), (exacte, 2)):
        reponse = await lecture.client.get(chemin, params={"connu_le": connu_le.isoformat()}, headers=entetes)
        assert reponse.status_code == 200, reponse.text
        assert reponse.json()["etat"]["derniere_version"] == version, connu_le

    # Both feeds: the audit's state known and the dossiers' journal.
    async with pool.acquire() as conn:
        actif_audit = await catalogue.schema_actif(conn, "audit")
        actif_dossiers = await catalogue.schema_actif(conn, "dossiers")
    assert actif_audit is not None
    assert actif_dossiers is not None
    for s in (actif_audit, await _par_kafka(pool, bootstrap, ProjectionAudit())):
        assert await _chronologie_kafka(pool, s, parcours_id, exacte - timedelta(seconds=1)) == ["ParcoursOuvert"], s
        assert await _chronologie_kafka(pool, s, parcours_id, exacte) == ["ParcoursOuvert", "MajoriteAtteinte"], s
    for s in (actif_dossiers, await _par_kafka(pool, bootstrap, ProjectionDossiers())):
        async with pool.acquire() as conn:
            journal = await conn.fetchval(
                f'SELECT enregistre_le FROM "{s}".journal WHERE parcours_id = $1 AND nom = $2',
                UUID(parcours_id),
                "MajoriteAtteinte",
            )
        assert journal == exacte, s
