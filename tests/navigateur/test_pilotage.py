"""The encadrant's pages: the occupancy chart and table, the indicators with their definitions, the
dead-lettered webhook deliveries and their replay; a référent is refused them.

Each test seeds a département of its own (05: occupancy and indicators; 90: deliveries) so that the
exact figures it checks are not moved by other tests on the shared server.
"""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import httpx
from playwright.sync_api import Page, expect

from tests.navigateur.outils import (
    Serveur,
    commande,
    ouvrir_parcours,
    rattrape,
    referencer_lieu,
    se_connecter,
    verifier_accessibilite,
)

DEP_OCCUPATION = "05"  # a département no other browser test writes to: its occupancy is counted whole
DEP_LIVRAISONS = "90"


def placer(client: httpx.Client, lieu_id: str, nom: str) -> str:
    """A child of 05 under a judicial measure, placed in ``lieu_id`` since 1 October 2026."""
    parcours = ouvrir_parcours(
        client, nom=nom, departement=DEP_OCCUPATION, date_effet=date(2026, 9, 1), date_naissance=date(2013, 2, 4)
    )
    pid = parcours["id"]
    mesure = commande(
        client,
        f"/v1/parcours/{pid}/mesures",
        {
            "cadre": "judiciaire",
            "nature": "confiage_ase",
            "autorite": "juge_des_enfants",
            "reference_decision": f"JE-{nom}",
            "date_debut": "2026-10-01",
            "date_echeance": "2027-09-30",
            "date_effet": "2026-10-01",
        },
    )
    commande(
        client,
        f"/v1/parcours/{pid}/accueil",
        {"mesure_id": mesure["mesure_id"], "lieu_id": lieu_id, "date_effet": "2026-10-01"},
    )
    return str(pid)


