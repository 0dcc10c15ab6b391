"""Rebuild a read model beside the one serving, then switch over (ARCHITECTURE.md, guarantee 6).

``reconstruire`` fills a fresh schema (``catalogue.nouveau_schema``) from the
very beginning of a feed while the active schema keeps serving reads and its
engine keeps following new events:

- from Kafka, with a consumer group of its own (``<groupe>.rebuild.<schema>``)
  that starts at offset 0, since the new schema has no stored positions;
- from the store, from notification id 0.

It writes set-based, as fast as the feed reads: the projection's tables are
created without their secondary indexes when the projection allows it
(:attr:`Projection.index_a_la_fin`), and each batch's end (the streams it would
recompute) is only noted in ``fins_differees``, in the batch's transaction with
its positions (:attr:`Moteur.differer_fins`): a stream touched by many batches
is recomputed once, not once per batch.

It stops once it reached the feed's end positions measured when it started
(``feed.fins()``), runs the deferred ends (:meth:`Moteur.finir_differees`,
in chunks, each chunk removed from ``fins_differees`` in the transaction that
recomputes it), builds the indexes, then one transaction switches the catalogue to the new
schema (its ``generation`` goes up, a ``projections_catalogue`` notification
goes out) and, after a short grace for reads already holding the old name, the
old schema is dropped.

Nothing arriving during or after the rebuild is lost: the running service
watches the catalogue and, seeing the switch, restarts its engine on the new
schema from the positions the rebuild stored there. Those positions are topic
offsets (or the notification id) of the events applied, valid whatever the
consumer group, so the service reads on from exactly where the rebuild stopped.
If the service follows the other feed than the rebuild did, it finds no
position of its own and replays from the beginning: every event is then a
duplicate of a stream version already applied and changes nothing.

A rebuild that fails or is interrupted drops its unfinished schema; the active
one was never touched. Handlers must be deterministic functions of the events
for a rebuild to equal the incremental read model (tests compare whole tables).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg
import structlog

from services.projections import catalogue
from services.projections.service import Sources, groupe_de
from services.runtime.feeds import Positions, position_de_depart
from services.runtime.moteur import Moteur, Projection, creer_index, creer_tables

if TYPE_CHECKING:
    from services.runtime.moteur import Connexion

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Avancement:
    """How far a rebuild is, in events (offsets) of the feed."""

    projection: str
    schema: str
    source: str
    traites: int
    total: int
    ecoule_s: float
    termine: bool = False

    @property
    def fraction(self) -> float:
        return 1.0 if self.total == 0 else min(1.0, self.traites / self.total)

    @property
    def debit(self) -> float:
        """Events per second so far."""
        return self.traites / self.ecoule_s if self.ecoule_s > 0 else 0.0

    @property
    def restant_s(self) -> float | None:
        """Seconds left at the current rate; unknown before anything was applied."""
        if self.termine or self.traites >= self.total:
            return 0.0
        return (self.total - self.traites) / self.debit if self.debit > 0 else None


Progression = Callable[[Avancement], None]


def total_a_traiter(fins: Positions) -> int:
    """Events between each source's beginning and its end position."""
    return sum(max(0, fin - position_de_depart(cle)) for cle, fin in fins.items())


def traites(positions: Positions, fins: Positions) -> int:
    """Events of ``fins`` already behind ``positions`` (beyond the end does not count)."""
    return sum(
        max(0, min(positions.get(cle, position_de_depart(cle)), fin) - position_de_depart(cle))
        for cle, fin in fins.items()
    )


def rattrape(positions: Positions, fins: Positions) -> bool:
    """Whether ``positions`` reached ``fins`` on every source and partition."""
    return all(positions.get(cle, position_de_depart(cle)) >= fin for cle, fin in fins.items())


async def reconstruire(
    projection: Projection,
    sources: Sources,
    pool: asyncpg.Pool,
    depuis: str | None = None,
    progression: Progression | None = None,
    *,
    avant_bascule: Callable[[str], Awaitable[None]] | None = None,
    grace_s: float = 2.0,
) -> str:
    """Rebuild ``projection`` into a fresh schema, switch the catalogue to it, drop the old; return it.

    ``depuis``: ``"kafka"`` or ``"store"`` (default: Kafka when configured).
    ``avant_bascule``: awaited with the new schema once caught up, before the switch.
    ``grace_s``: how long the old schema stays after the switch, for reads that named it already.

    The schemas it owns (the one it fills, then the old one in its grace) are held by a session lock
    (:func:`catalogue.reserver`) on a connection of ``pool``: a rebuild killed outright leaves them to the
    next rebuild or service start, which drops them (:func:`catalogue.supprimer_orphelins`).
    """
    schema = catalogue.nouveau_schema(projection.nom)
    async with pool.acquire() as verrou:
        await catalogue.supprimer_orphelins(verrou)
        await catalogue.reserver(verrou, schema)
        return await _reconstruire(
            projection,
            sources,
            pool,
            schema=schema,
            verrou=verrou,
            depuis=depuis,
            progression=progression,
            avant_bascule=avant_bascule,
            grace_s=grace_s,
        )


