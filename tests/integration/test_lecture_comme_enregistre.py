""" "As if recorded so", through the projection engine and both feeds (real PostgreSQL, real Kafka).

DOMAIN.md, SaisieRectifiee: the stream replayed with the corrected value is
what every later rule uses. On the read side: the dossier built from a stream
with corrections equals the dossier built from the same stream written
directly with the corrected values (its ``version`` aside: the corrections
are events of the stream).

- Streams written directly as published records (``tests/flux_publies.py``):
  every event type, corrections of every rectifiable field, drawn by
  hypothesis, applied by the dossiers projection in batches of any size; and
  the same records through Kafka (``FeedKafka``).
- The same story through the real write side: one parcours recorded then
  corrected with the API, one recorded with the corrected values; read through
  the store's feed (the service, ``FeedJournal``) and through the relay and
  Kafka; the dossier and the audit state compared.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from aiokafka.admin import NewTopic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.projections import catalogue
from services.projections.api import vues_dossiers as vues
from services.projections.readmodels import dossiers_sql
from services.projections.readmodels.dossiers import ProjectionDossiers
from services.runtime import kafka as clients_kafka
from services.runtime.feeds import FeedJournal, FeedKafka, Positions
from services.runtime.moteur import Moteur, creer_tables
from tests.flux_publies import BASES, Enregistrement, corrections_possibles, debut, paire
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
from tests.integration.relais_outils import relais_actif
from tests.integration.schemas import schema_a_part

JOUR = date(2028, 1, 10)
"""The day the dossiers are read (ages, overdue flags)."""
TOUS = ["59", "62"]


async def vue(conn: asyncpg.Connection | asyncpg.Pool, schema: str, parcours_id: UUID) -> dict[str, Any]:
    """The dossier the read API would answer from ``schema``, its stream ``version`` aside."""
    lu = await dossiers_sql.lire_dossier(conn, schema, parcours_id, TOUS)
    assert lu is not None, parcours_id
    dossier = vues.dossier(lu, JOUR).model_dump(mode="json")
    del dossier["version"]
    return dossier


async def lignes(conn: asyncpg.Connection, schema: str) -> dict[str, list[dict[str, Any]]]:
    """The read model's rows (the journal and the stream versions aside): what any view is made of."""
    tables: dict[str, list[dict[str, Any]]] = {}
    for table in ("dossiers", "mesures", "ips", "identites", "echeances"):
        rangees = [dict(r) for r in await conn.fetch(f'SELECT * FROM "{schema}".{table}')]
        for r in rangees:
            r.pop("version", None)
        tables[table] = sorted(rangees, key=lambda r: repr(sorted(r.items())))
    return tables


# -- records written directly, applied by the projection ----------------------------------------


@pytest.fixture
async def conn(base_url: str) -> AsyncIterator[asyncpg.Connection]:
    connexion = await asyncpg.connect(base_url)
    yield connexion
    await connexion.close()


async def projeter(conn: asyncpg.Connection, schema: str, enregistrements: Sequence[Enregistrement], lot: int) -> None:
    """Apply the records as the engine does: ``lot`` events per transaction, each in a savepoint."""
    projection = ProjectionDossiers()
    await creer_tables(conn, schema, projection)
    evenements = [e.evenement() for e in enregistrements]
    for premier in range(0, len(evenements), lot):
        async with conn.transaction():
            await conn.execute(f'SET LOCAL search_path TO "{schema}"')
            for evenement in evenements[premier : premier + lot]:
                async with conn.transaction():
                    await projection.appliquer(conn, evenement)
            await projection.fin_de_lot(conn)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(nom=st.sampled_from(sorted(BASES)), lot=st.integers(min_value=1, max_value=40), data=st.data())
async def test_a_stream_with_corrections_builds_the_dossier_of_the_stream_recorded_with_the_corrected_values(
    conn: asyncpg.Connection, nom: str, lot: int, data: st.DataObject
) -> None:
    complet = BASES[nom]()
    longueur = data.draw(st.integers(min_value=1, max_value=len(complet.evenements)), label="événements")
    base = debut(complet, longueur)
    possibles = corrections_possibles(nom, longueur)
    corrections = data.draw(st.lists(st.sampled_from(possibles), max_size=12) if possibles else st.just([]))
    rectifie, direct = paire(base, corrections)
    suffixe = uuid.uuid4().hex[:8]
    avec, sans = f"avec_{suffixe}", f"sans_{suffixe}"
    try:
        await projeter(conn, avec, rectifie, lot)
        await projeter(conn, sans, direct, 1000)

        assert await vue(conn, avec, base.parcours_id) == await vue(conn, sans, base.parcours_id)
        assert await lignes(conn, avec) == await lignes(conn, sans)
    finally:
        for schema in (avec, sans):
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


