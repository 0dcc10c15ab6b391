"""The notifications service composed as it runs: the engine and the scheduler in the background, the
background loops of the other parts (the hook), the scheduler's index, and an engine batch meeting a
scheduler that is raising the very alert the batch closes."""

from __future__ import annotations

import asyncio
import time
from datetime import date
from pathlib import Path

from contracts.alertes import EvenementAlerte
from services.notifications import alertes, sorties
from services.notifications.api.app import composer
from services.notifications.api.dependances import Composition
from services.notifications.echeancier import MINUTERIES, SCHEMA_ECHEANCES, minuterie_de
from services.notifications.settings import NotificationsSettings
from tests.integration.api_parcours import a_la_date
from tests.integration.conftest import Api
from tests.integration.notifications_outils import echeancier_de


async def _ouvrir_avec_ip(api: Api, recue_le: date) -> tuple[str, str]:
    a_la_date(api, recue_le)
    ouvert = await api.post(
        "/v1/parcours",
        {
            "personne": {"nom": "Roux", "prenoms": "Emma", "date_naissance": "2013-05-02", "sexe": "F"},
            "departement": "59",
            "date_effet": recue_le.isoformat(),
        },
    )
    assert ouvert.status_code == 201, ouvert.text
    ip = await api.post(
        f"/v1/parcours/{ouvert.json()['id']}/informations-preoccupantes",
        {"origine": "education_nationale", "dangers": ["negligences"], "date_effet": recue_le.isoformat()},
    )
    assert ip.status_code == 200, ip.text
    return ouvert.json()["id"], ip.json()["ip_id"]


async def test_the_composed_service_raises_in_the_background_and_its_loops_read_the_outbox(
    api: Api, base_url: str, tmp_path: Path
) -> None:
    recues: list[tuple[EvenementAlerte, str]] = []
    arretee = asyncio.Event()

    async def boucle_de_test(comp: Composition) -> None:
        """What the topic, webhooks and e-mail loops do: read on from a cursor, move it in the same transaction."""
        while not comp.arret.is_set():
            async with comp.pool.acquire() as conn, conn.transaction():
                lu = await sorties.lire(conn, "test")
                if lu is not None and lu[1]:
                    recues.extend((s.evenement, s.alerte.type) for s in lu[1])
                    await sorties.avancer(conn, "test", lu[1][-1].position)
            await comp.sorties.attendre(0.2)
        arretee.set()

    reglages = NotificationsSettings(
        database_url=base_url, data_dir=tmp_path / "cles", kafka_bootstrap_servers=None, planificateur_intervalle_s=3600
    )
    comp = await composer(reglages, horloge=api.horloge, boucles=[boucle_de_test])
    try:
        await _ouvrir_avec_ip(api, date(2026, 8, 1))  # assessed by 1 November: alerted on 1 October
        a_la_date(api, date(2026, 11, 28))
        fin = time.monotonic() + 60
        while (EvenementAlerte.ESCALADEE, "evaluation_ip") not in recues:
            assert time.monotonic() < fin, recues
            await comp.sorties.attendre(0.5)
        assert recues == [(EvenementAlerte.LEVEE, "evaluation_ip"), (EvenementAlerte.ESCALADEE, "evaluation_ip")]
        assert comp.retard is not None, "the lag was measured"
    finally:
        await comp.arreter()
        await comp.pool.close()
    assert arretee.is_set(), "the loop returned when the service stopped"


async def test_the_tick_finds_what_is_due_through_its_index_among_many_timers(
    api: Api, base_url: str, tmp_path: Path
) -> None:
    async with echeancier_de(api, base_url, tmp_path / "cles") as e, e.comp.pool.acquire() as conn:
        await conn.execute(
            f"INSERT INTO {MINUTERIES} (parcours_id, type, cle, due_le, alerte_le, departement, informatif, urgente, "
            "levee, escaladee, prochaine_action) "
            "SELECT gen_random_uuid(), 'ppe', '', date '2030-01-01', date '2029-12-01', '59', false, false, "
            "i % 100 <> 0, i % 100 <> 0, CASE WHEN i % 100 = 0 THEN date '2029-12-01' END "
            "FROM generate_series(1, 50000) AS i"
        )
        await conn.execute(f"ANALYZE {MINUTERIES}")
        plan = "\n".join(
            ligne[0]
            for ligne in await conn.fetch(
                f"EXPLAIN SELECT * FROM {MINUTERIES} WHERE prochaine_action <= $1 "
                "ORDER BY prochaine_action, parcours_id, type, cle LIMIT 500 FOR UPDATE SKIP LOCKED",
                date(2029, 12, 1),
            )
        )
    assert "minuteries_a_traiter" in plan, plan
    assert "Seq Scan" not in plan, plan


