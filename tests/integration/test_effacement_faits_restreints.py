"""An erased person's restricted facts are forgotten by the read side, in both feeds and after a rebuild.

Issue 9, review: after an erasure the read side still showed dates from which
the birth date follows: ``GET /v1/dossiers/{id}`` the exact ``majorite_atteinte_le``,
the auditors' chronology and state the exact date of effect of the majority and
of the ends it implies, and the court's reference, all from the restricted
facts (``faits_restreints``). The identity's tombstone now makes the projections
forget them: the month stands for those dates (its first day, as while a
restricted record has not come), no court reference is shown, whatever the order
the three topics come in, and a rebuild from the store gives the same.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from contracts.enveloppe import TOPIC_IDENTITES, TOPIC_PARCOURS, TOPIC_RESTREINT
from services.projections import catalogue
from services.projections.readmodels.audit import ProjectionAudit
from services.projections.readmodels.dossiers import ProjectionDossiers
from services.projections.readmodels.pilotage import ProjectionPilotage
from services.projections.reconstruction import reconstruire
from services.projections.service import Sources
from services.runtime import coffre
from services.runtime.evenement import EvenementPublie
from services.runtime.moteur import Projection, creer_tables
from tests.integration.conftest import AUJOURD_HUI, Api, Lecture
from tests.integration.kafka_fixtures import KafkaBroker
from tests.integration.pilotage_outils import Referent
from tests.integration.projections_outils import SeulementCetteBase, relais_a_jour
from tests.integration.relais_outils import relais_actif
from tests.integration.schemas import schema_a_part
from tests.integration.test_sujet_restreint import MAJORITE, NE_LE, REFERENCE, _histoire, _par_kafka

SECRETS = (MAJORITE.isoformat(), REFERENCE)
MOIS_ENREGISTRE = datetime(AUJOURD_HUI.year, AUJOURD_HUI.month, 1, tzinfo=UTC)
"""The public ``ce_time`` of the majority recorded at ``AUJOURD_HUI``: the first instant of its month."""
"""The exact date of majority (the 18th birthday: with the month of birth, the birth date) and the court's
reference (it leads back to a person)."""


@pytest.fixture
async def pool(base_url: str) -> Any:
    reserve = await asyncpg.create_pool(base_url, min_size=1, max_size=6)
    yield reserve
    await reserve.close()


async def _reponses(lecture: Lecture, parcours_id: str) -> dict[str, str]:
    """Every answer of the read side about this dossier."""
    return {
        "dossier": (await lecture.get(f"/v1/dossiers/{parcours_id}", role="referent")).text,
        "chronologie": (await lecture.get(f"/v1/audit/parcours/{parcours_id}/chronologie", role="auditeur")).text,
        "etat": (await lecture.get(f"/v1/audit/parcours/{parcours_id}/etat", role="auditeur")).text,
        "echeances": (await lecture.get("/v1/echeances", role="referent")).text,
    }


async def _schema_en_texte(pool: asyncpg.Pool, schema: str, parcours_id: str) -> dict[str, str]:
    """Every column of every table of ``schema`` holding the parcours (or its restricted facts), as text."""
    morceaux: dict[str, str] = {}
    async with pool.acquire() as conn:
        tables = await conn.fetch(
            "SELECT DISTINCT c.table_name, c.column_name FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_schema, table_name) "
            "WHERE c.table_schema = $1 AND t.table_type = 'BASE TABLE' AND c.column_name IN ('parcours_id', 'flux_id')",
            schema,
        )
        for t in tables:
            lignes = await conn.fetch(
                f'SELECT x::text AS v FROM "{schema}"."{t["table_name"]}" x WHERE "{t["column_name"]}" = $1',
                UUID(parcours_id),
            )
            morceaux[f"{schema}.{t['table_name']}"] = "\n".join(ligne["v"] for ligne in lignes)
    return morceaux


def _fuites(morceaux: dict[str, str]) -> dict[str, list[str]]:
    return {
        ou: [s for s in SECRETS if s in texte] for ou, texte in morceaux.items() if any(s in texte for s in SECRETS)
    }


async def _faits_restreints(pool: asyncpg.Pool, schema: str, parcours_id: str) -> int:
    async with pool.acquire() as conn:
        return int(
            await conn.fetchval(
                f'SELECT count(*) FROM "{schema}".faits_restreints WHERE flux_id = $1', UUID(parcours_id)
            )
        )


async def test_after_erasure_no_read_side_answer_holds_the_exact_majority_date_nor_the_court_reference_in_both_feeds_and_after_a_rebuild(
    api: Api, lecture: Lecture, base_url: str, pool: asyncpg.Pool, kafka_broker: KafkaBroker
) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    async with relais_actif(base_url, bootstrap):
        parcours_id, _lieu, _mesure = await _histoire(api)
        await Referent(api).envoyer(f"/v1/parcours/{parcours_id}/majorite", {})
        await relais_a_jour(pool)
        await lecture.a_jour()
        avant = await _reponses(lecture, parcours_id)
        assert MAJORITE.isoformat() in avant["dossier"], "the caseworker saw the exact date before the erasure"
        assert REFERENCE in avant["chronologie"], "the auditor saw the court's reference before the erasure"
        avant_heure = next(
            e["enregistre_le"]
            for e in (await lecture.get(f"/v1/audit/parcours/{parcours_id}/chronologie", role="auditeur")).json()[
                "evenements"
            ]
            if e["nom"] == "MajoriteAtteinte"
        )

        personne_id = str((await lecture.get(f"/v1/dossiers/{parcours_id}", role="referent")).json()["personne_id"])
        efface = await api.client.post(
            f"/v1/personnes/{personne_id}/effacement",
            json={"motif": "decision_cnil"},
            headers=api.jeton("dpo", ("59",), sub="dpo-59"),
        )
        assert efface.status_code == 200, efface.text
        await relais_a_jour(pool)

    # The store's feed, through the read API: the month stands, no reference.
    await lecture.a_jour()
    apres = await _reponses(lecture, parcours_id)
    assert _fuites(apres) == {}
    dossier = (await lecture.get(f"/v1/dossiers/{parcours_id}", role="referent")).json()
    assert dossier["majorite_atteinte_le"] == MAJORITE.replace(day=1).isoformat()
    chronologie = (await lecture.get(f"/v1/audit/parcours/{parcours_id}/chronologie", role="auditeur")).json()
    par_nom = {e["nom"]: e for e in chronologie["evenements"]}
    assert par_nom["MajoriteAtteinte"]["date_effet"] == MAJORITE.replace(day=1).isoformat()
    assert par_nom["MajoriteAtteinte"]["donnees"]["date_effet"] is None
    assert par_nom["MajoriteAtteinte"]["donnees"]["mois_effet"] == MAJORITE.isoformat()[:7]
    assert "reference_decision" not in par_nom["MesureDecidee"]["donnees"]
    # Its exact recording time (2026-11-28T10:00Z) was a restricted fact: the month's first instant stands.
    assert datetime.fromisoformat(par_nom["MajoriteAtteinte"]["enregistre_le"]) == MOIS_ENREGISTRE
    assert datetime.fromisoformat(avant_heure) == AUJOURD_HUI

    actifs = {}
    async with pool.acquire() as conn:
        for nom in ("dossiers", "audit", "pilotage"):
            actifs[nom] = await catalogue.schema_actif(conn, nom)
    for schema in actifs.values():
        assert schema is not None
        assert await _faits_restreints(pool, schema, parcours_id) == 0, schema
        assert _fuites(await _schema_en_texte(pool, schema, parcours_id)) == {}, schema

    # Kafka: the three topics, in whatever order the engine reads them, give the same.
    for projection in (ProjectionDossiers(), ProjectionAudit(), ProjectionPilotage()):
        schema = await _par_kafka(pool, bootstrap, projection)
        assert await _faits_restreints(pool, schema, parcours_id) == 0, schema
        assert _fuites(await _schema_en_texte(pool, schema, parcours_id)) == {}, schema
        if projection.nom == "dossiers":
            async with pool.acquire() as conn:
                majorite = await conn.fetchval(
                    f'SELECT majorite_atteinte_le FROM "{schema}".dossiers WHERE parcours_id = $1', UUID(parcours_id)
                )
            assert majorite == MAJORITE.replace(day=1)
            async with pool.acquire() as conn:
                journal = await conn.fetchval(
                    f'SELECT enregistre_le FROM "{schema}".journal WHERE parcours_id = $1 AND nom = $2',
                    UUID(parcours_id),
                    "MajoriteAtteinte",
                )
            assert journal == MOIS_ENREGISTRE

    # A rebuild from the store: the same.
    sources = Sources(base_url, None, taille_lot=50)
    for projection in (ProjectionDossiers(), ProjectionAudit(), ProjectionPilotage()):
        schema = await reconstruire(SeulementCetteBase(projection), sources, pool, "store", grace_s=0)
        assert await _faits_restreints(pool, schema, parcours_id) == 0, schema
        assert _fuites(await _schema_en_texte(pool, schema, parcours_id)) == {}, schema
    await lecture.a_jour()
    assert _fuites(await _reponses(lecture, parcours_id)) == {}
    assert NE_LE.isoformat() not in (await lecture.get(f"/v1/dossiers/{parcours_id}", role="referent")).text


async def _publies(pool: asyncpg.Pool, flux: list[UUID]) -> list[tuple[str, EvenementPublie]]:
    """What the relay published for the streams ``flux`` (topic, event), in the store's order."""
    async with pool.acquire() as conn:
        lignes = await conn.fetch(
            "SELECT originator_id, originator_version, topic, state FROM ase_events "
            "WHERE originator_id = ANY($1::uuid[]) ORDER BY notification_id",
            flux,
        )
        messages = await coffre.messages_des_lignes(conn, lignes)
    return [(m.topic, EvenementPublie.depuis({k: v.decode() for k, v in m.entetes}, m.valeur)) for m in messages]


