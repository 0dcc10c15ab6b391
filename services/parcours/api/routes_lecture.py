"""Reads straight from the stream (read-your-writes): the state and the history.

Both show personal data (the age, the date of majority, the exact birth date in
``ParcoursOuvert``): each is recorded in the access log, in the read's own worker
thread and slot, before the answer leaves (``services.runtime.journal_acces``).
Once the person is erased, no date that follows from her 18th birthday is shown either
(:func:`_efface_si_anniversaire`): her birth date could be read back from it. Such dates read
as null; the stored ``date_effet`` of those events stays in ``ase_events`` (the domain needs it).
Command answers (``Resultat``: ids, a version, event names) echo no personal data
and are not recorded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from pydantic import BaseModel

from contracts.publication import date_par_anniversaire
from droit.calendrier import age_le, anniversaire
from services.parcours.api.dependances import Comp, Lecteur
from services.parcours.api.execution import hors_boucle
from services.parcours.application import corps_json
from services.parcours.domain.flux import Evenement
from services.parcours.domain.identite import DATE_NAISSANCE_EFFACEE
from services.parcours.domain.parcours import Parcours
from services.parcours.domain.parcours_evenements import (
    AccompagnementJeuneMajeurAccorde,
    DossierTransfere,
    MajoriteAtteinte,
    ParcoursOuvert,
)
from services.parcours.persistence import champs_personnels
from services.runtime import journal_acces
from services.runtime.documentation import reponses
from services.runtime.horloge import aujourd_hui
from services.runtime.parametres import Id

routeur = APIRouter(prefix="/v1", tags=["lecture"])


class MesureVue(BaseModel):
    mesure_id: UUID
    cadre: str
    nature: str
    autorite: str
    reference_decision: str | None
    """The court's reference; null once the person is erased."""
    date_debut: date
    date_echeance: date | None
    active: bool
    renouvellements: int
    levee_le: date | None
    motif_levee: str | None


class AccueilVue(BaseModel):
    mesure_id: UUID
    lieu_id: UUID
    type_lieu: str
    depuis: date
    debut_accueil: date
    date_limite_hotel: date | None
    fugue_depuis: date | None


class APJMVue(BaseModel):
    date_debut: date | None
    """None once the person is erased, where it may be her 18th birthday."""
    date_fin: date | None
    """None once the person is erased: an accompagnement may run to the eve of her 21st birthday."""
    renouvellements: int


class EtatParcours(BaseModel):
    id: UUID
    version: int
    personne_id: UUID
    departement: str
    referent_id: str | None
    sexe: str
    age: int | None
    """None once the person is erased (her birth date is destroyed)."""
    date_majorite: date | None
    identite_effacee: bool = False
    ouvert_le: date
    derniere_date_effet: date | None
    """None once the person is erased, where it is the date of her majority (her 18th birthday)."""
    informations_preoccupantes: list[dict[str, Any]]
    mesures: list[MesureVue]
    accueil: AccueilVue | None
    majorite_atteinte_le: date | None
    """None once the person is erased (it is her 18th birthday); ``mesures[].levee_le`` of a levée
    for majority, an accompagnement's ``date_debut`` on that day and ``derniere_date_effet`` on it too."""
    accompagnement_jeune_majeur: APJMVue | None
    ppe_etabli_le: date | None
    ppe_actualise_le: date | None
    dernier_rapport_le: date | None
    entretien_autonomie_le: date | None
    lieux_successifs: int
    sorti_le: date | None
    rectifications: list[dict[str, Any]]


class EvenementVue(BaseModel):
    version: int
    type: str
    date_effet: date | None
    """None once the person is erased, for an event the write side dates by her 18th birthday
    (``contracts.publication.date_par_anniversaire``: majority, the ends it brings, their corrections)."""
    enregistre_le: datetime
    auteur: str
    correlation_id: str
    donnees: dict[str, Any]


def vue(p: Parcours, aujourd_hui: date) -> EtatParcours:
    """The caseworker's view of a parcours' state (no name: identities live apart).

    Once the person is erased: no age, no date of majority, no corrected birth date nor free text.
    """
    efface = p.identite_effacee
    majorite = p.majorite_atteinte_le
    apjm = APJMVue.model_validate(p.apjm, from_attributes=True) if p.apjm else None
    if efface and apjm is not None and (majorite is None or apjm.date_debut == majorite):
        # Granted before majority, it starts on the 18th birthday (Parcours._regle_apjm_accorde).
        apjm.date_debut = None
    if efface and apjm is not None:
        apjm.date_fin = None
    return EtatParcours(
        id=p.id,
        version=p.version,
        personne_id=p.personne_id,
        departement=p.departement,
        referent_id=p.referent_id,
        sexe=p.sexe.value,
        age=None if efface else age_le(p.date_naissance, aujourd_hui),
        date_majorite=None if efface else anniversaire(p.date_naissance, 18),
        identite_effacee=efface,
        ouvert_le=p.ouvert_le,
        derniere_date_effet=None if efface and p.derniere_date_effet == majorite else p.derniere_date_effet,
        informations_preoccupantes=[
            {
                "ip_id": str(ip.ip_id),
                "recue_le": ip.recue_le.isoformat(),
                "suite": ip.suite.value if ip.suite else None,
                "evaluee_le": ip.evaluee_le.isoformat() if ip.evaluee_le else None,
            }
            for ip in p.informations.values()
        ],
        mesures=[_mesure_vue(m, efface) for m in p.mesures.values()],
        accueil=AccueilVue.model_validate(p.accueil, from_attributes=True) if p.accueil else None,
        majorite_atteinte_le=None if efface else majorite,
        accompagnement_jeune_majeur=apjm,
        ppe_etabli_le=p.suivi.ppe_etabli_le,
        ppe_actualise_le=p.suivi.ppe_actualise_le,
        dernier_rapport_le=p.suivi.dernier_rapport_le,
        entretien_autonomie_le=p.suivi.entretien_autonomie_le,
        lieux_successifs=p.suivi.lieux_successifs,
        sorti_le=p.sorti_le,
        rectifications=[
            _sans_donnees_effacees(
                "SaisieRectifiee",
                {
                    "version": r.version,
                    "version_rectifiee": r.version_rectifiee,
                    "champ": r.champ,
                    "ancienne_valeur": r.ancienne_valeur,
                    "nouvelle_valeur": r.nouvelle_valeur,
                    "motif": r.motif,
                },
                efface,
                evenement_rectifie=r.evenement_rectifie,
            )
            for r in p.suivi.rectifications
        ],
    )


