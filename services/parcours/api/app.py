"""The parcours service's FastAPI application and its composition root."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import structlog
from anyio import CapacityLimiter, to_thread
from fastapi import Depends, FastAPI

from services.parcours import horloge_majorite
from services.parcours.api import routes_commandes, routes_lecture
from services.parcours.api.dependances import Composants
from services.parcours.application import ParcoursApplication
from services.parcours.settings import ParcoursSettings
from services.runtime import problemes
from services.runtime.auth import CleDeDeveloppement, JetonsVerifies, Verificateur, VerificateurOIDC
from services.runtime.documentation import installer_documentation
from services.runtime.horloge import Horloge
from services.runtime.http import DELAI_SONDE_S, Sonde, installer_traces, routeur_sante
from services.runtime.limites import LimitesHTTP, installer_limites
from services.runtime.parametres import refuser_parametres_inconnus
from services.runtime.postgres import demarrer_postgres_embarque, env_eventsourcing, repond

log = structlog.get_logger(__name__)


def url_base_de_donnees(settings: ParcoursSettings) -> str:
    """The configured PostgreSQL, or the embedded one in the data folder."""
    if settings.database_url:
        return settings.database_url
    return demarrer_postgres_embarque(Path(settings.data_dir).resolve() / "postgres")


def verificateur(settings: ParcoursSettings) -> Verificateur:
    """The token verifier of the settings, remembering each verified token until it expires."""
    interne: Verificateur
    if settings.oidc_jwks_url and settings.oidc_issuer:
        interne = VerificateurOIDC(
            jwks_url=settings.oidc_jwks_url,
            emetteur=settings.oidc_issuer,
            audience=settings.oidc_audience,
            duree_max_s=settings.duree_max_jeton_s,
        )
    else:
        interne = CleDeDeveloppement.dans(Path(settings.data_dir), duree_max_s=settings.duree_max_jeton_s)
    return JetonsVerifies(interne)


def composer(settings: ParcoursSettings, horloge: Horloge | None = None) -> Composants:
    """Build the write side: the eventsourcing application on PostgreSQL, auth, the slots."""
    url = url_base_de_donnees(settings)
    # One pooled connection per slot, the commands' and the reads' apart: neither
    # waits inside the pool for the other, and more would only queue there.
    taille_pool = settings.db_pool_size + settings.db_read_pool_size
    env = env_eventsourcing(url, taille_pool=taille_pool, delai_s=settings.db_timeout)
    return Composants(
        application=ParcoursApplication(env=env, horloge=horloge),
        verificateur=verificateur(settings),
        limiteur=CapacityLimiter(settings.db_pool_size),
        lectures=CapacityLimiter(settings.db_read_pool_size),
        delai_s=settings.db_timeout,
        url=url,
        file_max=settings.db_queue_max,
    )


def creer_app(
    settings: ParcoursSettings | None = None,
    *,
    composants: Composants | None = None,
    horloge: Horloge | None = None,
    limites: LimitesHTTP | None = None,
    demarrer_horloge_majorite: bool | None = None,
) -> FastAPI:
    """The parcours API; ``composants`` lets tests bring their own (in-memory store, fixed clock).

    The majority clock (``horloge_majorite``) runs in its lifespan when ``demarrer_horloge_majorite`` says so;
    None: as the settings say (``ASE_HORLOGE_MAJORITE``), and never with ``composants`` brought by a test.
    """
    reglages = settings or ParcoursSettings()
    horloge_en_fond = (
        demarrer_horloge_majorite
        if demarrer_horloge_majorite is not None
        else reglages.horloge_majorite and composants is None
    )

    @asynccontextmanager
    async def cycle_de_vie(app: FastAPI) -> AsyncIterator[None]:
        comp = composants if composants is not None else await to_thread.run_sync(lambda: composer(reglages, horloge))
        # The access log's table (the read side creates it too: whichever starts first).
        await to_thread.run_sync(comp.journal_acces.preparer_sync)
        app.state.parcours = comp
        log.info("service_demarre", service="parcours")
        try:
            async with AsyncExitStack() as fond:
                if horloge_en_fond:
                    await fond.enter_async_context(
                        horloge_majorite.en_fond(comp.application, comp.url, creneaux=comp.limiteur)
                    )
                yield
        finally:
            if composants is None:
                comp.application.close()

    app = FastAPI(
        title="Parcours ASE — commandes", version="1.0.0", lifespan=cycle_de_vie, docs_url=None, redoc_url=None
    )
    monter(app, limites or LimitesHTTP())
    return app


def monter(app: FastAPI, limites: LimitesHTTP) -> None:
    """Mount the parcours routes, error handlers, probes and documentation on ``app``."""
    installer_limites(app, limites)
    installer_traces(app)
    problemes.installer(app)
    monter_routes(app)
    app.include_router(routeur_sante(sondes(app)))
    installer_documentation(app)


def monter_routes(app: FastAPI) -> None:
    """The command and read-your-writes routes only (``ase serve`` mounts every service's)."""
    # The commands refuse unknown query parameters in their one dependency (``conditions``).
    app.include_router(routes_commandes.routeur)
    app.include_router(routes_lecture.routeur, dependencies=[Depends(refuser_parametres_inconnus)])


def sondes(app: FastAPI) -> dict[str, Sonde]:
    """What ``/readyz`` checks for the write side."""

    async def base_de_donnees() -> None:
        comp: Composants = app.state.parcours
        if comp.url is not None:
            # A connection of its own: no slot and no pool, whatever the commands wait for.
            await repond(comp.url, DELAI_SONDE_S)
            return
        await to_thread.run_sync(comp.application.recorder.max_notification_id, abandon_on_cancel=True)

    return {"postgres": base_de_donnees}
