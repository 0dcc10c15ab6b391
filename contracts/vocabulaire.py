"""The enumerations of API.md: the words other systems read in every payload.

The law's rule constants (droit/regles.py) are built on these.
"""

from __future__ import annotations

import re
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
    HEBERGEMENT_DEROGATOIRE = "hebergement_derogatoire"


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
