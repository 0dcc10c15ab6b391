"""Calendar arithmetic of the law: birthdays, ages, months that are too short."""

from __future__ import annotations

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
