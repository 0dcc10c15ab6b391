"""The relay is watched: its own endpoint, and the projections' ``/readyz`` when it is gone or behind.

The fault: a relay killed with ``kill -9`` went unnoticed. Every ``/readyz`` stayed
200, no process served the ``ase_relais_*`` metrics, and the read models silently
stopped following the store. Here a real ``ase relay --port`` process publishes to
the real broker; the test SIGKILLs it and the projections' ``/readyz`` (following
Kafka) must say why it is not ready. Every wait polls a real condition under a
deadline.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from prometheus_client.parser import text_string_to_metric_families

from services.runtime.relais import CLE_VERROU
from tests.e2e.lanceur import port_libre
from tests.integration.api_parcours import ouvrir
from tests.integration.conftest import Api
from tests.integration.kafka_fixtures import KafkaBroker, env_principal

RACINE = Path(__file__).resolve().parents[2]
SONDE_S = 0.05
T = TypeVar("T")


async def attendre(condition: Callable[[], Awaitable[T]], *, delai_s: float, quoi: str) -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``delai_s`` saying ``quoi``."""
    fin = time.monotonic() + delai_s
    while True:
        valeur = await condition()
        if valeur:
            return valeur
        if time.monotonic() > fin:
            raise AssertionError(f"{quoi}: not true after {delai_s}s")
        await asyncio.sleep(SONDE_S)


@dataclass
class RelaisLance:
    """An ``ase relay --port`` process and its endpoint."""

    processus: subprocess.Popen[bytes]
    url: str
    journal: Path

    async def get(self, chemin: str) -> httpx.Response | None:
        try:
            async with httpx.AsyncClient(base_url=self.url, timeout=2, trust_env=False) as client:
                return await client.get(chemin)
        except httpx.TransportError:
            return None

    async def metriques(self) -> dict[str, float]:
        reponse = await self.get("/metrics")
        if reponse is None or reponse.status_code != 200:
            return {}
        return {
            echantillon.name: echantillon.value
            for famille in text_string_to_metric_families(reponse.text)
            for echantillon in famille.samples
            if echantillon.name.startswith("ase_relais_")
        }

    def fin_du_journal(self) -> str:
        return self.journal.read_text(errors="replace")[-3000:] if self.journal.exists() else ""


@pytest.fixture
def lancer_relais(tmp_path: Path) -> Iterator[Callable[[str, str], RelaisLance]]:
    """Start ``ase relay --port`` subprocesses; none outlives the test."""
    lances: list[RelaisLance] = []

    def lancer(database_url: str, bootstrap: str) -> RelaisLance:
        port = port_libre()
        journal = tmp_path / f"relais-{len(lances)}.log"
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            **env_principal("relais"),
            "ASE_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
        with journal.open("wb") as sortie:
            processus = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "relay", "--port", str(port)],
                cwd=RACINE,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sortie,
                stderr=subprocess.STDOUT,
            )
        relais = RelaisLance(processus=processus, url=f"http://127.0.0.1:{port}", journal=journal)
        lances.append(relais)
        return relais

    try:
        yield lancer
    finally:
        for relais in lances:
            if relais.processus.poll() is None:
                relais.processus.kill()
            relais.processus.wait(timeout=30)


@pytest.fixture
async def lecture_sur_kafka(
    api: Api, base_url: str, tmp_path: Path, kafka_broker: KafkaBroker
) -> AsyncIterator[httpx.AsyncClient]:
    """The projections' app following Kafka (engines off: only its probes matter here)."""
    from services.projections.api.app import composer, creer_app
    from services.projections.settings import ProjectionsSettings

    reglages = ProjectionsSettings(
        database_url=base_url,
        data_dir=tmp_path / "cles",
        kafka_bootstrap_servers=kafka_broker.bootstrap_servers,
        retard_max=0,
    )
    comp = await composer(reglages, horloge=api.horloge, demarrer_moteurs=False)
    app = creer_app(reglages, composants=comp)
    try:
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://lecture.test") as client,
        ):
            yield client
    finally:
        await comp.pool.close()


