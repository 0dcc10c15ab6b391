"""A parcours' state folded from its public events, corrections in place: the one fold of the read side.

The caseworker's dossier and the auditors' bi-temporal state (the projections
service) and the deadline engine (the notifications service) all read this
fold, and :func:`faits_echeances` turns it into the facts the deadline table
reads (:mod:`droit.echeances`), so they cannot tell two stories. It
follows the write side's evolution of a parcours (DOMAIN.md) and takes what the
law derives from the law package, as the write side does: the measure carrying
an accueil after a levée (:func:`droit.regles.mesure_portant_accueil`) and the
2-month limit of a hotel or hébergement dérogatoire stay
(:func:`droit.regles.limite_hebergement`), computed from the (corrected) facts
rather than read from the payload.

Corrections (``SaisieRectifiee``) are applied to the event they target before
folding, "as if recorded so" (DOMAIN.md): a corrected field replaces the
recorded one, several corrections of one field apply in stream order, and the
correction itself is no event of the fold (it neither moves the latest date of
effect nor changes anything but its target). A correction of a field the public
payload does not carry travels with null values and changes nothing here.

Pure functions, no I/O, no clock. The fold follows the stream's order
(versions). It is tolerant where the write side is strict (a fugue with no
accueil, a renewal of an unknown measure): the audit asks for states at any
date, and a partial history is still a state to show, not an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from contracts.evenements import PAYLOADS
from contracts.vocabulaire import Nature, TypeLieu
from droit.echeances import FaitIP, FaitMesure, Faits
from droit.regles import limite_hebergement, mesure_portant_accueil

RECTIFICATION = "SaisieRectifiee"

CHAMP_PUBLIC = {"date_naissance": "mois_naissance"}
"""A corrected field that the public payload carries under another name (a birth date travels as a month)."""

_NATURES = frozenset(n.value for n in Nature)
_TYPES_LIEU = frozenset(t.value for t in TypeLieu)


def _champs_publics() -> dict[str, frozenset[str]]:
    champs: dict[str, set[str]] = {}
    for payload in PAYLOADS.values():
        champs.setdefault(payload.nom_evenement(), set()).update(payload.model_fields)
    return {nom: frozenset(noms) for nom, noms in champs.items()}


CHAMPS_PUBLICS = _champs_publics()
"""The fields each event's public payload declares (any version): what a correction can change here."""


@dataclass(frozen=True)
class Fait:
    """One recorded event, as the fold sees it: its public payload and its two times."""

    version: int
    nom: str
    date_effet: date
    enregistre_le: datetime
    donnees: Mapping[str, Any]


@dataclass(frozen=True)
class Corriges:
    """Events with their corrections applied."""

    faits: list[Fait]
    """The corrected events, in version order, the corrections themselves left out."""
    rectifications: dict[int, list[int]]
    """Version of a corrected event -> versions of the corrections applied to it."""


def corriges(faits: Iterable[Fait]) -> Corriges:
    """``faits`` as if every correction among them had been recorded so (each applied to its target, in order)."""
    ordonnes = sorted(faits, key=lambda f: f.version)
    par_version = {f.version: f for f in ordonnes if f.nom != RECTIFICATION}
    appliquees: dict[int, list[int]] = {}
    for correction in ordonnes:
        if correction.nom != RECTIFICATION:
            continue
        cible = par_version.get(int(correction.donnees["version_rectifiee"]))
        if cible is None:
            continue  # a correction of a correction is refused by the write side; nothing to apply
        par_version[cible.version] = corriger(cible, correction.donnees)
        appliquees.setdefault(cible.version, []).append(correction.version)
    return Corriges(faits=[par_version[v] for v in sorted(par_version)], rectifications=appliquees)


def corriger(fait: Fait, correction: Mapping[str, Any]) -> Fait:
    """``fait`` with the field ``correction`` names replaced by its new value.

    A field the public payload does not declare (a free-text ``motif``) travels
    with both values null: nothing shown changes. A field it declares is set
    even when the recorded payload predates it (an optional field added since).
    """
    champ = str(correction["champ"])
    valeur = correction.get("nouvelle_valeur")
    public = CHAMP_PUBLIC.get(champ, champ)
    prive = valeur is None and correction.get("ancienne_valeur") is None
    if prive or public not in CHAMPS_PUBLICS.get(fait.nom, frozenset()):
        return fait
    if champ == "date_effet":
        return replace(fait, date_effet=date.fromisoformat(str(valeur)), donnees={**fait.donnees, champ: valeur})
    return replace(fait, donnees={**fait.donnees, public: valeur})


