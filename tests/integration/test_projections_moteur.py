"""The projection engine's guarantees on the store's feed (real PostgreSQL): exactly-once effect,
dead letters, gaps, refused batches, and the lag the service reports."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from structlog.testing import capture_logs

from contracts.enveloppe import TOPIC_IDENTITES, TOPIC_PARCOURS, identifiant_evenement
from services.projections.readmodels import catalogue_des_projections
from services.runtime.evenement import EvenementPublie
from services.runtime.feeds import SOURCE_JOURNAL, FeedJournal, MessageLu
from services.runtime.http import REGISTRE
from services.runtime.moteur import (
    CONFLITS,
    DOUBLONS,
    EN_AVANCE,
    REJETS,
    TROUS,
    Moteur,
    creer_tables,
    lire_positions,
)
from tests.integration.conftest import Api
from tests.integration.projections_outils import (
    Registre,
    attendre,
    differences,
    executer_jusqua,
    histoires,
    instantane,
)
from tests.integration.schemas import schema_a_part

SUJETS = (TOPIC_PARCOURS, TOPIC_IDENTITES)


@pytest.fixture
async def pool(api: Api, base_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(base_url, min_size=1, max_size=6)
    yield pool
    await pool.close()


def nom_unique(prefixe: str = "essai") -> str:
    return f"{prefixe}_{uuid.uuid4().hex[:8]}"


def compteur(metrique: str, projection: str) -> float:
    return REGISTRE.get_sample_value(metrique, {"projection": projection}) or 0.0


class Arret(Exception):
    """Raised right after a commit: the consumer dies there."""


async def test_an_engine_stopped_right_after_each_commit_resumes_to_the_read_model_built_in_one_go(
    api: Api, base_url: str, pool: asyncpg.Pool
) -> None:
    await histoires(api, 4)
    for projection in catalogue_des_projections():
        d_un_trait = Moteur(
            projection,
            schema_a_part(projection.nom),
            pool,
            FeedJournal(base_url, topics=projection.sujets, taille_lot=1000),
        )
        fins = await d_un_trait.feed.fins()
        await executer_jusqua(d_un_trait, fins)

        interrompu = schema_a_part(projection.nom)
        redemarrages = 0
        while True:
            lots = 0

            async def mourir_au_deuxieme_lot(_positions: object) -> None:
                nonlocal lots
                lots += 1
                if lots == 2:
                    raise Arret

            moteur = Moteur(
                projection,
                interrompu,
                pool,
                FeedJournal(base_url, topics=projection.sujets, taille_lot=7),
                apres_lot=mourir_au_deuxieme_lot,
            )
            try:
                await executer_jusqua(moteur, fins)
                break
            except Arret:
                redemarrages += 1

        attendu = await instantane(pool, d_un_trait.schema)
        assert any(attendu.values()), projection.nom
        assert redemarrages >= 3, projection.nom
        assert differences(await instantane(pool, interrompu), attendu) == {}, projection.nom


async def _premier_lot(base_url: str, sujets: tuple[str, ...], taille: int = 1000) -> list[MessageLu]:
    feed = FeedJournal(base_url, topics=sujets, taille_lot=taille)
    lots = feed.lots(_vide)
    try:
        return await anext(lots)
    finally:
        await lots.aclose()  # type: ignore[attr-defined]
        await feed.fermer()


async def _vide() -> dict[tuple[str, int], int]:
    return {}


async def test_a_replayed_batch_and_a_relay_duplicate_change_nothing(
    api: Api, base_url: str, pool: asyncpg.Pool
) -> None:
    await histoires(api, 2)
    for projection in [*catalogue_des_projections(), Registre(nom_unique(), SUJETS)]:
        lot = await _premier_lot(base_url, tuple(projection.sujets))
        moteur = Moteur(
            projection,
            schema_a_part(projection.nom),
            pool,
            FeedJournal(base_url, topics=projection.sujets),
        )
        async with pool.acquire() as conn:
            await creer_tables(conn, moteur.schema, projection)
        await moteur.appliquer_lot(lot)
        apres_un = await instantane(pool, moteur.schema)
        async with pool.acquire() as conn:
            positions = await lire_positions(conn, moteur.schema)

        await moteur.appliquer_lot(lot)
        assert differences(await instantane(pool, moteur.schema), apres_un) == {}, projection.nom
        async with pool.acquire() as conn:
            assert await lire_positions(conn, moteur.schema) == positions

        doublons = compteur("ase_projection_doublons_total", projection.nom)
        evenements = [msg for msg in lot if msg.evenement is not None]
        republies = [MessageLu(msg.cle, 10_000 + i, msg.evenement) for i, msg in enumerate(evenements)]
        await moteur.appliquer_lot(republies)
        assert differences(await instantane(pool, moteur.schema), apres_un) == {}, projection.nom
        # A restricted record has no version of its own: applied again, idempotently, never a duplicate.
        versionnes = [msg for msg in evenements if msg.evenement is not None and not msg.evenement.restreint]
        assert compteur("ase_projection_doublons_total", projection.nom) == doublons + len(versionnes)
    assert DOUBLONS is not None


def _evenement(flux_id: uuid.UUID, version: int, nom: str = "CapaciteModifiee") -> EvenementPublie:
    return EvenementPublie(
        id=identifiant_evenement(flux_id, version),
        type="fr.ase.lieu.capacite_modifiee.v1",
        nom=nom,
        flux_id=flux_id,
        version=version,
        source="/ase/59/lieux",
        enregistre_le=datetime(2026, 11, 28, 10, 0, tzinfo=UTC),
        auteur="alice",
        correlation_id="c",
        donnees={"capacite": 10 + version, "date_effet": "2026-11-28"},
    )


async def _moteur_registre(base_url: str, pool: asyncpg.Pool, **reglages: Any) -> tuple[Registre, Moteur]:
    projection = Registre(nom_unique(), SUJETS)
    moteur = Moteur(projection, schema_a_part(projection.nom), pool, FeedJournal(base_url), **reglages)
    async with pool.acquire() as conn:
        await creer_tables(conn, moteur.schema, projection)
    return projection, moteur


async def _versions_appliquees(pool: asyncpg.Pool, moteur: Moteur) -> list[int]:
    return sorted(ligne["version"] for ligne in (await instantane(pool, moteur.schema))["vus"])


async def _lettres(pool: asyncpg.Pool, moteur: Moteur) -> list[tuple[int | None, str]]:
    async with pool.acquire() as conn:
        lignes = await conn.fetch(f'SELECT version, erreur FROM "{moteur.schema}".lettres_mortes ORDER BY id')
    return [(ligne["version"], ligne["erreur"]) for ligne in lignes]


async def test_a_version_ahead_from_another_partition_waits_for_the_ones_before_it_and_is_then_applied_in_order(
    api: Api, base_url: str, pool: asyncpg.Pool
) -> None:
    projection, moteur = await _moteur_registre(base_url, pool)
    flux = uuid.uuid4()
    avant = compteur("ase_projection_versions_en_avance_total", projection.nom)

    with capture_logs() as journaux:
        await moteur.appliquer_lot(
            [
                MessageLu(("t", 0), 0, _evenement(flux, 1)),
                MessageLu(("t", 0), 1, _evenement(flux, 2)),
                MessageLu(("r", 0), 0, _evenement(flux, 5)),  # another topic: it may overtake
            ]
        )
    assert await _versions_appliquees(pool, moteur) == [1, 2]  # 5 is held back, not applied
    assert compteur("ase_projection_versions_en_avance_total", projection.nom) == avant + 1
    retenues = [j for j in journaux if j["event"] == "projection_version_en_avance_retenue"]
    assert [(j["flux_id"], j["attendue"], j["recue"]) for j in retenues] == [(str(flux), 3, 5)]

    # The missing versions arrive (a later batch): 3, 4, then the held 5, in order.
    await moteur.appliquer_lot([MessageLu(("t", 0), 3 + i, _evenement(flux, v)) for i, v in enumerate((3, 4))])
    assert await _versions_appliquees(pool, moteur) == [1, 2, 3, 4, 5]
    assert await _lettres(pool, moteur) == []
    async with pool.acquire() as conn:
        assert await conn.fetchval(f'SELECT count(*) FROM "{moteur.schema}".versions_en_avance') == 0
    assert EN_AVANCE is not None


async def test_a_version_ahead_published_before_its_predecessor_in_the_same_partition_is_dead_lettered(
    api: Api, base_url: str, pool: asyncpg.Pool
) -> None:
    projection, moteur = await _moteur_registre(base_url, pool)
    flux = uuid.uuid4()
    avant = compteur("ase_projection_versions_en_avance_rejetees_total", projection.nom)
    # The relay publishes a stream in order on one partition: 3 before 2 there is not the relay's.
    with capture_logs() as journaux:
        await moteur.appliquer_lot([MessageLu(("t", 0), i, _evenement(flux, v)) for i, v in enumerate((1, 3, 2, 3))])
    assert await _versions_appliquees(pool, moteur) == [1, 2, 3]  # the 3 published after the 2
    assert [v for v, _ in await _lettres(pool, moteur)] == [3]
    assert compteur("ase_projection_versions_en_avance_rejetees_total", projection.nom) == avant + 1
    assert [j["raison"] for j in journaux if j["event"] == "projection_version_en_avance_rejetee"] == [
        "avant_la_precedente_dans_la_partition"
    ]


async def test_a_version_ahead_held_beyond_the_bound_in_time_is_dead_lettered_with_an_alert(
    api: Api, base_url: str, pool: asyncpg.Pool
) -> None:
    projection, moteur = await _moteur_registre(base_url, pool, attente_en_avance_s=0.0)
    flux = uuid.uuid4()
    avant = compteur("ase_projection_versions_en_avance_rejetees_total", projection.nom)
    await moteur.appliquer_lot([MessageLu(("t", 0), i, _evenement(flux, v)) for i, v in enumerate((1, 3))])

    with capture_logs() as journaux:
        assert await moteur.expirer_en_avance() == 1
    assert await _versions_appliquees(pool, moteur) == [1]
    assert [v for v, _ in await _lettres(pool, moteur)] == [3]
    assert compteur("ase_projection_versions_en_avance_rejetees_total", projection.nom) == avant + 1
    assert [j["raison"] for j in journaux if j["event"] == "projection_version_en_avance_rejetee"] == [
        "attente_depassee"
    ]
    # The real next version is applied, not dropped.
    await moteur.appliquer_lot([MessageLu(("t", 0), 2, _evenement(flux, 2))])
    assert await _versions_appliquees(pool, moteur) == [1, 2]


async def test_versions_ahead_beyond_the_bound_in_count_are_dead_lettered_at_once(
    api: Api, base_url: str, pool: asyncpg.Pool
) -> None:
    _, moteur = await _moteur_registre(base_url, pool, max_en_avance=2)
    flux = uuid.uuid4()
    lot = [MessageLu(("t", 0), 0, _evenement(flux, 1))]
    lot += [MessageLu(("r", 0), i, _evenement(flux, v)) for i, v in enumerate((3, 4, 5))]
    await moteur.appliquer_lot(lot)
    assert [v for v, _ in await _lettres(pool, moteur)] == [5]
    await moteur.appliquer_lot([MessageLu(("t", 0), 1, _evenement(flux, 2))])
    assert await _versions_appliquees(pool, moteur) == [1, 2, 3, 4]


async def test_a_stream_first_met_above_version_1_starts_there_and_the_gap_is_counted(
    api: Api, base_url: str, pool: asyncpg.Pool
) -> None:
    projection, moteur = await _moteur_registre(base_url, pool)
    flux = uuid.uuid4()
    avant = compteur("ase_projection_trous_total", projection.nom)
    with capture_logs() as journaux:
        await moteur.appliquer_lot([MessageLu(("t", 0), i, _evenement(flux, v)) for i, v in enumerate((4, 5))])
    assert compteur("ase_projection_trous_total", projection.nom) == avant + 3
    assert [(j["attendue"], j["recue"]) for j in journaux if j["event"] == "projection_trou"] == [(1, 4)]
    assert await _versions_appliquees(pool, moteur) == [4, 5]
    assert TROUS is not None


async def test_a_second_record_for_an_applied_version_with_another_ce_id_or_content_is_a_conflict(
    api: Api, base_url: str, pool: asyncpg.Pool
) -> None:
    projection, moteur = await _moteur_registre(base_url, pool)
    flux = uuid.uuid4()
    avant = compteur("ase_projection_conflits_total", projection.nom)
    doublons = compteur("ase_projection_doublons_total", projection.nom)
    await moteur.appliquer_lot([MessageLu(("t", 0), i, _evenement(flux, v)) for i, v in enumerate((1, 2))])

    autre_id = dataclasses.replace(_evenement(flux, 2), id=str(uuid.uuid4()))
    autre_contenu = dataclasses.replace(_evenement(flux, 1), donnees={"capacite": 99, "date_effet": "2026-11-28"})
    with capture_logs() as journaux:
        await moteur.appliquer_lot(
            [
                MessageLu(("t", 0), 2, autre_id),
                MessageLu(("t", 0), 3, autre_contenu),
                MessageLu(("t", 0), 4, _evenement(flux, 2)),  # the genuine record again: a duplicate
            ]
        )
    assert compteur("ase_projection_conflits_total", projection.nom) == avant + 2
    assert compteur("ase_projection_doublons_total", projection.nom) == doublons + 1
    assert [j["raison"] for j in journaux if j["event"] == "projection_conflit_de_version"] == [
        "ce_id différent",
        "contenu différent",
    ]
    assert [v for v, _ in await _lettres(pool, moteur)] == [2, 1]
    assert await _versions_appliquees(pool, moteur) == [1, 2]
    assert CONFLITS is not None


async def test_an_identity_event_read_again_as_erased_after_a_feed_switch_is_a_duplicate_not_a_forgery(
    api: Api, base_url: str, pool: asyncpg.Pool
) -> None:
    """Found by the verifier: after a switch from a Kafka-rebuilt schema to the store feed, an erased
    person's identity version 1 (her name on Kafka, erased in the store) was dead-lettered as a conflict."""
    projection, moteur = await _moteur_registre(base_url, pool)
    personne = uuid.uuid4()
    nommee = dataclasses.replace(
        _evenement(personne, 1),
        type="fr.ase.identite.identite_enregistree.v1",
        nom="IdentiteEnregistree",
        source="/ase/59/identites",
        donnees={"nom": "Martin", "prenoms": "Léa"},
    )
    await moteur.appliquer_lot([MessageLu(("t", 0), 0, nommee)])
    avant = compteur("ase_projection_conflits_total", projection.nom)
    doublons = compteur("ase_projection_doublons_total", projection.nom)
    effacee = dataclasses.replace(nommee, donnees=None)
    autre_personne = dataclasses.replace(nommee, donnees={"nom": "Autre", "prenoms": "Nom"})
    await moteur.appliquer_lot([MessageLu(("s", 0), 1, effacee), MessageLu(("s", 0), 2, autre_personne)])
    assert compteur("ase_projection_doublons_total", projection.nom) == doublons + 1
    assert compteur("ase_projection_conflits_total", projection.nom) == avant + 1  # another content is still one
    assert [v for v, _ in await _lettres(pool, moteur)] == [1]


