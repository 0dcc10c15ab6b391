"""The rule constants of the law: which measure fits which frame, how long it may last.

Sources: code de l'action sociale et des familles (CASF) and code civil (C. civ.),
as DOMAIN.md's rows name them. Pure data, shared by every service.
"""

from __future__ import annotations

from datetime import date
from typing import Final

from contracts.vocabulaire import Cadre, Nature

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
