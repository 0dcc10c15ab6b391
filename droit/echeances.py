"""The deadlines the law sets on a parcours (DOMAIN.md, "Deadlines the system watches"): pure rules.

Each rule is a function of a parcours' facts alone, never of today: a read
model stores what they return, a rebuild returns the same, and the
notifications service can time its alerts on them. Whether a deadline is
overdue is decided when it is read.

A deadline disappears when its awaited event arrives (the facts no longer open
it); a parcours that left care keeps only the informational social-housing
window. Sources: code de l'action sociale et des familles (CASF), code civil
(C. civ.), code de procédure civile (CPC), code de la construction et de
l'habitation (CCH).

No rule raises on a valid ``date``, however extreme: every sum of dates goes
through :func:`droit.calendrier.ajouter`, which clamps to the calendar's
bounds (1 January 1, 31 December 9999). A fact at the edge of the calendar (a
correction typed as 0001-01-01) thus opens its deadline on the first or last
representable day, early or late alike: clamped rather than skipped, since a
deadline left out would hide a duty, and a clamped one is as far off in
practice as the law's. The write side refuses such dates; the rules, and the
read models that store what they return, do not depend on it.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from droit.calendrier import age_le, ajouter, anniversaire
from droit.regles import limite_hebergement


class TypeEcheance(StrEnum):
    EVALUATION_IP = "evaluation_ip"
    SAISINE_JUGE = "saisine_juge_des_enfants"
    DECISION_JUGE = "decision_juge_des_enfants"
    SAISINE_JUGE_ACCUEIL_URGENCE = "saisine_juge_accueil_urgence"
    FIN_ACCUEIL_72H = "fin_accueil_72h"
    PPE = "ppe"
    ECHEANCE_MESURE = "echeance_mesure"
    RAPPORT_SITUATION = "rapport_situation"
    ENTRETIEN_AUTONOMIE = "entretien_autonomie"
    PREPARATION_MAJORITE = "preparation_majorite"
    MAJORITE = "majorite"
    PROPOSITION_APJM = "proposition_accompagnement_jeune_majeur"
    FIN_APJM = "fin_accompagnement_jeune_majeur"
    HOTEL = "limite_hotel"
    HEBERGEMENT_DEROGATOIRE = "limite_hebergement_derogatoire"
    PRIORITE_LOGEMENT = "priorite_logement_social"


@dataclass(frozen=True)
class Regle:
    """Why a deadline exists: what is awaited, in plain French, and the article of law it follows."""

    attendu: str
    article: str
    urgente: bool = False
    """Counted in days (a judge to seize, a 72-hour stay): alerted at once, never left for a digest."""


REGLES: dict[TypeEcheance, Regle] = {
    TypeEcheance.EVALUATION_IP: Regle("évaluer l'information préoccupante (3 mois)", "CASF L226-3, D226-2-2"),
    TypeEcheance.SAISINE_JUGE: Regle("saisir le juge des enfants après l'OPP (8 jours)", "C. civ. 375-5 al. 2", True),
    TypeEcheance.DECISION_JUGE: Regle("décision du juge des enfants après l'OPP (15 jours)", "CPC 1184", True),
    TypeEcheance.SAISINE_JUGE_ACCUEIL_URGENCE: Regle(
        "saisir le juge après un accueil d'urgence (5 jours)", "CASF L223-2 al. 4", True
    ),
    TypeEcheance.FIN_ACCUEIL_72H: Regle(
        "fin de l'accueil de 72 heures : retour, admission ou saisine du juge", "CASF L223-2 al. 5", True
    ),
    TypeEcheance.PPE: Regle("établir le projet pour l'enfant (3 mois)", "CASF L223-1-1"),
    TypeEcheance.ECHEANCE_MESURE: Regle(
        "renouveler ou lever la mesure avant son échéance", "CASF L223-5 al. 1, C. civ. 375 al. 3"
    ),
    TypeEcheance.RAPPORT_SITUATION: Regle("rapport de situation (12 mois, 6 avant 3 ans)", "CASF L223-5 al. 2"),
    TypeEcheance.ENTRETIEN_AUTONOMIE: Regle("entretien d'autonomie (avant 17 ans)", "CASF L222-5-1"),
    TypeEcheance.PREPARATION_MAJORITE: Regle(
        "préparer la majorité : proposition d'APJM, logement", "CASF L222-5-1, L222-5-2"
    ),
    TypeEcheance.MAJORITE: Regle("majorité : proposer un accompagnement jeune majeur", "C. civ. 414, CASF L222-5"),
    TypeEcheance.PROPOSITION_APJM: Regle(
        "proposer un accompagnement jeune majeur au jeune devenu majeur", "CASF L222-5, L222-5-1"
    ),
    TypeEcheance.FIN_APJM: Regle("fin de l'accompagnement jeune majeur (limite 21 ans)", "CASF L222-5"),
    TypeEcheance.HOTEL: Regle("hébergement à l'hôtel : 2 mois au plus", "CASF L221-2-3"),
    TypeEcheance.HEBERGEMENT_DEROGATOIRE: Regle(
        "hébergement dérogatoire : 2 mois au plus", "CASF L221-2-3, décret 2024-119"
    ),
    TypeEcheance.PRIORITE_LOGEMENT: Regle("priorité pour un logement social (3 ans après la sortie)", "CCH L441-1"),
}
"""Each deadline type's rule, as an alert states it (issue: "why: the rule and its article")."""


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
    """What the deadlines of one parcours depend on (as corrected: the facts now known to be true)."""

    ouvert_le: date
    mois_naissance: str
    """``YYYY-MM``, from ParcoursOuvert: always known."""
    date_naissance: date | None = None
    """The exact date, from the identity; none until it arrives (or once erased)."""
    rouvert_le: date | None = None
    mesures: tuple[FaitMesure, ...] = ()
    """Every measure, lifted ones included, in the order they were decided."""
    ips: tuple[FaitIP, ...] = ()
    ppe_etabli_le: date | None = None
    dernier_rapport_le: date | None = None
    entretien_autonomie_le: date | None = None
    majorite_atteinte_le: date | None = None
    apjm_debut: date | None = None
    apjm_fin: date | None = None
    apjm_fin_annee_engagee: bool = False
    apjm_termine_le: date | None = None
    """When the last APJM ended; none while one runs or when none was granted."""
    accueil_debut: date | None = None
    """The start of the current accueil; none when the child is not placed."""
    type_lieu: str | None = None
    """The current lieu's type (none when not placed)."""
    lieu_depuis: date | None = None
    """Since when the child is in the current lieu."""
    fin_dernier_accueil: date | None = None
    motif_fin_dernier_accueil: str | None = None
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
DELAI_SAISINE_ACCUEIL_URGENCE_JOURS = 5
DUREE_ACCUEIL_72H_JOURS = 3
DELAI_PPE_MOIS = 3
PREAVIS_ECHEANCE_MOIS = 2
PERIODE_RAPPORT_MOIS = 12
PERIODE_RAPPORT_MOINS_DE_3_ANS_MOIS = 6
AGE_RAPPORT_SEMESTRIEL = 3
PREAVIS_HEBERGEMENT_JOURS = 15
FENETRE_LOGEMENT_ANS = 3
PREAVIS_GENERAL_MOIS = 1
"""Deadlines whose table gives no alert: shown one month ahead."""

