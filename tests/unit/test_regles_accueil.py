"""Rules of the accueil: the measure carrying it, one at a time, lieux, hotels, fugues."""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

import pytest

from services.parcours.domain import parcours_evenements as ev
from services.parcours.domain.parcours import LieuPropose, Parcours
from services.parcours.domain.vocabulaire import (
    NATURES_PERMETTANT_ACCUEIL,
    MotifChangementLieu,
    MotifFinAccueil,
    MotifLevee,
    Nature,
    TypeLieu,
)
from services.runtime.errors import IntrouvableError
from tests.unit.fabrique import (
    OUVERT_LE,
    assert_refused,
    ctx_on,
    decide_mesure,
    lieu,
    names,
    open_parcours,
    place,
    recorded_since,
    state_of,
)

JOUR = date(2023, 2, 1)
PLUS_TARD = date(2023, 5, 2)


def start(p: Parcours, mesure_id: UUID, ou: LieuPropose, jour: date = JOUR) -> None:
    p.debuter_accueil(ctx_on(jour), mesure_id=mesure_id, lieu=ou, date_effet=jour)


def move(p: Parcours, ou: LieuPropose, jour: date = PLUS_TARD) -> None:
    p.changer_lieu(ctx_on(jour), lieu=ou, motif=MotifChangementLieu.BESOIN_ENFANT, date_effet=jour)


# -- starting an accueil ---------------------------------------------------------


def test_a_placement_is_recorded_under_its_mesure(parcours: Parcours) -> None:
    mesure_id = decide_mesure(parcours, JOUR, Nature.CONFIAGE_ASE)
    ou = lieu(TypeLieu.MECS)
    start(parcours, mesure_id, ou)
    (debut,) = recorded_since(parcours, 2)
    assert isinstance(debut, ev.AccueilDebute)
    assert (debut.mesure_id, debut.lieu_id, debut.type_lieu, debut.date_limite_hotel) == (
        mesure_id,
        ou.lieu_id,
        TypeLieu.MECS,
        None,
    )
    accueil = parcours.accueil
    assert accueil is not None
    assert (accueil.lieu_id, accueil.depuis, accueil.debut_accueil, accueil.fugue_depuis) == (
        ou.lieu_id,
        JOUR,
        JOUR,
        None,
    )
    assert parcours.suivi.lieux_successifs == 1


def test_a_placement_needs_an_active_measure(parcours: Parcours) -> None:
    avant = state_of(parcours)
    with pytest.raises(IntrouvableError):
        start(parcours, uuid4(), lieu())
    assert state_of(parcours) == avant
    assert len(parcours.pending_events) == 1

    mesure_id = decide_mesure(parcours, JOUR, Nature.ACCUEIL_PROVISOIRE)
    parcours.lever_mesure(ctx_on(JOUR), mesure_id=mesure_id, motif=MotifLevee.MAINLEVEE, date_effet=JOUR)
    assert_refused(parcours, "mesure_inactive", lambda: start(parcours, mesure_id, lieu()))


@pytest.mark.parametrize("nature", [Nature.AED, Nature.AEMO, Nature.AEMO_RENFORCEE])
def test_a_placement_under_a_mesure_supporting_the_child_at_home_is_refused(parcours: Parcours, nature: Nature) -> None:
    mesure_id = decide_mesure(parcours, JOUR, nature)
    assert_refused(parcours, "mesure_sans_accueil", lambda: start(parcours, mesure_id, lieu()))


@pytest.mark.parametrize("nature", sorted(NATURES_PERMETTANT_ACCUEIL))
def test_a_placement_is_allowed_under_every_nature_that_allows_it(parcours: Parcours, nature: Nature) -> None:
    mesure_id = decide_mesure(parcours, JOUR, nature)
    start(parcours, mesure_id, lieu())
    assert parcours.accueil is not None
    assert parcours.accueil.mesure_id == mesure_id


