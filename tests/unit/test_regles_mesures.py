"""Rules of protection measures: cadre, autorité, durations, minors only, renewal, levée."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import uuid4

import pytest

from droit.calendrier import ajouter
from services.parcours.domain import parcours_evenements as ev
from services.parcours.domain.parcours import Parcours
from services.parcours.domain.vocabulaire import (
    NATURES_PERMETTANT_ACCUEIL,
    Autorite,
    Cadre,
    MotifFinAccueil,
    MotifLevee,
    Nature,
)
from services.runtime.errors import IntrouvableError
from tests.unit.fabrique import (
    OUVERT_LE,
    assert_refused,
    ctx_on,
    decide_mesure,
    names,
    open_parcours,
    place,
    recorded_since,
    state_of,
)

JOUR = date(2023, 2, 1)
DIX_HUIT_ANS = date(2028, 3, 15)


def test_a_mesure_decidee_is_recorded_active(parcours: Parcours) -> None:
    mesure_id = parcours.decider_mesure(
        ctx_on(JOUR),
        cadre=Cadre.JUDICIAIRE,
        nature=Nature.CONFIAGE_ASE,
        autorite=Autorite.JUGE_DES_ENFANTS,
        reference_decision="JE-59-2023-12",
        date_debut=JOUR,
        date_echeance=date(2024, 2, 1),
        date_effet=JOUR,
    )
    (decision,) = recorded_since(parcours, 1)
    assert isinstance(decision, ev.MesureDecidee)
    assert decision.mesure_id == mesure_id
    mesure = parcours.mesures[mesure_id]
    assert mesure.active
    assert mesure.permet_accueil
    assert (mesure.nature, mesure.date_debut, mesure.date_echeance, mesure.decidee_le) == (
        Nature.CONFIAGE_ASE,
        JOUR,
        date(2024, 2, 1),
        JOUR,
    )
    assert parcours.mesures_actives() == [mesure]


@pytest.mark.parametrize(
    ("cadre", "nature"),
    [
        (Cadre.ADMINISTRATIF, Nature.OPP),
        (Cadre.ADMINISTRATIF, Nature.CONFIAGE_ASE),
        (Cadre.ADMINISTRATIF, Nature.AEMO),
        (Cadre.JUDICIAIRE, Nature.AED),
        (Cadre.JUDICIAIRE, Nature.ACCUEIL_PROVISOIRE),
        (Cadre.JUDICIAIRE, Nature.ACCUEIL_72H),
    ],
)
def test_a_nature_outside_its_cadre_is_refused(parcours: Parcours, cadre: Cadre, nature: Nature) -> None:
    autorite = Autorite.PRESIDENT_CD if cadre is Cadre.ADMINISTRATIF else Autorite.JUGE_DES_ENFANTS
    assert_refused(
        parcours,
        "nature_hors_cadre",
        lambda: decide_mesure(parcours, JOUR, nature, cadre=cadre, autorite=autorite, date_echeance=None),
    )


@pytest.mark.parametrize(
    "autorite", [Autorite.JUGE_DES_ENFANTS, Autorite.PARQUET, Autorite.JUGE_AUX_AFFAIRES_FAMILIALES]
)
def test_an_administrative_mesure_is_decided_by_the_president_cd_only(parcours: Parcours, autorite: Autorite) -> None:
    assert_refused(
        parcours,
        "autorite_invalide",
        lambda: decide_mesure(parcours, JOUR, Nature.AED, autorite=autorite),
    )
    assert decide_mesure(parcours, JOUR, Nature.AED) in parcours.mesures


@pytest.mark.parametrize("nature", [Nature.CONFIAGE_ASE, Nature.OPP, Nature.AEMO, Nature.TUTELLE])
def test_the_president_cd_orders_no_judicial_mesure(parcours: Parcours, nature: Nature) -> None:
    assert_refused(
        parcours,
        "autorite_invalide",
        lambda: decide_mesure(parcours, JOUR, nature, autorite=Autorite.PRESIDENT_CD),
    )


@pytest.mark.parametrize(
    "nature", [Nature.CONFIAGE_ASE, Nature.AEMO, Nature.TIERS_DIGNE_DE_CONFIANCE, Nature.DAP, Nature.TUTELLE]
)
def test_the_parquet_orders_only_an_opp(parcours: Parcours, nature: Nature) -> None:
    assert_refused(
        parcours,
        "autorite_invalide",
        lambda: decide_mesure(parcours, JOUR, nature, autorite=Autorite.PARQUET),
    )
    opp = decide_mesure(parcours, JOUR, Nature.OPP, autorite=Autorite.PARQUET)
    assert parcours.mesures[opp].autorite is Autorite.PARQUET


def test_a_juge_des_enfants_may_also_order_an_opp(parcours: Parcours) -> None:
    opp = decide_mesure(parcours, JOUR, Nature.OPP, autorite=Autorite.JUGE_DES_ENFANTS)
    assert parcours.mesures[opp].autorite is Autorite.JUGE_DES_ENFANTS


@pytest.mark.parametrize(
    ("nature", "annees", "jours"),
    [
        (Nature.CONFIAGE_ASE, 2, 0),
        (Nature.AEMO, 2, 0),
        (Nature.AEMO_RENFORCEE, 1, 0),
        (Nature.ACCUEIL_72H, 0, 3),
        (Nature.ACCUEIL_PROVISOIRE, 1, 0),
        (Nature.AED, 1, 0),
        (Nature.ACCUEIL_URGENCE, 1, 0),
    ],
)
def test_a_mesure_lasts_at_most_its_legal_duration(parcours: Parcours, nature: Nature, annees: int, jours: int) -> None:
    limite = ajouter(JOUR, annees=annees, jours=jours)
    assert_refused(
        parcours,
        "duree_maximale_depassee",
        lambda: decide_mesure(parcours, JOUR, nature, date_echeance=limite + timedelta(days=1)),
    )
    mesure_id = decide_mesure(parcours, JOUR, nature, date_echeance=limite)
    assert parcours.mesures[mesure_id].date_echeance == limite


@pytest.mark.parametrize(
    "nature",
    [
        Nature.CONFIAGE_ASE,
        Nature.AEMO,
        Nature.TIERS_DIGNE_DE_CONFIANCE,
        Nature.AEMO_RENFORCEE,
        Nature.ACCUEIL_72H,
        Nature.ACCUEIL_PROVISOIRE,
        Nature.AED,
        Nature.ACCUEIL_URGENCE,
    ],
)
def test_a_mesure_with_a_legal_duration_needs_an_echeance(parcours: Parcours, nature: Nature) -> None:
    assert_refused(parcours, "echeance_requise", lambda: decide_mesure(parcours, JOUR, nature, date_echeance=None))


@pytest.mark.parametrize(
    "nature",
    [Nature.OPP, Nature.DAP, Nature.TUTELLE],
)
def test_a_mesure_without_a_legal_duration_needs_no_echeance(parcours: Parcours, nature: Nature) -> None:
    mesure_id = decide_mesure(parcours, JOUR, nature, date_echeance=None)
    assert parcours.mesures[mesure_id].date_echeance is None


def test_an_accueil_provisoire_of_one_year_and_one_day_is_refused(parcours: Parcours) -> None:
    """CASF L223-5 al. 1: an administrative measure is decided for one year at most."""
    assert_refused(
        parcours,
        "duree_maximale_depassee",
        lambda: decide_mesure(
            parcours, JOUR, Nature.ACCUEIL_PROVISOIRE, date_echeance=ajouter(JOUR, annees=1, jours=1)
        ),
    )


def test_a_tiers_digne_de_confiance_may_last_beyond_two_years(parcours: Parcours) -> None:
    """C. civ. 375 al. 3 caps measures exercised by a service or an institution, not a tiers digne de confiance."""
    mesure_id = decide_mesure(parcours, JOUR, Nature.TIERS_DIGNE_DE_CONFIANCE, date_echeance=ajouter(JOUR, annees=5))
    assert parcours.mesures[mesure_id].date_echeance == ajouter(JOUR, annees=5)


def test_a_confiage_beyond_two_years_needs_a_decision_on_article_375_al_4(parcours: Parcours) -> None:
    """C. civ. 375 al. 4: chronic parental difficulties allow a confiage_ase beyond 2 years."""
    au_dela = ajouter(JOUR, annees=2, jours=1)
    assert_refused(
        parcours,
        "duree_maximale_depassee",
        lambda: decide_mesure(parcours, JOUR, Nature.CONFIAGE_ASE, date_echeance=au_dela),
    )
    mesure_id = parcours.decider_mesure(
        ctx_on(JOUR),
        cadre=Cadre.JUDICIAIRE,
        nature=Nature.CONFIAGE_ASE,
        autorite=Autorite.JUGE_DES_ENFANTS,
        reference_decision="JE-375-4",
        date_debut=JOUR,
        date_echeance=ajouter(JOUR, annees=4),
        date_effet=JOUR,
        duree_derogatoire=True,
    )
    assert parcours.mesures[mesure_id].duree_derogatoire is True


def test_only_a_confiage_may_rest_on_article_375_al_4(parcours: Parcours) -> None:
    """C. civ. 375 al. 4 concerns the confiage of a child to the ASE only."""
    assert_refused(
        parcours,
        "duree_derogatoire_invalide",
        lambda: parcours.decider_mesure(
            ctx_on(JOUR),
            cadre=Cadre.JUDICIAIRE,
            nature=Nature.AEMO,
            autorite=Autorite.JUGE_DES_ENFANTS,
            reference_decision="JE-1",
            date_debut=JOUR,
            date_echeance=ajouter(JOUR, annees=3),
            date_effet=JOUR,
            duree_derogatoire=True,
        ),
    )


def test_an_accueil_72h_is_never_renewed(parcours: Parcours) -> None:
    """CASF L223-2 al. 5: after 72 hours the child goes home, or an admission or a judge's seizure follows."""
    mesure_id = decide_mesure(parcours, JOUR, Nature.ACCUEIL_72H)
    trois_jours = ajouter(JOUR, jours=3)
    assert_refused(
        parcours,
        "mesure_non_renouvelable",
        lambda: parcours.renouveler_mesure(
            ctx_on(trois_jours),
            mesure_id=mesure_id,
            nouvelle_echeance=ajouter(JOUR, jours=6),
            reference_decision="PCD-2",
            date_effet=trois_jours,
        ),
    )


