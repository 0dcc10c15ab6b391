"""The deadline table of DOMAIN.md (``droit.echeances``), as pure functions of a parcours' facts.

Dates in, deadlines out. Each test of a deadline the law revised names its article.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from droit.echeances import (
    Echeance,
    FaitIP,
    FaitMesure,
    Faits,
    TypeEcheance,
    echeances,
    limite_apjm,
)

T = TypeEcheance
NE_LE = date(2010, 1, 20)
OUVERT_LE = date(2024, 1, 8)


def faits(**champs: object) -> Faits:
    base = Faits(ouvert_le=OUVERT_LE, mois_naissance=NE_LE.isoformat()[:7], date_naissance=NE_LE)
    return replace(base, **champs)  # type: ignore[arg-type]


def mesure(
    mesure_id: str = "m1",
    *,
    cadre: str = "judiciaire",
    nature: str = "confiage_ase",
    autorite: str = "juge_des_enfants",
    debut: date = date(2024, 1, 24),
    echeance: date | None = None,
    decidee_le: date | None = None,
    active: bool = True,
) -> FaitMesure:
    return FaitMesure(mesure_id, cadre, nature, autorite, debut, echeance, decidee_le or debut, active)


def place(
    debut: date = date(2024, 1, 25), *, type_lieu: str = "mecs", lieu_depuis: date | None = None
) -> dict[str, object]:
    """The facts of a child placed since ``debut`` (in ``type_lieu`` since ``lieu_depuis``)."""
    return {"accueil_debut": debut, "type_lieu": type_lieu, "lieu_depuis": lieu_depuis or debut}


def de_type(f: Faits, type_: TypeEcheance) -> list[Echeance]:
    return [e for e in echeances(f) if e.type == type_]


def une(f: Faits, type_: TypeEcheance) -> Echeance:
    trouvees = de_type(f, type_)
    assert len(trouvees) == 1, echeances(f)
    return trouvees[0]


# -- IP ------------------------------------------------------------------------------------


def test_an_ip_must_be_assessed_within_three_months_of_its_reception() -> None:
    e = une(faits(ips=(FaitIP("ip1", date(2024, 1, 8), None),)), T.EVALUATION_IP)
    assert (e.due_le, e.alerte_le, e.cle) == (date(2024, 4, 8), date(2024, 3, 8), "ip1")


def test_the_assessment_deadline_disappears_once_the_evaluation_is_concluded() -> None:
    f = faits(ips=(FaitIP("ip1", date(2024, 1, 8), date(2024, 1, 10)), FaitIP("ip2", date(2024, 2, 1), None)))
    assert [e.cle for e in de_type(f, T.EVALUATION_IP)] == ["ip2"]


def test_an_ip_received_on_the_31st_is_due_on_the_last_day_of_the_third_month() -> None:
    assert une(faits(ips=(FaitIP("ip1", date(2024, 11, 30), None),)), T.EVALUATION_IP).due_le == date(2025, 2, 28)


# -- OPP by the parquet ----------------------------------------------------------------------


def opp(**champs: object) -> FaitMesure:
    return mesure("opp", nature="opp", autorite="parquet", debut=date(2024, 1, 10), **champs)  # type: ignore[arg-type]


def test_an_opp_by_the_parquet_asks_to_seize_the_judge_within_8_days_and_a_ruling_within_15() -> None:
    f = faits(mesures=(opp(),))
    assert (une(f, T.SAISINE_JUGE).due_le, une(f, T.SAISINE_JUGE).alerte_le) == (date(2024, 1, 18), date(2024, 1, 10))
    assert une(f, T.DECISION_JUGE).due_le == date(2024, 1, 25)


def test_the_opp_deadlines_disappear_when_the_juge_des_enfants_decides_a_measure() -> None:
    f = faits(mesures=(opp(), mesure("je", debut=date(2024, 1, 24))))
    assert de_type(f, T.SAISINE_JUGE) == de_type(f, T.DECISION_JUGE) == []


def test_a_judges_measure_decided_before_the_opp_does_not_answer_it() -> None:
    ancienne = mesure("aemo", nature="aemo", debut=date(2023, 6, 1), active=False)
    assert len(de_type(faits(mesures=(ancienne, opp())), T.DECISION_JUGE)) == 1


def test_a_lifted_opp_awaits_no_judge() -> None:
    assert de_type(faits(mesures=(opp(active=False),)), T.SAISINE_JUGE) == []


def test_an_opp_ordered_by_a_judge_opens_no_parquet_deadline() -> None:
    f = faits(mesures=(mesure("opp", nature="opp", autorite="juge_des_enfants", debut=date(2024, 1, 10)),))
    assert de_type(f, T.SAISINE_JUGE) == []


# -- accueil d'urgence, accueil de 72 heures ------------------------------------------------


def urgence(mesure_id: str = "urg", *, debut: date = date(2024, 3, 4), active: bool = True) -> FaitMesure:
    return mesure(
        mesure_id,
        cadre="administratif",
        nature="accueil_urgence",
        autorite="president_cd",
        debut=debut,
        echeance=date(2024, 9, 3),
        active=active,
    )


def test_an_accueil_d_urgence_asks_to_seize_the_judge_within_five_days() -> None:
    """CASF L223-2 al. 4: the service seizes the judge when the child could not go home within five days."""
    e = une(faits(mesures=(urgence(),), **place(date(2024, 3, 4))), T.SAISINE_JUGE_ACCUEIL_URGENCE)
    assert (e.due_le, e.alerte_le, e.cle) == (date(2024, 3, 9), date(2024, 3, 4), "urg")


def test_no_seizure_is_awaited_once_the_child_went_home_after_an_accueil_d_urgence() -> None:
    """CASF L223-2 al. 4: a child given back to the family within the five days needs no judge."""
    rentre = faits(
        mesures=(urgence(),), fin_dernier_accueil=date(2024, 3, 6), motif_fin_dernier_accueil="retour_en_famille"
    )
    assert de_type(rentre, T.SAISINE_JUGE_ACCUEIL_URGENCE) == []
    ailleurs = replace(rentre, motif_fin_dernier_accueil="autre")
    assert len(de_type(ailleurs, T.SAISINE_JUGE_ACCUEIL_URGENCE)) == 1


def test_no_seizure_is_awaited_when_the_family_agreed_or_a_judge_decided_after_the_accueil_d_urgence() -> None:
    """CASF L223-2 al. 4: the family's agreement (an accueil provisoire) or the judge's decision answers it."""
    accord = mesure("ap", cadre="administratif", nature="accueil_provisoire", autorite="president_cd")
    assert de_type(faits(mesures=(urgence(), accord)), T.SAISINE_JUGE_ACCUEIL_URGENCE) == []
    assert de_type(faits(mesures=(urgence(), mesure("je"))), T.SAISINE_JUGE_ACCUEIL_URGENCE) == []
    assert len(de_type(faits(mesures=(mesure("je"), urgence())), T.SAISINE_JUGE_ACCUEIL_URGENCE)) == 1
    assert de_type(faits(mesures=(urgence(active=False),)), T.SAISINE_JUGE_ACCUEIL_URGENCE) == []


def test_an_accueil_de_72_heures_ends_three_days_after_it_started() -> None:
    """CASF L223-2 al. 5: after 72 hours the child goes home, or an admission or a seizure of the judge follows."""
    m = mesure(
        "72h",
        cadre="administratif",
        nature="accueil_72h",
        autorite="president_cd",
        debut=date(2024, 3, 4),
        echeance=date(2024, 3, 7),
    )
    e = une(faits(mesures=(m,)), T.FIN_ACCUEIL_72H)
    assert (e.due_le, e.alerte_le, e.cle) == (date(2024, 3, 7), date(2024, 3, 4), "72h")
    assert de_type(faits(mesures=(replace(m, active=False),)), T.FIN_ACCUEIL_72H) == []


# -- PPE -----------------------------------------------------------------------------------


def test_the_ppe_is_due_three_months_after_the_first_measure_started_even_once_lifted() -> None:
    f = faits(mesures=(opp(active=False), mesure("je", debut=date(2024, 1, 24))))
    e = une(f, T.PPE)
    assert (e.due_le, e.alerte_le) == (date(2024, 4, 10), date(2024, 3, 10))


def test_the_ppe_deadline_disappears_once_the_ppe_is_established() -> None:
    assert de_type(faits(mesures=(mesure(),), ppe_etabli_le=date(2024, 3, 20)), T.PPE) == []


def test_no_ppe_is_awaited_without_a_measure() -> None:
    assert de_type(faits(ips=(FaitIP("ip1", OUVERT_LE, OUVERT_LE),)), T.PPE) == []


# -- measure échéance ------------------------------------------------------------------------


def test_a_measures_echeance_is_alerted_two_months_before() -> None:
    """DOMAIN.md: any measure with an échéance (CASF L223-5 al. 1, C. civ. 375 al. 3) is alerted 2 months before."""
    e = une(faits(mesures=(mesure(echeance=date(2026, 1, 23)),)), T.ECHEANCE_MESURE)
    assert (e.due_le, e.alerte_le, e.cle, e.details["nature"]) == (
        date(2026, 1, 23),
        date(2025, 11, 23),
        "m1",
        "confiage_ase",
    )


def test_a_renewal_replaces_the_echeance_and_a_levee_closes_it() -> None:
    renouvelee = faits(mesures=(mesure(echeance=date(2028, 1, 23)),))
    assert une(renouvelee, T.ECHEANCE_MESURE).due_le == date(2028, 1, 23)
    assert de_type(faits(mesures=(mesure(echeance=date(2028, 1, 23), active=False),)), T.ECHEANCE_MESURE) == []


def test_a_short_measure_is_alerted_from_its_start_not_before() -> None:
    """DOMAIN.md: a measure lasting less than the 2 months of notice is alerted at its start (CASF L223-5 al. 1)."""
    e = une(faits(mesures=(mesure(debut=date(2024, 1, 1), echeance=date(2024, 2, 1)),)), T.ECHEANCE_MESURE)
    assert e.alerte_le == date(2024, 1, 1)


# -- rapport de situation ---------------------------------------------------------------------


def test_the_first_report_is_due_twelve_months_after_the_first_active_measure() -> None:
    """CASF L223-5 al. 2: a report on the child's situation at least every year."""
    f = faits(mesures=(opp(active=False), mesure(debut=date(2024, 1, 24))))
    e = une(f, T.RAPPORT_SITUATION)
    assert (e.due_le, e.details["periode_mois"]) == (date(2025, 1, 24), 12)


