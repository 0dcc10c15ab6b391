"""Who records a command, when, and on behalf of which request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from services.runtime.horloge import date_civile


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
        return date_civile(self.maintenant)

    def metadonnees(self, departement: str | None = None) -> Metadonnees:
        return Metadonnees(
            auteur=self.auteur,
            enregistre_le=self.maintenant,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
            departement=departement,
        )
