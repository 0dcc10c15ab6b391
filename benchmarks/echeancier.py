"""The scheduler's tick on 1,000,000 timers: the time to find what is due, beside a sequential scan.

One embedded PostgreSQL with the notifications service's tables (``composer``'s DDL) and
``MINUTERIES`` timers, ``DUES`` of them due today (the others raised and escalated already,
or due later). Measured, ``REPETITIONS`` times each, taking turns: the tick's query
(``prochaine_action <= today ORDER BY ... LIMIT 500 FOR UPDATE SKIP LOCKED``, in a transaction
rolled back) as the service runs it, on its partial index ``minuteries_a_traiter``; and the same
query with index scans switched off (``enable_indexscan``, ``enable_bitmapscan``): the sequential
scan a missing index would cost, the baseline. The ratio ``scan/index`` is of the medians.
Then one whole tick (``planificateur.tick``) raising the ``DUES`` alerts, their outbox rows
included: alerts raised per second.

    .venv/bin/python -m benchmarks echeancier
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from benchmarks.postgres_jetable import postgres_jetable
from services.notifications.api.app import creer_les_tables
from services.notifications.echeancier import MINUTERIES, ProjectionEcheances
from services.notifications.planificateur import TAILLE_TICK, tick
from services.runtime.horloge import HorlogeFixe

NOM = "echeancier"
MINUTERIES_NOMBRE = 1_000_000
DUES = 1_000
REPETITIONS = 30
AUJOURD_HUI = date(2027, 3, 1)

REQUETE = (
    f"SELECT * FROM {MINUTERIES} WHERE prochaine_action <= $1 "
    f"ORDER BY prochaine_action, parcours_id, type, cle LIMIT {TAILLE_TICK} FOR UPDATE SKIP LOCKED"
)


async def _remplir(pool: asyncpg.Pool) -> None:
    """``MINUTERIES_NOMBRE`` timers: every ``pas``-th due today, a tenth due later, the rest done."""
    pas = MINUTERIES_NOMBRE // DUES
    async with pool.acquire() as conn:
        await conn.execute(
            f"INSERT INTO {MINUTERIES} (parcours_id, type, cle, due_le, alerte_le, departement, referent_id, "
            "informatif, urgente, levee, escaladee, prochaine_action) "
            "SELECT gen_random_uuid(), 'rapport_situation', '', $1::date + 30, $1::date - (i % 20), "
            "'59', 'ref-' || (i % 300), false, false, i % $2 <> 0, i % $2 <> 0 AND i % 10 <> 1, "
            "CASE WHEN i % $2 = 0 THEN $1::date - (i % 20) WHEN i % 10 = 1 THEN $1::date + 31 END "
            "FROM generate_series(1, $3) AS i",
            AUJOURD_HUI,
            pas,
            MINUTERIES_NOMBRE,
        )
        await conn.execute(f"VACUUM ANALYZE {MINUTERIES}")


async def _trouver(conn: asyncpg.Connection, *, index: bool) -> float:
    """The tick's query once, in a transaction rolled back; milliseconds."""
    transaction = conn.transaction()
    await transaction.start()
    try:
        if not index:
            await conn.execute("SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off")
        debut = time.perf_counter()
        lignes = await conn.fetch(REQUETE, AUJOURD_HUI)
        duree = (time.perf_counter() - debut) * 1000
        assert len(lignes) == min(TAILLE_TICK, DUES)
        return duree
    finally:
        await transaction.rollback()


async def _mesurer(url: str) -> dict[str, Any]:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
    try:
        await creer_les_tables(pool, ProjectionEcheances())
        debut = time.perf_counter()
        await _remplir(pool)
        remplissage_s = time.perf_counter() - debut
        async with pool.acquire() as conn:
            plan = [ligne[0] for ligne in await conn.fetch(f"EXPLAIN {REQUETE}", AUJOURD_HUI)]
            await _trouver(conn, index=True)  # warm both paths once
            await _trouver(conn, index=False)
            avec, sans = [], []
            for _ in range(REPETITIONS):
                avec.append(await _trouver(conn, index=True))
                sans.append(await _trouver(conn, index=False))
        horloge = HorlogeFixe(datetime(2027, 3, 1, 9, tzinfo=UTC))
        debut = time.perf_counter()
        levees = await tick(pool, horloge)
        tick_s = time.perf_counter() - debut
        assert levees == DUES, levees
    finally:
        await pool.close()
    index_ms, scan_ms = statistics.median(avec), statistics.median(sans)
    return {
        "minuteries": MINUTERIES_NOMBRE,
        "dues": DUES,
        "repetitions": REPETITIONS,
        "remplissage_s": round(remplissage_s, 1),
        "trouver_index_ms_mediane": round(index_ms, 3),
        "trouver_scan_ms_mediane": round(scan_ms, 3),
        "ratio_scan_sur_index": round(scan_ms / index_ms, 1),
        "plan": plan,
        "tick_s": round(tick_s, 3),
        "alertes_levees_par_s": round(DUES / tick_s),
    }


def executer() -> dict[str, Any]:
    with postgres_jetable() as pg:
        url = pg.nouvelle_base("echeancier")
        return asyncio.run(_mesurer(url))


def rapport(r: dict[str, Any]) -> str:
    return (
        f"Planificateur, {r['minuteries']:,} minuteries dont {r['dues']:,} dues aujourd'hui\n"
        f"  trouver ce qui est dû (index partiel) : {r['trouver_index_ms_mediane']} ms (médiane de {r['repetitions']})\n"
        f"  même requête en parcours séquentiel  : {r['trouver_scan_ms_mediane']} ms  → ×{r['ratio_scan_sur_index']}\n"
        f"  un tick levant {r['dues']:,} alertes (sorties comprises) : {r['tick_s']} s, "
        f"{r['alertes_levees_par_s']:,} alertes/s\n"
        f"  plan : {next((ligne.strip(' ->') for ligne in r['plan'] if 'Scan' in ligne), r['plan'][0])}"
    )
