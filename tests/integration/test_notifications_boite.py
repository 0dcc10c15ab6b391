"""The alerts' inbox (``GET /v1/alertes``, ``POST /v1/alertes/{id}/acquittement``): soonest first, paged,
scoped by département like every read, access-logged, acknowledgements idempotent, bad input a problem."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.notifications import alertes, sorties
from tests.integration.conftest import Api
from tests.integration.notifications_outils import Echeancier, echeancier_de
from tests.integration.projections_outils import histoires

PROBLEME = "application/problem+json"


@pytest.fixture
async def boite(api: Api, base_url: str, tmp_path: Path) -> AsyncIterator[Echeancier]:
    """Six children's parcours (two transferred to the 62), the engine caught up, the scheduler ticked today."""
    await histoires(api, 6)
    async with echeancier_de(api, base_url, tmp_path / "cles") as e:
        await e.rattraper()
        assert await e.tick() > 0
        yield e


async def _toutes(e: Echeancier, **filtres: Any) -> list[dict[str, Any]]:
    async with e.comp.pool.acquire() as conn:
        lignes = await conn.fetch(f"SELECT {alertes.COLONNES} FROM {alertes.TABLE}")
    vues = [alertes.alerte_de(ligne).model_dump(mode="json") for ligne in lignes]
    # The inbox sorts on the exact due date the service keeps (an alert shows only the month of one
    # that follows from the birth date): the order expected is read from the rows.
    DUES.update({str(ligne["alerte_id"]): ligne["due_le"].isoformat() for ligne in lignes})
    return [v for v in vues if all(v[k] == attendu for k, attendu in filtres.items())]


DUES: dict[str, str] = {}


def _ordre(a: dict[str, Any]) -> tuple[str, str, str, str]:
    return (DUES[a["alerte_id"]], a["type"], a["cle"], a["alerte_id"])


async def test_the_inbox_pages_through_the_departements_open_alerts_soonest_first(boite: Echeancier) -> None:
    attendues = sorted((a for a in await _toutes(boite, departement="59") if a["statut"] != "close"), key=_ordre)
    assert len(attendues) >= 5
    vues: list[dict[str, Any]] = []
    pages = (len(attendues) + 1) // 2
    for page in range(1, pages + 2):
        reponse = await boite.get("/v1/alertes", taille=2, page=page)
        assert reponse.status_code == 200, reponse.text
        corps = reponse.json()
        assert (corps["total"], corps["page"], corps["taille"]) == (len(attendues), page, 2)
        assert len(corps["alertes"]) == (
            2 if page < pages else len(attendues) - 2 * (pages - 1) if page == pages else 0
        )
        vues += corps["alertes"]
    assert [_ordre(a) for a in vues] == [_ordre(a) for a in attendues], "soonest first, each once"
    premiere = vues[0]
    assert premiere["lien"] == f"/v1/dossiers/{premiere['parcours_id']}"
    assert premiere["attendu"]
    assert premiere["article"]
    assert set(premiere) >= {"due_le", "alerte_le", "niveau", "statut", "urgente", "informative", "acquittee_par"}
    # One référent's only.
    referent = premiere["referent_id"]
    a_lui = (await boite.get("/v1/alertes", referent_id=referent)).json()["alertes"]
    assert a_lui
    assert {a["referent_id"] for a in a_lui} == {referent}


async def test_the_inbox_is_scoped_by_departement_like_every_read(boite: Echeancier) -> None:
    du_62 = (await boite.get("/v1/alertes", departements=("62",))).json()["alertes"]
    assert du_62
    assert {a["departement"] for a in du_62} == {"62"}, "the transferred parcours' alerts followed them"
    deux = (await boite.get("/v1/alertes", departements=("59", "62"), role="encadrant")).json()["alertes"]
    assert {a["departement"] for a in deux} == {"59", "62"}
    ailleurs = await boite.get("/v1/alertes", departements=("62",), departement="59")
    assert (ailleurs.status_code, ailleurs.headers["content-type"]) == (403, PROBLEME)
    assert (await boite.get("/v1/alertes", role="auditeur")).status_code == 403
    assert (await boite.client.get("/v1/alertes")).status_code == 401
    # An alert of the 59 acknowledged from the 62: as if it did not exist.
    une = du_62[0]
    autre = next(a for a in await _toutes(boite, departement="59") if a["statut"] == "ouverte")
    refus = await boite.post(f"/v1/alertes/{autre['alerte_id']}/acquittement", departements=("62",))
    assert (refus.status_code, refus.headers["content-type"], refus.json()["code"]) == (404, PROBLEME, "introuvable")
    inconnue = await boite.post(f"/v1/alertes/{uuid.uuid4()}/acquittement")
    assert inconnue.status_code == 404
    assert (await boite.post(f"/v1/alertes/{une['alerte_id']}/acquittement", departements=("62",))).status_code == 200


async def test_every_inbox_read_is_written_to_the_access_log(boite: Echeancier) -> None:
    reponse = await boite.get("/v1/alertes", sub="referente-lea", taille=3)
    montrees = {uuid.UUID(a["parcours_id"]) for a in reponse.json()["alertes"]}
    assert montrees
    async with boite.comp.pool.acquire() as conn:
        lignes = await conn.fetch(
            "SELECT parcours_id, departement, route, service, termes FROM public.journal_acces WHERE sub = $1",
            "referente-lea",
        )
    assert {ligne["parcours_id"] for ligne in lignes} == montrees
    assert {(ligne["route"], ligne["service"], ligne["departement"]) for ligne in lignes} == {
        ("/v1/alertes", "notifications", "59")
    }


