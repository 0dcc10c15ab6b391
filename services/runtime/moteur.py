"""The projection engine: apply a feed's batches to a read model, exactly once in effect.

Each batch is one asyncpg transaction holding the read-model changes, the
positions reached (advanced optimistically: ``WHERE position = <what we read>``)
and the last version applied per stream. So a crash between the commit and
anything else replays nothing twice, a batch delivered again changes nothing,
and a relay's duplicate (same stream and version) is recognised.

When the optimistic check fails (another member of the consumer group applied
those offsets first, typically around a rebalance), the whole batch is rolled
back and the feed goes back to the stored positions: reading on from where the
feed was would skip what the refused batch held for the partitions still ours.

An event a handler cannot apply is never skipped silently: its error is
counted, logged and written to the projection's dead letters (a table, and the
``<groupe>.dlq`` topic when Kafka is configured). The table is the topic's outbox: a dead letter is
marked sent only once the broker acknowledged it, and unsent ones are retried
after every batch and at every start. Infrastructure errors (a lost
connection, a deadlock) are not the event's fault: they abort the batch, which
is retried, instead of dead-lettering the event.

Versions are applied in order, never skipped (issue 9, a closed Kafka). The
relay publishes every stream gap-free and in order, so a version ahead of the
next expected one of a stream already seen means a loss or a forgery: it is held
back in ``versions_en_avance`` (in the batch's transaction, so a crash keeps it)
and applied as soon as the versions before it are, unless it sat before them in the
same partition (the relay never publishes a stream out of order there: a dead
letter); held longer than
``attente_en_avance_s`` (default 30 s) it goes to the dead letters, and so does
any beyond ``max_en_avance`` (default 1000) held at once; each one is logged and
counted (``ase_projection_versions_en_avance_total``). A stream never seen
starts where it is first met (a projection seeded mid-topic, a compacted topic):
a first version above 1 is applied and counted as a gap. A second record for an
applied (stream, version) is a duplicate only when its ``ce_id`` and its digest
(headers and body, :func:`empreinte`) equal the applied one's, kept in
``empreintes``; otherwise it is a conflict: dead letter and
``ase_projection_conflits_total``, never a silent drop.

The end of a batch (a projection recomputing the rows of the streams the batch
touched, :meth:`Projection.finir`) runs for all of them at once, in a savepoint.
When it fails, the streams are split in halves, each half in a savepoint of its
own, down to the streams that fail alone. Each of those is dead-lettered the
same way (its id, the batch's latest event that made it to be recomputed, the
error's class; never the error's message, which may quote personal data), its
rows stay as the last batch that succeeded left them, and the rest of the batch
commits, offsets included. Its next event tries again. So one stream that the
law's arithmetic or a table refuses never stops a projection for everyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias, cast
from uuid import UUID

import asyncpg
import orjson
import structlog
from prometheus_client import Counter, Gauge

from services.runtime.evenement import EvenementPublie
from services.runtime.feeds import Feed, MessageLu, Positions
from services.runtime.http import REGISTRE

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connexion: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
    """A connection, or one lent by a pool."""

log = structlog.get_logger(__name__)

APPLIQUES = Counter("ase_projection_evenements_total", "Events applied", ["projection"], registry=REGISTRE)
DOUBLONS = Counter("ase_projection_doublons_total", "Events seen again and ignored", ["projection"], registry=REGISTRE)
TROUS = Counter(
    "ase_projection_trous_total",
    "Versions skipped by a stream first met above version 1",
    ["projection"],
    registry=REGISTRE,
)
EN_AVANCE = Counter(
    "ase_projection_versions_en_avance_total",
    "Versions received ahead of the next expected one (held back; loss or forgery)",
    ["projection"],
    registry=REGISTRE,
)
EN_AVANCE_REJETEES = Counter(
    "ase_projection_versions_en_avance_rejetees_total",
    "Versions held back too long or beyond the bound, sent to the dead letters",
    ["projection"],
    registry=REGISTRE,
)
CONFLITS = Counter(
    "ase_projection_conflits_total",
    "Records for an applied (stream, version) with another ce_id or content (forgery), dead-lettered",
    ["projection"],
    registry=REGISTRE,
)
REJETS = Counter(
    "ase_projection_lettres_mortes_total", "Events a handler could not apply", ["projection"], registry=REGISTRE
)
POSITION = Gauge(
    "ase_projection_position", "Last offset applied", ["projection", "source", "partition"], registry=REGISTRE
)
RETARD = Gauge("ase_projection_retard", "Events published but not yet applied", ["projection"], registry=REGISTRE)
FRAICHEUR = Gauge(
    "ase_projection_age_dernier_evenement_secondes",
    "Seconds between the last applied event's recording and its application",
    ["projection"],
    registry=REGISTRE,
)

ERREURS_PASSAGERES: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.TransactionRollbackError,  # deadlock, serialization failure
    asyncpg.InsufficientResourcesError,
    asyncpg.AdminShutdownError,
    asyncpg.CannotConnectNowError,
    OSError,
)
"""Failures of the infrastructure, not of the event: the batch is retried, nothing is dead-lettered."""

CONFLITS_CONCURRENTS: tuple[type[BaseException], ...] = (asyncpg.UniqueViolationError,)
"""At the end of a batch, another consumer of the group (during a rebalance) rewriting the same
parcours' rows: a race, not a fault of the stream; the batch is retried whole."""


ERREUR_FIN_DE_LOT = "fin de lot, flux non recalculé"
"""What a dead letter of a stream whose end of batch failed says after the error's class."""


class PositionDeplaceeError(Exception):
    """Another consumer moved the stored position: this batch is not ours to apply."""


