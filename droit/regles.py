"""The rule constants of the law: which measure fits which frame, how long it may last.

Sources: code de l'action sociale et des familles (CASF) and code civil (C. civ.),
as DOMAIN.md's rows name them. Pure data, shared by every service.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Final, TypeVar

from contracts.vocabulaire import Cadre, Nature, TypeLieu
from droit.calendrier import ajouter

T = TypeVar("T")

NATURES_PAR_CADRE: Final[dict[Cadre, frozenset[Nature]]] = {
    Cadre.ADMINISTRATIF: frozenset({Nature.ACCUEIL_PROVISOIRE, Nature.AED, Nature.ACCUEIL_URGENCE, Nature.ACCUEIL_72H}),
    Cadre.JUDICIAIRE: frozenset(
        {
            Nature.OPP,
            Nature.CONFIAGE_ASE,
            Nature.AEMO,
            Nature.AEMO_RENFORCEE,
            Nature.TIERS_DIGNE_DE_CONFIANCE,
            Nature.DAP,
            Nature.TUTELLE,
        }
    ),
}

NATURES_PERMETTANT_ACCUEIL: Final[frozenset[Nature]] = frozenset(
    {
        Nature.ACCUEIL_PROVISOIRE,
        Nature.ACCUEIL_URGENCE,
        Nature.ACCUEIL_72H,
        Nature.OPP,
        Nature.CONFIAGE_ASE,
        Nature.TIERS_DIGNE_DE_CONFIANCE,
        Nature.DAP,
        Nature.TUTELLE,
    }
)

DUREES_MAXIMALES: Final[dict[Nature, tuple[int, int, int]]] = {
    Nature.ACCUEIL_PROVISOIRE: (1, 0, 0),
    Nature.AED: (1, 0, 0),
    Nature.ACCUEIL_URGENCE: (1, 0, 0),
    Nature.ACCUEIL_72H: (0, 0, 3),
    Nature.CONFIAGE_ASE: (2, 0, 0),
    Nature.AEMO: (2, 0, 0),
    Nature.AEMO_RENFORCEE: (1, 0, 0),
}
"""Longest span between a measure's start (or its renewed period's) and its échéance, as (years, months, days).

Every administrative measure: 1 year (CASF L223-5 al. 1); ``accueil_72h``: 3 days
(L223-2 al. 5); judicial educational measures exercised by a service,
``confiage_ase`` and ``aemo``: 2 years (C. civ. 375 al. 3), ``aemo_renforcee``:
1 year. Natures absent here have no cap.
"""

ECHEANCE_REQUISE: Final[frozenset[Nature]] = frozenset(
    {*NATURES_PAR_CADRE[Cadre.ADMINISTRATIF], Nature.CONFIAGE_ASE, Nature.AEMO, Nature.AEMO_RENFORCEE}
    | {Nature.TIERS_DIGNE_DE_CONFIANCE}
)
"""Natures whose decision states an échéance: every capped one, and ``tiers_digne_de_confiance``
(required, uncapped: C. civ. 375 al. 3 caps only measures exercised by a service or an institution)."""

NATURES_DUREE_DEROGATOIRE: Final[frozenset[Nature]] = frozenset({Nature.CONFIAGE_ASE})
"""Measures that may exceed their cap when the decision rests on C. civ. 375 al. 4
(chronic parental difficulties): ``duree_derogatoire: true``."""

NATURES_NON_RENOUVELABLES: Final[frozenset[Nature]] = frozenset({Nature.ACCUEIL_72H})
"""After 72 hours the child goes home, or an admission or a judge's seizure follows (CASF L223-2 al. 5)."""

INTERDICTION_HOTEL: Final[date] = date(2024, 2, 1)
"""From this day no accueil is in a hotel, whatever the age (CASF L221-2-3, loi du 7 février 2022)."""

DUREE_HEBERGEMENT_EXCEPTIONNEL: Final[tuple[int, int, int]] = (0, 2, 0)
"""A ``hebergement_derogatoire`` stay (décret 2024-119), or a hotel stay recorded before the ban: 2 months at most."""

AGES_HEBERGEMENT_DEROGATOIRE: Final[tuple[int, int]] = (16, 21)
"""``hebergement_derogatoire`` (youth accommodation under L227-4 / L321-1): from 16 to 21 years old (L221-2-3)."""

LIEUX_LIMITES: Final[frozenset[TypeLieu]] = frozenset({TypeLieu.HOTEL, TypeLieu.HEBERGEMENT_DEROGATOIRE})


def limite_hebergement(type_lieu: TypeLieu | str, debut: date) -> date | None:
    """The day a stay begun on ``debut`` in ``type_lieu`` must end by, or None when the lieu has no limit.

    ``hebergement_derogatoire`` and a hotel (recorded before 1 Feb 2024): 2 months
    (CASF L221-2-3, décret 2024-119).
    """
    if TypeLieu(type_lieu) not in LIEUX_LIMITES:
        return None
    annees, mois, jours = DUREE_HEBERGEMENT_EXCEPTIONNEL
    return ajouter(debut, annees=annees, mois=mois, jours=jours)


def mesure_portant_accueil(mesures_actives: Iterable[tuple[T, Nature | str]]) -> T | None:
    """The measure that carries an accueil once the one carrying it is lifted.

    ``mesures_actives``: the still-active measures as (id, nature), in the order
    they were decided; the first whose nature allows an accueil carries it
    (DOMAIN.md, MesureLevee: "an accueil continues while at least one active
    measure allows it"). None when no measure allows it.
    """
    return next((ident for ident, nature in mesures_actives if Nature(nature) in NATURES_PERMETTANT_ACCUEIL), None)
