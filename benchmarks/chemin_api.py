"""The HTTP path: the real API in its own process, driven by httpx clients.

Each command is ``POST /v1/parcours/{id}/rapports`` with a real dev token,
through uvicorn, the middleware, auth, validation, the thread limiter and
``ParcoursApplication`` on PostgreSQL; latency is timed in the client, from the
request sent to the response read. Traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from uuid import UUID

import httpx

from benchmarks import scenario as s
from services.cli.travailleurs import coeurs_disponibles, prises_d_ecoute
from services.runtime.auth import CleDeDeveloppement
from services.runtime.limites import LimitesHTTP

RACINE = Path(__file__).resolve().parent.parent


class ServeurArreteError(RuntimeError):
    """The API process failed or answered a command with an error."""


class CheminApi:
    """One HTTP client pool on one API process."""

    nom = "api"

    def __init__(
        self, client: httpx.AsyncClient, pids: list[int], jeton: str, pools: list[httpx.AsyncClient] | None = None
    ) -> None:
        self.client = client
        self.pools = pools or [client]
        """Independent clients: a stream's commands always go through the same one."""
        self.pids = pids
        """The API's processes: ``ase serve --workers`` as production runs it (``ASE_BENCH_WORKERS``,
        default the cores available)."""
        self._entetes = {"Authorization": f"Bearer {jeton}", "Content-Type": "application/json"}

    @classmethod
    @asynccontextmanager
    async def demarrer(cls, url: str, dossier: Path) -> AsyncIterator[CheminApi]:
        """Start the API on a free port of 127.0.0.1 over ``url``; stop it on exit."""
        cle = await asyncio.to_thread(CleDeDeveloppement.dans, dossier)  # the key the server will verify with
        jeton = cle.signer(sub=s.AUTEUR, roles=["referent"], departements=[s.DEPARTEMENT])
        workers = int(os.environ.get("ASE_BENCH_WORKERS", "0")) or coeurs_disponibles()
        # As ``ase serve --workers``: one listening socket of the port per worker (``SO_REUSEPORT``).
        prises = prises_d_ecoute("127.0.0.1", 0, workers)
        port = prises[0].getsockname()[1]
        journal_chemin = dossier / "serveur.log"
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "ASE_DATA_DIR": str(dossier),
            "ASE_DB_POOL_SIZE": str(s.TAILLE_POOL),
            "ASE_MODE": "dev",
            "ASE_LOG_LEVEL": "INFO",  # the startup line each worker logs (``_tous_prets``)
        }
        tous: list[asyncio.subprocess.Process] = []
        with journal_chemin.open("wb") as journal:
            for ecoute in prises:
                tous.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        "benchmarks.serveur_api",
                        "--fd",
                        str(ecoute.fileno()),
                        pass_fds=[ecoute.fileno()],
                        stdin=subprocess.PIPE,
                        stdout=journal,
                        stderr=subprocess.STDOUT,
                        cwd=RACINE,
                        env=env,
                    )
                )
        # Only the server holds the sockets now: if it dies, clients are refused instead of waiting.
        for ecoute in prises:
            ecoute.close()
        try:
            async with AsyncExitStack() as clients:
                # Clients as the API's users are: many, each with its connection(s), not one pool of 32
                # connections in one process (httpcore's pool does work per request that grows with its
                # connections: measured, the load generator's CPU per command doubled from 8 to 32
                # clients, and its own waits were most of the p99).
                pools = [await clients.enter_async_context(_client(port)) for _ in range(max(s.NIVEAUX))]
                client = pools[0]
                try:
                    # Queued in the backlog until the lifespan is done: this is the readiness wait.
                    pret = await client.get("/readyz")
                except httpx.TransportError as exc:
                    raise ServeurArreteError(f"l'API n'a pas démarré:\n{_fin(journal_chemin)}") from exc
                if pret.status_code != 200:
                    raise ServeurArreteError(f"l'API n'est pas prête: {pret.text}\n{_fin(journal_chemin)}")
                # Every worker up (each answered its readiness probe at least once) before any figure.
                await asyncio.wait_for(cls._tous_prets(journal_chemin, len(tous)), timeout=120)
                yield cls(client, [p.pid for p in tous], jeton, pools)
        finally:
            for processus in tous:
                assert processus.stdin is not None
                processus.stdin.close()
            for processus in tous:
                try:
                    await asyncio.wait_for(processus.wait(), timeout=30)
                except TimeoutError:
                    processus.kill()
                    await processus.wait()

    @staticmethod
    async def _tous_prets(journal: Path, workers: int) -> None:
        """Until each worker logged the end of its startup (``service_demarre``) in ``journal``."""
        while True:
            if (await asyncio.to_thread(journal.read_bytes)).count(b"service_demarre") >= workers:
                return
            await asyncio.sleep(0.05)  # polling, bounded by the caller's deadline

    async def ouvrir(self, nombre: int) -> list[UUID]:
        ids = []
        for _ in range(nombre):
            reponse = await self.client.post("/v1/parcours", content=s.CORPS_OUVERTURE, headers=self._entetes)
            _exiger(reponse, 201)
            ids.append(UUID(reponse.json()["id"]))
        return ids

    async def commande(self, parcours_id: UUID) -> None:
        reponse = await self.pools[parcours_id.int % len(self.pools)].post(
            f"/v1/parcours/{parcours_id}/rapports", content=s.CORPS_RAPPORT, headers=self._entetes
        )
        _exiger(reponse, 200)


def _client(port: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        # Idle connections dropped before the server's keep-alive timeout closes them
        # (``ASE_HTTP_DELAI_INACTIVITE``, 5 s): reusing one the server is closing is a ReadError.
        limits=httpx.Limits(max_connections=4, keepalive_expiry=LimitesHTTP().delai_inactivite - 1),
        timeout=httpx.Timeout(60.0),
        trust_env=False,  # never through a proxy: 127.0.0.1 only
    )


def _exiger(reponse: httpx.Response, statut: int) -> None:
    if reponse.status_code != statut:
        raise ServeurArreteError(
            f"{reponse.request.method} {reponse.request.url.path}: {reponse.status_code} {reponse.text}"
        )


def _fin(journal: Path, lignes: int = 30) -> str:
    return "\n".join(journal.read_text(errors="replace").splitlines()[-lignes:])