def test_the_next_report_is_due_twelve_months_after_the_last_one() -> None:
    f = faits(mesures=(mesure(),), dernier_rapport_le=date(2025, 1, 15))
    assert une(f, T.RAPPORT_SITUATION).due_le == date(2026, 1, 15)


def test_a_report_older_than_the_current_measures_counts_from_their_start() -> None:
    f = faits(mesures=(mesure(debut=date(2025, 6, 1)),), dernier_rapport_le=date(2024, 1, 15))
    assert une(f, T.RAPPORT_SITUATION).due_le == date(2026, 6, 1)


def test_a_child_under_three_is_reported_on_every_six_months() -> None:
    """CASF L223-5 al. 2: every six months for a child under three years old."""
    bebe = faits(date_naissance=date(2024, 3, 1), mois_naissance="2024-03", mesures=(mesure(debut=date(2024, 6, 1)),))
    assert (une(bebe, T.RAPPORT_SITUATION).due_le, une(bebe, T.RAPPORT_SITUATION).details["periode_mois"]) == (
        date(2024, 12, 1),
        6,
    )
    apres = replace(bebe, dernier_rapport_le=date(2026, 12, 1))
    assert une(apres, T.RAPPORT_SITUATION).due_le == date(2027, 6, 1), "still 2 on the day of the last report"


