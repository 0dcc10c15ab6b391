"""Builders for domain unit tests: contexts on a given day, parcours, mesures, lieux.

Dates of effect are stated by the caseworker and "today" is whatever the test
says, so every builder takes the day explicitly.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from uuid import UUID, uuid4

import pytest

from droit.calendrier import ajouter
from droit.regles import ECHEANCE_REQUISE
from services.parcours.domain.contexte import Contexte
from services.parcours.domain.flux import Flux
from services.parcours.domain.parcours import LieuPropose, Parcours
from services.parcours.domain.vocabulaire import (
    DUREES_MAXIMALES,
    Autorite,
    Cadre,
    Nature,
    Sexe,
    TypeLieu,
)
from services.runtime.errors import RegleMetierError
from services.runtime.horloge import FUSEAU

NE_LE = date(2010, 3, 15)
"""Default birth date: 12 at the default opening, 16 on 2026-03-15, 18 on 2028-03-15."""

OUVERT_LE = date(2023, 1, 10)
DEPARTEMENT = "59"

CADRE_DE: dict[Nature, Cadre] = {
    Nature.ACCUEIL_PROVISOIRE: Cadre.ADMINISTRATIF,
    Nature.AED: Cadre.ADMINISTRATIF,
    Nature.ACCUEIL_URGENCE: Cadre.ADMINISTRATIF,
    Nature.ACCUEIL_72H: Cadre.ADMINISTRATIF,
    Nature.OPP: Cadre.JUDICIAIRE,
    Nature.CONFIAGE_ASE: Cadre.JUDICIAIRE,
    Nature.AEMO: Cadre.JUDICIAIRE,
    Nature.AEMO_RENFORCEE: Cadre.JUDICIAIRE,
    Nature.TIERS_DIGNE_DE_CONFIANCE: Cadre.JUDICIAIRE,
    Nature.DAP: Cadre.JUDICIAIRE,
    Nature.TUTELLE: Cadre.JUDICIAIRE,
}

AUTORITE_DE: dict[Nature, Autorite] = {
    Nature.ACCUEIL_PROVISOIRE: Autorite.PRESIDENT_CD,
    Nature.AED: Autorite.PRESIDENT_CD,
    Nature.ACCUEIL_URGENCE: Autorite.PRESIDENT_CD,
    Nature.ACCUEIL_72H: Autorite.PRESIDENT_CD,
    Nature.OPP: Autorite.PARQUET,
    Nature.CONFIAGE_ASE: Autorite.JUGE_DES_ENFANTS,
    Nature.AEMO: Autorite.JUGE_DES_ENFANTS,
    Nature.AEMO_RENFORCEE: Autorite.JUGE_DES_ENFANTS,
    Nature.TIERS_DIGNE_DE_CONFIANCE: Autorite.JUGE_DES_ENFANTS,
    Nature.DAP: Autorite.JUGE_AUX_AFFAIRES_FAMILIALES,
    Nature.TUTELLE: Autorite.JUGE_DES_TUTELLES,
}


def ctx_on(jour: date, *, auteur: str = "referent-test") -> Contexte:
    """A command's context at noon, Paris time, on ``jour``."""
    return Contexte(
        auteur=auteur,
        maintenant=datetime.combine(jour, time(12), tzinfo=FUSEAU),
        correlation_id=f"corr-{jour.isoformat()}",
        causation_id=f"caus-{jour.isoformat()}",
    )


@dataclass
class Clock:
    """A mutable 'today' for stories: each command gets a context on the current day."""

    today: date
    auteur: str = "referent-test"

    def ctx(self) -> Contexte:
        return ctx_on(self.today, auteur=self.auteur)

    def advance(self, *, annees: int = 0, mois: int = 0, jours: int = 0) -> date:
        self.today = ajouter(self.today, annees=annees, mois=mois, jours=jours)
        return self.today

    def set(self, jour: date) -> date:
        assert jour >= self.today, "a story's clock only moves forward"
        self.today = jour
        return self.today


