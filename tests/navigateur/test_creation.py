"""A newcomer on an empty département: signs in, references a lieu and opens a child's dossier from the pages,
then records a measure and a placement, without an API call of their own (the issue's "done when")."""

from __future__ import annotations

import re
from datetime import date, timedelta

from playwright.sync_api import Page, expect

from tests.navigateur.outils import Serveur, se_connecter, verifier_accessibilite

DEPARTEMENT = "07"
"""No other browser test writes to it."""


def test_a_newcomer_opens_a_dossier_and_records_a_placement_from_the_pages_alone(page: Page, serveur: Serveur) -> None:
    se_connecter(page, "referent", DEPARTEMENT, sub="nouvelle-referente")

    page.get_by_role("link", name="Nouveau lieu").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Nouveau lieu d'accueil")
    verifier_accessibilite(page)
    page.get_by_label("Nom du lieu").fill("Foyer de l'Ardèche")
    page.get_by_label("Type de lieu").select_option("foyer_enfance")
    page.get_by_label("Capacité (places)").fill("8")
    page.get_by_role("button", name="Référencer le lieu").click()
    expect(page.get_by_role("status")).to_contain_text("Le lieu est référencé")

    page.get_by_role("link", name="Nouveau dossier").click()
    page.get_by_label(re.compile(r"^Nom\b")).fill("Vernet")
    page.get_by_label("Prénoms").fill("Lucie Anne")
    page.get_by_label("Date de naissance").fill("2013-04-02")
    page.get_by_label("Sexe").select_option("F")
    page.get_by_role("button", name="Ouvrir le dossier").click()
    expect(page).to_have_url(re.compile(r"/pages/dossiers/[0-9a-f-]{36}\?enregistre=ouverture$"))
    parcours_id = re.search(r"/pages/dossiers/([0-9a-f-]{36})", page.url)
    assert parcours_id is not None

    page.get_by_role("link", name="Mesure", exact=True).click()
    page.get_by_label("Cadre").select_option(label="Administratif")
    page.get_by_label("Nature de la mesure").select_option(label="Accueil provisoire")
    page.get_by_label("Autorité qui décide").select_option(label="Président du conseil départemental")
    page.get_by_label("Référence de la décision").fill("PCD-07-0001")
    page.get_by_label("Début de la mesure").fill(date.today().isoformat())
    page.get_by_label("Échéance").fill((date.today() + timedelta(days=180)).isoformat())
    page.locator("form.formulaire button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"\?enregistre=mesure$"))

    page.get_by_role("link", name="Début d'accueil", exact=True).click()
    page.get_by_label("Mesure qui permet l'accueil").select_option(index=1)
    lieux = page.get_by_label("Lieu d'accueil")
    lieux.select_option(lieux.locator("option", has_text="Foyer de l'Ardèche").get_attribute("value"))
    page.locator("form.formulaire button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"\?enregistre=accueil$"))

    with serveur.api("referent", (DEPARTEMENT,)) as api:
        evenements = api.get(f"/v1/parcours/{parcours_id.group(1)}/evenements").json()
    assert [e["type"] for e in evenements] == ["ParcoursOuvert", "MesureDecidee", "AccueilDebute"]
    assert evenements[0]["auteur"] == "nouvelle-referente"
    assert evenements[0]["donnees"]["referent_id"] == "nouvelle-referente"  # who opens the dossier follows it


def test_a_dossier_opened_with_a_birth_date_to_come_is_refused_next_to_the_field(page: Page) -> None:
    se_connecter(page, "referent", DEPARTEMENT, sub="nouvelle-referente")
    page.goto("/pages/dossiers/nouveau")
    page.get_by_label(re.compile(r"^Nom\b")).fill("Futur")
    page.get_by_label("Prénoms").fill("Jean")
    page.get_by_label("Date de naissance").fill((date.today() + timedelta(days=30)).isoformat())
    page.get_by_label("Sexe").select_option("M")
    page.get_by_role("button", name="Ouvrir le dossier").click()
    champ = page.get_by_label("Date de naissance")
    expect(champ).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#champ-personne-date-naissance-erreur")).not_to_be_empty()
    verifier_accessibilite(page)
