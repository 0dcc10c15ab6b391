"""The LieuAccueil aggregate: a place of care and its capacity.

Over-occupation is a fact of the field: a placement into a full lieu is
recorded, never refused; the read side flags it.
"""

from __future__ import annotations

from datetime import date

from services.parcours.domain.contexte import Contexte
from services.parcours.domain.flux import Creation, Evenement, Flux
from services.parcours.domain.vocabulaire import TypeLieu, est_departement
from services.runtime.errors import RegleMetierError


class LieuAccueilReference(Creation):
    nom: str
    type: TypeLieu
    departement: str
    capacite: int
    finess: str | None

    def appliquer(self, lieu: LieuAccueil) -> None:
        lieu.nom = self.nom
        lieu.type = self.type
        lieu.departement = self.departement
        lieu.capacite = self.capacite
        lieu.finess = self.finess
        lieu.ferme_le = None


class CapaciteModifiee(Evenement):
    capacite: int

    def appliquer(self, lieu: LieuAccueil) -> None:
        lieu.capacite = self.capacite


class LieuAccueilFerme(Evenement):
    def appliquer(self, lieu: LieuAccueil) -> None:
        lieu.ferme_le = self.date_effet


EVENEMENTS_LIEU: tuple[type[Evenement], ...] = (
    LieuAccueilReference,
    CapaciteModifiee,
    LieuAccueilFerme,
)


class LieuAccueil(Flux):
    nom: str
    type: TypeLieu
    departement: str
    capacite: int
    finess: str | None
    ferme_le: date | None

    def __init__(self) -> None:
        """State is built by the creation event's apply()."""

    @classmethod
    def referencer(
        cls,
        ctx: Contexte,
        *,
        nom: str,
        type: TypeLieu,
        departement: str,
        capacite: int,
        finess: str | None = None,
    ) -> LieuAccueil:
        if not est_departement(departement):
            raise RegleMetierError("departement_inconnu", f"{departement!r} n'est pas un code de département")
        _check_capacite(capacite)
        return cls._ouvrir(
            LieuAccueilReference,
            ctx,
            ctx.aujourd_hui,
            nom=nom,
            type=type,
            departement=departement,
            capacite=capacite,
            finess=finess,
        )

    def modifier_capacite(self, ctx: Contexte, *, capacite: int, date_effet: date) -> None:
        self._check_ouvert()
        _check_capacite(capacite)
        if capacite == self.capacite:
            raise RegleMetierError("capacite_inchangee", "la capacité est déjà celle-ci")
        self._enregistrer(CapaciteModifiee, ctx, date_effet, capacite=capacite)

    def fermer(self, ctx: Contexte, *, date_effet: date) -> None:
        self._check_ouvert()
        self._enregistrer(LieuAccueilFerme, ctx, date_effet)

    @property
    def ferme(self) -> bool:
        return self.ferme_le is not None

    def _check_ouvert(self) -> None:
        if self.ferme_le is not None:
            raise RegleMetierError("lieu_ferme", "ce lieu d'accueil est fermé")


def _check_capacite(capacite: int) -> None:
    if capacite < 0:
        raise RegleMetierError("capacite_invalide", "une capacité est un nombre de places positif ou nul")
