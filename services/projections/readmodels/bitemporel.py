"""The bi-temporal state of a parcours: what was true on a date, as known at a time.

Pure functions over the recorded events' public payloads (``contracts/evenements.py``):
no I/O, no clock. Two times decide what counts:

- *known at* ``connu_le``: only events recorded (``enregistre_le``) by then, and
  only the corrections (``SaisieRectifiee``) recorded by then, each applied to
  the event it targets before folding (the correction replaces the field value);
- *true on* ``date_effet``: only the (corrected) events whose date of effect is
  on or before that date. A correction carries the date of effect of the event
  it corrects and is no event of the fold: it changes what its target said,
  from the time it is recorded.

The fold is the read side's one fold (:mod:`etat_parcours`): the caseworker's
dossier shows the same facts as the state known now.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from droit.etat_parcours import (
    RECTIFICATION,
    Corriges,
    EtatParcours,
    Fait,
    corriger,
    corriges,
    replier,
)

__all__ = ["RECTIFICATION", "Connaissance", "EtatParcours", "Fait", "connaissance", "corriger", "etat_au"]

Connaissance = Corriges
"""What was known at a time: the events recorded by then, corrected by the corrections recorded by then."""


def connaissance(faits: Iterable[Fait], connu_le: datetime) -> Connaissance:
    """The events recorded by ``connu_le``, each with the corrections recorded by then applied in order."""
    return corriges(f for f in faits if f.enregistre_le <= connu_le)


def etat_au(faits: Iterable[Fait], date_effet: date, connu_le: datetime) -> EtatParcours:
    """The state on ``date_effet`` as known at ``connu_le``."""
    return replier(connaissance(faits, connu_le), jusqu_au=date_effet)
