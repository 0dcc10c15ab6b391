"""The deadline engine's pure parts: what a parcours' state asks for, and when the scheduler acts next."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import UUID, uuid4

from contracts.alertes import identifiant_alerte
from droit.etat_parcours import Fait, corriges, replier
from services.notifications.echeancier import Minuterie, minuteries_voulues, prochaine_action

PARCOURS = UUID("6f1c2b9e-6d1a-4c1e-9b7a-2e4f5a6b7c8d")
LE = datetime(2024, 1, 8, 10, tzinfo=UTC)


def _etat(*faits: tuple[str, date, dict[str, object]]):  # type: ignore[no-untyped-def]
    return replier(corriges(Fait(v, nom, jour, LE, donnees) for v, (nom, jour, donnees) in enumerate(faits, start=1)))


OUVERTURE = (
    "ParcoursOuvert",
    date(2024, 1, 8),
    {
        "personne_id": str(uuid4()),
        "mois_naissance": "2010-01",
        "sexe": "F",
        "departement": "59",
        "referent_id": "ref-1",
        "date_effet": "2024-01-08",
    },
)


def test_a_timer_acts_on_its_alert_date_then_the_day_after_its_due_date_then_never() -> None:
    alerte, due = date(2024, 3, 8), date(2024, 4, 8)
    assert prochaine_action(False, False, False, alerte, due) == alerte
    assert prochaine_action(True, False, False, alerte, due) == date(2024, 4, 9)
    assert prochaine_action(True, True, False, alerte, due) is None
    assert prochaine_action(True, False, True, alerte, due) is None, "informative: raised, never escalated"
    assert prochaine_action(True, False, False, alerte, date(9999, 12, 31)) == date(9999, 12, 31), "clamped"


def test_the_timers_of_an_ip_and_a_birth_date_with_the_departement_and_referent() -> None:
    ip = ("InformationPreoccupanteRecue", date(2024, 1, 8), {"ip_id": "ip-1", "date_effet": "2024-01-08"})
    voulues = minuteries_voulues(PARCOURS, _etat(OUVERTURE, ip), date(2010, 1, 20))
    assert [(m.type, m.cle, m.alerte_le, m.due_le, m.departement, m.referent_id) for m in voulues] == [
        ("evaluation_ip", "ip-1", date(2024, 3, 8), date(2024, 4, 8), "59", "ref-1"),
        ("majorite", "", date(2028, 1, 20), date(2028, 1, 20), "59", "ref-1"),
    ]
    assert minuteries_voulues(PARCOURS, _etat(OUVERTURE, ip), None)[-1].type == "evaluation_ip", (
        "no birth date (erased, or not arrived yet): no deadline of age"
    )


def test_a_timers_alert_id_is_derived_from_its_deadline_and_due_date() -> None:
    m = Minuterie(PARCOURS, "ppe", "", date(2024, 4, 10), date(2024, 3, 10), "59", None, False, False)
    assert m.alerte_id == identifiant_alerte(PARCOURS, "ppe", "", date(2024, 4, 10))
    assert m.alerte_id != identifiant_alerte(PARCOURS, "ppe", "", date(2024, 4, 11)), "moved: another alert"
