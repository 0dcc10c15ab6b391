"""The bi-temporal state of a parcours: what was true on a date, as known at a time.

Pure functions over the recorded events' public payloads (``contracts/evenements.py``):
no I/O, no clock. Two times decide what counts:

- *known at* ``connu_le``: only events recorded (``enregistre_le``) by then, and
  only the corrections (``SaisieRectifiee``) recorded by then, each applied to
  the event it targets before folding (the correction replaces the field value);
- *true on* ``date_effet``: only the (corrected) events whose date of effect is
  on or before that date. A correction has no date of effect of its own for this
  purpose: it changes what its target said, from the day it is recorded.

The fold follows the stream's order (versions). It is tolerant where the write
side is strict (a fugue with no accueil, a renewal of an unknown measure): a
date or a correction may leave a partial history, and a partial history is still
a state to show, not an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

RECTIFICATION = "SaisieRectifiee"

CHAMP_PUBLIC = {"date_naissance": "mois_naissance"}
"""A corrected field that the public payload carries under another name (a birth date travels as a month)."""


@dataclass(frozen=True)
class Fait:
    """One recorded event, as the fold sees it."""

    version: int
    nom: str
    date_effet: date
    enregistre_le: datetime
    donnees: Mapping[str, Any]


@dataclass(frozen=True)
class Connaissance:
    """What was known at a time: the events recorded by then, corrected by the corrections recorded by then."""

    faits: list[Fait]
    """Corrected events, in version order, corrections themselves left out."""
    rectifications: dict[int, list[int]]
    """Version of a corrected event -> versions of the corrections applied to it."""


def connaissance(faits: Iterable[Fait], connu_le: datetime) -> Connaissance:
    """The events recorded by ``connu_le``, each with the corrections recorded by then applied in order."""
    connus = sorted((f for f in faits if f.enregistre_le <= connu_le), key=lambda f: f.version)
    par_version = {f.version: f for f in connus if f.nom != RECTIFICATION}
    appliquees: dict[int, list[int]] = {}
    for correction in connus:
        if correction.nom != RECTIFICATION:
            continue
        cible = par_version.get(int(correction.donnees["version_rectifiee"]))
        if cible is None:
            continue  # a correction of a correction is refused by the write side; nothing to apply
        par_version[cible.version] = corriger(
            cible, str(correction.donnees["champ"]), correction.donnees["nouvelle_valeur"]
        )
        appliquees.setdefault(cible.version, []).append(correction.version)
    return Connaissance(faits=[par_version[v] for v in sorted(par_version)], rectifications=appliquees)


def corriger(fait: Fait, champ: str, valeur: Any) -> Fait:
    """``fait`` with ``champ`` replaced by ``valeur`` (a field the public payload lacks changes nothing)."""
    if champ == "date_effet":
        return replace(fait, date_effet=date.fromisoformat(str(valeur)), donnees={**fait.donnees, champ: valeur})
    cle = CHAMP_PUBLIC.get(champ, champ)
    if cle not in fait.donnees:
        return fait  # a private field (a free-text motif): it never reached the public payload
    return replace(fait, donnees={**fait.donnees, cle: valeur})


# -- the state ----------------------------------------------------------------------------


@dataclass
class MesureActive:
    mesure_id: str
    cadre: str
    nature: str
    autorite: str
    date_debut: date | None
    date_echeance: date | None
    decidee_le: date
    renouvellements: int = 0


@dataclass
class AccueilEnCours:
    mesure_id: str | None
    lieu_id: str
    type_lieu: str
    depuis: date
    debut_accueil: date
    date_limite_hotel: date | None


@dataclass
class InformationPreoccupante:
    ip_id: str
    recue_le: date
    suite: str | None = None
    evaluee_le: date | None = None


@dataclass
class AccompagnementJeuneMajeur:
    date_debut: date | None
    date_fin: date | None
    accorde_le: date
    renouvellements: int = 0


@dataclass
class Sortie:
    le: date
    motif: str | None
    situation_logement: str | None


@dataclass
class EtatParcours:
    """A parcours' state as the audit replays it (no name, no exact birth date: public payloads only)."""

    ouvert_le: date | None = None
    personne_id: str | None = None
    mois_naissance: str | None = None
    sexe: str | None = None
    departement: str | None = None
    referent_id: str | None = None
    informations_preoccupantes: list[InformationPreoccupante] = field(default_factory=list)
    mesures_actives: list[MesureActive] = field(default_factory=list)
    accueil: AccueilEnCours | None = None
    fugue_depuis: date | None = None
    ppe_etabli_le: date | None = None
    ppe_actualise_le: date | None = None
    dernier_rapport_le: date | None = None
    dernier_rapport_transmis_au_juge: bool | None = None
    entretien_autonomie_le: date | None = None
    majorite_atteinte_le: date | None = None
    accompagnement_jeune_majeur: AccompagnementJeuneMajeur | None = None
    sortie: Sortie | None = None
    derniere_version: int | None = None
    """The last version folded (none: nothing was recorded and in effect yet)."""
    evenements_pris_en_compte: int = 0
    rectifications_appliquees: list[int] = field(default_factory=list)
    """Versions of the corrections applied to the events folded."""

    def mesure(self, mesure_id: Any) -> MesureActive | None:
        return next((m for m in self.mesures_actives if m.mesure_id == str(mesure_id)), None)


