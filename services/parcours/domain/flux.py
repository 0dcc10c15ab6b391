"""What every stream of the domain shares: event metadata and dates of effect."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar, TypeVar
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from services.parcours.domain.contexte import Contexte, Metadonnees
from services.runtime.errors import RegleMetierError

F = TypeVar("F", bound="Flux")


class Evenement(Aggregate.Event):
    """An event of any stream: its date of effect and who recorded it, when."""

    class_version: ClassVar[int] = 1
    metadonnees: Metadonnees
    date_effet: date

    def apply(self, aggregate: Any) -> None:
        if date_effet_plus_recente(aggregate, self.date_effet):
            aggregate.derniere_date_effet = self.date_effet
        self.appliquer(aggregate)

    def appliquer(self, flux: Any) -> None:
        """Evolve the stream's state; events that change nothing keep this."""


class Creation(Aggregate.Created, Evenement):
    """The first event of a stream."""


class Flux(Aggregate):
    """An event-sourced stream whose events carry a date of effect.

    A date of effect records what happened: never in the future, and never
    before the stream's latest one (the past is corrected with a rectification,
    not by writing behind it).
    """

    derniere_date_effet: date

    def __init__(self) -> None:
        # State is built by each event's apply(); nothing to take from the
        # creation event's arguments here.
        pass

    @classmethod
    def _ouvrir(
        cls: type[F],
        evenement: type[Creation],
        ctx: Contexte,
        date_effet: date,
        **donnees: Any,
    ) -> F:
        _verifier_pas_dans_le_futur(date_effet, ctx)
        return cls._create(
            evenement,
            id=cls.nouvel_id(),
            timestamp=ctx.maintenant,
            metadonnees=ctx.metadonnees(donnees.get("departement")),
            date_effet=date_effet,
            **donnees,
        )

    @staticmethod
    def nouvel_id() -> UUID:
        return uuid4()

    def _enregistrer(
        self,
        evenement: type[Evenement],
        ctx: Contexte,
        date_effet: date,
        *,
        retroactif: bool = False,
        **donnees: Any,
    ) -> None:
        """Record ``evenement``; ``retroactif`` events (majority) may predate the latest."""
        _verifier_pas_dans_le_futur(date_effet, ctx)
        if not retroactif:
            self._check_date_effet_apres_la_derniere(date_effet)
        self.trigger_event(
            evenement,
            timestamp=ctx.maintenant,
            metadonnees=ctx.metadonnees(getattr(self, "departement", None)),
            date_effet=date_effet,
            **donnees,
        )

    def _check_date_effet_apres_la_derniere(self, date_effet: date) -> None:
        if date_effet < self.derniere_date_effet:
            raise RegleMetierError(
                "date_effet_anterieure",
                f"la date d'effet {date_effet.isoformat()} précède la dernière date d'effet "
                f"du dossier ({self.derniere_date_effet.isoformat()}); "
                "le passé se corrige par une rectification",
            )


def _verifier_pas_dans_le_futur(date_effet: date, ctx: Contexte) -> None:
    if date_effet > ctx.aujourd_hui:
        raise RegleMetierError(
            "date_effet_future",
            f"la date d'effet {date_effet.isoformat()} est dans le futur: un événement enregistre ce qui s'est passé",
        )


def date_effet_plus_recente(flux: Flux, date_effet: date) -> bool:
    """Whether ``date_effet`` is later than the latest the stream has seen."""
    courante: date | None = getattr(flux, "derniere_date_effet", None)
    return courante is None or date_effet > courante
