"""The access log, complete: every read of personal data, by either service, names each parcours it showed.

Real PostgreSQL; the write side and the read side share it, as in every mode.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx

from services.parcours.api.app import creer_app as creer_app_parcours
from services.projections.api.app import creer_app as creer_app_projections
from services.runtime.journal_acces import JournalAccesMemoire, preparer
from tests.integration.api_parcours import decider_mesure, ouvrir, personne, probleme, referencer_lieu
from tests.integration.conftest import Api, Lecture

OUVERT_LE = date(2026, 11, 2)
UUID_TEXTE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

SANS_DONNEES_PERSONNELLES = {
    ("projections", "/v1/pilotage/occupation"): "counts per département and type of lieu",
    ("projections", "/v1/pilotage/indicateurs"): "ratios over cohorts, no child named",
    ("projections", "/v1/pilotage/lieux"): "places and children counted per lieu, no child named",
    ("projections", "/v1/lieux"): "the lieux and their counts, no child named (recorded all the same: "
    "an assistant familial's name; see tests/integration/test_lecture_lieux.py)",
}
"""GET routes that show nobody: each says why. Any other GET route must record its reads."""


@dataclass
class Monde:
    """Two children of the Nord named Dupont, one of the Pas-de-Calais, a lieu, measures."""

    alice: str
    bruno: str
    ailleurs: str
    lieu: str
    personne_alice: str


async def monde(api: Api, lecture: Lecture) -> Monde:
    lieu = await referencer_lieu(api)
    ouverture_alice = await ouvrir(api, OUVERT_LE, personne=personne("Dupont", "Alice"))
    alice = ouverture_alice["id"]
    bruno = (await ouvrir(api, OUVERT_LE, personne=personne("Dupont", "Bruno")))["id"]
    ailleurs = (
        await api.post(
            "/v1/parcours",
            {"personne": personne("Dupont", "Chloé"), "departement": "62", "date_effet": OUVERT_LE.isoformat()},
            **api.jeton(departements=("62",)),
        )
    ).json()["id"]
    for pid in (alice, bruno):
        mesure = await decider_mesure(api, pid, date_debut=OUVERT_LE, date_echeance=date(2027, 5, 1))
        accueil = await api.post(
            f"/v1/parcours/{pid}/accueil",
            {"mesure_id": mesure, "lieu_id": lieu, "date_effet": OUVERT_LE.isoformat()},
        )
        assert accueil.status_code == 200, accueil.text
    await lecture.a_jour()
    return Monde(alice, bruno, ailleurs, lieu, ouverture_alice["personne_id"])


def routes_get() -> set[tuple[str, str]]:
    """Every GET route of every service that reads data, from their OpenAPI documents (probes aside)."""
    trouvees: set[tuple[str, str]] = set()
    for service, app in (("parcours", creer_app_parcours()), ("projections", creer_app_projections())):
        for chemin, operations in app.openapi()["paths"].items():
            if "get" in operations and chemin.startswith("/v1/"):
                trouvees.add((service, chemin))
    return trouvees


@dataclass(frozen=True)
class Appel:
    role: str
    chemin: str
    params: dict[str, str]
    personne_id: str | None = None
    """A ``jeune`` reads as this person (the token's ``personne_id``)."""

    def jeton(self, api: Api, sub: str) -> dict[str, str]:
        if self.personne_id is None:
            return api.jeton(self.role, ("59",), sub)
        signe = api.cle.signer(sub=sub, roles=[self.role], departements=[], personne_id=UUID(self.personne_id))
        return {"Authorization": "Bearer " + signe}


def appels(m: Monde) -> dict[tuple[str, str], Appel]:
    """How each read route is called so that it shows personal data."""
    return {
        ("parcours", "/v1/parcours/{parcours_id}"): Appel("referent", f"/v1/parcours/{m.alice}", {}),
        ("parcours", "/v1/parcours/{parcours_id}/evenements"): Appel(
            "referent", f"/v1/parcours/{m.alice}/evenements", {}
        ),
        ("projections", "/v1/dossiers"): Appel("referent", "/v1/dossiers", {"q": "dupont"}),
        ("projections", "/v1/dossiers/{parcours_id}"): Appel("referent", f"/v1/dossiers/{m.bruno}", {}),
        ("projections", "/v1/echeances"): Appel("referent", "/v1/echeances", {}),
        ("projections", "/v1/lieux/{lieu_id}/occupation"): Appel("referent", f"/v1/lieux/{m.lieu}/occupation", {}),
        ("projections", "/v1/audit/parcours/{parcours_id}/chronologie"): Appel(
            "auditeur", f"/v1/audit/parcours/{m.alice}/chronologie", {}
        ),
        ("projections", "/v1/audit/parcours/{parcours_id}/etat"): Appel(
            "auditeur", f"/v1/audit/parcours/{m.bruno}/etat", {}
        ),
        ("projections", "/v1/jeune/parcours"): Appel("jeune", "/v1/jeune/parcours", {}, m.personne_alice),
        ("projections", "/v1/jeune/parcours/{parcours_id}"): Appel(
            "jeune", f"/v1/jeune/parcours/{m.alice}", {}, m.personne_alice
        ),
        ("projections", "/v1/statistiques/olinpe"): Appel("observatoire", "/v1/statistiques/olinpe", {"annee": "2026"}),
        # Last: the access log shows the lines the reads above left.
        ("projections", "/v1/audit/acces"): Appel("auditeur", "/v1/audit/acces", {}),
    }


def client(api: Api, lecture: Lecture, service: str) -> httpx.AsyncClient:
    return api.client if service == "parcours" else lecture.client


def uuids(valeur: Any) -> Iterator[str]:
    """Every UUID anywhere in a JSON answer."""
    if isinstance(valeur, dict):
        for v in valeur.values():
            yield from uuids(v)
    elif isinstance(valeur, list):
        for v in valeur:
            yield from uuids(v)
    elif isinstance(valeur, str) and UUID_TEXTE.match(valeur):
        yield valeur


async def journal(lecture: Lecture, departement: str = "59", **params: str) -> list[dict[str, Any]]:
    """Every line an auditor of ``departement`` sees with these filters (one big page)."""
    reponse = await lecture.client.get(
        "/v1/audit/acces",
        params={"taille": "500", **params},
        headers=lecture.api.jeton("auditeur", (departement,), f"inspection-{departement}"),
    )
    assert reponse.status_code == 200, reponse.text
    elements: list[dict[str, Any]] = reponse.json()["elements"]
    return elements


async def test_every_get_route_of_every_service_is_either_recorded_or_declared_to_show_nobody(
    api: Api, lecture: Lecture
) -> None:
    m = await monde(api, lecture)

    assert routes_get() == set(appels(m)) | set(SANS_DONNEES_PERSONNELLES), (
        "a new GET route must record its reads in the access log (and be added here), or be declared as showing nobody"
    )


async def test_for_every_read_route_of_every_service_a_read_of_personal_data_names_each_returned_parcours(
    api: Api, lecture: Lecture
) -> None:
    m = await monde(api, lecture)
    connus = {m.alice, m.bruno, m.ailleurs}

    for (service, gabarit), appel in appels(m).items():
        sub = f"lecteur-{len(gabarit)}-{appel.chemin.count('/')}-{service}"
        reponse = await client(api, lecture, service).get(
            appel.chemin, params=appel.params or None, headers=appel.jeton(api, sub)
        )
        assert reponse.status_code == 200, (gabarit, reponse.text)
        montres = (
            {u for u in uuids(reponse.json()) if u in connus}
            if reponse.headers["content-type"].startswith("application/json")
            else set()
        ) | {u for u in connus if u in appel.chemin}  # a route on one parcours shows that one
        if gabarit != "/v1/statistiques/olinpe":
            assert montres, f"{gabarit}: the call shows nobody, the test would prove nothing"

        lignes = await journal(lecture, sub=sub)

        assert lignes, f"{service} {gabarit}: no line in the access log"
        assert {(ligne["service"], ligne["methode"], ligne["route"]) for ligne in lignes} == {(service, "GET", gabarit)}
        assert {ligne["termes"].get(k, [None])[0] for ligne in lignes for k in appel.params} <= set(
            appel.params.values()
        )
        assert montres <= {ligne["parcours_id"] for ligne in lignes}, f"{gabarit}: a returned parcours is not named"


async def test_get_dossiers_q_name_is_logged_with_its_query_and_the_ids_it_returned(api: Api, lecture: Lecture) -> None:
    m = await monde(api, lecture)

    trouves = await lecture.get("/v1/dossiers", role="referent", sub="referente-r", q="dupont")
    lignes = await journal(lecture, sub="referente-r")
    par_dossier = await journal(lecture, parcours_id=m.bruno)

    assert {d["parcours_id"] for d in trouves.json()["dossiers"]} == {m.alice, m.bruno}
    assert sorted(ligne["parcours_id"] for ligne in lignes) == sorted([m.alice, m.bruno])
    assert {json.dumps(ligne["termes"]) for ligne in lignes} == {'{"q": ["dupont"]}'}
    assert {(ligne["chemin"], ligne["nb_parcours"], ligne["departement"]) for ligne in lignes} == {
        ("/v1/dossiers", 2, "59")
    }
    assert len({ligne["lecture_id"] for ligne in lignes}) == 1, "one read, one line per dossier"
    assert [ligne["sub"] for ligne in par_dossier if ligne["route"] == "/v1/dossiers"] == ["referente-r"]


async def test_get_echeances_names_every_dossier_of_the_worklist(api: Api, lecture: Lecture) -> None:
    m = await monde(api, lecture)

    travail = await lecture.get("/v1/echeances", role="referent", sub="referente-e")
    lignes = await journal(lecture, sub="referente-e")

    listes = {e["parcours_id"] for e in travail.json()["echeances"]}
    assert listes == {m.alice, m.bruno}
    assert {ligne["parcours_id"] for ligne in lignes} == listes
    assert {ligne["route"] for ligne in lignes} == {"/v1/echeances"}


async def test_get_parcours_and_its_evenements_on_the_write_side_are_in_the_access_log(
    api: Api, lecture: Lecture
) -> None:
    m = await monde(api, lecture)

    etat = await api.client.get(f"/v1/parcours/{m.alice}", headers=api.jeton("referent", ("59",), "referente-w"))
    flux = await api.client.get(
        f"/v1/parcours/{m.alice}/evenements", headers=api.jeton("referent", ("59",), "referente-w")
    )
    lignes = await journal(lecture, parcours_id=m.alice, sub="referente-w", ordre="ancien")

    assert etat.status_code == flux.status_code == 200
    assert [(ligne["service"], ligne["route"], ligne["parcours_id"], ligne["departement"]) for ligne in lignes] == [
        ("parcours", "/v1/parcours/{parcours_id}", m.alice, "59"),
        ("parcours", "/v1/parcours/{parcours_id}/evenements", m.alice, "59"),
    ]


async def test_list_reads_are_visible_to_the_auditor_by_sub_even_when_they_found_nobody(
    api: Api, lecture: Lecture
) -> None:
    m = await monde(api, lecture)

    await lecture.get("/v1/dossiers", role="referent", sub="referente-l", q="personne de ce nom")
    await lecture.get("/v1/dossiers", role="referent", sub="referente-l", statut="ouvert")
    lignes = await journal(lecture, sub="referente-l", ordre="ancien")
    vu_du_62 = await journal(lecture, departement="62", sub="referente-l")

    assert len(lignes) == 3
    assert (lignes[0]["chemin"], lignes[0]["parcours_id"], lignes[0]["nb_parcours"]) == (
        "/v1/dossiers",
        None,
        0,
    ), "a search that found nobody is still one line"
    assert lignes[0]["termes"] == {"q": ["personne de ce nom"]}
    assert {(ligne["chemin"], ligne["parcours_id"]) for ligne in lignes[1:]} == {
        ("/v1/dossiers", m.alice),
        ("/v1/dossiers", m.bruno),
    }
    assert vu_du_62 == [], "a read made under 59 is not 62's auditors' business"


async def test_the_access_log_filters_by_period_and_reads_soonest_or_latest_first(api: Api, lecture: Lecture) -> None:
    m = await monde(api, lecture)
    for _ in range(3):
        assert (await lecture.get(f"/v1/dossiers/{m.alice}", role="referent", sub="referente-p")).status_code == 200

    recents = await journal(lecture, sub="referente-p")
    anciens = await journal(lecture, sub="referente-p", ordre="ancien")
    milieu = datetime.fromisoformat(anciens[1]["lu_le"])
    depuis = await journal(lecture, sub="referente-p", depuis=milieu.isoformat())
    avant = await journal(lecture, sub="referente-p", jusqu_a=milieu.isoformat())
    rien = await journal(lecture, sub="referente-p", depuis=(milieu + timedelta(days=1)).isoformat())

    assert [ligne["lecture_id"] for ligne in recents] == [ligne["lecture_id"] for ligne in reversed(anciens)]
    assert len(anciens) == 3
    assert [ligne["lecture_id"] for ligne in depuis] == [anciens[2]["lecture_id"], anciens[1]["lecture_id"]], (
        "depuis is inclusive"
    )
    assert [ligne["lecture_id"] for ligne in avant] == [anciens[0]["lecture_id"]], "jusqu_a is exclusive"
    assert rien == []
    probleme(await lecture.get("/v1/audit/acces", role="auditeur", depuis="2026-11-28T10:00:00"), 422, "validation")
    probleme(await lecture.get("/v1/audit/acces", role="auditeur", ordre="au_hasard"), 422, "validation")


async def test_a_read_whose_access_line_cannot_be_written_is_a_503_never_the_data(api: Api, lecture: Lecture) -> None:
    m = await monde(api, lecture)
    lecture.comp.journal = JournalAccesMemoire(en_panne=True)

    lectures: list[tuple[str, dict[str, Any]]] = [
        (f"/v1/dossiers/{m.alice}", {}),
        ("/v1/dossiers", {"q": "dupont"}),
        ("/v1/echeances", {}),
    ]
    for chemin, params in lectures:
        reponse = await lecture.get(chemin, role="referent", **params)
        assert reponse.status_code == 503, reponse.text
        assert reponse.json()["code"] == "indisponible"
        assert "Dupont" not in reponse.text
        assert m.alice not in reponse.text


async def test_an_access_log_of_the_first_version_is_migrated_in_place_keeping_its_lines(base_url: str) -> None:
    conn = await asyncpg.connect(base_url)
    try:
        await conn.execute(
            "CREATE TABLE public.journal_acces (id bigserial PRIMARY KEY, sub text NOT NULL, "
            "parcours_id uuid, chemin text NOT NULL, lu_le timestamptz NOT NULL DEFAULT now())"
        )
        await conn.execute("INSERT INTO public.journal_acces (sub, chemin) VALUES ('ancienne', '/v1/dossiers')")

        await preparer(conn)
        await preparer(conn)

        ligne = await conn.fetchrow("SELECT sub, chemin, termes, departements, nb_parcours FROM public.journal_acces")
        index = {
            r["indexname"]
            for r in await conn.fetch("SELECT indexname FROM pg_indexes WHERE tablename = 'journal_acces'")
        }
    finally:
        await conn.close()
    assert ligne is not None
    assert (ligne["sub"], ligne["chemin"], ligne["departements"], ligne["nb_parcours"]) == (
        "ancienne",
        "/v1/dossiers",
        [],
        0,
    )
    assert {"journal_acces_sub", "journal_acces_parcours", "journal_acces_departement"} <= index