async def test_an_event_a_handler_cannot_apply_is_dead_lettered_counted_and_the_engine_goes_on(
    api: Api, base_url: str, pool: asyncpg.Pool
) -> None:
    await histoires(api, 1)
    projection = Registre(nom_unique(), SUJETS, echoue_sur=lambda e: e.nom == "MesureDecidee")
    moteur = Moteur(
        projection,
        schema_a_part(projection.nom),
        pool,
        FeedJournal(base_url, topics=SUJETS, taille_lot=3),
    )
    avant = compteur("ase_projection_lettres_mortes_total", projection.nom)
    fins = await moteur.feed.fins()
    with capture_logs() as journaux:
        await executer_jusqua(moteur, fins)

    async with pool.acquire() as conn:
        lettres = await conn.fetch(
            f'SELECT source, ce_type, erreur, trace, publiee FROM "{moteur.schema}".lettres_mortes'
        )
        tous = await conn.fetchval("SELECT count(*) FROM ase_events")
    assert [(ligne["source"], ligne["ce_type"], ligne["erreur"]) for ligne in lettres] == [
        (SOURCE_JOURNAL, "fr.ase.parcours.mesure_decidee.v2", "ValueError: refus de test: MesureDecidee")
    ]
    assert "refus de test" in lettres[0]["trace"]
    assert not lettres[0]["publiee"]  # no Kafka here: it waits in the table
    assert compteur("ase_projection_lettres_mortes_total", projection.nom) == avant + 1
    assert [j["type"] for j in journaux if j["event"] == "projection_lettre_morte"] == [
        "fr.ase.parcours.mesure_decidee.v2"
    ]
    vus = (await instantane(pool, moteur.schema))["vus"]
    assert len(vus) == tous - 1  # every other event, including those after it
    assert REJETS is not None


