"""The deadline engine beside the projection engine, and the scheduler's tick on 1,000,000 timers.

1. ``moteurs``: ``PARCOURS`` parcours (100,000 by default, about 1.5 M events,
   ``ASE_BENCH_ECHEANCIER_PARCOURS``). One wave of the projections benchmark's histories (500
   children: an opening with its identity, an IP and its evaluation, a judicial measure, an accueil,
   PPE, reports, a renewal, for some a change of lieu, a runaway, a transfer, a rectification) is
   written by the domain's own commands and read back from the store's notification log as the
   engines' store feed decodes it (public, restricted and identity records); then copied, every UUID
   of a copy mapped through ``uuid5``, until ``PARCOURS``, the copies made as they are fed (memory
   stays flat; writing 1.5 M events through the domain would take most of an hour). The same
   batches (500 events) go through the shared engine (``Moteur.appliquer_lot``: versions, positions,
   one transaction each) into a fresh schema, for the deadline engine (``ProjectionEcheances``: the
   timers; without the restricted records, which it does not follow) and for the caseworker read
   model (``ProjectionDossiers``): events/s of each, and the ratio ``echeancier/dossiers``.

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
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from benchmarks.postgres_jetable import postgres_jetable
from services.notifications.api.app import creer_les_tables
from services.notifications.echeancier import MINUTERIES, SCHEMA_ECHEANCES, ProjectionEcheances
from services.notifications.planificateur import TAILLE_TICK, tick
from services.runtime.evenement import EvenementPublie
from services.runtime.feeds import FeedJournal, MessageLu, Positions
from services.runtime.horloge import HorlogeFixe
from services.runtime.moteur import Moteur, Projection, creer_tables

NOM = "echeancier"
MINUTERIES_NOMBRE = 1_000_000
DUES = 1_000
REPETITIONS = 30
AUJOURD_HUI = date(2027, 3, 1)
PARCOURS = int(os.environ.get("ASE_BENCH_ECHEANCIER_PARCOURS", "100000"))
"""Parcours fed to both engines (about 15 events each: 100,000 is about 1.5 M events)."""
TAILLE_LOT = 500
"""Events per batch, as the services' default ``taille_lot``."""
SOURCE_CLONES = ("clones", 0)
ESPACE_CLONES = UUID("5e0c7d1a-9b44-5c2e-a1f3-2d8e6b7c9a01")
_MIDI = datetime(2026, 11, 28, 11, tzinfo=UTC)
"""The engine's clock: the day the histories were written for (closing times of alerts)."""

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


def _cloner_valeur(valeur: Any, k: int, cache: dict[str, str]) -> Any:
    """``valeur`` with each UUID it holds mapped to the ``k``-th copy's (``uuid5``), the rest as it is."""
    if isinstance(valeur, str) and len(valeur) == 36 and valeur.count("-") == 4:
        clone = cache.get(valeur)
        if clone is None:
            try:
                clone = str(uuid.uuid5(ESPACE_CLONES, f"{k}:{UUID(valeur)}"))
            except ValueError:
                clone = valeur
            cache[valeur] = clone
        return clone
    if isinstance(valeur, dict):
        return {c: _cloner_valeur(v, k, cache) for c, v in valeur.items()}
    if isinstance(valeur, list):
        return [_cloner_valeur(v, k, cache) for v in valeur]
    return valeur


def _clone(ev: EvenementPublie, k: int, cache: dict[str, str]) -> EvenementPublie:
    """``ev`` in the ``k``-th copy of the histories: streams, persons, measures, IPs and lieux renamed."""
    if k == 0:
        return ev
    return replace(
        ev,
        id=_cloner_valeur(ev.id, k, cache),
        flux_id=UUID(_cloner_valeur(str(ev.flux_id), k, cache)),
        donnees=_cloner_valeur(ev.donnees, k, cache) if ev.donnees is not None else None,
    )


def _lots(modeles: list[EvenementPublie], copies: int) -> Iterator[list[MessageLu]]:
    """The histories then their copies, in batches of ``TAILLE_LOT``, made as they are read (memory stays flat)."""
    lot: list[MessageLu] = []
    offset = 0
    for k in range(copies):
        cache: dict[str, str] = {}
        for ev in modeles:
            lot.append(MessageLu(SOURCE_CLONES, offset, _clone(ev, k, cache)))
            offset += 1
            if len(lot) == TAILLE_LOT:
                yield lot
                lot = []
    if lot:
        yield lot


async def _lire_modeles(url: str) -> list[EvenementPublie]:
    """Every record of the store's notification log, decoded as the engines' store feed decodes it."""
    feed = FeedJournal(url, taille_lot=TAILLE_LOT)
    fins = await feed.fins()
    evenements: list[EvenementPublie] = []
    atteintes: Positions = {}
    lots = feed.lots(_aucune)
    try:
        async for lot in lots:
            for msg in lot:
                atteintes[msg.cle] = msg.offset
                if msg.evenement is not None:
                    evenements.append(msg.evenement)
            if all(atteintes.get(cle, -1) >= fin for cle, fin in fins.items()):
                break
    finally:
        await lots.aclose()  # type: ignore[attr-defined]
        await feed.fermer()
    return evenements