async def _dans_cet_ordre(pool: asyncpg.Pool, projection: Projection, evenements: list[EvenementPublie]) -> str:
    """``projection`` applied to ``evenements`` in this order, in one batch of a fresh schema; the schema."""
    schema = schema_a_part(projection.nom)
    async with pool.acquire() as conn:
        await creer_tables(conn, schema, projection)
        async with conn.transaction():
            await conn.execute(f'SET LOCAL search_path TO "{schema}"')
            for ev in evenements:
                await projection.appliquer(conn, ev)
            flux = await projection.a_finir(conn)
            if flux:
                await projection.finir(conn, list(flux))
    return schema


async def test_restricted_facts_coming_after_the_erasure_or_before_the_opening_are_forgotten_in_any_order_of_the_topics(
    api: Api, lecture: Lecture, pool: asyncpg.Pool
) -> None:
    """The three topics are not ordered with each other: the restricted facts may come after the tombstone
    (dropped), or before the parcours' opening (forgotten when it comes); every order gives the same rows."""
    parcours_id, lieu, _mesure = await _histoire(api)
    await Referent(api).envoyer(f"/v1/parcours/{parcours_id}/majorite", {})
    await lecture.a_jour()
    personne_id = str((await lecture.get(f"/v1/dossiers/{parcours_id}", role="referent")).json()["personne_id"])
    efface = await api.client.post(
        f"/v1/personnes/{personne_id}/effacement",
        json={"motif": "decision_cnil"},
        headers=api.jeton("dpo", ("59",), sub="dpo-59"),
    )
    assert efface.status_code == 200, efface.text
    publies = await _publies(pool, [UUID(parcours_id), UUID(lieu), UUID(personne_id)])
    assert any(t == TOPIC_RESTREINT for t, _ in publies)
    assert any(t == TOPIC_IDENTITES and ev.donnees is None for t, ev in publies), "the tombstone"

    def sujet(*ordre: str) -> list[EvenementPublie]:
        """The events topic by topic in ``ordre`` (each topic in its own order), the others after."""
        rang = {t: i for i, t in enumerate(ordre)}
        return [ev for _, ev in sorted(publies, key=lambda p: rang.get(p[0], len(ordre)))]

    ordres = {
        "the store's": [ev for _, ev in publies],
        "restricted after the tombstone": sujet(TOPIC_PARCOURS, TOPIC_IDENTITES),
        "tombstone, restricted, then the opening": sujet(TOPIC_IDENTITES, TOPIC_RESTREINT),
    }
    for projection in (ProjectionDossiers(), ProjectionAudit(), ProjectionPilotage()):
        vus: dict[str, dict[str, str]] = {}
        for nom, evenements in ordres.items():
            schema = await _dans_cet_ordre(pool, projection, evenements)
            assert await _faits_restreints(pool, schema, parcours_id) == 0, (projection.nom, nom)
            lu = await _schema_en_texte(pool, schema, parcours_id)
            assert _fuites(lu) == {}, (projection.nom, nom)
            vus[nom] = {ou.split(".", 1)[1]: texte for ou, texte in lu.items()}
        premier, *autres = vus.values()
        for autre in autres:
            assert autre == premier, projection.nom