async def test_an_engine_batch_waits_for_a_scheduler_raising_the_alert_it_closes(
    api: Api, base_url: str, tmp_path: Path
) -> None:
    parcours_id, ip_id = await _ouvrir_avec_ip(api, date(2026, 8, 1))
    async with echeancier_de(api, base_url, tmp_path / "cles") as e:
        await e.rattraper()
        a_la_date(api, date(2026, 10, 5))
        # The assessment is recorded while a scheduler holds its timer and raises its alert.
        evaluee = await api.post(
            f"/v1/parcours/{parcours_id}/evaluations",
            {"ip_id": ip_id, "suite": "classement", "date_effet": "2026-10-05"},
        )
        assert evaluee.status_code == 200, evaluee.text
        async with e.comp.pool.acquire() as planificateur:
            transaction = planificateur.transaction()
            await transaction.start()
            ligne = await planificateur.fetchrow(
                f"SELECT * FROM {MINUTERIES} WHERE type = 'evaluation_ip' FOR UPDATE SKIP LOCKED"
            )
            minuterie = minuterie_de(ligne)
            assert await alertes.lever(planificateur, minuterie.echeancier(), api.horloge.maintenant()) is not None
            await planificateur.execute(f"UPDATE {MINUTERIES} SET levee = true WHERE type = 'evaluation_ip'")
            moteur = asyncio.create_task(e.rattraper())
            fin = time.monotonic() + 30
            async with e.comp.pool.acquire() as conn:
                while not await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
                ):
                    assert time.monotonic() < fin, "the engine's batch never waited for the timer's lock"
                    assert not moteur.done(), "the engine did not wait for the scheduler"
                    await asyncio.sleep(0.02)
            await transaction.commit()
        await moteur
        assert await e.nouvelles() == [
            ("alerte_levee", "evaluation_ip", "2026-11-01"),
            ("alerte_close", "evaluation_ip", "2026-11-01"),
        ]
        async with e.comp.pool.acquire() as conn:
            assert (
                await conn.fetchval(f"SELECT count(*) FROM {SCHEMA_ECHEANCES}.minuteries WHERE type = 'evaluation_ip'")
                == 0
            )
            assert await conn.fetchval(f"SELECT statut FROM {alertes.TABLE}") == "close"


async def test_instances_starting_at_once_create_the_tables_once(base_url: str, tmp_path: Path) -> None:
    reglages = NotificationsSettings(database_url=base_url, data_dir=tmp_path / "cles", kafka_bootstrap_servers=None)
    for _ in range(2):  # on a fresh database, then on existing tables
        comps = await asyncio.gather(*(composer(reglages, demarrer_moteurs=False) for _ in range(4)))
        for comp in comps:
            await comp.pool.close()
    assert len(comps) == 4


async def test_a_timer_the_alert_contract_refuses_is_set_aside_and_the_others_are_raised(
    api: Api, base_url: str, tmp_path: Path
) -> None:
    async with echeancier_de(api, base_url, tmp_path / "cles") as e:
        async with e.comp.pool.acquire() as conn:
            await conn.execute(
                f"INSERT INTO {MINUTERIES} (parcours_id, type, cle, due_le, alerte_le, departement, informatif, urgente, "
                "prochaine_action) VALUES (gen_random_uuid(), 'ppe', '', $1, $1, '00', false, false, $1), "
                "(gen_random_uuid(), 'ppe', '', $1, $1, '59', false, false, $1)",
                date(2026, 11, 28),
            )
        assert await e.tick() == 1
        assert await e.nouvelles() == [("alerte_levee", "ppe", "2026-11-28")]
        async with e.comp.pool.acquire() as conn:
            restes = await conn.fetch(f"SELECT departement, levee, prochaine_action FROM {MINUTERIES} ORDER BY 1")
        assert [tuple(r) for r in restes] == [("00", False, None), ("59", True, date(2026, 11, 29))]
        assert await e.tick() == 0, "not taken again"
