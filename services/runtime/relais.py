"""What the relay leaves in PostgreSQL for others to watch: its advisory lock and its saved position.

The relay (``services/parcours/relay.py``) holds the advisory lock :data:`CLE_VERROU`
on a connection of its own while it publishes, and saves in ``relais_position`` the
last notification id Kafka acknowledged. Anyone on the same database can therefore
tell, without talking to the relay, whether one is active (the lock is held by a
live session: a killed relay's session ends, and its lock with it) and how far it
is behind the store (the highest notification id minus its position), and since
when the batch it is sending waits for Kafka's acknowledgement (``envoi_depuis``:
a relay holding the lock while the broker is down piles events up without a
word otherwise). The projections' ``/readyz`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

import asyncpg

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connexion: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

CLE_VERROU = 0x41534552454C4159
"""``"ASERELAY"``: the advisory lock only the active relay holds."""

TABLE_POSITION = "relais_position"
"""One row per relay name: the last notification id the broker acknowledged."""

NOM_RELAIS = "parcours"
"""The relay of the parcours event store."""

TABLE_EVENEMENTS = "ase_events"
"""The event store's table; its ``notification_id`` is the outbox's order."""


class RelaisAbsent(RuntimeError):
    """No relay holds the lock: nothing publishes the events recorded since it stopped."""


class RelaisEnRetard(RuntimeError):
    """A relay is active but more events than allowed wait to be published."""


class RelaisBloque(RuntimeError):
    """A relay holds the lock but Kafka has not acknowledged its batch for longer than allowed (broker down)."""


ATTENTE_ACQUITTEMENT_MAX_S = 30.0
"""How long a batch may wait for Kafka's acknowledgement before the relay is reported stuck, in seconds:
twice the producer's ``request_timeout_ms`` (15 s, ``services/runtime/kafka.producteur``), so one
slow request retried once is not an alarm, and a broker down is one within 30 s."""


@dataclass(frozen=True)
class EtatRelais:
    """The relay as PostgreSQL sees it."""

    verrou_tenu: bool
    """Whether a live session holds :data:`CLE_VERROU` (an active relay)."""
    position: int
    """The last notification id acknowledged by Kafka (0 before any relay ran)."""
    dernier: int
    """The highest notification id in the store (0 when it is empty)."""
    attente_s: float | None = None
    """Seconds the batch being sent has waited for Kafka's acknowledgement (None: none in flight)."""

    @property
    def retard(self) -> int:
        """Events recorded and not yet acknowledged by Kafka."""
        return max(0, self.dernier - self.position)

    def verifier(self, retard_max: int, attente_max_s: float = ATTENTE_ACQUITTEMENT_MAX_S) -> None:
        """Raise :class:`RelaisAbsent`, :class:`RelaisBloque` or :class:`RelaisEnRetard` unless a relay
        publishes and keeps up (``attente_max_s``: see :data:`ATTENTE_ACQUITTEMENT_MAX_S`)."""
        if not self.verrou_tenu:
            raise RelaisAbsent(f"aucun relais actif; {self.retard} événement(s) en attente de publication")
        if self.attente_s is not None and self.attente_s > attente_max_s:
            raise RelaisBloque(
                f"Kafka n'acquitte plus le lot en cours depuis {self.attente_s:.0f} s (maximum {attente_max_s:.0f} s); "
                f"{self.retard} événement(s) en attente de publication"
            )
        if self.retard > retard_max:
            raise RelaisEnRetard(f"{self.retard} événement(s) en attente de publication (maximum {retard_max})")


async def etat_du_relais(conn: Connexion, *, nom: str = NOM_RELAIS, table: str = TABLE_EVENEMENTS) -> EtatRelais:
    """Read the lock, the relay's saved position and the store's last id (tables may not exist yet)."""
    # pg_locks shows a bigint advisory key as its high half in classid, its low half in objid, objsubid 1.
    verrou_tenu = bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1)",
            CLE_VERROU >> 32,
            CLE_VERROU & 0xFFFFFFFF,
        )
    )
    attente: float | None = None
    try:
        ligne = await conn.fetchrow(
            f"SELECT notification_id, extract(epoch FROM clock_timestamp() - envoi_depuis)::float8 AS attente "
            f"FROM {TABLE_POSITION} WHERE nom = $1",
            nom,
        )
        position = ligne["notification_id"] if ligne else None
        attente = ligne["attente"] if ligne else None
    except asyncpg.UndefinedColumnError:  # a relay older than envoi_depuis prepared the table
        position = await conn.fetchval(f"SELECT notification_id FROM {TABLE_POSITION} WHERE nom = $1", nom)
    except asyncpg.UndefinedTableError:  # no relay ever ran on this database
        position = None
    try:
        dernier = await conn.fetchval(f'SELECT coalesce(max(notification_id), 0) FROM "{table}"')
    except asyncpg.UndefinedTableError:  # nothing recorded yet
        dernier = 0
    return EtatRelais(verrou_tenu=verrou_tenu, position=int(position or 0), dernier=int(dernier), attente_s=attente)
