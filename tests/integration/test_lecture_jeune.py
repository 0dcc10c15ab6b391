"""The young person's read API: their own parcours only, in plain words, access-logged; nothing else.

Real PostgreSQL; the write side, the read side and the notifications service share it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from tests.integration.api_parcours import a_la_date, personne, referencer_lieu
from tests.integration.conftest import Api, Lecture
from tests.integration.notifications_outils import echeancier_de

NE_LE = date(2008, 1, 20)
"""18 on 20 January 2026: a young adult at the fixture's 'today' (2026-11-28)."""
FAMILLE = "Martine Lenoir"
"""The assistante familiale's name: a private person's, never shown to the young person."""
MECS = "MECS Les Tilleuls"
REFERENTE = "referente-claire"


@dataclass
class Jeune:
    parcours_id: str
    personne_id: str


def jeton(api: Api, personne_id: str | None, departements: tuple[str, ...] = ()) -> dict[str, str]:
    signe = api.cle.signer(
        sub="jeune-1",
        roles=["jeune"],
        departements=list(departements),
        personne_id=uuid.UUID(personne_id) if personne_id else None,
    )
    return {"Authorization": "Bearer " + signe}


async def le(api: Api, jour: date, chemin: str, corps: dict[str, Any]) -> dict[str, Any]:
    """Record a command on ``jour`` (the clock moved there) as the référente."""
    a_la_date(api, jour)
    reponse = await api.post(chemin, corps, **api.jeton(sub=REFERENTE))
    assert reponse.status_code in (200, 201), reponse.text
    resultat: dict[str, Any] = reponse.json()
    return resultat


async def parcours_de_ines(api: Api) -> Jeune:
    """Placed at 17 with an assistante familiale, then in a MECS; PPE, entretien d'autonomie; majority; a
    contrat jeune majeur to its term; the sortie on 19 July 2026."""
    a_la_date(api, date(2025, 1, 2))
    famille = await referencer_lieu(api, "assistant_familial", nom=FAMILLE, capacite=2)
    mecs = await referencer_lieu(api, "mecs", nom=MECS)
    ouvert = await le(
        api,
        date(2025, 3, 1),
        "/v1/parcours",
        {
            "personne": personne("Benali", "Inès", NE_LE),
            "departement": "59",
            "date_effet": "2025-03-01",
            "referent_id": REFERENTE,
        },
    )
    p = f"/v1/parcours/{ouvert['id']}"
    mesure = await le(
        api,
        date(2025, 3, 1),
        f"{p}/mesures",
        {
            "cadre": "administratif",
            "nature": "accueil_provisoire",
            "autorite": "president_cd",
            "reference_decision": "DEC-2025-017",
            "date_debut": "2025-03-01",
            "date_echeance": "2026-01-19",
            "date_effet": "2025-03-01",
        },
    )
    await le(
        api,
        date(2025, 3, 1),
        f"{p}/accueil",
        {"mesure_id": mesure["mesure_id"], "lieu_id": famille, "date_effet": "2025-03-01"},
    )
    await le(api, date(2025, 5, 15), f"{p}/ppe", {"date_effet": "2025-05-15"})
    await le(
        api,
        date(2025, 6, 2),
        f"{p}/accueil/changement",
        {"lieu_id": mecs, "motif": "fin_agrement", "date_effet": "2025-06-02"},
    )
    await le(api, date(2025, 7, 1), f"{p}/entretien-autonomie", {"date_effet": "2025-07-01"})
    await le(api, date(2025, 11, 3), f"{p}/ppe", {"date_effet": "2025-11-03"})
    await le(api, date(2026, 1, 21), f"{p}/majorite", {})
    await le(
        api,
        date(2026, 1, 22),
        f"{p}/accompagnement-jeune-majeur",
        {"date_debut": "2026-01-20", "date_fin": "2026-07-19", "date_effet": "2026-01-22"},
    )
    await le(
        api, date(2026, 7, 19), f"{p}/accompagnement-jeune-majeur/fin", {"motif": "terme", "date_effet": "2026-07-19"}
    )
    await le(
        api,
        date(2026, 7, 19),
        f"{p}/sortie",
        {
            "motif": "fin_accompagnement_jeune_majeur",
            "situation_logement": "logement_social",
            "date_effet": "2026-07-19",
        },
    )
    a_la_date(api, date(2026, 11, 28))
    return Jeune(ouvert["id"], ouvert["personne_id"])


async def autre_parcours(api: Api, departement: str = "59") -> Jeune:
    a_la_date(api, date(2026, 11, 2))
    reponse = await api.post(
        "/v1/parcours",
        {
            "personne": personne("Durand", "Léo", date(2010, 4, 4)),
            "departement": departement,
            "date_effet": "2026-11-02",
        },
        **api.jeton(departements=(departement,)),
    )
    assert reponse.status_code == 201, reponse.text
    a_la_date(api, date(2026, 11, 28))
    return Jeune(reponse.json()["id"], reponse.json()["personne_id"])


