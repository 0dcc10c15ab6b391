"""The revised rules of DOMAIN.md on the write side, and corrections under the same rules.

Each regression test is named after the fault it was found by; each rule's test
names its article in its docstring.
"""

from __future__ import annotations

from datetime import date, timedelta

from droit.calendrier import ajouter
from services.parcours.domain import parcours_evenements as ev
from services.parcours.domain.parcours import Parcours
from services.parcours.domain.vocabulaire import (
    Autorite,
    Cadre,
    MotifFinAccueil,
    MotifLevee,
    Nature,
    TypeLieu,
)
from tests.unit.fabrique import (
    assert_refused,
    ctx_on,
    decide_mesure,
    lieu,
    open_parcours,
    place,
)

OUVERT_LE = date(2023, 1, 10)
JOUR = date(2023, 2, 1)
AUJOURD_HUI = date(2023, 6, 1)


def rectifier(p: Parcours, version: int, champ: str, valeur: object, jour: date = AUJOURD_HUI) -> None:
    p.rectifier(ctx_on(jour), version_rectifiee=version, champ=champ, nouvelle_valeur=valeur, motif="erreur de saisie")


def version_de(p: Parcours, classe: type) -> int:
    return next(e.originator_version for e in p.pending_events if isinstance(e, classe))


# -- corrections under the rules ---------------------------------------------------


def test_a_correction_of_a_confiage_echeance_to_two_years_and_a_month_is_accepted() -> None:
    """Regression, named after the fault: C. civ. 375 al. 3 holds for a corrected échéance too."""
    p = open_parcours(OUVERT_LE)
    decide_mesure(p, JOUR, Nature.CONFIAGE_ASE)
    decision = version_de(p, ev.MesureDecidee)
    assert_refused(
        p,
        "duree_maximale_depassee",
        lambda: rectifier(p, decision, "date_echeance", ajouter(JOUR, annees=2, mois=1).isoformat()),
    )


def test_a_correction_of_a_ppe_date_effet_to_a_date_in_the_future_is_accepted() -> None:
    """Regression, named after the fault: a date of effect is never after the day its event was recorded."""
    p = open_parcours(OUVERT_LE)
    p.etablir_ppe(ctx_on(JOUR), date_effet=JOUR)
    ppe = version_de(p, ev.PPEEtabli)
    assert_refused(p, "date_effet_future", lambda: rectifier(p, ppe, "date_effet", "2023-02-02"))
    assert_refused(p, "date_effet_future", lambda: rectifier(p, ppe, "date_effet", "2099-01-01"))
    rectifier(p, ppe, "date_effet", "2023-01-31")
    assert p.suivi.ppe_etabli_le == date(2023, 1, 31)


def test_a_correction_of_a_judicial_measure_nature_to_aed_is_accepted() -> None:
    """Regression, named after the fault: the nature must fit the cadre (DOMAIN.md, MesureDecidee)."""
    p = open_parcours(OUVERT_LE)
    decide_mesure(p, JOUR, Nature.CONFIAGE_ASE)
    decision = version_de(p, ev.MesureDecidee)
    assert_refused(p, "nature_hors_cadre", lambda: rectifier(p, decision, "nature", "aed"))


def test_after_a_correction_of_an_echeance_the_state_and_the_renewal_rules_use_it() -> None:
    """Regression, named after the fault: the corrected échéance was shown nowhere on the write side,
    and a renewal to 2 years and 1 month after it was accepted (C. civ. 375 al. 3)."""
    p = open_parcours(OUVERT_LE)
    mesure_id = decide_mesure(p, JOUR, Nature.CONFIAGE_ASE, date_echeance=ajouter(JOUR, annees=1))
    corrigee = ajouter(JOUR, annees=1, mois=6)
    rectifier(p, version_de(p, ev.MesureDecidee), "date_echeance", corrigee.isoformat())
    assert p.mesures[mesure_id].date_echeance == corrigee
    renouveler = lambda echeance: p.renouveler_mesure(  # noqa: E731
        ctx_on(AUJOURD_HUI),
        mesure_id=mesure_id,
        nouvelle_echeance=echeance,
        reference_decision="JE-2",
        date_effet=AUJOURD_HUI,
    )
    assert_refused(p, "duree_maximale_depassee", lambda: renouveler(ajouter(corrigee, annees=2, mois=1)))
    renouveler(ajouter(corrigee, annees=2))
    assert p.mesures[mesure_id].date_echeance == ajouter(corrigee, annees=2)


