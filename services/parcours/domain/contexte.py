"""Who records a command, when, and on behalf of which request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

FUSEAU = ZoneInfo("Europe/Paris")
"""Dates of effect are French civil dates."""


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


@dataclass(frozen=True)
class Metadonnees:
    """What the store records about each event besides its data."""

    auteur: str
    enregistre_le: datetime
    correlation_id: str
    causation_id: str
    departement: str | None = None
    """The stream's département when the event was recorded (routing, scoping); none for identities."""


@dataclass(frozen=True)
class Contexte:
    """One command's circumstances: its author, its time, its request ids."""

    auteur: str
    maintenant: datetime
    correlation_id: str
    causation_id: str

    @property
    def aujourd_hui(self) -> date:
        """Today's civil date in France."""
        return self.maintenant.astimezone(FUSEAU).date()

    def metadonnees(self, departement: str | None = None) -> Metadonnees:
        return Metadonnees(
            auteur=self.auteur,
            enregistre_le=self.maintenant,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
            departement=departement,
        )