def open_parcours(
    jour: date = OUVERT_LE,
    *,
    date_naissance: date = NE_LE,
    departement: str = DEPARTEMENT,
    sexe: Sexe = Sexe.F,
    referent_id: str | None = "referent-1",
) -> Parcours:
    """A parcours opened on ``jour`` (also 'today')."""
    return Parcours.ouvrir(
        ctx_on(jour),
        personne_id=uuid4(),
        date_naissance=date_naissance,
        sexe=sexe,
        departement=departement,
        date_effet=jour,
        referent_id=referent_id,
    )


def echeance_maximale(nature: Nature, debut: date) -> date | None:
    """The furthest legal échéance of ``nature`` from ``debut``; 2 years when one is required
    without a cap (``tiers_digne_de_confiance``); None when none is required."""
    limite = DUREES_MAXIMALES.get(nature)
    if limite is None:
        return ajouter(debut, annees=2) if nature in ECHEANCE_REQUISE else None
    annees, mois, jours = limite
    return ajouter(debut, annees=annees, mois=mois, jours=jours)


_PAR_DEFAUT: Any = object()


def decide_mesure(
    p: Parcours,
    jour: date,
    nature: Nature = Nature.CONFIAGE_ASE,
    *,
    date_debut: date | None = None,
    date_echeance: date | None = _PAR_DEFAUT,
    autorite: Autorite | None = None,
    cadre: Cadre | None = None,
    reference_decision: str = "JE-2023-001",
) -> UUID:
    """A mesure decided on ``jour``; the échéance defaults to the longest legal one."""
    debut = date_debut or jour
    return p.decider_mesure(
        ctx_on(jour),
        cadre=cadre or CADRE_DE[nature],
        nature=nature,
        autorite=autorite or AUTORITE_DE[nature],
        reference_decision=reference_decision,
        date_debut=debut,
        date_echeance=echeance_maximale(nature, debut) if date_echeance is _PAR_DEFAUT else date_echeance,
        date_effet=jour,
    )


def lieu(type_lieu: TypeLieu = TypeLieu.MECS, *, ferme: bool = False) -> LieuPropose:
    """A lieu d'accueil as a parcours sees it, with a fresh id."""
    return LieuPropose(lieu_id=uuid4(), type_lieu=type_lieu, ferme=ferme)


def place(
    p: Parcours,
    jour: date,
    nature: Nature = Nature.CONFIAGE_ASE,
    type_lieu: TypeLieu = TypeLieu.MECS,
) -> tuple[UUID, LieuPropose]:
    """A mesure decided and an accueil started under it on ``jour``."""
    mesure_id = decide_mesure(p, jour, nature)
    ou = lieu(type_lieu)
    p.debuter_accueil(ctx_on(jour), mesure_id=mesure_id, lieu=ou, date_effet=jour)
    return mesure_id, ou


def names(evenements: Sequence[object]) -> list[str]:
    return [type(e).__name__ for e in evenements]


def recorded_since(flux: Flux, depuis: int) -> list[Any]:
    """The events recorded (still pending) after the first ``depuis`` ones."""
    return list(flux.pending_events[depuis:])


def state_of(flux: Flux, *, copie: bool = True) -> dict[str, Any]:
    """The aggregate's state without its pending events; a deep copy unless ``copie`` is false."""
    return {k: copy.deepcopy(v) if copie else v for k, v in flux.__dict__.items() if k != "_pending_events"}


def assert_refused(flux: Flux, regle: str, commande: Callable[[], object]) -> RegleMetierError:
    """``commande`` is refused for ``regle`` and leaves the stream exactly as it was."""
    version = flux.version
    en_attente = len(flux.pending_events)
    avant = state_of(flux)
    with pytest.raises(RegleMetierError) as refus:
        commande()
    assert refus.value.regle == regle, refus.value.message
    assert flux.version == version
    assert len(flux.pending_events) == en_attente
    assert state_of(flux) == avant
    return refus.value