def test_an_encadrant_sees_the_occupancy_chart_and_the_indicators_with_their_definitions(
    page: Page, serveur: Serveur
) -> None:
    referent = serveur.api("referent", (DEP_OCCUPATION,))
    encadrant = serveur.api("encadrant", (DEP_OCCUPATION,))
    mecs = referencer_lieu(referent, "MECS du Causse", "mecs", 5, DEP_OCCUPATION)
    famille = referencer_lieu(referent, "Famille Aubrac", "assistant_familial", 1, DEP_OCCUPATION)
    placer(referent, mecs, "Causse")
    placer(referent, famille, "Aubrac")
    placer(referent, famille, "Margeride")

    def occupation() -> dict[str, Any] | None:
        (dep,) = encadrant.get("/v1/pilotage/occupation", params={"departement": DEP_OCCUPATION}).json()["departements"]
        return dep if dep["enfants_places"] == 3 else None

    rattrape(occupation)

    se_connecter(page, "encadrant", DEP_OCCUPATION, sub="encadrante-05", retour="/pages/pilotage")
    expect(page.get_by_role("heading", level=1)).to_have_text("Pilotage")
    graphique = page.get_by_role("img", name=f"Occupation des lieux d'accueil du département {DEP_OCCUPATION}")
    expect(graphique).to_be_visible()
    assert graphique.evaluate("e => e.tagName") == "svg"
    # Each type's two bars carry the seeded figures, and say them in words on the chart.
    famille_groupe = graphique.locator('g[data-type="Assistant familial"]')
    mecs_groupe = graphique.locator('g[data-type="MECS"]')
    assert famille_groupe.locator('rect[data-serie="places"]').get_attribute("data-valeur") == "1"
    assert famille_groupe.locator('rect[data-serie="enfants"]').get_attribute("data-valeur") == "2"
    assert mecs_groupe.locator('rect[data-serie="places"]').get_attribute("data-valeur") == "5"
    assert mecs_groupe.locator('rect[data-serie="enfants"]').get_attribute("data-valeur") == "1"
    expect(famille_groupe.locator("text.graphique__valeur")).to_have_text(["1 place", "2 enfants (sur-occupé)"])
    expect(mecs_groupe.locator("text.graphique__valeur")).to_have_text(["5 places", "1 enfant"])
    # The longer bar is the larger figure: the MECS' 5 places are 5 times the family's 1.
    largeur_mecs = float(mecs_groupe.locator('rect[data-serie="places"]').get_attribute("width") or 0)
    largeur_famille = float(famille_groupe.locator('rect[data-serie="places"]').get_attribute("width") or 0)
    assert largeur_mecs == 5 * largeur_famille > 0
    assert graphique.get_attribute("style") is None

    # The same figures in a table, for screen readers.
    tableau = page.get_by_role("table", name=f"Occupation par type de lieu, département {DEP_OCCUPATION}")
    ligne_famille = tableau.get_by_role("row", name="Assistant familial")
    expect(ligne_famille.get_by_role("cell")).to_have_text(["1", "1", "2 (sur-occupé)", "200 %", "1"])
    ligne_mecs = tableau.get_by_role("row", name="MECS")
    expect(ligne_mecs.get_by_role("cell")).to_have_text(["1", "5", "1", "20 %", "0"])

    # Lieu by lieu, each with a link to its own page.
    par_lieu = page.get_by_role("table", name=f"Occupation lieu par lieu, département {DEP_OCCUPATION}")
    expect(par_lieu.get_by_role("row", name="Famille Aubrac").get_by_role("cell")).to_have_text(
        ["Assistant familial", "1", "2", "200 %", "sur-occupé"]
    )
    expect(par_lieu.get_by_role("row", name="MECS du Causse").get_by_role("cell")).to_have_text(
        ["Maison d'enfants à caractère social (MECS)", "5", "1", "20 %", "4 places libres"]
    )

    # Indicators of the year, each with its definition in plain words.
    expect(page.get_by_role("heading", name=f"Indicateurs {date.today().year}")).to_be_visible()
    ppe = page.locator("section.indicateur", has=page.get_by_role("heading", name="PPE établi dans les 3 mois"))
    expect(ppe.get_by_text("Ce qui est compté")).to_be_visible()
    expect(ppe).to_contain_text("CASF L223-1-1")
    # Three measures began on 1 October: their 3 months are not over, so they are pending, not counted.
    expect(ppe.locator("dt", has_text="En attente").locator("xpath=following-sibling::dd[1]")).to_have_text("3")
    expect(ppe.locator(".indicateur__valeur")).to_contain_text("non calculable")
    assert page.locator("section.indicateur").count() == 6
    for carte in page.locator("section.indicateur").all():
        expect(carte.get_by_role("heading", name="Sur qui")).to_be_visible()
    verifier_accessibilite(page)

    # The year selector: last year's indicators.
    page.get_by_label("Année des indicateurs").select_option(str(date.today().year - 1))
    page.get_by_role("button", name="Afficher").click()
    expect(page.get_by_role("heading", name=f"Indicateurs {date.today().year - 1}")).to_be_visible()
    expect(page).to_have_url(f"{serveur.url}/pages/pilotage?annee={date.today().year - 1}")

    # One lieu's occupancy, from the list.
    page.get_by_role("link", name="Famille Aubrac").click()
    expect(page.get_by_label("Identifiant du lieu d'accueil")).to_have_value(famille)
    expect(page.get_by_role("heading", level=2)).to_have_text("Famille Aubrac")
    expect(page.locator("dl.proprietes")).to_contain_text("Enfants présents2 (sur-occupé)")
    expect(
        page.get_by_role("table", name="Enfants présents suivis par vos départements").locator("tbody tr")
    ).to_have_count(2)
    verifier_accessibilite(page)


