"""The webhooks' retry schedule, message ids and payload shape (no I/O)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import orjson
import pytest

from contracts.alertes import Alerte, EvenementAlerte, Niveau, StatutAlerte, identifiant_alerte, lien_dossier
from services.notifications import sorties, webhooks
from services.notifications.settings import NotificationsSettings


def _plus_haut(bas: float, haut: float) -> float:
    assert bas == 0.0
    return haut


def test_the_default_schedule_doubles_from_30_seconds_up_to_6_hours_with_full_jitter() -> None:
    reglages = NotificationsSettings()
    bornes = [webhooks.delai_avant_nouvel_essai(k, reglages, _plus_haut) for k in range(1, 13)]
    assert bornes == [30, 60, 120, 240, 480, 960, 1920, 3840, 7680, 15360, 21600, 21600]
    tirages = [webhooks.delai_avant_nouvel_essai(3, reglages) for _ in range(200)]
    assert all(0 <= t <= 120 for t in tirages)
    assert max(tirages) - min(tirages) > 10  # jittered, not fixed


@pytest.mark.parametrize(("initial", "maximum", "attendu"), [(1.0, 5.0, [1, 2, 4, 5, 5]), (10.0, 10.0, [10] * 5)])
def test_the_schedule_follows_its_settings(initial: float, maximum: float, attendu: list[float]) -> None:
    reglages = NotificationsSettings(webhooks_delai_initial_s=initial, webhooks_delai_max_s=maximum)
    assert [webhooks.delai_avant_nouvel_essai(k, reglages, _plus_haut) for k in range(1, 6)] == attendu


def test_a_message_id_is_stable_per_subscription_and_outbox_position() -> None:
    abonnement = uuid.uuid4()
    assert webhooks.message_id(abonnement, 7) == webhooks.message_id(abonnement, 7)
    assert webhooks.message_id(abonnement, 7) != webhooks.message_id(abonnement, 8)
    assert webhooks.message_id(abonnement, 7) != webhooks.message_id(uuid.uuid4(), 7)
    assert webhooks.message_id(abonnement, 7).startswith("msg_")


def test_the_payload_is_standard_webhooks_shaped_with_the_alert_as_data() -> None:
    parcours_id = uuid.uuid4()
    instant = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
    alerte = Alerte(
        alerte_id=identifiant_alerte(parcours_id, "majorite", "", date(2027, 1, 1)),
        parcours_id=parcours_id,
        departement="59",
        type="majorite",
        due_le=date(2027, 1, 1),
        mois_du="2027-01",
        alerte_le=date(2026, 11, 28),
        attendu="Proposer un accompagnement jeune majeur",
        article="CASF L222-5",
        urgente=False,
        niveau=Niveau.REFERENT,
        statut=StatutAlerte.OUVERTE,
        lien=lien_dossier(parcours_id),
        levee_le=instant,
        modifiee_le=instant,
    )
    corps = orjson.loads(webhooks.corps(sorties.Sortie(3, EvenementAlerte.ESCALADEE, alerte)))
    assert set(corps) == {"type", "timestamp", "data"}
    assert corps["type"] == "fr.ase.alertes.alerte_escaladee.v1"
    assert corps["timestamp"] == "2026-11-28T09:30:00Z"
    assert Alerte.model_validate(corps["data"]) == alerte
