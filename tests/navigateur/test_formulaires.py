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
    tilleuls, beffroi = lieu_liste(api, "mecs", "MECS Les Tilleuls"), lieu_liste(api, "foyer_enfance", "Foyer du Beffroi")
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
