"""The bi-temporal fold of the audit: what was true on a date, as known at a time (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from services.projections.readmodels.audit import EvenementAudite, chronologie
from services.projections.readmodels.bitemporel import Fait, connaissance, etat_au

T0 = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
PARCOURS = uuid4()
MESURE = "6b0f3f5e-3c0a-4c8e-9d7a-2a4f0d1e0001"
LIEU_A = "6b0f3f5e-3c0a-4c8e-9d7a-2a4f0d1e00a1"
LIEU_B = "6b0f3f5e-3c0a-4c8e-9d7a-2a4f0d1e00b2"
TOUT = date(2100, 1, 1)
"""A date after everything: every event recorded is in effect."""
PLUS_TARD = T0 + timedelta(days=3650)


def fait(version: int, nom: str, date_effet: date, *, heures: int = 0, **donnees: Any) -> Fait:
    """Event ``version`` recorded ``heures`` after T0."""
    return Fait(
        version,
        nom,
        date_effet,
        T0 + timedelta(hours=heures),
        {"parcours_id": str(PARCOURS), "date_effet": date_effet.isoformat(), **donnees},
    )


def ouverture(date_effet: date = date(2026, 1, 5), **donnees: Any) -> Fait:
    champs = {
        "personne_id": str(uuid4()),
        "mois_naissance": "2012-05",
        "sexe": "F",
        "departement": "59",
        "referent_id": "alice",
        **donnees,
    }
    return fait(1, "ParcoursOuvert", date_effet, **champs)


def mesure(version: int, date_effet: date, *, heures: int = 0, echeance: date | None = None) -> Fait:
    return fait(
        version,
        "MesureDecidee",
        date_effet,
        heures=heures,
        mesure_id=MESURE,
        cadre="administratif",
        nature="accueil_provisoire",
        autorite="president_cd",
        reference_decision="DEC-1",
        date_debut=date_effet.isoformat(),
        date_echeance=echeance.isoformat() if echeance else None,
    )


def rectification(
    version: int,
    cible: int,
    champ: str,
    ancienne: Any,
    nouvelle: Any,
    *,
    heures: int,
    date_effet: date = date(2026, 6, 1),
) -> Fait:
    return fait(
        version,
        "SaisieRectifiee",
        date_effet,
        heures=heures,
        version_rectifiee=cible,
        champ=champ,
        ancienne_valeur=ancienne,
        nouvelle_valeur=nouvelle,
    )


def test_an_event_recorded_after_the_instant_asked_is_not_known() -> None:
    faits = [ouverture(), fait(2, "ReferentDesigne", date(2026, 1, 6), heures=5, referent_id="bruno")]

    assert etat_au(faits, TOUT, T0 + timedelta(hours=4)).referent_id == "alice"
    assert etat_au(faits, TOUT, T0 + timedelta(hours=5)).referent_id == "bruno"


def test_an_event_dated_after_the_date_asked_is_not_in_effect() -> None:
    faits = [ouverture(), fait(2, "PPEEtabli", date(2026, 3, 1))]

    assert etat_au(faits, date(2026, 2, 28), PLUS_TARD).ppe_etabli_le is None
    assert etat_au(faits, date(2026, 3, 1), PLUS_TARD).ppe_etabli_le == date(2026, 3, 1)


def test_before_its_opening_a_parcours_has_no_state() -> None:
    etat = etat_au([ouverture(date(2026, 1, 5))], date(2026, 1, 4), PLUS_TARD)

    assert etat.ouvert_le is None
    assert etat.derniere_version is None
    assert etat.evenements_pris_en_compte == 0


def test_a_correction_recorded_later_changes_what_is_known_after_it_and_not_before() -> None:
    faits = [
        ouverture(),
        mesure(2, date(2026, 1, 6), echeance=date(2027, 1, 6)),
        rectification(3, 2, "date_echeance", "2027-01-06", "2026-07-06", heures=48),
    ]

    avant = etat_au(faits, TOUT, T0 + timedelta(hours=47))
    apres = etat_au(faits, TOUT, T0 + timedelta(hours=48))

    assert avant.mesures_actives[0].date_echeance == date(2027, 1, 6)
    assert avant.rectifications_appliquees == []
    assert apres.mesures_actives[0].date_echeance == date(2026, 7, 6)
    assert apres.rectifications_appliquees == [3]


def test_a_correction_applies_to_the_past_date_of_its_target_not_to_its_own_date() -> None:
    faits = [
        ouverture(),
        fait(2, "ReferentDesigne", date(2026, 1, 6), referent_id="bruno"),
        rectification(3, 2, "referent_id", "bruno", "bertrand", heures=1, date_effet=date(2026, 6, 1)),
    ]

    assert etat_au(faits, date(2026, 1, 6), PLUS_TARD).referent_id == "bertrand"


def test_the_latest_correction_of_a_field_wins_from_the_time_it_is_recorded() -> None:
    faits = [
        ouverture(),
        fait(2, "ReferentDesigne", date(2026, 1, 6), referent_id="bruno"),
        rectification(3, 2, "referent_id", "bruno", "bertrand", heures=1),
        rectification(4, 2, "referent_id", "bertrand", "berenice", heures=2),
    ]

    assert etat_au(faits, TOUT, T0 + timedelta(hours=1)).referent_id == "bertrand"
    assert etat_au(faits, TOUT, T0 + timedelta(hours=2)).referent_id == "berenice"
    assert etat_au(faits, TOUT, T0 + timedelta(hours=2)).rectifications_appliquees == [3, 4]


def test_a_corrected_date_of_effect_moves_the_event_in_or_out_of_the_date_asked() -> None:
    faits = [
        ouverture(),
        fait(2, "PPEEtabli", date(2026, 3, 1)),
        rectification(3, 2, "date_effet", "2026-03-01", "2026-02-01", heures=1),
    ]

    assert etat_au(faits, date(2026, 2, 15), T0).ppe_etabli_le is None
    assert etat_au(faits, date(2026, 2, 15), T0 + timedelta(hours=1)).ppe_etabli_le == date(2026, 2, 1)


def test_a_corrected_birth_date_shows_as_its_month() -> None:
    faits = [ouverture(mois_naissance="2012-05"), rectification(2, 1, "date_naissance", "2012-05", "2011-12", heures=1)]

    assert etat_au(faits, TOUT, T0).mois_naissance == "2012-05"
    assert etat_au(faits, TOUT, T0 + timedelta(hours=1)).mois_naissance == "2011-12"


def test_a_correction_of_a_field_the_public_payload_lacks_changes_nothing() -> None:
    faits = [
        ouverture(),
        fait(2, "ParcoursRouvert", date(2026, 1, 6)),
        rectification(3, 2, "motif", "demande", "autre demande", heures=1),
    ]

    connu = connaissance(faits, PLUS_TARD)

    assert connu.faits[1].donnees == faits[1].donnees
    assert connu.rectifications == {2: [3]}


def test_corrections_are_listed_only_for_the_events_in_effect() -> None:
    faits = [
        ouverture(),
        fait(2, "PPEEtabli", date(2026, 3, 1)),
        rectification(3, 2, "date_effet", "2026-03-01", "2026-03-02", heures=1),
    ]

    assert etat_au(faits, date(2026, 2, 1), PLUS_TARD).rectifications_appliquees == []
    assert etat_au(faits, date(2026, 3, 2), PLUS_TARD).rectifications_appliquees == [3]


def test_majority_ends_the_measures_and_the_accueil_on_the_birthday() -> None:
    anniversaire = date(2030, 5, 3)
    faits = [
        ouverture(date(2029, 1, 5)),
        mesure(2, date(2029, 1, 6)),
        fait(
            3,
            "AccueilDebute",
            date(2029, 1, 7),
            mesure_id=MESURE,
            lieu_id=LIEU_A,
            type_lieu="mecs",
            date_limite_hotel=None,
        ),
        fait(4, "PPEEtabli", date(2030, 6, 1)),
        # Recorded later, dated on the birthday, with the ends it implies.
        fait(5, "MajoriteAtteinte", anniversaire, heures=1),
        fait(6, "AccueilTermine", anniversaire, heures=1, motif="majorite"),
        fait(7, "MesureLevee", anniversaire, heures=1, mesure_id=MESURE, motif="majorite"),
    ]

    veille = etat_au(faits, anniversaire - timedelta(days=1), PLUS_TARD)
    jour = etat_au(faits, anniversaire, PLUS_TARD)
    avant_enregistrement = etat_au(faits, date(2030, 6, 1), T0)

    assert [m.mesure_id for m in veille.mesures_actives] == [MESURE]
    assert veille.accueil is not None
    assert veille.majorite_atteinte_le is None
    assert jour.mesures_actives == []
    assert jour.accueil is None
    assert jour.majorite_atteinte_le == anniversaire
    assert avant_enregistrement.accueil is not None


def test_a_change_of_lieu_moves_the_current_accueil_and_a_fugue_ends_with_the_accueil() -> None:
    faits = [
        ouverture(),
        mesure(2, date(2026, 1, 6)),
        fait(
            3,
            "AccueilDebute",
            date(2026, 1, 7),
            mesure_id=MESURE,
            lieu_id=LIEU_A,
            type_lieu="mecs",
            date_limite_hotel=None,
        ),
        fait(
            4,
            "LieuAccueilChange",
            date(2026, 2, 1),
            lieu_id=LIEU_B,
            type_lieu="assistant_familial",
            motif="besoin_enfant",
            date_limite_hotel=None,
        ),
        fait(5, "FugueDeclaree", date(2026, 3, 1)),
        fait(6, "AccueilTermine", date(2026, 4, 1), motif="retour_en_famille"),
    ]

    en_fugue = etat_au(faits, date(2026, 3, 15), PLUS_TARD)
    rentre = etat_au(faits, date(2026, 4, 1), PLUS_TARD)

    assert en_fugue.accueil is not None
    assert (en_fugue.accueil.lieu_id, en_fugue.accueil.type_lieu) == (LIEU_B, "assistant_familial")
    assert (en_fugue.accueil.depuis, en_fugue.accueil.debut_accueil) == (date(2026, 2, 1), date(2026, 1, 7))
    assert en_fugue.fugue_depuis == date(2026, 3, 1)
    assert rentre.accueil is None
    assert rentre.fugue_depuis is None


def test_a_transfer_changes_the_departement_from_its_date() -> None:
    faits = [
        ouverture(),
        fait(2, "DossierTransfere", date(2026, 2, 1), departement_origine="59", departement_destination="62"),
    ]

    assert etat_au(faits, date(2026, 1, 31), PLUS_TARD).departement == "59"
    assert etat_au(faits, date(2026, 2, 1), PLUS_TARD).departement == "62"


def test_a_renewal_moves_the_echeance_and_a_levee_ends_the_measure() -> None:
    faits = [
        ouverture(),
        mesure(2, date(2026, 1, 6), echeance=date(2026, 7, 6)),
        fait(
            3,
            "MesureRenouvelee",
            date(2026, 7, 1),
            mesure_id=MESURE,
            nouvelle_echeance="2027-01-06",
            reference_decision="DEC-2",
        ),
        fait(4, "MesureLevee", date(2026, 9, 1), mesure_id=MESURE, motif="mainlevee"),
    ]

    renouvelee = etat_au(faits, date(2026, 8, 1), PLUS_TARD).mesures_actives

    assert [(m.date_echeance, m.renouvellements) for m in renouvelee] == [(date(2027, 1, 6), 1)]
    assert etat_au(faits, date(2026, 9, 1), PLUS_TARD).mesures_actives == []


def test_follow_up_apjm_and_exit_are_replayed_in_order() -> None:
    faits = [
        ouverture(),
        fait(
            2, "InformationPreoccupanteRecue", date(2026, 1, 6), ip_id=MESURE, origine="sante", dangers=["negligences"]
        ),
        fait(3, "EvaluationConclue", date(2026, 2, 6), ip_id=MESURE, suite="saisine_judiciaire"),
        fait(4, "RapportSituationProduit", date(2026, 3, 1), transmis_au_juge=True),
        fait(5, "EntretienAutonomieRealise", date(2026, 3, 2)),
        fait(6, "AccompagnementJeuneMajeurAccorde", date(2026, 4, 1), date_debut="2026-04-01", date_fin="2026-10-01"),
        fait(7, "AccompagnementJeuneMajeurRenouvele", date(2026, 9, 1), date_fin="2027-04-01"),
        fait(8, "AccompagnementJeuneMajeurTermine", date(2026, 12, 1), motif="terme"),
        fait(
            9,
            "SortieDispositif",
            date(2026, 12, 1),
            motif="fin_accompagnement_jeune_majeur",
            situation_logement="logement_social",
        ),
        fait(10, "ParcoursRouvert", date(2027, 1, 5)),
    ]

    en_apjm = etat_au(faits, date(2026, 9, 1), PLUS_TARD)
    sorti = etat_au(faits, date(2026, 12, 1), PLUS_TARD)

    assert en_apjm.informations_preoccupantes[0].suite == "saisine_judiciaire"
    assert (en_apjm.dernier_rapport_le, en_apjm.dernier_rapport_transmis_au_juge) == (date(2026, 3, 1), True)
    assert en_apjm.entretien_autonomie_le == date(2026, 3, 2)
    assert en_apjm.accompagnement_jeune_majeur is not None
    assert en_apjm.accompagnement_jeune_majeur.date_fin == date(2027, 4, 1)
    assert sorti.accompagnement_jeune_majeur is None
    assert sorti.sortie is not None
    assert sorti.sortie.situation_logement == "logement_social"
    assert etat_au(faits, TOUT, PLUS_TARD).sortie is None


@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=1, max_value=10_000))
def test_an_event_recorded_after_the_instant_asked_never_changes_the_state(avant: int, ecart: int) -> None:
    connu_le = T0 + timedelta(minutes=avant)
    base = [ouverture(), mesure(2, date(2026, 1, 6))]
    tardifs = [
        *base,
        fait(3, "MesureLevee", date(2026, 1, 7), heures=0, mesure_id=MESURE, motif="autre"),
        rectification(4, 2, "nature", "accueil_provisoire", "accueil_urgence", heures=0),
    ]
    tardifs = [
        f if f.version < 3 else Fait(f.version, f.nom, f.date_effet, connu_le + timedelta(minutes=ecart), f.donnees)
        for f in tardifs
    ]

    assert etat_au(tardifs, TOUT, connu_le) == etat_au(base, TOUT, connu_le)


# -- what the law derives, as the write side derives it -----------------------------------------

CONFIAGE = "6b0f3f5e-3c0a-4c8e-9d7a-2a4f0d1e0002"
AEMO = "6b0f3f5e-3c0a-4c8e-9d7a-2a4f0d1e0003"


def decision(version: int, jour: date, mesure_id: str, nature: str, autorite: str = "juge_des_enfants") -> Fait:
    return fait(
        version,
        "MesureDecidee",
        jour,
        mesure_id=mesure_id,
        cadre="judiciaire",
        nature=nature,
        autorite=autorite,
        reference_decision=f"JE-{version}",
        date_debut=jour.isoformat(),
        date_echeance=(jour + timedelta(days=300)).isoformat(),
    )


def test_after_the_opp_carrying_the_accueil_is_lifted_the_state_names_the_confiage() -> None:
    """Regression: the audit state kept naming the lifted OPP while GET /v1/parcours named the confiage."""
    faits = [
        ouverture(),
        decision(2, date(2026, 1, 6), MESURE, "opp", "parquet"),
        fait(
            3,
            "AccueilDebute",
            date(2026, 1, 6),
            mesure_id=MESURE,
            lieu_id=LIEU_A,
            type_lieu="mecs",
            date_limite_hotel=None,
        ),
        decision(4, date(2026, 1, 12), AEMO, "aemo"),  # decided first, but supports the child at home
        decision(5, date(2026, 1, 14), CONFIAGE, "confiage_ase"),
        fait(6, "MesureLevee", date(2026, 1, 15), mesure_id=MESURE, motif="mainlevee"),
    ]

    etat = etat_au(faits, TOUT, PLUS_TARD)

    assert etat.accueil is not None
    assert etat.accueil.mesure_id == CONFIAGE
    assert [m.mesure_id for m in etat.mesures_levees] == [MESURE]
    assert etat_au(faits, date(2026, 1, 14), PLUS_TARD).accueil.mesure_id == MESURE  # type: ignore[union-attr]


def test_a_stays_limit_is_derived_from_the_corrected_facts_not_read_from_the_payload() -> None:
    """CASF L221-2-3: two months in a hébergement dérogatoire, from the (corrected) day of arrival."""
    faits = [
        ouverture(),
        mesure(2, date(2026, 1, 6)),
        fait(
            3,
            "AccueilDebute",
            date(2026, 1, 7),
            mesure_id=MESURE,
            lieu_id=LIEU_A,
            type_lieu="hebergement_derogatoire",
            date_limite_hotel=None,
        ),
        rectification(4, 3, "date_effet", "2026-01-07", "2026-01-06", heures=1, date_effet=date(2026, 1, 6)),
    ]

    assert etat_au(faits, TOUT, T0).accueil.date_limite_hotel == date(2026, 3, 7)  # type: ignore[union-attr]
    assert etat_au(faits, TOUT, PLUS_TARD).accueil.date_limite_hotel == date(2026, 3, 6)  # type: ignore[union-attr]


def test_a_correction_never_moves_the_latest_date_of_effect() -> None:
    faits = [
        ouverture(),
        fait(2, "PPEEtabli", date(2026, 3, 1)),
        rectification(3, 2, "date_effet", "2026-03-01", "2026-02-01", heures=1, date_effet=date(2026, 2, 1)),
        rectification(4, 1, "referent_id", "alice", "bruno", heures=2, date_effet=date(2026, 9, 1)),
    ]

    assert etat_au(faits, TOUT, PLUS_TARD).derniere_date_effet == date(2026, 2, 1)


def test_a_correction_of_a_field_added_to_the_contract_later_applies_to_an_older_payload() -> None:
    """C. civ. 375 al. 4: a confiage decided on chronic difficulties; the field came after the event was published."""
    faits = [ouverture(), decision(2, date(2026, 1, 6), MESURE, "confiage_ase")]
    assert "duree_derogatoire" not in faits[1].donnees
    faits.append(rectification(3, 2, "duree_derogatoire", False, True, heures=1, date_effet=date(2026, 1, 6)))

    assert etat_au(faits, TOUT, PLUS_TARD).mesures_actives[0].duree_derogatoire is True


def audite(version: int, nom: str, **donnees: Any) -> EvenementAudite:
    return EvenementAudite(
        PARCOURS,
        version,
        f"id-{version}",
        f"fr.ase.parcours.{nom}.v1",
        nom,
        date(2026, 1, 5),
        T0 + timedelta(hours=version),
        f"agent-{version}",
        "corr",
        "59",
        donnees,
    )


def test_the_chronology_shows_each_correction_beside_what_it_corrects() -> None:
    evenements = [
        audite(3, "SaisieRectifiee", version_rectifiee=1, champ="sexe", ancienne_valeur="F", nouvelle_valeur="M"),
        audite(1, "ParcoursOuvert"),
        audite(2, "PPEEtabli"),
        audite(4, "SaisieRectifiee", version_rectifiee=1, champ="sexe", ancienne_valeur="M", nouvelle_valeur="X"),
    ]

    entrees = chronologie(evenements)

    assert [e.evenement.version for e in entrees] == [1, 2, 3, 4]
    assert [r.version for r in entrees[0].rectifications] == [3, 4]
    assert entrees[1].rectifications == []
    assert [e.evenement.version_rectifiee for e in entrees] == [None, None, 1, 1]