@pytest.mark.parametrize("ecart", [0, -1])
def test_an_echeance_not_after_the_start_is_refused(parcours: Parcours, ecart: int) -> None:
    assert_refused(
        parcours,
        "echeance_invalide",
        lambda: decide_mesure(parcours, JOUR, Nature.OPP, date_echeance=JOUR + timedelta(days=ecart)),
    )


def test_a_mesure_starting_on_the_18th_birthday_is_refused() -> None:
    p = open_parcours(OUVERT_LE)
    veille = DIX_HUIT_ANS - timedelta(days=1)
    assert_refused(p, "mesure_de_mineur", lambda: decide_mesure(p, veille, Nature.AED, date_debut=DIX_HUIT_ANS))
    mesure_id = decide_mesure(p, veille, Nature.AED, date_debut=veille)
    assert p.mesures[mesure_id].date_debut == veille


def test_a_mesure_decided_after_the_majority_is_refused_even_with_an_earlier_start() -> None:
    """Regression: a minor's mesure (and an adult's accueil under it) was accepted after MajoriteAtteinte."""
    p = open_parcours(OUVERT_LE)
    p.atteindre_majorite(ctx_on(DIX_HUIT_ANS))
    apres = DIX_HUIT_ANS + timedelta(days=10)
    assert_refused(
        p,
        "mesure_de_mineur",
        lambda: decide_mesure(p, apres, Nature.CONFIAGE_ASE, date_debut=DIX_HUIT_ANS - timedelta(days=20)),
    )


