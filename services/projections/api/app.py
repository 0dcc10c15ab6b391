"""The projections service's FastAPI application and its composition root."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import structlog
from anyio import to_thread
from fastapi import APIRouter, Depends, FastAPI

from services.projections import statistiques
from services.projections.api.dependances import ComposantsLecture
from services.projections.service import ServiceProjections, Sources
from services.projections.settings import ProjectionsSettings
from services.runtime import journal_acces, problemes
from services.runtime.auth import Verificateur, verificateur_configure
from services.runtime.documentation import installer_documentation
from services.runtime.horloge import Horloge, HorlogeSysteme
from services.runtime.http import Sonde, installer_traces, routeur_sante
from services.runtime.kafka import producteur
from services.runtime.limites import LimitesHTTP, installer_limites
from services.runtime.moteur import Projection
from services.runtime.parametres import refuser_parametres_inconnus
from services.runtime.postgres import demarrer_postgres_embarque
from services.runtime.relais import etat_du_relais

log = structlog.get_logger(__name__)


def projections_par_defaut() -> list[Projection]:
    """Every read model of the service."""
    from services.projections.readmodels import catalogue_des_projections

    return catalogue_des_projections()


def routeurs() -> list[APIRouter]:
    from services.projections.api.routes import routeurs_lecture

    return routeurs_lecture()


def verificateur(settings: ProjectionsSettings) -> Verificateur:
    return verificateur_configure(
        oidc_jwks_url=settings.oidc_jwks_url,
        oidc_issuer=settings.oidc_issuer,
        oidc_audience=settings.oidc_audience,
        data_dir=Path(settings.data_dir),
        duree_max_s=settings.duree_max_jeton_s,
    )


async def composer(
    settings: ProjectionsSettings,
    *,
    horloge: Horloge | None = None,
    projections: Sequence[Projection] | None = None,
    demarrer_moteurs: bool = True,
) -> ComposantsLecture:
    """Pool, auth, and the engines running in the background.

    Refuses to start in production with the development OLINPE key
    (:class:`~services.projections.statistiques.CleOlinpeRefuseeError`), flags it in dev.
    """
    statistiques.verifier_cle_olinpe()
    url = settings.database_url
    if url is None:
        url = await to_thread.run_sync(
            lambda: demarrer_postgres_embarque(Path(settings.data_dir).resolve() / "postgres")
        )
    # A server that stops answering enforces no statement_timeout: bound each query and connection here.
    pool = await asyncpg.create_pool(
        url,
        min_size=1,
        max_size=settings.db_pool_size,
        command_timeout=settings.db_timeout,
        timeout=settings.db_timeout,
    )
    async with pool.acquire() as conn:
        await journal_acces.preparer(conn)
    choisies = list(projections) if projections is not None else projections_par_defaut()
    comp = ComposantsLecture(
        pool=pool, verificateur=verificateur(settings), horloge=horloge or HorlogeSysteme(), projections=choisies
    )
    if demarrer_moteurs:
        comp.service = ServiceProjections(
            pool, Sources(url, settings.kafka_bootstrap_servers, settings.taille_lot), choisies
        )
        await comp.service.demarrer()
        if bootstrap := settings.kafka_bootstrap_servers:
            comp.statistiques = statistiques.PublicationStatistiques(
                pool,
                lambda: producteur(bootstrap, client_id="ase-projections-statistiques"),
                settings.statistiques_intervalle_s,
            )
            await comp.statistiques.demarrer()
    return comp


def creer_app(
    settings: ProjectionsSettings | None = None,
    *,
    composants: ComposantsLecture | None = None,
    limites: LimitesHTTP | None = None,
) -> FastAPI:
    reglages = settings or ProjectionsSettings()

    @asynccontextmanager
    async def cycle_de_vie(app: FastAPI) -> AsyncIterator[None]:
        comp = composants or await composer(reglages)
        app.state.lecture = comp
        log.info("service_demarre", service="projections")
        try:
            yield
        finally:
            if composants is None:
                if comp.statistiques is not None:
                    await comp.statistiques.arreter()
                if comp.service is not None:
                    await comp.service.arreter()
                await comp.pool.close()

    app = FastAPI(title="Parcours ASE — lecture", version="1.0.0", lifespan=cycle_de_vie, docs_url=None, redoc_url=None)
    monter(app, reglages, limites or LimitesHTTP())
    return app


def monter(app: FastAPI, settings: ProjectionsSettings, limites: LimitesHTTP) -> None:
    """Mount the read routes, error handlers, probes and documentation on ``app``."""
    installer_limites(app, limites)
    installer_traces(app)
    problemes.installer(app)
    monter_routes(app)
    app.include_router(routeur_sante(sondes(app, settings)))
    installer_documentation(app)


def monter_routes(app: FastAPI) -> None:
    """The read routes only (``ase serve`` mounts every service's)."""
    for routeur in routeurs():
        app.include_router(routeur, dependencies=[Depends(refuser_parametres_inconnus)])


def sondes(app: FastAPI, settings: ProjectionsSettings) -> dict[str, Sonde]:
    """What ``/readyz`` checks for the read side: its database, that no projection lags and,
    when they follow Kafka, that a relay publishes and keeps up (``RelaisAbsent``, ``RelaisBloque``, ``RelaisEnRetard``).
    """

    async def base_de_donnees() -> None:
        comp: ComposantsLecture = app.state.lecture
        async with comp.pool.acquire() as conn:
            await conn.fetchval("SELECT 1")

    async def projections_a_jour() -> None:
        comp: ComposantsLecture = app.state.lecture
        if comp.service is None:
            return
        en_retard = {nom: n for nom, n in comp.service.retards.items() if n > settings.retard_max}
        if en_retard:
            raise RuntimeError(f"projections en retard: {en_retard}")

    async def relais_a_jour() -> None:
        # Kafka holds only what a relay published: without one, every read model silently stops.
        comp: ComposantsLecture = app.state.lecture
        async with comp.pool.acquire() as conn:
            etat = await etat_du_relais(conn)
        etat.verifier(settings.retard_max, settings.attente_relais_max_s)

    verifications: dict[str, Sonde] = {"postgres_lecture": base_de_donnees, "projections": projections_a_jour}
    if settings.kafka_bootstrap_servers:
        verifications["relais"] = relais_a_jour
    return verifications
