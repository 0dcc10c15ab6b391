"""Calendar arithmetic of the law: birthdays, ages, spans in months and years."""

from __future__ import annotations

import calendar
from datetime import date, timedelta


def ajouter(jour: date, *, annees: int = 0, mois: int = 0, jours: int = 0) -> date:
    """``jour`` moved by whole years, months then days.

    A day that does not exist in the target month (31st, 29 February) falls on
    the month's last day, as civil law counts ages and deadlines.
    """
    total = jour.year * 12 + (jour.month - 1) + annees * 12 + mois
    annee, mois_index = divmod(total, 12)
    dernier = calendar.monthrange(annee, mois_index + 1)[1]
    return date(annee, mois_index + 1, min(jour.day, dernier)) + timedelta(days=jours)


def anniversaire(date_naissance: date, age: int) -> date:
    """The day a person born on ``date_naissance`` reaches ``age`` years."""
    return ajouter(date_naissance, annees=age)


def age_le(date_naissance: date, jour: date) -> int:
    """Age in whole years on ``jour``."""
    age = jour.year - date_naissance.year
    if jour < anniversaire(date_naissance, age):
        age -= 1
    return age