def test_an_encadrant_of_several_departements_chooses_one(page: Page) -> None:
    se_connecter(page, "encadrant", f"{DEP_OCCUPATION} {DEP_LIVRAISONS}", retour="/pages/pilotage")
    expect(page.get_by_role("heading", name=f"Département {DEP_LIVRAISONS}", level=3)).to_be_visible()
    page.get_by_label("Département", exact=True).select_option(DEP_OCCUPATION)
    page.get_by_role("button", name="Afficher").click()
    expect(page.get_by_role("heading", name=f"Département {DEP_OCCUPATION}", level=3)).to_be_visible()
    expect(page.get_by_role("heading", name=f"Département {DEP_LIVRAISONS}", level=3)).to_have_count(0)
    verifier_accessibilite(page)


async def _lettre_morte(database_url: str, abonnement_id: str) -> uuid.UUID:
    """A delivery that exhausted its tries, as the delivery loop leaves it (``notifications.livraisons``).

    Getting there through the loop takes eight tries hours apart (the server's settings); the loop itself
    is tested in tests/integration/test_webhooks.py. Its position is negative: no real outbox row has it.
    """
    livraison_id = uuid.uuid4()
    maintenant = datetime.now(UTC)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO notifications.livraisons (livraison_id, abonnement_id, position, message_id, evenement, "
            "alerte_id, corps, tentatives, prochaine_tentative, etat, dernier_statut, derniere_erreur, creee_le, "
            "modifiee_le) VALUES ($1, $2, -1, $3, 'alerte_levee', $4, '{}', 8, $5, 'lettre_morte', 503, "
            "'statut_http', $5, $5)",
            livraison_id,
            uuid.UUID(abonnement_id),
            f"msg_{livraison_id.hex}",
            uuid.uuid4(),
            maintenant,
        )
    finally:
        await conn.close()
    return livraison_id


def test_an_encadrant_sees_a_dead_lettered_delivery_and_replays_it(page: Page, serveur: Serveur) -> None:
    encadrant = serveur.api("encadrant", (DEP_LIVRAISONS,))
    reponse = encadrant.post("/v1/abonnements", json={"url": "http://127.0.0.1:9/ase", "types": ["*"]})
    assert reponse.status_code == 201, reponse.text
    # Playwright's sync API runs an event loop in this thread: the seeding runs in another.
    with ThreadPoolExecutor(max_workers=1) as fil:
        livraison_id = fil.submit(
            asyncio.run, _lettre_morte(serveur.database_url, reponse.json()["abonnement_id"])
        ).result()

    se_connecter(page, "encadrant", DEP_LIVRAISONS, retour="/pages/pilotage")
    page.get_by_role("link", name="Voir les livraisons de webhooks en échec").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Livraisons de webhooks en échec")
    ligne = page.get_by_role("row").filter(has_text=str(livraison_id))
    expect(ligne).to_contain_text("alerte_levee")
    expect(ligne).to_contain_text("statut HTTP 503, statut_http")
    expect(ligne.get_by_role("cell").nth(2)).to_have_text("8")
    verifier_accessibilite(page)

    ligne.get_by_role("button", name=f"Renvoyer la livraison {livraison_id}").click()
    expect(page.get_by_role("status")).to_contain_text(f"La livraison {livraison_id} est remise dans la file")
    expect(page.get_by_role("row").filter(has_text=str(livraison_id))).to_have_count(0)
    etats = encadrant.get("/v1/abonnements/livraisons", params={"etat": "en_attente"}).json()["livraisons"]
    assert str(livraison_id) in {lv["livraison_id"] for lv in etats}


def test_a_referent_gets_the_403_page_on_the_pilotage_pages(page: Page) -> None:
    se_connecter(page, "referent", DEP_OCCUPATION)
    for chemin in ("/pages/pilotage", "/pages/pilotage/livraisons", "/pages/pilotage/lieux"):
        reponse = page.goto(chemin)
        assert reponse is not None
        assert reponse.status == 403
        expect(page.get_by_role("heading", level=1)).to_have_text("Accès refusé")
    verifier_accessibilite(page)