def test_after_any_correction_made_today_a_rapport_dated_yesterday_is_refused() -> None:
    """Regression, named after the fault: a correction carries the date of what it corrects, so fixing
    a typo does not block recording what happened last week (DOMAIN.md, SaisieRectifiee)."""
    p = open_parcours(OUVERT_LE)
    rectifier(p, 1, "sexe", "M")
    hier = AUJOURD_HUI - timedelta(days=1)
    p.produire_rapport(ctx_on(AUJOURD_HUI), transmis_au_juge=True, date_effet=hier)
    assert p.suivi.dernier_rapport_le == hier
    assert p.derniere_date_effet == hier


def test_a_correction_moving_an_event_after_a_later_one_is_refused_by_the_date_order() -> None:
    """The corrected stream must keep its dates in order (DOMAIN.md, date paragraph)."""
    p = open_parcours(OUVERT_LE)
    p.etablir_ppe(ctx_on(AUJOURD_HUI), date_effet=JOUR)
    p.produire_rapport(ctx_on(AUJOURD_HUI), transmis_au_juge=False, date_effet=JOUR + timedelta(days=10))
    ppe = version_de(p, ev.PPEEtabli)
    assert_refused(p, "date_effet_anterieure", lambda: rectifier(p, ppe, "date_effet", "2023-02-20"))


def test_a_corrected_birth_date_that_would_make_a_measure_an_adults_is_refused() -> None:
    """Every rule holds after a correction: a measure and placement recorded on the eve of 18 cannot follow
    a birth date that makes the person an adult that day (DOMAIN.md, MesureDecidee and AccueilDebute)."""
    p = open_parcours(OUVERT_LE, date_naissance=date(2005, 2, 5))
    place(p, date(2023, 2, 4))
    assert_refused(p, "mesure_de_mineur", lambda: rectifier(p, 1, "date_naissance", "2005-02-01"))


def test_a_correction_dated_by_the_stream_is_the_corrected_event_date() -> None:
    p = open_parcours(OUVERT_LE)
    decide_mesure(p, JOUR, Nature.CONFIAGE_ASE)
    rectifier(p, version_de(p, ev.MesureDecidee), "reference_decision", "JE-2023-002")
    correction = p.pending_events[-1]
    assert isinstance(correction, ev.SaisieRectifiee)
    assert correction.date_effet == JOUR
    assert p.derniere_date_effet == JOUR


def test_a_correction_of_the_lieu_type_or_of_the_departement_is_refused() -> None:
    """The lieu's type is a fact of the lieu's own stream; the département changes only by a transfer."""
    p = open_parcours(OUVERT_LE)
    place(p, JOUR)
    accueil = version_de(p, ev.AccueilDebute)
    assert_refused(p, "champ_non_rectifiable", lambda: rectifier(p, accueil, "type_lieu", "hotel"))
    assert_refused(p, "champ_non_rectifiable", lambda: rectifier(p, 1, "departement", "62"))


# -- the revised rules ---------------------------------------------------------------


def test_an_accueil_72h_from_d_to_d_plus_3_can_be_renewed_to_d_plus_6() -> None:
    """Regression, named after the fault: CASF L223-2 al. 5, an accueil de 72 heures is never renewed."""
    p = open_parcours(OUVERT_LE)
    mesure_id = decide_mesure(p, JOUR, Nature.ACCUEIL_72H, date_echeance=JOUR + timedelta(days=3))
    d3 = JOUR + timedelta(days=3)
    assert_refused(
        p,
        "mesure_non_renouvelable",
        lambda: p.renouveler_mesure(
            ctx_on(d3),
            mesure_id=mesure_id,
            nouvelle_echeance=JOUR + timedelta(days=6),
            reference_decision="x",
            date_effet=d3,
        ),
    )


def test_an_accueil_72h_lasts_three_days_at_most() -> None:
    """CASF L223-2: the accueil de 72 heures."""
    p = open_parcours(OUVERT_LE)
    assert_refused(
        p,
        "duree_maximale_depassee",
        lambda: decide_mesure(p, JOUR, Nature.ACCUEIL_72H, date_echeance=JOUR + timedelta(days=4)),
    )