async def test_every_correction_of_every_event_at_once_reads_as_recorded_so(conn: asyncpg.Connection) -> None:
    for nom, fabrique in BASES.items():
        base = fabrique()
        rectifie, direct = paire(base, corrections_possibles(nom))
        await projeter(conn, f"tout_avec_{nom}", rectifie, 7)
        await projeter(conn, f"tout_sans_{nom}", direct, 7)
        await projeter(conn, f"rien_{nom}", paire(base, [])[0], 7)

        corrige = await vue(conn, f"tout_avec_{nom}", base.parcours_id)
        assert corrige == await vue(conn, f"tout_sans_{nom}", base.parcours_id), nom
        assert corrige != await vue(conn, f"rien_{nom}", base.parcours_id), nom


async def test_restricted_facts_coming_after_their_public_events_build_the_same_dossier(
    conn: asyncpg.Connection,
) -> None:
    """The restricted topic is not ordered with the public one: its facts may come batches later."""
    for nom, fabrique in BASES.items():
        base = fabrique()
        rectifie, _ = paire(base, corrections_possibles(nom))
        restreints = [e for e in rectifie if e.evenement().restreint]
        assert restreints, nom
        en_retard = [e for e in rectifie if not e.evenement().restreint] + restreints
        await projeter(conn, f"faits_avant_{nom}", rectifie, 5)
        await projeter(conn, f"faits_apres_{nom}", en_retard, 5)

        attendu = await vue(conn, f"faits_avant_{nom}", base.parcours_id)
        assert await vue(conn, f"faits_apres_{nom}", base.parcours_id) == attendu, nom
        assert await lignes(conn, f"faits_apres_{nom}") == await lignes(conn, f"faits_avant_{nom}"), nom


# -- the same records through Kafka ---------------------------------------------------------------


