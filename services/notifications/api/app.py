"""The notifications service's FastAPI application and its composition root.

``composer`` builds the pool, the tables, the deadline engine on its feed (the
store's notification log when ``KAFKA_BOOTSTRAP_SERVERS`` is unset, else Kafka,
group ``ase.notifications.echeances``), the scheduler, and the background loops
of :data:`BOUCLES` (the other ways alerts go out: the topic, webhooks, e-mail).
``monter_routes`` mounts the inbox (and the other routers of the service),
``sondes`` what ``/readyz`` checks; ``ase serve`` mounts them beside the other
services', ``ase serve notifications`` runs :func:`creer_app` alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final, cast

import asyncpg
import structlog
from anyio import to_thread
from fastapi import APIRouter, Depends, FastAPI

from contracts.enveloppe import TOPIC_IDENTITES, TOPIC_PARCOURS
from services.notifications import abonnements, alertes, courriels, publication, sorties, webhooks
from services.notifications.api.dependances import Composition
from services.notifications.echeancier import NOM, SCHEMA_ECHEANCES, ProjectionEcheances
from services.notifications.planificateur import Planificateur
from services.notifications.settings import NotificationsSettings
from services.runtime import journal_acces, problemes
from services.runtime.auth import Verificateur, verificateur_configure
from services.runtime.documentation import installer_documentation
from services.runtime.feeds import Feed, FeedJournal, FeedKafka, Positions, position_de_depart
from services.runtime.horloge import Horloge, HorlogeSysteme
from services.runtime.http import Sonde, installer_traces, routeur_sante
from services.runtime.limites import LimitesHTTP, installer_limites
from services.runtime.moteur import POSITION, RETARD, Moteur, creer_tables, lire_positions
from services.runtime.parametres import refuser_parametres_inconnus
from services.runtime.postgres import demarrer_postgres_embarque

log = structlog.get_logger(__name__)

GROUPE: Final = "ase.notifications.echeances"
"""The deadline engine's Kafka consumer group."""

SUJETS: Final = (TOPIC_PARCOURS, TOPIC_IDENTITES)

VERROU_DDL: Final = 0x4E4F5449
"""``pg_advisory_xact_lock`` key around the service's DDL (several instances start at once)."""

MESURE_RETARD_S: Final = 2.0

Boucle = Callable[[Composition], Awaitable[None]]
"""A background loop of the service: runs until ``comp.arret`` is set (then returns)."""


def _reveil(comp: Composition) -> asyncio.Event:
    """An event set whenever ``comp.sorties`` is notified (for the loops that wait on an ``asyncio.Event``)."""
    reveil = asyncio.Event()

    async def relayer() -> None:
        while not comp.arret.is_set():
            if await comp.sorties.attendre(1.0):
                reveil.set()

    comp.taches.append(asyncio.create_task(relayer(), name="notifications-reveil"))
    return reveil


async def sujet(comp: Composition) -> None:
    """The topic ``ase.alertes.v1`` (only when Kafka is configured: ``ase serve`` has none)."""
    if comp.settings.kafka_bootstrap_servers:
        await publication.tourner(comp.pool, comp.settings.kafka_bootstrap_servers, comp.arret, reveil=_reveil(comp))


async def livraisons(comp: Composition) -> None:
    """The webhooks' deliveries, signed per Standard Webhooks."""
    await webhooks.tourner(comp.pool, comp.settings, comp.arret, horloge=comp.horloge, reveil=_reveil(comp))


async def envois(comp: Composition) -> None:
    """The e-mails: urgent at once, the daily digest."""
    await courriels.tourner(comp.pool, comp.settings, comp.horloge, comp.arret)


BOUCLES: list[Boucle] = [sujet, livraisons, envois]
"""The background loops ``composer`` starts beside the engine and the scheduler, in every process that runs
background work (``demarrer_moteurs``), each reading the outbox from its own cursor
(:mod:`services.notifications.sorties`): the topic, the webhooks, the e-mails."""


def verificateur(settings: NotificationsSettings) -> Verificateur:
    return verificateur_configure(
        oidc_jwks_url=settings.oidc_jwks_url,
        oidc_issuer=settings.oidc_issuer,
        oidc_audience=settings.oidc_audience,
        data_dir=Path(settings.data_dir),
        duree_max_s=settings.duree_max_jeton_s,
    )


