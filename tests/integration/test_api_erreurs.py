"""Every error code of API.md, as RFC 9457 problem details, and what a refusal leaves behind: nothing."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from services.runtime.auth import CleDeDeveloppement
from tests.integration.api_parcours import (
    champs_en_erreur,
    decider_mesure,
    evenements,
    ouvrir,
    probleme,
    referencer_lieu,
)
from tests.integration.conftest import Api

OUVERT_LE = date(2026, 10, 1)
SIX_MOIS_APRES = date(2027, 4, 1)
"""An administrative measure's échéance: required, at most a year after its start."""


async def _parcours(api: Api) -> str:
    return str((await ouvrir(api, OUVERT_LE))["id"])


async def _inchange(api: Api, parcours_id: str, avant: list[dict[str, Any]]) -> None:
    apres = await evenements(api, parcours_id)
    assert apres == avant, "a refused command records nothing"
    vu = await api.get(f"/v1/parcours/{parcours_id}")
    assert vu.json()["version"] == len(avant)


# -- 422 validation ----------------------------------------------------------------------------


async def test_a_body_with_five_bad_fields_gets_one_validation_entry_per_field(api: Api) -> None:
    reponse = await api.post(
        "/v1/parcours",
        {
            "personne": {"nom": "Martin", "prenoms": "Zoé", "date_naissance": "2012-13-01", "sexe": "Z"},
            "departement": "20",
            "date_effet": "hier",
            "couleur": "bleu",
        },
    )

    champs = champs_en_erreur(reponse)
    assert sorted(champs) == sorted(
        ["personne.date_naissance", "personne.sexe", "departement", "date_effet", "couleur"]
    )
    assert reponse.json()["detail"].startswith("5 ")
    for entree in reponse.json()["errors"]:
        assert entree["message"], entree


async def test_missing_fields_are_each_named(api: Api) -> None:
    pid = await _parcours(api)
    avant = await evenements(api, pid)

    reponse = await api.post(f"/v1/parcours/{pid}/mesures", {"cadre": "judiciaire"})

    assert sorted(champs_en_erreur(reponse)) == sorted(
        ["nature", "autorite", "reference_decision", "date_debut", "date_effet"]
    )
    await _inchange(api, pid, avant)


async def test_a_validation_error_does_not_echo_the_input(api: Api) -> None:
    reponse = await api.post(
        "/v1/parcours",
        {
            "personne": {"nom": "Kerhervé", "prenoms": "Zoé", "date_naissance": "03/05/2012", "sexe": "F"},
            "departement": "59",
            "date_effet": "2026-10-01",
        },
    )

    assert champs_en_erreur(reponse) == ["personne.date_naissance"]
    assert "Kerhervé" not in reponse.text
    assert "03/05/2012" not in reponse.text


# -- 409 regle_metier and conflit_de_version ----------------------------------------------------


async def test_a_broken_rule_is_a_409_naming_the_rule_and_records_nothing(api: Api) -> None:
    pid = await _parcours(api)
    mesure_id = await decider_mesure(api, pid, nature="aed", date_debut=OUVERT_LE, date_echeance=SIX_MOIS_APRES)
    lieu_id = await referencer_lieu(api)
    avant = await evenements(api, pid)

    reponse = await api.post(
        f"/v1/parcours/{pid}/accueil", {"mesure_id": mesure_id, "lieu_id": lieu_id, "date_effet": "2026-10-02"}
    )

    corps = probleme(reponse, 409, "regle_metier")
    assert corps["regle"] == "mesure_sans_accueil"
    assert corps["detail"]
    await _inchange(api, pid, avant)


async def test_a_date_of_effect_in_the_future_is_a_409(api: Api) -> None:
    pid = await _parcours(api)
    avant = await evenements(api, pid)

    reponse = await api.post(f"/v1/parcours/{pid}/ppe", {"date_effet": "2026-11-29"})

    assert probleme(reponse, 409, "regle_metier")["regle"] == "date_effet_future"
    await _inchange(api, pid, avant)