async def publier(bootstrap: str, sujet: str, enregistrements: Sequence[Enregistrement]) -> None:
    admin = clients_kafka.administration(bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name=sujet, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()
    producteur = clients_kafka.producteur_brut(bootstrap, acks="all", enable_idempotence=True)
    await producteur.start()
    try:
        for e in enregistrements:
            await producteur.send_and_wait(sujet, key=e.cle, value=e.valeur, headers=e.entetes)
    finally:
        await producteur.stop()


async def par_kafka(pool: asyncpg.Pool, bootstrap: str, sujet: str) -> str:
    """The dossiers read model built by the engine from ``sujet``, a few records per batch."""
    feed = FeedKafka(bootstrap, [sujet], groupe=f"test.comme_enregistre.{uuid.uuid4().hex}", taille_lot=4)
    moteur = Moteur(ProjectionDossiers(), schema_a_part("dossiers"), pool, feed)
    await executer_jusqua(moteur, await feed.fins())
    return moteur.schema


@pytest.fixture
async def pool(base_url: str) -> AsyncIterator[asyncpg.Pool]:
    reserve = await asyncpg.create_pool(base_url, min_size=1, max_size=6)
    yield reserve
    await reserve.close()


async def test_through_kafka_a_stream_with_corrections_reads_as_the_stream_recorded_corrected(
    pool: asyncpg.Pool, kafka_broker: KafkaBroker
) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    avec, sans = [], []
    for graine, (nom, fabrique) in enumerate(sorted(BASES.items()), start=40):
        base = fabrique(graine)
        toutes = corrections_possibles(nom)
        # Every correction once, then the first candidate value of each field again.
        rectifie, direct = paire(base, [*toutes, *toutes[::2]])
        avec += rectifie
        sans += direct
    sujets = [f"test.comme_enregistre.{quoi}.{uuid.uuid4().hex}" for quoi in ("avec", "sans")]
    await publier(bootstrap, sujets[0], avec)
    await publier(bootstrap, sujets[1], sans)

    schema_avec, schema_sans = await par_kafka(pool, bootstrap, sujets[0]), await par_kafka(pool, bootstrap, sujets[1])

    for graine, (_, fabrique) in enumerate(sorted(BASES.items()), start=40):
        parcours_id = fabrique(graine).parcours_id
        assert await vue(pool, schema_avec, parcours_id) == await vue(pool, schema_sans, parcours_id)
    async with pool.acquire() as c:
        assert await lignes(c, schema_avec) == await lignes(c, schema_sans)


# -- the real write side, both feeds -------------------------------------------------------------


async def histoire_de_lou(nord: Referent, lieux: tuple[str, str], *, corrigee: bool) -> dict[str, Any]:
    """Lou's parcours through the API: recorded with the corrected values (``corrigee``) or the first ones.

    Sixteen events; returns the ids (the corrections of :data:`CORRECTIONS_DE_LOU` point at the versions).
    """

    def v(premiere: Any, corrigee_: Any) -> Any:
        return corrigee_ if corrigee else premiere

    ouvert = await nord.envoyer(
        "/v1/parcours",
        {
            "personne": {
                "nom": "Lou",
                "prenoms": "Andréa",
                "date_naissance": v("2010-06-01", "2010-04-01"),
                "sexe": v("F", "M"),
            },
            "departement": "59",
            "date_effet": "2025-01-06",
            "referent_id": v("ref-a", "ref-b"),
        },
    )
    p = f"/v1/parcours/{ouvert['id']}"
    ip = await nord.envoyer(
        f"{p}/informations-preoccupantes",
        {
            "origine": v("education_nationale", "sante"),
            "dangers": v(["negligences"], ["violences_physiques", "negligences"]),
            "date_effet": "2025-01-07",
        },
    )
    await nord.envoyer(
        f"{p}/evaluations",
        {
            "ip_id": ip["ip_id"],
            "suite": v("accompagnement_administratif", "saisine_judiciaire"),
            "date_effet": "2025-02-01",
        },
    )
    opp = await nord.envoyer(
        f"{p}/mesures",
        {
            "cadre": "judiciaire",
            "nature": "opp",
            "autorite": "parquet",
            "reference_decision": v("PQ-1", "PQ-1 bis"),
            "date_debut": "2025-02-03",
            "date_echeance": v("2025-08-02", "2025-07-02"),
            "date_effet": "2025-02-03",
        },
    )
    await nord.envoyer(
        f"{p}/accueil",
        {"mesure_id": opp["mesure_id"], "lieu_id": lieux[0], "date_effet": v("2025-02-03", "2025-02-04")},
    )
    confiage = await nord.envoyer(
        f"{p}/mesures",
        {
            "cadre": "judiciaire",
            "nature": "confiage_ase",
            "autorite": "juge_des_enfants",
            "reference_decision": "JE-1",
            "date_debut": "2025-02-14",
            "date_echeance": v("2027-02-13", "2026-12-13"),
            "duree_derogatoire": v(False, True),
            "date_effet": "2025-02-14",
        },
    )
    # The OPP carrying the accueil is lifted: the confiage carries it on.
    await nord.envoyer(
        f"{p}/mesures/{opp['mesure_id']}/levee", {"motif": v("mainlevee", "autre"), "date_effet": "2025-02-15"}
    )
    await nord.envoyer(f"{p}/ppe", {"date_effet": v("2025-04-01", "2025-03-20")})
    await nord.envoyer(
        f"{p}/accueil/changement",
        {"lieu_id": lieux[1], "motif": v("besoin_enfant", "rupture"), "date_effet": "2025-06-02"},
    )
    await nord.envoyer(f"{p}/fugues", {"date_effet": "2025-07-01"})
    await nord.envoyer(f"{p}/fugues/fin", {"date_effet": v("2025-07-03", "2025-07-05")})
    await nord.envoyer(f"{p}/rapports", {"transmis_au_juge": v(True, False), "date_effet": "2025-09-01"})
    await nord.envoyer(f"{p}/referent", {"referent_id": v("ref-c", "ref-d"), "date_effet": "2025-10-01"})
    await nord.envoyer(
        f"{p}/mesures/{confiage['mesure_id']}/renouvellement",
        {"nouvelle_echeance": v("2027-06-13", "2027-05-13"), "reference_decision": "JE-2", "date_effet": "2026-02-01"},
    )
    await nord.envoyer(f"{p}/entretien-autonomie", {"date_effet": v("2026-09-01", "2026-08-20")})
    await nord.envoyer(f"{p}/ppe", {"date_effet": "2026-10-01"})
    return {
        "parcours_id": ouvert["id"],
        "personne_id": ouvert["personne_id"],
        "ip_id": ip["ip_id"],
        "opp": opp["mesure_id"],
        "confiage": confiage["mesure_id"],
    }


CORRECTIONS_DE_LOU: list[tuple[int, str, Any]] = [
    (1, "sexe", "M"),
    (1, "referent_id", "ref-b"),
    (1, "date_naissance", "2010-04-01"),
    (2, "origine", "sante"),
    (2, "dangers", ["violences_physiques", "negligences"]),
    (3, "suite", "saisine_judiciaire"),
    (4, "reference_decision", "PQ-1 bis"),
    (4, "date_echeance", "2025-07-02"),
    (5, "date_effet", "2025-02-04"),
    (6, "date_echeance", "2026-12-13"),
    (6, "duree_derogatoire", True),
    (7, "motif", "autre"),
    (8, "date_effet", "2025-03-20"),
    (9, "motif", "rupture"),
    (11, "date_effet", "2025-07-05"),
    (12, "transmis_au_juge", False),
    (13, "referent_id", "ref-d"),
    (14, "nouvelle_echeance", "2027-05-13"),
    (15, "date_effet", "2026-08-20"),
]
"""Lou's corrections: (version, field, corrected value), one for each value :func:`histoire_de_lou` varies."""


def remplacer(valeur: Any, correspondance: dict[str, str]) -> Any:
    """``valeur`` with every id of one parcours replaced by the matching id of the other."""
    if isinstance(valeur, dict):
        return {k: remplacer(v, correspondance) for k, v in valeur.items()}
    if isinstance(valeur, list):
        return [remplacer(v, correspondance) for v in valeur]
    if isinstance(valeur, str):
        return correspondance.get(valeur, valeur)
    return valeur


CHAMPS_COMMUNS = (
    "personne_id",
    "departement",
    "referent_id",
    "sexe",
    "age",
    "date_majorite",
    "ouvert_le",
    "derniere_date_effet",
    "majorite_atteinte_le",
    "lieux_successifs",
)
CHAMPS_MESURE = (
    "mesure_id",
    "cadre",
    "nature",
    "autorite",
    "reference_decision",
    "date_debut",
    "date_echeance",
    "active",
    "renouvellements",
    "levee_le",
    "motif_levee",
)


def selon_l_ecriture(ecrit: dict[str, Any]) -> dict[str, Any]:
    """What GET /v1/parcours/{id} (the write side, read-your-writes) says that the dossier says too."""
    return {
        **{c: ecrit[c] for c in CHAMPS_COMMUNS},
        "ppe": (ecrit["ppe_etabli_le"], ecrit["ppe_actualise_le"]),
        "suivi": (ecrit["dernier_rapport_le"], ecrit["entretien_autonomie_le"]),
        "accueil": ecrit["accueil"],
        "mesures": sorted(({c: m[c] for c in CHAMPS_MESURE} for m in ecrit["mesures"]), key=repr),
        "ips": [
            {k: ip[k] for k in ("ip_id", "recue_le", "suite", "evaluee_le")}
            for ip in ecrit["informations_preoccupantes"]
        ],
    }


def selon_le_dossier(dossier: dict[str, Any]) -> dict[str, Any]:
    accueil = dossier["accueil"]
    mesures = [*dossier["mesures_actives"], *dossier["mesures_levees"]]
    return {
        **{c: dossier[c] for c in CHAMPS_COMMUNS},
        "ppe": (dossier["ppe"]["etabli_le"], dossier["ppe"]["actualise_le"]),
        "suivi": (dossier["dernier_rapport_le"], dossier["autonomie"]["entretien_realise_le"]),
        "accueil": accueil
        and {
            "mesure_id": accueil["mesure_id"],
            "lieu_id": accueil["lieu_id"],
            "type_lieu": accueil["type_lieu"],
            "depuis": accueil["depuis"],
            "debut_accueil": accueil["debut_accueil"],
            "date_limite_hotel": accueil["date_limite_hotel"],
            "fugue_depuis": accueil["fugue_depuis"],
        },
        "mesures": sorted(({c: m[c] for c in CHAMPS_MESURE} for m in mesures), key=repr),
        "ips": [
            {k: ip[k] for k in ("ip_id", "recue_le", "suite", "evaluee_le")}
            for ip in dossier["informations_preoccupantes"]
        ],
    }


async def par_kafka_depuis_le_relais(pool: asyncpg.Pool, bootstrap: str) -> str:
    """This test's events published by the relay, read back from the shared topics by the dossiers engine."""
    projection = SeulementCetteBase(ProjectionDossiers())
    feed = FeedKafka(bootstrap, list(ProjectionDossiers.sujets), groupe=f"test.lou.{uuid.uuid4().hex}", taille_lot=5)
    fins: Positions = await feed.fins()
    schema = schema_a_part("dossiers")
    await amorcer(pool, schema, projection, await debuts_de_nos_evenements(pool, bootstrap, fins))
    await executer_jusqua(Moteur(projection, schema, pool, feed), fins)
    return schema


async def test_a_parcours_corrected_through_the_api_reads_as_one_recorded_corrected_through_both_feeds(
    api: Api, lecture: Lecture, base_url: str, pool: asyncpg.Pool, kafka_broker: KafkaBroker
) -> None:
    nord = Referent(api)
    lieux = (await nord.lieu("mecs"), await nord.lieu("assistant_familial", nom="Assistante familiale"))
    async with relais_actif(base_url, kafka_broker.bootstrap_servers):
        corrigee = await histoire_de_lou(nord, lieux, corrigee=False)
        for version, champ, valeur in CORRECTIONS_DE_LOU:
            await nord.rectifier(corrigee["parcours_id"], version, champ, valeur)
        directe = await histoire_de_lou(nord, lieux, corrigee=True)
        await relais_a_jour(pool)
    await lecture.a_jour()
    vers_directe = {str(corrigee[cle]): str(directe[cle]) for cle in corrigee}
    a, b = UUID(corrigee["parcours_id"]), UUID(directe["parcours_id"])

    # The store's feed, through the read API.
    lu_a = (await lecture.get(f"/v1/dossiers/{a}")).json()
    lu_b = (await lecture.get(f"/v1/dossiers/{b}")).json()
    assert (lu_a.pop("version"), lu_b.pop("version")) == (16 + len(CORRECTIONS_DE_LOU), 16)
    assert remplacer(lu_a, vers_directe) == lu_b
    assert lu_b["accueil"]["mesure_id"] == directe["confiage"], "the confiage carries the accueil after the OPP"
    for pid, lu in ((a, lu_a), (b, lu_b)):
        ecrit = (await api.get(f"/v1/parcours/{pid}")).json()
        assert selon_le_dossier(lu) == selon_l_ecriture(ecrit), "the dossier derives what the write side derives"
    audit = [(await lecture.get(f"/v1/audit/parcours/{pid}/etat", role="auditeur")).json()["etat"] for pid in (a, b)]
    for etat in audit:
        for cle in ("derniere_version", "evenements_pris_en_compte", "rectifications_appliquees"):
            del etat[cle]
    assert remplacer(audit[0], vers_directe) == audit[1]

    # Kafka, through the relay.
    schema = await par_kafka_depuis_le_relais(pool, kafka_broker.bootstrap_servers)
    assert remplacer(await vue(pool, schema, a), vers_directe) == await vue(pool, schema, b)
    async with pool.acquire() as c:
        actif = await catalogue.schema_actif(c, "dossiers")
    assert actif is not None
    assert await vue(pool, schema, b) == await vue(pool, actif, b), "both feeds build the same dossier"


async def test_through_the_store_feed_the_corrected_stream_reads_as_recorded_corrected_in_batches_of_any_size(
    api: Api, base_url: str, pool: asyncpg.Pool
) -> None:
    nord = Referent(api)
    lieux = (await nord.lieu("mecs"), await nord.lieu("assistant_familial", nom="Assistante familiale"))
    corrigee = await histoire_de_lou(nord, lieux, corrigee=False)
    for version, champ, valeur in CORRECTIONS_DE_LOU:
        await nord.rectifier(corrigee["parcours_id"], version, champ, valeur)
    directe = await histoire_de_lou(nord, lieux, corrigee=True)
    vers_directe = {str(corrigee[cle]): str(directe[cle]) for cle in corrigee}

    for taille_lot in (1, 3, 1000):
        moteur = Moteur(
            ProjectionDossiers(),
            schema_a_part("dossiers"),
            pool,
            FeedJournal(base_url, topics=list(ProjectionDossiers.sujets), taille_lot=taille_lot),
        )
        await executer_jusqua(moteur, await moteur.feed.fins())
        a = await vue(pool, moteur.schema, UUID(corrigee["parcours_id"]))
        assert remplacer(a, vers_directe) == await vue(pool, moteur.schema, UUID(directe["parcours_id"])), taille_lot
