"""The young person's pages, in a real browser: their own timeline, a 404 for anyone else's."""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
from playwright.sync_api import Page, Response, expect

from tests.navigateur.outils import (
    Serveur,
    commande,
    ouvrir_parcours,
    rattrape,
    referencer_lieu,
    se_connecter,
    verifier_accessibilite,
)

DEPARTEMENT = "974"
"""La Réunion: a département of these tests' own."""
FAMILLE = "Martine Lenoir"
"""The assistante familiale's name: a private person's, never on the young person's page."""
MECS = "MECS Les Filaos"
CAPTURE = Path(tempfile.gettempdir()) / "ase-mon-parcours.png"
"""A picture of the page, for a reviewer (not the README's: those are the worklist's and the dossier's)."""


@dataclass
class Jeune:
    parcours_id: str
    personne_id: str


def _parcours_d_ines(serveur: Serveur) -> Jeune:
    """Placed at 17 with an assistante familiale, then in a MECS; PPE; entretien d'autonomie; majority on
    20 January 2026; a contrat jeune majeur to its term; the sortie on 19 July 2026."""
    with serveur.api("referent", (DEPARTEMENT,)) as client:
        famille = referencer_lieu(client, FAMILLE, "assistant_familial", 2, DEPARTEMENT)
        mecs = referencer_lieu(client, MECS, "mecs", 12, DEPARTEMENT)
        ouvert = ouvrir_parcours(
            client, nom="Payet", prenoms="Inès", date_naissance=date(2008, 1, 20), departement=DEPARTEMENT,
            date_effet=date(2025, 3, 1), referent_id="referente-claire",
        )  # fmt: skip
        p = f"/v1/parcours/{ouvert['id']}"
        mesure = commande(client, f"{p}/mesures", {
            "cadre": "administratif", "nature": "accueil_provisoire", "autorite": "president_cd",
            "reference_decision": "DEC-974-017", "date_debut": "2025-03-01", "date_echeance": "2026-01-19",
            "date_effet": "2025-03-01",
        })["mesure_id"]  # fmt: skip
        commande(client, f"{p}/accueil", {"mesure_id": mesure, "lieu_id": famille, "date_effet": "2025-03-01"})
        commande(client, f"{p}/ppe", {"date_effet": "2025-05-15"})
        commande(
            client, f"{p}/accueil/changement", {"lieu_id": mecs, "motif": "fin_agrement", "date_effet": "2025-06-02"}
        )
        commande(client, f"{p}/entretien-autonomie", {"date_effet": "2025-07-01"})
        commande(client, f"{p}/majorite", {})
        commande(client, f"{p}/accompagnement-jeune-majeur",
                 {"date_debut": "2026-01-20", "date_fin": "2026-07-19", "date_effet": "2026-01-22"})  # fmt: skip
        commande(client, f"{p}/accompagnement-jeune-majeur/fin", {"motif": "terme", "date_effet": "2026-07-19"})
        commande(client, f"{p}/sortie", {"motif": "fin_accompagnement_jeune_majeur",
                                         "situation_logement": "logement_social", "date_effet": "2026-07-19"})  # fmt: skip
    jeune = Jeune(str(ouvert["id"]), str(ouvert["personne_id"]))
    _attendre_la_projection(serveur, jeune)
    return jeune


def _attendre_la_projection(serveur: Serveur, jeune: Jeune) -> None:
    """Poll the read API (as the young person) until it shows the sortie: the read model is eventually consistent."""
    jeton = serveur.jeton("jeune", (), "attente", uuid.UUID(jeune.personne_id))
    with httpx.Client(base_url=serveur.url, headers={"Authorization": f"Bearer {jeton}"}, timeout=10) as client:

        def sortie_visible() -> bool:
            reponse = client.get(f"/v1/jeune/parcours/{jeune.parcours_id}")
            return reponse.status_code == 200 and reponse.json()["sortie"] is not None

        rattrape(sortie_visible, "the young person's read model shows the sortie")


def _statut(reponse: Response | None) -> int:
    assert reponse is not None, "the navigation gave no response"
    return reponse.status


