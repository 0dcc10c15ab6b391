"""Feeds: where a projection's events come from. One interface, two real sources.

- :class:`FeedKafka`: a consumer group on the published topics (manual offsets,
  ``read_committed``); on start and on every rebalance it seeks to the offsets
  the projection stored in PostgreSQL.
- :class:`FeedJournal`: the event store's notification log, turned into the
  very records the relay would publish (the same function of the publication
  contract, :func:`contracts.publication.message_stocke`), for the embedded
  default and for rebuilds straight from the store. It keeps only the topics
  the projection reads, so both feeds hand it the same events.

A position is ``(source, partition) -> offset of the last event applied``:
``(topic, partition)`` for Kafka, ``("journal", 0)`` for the store.

A feed never drops a record silently: a record it cannot read is delivered
with ``evenement=None`` and the reason (the engine dead-letters it), and a
record it filters out still moves the position (a marker with no event).
When the engine refuses a batch (another consumer moved the stored position),
it calls :meth:`Feed.repositionner`: the feed goes back to the stored positions
instead of reading on from where it was, which would skip the refused batch.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from contracts.enveloppe import TOPIC_RESTREINT
from contracts.publication import nom_evenement, topic_de
from services.runtime import coffre
from services.runtime.evenement import EvenementPublie
from services.runtime.kafka import consommateur

log = structlog.get_logger(__name__)

Cle = tuple[str, int]
Positions = dict[Cle, int]
LecteurPositions = Callable[[], Awaitable[Positions]]
SOURCE_JOURNAL = "journal"


@dataclass(frozen=True)
class MessageLu:
    """An event and where it sits in its feed."""

    cle: Cle
    offset: int
    evenement: EvenementPublie | None
    """None: nothing to apply here, only a position to reach (see ``illisible``)."""
    illisible: str | None = None
    """Why the record could not be read (then it is dead-lettered, never skipped)."""
    entetes: dict[str, str] = field(default_factory=dict)
    """The raw headers of an unreadable record, for its dead letter."""


def position_de_depart(cle: Cle) -> int:
    """The position before a source's first record: offsets start at 0, notification ids at 1."""
    return 0 if cle[0] == SOURCE_JOURNAL else -1


class Feed(Protocol):
    """A source of published events, read in batches from stored positions."""

    def lots(self, positions: LecteurPositions) -> AsyncIterator[list[MessageLu]]:
        """Batches of events after ``positions()`` (re-read on every (re)assignment)."""
        ...

    async def repositionner(self) -> None:
        """Read on from the stored positions again (the engine refused the last batch)."""
        ...

    async def fins(self) -> Positions:
        """The current end of the feed: the position of its last event, per source."""
        ...

    async def fermer(self) -> None: ...