class Projection(ABC):
    """A read model: its tables (in a schema of its own) and how each event changes them."""

    nom: str
    """Stable name: the schema prefix, the consumer group, the dead-letter topic."""

    sujets: Sequence[str]
    """Topics it reads when fed from Kafka."""

    @abstractmethod
    def ddl(self) -> list[str]:
        """CREATE statements of its tables, unqualified (run with ``search_path`` set to its schema)."""

    index_a_la_fin: bool = False
    """Whether a rebuild may fill its tables without their secondary indexes (its ``CREATE INDEX``
    statements) and build them once caught up: only for a projection whose handlers never look rows up
    by a column such an index serves (the lookups would scan the table, batch after batch)."""

    @abstractmethod
    async def appliquer(self, conn: asyncpg.Connection, evenement: EvenementPublie) -> None:
        """Apply one event; runs inside the batch's transaction, in a savepoint."""

    async def appliquer_lot(self, conn: asyncpg.Connection, evenements: Sequence[EvenementPublie]) -> None:
        """Apply a batch's events, in this order, all of them or raise (default: ``appliquer`` on each).

        The engine calls it once per batch, in one savepoint, with the events its ordering kept (each
        stream's versions in order, duplicates out). When it raises, the engine rolls the savepoint
        back and applies the batch again event by event, each in a savepoint, to dead-letter only the
        events at fault: so it must raise whenever ``appliquer`` on some event would, and otherwise
        leave the tables as ``appliquer`` on each in turn would.
        """
        for evenement in evenements:
            await self.appliquer(conn, evenement)

    async def a_finir(self, conn: asyncpg.Connection) -> Mapping[UUID, UUID]:
        """The streams whose rows the end of this batch recomputes, and forget them (default: none).

        Each maps to the stream whose event in the batch made it so: itself, or
        another (a person whose identity changed, for each of her parcours).
        """
        return {}

    async def finir(self, conn: asyncpg.Connection, flux: Sequence[UUID]) -> None:  # noqa: B027 - optional hook
        """Recompute the rows of ``flux`` at the end of a batch, in its transaction: all of them, or raise.

        The engine calls it in a savepoint, and again on parts of ``flux`` when it
        raised, to find the streams at fault (see the module).
        """

    async def fin_de_lot(self, conn: asyncpg.Connection) -> None:
        """The whole end of a batch at once, for callers applying events by hand (the engine isolates streams)."""
        flux = await self.a_finir(conn)
        if flux:
            await self.finir(conn, sorted(flux))


TABLES_DU_MOTEUR = [
    "CREATE TABLE IF NOT EXISTS positions (source text NOT NULL, partition integer NOT NULL, "
    "position bigint NOT NULL, PRIMARY KEY (source, partition))",
    "CREATE TABLE IF NOT EXISTS versions_vues (flux_id uuid PRIMARY KEY, version integer NOT NULL)",
    "CREATE TABLE IF NOT EXISTS lettres_mortes (id bigserial PRIMARY KEY, source text NOT NULL, "
    "partition integer NOT NULL, position bigint NOT NULL, ce_id text NOT NULL, ce_type text NOT NULL, "
    "flux_id uuid, version integer, erreur text NOT NULL, trace text NOT NULL, "
    "publiee boolean NOT NULL DEFAULT false, enregistre_le timestamptz NOT NULL DEFAULT now())",
    "CREATE INDEX IF NOT EXISTS lettres_mortes_a_publier ON lettres_mortes (id) WHERE NOT publiee",
    "CREATE TABLE IF NOT EXISTS derniere_application (id boolean PRIMARY KEY DEFAULT true, "
    "applique_le timestamptz NOT NULL, evenement_enregistre_le timestamptz NOT NULL)",
    "CREATE TABLE IF NOT EXISTS versions_en_avance (flux_id uuid NOT NULL, version integer NOT NULL, "
    "source text NOT NULL, partition integer NOT NULL, position bigint NOT NULL, evenement jsonb NOT NULL, "
    "recu_le timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (flux_id, version))",
    "CREATE TABLE IF NOT EXISTS empreintes (flux_id uuid NOT NULL, version integer NOT NULL, ce_id text NOT NULL, "
    "empreinte bytea NOT NULL, PRIMARY KEY (flux_id, version))",
    # The streams whose end of batch a rebuild deferred (Moteur.differer_fins), with the event that made it so.
    "CREATE TABLE IF NOT EXISTS fins_differees (flux_id uuid PRIMARY KEY, source text NOT NULL, "
    "partition integer NOT NULL, position bigint NOT NULL, ce_id text NOT NULL, ce_type text NOT NULL, "
    "cause_flux_id uuid, version integer)",
]
TABLES_DE_SUIVI = frozenset(
    {
        "positions",
        "versions_vues",
        "lettres_mortes",
        "derniere_application",
        "versions_en_avance",
        "empreintes",
        "fins_differees",
    }
)
"""The engine's bookkeeping in every projection schema (not read-model data)."""


_CREATE_INDEX = re.compile(r"\s*CREATE\s+INDEX\b", re.IGNORECASE)


def est_un_index(instruction: str) -> bool:
    """Whether a DDL statement creates an index a rebuild may build last (``CREATE INDEX``).

    Not a ``CREATE UNIQUE INDEX``: a constraint the writes rely on (``ON CONFLICT``), created with its table.
    """
    return _CREATE_INDEX.match(instruction) is not None


async def creer_tables(conn: Connexion, schema: str, projection: Projection, *, index: bool = True) -> None:
    """Create the schema, the engine's tables and the projection's own.

    ``index=False``: the projection's tables without its secondary indexes (a rebuild, see
    :attr:`Projection.index_a_la_fin`), to be built by :func:`creer_index` once filled.
    """
    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    async with conn.transaction():
        await conn.execute(f'SET LOCAL search_path TO "{schema}"')
        for instruction in [*TABLES_DU_MOTEUR, *(i for i in projection.ddl() if index or not est_un_index(i))]:
            await conn.execute(instruction)


async def creer_index(conn: Connexion, schema: str, projection: Projection) -> None:
    """Build the projection's secondary indexes (its ``CREATE INDEX`` statements) in ``schema``."""
    async with conn.transaction():
        await conn.execute(f'SET LOCAL search_path TO "{schema}"')
        for instruction in projection.ddl():
            if est_un_index(instruction):
                await conn.execute(instruction)


