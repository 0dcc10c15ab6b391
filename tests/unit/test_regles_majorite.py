"""Majority (dated on the 18th birthday, ending minors' measures) and the accompagnement jeune majeur."""

from __future__ import annotations

from datetime import date, timedelta

from services.parcours.domain import parcours_evenements as ev
from services.parcours.domain.parcours import Parcours
from services.parcours.domain.vocabulaire import (
    MotifFinAccueil,
    MotifFinAPJM,
    MotifLevee,
    MotifSortie,
    Nature,
    SituationLogement,
    TypeLieu,
)
from tests.unit.fabrique import (
    assert_refused,
    ctx_on,
    decide_mesure,
    names,
    open_parcours,
    place,
    recorded_since,
)

NE_LE = date(2006, 6, 15)
OUVERT_LE = date(2022, 9, 1)
DIX_HUIT_ANS = date(2024, 6, 15)
VINGT_ET_UN_ANS = date(2027, 6, 15)
VEILLE = DIX_HUIT_ANS - timedelta(days=1)


def jeune() -> Parcours:
    """A 16-year-old's parcours."""
    return open_parcours(OUVERT_LE, date_naissance=NE_LE)


def majeur() -> Parcours:
    """A parcours whose majority is recorded, on the birthday."""
    p = jeune()
    p.atteindre_majorite(ctx_on(DIX_HUIT_ANS))
    return p


def accorder(p: Parcours, jour: date, debut: date, fin: date) -> None:
    p.accorder_apjm(ctx_on(jour), date_debut=debut, date_fin=fin, date_effet=jour)


# -- majority --------------------------------------------------------------------


def test_majority_is_refused_before_the_18th_birthday() -> None:
    p = jeune()
    assert_refused(p, "majorite_pas_encore_atteinte", lambda: p.atteindre_majorite(ctx_on(VEILLE)))


def test_majority_is_recorded_on_the_18th_birthday() -> None:
    p = jeune()
    p.atteindre_majorite(ctx_on(DIX_HUIT_ANS))
    (majorite,) = recorded_since(p, 1)
    assert isinstance(majorite, ev.MajoriteAtteinte)
    assert majorite.date_effet == DIX_HUIT_ANS
    assert p.majorite_atteinte_le == DIX_HUIT_ANS
    assert p.derniere_date_effet == DIX_HUIT_ANS


def test_majority_is_recorded_only_once() -> None:
    p = majeur()
    assert_refused(
        p, "majorite_deja_enregistree", lambda: p.atteindre_majorite(ctx_on(DIX_HUIT_ANS + timedelta(days=3)))
    )


def test_majority_recorded_later_is_dated_on_the_birthday() -> None:
    p = jeune()
    p.atteindre_majorite(ctx_on(DIX_HUIT_ANS + timedelta(days=40)))
    assert p.pending_events[-1].date_effet == DIX_HUIT_ANS
    assert p.majorite_atteinte_le == DIX_HUIT_ANS


def test_majority_recorded_after_later_events_is_still_dated_on_the_birthday() -> None:
    p = jeune()
    apres = DIX_HUIT_ANS + timedelta(days=20)
    p.produire_rapport(ctx_on(apres), transmis_au_juge=True, date_effet=apres)
    p.atteindre_majorite(ctx_on(apres + timedelta(days=1)))
    assert names(recorded_since(p, 2)) == ["MajoriteAtteinte"]
    assert p.pending_events[-1].date_effet == DIX_HUIT_ANS
    # The stream's latest date of effect does not move back: the next event still may not predate it.
    assert p.derniere_date_effet == apres
    assert_refused(
        p,
        "date_effet_anterieure",
        lambda: p.produire_rapport(ctx_on(apres), transmis_au_juge=False, date_effet=DIX_HUIT_ANS),
    )


def test_majority_ends_the_accueil_and_the_mesures_in_the_same_commit() -> None:
    p = jeune()
    confiage, _ = place(p, OUVERT_LE)
    aemo = decide_mesure(p, OUVERT_LE, Nature.AEMO)
    p.declarer_fugue(ctx_on(VEILLE), date_effet=VEILLE)
    depuis = len(p.pending_events)
    p.atteindre_majorite(ctx_on(DIX_HUIT_ANS + timedelta(days=2)))
    commit = recorded_since(p, depuis)
    assert names(commit) == ["MajoriteAtteinte", "FugueTerminee", "AccueilTermine", "MesureLevee", "MesureLevee"]
    assert {e.date_effet for e in commit} == {DIX_HUIT_ANS}
    fin = commit[2]
    assert isinstance(fin, ev.AccueilTermine)
    assert fin.motif is MotifFinAccueil.MAJORITE
    levees = [e for e in commit if isinstance(e, ev.MesureLevee)]
    assert {e.mesure_id for e in levees} == {confiage, aemo}
    assert {e.motif for e in levees} == {MotifLevee.MAJORITE}
    assert p.accueil is None
    assert p.mesures_actives() == []


