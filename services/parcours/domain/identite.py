"""The Identite aggregate: a person's civil identity, kept apart from the parcours.

Names live only here. Other streams and systems know the person by
``personne_id``.
"""

from __future__ import annotations

from datetime import date

from services.parcours.domain.contexte import Contexte
from services.parcours.domain.flux import Creation, Evenement, Flux
from services.parcours.domain.vocabulaire import Sexe
from services.runtime.errors import RegleMetierError

DATE_NAISSANCE_EFFACEE = date(1, 1, 1)
"""What a birth date reads as once the person is erased (her data key destroyed): a marker, never a
real date (README, "Chiffrement et effacement"); the routes show it as null."""


class IdentiteEnregistree(Creation):
    nom: str
    prenoms: str
    date_naissance: date
    sexe: Sexe
    lieu_naissance: str | None

    def appliquer(self, identite: Identite) -> None:
        identite.nom = self.nom
        identite.prenoms = self.prenoms
        identite.date_naissance = self.date_naissance
        identite.sexe = self.sexe
        identite.lieu_naissance = self.lieu_naissance
        identite.effacee = False


class IdentiteRectifiee(Evenement):
    nom: str
    prenoms: str
    date_naissance: date
    sexe: Sexe
    lieu_naissance: str | None

    def appliquer(self, identite: Identite) -> None:
        IdentiteEnregistree.appliquer(self, identite)  # type: ignore[arg-type]


class IdentiteEffacee(Evenement):
    motif: str

    def appliquer(self, identite: Identite) -> None:
        identite.nom = ""
        identite.prenoms = ""
        identite.lieu_naissance = None
        identite.effacee = True


EVENEMENTS_IDENTITE: tuple[type[Evenement], ...] = (
    IdentiteEnregistree,
    IdentiteRectifiee,
    IdentiteEffacee,
)


class Identite(Flux):
    nom: str
    prenoms: str
    date_naissance: date
    sexe: Sexe
    lieu_naissance: str | None
    effacee: bool

    def __init__(self) -> None:
        """State is built by the creation event's apply()."""

    @classmethod
    def enregistrer(
        cls,
        ctx: Contexte,
        *,
        nom: str,
        prenoms: str,
        date_naissance: date,
        sexe: Sexe,
        date_effet: date,
        lieu_naissance: str | None = None,
    ) -> Identite:
        return cls._ouvrir(
            IdentiteEnregistree,
            ctx,
            date_effet,
            nom=nom,
            prenoms=prenoms,
            date_naissance=date_naissance,
            sexe=sexe,
            lieu_naissance=lieu_naissance,
        )

    def rectifier(
        self,
        ctx: Contexte,
        *,
        nom: str,
        prenoms: str,
        date_naissance: date,
        sexe: Sexe,
        lieu_naissance: str | None,
    ) -> None:
        self._check_non_effacee()
        self._enregistrer(
            IdentiteRectifiee,
            ctx,
            max(ctx.aujourd_hui, self.derniere_date_effet),
            nom=nom,
            prenoms=prenoms,
            date_naissance=date_naissance,
            sexe=sexe,
            lieu_naissance=lieu_naissance,
        )

    def effacer(self, ctx: Contexte, *, motif: str) -> None:
        self._check_non_effacee()
        self._enregistrer(IdentiteEffacee, ctx, max(ctx.aujourd_hui, self.derniere_date_effet), motif=motif)

    def _check_non_effacee(self) -> None:
        if self.effacee:
            raise RegleMetierError("identite_effacee", "cette identité est effacée")