def test_a_birth_date_contradicting_a_recorded_majority_is_refused() -> None:
    """Regression (found by test_proprietes): a later birth date made the adult a minor again for new mesures."""
    p = open_parcours(OUVERT_LE)
    p.atteindre_majorite(ctx_on(DIX_HUIT_ANS))
    ouverture = p.pending_events[0]
    # The majority, re-dated on the corrected birthday, would have been recorded before it.
    assert_refused(
        p,
        "date_effet_future",
        lambda: p.rectifier(
            ctx_on(DIX_HUIT_ANS),
            version_rectifiee=ouverture.originator_version,
            champ="date_naissance",
            nouvelle_valeur="2010-03-16",
            motif="acte de naissance",
        ),
    )
    assert p.majorite_atteinte_le == DIX_HUIT_ANS
    assert_refused(p, "mesure_de_mineur", lambda: decide_mesure(p, DIX_HUIT_ANS, Nature.ACCUEIL_PROVISOIRE))


def test_a_mesure_decided_on_the_18th_birthday_is_refused_even_before_the_majority_is_recorded() -> None:
    p = open_parcours(OUVERT_LE)
    assert_refused(
        p,
        "mesure_de_mineur",
        lambda: decide_mesure(p, DIX_HUIT_ANS, Nature.OPP, date_debut=DIX_HUIT_ANS - timedelta(days=1)),
    )
    assert p.majorite_atteinte_le is None


