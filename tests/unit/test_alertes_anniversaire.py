"""An alert never reveals a birth date: the deadlines that follow from it leave the service as months."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import UUID

from contracts.alertes import (
    Alerte,
    Niveau,
    StatutAlerte,
    identifiant_alerte,
    instant_publiable,
    lien_dossier,
    par_anniversaire,
)
from droit.echeances import REGLES, TYPES_PAR_ANNIVERSAIRE, TypeEcheance

PARCOURS = UUID("00000000-0000-4000-8000-000000000001")


def _alerte(type_: TypeEcheance, due: date, levee: datetime) -> Alerte:
    regle = REGLES[type_]
    return Alerte(
        alerte_id=identifiant_alerte(PARCOURS, type_.value, "", due),
        parcours_id=PARCOURS,
        departement="59",
        type=type_.value,
        due_le=due,
        mois_du=due.isoformat()[:7],
        alerte_le=due,
        attendu=regle.attendu,
        article=regle.article,
        urgente=regle.urgente,
        niveau=Niveau.REFERENT,
        statut=StatutAlerte.OUVERTE,
        lien=lien_dossier(PARCOURS),
        levee_le=levee,
        modifiee_le=levee,
    )


def test_the_majority_alert_gives_the_month_never_the_birthday() -> None:
    brute = _alerte(TypeEcheance.MAJORITE, date(2028, 1, 20), datetime(2028, 1, 19, 23, 5, tzinfo=UTC))
    sortie = par_anniversaire(brute)
    assert (sortie.due_le, sortie.mois_du, sortie.alerte_le) == (None, "2028-01", date(2028, 1, 1))
    assert sortie.levee_le == sortie.modifiee_le == datetime(2028, 1, 1, tzinfo=UTC)
    assert "-20" not in sortie.model_dump_json(include={"due_le", "alerte_le", "levee_le", "modifiee_le"})
    assert sortie.alerte_id == brute.alerte_id, "the same alert"


def test_every_birthday_deadline_is_reduced_and_the_others_are_kept_exact() -> None:
    instant = datetime(2027, 3, 14, 8, 30, tzinfo=UTC)
    for type_ in TypeEcheance:
        alerte = _alerte(type_, date(2027, 3, 17), instant)
        reduite = par_anniversaire(alerte)
        if type_ in TYPES_PAR_ANNIVERSAIRE:
            assert reduite.due_le is None, type_
            assert reduite.levee_le.day == 1, type_
        else:
            assert reduite == alerte, type_


def test_the_times_of_a_birthday_alert_leave_as_the_first_instant_of_their_month() -> None:
    close = datetime(2028, 1, 19, 23, 5, tzinfo=UTC)  # a majority recorded at 00:05 in Paris, on the birthday
    majorite = _alerte(TypeEcheance.MAJORITE, date(2028, 1, 20), close)
    ppe = _alerte(TypeEcheance.PPE, date(2028, 1, 20), close)
    assert instant_publiable(majorite, close) == datetime(2028, 1, 1, tzinfo=UTC)
    assert instant_publiable(ppe, close) == close
    assert instant_publiable(majorite, None) is None
