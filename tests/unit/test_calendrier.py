"""Calendar arithmetic of the law: birthdays, ages, months that are too short."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from droit.calendrier import age_le, ajouter, anniversaire


@pytest.mark.parametrize(
    ("depart", "decalage", "attendu"),
    [
        ((2023, 1, 31), {"mois": 1}, date(2023, 2, 28)),
        ((2024, 1, 31), {"mois": 1}, date(2024, 2, 29)),
        ((2024, 3, 31), {"mois": -1}, date(2024, 2, 29)),
        ((2024, 12, 31), {"mois": 2}, date(2025, 2, 28)),
        ((2024, 11, 15), {"mois": 3}, date(2025, 2, 15)),
        ((2024, 1, 15), {"annees": 2}, date(2026, 1, 15)),
        ((2024, 2, 29), {"annees": 1}, date(2025, 2, 28)),
        ((2024, 2, 29), {"annees": 4}, date(2028, 2, 29)),
        ((2024, 1, 30), {"jours": 3}, date(2024, 2, 2)),
        # years and months first, days after: 31 Jan + 1 month = 28 Feb, + 1 day = 1 Mar
        ((2023, 1, 31), {"mois": 1, "jours": 1}, date(2023, 3, 1)),
    ],
)
def test_adding_years_months_and_days_follows_civil_law(
    depart: tuple[int, int, int], decalage: dict[str, int], attendu: date
) -> None:
    assert ajouter(date(*depart), **decalage) == attendu


def test_a_birthday_on_29_february_falls_on_28_february_in_common_years() -> None:
    ne_le = date(2008, 2, 29)
    assert anniversaire(ne_le, 18) == date(2026, 2, 28)
    assert anniversaire(ne_le, 16) == date(2024, 2, 29)
    assert anniversaire(ne_le, 21) == date(2029, 2, 28)


def test_a_child_born_on_29_february_ages_on_28_february_in_common_years() -> None:
    ne_le = date(2008, 2, 29)
    assert age_le(ne_le, date(2026, 2, 27)) == 17
    assert age_le(ne_le, date(2026, 2, 28)) == 18
    assert age_le(ne_le, date(2024, 2, 28)) == 15
    assert age_le(ne_le, date(2024, 2, 29)) == 16


def test_the_age_changes_on_the_birthday_not_the_day_before() -> None:
    ne_le = date(2010, 3, 15)
    assert age_le(ne_le, date(2028, 3, 14)) == 17
    assert age_le(ne_le, date(2028, 3, 15)) == 18
    assert age_le(ne_le, ne_le) == 0


@given(
    ne_le=st.dates(min_value=date(1990, 1, 1), max_value=date(2030, 12, 31)),
    age=st.integers(min_value=1, max_value=30),
)
def test_one_is_age_n_from_the_nth_birthday_and_n_minus_1_the_day_before(ne_le: date, age: int) -> None:
    jour = anniversaire(ne_le, age)
    assert age_le(ne_le, jour) == age
    assert age_le(ne_le, jour - timedelta(days=1)) == age - 1


@given(
    jour=st.dates(min_value=date(1990, 1, 1), max_value=date(2060, 12, 31)),
    mois=st.integers(min_value=0, max_value=48),
)
def test_adding_months_never_overshoots_the_target_month(jour: date, mois: int) -> None:
    resultat = ajouter(jour, mois=mois)
    assert (resultat.year * 12 + resultat.month) - (jour.year * 12 + jour.month) == mois
    assert resultat.day <= jour.day


# -- the calendar's edges: clamped, never raised (droit.calendrier's docstring) --------------


@pytest.mark.parametrize(
    ("depart", "decalage", "attendu"),
    [
        (date(1, 1, 15), {"mois": -2}, date.min),
        (date(1, 1, 1), {"jours": -1}, date.min),
        (date(1, 3, 31), {"annees": -1}, date.min),
        (date(1, 5, 3), {"annees": -2011}, date.min),
        # the exact result first: 15 Dec of year 0, + 40 days, is inside the calendar
        (date(1, 2, 15), {"mois": -2, "jours": 40}, date(1, 1, 24)),
        (date(9999, 12, 15), {"mois": 1}, date.max),
        (date(9999, 12, 31), {"jours": 1}, date.max),
        (date(9990, 6, 1), {"annees": 18}, date.max),
        (date(9999, 12, 31), {"mois": 1, "jours": -40}, date(9999, 12, 22)),
        (date(9999, 11, 30), {"mois": 1}, date(9999, 12, 30)),
    ],
)
def test_a_date_beyond_the_calendar_s_bounds_is_clamped_to_them_not_raised(
    depart: date, decalage: dict[str, int], attendu: date
) -> None:
    assert ajouter(depart, **decalage) == attendu


def test_birthdays_and_ages_at_the_edges_of_the_calendar_do_not_raise() -> None:
    assert anniversaire(date(9990, 6, 1), 18) == date.max
    assert anniversaire(date(1, 1, 1), 18) == date(19, 1, 1)
    assert age_le(date(1, 1, 1), date(9999, 12, 31)) == 9998
    assert age_le(date(9999, 12, 31), date(1, 1, 1)) == -9999


def _ajouter_sans_bornes(jour: date, *, annees: int, mois: int, jours: int) -> date:
    """The civil rule without bounds: raises where the calendar ends (the reference inside it)."""
    annee, index = divmod(jour.year * 12 + jour.month - 1 + annees * 12 + mois, 12)
    return date(annee, index + 1, min(jour.day, calendar.monthrange(annee, index + 1)[1])) + timedelta(days=jours)


@given(
    jour=st.dates(),
    annees=st.integers(min_value=-12_000, max_value=12_000),
    mois=st.integers(min_value=-30, max_value=30),
    jours=st.integers(min_value=-4_000_000, max_value=4_000_000),
)
def test_adding_never_raises_and_follows_civil_law_wherever_the_calendar_reaches(
    jour: date, annees: int, mois: int, jours: int
) -> None:
    resultat = ajouter(jour, annees=annees, mois=mois, jours=jours)
    try:
        attendu = _ajouter_sans_bornes(jour, annees=annees, mois=mois, jours=jours)
    except (ValueError, OverflowError):
        return  # a step beyond the calendar: the exact result, clamped (cases above)
    assert resultat == attendu