def test_a_two_year_old_is_still_reported_on_every_six_months() -> None:
    """CASF L223-5 al. 2 (revised): the six-month rhythm holds until three, no longer until two."""
    f = faits(
        date_naissance=date(2024, 3, 1),
        mois_naissance="2024-03",
        mesures=(mesure(debut=date(2024, 6, 1)),),
        dernier_rapport_le=date(2026, 3, 1),
    )
    e = une(f, T.RAPPORT_SITUATION)
    assert (e.due_le, e.details["periode_mois"]) == (date(2026, 9, 1), 6)


def test_from_three_years_old_the_reports_are_yearly() -> None:
    """CASF L223-5 al. 2: yearly from the third birthday."""
    f = faits(
        date_naissance=date(2024, 3, 1),
        mois_naissance="2024-03",
        mesures=(mesure(debut=date(2024, 6, 1)),),
        dernier_rapport_le=date(2027, 3, 1),
    )
    assert une(f, T.RAPPORT_SITUATION).due_le == date(2028, 3, 1)


def test_with_only_the_month_of_birth_the_more_frequent_rhythm_is_kept_when_in_doubt() -> None:
    # Born in March 2024: on 15 March 2027 the child may not be 3 yet (born after the 15th).
    f = faits(
        date_naissance=None,
        mois_naissance="2024-03",
        mesures=(mesure(debut=date(2024, 6, 1)),),
        dernier_rapport_le=date(2027, 3, 15),
    )
    assert une(f, T.RAPPORT_SITUATION).due_le == date(2027, 9, 15)