def test_majority_leaves_already_lifted_mesures_alone() -> None:
    p = jeune()
    ancienne = decide_mesure(p, OUVERT_LE, Nature.AED)
    p.lever_mesure(ctx_on(OUVERT_LE), mesure_id=ancienne, motif=MotifLevee.MAINLEVEE, date_effet=OUVERT_LE)
    p.atteindre_majorite(ctx_on(DIX_HUIT_ANS))
    assert names(recorded_since(p, 3)) == ["MajoriteAtteinte"]
    assert p.mesures[ancienne].motif_levee is MotifLevee.MAINLEVEE


def test_majority_of_a_child_born_on_29_february_falls_on_28_february() -> None:
    p = open_parcours(date(2023, 1, 10), date_naissance=date(2008, 2, 29))
    assert_refused(p, "majorite_pas_encore_atteinte", lambda: p.atteindre_majorite(ctx_on(date(2026, 2, 27))))
    p.atteindre_majorite(ctx_on(date(2026, 3, 1)))
    assert p.majorite_atteinte_le == date(2026, 2, 28)


# -- accompagnement jeune majeur -------------------------------------------------


def test_an_apjm_after_majority_is_accorded() -> None:
    p = majeur()
    jour = DIX_HUIT_ANS + timedelta(days=10)
    accorder(p, jour, jour, date(2025, 6, 14))
    (accord,) = recorded_since(p, 2)
    assert isinstance(accord, ev.AccompagnementJeuneMajeurAccorde)
    assert p.apjm is not None
    assert (p.apjm.date_debut, p.apjm.date_fin, p.apjm.accorde_le, p.apjm.renouvellements) == (
        jour,
        date(2025, 6, 14),
        jour,
        0,
    )


def test_an_apjm_before_majority_is_refused_unless_it_starts_on_the_18th_birthday() -> None:
    p = jeune()
    jour = date(2024, 5, 1)
    assert_refused(
        p, "apjm_avant_majorite", lambda: accorder(p, jour, DIX_HUIT_ANS + timedelta(days=1), date(2025, 6, 1))
    )
    assert_refused(p, "apjm_avant_majorite", lambda: accorder(p, jour, jour, date(2025, 6, 1)))
    accorder(p, jour, DIX_HUIT_ANS, date(2025, 6, 1))
    assert p.apjm is not None
    assert p.apjm.date_debut == DIX_HUIT_ANS


def test_an_apjm_decided_before_18_survives_the_majority() -> None:
    p = jeune()
    mesure_id, _ = place(p, OUVERT_LE)
    accorder(p, date(2024, 5, 1), DIX_HUIT_ANS, date(2025, 6, 1))
    depuis = len(p.pending_events)
    p.atteindre_majorite(ctx_on(DIX_HUIT_ANS))
    assert names(recorded_since(p, depuis)) == ["MajoriteAtteinte", "AccueilTermine", "MesureLevee"]
    assert p.apjm is not None
    assert p.apjm.date_fin == date(2025, 6, 1)
    assert not p.mesures[mesure_id].active


def test_an_apjm_never_starts_before_18() -> None:
    p = majeur()
    jour = DIX_HUIT_ANS + timedelta(days=5)
    assert_refused(p, "apjm_avant_majorite", lambda: accorder(p, jour, VEILLE, date(2025, 6, 1)))


def test_an_apjm_ends_before_the_21st_birthday() -> None:
    p = majeur()
    jour = DIX_HUIT_ANS
    assert_refused(p, "apjm_au_dela_de_21_ans", lambda: accorder(p, jour, jour, VINGT_ET_UN_ANS))
    accorder(p, jour, jour, VINGT_ET_UN_ANS - timedelta(days=1))
    assert p.apjm is not None
    assert p.apjm.date_fin == date(2027, 6, 14)


def test_an_apjm_ends_after_it_starts() -> None:
    p = majeur()
    assert_refused(p, "apjm_dates_invalides", lambda: accorder(p, DIX_HUIT_ANS, DIX_HUIT_ANS, DIX_HUIT_ANS))


def test_a_second_apjm_while_one_runs_is_refused() -> None:
    p = majeur()
    accorder(p, DIX_HUIT_ANS, DIX_HUIT_ANS, date(2025, 1, 1))
    assert_refused(p, "apjm_deja_en_cours", lambda: accorder(p, DIX_HUIT_ANS, DIX_HUIT_ANS, date(2025, 6, 1)))


def test_renewing_an_apjm_extends_it() -> None:
    p = majeur()
    accorder(p, DIX_HUIT_ANS, DIX_HUIT_ANS, date(2025, 1, 1))
    jour = date(2024, 12, 1)
    p.renouveler_apjm(ctx_on(jour), date_fin=date(2026, 1, 1), date_effet=jour)
    assert names(recorded_since(p, 3)) == ["AccompagnementJeuneMajeurRenouvele"]
    assert p.apjm is not None
    assert (p.apjm.date_fin, p.apjm.renouvellements, p.apjm.date_debut) == (date(2026, 1, 1), 1, DIX_HUIT_ANS)


