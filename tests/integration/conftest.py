"""Fixtures shared by the integration tests (real PostgreSQL, real Kafka)."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from anyio import CapacityLimiter
from asgi_lifespan import LifespanManager

from services.parcours.api.app import creer_app
from services.parcours.api.dependances import Composants
from services.parcours.application import ParcoursApplication
from services.runtime.auth import CleDeDeveloppement
from services.runtime.horloge import HorlogeFixe
from services.runtime.postgres import demarrer_postgres_embarque, env_eventsourcing
from tests.integration.kafka_fixtures import kafka_broker  # noqa: F401

AUJOURD_HUI = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A real PostgreSQL: ``DATABASE_URL`` if set, else an embedded server for the session."""
    externe = os.environ.get("DATABASE_URL")
    if externe:
        return externe
    # Outside pytest's temporary folders: a concurrent pytest run prunes old ones,
    # and must not delete a running server's data.
    return demarrer_postgres_embarque(Path(tempfile.mkdtemp(prefix="ase-pg-")) / "data", effacer_a_la_fin=True)


def _url_de(base: str, nom: str) -> str:
    from urllib.parse import urlparse, urlunparse

    morceaux = urlparse(base)
    return urlunparse(morceaux._replace(path="/" + nom))


@pytest.fixture
def base_url(postgres_url: str) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    nom = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{nom}"')
    yield _url_de(postgres_url, nom)
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{nom}" WITH (FORCE)')


def nouvelle_application(url: str, horloge: HorlogeFixe, taille_pool: int = 8) -> ParcoursApplication:
    return ParcoursApplication(env=env_eventsourcing(url, taille_pool=taille_pool), horloge=horloge)


@dataclass
class Api:
    """An HTTP client on the parcours API over a real PostgreSQL, with token helpers."""

    client: httpx.AsyncClient
    cle: CleDeDeveloppement
    horloge: HorlogeFixe
    application: ParcoursApplication

    def jeton(
        self, role: str = "referent", departements: tuple[str, ...] = ("59",), sub: str = "alice"
    ) -> dict[str, str]:
        return {"Authorization": "Bearer " + self.cle.signer(sub=sub, roles=[role], departements=list(departements))}

    async def post(self, chemin: str, corps: Any = None, **entetes: str) -> httpx.Response:
        en_tetes = {**self.jeton(), **{k.replace("_", "-"): v for k, v in entetes.items()}}
        return await self.client.post(chemin, json=corps, headers=en_tetes)

    async def get(self, chemin: str) -> httpx.Response:
        return await self.client.get(chemin, headers=self.jeton())


@pytest.fixture
async def api(base_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    horloge = HorlogeFixe(AUJOURD_HUI)
    cle = CleDeDeveloppement.dans(tmp_path / "cles")
    application = nouvelle_application(base_url, horloge)
    comp = Composants(application=application, verificateur=cle, limiteur=CapacityLimiter(8))
    app = creer_app(composants=comp)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parcours.test") as client,
    ):
        yield Api(client=client, cle=cle, horloge=horloge, application=application)
    application.close()


@dataclass
class Lecture:
    """An HTTP client on the read API (projections fed from the store), beside ``api``."""

    client: httpx.AsyncClient
    comp: Any
    api: Api

    async def get(
        self,
        chemin: str,
        *,
        role: str = "encadrant",
        departements: tuple[str, ...] = ("59",),
        sub: str = "alice",
        **params: Any,
    ) -> httpx.Response:
        return await self.client.get(chemin, params=params or None, headers=self.api.jeton(role, departements, sub))

    async def a_jour(self, delai_s: float = 30.0) -> None:
        """Wait until every projection has applied everything the store holds."""
        import asyncio
        import time

        from services.projections.service import retard

        assert self.comp.service is not None
        fin = time.monotonic() + delai_s
        while True:
            retards = {nom: await retard(self.comp.pool, m) for nom, m in self.comp.service.moteurs.items()}
            if all(r == 0 for r in retards.values()):
                return
            if time.monotonic() > fin:
                raise AssertionError(f"projections still behind after {delai_s}s: {retards}")
            await asyncio.sleep(0.05)


@pytest.fixture
async def lecture(api: Api, base_url: str, tmp_path: Path) -> AsyncIterator[Lecture]:
    from services.projections.api.app import composer
    from services.projections.api.app import creer_app as creer_app_lecture
    from services.projections.settings import ProjectionsSettings

    reglages = ProjectionsSettings(database_url=base_url, data_dir=tmp_path / "cles", kafka_bootstrap_servers=None)
    comp = await composer(reglages, horloge=api.horloge)
    app = creer_app_lecture(reglages, composants=comp)
    try:
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://lecture.test") as client,
        ):
            yield Lecture(client=client, comp=comp, api=api)
    finally:
        assert comp.service is not None
        await comp.service.arreter()
        await comp.pool.close()