def test_an_administrative_measure_calls_for_reports_too() -> None:
    """CASF L223-5 al. 2 (revised): every child placed or under a measure, administrative or judicial."""
    administrative = mesure(
        cadre="administratif", nature="accueil_provisoire", autorite="president_cd", debut=date(2024, 2, 1)
    )
    e = une(faits(mesures=(administrative,)), T.RAPPORT_SITUATION)
    assert (e.due_le, e.details["depuis"]) == (date(2025, 2, 1), "2024-02-01")
    a_domicile = mesure(cadre="administratif", nature="aed", autorite="president_cd", debut=date(2024, 2, 1))
    assert une(faits(mesures=(a_domicile,)), T.RAPPORT_SITUATION).due_le == date(2025, 2, 1)


def test_no_report_is_due_without_an_active_measure() -> None:
    assert de_type(faits(mesures=(mesure("je", active=False),)), T.RAPPORT_SITUATION) == []


# -- entretien d'autonomie ------------------------------------------------------------------


def test_the_entretien_is_scheduled_at_sixteen_and_a_half_and_due_by_the_seventeenth_birthday() -> None:
    """CASF L222-5-1: the interview of a minor placed, a year before majority."""
    e = une(faits(mesures=(mesure(),), **place()), T.ENTRETIEN_AUTONOMIE)
    assert (e.alerte_le, e.due_le) == (date(2026, 7, 20), date(2027, 1, 20))


def test_a_minor_under_a_measure_at_home_is_owed_no_entretien_d_autonomie() -> None:
    """CASF L222-5-1 (revised): the entretien is for minors placed, not for a child supported at home."""
    aemo = mesure(nature="aemo")
    assert de_type(faits(mesures=(aemo,)), T.ENTRETIEN_AUTONOMIE) == []
    assert de_type(faits(mesures=(mesure(),)), T.ENTRETIEN_AUTONOMIE) == [], "a measure without a placement"


