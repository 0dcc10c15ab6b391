"""The caseworker's pages in a real browser: the worklist, the search, the dossier and its timeline.

Each test seeds its own children through the APIs in a département of its own (the server is shared by
the tests of a process), then reads them through the pages as a référent or an encadrant would.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from playwright.sync_api import Browser, Page, expect

from tests.navigateur.donnees_travail import (
    enfant_accueilli,
    enfant_avec_ip,
    recharger_jusqu_a,
    rectifier,
    referent,
)
from tests.navigateur.outils import (
    CAPTURES,
    Serveur,
    commande,
    ouvrir_parcours,
    se_connecter,
    verifier_accessibilite,
)

EVALUER = "évaluer l'information préoccupante"
ATTENTE_ALERTE_MS = 60_000
"""The deadline engine raises an alert once the read side followed the write and the scheduler ticked."""


def test_the_worklist_lists_the_overdue_deadline_first_in_red_saying_en_retard(page: Page, serveur: Serveur) -> None:
    with serveur.api("encadrant", ("23",)) as api:
        en_retard = enfant_avec_ip(api, nom="Durand", prenoms="Camille", departement="23",
                                   referent_id="ref-23-a", ip_il_y_a=100)  # fmt: skip
        enfant_avec_ip(api, nom="Bonnet", prenoms="Théo", departement="23", referent_id="ref-23-b", ip_il_y_a=10)
    se_connecter(page, role="encadrant", departements="23", sub="enc-23", retour="/pages/travail")
    lignes = page.locator("table.liste-travail tbody tr")
    recharger_jusqu_a(page, lambda: page.locator("table.liste-travail"), "Théo Bonnet")
    expect(lignes.first).to_contain_text("Camille Durand")
    expect(lignes.first).to_contain_text(EVALUER)
    expect(lignes.first).to_contain_text("En retard")
    expect(lignes.first).to_have_class("en-retard")
    expect(lignes.first.get_by_role("link", name="Camille Durand")).to_have_attribute(
        "href", f"/pages/dossiers/{en_retard['id']}"
    )
    bonnet = lignes.filter(has_text="Théo Bonnet").filter(has_text=EVALUER)
    expect(bonnet).not_to_contain_text("En retard")
    expect(bonnet).not_to_have_class("en-retard")
    verifier_accessibilite(page)


def test_the_worklist_filters_by_referent_and_a_referent_sees_their_own_by_default(
    page: Page, serveur: Serveur
) -> None:
    with serveur.api("encadrant", ("23",)) as api:
        enfant_avec_ip(api, nom="Lambert", prenoms="Jade", departement="23", referent_id="ref-23-c", ip_il_y_a=30)
        enfant_avec_ip(api, nom="Faure", prenoms="Nolan", departement="23", referent_id="ref-23-d", ip_il_y_a=30)
    se_connecter(page, role="encadrant", departements="23", sub="enc-23", retour="/pages/travail")
    tableau = page.locator("table.liste-travail")
    recharger_jusqu_a(page, lambda: tableau, "Nolan Faure")
    expect(tableau).to_contain_text("Jade Lambert")
    page.get_by_label("Référent").fill("ref-23-c")
    page.get_by_role("button", name="Filtrer").click()
    expect(page).to_have_url("/pages/travail?referent_id=ref-23-c")
    expect(tableau).to_contain_text("Jade Lambert")
    expect(tableau).not_to_contain_text("Nolan Faure")

    page.context.clear_cookies()
    se_connecter(page, role="referent", departements="23", sub="ref-23-d", retour="/pages/travail")
    expect(page.get_by_label("Référent")).to_have_value("ref-23-d")
    expect(tableau).to_contain_text("Nolan Faure")
    expect(tableau).not_to_contain_text("Jade Lambert")
    page.get_by_role("link", name="Tous les référents").click()
    expect(tableau).to_contain_text("Jade Lambert")

    page.context.clear_cookies()
    se_connecter(page, role="encadrant", departements="23 24", sub="enc-23-24", retour="/pages/travail")
    page.get_by_label("Département").select_option("24")
    page.get_by_role("button", name="Filtrer").click()
    expect(page).to_have_url("/pages/travail?referent_id=&departement=24")
    expect(page.locator("main")).not_to_contain_text("Jade Lambert")
    page.get_by_label("Département").select_option("23")
    page.get_by_role("button", name="Filtrer").click()
    expect(tableau).to_contain_text("Jade Lambert")
    verifier_accessibilite(page)


def test_an_alert_is_acknowledged_from_the_worklist_in_place(page: Page, serveur: Serveur) -> None:
    with serveur.api("referent", ("24",)) as api:
        enfant_avec_ip(api, nom="Girard", prenoms="Maël", departement="24", referent_id="ref-24", ip_il_y_a=100)
    se_connecter(page, role="referent", departements="24", sub="ref-24", retour="/pages/travail")
    ligne = page.locator("table.liste-travail tbody tr").filter(has_text="Maël Girard").filter(has_text=EVALUER)
    bouton = ligne.get_by_role("button", name="Acquitter")
    for _ in range(ATTENTE_ALERTE_MS // 2_000):
        if bouton.count():
            break
        page.reload()
        ligne.first.wait_for()
        try:
            expect(bouton).to_be_visible(timeout=2_000)
        except AssertionError:
            continue
    url = page.url
    bouton.click()
    cellule = ligne.locator("td.alerte")
    expect(cellule).to_contain_text("Alerte acquittée.")
    expect(cellule).to_contain_text("Acquittée par ref-24")
    assert page.url == url  # swapped in place by htmx, no navigation
    # The keyboard focus stays in the row (on the confirmation), not back at the top of the page.
    expect(cellule.get_by_role("status")).to_be_focused()
    page.reload()
    expect(cellule).to_contain_text("Acquittée par ref-24")
    expect(cellule.get_by_role("button")).to_have_count(0)


def test_without_javascript_the_acknowledgement_posts_and_comes_back(navigateur: Browser, serveur: Serveur) -> None:
    with serveur.api("referent", ("24",)) as api:
        ouvert = enfant_avec_ip(api, nom="Roux", prenoms="Lina", departement="24", referent_id="ref-24-sj",
                                ip_il_y_a=100)  # fmt: skip
    contexte = navigateur.new_context(base_url=serveur.url, locale="fr-FR", java_script_enabled=False)
    page = contexte.new_page()
    try:
        se_connecter(page, role="referent", departements="24", sub="ref-24-sj", retour="/pages/travail")
        dossier = f"/pages/dossiers/{ouvert['id']}"
        page.goto(dossier)
        recharger_jusqu_a(page, lambda: page.locator("ul.alertes"), "Acquitter", essais=ATTENTE_ALERTE_MS // 2_000)
        page.locator("ul.alertes").get_by_role("button", name="Acquitter").click()
        expect(page).to_have_url(dossier)
        expect(page.locator("ul.alertes")).to_contain_text("Acquittée par ref-24-sj")
    finally:
        contexte.close()


def test_the_search_finds_a_child_by_name_without_accents(page: Page, serveur: Serveur) -> None:
    with serveur.api("referent", ("19",)) as api:
        zoe = enfant_avec_ip(api, nom="Lefèvre", prenoms="Zoé", departement="19", referent_id="ref-19", ip_il_y_a=5)
        enfant_avec_ip(api, nom="Petit", prenoms="Noah", departement="19", referent_id="ref-19", ip_il_y_a=5)
    se_connecter(page, role="referent", departements="19", sub="ref-19", retour="/pages/recherche")
    page.get_by_label("Nom ou prénom").fill("lefevre")
    page.get_by_role("button", name="Rechercher").click()
    recharger_jusqu_a(page, lambda: page.locator("main"), "Zoé Lefèvre")
    expect(page.locator("table")).not_to_contain_text("Noah Petit")
    expect(page.locator("caption")).to_contain_text("1 dossier trouvé")
    verifier_accessibilite(page)
    page.get_by_role("link", name="Zoé Lefèvre").click()
    expect(page).to_have_url(f"/pages/dossiers/{zoe['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dossier de Zoé Lefèvre")


def test_the_search_results_are_paged(page: Page, serveur: Serveur) -> None:
    with serveur.api("referent", ("87",)) as api:
        for numero in range(21):
            ouvrir_parcours(api, nom="Vidal", prenoms=f"Enfant{numero:02d}", departement="87")
    se_connecter(page, role="referent", departements="87", sub="ref-87", retour="/pages/recherche?q=vidal")
    legende = page.locator("caption")
    recharger_jusqu_a(page, lambda: legende, "21 dossiers trouvés, page 1 sur 2")
    expect(page.locator("tbody tr")).to_have_count(20)
    page.get_by_role("link", name="Page suivante").click()
    expect(legende).to_contain_text("21 dossiers trouvés, page 2 sur 2")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.get_by_role("link", name="Page suivante")).to_have_count(0)
    page.get_by_role("link", name="Page précédente").click()
    expect(legende).to_contain_text("page 1 sur 2")


def test_the_caseworker_pages_are_refused_to_other_roles(page: Page) -> None:
    se_connecter(page, role="auditeur", departements="15")
    for chemin in ("/pages/travail", "/pages/recherche", f"/pages/dossiers/{uuid.uuid4()}"):
        reponse = page.goto(chemin)
        assert reponse is not None
        assert reponse.status == 403
        expect(page.get_by_role("heading", level=1)).to_have_text("Accès refusé")


def test_the_dossier_shows_identity_measures_and_a_correction_beside_what_it_corrects(
    page: Page, serveur: Serveur
) -> None:
    with serveur.api("referent", ("15",)) as api:
        ouvert, mesure = enfant_accueilli(api, nom="Bernard", prenoms="Lucas", departement="15",
                                          referent_id="ref-15", depuis=40, lieu="MECS Le Lioran")  # fmt: skip
        rectifier(api, ouvert["id"], mesure["version"], reference_decision="AP-2026-118",
                  motif="erreur de frappe dans la référence")  # fmt: skip
        version = api.get(f"/v1/parcours/{ouvert['id']}").json()["version"]
    se_connecter(page, role="referent", departements="15", sub="ref-15", retour=f"/pages/dossiers/{ouvert['id']}")
    recharger_jusqu_a(page, lambda: page.locator("main"), "AP-2026-118")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dossier de Lucas Bernard")
    expect(page.locator("main")).to_contain_text(f"Version du dossier : {version}")
    identite = page.locator("section", has=page.get_by_role("heading", name="Identité"))
    expect(identite).to_contain_text("Bernard")
    expect(identite).to_contain_text("21 septembre 2011")
    expect(identite).to_contain_text("15 ans")
    mesures = page.locator("table", has=page.locator("caption", has_text="Mesures en cours"))
    expect(mesures).to_contain_text("accueil provisoire")
    expect(page.locator("section", has=page.get_by_role("heading", name="Lieu d'accueil"))).to_contain_text(
        "MECS Le Lioran"
    )
    echeances = page.locator("table", has=page.locator("caption", has_text="Échéances du dossier"))
    expect(echeances).to_contain_text("établir le projet pour l'enfant")

    corrige = page.locator(f"#evenement-{mesure['version']}")
    expect(corrige).to_contain_text("Mesure décidée")
    expect(corrige.locator(".correction")).to_contain_text("« AP-2026-117 » → « AP-2026-118 »")
    expect(corrige.locator(".correction")).to_contain_text("erreur de frappe dans la référence")
    expect(page.locator(f"#evenement-{version}")).to_have_count(0)  # the correction is no line of its own
    expect(page.locator(".frise > li").first).to_contain_text("Ouverture du parcours")
    expect(page.locator(".frise > li").first).to_contain_text("par api-test")
    expect(page.get_by_role("link", name="Changement de lieu d'accueil")).to_have_attribute(
        "href", f"/pages/dossiers/{ouvert['id']}/actions/changement-lieu"
    )
    verifier_accessibilite(page)


def test_a_dossier_of_another_departement_or_unknown_is_not_found(page: Page, serveur: Serveur) -> None:
    with serveur.api("referent", ("25",)) as api:
        ailleurs = ouvrir_parcours(api, nom="Mercier", prenoms="Sacha", departement="25")
    se_connecter(page, role="referent", departements="15", sub="ref-15")
    for cible in (ailleurs["id"], str(uuid.uuid4())):
        reponse = page.goto(f"/pages/dossiers/{cible}")
        assert reponse is not None
        assert reponse.status == 404
        expect(page.get_by_role("heading", level=1)).to_have_text("Page introuvable")
        expect(page.locator("main")).not_to_contain_text("Mercier")


def test_the_readme_screenshots_show_a_worklist_and_a_dossier(page: Page, serveur: Serveur) -> None:
    """docs/captures/travail.png and dossier.png, with made-up children of département 48 and two référents."""
    with referent(serveur, "c.martin", "48") as martin, referent(serveur, "s.nguyen", "48") as nguyen:
        enfant_avec_ip(martin, nom="Moreau", prenoms="Léa", departement="48", referent_id="c.martin", ip_il_y_a=98,
                       date_naissance=date(2012, 6, 2))  # fmt: skip
        hugo, mesure = enfant_accueilli(martin, nom="Garnier", prenoms="Hugo", departement="48",
                                        referent_id="c.martin", depuis=62, lieu="MECS La Colagne",
                                        reference="AP-48-2026-031", date_naissance=date(2010, 4, 17))  # fmt: skip
        rectifier(martin, hugo["id"], mesure["version"], reference_decision="AP-48-2026-013",
                  motif="chiffres inversés à la saisie")  # fmt: skip
        commande(martin, f"/v1/parcours/{hugo['id']}/informations-preoccupantes",
                 {"origine": "sante", "dangers": ["violences_psychologiques"], "date_effet": jour(20)})  # fmt: skip
        enfant_avec_ip(nguyen, nom="Fontaine", prenoms="Chloé", departement="48", referent_id="s.nguyen",
                       ip_il_y_a=45, date_naissance=date(2015, 11, 8))  # fmt: skip
        enfant_accueilli(nguyen, nom="Roussel", prenoms="Yanis", departement="48", referent_id="s.nguyen",
                         depuis=75, lieu="Foyer de l'enfance de Mende", reference="AP-48-2026-022",
                         date_naissance=date(2009, 12, 30))  # fmt: skip
    se_connecter(page, role="encadrant", departements="48", sub="a.lefort", retour="/pages/travail")
    tableau = page.locator("table.liste-travail")
    for nom in ("Léa Moreau", "Hugo Garnier", "Chloé Fontaine", "Yanis Roussel"):
        recharger_jusqu_a(page, lambda: tableau, nom)
    recharger_jusqu_a(page, lambda: tableau, "Acquitter", essais=ATTENTE_ALERTE_MS // 2_000)
    CAPTURES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(CAPTURES / "travail.png"), full_page=True)
    page.goto(f"/pages/dossiers/{hugo['id']}")
    recharger_jusqu_a(page, lambda: page.locator("main"), "AP-48-2026-013")
    page.screenshot(path=str(CAPTURES / "dossier.png"), full_page=True)
    assert (CAPTURES / "travail.png").stat().st_size > 10_000
    assert (CAPTURES / "dossier.png").stat().st_size > 10_000


def jour(il_y_a_jours: int) -> str:
    return (date.today() - timedelta(days=il_y_a_jours)).isoformat()
