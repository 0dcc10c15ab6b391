"""The deadlines a dossier's facts open (DOMAIN.md, 'Deadlines the system watches'): pure rules.

Each rule is a function of the dossier's facts alone, never of today: the
projection stores what they return, and a rebuild returns the same. Whether a
deadline is overdue is decided when it is read.

A deadline disappears when its awaited event arrives (the facts no longer open
it); a parcours that left care keeps only the informational social-housing
window.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from droit.calendrier import age_le, ajouter, anniversaire


class TypeEcheance(StrEnum):
    EVALUATION_IP = "evaluation_ip"
    SAISINE_JUGE = "saisine_juge_des_enfants"
    DECISION_JUGE = "decision_juge_des_enfants"
    PPE = "ppe"
    ECHEANCE_MESURE = "echeance_mesure"
    RAPPORT_SITUATION = "rapport_situation"
    ENTRETIEN_AUTONOMIE = "entretien_autonomie"
    PREPARATION_MAJORITE = "preparation_majorite"
    MAJORITE = "majorite"
    FIN_APJM = "fin_accompagnement_jeune_majeur"
    HOTEL = "limite_hotel"
    PRIORITE_LOGEMENT = "priorite_logement_social"


@dataclass(frozen=True)
class FaitMesure:
    mesure_id: str
    cadre: str
    nature: str
    autorite: str
    date_debut: date
    date_echeance: date | None
    decidee_le: date
    active: bool


@dataclass(frozen=True)
class FaitIP:
    ip_id: str
    recue_le: date
    evaluee_le: date | None


@dataclass(frozen=True)
class Faits:
    """What the deadlines of one parcours depend on."""

    ouvert_le: date
    mois_naissance: str
    """``YYYY-MM``, from ParcoursOuvert: always known."""
    date_naissance: date | None = None
    """The exact date, from the identity; none until it arrives (or once erased)."""
    rouvert_le: date | None = None
    mesures: tuple[FaitMesure, ...] = ()
    ips: tuple[FaitIP, ...] = ()
    ppe_etabli_le: date | None = None
    dernier_rapport_le: date | None = None
    entretien_autonomie_le: date | None = None
    majorite_atteinte_le: date | None = None
    apjm_debut: date | None = None
    apjm_fin: date | None = None
    type_lieu: str | None = None
    lieu_depuis: date | None = None
    date_limite_hotel: date | None = None
    sorti_le: date | None = None
    motif_sortie: str | None = None


@dataclass(frozen=True)
class Echeance:
    """One open deadline: what is awaited, by when, and from when to alert."""

    type: TypeEcheance
    due_le: date
    alerte_le: date
    cle: str = ""
    """What it is about when a parcours may have several (an IP id, a measure id)."""
    informatif: bool = False
    """Nothing to do, something to know (the social-housing priority window)."""
    details: dict[str, Any] = field(default_factory=dict)


# -- delays of the law ---------------------------------------------------------------------

DELAI_EVALUATION_IP_MOIS = 3
DELAI_SAISINE_JUGE_JOURS = 8
DELAI_DECISION_JUGE_JOURS = 15
DELAI_PPE_MOIS = 3
PREAVIS_ECHEANCE_MOIS = 2
PERIODE_RAPPORT_MOIS = 12
PERIODE_RAPPORT_MOINS_DE_2_ANS_MOIS = 6
PREAVIS_HOTEL_JOURS = 15
FENETRE_LOGEMENT_ANS = 3
PREAVIS_GENERAL_MOIS = 1
"""Deadlines whose table gives no alert: shown one month ahead."""

MOTIFS_SORTIE_JEUNE_MAJEUR = frozenset({"majorite_sans_accompagnement", "fin_accompagnement_jeune_majeur"})


def echeances(f: Faits) -> list[Echeance]:
    """Every deadline the facts open, soonest first."""
    if f.sorti_le is not None:
        return list(priorite_logement(f))
    regles = (
        evaluations_ip,
        opp_parquet,
        ppe,
        echeances_mesures,
        rapport_situation,
        entretien_autonomie,
        preparation_majorite,
        majorite,
        fin_apjm,
        hotel,
    )
    ouvertes = [e for regle in regles for e in regle(f)]
    return sorted(ouvertes, key=lambda e: (e.due_le, e.type.value, e.cle))


def evaluations_ip(f: Faits) -> Iterable[Echeance]:
    """An IP is assessed within 3 months of its reception, until EvaluationConclue."""
    for ip in f.ips:
        if ip.evaluee_le is None:
            due = ajouter(ip.recue_le, mois=DELAI_EVALUATION_IP_MOIS)
            yield Echeance(
                TypeEcheance.EVALUATION_IP,
                due,
                _preavis(due, ip.recue_le),
                cle=ip.ip_id,
                details={"ip_id": ip.ip_id, "recue_le": ip.recue_le.isoformat()},
            )


def opp_parquet(f: Faits) -> Iterable[Echeance]:
    """An OPP by the parquet: seize the JE within 8 days, the JE rules within 15, until a JE measure is decided."""
    for opp in f.mesures:
        if not (opp.active and opp.nature == "opp" and opp.autorite == "parquet"):
            continue
        juge_a_statue = any(
            m.autorite == "juge_des_enfants" and m.mesure_id != opp.mesure_id and m.decidee_le >= opp.decidee_le
            for m in f.mesures
        )
        if juge_a_statue:
            continue
        details = {"mesure_id": opp.mesure_id, "date_debut": opp.date_debut.isoformat()}
        saisine = opp.date_debut + timedelta(days=DELAI_SAISINE_JUGE_JOURS)
        decision = opp.date_debut + timedelta(days=DELAI_DECISION_JUGE_JOURS)
        yield Echeance(TypeEcheance.SAISINE_JUGE, saisine, opp.date_debut, cle=opp.mesure_id, details=details)
        yield Echeance(TypeEcheance.DECISION_JUGE, decision, opp.date_debut, cle=opp.mesure_id, details=details)


def ppe(f: Faits) -> Iterable[Echeance]:
    """The PPE is due within 3 months of the first measure's start, until PPEEtabli."""
    if f.ppe_etabli_le is not None or not f.mesures:
        return
    premiere = min(m.date_debut for m in f.mesures)
    due = ajouter(premiere, mois=DELAI_PPE_MOIS)
    yield Echeance(TypeEcheance.PPE, due, _preavis(due, premiere), details={"premiere_mesure_le": premiere.isoformat()})


