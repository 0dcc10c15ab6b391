"""The pilotage rules without I/O: deadlines met or pending, indicator figures, occupancy, OLINPE output."""

from __future__ import annotations

import csv
import io
from datetime import date

import orjson
import pytest

from services.projections.readmodels import indicateurs as ind
from services.projections.readmodels.occupation import Occupation, places_offertes
from services.projections.readmodels.olinpe import (
    CLE_DE_DEVELOPPEMENT,
    COLONNES,
    ReglagesOlinpe,
    en_csv,
    en_jsonl,
    pseudonyme,
)

AUJOURD_HUI = date(2026, 11, 28)


# -- deadlines ----------------------------------------------------------------------------


def test_something_done_on_the_deadline_day_is_in_time() -> None:
    assert ind.statut_echeance(date(2026, 5, 1), date(2026, 5, 1), AUJOURD_HUI) is ind.Statut.DANS_LE_DELAI


def test_something_done_the_day_after_the_deadline_is_late() -> None:
    assert ind.statut_echeance(date(2026, 5, 1), date(2026, 5, 2), AUJOURD_HUI) is ind.Statut.HORS_DELAI


def test_nothing_done_before_a_passed_deadline_is_late() -> None:
    assert ind.statut_echeance(date(2026, 5, 1), None, AUJOURD_HUI) is ind.Statut.HORS_DELAI


def test_nothing_done_yet_with_the_deadline_today_or_later_is_pending() -> None:
    assert ind.statut_echeance(AUJOURD_HUI, None, AUJOURD_HUI) is ind.Statut.EN_ATTENTE
    assert ind.statut_echeance(date(2027, 1, 1), None, AUJOURD_HUI) is ind.Statut.EN_ATTENTE


def test_what_stopped_being_due_before_its_deadline_is_excluded() -> None:
    statut = ind.statut_echeance(date(2026, 6, 1), None, AUJOURD_HUI, interrompu_le=date(2026, 3, 4))
    assert statut is ind.Statut.EXCLU


def test_what_was_done_in_time_counts_even_if_it_stopped_later() -> None:
    statut = ind.statut_echeance(date(2026, 6, 1), date(2026, 4, 1), AUJOURD_HUI, interrompu_le=date(2026, 5, 1))
    assert statut is ind.Statut.DANS_LE_DELAI


def test_the_end_of_a_month_is_its_last_day() -> None:
    assert ind.fin_de_mois(date(2026, 2, 1)) == date(2026, 2, 28)
    assert ind.fin_de_mois(date(2028, 2, 10)) == date(2028, 2, 29)
    assert ind.fin_de_mois(date(2026, 12, 1)) == date(2026, 12, 31)


# -- indicators ---------------------------------------------------------------------------


def test_successive_lieux_give_mean_median_maximum_and_distribution() -> None:
    resultat = ind.lieux_successifs([1, 1, 3, 7])
    assert (resultat.valeur, resultat.mediane, resultat.maximum, resultat.population) == (3.0, 2.0, 7, 4)
    assert resultat.repartition == {"1": 2, "3": 1, "7": 1}
    assert resultat.unite == "nombre_moyen"


def test_an_indicator_over_nobody_has_no_value() -> None:
    assert ind.lieux_successifs([]).valeur is None
    assert ind.sorties_sans_logement([]).valeur is None
    assert ind.ppe_dans_les_3_mois([], AUJOURD_HUI).population == 0


def test_ppe_within_three_months_counts_only_measures_whose_deadline_passed_or_were_met() -> None:
    mesures = [
        ind.MesureDebutee(date(2026, 2, 28), None, date(2026, 5, 28)),  # on the deadline day
        ind.MesureDebutee(date(2026, 1, 10), None, date(2026, 6, 1)),  # late
        ind.MesureDebutee(date(2026, 1, 10), None, None),  # never
        ind.MesureDebutee(date(2026, 10, 1), None, None),  # pending until 2027-01-01
        ind.MesureDebutee(date(2026, 3, 1), date(2026, 3, 4), None),  # lifted after 3 days
    ]
    resultat = ind.ppe_dans_les_3_mois(mesures, AUJOURD_HUI)
    assert (resultat.population, resultat.numerateur, resultat.en_attente, resultat.exclus) == (3, 1, 1, 1)
    assert resultat.valeur == 0.3333


def test_the_entretien_is_in_time_until_the_last_day_of_the_month_of_the_17th_birthday() -> None:
    jeunes = [
        ind.JeuneDe17Ans(date(2026, 4, 1), date(2026, 4, 30), None),
        ind.JeuneDe17Ans(date(2026, 4, 1), date(2026, 5, 1), None),
        ind.JeuneDe17Ans(date(2026, 7, 1), None, date(2026, 7, 5)),
        ind.JeuneDe17Ans(date(2026, 12, 1), None, None),
    ]
    resultat = ind.entretien_autonomie_a_17_ans(jeunes, AUJOURD_HUI)
    assert (resultat.population, resultat.numerateur, resultat.exclus, resultat.en_attente) == (2, 1, 1, 1)
    assert resultat.valeur == 0.5


def test_an_apjm_counts_at_majority_when_it_starts_within_three_months() -> None:
    majorites = [
        ind.Majorite(date(2026, 2, 10), date(2026, 5, 10)),
        ind.Majorite(date(2026, 2, 10), date(2026, 5, 11)),
        ind.Majorite(date(2026, 4, 1), None),
        ind.Majorite(date(2026, 10, 1), None),
    ]
    resultat = ind.apjm_a_18_ans(majorites, AUJOURD_HUI)
    assert (resultat.population, resultat.numerateur, resultat.en_attente) == (3, 1, 1)
    assert resultat.valeur == 0.3333


