"""``Idempotency-Key``: a retried request gets the first response and records nothing twice,
whether it comes back later, at the same moment, or after the service restarted."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Callable
from datetime import date
from typing import Any

import orjson
import psycopg
import pytest

from services.parcours.domain.parcours import Parcours
from tests.integration.api_parcours import (
    autre_instance,
    corps_ouverture,
    etat,
    evenements,
    ouvrir,
    probleme,
)
from tests.integration.conftest import Api

OUVERT_LE = date(2026, 10, 1)
ATTENTE_MAX_S = 20


def _notifications(api: Api) -> int:
    """How many events the whole store holds (every stream)."""
    return api.application.recorder.max_notification_id() or 0


async def test_a_retried_opening_returns_the_first_response_and_opens_one_parcours(api: Api) -> None:
    corps = corps_ouverture(OUVERT_LE)

    premiere = await api.post("/v1/parcours", corps, Idempotency_Key="ouverture-7f3a")
    apres_la_premiere = _notifications(api)
    reprise = await api.post("/v1/parcours", corps, Idempotency_Key="ouverture-7f3a")

    assert premiere.status_code == 201, premiere.text
    assert (reprise.status_code, reprise.json()) == (201, premiere.json())
    assert apres_la_premiere == 2, "an identity and a parcours"
    assert _notifications(api) == apres_la_premiere


async def test_a_retried_command_returns_the_first_response_even_after_the_stream_moved_on(api: Api) -> None:
    pid = (await ouvrir(api, OUVERT_LE))["id"]

    premiere = await api.post(
        f"/v1/parcours/{pid}/ppe", {"date_effet": "2026-10-02"}, If_Match='"1"', Idempotency_Key="ppe-1"
    )
    reprise = await api.post(
        f"/v1/parcours/{pid}/ppe", {"date_effet": "2026-10-02"}, If_Match='"1"', Idempotency_Key="ppe-1"
    )
    ensuite = await api.post(f"/v1/parcours/{pid}/referent", {"referent_id": "r2", "date_effet": "2026-10-03"})
    tardive = await api.post(
        f"/v1/parcours/{pid}/ppe", {"date_effet": "2026-10-02"}, If_Match='"1"', Idempotency_Key="ppe-1"
    )

    assert premiere.status_code == 200, premiere.text
    assert premiere.json() == {"id": pid, "version": 2, "evenements": ["PPEEtabli"]}
    for retour in (reprise, tardive):
        assert (retour.status_code, retour.json()) == (200, premiere.json())
    assert ensuite.status_code == 200, ensuite.text
    assert [e["type"] for e in await evenements(api, pid)] == ["ParcoursOuvert", "PPEEtabli", "ReferentDesigne"]


async def test_a_retried_command_that_returned_an_id_returns_the_same_id(api: Api) -> None:
    pid = (await ouvrir(api, OUVERT_LE))["id"]
    ip = {"origine": "sante", "dangers": ["negligences"], "date_effet": "2026-10-02"}

    premiere = await api.post(f"/v1/parcours/{pid}/informations-preoccupantes", ip, Idempotency_Key="ip-1")
    reprise = await api.post(f"/v1/parcours/{pid}/informations-preoccupantes", ip, Idempotency_Key="ip-1")

    assert reprise.json()["ip_id"] == premiere.json()["ip_id"]
    assert len((await etat(api, pid))["informations_preoccupantes"]) == 1


async def test_the_same_key_with_another_body_or_path_is_a_422_and_records_nothing(api: Api) -> None:
    pid = (await ouvrir(api, OUVERT_LE))["id"]
    premiere = await api.post(f"/v1/parcours/{pid}/ppe", {"date_effet": "2026-10-02"}, Idempotency_Key="k-1")
    assert premiere.status_code == 200, premiere.text
    avant = await evenements(api, pid)
    notifications = _notifications(api)

    autre_corps = await api.post(f"/v1/parcours/{pid}/ppe", {"date_effet": "2026-10-03"}, Idempotency_Key="k-1")
    autre_chemin = await api.post(
        f"/v1/parcours/{pid}/entretien-autonomie", {"date_effet": "2026-10-02"}, Idempotency_Key="k-1"
    )
    autre_creation = await api.post("/v1/parcours", corps_ouverture(OUVERT_LE), Idempotency_Key="k-1")

    for reponse in (autre_corps, autre_chemin, autre_creation):
        corps = probleme(reponse, 422, "validation")
        assert [e["champ"] for e in corps["errors"]] == ["Idempotency-Key"]
    assert await evenements(api, pid) == avant
    assert _notifications(api) == notifications


async def test_an_idempotency_key_belongs_to_its_caller(api: Api) -> None:
    pid = (await ouvrir(api, OUVERT_LE))["id"]

    alice = await api.post(
        f"/v1/parcours/{pid}/ppe", {"date_effet": "2026-10-02"}, Idempotency_Key="commune", **api.jeton(sub="alice")
    )
    bob = await api.post(
        f"/v1/parcours/{pid}/rapports",
        {"transmis_au_juge": True, "date_effet": "2026-10-02"},
        Idempotency_Key="commune",
        **api.jeton(sub="bob"),
    )

    assert alice.status_code == 200, alice.text
    assert bob.status_code == 200, bob.text
    assert bob.json()["evenements"] == ["RapportSituationProduit"]
    assert [(e["type"], e["auteur"]) for e in await evenements(api, pid)][1:] == [
        ("PPEEtabli", "alice"),
        ("RapportSituationProduit", "bob"),
    ]


async def test_an_idempotent_retry_is_answered_outside_the_callers_departements(api: Api) -> None:
    """Regression: a retry was answered from the stored response before any check of the caller's
    départements. It now passes the checks a fresh command would, then gets the first answer."""
    du_nord_et_du_pas_de_calais = api.jeton(departements=("59", "62"))
    corps = corps_ouverture(OUVERT_LE)
    ouverture = await api.post("/v1/parcours", corps, Idempotency_Key="ouverture-59", **du_nord_et_du_pas_de_calais)
    assert ouverture.status_code == 201, ouverture.text
    pid = ouverture.json()["id"]
    ip = {"origine": "education_nationale", "dangers": ["negligences"], "date_effet": "2026-10-02"}
    premiere = await api.post(
        f"/v1/parcours/{pid}/informations-preoccupantes", ip, Idempotency_Key="ip-59", **du_nord_et_du_pas_de_calais
    )
    assert premiere.status_code == 200, premiere.text
    apres = _notifications(api)

    # The same caller, whose token no longer covers the Nord.
    du_pas_de_calais = api.jeton(departements=("62",))
    commande = await api.post(
        f"/v1/parcours/{pid}/informations-preoccupantes", ip, Idempotency_Key="ip-59", **du_pas_de_calais
    )
    reouverture = await api.post("/v1/parcours", corps, Idempotency_Key="ouverture-59", **du_pas_de_calais)

    probleme(commande, 404, "introuvable")
    probleme(reouverture, 403, "interdit")
    assert "ip_id" not in commande.text
    assert "personne_id" not in reouverture.text
    assert _notifications(api) == apres
    # Covered again, the caller gets the first answers, and nothing is recorded twice.
    reprise = await api.post(
        f"/v1/parcours/{pid}/informations-preoccupantes", ip, Idempotency_Key="ip-59", **du_nord_et_du_pas_de_calais
    )
    assert (reprise.status_code, reprise.json()) == (200, premiere.json())
    reprise_ouverture = await api.post(
        "/v1/parcours", corps, Idempotency_Key="ouverture-59", **du_nord_et_du_pas_de_calais
    )
    assert (reprise_ouverture.status_code, reprise_ouverture.json()) == (201, ouverture.json())
    assert _notifications(api) == apres


# -- retries at the same moment ------------------------------------------------------------------


def _retenir(
    monkeypatch: pytest.MonkeyPatch, classe: type, nom: str, parties: int, methode_de_classe: bool = False
) -> threading.Barrier:
    """Hold ``classe.nom`` until ``parties`` requests have all looked for their key and found none."""
    rendez_vous = threading.Barrier(parties, timeout=ATTENTE_MAX_S)
    original: Callable[..., Any] = getattr(classe, nom)

    def apres_les_autres(*args: Any, **kwargs: Any) -> Any:
        rendez_vous.wait()
        return original(*args, **kwargs)

    monkeypatch.setattr(
        classe,
        nom,
        classmethod(lambda _cls, *a, **k: apres_les_autres(*a, **k)) if methode_de_classe else apres_les_autres,
    )
    return rendez_vous


REPRISES = 6


async def test_concurrent_retries_of_a_command_on_two_services_record_it_once(
    api: Api, base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = (await ouvrir(api, OUVERT_LE))["id"]
    rendez_vous = _retenir(monkeypatch, Parcours, "etablir_ppe", REPRISES)

    async with autre_instance(base_url, api) as rivale:
        reponses = await asyncio.gather(
            *[
                (api if rang % 2 else rivale).post(
                    f"/v1/parcours/{pid}/ppe", {"date_effet": "2026-10-02"}, Idempotency_Key="ppe-concurrent"
                )
                for rang in range(REPRISES)
            ]
        )

    assert not rendez_vous.broken
    assert {r.status_code for r in reponses} == {200}, [r.text for r in reponses]
    assert [r.json() for r in reponses] == [reponses[0].json()] * REPRISES
    assert reponses[0].json()["version"] == 2
    assert [e["type"] for e in await evenements(api, pid)] == ["ParcoursOuvert", "PPEEtabli"]


async def test_concurrent_retries_of_an_opening_open_one_parcours(
    api: Api, base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rendez_vous = _retenir(monkeypatch, Parcours, "ouvrir", REPRISES, methode_de_classe=True)
    corps = corps_ouverture(OUVERT_LE)

    async with autre_instance(base_url, api) as rivale:
        reponses = await asyncio.gather(
            *[
                (api if rang % 2 else rivale).post("/v1/parcours", corps, Idempotency_Key="ouverture-concurrente")
                for rang in range(REPRISES)
            ]
        )

    assert not rendez_vous.broken
    assert {r.status_code for r in reponses} == {201}, [r.text for r in reponses]
    assert [r.json() for r in reponses] == [reponses[0].json()] * REPRISES
    assert _notifications(api) == 2, "one identity and one parcours, whoever won"
    assert (await etat(api, reponses[0].json()["id"]))["version"] == 1


# -- after a restart -------------------------------------------------------------------------------


async def test_after_a_restart_the_state_and_the_keys_are_still_there(api: Api, base_url: str) -> None:
    ouverture = await api.post("/v1/parcours", corps_ouverture(OUVERT_LE), Idempotency_Key="avant-1")
    pid = ouverture.json()["id"]
    ppe = await api.post(f"/v1/parcours/{pid}/ppe", {"date_effet": "2026-10-02"}, Idempotency_Key="avant-2")
    vu_avant = await etat(api, pid)
    flux_avant = await evenements(api, pid)
    notifications = _notifications(api)
    api.application.close()

    async with autre_instance(base_url, api) as redemarree:
        assert await etat(redemarree, pid) == vu_avant
        assert await evenements(redemarree, pid) == flux_avant

        reprise_ouverture = await redemarree.post("/v1/parcours", corps_ouverture(OUVERT_LE), Idempotency_Key="avant-1")
        reprise_ppe = await redemarree.post(
            f"/v1/parcours/{pid}/ppe", {"date_effet": "2026-10-02"}, Idempotency_Key="avant-2"
        )
        assert (reprise_ouverture.status_code, reprise_ouverture.json()) == (201, ouverture.json())
        assert (reprise_ppe.status_code, reprise_ppe.json()) == (200, ppe.json())
        assert (redemarree.application.recorder.max_notification_id() or 0) == notifications

        suite = await redemarree.post(
            f"/v1/parcours/{pid}/ppe", {"date_effet": "2026-10-03"}, If_Match='"2"', Idempotency_Key="apres-1"
        )
        assert suite.json() == {"id": pid, "version": 3, "evenements": ["PPEActualise"]}


async def test_a_caller_chosen_idempotency_key_holding_a_name_is_stored_as_a_digest_never_verbatim(
    api: Api, base_url: str
) -> None:
    cle = "ouverture-Lea-Quintrec-Ballardin-2012-05-03"
    premiere = await api.post("/v1/parcours", corps_ouverture(OUVERT_LE), Idempotency_Key=cle)
    reprise = await api.post("/v1/parcours", corps_ouverture(OUVERT_LE), Idempotency_Key=cle)
    assert premiere.status_code == 201, premiere.text
    assert (reprise.status_code, reprise.json()) == (201, premiere.json())

    table = api.application.recorder.table_idempotence  # type: ignore[attr-defined]
    with psycopg.connect(base_url) as conn:
        lignes = conn.execute(f"SELECT sub, cle FROM public.{table}").fetchall()
    assert len(lignes) == 1
    ((sub, stockee),) = lignes
    assert "Quintrec" not in stockee
    assert stockee != cle
    assert stockee == hashlib.sha256(orjson.dumps([sub, cle])).hexdigest()

    autre_corps = await api.post("/v1/parcours", corps_ouverture(date(2026, 10, 2)), Idempotency_Key=cle)
    probleme(autre_corps, 422, "validation")