def echeances_mesures(f: Faits) -> Iterable[Echeance]:
    """An active measure's échéance, alerted 2 months before; a renewal replaces it, a levée closes it."""
    for m in f.mesures:
        if m.active and m.date_echeance is not None:
            alerte = _preavis(m.date_echeance, m.date_debut, mois=PREAVIS_ECHEANCE_MOIS)
            yield Echeance(
                TypeEcheance.ECHEANCE_MESURE,
                m.date_echeance,
                alerte,
                cle=m.mesure_id,
                details={"mesure_id": m.mesure_id, "cadre": m.cadre, "nature": m.nature},
            )


def rapport_situation(f: Faits) -> Iterable[Echeance]:
    """While a judicial measure is active: a report every 12 months (6 under 2 years old).

    Counted from the last report, or from the start of the earliest active
    judicial measure when no report came since. The rhythm is the child's age
    on that starting day: under 2, six months.
    """
    judiciaires = [m for m in f.mesures if m.active and m.cadre == "judiciaire"]
    if not judiciaires:
        return
    debut = min(m.date_debut for m in judiciaires)
    depuis = max(debut, f.dernier_rapport_le) if f.dernier_rapport_le is not None else debut
    mois = PERIODE_RAPPORT_MOINS_DE_2_ANS_MOIS if moins_de_deux_ans(f, depuis) else PERIODE_RAPPORT_MOIS
    due = ajouter(depuis, mois=mois)
    yield Echeance(
        TypeEcheance.RAPPORT_SITUATION,
        due,
        _preavis(due, depuis),
        details={"depuis": depuis.isoformat(), "periode_mois": mois},
    )


def moins_de_deux_ans(f: Faits, jour: date) -> bool:
    """Under 2 on ``jour``; with only the month of birth, the latest possible birth day (the more frequent rhythm)."""
    naissance = f.date_naissance or _dernier_jour_du_mois(f.mois_naissance)
    return age_le(naissance, jour) < 2


