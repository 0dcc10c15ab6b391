"""Where the forms show the command API's refusals: each rule of the domain next to its field, in plain French."""

from __future__ import annotations

import re
from pathlib import Path

from services.pages.appels import ProblemeAPI
from services.pages.formulaires import FORMULAIRES, Champ, Formulaire, corps_de, valeurs_du_formulaire
from services.pages.formulaires_erreurs import REGLES, erreurs_du_probleme
from services.pages.routes_creation import LIEU, OUVERTURE

RACINE = Path(__file__).resolve().parents[2]
REGLE_LEVEE = re.compile(r'RegleMetierError\(\s*"([a-z0-9_]+)"')

HORS_FORMULAIRES = {
    "version_inconnue": "rectifications: no form of these pages",
    "rectification_de_rectification": "rectifications",
    "champ_non_rectifiable": "rectifications",
    "rectification_sans_effet": "rectifications",
    "capacite_inchangee": "lieux",
    "majorite_deja_enregistree": "majority is recorded by the clock, not by a form",
    "majorite_hors_anniversaire": "majority",
    "parcours_non_sorti": "reopening",
    "meme_departement": "transfer",
    "meme_referent": "designating a référent",
}
"""Rules no form of these pages can meet: each says why (a form meeting one shows it in its summary)."""


def regles_du_domaine() -> set[str]:
    sources = [*RACINE.joinpath("services/parcours").rglob("*.py"), *RACINE.joinpath("droit").rglob("*.py")]
    return {regle for chemin in sources for regle in REGLE_LEVEE.findall(chemin.read_text())}


def refus(regle: str, detail: str = "refusé") -> ProblemeAPI:
    return ProblemeAPI(409, "regle_metier", "Règle métier non respectée", detail, extensions={"regle": regle})


def test_every_rule_of_the_domain_is_placed_by_the_forms_or_declared_out_of_their_reach() -> None:
    domaine = regles_du_domaine()

    assert len(domaine) > 40, "the scan of the domain's rules found too few: the pattern broke"
    assert domaine - REGLES.keys() - HORS_FORMULAIRES.keys() == set(), "a new rule: place it in REGLES"
    assert REGLES.keys() - domaine == set(), "REGLES names a rule the domain no longer raises"


def test_every_field_a_rule_names_is_a_field_of_some_form() -> None:
    formulaires = [*FORMULAIRES.values(), OUVERTURE, LIEU]
    champs = {c.nom for f in formulaires for c in f.champs}

    for regle, place in REGLES.items():
        assert set(place.champs) <= champs, regle


def test_the_same_rule_lands_on_the_field_each_form_has() -> None:
    detail = "une mesure confiage_ase dure au plus 2 ans"

    decision = erreurs_du_probleme(FORMULAIRES["mesure"], refus("duree_maximale_depassee", detail))
    renouvellement = erreurs_du_probleme(FORMULAIRES["renouvellement"], refus("duree_maximale_depassee", detail))

    attendu = "Cette échéance dépasse la durée permise par la loi : une mesure « Confiage à l'ASE » dure au plus 2 ans."
    assert decision.par_champ == {"date_echeance": attendu}
    assert renouvellement.par_champ == {"nouvelle_echeance": attendu}


def test_a_rule_without_a_field_in_the_form_or_unknown_goes_to_the_summary_in_readable_words() -> None:
    sans_champ = erreurs_du_probleme(FORMULAIRES["fugue"], refus("aucun_accueil"))
    inconnue = erreurs_du_probleme(FORMULAIRES["ppe"], refus("regle_nouvelle", "la date 2026-03-01 est refusée"))

    assert (sans_champ.par_champ, sans_champ.generales) == ({}, ["Aucun accueil n'est en cours dans ce dossier."])
    assert inconnue.generales == ["La date 1er mars 2026 est refusée."]


def test_a_date_before_the_dossiers_latest_names_that_date() -> None:
    detail = (
        "la date d'effet 2026-03-01 précède la dernière date d'effet du dossier (2026-05-04); "
        "le passé se corrige par une rectification"
    )

    erreurs = erreurs_du_probleme(FORMULAIRES["ppe"], refus("date_effet_anterieure", detail))

    assert erreurs.par_champ["date_effet"].startswith(
        "Cette date précède le dernier fait enregistré dans le dossier (4 mai 2026)."
    )


def test_a_validation_error_on_a_nested_or_listed_field_lands_on_its_input_and_the_rest_in_the_summary() -> None:
    formulaire = Formulaire(
        "essai",
        "Essai",
        "/v1/essai",
        (Champ("personne.nom", "Nom", "texte"), Champ("dangers", "Dangers", "cases")),
        "Ok",
    )
    probleme = ProblemeAPI(
        422,
        "validation",
        "Requête invalide",
        "3 champ(s) invalide(s)",
        erreurs=[
            {"champ": "personne.nom", "message": "Field required", "type": "missing"},
            {"champ": "dangers.0", "message": "Input should be 'negligences', ...", "type": "enum"},
            {"champ": "header.If-Match", "message": 'attendu: la version vue, entre guillemets, par exemple "3"',
             "type": "value_error"},
        ],
    )  # fmt: skip

    erreurs = erreurs_du_probleme(formulaire, probleme)

    assert erreurs.par_champ == {
        "personne.nom": "Renseignez ce champ.",
        "dangers": "Choisissez une valeur dans la liste.",
    }
    assert erreurs.generales == ['Attendu: la version vue, entre guillemets, par exemple "3"']


def test_a_version_conflict_is_no_field_error_but_the_reload_message() -> None:
    conflit = ProblemeAPI(409, "conflit_de_version", "Conflit de version", "version attendue 3, version actuelle 4")

    erreurs = erreurs_du_probleme(FORMULAIRES["ppe"], conflit)

    assert erreurs.conflit
    assert (erreurs.par_champ, erreurs.generales) == ({}, [])


def test_a_body_leaves_out_empty_fields_and_sends_boxes_as_booleans_and_lists() -> None:
    mesure = FORMULAIRES["mesure"]
    ip = FORMULAIRES["information-preoccupante"]

    corps_mesure = corps_de(mesure, valeurs_du_formulaire(mesure, {"cadre": [" judiciaire "], "date_echeance": [""]}))
    corps_ip = corps_de(ip, valeurs_du_formulaire(ip, {"dangers": ["negligences", "autre"], "csrf": ["x"]}))
    corps_levee = corps_de(FORMULAIRES["levee"], {"mesure_id": "m", "motif": "mainlevee", "date_effet": "2026-11-30"})

    assert corps_mesure == {"cadre": "judiciaire", "duree_derogatoire": False}
    assert corps_ip == {"dangers": ["negligences", "autre"]}
    assert corps_levee == {"motif": "mainlevee", "date_effet": "2026-11-30"}, "the measure goes in the path"
