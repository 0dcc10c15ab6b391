"""The parcours service's FastAPI application and its composition root."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from anyio import CapacityLimiter, to_thread
from fastapi import FastAPI

from services.parcours.api import routes_commandes, routes_lecture
from services.parcours.api.dependances import Composants
from services.parcours.application import ParcoursApplication
from services.parcours.settings import ParcoursSettings
from services.runtime import problemes
from services.runtime.auth import CleDeDeveloppement, Verificateur, VerificateurOIDC
from services.runtime.horloge import Horloge
from services.runtime.http import Sonde, installer_traces, routeur_sante
from services.runtime.postgres import demarrer_postgres_embarque, env_eventsourcing

log = structlog.get_logger(__name__)


def url_base_de_donnees(settings: ParcoursSettings) -> str:
    """The configured PostgreSQL, or the embedded one in the data folder."""
    if settings.database_url:
        return settings.database_url
    return demarrer_postgres_embarque(Path(settings.data_dir).resolve() / "postgres")


def verificateur(settings: ParcoursSettings) -> Verificateur:
    if settings.oidc_jwks_url and settings.oidc_issuer:
        return VerificateurOIDC(
            jwks_url=settings.oidc_jwks_url, emetteur=settings.oidc_issuer, audience=settings.oidc_audience
        )
    return CleDeDeveloppement.dans(Path(settings.data_dir))


def composer(settings: ParcoursSettings, horloge: Horloge | None = None) -> Composants:
    """Build the write side: the eventsourcing application on PostgreSQL, auth, the limiter."""
    url = url_base_de_donnees(settings)
    application = ParcoursApplication(env=env_eventsourcing(url, taille_pool=settings.db_pool_size), horloge=horloge)
    return Composants(
        application=application,
        verificateur=verificateur(settings),
        # One command per pooled connection: more would only queue inside the pool.
        limiteur=CapacityLimiter(settings.db_pool_size),
    )


def creer_app(
    settings: ParcoursSettings | None = None,
    *,
    composants: Composants | None = None,
    horloge: Horloge | None = None,
) -> FastAPI:
    """The parcours API; ``composants`` lets tests bring their own (in-memory store, fixed clock)."""
    reglages = settings or ParcoursSettings()

    @asynccontextmanager
    async def cycle_de_vie(app: FastAPI) -> AsyncIterator[None]:
        comp = composants if composants is not None else await to_thread.run_sync(lambda: composer(reglages, horloge))
        app.state.parcours = comp
        log.info("service_demarre", service="parcours")
        try:
            yield
        finally:
            if composants is None:
                comp.application.close()

    app = FastAPI(title="Parcours ASE — commandes", version="1.0.0", lifespan=cycle_de_vie)
    monter(app)
    return app


def monter(app: FastAPI) -> None:
    """Mount the parcours routes, error handlers and probes on ``app``."""
    installer_traces(app)
    problemes.installer(app)
    monter_routes(app)
    app.include_router(routeur_sante(sondes(app)))


def monter_routes(app: FastAPI) -> None:
    """The command and read-your-writes routes only (``ase serve`` mounts every service's)."""
    app.include_router(routes_commandes.routeur)
    app.include_router(routes_lecture.routeur)


def sondes(app: FastAPI) -> dict[str, Sonde]:
    """What ``/readyz`` checks for the write side."""

    async def base_de_donnees() -> None:
        comp: Composants = app.state.parcours
        await to_thread.run_sync(comp.application.recorder.max_notification_id, limiter=comp.limiteur)

    return {"postgres": base_de_donnees}