async def _readyz(client: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    reponse = await client.get("/readyz")
    return reponse.status_code, reponse.json()


async def _dernier_id(base_url: str) -> int:
    conn = await asyncpg.connect(base_url)
    try:
        return int(await conn.fetchval("SELECT coalesce(max(notification_id), 0) FROM ase_events"))
    finally:
        await conn.close()


async def test_a_relay_killed_with_kill_9_goes_unnoticed(
    api: Api,
    base_url: str,
    kafka_broker: KafkaBroker,
    lancer_relais: Callable[[str, str], RelaisLance],
    lecture_sur_kafka: httpx.AsyncClient,
) -> None:
    actif = lancer_relais(base_url, kafka_broker.bootstrap_servers)

    async def publie() -> bool:
        assert actif.processus.poll() is None, actif.fin_du_journal()
        reponse = await actif.get("/readyz")
        return (
            reponse is not None
            and reponse.status_code == 200
            and (await actif.metriques()).get("ase_relais_actif") == 1.0
        )

    await attendre(publie, delai_s=60, quoi="the relay serves /readyz and holds the lock")
    assert (await actif.get("/healthz")).status_code == 200  # type: ignore[union-attr]

    # What it published is in its metrics: its position reaches the store's last id.
    await ouvrir(api, date(2025, 1, 6))
    dernier = await _dernier_id(base_url)

    async def a_tout_publie() -> bool:
        metriques = await actif.metriques()
        return metriques.get("ase_relais_position") == dernier and metriques.get("ase_relais_retard") == 0.0

    await attendre(a_tout_publie, delai_s=30, quoi=f"ase_relais_position reaches {dernier}")
    assert (await actif.metriques())["ase_relais_evenements_publies_total"] >= dernier
    statut, corps = await _readyz(lecture_sur_kafka)
    assert statut == 200, corps
    assert corps["dependances"]["relais"] == "ok"

    # A standby waiting on the lock is ready too (it can take over), but not active.
    attente = lancer_relais(base_url, kafka_broker.bootstrap_servers)

    async def en_attente() -> bool:
        reponse = await attente.get("/readyz")
        return reponse is not None and reponse.status_code == 200

    await attendre(en_attente, delai_s=60, quoi="the standby relay answers /readyz")
    assert (await attente.metriques())["ase_relais_actif"] == 0.0
    attente.processus.send_signal(signal.SIGTERM)
    assert attente.processus.wait(timeout=30) == 0

    # kill -9: no clean shutdown. Its session ends, and with it the lock.
    os.kill(actif.processus.pid, signal.SIGKILL)
    actif.processus.wait(timeout=10)

    async def absent() -> dict[str, Any] | None:
        statut, corps = await _readyz(lecture_sur_kafka)
        return corps if statut == 503 and corps["dependances"]["relais"] == "RelaisAbsent" else None

    corps = await attendre(absent, delai_s=20, quoi="the projections' /readyz says no relay publishes")
    assert corps["pret"] is False
    await ouvrir(api, date(2025, 1, 7))  # commands still succeed; nothing publishes them
    statut, corps = await _readyz(lecture_sur_kafka)
    assert (statut, corps["dependances"]["relais"]) == (503, "RelaisAbsent")

    # A relay started again (what supervision does) catches up, and the read side is ready again.
    relance = lancer_relais(base_url, kafka_broker.bootstrap_servers)
    dernier = await _dernier_id(base_url)

    async def rattrape() -> bool:
        statut, _ = await _readyz(lecture_sur_kafka)
        return statut == 200 and (await relance.metriques()).get("ase_relais_position") == dernier

    await attendre(rattrape, delai_s=60, quoi="a new relay catches up and /readyz is 200 again")


async def test_a_relay_that_holds_the_lock_but_falls_behind_makes_the_projections_not_ready(
    api: Api, base_url: str, lecture_sur_kafka: httpx.AsyncClient
) -> None:
    # A session holding the relay's lock without publishing: a relay stuck on a broker that does not answer.
    bloque = await asyncpg.connect(base_url)
    try:
        assert await bloque.fetchval("SELECT pg_try_advisory_lock($1)", CLE_VERROU)
        statut, corps = await _readyz(lecture_sur_kafka)
        assert statut == 200, corps  # nothing recorded yet: nothing to publish

        await ouvrir(api, date(2025, 1, 6))
        statut, corps = await _readyz(lecture_sur_kafka)
        assert statut == 503
        assert corps["dependances"]["relais"] == "RelaisEnRetard"
    finally:
        await bloque.close()
    statut, corps = await _readyz(lecture_sur_kafka)
    assert (statut, corps["dependances"]["relais"]) == (503, "RelaisAbsent")