def test_exits_without_housing_count_unknown_situations_and_leave_deaths_out() -> None:
    sorties = [
        ind.Sortie("majorite_sans_accompagnement", "sans_solution"),
        ind.Sortie("autre", "inconnue"),
        ind.Sortie("retour_en_famille", "famille"),
        ind.Sortie("deces", "inconnue"),
    ]
    resultat = ind.sorties_sans_logement(sorties)
    assert (resultat.population, resultat.numerateur, resultat.exclus) == (3, 2, 1)
    assert resultat.valeur == 0.6667
    assert resultat.repartition == {"famille": 1, "inconnue": 1, "sans_solution": 1}


def test_a_hotel_stay_is_in_time_when_it_ends_within_two_months() -> None:
    sejours = [
        ind.SejourHotel(date(2026, 2, 1), date(2026, 4, 1)),  # the last allowed day
        ind.SejourHotel(date(2026, 3, 1), date(2026, 5, 2)),  # a day over
        ind.SejourHotel(date(2026, 4, 1), None),  # still there after two months
        ind.SejourHotel(date(2026, 10, 15), None),  # still there, within two months
    ]
    resultat = ind.hotel_au_plus_2_mois(sejours, AUJOURD_HUI)
    assert (resultat.population, resultat.numerateur, resultat.en_attente, resultat.valeur) == (3, 1, 1, 0.3333)


def test_every_indicator_states_its_definition() -> None:
    tous = [
        ind.lieux_successifs([1]),
        ind.ppe_dans_les_3_mois([], AUJOURD_HUI),
        ind.entretien_autonomie_a_17_ans([], AUJOURD_HUI),
        ind.apjm_a_18_ans([], AUJOURD_HUI),
        ind.sorties_sans_logement([]),
        ind.hotel_au_plus_2_mois([], AUJOURD_HUI),
    ]
    assert len({i.code for i in tous}) == 6
    assert all(len(i.definition) > 100 for i in tous)


# -- occupancy ----------------------------------------------------------------------------


def test_a_lieu_over_its_capacity_has_a_rate_above_one_and_is_flagged() -> None:
    occ = Occupation(places=2, enfants=3)
    assert (occ.taux, occ.sur_occupation, occ.places_libres) == (1.5, True, 0)


def test_a_full_lieu_is_not_over_occupied() -> None:
    occ = Occupation(places=3, enfants=3)
    assert (occ.taux, occ.sur_occupation, occ.places_libres) == (1.0, False, 0)


def test_a_closed_lieu_offers_no_place_and_any_child_there_over_occupies_it() -> None:
    assert places_offertes(12, date(2026, 6, 1)) == 0
    assert places_offertes(12, None) == 12
    assert Occupation(places=0, enfants=0).taux is None
    assert Occupation(places=0, enfants=0).sur_occupation is False
    assert Occupation(places=0, enfants=1).sur_occupation is True


# -- OLINPE -------------------------------------------------------------------------------


def test_a_pseudonym_is_stable_for_a_key_and_changes_with_it() -> None:
    personne = "1f0c7a52-3c3e-4c41-9f38-2b2a9f6c1d10"
    assert pseudonyme(b"k1", personne) == pseudonyme(b"k1", personne)
    assert pseudonyme(b"k1", personne) != pseudonyme(b"k2", personne)
    assert len(pseudonyme(b"k1", personne)) == 64
    assert personne not in pseudonyme(b"k1", personne)


def test_production_refuses_the_development_olinpe_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASE_MODE", "production")
    monkeypatch.delenv("ASE_OLINPE_CLE", raising=False)
    with pytest.raises(ValueError, match="ASE_OLINPE_CLE"):
        ReglagesOlinpe()
    monkeypatch.setenv("ASE_OLINPE_CLE", "une-vraie-cle-secrete")
    assert ReglagesOlinpe().cle_octets() == b"une-vraie-cle-secrete"


def test_the_development_olinpe_key_is_the_default_in_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASE_MODE", raising=False)
    monkeypatch.delenv("ASE_OLINPE_CLE", raising=False)
    assert ReglagesOlinpe().cle_octets() == CLE_DE_DEVELOPPEMENT.encode()


LIGNE = {
    "pseudonyme": "ab" * 32,
    "rang_mesure": 1,
    "evenement": "fin",
    "date_evenement": date(2026, 3, 4),
    "departement": "59",
    "annee_naissance": 2012,
    "mois_naissance": 5,
    "sexe": "F",
    "cadre": "administratif",
    "nature": "accueil_72h",
    "autorite": "president_cd",
    "date_decision": date(2026, 3, 1),
    "date_debut": date(2026, 3, 1),
    "date_echeance": None,
    "motif_fin": "echeance",
}


def test_the_jsonl_extract_is_one_object_per_line_with_the_columns_in_order() -> None:
    corps = en_jsonl([LIGNE, LIGNE])
    lignes = corps.decode().splitlines()
    assert len(lignes) == 2
    objet = orjson.loads(lignes[0])
    assert list(objet) == list(COLONNES)
    assert objet["date_evenement"] == "2026-03-04"
    assert objet["date_echeance"] is None


def test_the_csv_extract_has_a_header_and_empty_fields_for_absent_values() -> None:
    lignes = list(csv.reader(io.StringIO(en_csv([LIGNE]).decode())))
    assert lignes[0] == list(COLONNES)
    ligne = dict(zip(lignes[0], lignes[1], strict=True))
    assert ligne["date_echeance"] == ""
    assert ligne["date_debut"] == "2026-03-01"
    assert ligne["mois_naissance"] == "5"
