"""Every alert exactly once, whatever happens to the deadline engine and the scheduler: an engine
stopped mid-way and started again, its positions reset and the feed replayed, its schema rebuilt from
the start of the store, two schedulers ticking at once (each on its own connection), timers that lost
what the scheduler did to them."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

from services.notifications import sorties
from services.notifications.echeancier import SCHEMA_ECHEANCES
from services.notifications.planificateur import tick
from tests.integration.conftest import Api
from tests.integration.notifications_outils import Echeancier, echeancier_de
from tests.integration.projections_outils import histoires


async def _sorties(e: Echeancier) -> Counter[tuple[Any, str]]:
    async with e.comp.pool.acquire() as conn:
        lignes = await conn.fetch(f"SELECT alerte_id, evenement FROM {sorties.SCHEMA}.sorties")
    return Counter((ligne["alerte_id"], ligne["evenement"]) for ligne in lignes)


async def _etat(e: Echeancier) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The timers (with what the scheduler did) and the alerts (without their times)."""
    async with e.comp.pool.acquire() as conn:
        minuteries = await conn.fetch(
            f"SELECT parcours_id, type, cle, due_le, alerte_le, departement, referent_id, levee, escaladee, "
            f"prochaine_action FROM {SCHEMA_ECHEANCES}.minuteries ORDER BY 1, 2, 3"
        )
        alertes = await conn.fetch(
            f"SELECT alerte_id, type, due_le, departement, referent_id, niveau, statut FROM {sorties.SCHEMA}.alertes "
            "ORDER BY 1"
        )
    return [tuple(m) for m in minuteries], [tuple(a) for a in alertes]


def _une_fois(compte: Counter[tuple[Any, str]]) -> None:
    assert compte, "nothing raised: the test would prove nothing"
    assert set(compte.values()) == {1}, [c for c, n in compte.items() if n > 1]


async def test_an_engine_stopped_mid_way_and_started_again_raises_each_alert_once(
    api: Api, base_url: str, tmp_path: Path
) -> None:
    await histoires(api, 6)
    async with echeancier_de(api, base_url, tmp_path / "cles") as e:
        # A few batches of three events, a tick between them (as a running service would), then a stop.
        feed_lots = 0
        while feed_lots < 4:
            feed_lots += 1
            await _quelques_lots(e, 1)
            await e.tick()
        avant = await _sorties(e)
        # Started again from its stored positions, to the end; ticked twice.
        await e.rattraper(taille_lot=3)
        await e.tick()
        await e.tick()
        _une_fois(await _sorties(e))
        assert set(avant) <= set(await _sorties(e))
        # The same as an engine that never stopped: a fresh schema fed at once.
        attendu = await _etat(e)
        async with e.comp.pool.acquire() as conn:
            await conn.execute(f"UPDATE {SCHEMA_ECHEANCES}.positions SET position = 0")
        await e.rattraper(taille_lot=7)
        await e.tick()
        assert await _etat(e) == attendu, "positions reset: the replay changed nothing"
        _une_fois(await _sorties(e))


async def _quelques_lots(e: Echeancier, lots: int) -> None:
    """Apply ``lots`` batches of three events, from the stored positions."""
    from services.notifications.api.app import SUJETS
    from services.runtime.feeds import FeedJournal, Positions
    from services.runtime.moteur import Moteur, lire_positions

    feed = FeedJournal(e.base_url, topics=list(SUJETS), taille_lot=3)
    moteur = Moteur(e.projection, SCHEMA_ECHEANCES, e.comp.pool, feed)

    async def stockees() -> Positions:
        async with e.comp.pool.acquire() as conn:
            return await lire_positions(conn, SCHEMA_ECHEANCES)

    try:
        appliques = 0
        async for lot in feed.lots(stockees):
            if not lot or appliques == lots:
                break
            assert await moteur.appliquer_lot(lot)
            appliques += 1
    finally:
        await feed.fermer()


async def test_a_rebuild_of_the_engine_from_the_start_raises_nothing_again(
    api: Api, base_url: str, tmp_path: Path
) -> None:
    await histoires(api, 6)
    async with echeancier_de(api, base_url, tmp_path / "cles") as e:
        await e.rattraper()
        await e.tick()
        compte = await _sorties(e)
        _une_fois(compte)
        assert any(evenement == "alerte_escaladee" for _, evenement in compte)
        attendu = await _etat(e)
        # The engine's schema dropped and rebuilt from the store, in small batches; the alerts stay.
        async with e.comp.pool.acquire() as conn:
            await conn.execute(f"DROP SCHEMA {SCHEMA_ECHEANCES} CASCADE")
            from services.runtime.moteur import creer_tables

            await creer_tables(conn, SCHEMA_ECHEANCES, e.projection)
        await e.rattraper(taille_lot=2)
        await e.tick()
        assert await _sorties(e) == compte, "no alert raised, escalated or closed again"
        assert await _etat(e) == attendu


async def test_two_schedulers_ticking_at_once_raise_each_alert_once(api: Api, base_url: str, tmp_path: Path) -> None:
    await histoires(api, 8)
    async with echeancier_de(api, base_url, tmp_path / "cles") as e:
        await e.rattraper()
        # Two ticks at once, each on its own connections, a few timers per transaction: they interleave.
        faits = await asyncio.gather(tick(e.comp.pool, api.horloge, taille=2), tick(e.comp.pool, api.horloge, taille=2))
        compte = await _sorties(e)
        _une_fois(compte)
        assert sum(faits) == sum(compte.values())
        assert all(faits), f"both schedulers worked: {faits}"
        # Timers that forgot what was done (a restore, a bug): the derived ids write nothing twice.
        async with e.comp.pool.acquire() as conn:
            await conn.execute(
                f"UPDATE {SCHEMA_ECHEANCES}.minuteries SET levee = false, escaladee = false, prochaine_action = alerte_le"
            )
        assert await asyncio.gather(tick(e.comp.pool, api.horloge), tick(e.comp.pool, api.horloge)) == [0, 0]
        assert await _sorties(e) == compte
