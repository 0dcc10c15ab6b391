"""Calendar arithmetic of the law: birthdays, ages, spans in months and years.

Python's dates run from 1 January of year 1 to 31 December 9999. A date the
arithmetic would take beyond them is clamped to that bound rather than raised:
these functions are pure rules that every service calls on recorded (and
corrected) facts, and a fact at the edge of the calendar, however absurd, must
give a deadline, not stop whoever computes it. A clamped deadline is the first
or last representable day, as far off as the law's one: in practice never.
"""

from __future__ import annotations

import calendar
from datetime import MAXYEAR, MINYEAR, date

_ANS_PAR_CYCLE = 400
_JOURS_PAR_CYCLE = 146_097
"""The Gregorian calendar repeats itself every 400 years, which are exactly this many days."""


def ajouter(jour: date, *, annees: int = 0, mois: int = 0, jours: int = 0) -> date:
    """``jour`` moved by whole years, months then days.

    A day that does not exist in the target month (31st, 29 February) falls on
    the month's last day, as civil law counts ages and deadlines. A result
    before 1 January 1 is that day, one after 31 December 9999 is that day (the
    exact result is computed first, so only what truly falls outside is clamped).
    """
    total = jour.year * 12 + (jour.month - 1) + annees * 12 + mois
    annee, mois_index = divmod(total, 12)
    # Outside years 1-9999, compute in a year whole 400-year cycles away (same leap years), then shift back.
    cycles = 0
    if annee < MINYEAR:
        cycles = -((MINYEAR - annee + _ANS_PAR_CYCLE - 1) // _ANS_PAR_CYCLE)
    elif annee > MAXYEAR:
        cycles = (annee - MAXYEAR + _ANS_PAR_CYCLE - 1) // _ANS_PAR_CYCLE
    annee -= cycles * _ANS_PAR_CYCLE
    dernier = calendar.monthrange(annee, mois_index + 1)[1]
    ordinal = date(annee, mois_index + 1, min(jour.day, dernier)).toordinal() + cycles * _JOURS_PAR_CYCLE + jours
    return date.fromordinal(min(max(ordinal, date.min.toordinal()), date.max.toordinal()))


def anniversaire(date_naissance: date, age: int) -> date:
    """The day a person born on ``date_naissance`` reaches ``age`` years (clamped as :func:`ajouter`)."""
    return ajouter(date_naissance, annees=age)


def age_le(date_naissance: date, jour: date) -> int:
    """Age in whole years on ``jour``."""
    age = jour.year - date_naissance.year
    if jour < anniversaire(date_naissance, age):
        age -= 1
    return age
