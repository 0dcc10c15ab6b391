"""Restricted facts beside the public events: how a read model shows what the public topic withholds.

The relay publishes, beside some public records, a restricted one on
``ase.parcours.restreint.v1`` (:mod:`contracts.restreint`): the court's
reference of a measure, the name of a lieu that is a private person, the exact
dates of the events dated by the 18th birthday. It has the stream id and
version of its public event and ``champs``, the public fields with their exact
values; ``{**public, **champs}`` is the event as recorded.

The two topics are not ordered with each other, so a read model keeps each
restricted record in ``faits_restreints`` (by stream and version) and merges
either way round: a public event applied after its facts is completed with
them (:func:`completer`); facts applied after their public event patch what it
wrote (each read model's own update). Any order, batching or feed gives the
same rows; the store feed brings the facts first.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import asyncpg
import orjson

from services.projections.evenement import EvenementPublie

DDL_RESTREINTS = (
    "CREATE TABLE IF NOT EXISTS faits_restreints (flux_id uuid NOT NULL, version integer NOT NULL, "
    "evenement text NOT NULL, champs jsonb NOT NULL, PRIMARY KEY (flux_id, version))"
)


async def garder(conn: asyncpg.Connection, ev: EvenementPublie) -> dict[str, Any]:
    """Keep the facts of a restricted record; return its ``champs`` (public field -> exact value)."""
    if ev.donnees is None or not isinstance(ev.donnees.get("champs"), dict):
        raise ValueError(f"faits restreints sans champs: {ev.id}")
    champs: dict[str, Any] = ev.donnees["champs"]
    await conn.execute(
        "INSERT INTO faits_restreints (flux_id, version, evenement, champs) VALUES ($1, $2, $3, $4::jsonb) "
        "ON CONFLICT (flux_id, version) DO UPDATE SET evenement = excluded.evenement, champs = excluded.champs",
        ev.flux_id,
        ev.version,
        str(ev.donnees.get("evenement", "")),
        orjson.dumps(champs).decode(),
    )
    return champs


async def completer(conn: asyncpg.Connection, ev: EvenementPublie) -> EvenementPublie:
    """``ev`` with the restricted facts already kept for it merged into its data (unchanged when none)."""
    if ev.donnees is None:
        return ev
    champs = await conn.fetchval(
        "SELECT champs FROM faits_restreints WHERE flux_id = $1 AND version = $2", ev.flux_id, ev.version
    )
    if champs is None:
        return ev
    return replace(ev, donnees={**ev.donnees, **orjson.loads(champs)})
