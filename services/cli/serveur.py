"""The ASGI applications ``ase serve`` runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import structlog
from anyio import to_thread
from fastapi import FastAPI

from services.cli.travailleurs import moteurs_autorises
from services.notifications.api import app as notifications
from services.notifications.settings import NotificationsSettings
from services.pages import app as pages
from services.pages.appels import ServicesAPI
from services.pages.settings import PagesSettings
from services.parcours import horloge_majorite
from services.parcours.api import app as parcours
from services.parcours.settings import ParcoursSettings
from services.projections.api import app as projections
from services.projections.settings import ProjectionsSettings
from services.runtime import problemes
from services.runtime.documentation import installer_documentation
from services.runtime.http import installer_traces, routeur_sante
from services.runtime.limites import LimitesHTTP, installer_limites
from services.runtime.postgres import tenir_postgres_embarque

log = structlog.get_logger(__name__)


def application_embarquee(data_dir: Path) -> FastAPI:
    """Every service on one port and one PostgreSQL (embedded unless DATABASE_URL is set).

    Projections follow the store's notification log here, not Kafka: the
    embedded default needs nothing but this process.
    """
    reglages_parcours = ParcoursSettings(data_dir=data_dir)

    @asynccontextmanager
    async def cycle_de_vie(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as a_defaire:
            reglages = reglages_parcours
            if reglages.database_url is None:
                # Held for the lifespan, let go at its end: uvicorn ends the lifespan on
                # SIGTERM and SIGINT before it exits, so the server stops with `ase serve`
                # (and one left by a killed `ase serve` is adopted here, then stopped).
                embarque = await to_thread.run_sync(lambda: tenir_postgres_embarque(data_dir / "postgres"))
                a_defaire.push_async_callback(to_thread.run_sync, embarque.liberer)
                reglages = reglages.model_copy(update={"database_url": embarque.url})
            comp_parcours = await to_thread.run_sync(lambda: parcours.composer(reglages))
            a_defaire.callback(comp_parcours.application.close)
            app.state.parcours = comp_parcours
            reglages_lecture = ProjectionsSettings(
                database_url=reglages.database_url, data_dir=data_dir, kafka_bootstrap_servers=None
            )
            # With ``--workers``, the engines run in the first worker only (``travailleurs``).
            comp_lecture = await projections.composer(
                reglages_lecture, horloge=comp_parcours.application.horloge, demarrer_moteurs=moteurs_autorises()
            )
            a_defaire.push_async_callback(comp_lecture.pool.close)
            if comp_lecture.service is not None:
                a_defaire.push_async_callback(comp_lecture.service.arreter)
            app.state.lecture = comp_lecture
            if reglages.horloge_majorite and moteurs_autorises():
                # The first worker only, as the engines (the advisory lock would let one run at a time anyway).
                await a_defaire.enter_async_context(
                    horloge_majorite.en_fond(
                        comp_parcours.application, comp_parcours.url, creneaux=comp_parcours.limiteur
                    )
                )
            reglages_notifications = NotificationsSettings(
                database_url=reglages.database_url, data_dir=data_dir, kafka_bootstrap_servers=None
            )
            comp_notifications = await notifications.composer(
                reglages_notifications,
                horloge=comp_parcours.application.horloge,
                demarrer_moteurs=moteurs_autorises(),
            )
            a_defaire.push_async_callback(comp_notifications.pool.close)
            a_defaire.push_async_callback(comp_notifications.arreter)
            notifications.installer(app, comp_notifications)
            reglages_pages = PagesSettings(database_url=reglages.database_url, data_dir=data_dir)
            # The pages call the APIs of this very application, in-process, with the signed-in person's token.
            comp_pages = await pages.composer(
                reglages_pages,
                api=ServicesAPI.en_processus(app, reglages_pages.pages_api_timeout_s),
                horloge=comp_parcours.application.horloge,
            )
            a_defaire.push_async_callback(comp_pages.pool.close)
            a_defaire.push_async_callback(comp_pages.api.fermer)
            application_pages.state.pages = comp_pages
            log.info("service_demarre", service="embarque")
            yield

    app = FastAPI(title="Parcours ASE", version="1.0.0", lifespan=cycle_de_vie, docs_url=None, redoc_url=None)
    installer_limites(app, LimitesHTTP())
    installer_traces(app)
    problemes.installer(app)
    parcours.monter_routes(app)
    projections.monter_routes(app)
    notifications.monter_routes(app)
    application_pages = pages.creer_pages()
    pages.monter(app, application_pages)
    reglages_lecture_sondes = ProjectionsSettings(data_dir=data_dir, kafka_bootstrap_servers=None)
    reglages_notifications_sondes = NotificationsSettings(data_dir=data_dir, kafka_bootstrap_servers=None)
    app.include_router(
        routeur_sante(
            {
                **parcours.sondes(app),
                **projections.sondes(app, reglages_lecture_sondes),
                **notifications.sondes(app, reglages_notifications_sondes),
                **pages.sondes(application_pages),
            }
        )
    )
    installer_documentation(app)
    return app


def application_service(nom: str) -> FastAPI:
    """One service, configured by its environment (the distributed stack)."""
    if nom == "parcours":
        return parcours.creer_app(ParcoursSettings())
    if nom == "projections":
        return projections.creer_app(ProjectionsSettings())
    if nom == "pages":
        return pages.creer_app(PagesSettings())
    return application_notifications()


def application_notifications(settings: NotificationsSettings | None = None) -> FastAPI:
    """Notifications: the deadline engine, the scheduler and the alerts' inbox (``ase serve notifications``)."""
    return notifications.creer_app(settings or NotificationsSettings())