def feed(settings: NotificationsSettings, database_url: str) -> Feed:
    """The engine's feed: Kafka (group :data:`GROUPE`) when configured, else the store's notification log."""
    if settings.kafka_bootstrap_servers:
        return FeedKafka(settings.kafka_bootstrap_servers, list(SUJETS), groupe=GROUPE, taille_lot=settings.taille_lot)
    return FeedJournal(database_url, topics=list(SUJETS), taille_lot=settings.taille_lot)


async def creer_les_tables(pool: asyncpg.Pool, projection: ProjectionEcheances) -> None:
    """The outbox, the alerts, the engine's schema and timers, the access log (idempotent, one instance at a time)."""
    async with pool.acquire() as conn:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", VERROU_DDL)
            await sorties.creer_tables(cast("asyncpg.Connection", conn))
            await alertes.creer_tables(conn)
            await abonnements.creer_tables(conn)
            await courriels.creer_tables(conn)
            await creer_tables(conn, SCHEMA_ECHEANCES, projection)
        await journal_acces.preparer(conn)


async def composer(
    settings: NotificationsSettings,
    *,
    horloge: Horloge | None = None,
    demarrer_moteurs: bool = True,
    boucles: Sequence[Boucle] | None = None,
) -> Composition:
    """Pool, tables, auth; with ``demarrer_moteurs``, the engine, the scheduler and the loops of ``boucles``
    (default :data:`BOUCLES`) running in the background until :meth:`Composition.arreter`."""
    url = settings.database_url
    if url is None:
        url = await to_thread.run_sync(
            lambda: demarrer_postgres_embarque(Path(settings.data_dir).resolve() / "postgres")
        )
    pool = await asyncpg.create_pool(
        url,
        min_size=1,
        max_size=settings.db_pool_size,
        command_timeout=settings.db_timeout,
        timeout=settings.db_timeout,
    )
    horloge = horloge or HorlogeSysteme()
    projection = ProjectionEcheances(horloge)
    await creer_les_tables(pool, projection)
    comp = Composition(
        settings=settings, pool=pool, verificateur=verificateur(settings), horloge=horloge, database_url=url
    )
    if demarrer_moteurs:
        comp.planificateur = Planificateur(
            pool,
            horloge,
            settings.planificateur_intervalle_s,
            pret=lambda: comp.retard is None or comp.retard <= settings.retard_max,
            apres_tick=lambda _: comp.sorties.notifier(),
        )
        comp.moteur = _moteur(comp, projection)
        with contextlib.suppress(Exception):
            await mesurer_retard(comp)  # a first measure before the first tick (a rebuild must not tick)
        comp.taches.append(asyncio.create_task(_tourner_moteur(comp, projection), name="notifications-moteur"))
        comp.taches.append(asyncio.create_task(_mesurer_en_continu(comp), name="notifications-retard"))
        comp.taches.append(
            asyncio.create_task(comp.planificateur.tourner(comp.arret), name="notifications-planificateur")
        )
        for boucle in BOUCLES if boucles is None else boucles:
            comp.taches.append(asyncio.create_task(_executer(boucle, comp), name=f"notifications-{_nom(boucle)}"))
    return comp


async def _executer(boucle: Boucle, comp: Composition) -> None:
    await boucle(comp)


def _nom(boucle: Boucle) -> str:
    return getattr(boucle, "__name__", "boucle")


def _moteur(comp: Composition, projection: ProjectionEcheances) -> Moteur:
    async def apres_lot(_: Positions) -> None:
        comp.sorties.notifier()  # the batch may have closed alerts
        if comp.planificateur is not None:
            comp.planificateur.reveiller()  # new timers may be due today

    return Moteur(
        projection,
        SCHEMA_ECHEANCES,
        comp.pool,
        feed(comp.settings, comp.database_url),
        apres_lot=apres_lot,
        creer_schema=False,  # created by composer, under the DDL lock (several instances start at once)
    )


async def _tourner_moteur(comp: Composition, projection: ProjectionEcheances) -> None:
    """Run the engine; after a failure, again from its stored positions (with backoff)."""
    attente = 0.5
    while not comp.arret.is_set():
        moteur = comp.moteur or _moteur(comp, projection)
        comp.moteur = moteur
        try:
            await moteur.executer(comp.arret)
            attente = 0.5
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("echeancier_en_erreur", erreur=type(exc).__name__, detail=str(exc)[:300], reprise_s=attente)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(comp.arret.wait(), timeout=attente)
            attente = min(attente * 2, 10.0)
            comp.moteur = _moteur(comp, projection)