async def lire_positions(conn: Connexion, schema: str) -> Positions:
    lignes = await conn.fetch(f'SELECT source, partition, position FROM "{schema}".positions')
    return {(ligne["source"], ligne["partition"]): ligne["position"] for ligne in lignes}


@dataclass(frozen=True)
class LettreMorte:
    """What could not be applied, where it was, and why."""

    source: str
    partition: int
    position: int
    ce_id: str
    ce_type: str
    flux_id: UUID | None
    version: int | None
    erreur: str

    @property
    def cle(self) -> bytes:
        """The record's key as consumed: its stream id."""
        return str(self.flux_id or self.ce_id).encode()

    def corps(self) -> bytes:
        return orjson.dumps(
            {
                "source": self.source,
                "partition": self.partition,
                "position": self.position,
                "ce_id": self.ce_id,
                "ce_type": self.ce_type,
                "flux_id": str(self.flux_id) if self.flux_id else None,
                "version": self.version,
                "erreur": self.erreur,
            }
        )


@dataclass(frozen=True)
class _Cause:
    """Where the event that made a stream's end of batch due was (what its dead letter names)."""

    source: str
    partition: int
    position: int
    ce_id: str
    ce_type: str
    flux_id: UUID | None
    version: int | None

    @classmethod
    def de(cls, msg: MessageLu) -> _Cause:
        ev = msg.evenement
        return cls(
            msg.cle[0],
            msg.cle[1],
            msg.offset,
            ev.id if ev else "",
            ev.type if ev else "",
            ev.flux_id if ev else None,
            ev.version if ev else None,
        )


@dataclass
class _Parcours:
    """Where a walk through a batch is: positions reached, streams' versions, latest messages, dead letters."""

    atteintes: Positions
    vues: dict[UUID, int]
    derniers: dict[UUID, MessageLu] = field(default_factory=dict)
    dernier: EvenementPublie | None = None
    rejets: int = 0


EnvoiLettreMorte = Callable[[LettreMorte], Awaitable[None]]
"""Sends a dead letter to the ``<groupe>.dlq`` topic; returns once the broker acknowledged it."""


ATTENTE_EN_AVANCE_S = 30.0
"""Default bound in time on a version held back (see the module)."""
MAX_EN_AVANCE = 1000
"""Default bound in count on the versions held back in one projection schema."""


def empreinte(ev: EvenementPublie) -> bytes:
    """SHA-256 of what a record says: its id, type, stream, version, source, time, author and body."""
    contenu = [
        ev.id,
        ev.type,
        str(ev.flux_id),
        ev.version,
        ev.source,
        ev.enregistre_le.isoformat(),
        ev.auteur,
        ev.donnees,
    ]
    return hashlib.sha256(orjson.dumps(contenu, option=orjson.OPT_SORT_KEYS)).digest()


def _en_json(ev: EvenementPublie) -> bytes:
    return orjson.dumps({**ev.__dict__, "flux_id": str(ev.flux_id), "enregistre_le": ev.enregistre_le.isoformat()})


def _depuis_json(texte: str | bytes) -> EvenementPublie:
    from datetime import datetime

    brut = orjson.loads(texte)
    brut["flux_id"] = UUID(brut["flux_id"])
    brut["enregistre_le"] = datetime.fromisoformat(brut["enregistre_le"])
    return EvenementPublie(**brut)


MAX_FINS_NOTEES = 200_000
"""Streams a rebuild's engine remembers having noted in ``fins_differees`` (beyond, it forgets them all)."""