async def test_an_unreadable_record_is_dead_lettered_and_the_position_moves_past_it(
    api: Api, base_url: str, pool: asyncpg.Pool
) -> None:
    projection = Registre(nom_unique(), SUJETS)
    moteur = Moteur(projection, schema_a_part(projection.nom), pool, FeedJournal(base_url))
    async with pool.acquire() as conn:
        await creer_tables(conn, moteur.schema, projection)
    flux = uuid.uuid4()
    await moteur.appliquer_lot(
        [
            MessageLu(("t", 0), 0, _evenement(flux, 1)),
            MessageLu(
                ("t", 0),
                1,
                None,
                illisible="illisible: KeyError: 'ce_type'",
                entetes={"ce_id": "x-1", "ce_subject": str(flux), "ce_sequence": "2"},
            ),
            MessageLu(("t", 0), 2, _evenement(flux, 3)),
        ]
    )
    async with pool.acquire() as conn:
        lettre = await conn.fetchrow(
            f'SELECT ce_id, flux_id, version, erreur, position FROM "{moteur.schema}".lettres_mortes'
        )
        assert await lire_positions(conn, moteur.schema) == {("t", 0): 2}
    assert lettre is not None
    assert dict(lettre) == {
        "ce_id": "x-1",
        "flux_id": flux,
        "version": 2,
        "erreur": "illisible: KeyError: 'ce_type'",
        "position": 1,
    }
    assert sorted(ligne["version"] for ligne in (await instantane(pool, moteur.schema))["vus"]) == [1, 3]