# -- renewal ---------------------------------------------------------------------


def test_a_renewal_extends_the_echeance(parcours: Parcours) -> None:
    mesure_id = decide_mesure(parcours, JOUR, Nature.CONFIAGE_ASE, date_echeance=date(2024, 2, 1))
    parcours.renouveler_mesure(
        ctx_on(date(2024, 1, 15)),
        mesure_id=mesure_id,
        nouvelle_echeance=date(2026, 2, 1),
        reference_decision="JE-59-2024-3",
        date_effet=date(2024, 1, 15),
    )
    (renouvellement,) = recorded_since(parcours, 2)
    assert isinstance(renouvellement, ev.MesureRenouvelee)
    mesure = parcours.mesures[mesure_id]
    assert (mesure.date_echeance, mesure.reference_decision, mesure.renouvellements) == (
        date(2026, 2, 1),
        "JE-59-2024-3",
        1,
    )


def test_a_renewal_is_limited_to_the_legal_duration_from_the_current_echeance(parcours: Parcours) -> None:
    mesure_id = decide_mesure(parcours, JOUR, Nature.CONFIAGE_ASE, date_echeance=date(2024, 2, 1))
    jour = date(2024, 1, 15)

    def renew(echeance: date) -> None:
        parcours.renouveler_mesure(
            ctx_on(jour), mesure_id=mesure_id, nouvelle_echeance=echeance, reference_decision="r", date_effet=jour
        )

    assert_refused(parcours, "duree_maximale_depassee", lambda: renew(date(2026, 2, 2)))
    renew(date(2026, 2, 1))
    assert parcours.mesures[mesure_id].date_echeance == date(2026, 2, 1)


def test_an_aemo_renforcee_is_renewed_for_a_year_at_most(parcours: Parcours) -> None:
    mesure_id = decide_mesure(parcours, JOUR, Nature.AEMO_RENFORCEE)
    assert parcours.mesures[mesure_id].date_echeance == date(2024, 2, 1)
    jour = date(2024, 1, 20)
    assert_refused(
        parcours,
        "duree_maximale_depassee",
        lambda: parcours.renouveler_mesure(
            ctx_on(jour),
            mesure_id=mesure_id,
            nouvelle_echeance=date(2025, 2, 2),
            reference_decision="r",
            date_effet=jour,
        ),
    )


