"""The projections service's running parts: one engine per projection, on the chosen feed.

Each engine runs on the schema the catalogue names. A rebuild (``ase rebuild``,
often another process) switches the catalogue to a fresh schema and drops the
old one; every engine therefore watches its catalogue row (every
``surveillance_s``, and at once on the ``projections_catalogue`` notification)
and, when the schema changed, stops and starts again on the new schema. The new
engine reads on from the positions the rebuild stored there, so nothing that
arrived during the switch is lost (for Kafka these are topic offsets, valid for
the service's group too; from another feed it replays from the start and the
per-stream versions make the replay change nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from services.projections import catalogue
from services.runtime.feeds import Feed, FeedJournal, FeedKafka, Positions, position_de_depart
from services.runtime.kafka import administration, producteur
from services.runtime.moteur import (
    POSITION,
    RETARD,
    EnvoiLettreMorte,
    LettreMorte,
    Moteur,
    Projection,
    lire_positions,
)

if TYPE_CHECKING:
    from services.runtime.moteur import Connexion

log = structlog.get_logger(__name__)

SOURCES = ("kafka", "store")


def groupe_de(projection: Projection) -> str:
    """The consumer group (and dead-letter topic prefix) of a projection."""
    return f"ase.projections.{projection.nom}"


def sujet_dlq(projection: Projection) -> str:
    return f"{groupe_de(projection)}.dlq"


@dataclass
class Sources:
    """Where events come from: Kafka when configured, else the store's notification log."""

    database_url: str
    kafka_bootstrap_servers: str | None = None
    taille_lot: int = 500

    @property
    def par_defaut(self) -> str:
        return "kafka" if self.kafka_bootstrap_servers else "store"

    def feed(self, projection: Projection, *, depuis: str | None = None, groupe: str | None = None) -> Feed:
        """``depuis`` forces ``"kafka"`` or ``"store"`` (rebuilds); ``groupe`` another consumer group."""
        choix = depuis or self.par_defaut
        if choix not in SOURCES:
            raise ValueError(f"unknown source {choix!r}: kafka or store")
        if choix == "kafka":
            if not self.kafka_bootstrap_servers:
                raise ValueError("KAFKA_BOOTSTRAP_SERVERS is needed to read from Kafka")
            return FeedKafka(
                self.kafka_bootstrap_servers,
                list(projection.sujets),
                groupe=groupe or groupe_de(projection),
                taille_lot=self.taille_lot,
            )
        return FeedJournal(self.database_url, topics=list(projection.sujets), taille_lot=self.taille_lot)


ApresLot = Callable[[str], Callable[[Positions], Awaitable[None]]]
"""Given a projection's name, what its engine calls after each committed batch (tests)."""