def test_a_renewal_that_does_not_extend_the_apjm_is_refused() -> None:
    p = majeur()
    accorder(p, DIX_HUIT_ANS, DIX_HUIT_ANS, date(2025, 1, 1))
    jour = date(2024, 12, 1)
    assert_refused(
        p, "apjm_dates_invalides", lambda: p.renouveler_apjm(ctx_on(jour), date_fin=date(2025, 1, 1), date_effet=jour)
    )


def test_a_renewal_beyond_the_21st_birthday_is_refused() -> None:
    p = majeur()
    accorder(p, DIX_HUIT_ANS, DIX_HUIT_ANS, date(2025, 1, 1))
    jour = date(2024, 12, 1)
    assert_refused(
        p, "apjm_au_dela_de_21_ans", lambda: p.renouveler_apjm(ctx_on(jour), date_fin=VINGT_ET_UN_ANS, date_effet=jour)
    )


def test_renewing_or_ending_needs_a_running_apjm() -> None:
    p = majeur()
    jour = DIX_HUIT_ANS
    assert_refused(p, "aucun_apjm", lambda: p.renouveler_apjm(ctx_on(jour), date_fin=date(2025, 1, 1), date_effet=jour))
    assert_refused(p, "aucun_apjm", lambda: p.terminer_apjm(ctx_on(jour), motif=MotifFinAPJM.TERME, date_effet=jour))


def test_ending_an_apjm_records_its_motif_and_allows_a_new_one() -> None:
    p = majeur()
    accorder(p, DIX_HUIT_ANS, DIX_HUIT_ANS, date(2025, 1, 1))
    jour = date(2024, 9, 1)
    p.terminer_apjm(ctx_on(jour), motif=MotifFinAPJM.DEMANDE_DU_JEUNE, date_effet=jour)
    (fin,) = recorded_since(p, 3)
    assert isinstance(fin, ev.AccompagnementJeuneMajeurTermine)
    assert fin.motif is MotifFinAPJM.DEMANDE_DU_JEUNE
    assert p.apjm is None
    accorder(p, date(2024, 10, 1), date(2024, 10, 1), date(2025, 10, 1))
    assert p.apjm is not None


def test_a_placement_under_an_apjm_still_needs_a_mesure() -> None:
    """An APJM is not a mesure: it carries no accueil by itself."""
    p = majeur()
    accorder(p, DIX_HUIT_ANS, DIX_HUIT_ANS, date(2025, 1, 1))
    assert p.mesures_actives() == []
    assert_refused(
        p,
        "mesure_de_mineur",
        lambda: place(p, DIX_HUIT_ANS, Nature.ACCUEIL_PROVISOIRE, TypeLieu.LOGEMENT_AUTONOME),
    )


def test_a_sortie_is_refused_while_an_apjm_runs_unless_it_closes_it_in_the_same_commit() -> None:
    p = majeur()
    accorder(p, DIX_HUIT_ANS, DIX_HUIT_ANS, date(2025, 1, 1))
    jour = date(2024, 11, 1)

    def sortir(clore: bool) -> None:
        p.sortir(
            ctx_on(jour),
            motif=MotifSortie.FIN_ACCOMPAGNEMENT_JEUNE_MAJEUR,
            situation_logement=SituationLogement.FOYER_JEUNES_TRAVAILLEURS,
            date_effet=jour,
            clore_en_cours=clore,
        )

    assert_refused(p, "sortie_avec_prise_en_charge_active", lambda: sortir(clore=False))
    sortir(clore=True)
    assert names(recorded_since(p, 3)) == ["AccompagnementJeuneMajeurTermine", "SortieDispositif"]
    assert p.apjm is None
    assert p.sorti_le == jour


def test_a_refusal_before_the_18th_birthday_does_not_tell_its_date() -> None:
    """Regression (issue 9, review): the 409 said "la majorité n'est atteinte que le 2024-06-15", which gives
    the exact birth date to anyone allowed to send the command, even after an erasure."""
    p = jeune()
    mesure_id, _ = place(p, OUVERT_LE)
    refus = [
        assert_refused(p, "majorite_pas_encore_atteinte", lambda: p.atteindre_majorite(ctx_on(VEILLE))),
        assert_refused(
            p,
            "majorite_pas_encore_atteinte",
            lambda: p.lever_mesure(ctx_on(VEILLE), mesure_id=mesure_id, motif=MotifLevee.MAJORITE, date_effet=VEILLE),
        ),
    ]
    for r in refus:
        assert DIX_HUIT_ANS.isoformat() not in r.message
        assert "2024" not in r.message
        assert "18e anniversaire" in r.message
