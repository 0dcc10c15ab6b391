"""What every stream of the domain shares: event metadata, dates of effect, rules before recording."""

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
        historique: list[Evenement] | None = getattr(aggregate, "historique", None)
        if historique is not None:
            historique.append(self)
        if self.deplace_la_date_du_flux() and date_effet_plus_recente(aggregate, self.date_effet):
            aggregate.derniere_date_effet = self.date_effet
        self.appliquer(aggregate)

    def appliquer(self, flux: Any) -> None:
        """Evolve the stream's state; events that change nothing keep this."""

    def deplace_la_date_du_flux(self) -> bool:
        """Whether this event's date of effect can become the stream's latest (a correction's cannot)."""
        return True


class Creation(Aggregate.Created, Evenement):
    """The first event of a stream."""

    def apply(self, aggregate: Any) -> None:
        if type(aggregate).garde_historique:
            aggregate.historique = []
        super().apply(aggregate)


class Flux(Aggregate):
    """An event-sourced stream whose events carry a date of effect.

    A date of effect records what happened: never in the future, and never
    before the stream's latest one (the past is corrected with a rectification,
    not by writing behind it). Every event passes the stream's rules
    (:meth:`verifier`) before it is recorded.
    """

    derniere_date_effet: date
    historique: list[Evenement]
    garde_historique: ClassVar[bool] = False
    """Whether the stream keeps its events in memory (a parcours does, to replay its corrections;
    an identity does not, so that an erased name stays nowhere in its state)."""

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
        verifier_pas_dans_le_futur(date_effet, ctx.aujourd_hui)
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

    def _enregistrer(self, evenement: type[Evenement], ctx: Contexte, date_effet: date, **donnees: Any) -> Evenement:
        """Record ``evenement`` once it passes every rule of the stream; return it."""
        return self._inscrire(self._construire(evenement, ctx, date_effet, **donnees), ctx.aujourd_hui)

    def _construire(
        self, evenement: type[Evenement], ctx: Contexte, date_effet: date, *, rang: int = 0, **donnees: Any
    ) -> Evenement:
        """The event ``evenement`` as the ``rang``-th next one of the stream, not recorded yet."""
        return evenement(  # type: ignore[call-arg]  # the fields of Evenement's dataclass
            originator_id=self.id,
            originator_version=self.version + 1 + rang,
            timestamp=ctx.maintenant,
            metadonnees=ctx.metadonnees(getattr(self, "departement", None)),
            date_effet=date_effet,
            **donnees,
        )

    def _inscrire(self, candidat: Evenement, aujourd_hui: date) -> Evenement:
        """Record ``candidat`` (the next event of the stream) once it passes every rule."""
        self.verifier(candidat, aujourd_hui)
        candidat.mutate(self)
        self._pending_events.append(candidat)
        return candidat

    def verifier(self, evenement: Evenement, aujourd_hui: date) -> None:
        """Refuse ``evenement`` if recording it on ``aujourd_hui`` breaks a rule (dates here)."""
        verifier_pas_dans_le_futur(evenement.date_effet, aujourd_hui)
        if not self.hors_chronologie(evenement):
            self._check_date_effet_apres_la_derniere(evenement.date_effet)

    def hors_chronologie(self, evenement: Evenement) -> bool:
        """Events dated by the law rather than by their recording may predate the latest (majority)."""
        return not evenement.deplace_la_date_du_flux()

    def _check_date_effet_apres_la_derniere(self, date_effet: date) -> None:
        if date_effet < self.derniere_date_effet:
            raise RegleMetierError(
                "date_effet_anterieure",
                f"la date d'effet {date_effet.isoformat()} précède la dernière date d'effet "
                f"du dossier ({self.derniere_date_effet.isoformat()}); "
                "le passé se corrige par une rectification",
            )


def verifier_pas_dans_le_futur(date_effet: date, aujourd_hui: date) -> None:
    """A date of effect records what happened: never after the day it is recorded."""
    if date_effet > aujourd_hui:
        raise RegleMetierError(
            "date_effet_future",
            f"la date d'effet {date_effet.isoformat()} est dans le futur: un événement enregistre ce qui s'est passé",
        )


def date_effet_plus_recente(flux: Flux, date_effet: date) -> bool:
    """Whether ``date_effet`` is later than the latest the stream has seen."""
    courante: date | None = getattr(flux, "derniere_date_effet", None)
    return courante is None or date_effet > courante
