"""What the dossier routes return: the caseworker's views, computed for 'today' when read.

The rows hold facts and deadlines; ages, overdue measures and overdue or
alerting deadlines depend on the day of the reading, so they are derived here.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal
from uuid import UUID

import asyncpg
import orjson
from pydantic import BaseModel

from droit.calendrier import age_le, anniversaire
from droit.echeances import TypeEcheance
from services.projections.readmodels.dossiers_sql import DossierLu


class EcheanceVue(BaseModel):
    type: str
    cle: str
    due_le: date
    alerte_le: date
    informatif: bool
    en_alerte: bool
    """The alert date has come."""
    en_retard: bool
    """Due before today and still awaited."""
    details: dict[str, Any]


class ProchaineEcheance(BaseModel):
    type: str
    cle: str
    due_le: date
    alerte_le: date
    en_retard: bool
    details: dict[str, Any]


class DossierResume(BaseModel):
    parcours_id: UUID
    personne_id: UUID
    nom: str | None
    prenoms: str | None
    date_naissance: date | None
    age: int | None
    departement: str
    referent_id: str | None
    statut: str
    ouvert_le: date
    lieu_id: UUID | None
    type_lieu: str | None
    fugue_en_cours: bool
    prochaine_echeance: ProchaineEcheance | None


class ListeDossiers(BaseModel):
    total: int
    page: int
    taille: int
    dossiers: list[DossierResume]


class IdentiteVue(BaseModel):
    nom: str | None
    prenoms: str | None
    date_naissance: date | None
    effacee: bool


class MesureVue(BaseModel):
    mesure_id: UUID
    cadre: str
    nature: str
    autorite: str
    reference_decision: str
    date_debut: date
    date_echeance: date | None
    duree_derogatoire: bool
    """Decided beyond the usual cap on chronic parental difficulties (C. civ. 375 al. 4)."""
    renouvellements: int
    active: bool
    echue: bool
    """Active, and its échéance passed without a renewal or a levée."""
    levee_le: date | None
    motif_levee: str | None


class IPVue(BaseModel):
    ip_id: UUID
    recue_le: date
    origine: str | None
    dangers: list[str]
    suite: str | None
    evaluee_le: date | None


class AccueilVue(BaseModel):
    mesure_id: UUID | None
    lieu_id: UUID
    lieu_nom: str | None
    """None where the lieu is a private person (assistant familial, tiers digne de confiance)."""
    type_lieu: str
    debut_accueil: date | None
    depuis: date | None
    date_limite_hotel: date | None
    """The 2-month limit of a stay in a hotel (recorded before 1 Feb 2024) or a hébergement dérogatoire."""
    fugue_depuis: date | None


class PPEVue(BaseModel):
    etabli_le: date | None
    actualise_le: date | None


class AutonomieVue(BaseModel):
    entretien_realise_le: date | None
    statut: Literal["realise", "en_retard", "a_planifier", "a_venir", "non_concerne"]
    """``a_planifier`` from 16½ (or from the start of care after that), ``en_retard`` after its due day."""
    a_planifier_des_le: date | None
    du_le: date | None


class APJMVue(BaseModel):
    date_debut: date
    date_fin: date
    fin_annee_engagee: bool
    """Goes past the 21st birthday to finish the school or university year under way (CASF L222-5)."""
    renouvellements: int


class SortieVue(BaseModel):
    sorti_le: date
    motif: str | None
    situation_logement: str | None


class DossierVue(BaseModel):
    parcours_id: UUID
    personne_id: UUID
    version: int
    departement: str
    referent_id: str | None
    statut: str
    sexe: str
    mois_naissance: str
    ouvert_le: date
    derniere_date_effet: date | None
    identite: IdentiteVue | None
    """None until the identity arrives; names and birth date erased (``effacee``) after a tombstone."""
    age: int | None
    date_majorite: date | None
    mesures_actives: list[MesureVue]
    mesures_levees: list[MesureVue]
    informations_preoccupantes: list[IPVue]
    accueil: AccueilVue | None
    lieux_successifs: int
    ppe: PPEVue
    dernier_rapport_le: date | None
    autonomie: AutonomieVue
    majorite_atteinte_le: date | None
    accompagnement_jeune_majeur: APJMVue | None
    sortie: SortieVue | None
    echeances: list[EcheanceVue]


class EcheanceTravail(EcheanceVue):
    parcours_id: UUID
    nom: str | None
    prenoms: str | None
    departement: str
    referent_id: str | None


class ListeEcheances(BaseModel):
    total: int
    page: int
    taille: int
    echeances: list[EcheanceTravail]


# -- from rows to views --------------------------------------------------------------------


def _details(brut: Any) -> dict[str, Any]:
    if brut is None:
        return {}
    valeur = orjson.loads(brut) if isinstance(brut, str | bytes) else brut
    return dict(valeur)


def _age(naissance: date | None, aujourd_hui: date) -> int | None:
    return age_le(naissance, aujourd_hui) if naissance is not None else None


def echeance(ligne: asyncpg.Record, aujourd_hui: date) -> EcheanceVue:
    return EcheanceVue(
        type=ligne["type"],
        cle=ligne["cle"],
        due_le=ligne["due_le"],
        alerte_le=ligne["alerte_le"],
        informatif=ligne["informatif"],
        en_alerte=ligne["alerte_le"] <= aujourd_hui,
        en_retard=not ligne["informatif"] and ligne["due_le"] < aujourd_hui,
        details=_details(ligne["details"]),
    )


def resume(ligne: asyncpg.Record, aujourd_hui: date) -> DossierResume:
    prochaine = None
    if ligne["prochaine_type"] is not None:
        prochaine = ProchaineEcheance(
            type=ligne["prochaine_type"],
            cle=ligne["prochaine_cle"],
            due_le=ligne["prochaine_due_le"],
            alerte_le=ligne["prochaine_alerte_le"],
            en_retard=ligne["prochaine_due_le"] < aujourd_hui,
            details=_details(ligne["prochaine_details"]),
        )
    return DossierResume(
        parcours_id=ligne["parcours_id"],
        personne_id=ligne["personne_id"],
        nom=ligne["nom"],
        prenoms=ligne["prenoms"],
        date_naissance=ligne["date_naissance"],
        age=_age(ligne["date_naissance"], aujourd_hui),
        departement=ligne["departement"],
        referent_id=ligne["referent_id"],
        statut=ligne["statut"],
        ouvert_le=ligne["ouvert_le"],
        lieu_id=ligne["lieu_id"],
        type_lieu=ligne["type_lieu"],
        fugue_en_cours=ligne["fugue_depuis"] is not None,
        prochaine_echeance=prochaine,
    )


def mesure(ligne: asyncpg.Record, aujourd_hui: date) -> MesureVue:
    echeance_ = ligne["date_echeance"]
    return MesureVue(
        mesure_id=ligne["mesure_id"],
        cadre=ligne["cadre"],
        nature=ligne["nature"],
        autorite=ligne["autorite"],
        reference_decision=ligne["reference_decision"],
        date_debut=ligne["date_debut"],
        date_echeance=echeance_,
        duree_derogatoire=ligne["duree_derogatoire"],
        renouvellements=ligne["renouvellements"],
        active=ligne["active"],
        echue=bool(ligne["active"] and echeance_ is not None and echeance_ < aujourd_hui),
        levee_le=ligne["levee_le"],
        motif_levee=ligne["motif_levee"],
    )


def autonomie(d: asyncpg.Record, echeances: list[EcheanceVue], aujourd_hui: date) -> AutonomieVue:
    fait = d["entretien_autonomie_le"]
    if fait is not None:
        return AutonomieVue(entretien_realise_le=fait, statut="realise", a_planifier_des_le=None, du_le=None)
    attendu = next((e for e in echeances if e.type == TypeEcheance.ENTRETIEN_AUTONOMIE), None)
    if attendu is None:
        return AutonomieVue(entretien_realise_le=None, statut="non_concerne", a_planifier_des_le=None, du_le=None)
    statut: Literal["en_retard", "a_planifier", "a_venir"] = (
        "en_retard" if attendu.en_retard else "a_planifier" if attendu.en_alerte else "a_venir"
    )
    return AutonomieVue(
        entretien_realise_le=None, statut=statut, a_planifier_des_le=attendu.alerte_le, du_le=attendu.due_le
    )


def dossier(lu: DossierLu, aujourd_hui: date) -> DossierVue:
    d = lu.dossier
    naissance: date | None = d["date_naissance"]
    identite = None
    if d["effacee"] is not None:
        identite = IdentiteVue(nom=d["nom"], prenoms=d["prenoms"], date_naissance=naissance, effacee=d["effacee"])
    echeances = [echeance(e, aujourd_hui) for e in lu.echeances]
    mesures = [mesure(m, aujourd_hui) for m in lu.mesures]
    accueil = None
    if d["lieu_id"] is not None:
        accueil = AccueilVue(
            mesure_id=d["mesure_accueil_id"],
            lieu_id=d["lieu_id"],
            lieu_nom=d["lieu_nom"],
            type_lieu=d["type_lieu"],
            debut_accueil=d["accueil_debut"],
            depuis=d["lieu_depuis"],
            date_limite_hotel=d["date_limite_hotel"],
            fugue_depuis=d["fugue_depuis"],
        )
    apjm = None
    if d["apjm_debut"] is not None and d["apjm_fin"] is not None:
        apjm = APJMVue(
            date_debut=d["apjm_debut"],
            date_fin=d["apjm_fin"],
            fin_annee_engagee=d["apjm_fin_annee_engagee"],
            renouvellements=d["apjm_renouvellements"],
        )
    sortie = None
    if d["sorti_le"] is not None:
        sortie = SortieVue(sorti_le=d["sorti_le"], motif=d["motif_sortie"], situation_logement=d["situation_logement"])
    return DossierVue(
        parcours_id=d["parcours_id"],
        personne_id=d["personne_id"],
        version=d["version"],
        departement=d["departement"],
        referent_id=d["referent_id"],
        statut=d["statut"],
        sexe=d["sexe"],
        mois_naissance=d["mois_naissance"],
        ouvert_le=d["ouvert_le"],
        derniere_date_effet=d["derniere_date_effet"],
        identite=identite,
        age=_age(naissance, aujourd_hui),
        date_majorite=anniversaire(naissance, 18) if naissance is not None else None,
        mesures_actives=[m for m in mesures if m.active],
        mesures_levees=[m for m in mesures if not m.active],
        informations_preoccupantes=[
            IPVue(
                ip_id=i["ip_id"],
                recue_le=i["recue_le"],
                origine=i["origine"],
                dangers=list(i["dangers"]),
                suite=i["suite"],
                evaluee_le=i["evaluee_le"],
            )
            for i in lu.ips
        ],
        accueil=accueil,
        lieux_successifs=d["lieux_successifs"],
        ppe=PPEVue(etabli_le=d["ppe_etabli_le"], actualise_le=d["ppe_actualise_le"]),
        dernier_rapport_le=d["dernier_rapport_le"],
        autonomie=autonomie(d, echeances, aujourd_hui),
        majorite_atteinte_le=d["majorite_atteinte_le"],
        accompagnement_jeune_majeur=apjm,
        sortie=sortie,
        echeances=echeances,
    )


def travail(ligne: asyncpg.Record, aujourd_hui: date) -> EcheanceTravail:
    return EcheanceTravail(
        **echeance(ligne, aujourd_hui).model_dump(),
        parcours_id=ligne["parcours_id"],
        nom=ligne["nom"],
        prenoms=ligne["prenoms"],
        departement=ligne["departement"],
        referent_id=ligne["referent_id"],
    )