def departement_courant(flux: Sequence[Evenement]) -> str:
    """The département a stream is under after ``flux``: its first event's, moved by each transfer."""
    departement = (flux[0].metadonnees.departement if flux else None) or ""
    for e in flux:
        if isinstance(e, DossierTransfere):
            departement = e.departement_destination
    return departement


@routeur.get("/parcours/{parcours_id}", response_model=EtatParcours, responses=reponses(404))
async def etat(parcours_id: Id, comp: Comp, u: Lecteur, request: Request) -> EtatParcours:
    app = comp.application
    journal = comp.journal_acces
    modele = journal_acces.lecture_de(request, u.sub, "parcours", u.departements)

    def lire() -> Parcours:
        p = app.parcours(parcours_id, u.departements)
        journal.ecrire_sync(dataclasses.replace(modele, parcours=(journal_acces.ParcoursLu(p.id, p.departement),)))
        return p

    # The reads' own slots: a command waiting on a lock never delays a read.
    parcours = await hors_boucle(comp, comp.lectures, lire)
    return vue(parcours, aujourd_hui(app.horloge))


@routeur.get("/parcours/{parcours_id}/evenements", response_model=list[EvenementVue], responses=reponses(404))
async def evenements(parcours_id: Id, comp: Comp, u: Lecteur, request: Request) -> list[EvenementVue]:
    app = comp.application
    journal = comp.journal_acces
    modele = journal_acces.lecture_de(request, u.sub, "parcours", u.departements)

    def lire() -> list[Evenement]:
        lus = app.evenements(parcours_id, u.departements)
        lu = journal_acces.ParcoursLu(parcours_id, departement_courant(lus))
        journal.ecrire_sync(dataclasses.replace(modele, parcours=(lu,)))
        return lus

    flux = await hors_boucle(comp, comp.lectures, lire)
    premier = flux[0] if flux else None
    efface = isinstance(premier, ParcoursOuvert) and premier.date_naissance == DATE_NAISSANCE_EFFACEE
    majorite = next((e.date_effet for e in flux if isinstance(e, MajoriteAtteinte)), None)
    vues = []
    for e in flux:
        nom = type(e).__name__
        donnees = _sans_donnees_effacees(nom, corps_json(e), efface)
        date_effet: date | None = e.date_effet
        if efface and date_par_anniversaire(nom, donnees):
            date_effet = None
        if efface and isinstance(e, AccompagnementJeuneMajeurAccorde) and majorite in (None, e.date_debut):
            donnees["date_debut"] = None
        if efface and "date_fin" in donnees and nom.startswith("AccompagnementJeuneMajeur"):
            donnees["date_fin"] = None  # up to the eve of the 21st birthday: as telling as the birth date
        vues.append(
            EvenementVue(
                version=e.originator_version,
                type=nom,
                date_effet=date_effet,
                enregistre_le=e.metadonnees.enregistre_le,
                auteur=e.metadonnees.auteur,
                correlation_id=e.metadonnees.correlation_id,
                donnees=donnees,
            )
        )
    return vues


def _mesure_vue(mesure: Any, efface: bool) -> MesureVue:
    """A measure; once the person is erased, a levée for majority is undated (it is her 18th birthday)."""
    vue_mesure = MesureVue.model_validate(mesure, from_attributes=True)
    if efface and vue_mesure.motif_levee == "majorite":
        vue_mesure.levee_le = None
    return vue_mesure


def _sans_donnees_effacees(
    nom: str, donnees: dict[str, Any], efface: bool, *, evenement_rectifie: str | None = None
) -> dict[str, Any]:
    """``donnees`` of the event ``nom`` with its personal fields null when the person is erased.

    A correction of the ``date_effet`` of an event dated by the 18th birthday
    (``contracts.publication.date_par_anniversaire``) loses both values too.
    """
    if efface:
        for champ in champs_personnels(nom, donnees):
            if champ in donnees:
                donnees[champ] = None
        rectifie = donnees.get("evenement_rectifie", evenement_rectifie)
        if (
            nom == "SaisieRectifiee"
            and donnees.get("champ") == "date_effet"
            and date_par_anniversaire(nom, {"evenement_rectifie": rectifie})
        ):
            donnees["ancienne_valeur"] = donnees["nouvelle_valeur"] = None
    return donnees
