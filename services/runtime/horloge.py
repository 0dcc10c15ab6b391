"""The one clock of every service: instants, and the French civil date they fall on.

Every "today" of the law (rules, ages, deadlines, years of statistics) is the
civil date in Europe/Paris (DOMAIN.md, "Today is the civil date in
Europe/Paris, everywhere"), taken from an injectable clock so tests can set it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

FUSEAU = ZoneInfo("Europe/Paris")
"""Dates of effect, ages and deadlines are French civil dates."""


class Horloge(Protocol):
    """The source of 'now', injected so tests can set 'today'."""

    def maintenant(self) -> datetime:
        """The current instant, timezone-aware."""
        ...


class HorlogeSysteme:
    """The machine's clock."""

    def maintenant(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class HorlogeFixe:
    """A clock that says what it is told (tests, replays)."""

    instant: datetime

    def maintenant(self) -> datetime:
        return self.instant

    def regler(self, instant: datetime) -> None:
        self.instant = instant


def date_civile(instant: datetime) -> date:
    """The civil date in France at ``instant`` (timezone-aware)."""
    return instant.astimezone(FUSEAU).date()


def aujourd_hui(horloge: Horloge) -> date:
    """Today's civil date in France by ``horloge``."""
    return date_civile(horloge.maintenant())