# -- the state ----------------------------------------------------------------------------


@dataclass
class Mesure:
    mesure_id: str
    cadre: str
    nature: str
    autorite: str
    reference_decision: str | None
    date_debut: date | None
    date_echeance: date | None
    decidee_le: date
    duree_derogatoire: bool = False
    renouvellements: int = 0
    renouvelee_le: date | None = None
    levee_le: date | None = None
    motif_levee: str | None = None
    version_decision: int = 0
    """The stream version that decided it: the order of decision."""


@dataclass
class AccueilEnCours:
    mesure_id: str | None
    """The measure carrying the accueil (after a levée, the one the law hands it to)."""
    lieu_id: str
    type_lieu: str
    depuis: date
    """Since when the child is in this lieu."""
    debut_accueil: date
    date_limite_hotel: date | None
    """The 2-month limit of a hotel or hébergement dérogatoire stay (derived, never read from the payload)."""


@dataclass
class FinAccueil:
    le: date
    motif: str | None


@dataclass
class InformationPreoccupante:
    ip_id: str
    recue_le: date
    origine: str | None = None
    dangers: list[str] = field(default_factory=list)
    suite: str | None = None
    evaluee_le: date | None = None


@dataclass
class AccompagnementJeuneMajeur:
    date_debut: date | None
    date_fin: date | None
    accorde_le: date
    fin_annee_engagee: bool = False
    renouvellements: int = 0


@dataclass
class Sortie:
    le: date
    motif: str | None
    situation_logement: str | None


@dataclass
class EtatParcours:
    """A parcours' state from its public payloads (no name, no exact birth date)."""

    ouvert_le: date | None = None
    personne_id: str | None = None
    mois_naissance: str | None = None
    sexe: str | None = None
    departement: str | None = None
    referent_id: str | None = None
    informations_preoccupantes: list[InformationPreoccupante] = field(default_factory=list)
    mesures_actives: list[Mesure] = field(default_factory=list)
    """In the order they were decided."""
    mesures_levees: list[Mesure] = field(default_factory=list)
    """In the order they were lifted."""
    accueil: AccueilEnCours | None = None
    fugue_depuis: date | None = None
    fin_dernier_accueil: FinAccueil | None = None
    lieux_successifs: int = 0
    ppe_etabli_le: date | None = None
    ppe_actualise_le: date | None = None
    dernier_rapport_le: date | None = None
    dernier_rapport_transmis_au_juge: bool | None = None
    entretien_autonomie_le: date | None = None
    majorite_atteinte_le: date | None = None
    accompagnement_jeune_majeur: AccompagnementJeuneMajeur | None = None
    apjm_termine_le: date | None = None
    """When the last accompagnement jeune majeur ended (none while one runs or none was granted)."""
    sortie: Sortie | None = None
    rouvert_le: date | None = None
    derniere_date_effet: date | None = None
    """The latest date of effect among the events folded (a correction's own date never counts)."""
    derniere_version: int | None = None
    """The last version folded (none: nothing was recorded and in effect yet)."""
    evenements_pris_en_compte: int = 0
    rectifications_appliquees: list[int] = field(default_factory=list)
    """Versions of the corrections applied to the events folded."""

    def mesure(self, mesure_id: Any) -> Mesure | None:
        return next((m for m in self.mesures_actives if m.mesure_id == str(mesure_id)), None)


def replier(corrige: Corriges, *, jusqu_au: date | None = None) -> EtatParcours:
    """Fold corrected events in stream order; with ``jusqu_au``, only those in effect by that date."""
    etat = EtatParcours()
    for fait in corrige.faits:
        if jusqu_au is not None and fait.date_effet > jusqu_au:
            continue
        evoluer(etat, fait)
        etat.rectifications_appliquees += corrige.rectifications.get(fait.version, [])
    etat.rectifications_appliquees.sort()
    return etat


def evoluer(etat: EtatParcours, fait: Fait) -> None:
    """Apply one (corrected) event to ``etat``."""
    appliquer = _EVOLUTIONS.get(fait.nom)
    if appliquer is not None:  # an event this fold does not know changes nothing it shows
        appliquer(etat, fait)
    etat.derniere_version = fait.version
    etat.evenements_pris_en_compte += 1
    if etat.derniere_date_effet is None or fait.date_effet > etat.derniere_date_effet:
        etat.derniere_date_effet = fait.date_effet


