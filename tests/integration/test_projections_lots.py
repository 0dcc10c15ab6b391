"""The batch-oriented engine (issue 11): one ``appliquer_lot`` per batch, per-event savepoints only when it
fails; a rebuild's deferred ends of batch and late indexes; the lag of an engine whose schema a rebuild dropped."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence

import asyncpg
import pytest

from contracts.enveloppe import TOPIC_IDENTITES, TOPIC_PARCOURS
from services.projections import catalogue
from services.projections.readmodels.dossiers import ProjectionDossiers
from services.projections.reconstruction import reconstruire
from services.projections.service import Sources, positions_appliquees, retard
from services.runtime.evenement import EvenementPublie
from services.runtime.feeds import SOURCE_JOURNAL, FeedJournal
from services.runtime.moteur import Moteur, creer_index, creer_tables, est_un_index, lire_positions
from tests.integration.conftest import Api
from tests.integration.projections_outils import Registre, differences, executer_jusqua, histoires, instantane
from tests.integration.schemas import schema_a_part

SUJETS = (TOPIC_PARCOURS, TOPIC_IDENTITES)


@pytest.fixture
async def pool(api: Api, base_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(base_url, min_size=1, max_size=6)
    yield pool
    await pool.close()


class RegistreParLots(Registre):
    """A ``Registre`` that notes each ``appliquer_lot`` and each ``appliquer`` called by the engine itself."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lots: list[int] = []
        self.un_par_un = 0
        self._dans_un_lot = False

    async def appliquer_lot(self, conn: asyncpg.Connection, evenements: Sequence[EvenementPublie]) -> None:
        self.lots.append(len(evenements))
        self._dans_un_lot = True
        try:
            await super().appliquer_lot(conn, evenements)
        finally:
            self._dans_un_lot = False

    async def appliquer(self, conn: asyncpg.Connection, evenement: EvenementPublie) -> None:
        if not self._dans_un_lot:
            self.un_par_un += 1
        await super().appliquer(conn, evenement)


async def test_a_batch_is_applied_with_one_call_and_only_a_failing_one_event_by_event(
    api: Api, base_url: str, pool: asyncpg.Pool
) -> None:
    await histoires(api, 1)
    sain = RegistreParLots(f"lots_{uuid.uuid4().hex[:8]}", SUJETS)
    moteur = Moteur(sain, schema_a_part(sain.nom), pool, FeedJournal(base_url, topics=SUJETS, taille_lot=10))
    await executer_jusqua(moteur, await moteur.feed.fins())
    vus = len((await instantane(pool, moteur.schema))["vus"])
    assert vus > 10, "several batches"
    assert sum(sain.lots) == vus
    assert all(n <= 10 for n in sain.lots)
    assert sain.un_par_un == 0, "no event applied in a savepoint of its own while every batch passes"

    fautif = RegistreParLots(f"lots_{uuid.uuid4().hex[:8]}", SUJETS, echoue_sur=lambda e: e.nom == "MesureDecidee")
    moteur = Moteur(fautif, schema_a_part(fautif.nom), pool, FeedJournal(base_url, topics=SUJETS, taille_lot=10))
    await executer_jusqua(moteur, await moteur.feed.fins())
    async with pool.acquire() as conn:
        lettres = await conn.fetch(f'SELECT ce_type FROM "{moteur.schema}".lettres_mortes')
    assert [ligne["ce_type"] for ligne in lettres] == ["fr.ase.parcours.mesure_decidee.v2"]
    assert len((await instantane(pool, moteur.schema))["vus"]) == vus - 1, "the rest of the failing batch applied"
    assert 0 < fautif.un_par_un <= 10, "only the failing batch went event by event"


