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
