"""The enumerations of the domain, with exactly the values of API.md."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Final

from pydantic import AfterValidator


class Sexe(StrEnum):
    F = "F"
    M = "M"
    X = "X"


class TypeLieu(StrEnum):
    ASSISTANT_FAMILIAL = "assistant_familial"
    MECS = "mecs"
    FOYER_ENFANCE = "foyer_enfance"
    POUPONNIERE = "pouponniere"
    LIEU_DE_VIE = "lieu_de_vie"
    VILLAGE_ENFANTS = "village_enfants"
    TIERS_DIGNE_DE_CONFIANCE = "tiers_digne_de_confiance"
    PLACEMENT_DOMICILE = "placement_domicile"
    LOGEMENT_AUTONOME = "logement_autonome"
    HOTEL = "hotel"


class OrigineIP(StrEnum):
    EDUCATION_NATIONALE = "education_nationale"
    SANTE = "sante"
    POLICE_GENDARMERIE = "police_gendarmerie"
    SERVICE_SOCIAL = "service_social"
    FAMILLE = "famille"
    MINEUR = "mineur"
    APPEL_119 = "appel_119"
    ANONYME = "anonyme"
    AUTRE = "autre"


class Danger(StrEnum):
    VIOLENCES_PHYSIQUES = "violences_physiques"
    VIOLENCES_PSYCHOLOGIQUES = "violences_psychologiques"
    VIOLENCES_SEXUELLES = "violences_sexuelles"
    NEGLIGENCES = "negligences"
    CONDITIONS_EDUCATION = "conditions_education"
    AUTRE = "autre"


class SuiteEvaluation(StrEnum):
    CLASSEMENT = "classement"
    ACCOMPAGNEMENT_ADMINISTRATIF = "accompagnement_administratif"
    SAISINE_JUDICIAIRE = "saisine_judiciaire"


class Cadre(StrEnum):
    ADMINISTRATIF = "administratif"
    JUDICIAIRE = "judiciaire"


class Nature(StrEnum):
    # administratif
    ACCUEIL_PROVISOIRE = "accueil_provisoire"
    AED = "aed"
    ACCUEIL_URGENCE = "accueil_urgence"
    ACCUEIL_72H = "accueil_72h"
    # judiciaire
    OPP = "opp"
    CONFIAGE_ASE = "confiage_ase"
    AEMO = "aemo"
    AEMO_RENFORCEE = "aemo_renforcee"
    TIERS_DIGNE_DE_CONFIANCE = "tiers_digne_de_confiance"
    DAP = "dap"
    TUTELLE = "tutelle"


class Autorite(StrEnum):
    PRESIDENT_CD = "president_cd"
    JUGE_DES_ENFANTS = "juge_des_enfants"
    PARQUET = "parquet"
    JUGE_AUX_AFFAIRES_FAMILIALES = "juge_aux_affaires_familiales"
    JUGE_DES_TUTELLES = "juge_des_tutelles"


class MotifLevee(StrEnum):
    MAINLEVEE = "mainlevee"
    ECHEANCE = "echeance"
    MAJORITE = "majorite"
    AUTRE = "autre"


class MotifFinAccueil(StrEnum):
    RETOUR_EN_FAMILLE = "retour_en_famille"
    FIN_DE_MESURE = "fin_de_mesure"
    MAJORITE = "majorite"
    AUTRE = "autre"


class MotifChangementLieu(StrEnum):
    BESOIN_ENFANT = "besoin_enfant"
    RUPTURE = "rupture"
    FIN_AGREMENT = "fin_agrement"
    RAPPROCHEMENT_FAMILIAL = "rapprochement_familial"
    AUTRE = "autre"


class MotifSortie(StrEnum):
    MAJORITE_SANS_ACCOMPAGNEMENT = "majorite_sans_accompagnement"
    FIN_ACCOMPAGNEMENT_JEUNE_MAJEUR = "fin_accompagnement_jeune_majeur"
    RETOUR_EN_FAMILLE = "retour_en_famille"
    ADOPTION = "adoption"
    DEMENAGEMENT = "demenagement"
    DECES = "deces"
    AUTRE = "autre"


class SituationLogement(StrEnum):
    LOGEMENT_AUTONOME = "logement_autonome"
    LOGEMENT_SOCIAL = "logement_social"
    FAMILLE = "famille"
    FOYER_JEUNES_TRAVAILLEURS = "foyer_jeunes_travailleurs"
    HEBERGE_TIERS = "heberge_tiers"
    SANS_SOLUTION = "sans_solution"
    INCONNUE = "inconnue"


class MotifFinAPJM(StrEnum):
    TERME = "terme"
    DEMANDE_DU_JEUNE = "demande_du_jeune"
    RUPTURE = "rupture"
    AUTRE = "autre"


class Role(StrEnum):
    REFERENT = "referent"
    ENCADRANT = "encadrant"
    AUDITEUR = "auditeur"
    OBSERVATOIRE = "observatoire"
    SERVICE = "service"


NATURES_PAR_CADRE: Final[dict[Cadre, frozenset[Nature]]] = {
    Cadre.ADMINISTRATIF: frozenset(
        {Nature.ACCUEIL_PROVISOIRE, Nature.AED, Nature.ACCUEIL_URGENCE, Nature.ACCUEIL_72H}
    ),
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

# The limits above bind judicial measures; accueil_72h is administrative by nature.
NATURES_A_DUREE_LIMITEE_HORS_CADRE_JUDICIAIRE: Final[frozenset[Nature]] = frozenset(
    {Nature.ACCUEIL_72H}
)

# Hotels are forbidden for children in care since this date (loi Taquet), except
# for 16-21 year olds and for two months at most.
INTERDICTION_HOTEL: Final[date] = date(2024, 2, 1)

_DEPARTEMENTS: Final[frozenset[str]] = frozenset(
    {f"{n:02d}" for n in range(1, 96) if n != 20}
    | {"2A", "2B"}
    | {str(n) for n in range(971, 977)}
)


def _departement_valide(code: str) -> str:
    if code not in _DEPARTEMENTS:
        raise ValueError(
            "code INSEE de département attendu: 01 à 95 (sans 20), 2A, 2B, 971 à 976"
        )
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
