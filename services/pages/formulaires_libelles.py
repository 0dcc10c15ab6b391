"""The French labels of the enumerations of API.md, as a caseworker reads them in a form's lists.

Each table maps a value the API takes to its label; the value is what the form sends.
"""

from __future__ import annotations

import re
from typing import Final

from contracts.vocabulaire import (
    Autorite,
    Cadre,
    Danger,
    MotifChangementLieu,
    MotifFinAccueil,
    MotifLevee,
    MotifSortie,
    Nature,
    OrigineIP,
    SituationLogement,
    SuiteEvaluation,
    TypeLieu,
)

TYPES_LIEU: Final[dict[str, str]] = {
    TypeLieu.ASSISTANT_FAMILIAL: "Assistant familial",
    TypeLieu.MECS: "Maison d'enfants à caractère social (MECS)",
    TypeLieu.FOYER_ENFANCE: "Foyer de l'enfance",
    TypeLieu.POUPONNIERE: "Pouponnière",
    TypeLieu.LIEU_DE_VIE: "Lieu de vie et d'accueil",
    TypeLieu.VILLAGE_ENFANTS: "Village d'enfants",
    TypeLieu.TIERS_DIGNE_DE_CONFIANCE: "Tiers digne de confiance",
    TypeLieu.PLACEMENT_DOMICILE: "Placement à domicile",
    TypeLieu.LOGEMENT_AUTONOME: "Logement autonome",
    TypeLieu.HOTEL: "Hôtel",
    TypeLieu.HEBERGEMENT_DEROGATOIRE: "Hébergement dérogatoire (16 à 21 ans)",
}

ORIGINES_IP: Final[dict[str, str]] = {
    OrigineIP.EDUCATION_NATIONALE: "Éducation nationale",
    OrigineIP.SANTE: "Santé",
    OrigineIP.POLICE_GENDARMERIE: "Police ou gendarmerie",
    OrigineIP.SERVICE_SOCIAL: "Service social",
    OrigineIP.FAMILLE: "Famille",
    OrigineIP.MINEUR: "Le mineur lui-même",
    OrigineIP.APPEL_119: "Appel au 119",
    OrigineIP.ANONYME: "Anonyme",
    OrigineIP.AUTRE: "Autre",
}

DANGERS: Final[dict[str, str]] = {
    Danger.VIOLENCES_PHYSIQUES: "Violences physiques",
    Danger.VIOLENCES_PSYCHOLOGIQUES: "Violences psychologiques",
    Danger.VIOLENCES_SEXUELLES: "Violences sexuelles",
    Danger.NEGLIGENCES: "Négligences",
    Danger.CONDITIONS_EDUCATION: "Conditions d'éducation compromises",
    Danger.AUTRE: "Autre danger",
}

SUITES_EVALUATION: Final[dict[str, str]] = {
    SuiteEvaluation.CLASSEMENT: "Classement sans suite",
    SuiteEvaluation.ACCOMPAGNEMENT_ADMINISTRATIF: "Accompagnement administratif",
    SuiteEvaluation.SAISINE_JUDICIAIRE: "Saisine de l'autorité judiciaire",
}

CADRES: Final[dict[str, str]] = {Cadre.ADMINISTRATIF: "Administratif", Cadre.JUDICIAIRE: "Judiciaire"}

NATURES: Final[dict[str, str]] = {
    Nature.ACCUEIL_PROVISOIRE: "Accueil provisoire",
    Nature.AED: "Aide éducative à domicile (AED)",
    Nature.ACCUEIL_URGENCE: "Accueil d'urgence",
    Nature.ACCUEIL_72H: "Accueil de 72 heures",
    Nature.OPP: "Ordonnance de placement provisoire (OPP)",
    Nature.CONFIAGE_ASE: "Confiage à l'ASE",
    Nature.AEMO: "Action éducative en milieu ouvert (AEMO)",
    Nature.AEMO_RENFORCEE: "AEMO renforcée",
    Nature.TIERS_DIGNE_DE_CONFIANCE: "Confiage à un tiers digne de confiance",
    Nature.DAP: "Délégation d'autorité parentale",
    Nature.TUTELLE: "Tutelle",
}

AUTORITES: Final[dict[str, str]] = {
    Autorite.PRESIDENT_CD: "Président du conseil départemental",
    Autorite.JUGE_DES_ENFANTS: "Juge des enfants",
    Autorite.PARQUET: "Parquet (procureur de la République)",
    Autorite.JUGE_AUX_AFFAIRES_FAMILIALES: "Juge aux affaires familiales",
    Autorite.JUGE_DES_TUTELLES: "Juge des tutelles",
}

MOTIFS_LEVEE: Final[dict[str, str]] = {
    MotifLevee.MAINLEVEE: "Mainlevée",
    MotifLevee.ECHEANCE: "Arrivée à échéance",
    MotifLevee.MAJORITE: "Majorité",
    MotifLevee.AUTRE: "Autre motif",
}

MOTIFS_FIN_ACCUEIL: Final[dict[str, str]] = {
    MotifFinAccueil.RETOUR_EN_FAMILLE: "Retour en famille",
    MotifFinAccueil.FIN_DE_MESURE: "Fin de la mesure",
    MotifFinAccueil.MAJORITE: "Majorité",
    MotifFinAccueil.AUTRE: "Autre motif",
}

MOTIFS_CHANGEMENT_LIEU: Final[dict[str, str]] = {
    MotifChangementLieu.BESOIN_ENFANT: "Besoin de l'enfant",
    MotifChangementLieu.RUPTURE: "Rupture de l'accueil",
    MotifChangementLieu.FIN_AGREMENT: "Fin d'agrément du lieu",
    MotifChangementLieu.RAPPROCHEMENT_FAMILIAL: "Rapprochement familial",
    MotifChangementLieu.AUTRE: "Autre motif",
}

MOTIFS_SORTIE: Final[dict[str, str]] = {
    MotifSortie.MAJORITE_SANS_ACCOMPAGNEMENT: "Majorité sans accompagnement",
    MotifSortie.FIN_ACCOMPAGNEMENT_JEUNE_MAJEUR: "Fin de l'accompagnement jeune majeur",
    MotifSortie.RETOUR_EN_FAMILLE: "Retour en famille",
    MotifSortie.ADOPTION: "Adoption",
    MotifSortie.DEMENAGEMENT: "Déménagement",
    MotifSortie.DECES: "Décès",
    MotifSortie.AUTRE: "Autre motif",
}

SITUATIONS_LOGEMENT: Final[dict[str, str]] = {
    SituationLogement.LOGEMENT_AUTONOME: "Logement autonome",
    SituationLogement.LOGEMENT_SOCIAL: "Logement social",
    SituationLogement.FAMILLE: "En famille",
    SituationLogement.FOYER_JEUNES_TRAVAILLEURS: "Foyer de jeunes travailleurs",
    SituationLogement.HEBERGE_TIERS: "Hébergé par un tiers",
    SituationLogement.SANS_SOLUTION: "Sans solution",
    SituationLogement.INCONNUE: "Inconnue",
}

_CODES: Final = re.compile(
    r"\b(" + "|".join(sorted(map(re.escape, NATURES | TYPES_LIEU), key=len, reverse=True)) + r")\b"
)


def libeller(texte: str) -> str:
    """``texte`` (a domain message) with each nature or lieu-type code it names as its label in quotes:
    ``une mesure confiage_ase dure au plus 2 ans`` → ``une mesure « Confiage à l'ASE » dure au plus 2 ans``."""
    return _CODES.sub(lambda m: f"« {(NATURES | TYPES_LIEU)[m.group(1)]} »", texte)