def test_a_second_current_accueil_is_refused(parcours: Parcours) -> None:
    mesure_id, _ = place(parcours, JOUR)
    autre = decide_mesure(parcours, JOUR, Nature.TIERS_DIGNE_DE_CONFIANCE)
    assert_refused(parcours, "accueil_deja_en_cours", lambda: start(parcours, mesure_id, lieu()))
    assert_refused(parcours, "accueil_deja_en_cours", lambda: start(parcours, autre, lieu()))


def test_a_new_accueil_may_start_once_the_previous_one_ended(parcours: Parcours) -> None:
    mesure_id, _ = place(parcours, JOUR)
    parcours.terminer_accueil(ctx_on(PLUS_TARD), motif=MotifFinAccueil.RETOUR_EN_FAMILLE, date_effet=PLUS_TARD)
    start(parcours, mesure_id, lieu(TypeLieu.FOYER_ENFANCE), PLUS_TARD)
    assert parcours.accueil is not None
    assert parcours.accueil.debut_accueil == PLUS_TARD
    assert parcours.suivi.lieux_successifs == 2


def test_a_placement_in_a_closed_lieu_is_refused(parcours: Parcours) -> None:
    mesure_id = decide_mesure(parcours, JOUR)
    assert_refused(parcours, "lieu_ferme", lambda: start(parcours, mesure_id, lieu(ferme=True)))


# -- hotels (loi Taquet) ---------------------------------------------------------


def test_a_hotel_placement_is_refused_under_16_after_february_2024() -> None:
    p = open_parcours(OUVERT_LE)  # 13 in March 2024
    jour = date(2024, 3, 1)
    mesure_id = decide_mesure(p, jour)
    assert_refused(p, "hotel_interdit", lambda: start(p, mesure_id, lieu(TypeLieu.HOTEL), jour))


def test_a_hotel_placement_is_refused_from_1_february_2024_itself() -> None:
    p = open_parcours(OUVERT_LE)
    jour = date(2024, 2, 1)
    mesure_id = decide_mesure(p, jour)
    assert_refused(p, "hotel_interdit", lambda: start(p, mesure_id, lieu(TypeLieu.HOTEL), jour))


def test_a_hotel_placement_before_february_2024_is_recorded_at_any_age_and_flagged_with_two_months() -> None:
    """CASF L221-2-3: an earlier hotel stay may be recorded, flagged, with the 2-month deadline."""
    p = open_parcours(OUVERT_LE)  # 13
    jour = date(2024, 1, 31)
    mesure_id = decide_mesure(p, jour)
    start(p, mesure_id, lieu(TypeLieu.HOTEL), jour)
    assert p.accueil is not None
    assert p.accueil.type_lieu is TypeLieu.HOTEL
    assert p.accueil.date_limite_hotel == date(2024, 3, 31)


def test_a_hotel_placement_is_refused_from_february_2024_even_from_16() -> None:
    """CASF L221-2-3 (loi du 7 février 2022): no accueil in a hotel from 1 Feb 2024, whatever the age."""
    p = open_parcours(OUVERT_LE, date_naissance=date(2007, 6, 1))  # 16 in March 2024
    jour = date(2024, 3, 1)
    mesure_id = decide_mesure(p, jour)
    assert_refused(p, "hotel_interdit", lambda: start(p, mesure_id, lieu(TypeLieu.HOTEL), jour))


def test_a_hebergement_derogatoire_at_16_is_flagged_with_its_two_month_limit() -> None:
    """Décret 2024-119, CASF L221-2-3: youth accommodation from 16, 2 months at most."""
    p = open_parcours(OUVERT_LE, date_naissance=date(2008, 3, 1))
    mesure_id = decide_mesure(p, date(2024, 2, 29))
    # 15 the day before the 16th birthday...
    assert_refused(
        p,
        "hebergement_derogatoire_hors_age",
        lambda: start(p, mesure_id, lieu(TypeLieu.HEBERGEMENT_DEROGATOIRE), date(2024, 2, 29)),
    )
    # ... 16 on it.
    start(p, mesure_id, lieu(TypeLieu.HEBERGEMENT_DEROGATOIRE), date(2024, 3, 1))
    assert p.pending_events[-1].date_limite_hotel == date(2024, 5, 1)
    assert p.accueil is not None
    assert p.accueil.date_limite_hotel == date(2024, 5, 1)