async def test_a_failure_of_the_database_is_not_the_event_s_fault_the_batch_is_retried_whole(
    api: Api, base_url: str, pool: asyncpg.Pool
) -> None:
    fois = 0

    def impasse_une_fois(_e: EvenementPublie) -> bool:
        nonlocal fois
        fois += 1
        if fois == 2:
            raise asyncpg.DeadlockDetectedError("deadlock detected")
        return False

    projection = Registre(nom_unique(), SUJETS, echoue_sur=impasse_une_fois)
    moteur = Moteur(projection, schema_a_part(projection.nom), pool, FeedJournal(base_url))
    async with pool.acquire() as conn:
        await creer_tables(conn, moteur.schema, projection)
    flux = uuid.uuid4()
    lot = [MessageLu(("t", 0), i, _evenement(flux, i + 1)) for i in range(3)]

    with pytest.raises(asyncpg.DeadlockDetectedError):
        await moteur.appliquer_lot(lot)
    assert (await instantane(pool, moteur.schema)) == {"lettres_mortes": [], "vus": []}
    await moteur.appliquer_lot(lot)
    assert sorted(ligne["version"] for ligne in (await instantane(pool, moteur.schema))["vus"]) == [1, 2, 3]


async def test_a_batch_refused_because_another_consumer_moved_the_position_sends_the_feed_back_to_it(
    api: Api, base_url: str, pool: asyncpg.Pool
) -> None:
    await histoires(api, 1)
    porte = asyncio.Event()
    projection = Registre(nom_unique(), SUJETS, porte=porte)
    feed = FeedJournal(base_url, topics=SUJETS, taille_lot=4)
    moteur = Moteur(projection, schema_a_part(projection.nom), pool, feed)
    async with pool.acquire() as conn:
        await creer_tables(conn, moteur.schema, projection)
    lots = feed.lots(moteur._positions_stockees)  # the engine's own reader of positions
    premier = await anext(lots)

    application = asyncio.create_task(moteur.appliquer_lot(premier))
    await projection.devant_la_porte.wait()
    async with pool.acquire() as conn:  # another consumer commits first, up to the second event
        await conn.execute(
            f'INSERT INTO "{moteur.schema}".positions VALUES ($1, 0, $2)', SOURCE_JOURNAL, premier[1].offset
        )
    porte.set()
    await application

    assert (await instantane(pool, moteur.schema))["vus"] == []
    suivant = await anext(lots)
    assert suivant[0].offset == premier[2].offset  # right after the stored position, not after the refused batch
    await lots.aclose()  # type: ignore[attr-defined]
    await feed.fermer()