MOTIFS_SORTIE_JEUNE_MAJEUR = frozenset({"majorite_sans_accompagnement", "fin_accompagnement_jeune_majeur"})
SUITES_ACCUEIL_URGENCE = frozenset({"accueil_provisoire"})
"""An administrative measure that follows an accueil d'urgence: the family agreed (an admission)."""


def echeances(f: Faits) -> list[Echeance]:
    """Every deadline the facts open, soonest first."""
    if f.sorti_le is not None:
        return list(priorite_logement(f))
    regles = (
        evaluations_ip,
        opp_parquet,
        accueil_urgence,
        accueil_72h,
        ppe,
        echeances_mesures,
        rapport_situation,
        entretien_autonomie,
        preparation_majorite,
        majorite,
        proposition_apjm,
        fin_apjm,
        hebergement_limite,
    )
    ouvertes = [e for regle in regles for e in regle(f)]
    return sorted(ouvertes, key=lambda e: (e.due_le, e.type.value, e.cle))


def evaluations_ip(f: Faits) -> Iterable[Echeance]:
    """An IP is assessed within 3 months of its reception, until EvaluationConclue (CASF L226-3, décret 2016-1476)."""
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
    """An OPP by the parquet: seize the JE within 8 days (C. civ. 375-5 al. 2), the JE rules within 15 (CPC 1184).

    Open until a measure of the juge des enfants is decided after the OPP.
    """
    for rang, opp in enumerate(f.mesures):
        if not (opp.active and opp.nature == "opp" and opp.autorite == "parquet"):
            continue
        if any(m.autorite == "juge_des_enfants" for m in f.mesures[rang + 1 :]):
            continue
        details = {"mesure_id": opp.mesure_id, "date_debut": opp.date_debut.isoformat()}
        saisine = ajouter(opp.date_debut, jours=DELAI_SAISINE_JUGE_JOURS)
        decision = ajouter(opp.date_debut, jours=DELAI_DECISION_JUGE_JOURS)
        yield Echeance(TypeEcheance.SAISINE_JUGE, saisine, opp.date_debut, cle=opp.mesure_id, details=details)
        yield Echeance(TypeEcheance.DECISION_JUGE, decision, opp.date_debut, cle=opp.mesure_id, details=details)