def test_the_hebergement_derogatoire_limit_falls_on_the_last_day_of_a_shorter_month() -> None:
    p = open_parcours(OUVERT_LE, date_naissance=date(2007, 1, 1))
    jour = date(2024, 12, 31)
    mesure_id = decide_mesure(p, jour)
    start(p, mesure_id, lieu(TypeLieu.HEBERGEMENT_DEROGATOIRE), jour)
    assert p.accueil is not None
    assert p.accueil.date_limite_hotel == date(2025, 2, 28)


def test_a_change_of_lieu_follows_the_hotel_ban_and_the_age_of_a_hebergement_derogatoire() -> None:
    jeune = open_parcours(OUVERT_LE)
    mesure_id = decide_mesure(jeune, date(2024, 3, 1))
    start(jeune, mesure_id, lieu(TypeLieu.MECS), date(2024, 3, 1))
    assert_refused(jeune, "hotel_interdit", lambda: move(jeune, lieu(TypeLieu.HOTEL), date(2024, 3, 2)))
    assert_refused(
        jeune,
        "hebergement_derogatoire_hors_age",
        lambda: move(jeune, lieu(TypeLieu.HEBERGEMENT_DEROGATOIRE), date(2024, 3, 2)),
    )

    ado = open_parcours(OUVERT_LE, date_naissance=date(2007, 6, 1))
    mesure_id = decide_mesure(ado, date(2024, 3, 1))
    start(ado, mesure_id, lieu(TypeLieu.MECS), date(2024, 3, 1))
    assert_refused(ado, "hotel_interdit", lambda: move(ado, lieu(TypeLieu.HOTEL), date(2024, 3, 2)))
    move(ado, lieu(TypeLieu.HEBERGEMENT_DEROGATOIRE), date(2024, 3, 2))
    assert ado.accueil is not None
    assert ado.accueil.date_limite_hotel == date(2024, 5, 2)


def test_leaving_a_hebergement_derogatoire_clears_its_limit() -> None:
    p = open_parcours(OUVERT_LE, date_naissance=date(2007, 6, 1))
    mesure_id = decide_mesure(p, date(2024, 3, 1))
    start(p, mesure_id, lieu(TypeLieu.HEBERGEMENT_DEROGATOIRE), date(2024, 3, 1))
    move(p, lieu(TypeLieu.LOGEMENT_AUTONOME), date(2024, 4, 15))
    assert p.accueil is not None
    assert (p.accueil.type_lieu, p.accueil.date_limite_hotel) == (TypeLieu.LOGEMENT_AUTONOME, None)


# -- change of lieu --------------------------------------------------------------


def test_a_change_of_lieu_is_recorded_and_keeps_the_start_of_the_accueil(parcours: Parcours) -> None:
    place(parcours, JOUR)
    ou = lieu(TypeLieu.ASSISTANT_FAMILIAL)
    depuis = len(parcours.pending_events)
    parcours.changer_lieu(ctx_on(PLUS_TARD), lieu=ou, motif=MotifChangementLieu.RUPTURE, date_effet=PLUS_TARD)
    (changement,) = recorded_since(parcours, depuis)
    assert isinstance(changement, ev.LieuAccueilChange)
    assert changement.motif is MotifChangementLieu.RUPTURE
    accueil = parcours.accueil
    assert accueil is not None
    assert (accueil.lieu_id, accueil.type_lieu, accueil.depuis, accueil.debut_accueil) == (
        ou.lieu_id,
        TypeLieu.ASSISTANT_FAMILIAL,
        PLUS_TARD,
        JOUR,
    )
    assert parcours.suivi.lieux_successifs == 2


def test_a_change_of_lieu_needs_a_current_accueil(parcours: Parcours) -> None:
    decide_mesure(parcours, JOUR)
    assert_refused(parcours, "aucun_accueil", lambda: move(parcours, lieu()))


