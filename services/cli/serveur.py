"""The ASGI applications ``ase serve`` runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from anyio import to_thread
from fastapi import FastAPI

from services.parcours.api import app as parcours
from services.parcours.settings import ParcoursSettings
from services.projections.api import app as projections
from services.projections.settings import ProjectionsSettings
from services.runtime import problemes
from services.runtime.http import installer_traces, routeur_sante

log = structlog.get_logger(__name__)


def application_embarquee(data_dir: Path) -> FastAPI:
    """Every service on one port and one PostgreSQL (embedded unless DATABASE_URL is set).

    Projections follow the store's notification log here, not Kafka: the
    embedded default needs nothing but this process.
    """
    reglages_parcours = ParcoursSettings(data_dir=data_dir)

    @asynccontextmanager
    async def cycle_de_vie(app: FastAPI) -> AsyncIterator[None]:
        comp_parcours = await to_thread.run_sync(lambda: parcours.composer(reglages_parcours))
        app.state.parcours = comp_parcours
        url = parcours.url_base_de_donnees(reglages_parcours)
        reglages_lecture = ProjectionsSettings(database_url=url, data_dir=data_dir, kafka_bootstrap_servers=None)
        comp_lecture = await projections.composer(reglages_lecture, horloge=comp_parcours.application.horloge)
        app.state.lecture = comp_lecture
        log.info("service_demarre", service="embarque")
        try:
            yield
        finally:
            if comp_lecture.service is not None:
                await comp_lecture.service.arreter()
            await comp_lecture.pool.close()
            comp_parcours.application.close()

    app = FastAPI(title="Parcours ASE", version="1.0.0", lifespan=cycle_de_vie)
    installer_traces(app)
    problemes.installer(app)
    parcours.monter_routes(app)
    projections.monter_routes(app)
    reglages_lecture_sondes = ProjectionsSettings(data_dir=data_dir, kafka_bootstrap_servers=None)
    app.include_router(routeur_sante({**parcours.sondes(app), **projections.sondes(app, reglages_lecture_sondes)}))
    return app


def application_service(nom: str) -> FastAPI:
    """One service, configured by its environment (the distributed stack)."""
    if nom == "parcours":
        return parcours.creer_app(ParcoursSettings())
    if nom == "projections":
        return projections.creer_app(ProjectionsSettings())
    # Notifications: a skeleton that answers its probes (to come).
    app = FastAPI(title=f"Parcours ASE — {nom}")
    app.include_router(routeur_sante({}))
    return app