def ecart(fins: Positions, appliquees: Positions) -> int:
    """How far ``appliquees`` is behind ``fins``, summed over sources and partitions."""
    return sum(max(0, fin - appliquees.get(cle, position_de_depart(cle))) for cle, fin in fins.items())


async def mesurer_retard(comp: Composition) -> int | None:
    """Measure the engine's lag now (``/readyz``, ``ase_projection_retard{projection="echeances"}``)."""
    moteur = comp.moteur
    if moteur is None:
        return None
    fins = await moteur.feed.fins()
    async with comp.pool.acquire() as conn:
        appliquees = await lire_positions(conn, SCHEMA_ECHEANCES)
    comp.retard = ecart(fins, appliquees)
    RETARD.labels(NOM).set(comp.retard)
    for (source, partition), position in appliquees.items():
        POSITION.labels(NOM, source, str(partition)).set(position)
    return comp.retard


async def _mesurer_en_continu(comp: Composition) -> None:
    while not comp.arret.is_set():
        try:
            await mesurer_retard(comp)
        except Exception as exc:  # a lag we cannot measure keeps its last value
            log.info("echeancier_retard_inconnu", erreur=type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(comp.arret.wait(), timeout=MESURE_RETARD_S)


def creer_app(
    settings: NotificationsSettings | None = None,
    *,
    composants: Composition | None = None,
    limites: LimitesHTTP | None = None,
) -> FastAPI:
    """``ase serve notifications``: the service alone, configured by its environment."""
    reglages = settings or NotificationsSettings()

    @asynccontextmanager
    async def cycle_de_vie(app: FastAPI) -> AsyncIterator[None]:
        comp = composants or await composer(reglages)
        installer(app, comp)
        log.info("service_demarre", service="notifications")
        try:
            yield
        finally:
            if composants is None:
                await comp.arreter()
                await comp.pool.close()

    app = FastAPI(
        title="Parcours ASE — notifications", version="1.0.0", lifespan=cycle_de_vie, docs_url=None, redoc_url=None
    )
    installer_limites(app, limites or LimitesHTTP())
    installer_traces(app)
    problemes.installer(app)
    monter_routes(app)
    app.include_router(routeur_sante(sondes(app, reglages)))
    installer_documentation(app)
    return app


def routeurs() -> list[APIRouter]:
    """The service's routers."""
    from services.notifications.api import routes_abonnements, routes_alertes, routes_destinataires

    return [routes_alertes.routeur, routes_abonnements.routeur, routes_destinataires.routeur]


def installer(app: FastAPI, comp: Composition) -> None:
    """Give the routes their composition (``ase serve notifications`` and ``ase serve`` alike)."""
    from services.notifications.api.routes_abonnements import ComposantsAbonnements

    app.state.notifications = comp
    app.state.courriels = comp
    app.state.abonnements = ComposantsAbonnements(comp.pool, comp.verificateur, comp.settings, horloge=comp.horloge)


def monter_routes(app: FastAPI) -> None:
    """The service's routes only (``ase serve`` mounts every service's)."""
    for routeur in routeurs():
        app.include_router(routeur, dependencies=[Depends(refuser_parametres_inconnus)])


def sondes(app: FastAPI, settings: NotificationsSettings) -> dict[str, Sonde]:
    """What ``/readyz`` checks: the database, and that the deadline engine is at most ``retard_max`` events behind."""

    async def base_de_donnees() -> None:
        comp: Composition = app.state.notifications
        async with comp.pool.acquire() as conn:
            await conn.fetchval("SELECT 1")

    async def echeancier_a_jour() -> None:
        comp: Composition = app.state.notifications
        if comp.moteur is None:
            return
        if comp.retard is None:
            raise RuntimeError("retard de l'échéancier pas encore mesuré")
        if comp.retard > settings.retard_max:
            raise RuntimeError(f"échéancier en retard: {comp.retard}")

    return {"postgres_notifications": base_de_donnees, "echeancier": echeancier_a_jour}