def accueil_urgence(f: Faits) -> Iterable[Echeance]:
    """An accueil d'urgence: seize the judge within 5 days of its start (CASF L223-2 al. 4).

    Unless the child went home (the last accueil ended with ``retour_en_famille``
    and none is in progress) or the family agreed (an ``accueil_provisoire``
    decided after it); a judicial measure decided after it shows the judge was
    seized. Alerted from the start.
    """
    for rang, urgence in enumerate(f.mesures):
        if not (urgence.active and urgence.nature == "accueil_urgence"):
            continue
        suites = f.mesures[rang + 1 :]
        if any(m.cadre == "judiciaire" or m.nature in SUITES_ACCUEIL_URGENCE for m in suites):
            continue
        rentre = (
            f.accueil_debut is None
            and f.motif_fin_dernier_accueil == "retour_en_famille"
            and f.fin_dernier_accueil is not None
            and f.fin_dernier_accueil >= urgence.date_debut
        )
        if rentre:
            continue
        yield Echeance(
            TypeEcheance.SAISINE_JUGE_ACCUEIL_URGENCE,
            ajouter(urgence.date_debut, jours=DELAI_SAISINE_ACCUEIL_URGENCE_JOURS),
            urgence.date_debut,
            cle=urgence.mesure_id,
            details={"mesure_id": urgence.mesure_id, "date_debut": urgence.date_debut.isoformat()},
        )


def accueil_72h(f: Faits) -> Iterable[Echeance]:
    """An accueil de 72 heures ends 72 hours after its start: the child goes home, or an admission
    or a seizure of the judge follows (CASF L223-2 al. 5); open until the measure is lifted, alerted from its start.
    """
    for m in f.mesures:
        if m.active and m.nature == "accueil_72h":
            yield Echeance(
                TypeEcheance.FIN_ACCUEIL_72H,
                ajouter(m.date_debut, jours=DUREE_ACCUEIL_72H_JOURS),
                m.date_debut,
                cle=m.mesure_id,
                details={"mesure_id": m.mesure_id, "date_debut": m.date_debut.isoformat()},
            )