def entretien_autonomie(f: Faits) -> Iterable[Echeance]:
    """Schedule at 16½, due by the 17th birthday (as soon as possible when care starts after 17).

    For a minor in care (an active measure, majority not recorded), until
    EntretienAutonomieRealise; needs the exact birth date.
    """
    debut = _debut_prise_en_charge(f)
    if f.date_naissance is None or f.entretien_autonomie_le is not None or debut is None:
        return
    if f.majorite_atteinte_le is not None:
        return
    a_16_ans_et_demi = ajouter(f.date_naissance, annees=16, mois=6)
    due = max(anniversaire(f.date_naissance, 17), debut)
    yield Echeance(
        TypeEcheance.ENTRETIEN_AUTONOMIE,
        due,
        min(due, max(a_16_ans_et_demi, debut)),
        details={"a_17_ans_le": anniversaire(f.date_naissance, 17).isoformat()},
    )


def preparation_majorite(f: Faits) -> Iterable[Echeance]:
    """At 17½, prepare majority (APJM proposal, housing), due by the 18th birthday.

    For a minor in care, until an APJM is granted or majority is recorded.
    """
    debut = _debut_prise_en_charge(f)
    if f.date_naissance is None or debut is None or f.majorite_atteinte_le is not None or f.apjm_debut is not None:
        return
    due = anniversaire(f.date_naissance, 18)
    alerte = min(due, max(ajouter(f.date_naissance, annees=17, mois=6), debut))
    yield Echeance(TypeEcheance.PREPARATION_MAJORITE, due, alerte)


def majorite(f: Faits) -> Iterable[Echeance]:
    """On the 18th birthday, record MajoriteAtteinte (its implied ends follow); until recorded."""
    if f.date_naissance is None or f.majorite_atteinte_le is not None:
        return
    dix_huit_ans = anniversaire(f.date_naissance, 18)
    yield Echeance(TypeEcheance.MAJORITE, dix_huit_ans, dix_huit_ans)


def fin_apjm(f: Faits) -> Iterable[Echeance]:
    """The end of an APJM, alerted 2 months before; a renewal moves it, its end closes it."""
    if f.apjm_fin is None:
        return
    debut = f.apjm_debut or f.apjm_fin
    details: dict[str, Any] = {}
    if f.date_naissance is not None:
        details["limite_21_ans"] = anniversaire(f.date_naissance, 21).isoformat()
    yield Echeance(
        TypeEcheance.FIN_APJM, f.apjm_fin, _preavis(f.apjm_fin, debut, mois=PREAVIS_ECHEANCE_MOIS), details=details
    )


def hotel(f: Faits) -> Iterable[Echeance]:
    """A hotel placement lasts 2 months at most: its limit, while the child is there."""
    if f.type_lieu != "hotel" or f.date_limite_hotel is None:
        return
    depuis = f.lieu_depuis or f.date_limite_hotel
    alerte = min(f.date_limite_hotel, max(depuis, f.date_limite_hotel - timedelta(days=PREAVIS_HOTEL_JOURS)))
    yield Echeance(TypeEcheance.HOTEL, f.date_limite_hotel, alerte)


def priorite_logement(f: Faits) -> Iterable[Echeance]:
    """After leaving care as a young adult: 3 years of priority for social housing (informational)."""
    if f.sorti_le is None or f.motif_sortie == "deces":
        return
    if f.majorite_atteinte_le is None and f.motif_sortie not in MOTIFS_SORTIE_JEUNE_MAJEUR:
        return
    yield Echeance(
        TypeEcheance.PRIORITE_LOGEMENT,
        ajouter(f.sorti_le, annees=FENETRE_LOGEMENT_ANS),
        f.sorti_le,
        informatif=True,
        details={"sorti_le": f.sorti_le.isoformat()},
    )


def _debut_prise_en_charge(f: Faits) -> date | None:
    """When the current care began (first measure since the last reopening); none without an active measure."""
    if not any(m.active for m in f.mesures):
        return None
    depuis = [m.date_debut for m in f.mesures if f.rouvert_le is None or m.decidee_le >= f.rouvert_le]
    return min(depuis) if depuis else None


def _preavis(due: date, declencheur: date, *, mois: int = PREAVIS_GENERAL_MOIS) -> date:
    """``mois`` ahead, never before what opened the deadline, never after the deadline itself."""
    return min(due, max(declencheur, ajouter(due, mois=-mois)))


def _dernier_jour_du_mois(mois: str) -> date:
    annee, numero = (int(x) for x in mois.split("-"))
    return date(annee, numero, calendar.monthrange(annee, numero)[1])