def etat_au(faits: Iterable[Fait], date_effet: date, connu_le: datetime) -> EtatParcours:
    """The state on ``date_effet`` as known at ``connu_le``."""
    connu = connaissance(faits, connu_le)
    etat = EtatParcours()
    for fait in connu.faits:
        if fait.date_effet > date_effet:
            continue
        appliquer = _EVOLUTIONS.get(fait.nom)
        if appliquer is not None:  # an event this fold does not know changes nothing it shows
            appliquer(etat, fait)
        etat.derniere_version = fait.version
        etat.evenements_pris_en_compte += 1
        etat.rectifications_appliquees += connu.rectifications.get(fait.version, [])
    etat.rectifications_appliquees.sort()
    return etat


def _date(valeur: Any) -> date | None:
    return date.fromisoformat(str(valeur)) if valeur is not None else None


def _texte(valeur: Any) -> str | None:
    return str(valeur) if valeur is not None else None


def _ouvert(e: EtatParcours, f: Fait) -> None:
    d = f.donnees
    e.ouvert_le = f.date_effet
    e.personne_id = _texte(d.get("personne_id"))
    e.mois_naissance = _texte(d.get("mois_naissance"))
    e.sexe = _texte(d.get("sexe"))
    e.departement = _texte(d.get("departement"))
    e.referent_id = _texte(d.get("referent_id"))


def _ip_recue(e: EtatParcours, f: Fait) -> None:
    e.informations_preoccupantes.append(InformationPreoccupante(str(f.donnees["ip_id"]), f.date_effet))


def _evaluation(e: EtatParcours, f: Fait) -> None:
    for ip in e.informations_preoccupantes:
        if ip.ip_id == str(f.donnees["ip_id"]):
            ip.suite, ip.evaluee_le = _texte(f.donnees.get("suite")), f.date_effet


def _mesure_decidee(e: EtatParcours, f: Fait) -> None:
    d = f.donnees
    e.mesures_actives.append(
        MesureActive(
            mesure_id=str(d["mesure_id"]),
            cadre=str(d.get("cadre")),
            nature=str(d.get("nature")),
            autorite=str(d.get("autorite")),
            date_debut=_date(d.get("date_debut")),
            date_echeance=_date(d.get("date_echeance")),
            decidee_le=f.date_effet,
        )
    )


def _mesure_renouvelee(e: EtatParcours, f: Fait) -> None:
    mesure = e.mesure(f.donnees["mesure_id"])
    if mesure is not None:
        mesure.date_echeance = _date(f.donnees.get("nouvelle_echeance"))
        mesure.renouvellements += 1


def _mesure_levee(e: EtatParcours, f: Fait) -> None:
    e.mesures_actives = [m for m in e.mesures_actives if m.mesure_id != str(f.donnees["mesure_id"])]


def _accueil_debute(e: EtatParcours, f: Fait) -> None:
    d = f.donnees
    e.accueil = AccueilEnCours(
        mesure_id=_texte(d.get("mesure_id")),
        lieu_id=str(d["lieu_id"]),
        type_lieu=str(d.get("type_lieu")),
        depuis=f.date_effet,
        debut_accueil=f.date_effet,
        date_limite_hotel=_date(d.get("date_limite_hotel")),
    )
    e.fugue_depuis = None


