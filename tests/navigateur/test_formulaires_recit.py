"""The issue's story, in a real browser: a référent finds a child, records a measure, an accueil and a change
of lieu from the forms, sees the PPE deadline appear in the worklist, and sees it leave once the PPE is recorded.

Uses the worklist, search and dossier pages (branch ``pages-travail``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import date, timedelta

from playwright.sync_api import Locator, Page, expect

from tests.navigateur.donnees_formulaires import DEPARTEMENT, client, lieu_liste, types
from tests.navigateur.outils import Serveur, ouvrir_parcours, se_connecter, verifier_accessibilite

PPE_ATTENDU = "établir le projet pour l'enfant"


def recharger_jusqu_a(page: Page, attendu: Callable[[], None], essais: int = 30) -> None:
    """Reload ``page`` until ``attendu()`` holds: the read side follows the store a moment later. Each try
    waits through Playwright's auto-waiting (``expect``, 2 s), no fixed sleep."""
    for _ in range(essais - 1):
        try:
            attendu()
            return
        except AssertionError:
            page.reload()
    attendu()


def enregistrer(page: Page, lien: str) -> None:
    """From the dossier's page, open the form named ``lien``; the caller fills it; see :func:`envoyer`."""
    page.get_by_role("navigation", name="Enregistrer dans ce dossier").get_by_role(
        "link", name=lien, exact=True
    ).click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    verifier_accessibilite(page)


def envoyer(page: Page, parcours_id: str, slug: str) -> None:
    page.locator("form.formulaire button[type=submit]").click()
    expect(page).to_have_url(re.compile(rf"/pages/dossiers/{parcours_id}\?enregistre={slug}$"))


def test_a_referent_finds_a_child_records_an_accueil_and_a_change_and_the_ppe_deadline_comes_and_goes(
    page: Page, serveur: Serveur
) -> None:
    api = client(serveur)
    moi = f"referent-{uuid.uuid4().hex[:8]}"
    nom = f"Roussel{uuid.uuid4().hex[:6]}"
    parcours_id = str(
        ouvrir_parcours(
            api, nom=nom, prenoms="Camille", date_naissance=date(2012, 6, 9), departement=DEPARTEMENT, referent_id=moi
        )["id"]
    )
    tilleuls = lieu_liste(api, "mecs", "MECS Les Tilleuls")
    beffroi = lieu_liste(api, "assistant_familial", "Mme Claire Dupont")
    se_connecter(page, "referent", DEPARTEMENT, sub=moi)

    # Find the child.
    page.goto("/pages/recherche")
    page.get_by_label("Nom ou prénom").fill(nom)
    page.get_by_role("button", name="Rechercher").click()
    enfant = page.get_by_role("link", name=f"Camille {nom}")
    recharger_jusqu_a(page, lambda: expect(enfant).to_be_visible(timeout=2_000))
    enfant.click()
    expect(page).to_have_url(re.compile(rf"/pages/dossiers/{parcours_id}$"))

    # A measure, then an accueil and a change of lieu.
    enregistrer(page, "Mesure")
    page.get_by_label("Cadre").select_option(label="Administratif")
    page.get_by_label("Nature de la mesure").select_option(label="Accueil provisoire")
    page.get_by_label("Autorité qui décide").select_option(label="Président du conseil départemental")
    page.get_by_label("Référence de la décision").fill("PCD-2026-0107")
    page.get_by_label("Début de la mesure").fill(date.today().isoformat())
    page.get_by_label("Échéance").fill((date.today() + timedelta(days=180)).isoformat())
    envoyer(page, parcours_id, "mesure")

    enregistrer(page, "Début d'accueil")
    page.get_by_label("Mesure qui permet l'accueil").select_option(index=1)
    page.get_by_label("Lieu d'accueil").select_option(tilleuls)
    envoyer(page, parcours_id, "accueil")

    enregistrer(page, "Changement de lieu d'accueil")
    page.get_by_label("Nouveau lieu d'accueil").select_option(beffroi)
    page.get_by_label("Motif du changement").select_option(label="Besoin de l'enfant")
    envoyer(page, parcours_id, "changement-lieu")

    # The PPE is due within 3 months of the measure: the worklist shows it.
    def ligne_ppe() -> Locator:
        return page.locator("table.liste-travail tbody tr").filter(has_text=nom).filter(has_text=PPE_ATTENDU)

    page.goto(f"/pages/travail?referent_id={moi}")
    recharger_jusqu_a(page, lambda: expect(ligne_ppe()).to_have_count(1, timeout=2_000))
    expect(ligne_ppe()).to_contain_text(f"Camille {nom}")

    # The PPE recorded, the deadline leaves the worklist.
    ligne_ppe().get_by_role("link", name=f"Camille {nom}").click()
    enregistrer(page, "Projet pour l'enfant (PPE)")
    envoyer(page, parcours_id, "ppe")
    page.goto(f"/pages/travail?referent_id={moi}")
    recharger_jusqu_a(page, lambda: expect(ligne_ppe()).to_have_count(0, timeout=2_000))

    assert types(api, parcours_id) == [
        "ParcoursOuvert", "MesureDecidee", "AccueilDebute", "LieuAccueilChange", "PPEEtabli",
    ]  # fmt: skip