def test_when_the_placement_starts_after_seventeen_the_entretien_is_due_at_once() -> None:
    """CASF L222-5-1: as soon as possible when the placement starts after the 17th birthday."""
    e = une(faits(mesures=(mesure(debut=date(2027, 5, 2)),), **place(date(2027, 5, 2))), T.ENTRETIEN_AUTONOMIE)
    assert (e.alerte_le, e.due_le) == (date(2027, 5, 2), date(2027, 5, 2))


def test_when_the_placement_starts_between_sixteen_and_a_half_and_seventeen_it_is_scheduled_from_the_start() -> None:
    e = une(faits(mesures=(mesure(debut=date(2026, 10, 1)),), **place(date(2026, 10, 1))), T.ENTRETIEN_AUTONOMIE)
    assert (e.alerte_le, e.due_le) == (date(2026, 10, 1), date(2027, 1, 20))


def test_a_new_placement_after_an_interruption_counts_from_its_own_start() -> None:
    f = faits(
        rouvert_le=date(2027, 3, 1),
        mesures=(mesure("ancienne", debut=date(2020, 1, 1), active=False), mesure(debut=date(2027, 3, 1))),
        **place(date(2027, 3, 1)),
    )
    assert une(f, T.ENTRETIEN_AUTONOMIE).due_le == date(2027, 3, 1)


def test_the_entretien_deadline_disappears_once_it_took_place() -> None:
    f = faits(mesures=(mesure(),), entretien_autonomie_le=date(2026, 7, 20), **place())
    assert de_type(f, T.ENTRETIEN_AUTONOMIE) == []


def test_age_deadlines_wait_for_the_exact_birth_date() -> None:
    f = faits(date_naissance=None, mesures=(mesure(),), **place())
    assert {e.type for e in echeances(f)} & {T.ENTRETIEN_AUTONOMIE, T.PREPARATION_MAJORITE, T.MAJORITE} == set()


def test_no_entretien_is_awaited_from_a_child_not_placed_or_already_of_age() -> None:
    assert de_type(faits(mesures=(mesure(active=False),)), T.ENTRETIEN_AUTONOMIE) == []
    majeur = faits(mesures=(mesure(),), majorite_atteinte_le=date(2028, 1, 20), **place())
    assert de_type(majeur, T.ENTRETIEN_AUTONOMIE) == []


# -- majority ------------------------------------------------------------------------------


def test_majority_is_prepared_from_seventeen_and_a_half_until_the_eighteenth_birthday() -> None:
    e = une(faits(mesures=(mesure(),)), T.PREPARATION_MAJORITE)
    assert (e.alerte_le, e.due_le) == (date(2027, 7, 20), date(2028, 1, 20))


def test_the_preparation_is_done_once_an_apjm_is_granted() -> None:
    f = faits(mesures=(mesure(),), apjm_debut=date(2028, 1, 20), apjm_fin=date(2029, 1, 19))
    assert de_type(f, T.PREPARATION_MAJORITE) == []


def test_majority_is_to_be_recorded_on_the_eighteenth_birthday_until_it_is() -> None:
    e = une(faits(), T.MAJORITE)
    assert (e.alerte_le, e.due_le) == (date(2028, 1, 20), date(2028, 1, 20))
    recorded = faits(majorite_atteinte_le=date(2028, 1, 20))
    assert de_type(recorded, T.MAJORITE) == de_type(recorded, T.PREPARATION_MAJORITE) == []


def test_once_of_age_an_apjm_is_to_be_offered_until_one_is_granted_or_the_parcours_ends() -> None:
    majeur = faits(mesures=(mesure(),), majorite_atteinte_le=date(2028, 1, 20))
    e = une(majeur, T.PROPOSITION_APJM)
    assert (e.alerte_le, e.due_le) == (date(2028, 1, 20), date(2028, 1, 20))
    assert de_type(faits(), T.PROPOSITION_APJM) == []
    accorde = replace(majeur, apjm_debut=date(2028, 2, 1), apjm_fin=date(2029, 1, 31))
    assert de_type(accorde, T.PROPOSITION_APJM) == []
    sorti = replace(majeur, sorti_le=date(2028, 2, 1), motif_sortie="majorite_sans_accompagnement")
    assert de_type(sorti, T.PROPOSITION_APJM) == []
    termine = replace(majeur, apjm_termine_le=date(2029, 1, 31))
    assert de_type(termine, T.PROPOSITION_APJM) == [], "an APJM granted then ended was offered"