class FeedJournal:
    """Follows the event store's notification log (``ase_events``)."""

    def __init__(
        self,
        database_url: str,
        *,
        topics: Sequence[str] | None = None,
        table: str = "ase_events",
        taille_lot: int = 500,
        attente_max_s: float = 0.5,
    ) -> None:
        self.database_url = database_url
        self.topics = frozenset(topics) if topics is not None else None
        self.table = table
        self.taille_lot = taille_lot
        self.attente_max_s = attente_max_s
        self._conn: asyncpg.Connection | None = None
        self._conn_fins: asyncpg.Connection | None = None
        self._verrou_fins = asyncio.Lock()
        self._reveil = asyncio.Event()
        self._positions: LecteurPositions | None = None
        self._a_relire = False
        self._ferme = False

    async def _connexion(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self.database_url)
            await self._conn.add_listener(self.table, lambda *_: self._reveil.set())
        return self._conn

    async def lots(self, positions: LecteurPositions) -> AsyncIterator[list[MessageLu]]:
        self._positions = positions
        self._ferme = False
        conn = await self._connexion()
        position = (await positions()).get((SOURCE_JOURNAL, 0), 0)
        requete = (
            f'SELECT notification_id, originator_id, originator_version, topic, state FROM "{self.table}" '
            "WHERE notification_id > $1 ORDER BY notification_id LIMIT $2"
        )
        while True:
            if self._a_relire:
                self._a_relire = False
                position = (await positions()).get((SOURCE_JOURNAL, 0), 0)
            self._reveil.clear()
            try:
                lignes = await conn.fetch(requete, position, self.taille_lot)
            except asyncpg.UndefinedTableError:
                lignes = []  # no store yet: wait for it as for a quiet one
            if not lignes:
                yield []
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._reveil.wait(), timeout=self.attente_max_s)
                continue
            # Personal fields decrypted with their persons' keys (one query a batch); erased: null.
            # (A row whose ciphertext does not decrypt is that row's dead letter, not the batch's failure.)
            cles = await coffre.cles_async(conn, coffre.personnes_des_etats(bytes(ligne["state"]) for ligne in lignes))
            lot = [lu for ligne in lignes for lu in self._lus(ligne, cles)]
            position = int(lignes[-1]["notification_id"])
            if not lot or lot[-1].offset != position:
                # The batch ends with events of topics this projection does not read:
                # a marker still takes the stored position to the end of the batch.
                lot.append(MessageLu((SOURCE_JOURNAL, 0), position, None))
            yield lot

    def _lus(self, ligne: asyncpg.Record, cles: Mapping[UUID, bytes] | None = None) -> list[MessageLu]:
        """The records of one stored event this projection reads: its restricted record first (under
        ``(journal, 1)``: the same notification id, a position of its own), then its public one."""
        cle, offset = (SOURCE_JOURNAL, 0), int(ligne["notification_id"])
        try:
            # Filtered before the body is built: a topic the projection skips costs it nothing.
            if self.topics is not None and topic_de(nom_evenement(ligne["topic"])) not in self.topics:
                return []
            flux_id, version = ligne["originator_id"], ligne["originator_version"]
            etat = coffre.dechiffrer_stocke(ligne["state"], cles or {}, flux_id=flux_id, version=version)
            lus = []
            for publie in coffre.messages_dechiffres(flux_id, version, ligne["topic"], etat):
                if publie.topic == TOPIC_RESTREINT and self.topics is not None and TOPIC_RESTREINT not in self.topics:
                    continue
                entetes = {nom: valeur.decode() for nom, valeur in publie.entetes}
                source = (SOURCE_JOURNAL, 1) if publie.topic == TOPIC_RESTREINT else cle
                lus.append(MessageLu(source, offset, EvenementPublie.depuis(entetes, publie.valeur)))
            return lus
        except Exception as exc:  # an unreadable record is dead-lettered, not fatal
            return [
                MessageLu(
                    cle,
                    offset,
                    None,
                    illisible=_raison(exc),
                    entetes={
                        "ce_subject": str(ligne["originator_id"]),
                        "ce_sequence": str(ligne["originator_version"]),
                        "topic": ligne["topic"],
                    },
                )
            ]

    async def repositionner(self) -> None:
        self._a_relire = True

    async def fins(self) -> Positions:
        # A connection of its own: the feed's one may be busy reading a batch.
        async with self._verrou_fins:
            if self._ferme:
                # Closed: answer without leaving a connection behind.
                temporaire = await asyncpg.connect(self.database_url)
                try:
                    maximum = await self._maximum(temporaire)
                finally:
                    await temporaire.close()
            else:
                if self._conn_fins is None or self._conn_fins.is_closed():
                    self._conn_fins = await asyncpg.connect(self.database_url)
                maximum = await self._maximum(self._conn_fins)
        return {(SOURCE_JOURNAL, 0): maximum}

    async def _maximum(self, conn: asyncpg.Connection) -> int:
        try:
            return int(await conn.fetchval(f'SELECT coalesce(max(notification_id), 0) FROM "{self.table}"'))
        except asyncpg.UndefinedTableError:
            return 0  # the write side has not created its store yet: nothing recorded

    async def fermer(self) -> None:
        self._ferme = True
        for conn in (self._conn, self._conn_fins):
            if conn is not None and not conn.is_closed():
                await conn.close()


class _Repositionnement(ConsumerRebalanceListener):  # type: ignore[misc]
    """On every assignment, seek each partition to what the projection stored."""

    def __init__(self, feed: FeedKafka) -> None:
        self.feed = feed

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        log.info(
            "partitions_revoquees", groupe=self.feed.groupe, partitions=[f"{tp.topic}:{tp.partition}" for tp in revoked]
        )

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self.feed.positionner(assigned)
        log.info(
            "partitions_assignees",
            groupe=self.feed.groupe,
            partitions=[f"{tp.topic}:{tp.partition}" for tp in assigned],
        )