def _date(valeur: Any) -> date | None:
    return date.fromisoformat(str(valeur)) if valeur is not None else None


_MOIS_DE = {"date_effet": "mois_effet", "date_debut": "mois_debut", "date_fin": "mois_fin"}


def jour_publie(donnees: Mapping[str, Any], champ: str = "date_effet") -> date | None:
    """The date ``champ`` of a published payload, exact once its restricted facts are merged in.

    Until then, where the public topic gave only its month (an event dated by the
    18th birthday: ``mois_effet``, ``mois_debut``, ``mois_fin``), the month's first
    day stands for it: the restricted record, on its way on another topic, puts
    the exact date in place (``restreints.py``). None when the payload has neither.
    """
    valeur = donnees.get(champ)
    if valeur is not None:
        return date.fromisoformat(str(valeur))
    mois = donnees.get(_MOIS_DE.get(champ, ""))
    return date.fromisoformat(f"{mois}-01") if mois else None


def _texte(valeur: Any) -> str | None:
    return str(valeur) if valeur is not None else None


def _limite(type_lieu: str, depuis: date) -> date | None:
    return limite_hebergement(type_lieu, depuis) if type_lieu in _TYPES_LIEU else None


def _ouvert(e: EtatParcours, f: Fait) -> None:
    d = f.donnees
    e.ouvert_le = f.date_effet
    e.personne_id = _texte(d.get("personne_id"))
    e.mois_naissance = _texte(d.get("mois_naissance"))
    e.sexe = _texte(d.get("sexe"))
    e.departement = _texte(d.get("departement"))
    e.referent_id = _texte(d.get("referent_id"))


def _ip_recue(e: EtatParcours, f: Fait) -> None:
    d = f.donnees
    e.informations_preoccupantes.append(
        InformationPreoccupante(
            str(d["ip_id"]), f.date_effet, _texte(d.get("origine")), [str(x) for x in d.get("dangers") or []]
        )
    )


def _evaluation(e: EtatParcours, f: Fait) -> None:
    for ip in e.informations_preoccupantes:
        if ip.ip_id == str(f.donnees["ip_id"]):
            ip.suite, ip.evaluee_le = _texte(f.donnees.get("suite")), f.date_effet


def _mesure_decidee(e: EtatParcours, f: Fait) -> None:
    d = f.donnees
    e.mesures_actives.append(
        Mesure(
            mesure_id=str(d["mesure_id"]),
            cadre=str(d.get("cadre")),
            nature=str(d.get("nature")),
            autorite=str(d.get("autorite")),
            reference_decision=_texte(d.get("reference_decision")),
            date_debut=_date(d.get("date_debut")),
            date_echeance=_date(d.get("date_echeance")),
            decidee_le=f.date_effet,
            duree_derogatoire=bool(d.get("duree_derogatoire", False)),
            version_decision=f.version,
        )
    )


def _mesure_renouvelee(e: EtatParcours, f: Fait) -> None:
    mesure = e.mesure(f.donnees["mesure_id"])
    if mesure is not None:
        mesure.date_echeance = _date(f.donnees.get("nouvelle_echeance"))
        mesure.reference_decision = _texte(f.donnees.get("reference_decision")) or mesure.reference_decision
        mesure.renouvellements += 1
        mesure.renouvelee_le = f.date_effet


def _mesure_levee(e: EtatParcours, f: Fait) -> None:
    mesure = e.mesure(f.donnees["mesure_id"])
    if mesure is None:
        return
    e.mesures_actives.remove(mesure)
    mesure.levee_le, mesure.motif_levee = f.date_effet, _texte(f.donnees.get("motif"))
    e.mesures_levees.append(mesure)
    if e.accueil is not None and e.accueil.mesure_id == mesure.mesure_id:
        # The accueil goes on under the first active measure that allows one, as on the write side.
        relais = mesure_portant_accueil((m.mesure_id, m.nature) for m in e.mesures_actives if m.nature in _NATURES)
        if relais is not None:
            e.accueil.mesure_id = relais


