"""Malformed input never makes a 500: it gets a problem+json 4xx and records nothing.

A server error escaping the app would surface here as an exception (the test
client re-raises it), so each of these tests fails on a 500 either way.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.api_parcours import (
    DEPARTEMENTS,
    PROBLEME,
    api_sur_une_base_neuve,
    champs_en_erreur,
    decider_mesure,
    evenements,
    ouvrir,
    probleme,
    referencer_lieu,
)
from tests.integration.conftest import Api

OUVERT_LE = date(2026, 10, 1)
STATUTS_ATTENDUS = {200, 201, 404, 409, 422}


# Refused input changes nothing: the module shares one service and database,
# and each test aims at a parcours of its own.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    async with api_sur_une_base_neuve(postgres_url, tmp_path_factory.mktemp("cles")) as partagee:
        yield partagee


@pytest_asyncio.fixture(loop_scope="module")
async def dossier(api: Api) -> dict[str, str]:
    """A parcours with an active measure and a lieu, to aim commands at."""
    pid = str((await ouvrir(api, OUVERT_LE))["id"])
    mesure_id = await decider_mesure(api, pid, date_debut=OUVERT_LE, date_echeance=date(2027, 4, 1))
    return {"parcours_id": pid, "mesure_id": mesure_id, "lieu_id": await referencer_lieu(api)}


async def _brut(api: Api, chemin: str, contenu: bytes, type_contenu: str = "application/json", **entetes: Any) -> Any:
    return await api.client.post(
        chemin, content=contenu, headers={**api.jeton(), "Content-Type": type_contenu, **entetes}
    )


# -- bodies that are not what a command is -------------------------------------------------------


@pytest.mark.parametrize(
    "contenu",
    [
        b"not json",
        b"{",
        b'{"date_effet": }',
        b"\xff\xfe\x00{",
        b"[]",
        b"[1, 2]",
        b'"2026-10-02"',
        b"null",
        b"42",
        b"true",
        b"{}",
        b'{"date_effet": NaN}',
        b"[" * 50_000,
        b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    ],
    ids=[
        "texte",
        "json_tronque",
        "json_invalide",
        "pas_utf8",
        "tableau_vide",
        "tableau",
        "chaine",
        "null",
        "nombre",
        "booleen",
        "objet_vide",
        "nan",
        "imbrication_trop_profonde",
        "objets_imbriques",
    ],
)
async def test_a_body_that_is_not_a_command_object_is_a_422(api: Api, dossier: dict[str, str], contenu: bytes) -> None:
    pid = dossier["parcours_id"]
    avant = await evenements(api, pid)

    for chemin in (f"/v1/parcours/{pid}/ppe", "/v1/parcours", "/v1/lieux"):
        reponse = await _brut(api, chemin, contenu)
        assert champs_en_erreur(reponse), (chemin, reponse.text)

    assert await evenements(api, pid) == avant


@pytest.mark.parametrize("type_contenu", ["text/plain", "application/x-www-form-urlencoded", "application/xml", ""])
async def test_a_text_plain_body_gets_422_instead_of_415(api: Api, dossier: dict[str, str], type_contenu: str) -> None:
    """Regression: FastAPI read a non-JSON body as bytes and blamed its shape with a 422."""
    pid = dossier["parcours_id"]
    avant = await evenements(api, pid)

    reponse = await _brut(api, f"/v1/parcours/{pid}/ppe", b'{"date_effet": "2026-10-02"}', type_contenu)

    assert probleme(reponse, 415, "type_de_contenu")["detail"]
    assert await evenements(api, pid) == avant


@pytest.mark.parametrize("type_contenu", ["application/json; charset=utf-8", "application/merge-patch+json"])
async def test_a_json_media_type_with_parameters_or_a_suffix_is_json(
    api: Api, dossier: dict[str, str], type_contenu: str
) -> None:
    reponse = await _brut(
        api, f"/v1/parcours/{dossier['parcours_id']}/ppe", b'{"date_effet": "2026-10-02"}', type_contenu
    )

    assert reponse.status_code == 200, reponse.text


async def test_a_body_over_the_limit_is_a_413_before_authentication(api: Api) -> None:
    reponse = await api.client.post(
        "/v1/parcours", content=b" " * (1_048_576 + 1), headers={"Content-Type": "application/json"}
    )

    probleme(reponse, 413, "trop_volumineux")


async def test_majority_takes_an_empty_body_or_none_but_not_a_list(api: Api, dossier: dict[str, str]) -> None:
    chemin = f"/v1/parcours/{dossier['parcours_id']}/majorite"

    sans_corps = await api.client.post(chemin, headers=api.jeton())
    liste = await _brut(api, chemin, b"[]")
    champ_inconnu = await _brut(api, chemin, b'{"date_effet": "2026-10-02"}')

    # Accepted as a command, then refused by the rule: the child is 14.
    assert probleme(sans_corps, 409, "regle_metier")["regle"] == "majorite_pas_encore_atteinte"
    champs_en_erreur(liste)
    assert champs_en_erreur(champ_inconnu) == ["date_effet"]


# -- wrong types -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chemin", "corps", "champ"),
    [
        ("/v1/lieux", {"nom": "L", "type": "mecs", "departement": "59", "capacite": "12"}, "capacite"),
        ("/v1/lieux", {"nom": "L", "type": "mecs", "departement": "59", "capacite": 12.5}, "capacite"),
        ("/v1/lieux", {"nom": "L", "type": "mecs", "departement": "59", "capacite": 12.0}, "capacite"),
        ("/v1/lieux", {"nom": "L", "type": "mecs", "departement": "59", "capacite": True}, "capacite"),
        ("/v1/lieux", {"nom": "L", "type": "mecs", "departement": "59", "capacite": -1}, "capacite"),
        ("/v1/lieux", {"nom": "L", "type": "mecs", "departement": "59", "capacite": 10**30}, "capacite"),
        ("/v1/lieux", {"nom": "L", "type": "mecs", "departement": "59", "capacite": 3, "finess": "12"}, "finess"),
        ("/v1/lieux", {"nom": 12, "type": "mecs", "departement": "59", "capacite": 3}, "nom"),
        ("/v1/lieux", {"nom": "   ", "type": "mecs", "departement": "59", "capacite": 3}, "nom"),
        ("/v1/lieux", {"nom": {"x": 1}, "type": "mecs", "departement": "59", "capacite": 3}, "nom"),
        ("/v1/lieux", {"nom": "L", "type": "mecs", "departement": 59, "capacite": 3}, "departement"),
        ("{p}/rapports", {"transmis_au_juge": "true", "date_effet": "2026-10-02"}, "transmis_au_juge"),
        ("{p}/rapports", {"transmis_au_juge": 1, "date_effet": "2026-10-02"}, "transmis_au_juge"),
        ("{p}/rapports", {"transmis_au_juge": None, "date_effet": "2026-10-02"}, "transmis_au_juge"),
        ("{p}/ppe", {"date_effet": 20250101}, "date_effet"),
        ("{p}/ppe", {"date_effet": 1.5e300}, "date_effet"),
        ("{p}/ppe", {"date_effet": None}, "date_effet"),
        ("{p}/ppe", {"date_effet": ["2026-10-02"]}, "date_effet"),
        (
            "{p}/informations-preoccupantes",
            {"origine": "sante", "dangers": "negligences", "date_effet": "2026-10-02"},
            "dangers",
        ),
        ("{p}/evaluations", {"ip_id": "pas-un-uuid", "suite": "classement", "date_effet": "2026-10-02"}, "ip_id"),
        ("{p}/evaluations", {"ip_id": 12, "suite": "classement", "date_effet": "2026-10-02"}, "ip_id"),
        (
            "{p}/rectifications",
            {"version_rectifiee": "1", "champ": "sexe", "nouvelle_valeur": "M", "motif": "m"},
            "version_rectifiee",
        ),
        (
            "{p}/rectifications",
            {"version_rectifiee": 0, "champ": "sexe", "nouvelle_valeur": "M", "motif": "m"},
            "version_rectifiee",
        ),
        (
            "{p}/sortie",
            {"motif": "autre", "situation_logement": "famille", "date_effet": "2026-10-02", "clore_en_cours": "oui"},
            "clore_en_cours",
        ),
        (
            "{p}/mesures",
            {
                "cadre": "judiciaire",
                "nature": "confiage_ase",
                "autorite": "juge_des_enfants",
                "reference_decision": "JE-1",
                "date_debut": "2026-10-02",
                "date_echeance": "2029-10-01",
                "duree_derogatoire": "true",
                "date_effet": "2026-10-02",
            },
            "duree_derogatoire",
        ),
        (
            "{p}/accompagnement-jeune-majeur",
            {"date_debut": "2026-10-02", "date_fin": "2027-10-01", "fin_annee_engagee": 1, "date_effet": "2026-10-02"},
            "fin_annee_engagee",
        ),
        (
            "{p}/accompagnement-jeune-majeur/renouvellement",
            {"date_fin": "2027-10-01", "fin_annee_engagee": None, "date_effet": "2026-10-02"},
            "fin_annee_engagee",
        ),
        (
            "{p}/rectifications",
            {"version_rectifiee": 1, "champ": "Sexe\x1b", "nouvelle_valeur": "M", "motif": "m"},
            "champ",
        ),
    ],
)
async def test_a_value_of_the_wrong_type_is_a_422_naming_its_field(
    api: Api, dossier: dict[str, str], chemin: str, corps: dict[str, Any], champ: str
) -> None:
    pid = dossier["parcours_id"]
    avant = await evenements(api, pid)

    reponse = await api.post(chemin.replace("{p}", f"/v1/parcours/{pid}"), corps)

    assert champs_en_erreur(reponse) == [champ]
    assert await evenements(api, pid) == avant


@pytest.mark.parametrize(
    "jour",
    [
        "2025-13-45",
        "2025-02-29",
        "2026-02-30",
        "01/02/2025",
        "2025/01/02",
        "2025-1-5",
        "20250101",
        "",
        " 2026-10-02",
        "2026-10-02T10:00:00Z",
        "2026-10-02 10:00",
        "+2026-10-02",
        "0000-01-01",
        "hier",
        "२०२६-१०-०२",
        "2026-W40-5",
    ],
)
async def test_a_date_that_is_not_an_iso_calendar_date_is_a_422(api: Api, dossier: dict[str, str], jour: str) -> None:
    pid = dossier["parcours_id"]

    reponse = await api.post(f"/v1/parcours/{pid}/ppe", {"date_effet": jour})
    naissance = await api.post(
        "/v1/parcours",
        {
            "personne": {"nom": "N", "prenoms": "P", "date_naissance": jour, "sexe": "F"},
            "departement": "59",
            "date_effet": "2026-10-02",
        },
    )

    assert champs_en_erreur(reponse) == ["date_effet"]
    assert champs_en_erreur(naissance) == ["personne.date_naissance"]


async def test_implausible_dates_are_a_422_and_far_plausible_ones_meet_the_rules(
    api: Api, dossier: dict[str, str]
) -> None:
    pid = dossier["parcours_id"]
    avant = await evenements(api, pid)

    for jour in ("9999-12-31", "0001-01-01", "1899-12-31", "2101-01-01"):
        reponse = await api.post(f"/v1/parcours/{pid}/ppe", {"date_effet": jour})
        assert probleme(reponse, 422, "validation")["errors"][0]["champ"] == "date_effet"
    futur = await api.post(f"/v1/parcours/{pid}/ppe", {"date_effet": "2100-12-31"})
    passe = await api.post(f"/v1/parcours/{pid}/ppe", {"date_effet": "1900-01-01"})
    naissance = await api.post(
        "/v1/parcours",
        {
            "personne": {"nom": "N", "prenoms": "P", "date_naissance": "2100-12-31", "sexe": "F"},
            "departement": "59",
            "date_effet": "2026-10-02",
        },
    )

    assert probleme(futur, 409, "regle_metier")["regle"] == "date_effet_future"
    assert probleme(passe, 409, "regle_metier")["regle"] == "date_effet_anterieure"
    assert probleme(naissance, 409, "regle_metier")["regle"] == "date_naissance_invalide"
    assert await evenements(api, pid) == avant


# -- sizes and encodings ---------------------------------------------------------------------------


@pytest.mark.parametrize("taille", [501, 100_000, 200_000])
async def test_an_oversized_text_is_a_422(api: Api, dossier: dict[str, str], taille: int) -> None:
    pid = dossier["parcours_id"]
    long = "é" * taille
    avant = await evenements(api, pid)

    nom = await api.post(
        "/v1/parcours",
        {
            "personne": {"nom": long, "prenoms": "P", "date_naissance": "2012-01-01", "sexe": "F"},
            "departement": "59",
            "date_effet": "2026-10-02",
        },
    )
    reouverture = await api.post(f"/v1/parcours/{pid}/reouverture", {"motif": long, "date_effet": "2026-10-02"})
    decision = await api.post(
        f"/v1/parcours/{pid}/mesures/{dossier['mesure_id']}/renouvellement",
        {"nouvelle_echeance": "2027-10-01", "reference_decision": long, "date_effet": "2026-10-02"},
    )
    rectification = await api.post(
        f"/v1/parcours/{pid}/rectifications",
        {"version_rectifiee": 1, "champ": "referent_id", "nouvelle_valeur": "é" * max(taille, 2_000), "motif": "m"},
    )

    assert champs_en_erreur(nom) == ["personne.nom"]
    assert champs_en_erreur(reouverture) == ["motif"]
    assert champs_en_erreur(decision) == ["reference_decision"]
    assert champs_en_erreur(rectification) == ["nouvelle_valeur"]
    assert await evenements(api, pid) == avant


async def test_a_corrected_value_of_half_a_megabyte_is_refused_not_left_hanging(
    api: Api, dossier: dict[str, str]
) -> None:
    """Regression: such a value was accepted and its insert never returned."""
    pid = dossier["parcours_id"]

    reponse = await api.post(
        f"/v1/parcours/{pid}/rectifications",
        {"version_rectifiee": 1, "champ": "referent_id", "nouvelle_valeur": "x" * 600_000, "motif": "m"},
    )

    assert champs_en_erreur(reponse) == ["nouvelle_valeur"]
    assert (await api.get(f"/v1/parcours/{pid}")).json()["version"] == 2


@pytest.mark.parametrize(
    ("champ_json", "corps_brut"),
    [
        (
            "personne.nom",
            b'{"personne": {"nom": "\\ud800", "prenoms": "P", "date_naissance": "2012-01-01", '
            b'"sexe": "F"}, "departement": "59", "date_effet": "2026-10-02"}',
        ),
        (
            "nouvelle_valeur",
            b'{"version_rectifiee": 1, "champ": "referent_id", "nouvelle_valeur": "\\udfff", "motif": "m"}',
        ),
        (
            "nouvelle_valeur",
            b'{"version_rectifiee": 1, "champ": "referent_id", "nouvelle_valeur": {"\\ud83d": 1}, "motif": "m"}',
        ),
        (
            "nouvelle_valeur",
            b'{"version_rectifiee": 1, "champ": "referent_id", '
            b'"nouvelle_valeur": 123456789012345678901234567890, "motif": "m"}',
        ),
    ],
    ids=["nom", "valeur", "cle_de_valeur", "entier_geant"],
)
async def test_a_lone_surrogate_or_an_unstorable_value_is_a_422(
    api: Api, dossier: dict[str, str], champ_json: str, corps_brut: bytes
) -> None:
    """Regression: a lone surrogate in a corrected value was a 500 (it cannot be serialised)."""
    pid = dossier["parcours_id"]
    chemin = "/v1/parcours" if champ_json.startswith("personne") else f"/v1/parcours/{pid}/rectifications"

    reponse = await _brut(api, chemin, corps_brut)

    assert champs_en_erreur(reponse) == [champ_json]


async def test_a_nul_character_in_any_text_is_a_422(api: Api, dossier: dict[str, str]) -> None:
    """Regression: U+0000 was accepted, then every projection dead-lettered the event (PostgreSQL
    text and jsonb cannot hold it) and the dossier never appeared on the read side."""
    pid = dossier["parcours_id"]
    avant = await evenements(api, pid)
    personne = {"nom": "Du\x00pont", "prenoms": "Léa", "date_naissance": "2012-01-01", "sexe": "F"}

    envois = {
        "personne.nom": await api.post(
            "/v1/parcours", {"personne": personne, "departement": "59", "date_effet": "2026-10-02"}
        ),
        "personne.prenoms": await api.post(
            "/v1/parcours",
            {
                "personne": {**personne, "nom": "Dupont", "prenoms": "L\x00a"},
                "departement": "59",
                "date_effet": "2026-10-02",
            },
        ),
        "referent_id": await api.post(
            f"/v1/parcours/{pid}/referent", {"referent_id": "r\x001", "date_effet": "2026-10-02"}
        ),
        "motif": await api.post(f"/v1/parcours/{pid}/reouverture", {"motif": "\x00", "date_effet": "2026-10-02"}),
        "nom": await api.post("/v1/lieux", {"nom": "MECS\x00", "type": "mecs", "departement": "59", "capacite": 1}),
        "nouvelle_valeur": await api.post(
            f"/v1/parcours/{pid}/rectifications",
            {"version_rectifiee": 1, "champ": "referent_id", "nouvelle_valeur": "r\x002", "motif": "m"},
        ),
    }
    cle_nulle = await api.post(
        f"/v1/parcours/{pid}/rectifications",
        {"version_rectifiee": 1, "champ": "referent_id", "nouvelle_valeur": {"a\x00": "b"}, "motif": "m"},
    )

    for champ, reponse in envois.items():
        assert champs_en_erreur(reponse) == [champ], champ
    assert champs_en_erreur(cle_nulle) == ["nouvelle_valeur"]
    assert await evenements(api, pid) == avant


async def test_an_unknown_field_is_a_422_not_silently_dropped(api: Api, dossier: dict[str, str]) -> None:
    reponse = await api.post(
        f"/v1/parcours/{dossier['parcours_id']}/ppe", {"date_effet": "2026-10-02", "date_effet_bis": "2026-10-03"}
    )

    assert champs_en_erreur(reponse) == ["date_effet_bis"]


# -- paths and headers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "chemin",
    [
        "/v1/parcours/pas-un-uuid/ppe",
        "/v1/parcours/123/ppe",
        "/v1/parcours/%00/ppe",
        "/v1/parcours/{p}/mesures/pas-un-uuid/levee",
        "/v1/lieux/pas-un-uuid/fermeture",
        "/v1/parcours/" + "a" * 5000 + "/ppe",
    ],
)
async def test_an_id_in_the_path_that_is_not_a_uuid_is_a_422(api: Api, dossier: dict[str, str], chemin: str) -> None:
    reponse = await api.post(
        chemin.replace("{p}", dossier["parcours_id"]), {"date_effet": "2026-10-02", "motif": "mainlevee"}
    )

    probleme(reponse, 422, "validation")


@pytest.mark.parametrize(
    "orthographe",
    [lambda u: u.replace("-", ""), lambda u: "{" + u + "}", lambda u: "urn:uuid:" + u],
    ids=["sans_tirets", "accolades", "urn"],
)
async def test_a_path_id_in_another_spelling_named_the_same_parcours(
    api: Api, dossier: dict[str, str], orthographe: Any
) -> None:
    """Regression: pydantic reads 32 hex digits, braces and ``urn:uuid:`` as the same id: one parcours
    answered under four paths (and a command was recorded through any of them)."""
    pid = dossier["parcours_id"]
    avant = await evenements(api, pid)

    lecture = await api.get(f"/v1/parcours/{orthographe(pid)}")
    commande = await api.post(f"/v1/parcours/{orthographe(pid)}/ppe", {"date_effet": "2026-10-02"})

    assert champs_en_erreur(lecture) == ["path.parcours_id"]
    assert champs_en_erreur(commande) == ["path.parcours_id"]
    assert await evenements(api, pid) == avant


async def test_an_id_in_the_path_that_is_not_a_uuid_is_a_422_for_reads_too(api: Api) -> None:
    reponse = await api.get("/v1/parcours/pas-un-uuid/evenements")

    probleme(reponse, 422, "validation")


@pytest.mark.parametrize("valeur", ["abc", '"abc"', '"-1"', '"1.5"', '"1", "2"', '"' + "9" * 40 + '"', "*", ""])
async def test_a_malformed_if_match_is_a_422_and_records_nothing(
    api: Api, dossier: dict[str, str], valeur: str
) -> None:
    pid = dossier["parcours_id"]
    avant = await evenements(api, pid)

    reponse = await api.post(f"/v1/parcours/{pid}/ppe", {"date_effet": "2026-10-02"}, If_Match=valeur)

    assert champs_en_erreur(reponse) == ["header.If-Match"]
    assert await evenements(api, pid) == avant


@pytest.mark.parametrize(
    "valeur", ["k" * 256, "une clé", "a b", "", "\t"], ids=["trop_longue", "non_ascii", "espace", "vide", "tabulation"]
)
async def test_a_malformed_idempotency_key_is_a_422_and_records_nothing(
    api: Api, dossier: dict[str, str], valeur: str
) -> None:
    pid = dossier["parcours_id"]
    avant = await evenements(api, pid)

    reponse = await api.client.post(
        f"/v1/parcours/{pid}/ppe",
        json={"date_effet": "2026-10-02"},
        headers={**api.jeton(), "Idempotency-Key": valeur.encode()},
    )

    assert champs_en_erreur(reponse) == ["header.Idempotency-Key"]
    assert await evenements(api, pid) == avant


async def test_a_key_of_255_visible_characters_is_accepted(api: Api, dossier: dict[str, str]) -> None:
    reponse = await api.post(
        f"/v1/parcours/{dossier['parcours_id']}/ppe", {"date_effet": "2026-10-02"}, Idempotency_Key="k" * 254 + "~"
    )

    assert reponse.status_code == 200, reponse.text


@pytest.mark.parametrize(
    ("methode", "chemin"),
    [
        ("POST", "/v1/inconnu"),
        ("GET", "/v1/inconnu"),
        ("GET", "/inconnu"),
        ("POST", "/v2/parcours"),
        ("POST", "/v1/parcours/{p}/inconnu"),
        ("GET", "/v1/parcours/{p}/evenements/1"),
        ("DELETE", "/v1/parcours/{p}"),
        ("PUT", "/v1/lieux"),
        ("GET", "/v1/lieux"),
    ],
)
async def test_an_unknown_route_or_method_is_a_problem_not_a_crash(
    api: Api, dossier: dict[str, str], methode: str, chemin: str
) -> None:
    reponse = await api.client.request(methode, chemin.replace("{p}", dossier["parcours_id"]), headers=api.jeton())

    assert reponse.status_code in {404, 405}, reponse.text
    assert reponse.headers["content-type"].startswith(PROBLEME)
    if reponse.status_code == 404:
        probleme(reponse, 404, "introuvable")


@pytest.mark.parametrize(
    ("methode", "chemin", "permises"),
    [
        ("GET", "/v1/parcours", "POST"),
        ("DELETE", "/v1/parcours/{p}", "GET"),
        ("PUT", "/v1/lieux", "POST"),
        ("POST", "/v1/parcours/{p}/evenements", "GET"),
        ("POST", "/healthz", "GET"),
    ],
)
async def test_a_405_has_no_allow_header(
    api: Api, dossier: dict[str, str], methode: str, chemin: str, permises: str
) -> None:
    """Regression: the problem handler dropped the ``Allow`` header Starlette's 405 carries (RFC 9110)."""
    reponse = await api.client.request(methode, chemin.replace("{p}", dossier["parcours_id"]), headers=api.jeton())

    probleme(reponse, 405, "methode_non_permise")
    assert reponse.headers["allow"] == permises