def test_a_renewal_must_move_the_echeance_forward(parcours: Parcours) -> None:
    mesure_id = decide_mesure(parcours, JOUR, Nature.CONFIAGE_ASE, date_echeance=date(2024, 2, 1))
    assert_refused(
        parcours,
        "echeance_invalide",
        lambda: parcours.renouveler_mesure(
            ctx_on(JOUR),
            mesure_id=mesure_id,
            nouvelle_echeance=date(2024, 2, 1),
            reference_decision="r",
            date_effet=JOUR,
        ),
    )


def test_a_mesure_without_echeance_is_renewed_from_its_start(parcours: Parcours) -> None:
    mesure_id = decide_mesure(parcours, JOUR, Nature.OPP, date_echeance=None)
    assert_refused(
        parcours,
        "echeance_invalide",
        lambda: parcours.renouveler_mesure(
            ctx_on(JOUR), mesure_id=mesure_id, nouvelle_echeance=JOUR, reference_decision="r", date_effet=JOUR
        ),
    )
    parcours.renouveler_mesure(
        ctx_on(JOUR), mesure_id=mesure_id, nouvelle_echeance=date(2023, 2, 16), reference_decision="r", date_effet=JOUR
    )
    assert parcours.mesures[mesure_id].date_echeance == date(2023, 2, 16)


def test_a_lifted_mesure_is_not_renewed(parcours: Parcours) -> None:
    mesure_id = decide_mesure(parcours, JOUR, Nature.AEMO)
    parcours.lever_mesure(ctx_on(JOUR), mesure_id=mesure_id, motif=MotifLevee.MAINLEVEE, date_effet=JOUR)
    assert_refused(
        parcours,
        "mesure_inactive",
        lambda: parcours.renouveler_mesure(
            ctx_on(JOUR),
            mesure_id=mesure_id,
            nouvelle_echeance=date(2025, 6, 1),
            reference_decision="r",
            date_effet=JOUR,
        ),
    )


def test_an_unknown_mesure_is_not_found(parcours: Parcours) -> None:
    avant = state_of(parcours)
    with pytest.raises(IntrouvableError) as introuvable:
        parcours.renouveler_mesure(
            ctx_on(JOUR), mesure_id=uuid4(), nouvelle_echeance=date(2024, 1, 1), reference_decision="r", date_effet=JOUR
        )
    assert introuvable.value.quoi == "mesure"
    with pytest.raises(IntrouvableError):
        parcours.lever_mesure(ctx_on(JOUR), mesure_id=uuid4(), motif=MotifLevee.AUTRE, date_effet=JOUR)
    assert state_of(parcours) == avant
    assert len(parcours.pending_events) == 1


def test_an_echue_mesure_stays_active_until_a_renewal_or_a_levee(parcours: Parcours) -> None:
    mesure_id = decide_mesure(parcours, JOUR, Nature.ACCUEIL_72H)
    echeance = parcours.mesures[mesure_id].date_echeance
    assert echeance == date(2023, 2, 4)
    plus_tard = date(2023, 3, 1)
    parcours.produire_rapport(ctx_on(plus_tard), transmis_au_juge=False, date_effet=plus_tard)
    assert parcours.mesures[mesure_id].active
    parcours.lever_mesure(ctx_on(plus_tard), mesure_id=mesure_id, motif=MotifLevee.ECHEANCE, date_effet=plus_tard)
    assert not parcours.mesures[mesure_id].active


# -- levée -----------------------------------------------------------------------


def test_lifting_a_mesure_records_its_date_and_motif(parcours: Parcours) -> None:
    mesure_id = decide_mesure(parcours, JOUR, Nature.AEMO)
    parcours.lever_mesure(ctx_on(JOUR), mesure_id=mesure_id, motif=MotifLevee.MAINLEVEE, date_effet=JOUR)
    (levee,) = recorded_since(parcours, 2)
    assert isinstance(levee, ev.MesureLevee)
    mesure = parcours.mesures[mesure_id]
    assert (mesure.active, mesure.levee_le, mesure.motif_levee) == (False, JOUR, MotifLevee.MAINLEVEE)
    assert parcours.mesures_actives() == []


