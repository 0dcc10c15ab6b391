"""Seeding for the forms' browser tests: a child under a measure, lieux the read side already lists."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx

from tests.navigateur.outils import Serveur, commande, ouvrir_parcours, rattrape, referencer_lieu

DEPARTEMENT = "62"
"""The forms' tests' own département: their lieux and children stay apart from the other tests'."""


@dataclass(frozen=True)
class Enfant:
    parcours_id: str
    mesure_id: str
    nom: str


def client(serveur: Serveur) -> httpx.Client:
    return serveur.api("referent", (DEPARTEMENT,))


def enfant_sous_mesure(api: httpx.Client, *, nom: str = "Lefebvre", naissance: date = date(2011, 4, 12)) -> Enfant:
    """A child opened today, under an accueil provisoire decided today for six months (not yet placed)."""
    parcours_id = str(
        ouvrir_parcours(api, nom=nom, prenoms="Léa", date_naissance=naissance, departement=DEPARTEMENT)["id"]
    )
    aujourd_hui = date.today()
    mesure = commande(
        api,
        f"/v1/parcours/{parcours_id}/mesures",
        {
            "cadre": "administratif",
            "nature": "accueil_provisoire",
            "autorite": "president_cd",
            "reference_decision": "PCD-2026-0042",
            "date_debut": aujourd_hui.isoformat(),
            "date_echeance": (aujourd_hui + timedelta(days=180)).isoformat(),
            "date_effet": aujourd_hui.isoformat(),
        },
    )
    return Enfant(parcours_id, str(mesure["mesure_id"]), nom)


def lieu_liste(api: httpx.Client, type_lieu: str = "mecs", nom: str | None = None) -> str:
    """A lieu referenced in :data:`DEPARTEMENT`, once ``GET /v1/lieux`` (what the form offers) lists it."""
    lieu_id = referencer_lieu(api, nom or f"Lieu {uuid.uuid4().hex[:6]}", type_lieu, 8, DEPARTEMENT)
    rattrape(
        lambda: lieu_id in {lieu["lieu_id"] for lieu in api.get("/v1/lieux").json()["lieux"]},
        f"lieu {lieu_id} listed by GET /v1/lieux",
    )
    return lieu_id


def evenements(api: httpx.Client, parcours_id: str) -> list[dict[str, Any]]:
    reponse = api.get(f"/v1/parcours/{parcours_id}/evenements")
    assert reponse.status_code == 200, reponse.text
    resultat: list[dict[str, Any]] = reponse.json()
    return resultat


def types(api: httpx.Client, parcours_id: str) -> list[str]:
    return [e["type"] for e in evenements(api, parcours_id)]
