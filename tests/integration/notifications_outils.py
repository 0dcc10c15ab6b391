"""Helpers for the notifications service's tests: its composition on the test's database, the engine
driven batch by batch from the store, the scheduler ticked by hand, the outbox read back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from droit.echeances import TYPES_PAR_ANNIVERSAIRE
from services.notifications import alertes, sorties
from services.notifications.api.app import SUJETS, composer, creer_app
from services.notifications.api.dependances import Composition
from services.notifications.echeancier import SCHEMA_ECHEANCES, ProjectionEcheances
from services.notifications.planificateur import tick
from services.notifications.settings import NotificationsSettings
from services.runtime.feeds import FeedJournal, Positions
from services.runtime.moteur import Moteur, lire_positions
from tests.integration.api_parcours import a_la_date
from tests.integration.conftest import Api


@dataclass
class Echeancier:
    """The notifications service beside ``api``: same database, same clock."""

    api: Api
    comp: Composition
    client: httpx.AsyncClient
    base_url: str
    vu: int = 0
    """The last outbox position :meth:`nouvelles` returned."""
    projection: ProjectionEcheances = field(init=False)

    def __post_init__(self) -> None:
        self.projection = ProjectionEcheances(self.api.horloge)

    async def rattraper(self, taille_lot: int = 500) -> int:
        """Apply everything the store holds to the deadline engine (batches of ``taille_lot``); how many batches."""
        feed = FeedJournal(self.base_url, topics=list(SUJETS), taille_lot=taille_lot)
        moteur = Moteur(self.projection, SCHEMA_ECHEANCES, self.comp.pool, feed)

        async def stockees() -> Positions:
            async with self.comp.pool.acquire() as conn:
                return await lire_positions(conn, SCHEMA_ECHEANCES)

        lots = 0
        try:
            async for lot in feed.lots(stockees):
                if not lot:
                    break
                assert await moteur.appliquer_lot(lot)
                lots += 1
        finally:
            await feed.fermer()
        return lots

    async def tick(self) -> int:
        return await tick(self.comp.pool, self.api.horloge)

    async def nouvelles(self) -> list[tuple[str, str, str]]:
        """The outbox rows written since the last call: (event, deadline type, due date), in order.

        The due date is the exact one the service keeps (``notifications.alertes``); each row is checked to
        give only the month of a due date that follows from the birth date.
        """
        async with self.comp.pool.acquire() as conn:
            lignes = await conn.fetch(
                f"SELECT s.position, s.evenement, s.alerte->>'type' AS type, s.alerte->>'due_le' AS publiee, "
                f"s.alerte->>'mois_du' AS mois_du, a.due_le::text AS due_le FROM {sorties.SCHEMA}.sorties s "
                f"JOIN {alertes.TABLE} a USING (alerte_id) WHERE s.position > $1 ORDER BY s.position",
                self.vu,
            )
        if lignes:
            self.vu = lignes[-1]["position"]
        for ligne in lignes:
            assert ligne["mois_du"] == ligne["due_le"][:7]
            par_anniversaire = ligne["type"] in TYPES_PAR_ANNIVERSAIRE
            assert ligne["publiee"] == (None if par_anniversaire else ligne["due_le"]), dict(ligne)
        return [(ligne["evenement"], ligne["type"], ligne["due_le"]) for ligne in lignes]

    async def au(self, jour: date) -> list[tuple[str, str, str]]:
        """Move the clock to ``jour``, let the engine catch up, tick: what the outbox received (sorted)."""
        a_la_date(self.api, jour)
        await self.rattraper()
        await self.tick()
        return sorted(await self.nouvelles())

    async def get(
        self,
        chemin: str,
        *,
        role: str = "referent",
        departements: tuple[str, ...] = ("59",),
        sub: str = "alice",
        **params: Any,
    ) -> httpx.Response:
        return await self.client.get(chemin, params=params or None, headers=self.api.jeton(role, departements, sub))

    async def post(
        self, chemin: str, *, role: str = "referent", departements: tuple[str, ...] = ("59",), sub: str = "alice"
    ) -> httpx.Response:
        return await self.client.post(chemin, headers=self.api.jeton(role, departements, sub))

    async def minuteries(self) -> dict[str, tuple[str, str]]:
        """The timers by type: (alert date, due date)."""
        async with self.comp.pool.acquire() as conn:
            lignes = await conn.fetch(f"SELECT type, alerte_le, due_le FROM {SCHEMA_ECHEANCES}.minuteries")
        return {ligne["type"]: (ligne["alerte_le"].isoformat(), ligne["due_le"].isoformat()) for ligne in lignes}


@asynccontextmanager
async def echeancier_de(api: Api, base_url: str, cles: Path) -> AsyncIterator[Echeancier]:
    """The notifications service on ``base_url`` with ``api``'s clock, its engine and scheduler driven by hand."""
    reglages = NotificationsSettings(database_url=base_url, data_dir=cles, kafka_bootstrap_servers=None)
    comp = await composer(reglages, horloge=api.horloge, demarrer_moteurs=False)
    app = creer_app(reglages, composants=comp)
    try:
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notifications.test") as client,
        ):
            yield Echeancier(api=api, comp=comp, client=client, base_url=base_url)
    finally:
        await comp.arreter()
        await comp.pool.close()
