"""The parcours as a caseworker reads it: events in plain French, each correction beside what it corrects.

A stream is never rewritten (DOMAIN.md): a ``SaisieRectifiee`` is an event of its own that names the
event it corrects by its version (``version_rectifiee``). Listed in stream order it would read as an
unrelated line at the end; :func:`chronologie` hangs it under the corrected event instead, so the
reader sees the value as recorded and, beside it, what it was corrected to, when, by whom and why.

Also the French words of the vocabulary (``contracts.vocabulaire``) the pages show: :func:`libelle`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from services.pages.rendu import date_fr

LIBELLES_EVENEMENTS: dict[str, str] = {
    "ParcoursOuvert": "Ouverture du parcours",
    "InformationPreoccupanteRecue": "Information préoccupante reçue",
    "EvaluationConclue": "Évaluation conclue",
    "MesureDecidee": "Mesure décidée",
    "MesureRenouvelee": "Mesure renouvelée",
    "MesureLevee": "Mesure levée",
    "AccueilDebute": "Début d'accueil",
    "LieuAccueilChange": "Changement de lieu d'accueil",
    "AccueilTermine": "Fin d'accueil",
    "FugueDeclaree": "Fugue déclarée",
    "FugueTerminee": "Fin de fugue",
    "PPEEtabli": "Projet pour l'enfant établi",
    "PPEActualise": "Projet pour l'enfant actualisé",
    "RapportSituationProduit": "Rapport de situation produit",
    "EntretienAutonomieRealise": "Entretien d'autonomie réalisé",
    "MajoriteAtteinte": "Majorité atteinte",
    "AccompagnementJeuneMajeurAccorde": "Accompagnement jeune majeur accordé",
    "AccompagnementJeuneMajeurRenouvele": "Accompagnement jeune majeur renouvelé",
    "AccompagnementJeuneMajeurTermine": "Fin de l'accompagnement jeune majeur",
    "SortieDispositif": "Sortie du dispositif",
    "ParcoursRouvert": "Parcours rouvert",
    "DossierTransfere": "Dossier transféré",
    "ReferentDesigne": "Référent désigné",
    "SaisieRectifiee": "Saisie rectifiée",
}

LIBELLES_CHAMPS: dict[str, str] = {
    "date_naissance": "Date de naissance",
    "date_effet": "Date d'effet",
    "date_debut": "Date de début",
    "date_echeance": "Échéance",
    "nouvelle_echeance": "Nouvelle échéance",
    "date_fin": "Date de fin",
    "reference_decision": "Référence de la décision",
    "referent_id": "Référent",
    "motif": "Motif",
    "cadre": "Cadre",
    "nature": "Nature",
    "autorite": "Autorité",
    "origine": "Origine",
    "dangers": "Dangers",
    "suite": "Suite",
    "type_lieu": "Type de lieu",
    "transmis_au_juge": "Transmis au juge",
    "situation_logement": "Situation de logement",
    "departement_destination": "Département de destination",
    "fin_annee_engagee": "Fin d'année engagée",
    "duree_derogatoire": "Durée dérogatoire",
}
"""The fields of an event a caseworker reads (ids and technical fields are left out of the timeline)."""

LIBELLES: dict[str, str] = {
    # cadres, natures, autorités
    "administratif": "administratif",
    "judiciaire": "judiciaire",
    "accueil_provisoire": "accueil provisoire",
    "aed": "aide éducative à domicile (AED)",
    "accueil_urgence": "accueil d'urgence",
    "accueil_72h": "accueil de 72 heures",
    "opp": "ordonnance de placement provisoire (OPP)",
    "confiage_ase": "confiage à l'ASE",
    "aemo": "AEMO",
    "aemo_renforcee": "AEMO renforcée",
    "tiers_digne_de_confiance": "tiers digne de confiance",
    "dap": "délégation d'autorité parentale",
    "tutelle": "tutelle",
    "president_cd": "président du conseil départemental",
    "juge_des_enfants": "juge des enfants",
    "parquet": "parquet",
    "juge_aux_affaires_familiales": "juge aux affaires familiales",
    "juge_des_tutelles": "juge des tutelles",
    # lieux
    "assistant_familial": "assistant familial",
    "mecs": "MECS",
    "foyer_enfance": "foyer de l'enfance",
    "pouponniere": "pouponnière",
    "lieu_de_vie": "lieu de vie et d'accueil",
    "village_enfants": "village d'enfants",
    "placement_domicile": "placement à domicile",
    "logement_autonome": "logement autonome",
    "hotel": "hôtel",
    "hebergement_derogatoire": "hébergement dérogatoire",
    # IP, évaluation
    "education_nationale": "Éducation nationale",
    "sante": "santé",
    "police_gendarmerie": "police ou gendarmerie",
    "service_social": "service social",
    "famille": "famille",
    "mineur": "le mineur",
    "appel_119": "appel au 119",
    "anonyme": "anonyme",
    "violences_physiques": "violences physiques",
    "violences_psychologiques": "violences psychologiques",
    "violences_sexuelles": "violences sexuelles",
    "negligences": "négligences",
    "conditions_education": "conditions d'éducation",
    "classement": "classement sans suite",
    "accompagnement_administratif": "accompagnement administratif",
    "saisine_judiciaire": "saisine judiciaire",
    # motifs
    "mainlevee": "mainlevée",
    "echeance": "échéance",
    "majorite": "majorité",
    "retour_en_famille": "retour en famille",
    "fin_de_mesure": "fin de mesure",
    "besoin_enfant": "besoin de l'enfant",
    "rupture": "rupture",
    "fin_agrement": "fin d'agrément",
    "rapprochement_familial": "rapprochement familial",
    "autre": "autre",
    # statuts
    "ouvert": "ouvert",
    "sorti": "sorti du dispositif",
    "realise": "réalisé",
    "en_retard": "en retard",
    "a_planifier": "à planifier",
    "a_venir": "à venir",
    "non_concerne": "non concerné",
}


DATE_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")
BOOLEENS_MUETS = frozenset({"duree_derogatoire", "fin_annee_engagee"})
"""Flags worth a line only when set (an ordinary measure is not "dérogatoire: non")."""


def libelle(valeur: Any) -> str:
    """A code of the vocabulary in plain French (``confiage_ase`` → ``confiage à l'ASE``); an ISO date as
    ``1er mars 2026``; a list joined by commas; booleans as oui / non; an unknown code with its underscores
    as spaces; None as empty."""
    if valeur is None:
        return ""
    if isinstance(valeur, str) and DATE_ISO.match(valeur):
        return date_fr(valeur)
    if isinstance(valeur, bool):
        return "oui" if valeur else "non"
    if isinstance(valeur, list):
        return ", ".join(libelle(v) for v in valeur)
    texte = str(valeur)
    return LIBELLES.get(texte, texte.replace("_", " "))


@dataclass
class Entree:
    """One event of the timeline and the corrections recorded against it (oldest first)."""

    version: int
    type: str
    libelle: str
    date_effet: str | None
    """ISO date, or None where the API withholds it (erased identity, a date that is the 18th birthday)."""
    enregistre_le: str
    """RFC 3339 instant of the recording."""
    auteur: str
    details: list[tuple[str, str]]
    """(French field name, value in French) for the fields a caseworker reads."""
    corrections: list[Correction] = field(default_factory=list)


@dataclass
class Correction:
    """A ``SaisieRectifiee``: which field, from what to what, why, when recorded and by whom."""

    version: int
    champ: str
    ancienne_valeur: str
    nouvelle_valeur: str
    motif: str
    enregistre_le: str
    auteur: str


def _details(donnees: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (nom, libelle(donnees[cle]))
        for cle, nom in LIBELLES_CHAMPS.items()
        if cle in donnees and donnees[cle] not in (None, "", []) and not (cle in BOOLEENS_MUETS and not donnees[cle])
    ]


def _correction(evenement: dict[str, Any]) -> Correction:
    d = evenement.get("donnees") or {}
    champ = str(d.get("champ", ""))
    return Correction(
        version=int(evenement["version"]),
        champ=LIBELLES_CHAMPS.get(champ, champ.replace("_", " ")),
        ancienne_valeur=libelle(d.get("ancienne_valeur")),
        nouvelle_valeur=libelle(d.get("nouvelle_valeur")),
        motif=str(d.get("motif") or ""),
        enregistre_le=str(evenement["enregistre_le"]),
        auteur=str(evenement["auteur"]),
    )


def chronologie(evenements: list[dict[str, Any]]) -> list[Entree]:
    """The events of ``GET /v1/parcours/{id}/evenements`` (stream order) as timeline entries, oldest first.

    Each ``SaisieRectifiee`` goes under the entry of its ``version_rectifiee``; one naming a version absent
    from the list (never the case for a whole stream) stays an entry of its own rather than be lost.
    """
    entrees: list[Entree] = []
    par_version: dict[int, Entree] = {}
    for e in sorted(evenements, key=lambda x: int(x["version"])):
        donnees = e.get("donnees") or {}
        if e["type"] == "SaisieRectifiee":
            cible = par_version.get(int(donnees.get("version_rectifiee", 0)))
            if cible is not None:
                cible.corrections.append(_correction(e))
                continue
        entree = Entree(
            version=int(e["version"]),
            type=str(e["type"]),
            libelle=LIBELLES_EVENEMENTS.get(str(e["type"]), str(e["type"])),
            date_effet=e.get("date_effet"),
            enregistre_le=str(e["enregistre_le"]),
            auteur=str(e["auteur"]),
            details=_details(donnees) if e["type"] != "SaisieRectifiee" else [],
        )
        if e["type"] == "SaisieRectifiee":
            entree.corrections.append(_correction(e))
        entrees.append(entree)
        par_version[entree.version] = entree
    return entrees
