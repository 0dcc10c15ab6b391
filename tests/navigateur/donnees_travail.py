"""Seeding for the worklist, search and dossier pages: children with deadlines, through the APIs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import httpx
from playwright.sync_api import Locator, Page, expect

from tests.navigateur.outils import Serveur, commande, ouvrir_parcours, referencer_lieu


def referent(serveur: Serveur, sub: str, departement: str) -> httpx.Client:
    """An API client signed as the référent ``sub`` (the timeline shows each record's author)."""
    jeton = serveur.jeton("referent", (departement,), sub=sub)
    return httpx.Client(base_url=serveur.url, headers={"Authorization": f"Bearer {jeton}"}, timeout=30)


def il_y_a(jours: int) -> date:
    return date.today() - timedelta(days=jours)


def enfant_avec_ip(
    client: httpx.Client, *, nom: str, prenoms: str, departement: str, referent_id: str, ip_il_y_a: int,
    date_naissance: date = date(2013, 2, 14),
) -> dict[str, Any]:  # fmt: skip
    """A parcours opened the day an information préoccupante came in, ``ip_il_y_a`` days ago: its assessment
    is due 3 months later (overdue after about 92 days)."""
    jour = il_y_a(ip_il_y_a)
    ouvert = ouvrir_parcours(
        client, nom=nom, prenoms=prenoms, departement=departement, referent_id=referent_id, date_effet=jour,
        date_naissance=date_naissance,
    )  # fmt: skip
    commande(
        client,
        f"/v1/parcours/{ouvert['id']}/informations-preoccupantes",
        {"origine": "education_nationale", "dangers": ["negligences"], "date_effet": jour.isoformat()},
    )
    return ouvert


def enfant_accueilli(
    client: httpx.Client, *, nom: str, prenoms: str, departement: str, referent_id: str, depuis: int,
    lieu: str = "MECS Les Tilleuls", reference: str = "AP-2026-117", date_naissance: date = date(2011, 9, 21),
) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
    """A child placed ``depuis`` days ago under an accueil provisoire (administrative, 10 months): returns
    the parcours and the measure's command answer (its ``mesure_id`` and the event's ``version``)."""
    jour = il_y_a(depuis)
    ouvert = ouvrir_parcours(
        client, nom=nom, prenoms=prenoms, departement=departement, referent_id=referent_id, date_effet=jour,
        date_naissance=date_naissance,
    )  # fmt: skip
    mesure = commande(
        client,
        f"/v1/parcours/{ouvert['id']}/mesures",
        {
            "cadre": "administratif",
            "nature": "accueil_provisoire",
            "autorite": "president_cd",
            "reference_decision": reference,
            "date_debut": jour.isoformat(),
            "date_echeance": (jour + timedelta(days=300)).isoformat(),
            "date_effet": jour.isoformat(),
        },
    )
    lieu_id = referencer_lieu(client, nom=lieu, departement=departement)
    commande(
        client,
        f"/v1/parcours/{ouvert['id']}/accueil",
        {"mesure_id": mesure["mesure_id"], "lieu_id": lieu_id, "date_effet": jour.isoformat()},
    )
    return ouvert, mesure


def rectifier(client: httpx.Client, parcours_id: str, version: int, *, motif: str, **champ: Any) -> None:
    """A ``SaisieRectifiee`` of the one field ``champ`` names (``reference_decision="AP-1"``) of event ``version``."""
    ((nom, valeur),) = champ.items()
    commande(
        client,
        f"/v1/parcours/{parcours_id}/rectifications",
        {"version_rectifiee": version, "champ": nom, "nouvelle_valeur": valeur, "motif": motif},
    )


def recharger_jusqu_a(page: Page, cible: Callable[[], Locator], texte: str, essais: int = 30) -> None:
    """Reload ``page`` until ``cible()`` contains ``texte``: the read model follows the store's log, so a
    write shows a moment later. Each try waits (Playwright's auto-waiting) up to 2 s, no fixed sleep."""
    for _ in range(essais - 1):
        try:
            expect(cible()).to_contain_text(texte, timeout=2_000)
            return
        except AssertionError:
            page.reload()
    expect(cible()).to_contain_text(texte, timeout=2_000)