def test_a_young_person_sees_their_own_timeline(page: Page, serveur: Serveur) -> None:
    ines = _parcours_d_ines(serveur)

    se_connecter(page, role="jeune", departements=DEPARTEMENT, sub="ines", personne_id=ines.personne_id)
    page.goto("/pages/mon-parcours")

    expect(page).to_have_url(f"{serveur.url}/pages/mon-parcours/{ines.parcours_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Mon parcours")
    lieux = page.locator("section", has=page.get_by_role("heading", name="Où j'ai vécu"))
    expect(lieux.get_by_role("listitem")).to_have_count(2)
    expect(lieux.get_by_role("listitem").nth(0)).to_contain_text("Du 1er mars 2025 au 2 juin 2025")
    expect(lieux.get_by_role("listitem").nth(0)).to_contain_text("Chez un assistant familial")
    expect(lieux.get_by_role("listitem").nth(1)).to_contain_text("Du 2 juin 2025 au 20 janvier 2026")
    expect(lieux.get_by_role("listitem").nth(1)).to_contain_text(MECS)
    decisions = page.locator("section", has=page.get_by_role("heading", name="Les décisions"))
    expect(decisions).to_contain_text("Accueil provisoire. Décision du département.")
    expect(decisions).to_contain_text("À partir du 1er mars 2025")
    expect(decisions).to_contain_text("Terminée le 20 janvier 2026")
    ppe = page.locator("section", has=page.get_by_role("heading", name="Mon projet (PPE)"))
    expect(ppe).to_contain_text("écrit le 15 mai 2025")
    expect(ppe).to_contain_text("Il a eu lieu le 1er juillet 2025")
    apjm = page.locator("section", has=page.get_by_role("heading", name="Mon contrat jeune majeur"))
    expect(apjm).to_contain_text("Du 20 janvier 2026 au 19 juillet 2026")
    expect(apjm).to_contain_text("Terminé le 19 juillet 2026")
    expect(
        page.get_by_role("heading", name="Après ma sortie : priorité pour un logement social jusqu'au 19 juillet 2029")
    ).to_be_visible()
    expect(page.get_by_role("heading", name="Ce que je peux demander")).to_be_visible()
    expect(page.get_by_role("heading", name="Un contrat jeune majeur jusqu'à vos 21 ans")).to_be_visible()
    contenu = page.locator("main").inner_text()
    for interdit in (FAMILLE, "Lenoir", "referente-claire", "DEC-974-017"):
        assert interdit not in contenu, interdit
    verifier_accessibilite(page)
    page.screenshot(path=str(CAPTURE), full_page=True)


def test_a_young_person_gets_the_404_page_on_another_parcours(page: Page, serveur: Serveur) -> None:
    with serveur.api("referent", (DEPARTEMENT,)) as client:
        autre = ouvrir_parcours(client, nom="Hoarau", prenoms="Léo", departement=DEPARTEMENT)
        moi = ouvrir_parcours(client, nom="Grondin", prenoms="Zoé", date_naissance=date(2009, 2, 2),
                              departement=DEPARTEMENT)  # fmt: skip

    se_connecter(page, role="jeune", departements=DEPARTEMENT, sub="zoe", personne_id=str(moi["personne_id"]))
    reponse = page.goto(f"/pages/mon-parcours/{autre['id']}")

    assert _statut(reponse) == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page introuvable")
    assert "Hoarau" not in page.locator("main").inner_text()
    verifier_accessibilite(page)


def test_the_young_persons_pages_are_closed_to_caseworkers_and_caseworkers_pages_to_them(
    page: Page, serveur: Serveur
) -> None:
    with serveur.api("referent", (DEPARTEMENT,)) as client:
        moi = ouvrir_parcours(client, nom="Fontaine", prenoms="Maé", date_naissance=date(2009, 3, 3),
                              departement=DEPARTEMENT)  # fmt: skip

    se_connecter(page, role="jeune", departements=DEPARTEMENT, sub="mae", personne_id=str(moi["personne_id"]))
    for chemin in ("/pages/travail", f"/pages/dossiers/{moi['id']}", "/pages/audit", "/pages/pilotage"):
        reponse = page.goto(chemin)
        assert _statut(reponse) in (403, 404), chemin
    page.context.clear_cookies()
    se_connecter(page, role="referent", departements=DEPARTEMENT)
    reponse = page.goto("/pages/mon-parcours")
    assert _statut(reponse) == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Accès refusé")


def test_a_young_person_without_a_parcours_yet_is_told_so(page: Page) -> None:
    se_connecter(page, role="jeune", departements=DEPARTEMENT, sub="personne", personne_id=str(uuid.uuid4()))
    reponse = page.goto("/pages/mon-parcours")

    assert _statut(reponse) == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("Mon parcours")
    expect(page.locator("main")).to_contain_text("Aucun parcours n'est encore visible ici")
    verifier_accessibilite(page)