def test_a_mesure_is_lifted_only_once(parcours: Parcours) -> None:
    mesure_id = decide_mesure(parcours, JOUR, Nature.AEMO)
    parcours.lever_mesure(ctx_on(JOUR), mesure_id=mesure_id, motif=MotifLevee.MAINLEVEE, date_effet=JOUR)
    assert_refused(
        parcours,
        "mesure_inactive",
        lambda: parcours.lever_mesure(ctx_on(JOUR), mesure_id=mesure_id, motif=MotifLevee.AUTRE, date_effet=JOUR),
    )


def test_lifting_the_last_mesure_allowing_a_current_accueil_is_refused(parcours: Parcours) -> None:
    mesure_id, _ = place(parcours, JOUR)
    decide_mesure(parcours, JOUR, Nature.AEMO)  # supports the child at home: does not carry the accueil
    assert_refused(
        parcours,
        "accueil_sans_mesure",
        lambda: parcours.lever_mesure(ctx_on(JOUR), mesure_id=mesure_id, motif=MotifLevee.MAINLEVEE, date_effet=JOUR),
    )


def test_lifting_the_last_mesure_with_motif_fin_accueil_ends_the_accueil_first_in_the_same_commit(
    parcours: Parcours,
) -> None:
    mesure_id, _ = place(parcours, JOUR)
    depuis = len(parcours.pending_events)
    parcours.lever_mesure(
        ctx_on(JOUR),
        mesure_id=mesure_id,
        motif=MotifLevee.MAINLEVEE,
        date_effet=JOUR,
        motif_fin_accueil=MotifFinAccueil.RETOUR_EN_FAMILLE,
    )
    fin, levee = recorded_since(parcours, depuis)
    assert isinstance(fin, ev.AccueilTermine)
    assert fin.motif is MotifFinAccueil.RETOUR_EN_FAMILLE
    assert isinstance(levee, ev.MesureLevee)
    assert levee.mesure_id == mesure_id
    assert parcours.accueil is None
    assert not parcours.mesures[mesure_id].active


def test_lifting_the_last_mesure_with_an_open_fugue_closes_it_too(parcours: Parcours) -> None:
    mesure_id, _ = place(parcours, JOUR)
    parcours.declarer_fugue(ctx_on(JOUR), date_effet=JOUR)
    depuis = len(parcours.pending_events)
    parcours.lever_mesure(
        ctx_on(JOUR),
        mesure_id=mesure_id,
        motif=MotifLevee.AUTRE,
        date_effet=JOUR,
        motif_fin_accueil=MotifFinAccueil.AUTRE,
    )
    assert names(recorded_since(parcours, depuis)) == ["FugueTerminee", "AccueilTermine", "MesureLevee"]


def test_an_accueil_continues_while_another_active_mesure_allows_it(parcours: Parcours) -> None:
    opp, _ = place(parcours, JOUR, Nature.OPP)
    confiage = decide_mesure(parcours, JOUR, Nature.CONFIAGE_ASE)
    depuis = len(parcours.pending_events)
    parcours.lever_mesure(ctx_on(JOUR), mesure_id=opp, motif=MotifLevee.MAINLEVEE, date_effet=JOUR)
    assert names(recorded_since(parcours, depuis)) == ["MesureLevee"]
    assert parcours.accueil is not None
    assert [m.mesure_id for m in parcours.mesures_actives()] == [confiage]


@pytest.mark.parametrize("nature", sorted(NATURES_PERMETTANT_ACCUEIL))
def test_every_nature_allowing_an_accueil_carries_it(parcours: Parcours, nature: Nature) -> None:
    support, _ = place(parcours, JOUR)
    decide_mesure(parcours, JOUR, nature)
    parcours.lever_mesure(ctx_on(JOUR), mesure_id=support, motif=MotifLevee.AUTRE, date_effet=JOUR)
    assert parcours.accueil is not None