# -- random JSON -----------------------------------------------------------------------------------

json_quelconque = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda enfants: st.lists(enfants, max_size=4) | st.dictionaries(st.text(max_size=12), enfants, max_size=4),
    max_leaves=15,
)
jours = st.dates(min_value=date(1990, 1, 1), max_value=date(2030, 12, 31)).map(date.isoformat) | st.sampled_from(
    ["2025-13-45", "01/02/2025", "", "2026-10-02"]
)
uuids = st.uuids().map(str) | st.sampled_from(["pas-un-uuid", ""])


def _corps(champs: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """Random JSON, or an object with the command's keys holding plausible or random values."""
    plausibles = {cle: valeurs | json_quelconque for cle, valeurs in champs.items()}
    avec_les_cles = st.fixed_dictionaries({}, optional=plausibles)
    return (
        json_quelconque
        | avec_les_cles
        | avec_les_cles.flatmap(
            lambda d: st.dictionaries(st.text(max_size=8), json_quelconque, max_size=2).map(
                lambda extra: {**extra, **d}
            )
        )
    )


def _cibles(dossier: dict[str, str]) -> dict[str, st.SearchStrategy[Any]]:
    pid = dossier["parcours_id"]
    les_miens = st.sampled_from([dossier["mesure_id"], dossier["lieu_id"], pid]) | uuids
    departements = st.sampled_from(["59", "62", "2A", "971", "20", "2a", "00"])
    return {
        "/v1/parcours": _corps(
            {
                "personne": st.fixed_dictionaries(
                    {},
                    optional={
                        "nom": st.text(max_size=30),
                        "prenoms": st.text(max_size=30),
                        "date_naissance": jours,
                        "sexe": st.sampled_from(["F", "M", "X", "f", "Z"]),
                    },
                ),
                "departement": departements,
                "date_effet": jours,
                "referent_id": st.text(max_size=10),
            }
        ),
        "/v1/lieux": _corps(
            {
                "nom": st.text(max_size=30),
                "type": st.sampled_from(["mecs", "hotel", "MECS", "famille"]),
                "departement": departements,
                "capacite": st.integers(-5, 200_000),
                "finess": st.sampled_from(["590000123", "2A0000012", "12"]),
            }
        ),
        f"/v1/parcours/{pid}/mesures": _corps(
            {
                "cadre": st.sampled_from(["administratif", "judiciaire", "autre"]),
                "nature": st.sampled_from(["opp", "confiage_ase", "aed", "accueil_72h", "aemo_renforcee", "x"]),
                "autorite": st.sampled_from(["parquet", "juge_des_enfants", "president_cd", "x"]),
                "reference_decision": st.text(max_size=20),
                "date_debut": jours,
                "date_echeance": jours,
                "duree_derogatoire": st.booleans(),
                "date_effet": jours,
            }
        ),
        f"/v1/parcours/{pid}/accompagnement-jeune-majeur": _corps(
            {
                "date_debut": jours,
                "date_fin": jours,
                "fin_annee_engagee": st.booleans(),
                "date_effet": jours,
            }
        ),
        f"/v1/parcours/{pid}/accueil": _corps({"mesure_id": les_miens, "lieu_id": les_miens, "date_effet": jours}),
        f"/v1/parcours/{pid}/rectifications": _corps(
            {
                "version_rectifiee": st.integers(-2, 10**20),
                "champ": st.sampled_from(["sexe", "date_naissance", "referent_id", "departement", "personne_id", "x"]),
                "nouvelle_valeur": json_quelconque | jours | st.sampled_from(["F", "M", "62"]),
                "motif": st.text(max_size=20),
            }
        ),
        f"/v1/parcours/{pid}/sortie": _corps(
            {
                "motif": st.sampled_from(["autre", "deces", "x"]),
                "situation_logement": st.sampled_from(["famille", "inconnue", "x"]),
                "date_effet": jours,
                "clore_en_cours": st.booleans(),
            }
        ),
    }


CIBLES = ["/v1/parcours", "/v1/lieux", "mesures", "accueil", "rectifications", "sortie", "accompagnement-jeune-majeur"]


@pytest.mark.parametrize("cible", CIBLES)
@settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(donnees=st.data())
async def test_random_json_never_makes_a_server_error(
    api: Api, dossier: dict[str, str], cible: str, donnees: st.DataObject
) -> None:
    chemin = next(c for c in _cibles(dossier) if c.endswith(cible))
    corps = donnees.draw(_cibles(dossier)[chemin], label="corps")
    partout = api.jeton(departements=tuple(DEPARTEMENTS))

    reponse = await api.post(chemin, corps, **partout)

    assert reponse.status_code in STATUTS_ATTENDUS, reponse.text
    if reponse.status_code >= 400:
        assert reponse.headers["content-type"].startswith(PROBLEME)
        assert reponse.json()["status"] == reponse.status_code


async def test_after_all_that_the_dossier_still_reads_and_replays(api: Api, dossier: dict[str, str]) -> None:
    pid = dossier["parcours_id"]
    await _brut(api, f"/v1/parcours/{pid}/ppe", b"[" * 50_000)
    await api.post(
        f"/v1/parcours/{pid}/rectifications",
        {"version_rectifiee": 1, "champ": "referent_id", "nouvelle_valeur": "x" * 600_000, "motif": "m"},
    )

    vu = await api.get(f"/v1/parcours/{pid}")
    flux = await evenements(api, pid)

    assert vu.status_code == 200
    assert vu.json()["version"] == len(flux) == 2
    assert uuid.UUID(vu.json()["id"]) == uuid.UUID(pid)
