"""What the notifications routes and background loops receive: the composition root, the caller."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import Depends, Request

from services.notifications.settings import NotificationsSettings
from services.runtime import journal_acces
from services.runtime.auth import Utilisateur, Verificateur
from services.runtime.dependances import authentification
from services.runtime.horloge import Horloge

if TYPE_CHECKING:
    from services.notifications.planificateur import Planificateur
    from services.runtime.moteur import Moteur

SERVICE = "notifications"
"""The ``service`` of its access-log rows."""


class Signal:
    """Wakes whoever waits for new outbox rows (the topic, webhooks and e-mail loops); polling stays the fallback."""

    def __init__(self) -> None:
        self._generation = 0
        self._evenement = asyncio.Event()

    def notifier(self) -> None:
        """Say that outbox rows were committed (from the event loop's thread): every waiter wakes."""
        self._generation += 1
        evenement, self._evenement = self._evenement, asyncio.Event()
        evenement.set()

    async def attendre(self, delai_s: float) -> bool:
        """Wait for the next :meth:`notifier`, ``delai_s`` at most; True when notified."""
        vue, evenement = self._generation, self._evenement
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(evenement.wait(), delai_s)
        return self._generation != vue


@dataclass
class Composition:
    """The notifications service's composition root, built once in the lifespan (:func:`..app.composer`).

    Background loops (``composer(boucles=...)``, ``app.BOUCLES``) receive it: they read the outbox
    through ``pool`` (:mod:`services.notifications.sorties`), wait on ``sorties`` for new rows, and
    return once ``arret`` is set.
    """

    settings: NotificationsSettings
    pool: asyncpg.Pool
    verificateur: Verificateur
    horloge: Horloge
    database_url: str
    moteur: Moteur | None = None
    """The deadline engine running now (none when this process runs no background work)."""
    planificateur: Planificateur | None = None
    retard: int | None = None
    """Events the engine's feed holds beyond what it applied, as last measured."""
    arret: asyncio.Event = field(default_factory=asyncio.Event)
    sorties: Signal = field(default_factory=Signal)
    """Notified after every commit that may have written outbox rows (an engine batch, a tick, an acknowledgement)."""
    taches: list[asyncio.Task[None]] = field(default_factory=list)
    journal: journal_acces.JournalAcces | None = None
    """Where reads are recorded; none: ``public.journal_acces`` through ``pool``."""
    extras: dict[str, Any] = field(default_factory=dict)
    """What the other parts of the service keep beside (a Kafka producer, an SMTP client...)."""

    @property
    def journal_acces(self) -> journal_acces.JournalAcces:
        if self.journal is None:
            self.journal = journal_acces.JournalAccesAsyncpg(self.pool)
        return self.journal

    async def arreter(self) -> None:
        """Stop the background loops (each within 15 s)."""
        self.arret.set()
        for tache in self.taches:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(tache, timeout=15)
        self.taches = []


async def composition(request: Request) -> Composition:
    comp: Composition = request.app.state.notifications
    return comp


def _verificateur(request: Request) -> Verificateur:
    comp: Composition = request.app.state.notifications
    return comp.verificateur


utilisateur, exiger = authentification(_verificateur)


Comp = Annotated[Composition, Depends(composition)]
LecteurAlertes = Annotated[Utilisateur, Depends(exiger("referent", "encadrant"))]
Encadrant = Annotated[Utilisateur, Depends(exiger("encadrant"))]


async def journaliser(
    comp: Composition,
    request: Request,
    u: Utilisateur,
    departements: Iterable[str],
    parcours: Iterable[tuple[UUID, str]] = (),
) -> None:
    """Record this read before its answer leaves (who, the route, its terms, every parcours shown).

    If the line cannot be written the answer is a 503, never the data
    (:class:`~services.runtime.journal_acces.JournalIndisponibleError`).
    """
    await comp.journal_acces.ecrire(journal_acces.lecture_de(request, u.sub, SERVICE, departements, parcours))