@dataclass
class ServiceProjections:
    """Runs every projection's engine in the background and reports their lag."""

    pool: asyncpg.Pool
    sources: Sources
    projections: Sequence[Projection]
    moteurs: dict[str, Moteur] = field(default_factory=dict)
    """The running engine of each projection (replaced when a rebuild switches its schema)."""
    surveillance_s: float = 2.0
    """How often engines check the catalogue (a notification wakes them sooner) and lags are measured."""
    retards: dict[str, int] = field(default_factory=dict)
    """Events each projection's feed holds beyond what it applied, as last measured."""
    _taches: list[asyncio.Task[None]] = field(default_factory=list)
    _arret: asyncio.Event = field(default_factory=asyncio.Event)
    _dlq: AIOKafkaProducer | None = None
    _apres_lot: ApresLot | None = None
    _changements: dict[str, asyncio.Event] = field(default_factory=dict)
    _ecoute: asyncpg.Connection | None = None

    async def demarrer(self, *, apres_lot: ApresLot | None = None) -> None:
        self._apres_lot = apres_lot
        if self.sources.kafka_bootstrap_servers:
            await creer_sujets_dlq(self.sources.kafka_bootstrap_servers, self.projections)
            self._dlq = producteur(self.sources.kafka_bootstrap_servers, client_id="ase-projections-dlq")
            await self._dlq.start()
        async with self.pool.acquire() as conn:
            await catalogue.supprimer_orphelins(conn)  # the schemas of rebuilds killed outright
        await self._ecouter_le_catalogue()
        for projection in self.projections:
            self._changements[projection.nom] = asyncio.Event()
            self.moteurs[projection.nom] = await self._moteur(projection)
            self._taches.append(asyncio.create_task(self._tourner(projection), name=f"projection-{projection.nom}"))
        self._taches.append(asyncio.create_task(self._mesurer_en_continu(), name="projections-retards"))

    async def _ecouter_le_catalogue(self) -> None:
        """Be woken at once by a switch; polling stays the fallback (a lost connection, a missed NOTIFY)."""
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            self._ecoute = await asyncpg.connect(self.sources.database_url)
            await self._ecoute.add_listener(
                catalogue.CANAL,
                lambda *args: self._changements[args[3]].set() if args[3] in self._changements else None,
            )

    async def _moteur(self, projection: Projection) -> Moteur:
        """An engine on the schema the catalogue names now, its tables created."""
        async with self.pool.acquire() as conn:
            schema = await catalogue.preparer_schema_actif(conn, projection)
        return Moteur(
            projection,
            schema,
            self.pool,
            self.sources.feed(projection),
            lettres_mortes=self._envoyeur_dlq(projection),
            creer_schema=False,
            apres_lot=self._apres_lot(projection.nom) if self._apres_lot else None,
        )

    def _envoyeur_dlq(self, projection: Projection) -> EnvoiLettreMorte | None:
        if self._dlq is None:
            return None
        producteur_dlq, sujet = self._dlq, sujet_dlq(projection)

        async def envoyer(lettre: LettreMorte) -> None:
            await producteur_dlq.send_and_wait(sujet, key=lettre.cle, value=lettre.corps())

        return envoyer

    async def _schema_a_change(self, moteur: Moteur) -> bool:
        async with self.pool.acquire() as conn:
            return await catalogue.schema_actif(conn, moteur.projection.nom) not in (None, moteur.schema)

    async def _surveiller(self, moteur: Moteur, arret_moteur: asyncio.Event) -> None:
        """Stop ``moteur`` when the service stops or a rebuild switched its projection's schema."""
        changement = self._changements[moteur.projection.nom]
        while not self._arret.is_set():
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                if await self._schema_a_change(moteur):
                    log.info("projection_bascule_detectee", projection=moteur.projection.nom, ancien=moteur.schema)
                    break
            changement.clear()
            attentes = [asyncio.ensure_future(self._arret.wait()), asyncio.ensure_future(changement.wait())]
            try:
                await asyncio.wait(attentes, timeout=self.surveillance_s, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for attente in attentes:
                    attente.cancel()
        arret_moteur.set()

    async def _tourner(self, projection: Projection) -> None:
        """Run a projection's engine; restart it on a switch, or after a failure with backoff."""
        attente = 0.5
        while not self._arret.is_set():
            moteur = self.moteurs[projection.nom]
            arret_moteur = asyncio.Event()
            surveillance = asyncio.create_task(self._surveiller(moteur, arret_moteur))
            try:
                await moteur.executer(arret_moteur)
                attente = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the engine restarts from its stored positions
                bascule = await _sans_erreur(self._schema_a_change(moteur))
                if not bascule:
                    log.warning(
                        "projection_en_erreur",
                        projection=projection.nom,
                        erreur=type(exc).__name__,
                        detail=str(exc)[:300],
                        reprise_s=attente,
                    )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._arret.wait(), timeout=attente)
                    attente = min(attente * 2, 10.0)
            finally:
                surveillance.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await surveillance
            if self._arret.is_set():
                return
            try:
                self.moteurs[projection.nom] = await self._moteur(projection)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning(
                    "projection_redemarrage_impossible",
                    projection=projection.nom,
                    erreur=type(exc).__name__,
                    reprise_s=attente,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arret.wait(), timeout=attente)
                attente = min(attente * 2, 10.0)
            else:
                log.info("projection_demarree", projection=projection.nom, schema=self.moteurs[projection.nom].schema)

    async def mesurer_retards(self) -> dict[str, int]:
        """Measure every projection's lag now (``/readyz`` and ``/metrics`` read the result)."""
        for nom, moteur in list(self.moteurs.items()):
            try:
                fins = await moteur.feed.fins()
                async with self.pool.acquire() as conn:
                    appliquees = await positions_appliquees(conn, moteur)
            except Exception as exc:  # a lag we cannot measure keeps its last value
                log.info("projection_retard_inconnu", projection=nom, erreur=type(exc).__name__)
                continue
            self.retards[nom] = ecart(fins, appliquees)
            RETARD.labels(nom).set(self.retards[nom])
            for (source, partition), position in appliquees.items():
                POSITION.labels(nom, source, str(partition)).set(position)
        return dict(self.retards)

    async def _mesurer_en_continu(self) -> None:
        while not self._arret.is_set():
            await self.mesurer_retards()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arret.wait(), timeout=self.surveillance_s)

    async def arreter(self) -> None:
        self._arret.set()
        for tache in self._taches:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(tache, timeout=15)
        if self._dlq is not None:
            await self._dlq.stop()
            self._dlq = None
        if self._ecoute is not None:
            with contextlib.suppress(Exception):
                await self._ecoute.close()
            self._ecoute = None