async def test_readyz_and_metrics_report_a_projection_that_fell_behind_then_caught_up(
    api: Api, base_url: str, tmp_path: Path
) -> None:
    from services.projections.api.app import composer, creer_app
    from services.projections.settings import ProjectionsSettings

    porte = asyncio.Event()
    projection = Registre(nom_unique(), SUJETS, porte=porte)
    reglages = ProjectionsSettings(
        database_url=base_url, data_dir=tmp_path / "cles", kafka_bootstrap_servers=None, retard_max=0
    )
    comp = await composer(reglages, horloge=api.horloge, projections=[projection])
    assert comp.service is not None
    try:
        async with (
            LifespanManager(creer_app(reglages, composants=comp)) as gestion,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=gestion.app), base_url="http://lecture.test") as client,
        ):
            await histoires(api, 1)
            await projection.devant_la_porte.wait()
            retards = await comp.service.mesurer_retards()
            assert retards[projection.nom] > 0

            pret = await client.get("/readyz")
            assert pret.status_code == 503, pret.text
            assert pret.json()["dependances"]["projections"] == "RuntimeError"
            metriques = (await client.get("/metrics")).text
            assert (
                f'ase_projection_retard{{projection="{projection.nom}"}} {float(retards[projection.nom])}' in metriques
            )

            porte.set()

            async def a_jour() -> bool:
                return (await comp.service.mesurer_retards())[projection.nom] == 0  # type: ignore[union-attr]

            await attendre(a_jour, quoi="the projection catches up")
            pret = await client.get("/readyz")
            assert pret.status_code == 200, pret.text
            async with comp.pool.acquire() as conn:
                fin = await conn.fetchval("SELECT max(notification_id) FROM ase_events")
            metriques = (await client.get("/metrics")).text
            assert f'ase_projection_retard{{projection="{projection.nom}"}} 0.0' in metriques
            assert (
                f'ase_projection_position{{partition="0",projection="{projection.nom}",source="journal"}} {float(fin)}'
            ) in metriques
    finally:
        await comp.service.arreter()
        await comp.pool.close()