def _accueil_debute(e: EtatParcours, f: Fait) -> None:
    d = f.donnees
    type_lieu = str(d.get("type_lieu"))
    e.accueil = AccueilEnCours(
        mesure_id=_texte(d.get("mesure_id")),
        lieu_id=str(d["lieu_id"]),
        type_lieu=type_lieu,
        depuis=f.date_effet,
        debut_accueil=f.date_effet,
        date_limite_hotel=_limite(type_lieu, f.date_effet),
    )
    e.fugue_depuis = None
    e.lieux_successifs += 1


def _lieu_change(e: EtatParcours, f: Fait) -> None:
    if e.accueil is None:
        return
    type_lieu = str(f.donnees.get("type_lieu"))
    e.accueil.lieu_id = str(f.donnees["lieu_id"])
    e.accueil.type_lieu = type_lieu
    e.accueil.depuis = f.date_effet
    e.accueil.date_limite_hotel = _limite(type_lieu, f.date_effet)
    e.lieux_successifs += 1


def _accueil_termine(e: EtatParcours, f: Fait) -> None:
    if e.accueil is not None:
        e.fin_dernier_accueil = FinAccueil(f.date_effet, _texte(f.donnees.get("motif")))
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
    d = f.donnees
    e.accompagnement_jeune_majeur = AccompagnementJeuneMajeur(
        jour_publie(d, "date_debut"),
        jour_publie(d, "date_fin"),
        f.date_effet,
        fin_annee_engagee=bool(d.get("fin_annee_engagee", False)),
    )


def _apjm_renouvele(e: EtatParcours, f: Fait) -> None:
    apjm = e.accompagnement_jeune_majeur
    if apjm is not None:
        apjm.date_fin = jour_publie(f.donnees, "date_fin")
        apjm.fin_annee_engagee = bool(f.donnees.get("fin_annee_engagee", False))
        apjm.renouvellements += 1


def _apjm_termine(e: EtatParcours, f: Fait) -> None:
    e.accompagnement_jeune_majeur = None
    e.apjm_termine_le = f.date_effet


def _sortie(e: EtatParcours, f: Fait) -> None:
    e.sortie = Sortie(f.date_effet, _texte(f.donnees.get("motif")), _texte(f.donnees.get("situation_logement")))


def _rouvert(e: EtatParcours, f: Fait) -> None:
    e.sortie = None
    e.rouvert_le = f.date_effet


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

EVENEMENTS_REPLIES = frozenset(_EVOLUTIONS)
"""The parcours events the fold knows (with ``SaisieRectifiee``, every parcours event of the contracts)."""


def faits_echeances(e: EtatParcours, date_naissance: date | None) -> Faits:
    """The facts the deadline table reads (``droit.echeances``), from a parcours' state and the exact birth date."""
    assert e.ouvert_le is not None
    assert e.mois_naissance is not None
    mesures = sorted([*e.mesures_actives, *e.mesures_levees], key=lambda m: m.version_decision)
    accueil, apjm, fin = e.accueil, e.accompagnement_jeune_majeur, e.fin_dernier_accueil
    return Faits(
        ouvert_le=e.ouvert_le,
        mois_naissance=e.mois_naissance,
        date_naissance=date_naissance,
        rouvert_le=e.rouvert_le,
        mesures=tuple(
            FaitMesure(
                m.mesure_id,
                m.cadre,
                m.nature,
                m.autorite,
                m.date_debut or m.decidee_le,
                m.date_echeance,
                m.decidee_le,
                m.levee_le is None,
            )
            for m in mesures
        ),
        ips=tuple(FaitIP(ip.ip_id, ip.recue_le, ip.evaluee_le) for ip in e.informations_preoccupantes),
        ppe_etabli_le=e.ppe_etabli_le,
        dernier_rapport_le=e.dernier_rapport_le,
        entretien_autonomie_le=e.entretien_autonomie_le,
        majorite_atteinte_le=e.majorite_atteinte_le,
        apjm_debut=apjm.date_debut if apjm else None,
        apjm_fin=apjm.date_fin if apjm else None,
        apjm_fin_annee_engagee=apjm.fin_annee_engagee if apjm else False,
        apjm_termine_le=e.apjm_termine_le,
        accueil_debut=accueil.debut_accueil if accueil else None,
        type_lieu=accueil.type_lieu if accueil else None,
        lieu_depuis=accueil.depuis if accueil else None,
        fin_dernier_accueil=fin.le if fin else None,
        motif_fin_dernier_accueil=fin.motif if fin else None,
        sorti_le=e.sortie.le if e.sortie else None,
        motif_sortie=e.sortie.motif if e.sortie else None,
    )