async def _reconstruire(
    projection: Projection,
    sources: Sources,
    pool: asyncpg.Pool,
    *,
    schema: str,
    verrou: Connexion,
    depuis: str | None,
    progression: Progression | None,
    avant_bascule: Callable[[str], Awaitable[None]] | None,
    grace_s: float,
) -> str:
    choix = depuis or sources.par_defaut
    feed = sources.feed(projection, depuis=choix, groupe=f"{groupe_de(projection)}.rebuild.{schema}")
    debut = time.monotonic()
    try:
        fins = await feed.fins()
        total = total_a_traiter(fins)
        log.info("reconstruction_commencee", projection=projection.nom, schema=schema, source=choix, total=total)

        def avancement(positions: Positions, *, termine: bool = False) -> Avancement:
            return Avancement(
                projection.nom, schema, choix, traites(positions, fins), total, time.monotonic() - debut, termine
            )

        arret = asyncio.Event()

        async def apres_lot(positions: Positions) -> None:
            if progression is not None:
                progression(avancement(positions))
            if rattrape(positions, fins):
                arret.set()

        if progression is not None:
            progression(avancement({}))
        if rattrape({}, fins):
            async with pool.acquire() as conn:
                await creer_tables(conn, schema, projection)
            await feed.fermer()
        else:
            await _remplir(Moteur(projection, schema, pool, feed, apres_lot=apres_lot, creer_schema=False), arret)
        if avant_bascule is not None:
            await avant_bascule(schema)
        async with pool.acquire() as conn:
            if (servant := await catalogue.schema_actif(conn, projection.nom)) is not None:
                # Held before the switch takes it out of the catalogue: no sweep drops it in its grace.
                await catalogue.reserver(verrou, servant)
            ancien = await catalogue.activer(conn, projection.nom, schema)
    except BaseException:
        with contextlib.suppress(Exception):
            await feed.fermer()
        with contextlib.suppress(Exception):
            async with pool.acquire() as conn:
                await catalogue.supprimer(conn, schema)
        log.warning("reconstruction_abandonnee", projection=projection.nom, schema=schema)
        raise
    if progression is not None:
        progression(Avancement(projection.nom, schema, choix, total, total, time.monotonic() - debut, termine=True))
    log.info(
        "reconstruction_basculee",
        projection=projection.nom,
        schema=schema,
        ancien=ancien,
        duree_s=round(time.monotonic() - debut, 2),
    )
    if ancien is not None:
        if ancien != servant:  # another rebuild switched in between: held from now on
            await catalogue.reserver(verrou, ancien)
        await asyncio.sleep(grace_s)
        async with pool.acquire() as conn:
            await catalogue.supprimer(conn, ancien)
        log.info("reconstruction_ancien_schema_supprime", projection=projection.nom, schema=ancien)
    return schema


async def _remplir(moteur: Moteur, arret: asyncio.Event) -> None:
    """Fill a fresh schema: tables (indexes last when allowed), batches until ``arret``, deferred ends."""
    projection, schema = moteur.projection, moteur.schema
    moteur.etiquette = f"{projection.nom}.reconstruction"
    moteur.differer_fins = True
    moteur.lire_pendant_l_ecriture = True
    async with moteur.pool.acquire() as conn:
        await creer_tables(conn, schema, projection, index=not projection.index_a_la_fin)
    await moteur.executer(arret)
    await moteur.finir_differees()
    if projection.index_a_la_fin:
        async with moteur.pool.acquire() as conn:
            await creer_index(conn, schema, projection)


def ligne_avancement(a: Avancement) -> str:
    """One line of progress, for logs and terminals that are not TTYs."""
    restant = "?" if a.restant_s is None else f"{a.restant_s:.0f} s"
    etat = "terminé" if a.termine else f"reste ~{restant}"
    return (
        f"rebuild {a.projection} depuis {a.source}: {a.traites}/{a.total} ({a.fraction:.0%}), "
        f"{a.debit:.0f} év/s, {etat}"
    )


@contextlib.contextmanager
def barre_de_progression(
    nom: str, *, terminal: bool | None = None, ecrire: Callable[[str], None] = print, intervalle_s: float = 2.0
) -> Iterator[Progression]:
    """A progress bar with rate and time left on a terminal; a line every ``intervalle_s`` otherwise."""
    if terminal is None:
        terminal = sys.stdout.isatty()
    if terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        colonnes = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[debit]}"),
            TextColumn("reste {task.fields[restant]}"),
            TimeElapsedColumn(),
        )
        with Progress(*colonnes) as barre:
            tache = barre.add_task(f"rebuild {nom}", total=None, debit="", restant="?")

            def afficher(a: Avancement) -> None:
                restant = "?" if a.restant_s is None else f"{a.restant_s:.0f} s"
                barre.update(
                    tache,
                    total=max(a.total, 1),
                    completed=a.traites if a.total else 1,
                    debit=f"{a.debit:.0f} év/s",
                    restant=restant,
                )

            yield afficher
        return
    dernier = -float("inf")

    def ecrire_ligne(a: Avancement) -> None:
        nonlocal dernier
        maintenant = time.monotonic()
        if a.termine or maintenant - dernier >= intervalle_s:
            dernier = maintenant
            ecrire(ligne_avancement(a))

    yield ecrire_ligne
