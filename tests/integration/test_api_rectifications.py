"""Corrections through the API: the same rules as the original commands, and the corrected facts govern.

Each test is named after a fault seen by a caseworker or a lawyer (issue "The
law on every write, corrections included").
"""

from __future__ import annotations

from datetime import date
from typing import Any

from droit.calendrier import ajouter
from tests.integration.api_parcours import a_la_date, decider_mesure, ouvrir
from tests.integration.conftest import Api, Lecture

OUVERT_LE = date(2026, 3, 2)
DEBUT = date(2026, 3, 9)
AUJOURD_HUI = date(2026, 11, 28)


async def rectifier(api: Api, parcours_id: str, version: int, champ: str, valeur: Any) -> Any:
    return await api.post(
        f"/v1/parcours/{parcours_id}/rectifications",
        {"version_rectifiee": version, "champ": champ, "nouvelle_valeur": valeur, "motif": "erreur de saisie"},
    )


async def confiage(api: Api) -> tuple[str, str, int]:
    """A parcours with a judicial confiage of one year; its id, the measure's id and the decision's version."""
    a_la_date(api, OUVERT_LE)
    parcours_id = (await ouvrir(api, OUVERT_LE))["id"]
    a_la_date(api, DEBUT)
    mesure_id = await decider_mesure(
        api,
        parcours_id,
        cadre="judiciaire",
        nature="confiage_ase",
        autorite="juge_des_enfants",
        date_debut=DEBUT,
        date_echeance=ajouter(DEBUT, annees=1),
    )
    a_la_date(api, AUJOURD_HUI)
    return parcours_id, mesure_id, 2


def refus(reponse: Any, regle: str) -> None:
    assert reponse.status_code == 409, reponse.text
    assert reponse.headers["content-type"].startswith("application/problem+json")
    assert (reponse.json()["code"], reponse.json()["regle"]) == ("regle_metier", regle)


async def test_a_correction_of_a_judicial_confiage_echeance_to_2_years_and_1_month_is_accepted(api: Api) -> None:
    parcours_id, _, decision = await confiage(api)
    avant = (await api.get(f"/v1/parcours/{parcours_id}/evenements")).json()
    reponse = await rectifier(api, parcours_id, decision, "date_echeance", ajouter(DEBUT, annees=2, mois=1).isoformat())
    refus(reponse, "duree_maximale_depassee")
    assert (await api.get(f"/v1/parcours/{parcours_id}/evenements")).json() == avant, "nothing recorded"


async def test_a_correction_of_a_ppe_date_effet_to_a_date_in_the_future_is_accepted(api: Api) -> None:
    parcours_id, _, _ = await confiage(api)
    ppe = await api.post(f"/v1/parcours/{parcours_id}/ppe", {"date_effet": "2026-05-04"})
    assert ppe.status_code == 200, ppe.text
    refus(await rectifier(api, parcours_id, ppe.json()["version"], "date_effet", "2026-12-01"), "date_effet_future")


async def test_a_correction_of_a_judicial_measure_nature_to_aed_is_accepted(api: Api) -> None:
    parcours_id, _, decision = await confiage(api)
    refus(await rectifier(api, parcours_id, decision, "nature", "aed"), "nature_hors_cadre")


async def test_after_a_correction_of_an_echeance_get_parcours_still_shows_the_old_one(api: Api) -> None:
    parcours_id, mesure_id, decision = await confiage(api)
    corrigee = ajouter(DEBUT, annees=1, mois=6)
    reponse = await rectifier(api, parcours_id, decision, "date_echeance", corrigee.isoformat())
    assert reponse.status_code == 200, reponse.text

    etat = (await api.get(f"/v1/parcours/{parcours_id}")).json()
    (mesure,) = etat["mesures"]
    assert mesure["date_echeance"] == corrigee.isoformat()

    # The renewal rules count from the corrected échéance (C. civ. 375 al. 3: 2 years at most).
    chemin = f"/v1/parcours/{parcours_id}/mesures/{mesure_id}/renouvellement"
    corps = {"reference_decision": "JE-2", "date_effet": AUJOURD_HUI.isoformat()}
    trop = await api.post(chemin, {**corps, "nouvelle_echeance": ajouter(corrigee, annees=2, mois=1).isoformat()})
    refus(trop, "duree_maximale_depassee")
    juste = await api.post(chemin, {**corps, "nouvelle_echeance": ajouter(corrigee, annees=2).isoformat()})
    assert juste.status_code == 200, juste.text