def _lieu_change(e: EtatParcours, f: Fait) -> None:
    if e.accueil is None:
        return
    e.accueil.lieu_id = str(f.donnees["lieu_id"])
    e.accueil.type_lieu = str(f.donnees.get("type_lieu"))
    e.accueil.depuis = f.date_effet
    e.accueil.date_limite_hotel = _date(f.donnees.get("date_limite_hotel"))


def _accueil_termine(e: EtatParcours, _: Fait) -> None:
    e.accueil = None
    e.fugue_depuis = None  # a fugue is from an accueil: it ends with it


def _fugue_declaree(e: EtatParcours, f: Fait) -> None:
    if e.accueil is not None:
        e.fugue_depuis = f.date_effet


def _fugue_terminee(e: EtatParcours, _: Fait) -> None:
    e.fugue_depuis = None


def _ppe_etabli(e: EtatParcours, f: Fait) -> None:
    e.ppe_etabli_le = f.date_effet


def _ppe_actualise(e: EtatParcours, f: Fait) -> None:
    e.ppe_actualise_le = f.date_effet


def _rapport(e: EtatParcours, f: Fait) -> None:
    e.dernier_rapport_le = f.date_effet
    transmis = f.donnees.get("transmis_au_juge")
    e.dernier_rapport_transmis_au_juge = bool(transmis) if transmis is not None else None


def _entretien(e: EtatParcours, f: Fait) -> None:
    e.entretien_autonomie_le = f.date_effet


def _majorite(e: EtatParcours, f: Fait) -> None:
    e.majorite_atteinte_le = f.date_effet


def _apjm_accorde(e: EtatParcours, f: Fait) -> None:
    e.accompagnement_jeune_majeur = AccompagnementJeuneMajeur(
        _date(f.donnees.get("date_debut")), _date(f.donnees.get("date_fin")), f.date_effet
    )


def _apjm_renouvele(e: EtatParcours, f: Fait) -> None:
    if e.accompagnement_jeune_majeur is not None:
        e.accompagnement_jeune_majeur.date_fin = _date(f.donnees.get("date_fin"))
        e.accompagnement_jeune_majeur.renouvellements += 1


def _apjm_termine(e: EtatParcours, _: Fait) -> None:
    e.accompagnement_jeune_majeur = None


def _sortie(e: EtatParcours, f: Fait) -> None:
    e.sortie = Sortie(f.date_effet, _texte(f.donnees.get("motif")), _texte(f.donnees.get("situation_logement")))


def _rouvert(e: EtatParcours, _: Fait) -> None:
    e.sortie = None


def _transfere(e: EtatParcours, f: Fait) -> None:
    e.departement = _texte(f.donnees.get("departement_destination"))


def _referent(e: EtatParcours, f: Fait) -> None:
    e.referent_id = _texte(f.donnees.get("referent_id"))


_EVOLUTIONS: dict[str, Callable[[EtatParcours, Fait], None]] = {
    "ParcoursOuvert": _ouvert,
    "InformationPreoccupanteRecue": _ip_recue,
    "EvaluationConclue": _evaluation,
    "MesureDecidee": _mesure_decidee,
    "MesureRenouvelee": _mesure_renouvelee,
    "MesureLevee": _mesure_levee,
    "AccueilDebute": _accueil_debute,
    "LieuAccueilChange": _lieu_change,
    "AccueilTermine": _accueil_termine,
    "FugueDeclaree": _fugue_declaree,
    "FugueTerminee": _fugue_terminee,
    "PPEEtabli": _ppe_etabli,
    "PPEActualise": _ppe_actualise,
    "RapportSituationProduit": _rapport,
    "EntretienAutonomieRealise": _entretien,
    "MajoriteAtteinte": _majorite,
    "AccompagnementJeuneMajeurAccorde": _apjm_accorde,
    "AccompagnementJeuneMajeurRenouvele": _apjm_renouvele,
    "AccompagnementJeuneMajeurTermine": _apjm_termine,
    "SortieDispositif": _sortie,
    "ParcoursRouvert": _rouvert,
    "DossierTransfere": _transfere,
    "ReferentDesigne": _referent,
}
"""How each Parcours event changes the state; ``SaisieRectifiee`` never reaches the fold."""