async def _reconstruire(
    url: str, projection: Projection, schema: str, modeles: list[EvenementPublie], copies: int
) -> dict[str, Any]:
    """Apply the cloned histories to ``projection`` in a fresh ``schema``: seconds, events applied, events/s."""
    pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
    try:
        async with pool.acquire() as conn:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await creer_tables(conn, schema, projection)
        if isinstance(projection, ProjectionEcheances):
            await creer_les_tables(pool, projection)  # the alerts and the outbox beside its schema
            # It follows the parcours and identity topics, not the restricted one.
            modeles = [ev for ev in modeles if not ev.restreint]
        moteur = Moteur(projection, schema, pool, FeedJournal(url), creer_schema=False)
        evenements = 0
        debut = time.perf_counter()
        cpu = time.process_time()
        for lot in _lots(modeles, copies):
            assert await moteur.appliquer_lot(lot)
            evenements += len(lot)
        duree = time.perf_counter() - debut
        cpu = time.process_time() - cpu
        async with pool.acquire() as conn:
            lettres = await conn.fetch(f'SELECT erreur, ce_type, trace FROM "{schema}".lettres_mortes LIMIT 3')
            assert not lettres, [(ligne["erreur"], ligne["ce_type"], ligne["trace"][-1500:]) for ligne in lettres]
    finally:
        await pool.close()
    return {
        "s": round(duree, 1),
        "evenements": evenements,
        "evt_s": round(evenements / duree),
        "cpu_python_s": round(cpu, 1),
    }


async def _moteurs(url: str) -> dict[str, Any]:
    from services.projections.readmodels.dossiers import ProjectionDossiers

    modeles = await _lire_modeles(url)
    par_copie = sum(1 for ev in modeles if ev.nom == "ParcoursOuvert")
    copies = -(-PARCOURS // par_copie)
    echeancier = await _reconstruire(url, ProjectionEcheances(HorlogeFixe(_MIDI)), SCHEMA_ECHEANCES, modeles, copies)
    dossiers = await _reconstruire(url, ProjectionDossiers(), "bench_dossiers", modeles, copies)
    async with asyncpg.create_pool(url, min_size=1, max_size=1) as pool, pool.acquire() as conn:
        minuteries = await conn.fetchval(f"SELECT count(*) FROM {MINUTERIES}")
    return {
        "parcours": copies * par_copie,
        "histoires_ecrites": par_copie,
        "echeancier": echeancier,
        "dossiers": dossiers,
        "minuteries": minuteries,
        "ratio_echeancier_sur_dossiers": round(echeancier["evt_s"] / dossiers["evt_s"], 2),
    }


def executer() -> dict[str, Any]:
    from benchmarks import projections

    with postgres_jetable() as pg:
        url = pg.nouvelle_base("echeancier_moteurs")
        projections.EVENEMENTS_MIN = projections.LIEUX + 1  # one wave: the histories the copies are made of
        generation = projections._generer(url)
        generation.pop("suivis", None)
        moteurs = asyncio.run(_moteurs(url))
        url = pg.nouvelle_base("echeancier")
        planificateur = asyncio.run(_mesurer(url))
    return {"generation": generation, "moteurs": moteurs, "planificateur": planificateur}


def rapport(resultat: dict[str, Any]) -> str:
    m, r = resultat["moteurs"], resultat["planificateur"]
    e, d = m["echeancier"], m["dossiers"]
    return (
        f"Moteur d'échéances, {m['parcours']:,} parcours ({m['histoires_ecrites']} histoires écrites par le "
        f"domaine, copiées) → {m['minuteries']:,} minuteries\n"
        f"  échéancier : {e['evt_s']:,} évt/s ({e['evenements']:,} événements, {e['s']} s, CPU Python "
        f"{e['cpu_python_s']} s)\n"
        f"  dossiers (même moteur, mêmes lots, faits restreints compris) : {d['evt_s']:,} évt/s "
        f"({d['evenements']:,} événements, {d['s']} s, CPU Python {d['cpu_python_s']} s)\n"
        f"  ratio échéancier / dossiers : ×{m['ratio_echeancier_sur_dossiers']}\n"
        f"Planificateur, {r['minuteries']:,} minuteries dont {r['dues']:,} dues aujourd'hui\n"
        f"  trouver ce qui est dû (index partiel) : {r['trouver_index_ms_mediane']} ms (médiane de {r['repetitions']})\n"
        f"  même requête en parcours séquentiel  : {r['trouver_scan_ms_mediane']} ms  → ×{r['ratio_scan_sur_index']}\n"
        f"  un tick levant {r['dues']:,} alertes (sorties comprises) : {r['tick_s']} s, "
        f"{r['alertes_levees_par_s']:,} alertes/s\n"
        f"  plan : {next((ligne.strip(' ->') for ligne in r['plan'] if 'Scan' in ligne), r['plan'][0])}"
    )