def ppe(f: Faits) -> Iterable[Echeance]:
    """The PPE is due within 3 months of the first measure's start, until PPEEtabli (CASF L223-1-1)."""
    if f.ppe_etabli_le is not None or not f.mesures:
        return
    premiere = min(m.date_debut for m in f.mesures)
    due = ajouter(premiere, mois=DELAI_PPE_MOIS)
    yield Echeance(TypeEcheance.PPE, due, _preavis(due, premiere), details={"premiere_mesure_le": premiere.isoformat()})


def echeances_mesures(f: Faits) -> Iterable[Echeance]:
    """An active measure's échéance (CASF L223-5 al. 1, C. civ. 375 al. 3), alerted 2 months before it,
    or at the measure's start when it lasts less; a renewal replaces it, a levée closes it.
    """
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
    """A report on the child's situation every 12 months, every 6 under 3 years old (CASF L223-5 al. 2).

    For every child placed or under a measure, administrative or judicial:
    while a measure is active. Counted from the last report, or from the start
    of the earliest active measure when no report came since. The rhythm is
    the child's age on that starting day.
    """
    actives = [m for m in f.mesures if m.active]
    if not actives:
        return
    debut = min(m.date_debut for m in actives)
    depuis = max(debut, f.dernier_rapport_le) if f.dernier_rapport_le is not None else debut
    mois = PERIODE_RAPPORT_MOINS_DE_3_ANS_MOIS if moins_de_trois_ans(f, depuis) else PERIODE_RAPPORT_MOIS
    due = ajouter(depuis, mois=mois)
    yield Echeance(
        TypeEcheance.RAPPORT_SITUATION,
        due,
        _preavis(due, depuis),
        details={"depuis": depuis.isoformat(), "periode_mois": mois},
    )


def moins_de_trois_ans(f: Faits, jour: date) -> bool:
    """Under 3 on ``jour`` (CASF L223-5 al. 2); with only the month of birth, the latest possible
    birth day is taken (the more frequent rhythm when in doubt)."""
    naissance = f.date_naissance or _dernier_jour_du_mois(f.mois_naissance)
    return age_le(naissance, jour) < AGE_RAPPORT_SEMESTRIEL


def entretien_autonomie(f: Faits) -> Iterable[Echeance]:
    """For a minor placed: scheduled at 16½, due by the 17th birthday, or as soon as possible
    when the placement starts after 17 (CASF L222-5-1).

    Only while the child is placed and majority is not recorded, until
    EntretienAutonomieRealise; needs the exact birth date.
    """
    debut = f.accueil_debut
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
    """At 17½, prepare majority (APJM proposal, housing), due by the 18th birthday (CASF L222-5-1, L222-5-2).

    For a minor in care (an active measure), until an APJM is granted or majority is recorded.
    """
    debut = _debut_prise_en_charge(f)
    if f.date_naissance is None or debut is None or f.majorite_atteinte_le is not None or f.apjm_debut is not None:
        return
    due = anniversaire(f.date_naissance, 18)
    alerte = min(due, max(ajouter(f.date_naissance, annees=17, mois=6), debut))
    yield Echeance(TypeEcheance.PREPARATION_MAJORITE, due, alerte)


def majorite(f: Faits) -> Iterable[Echeance]:
    """On the 18th birthday (C. civ. 414), record MajoriteAtteinte (its implied ends follow); until recorded."""
    if f.date_naissance is None or f.majorite_atteinte_le is not None:
        return
    dix_huit_ans = anniversaire(f.date_naissance, 18)
    yield Echeance(TypeEcheance.MAJORITE, dix_huit_ans, dix_huit_ans)


