"""The scheduler: raise the alerts whose day has come, escalate the deadlines that passed unmet.

A tick (:func:`tick`) takes, in one transaction, the timers whose next action
date (``minuteries.prochaine_action``, served by the partial index
``minuteries_a_traiter``: never a scan of every timer) is today or past, at
most ``taille`` at once, ``FOR UPDATE SKIP LOCKED``, and for each:

- raises its alert when not raised yet (:func:`services.notifications.alertes.lever`),
  on its alert date (``alerte_le``) or later if the service was down that day;
- escalates it to the département's encadrants (``niveau = encadrant``,
  :func:`~services.notifications.alertes.escalader`) when today is after its
  due date and the deadline is still open (the awaited fact not recorded: the
  engine would have removed the timer), unless it is informative;

then marks the timer (``levee``, ``escaladee``, the next action date) so it is
not taken again. "Today" is the civil date in Europe/Paris by the injected
clock (:func:`services.runtime.horloge.aujourd_hui`).

Several instances may tick at once: a timer is taken by one of them only (SKIP
LOCKED), and an alert's id is derived from its deadline, so a second raise of the
same alert writes nothing. The service runs a tick every
``planificateur_intervalle_s`` and as soon as the engine committed a batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, TypeAlias

import asyncpg
import structlog
from prometheus_client import Counter, Histogram

from services.notifications import alertes
from services.notifications.echeancier import COLONNES, MINUTERIES, compter_minuteries, minuterie_de, prochaine_action
from services.runtime.horloge import Horloge, aujourd_hui
from services.runtime.http import REGISTRE
from services.runtime.moteur import ERREURS_PASSAGERES

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connexion: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

log = structlog.get_logger(__name__)

TAILLE_TICK: Final = 500
"""Timers taken per transaction of a tick."""

DUREE_TICK = Histogram(
    "ase_planificateur_tick_secondes",
    "Duration of a scheduler tick (alerts raised and escalated)",
    registry=REGISTRE,
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

EN_ERREUR = Counter(
    "ase_planificateur_minuteries_en_erreur_total",
    "Timers the scheduler could not raise or escalate (set aside until the engine rewrites them)",
    registry=REGISTRE,
)


async def tick(pool: asyncpg.Pool, horloge: Horloge, *, taille: int = TAILLE_TICK) -> int:
    """Raise and escalate what is due today (see the module); return how many alert changes were written."""
    debut = time.perf_counter()
    changements = 0
    try:
        while True:
            async with pool.acquire() as conn, conn.transaction():
                pris, faits = await _un_lot(conn, horloge, taille)
            changements += faits
            if pris < taille:
                return changements
    finally:
        DUREE_TICK.observe(time.perf_counter() - debut)


async def _un_lot(conn: Connexion, horloge: Horloge, taille: int) -> tuple[int, int]:
    """One transaction of a tick: (timers taken, alert changes written)."""
    jour = aujourd_hui(horloge)
    maintenant = horloge.maintenant()
    lignes = await conn.fetch(
        f"SELECT {', '.join(COLONNES)} FROM {MINUTERIES} WHERE prochaine_action <= $1 "
        "ORDER BY prochaine_action, parcours_id, type, cle LIMIT $2 FOR UPDATE SKIP LOCKED",
        jour,
        taille,
    )
    faits = 0
    marques: list[tuple[object, ...]] = []
    for ligne in lignes:
        m = minuterie_de(ligne)
        levee, escaladee = m.levee, m.escaladee
        try:
            async with conn.transaction():  # one timer the law's data refuses never holds up the others
                ecrits = 0
                if not levee and m.alerte_le <= jour:
                    ecrits += await alertes.lever(conn, m.echeancier(), maintenant) is not None
                    levee = True
                if levee and not escaladee and not m.informatif and jour > m.due_le:
                    ecrits += await alertes.escalader(conn, m.alerte_id, maintenant) is not None
                    escaladee = True
            faits += ecrits
            suivante = prochaine_action(levee, escaladee, m.informatif, m.alerte_le, m.due_le)
        except ERREURS_PASSAGERES:
            raise  # the tick is tried again whole
        except Exception as exc:
            # Set aside (no next action) until its deadline changes; logged and counted, never retried in a loop.
            levee, escaladee, suivante = m.levee, m.escaladee, None
            EN_ERREUR.inc()
            log.error(
                "planificateur_minuterie_en_erreur",
                parcours_id=str(m.parcours_id),
                type=m.type,
                erreur=type(exc).__name__,
            )
        marques.append((m.parcours_id, m.type, m.cle, levee, escaladee, suivante))
    if marques:
        colonnes = list(zip(*marques, strict=True))
        await conn.execute(
            f"UPDATE {MINUTERIES} m SET levee = u.l, escaladee = u.e, prochaine_action = u.a "
            "FROM unnest($1::uuid[], $2::text[], $3::text[], $4::boolean[], $5::boolean[], $6::date[]) "
            "AS u(p, t, c, l, e, a) WHERE m.parcours_id = u.p AND m.type = u.t AND m.cle = u.c",
            *[list(c) for c in colonnes],
        )
    return len(lignes), faits


@dataclass
class Planificateur:
    """Ticks every ``intervalle_s`` and whenever :meth:`reveiller` is called (after an engine batch).

    ``pret`` says whether to tick now: false while the engine is far behind its feed (a rebuild replaying
    old deadlines), so no alert is raised for a deadline that the events still to come have closed.
    """

    pool: asyncpg.Pool
    horloge: Horloge
    intervalle_s: float = 60.0
    pret: Callable[[], bool] = lambda: True
    apres_tick: Callable[[int], None] | None = None
    """Called with the number of alert changes a tick wrote (the outbox consumers are woken)."""
    comptage_s: float = 30.0
    """At most how often the timers are counted for the ``ase_minuteries`` gauge (a count of every timer)."""
    _reveil: asyncio.Event = field(default_factory=asyncio.Event)
    _compte_le: float = field(default=float("-inf"))

    def reveiller(self) -> None:
        self._reveil.set()

    async def tourner(self, arret: asyncio.Event) -> None:
        attente = 0.5
        while not arret.is_set():
            self._reveil.clear()
            try:
                if self.pret():
                    faits = await tick(self.pool, self.horloge)
                    if faits and self.apres_tick is not None:
                        self.apres_tick(faits)
                    if time.monotonic() - self._compte_le >= self.comptage_s:
                        async with self.pool.acquire() as conn:
                            await compter_minuteries(conn)
                        self._compte_le = time.monotonic()
                attente = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a lost connection, a deadlock: the next tick tries again
                log.warning("planificateur_en_erreur", erreur=type(exc).__name__, reprise_s=attente)
                attente = min(attente * 2, 10.0)
            delai = self.intervalle_s if attente <= 0.5 else attente
            reveil = asyncio.ensure_future(self._reveil.wait())
            fin = asyncio.ensure_future(arret.wait())
            try:
                await asyncio.wait({reveil, fin}, timeout=delai, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for tache in (reveil, fin):
                    tache.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await tache
