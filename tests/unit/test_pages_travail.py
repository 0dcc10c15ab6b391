"""The worklist's merge and the dossier's timeline, as the pages compute them from the APIs' answers."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.pages.chronologie import chronologie, libelle
from services.pages.liste_travail import fusionner

AUJOURD_HUI = date(2026, 11, 30)
P1 = "11111111-1111-1111-1111-111111111111"
P2 = "22222222-2222-2222-2222-222222222222"


def evenement(version: int, type_: str, **donnees: Any) -> dict[str, Any]:
    return {
        "version": version,
        "type": type_,
        "date_effet": "2026-09-29",
        "enregistre_le": "2026-11-30T01:00:00Z",
        "auteur": "c.martin",
        "correlation_id": "x",
        "donnees": donnees,
    }


def echeance(
    parcours_id: str, type_: str, due_le: str, *, en_retard: bool = False, nom: str = "Moreau"
) -> dict[str, Any]:
    return {"parcours_id": parcours_id, "type": type_, "cle": "", "due_le": due_le, "en_retard": en_retard,
            "nom": nom, "prenoms": "Léa", "departement": "48", "referent_id": "c.martin"}  # fmt: skip


def alerte(parcours_id: str, type_: str, due_le: str | None, mois_du: str, niveau: str = "referent") -> dict[str, Any]:
    return {"alerte_id": "a", "parcours_id": parcours_id, "type": type_, "cle": "", "due_le": due_le,
            "mois_du": mois_du, "departement": "48", "referent_id": "c.martin", "attendu": "ce qui est attendu",
            "article": "CASF", "niveau": niveau, "statut": "ouverte"}  # fmt: skip


def test_a_correction_is_shown_under_the_event_it_corrects_not_as_a_line_of_its_own() -> None:
    entrees = chronologie([
        evenement(1, "ParcoursOuvert", date_naissance="2010-04-17"),
        evenement(2, "MesureDecidee", nature="accueil_provisoire", reference_decision="AP-31"),
        evenement(3, "AccueilDebute", type_lieu="mecs"),
        evenement(4, "SaisieRectifiee", version_rectifiee=2, champ="reference_decision",
                  ancienne_valeur="AP-31", nouvelle_valeur="AP-13", motif="chiffres inversés"),
    ])  # fmt: skip
    assert [e.version for e in entrees] == [1, 2, 3]
    (correction,) = entrees[1].corrections
    assert (correction.champ, correction.ancienne_valeur, correction.nouvelle_valeur, correction.version) == (
        "Référence de la décision",
        "AP-31",
        "AP-13",
        4,
    )
    assert entrees[1].libelle == "Mesure décidée"
    assert ("Nature", "accueil provisoire") in entrees[1].details
    assert ("Date de naissance", "17 avril 2010") in entrees[0].details


def test_a_correction_of_an_event_not_listed_keeps_a_line_rather_than_be_lost() -> None:
    entrees = chronologie([evenement(7, "SaisieRectifiee", version_rectifiee=3, champ="motif",
                                     ancienne_valeur="a", nouvelle_valeur="b", motif="m")])  # fmt: skip
    assert [(e.libelle, len(e.corrections)) for e in entrees] == [("Saisie rectifiée", 1)]


def test_the_words_of_the_vocabulary_read_in_french() -> None:
    assert libelle("confiage_ase") == "confiage à l'ASE"
    assert libelle(["negligences", "violences_physiques"]) == "négligences, violences physiques"
    assert libelle(True) == "oui"
    assert libelle("code_inconnu") == "code inconnu"
    assert libelle("2026-03-01") == "1er mars 2026"


def test_the_alert_of_a_deadline_goes_on_its_line_and_the_list_is_soonest_first() -> None:
    lignes = fusionner(
        [echeance(P1, "ppe", "2026-12-29", nom="Garnier"), echeance(P2, "evaluation_ip", "2026-11-24", en_retard=True)],
        [alerte(P1, "ppe", "2026-12-29", "2026-12")],
        AUJOURD_HUI,
    )
    assert [(ligne.parcours_id, ligne.type, ligne.en_retard, ligne.alerte is not None) for ligne in lignes] == [
        (P2, "evaluation_ip", True, False),
        (P1, "ppe", False, True),
    ]
    assert lignes[1].attendu == "établir le projet pour l'enfant (3 mois)"


def test_an_alert_alone_keeps_a_line_overdue_by_its_date_or_escalation_when_only_its_month_is_known() -> None:
    lignes = fusionner(
        [echeance(P1, "ppe", "2027-01-10")],
        [alerte(P1, "entretien_autonomie", None, "2026-11", niveau="encadrant"),
         alerte(P2, "evaluation_ip", "2026-12-05", "2026-12")],
        AUJOURD_HUI,
    )  # fmt: skip
    assert [(ligne.type, ligne.en_retard, ligne.nom) for ligne in lignes] == [
        ("entretien_autonomie", True, "Moreau"),
        ("evaluation_ip", False, None),
        ("ppe", False, "Moreau"),
    ]