async def test_one_parcours_alerts_are_read_alone_and_only_that_parcours_is_access_logged(boite: Echeancier) -> None:
    ouvertes = [a for a in await _toutes(boite, departement="59") if a["statut"] != "close"]
    parcours = ouvertes[0]["parcours_id"]
    attendues = sorted((a for a in ouvertes if a["parcours_id"] == parcours), key=_ordre)
    assert len({a["parcours_id"] for a in ouvertes}) > 1, "other parcours' alerts are there to leave out"
    reponse = await boite.get("/v1/alertes", sub="referent-un-dossier", parcours_id=parcours)
    assert reponse.status_code == 200, reponse.text
    corps = reponse.json()
    assert corps["total"] == len(attendues)
    assert [_ordre(a) for a in corps["alertes"]] == [_ordre(a) for a in attendues]
    async with boite.comp.pool.acquire() as conn:
        lus = await conn.fetch("SELECT parcours_id FROM public.journal_acces WHERE sub = $1", "referent-un-dossier")
    assert {str(ligne["parcours_id"]) for ligne in lus} == {parcours}
    ailleurs = await boite.get("/v1/alertes", departements=("62",), parcours_id=parcours)
    assert ailleurs.json()["alertes"] == [], "another département's parcours: nothing, as for any read"


async def test_an_acknowledgement_is_idempotent_and_a_closed_alert_refuses_one(boite: Echeancier) -> None:
    cible = next(a for a in await _toutes(boite, departement="59") if a["statut"] == "ouverte")
    chemin = f"/v1/alertes/{cible['alerte_id']}/acquittement"
    premiere = await boite.post(chemin, sub="referente-lea")
    assert premiere.status_code == 200, premiere.text
    assert (premiere.json()["statut"], premiere.json()["acquittee_par"]) == ("acquittee", "referente-lea")
    seconde = await boite.post(chemin, sub="encadrant-paul", role="encadrant")
    assert (seconde.status_code, seconde.json()) == (200, premiere.json()), "a second acknowledgement changes nothing"
    async with boite.comp.pool.acquire() as conn:
        ecrites = await conn.fetchval(
            f"SELECT count(*) FROM {sorties.SCHEMA}.sorties WHERE alerte_id = $1 AND evenement = 'alerte_acquittee'",
            uuid.UUID(cible["alerte_id"]),
        )
    assert ecrites == 1
    # Still to act on: in the default inbox, and among the acknowledged ones.
    ouvertes = {a["alerte_id"] for a in await _pages(boite)}
    assert cible["alerte_id"] in ouvertes
    acquittees = (await boite.get("/v1/alertes", statut="acquittee", taille=200)).json()["alertes"]
    assert [a["alerte_id"] for a in acquittees] == [cible["alerte_id"]]
    # Closed (the awaited fact recorded): nothing left to acknowledge.
    async with boite.comp.pool.acquire() as conn, conn.transaction():
        await alertes.clore(conn, [uuid.UUID(cible["alerte_id"])], boite.api.horloge.maintenant())
    close = await boite.post(chemin)
    assert (close.status_code, close.headers["content-type"]) == (409, PROBLEME)
    assert (close.json()["code"], close.json()["regle"]) == ("regle_metier", "alerte_close")
    closes = (await boite.get("/v1/alertes", statut="close", taille=200)).json()["alertes"]
    assert cible["alerte_id"] in {a["alerte_id"] for a in closes}
    assert cible["alerte_id"] not in {a["alerte_id"] for a in await _pages(boite)}


async def _pages(e: Echeancier) -> list[dict[str, Any]]:
    reponse = await e.get("/v1/alertes", taille=200)
    assert reponse.json()["total"] == len(reponse.json()["alertes"])
    liste: list[dict[str, Any]] = reponse.json()["alertes"]
    return liste


@pytest.mark.parametrize(
    "params",
    [
        {"taille": 0},
        {"taille": 201},
        {"taille": "beaucoup"},
        {"page": 0},
        {"statut": "nimportequoi"},
        {"departement": "20"},
        {"limit": "10"},
        {"inconnu": "1"},
        {"referent_id": "\u0000"},
        {"parcours_id": "pas-un-uuid"},
    ],
)
async def test_bad_inbox_parameters_are_a_422_problem(boite: Echeancier, params: dict[str, Any]) -> None:
    reponse = await boite.get("/v1/alertes", **params)
    assert (reponse.status_code, reponse.headers["content-type"]) == (422, PROBLEME), reponse.text
    assert reponse.json()["code"] == "validation"


@pytest.mark.parametrize("alerte_id", ["pas-un-uuid", "0" * 32, "{" + str(uuid.UUID(int=1)) + "}"])
async def test_an_acknowledgement_of_a_malformed_id_is_a_422_problem(boite: Echeancier, alerte_id: str) -> None:
    reponse = await boite.post(f"/v1/alertes/{alerte_id}/acquittement")
    assert (reponse.status_code, reponse.headers["content-type"]) == (422, PROBLEME), reponse.text
