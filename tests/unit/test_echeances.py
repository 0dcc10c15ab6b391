"""The deadline rules of DOMAIN.md, as pure functions of a dossier's facts (dates in, deadlines out)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from services.projections.readmodels.echeances import (
    Echeance,
    FaitIP,
    FaitMesure,
    Faits,
    TypeEcheance,
    echeances,
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
    e = une(faits(mesures=(mesure(debut=date(2024, 1, 1), echeance=date(2024, 2, 1)),)), T.ECHEANCE_MESURE)
    assert e.alerte_le == date(2024, 1, 1)


# -- rapport de situation ---------------------------------------------------------------------


def test_the_first_report_is_due_twelve_months_after_the_first_active_judicial_measure() -> None:
    f = faits(mesures=(opp(active=False), mesure(debut=date(2024, 1, 24))))
    e = une(f, T.RAPPORT_SITUATION)
    assert (e.due_le, e.details["periode_mois"]) == (date(2025, 1, 24), 12)


def test_the_next_report_is_due_twelve_months_after_the_last_one() -> None:
    f = faits(mesures=(mesure(),), dernier_rapport_le=date(2025, 1, 15))
    assert une(f, T.RAPPORT_SITUATION).due_le == date(2026, 1, 15)


def test_a_report_older_than_the_current_measures_counts_from_their_start() -> None:
    f = faits(mesures=(mesure(debut=date(2025, 6, 1)),), dernier_rapport_le=date(2024, 1, 15))
    assert une(f, T.RAPPORT_SITUATION).due_le == date(2026, 6, 1)


def test_a_child_under_two_is_reported_on_every_six_months() -> None:
    bebe = faits(date_naissance=date(2024, 3, 1), mois_naissance="2024-03", mesures=(mesure(debut=date(2024, 6, 1)),))
    assert (une(bebe, T.RAPPORT_SITUATION).due_le, une(bebe, T.RAPPORT_SITUATION).details["periode_mois"]) == (
        date(2024, 12, 1),
        6,
    )
    apres = replace(bebe, dernier_rapport_le=date(2025, 12, 1))
    assert une(apres, T.RAPPORT_SITUATION).due_le == date(2026, 6, 1), "still 1 on the day of the last report"


def test_from_two_years_old_the_reports_are_yearly() -> None:
    f = faits(
        date_naissance=date(2024, 3, 1),
        mois_naissance="2024-03",
        mesures=(mesure(debut=date(2024, 6, 1)),),
        dernier_rapport_le=date(2026, 3, 1),
    )
    assert une(f, T.RAPPORT_SITUATION).due_le == date(2027, 3, 1)


def test_with_only_the_month_of_birth_the_more_frequent_rhythm_is_kept_when_in_doubt() -> None:
    # Born in March 2024: on 15 March 2026 the child may not be 2 yet (born after the 15th).
    f = faits(
        date_naissance=None,
        mois_naissance="2024-03",
        mesures=(mesure(debut=date(2024, 6, 1)),),
        dernier_rapport_le=date(2026, 3, 15),
    )
    assert une(f, T.RAPPORT_SITUATION).due_le == date(2026, 9, 15)


def test_no_report_is_due_without_an_active_judicial_measure() -> None:
    administrative = mesure(cadre="administratif", nature="accueil_provisoire", autorite="president_cd")
    assert de_type(faits(mesures=(administrative, mesure("je", active=False))), T.RAPPORT_SITUATION) == []


# -- entretien d'autonomie ------------------------------------------------------------------


def test_the_entretien_is_scheduled_at_sixteen_and_a_half_and_due_by_the_seventeenth_birthday() -> None:
    e = une(faits(mesures=(mesure(),)), T.ENTRETIEN_AUTONOMIE)
    assert (e.alerte_le, e.due_le) == (date(2026, 7, 20), date(2027, 1, 20))


def test_when_care_starts_after_seventeen_the_entretien_is_due_at_once() -> None:
    e = une(faits(mesures=(mesure(debut=date(2027, 5, 2)),)), T.ENTRETIEN_AUTONOMIE)
    assert (e.alerte_le, e.due_le) == (date(2027, 5, 2), date(2027, 5, 2))


def test_when_care_starts_between_sixteen_and_a_half_and_seventeen_it_is_scheduled_from_the_start() -> None:
    e = une(faits(mesures=(mesure(debut=date(2026, 10, 1)),)), T.ENTRETIEN_AUTONOMIE)
    assert (e.alerte_le, e.due_le) == (date(2026, 10, 1), date(2027, 1, 20))


def test_after_a_reopening_care_starts_again_with_the_new_measures() -> None:
    f = faits(
        rouvert_le=date(2027, 3, 1),
        mesures=(mesure("ancienne", debut=date(2020, 1, 1), active=False), mesure(debut=date(2027, 3, 1))),
    )
    assert une(f, T.ENTRETIEN_AUTONOMIE).due_le == date(2027, 3, 1)


def test_the_entretien_deadline_disappears_once_it_took_place() -> None:
    assert de_type(faits(mesures=(mesure(),), entretien_autonomie_le=date(2026, 7, 20)), T.ENTRETIEN_AUTONOMIE) == []


def test_age_deadlines_wait_for_the_exact_birth_date() -> None:
    f = faits(date_naissance=None, mesures=(mesure(),))
    assert {e.type for e in echeances(f)} & {T.ENTRETIEN_AUTONOMIE, T.PREPARATION_MAJORITE, T.MAJORITE} == set()


def test_no_entretien_is_awaited_from_a_child_not_in_care_or_already_of_age() -> None:
    assert de_type(faits(mesures=(mesure(active=False),)), T.ENTRETIEN_AUTONOMIE) == []
    assert de_type(faits(mesures=(mesure(),), majorite_atteinte_le=date(2028, 1, 20)), T.ENTRETIEN_AUTONOMIE) == []


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


def test_a_child_born_on_29_february_comes_of_age_on_28_february() -> None:
    assert une(faits(date_naissance=date(2008, 2, 29)), T.MAJORITE).due_le == date(2026, 2, 28)


# -- APJM, hotel ---------------------------------------------------------------------------


def test_the_end_of_an_apjm_is_alerted_two_months_before_with_the_21st_birthday_as_hard_stop() -> None:
    e = une(
        faits(majorite_atteinte_le=date(2028, 1, 20), apjm_debut=date(2028, 1, 20), apjm_fin=date(2030, 1, 19)),
        T.FIN_APJM,
    )
    assert (e.alerte_le, e.due_le, e.details["limite_21_ans"]) == (date(2029, 11, 19), date(2030, 1, 19), "2031-01-20")


def test_a_hotel_placement_is_watched_for_its_two_month_limit_while_the_young_person_is_there() -> None:
    a_l_hotel = faits(
        mesures=(mesure(),), type_lieu="hotel", lieu_depuis=date(2026, 9, 1), date_limite_hotel=date(2026, 11, 1)
    )
    e = une(a_l_hotel, T.HOTEL)
    assert (e.alerte_le, e.due_le) == (date(2026, 10, 17), date(2026, 11, 1))
    assert de_type(replace(a_l_hotel, type_lieu="mecs", date_limite_hotel=None), T.HOTEL) == []


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
) -> None:
    f = faits(
        date_naissance=naissance,
        mois_naissance=naissance.isoformat()[:7],
        mesures=(mesure(cadre=cadre, debut=debut, echeance=echeance_, active=active),),
        ips=(FaitIP("ip", debut, None),),
        dernier_rapport_le=rapport,
        apjm_debut=apjm_fin and debut,
        apjm_fin=apjm_fin,
    )
    for e in echeances(f):
        assert e.alerte_le <= e.due_le, e