async def test_a_stale_if_match_is_a_version_conflict_and_records_nothing(api: Api) -> None:
    pid = await _parcours(api)
    ok = await api.post(f"/v1/parcours/{pid}/ppe", {"date_effet": "2026-10-02"}, If_Match='"1"')
    assert ok.status_code == 200, ok.text
    avant = await evenements(api, pid)

    reponse = await api.post(
        f"/v1/parcours/{pid}/rapports", {"transmis_au_juge": False, "date_effet": "2026-10-03"}, If_Match='"1"'
    )

    corps = probleme(reponse, 409, "conflit_de_version")
    assert corps["version_actuelle"] == 2
    await _inchange(api, pid, avant)
    courant = await api.post(
        f"/v1/parcours/{pid}/rapports", {"transmis_au_juge": False, "date_effet": "2026-10-03"}, If_Match='"2"'
    )
    assert courant.status_code == 200, courant.text
    assert courant.json()["version"] == 3


async def test_an_if_match_ahead_of_the_stream_is_a_version_conflict_too(api: Api) -> None:
    pid = await _parcours(api)
    avant = await evenements(api, pid)

    reponse = await api.post(f"/v1/parcours/{pid}/ppe", {"date_effet": "2026-10-02"}, If_Match='"7"')

    probleme(reponse, 409, "conflit_de_version")
    await _inchange(api, pid, avant)


# -- 404 introuvable --------------------------------------------------------------------------


async def test_an_unknown_parcours_is_a_404_for_reads_and_commands(api: Api) -> None:
    inconnu = uuid.uuid4()

    for reponse in (
        await api.get(f"/v1/parcours/{inconnu}"),
        await api.get(f"/v1/parcours/{inconnu}/evenements"),
        await api.post(f"/v1/parcours/{inconnu}/ppe", {"date_effet": "2026-10-02"}),
        await api.post(f"/v1/parcours/{inconnu}/majorite", {}),
    ):
        probleme(reponse, 404, "introuvable")


async def test_an_unknown_lieu_is_a_404_and_records_nothing(api: Api) -> None:
    pid = await _parcours(api)
    mesure_id = await decider_mesure(api, pid, date_debut=OUVERT_LE, date_echeance=SIX_MOIS_APRES)
    avant = await evenements(api, pid)
    inconnu = uuid.uuid4()

    placement = await api.post(
        f"/v1/parcours/{pid}/accueil", {"mesure_id": mesure_id, "lieu_id": str(inconnu), "date_effet": "2026-10-02"}
    )
    capacite = await api.post(f"/v1/lieux/{inconnu}/capacite", {"capacite": 3, "date_effet": "2026-10-02"})
    fermeture = await api.post(f"/v1/lieux/{inconnu}/fermeture", {"date_effet": "2026-10-02"})

    for reponse in (placement, capacite, fermeture):
        probleme(reponse, 404, "introuvable")
    await _inchange(api, pid, avant)


async def test_an_unknown_mesure_or_ip_is_a_404_and_records_nothing(api: Api) -> None:
    pid = await _parcours(api)
    avant = await evenements(api, pid)
    inconnue = uuid.uuid4()

    for reponse in (
        await api.post(
            f"/v1/parcours/{pid}/mesures/{inconnue}/levee", {"motif": "mainlevee", "date_effet": "2026-10-02"}
        ),
        await api.post(
            f"/v1/parcours/{pid}/mesures/{inconnue}/renouvellement",
            {"nouvelle_echeance": "2027-10-01", "reference_decision": "X", "date_effet": "2026-10-02"},
        ),
        await api.post(
            f"/v1/parcours/{pid}/evaluations",
            {"ip_id": str(inconnue), "suite": "classement", "date_effet": "2026-10-02"},
        ),
    ):
        probleme(reponse, 404, "introuvable")
    await _inchange(api, pid, avant)


async def test_a_parcours_of_another_departement_is_a_404_not_a_403(api: Api) -> None:
    pid = await _parcours(api)
    avant = await evenements(api, pid)
    ailleurs = api.jeton(departements=("62",), sub="referent-du-62")

    lecture = await api.client.get(f"/v1/parcours/{pid}", headers=ailleurs)
    flux = await api.client.get(f"/v1/parcours/{pid}/evenements", headers=ailleurs)
    ecriture = await api.post(f"/v1/parcours/{pid}/ppe", {"date_effet": "2026-10-02"}, **ailleurs)

    for reponse in (lecture, flux, ecriture):
        corps = probleme(reponse, 404, "introuvable")
    inconnu = await api.client.get(f"/v1/parcours/{uuid.uuid4()}", headers=ailleurs)
    assert corps["title"] == inconnu.json()["title"], "out of reach reads exactly like unknown"
    await _inchange(api, pid, avant)


