"""The enumerations of the domain, with exactly the values of API.md."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Final

from pydantic import AfterValidator

from contracts.vocabulaire import (  # the domain speaks the contract's words
    Autorite,
    Cadre,
    Danger,
    MotifChangementLieu,
    MotifFinAccueil,
    MotifFinAPJM,
    MotifLevee,
    MotifSortie,
    Nature,
    OrigineIP,
    Role,
    Sexe,
    SituationLogement,
    SuiteEvaluation,
    TypeLieu,
)

__all__ = [
    "DUREES_MAXIMALES",
    "INTERDICTION_HOTEL",
    "NATURES_PAR_CADRE",
    "NATURES_PERMETTANT_ACCUEIL",
    "Autorite",
    "Cadre",
    "Danger",
    "Departement",
    "Finess",
    "MotifChangementLieu",
    "MotifFinAPJM",
    "MotifFinAccueil",
    "MotifLevee",
    "MotifSortie",
    "Nature",
    "OrigineIP",
    "Role",
    "Sexe",
    "SituationLogement",
    "SuiteEvaluation",
    "TypeLieu",
    "est_departement",
]


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

# Longest span between the start of a measure (or of its renewed period) and its
# échéance, as (years, months, days). Natures absent here have no legal limit.
DUREES_MAXIMALES: Final[dict[Nature, tuple[int, int, int]]] = {
    Nature.CONFIAGE_ASE: (2, 0, 0),
    Nature.AEMO: (2, 0, 0),
    Nature.TIERS_DIGNE_DE_CONFIANCE: (2, 0, 0),
    Nature.AEMO_RENFORCEE: (1, 0, 0),
    Nature.ACCUEIL_72H: (0, 0, 3),
}


# Hotels are forbidden for children in care since this date (loi Taquet), except
# for 16-21 year olds and for two months at most.
INTERDICTION_HOTEL: Final[date] = date(2024, 2, 1)

_DEPARTEMENTS: Final[frozenset[str]] = frozenset(
    {f"{n:02d}" for n in range(1, 96) if n != 20} | {"2A", "2B"} | {str(n) for n in range(971, 977)}
)


def _departement_valide(code: str) -> str:
    if code not in _DEPARTEMENTS:
        raise ValueError("code INSEE de département attendu: 01 à 95 (sans 20), 2A, 2B, 971 à 976")
    return code


Departement = Annotated[str, AfterValidator(_departement_valide)]
"""An INSEE département code, validated wherever pydantic reads one."""


def est_departement(code: str) -> bool:
    """Whether ``code`` is an INSEE département code of API.md."""
    return code in _DEPARTEMENTS


_FINESS = re.compile(r"^(?:\d{9}|2[AB]\d{7})$")


def _finess_valide(numero: str) -> str:
    if not _FINESS.match(numero):
        raise ValueError("numéro FINESS attendu: 9 caractères (chiffres, ou 2A/2B puis 7 chiffres)")
    return numero


Finess = Annotated[str, AfterValidator(_finess_valide)]
