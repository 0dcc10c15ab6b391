"""The enumerations of the domain, with exactly the values of API.md, and the law's constants."""

from __future__ import annotations

from contracts.vocabulaire import (  # the domain speaks the contract's words
    Autorite,
    Cadre,
    Danger,
    Departement,
    Finess,
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
    est_departement,
)
from droit.regles import DUREES_MAXIMALES, INTERDICTION_HOTEL, NATURES_PAR_CADRE, NATURES_PERMETTANT_ACCUEIL

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