def test_an_administrative_measure_needs_an_echeance_within_one_year() -> None:
    """CASF L223-5 al. 1: administrative measures are decided for one year at most."""
    p = open_parcours(OUVERT_LE)
    assert_refused(p, "echeance_requise", lambda: decide_mesure(p, JOUR, Nature.AED, date_echeance=None))
    assert_refused(
        p,
        "duree_maximale_depassee",
        lambda: decide_mesure(p, JOUR, Nature.ACCUEIL_URGENCE, date_echeance=ajouter(JOUR, annees=1, jours=1)),
    )
    assert decide_mesure(p, JOUR, Nature.AED, date_echeance=ajouter(JOUR, annees=1)) in p.mesures


def test_a_renewed_confiage_on_article_375_al_4_may_again_exceed_two_years() -> None:
    """C. civ. 375 al. 4: the derogatory duration of the decision governs its renewals."""
    p = open_parcours(OUVERT_LE, date_naissance=date(2015, 1, 1))
    mesure_id = p.decider_mesure(
        ctx_on(JOUR),
        cadre=Cadre.JUDICIAIRE,
        nature=Nature.CONFIAGE_ASE,
        autorite=Autorite.JUGE_DES_ENFANTS,
        reference_decision="JE-375-4",
        date_debut=JOUR,
        date_echeance=ajouter(JOUR, annees=3),
        date_effet=JOUR,
        duree_derogatoire=True,
    )
    p.renouveler_mesure(
        ctx_on(AUJOURD_HUI),
        mesure_id=mesure_id,
        nouvelle_echeance=ajouter(JOUR, annees=7),
        reference_decision="JE-375-4-bis",
        date_effet=AUJOURD_HUI,
    )
    assert p.mesures[mesure_id].date_echeance == ajouter(JOUR, annees=7)


def test_designating_the_current_referent_again_records_a_new_event_each_time() -> None:
    """Regression, named after the fault: ReferentDesigne names a référent other than the current one."""
    p = open_parcours(OUVERT_LE, referent_id="referent-1")
    assert_refused(
        p, "meme_referent", lambda: p.designer_referent(ctx_on(JOUR), referent_id="referent-1", date_effet=JOUR)
    )
    p.designer_referent(ctx_on(JOUR), referent_id="referent-2", date_effet=JOUR)
    assert p.referent_id == "referent-2"


def test_after_the_opp_carrying_the_accueil_is_lifted_the_confiage_carries_it() -> None:
    """DOMAIN.md, MesureLevee: an accueil continues under the first active measure that allows it."""
    p = open_parcours(OUVERT_LE)
    opp, _ = place(p, JOUR, Nature.OPP)
    confiage = decide_mesure(p, JOUR + timedelta(days=10), Nature.CONFIAGE_ASE)
    p.lever_mesure(ctx_on(AUJOURD_HUI), mesure_id=opp, motif=MotifLevee.MAINLEVEE, date_effet=AUJOURD_HUI)
    assert p.accueil is not None
    assert p.accueil.mesure_id == confiage


def test_an_apjm_ends_before_21_unless_it_finishes_the_year_under_way() -> None:
    """CASF L222-5, last paragraph: past 21 only to finish the school or university year, a year at most."""
    p = open_parcours(date(2022, 9, 1), date_naissance=date(2006, 6, 15))
    p.atteindre_majorite(ctx_on(date(2024, 6, 15)))
    jour = date(2024, 6, 20)
    vingt_et_un = date(2027, 6, 15)

    def accorder(fin: date, annee: bool) -> None:
        p.accorder_apjm(ctx_on(jour), date_debut=jour, date_fin=fin, date_effet=jour, fin_annee_engagee=annee)

    assert_refused(p, "apjm_au_dela_de_21_ans", lambda: accorder(vingt_et_un, annee=False))
    assert_refused(
        p, "apjm_au_dela_de_l_annee_engagee", lambda: accorder(ajouter(vingt_et_un, annees=1, jours=1), annee=True)
    )
    accorder(date(2027, 6, 14), annee=False)
    p.renouveler_apjm(
        ctx_on(date(2027, 6, 1)), date_fin=date(2027, 9, 30), date_effet=date(2027, 6, 1), fin_annee_engagee=True
    )
    assert p.apjm is not None
    assert (p.apjm.date_fin, p.apjm.fin_annee_engagee) == (date(2027, 9, 30), True)


