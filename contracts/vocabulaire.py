"""The enumerations of API.md: the words other systems read in every payload.

The law's rule constants (droit/regles.py) are built on these. Beside them, the
validated strings every command shares: département codes, FINESS numbers, and
``Texte`` / ``Identifiant``, the printable free text of DOMAIN.md.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from typing import Annotated, Final

from pydantic import AfterValidator, StringConstraints


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


# The lieu types a version-1 event may carry: ``TypeLieu`` before ``hebergement_derogatoire``.
# Frozen: consumers of the v1 schemas validate ``type_lieu`` (``type``) against exactly
# these values, so a new value goes out only in a new version of the event. Published
# under the name ``TypeLieu`` (title and ``$defs`` key of the v1 schemas, from which
# consumers may have generated code): hence the names set below, and no docstring (it
# would become a description in those schemas).
class TypeLieuV1(StrEnum):
    __qualname__ = "TypeLieu"

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


TypeLieuV1.__name__ = "TypeLieu"


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
    DPO = "dpo"
    """The data-protection officer: erasure and retention of identities of its départements."""
    JEUNE = "jeune"
    """The young person themself, from 16: their own parcours only (the token carries their ``personne_id``)."""


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


# -- free text ------------------------------------------------------------------------------

_CATEGORIES_INTERDITES: Final[dict[str, str]] = {
    "Cc": "caractère de contrôle",
    "Cf": "caractère invisible de format (largeur nulle, sens d'écriture, césure conditionnelle...)",
    "Cs": "demi-code de substitution isolé",
    "Zl": "séparateur de ligne",
    "Zp": "séparateur de paragraphe",
}
"""Unicode categories refused in any text: control (ANSI ``ESC`` included), format
(zero-width, bidirectional embeddings, overrides and isolates, BOM, soft hyphen, tags),
lone surrogates (not storable) and line or paragraph separators."""

_INVISIBLES: Final[frozenset[str]] = frozenset({"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"})
"""Letters and symbols that print as nothing (Hangul fillers, the blank Braille pattern):
the usual way round a zero-width filter."""

_VISIBLES: Final[frozenset[str]] = frozenset("LNPS")
"""Major categories that print something: letters, numbers, punctuation, symbols."""


def texte_imprimable(texte: str, *, rogner: bool = True) -> str:
    """``texte`` NFC-normalised (and stripped, with ``rogner``); refused when blank or holding a character that
    does not print.

    DOMAIN.md: names and free text are printable text; control, zero-width and
    bidirectional-override characters are refused (they hide or reorder what an
    auditor reads, or inject terminal sequences into logs and exports).
    """
    for position, caractere in enumerate(texte, start=1):
        categorie = unicodedata.category(caractere)
        raison = _CATEGORIES_INTERDITES.get(categorie) or ("caractère invisible" if caractere in _INVISIBLES else None)
        if raison:
            raise ValueError(f"{raison} interdit: U+{ord(caractere):04X} en position {position}")
    normalise = unicodedata.normalize("NFC", texte)
    if rogner:
        normalise = normalise.strip()
    if not any(unicodedata.category(c)[0] in _VISIBLES for c in normalise):
        raise ValueError("texte vide ou sans caractère visible")
    return normalise


Texte = Annotated[str, StringConstraints(min_length=1, max_length=500), AfterValidator(texte_imprimable)]
"""A name or a free text of a command: printable, NFC-normalised, stripped, 1 to 500 characters."""

Identifiant = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(texte_imprimable)]
"""A reference typed by a person or another system (a decision's reference, a référent's id): printable, at most 200."""