@dataclass
class Moteur:
    """Applies one feed to one projection in one schema."""

    projection: Projection
    schema: str
    pool: asyncpg.Pool
    feed: Feed
    lettres_mortes: EnvoiLettreMorte | None = None
    apres_lot: Callable[[Positions], Awaitable[None]] | None = None
    """Called after each committed batch with the positions reached (tests stop a consumer right there)."""
    positions: Positions = field(default_factory=dict)
    creer_schema: bool = True
    """False when the caller created the tables already (under the catalogue's lock)."""
    etiquette: str = ""
    """The ``projection`` label of its metrics (default: the projection's name)."""
    attente_en_avance_s: float = ATTENTE_EN_AVANCE_S
    """How long a version ahead waits for the ones before it, then goes to the dead letters."""
    max_en_avance: int = MAX_EN_AVANCE
    """How many versions ahead may wait at once in this schema; beyond, dead letters at once."""
    differer_fins: bool = False
    """A rebuild's engine: each batch's end (:meth:`Projection.finir`) is not run but noted in
    ``fins_differees``, in the batch's transaction, and :meth:`finir_differees` runs it once per stream."""
    lire_pendant_l_ecriture: bool = False
    """Read (and decode) the next batch while this one is written (a rebuild). A batch refused drops the
    batch read ahead, which followed positions that no longer hold, and sets the feed back again."""
    taille_fins_differees: int = 2000
    """Streams per transaction of :meth:`finir_differees`."""
    _differes: list[MessageLu] | None = field(default=None, init=False, repr=False)
    _fins_notees: set[UUID] = field(default_factory=set, init=False, repr=False)
    """Streams this engine noted in ``fins_differees`` in a committed batch (not noted again)."""
    _fins_du_lot: set[UUID] = field(default_factory=set, init=False, repr=False)
    _en_avance: dict[UUID, dict[int, MessageLu]] = field(default_factory=dict, init=False, repr=False)
    _empreintes_lot: dict[tuple[UUID, int], tuple[str, bytes]] = field(default_factory=dict, init=False, repr=False)
    _derniere_expiration: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        self.etiquette = self.etiquette or self.projection.nom

    async def executer(self, arret: asyncio.Event) -> None:
        """Apply batches until ``arret`` is set."""
        async with self.pool.acquire() as conn:
            if self.creer_schema:
                await creer_tables(conn, self.schema, self.projection)
            self.positions = await lire_positions(conn, self.schema)
        if not self.differer_fins:
            await self.finir_differees()  # left by a rebuild that stopped before it ran them
        await self.publier_lettres_mortes()
        lots = self.feed.lots(self._positions_stockees).__aiter__()
        suivant: asyncio.Future[list[MessageLu]] | None = None
        try:
            while not arret.is_set():
                if suivant is None:
                    suivant = asyncio.ensure_future(lots.__anext__())
                arreter: asyncio.Future[object] = asyncio.ensure_future(arret.wait())
                attentes: set[asyncio.Future[object]] = {suivant, arreter}  # type: ignore[arg-type]
                fait, _ = await asyncio.wait(attentes, return_when=asyncio.FIRST_COMPLETED)
                arreter.cancel()
                if suivant not in fait:
                    break
                lot = suivant.result()
                suivant = None
                if lot:
                    if self.lire_pendant_l_ecriture:
                        suivant = asyncio.ensure_future(lots.__anext__())
                    if not await self.appliquer_lot(lot) and suivant is not None:
                        # Read from positions that no longer hold: dropped, and the feed set back again.
                        await asyncio.wait({suivant})
                        suivant = None
                        await self._positions_stockees()
                        await self.feed.repositionner()
                elif time.monotonic() - self._derniere_expiration >= 1.0:
                    await self.expirer_en_avance()
        finally:
            if suivant is not None:
                suivant.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration, Exception):
                    await suivant
            with contextlib.suppress(RuntimeError):  # a generator cancelled mid-read is already closed
                await lots.aclose()  # type: ignore[attr-defined]
            await self.feed.fermer()

    async def _positions_stockees(self) -> Positions:
        async with self.pool.acquire() as conn:
            self.positions = await lire_positions(conn, self.schema)
        return dict(self.positions)

    async def appliquer_lot(self, lot: list[MessageLu]) -> bool:
        """Apply one batch in one transaction; a replayed or foreign batch changes nothing.

        False when it was refused (another consumer moved the positions): the feed was set back to them.
        """
        rejets = 0
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await _ouvrir_lot(conn, self.schema)
                lues = await lire_positions(conn, self.schema)
                # The streams' last versions, read and written once per batch, not per event.
                avant = await _versions_vues(conn, lot)
                rejets += await self._expirer(conn)
                self._en_avance = await self._lire_en_avance(conn, lot)
                etat = await self._appliquer_messages(conn, lot, lues, avant)
                atteintes, vues, derniers, dernier = etat.atteintes, etat.vues, etat.derniers, etat.dernier
                rejets += etat.rejets
                self._fins_du_lot = set()
                if self.differer_fins:
                    await self._differer_fins(conn, derniers, lot[-1])
                else:
                    rejets += await self._finir(conn, derniers, lot[-1])
                await _sauver_versions(conn, avant, vues)
                await self._sauver_empreintes(conn)
                await self._sauver_positions(conn, lues, atteintes)
                if dernier is not None:
                    await conn.execute(
                        "INSERT INTO derniere_application (id, applique_le, evenement_enregistre_le) "
                        "VALUES (true, now(), $1) ON CONFLICT (id) DO UPDATE SET applique_le = now(), "
                        "evenement_enregistre_le = excluded.evenement_enregistre_le",
                        dernier.enregistre_le,
                    )
        except (PositionDeplaceeError, asyncpg.UniqueViolationError) as exc:
            # Another consumer of the group moved the positions or rewrote the same rows (a rebalance):
            # the batch rolled back whole; read on from the positions stored, nothing dead-lettered.
            log.warning("projection_lot_refuse_position_deplacee", projection=self.etiquette, cause=type(exc).__name__)
            await self._positions_stockees()
            await self.feed.repositionner()
            return False
        self.positions = atteintes
        if len(self._fins_notees) > MAX_FINS_NOTEES:
            self._fins_notees = set()  # memory stays bounded; a stream noted again is a no-op (ON CONFLICT)
        self._fins_notees |= self._fins_du_lot
        for (source, partition), position in atteintes.items():
            if lues.get((source, partition)) != position:
                POSITION.labels(self.etiquette, source, str(partition)).set(position)
        if dernier is not None:
            FRAICHEUR.labels(self.etiquette).set(max(0.0, time.time() - dernier.enregistre_le.timestamp()))
        if rejets:
            await self.publier_lettres_mortes()
        if self.apres_lot is not None:
            await self.apres_lot(dict(atteintes))
        return True

    async def _appliquer_messages(
        self, conn: Connexion, lot: list[MessageLu], lues: Positions, vues: dict[UUID, int]
    ) -> _Parcours:
        """Walk the batch in order, then apply the events kept with one ``appliquer_lot`` in one savepoint.

        When that raises (not an infrastructure error), the savepoint is rolled back and the batch
        walked again, each event applied in a savepoint of its own: only those at fault are dead-lettered.
        """
        en_avance = {flux: dict(retenues) for flux, retenues in self._en_avance.items()}
        try:
            async with conn.transaction():
                etat = _Parcours(dict(lues), dict(vues))
                self._empreintes_lot = {}
                self._differes = []
                try:
                    await self._parcourir(conn, lot, etat)
                    differes = self._differes
                finally:
                    self._differes = None
                if differes:
                    await self.projection.appliquer_lot(
                        cast("asyncpg.Connection", conn), [m.evenement for m in differes if m.evenement is not None]
                    )
        except ERREURS_PASSAGERES:
            raise  # the batch is retried whole
        except Exception as exc:
            log.info(
                "projection_lot_applique_evenement_par_evenement", projection=self.etiquette, erreur=type(exc).__name__
            )
            self._en_avance = en_avance
            self._empreintes_lot = {}
            etat = _Parcours(dict(lues), dict(vues))
            await self._parcourir(conn, lot, etat)
            return etat
        APPLIQUES.labels(self.etiquette).inc(len(differes))
        return etat

    async def _parcourir(self, conn: Connexion, lot: list[MessageLu], etat: _Parcours) -> None:
        """Each message in order: skip what was applied, dead-letter the unreadable, apply (or defer) the rest."""
        for msg in lot:
            if msg.offset <= etat.atteintes.get(msg.cle, -1):
                continue  # already applied by an earlier commit
            etat.atteintes[msg.cle] = msg.offset
            if msg.evenement is None:
                if msg.illisible is not None:
                    await self._rejeter(conn, msg, msg.illisible, "")
                    etat.rejets += 1
                    await self._consommer_illisible(conn, msg, etat.vues)
                continue
            etat.derniers[msg.evenement.flux_id] = msg
            if not await self._appliquer_un(conn, msg, etat.vues):
                etat.rejets += 1
            etat.dernier = msg.evenement

    async def _appliquer_un(self, conn: Connexion, msg: MessageLu, vues: dict[UUID, int]) -> bool:
        """Apply one event in order (see the module); False when something went to the dead letters."""
        ev = msg.evenement
        assert ev is not None
        if ev.restreint:  # the facts of an event, not a version of its stream: applied by (stream, version)
            return await self._appliquer_sans_version(conn, msg)
        vue = vues.get(ev.flux_id)
        if vue is not None and ev.version <= vue:
            return await self._deja_appliquee(conn, msg)
        attendue = (vue or 0) + 1
        if ev.version != attendue:
            if vue is not None:
                return await self._retenir(conn, msg, attendue)
            TROUS.labels(self.etiquette).inc(ev.version - attendue)
            log.warning(
                "projection_trou",
                projection=self.etiquette,
                flux_id=str(ev.flux_id),
                attendue=attendue,
                recue=ev.version,
                source=msg.cle[0],
                partition=msg.cle[1],
                position=msg.offset,
            )
        vues[ev.flux_id] = ev.version
        self._empreintes_lot[(ev.flux_id, ev.version)] = (ev.id, empreinte(ev))
        if self._differes is not None:
            self._differes.append(msg)  # applied with the batch's others (see _appliquer_messages)
            return await self._appliquer_les_suivantes(conn, ev.flux_id, vues, msg)
        try:
            async with conn.transaction():
                await self.projection.appliquer(cast("asyncpg.Connection", conn), ev)
        except ERREURS_PASSAGERES:
            raise  # the batch is retried whole; the event is not at fault
        except Exception as exc:  # any handler failure goes to the dead letters
            await self._rejeter(conn, msg, f"{type(exc).__name__}: {exc}"[:2000], traceback.format_exc()[-4000:])
            return False
        APPLIQUES.labels(self.etiquette).inc()
        return await self._appliquer_les_suivantes(conn, ev.flux_id, vues, msg)

    async def _consommer_illisible(self, conn: Connexion, msg: MessageLu, vues: dict[UUID, int]) -> None:
        """An unreadable record (dead-lettered) uses up the version its headers name, when next in line.

        Its digest is a mark of its own: a later record for that version is a conflict, never a duplicate.
        """
        flux_id = _uuid_ou_rien(msg.entetes.get("ce_subject"))
        version = _entier_ou_rien(msg.entetes.get("ce_sequence"))
        if flux_id is None or version is None:
            return
        vue = vues.get(flux_id)
        if vue is not None and version != vue + 1:
            return
        vues[flux_id] = version
        self._empreintes_lot[(flux_id, version)] = (msg.entetes.get("ce_id", ""), b"illisible")
        await self._appliquer_les_suivantes(conn, flux_id, vues, msg)

    async def _appliquer_les_suivantes(
        self, conn: Connexion, flux_id: UUID, vues: dict[UUID, int], precedente: MessageLu
    ) -> bool:
        """Apply the held version of ``flux_id`` now next in line, after ``precedente`` (then the next...).

        A held version that sits before ``precedente`` in the same partition was not published by
        the relay (it publishes each stream in order, on one partition): it goes to the dead letters.
        """
        retenues = self._en_avance.get(flux_id)
        suivante = retenues.pop(vues[flux_id] + 1, None) if retenues else None
        if suivante is None:
            return True
        assert suivante.evenement is not None
        await conn.execute(
            "DELETE FROM versions_en_avance WHERE flux_id = $1 AND version = $2", flux_id, suivante.evenement.version
        )
        if suivante.cle == precedente.cle and suivante.offset < precedente.offset:
            EN_AVANCE_REJETEES.labels(self.etiquette).inc()
            log.error(
                "projection_version_en_avance_rejetee",
                raison="avant_la_precedente_dans_la_partition",
                projection=self.etiquette,
                flux_id=str(flux_id),
                recue=suivante.evenement.version,
                source=suivante.cle[0],
                partition=suivante.cle[1],
                position=suivante.offset,
            )
            await self._rejeter(
                conn,
                suivante,
                f"VersionEnAvance: version {suivante.evenement.version} publiée avant la précédente "
                "dans la même partition",
                "",
            )
            return False
        log.info(
            "projection_version_en_avance_appliquee",
            projection=self.etiquette,
            flux_id=str(flux_id),
            version=suivante.evenement.version,
        )
        return await self._appliquer_un(conn, suivante, vues)

    async def _retenir(self, conn: Connexion, msg: MessageLu, attendue: int) -> bool:
        """Hold back a version ahead of ``attendue``; a dead letter at once beyond the bound in count."""
        ev = msg.evenement
        assert ev is not None
        EN_AVANCE.labels(self.etiquette).inc()
        contexte = {
            "projection": self.etiquette,
            "flux_id": str(ev.flux_id),
            "attendue": attendue,
            "recue": ev.version,
            "source": msg.cle[0],
            "partition": msg.cle[1],
            "position": msg.offset,
        }
        deja = self._en_avance.get(ev.flux_id, {}).get(ev.version)
        if deja is not None:  # the same version ahead twice: keep the first, the second is a duplicate or worse
            assert deja.evenement is not None
            if (deja.evenement.id, empreinte(deja.evenement)) == (ev.id, empreinte(ev)):
                DOUBLONS.labels(self.etiquette).inc()
                return True
            return await self._conflit(conn, msg, "une autre version en avance retenue porte ce numéro")
        retenues = await conn.fetchval("SELECT count(*) FROM versions_en_avance")
        if retenues >= self.max_en_avance:
            EN_AVANCE_REJETEES.labels(self.etiquette).inc()
            log.error("projection_version_en_avance_rejetee", raison="trop_de_versions_retenues", **contexte)
            await self._rejeter(conn, msg, f"VersionEnAvance: version {ev.version} reçue, {attendue} attendue", "")
            return False
        log.warning("projection_version_en_avance_retenue", **contexte)
        await conn.execute(
            "INSERT INTO versions_en_avance (flux_id, version, source, partition, position, evenement) "
            "VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
            ev.flux_id,
            ev.version,
            msg.cle[0],
            msg.cle[1],
            msg.offset,
            _en_json(ev).decode(),
        )
        self._en_avance.setdefault(ev.flux_id, {})[ev.version] = msg
        return True

    async def _appliquer_sans_version(self, conn: Connexion, msg: MessageLu) -> bool:
        """Apply a restricted record (idempotent by its stream and version); False when it went to the dead letters."""
        assert msg.evenement is not None
        if self._differes is not None:
            self._differes.append(msg)
            return True
        try:
            async with conn.transaction():
                await self.projection.appliquer(cast("asyncpg.Connection", conn), msg.evenement)
        except ERREURS_PASSAGERES:
            raise
        except Exception as exc:
            await self._rejeter(conn, msg, f"{type(exc).__name__}: {exc}"[:2000], traceback.format_exc()[-4000:])
            return False
        APPLIQUES.labels(self.etiquette).inc()
        return True

    async def _deja_appliquee(self, conn: Connexion, msg: MessageLu) -> bool:
        """A record for an applied (stream, version): a duplicate if it says the same, else a conflict."""
        ev = msg.evenement
        assert ev is not None
        connue = self._empreintes_lot.get((ev.flux_id, ev.version))
        if connue is None:
            ligne = await conn.fetchrow(
                "SELECT ce_id, empreinte FROM empreintes WHERE flux_id = $1 AND version = $2", ev.flux_id, ev.version
            )
            connue = (ligne["ce_id"], bytes(ligne["empreinte"])) if ligne is not None else None
        if connue is None or connue == (ev.id, empreinte(ev)):
            # Applied before digests were kept (an older schema): the version alone decides.
            DOUBLONS.labels(self.etiquette).inc()
            return True
        if connue[0] == ev.id and ev.domaine == "identites" and ev.donnees is None:
            # The same identity event read again after its person's erasure (the store reads it erased,
            # a feed switch replays it): it says less than what was applied, never something else.
            DOUBLONS.labels(self.etiquette).inc()
            return True
        raison = "ce_id différent" if connue[0] != ev.id else "contenu différent"
        return await self._conflit(conn, msg, raison)

    async def _conflit(self, conn: Connexion, msg: MessageLu, raison: str) -> bool:
        ev = msg.evenement
        assert ev is not None
        CONFLITS.labels(self.etiquette).inc()
        log.error(
            "projection_conflit_de_version",
            projection=self.etiquette,
            flux_id=str(ev.flux_id),
            version=ev.version,
            ce_id=ev.id,
            raison=raison,
            source=msg.cle[0],
            partition=msg.cle[1],
            position=msg.offset,
        )
        await self._rejeter(conn, msg, f"ConflitDeVersion: version {ev.version} déjà appliquée, {raison}", "")
        return False

    async def _lire_en_avance(self, conn: Connexion, lot: list[MessageLu]) -> dict[UUID, dict[int, MessageLu]]:
        if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM versions_en_avance)"):
            return {}  # the usual case: no list of the batch's streams to send
        flux = _flux_du_lot(lot)
        lignes = await conn.fetch(
            "SELECT source, partition, position, evenement FROM versions_en_avance WHERE flux_id = ANY($1::uuid[])",
            flux,
        )
        retenues: dict[UUID, dict[int, MessageLu]] = {}
        for ligne in lignes:
            ev = _depuis_json(ligne["evenement"])
            retenues.setdefault(ev.flux_id, {})[ev.version] = MessageLu(
                (ligne["source"], ligne["partition"]), ligne["position"], ev
            )
        return retenues

    async def _expirer(self, conn: Connexion) -> int:
        """Dead-letter the versions held longer than the bound in time; how many were."""
        lignes = await conn.fetch(
            "DELETE FROM versions_en_avance WHERE recu_le < now() - make_interval(secs => $1) "
            "RETURNING source, partition, position, evenement",
            self.attente_en_avance_s,
        )
        self._derniere_expiration = time.monotonic()
        for ligne in lignes:
            ev = _depuis_json(ligne["evenement"])
            msg = MessageLu((ligne["source"], ligne["partition"]), ligne["position"], ev)
            EN_AVANCE_REJETEES.labels(self.etiquette).inc()
            log.error(
                "projection_version_en_avance_rejetee",
                raison="attente_depassee",
                projection=self.etiquette,
                flux_id=str(ev.flux_id),
                recue=ev.version,
                attente_s=self.attente_en_avance_s,
            )
            await self._rejeter(
                conn,
                msg,
                f"VersionEnAvance: version {ev.version} retenue plus de {self.attente_en_avance_s:g} s "
                "sans les précédentes",
                "",
            )
        return len(lignes)

    async def expirer_en_avance(self) -> int:
        """Dead-letter, in a transaction of their own, the versions held too long (an idle feed); how many."""
        async with self.pool.acquire() as conn, conn.transaction():
            await _ouvrir_lot(conn, self.schema)
            expirees = await self._expirer(conn)
        if expirees:
            await self.publier_lettres_mortes()
        return expirees

    async def _sauver_empreintes(self, conn: Connexion) -> None:
        if not self._empreintes_lot:
            return
        cles = list(self._empreintes_lot)
        await conn.execute(
            "INSERT INTO empreintes (flux_id, version, ce_id, empreinte) "
            "SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::bytea[]) ON CONFLICT DO NOTHING",
            [f for f, _ in cles],
            [v for _, v in cles],
            [self._empreintes_lot[c][0] for c in cles],
            [self._empreintes_lot[c][1] for c in cles],
        )
        self._empreintes_lot = {}

    async def _finir(self, conn: Connexion, derniers: dict[UUID, MessageLu], fin: MessageLu) -> int:
        """The end of the batch, the streams at fault dead-lettered (see the module); how many were."""
        projection = cast("asyncpg.Connection", conn)
        a_finir = await self.projection.a_finir(projection)
        if not a_finir:
            return 0
        echecs = await self._finir_en_isolant(projection, sorted(a_finir))
        for flux_id, exc in echecs:
            cause = derniers.get(a_finir[flux_id]) or derniers.get(flux_id) or fin
            await self._rejeter_fin(conn, flux_id, _Cause.de(cause), exc)
        return len(echecs)

    async def _differer_fins(self, conn: Connexion, derniers: dict[UUID, MessageLu], fin: MessageLu) -> None:
        """Note the streams this batch's end would recompute in ``fins_differees`` (its transaction)."""
        a_finir = await self.projection.a_finir(cast("asyncpg.Connection", conn))
        # A stream already noted keeps its first cause: it is recomputed once anyway.
        flux = sorted(f for f in a_finir if f not in self._fins_notees)
        if not flux:
            return
        self._fins_du_lot = set(flux)
        causes = [_Cause.de(derniers.get(a_finir[f]) or derniers.get(f) or fin) for f in flux]
        await conn.execute(
            "INSERT INTO fins_differees (flux_id, source, partition, position, ce_id, ce_type, cause_flux_id, version) "
            "SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::bigint[], $5::text[], $6::text[], "
            "$7::uuid[], $8::int[]) ON CONFLICT (flux_id) DO NOTHING",
            flux,
            [c.source for c in causes],
            [c.partition for c in causes],
            [c.position for c in causes],
            [c.ce_id for c in causes],
            [c.ce_type for c in causes],
            [c.flux_id for c in causes],
            [c.version for c in causes],
        )

    async def finir_differees(self) -> int:
        """Run the ends of batch noted in ``fins_differees``, once per stream, ``taille_fins_differees``
        streams per transaction (each removed from the table in the transaction that recomputes it), the
        streams at fault dead-lettered as at the end of a batch; return how many streams were recomputed.
        """
        faits = rejets = 0
        self._fins_notees = set()
        while True:
            async with self.pool.acquire() as conn, conn.transaction():
                await _ouvrir_lot(conn, self.schema)
                lignes = await conn.fetch(
                    "DELETE FROM fins_differees WHERE flux_id IN (SELECT flux_id FROM fins_differees "
                    "ORDER BY flux_id LIMIT $1 FOR UPDATE SKIP LOCKED) "
                    "RETURNING flux_id, source, partition, position, ce_id, ce_type, cause_flux_id, version",
                    self.taille_fins_differees,
                )
                if not lignes:
                    break
                causes = {
                    ligne["flux_id"]: _Cause(
                        ligne["source"],
                        ligne["partition"],
                        ligne["position"],
                        ligne["ce_id"],
                        ligne["ce_type"],
                        ligne["cause_flux_id"],
                        ligne["version"],
                    )
                    for ligne in lignes
                }
                echecs = await self._finir_en_isolant(cast("asyncpg.Connection", conn), sorted(causes))
                for flux_id, exc in echecs:
                    await self._rejeter_fin(conn, flux_id, causes[flux_id], exc)
                faits += len(lignes)
                rejets += len(echecs)
        if rejets:
            await self.publier_lettres_mortes()
        return faits

    async def _finir_en_isolant(self, conn: asyncpg.Connection, flux: Sequence[UUID]) -> list[tuple[UUID, Exception]]:
        """``finir(flux)`` in a savepoint; when it fails, each half alone, down to single streams."""
        try:
            async with conn.transaction():
                await self.projection.finir(conn, flux)
        except (*ERREURS_PASSAGERES, *CONFLITS_CONCURRENTS):
            raise  # the batch is retried whole; no stream is at fault
        except Exception as exc:
            if len(flux) == 1:
                return [(flux[0], exc)]
            milieu = len(flux) // 2
            return [
                *await self._finir_en_isolant(conn, flux[:milieu]),
                *await self._finir_en_isolant(conn, flux[milieu:]),
            ]
        return []

    async def _rejeter_fin(self, conn: Connexion, flux_id: UUID, cause: _Cause, exc: Exception) -> None:
        """Dead-letter a stream whose end of batch failed: where, which stream, the error's class only."""
        classe = type(exc).__name__
        REJETS.labels(self.etiquette).inc()
        log.error(
            "projection_lettre_morte_fin_de_lot",
            projection=self.etiquette,
            flux_id=str(flux_id),
            ce_id=cause.ce_id,
            source=cause.source,
            partition=cause.partition,
            position=cause.position,
            erreur=classe,
        )
        # The frames only: the message may quote the stream's data (a date, a name).
        trace = "".join(traceback.format_tb(exc.__traceback__))[-3900:] + f"{classe} (message omis)\n"
        await conn.execute(
            "INSERT INTO lettres_mortes (source, partition, position, ce_id, ce_type, flux_id, version, "
            "erreur, trace) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            cause.source,
            cause.partition,
            cause.position,
            cause.ce_id,
            cause.ce_type,
            flux_id,
            cause.version if cause.flux_id == flux_id else None,
            f"{classe}: {ERREUR_FIN_DE_LOT}",
            trace,
        )

    async def _rejeter(self, conn: Connexion, msg: MessageLu, erreur: str, trace: str) -> None:
        ev = msg.evenement
        REJETS.labels(self.etiquette).inc()
        ce_id = ev.id if ev else msg.entetes.get("ce_id", "")
        ce_type = ev.type if ev else msg.entetes.get("ce_type", "")
        flux_id = ev.flux_id if ev else _uuid_ou_rien(msg.entetes.get("ce_subject"))
        version = ev.version if ev else _entier_ou_rien(msg.entetes.get("ce_sequence"))
        log.error(
            "projection_lettre_morte",
            projection=self.etiquette,
            ce_id=ce_id,
            type=ce_type,
            source=msg.cle[0],
            partition=msg.cle[1],
            position=msg.offset,
            erreur=erreur.split(":", maxsplit=1)[0],
        )
        await conn.execute(
            "INSERT INTO lettres_mortes (source, partition, position, ce_id, ce_type, flux_id, version, "
            "erreur, trace) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            msg.cle[0],
            msg.cle[1],
            msg.offset,
            ce_id,
            ce_type,
            flux_id,
            version,
            erreur,
            trace,
        )

    async def publier_lettres_mortes(self) -> int:
        """Send the dead letters not yet on the dead-letter topic; return how many went."""
        if self.lettres_mortes is None:
            return 0
        envoyees = 0
        try:
            while True:
                async with self.pool.acquire() as conn, conn.transaction():
                    lignes = await conn.fetch(
                        f"SELECT id, source, partition, position, ce_id, ce_type, flux_id, version, erreur "
                        f'FROM "{self.schema}".lettres_mortes WHERE NOT publiee ORDER BY id LIMIT 100 '
                        "FOR UPDATE SKIP LOCKED"
                    )
                    if not lignes:
                        return envoyees
                    for ligne in lignes:
                        await self.lettres_mortes(LettreMorte(**{k: v for k, v in dict(ligne).items() if k != "id"}))
                    await conn.execute(
                        f'UPDATE "{self.schema}".lettres_mortes SET publiee = true WHERE id = ANY($1::bigint[])',
                        [ligne["id"] for ligne in lignes],
                    )
                    envoyees += len(lignes)
        except ERREURS_PASSAGERES:
            raise
        except Exception as exc:  # the broker is away: retried after the next batch
            log.warning(
                "projection_lettres_mortes_non_publiees",
                projection=self.etiquette,
                erreur=type(exc).__name__,
                detail=str(exc)[:300],
            )
            return envoyees

    async def _sauver_positions(self, conn: Connexion, lues: Positions, atteintes: Positions) -> None:
        for cle, position in atteintes.items():
            if lues.get(cle) == position:
                continue
            if cle in lues:
                fait = await conn.fetchval(
                    "UPDATE positions SET position = $3 WHERE source = $1 AND partition = $2 AND position = $4 "
                    "RETURNING true",
                    cle[0],
                    cle[1],
                    position,
                    lues[cle],
                )
            else:
                fait = await conn.fetchval(
                    "INSERT INTO positions (source, partition, position) VALUES ($1, $2, $3) "
                    "ON CONFLICT DO NOTHING RETURNING true",
                    cle[0],
                    cle[1],
                    position,
                )
            if not fait:
                raise PositionDeplaceeError