async def test_after_any_correction_made_today_a_rapport_dated_yesterday_is_refused(api: Api) -> None:
    parcours_id, _, _ = await confiage(api)
    assert (await rectifier(api, parcours_id, 1, "sexe", "M")).status_code == 200
    rapport = await api.post(
        f"/v1/parcours/{parcours_id}/rapports", {"transmis_au_juge": True, "date_effet": "2026-11-27"}
    )
    assert rapport.status_code == 200, rapport.text


async def test_after_a_corrected_echeance_the_dossier_shows_the_corrected_one(api: Api, lecture: Lecture) -> None:
    """The read side applies the correction as if it had been recorded so."""
    parcours_id, _, decision = await confiage(api)
    corrigee = ajouter(DEBUT, annees=1, mois=6)
    assert (await rectifier(api, parcours_id, decision, "date_echeance", corrigee.isoformat())).status_code == 200
    await lecture.a_jour()
    dossier = (await lecture.get(f"/v1/dossiers/{parcours_id}")).json()
    (mesure,) = dossier["mesures_actives"]
    assert mesure["date_echeance"] == corrigee.isoformat()


async def test_two_accepted_corrections_block_the_dossiers_read_model_for_everyone(api: Api) -> None:
    """Regression, named after the fault: a correction carried dates (0001-01-01) that the command itself
    refuses; a corrected value is now read as its command reads it (1900-2100), a 422 naming the field."""
    parcours_id, _, decision = await confiage(api)
    for champ, valeur in (
        ("date_debut", "0001-01-01"),
        ("date_echeance", "0001-01-15"),
        ("date_echeance", "9999-12-31"),
    ):
        reponse = await rectifier(api, parcours_id, decision, champ, valeur)
        assert reponse.status_code == 422, reponse.text
        assert reponse.json()["code"] == "validation"
        assert [e["champ"] for e in reponse.json()["errors"]] == ["nouvelle_valeur"]


async def test_a_corrected_reference_or_referent_escapes_the_commands_bounds(api: Api) -> None:
    """Regression, named after the fault: a 1,500-character reference_decision and a padded referent_id
    were accepted by a correction although the commands refuse or normalise them."""
    parcours_id, _, decision = await confiage(api)
    trop_longue = await rectifier(api, parcours_id, decision, "reference_decision", "J" * 1500)
    assert trop_longue.status_code == 422, trop_longue.text
    referent = await rectifier(api, parcours_id, 1, "referent_id", " bob ")
    assert referent.status_code == 200, referent.text
    etat = (await api.get(f"/v1/parcours/{parcours_id}")).json()
    assert etat["referent_id"] == "bob"
    encore = await api.post(f"/v1/parcours/{parcours_id}/referent", {"referent_id": "bob", "date_effet": "2026-11-28"})
    refus(encore, "meme_referent")


async def test_a_wrong_typed_nouvelle_valeur_gets_409_not_422(api: Api) -> None:
    """Regression, named after the fault: a value of the wrong type is malformed input (API.md: 422)."""
    parcours_id, _, decision = await confiage(api)
    for valeur in ({"a": 1}, [1], 3, True, "2026-03-09T10:00:00Z"):
        reponse = await rectifier(api, parcours_id, decision, "date_debut", valeur)
        assert reponse.status_code == 422, (valeur, reponse.text)
        assert [e["champ"] for e in reponse.json()["errors"]] == ["nouvelle_valeur"]
