"""The alerts' outbox: every change of an alert, in commit order, for each way it goes out.

The deadline engine and the scheduler write one row per change of an alert
(:func:`ajouter`) in the transaction that changes it. Each consumer (the topic
``ase.alertes.v1``, the webhooks, the e-mails) reads on from its own cursor
(:func:`lire`) and moves it (:func:`avancer`) in the transaction that does its
work, so nothing is lost nor done twice, whatever crashes. A consumer's cursor
row is locked ``FOR UPDATE SKIP LOCKED``: with several service instances, one
works on a consumer at a time and the others go on with something else.

Positions are committed in order: writers take a transaction-level advisory
lock (:data:`VERROU_SORTIES`) before they insert, so a reader never sees
position n+1 before n is committed (a bigserial alone commits out of order).
Alert changes are rare (a few per parcours per year), so this costs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import asyncpg
import orjson

from contracts.alertes import Alerte, EvenementAlerte

SCHEMA: Final = "notifications"
"""The schema of the service's durable tables (alerts, outbox, subscriptions, deliveries, recipients)."""

VERROU_SORTIES: Final = (0x4E4F, 0x5449)
"""``pg_advisory_xact_lock(int, int)`` key held by every writer of the outbox until it commits."""

DDL: Final = [
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    f"CREATE TABLE IF NOT EXISTS {SCHEMA}.sorties (position bigserial PRIMARY KEY, "
    "evenement text NOT NULL, alerte_id uuid NOT NULL, parcours_id uuid NOT NULL, "
    "alerte jsonb NOT NULL, ecrite_le timestamptz NOT NULL DEFAULT now())",
    f"CREATE TABLE IF NOT EXISTS {SCHEMA}.curseurs (consommateur text PRIMARY KEY, position bigint NOT NULL DEFAULT 0)",
]


@dataclass(frozen=True)
class Sortie:
    """One change of an alert, as a consumer reads it."""

    position: int
    evenement: EvenementAlerte
    alerte: Alerte


async def creer_tables(conn: asyncpg.Connection) -> None:
    for ddl in DDL:
        await conn.execute(ddl)


async def ajouter(conn: asyncpg.Connection, evenement: EvenementAlerte, alerte: Alerte) -> None:
    """Record one change of an alert; call inside the transaction that makes the change."""
    await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", *VERROU_SORTIES)
    await conn.execute(
        f"INSERT INTO {SCHEMA}.sorties (evenement, alerte_id, parcours_id, alerte) VALUES ($1, $2, $3, $4::jsonb)",
        evenement.value,
        alerte.alerte_id,
        alerte.parcours_id,
        alerte.model_dump_json(),
    )


async def lire(conn: asyncpg.Connection, consommateur: str, limite: int = 500) -> tuple[int, Sequence[Sortie]] | None:
    """Lock ``consommateur``'s cursor and read the changes after it, oldest first, at most ``limite``.

    Call inside a transaction; returns ``None`` when another instance holds the
    cursor (skip: it is working on it), else (the cursor's position, the changes).
    """
    await conn.execute(f"INSERT INTO {SCHEMA}.curseurs (consommateur) VALUES ($1) ON CONFLICT DO NOTHING", consommateur)
    position = await conn.fetchval(
        f"SELECT position FROM {SCHEMA}.curseurs WHERE consommateur = $1 FOR UPDATE SKIP LOCKED", consommateur
    )
    if position is None:
        return None
    lignes = await conn.fetch(
        f"SELECT position, evenement, alerte FROM {SCHEMA}.sorties WHERE position > $1 ORDER BY position LIMIT $2",
        position,
        limite,
    )
    return position, [
        Sortie(
            ligne["position"], EvenementAlerte(ligne["evenement"]), Alerte.model_validate(orjson.loads(ligne["alerte"]))
        )
        for ligne in lignes
    ]


async def avancer(conn: asyncpg.Connection, consommateur: str, position: int) -> None:
    """Move ``consommateur``'s cursor to ``position`` (in the transaction that did the work up to it)."""
    await conn.execute(f"UPDATE {SCHEMA}.curseurs SET position = $2 WHERE consommateur = $1", consommateur, position)