def test_a_child_born_on_29_february_comes_of_age_on_28_february() -> None:
    assert une(faits(date_naissance=date(2008, 2, 29)), T.MAJORITE).due_le == date(2026, 2, 28)


# -- APJM --------------------------------------------------------------------------------


def apjm(fin: date, *, fin_annee_engagee: bool = False) -> Faits:
    return faits(
        majorite_atteinte_le=date(2028, 1, 20),
        apjm_debut=date(2028, 1, 20),
        apjm_fin=fin,
        apjm_fin_annee_engagee=fin_annee_engagee,
    )


def test_the_end_of_an_apjm_is_alerted_two_months_before_with_the_21st_birthday_as_hard_stop() -> None:
    """CASF L222-5: support up to the 21st birthday; the end is alerted 2 months before."""
    e = une(apjm(date(2030, 1, 19)), T.FIN_APJM)
    assert (e.alerte_le, e.due_le) == (date(2029, 11, 19), date(2030, 1, 19))
    assert (e.details["limite_21_ans"], e.details["limite_legale"], e.details["fin_annee_engagee"]) == (
        "2031-01-20",
        "2031-01-20",
        False,
    )


def test_an_apjm_finishing_the_school_year_may_end_up_to_a_year_after_the_21st_birthday() -> None:
    """CASF L222-5, last paragraph: to finish the school or university year under way, at most a year past 21."""
    e = une(apjm(date(2031, 7, 5), fin_annee_engagee=True), T.FIN_APJM)
    assert (e.due_le, e.alerte_le, e.details["limite_legale"]) == (date(2031, 7, 5), date(2031, 5, 5), "2032-01-20")
    assert limite_apjm(NE_LE, fin_annee_engagee=True) == date(2032, 1, 20)
    assert limite_apjm(NE_LE) == date(2031, 1, 20)


def test_an_apjm_end_past_its_legal_limit_is_due_on_the_limit() -> None:
    """CASF L222-5: the 21st birthday is a hard stop (a corrected birth date may bring it before the planned end)."""
    assert une(apjm(date(2031, 7, 5)), T.FIN_APJM).due_le == date(2031, 1, 20)
    assert une(apjm(date(2032, 7, 5), fin_annee_engagee=True), T.FIN_APJM).due_le == date(2032, 1, 20)


# -- hébergement dérogatoire, hotel ----------------------------------------------------------


def test_a_hebergement_derogatoire_lasts_two_months_at_most_while_the_young_person_is_there() -> None:
    """CASF L221-2-3, décret 2024-119: youth accommodation for 16-21 year-olds, two months at most."""
    heberge = faits(mesures=(mesure(),), **place(date(2026, 8, 1), type_lieu="hebergement_derogatoire"))
    e = une(heberge, T.HEBERGEMENT_DEROGATOIRE)
    assert (e.alerte_le, e.due_le) == (date(2026, 9, 16), date(2026, 10, 1))
    ailleurs = replace(heberge, type_lieu="mecs", lieu_depuis=date(2026, 9, 1))
    assert de_type(ailleurs, T.HEBERGEMENT_DEROGATOIRE) == de_type(ailleurs, T.HOTEL) == []


def test_the_two_months_count_from_the_arrival_in_the_lieu_not_from_the_start_of_the_accueil() -> None:
    """CASF L221-2-3: the stay in the exceptional lieu is what is limited."""
    f = faits(
        mesures=(mesure(),),
        **place(date(2026, 2, 1), type_lieu="hebergement_derogatoire", lieu_depuis=date(2026, 9, 1)),
    )
    assert une(f, T.HEBERGEMENT_DEROGATOIRE).due_le == date(2026, 11, 1)


