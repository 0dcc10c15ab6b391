"""What the browser tests share: the server, signing in through the page, the accessibility check, seeding data."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from services.runtime.auth import CleDeDeveloppement
from tests.e2e.attente import attendre
from tests.e2e.lanceur import lancer_ase_serve

PRET = "Application startup complete"
RATTRAPAGE_S = 60.0
"""How long the read models (eventually consistent) may take to show a write, on a loaded CI machine."""
IMPACTS_INTERDITS = frozenset({"serious", "critical"})
CAPTURES = Path(__file__).resolve().parents[2] / "docs" / "captures"
"""Where the suite writes the README's screenshots."""


def lancer(donnees: Path, port: int, database_url: str, delai_s: float = 90.0) -> subprocess.Popen[str]:
    """``ase serve`` on ``port`` with ``DATABASE_URL``, once it logged its startup (killed and failed otherwise)."""
    processus, _ = lancer_ase_serve(
        donnees,
        port,
        delai_s=delai_s,
        env_en_plus={"DATABASE_URL": database_url, "ASE_HORLOGE_MAJORITE": "false"},
    )
    return processus


@dataclass
class Serveur:
    """The running ``ase serve``: its address, its database (for what a test checks underneath), its data folder."""

    url: str
    database_url: str
    donnees: Path

    def jeton(
        self, role: str = "referent", departements: tuple[str, ...] = ("59",), sub: str = "api-test",
        personne_id: uuid.UUID | None = None,
    ) -> str:  # fmt: skip
        return CleDeDeveloppement.dans(self.donnees).signer(
            sub=sub, roles=[role], departements=list(departements), personne_id=personne_id
        )

    def api(self, role: str = "referent", departements: tuple[str, ...] = ("59",)) -> httpx.Client:
        """An API client with a token of ``role`` (to seed what a page then shows)."""
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.jeton(role, departements)}"}, timeout=30
        )


def commande(client: httpx.Client, chemin: str, corps: dict[str, Any], attendu: int = 200) -> dict[str, Any]:
    """POST a command through the API; assert it was accepted (a broken setup fails where it breaks)."""
    reponse = client.post(chemin, json=corps)
    assert reponse.status_code in (attendu, 201), reponse.text
    resultat: dict[str, Any] = reponse.json()
    return resultat


def ouvrir_parcours(
    client: httpx.Client, *, nom: str = "Martin", prenoms: str = "Inès", date_naissance: date = date(2012, 5, 3),
    departement: str = "59", date_effet: date | None = None, referent_id: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    corps: dict[str, Any] = {
        "personne": {"nom": nom, "prenoms": prenoms, "date_naissance": date_naissance.isoformat(), "sexe": "F"},
        "departement": departement,
        "date_effet": (date_effet or date.today()).isoformat(),
    }
    if referent_id:
        corps["referent_id"] = referent_id
    return commande(client, "/v1/parcours", corps, 201)


def referencer_lieu(client: httpx.Client, nom: str = "MECS Les Tilleuls", type_lieu: str = "mecs",
                    capacite: int = 12, departement: str = "59") -> str:  # fmt: skip
    corps = {"nom": nom, "type": type_lieu, "departement": departement, "capacite": capacite}
    return str(commande(client, "/v1/lieux", corps, 201)["id"])


def se_connecter(
    page: Page, role: str = "referent", departements: str = "59", *, sub: str = "",
    personne_id: str = "", retour: str = "/pages/",
) -> None:  # fmt: skip
    """Sign in through the dev sign-in page, as a newcomer would."""
    page.goto(f"/pages/connexion?retour={retour}")
    page.get_by_label("Rôle", exact=True).select_option(role)
    page.get_by_label("Départements").fill(departements)
    if sub:
        page.get_by_label("Identifiant (facultatif)").fill(sub)
    if personne_id:
        page.get_by_label("Identifiant de la personne").fill(personne_id)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_load_state("networkidle")


def verifier_accessibilite(page: Page) -> list[dict[str, Any]]:
    """axe-core (served from the test package, injected into the page) finds no serious or critical violation."""
    resultat = Axe().run(page)
    graves = [v for v in resultat.response["violations"] if v.get("impact") in IMPACTS_INTERDITS]
    assert not graves, [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in graves]
    return list(resultat.response["violations"])


def rattrape(condition: Callable[[], Any], quoi: str = "the read models show the write") -> Any:
    """``condition()`` once it is truthy: the read models follow the store's log, a little behind a write."""
    return attendre(condition, delai_s=RATTRAPAGE_S, quoi=quoi, contexte=lambda: "")
