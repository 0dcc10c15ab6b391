"""The deadline engine beside the projection engine, and the scheduler's tick on 1,000,000 timers.

1. ``moteurs``: ``ase_events`` filled with the projections benchmark's histories (at least
   ``EVENEMENTS`` events, ``ASE_BENCH_ECHEANCIER_EVENEMENTS``), then, taking turns
   (``REPETITIONS_MOTEURS`` each), the deadline engine (``ProjectionEcheances``: the timers built
   from the feed) and the caseworker read model (``ProjectionDossiers``) each rebuilt from the store
   (``FeedJournal``, batches of 500) into a fresh schema: events/s of each, and the ratio
   ``echeancier/dossiers`` of the medians (``2.0x``: the engine builds its timers twice as fast).

2. ``planificateur``: one embedded PostgreSQL with the notifications service's tables (``composer``'s DDL) and
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
import os
import statistics
import time
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from benchmarks.postgres_jetable import postgres_jetable
from services.notifications.api.app import creer_les_tables
from services.notifications.echeancier import MINUTERIES, SCHEMA_ECHEANCES, ProjectionEcheances
from services.notifications.planificateur import TAILLE_TICK, tick
from services.runtime.feeds import FeedJournal, Positions
from services.runtime.horloge import HorlogeFixe
from services.runtime.moteur import Moteur, Projection, creer_tables

NOM = "echeancier"
MINUTERIES_NOMBRE = 1_000_000
DUES = 1_000
REPETITIONS = 30
AUJOURD_HUI = date(2027, 3, 1)
EVENEMENTS = int(os.environ.get("ASE_BENCH_ECHEANCIER_EVENEMENTS", "200000"))
REPETITIONS_MOTEURS = 2

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


async def _aucune() -> Positions:
    return {}


async def _reconstruire(url: str, projection: Projection, schema: str) -> dict[str, Any]:
    """Apply the whole store to ``projection`` in a fresh ``schema``: seconds, events applied, events/s."""
    pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
    try:
        async with pool.acquire() as conn:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await creer_tables(conn, schema, projection)
        if isinstance(projection, ProjectionEcheances):
            await creer_les_tables(pool, projection)  # the alerts and the outbox beside its schema
        feed = FeedJournal(url, topics=list(projection.sujets), taille_lot=500)
        moteur = Moteur(projection, schema, pool, feed, creer_schema=False)
        evenements = 0
        debut = time.perf_counter()
        try:
            async for lot in feed.lots(_aucune):
                if not lot:
                    break
                assert await moteur.appliquer_lot(lot)
                evenements += sum(1 for m in lot if m.evenement is not None)
        finally:
            await feed.fermer()
        duree = time.perf_counter() - debut
        async with pool.acquire() as conn:
            lettres = await conn.fetch(f'SELECT erreur, ce_type, trace FROM "{schema}".lettres_mortes LIMIT 3')
            assert not lettres, [(ligne["erreur"], ligne["ce_type"], ligne["trace"][-1500:]) for ligne in lettres]
    finally:
        await pool.close()
    return {"s": round(duree, 2), "evenements": evenements, "evt_s": round(evenements / duree)}


async def _moteurs(url: str) -> dict[str, Any]:
    from services.projections.readmodels.dossiers import ProjectionDossiers

    mesures: dict[str, list[dict[str, Any]]] = {"echeancier": [], "dossiers": []}
    for _ in range(REPETITIONS_MOTEURS):
        mesures["echeancier"].append(await _reconstruire(url, ProjectionEcheances(), SCHEMA_ECHEANCES))
        mesures["dossiers"].append(await _reconstruire(url, ProjectionDossiers(), "bench_dossiers"))
    medianes = {nom: round(statistics.median(m["evt_s"] for m in liste)) for nom, liste in mesures.items()}
    async with asyncpg.create_pool(url, min_size=1, max_size=1) as pool, pool.acquire() as conn:
        minuteries = await conn.fetchval(f"SELECT count(*) FROM {MINUTERIES}")
    return {
        **mesures,
        "minuteries": minuteries,
        "echeancier_evt_s": medianes["echeancier"],
        "dossiers_evt_s": medianes["dossiers"],
        "ratio_echeancier_sur_dossiers": round(medianes["echeancier"] / medianes["dossiers"], 2),
    }


def executer() -> dict[str, Any]:
    from benchmarks import projections

    with postgres_jetable() as pg:
        url = pg.nouvelle_base("echeancier_moteurs")
        projections.EVENEMENTS_MIN = EVENEMENTS  # the same children's histories, as many as asked
        generation = projections._generer(url)
        generation.pop("suivis", None)
        moteurs = asyncio.run(_moteurs(url))
        url = pg.nouvelle_base("echeancier")
        planificateur = asyncio.run(_mesurer(url))
    return {"generation": generation, "moteurs": moteurs, "planificateur": planificateur}


def rapport(resultat: dict[str, Any]) -> str:
    m, r = resultat["moteurs"], resultat["planificateur"]
    return (
        f"Moteur d'échéances, {resultat['generation']['parcours']:,} parcours, "
        f"{m['echeancier'][0]['evenements']:,} événements lus ({m['minuteries']:,} minuteries)\n"
        f"  échéancier : {m['echeancier_evt_s']:,} évt/s ; dossiers (même moteur, même journal, "
        f"{m['dossiers'][0]['evenements']:,} événements avec les faits restreints) : "
        f"{m['dossiers_evt_s']:,} évt/s → ×{m['ratio_echeancier_sur_dossiers']}\n"
        f"Planificateur, {r['minuteries']:,} minuteries dont {r['dues']:,} dues aujourd'hui\n"
        f"  trouver ce qui est dû (index partiel) : {r['trouver_index_ms_mediane']} ms (médiane de {r['repetitions']})\n"
        f"  même requête en parcours séquentiel  : {r['trouver_scan_ms_mediane']} ms  → ×{r['ratio_scan_sur_index']}\n"
        f"  un tick levant {r['dues']:,} alertes (sorties comprises) : {r['tick_s']} s, "
        f"{r['alertes_levees_par_s']:,} alertes/s\n"
        f"  plan : {next((ligne.strip(' ->') for ligne in r['plan'] if 'Scan' in ligne), r['plan'][0])}"
    )