def test_a_hotel_stay_recorded_before_february_2024_lasts_two_months_at_most() -> None:
    """CASF L221-2-3: a hotel placement of before the ban (1 Feb 2024) is watched for its two months."""
    a_l_hotel = faits(mesures=(mesure(),), **place(date(2023, 12, 1), type_lieu="hotel"))
    e = une(a_l_hotel, T.HOTEL)
    assert (e.alerte_le, e.due_le) == (date(2024, 1, 17), date(2024, 2, 1))


# -- sortie --------------------------------------------------------------------------------


def test_after_leaving_care_only_the_social_housing_window_remains_informational() -> None:
    sorti = faits(
        mesures=(mesure(active=False),),
        ips=(FaitIP("ip", OUVERT_LE, None),),
        majorite_atteinte_le=date(2028, 1, 20),
        sorti_le=date(2030, 1, 19),
        motif_sortie="fin_accompagnement_jeune_majeur",
    )
    assert echeances(sorti) == [
        Echeance(
            T.PRIORITE_LOGEMENT,
            date(2033, 1, 19),
            date(2030, 1, 19),
            informatif=True,
            details={"sorti_le": "2030-01-19"},
        )
    ]


def test_a_child_returning_home_or_a_death_opens_no_housing_window() -> None:
    assert echeances(faits(sorti_le=date(2025, 1, 1), motif_sortie="retour_en_famille")) == []
    assert (
        echeances(faits(sorti_le=date(2029, 1, 1), motif_sortie="deces", majorite_atteinte_le=date(2028, 1, 20))) == []
    )


# -- the whole list ------------------------------------------------------------------------


def test_deadlines_come_soonest_first() -> None:
    f = faits(mesures=(opp(),), ips=(FaitIP("ip1", date(2024, 1, 8), None),))
    dues = [e.due_le for e in echeances(f)]
    assert dues == sorted(dues)
    assert [e.type for e in echeances(f)][:3] == [T.SAISINE_JUGE, T.DECISION_JUGE, T.EVALUATION_IP]


jours = st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31))


@given(
    naissance=st.dates(min_value=date(1995, 1, 1), max_value=date(2030, 12, 31)),
    debut=jours,
    echeance_=st.none() | jours,
    rapport=st.none() | jours,
    apjm_fin=st.none() | jours,
    active=st.booleans(),
    cadre=st.sampled_from(["judiciaire", "administratif"]),
    nature=st.sampled_from(["confiage_ase", "opp", "accueil_urgence", "accueil_72h", "aemo"]),
    type_lieu=st.none() | st.sampled_from(["mecs", "hotel", "hebergement_derogatoire"]),
    fin_annee_engagee=st.booleans(),
)
def test_no_deadline_alerts_after_it_is_due(
    *,
    naissance: date,
    debut: date,
    echeance_: date | None,
    rapport: date | None,
    apjm_fin: date | None,
    active: bool,
    cadre: str,
    nature: str,
    type_lieu: str | None,
    fin_annee_engagee: bool,
) -> None:
    f = faits(
        date_naissance=naissance,
        mois_naissance=naissance.isoformat()[:7],
        mesures=(mesure(cadre=cadre, nature=nature, debut=debut, echeance=echeance_, active=active),),
        ips=(FaitIP("ip", debut, None),),
        dernier_rapport_le=rapport,
        apjm_debut=apjm_fin and debut,
        apjm_fin=apjm_fin,
        apjm_fin_annee_engagee=fin_annee_engagee,
        **(place(debut, type_lieu=type_lieu) if type_lieu else {}),
    )
    for e in echeances(f):
        assert e.alerte_le <= e.due_le, e


# -- the calendar's edges: deadlines clamped, never raised (droit.echeances' docstring) ------


