"""Rules of the Parcours stream itself: dates of effect, opening, IP, suivi, sortie,
réouverture, transfert, référent and rectification (DOMAIN.md)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest

from services.parcours.domain import parcours_evenements as ev
from services.parcours.domain.contexte import Contexte
from services.parcours.domain.parcours import Parcours
from services.parcours.domain.vocabulaire import (
    Danger,
    MotifFinAccueil,
    MotifSortie,
    Nature,
    OrigineIP,
    Sexe,
    SituationLogement,
    SuiteEvaluation,
)
from services.runtime.errors import IntrouvableError, RegleMetierError, SaisieInvalideError
from tests.unit.fabrique import (
    NE_LE,
    OUVERT_LE,
    assert_refused,
    ctx_on,
    decide_mesure,
    lieu,
    names,
    open_parcours,
    place,
    recorded_since,
    state_of,
)

LENDEMAIN = OUVERT_LE + timedelta(days=1)


def receive_ip(p: Parcours, jour: date) -> object:
    return p.recevoir_information_preoccupante(
        ctx_on(jour), origine=OrigineIP.EDUCATION_NATIONALE, dangers=[Danger.NEGLIGENCES], date_effet=jour
    )


# -- dates of effect -------------------------------------------------------------


def test_a_date_effet_in_the_future_is_refused(parcours: Parcours) -> None:
    assert_refused(
        parcours,
        "date_effet_future",
        lambda: parcours.recevoir_information_preoccupante(
            ctx_on(OUVERT_LE),
            origine=OrigineIP.SANTE,
            dangers=[Danger.NEGLIGENCES],
            date_effet=LENDEMAIN,
        ),
    )


def test_a_date_effet_before_the_latest_one_is_refused(parcours: Parcours) -> None:
    receive_ip(parcours, LENDEMAIN)
    assert_refused(
        parcours,
        "date_effet_anterieure",
        lambda: parcours.produire_rapport(ctx_on(LENDEMAIN), transmis_au_juge=False, date_effet=OUVERT_LE),
    )


def test_a_date_effet_equal_to_the_latest_one_is_accepted(parcours: Parcours) -> None:
    receive_ip(parcours, LENDEMAIN)
    parcours.produire_rapport(ctx_on(LENDEMAIN), transmis_au_juge=False, date_effet=LENDEMAIN)
    assert names(parcours.pending_events)[-1] == "RapportSituationProduit"
    assert parcours.derniere_date_effet == LENDEMAIN


def test_a_date_effet_in_the_past_after_the_latest_one_is_accepted(parcours: Parcours) -> None:
    receive_ip(parcours, OUVERT_LE + timedelta(days=2))
    parcours.produire_rapport(
        ctx_on(OUVERT_LE + timedelta(days=30)), transmis_au_juge=True, date_effet=OUVERT_LE + timedelta(days=10)
    )
    assert parcours.pending_events[-1].date_effet == OUVERT_LE + timedelta(days=10)
    assert parcours.derniere_date_effet == OUVERT_LE + timedelta(days=10)


def test_today_is_the_french_civil_date_not_the_utc_one(parcours: Parcours) -> None:
    # 23:30 UTC on 11 January is already 12 January in Paris.
    tard_le_soir = Contexte("referent-test", datetime(2023, 1, 11, 23, 30, tzinfo=UTC), "c", "c")
    assert tard_le_soir.aujourd_hui == date(2023, 1, 12)
    parcours.produire_rapport(tard_le_soir, transmis_au_juge=False, date_effet=date(2023, 1, 12))
    assert parcours.derniere_date_effet == date(2023, 1, 12)


def test_every_event_carries_its_author_and_recording_time(parcours: Parcours) -> None:
    ctx = ctx_on(LENDEMAIN, auteur="referent-42")
    parcours.produire_rapport(ctx, transmis_au_juge=False, date_effet=OUVERT_LE)
    evenement = parcours.pending_events[-1]
    meta = evenement.metadonnees
    assert (meta.auteur, meta.enregistre_le, meta.correlation_id, meta.causation_id) == (
        "referent-42",
        ctx.maintenant,
        ctx.correlation_id,
        ctx.causation_id,
    )
    assert evenement.timestamp == ctx.maintenant


# -- opening ---------------------------------------------------------------------


def test_opening_records_parcours_ouvert_with_the_childs_data() -> None:
    personne_id = uuid4()
    p = Parcours.ouvrir(
        ctx_on(OUVERT_LE),
        personne_id=personne_id,
        date_naissance=NE_LE,
        sexe=Sexe.M,
        departement="2A",
        date_effet=OUVERT_LE,
        referent_id="referent-7",
    )
    assert names(p.pending_events) == ["ParcoursOuvert"]
    assert p.version == 1
    assert (p.personne_id, p.date_naissance, p.sexe, p.departement, p.referent_id) == (
        personne_id,
        NE_LE,
        Sexe.M,
        "2A",
        "referent-7",
    )
    assert p.ouvert_le == OUVERT_LE
    assert p.derniere_date_effet == OUVERT_LE
    assert p.mesures == {}
    assert p.accueil is None
    assert p.sorti_le is None
    assert p.majorite_atteinte_le is None


def _open(date_naissance: date, date_effet: date, today: date, departement: str = "59") -> Parcours:
    return Parcours.ouvrir(
        ctx_on(today),
        personne_id=uuid4(),
        date_naissance=date_naissance,
        sexe=Sexe.F,
        departement=departement,
        date_effet=date_effet,
    )


def test_opening_needs_a_birth_date_on_or_before_the_date_effet() -> None:
    with pytest.raises(RegleMetierError) as refus:
        _open(date_naissance=OUVERT_LE + timedelta(days=1), date_effet=OUVERT_LE, today=OUVERT_LE)
    assert refus.value.regle == "date_naissance_invalide"


def test_a_parcours_cannot_be_opened_on_the_day_of_birth() -> None:
    """Regression, named after the fault: a newborn is taken into care on the day of birth (CASF L222-6,
    an OPP at the maternity ward); opening on the birth date was refused with date_naissance_invalide."""
    p = _open(date_naissance=OUVERT_LE, date_effet=OUVERT_LE, today=OUVERT_LE)
    assert (p.date_naissance, p.ouvert_le) == (OUVERT_LE, OUVERT_LE)


def test_opening_refuses_a_birth_date_in_the_future() -> None:
    with pytest.raises(RegleMetierError) as refus:
        _open(date_naissance=LENDEMAIN, date_effet=OUVERT_LE, today=OUVERT_LE)
    assert refus.value.regle == "date_naissance_invalide"


def test_opening_refuses_a_date_effet_in_the_future() -> None:
    with pytest.raises(RegleMetierError) as refus:
        _open(date_naissance=NE_LE, date_effet=LENDEMAIN, today=OUVERT_LE)
    assert refus.value.regle == "date_effet_future"


def test_opening_refuses_a_person_aged_21_at_the_date_effet() -> None:
    vingt_et_un_ans = date(2031, 3, 15)
    with pytest.raises(RegleMetierError) as refus:
        _open(date_naissance=NE_LE, date_effet=vingt_et_un_ans, today=vingt_et_un_ans)
    assert refus.value.regle == "age_limite_depasse"
    veille = _open(date_naissance=NE_LE, date_effet=date(2031, 3, 14), today=vingt_et_un_ans)
    assert veille.ouvert_le == date(2031, 3, 14)


@pytest.mark.parametrize("departement", ["20", "00", "96", "977", "970", "2C", "7", "59 ", ""])
def test_opening_refuses_an_unknown_departement(departement: str) -> None:
    with pytest.raises(RegleMetierError) as refus:
        _open(NE_LE, OUVERT_LE, OUVERT_LE, departement=departement)
    assert refus.value.regle == "departement_inconnu"


@pytest.mark.parametrize("departement", ["01", "19", "21", "95", "2A", "2B", "971", "976"])
def test_opening_accepts_every_insee_departement_code(departement: str) -> None:
    assert _open(NE_LE, OUVERT_LE, OUVERT_LE, departement=departement).departement == departement


# -- informations préoccupantes --------------------------------------------------


def test_dangers_may_repeat_a_value(parcours: Parcours) -> None:
    """Regression, named after the fault: DOMAIN.md, InformationPreoccupanteRecue: each danger at most once."""
    assert_refused(
        parcours,
        "dangers_en_double",
        lambda: parcours.recevoir_information_preoccupante(
            ctx_on(OUVERT_LE),
            origine=OrigineIP.APPEL_119,
            dangers=[Danger.NEGLIGENCES, Danger.VIOLENCES_PHYSIQUES, Danger.NEGLIGENCES],
            date_effet=OUVERT_LE,
        ),
    )


def test_an_information_preoccupante_is_recorded_with_each_danger_once(parcours: Parcours) -> None:
    ip_id = parcours.recevoir_information_preoccupante(
        ctx_on(OUVERT_LE),
        origine=OrigineIP.APPEL_119,
        dangers=[Danger.NEGLIGENCES, Danger.VIOLENCES_PHYSIQUES],
        date_effet=OUVERT_LE,
    )
    (evenement,) = recorded_since(parcours, 1)
    assert isinstance(evenement, ev.InformationPreoccupanteRecue)
    assert evenement.ip_id == ip_id
    assert evenement.dangers == (Danger.NEGLIGENCES, Danger.VIOLENCES_PHYSIQUES)
    assert parcours.informations[ip_id].recue_le == OUVERT_LE
    assert parcours.informations[ip_id].suite is None


def test_an_information_preoccupante_needs_a_danger(parcours: Parcours) -> None:
    assert_refused(
        parcours,
        "dangers_requis",
        lambda: parcours.recevoir_information_preoccupante(
            ctx_on(OUVERT_LE), origine=OrigineIP.ANONYME, dangers=[], date_effet=OUVERT_LE
        ),
    )


def test_an_evaluation_concludes_a_received_ip_with_its_suite(parcours: Parcours) -> None:
    ip_id = receive_ip(parcours, OUVERT_LE)
    parcours.conclure_evaluation(
        ctx_on(LENDEMAIN), ip_id=ip_id, suite=SuiteEvaluation.SAISINE_JUDICIAIRE, date_effet=LENDEMAIN
    )
    assert names(recorded_since(parcours, 2)) == ["EvaluationConclue"]
    ip = parcours.informations[ip_id]
    assert (ip.suite, ip.evaluee_le) == (SuiteEvaluation.SAISINE_JUDICIAIRE, LENDEMAIN)


def test_an_evaluation_of_an_unknown_ip_is_refused(parcours: Parcours) -> None:
    avant = state_of(parcours)
    with pytest.raises(IntrouvableError):
        parcours.conclure_evaluation(
            ctx_on(OUVERT_LE), ip_id=uuid4(), suite=SuiteEvaluation.CLASSEMENT, date_effet=OUVERT_LE
        )
    assert state_of(parcours) == avant
    assert len(parcours.pending_events) == 1


def test_an_ip_is_assessed_only_once(parcours: Parcours) -> None:
    ip_id = receive_ip(parcours, OUVERT_LE)
    parcours.conclure_evaluation(ctx_on(OUVERT_LE), ip_id=ip_id, suite=SuiteEvaluation.CLASSEMENT, date_effet=OUVERT_LE)
    assert_refused(
        parcours,
        "ip_deja_evaluee",
        lambda: parcours.conclure_evaluation(
            ctx_on(LENDEMAIN), ip_id=ip_id, suite=SuiteEvaluation.SAISINE_JUDICIAIRE, date_effet=LENDEMAIN
        ),
    )


# -- suivi -----------------------------------------------------------------------


def test_the_first_ppe_is_established_and_the_next_ones_update_it(parcours: Parcours) -> None:
    assert parcours.etablir_ppe(ctx_on(OUVERT_LE), date_effet=OUVERT_LE) == "PPEEtabli"
    assert parcours.etablir_ppe(ctx_on(LENDEMAIN), date_effet=LENDEMAIN) == "PPEActualise"
    assert parcours.etablir_ppe(ctx_on(LENDEMAIN), date_effet=LENDEMAIN) == "PPEActualise"
    assert names(recorded_since(parcours, 1)) == ["PPEEtabli", "PPEActualise", "PPEActualise"]
    assert parcours.suivi.ppe_etabli_le == OUVERT_LE
    assert parcours.suivi.ppe_actualise_le == LENDEMAIN


def test_a_rapport_de_situation_is_recorded_with_its_transmission(parcours: Parcours) -> None:
    parcours.produire_rapport(ctx_on(LENDEMAIN), transmis_au_juge=True, date_effet=LENDEMAIN)
    (rapport,) = recorded_since(parcours, 1)
    assert isinstance(rapport, ev.RapportSituationProduit)
    assert rapport.transmis_au_juge is True
    assert parcours.suivi.dernier_rapport_le == LENDEMAIN


def test_an_entretien_d_autonomie_is_refused_before_16() -> None:
    seize_ans = date(2026, 3, 15)
    p = open_parcours(OUVERT_LE)
    veille = seize_ans - timedelta(days=1)
    assert_refused(
        p, "entretien_avant_16_ans", lambda: p.realiser_entretien_autonomie(ctx_on(veille), date_effet=veille)
    )
    p.realiser_entretien_autonomie(ctx_on(seize_ans), date_effet=seize_ans)
    assert names(recorded_since(p, 1)) == ["EntretienAutonomieRealise"]
    assert p.suivi.entretien_autonomie_le == seize_ans


def test_designating_a_referent_records_it(parcours: Parcours) -> None:
    parcours.designer_referent(ctx_on(LENDEMAIN), referent_id="referent-2", date_effet=LENDEMAIN)
    assert names(recorded_since(parcours, 1)) == ["ReferentDesigne"]
    assert parcours.referent_id == "referent-2"


# -- sortie ----------------------------------------------------------------------


def test_a_sortie_with_nothing_open_is_recorded(parcours: Parcours) -> None:
    parcours.sortir(
        ctx_on(LENDEMAIN),
        motif=MotifSortie.RETOUR_EN_FAMILLE,
        situation_logement=SituationLogement.FAMILLE,
        date_effet=LENDEMAIN,
    )
    (sortie,) = recorded_since(parcours, 1)
    assert isinstance(sortie, ev.SortieDispositif)
    assert sortie.situation_logement is SituationLogement.FAMILLE
    assert parcours.sorti_le == LENDEMAIN


def test_a_sortie_is_refused_while_a_mesure_is_active(parcours: Parcours) -> None:
    decide_mesure(parcours, OUVERT_LE, Nature.AED)
    assert_refused(
        parcours,
        "sortie_avec_prise_en_charge_active",
        lambda: parcours.sortir(
            ctx_on(LENDEMAIN),
            motif=MotifSortie.AUTRE,
            situation_logement=SituationLogement.FAMILLE,
            date_effet=LENDEMAIN,
        ),
    )


def test_a_sortie_is_refused_while_an_accueil_is_current(parcours: Parcours) -> None:
    place(parcours, OUVERT_LE)
    assert_refused(
        parcours,
        "sortie_avec_prise_en_charge_active",
        lambda: parcours.sortir(
            ctx_on(LENDEMAIN),
            motif=MotifSortie.AUTRE,
            situation_logement=SituationLogement.INCONNUE,
            date_effet=LENDEMAIN,
        ),
    )


def test_a_sortie_with_clore_en_cours_ends_everything_in_the_same_commit(parcours: Parcours) -> None:
    confiage, _ = place(parcours, OUVERT_LE)
    aed = decide_mesure(parcours, OUVERT_LE, Nature.AED)
    parcours.declarer_fugue(ctx_on(OUVERT_LE), date_effet=OUVERT_LE)
    depuis = len(parcours.pending_events)
    parcours.sortir(
        ctx_on(LENDEMAIN),
        motif=MotifSortie.DEMENAGEMENT,
        situation_logement=SituationLogement.INCONNUE,
        date_effet=LENDEMAIN,
        clore_en_cours=True,
    )
    commit = recorded_since(parcours, depuis)
    assert names(commit) == ["FugueTerminee", "AccueilTermine", "MesureLevee", "MesureLevee", "SortieDispositif"]
    assert {e.date_effet for e in commit} == {LENDEMAIN}
    assert {e.mesure_id for e in commit if isinstance(e, ev.MesureLevee)} == {confiage, aed}
    assert parcours.accueil is None
    assert parcours.mesures_actives() == []
    assert parcours.sorti_le == LENDEMAIN


def test_commands_on_a_sorti_parcours_are_refused() -> None:
    p = open_parcours(OUVERT_LE)
    ip_id = receive_ip(p, OUVERT_LE)
    mesure_id = decide_mesure(p, OUVERT_LE, Nature.AED)
    p.sortir(
        ctx_on(LENDEMAIN),
        motif=MotifSortie.DEMENAGEMENT,
        situation_logement=SituationLogement.FAMILLE,
        date_effet=LENDEMAIN,
        clore_en_cours=True,
    )
    ctx, jour = ctx_on(LENDEMAIN), LENDEMAIN
    commandes: list[Callable[[], object]] = [
        lambda: p.recevoir_information_preoccupante(
            ctx, origine=OrigineIP.SANTE, dangers=[Danger.AUTRE], date_effet=jour
        ),
        lambda: p.conclure_evaluation(ctx, ip_id=ip_id, suite=SuiteEvaluation.CLASSEMENT, date_effet=jour),
        lambda: decide_mesure(p, jour, Nature.CONFIAGE_ASE),
        lambda: p.renouveler_mesure(
            ctx, mesure_id=mesure_id, nouvelle_echeance=date(2024, 1, 1), reference_decision="r", date_effet=jour
        ),
        lambda: p.debuter_accueil(ctx, mesure_id=mesure_id, lieu=lieu(), date_effet=jour),
        lambda: p.terminer_accueil(ctx, motif=MotifFinAccueil.AUTRE, date_effet=jour),
        lambda: p.declarer_fugue(ctx, date_effet=jour),
        lambda: p.etablir_ppe(ctx, date_effet=jour),
        lambda: p.produire_rapport(ctx, transmis_au_juge=False, date_effet=jour),
        lambda: p.transferer(ctx, departement_destination="62", date_effet=jour),
        lambda: p.sortir(ctx, motif=MotifSortie.AUTRE, situation_logement=SituationLogement.INCONNUE, date_effet=jour),
    ]
    for commande in commandes:
        assert_refused(p, "parcours_sorti", commande)


def test_a_sorti_parcours_reopens_before_21_and_takes_commands_again(parcours: Parcours) -> None:
    parcours.sortir(
        ctx_on(OUVERT_LE), motif=MotifSortie.AUTRE, situation_logement=SituationLogement.FAMILLE, date_effet=OUVERT_LE
    )
    parcours.rouvrir(ctx_on(LENDEMAIN), motif="nouvelle IP", date_effet=LENDEMAIN)
    assert names(recorded_since(parcours, 2)) == ["ParcoursRouvert"]
    assert parcours.sorti_le is None
    receive_ip(parcours, LENDEMAIN)
    assert names(parcours.pending_events)[-1] == "InformationPreoccupanteRecue"


def test_reopening_needs_a_sortie(parcours: Parcours) -> None:
    assert_refused(
        parcours,
        "parcours_non_sorti",
        lambda: parcours.rouvrir(ctx_on(LENDEMAIN), motif="?", date_effet=LENDEMAIN),
    )


def test_reopening_is_refused_from_the_21st_birthday(parcours: Parcours) -> None:
    parcours.sortir(
        ctx_on(OUVERT_LE), motif=MotifSortie.AUTRE, situation_logement=SituationLogement.FAMILLE, date_effet=OUVERT_LE
    )
    vingt_et_un_ans = date(2031, 3, 15)
    assert_refused(
        parcours,
        "age_limite_depasse",
        lambda: parcours.rouvrir(ctx_on(vingt_et_un_ans), motif="?", date_effet=vingt_et_un_ans),
    )
    veille = vingt_et_un_ans - timedelta(days=1)
    parcours.rouvrir(ctx_on(veille), motif="retour", date_effet=veille)
    assert parcours.sorti_le is None


# -- transfert -------------------------------------------------------------------


def test_a_transfer_moves_the_parcours_to_its_destination(parcours: Parcours) -> None:
    parcours.transferer(ctx_on(LENDEMAIN), departement_destination="974", date_effet=LENDEMAIN)
    (transfert,) = recorded_since(parcours, 1)
    assert isinstance(transfert, ev.DossierTransfere)
    assert (transfert.departement_origine, transfert.departement_destination) == ("59", "974")
    assert parcours.departement == "974"


def test_a_transfer_to_the_same_departement_is_refused(parcours: Parcours) -> None:
    assert_refused(
        parcours,
        "meme_departement",
        lambda: parcours.transferer(ctx_on(LENDEMAIN), departement_destination="59", date_effet=LENDEMAIN),
    )


def test_a_transfer_to_an_unknown_departement_is_refused(parcours: Parcours) -> None:
    assert_refused(
        parcours,
        "departement_inconnu",
        lambda: parcours.transferer(ctx_on(LENDEMAIN), departement_destination="20", date_effet=LENDEMAIN),
    )


# -- rectification ---------------------------------------------------------------


def test_a_rectification_records_the_correction_beside_the_original(parcours: Parcours) -> None:
    ouverture = parcours.pending_events[0]
    parcours.rectifier(
        ctx_on(LENDEMAIN),
        version_rectifiee=ouverture.originator_version,
        champ="sexe",
        nouvelle_valeur="M",
        motif="erreur de saisie",
    )
    (rectif,) = recorded_since(parcours, 1)
    assert isinstance(rectif, ev.SaisieRectifiee)
    assert (rectif.version_rectifiee, rectif.champ, rectif.ancienne_valeur, rectif.nouvelle_valeur) == (
        1,
        "sexe",
        "F",
        "M",
    )
    assert ouverture.sexe is Sexe.F  # the past is not rewritten
    assert parcours.sexe is Sexe.M
    assert [r.version_rectifiee for r in parcours.suivi.rectifications] == [1]


def test_a_rectification_of_a_field_the_event_does_not_have_is_refused(parcours: Parcours) -> None:
    ouverture = parcours.pending_events[0]
    assert_refused(
        parcours,
        "champ_non_rectifiable",
        lambda: parcours.rectifier(
            ctx_on(LENDEMAIN),
            version_rectifiee=ouverture.originator_version,
            champ="nom",
            nouvelle_valeur="X",
            motif="m",
        ),
    )


@pytest.mark.parametrize("champ", ["originator_version", "originator_id", "timestamp", "metadonnees"])
def test_the_technical_fields_of_an_event_are_not_rectifiable(parcours: Parcours, champ: str) -> None:
    ouverture = parcours.pending_events[0]
    assert_refused(
        parcours,
        "champ_non_rectifiable",
        lambda: parcours.rectifier(
            ctx_on(LENDEMAIN), version_rectifiee=ouverture.originator_version, champ=champ, nouvelle_valeur=7, motif="m"
        ),
    )


@pytest.mark.parametrize(
    ("champ", "valeur"),
    [
        ("sexe", "Z"),
        ("date_naissance", "le 3 mars"),
        ("date_naissance", "2010-02-30"),
        ("date_naissance", 0),
        ("date_effet", "demain"),
    ],
)
def test_a_rectified_value_is_validated_against_the_field_type(parcours: Parcours, champ: str, valeur: str) -> None:
    """A malformed value is a malformed input (422 naming ``nouvelle_valeur``), not a refusal by a rule."""
    ouverture = parcours.pending_events[0]
    avant = state_of(parcours)
    with pytest.raises(SaisieInvalideError) as refus:
        parcours.rectifier(
            ctx_on(LENDEMAIN),
            version_rectifiee=ouverture.originator_version,
            champ=champ,
            nouvelle_valeur=valeur,
            motif="m",
        )
    assert refus.value.champ == "nouvelle_valeur"
    assert state_of(parcours) == avant


def test_a_rectified_mesure_nature_must_be_a_nature(parcours: Parcours) -> None:
    decide_mesure(parcours, OUVERT_LE, Nature.AED)
    decision = parcours.pending_events[-1]
    with pytest.raises(SaisieInvalideError):
        parcours.rectifier(
            ctx_on(LENDEMAIN),
            version_rectifiee=decision.originator_version,
            champ="nature",
            nouvelle_valeur="placement",
            motif="m",
        )
    parcours.rectifier(
        ctx_on(LENDEMAIN),
        version_rectifiee=decision.originator_version,
        champ="nature",
        nouvelle_valeur="accueil_provisoire",
        motif="m",
    )
    assert parcours.pending_events[-1].nouvelle_valeur == "accueil_provisoire"


def test_a_rectification_that_changes_nothing_is_refused(parcours: Parcours) -> None:
    ouverture = parcours.pending_events[0]
    assert_refused(
        parcours,
        "rectification_sans_effet",
        lambda: parcours.rectifier(
            ctx_on(LENDEMAIN),
            version_rectifiee=ouverture.originator_version,
            champ="date_naissance",
            nouvelle_valeur=NE_LE.isoformat(),
            motif="m",
        ),
    )


def test_a_rectified_birth_date_must_precede_the_opening(parcours: Parcours) -> None:
    ouverture = parcours.pending_events[0]
    assert_refused(
        parcours,
        "date_naissance_invalide",
        lambda: parcours.rectifier(
            ctx_on(LENDEMAIN),
            version_rectifiee=ouverture.originator_version,
            champ="date_naissance",
            nouvelle_valeur=OUVERT_LE + timedelta(days=1),
            motif="m",
        ),
    )


def test_a_rectified_birth_date_governs_later_rule_checks(parcours: Parcours) -> None:
    # Recorded as 12 years old: too young for the entretien d'autonomie...
    jour = date(2023, 6, 1)
    assert_refused(
        parcours,
        "entretien_avant_16_ans",
        lambda: parcours.realiser_entretien_autonomie(ctx_on(jour), date_effet=jour),
    )
    # ... until the civil record shows the child was born in 2006.
    parcours.rectifier(
        ctx_on(jour),
        version_rectifiee=parcours.pending_events[0].originator_version,
        champ="date_naissance",
        nouvelle_valeur="2006-05-20",
        motif="acte de naissance",
    )
    assert parcours.date_naissance == date(2006, 5, 20)
    parcours.realiser_entretien_autonomie(ctx_on(jour), date_effet=jour)
    assert names(recorded_since(parcours, 1)) == ["SaisieRectifiee", "EntretienAutonomieRealise"]


def test_a_rectification_of_a_rectification_is_refused(parcours: Parcours) -> None:
    parcours.rectifier(
        ctx_on(LENDEMAIN),
        version_rectifiee=parcours.pending_events[0].originator_version,
        champ="sexe",
        nouvelle_valeur="X",
        motif="m",
    )
    rectif = parcours.pending_events[-1]
    assert_refused(
        parcours,
        "rectification_de_rectification",
        lambda: parcours.rectifier(
            ctx_on(LENDEMAIN),
            version_rectifiee=rectif.originator_version,
            champ="nouvelle_valeur",
            nouvelle_valeur="M",
            motif="m",
        ),
    )


def test_a_rectification_carries_the_date_of_what_it_corrects_and_does_not_move_the_stream(
    parcours: Parcours,
) -> None:
    """DOMAIN.md, SaisieRectifiee: a correction carries the corrected event's date_effet."""
    later = OUVERT_LE + timedelta(days=20)
    parcours.rectifier(
        ctx_on(later),
        version_rectifiee=parcours.pending_events[0].originator_version,
        champ="sexe",
        nouvelle_valeur="M",
        motif="m",
    )
    assert parcours.pending_events[-1].date_effet == OUVERT_LE
    assert parcours.derniere_date_effet == OUVERT_LE


def test_a_sorti_parcours_may_still_be_rectified(parcours: Parcours) -> None:
    parcours.sortir(
        ctx_on(OUVERT_LE), motif=MotifSortie.AUTRE, situation_logement=SituationLogement.FAMILLE, date_effet=OUVERT_LE
    )
    parcours.rectifier(
        ctx_on(LENDEMAIN),
        version_rectifiee=parcours.pending_events[0].originator_version,
        champ="sexe",
        nouvelle_valeur="M",
        motif="m",
    )
    assert names(parcours.pending_events)[-1] == "SaisieRectifiee"
    assert parcours.sorti_le == OUVERT_LE