CLASSE_VERROU_SCHEMA = 0x415345
"""First key of the advisory lock that serialises the batches written into one projection schema."""


async def _ouvrir_lot(conn: Connexion, schema: str) -> None:
    """Start a batch's transaction on ``schema``: its ``search_path``, and the schema's advisory lock.

    Two members of a consumer group write into the same schema, each from its own partitions, and
    one stream's records are on several topics (its public events, its restricted facts, its person's
    identity): applied at once in two transactions, each would miss what the other has not committed
    yet (a restricted fact merged into a journal row the other is inserting, a fact kept for a person
    the other is erasing). The lock (``pg_advisory_xact_lock``, released at commit or rollback) makes the
    batches of one schema one after the other, as a single consumer applies them; members still share
    the partitions, and a standby takes over at once.
    """
    await conn.execute(
        f'SET LOCAL search_path TO "{schema}"; '
        f"SELECT pg_advisory_xact_lock({CLASSE_VERROU_SCHEMA}, hashtext('{schema}'))"
    )


def _flux_du_lot(lot: list[MessageLu]) -> list[UUID]:
    """The streams a batch touches, unreadable records' included (from their headers)."""
    flux = {m.evenement.flux_id for m in lot if m.evenement is not None}
    flux.update(f for m in lot if m.evenement is None and (f := _uuid_ou_rien(m.entetes.get("ce_subject"))))
    return list(flux)


async def _versions_vues(conn: Connexion, lot: list[MessageLu]) -> dict[UUID, int]:
    flux = _flux_du_lot(lot)
    lignes = await conn.fetch("SELECT flux_id, version FROM versions_vues WHERE flux_id = ANY($1::uuid[])", flux)
    return {ligne["flux_id"]: ligne["version"] for ligne in lignes}


async def _sauver_versions(conn: Connexion, avant: dict[UUID, int], vues: dict[UUID, int]) -> None:
    changees = [(f, v) for f, v in vues.items() if avant.get(f) != v]
    if changees:
        await conn.execute(
            "INSERT INTO versions_vues (flux_id, version) SELECT * FROM unnest($1::uuid[], $2::int[]) "
            "ON CONFLICT (flux_id) DO UPDATE SET version = excluded.version",
            [f for f, _ in changees],
            [v for _, v in changees],
        )


def _uuid_ou_rien(texte: str | None) -> UUID | None:
    try:
        return UUID(texte) if texte else None
    except ValueError:
        return None


def _entier_ou_rien(texte: str | None) -> int | None:
    try:
        return int(texte) if texte else None
    except ValueError:
        return None
