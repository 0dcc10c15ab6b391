"""``GET /v1/pilotage/lieux``: each lieu of the manager's départements with its occupancy (real PostgreSQL)."""

from __future__ import annotations

from datetime import date

from tests.integration.conftest import Api, Lecture
from tests.integration.pilotage_outils import Referent, statut

MARS = date(2026, 3, 1)


async def test_each_lieu_of_the_departement_shows_its_places_and_children_counted_never_listed(
    api: Api, lecture: Lecture
) -> None:
    nord, pas_de_calais = Referent(api), Referent(api, "62")
    mecs = await nord.lieu(capacite=4, nom="MECS Les Dunes")
    famille = await nord.lieu("assistant_familial", capacite=1, nom="Mme Claire Dupont")
    ferme_vide = await nord.lieu(capacite=6, nom="Foyer fermé")
    await nord.enfant_place(mecs, MARS)
    await nord.enfant_place(famille, MARS)
    await nord.enfant_place(famille, date(2026, 3, 2))
    await nord.envoyer(f"/v1/lieux/{ferme_vide}/fermeture", {"date_effet": "2026-06-01"})
    await pas_de_calais.enfant_place(await pas_de_calais.lieu(capacite=8), MARS)
    await lecture.a_jour()

    reponse = await lecture.get("/v1/pilotage/lieux")
    statut(reponse, 200)
    assert reponse.headers["X-Projection-Position"]
    lieux = reponse.json()["lieux"]
    assert [(lv["lieu_id"], lv["type"], lv["places"], lv["enfants_presents"]) for lv in lieux] == [
        (famille, "assistant_familial", 1, 2),
        (mecs, "mecs", 4, 1),
    ]
    famille_vue, mecs_vue = lieux
    assert (famille_vue["nom"], famille_vue["taux"], famille_vue["sur_occupation"]) == ("Mme Claire Dupont", 2.0, True)
    assert (mecs_vue["taux"], mecs_vue["places_libres"], mecs_vue["departement"]) == (0.25, 3, "59")
    assert "parcours_presents" not in mecs_vue

    deux = (await lecture.get("/v1/pilotage/lieux", departements=("59", "62"))).json()["lieux"]
    assert [lv["departement"] for lv in deux] == ["59", "59", "62"]
    seul_62 = (await lecture.get("/v1/pilotage/lieux", departements=("59", "62"), departement="62")).json()
    assert [lv["places"] for lv in seul_62["lieux"]] == [8]


async def test_the_list_of_lieux_is_for_managers_and_auditors_of_their_departements(api: Api, lecture: Lecture) -> None:
    await Referent(api).lieu()
    await lecture.a_jour()
    statut(await lecture.get("/v1/pilotage/lieux", departement="62"), 403, "interdit")
    statut(await lecture.get("/v1/pilotage/lieux", role="auditeur"), 200)
    for role in ("referent", "observatoire", "service"):
        statut(await lecture.get("/v1/pilotage/lieux", role=role), 403, "interdit")
    statut(await lecture.get("/v1/pilotage/lieux", departement="2C"), 422, "validation")
    statut(await lecture.client.get("/v1/pilotage/lieux"), 401, "non_authentifie")