def test_an_opp_corrected_to_year_one_opens_its_deadlines_on_the_calendar_s_first_day_rather_than_raise() -> None:
    debut = date(1, 1, 1)
    f = faits(
        ouvert_le=debut,
        mesures=(mesure("opp", nature="opp", autorite="parquet", debut=debut, echeance=date(1, 1, 15)),),
        ips=(FaitIP("ip", date(1, 1, 2), None),),
    )
    echeance = une(f, T.ECHEANCE_MESURE)
    assert (echeance.due_le, echeance.alerte_le) == (date(1, 1, 15), date.min)  # 2 months before: clamped
    assert une(f, T.SAISINE_JUGE).due_le == date(1, 1, 9)
    assert (une(f, T.EVALUATION_IP).due_le, une(f, T.EVALUATION_IP).alerte_le) == (date(1, 4, 2), date(1, 3, 2))


def test_facts_in_year_9999_open_their_deadlines_on_the_calendar_s_last_day_rather_than_raise() -> None:
    debut = date(9999, 12, 28)
    f = faits(
        date_naissance=date(9999, 1, 1),
        mois_naissance="9999-01",
        mesures=(mesure("opp", nature="opp", autorite="parquet", debut=debut),),
        ips=(FaitIP("ip", debut, None),),
        **place(date(9999, 12, 1), type_lieu="hebergement_derogatoire"),
    )
    assert une(f, T.SAISINE_JUGE).due_le == date.max
    assert une(f, T.DECISION_JUGE).due_le == date.max
    assert (une(f, T.EVALUATION_IP).due_le, une(f, T.EVALUATION_IP).alerte_le) == (date.max, debut)
    assert une(f, T.PPE).due_le == date.max
    assert une(f, T.MAJORITE).due_le == date.max
    limite = une(f, T.HEBERGEMENT_DEROGATOIRE)
    assert (limite.due_le, limite.alerte_le) == (date.max, date(9999, 12, 16))
    sorti = faits(sorti_le=date(9998, 6, 1), motif_sortie="majorite_sans_accompagnement")
    assert une(sorti, T.PRIORITE_LOGEMENT).due_le == date.max


@given(
    naissance=st.dates(),
    debut=st.dates(),
    echeance_=st.none() | st.dates(),
    rapport=st.none() | st.dates(),
    apjm_fin=st.none() | st.dates(),
    sorti=st.none() | st.dates(),
    nature=st.sampled_from(["confiage_ase", "opp", "accueil_urgence", "accueil_72h", "aemo"]),
    type_lieu=st.none() | st.sampled_from(["mecs", "hotel", "hebergement_derogatoire"]),
    fin_annee_engagee=st.booleans(),
)
def test_no_rule_raises_on_any_date_the_calendar_holds(
    *,
    naissance: date,
    debut: date,
    echeance_: date | None,
    rapport: date | None,
    apjm_fin: date | None,
    sorti: date | None,
    nature: str,
    type_lieu: str | None,
    fin_annee_engagee: bool,
) -> None:
    f = faits(
        ouvert_le=debut,
        date_naissance=naissance,
        mois_naissance=naissance.isoformat()[:7],
        mesures=(mesure(nature=nature, debut=debut, echeance=echeance_),),
        ips=(FaitIP("ip", debut, None),),
        dernier_rapport_le=rapport,
        apjm_debut=apjm_fin and debut,
        apjm_fin=apjm_fin,
        apjm_fin_annee_engagee=fin_annee_engagee,
        sorti_le=sorti,
        motif_sortie=sorti and "majorite_sans_accompagnement",
        **(place(debut, type_lieu=type_lieu) if type_lieu else {}),
    )
    for e in echeances(f):
        assert e.alerte_le <= e.due_le, e
    assert echeances(replace(f, date_naissance=None)) is not None  # the month of birth alone


def test_every_deadline_type_has_its_rule_and_article() -> None:
    from droit.echeances import REGLES, TypeEcheance

    assert set(REGLES) == set(TypeEcheance)
    for regle in REGLES.values():
        assert regle.attendu
        assert regle.article