async def test_deferred_ends_of_batch_interrupted_midway_resume_to_the_incremental_read_model(
    api: Api, base_url: str, pool: asyncpg.Pool
) -> None:
    await histoires(api, 3)
    sujets = list(ProjectionDossiers.sujets)
    reference = Moteur(
        ProjectionDossiers(),
        schema_a_part("dossiers"),
        pool,
        FeedJournal(base_url, topics=sujets, taille_lot=5),
    )
    fins = await reference.feed.fins()
    await executer_jusqua(reference, fins)

    projection = ProjectionDossiers()
    schema = schema_a_part("dossiers")
    async with pool.acquire() as conn:
        await creer_tables(conn, schema, projection, index=False)
        assert not await conn.fetchval(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND indexname = 'dossiers_personne'", schema
        )
    reconstruction = Moteur(
        projection,
        schema,
        pool,
        FeedJournal(base_url, topics=sujets, taille_lot=7),
        creer_schema=False,
        differer_fins=True,
    )
    moitie = {cle: fin // 2 for cle, fin in fins.items()}
    await executer_jusqua(reconstruction, moitie)
    async with pool.acquire() as conn:
        differees = await conn.fetchval(f'SELECT count(*) FROM "{schema}".fins_differees')
        dossiers = await conn.fetchval(f'SELECT count(*) FROM "{schema}".dossiers')
        journal = await conn.fetchval(f'SELECT count(*) FROM "{schema}".journal')
        assert (await lire_positions(conn, schema))[(SOURCE_JOURNAL, 0)] >= moitie[(SOURCE_JOURNAL, 0)]
    assert journal > 0
    assert differees > 0, "the ends of batch were noted, with the positions"
    assert dossiers == 0, "and not run"

    # Stopped there (a crash): an engine that does not defer runs what was noted, then reads on.
    reprise = Moteur(projection, schema, pool, FeedJournal(base_url, topics=sujets, taille_lot=7), creer_schema=False)
    await executer_jusqua(reprise, fins)
    async with pool.acquire() as conn:
        await creer_index(conn, schema, projection)
        assert await conn.fetchval(f'SELECT count(*) FROM "{schema}".fins_differees') == 0
    assert differences(await instantane(pool, schema), await instantane(pool, reference.schema)) == {}


async def test_a_rebuild_builds_the_same_indexes_and_runs_every_deferred_end(
    api: Api, base_url: str, pool: asyncpg.Pool
) -> None:
    await histoires(api, 2)
    projection = ProjectionDossiers()
    reference = Moteur(
        projection,
        schema_a_part("dossiers"),
        pool,
        FeedJournal(base_url, topics=list(projection.sujets), taille_lot=5),
    )
    await executer_jusqua(reference, await reference.feed.fins())
    schema = await reconstruire(ProjectionDossiers(), Sources(base_url, taille_lot=4), pool, "store", grace_s=0)

    async def index(s: str) -> set[str]:
        async with pool.acquire() as conn:
            return {
                ligne["indexdef"].replace(f'"{s}"', "S").replace(s, "S")
                for ligne in await conn.fetch("SELECT indexdef FROM pg_indexes WHERE schemaname = $1", s)
            }

    assert await index(schema) == await index(reference.schema)
    assert any(est_un_index(i) for i in projection.ddl())
    async with pool.acquire() as conn:
        assert await conn.fetchval(f'SELECT count(*) FROM "{schema}".fins_differees') == 0
    assert differences(await instantane(pool, schema), await instantane(pool, reference.schema)) == {}


async def test_the_lag_of_an_engine_whose_schema_a_rebuild_dropped_is_read_from_the_schema_serving_now(
    api: Api, base_url: str, pool: asyncpg.Pool
) -> None:
    await histoires(api, 1)
    projection = Registre(f"lots_{uuid.uuid4().hex[:8]}", SUJETS)
    ancien = Moteur(projection, schema_a_part(projection.nom), pool, FeedJournal(base_url, topics=SUJETS))
    async with pool.acquire() as conn:
        await creer_tables(conn, ancien.schema, projection)
        await catalogue.activer(conn, projection.nom, ancien.schema)
    await executer_jusqua(ancien, await ancien.feed.fins())
    try:
        nouveau = await reconstruire(projection, Sources(base_url), pool, "store", grace_s=0)
        # The old engine has not noticed the switch; its schema is gone.
        async with pool.acquire() as conn:
            assert not await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM information_schema.schemata WHERE schema_name = $1)", ancien.schema
            )
            assert await positions_appliquees(conn, ancien) == await lire_positions(conn, nouveau)
        assert await retard(pool, ancien) == 0
    finally:
        await ancien.feed.fermer()