async def lire(lecture: Lecture, chemin: str, entetes: dict[str, str]) -> httpx.Response:
    return await lecture.client.get(chemin, headers=entetes)


async def lignes_du_journal(lecture: Lecture, sub: str) -> list[dict[str, Any]]:
    reponse = await lecture.client.get(
        "/v1/audit/acces", params={"sub": sub, "taille": "100"}, headers=lecture.api.jeton("auditeur", ("59",))
    )
    assert reponse.status_code == 200, reponse.text
    elements: list[dict[str, Any]] = reponse.json()["elements"]
    return elements


# -- their own parcours --------------------------------------------------------------------------


async def test_a_young_person_reads_their_own_parcours_in_plain_words(api: Api, lecture: Lecture) -> None:
    ines = await parcours_de_ines(api)
    await lecture.a_jour()

    liste = await lire(lecture, "/v1/jeune/parcours", jeton(api, ines.personne_id))
    assert liste.status_code == 200, liste.text
    assert liste.json() == {
        "parcours": [
            {"parcours_id": ines.parcours_id, "statut": "sorti", "ouvert_le": "2025-03-01", "sorti_le": "2026-07-19"}
        ]
    }
    reponse = await lire(lecture, f"/v1/jeune/parcours/{ines.parcours_id}", jeton(api, ines.personne_id))
    assert reponse.status_code == 200, reponse.text
    vu = reponse.json()

    assert [(x["type_lieu"], x["nom"], x["du"], x["au"]) for x in vu["lieux"]] == [
        ("assistant_familial", None, "2025-03-01", "2025-06-02"),
        ("mecs", MECS, "2025-06-02", "2026-01-20"),
    ], "the placement ends at majority"
    assert vu["lieux"][0]["libelle"].startswith("Chez un assistant familial")
    assert [(m["nature"], m["debut"], m["echeance"], m["terminee_le"]) for m in vu["mesures"]] == [
        ("accueil_provisoire", "2025-03-01", "2026-01-19", "2026-01-20")
    ]
    assert vu["mesures"][0]["libelle"] == "Accueil provisoire"
    assert vu["ppe"] == {"etabli_le": "2025-05-15", "actualise_le": "2025-11-03"}
    assert vu["entretien_autonomie"]["realise_le"] == "2025-07-01"
    assert vu["contrats_jeune_majeur"] == [
        {"debut": "2026-01-20", "fin": "2026-07-19", "fin_annee_engagee": False, "termine_le": "2026-07-19"}
    ]
    assert vu["sortie"] == {"sorti_le": "2026-07-19", "priorite_logement_jusqu_au": "2029-07-19"}, "3 years after"
    assert {d["titre"] for d in vu["droits"]} >= {"Un contrat jeune majeur jusqu'à vos 21 ans", "Lire votre dossier"}


async def test_nothing_of_others_nor_of_caseworkers_is_in_the_young_persons_view(api: Api, lecture: Lecture) -> None:
    ines = await parcours_de_ines(api)
    await lecture.a_jour()

    texte = (await lire(lecture, f"/v1/jeune/parcours/{ines.parcours_id}", jeton(api, ines.personne_id))).text

    for interdit in (FAMILLE, "Lenoir", REFERENTE, "referent_id", "DEC-2025-017", "fin_agrement", "origine", "dangers"):
        assert interdit not in texte, interdit


async def test_the_young_persons_reads_are_access_logged(api: Api, lecture: Lecture) -> None:
    ines = await parcours_de_ines(api)
    await lecture.a_jour()

    await lire(lecture, "/v1/jeune/parcours", jeton(api, ines.personne_id))
    await lire(lecture, f"/v1/jeune/parcours/{ines.parcours_id}", jeton(api, ines.personne_id))

    lignes = await lignes_du_journal(lecture, "jeune-1")
    assert sorted((ligne["route"], ligne["parcours_id"], ligne["departement"]) for ligne in lignes) == [
        ("/v1/jeune/parcours", ines.parcours_id, "59"),
        ("/v1/jeune/parcours/{parcours_id}", ines.parcours_id, "59"),
    ]


# -- nobody else's --------------------------------------------------------------------------------


