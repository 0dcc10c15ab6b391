"""Signing in through the dev page, in a real browser."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.navigateur.outils import se_connecter, verifier_accessibilite


def test_the_sign_in_page_is_accessible(page: Page) -> None:
    page.goto("/pages/connexion")
    assert page.title() == "Connexion — Parcours ASE"
    verifier_accessibilite(page)


def test_a_page_asked_before_sign_in_leads_to_it_after(page: Page) -> None:
    page.goto("/pages/")
    assert "/pages/connexion" in page.url
    se_connecter(page, role="auditeur")
    assert page.url.endswith("/pages/audit")


def test_a_department_code_that_does_not_exist_is_shown_next_to_its_field(page: Page) -> None:
    page.goto("/pages/connexion")
    page.get_by_label("Départements").fill("20")
    page.get_by_role("button", name="Se connecter").click()
    erreur = page.locator("#departements-erreur")
    assert "inconnu" in erreur.inner_text()
    assert page.get_by_label("Départements").get_attribute("aria-invalid") == "true"
    # What was typed stays, the error is announced and named in the title (RGAA 11.10, 8.6).
    assert page.get_by_label("Départements").input_value() == "20"
    assert page.title().startswith("Erreur")
    assert "inconnu" in page.get_by_role("alert").inner_text()
    verifier_accessibilite(page)
