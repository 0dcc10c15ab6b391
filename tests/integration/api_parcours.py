"""Builders and checks for the HTTP tests of the parcours API (tests/integration).

Each builder sends one command through the real API and returns what the
caller would keep (an id), asserting the command was accepted so a broken
setup fails where it breaks, not three steps later.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import httpx
import psycopg
from anyio import CapacityLimiter
from asgi_lifespan import LifespanManager

from contracts.vocabulaire import Nature
from droit.calendrier import ajouter
from droit.regles import ECHEANCE_REQUISE
from services.parcours.api.app import creer_app
from services.parcours.api.dependances import Composants
from services.runtime.auth import CleDeDeveloppement
from services.runtime.horloge import HorlogeFixe
from tests.integration.conftest import AUJOURD_HUI, Api, nouvelle_application

NOM = "Dumoulin-Kervella"
PRENOMS = "Maëlys Océane"
NE_LE = date(2012, 5, 3)
"""14 at the fixture's 'today' (2026-11-28): a minor, placeable anywhere."""

DEPARTEMENT = "59"
DEPARTEMENTS = [f"{n:02d}" for n in range(1, 96) if n != 20] + ["2A", "2B"] + [str(n) for n in range(971, 977)]
"""Every INSEE code API.md lists, in its order."""
PROBLEME = "application/problem+json"


def a_la_date(api: Api, jour: date) -> None:
    """Move the API's clock to ``jour`` (10:00 UTC, the same civil day in France)."""
    api.horloge.regler(datetime.combine(jour, time(10, 0), tzinfo=UTC))


def personne(nom: str = NOM, prenoms: str = PRENOMS, date_naissance: date = NE_LE, sexe: str = "F") -> dict[str, str]:
    return {"nom": nom, "prenoms": prenoms, "date_naissance": date_naissance.isoformat(), "sexe": sexe}


def corps_ouverture(
    date_effet: date,
    *,
    date_naissance: date = NE_LE,
    departement: str = DEPARTEMENT,
    **champs: Any,
) -> dict[str, Any]:
    return {
        "personne": personne(date_naissance=date_naissance),
        "departement": departement,
        "date_effet": date_effet.isoformat(),
        **champs,
    }


async def ouvrir(api: Api, date_effet: date, **champs: Any) -> dict[str, Any]:
    """Open a parcours; return the command's response body (``id``, ``personne_id``...)."""
    reponse = await api.post("/v1/parcours", corps_ouverture(date_effet, **champs))
    assert reponse.status_code == 201, reponse.text
    corps: dict[str, Any] = reponse.json()
    return corps


async def referencer_lieu(
    api: Api,
    type_lieu: str = "mecs",
    *,
    departement: str = DEPARTEMENT,
    capacite: int = 12,
    nom: str = "MECS Les Tilleuls",
) -> str:
    reponse = await api.post(
        "/v1/lieux",
        {"nom": nom, "type": type_lieu, "departement": departement, "capacite": capacite},
        **api.jeton(departements=(departement,)),
    )
    assert reponse.status_code == 201, reponse.text
    return str(reponse.json()["id"])


async def decider_mesure(
    api: Api,
    parcours_id: str,
    *,
    cadre: str = "administratif",
    nature: str = "accueil_provisoire",
    autorite: str = "president_cd",
    date_debut: date,
    date_echeance: date | None = None,
    date_effet: date | None = None,
    reference: str = "DEC-2026-001",
) -> str:
    corps: dict[str, Any] = {
        "cadre": cadre,
        "nature": nature,
        "autorite": autorite,
        "reference_decision": reference,
        "date_debut": date_debut.isoformat(),
        "date_effet": (date_effet or date_debut).isoformat(),
    }
    if date_echeance is None and Nature(nature) in ECHEANCE_REQUISE:
        date_echeance = ajouter(date_debut, mois=6)  # the law asks for one (CASF L223-5 al. 1)
    if date_echeance is not None:
        corps["date_echeance"] = date_echeance.isoformat()
    reponse = await api.post(f"/v1/parcours/{parcours_id}/mesures", corps)
    assert reponse.status_code == 200, reponse.text
    return str(reponse.json()["mesure_id"])


async def lire(api: Api, chemin: str, departements: tuple[str, ...] = (DEPARTEMENT,)) -> httpx.Response:
    """GET ``chemin`` as a référent of ``departements``."""
    return await api.client.get(chemin, headers=api.jeton(departements=departements))


async def etat(api: Api, parcours_id: str, departements: tuple[str, ...] = (DEPARTEMENT,)) -> dict[str, Any]:
    reponse = await lire(api, f"/v1/parcours/{parcours_id}", departements)
    assert reponse.status_code == 200, reponse.text
    corps: dict[str, Any] = reponse.json()
    return corps


async def evenements(
    api: Api, parcours_id: str, departements: tuple[str, ...] = (DEPARTEMENT,)
) -> list[dict[str, Any]]:
    reponse = await lire(api, f"/v1/parcours/{parcours_id}/evenements", departements)
    assert reponse.status_code == 200, reponse.text
    corps: list[dict[str, Any]] = reponse.json()
    return corps


def probleme(reponse: httpx.Response, statut: int, code: str) -> dict[str, Any]:
    """Assert ``reponse`` is an RFC 9457 problem with this status and code; return its body."""
    assert reponse.status_code == statut, reponse.text
    assert reponse.headers["content-type"].startswith(PROBLEME), reponse.headers
    corps: dict[str, Any] = reponse.json()
    assert {"type", "title", "status", "detail", "code", "errors"} <= corps.keys(), corps
    assert corps["status"] == statut
    assert corps["code"] == code, corps
    assert isinstance(corps["errors"], list)
    return corps


def champs_en_erreur(reponse: httpx.Response) -> list[str]:
    """The fields a 422 names, one entry per bad field."""
    corps = probleme(reponse, 422, "validation")
    return [str(e["champ"]) for e in corps["errors"]]


@asynccontextmanager
async def autre_instance(base_url: str, api: Api) -> AsyncIterator[Api]:
    """A second parcours service on the same database: its own application, pool and app.

    It shares the clock and the token key of ``api``, as two processes of one
    deployment would share the time and the issuer.
    """
    application = nouvelle_application(base_url, api.horloge)
    composants = Composants(application=application, verificateur=api.cle, limiteur=CapacityLimiter(8))
    app = creer_app(composants=composants)
    try:
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parcours-bis.test") as client,
        ):
            yield Api(client=client, cle=api.cle, horloge=api.horloge, application=application)
    finally:
        application.close()


@asynccontextmanager
async def api_sur_une_base_neuve(postgres_url: str, dossier_des_cles: Path) -> AsyncIterator[Api]:
    """The ``api`` fixture's service on a database of its own, for a module to share.

    Tests whose refused commands change nothing can share one service and save
    a database per test; each still works on parcours of its own.
    """
    nom = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{nom}"')
    url = urlunparse(urlparse(postgres_url)._replace(path="/" + nom))
    horloge = HorlogeFixe(AUJOURD_HUI)
    cle = CleDeDeveloppement.dans(dossier_des_cles)
    application = nouvelle_application(url, horloge)
    app = creer_app(composants=Composants(application=application, verificateur=cle, limiteur=CapacityLimiter(8)))
    try:
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parcours.test") as client,
        ):
            yield Api(client=client, cle=cle, horloge=horloge, application=application)
    finally:
        application.close()
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{nom}" WITH (FORCE)')
