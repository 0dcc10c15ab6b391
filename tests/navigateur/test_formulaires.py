"""The forms of the everyday commands, in a real browser: recorded, refused next to a field, conflicts, retries."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect

from services.pages.formulaires import COMMANDES
from tests.navigateur.donnees_formulaires import DEPARTEMENT, client, enfant_sous_mesure, evenements, lieu_liste, types
from tests.navigateur.outils import Serveur, commande, se_connecter, verifier_accessibilite


def ouvrir(page: Page, parcours_id: str, slug: str) -> None:
    page.goto(f"/pages/dossiers/{parcours_id}/actions/{slug}")
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def envoyer(page: Page) -> None:
    page.locator("form.formulaire button[type=submit]").click()
    page.wait_for_load_state("domcontentloaded")


def test_a_referent_records_an_accueil_then_a_change_of_lieu_from_the_forms(page: Page, serveur: Serveur) -> None:
    api = client(serveur)
    enfant = enfant_sous_mesure(api)
    tilleuls, beffroi = (
        lieu_liste(api, "mecs", "MECS Les Tilleuls"),
        lieu_liste(api, "foyer_enfance", "Foyer du Beffroi"),
    )
    se_connecter(page, "referent", DEPARTEMENT)

    ouvrir(page, enfant.parcours_id, "accueil")
    expect(page.get_by_role("heading", level=1)).to_have_text("Débuter un accueil")
    verifier_accessibilite(page)
    page.get_by_label("Mesure qui permet l'accueil").select_option(enfant.mesure_id)
    page.get_by_label("Lieu d'accueil").select_option(tilleuls)
    envoyer(page)
    expect(page).to_have_url(re.compile(rf"/pages/dossiers/{enfant.parcours_id}\?enregistre=accueil$"))

    ouvrir(page, enfant.parcours_id, "changement-lieu")
    verifier_accessibilite(page)
    expect(page.get_by_label("Nouveau lieu d'accueil").locator("option", has_text="lieu actuel")).to_have_count(1)
    page.get_by_label("Nouveau lieu d'accueil").select_option(beffroi)
    page.get_by_label("Motif du changement").select_option(label="Rapprochement familial")
    envoyer(page)
    expect(page).to_have_url(re.compile(rf"/pages/dossiers/{enfant.parcours_id}\?enregistre=changement-lieu$"))

    recus = {e["type"]: e for e in evenements(api, enfant.parcours_id)}
    assert recus["AccueilDebute"]["donnees"]["lieu_id"] == tilleuls
    assert recus["AccueilDebute"]["donnees"]["mesure_id"] == enfant.mesure_id
    assert recus["LieuAccueilChange"]["donnees"]["lieu_id"] == beffroi
    assert recus["LieuAccueilChange"]["donnees"]["motif"] == "rapprochement_familial"
    assert recus["LieuAccueilChange"]["date_effet"] == date.today().isoformat()


def test_an_accueil_in_a_hotel_is_refused_next_to_the_lieu_field_with_the_values_kept(
    page: Page, serveur: Serveur
) -> None:
    api = client(serveur)
    enfant = enfant_sous_mesure(api)
    hotel = lieu_liste(api, "hotel", "Hôtel de la Gare")
    se_connecter(page, "referent", DEPARTEMENT)

    ouvrir(page, enfant.parcours_id, "accueil")
    page.get_by_label("Mesure qui permet l'accueil").select_option(enfant.mesure_id)
    page.get_by_label("Lieu d'accueil").select_option(hotel)
    envoyer(page)

    lieu = page.get_by_label("Lieu d'accueil")
    erreur = page.locator("#champ-lieu-id-erreur")
    expect(erreur).to_contain_text("hôtel depuis le 1er février 2024")
    expect(erreur).to_contain_text("L221-2-3")
    expect(lieu).to_have_attribute("aria-invalid", "true")
    expect(lieu).to_have_attribute("aria-describedby", re.compile(r"\bchamp-lieu-id-erreur\b"))
    expect(lieu).to_have_value(hotel)
    expect(page.get_by_label("Mesure qui permet l'accueil")).to_have_value(enfant.mesure_id)
    expect(page.get_by_role("alert")).to_contain_text("Rien n'a été enregistré")
    verifier_accessibilite(page)
    assert "AccueilDebute" not in types(api, enfant.parcours_id)


def test_a_measure_beyond_its_legal_duration_is_refused_next_to_its_echeance(page: Page, serveur: Serveur) -> None:
    api = client(serveur)
    enfant = enfant_sous_mesure(api)
    se_connecter(page, "referent", DEPARTEMENT)

    ouvrir(page, enfant.parcours_id, "mesure")
    page.get_by_label("Cadre").select_option(label="Judiciaire")
    page.get_by_label("Nature de la mesure").select_option(label="Action éducative en milieu ouvert (AEMO)")
    page.get_by_label("Autorité qui décide").select_option(label="Juge des enfants")
    page.get_by_label("Référence de la décision").fill("JE-2026-0412")
    page.get_by_label("Début de la mesure").fill(date.today().isoformat())
    page.get_by_label("Échéance").fill((date.today() + timedelta(days=3 * 365)).isoformat())
    envoyer(page)

    echeance = page.get_by_label("Échéance")
    expect(page.locator("#champ-date-echeance-erreur")).to_contain_text(
        "« Action éducative en milieu ouvert (AEMO) » dure au plus 2 ans"
    )
    expect(echeance).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Référence de la décision")).to_have_value("JE-2026-0412")
    verifier_accessibilite(page)
    assert types(api, enfant.parcours_id).count("MesureDecidee") == 1


def test_missing_fields_are_each_shown_next_to_their_input_and_summed_up_at_the_top(
    page: Page, serveur: Serveur
) -> None:
    api = client(serveur)
    enfant = enfant_sous_mesure(api)
    se_connecter(page, "referent", DEPARTEMENT)

    ouvrir(page, enfant.parcours_id, "information-preoccupante")
    page.get_by_label("Date des faits").fill("")
    envoyer(page)

    resume = page.get_by_role("alert")
    expect(resume).to_contain_text("3 points à revoir")
    for ident, message in (
        ("champ-origine", "Choisissez une valeur dans la liste."),
        ("champ-dangers", "Cochez au moins une case."),
        ("champ-date-effet", "Indiquez une date."),
    ):
        expect(page.locator(f"#{ident}-erreur")).to_have_text(message)
        expect(resume.locator(f"a[href='#{ident}']")).to_have_count(1)
    expect(page.get_by_label("Origine de l'information")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Violences physiques")).to_have_attribute(
        "aria-describedby", re.compile(r"\bchamp-dangers-erreur\b")
    )
    verifier_accessibilite(page)
    assert "InformationPreoccupanteRecue" not in types(api, enfant.parcours_id)


def test_a_version_conflict_asks_to_reload_and_records_nothing(page: Page, serveur: Serveur) -> None:
    api = client(serveur)
    enfant = enfant_sous_mesure(api)
    se_connecter(page, "referent", DEPARTEMENT)
    ouvrir(page, enfant.parcours_id, "ppe")

    # Meanwhile, a colleague records a report on the same dossier.
    commande(
        api,
        f"/v1/parcours/{enfant.parcours_id}/rapports",
        {"transmis_au_juge": False, "date_effet": date.today().isoformat()},
    )
    envoyer(page)

    expect(page.get_by_role("alert")).to_contain_text("Quelqu'un a modifié ce dossier entre-temps : rechargez la page")
    verifier_accessibilite(page)
    assert "PPEEtabli" not in types(api, enfant.parcours_id)

    page.get_by_role("link", name="Recharger le formulaire avec le dossier à jour").click()
    envoyer(page)
    expect(page).to_have_url(re.compile(r"\?enregistre=ppe$"))
    assert types(api, enfant.parcours_id).count("PPEEtabli") == 1


def test_the_same_form_submitted_twice_records_once(page: Page, serveur: Serveur) -> None:
    api = client(serveur)
    enfant = enfant_sous_mesure(api)
    se_connecter(page, "referent", DEPARTEMENT)
    ouvrir(page, enfant.parcours_id, "rapport")
    page.get_by_label("Rapport transmis au juge").check()
    formulaire = page.locator("form.formulaire")
    champs = {
        nom: formulaire.locator(f"input[name={nom}]").input_value()
        for nom in ("csrf", "version", "cle_idempotence", "date_effet")
    }
    adresse = f"/pages/dossiers/{enfant.parcours_id}/actions/rapport"

    # The browser's request context shares the page's session cookie: two submissions of one rendered form.
    reponses = [
        page.request.post(adresse, form={**champs, "transmis_au_juge": "oui"}, max_redirects=0) for _ in range(2)
    ]

    assert [r.status for r in reponses] == [303, 303]
    assert {r.headers["location"] for r in reponses} == {f"/pages/dossiers/{enfant.parcours_id}?enregistre=rapport"}
    rapports = [e for e in evenements(api, enfant.parcours_id) if e["type"] == "RapportSituationProduit"]
    assert [r["donnees"]["transmis_au_juge"] for r in rapports] == [True]


def test_a_dossier_unknown_or_of_another_departement_is_a_404_page(page: Page, serveur: Serveur) -> None:
    nord = serveur.api("referent", ("59",))
    ailleurs = str(commande(nord, "/v1/parcours", {
        "personne": {"nom": "Durand", "prenoms": "Noé", "date_naissance": "2013-02-01", "sexe": "M"},
        "departement": "59", "date_effet": date.today().isoformat()}, 201)["id"])  # fmt: skip
    se_connecter(page, "referent", DEPARTEMENT)

    for adresse in (
        f"/pages/dossiers/{ailleurs}/actions/ppe",
        "/pages/dossiers/00000000-0000-4000-8000-000000000000/actions/ppe",
        "/pages/dossiers/pas-un-identifiant/actions/ppe",
        f"/pages/dossiers/{ailleurs}/actions/inconnue",
    ):
        reponse = page.goto(adresse)
        assert reponse is not None
        assert reponse.status == 404, adresse
        expect(page.get_by_role("heading", level=1)).to_have_text("Page introuvable")


def test_an_auditor_cannot_open_a_form(page: Page, serveur: Serveur) -> None:
    enfant = enfant_sous_mesure(client(serveur))
    se_connecter(page, "auditeur", DEPARTEMENT)

    reponse = page.goto(f"/pages/dossiers/{enfant.parcours_id}/actions/ppe")

    assert reponse is not None
    assert reponse.status == 403


@pytest.mark.parametrize("slug", list(COMMANDES))
def test_each_form_is_accessible_and_labels_its_choices_in_french(page: Page, serveur: Serveur, slug: str) -> None:
    api = client(serveur)
    enfant = enfant_sous_mesure(api)
    commande(api, f"/v1/parcours/{enfant.parcours_id}/informations-preoccupantes",
             {"origine": "sante", "dangers": ["negligences"], "date_effet": date.today().isoformat()})  # fmt: skip
    se_connecter(page, "referent", DEPARTEMENT)

    ouvrir(page, enfant.parcours_id, slug)

    expect(page.get_by_role("heading", level=1)).to_have_count(1)
    expect(page.locator("input[name=cle_idempotence]")).to_have_value(re.compile(r"^[0-9a-f-]{36}$"))
    expect(page.locator("input[name=version]")).to_have_value(str(len(evenements(api, enfant.parcours_id))))
    for option in page.locator("select option").all():
        assert "_" not in option.inner_text(), f"{slug}: an option shows a code: {option.inner_text()!r}"
    verifier_accessibilite(page)
