"""Rebuilds (ARCHITECTURE.md, guarantee 6): from Kafka or from the store into a fresh schema,
equal to the incremental read model; the switch while the service keeps answering; ``ase rebuild``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

from contracts.enveloppe import TOPIC_IDENTITES, TOPIC_PARCOURS
from services.projections import catalogue
from services.projections.readmodels import catalogue_des_projections
from services.projections.readmodels.dossiers import ProjectionDossiers
from services.projections.reconstruction import Avancement, reconstruire
from services.projections.service import ServiceProjections, Sources
from services.runtime.http import REGISTRE
from tests.integration.conftest import Api, Lecture
from tests.integration.kafka_fixtures import KafkaBroker
from tests.integration.projections_outils import (
    Registre,
    SeulementCetteBase,
    attendre,
    differences,
    histoire,
    histoires,
    instantane,
    relais_a_jour,
)
from tests.integration.relais_outils import relais_actif

RACINE = Path(__file__).resolve().parents[2]


async def schema_actif(pool: asyncpg.Pool, nom: str) -> str:
    async with pool.acquire() as conn:
        schema = await catalogue.schema_actif(conn, nom)
    assert schema is not None
    return schema


async def schema_existe(pool: asyncpg.Pool, schema: str) -> bool:
    async with pool.acquire() as conn:
        return bool(
            await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM information_schema.schemata WHERE schema_name = $1)", schema
            )
        )


async def service_sur(service: ServiceProjections, nom: str, schema: str) -> None:
    """Wait until the running service's engine for ``nom`` works on ``schema``."""

    async def bascule() -> bool:
        return service.moteurs[nom].schema == schema

    await attendre(bascule, quoi=f"the service's {nom} engine on {schema}")


async def test_rebuilds_from_kafka_and_from_the_store_equal_the_incremental_read_model(
    api: Api, base_url: str, lecture: Lecture, kafka_broker: KafkaBroker
) -> None:
    pool = lecture.comp.pool
    await histoires(api, 3)
    await lecture.a_jour()
    incrementaux = {p.nom: await instantane(pool, await schema_actif(pool, p.nom)) for p in catalogue_des_projections()}
    async with relais_actif(base_url, kafka_broker.bootstrap_servers):
        await relais_a_jour(pool)
    sources = Sources(base_url, kafka_broker.bootstrap_servers, taille_lot=250)

    for projection in catalogue_des_projections():
        assert any(incrementaux[projection.nom].values()), projection.nom
        for depuis in ("store", "kafka"):
            ancien = await schema_actif(pool, projection.nom)
            construit: dict[str, list[dict[str, object]]] = {}

            async def garder(schema: str, garde: dict[str, list[dict[str, object]]] = construit) -> None:
                garde.update(await instantane(pool, schema))

            nouveau = await reconstruire(
                SeulementCetteBase(projection), sources, pool, depuis, avant_bascule=garder, grace_s=0
            )
            assert differences(construit, incrementaux[projection.nom]) == {}, (projection.nom, depuis)
            assert await schema_actif(pool, projection.nom) == nouveau
            assert not await schema_existe(pool, ancien)
            assert lecture.comp.service is not None
            await service_sur(lecture.comp.service, projection.nom, nouveau)

    # The service follows the store: after a rebuild from Kafka it replays it, and changes nothing.
    await lecture.a_jour()
    for projection in catalogue_des_projections():
        actif = await instantane(pool, await schema_actif(pool, projection.nom))
        assert differences(actif, incrementaux[projection.nom]) == {}, projection.nom


async def _lire_sans_cesse(lecture: Lecture, arret: asyncio.Event, statuts: list[int]) -> None:
    while not arret.is_set():
        reponse = await lecture.get("/v1/dossiers", role="encadrant", departements=("59", "62"))
        statuts.append(reponse.status_code)
        await asyncio.sleep(0)


async def test_a_rebuild_switches_schemas_while_the_service_keeps_answering_and_loses_nothing(
    api: Api, base_url: str, lecture: Lecture
) -> None:
    pool = lecture.comp.pool
    service = lecture.comp.service
    assert service is not None
    avant = await histoires(api, 2)
    await lecture.a_jour()
    ancien = await schema_actif(pool, "dossiers")
    async with pool.acquire() as conn:
        generation = (await catalogue.entree(conn, "dossiers")).generation  # type: ignore[union-attr]
    arret, statuts, avancements = asyncio.Event(), list[int](), list[Avancement]()
    pendant: list[str] = []

    async def ecrire_pendant_la_bascule(_schema: str) -> None:
        # Recorded after the rebuild measured its target: the running engine (old schema)
        # may apply it or not before the switch; the new one must have it after.
        lieu = (
            await api.post("/v1/lieux", {"nom": "MECS Le Phare", "type": "mecs", "departement": "59", "capacite": 8})
        ).json()["id"]
        pendant.append(await histoire(api, 7, [lieu, lieu]))

    lecteur = asyncio.create_task(_lire_sans_cesse(lecture, arret, statuts))
    try:
        nouveau = await reconstruire(
            ProjectionDossiers(),
            Sources(base_url, taille_lot=5),
            pool,
            "store",
            avancements.append,
            avant_bascule=ecrire_pendant_la_bascule,
            grace_s=1.0,
        )
        await service_sur(service, "dossiers", nouveau)
        await lecture.a_jour()
    finally:
        arret.set()
        await lecteur

    assert nouveau != ancien
    assert not await schema_existe(pool, ancien)
    async with pool.acquire() as conn:
        assert (await catalogue.entree(conn, "dossiers")) == catalogue.Entree(nouveau, generation + 1)
    assert statuts
    assert set(statuts) == {200}
    reponse = await lecture.get("/v1/dossiers", role="encadrant", departements=("59", "62"))
    assert {d["parcours_id"] for d in reponse.json()["dossiers"]} == {*avant, *pendant}
    assert reponse.headers["X-Projection-Position"].startswith("journal:0=")

    assert avancements[0].traites == 0
    assert avancements[-1].termine
    assert avancements[-1].traites == avancements[-1].total > 0
    assert [a.traites for a in avancements] == sorted(a.traites for a in avancements)
    assert isinstance(avancements[1], Avancement)
    assert avancements[1].debit > 0