def proposition_apjm(f: Faits) -> Iterable[Echeance]:
    """Once majority is recorded, offer the young adult an accompagnement jeune majeur (CASF L222-5,
    L222-5-1): due on the 18th birthday, open until an APJM is granted or the parcours ends (a sortie,
    ``majorite_sans_accompagnement`` when it is declined)."""
    if f.majorite_atteinte_le is None or f.apjm_debut is not None or f.apjm_fin is not None:
        return
    if f.apjm_termine_le is not None:
        return
    # Due on the 18th birthday; the date of majority stands in when the exact birth date is unknown (a
    # reader of the public topic sees the majority's month only).
    due = anniversaire(f.date_naissance, 18) if f.date_naissance is not None else f.majorite_atteinte_le
    yield Echeance(TypeEcheance.PROPOSITION_APJM, due, due)


TYPES_PAR_ANNIVERSAIRE = frozenset(
    {
        TypeEcheance.ENTRETIEN_AUTONOMIE,
        TypeEcheance.PREPARATION_MAJORITE,
        TypeEcheance.MAJORITE,
        TypeEcheance.PROPOSITION_APJM,
        TypeEcheance.FIN_APJM,
    }
)
"""Deadlines whose dates follow from the exact birth date (16½, 17, 17½, 18, 21 years): outside the
service that holds the dossier, their dates travel as months only, as the birthday-dated events do on
the public topic (``contracts.publication.date_par_anniversaire``)."""


def limite_apjm(date_naissance: date, *, fin_annee_engagee: bool = False) -> date:
    """The day an accompagnement jeune majeur must have ended by (CASF L222-5).

    The 21st birthday; one year after it when the support goes on to finish
    the school or university year under way (``fin_annee_engagee``, L222-5,
    last paragraph).
    """
    vingt_et_un_ans = anniversaire(date_naissance, 21)
    return ajouter(vingt_et_un_ans, annees=1) if fin_annee_engagee else vingt_et_un_ans


def fin_apjm(f: Faits) -> Iterable[Echeance]:
    """The end of an APJM, alerted 2 months before; a renewal moves it, its end closes it (CASF L222-5).

    Hard stop at the 21st birthday, or a year after it to finish the school or
    university year under way (``fin_annee_engagee``): the deadline is never
    later than that limit.
    """
    if f.apjm_fin is None:
        return
    debut = f.apjm_debut or f.apjm_fin
    due = f.apjm_fin
    details: dict[str, Any] = {"fin_annee_engagee": f.apjm_fin_annee_engagee}
    if f.date_naissance is not None:
        limite = limite_apjm(f.date_naissance, fin_annee_engagee=f.apjm_fin_annee_engagee)
        due = min(due, limite)
        details["limite_21_ans"] = anniversaire(f.date_naissance, 21).isoformat()
        details["limite_legale"] = limite.isoformat()
    yield Echeance(TypeEcheance.FIN_APJM, due, _preavis(due, debut, mois=PREAVIS_ECHEANCE_MOIS), details=details)


def hebergement_limite(f: Faits) -> Iterable[Echeance]:
    """A stay in a ``hebergement_derogatoire`` (décret 2024-119), or in a hotel recorded before
    1 Feb 2024, lasts 2 months at most (CASF L221-2-3): its limit, while the young person is there.
    """
    if f.type_lieu is None or f.lieu_depuis is None:
        return
    limite = limite_hebergement(f.type_lieu, f.lieu_depuis)
    if limite is None:
        return
    type_ = TypeEcheance.HOTEL if f.type_lieu == "hotel" else TypeEcheance.HEBERGEMENT_DEROGATOIRE
    alerte = min(limite, max(f.lieu_depuis, ajouter(limite, jours=-PREAVIS_HEBERGEMENT_JOURS)))
    yield Echeance(type_, limite, alerte, details={"type_lieu": f.type_lieu, "depuis": f.lieu_depuis.isoformat()})


def priorite_logement(f: Faits) -> Iterable[Echeance]:
    """After leaving care as a young adult: 3 years of priority for social housing (CCH L441-1, informational)."""
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
