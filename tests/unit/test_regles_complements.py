"""Rules added after the property tests found their gaps."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from droit.calendrier import anniversaire
from services.parcours.domain.vocabulaire import MotifLevee, MotifSortie, Nature, SituationLogement
from tests.unit.fabrique import (
    NE_LE,
    OUVERT_LE,
    assert_refused,
    ctx_on,
    decide_mesure,
    lieu,
    open_parcours,
)


def test_an_accueil_cannot_start_before_the_measure_that_allows_it() -> None:
    p = open_parcours(OUVERT_LE)
    debut = OUVERT_LE + timedelta(days=10)
    mesure_id = decide_mesure(p, OUVERT_LE + timedelta(days=1), Nature.CONFIAGE_ASE, date_debut=debut)
    jour = OUVERT_LE + timedelta(days=2)
    assert_refused(
        p,
        "accueil_avant_la_mesure",
        lambda: p.debuter_accueil(ctx_on(jour), mesure_id=mesure_id, lieu=lieu(), date_effet=jour),
    )


def test_an_accueil_cannot_start_on_or_after_the_18th_birthday_under_a_minors_measure() -> None:
    dix_huit_ans = anniversaire(NE_LE, 18)
    p = open_parcours(OUVERT_LE)
    mesure_id = decide_mesure(p, dix_huit_ans - timedelta(days=30), Nature.TUTELLE, date_echeance=None)
    assert_refused(
        p,
        "accueil_apres_majorite",
        lambda: p.debuter_accueil(ctx_on(dix_huit_ans), mesure_id=mesure_id, lieu=lieu(), date_effet=dix_huit_ans),
    )


def test_a_referent_cannot_be_named_on_a_parcours_that_left_care() -> None:
    p = open_parcours(OUVERT_LE)
    jour = OUVERT_LE + timedelta(days=5)
    p.sortir(
        ctx_on(jour), motif=MotifSortie.RETOUR_EN_FAMILLE, situation_logement=SituationLogement.FAMILLE, date_effet=jour
    )
    assert_refused(p, "parcours_sorti", lambda: p.designer_referent(ctx_on(jour), referent_id="r2", date_effet=jour))


@pytest.mark.parametrize("champ", ["personne_id", "departement"])
def test_the_identifiers_of_an_event_are_not_rectifiable(champ: str) -> None:
    p = open_parcours(OUVERT_LE)
    ouverture = p.pending_events[0]
    assert_refused(
        p,
        "champ_non_rectifiable",
        lambda: p.rectifier(
            ctx_on(OUVERT_LE),
            version_rectifiee=ouverture.originator_version,
            champ=champ,
            nouvelle_valeur="62",
            motif="m",
        ),
    )


def test_a_rectified_birth_date_may_not_make_the_person_21_at_opening() -> None:
    p = open_parcours(OUVERT_LE)
    ouverture = p.pending_events[0]
    trop_tot = date(OUVERT_LE.year - 22, 1, 1).isoformat()
    assert_refused(
        p,
        "age_limite_depasse",
        lambda: p.rectifier(
            ctx_on(OUVERT_LE),
            version_rectifiee=ouverture.originator_version,
            champ="date_naissance",
            nouvelle_valeur=trop_tot,
            motif="acte",
        ),
    )


def test_lifting_the_measure_carrying_an_accueil_hands_it_to_the_measure_still_allowing_it() -> None:
    p = open_parcours(OUVERT_LE)
    jour = OUVERT_LE + timedelta(days=1)
    opp = decide_mesure(p, jour, Nature.OPP, date_echeance=None)
    p.debuter_accueil(ctx_on(jour), mesure_id=opp, lieu=lieu(), date_effet=jour)
    confiage = decide_mesure(p, jour + timedelta(days=10), Nature.CONFIAGE_ASE)
    p.lever_mesure(
        ctx_on(jour + timedelta(days=10)),
        mesure_id=opp,
        motif=MotifLevee.MAINLEVEE,
        date_effet=jour + timedelta(days=10),
    )
    assert p.accueil is not None
    assert p.accueil.mesure_id == confiage