async def _sans_erreur(verification: Awaitable[bool]) -> bool:
    try:
        return await verification
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False


def ecart(fins: Positions, appliquees: Positions) -> int:
    """How far ``appliquees`` is behind ``fins``, summed over sources and partitions."""
    return sum(max(0, fin - appliquees.get(cle, position_de_depart(cle))) for cle, fin in fins.items())


async def retard(pool: asyncpg.Pool, moteur: Moteur) -> int:
    """Events the feed holds beyond what the projection applied."""
    fins = await moteur.feed.fins()
    async with pool.acquire() as conn:
        appliquees = await positions_appliquees(conn, moteur)
    return ecart(fins, appliquees)


async def positions_appliquees(conn: Connexion, moteur: Moteur) -> Positions:
    """The positions the projection of ``moteur`` applied: its schema's, or, once a rebuild switched the
    catalogue and dropped that schema before the engine noticed (it then stops and restarts on the new one),
    those of the schema serving now. Raises ``UndefinedTableError`` when neither exists.
    """
    try:
        return await lire_positions(conn, moteur.schema)
    except asyncpg.UndefinedTableError:
        active = await catalogue.schema_actif(conn, moteur.projection.nom)
        if active is None or active == moteur.schema:
            raise
        return await lire_positions(conn, active)


async def creer_sujets_dlq(bootstrap: str, projections: Sequence[Projection]) -> None:
    """Create the missing ``<groupe>.dlq`` topics, kept forever (ARCHITECTURE.md, Topics)."""
    admin = administration(bootstrap, client_id="ase-projections-admin")
    try:
        await admin.start()
        existants = set(await admin.list_topics())
        # As many replicas as the cluster allows, up to three (one on a dev broker).
        replication = max(1, min(3, len((await admin.describe_cluster()).get("brokers", []))))
        manquants = [
            NewTopic(
                name=sujet_dlq(p),
                num_partitions=1,
                replication_factor=replication,
                topic_configs={"retention.ms": "-1"},
            )
            for p in projections
            if sujet_dlq(p) not in existants
        ]
        if manquants:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(manquants)
    except Exception as exc:  # the broker may create them on first use instead
        log.warning("sujets_dlq_non_crees", erreur=type(exc).__name__, detail=str(exc)[:300])
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