async def test_another_persons_parcours_is_not_found_whatever_the_departements_claimed(
    api: Api, lecture: Lecture
) -> None:
    ines = await parcours_de_ines(api)
    leo = await autre_parcours(api)
    await lecture.a_jour()

    for departements in ((), ("59",), ("59", "62")):
        autre = await lire(lecture, f"/v1/jeune/parcours/{leo.parcours_id}", jeton(api, ines.personne_id, departements))
        inconnu = await lire(lecture, f"/v1/jeune/parcours/{uuid.uuid4()}", jeton(api, ines.personne_id, departements))
        assert (autre.status_code, autre.json()["code"]) == (404, "introuvable")
        assert (inconnu.status_code, inconnu.json()["code"]) == (404, "introuvable")
        assert autre.json()["title"] == inconnu.json()["title"]
    liste = (await lire(lecture, "/v1/jeune/parcours", jeton(api, ines.personne_id, ("59",)))).json()
    assert [p["parcours_id"] for p in liste["parcours"]] == [ines.parcours_id]
    assert await lignes_du_journal(lecture, "jeune-1") != []
    assert all(ligne["parcours_id"] != leo.parcours_id for ligne in await lignes_du_journal(lecture, "jeune-1"))


async def test_a_jeune_token_without_personne_id_is_refused(api: Api, lecture: Lecture) -> None:
    ines = await parcours_de_ines(api)
    await lecture.a_jour()

    for chemin in ("/v1/jeune/parcours", f"/v1/jeune/parcours/{ines.parcours_id}"):
        reponse = await lire(lecture, chemin, jeton(api, None, ("59",)))
        assert (reponse.status_code, reponse.json()["code"]) == (401, "non_authentifie"), chemin


async def test_caseworkers_do_not_read_the_young_persons_routes(api: Api, lecture: Lecture) -> None:
    ines = await parcours_de_ines(api)
    await lecture.a_jour()

    for role in ("referent", "encadrant", "auditeur", "dpo", "observatoire", "service"):
        reponse = await lecture.get(f"/v1/jeune/parcours/{ines.parcours_id}", role=role)
        assert reponse.status_code == 403, role


# -- every other route: closed to a jeune ------------------------------------------------------------

ROUTES_DU_JEUNE = {"/v1/jeune/parcours", "/v1/jeune/parcours/{parcours_id}"}


def _routes_de(routes: list[Any], prefixe: str = "") -> Iterator[tuple[str, str]]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield from ((m, prefixe + route.path) for m in route.methods or ())
        elif hasattr(route, "original_router"):  # a router included in the app (FastAPI keeps it apart)
            yield from _routes_de(route.original_router.routes, prefixe + route.include_context.prefix)


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) of the service's API (``/v1``): its routers' routes, hidden ones included, and
    its OpenAPI document's (so a change in how FastAPI keeps its routes cannot empty the list)."""
    documentees = {(m.upper(), chemin) for chemin, ops in app.openapi()["paths"].items() for m in ops}
    return sorted(
        (m, chemin)
        for m, chemin in set(_routes_de(app.routes)) | documentees
        if chemin.startswith("/v1/") and m != "HEAD"
    )


def _remplir(gabarit: str, ids: dict[str, str]) -> str:
    chemin = gabarit
    for nom, valeur in ids.items():
        chemin = chemin.replace("{" + nom + "}", valeur)
    return chemin


@pytest.mark.parametrize("departements", [("59",), ()])
async def test_a_jeune_token_opens_no_other_route_of_any_service(
    api: Api, lecture: Lecture, base_url: str, tmp_path: Path, departements: tuple[str, ...]
) -> None:
    ines = await parcours_de_ines(api)
    await lecture.a_jour()
    ids = {
        "parcours_id": ines.parcours_id,
        "personne_id": ines.personne_id,
        "lieu_id": str(uuid.uuid4()),
        "mesure_id": str(uuid.uuid4()),
        "referent_id": REFERENTE,
    }
    entetes = jeton(api, ines.personne_id, departements)
    async with echeancier_de(api, base_url, tmp_path / "cles") as notifications:
        services = {
            "parcours": (api.client, api.client._transport.app),  # type: ignore[attr-defined]
            "projections": (lecture.client, lecture.client._transport.app),  # type: ignore[attr-defined]
            "notifications": (notifications.client, notifications.client._transport.app),  # type: ignore[attr-defined]
        }
        essayees = 0
        for service, (client, app) in services.items():
            for methode, gabarit in _routes(app):
                if gabarit in ROUTES_DU_JEUNE and service == "projections":
                    continue
                chemin = _remplir(gabarit, {k: v for k, v in ids.items() if "{" + k + "}" in gabarit})
                chemin = chemin.replace("{", "").replace("}", "")  # any other parameter: a word
                reponse = await client.request(methode, chemin, headers=entetes, json={})
                assert reponse.status_code in (403, 404), (service, methode, gabarit, reponse.status_code)
                essayees += 1
    assert essayees > 40, "the enumeration found the routes"