def test_a_hebergement_derogatoire_is_refused_at_15() -> None:
    """Décret 2024-119, CASF L221-2-3: from 16 to 21 years old."""
    p = open_parcours(OUVERT_LE, date_naissance=date(2009, 6, 1))
    mesure_id = decide_mesure(p, date(2024, 5, 1))
    assert_refused(
        p,
        "hebergement_derogatoire_hors_age",
        lambda: p.debuter_accueil(
            ctx_on(date(2024, 5, 1)),
            mesure_id=mesure_id,
            lieu=lieu(TypeLieu.HEBERGEMENT_DEROGATOIRE),
            date_effet=date(2024, 5, 1),
        ),
    )


def test_a_birth_date_cannot_be_corrected_once_majority_is_recorded() -> None:
    """Regression, named after the fault: a corrected birth date re-dates the recorded majority and the ends
    it implied, in the same commit (DOMAIN.md, MajoriteAtteinte: dated on the 18th birthday)."""
    p = open_parcours(date(2022, 9, 1), date_naissance=date(2006, 6, 15))
    place(p, date(2022, 9, 1))
    p.atteindre_majorite(ctx_on(date(2024, 7, 1)))
    assert p.majorite_atteinte_le == date(2024, 6, 15)
    debut = len(p.pending_events)
    rectifier(p, 1, "date_naissance", "2006-01-16", jour=date(2024, 9, 1))
    corrections = p.pending_events[debut:]
    assert [(c.evenement_rectifie, c.champ) for c in corrections] == [
        ("ParcoursOuvert", "date_naissance"),
        ("MajoriteAtteinte", "date_effet"),
        ("AccueilTermine", "date_effet"),
        ("MesureLevee", "date_effet"),
    ]
    assert p.majorite_atteinte_le == date(2024, 1, 16)
    assert p.accueil is None
    assert all(not m.active and m.levee_le == date(2024, 1, 16) for m in p.mesures.values())


def test_a_birth_date_corrected_after_a_majority_recorded_before_the_opening_re_dates_the_majority() -> None:
    """Found by the property test, whose model replayed the corrected birth date without re-dating the majority:
    majority is dated on the 18th birthday whenever it is recorded, even before an adult's opening, so the
    corrected stream is the one recorded with the new birthday, and it passes (DOMAIN.md, MajoriteAtteinte)."""
    p = open_parcours(date(2023, 6, 3), date_naissance=date(2005, 6, 1))
    p.atteindre_majorite(ctx_on(date(2023, 6, 3)))
    assert p.majorite_atteinte_le == date(2023, 6, 1)
    debut = len(p.pending_events)
    rectifier(p, 1, "date_naissance", "2005-06-02", jour=date(2023, 6, 3))
    corrections = p.pending_events[debut:]
    assert [(c.evenement_rectifie, c.champ, c.nouvelle_valeur) for c in corrections] == [
        ("ParcoursOuvert", "date_naissance", "2005-06-02"),
        ("MajoriteAtteinte", "date_effet", "2023-06-02"),
    ]
    recorded_so = open_parcours(date(2023, 6, 3), date_naissance=date(2005, 6, 2))
    recorded_so.atteindre_majorite(ctx_on(date(2023, 6, 3)))
    assert (p.date_naissance, p.majorite_atteinte_le, p.derniere_date_effet) == (
        recorded_so.date_naissance,
        recorded_so.majorite_atteinte_le,
        recorded_so.derniere_date_effet,
    )


def test_a_measure_can_start_before_the_childs_birth() -> None:
    """Regression, named after the fault: a measure protects a child who is born."""
    p = open_parcours(OUVERT_LE, date_naissance=date(2014, 5, 1))
    assert_refused(
        p, "mesure_avant_naissance", lambda: decide_mesure(p, JOUR, Nature.CONFIAGE_ASE, date_debut=date(2010, 1, 1))
    )


def test_a_measure_can_be_lifted_for_majority_at_12() -> None:
    """Regression, named after the fault: a levée or an end of accueil "for majority" comes at 18 at the earliest."""
    p = open_parcours(OUVERT_LE, date_naissance=date(2010, 3, 15))
    mesure_id, _ = place(p, JOUR)
    assert_refused(
        p,
        "majorite_pas_encore_atteinte",
        lambda: p.lever_mesure(
            ctx_on(AUJOURD_HUI),
            mesure_id=mesure_id,
            motif=MotifLevee.MAJORITE,
            date_effet=AUJOURD_HUI,
            motif_fin_accueil=MotifFinAccueil.RETOUR_EN_FAMILLE,
        ),
    )