async def test_a_service_following_kafka_moves_to_the_rebuilt_schema_and_reads_on_from_its_offsets(
    api: Api, base_url: str, kafka_broker: KafkaBroker
) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    pool = await asyncpg.create_pool(base_url, min_size=1, max_size=8)
    projection = SeulementCetteBase(Registre(f"suivi_{uuid.uuid4().hex[:6]}", (TOPIC_PARCOURS, TOPIC_IDENTITES)))
    sources = Sources(base_url, bootstrap, taille_lot=500)
    service = ServiceProjections(pool, sources, [projection], surveillance_s=0.5)

    async def tout_vu() -> bool:
        async with pool.acquire() as conn:
            nombre = await conn.fetchval("SELECT count(*) FROM ase_events")
            schema = service.moteurs[projection.nom].schema
            with contextlib.suppress(asyncpg.UndefinedTableError):
                return bool(nombre == await conn.fetchval(f'SELECT count(*) FROM "{schema}".vus'))
        return False

    try:
        async with relais_actif(base_url, bootstrap):
            lieux = [
                (
                    await api.post("/v1/lieux", {"nom": "MECS", "type": "mecs", "departement": "59", "capacite": 8})
                ).json()["id"]
            ] * 2
            await histoire(api, 1, lieux)
            await service.demarrer()
            await attendre(tout_vu, quoi="the service applied this test's events")
            ancien = service.moteurs[projection.nom].schema

            nouveau = await reconstruire(projection, sources, pool, "kafka", grace_s=0)
            await service_sur(service, projection.nom, nouveau)
            doublons = REGISTRE.get_sample_value("ase_projection_doublons_total", {"projection": projection.nom}) or 0
            await histoire(api, 3, lieux)
            await attendre(tout_vu, quoi="the service applied the events recorded after the switch")
            assert (
                REGISTRE.get_sample_value("ase_projection_doublons_total", {"projection": projection.nom}) or 0
            ) == doublons  # it read on from the rebuild's offsets: nothing was read twice
            assert not await schema_existe(pool, ancien)
    finally:
        await service.arreter()
        await pool.close()


@pytest.fixture
def sans_kafka(base_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "ASE_KAFKA_BOOTSTRAP_SERVERS")}
    return {**env, "DATABASE_URL": base_url, "ASE_DATA_DIR": str(tmp_path / "donnees")}


async def ase(*arguments: str, env: dict[str, str]) -> tuple[int, str, str]:
    processus = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        *arguments,
        cwd=RACINE,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    sortie, erreurs = await asyncio.wait_for(processus.communicate(), timeout=120)
    assert processus.returncode is not None
    return processus.returncode, sortie.decode(), erreurs.decode()


async def test_ase_rebuild_prints_its_progress_without_a_terminal_and_the_service_follows(
    api: Api, lecture: Lecture, sans_kafka: dict[str, str]
) -> None:
    await histoires(api, 1)
    await lecture.a_jour()
    ancien = await schema_actif(lecture.comp.pool, "audit")

    code, sortie, erreurs = await ase("rebuild", "audit", env=sans_kafka)

    assert code == 0, erreurs
    lignes = sortie.splitlines()
    assert lignes[0].startswith("rebuild audit depuis store: 0/"), sortie
    assert any(ligne.endswith("terminé") and "(100%)" in ligne for ligne in lignes), sortie
    nouveau = await schema_actif(lecture.comp.pool, "audit")
    assert lignes[-1] == f"audit: schéma actif {nouveau}"
    assert nouveau != ancien
    assert not await schema_existe(lecture.comp.pool, ancien)
    assert lecture.comp.service is not None
    await service_sur(lecture.comp.service, "audit", nouveau)


async def test_ase_rebuild_refuses_an_unknown_projection_and_kafka_when_none_is_configured(
    sans_kafka: dict[str, str],
) -> None:
    code, _, erreurs = await ase("rebuild", "inconnue", env=sans_kafka)
    assert code == 2
    assert "projection inconnue: inconnue" in erreurs
    code, _, erreurs = await ase("rebuild", "audit", "--from", "kafka", env=sans_kafka)
    assert code == 2
    assert "KAFKA_BOOTSTRAP_SERVERS" in erreurs


class Panne(Exception):
    """The rebuild's process fails midway."""


async def test_a_rebuild_failing_midway_drops_its_schema_and_leaves_the_active_one_serving(
    api: Api, base_url: str, lecture: Lecture
) -> None:
    pool = lecture.comp.pool
    await histoires(api, 1)
    await lecture.a_jour()
    actif = await schema_actif(pool, "audit")
    en_cours: list[str] = []

    def interrompre(a: Avancement) -> None:
        en_cours.append(a.schema)
        if a.traites > 0:
            raise Panne

    from services.projections.readmodels.audit import ProjectionAudit

    with pytest.raises(Panne):
        await reconstruire(ProjectionAudit(), Sources(base_url, taille_lot=3), pool, "store", interrompre)
    assert await schema_actif(pool, "audit") == actif
    assert not await schema_existe(pool, en_cours[0])
    assert await schema_existe(pool, actif)