class FeedKafka:
    """A consumer-group member on the projection's topics; offsets live in PostgreSQL."""

    def __init__(
        self, bootstrap: str, topics: list[str], *, groupe: str, taille_lot: int = 500, attente_ms: int = 500
    ) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.groupe = groupe
        self.taille_lot = taille_lot
        self.attente_ms = attente_ms
        self.consommateur: AIOKafkaConsumer | None = None
        self._positions: LecteurPositions | None = None
        self._metadonnees: AIOKafkaConsumer | None = None
        self._verrou_fins = asyncio.Lock()
        self._ferme = False

    async def lots(self, positions: LecteurPositions) -> AsyncIterator[list[MessageLu]]:
        self._positions = positions
        self._ferme = False
        self.consommateur = consommateur(
            bootstrap=self.bootstrap,
            group_id=self.groupe,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=self.taille_lot,
        )
        await self.consommateur.start()
        self.consommateur.subscribe(self.topics, listener=_Repositionnement(self))
        try:
            while True:
                recus = await self.consommateur.getmany(timeout_ms=self.attente_ms, max_records=self.taille_lot)
                yield [message_lu(tp, m) for tp, messages in recus.items() for m in messages]
        finally:
            await self.fermer()

    async def positionner(self, partitions: Sequence[TopicPartition]) -> None:
        """Seek each partition to the offset after the one the projection stored (or to its beginning)."""
        consommateur = self.consommateur
        if consommateur is None or self._positions is None:
            return
        stockees = await self._positions()
        for tp in partitions:
            derniere = stockees.get((tp.topic, tp.partition))
            if derniere is None:
                await consommateur.seek_to_beginning(tp)
            else:
                consommateur.seek(tp, derniere + 1)

    async def repositionner(self) -> None:
        if self.consommateur is not None:
            await self.positionner(list(self.consommateur.assignment()))

    async def fins(self) -> Positions:
        async with self._verrou_fins:
            if self._ferme:
                # Closed: answer without leaving a client behind.
                temporaire = _consommateur_de_metadonnees(self.bootstrap)
                await temporaire.start()
                try:
                    return await _fins(temporaire, self.topics)
                finally:
                    await temporaire.stop()
            if self._metadonnees is None:
                self._metadonnees = _consommateur_de_metadonnees(self.bootstrap)
                await self._metadonnees.start()
            return await _fins(self._metadonnees, self.topics)

    async def fermer(self) -> None:
        self._ferme = True
        if self.consommateur is not None:
            await self.consommateur.stop()
            self.consommateur = None
        if self._metadonnees is not None:
            await self._metadonnees.stop()
            self._metadonnees = None


def message_lu(tp: TopicPartition, m: Any) -> MessageLu:
    """A consumed Kafka record as the engine reads it (unreadable: kept with its reason; a restricted
    tombstone: a position only)."""
    if m.value is None and (tp.topic == TOPIC_RESTREINT or not any(k == "ce_type" for k, _ in m.headers or ())):
        # A restricted tombstone (an erased person's facts, for compaction): nothing to apply, the
        # identity's tombstone already made the read models forget them (readmodels/restreints.py).
        # A tombstone without CloudEvents headers (not the relay's: compaction tooling, a segment
        # roll) carries nothing to apply either: a position only.
        return MessageLu((tp.topic, tp.partition), m.offset, None)
    entetes = {k: v.decode(errors="replace") for k, v in (m.headers or ())}
    try:
        return MessageLu((tp.topic, tp.partition), m.offset, EvenementPublie.depuis(entetes, m.value))
    except Exception as exc:  # a poison record is dead-lettered, never fatal nor skipped
        return MessageLu((tp.topic, tp.partition), m.offset, None, illisible=_raison(exc), entetes=entetes)


def _raison(exc: Exception) -> str:
    return f"illisible: {type(exc).__name__}: {exc}"[:2000]


def _consommateur_de_metadonnees(bootstrap: str) -> AIOKafkaConsumer:
    return consommateur(bootstrap=bootstrap, enable_auto_commit=False, isolation_level="read_committed")


async def _fins(consommateur: AIOKafkaConsumer, topics: Sequence[str]) -> Positions:
    await consommateur._client.force_metadata_update()  # fresh metadata for partitions_for_topic
    partitions = [
        TopicPartition(topic, p) for topic in topics for p in sorted(consommateur.partitions_for_topic(topic) or ())
    ]
    if not partitions:
        return {}
    fins = await consommateur.end_offsets(partitions)
    return {(tp.topic, tp.partition): offset - 1 for tp, offset in fins.items()}