def test_a_change_of_lieu_needs_a_different_lieu(parcours: Parcours) -> None:
    _, ou = place(parcours, JOUR)
    assert_refused(parcours, "meme_lieu", lambda: move(parcours, ou))


def test_a_change_to_a_closed_lieu_is_refused(parcours: Parcours) -> None:
    place(parcours, JOUR)
    assert_refused(parcours, "lieu_ferme", lambda: move(parcours, lieu(ferme=True)))


# -- end of accueil --------------------------------------------------------------


def test_ending_an_accueil_needs_a_current_one(parcours: Parcours) -> None:
    decide_mesure(parcours, JOUR)
    assert_refused(
        parcours,
        "aucun_accueil",
        lambda: parcours.terminer_accueil(ctx_on(JOUR), motif=MotifFinAccueil.AUTRE, date_effet=JOUR),
    )


def test_ending_an_accueil_records_its_motif_and_leaves_the_mesure_active(parcours: Parcours) -> None:
    mesure_id, _ = place(parcours, JOUR)
    depuis = len(parcours.pending_events)
    parcours.terminer_accueil(ctx_on(PLUS_TARD), motif=MotifFinAccueil.RETOUR_EN_FAMILLE, date_effet=PLUS_TARD)
    (fin,) = recorded_since(parcours, depuis)
    assert isinstance(fin, ev.AccueilTermine)
    assert fin.motif is MotifFinAccueil.RETOUR_EN_FAMILLE
    assert parcours.accueil is None
    assert parcours.mesures[mesure_id].active


# -- fugues ----------------------------------------------------------------------


def test_a_fugue_needs_a_current_accueil(parcours: Parcours) -> None:
    decide_mesure(parcours, JOUR)
    assert_refused(parcours, "aucun_accueil", lambda: parcours.declarer_fugue(ctx_on(JOUR), date_effet=JOUR))


def test_a_fugue_and_the_return_are_recorded(parcours: Parcours) -> None:
    place(parcours, JOUR)
    depuis = len(parcours.pending_events)
    parcours.declarer_fugue(ctx_on(JOUR), date_effet=JOUR)
    assert parcours.accueil is not None
    assert parcours.accueil.fugue_depuis == JOUR
    parcours.terminer_fugue(ctx_on(PLUS_TARD), date_effet=PLUS_TARD)
    assert names(recorded_since(parcours, depuis)) == ["FugueDeclaree", "FugueTerminee"]
    assert parcours.accueil.fugue_depuis is None


def test_a_second_fugue_while_one_is_open_is_refused(parcours: Parcours) -> None:
    place(parcours, JOUR)
    parcours.declarer_fugue(ctx_on(JOUR), date_effet=JOUR)
    assert_refused(
        parcours, "fugue_deja_en_cours", lambda: parcours.declarer_fugue(ctx_on(PLUS_TARD), date_effet=PLUS_TARD)
    )


def test_ending_a_fugue_needs_an_open_one(parcours: Parcours) -> None:
    assert_refused(parcours, "aucune_fugue", lambda: parcours.terminer_fugue(ctx_on(JOUR), date_effet=JOUR))
    place(parcours, JOUR)
    assert_refused(parcours, "aucune_fugue", lambda: parcours.terminer_fugue(ctx_on(JOUR), date_effet=JOUR))


def test_ending_an_accueil_closes_an_open_fugue_in_the_same_commit(parcours: Parcours) -> None:
    place(parcours, JOUR)
    parcours.declarer_fugue(ctx_on(JOUR), date_effet=JOUR)
    depuis = len(parcours.pending_events)
    parcours.terminer_accueil(ctx_on(PLUS_TARD), motif=MotifFinAccueil.AUTRE, date_effet=PLUS_TARD)
    commit = recorded_since(parcours, depuis)
    assert names(commit) == ["FugueTerminee", "AccueilTermine"]
    assert {e.date_effet for e in commit} == {PLUS_TARD}
    assert parcours.accueil is None
