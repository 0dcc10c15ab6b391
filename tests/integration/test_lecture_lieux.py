"""``GET /v1/lieux``: the lieux a caseworker may place a child in, scoped to the caller's départements."""

from __future__ import annotations

from datetime import date

from tests.integration.conftest import Api, Lecture
from tests.integration.pilotage_outils import Referent, statut

MARS = date(2026, 3, 1)


async def test_a_referent_lists_the_open_lieux_of_their_departement_with_their_free_places(
    api: Api, lecture: Lecture
) -> None:
    nord, pas_de_calais = Referent(api), Referent(api, "62")
    tilleuls = await nord.lieu(capacite=2)
    famille = await nord.lieu("assistant_familial", capacite=1, nom="Mme Claire Dupont")
    ferme = await nord.lieu(nom="Foyer fermé")
    await pas_de_calais.lieu(nom="MECS d'Arras")
    await nord.enfant_place(tilleuls, MARS)
    await nord.envoyer(f"/v1/lieux/{ferme}/fermeture", {"date_effet": MARS.isoformat()})
    await lecture.a_jour()

    reponse = await lecture.get("/v1/lieux", role="referent")

    statut(reponse, 200)
    lieux = {lieu["lieu_id"]: lieu for lieu in reponse.json()["lieux"]}
    assert set(lieux) == {tilleuls, famille}, "another département's lieu and a closed one are not offered"
    assert (lieux[tilleuls]["enfants_presents"], lieux[tilleuls]["places_libres"]) == (1, 1)
    assert lieux[famille]["nom"] == "Mme Claire Dupont", "the département's caseworkers know the family's name"


async def test_closed_lieux_and_a_type_filter_are_available_on_request(api: Api, lecture: Lecture) -> None:
    nord = Referent(api)
    ouvert = await nord.lieu("foyer_enfance", nom="Foyer du Beffroi")
    ferme = await nord.lieu("foyer_enfance", nom="Foyer fermé")
    await nord.lieu("mecs")
    await nord.envoyer(f"/v1/lieux/{ferme}/fermeture", {"date_effet": MARS.isoformat()})
    await lecture.a_jour()

    reponse = await lecture.get("/v1/lieux", role="referent", type="foyer_enfance", ouverts="false")

    statut(reponse, 200)
    assert {(lieu["lieu_id"], lieu["ferme"]) for lieu in reponse.json()["lieux"]} == {(ouvert, False), (ferme, True)}


async def test_a_departement_outside_the_callers_is_refused_and_other_roles_are_refused(
    api: Api, lecture: Lecture
) -> None:
    statut(await lecture.get("/v1/lieux", role="referent", departement="62"), 403)
    statut(await lecture.get("/v1/lieux", role="auditeur"), 403)
    statut(await lecture.get("/v1/lieux", role="referent", type="chateau"), 422)


async def test_listing_the_lieux_is_recorded_in_the_access_log(api: Api, lecture: Lecture) -> None:
    reponse = await lecture.get("/v1/lieux", role="referent", sub="bob")

    assert reponse.status_code == 200, reponse.text

    async with lecture.comp.pool.acquire() as conn:
        lignes = await conn.fetch(
            "SELECT route, departements FROM public.journal_acces WHERE sub = 'bob' AND service = 'projections'"
        )
    assert [(ligne["route"], ligne["departements"]) for ligne in lignes] == [("/v1/lieux", ["59"])]