async def test_a_lieu_of_another_departement_is_a_404(api: Api) -> None:
    lieu_id = await referencer_lieu(api, departement="62")

    reponse = await api.post(f"/v1/lieux/{lieu_id}/fermeture", {"date_effet": "2026-10-02"})

    probleme(reponse, 404, "introuvable")


# -- 401 non_authentifie ------------------------------------------------------------------------


async def _jetons_refuses(api: Api, tmp_path: Path) -> dict[str, dict[str, str]]:
    autre_cle = CleDeDeveloppement.dans(tmp_path / "une-autre-cle")
    return {
        "sans_jeton": {},
        "signature_d_une_autre_cle": {
            "Authorization": "Bearer " + autre_cle.signer(sub="alice", roles=["referent"], departements=["59"])
        },
        "expire": {
            "Authorization": "Bearer "
            + api.cle.signer(sub="alice", roles=["referent"], departements=["59"], duree_s=-120)
        },
        "charabia": {"Authorization": "Bearer pas.un.jeton"},
        "vide": {"Authorization": "Bearer "},
        "schema_basic": {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
    }


async def test_a_missing_or_bad_token_is_a_401_and_records_nothing(api: Api, tmp_path: Path) -> None:
    pid = await _parcours(api)
    avant = await evenements(api, pid)

    for nom, entetes in (await _jetons_refuses(api, tmp_path)).items():
        commande = await api.client.post(f"/v1/parcours/{pid}/ppe", json={"date_effet": "2026-10-02"}, headers=entetes)
        lecture = await api.client.get(f"/v1/parcours/{pid}", headers=entetes)
        creation = await api.client.post(
            "/v1/lieux", json={"nom": "L", "type": "mecs", "departement": "59", "capacite": 1}, headers=entetes
        )
        for reponse in (commande, lecture, creation):
            assert reponse.status_code == 401, (nom, reponse.text)
            probleme(reponse, 401, "non_authentifie")
            assert reponse.headers.get("www-authenticate", "").startswith("Bearer"), nom
    await _inchange(api, pid, avant)


async def test_an_anonymous_caller_gets_401_before_any_word_about_its_body(api: Api) -> None:
    reponse = await api.client.post("/v1/parcours", json={"personne": "pas un objet"})

    probleme(reponse, 401, "non_authentifie")


# -- 403 interdit --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["observatoire", "service", "auditeur"])
async def test_a_role_that_does_not_write_is_refused_every_command(api: Api, role: str) -> None:
    pid = await _parcours(api)
    lieu_id = await referencer_lieu(api)
    avant = await evenements(api, pid)
    entetes = api.jeton(role=role, sub=f"{role}-1")

    for reponse in (
        await api.post(f"/v1/parcours/{pid}/ppe", {"date_effet": "2026-10-02"}, **entetes),
        await api.post(
            "/v1/parcours",
            {
                "personne": {"nom": "N", "prenoms": "P", "date_naissance": "2012-01-01", "sexe": "F"},
                "departement": "59",
                "date_effet": "2026-10-02",
            },
            **entetes,
        ),
        await api.post("/v1/lieux", {"nom": "L", "type": "mecs", "departement": "59", "capacite": 1}, **entetes),
        await api.post(f"/v1/lieux/{lieu_id}/fermeture", {"date_effet": "2026-10-02"}, **entetes),
    ):
        probleme(reponse, 403, "interdit")
    await _inchange(api, pid, avant)


@pytest.mark.parametrize("role", ["observatoire", "service"])
async def test_roles_outside_casework_do_not_read_a_dossier(api: Api, role: str) -> None:
    pid = await _parcours(api)

    reponse = await api.client.get(f"/v1/parcours/{pid}", headers=api.jeton(role=role))

    probleme(reponse, 403, "interdit")


async def test_opening_a_parcours_or_a_lieu_outside_ones_departements_is_a_403(api: Api) -> None:
    avant = api.application.recorder.max_notification_id()

    parcours = await api.post(
        "/v1/parcours",
        {
            "personne": {"nom": "N", "prenoms": "P", "date_naissance": "2012-01-01", "sexe": "F"},
            "departement": "62",
            "date_effet": "2026-10-02",
        },
    )
    lieu = await api.post("/v1/lieux", {"nom": "L", "type": "mecs", "departement": "62", "capacite": 1})

    probleme(parcours, 403, "interdit")
    probleme(lieu, 403, "interdit")
    assert api.application.recorder.max_notification_id() == avant, "nothing recorded anywhere"
