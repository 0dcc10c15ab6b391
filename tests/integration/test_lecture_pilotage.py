"""The occupancy read paths: one lieu, and per département and type of lieu (real store, real PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from services.projections import catalogue
from services.projections.readmodels.pilotage import ProjectionPilotage
from services.projections.reconstruction import reconstruire
from services.projections.service import Sources
from tests.integration.conftest import Api, Lecture
from tests.integration.pilotage_outils import Referent, statut

MARS = date(2026, 3, 1)


async def occupation(lecture: Lecture, lieu_id: str, **options: Any) -> dict[str, Any]:
    reponse = await lecture.get(f"/v1/lieux/{lieu_id}/occupation", **{"role": "referent", **options})
    statut(reponse, 200)
    corps: dict[str, Any] = reponse.json()
    return corps


async def test_a_lieu_shows_its_capacity_the_children_present_and_their_rate(api: Api, lecture: Lecture) -> None:
    nord = Referent(api)
    lieu = await nord.lieu(capacite=3)
    presents = {await nord.enfant_place(lieu, MARS), await nord.enfant_place(lieu, date(2026, 4, 2))}
    await lecture.a_jour()

    corps = await occupation(lecture, lieu)

    assert (corps["capacite"], corps["places"], corps["enfants_presents"]) == (3, 3, 2)
    assert (corps["taux"], corps["sur_occupation"], corps["places_libres"]) == (0.6667, False, 1)
    assert {p["parcours_id"] for p in corps["parcours_presents"]} == presents
    assert [p["depuis"] for p in corps["parcours_presents"]] == ["2026-03-01", "2026-04-02"]
    assert (corps["type"], corps["departement"], corps["ferme"]) == ("mecs", "59", False)


async def test_a_change_of_lieu_moves_the_child_and_an_ended_accueil_frees_its_place(
    api: Api, lecture: Lecture
) -> None:
    nord = Referent(api)
    depart, arrivee = await nord.lieu(capacite=2), await nord.lieu(capacite=2, nom="Foyer du Beffroi")
    qui_part, qui_rentre = await nord.enfant_place(depart, MARS), await nord.enfant_place(depart, MARS)
    await nord.changer_lieu(qui_part, arrivee, date(2026, 4, 1))
    await nord.terminer_accueil(qui_rentre, date(2026, 5, 1))
    await lecture.a_jour()

    assert (await occupation(lecture, depart))["enfants_presents"] == 0
    corps = await occupation(lecture, arrivee)
    assert [p["parcours_id"] for p in corps["parcours_presents"]] == [qui_part]
    assert (corps["enfants_presents"], corps["taux"]) == (1, 0.5)


async def test_a_corrected_date_of_arrival_moves_the_childs_presence_as_if_recorded_so(
    api: Api, lecture: Lecture
) -> None:
    """DOMAIN.md, SaisieRectifiee: the corrected value is what every read model shows."""
    nord = Referent(api)
    depart, arrivee = await nord.lieu(capacite=2), await nord.lieu(capacite=2, nom="Foyer du Beffroi")
    enfant = await nord.enfant_place(depart, MARS)  # versions: 1 opening, 2 measure, 3 accueil
    await nord.changer_lieu(enfant, arrivee, date(2026, 4, 10))  # version 4
    await nord.rectifier(enfant, 4, "date_effet", "2026-04-02")
    await lecture.a_jour()

    (present,) = (await occupation(lecture, arrivee))["parcours_presents"]
    assert (present["parcours_id"], present["depuis"]) == (enfant, "2026-04-02")
    assert (await occupation(lecture, depart))["enfants_presents"] == 0


async def test_a_placement_into_a_full_lieu_is_recorded_and_flagged_as_over_occupation(
    api: Api, lecture: Lecture
) -> None:
    nord = Referent(api)
    lieu = await nord.lieu("assistant_familial", capacite=1, nom="Mme Claire Dupont")
    await nord.enfant_place(lieu, MARS)
    await nord.enfant_place(lieu, date(2026, 3, 2))
    await lecture.a_jour()

    corps = await occupation(lecture, lieu)
    assert (corps["enfants_presents"], corps["taux"], corps["sur_occupation"], corps["places_libres"]) == (
        2,
        2.0,
        True,
        0,
    )
    # An assistant familial is a private person: no name on the public topic, but the département's
    # caseworkers see it (the restricted topic).
    assert corps["nom"] == "Mme Claire Dupont"

    await nord.envoyer(f"/v1/lieux/{lieu}/capacite", {"capacite": 3, "date_effet": "2026-11-28"})
    await lecture.a_jour()
    corps = await occupation(lecture, lieu)
    assert (corps["capacite"], corps["taux"], corps["sur_occupation"]) == (3, 0.6667, False)


async def test_a_closed_lieu_offers_no_place_and_a_child_still_there_over_occupies_it(
    api: Api, lecture: Lecture
) -> None:
    nord = Referent(api)
    lieu, vide = await nord.lieu(capacite=4), await nord.lieu(capacite=6, nom="Foyer fermé")
    await nord.enfant_place(lieu, MARS)
    for ferme in (lieu, vide):
        await nord.envoyer(f"/v1/lieux/{ferme}/fermeture", {"date_effet": "2026-06-01"})
    await lecture.a_jour()

    corps = await occupation(lecture, lieu)
    assert (corps["ferme"], corps["ferme_le"], corps["capacite"], corps["places"]) == (True, "2026-06-01", 4, 0)
    assert (corps["enfants_presents"], corps["taux"], corps["sur_occupation"]) == (1, None, True)
    corps = await occupation(lecture, vide)
    assert (corps["places"], corps["taux"], corps["sur_occupation"]) == (0, None, False)

    pilotage = (await lecture.get("/v1/pilotage/occupation")).json()["departements"]
    assert pilotage == [
        {
            "departement": "59",
            "lieux": 1,
            "lieux_sur_occupes": 1,
            "places": 0,
            "enfants_places": 1,
            "taux": None,
            "sur_occupation": True,
            "par_type": [
                {
                    "type_lieu": "mecs",
                    "lieux": 1,
                    "lieux_sur_occupes": 1,
                    "places": 0,
                    "enfants_places": 1,
                    "taux": None,
                    "sur_occupation": True,
                }
            ],
        }
    ]


async def test_the_occupation_of_a_lieu_is_read_only_within_its_departement_by_referents_and_managers(
    api: Api, lecture: Lecture
) -> None:
    nord, pas_de_calais = Referent(api), Referent(api, "62")
    lieu_nord, lieu_62 = await nord.lieu(), await pas_de_calais.lieu()
    d_ici = await nord.enfant_place(lieu_nord, MARS)
    d_ailleurs = str((await pas_de_calais.ouvrir(MARS))["id"])
    await pas_de_calais.placer(d_ailleurs, await pas_de_calais.mesure(d_ailleurs, MARS), lieu_nord, MARS)
    await lecture.a_jour()

    corps = await occupation(lecture, lieu_nord, role="encadrant")
    assert corps["enfants_presents"] == 2
    assert [p["parcours_id"] for p in corps["parcours_presents"]] == [d_ici]
    assert corps["enfants_autres_departements"] == 1
    corps = await occupation(lecture, lieu_nord, departements=("59", "62"))
    assert {p["parcours_id"] for p in corps["parcours_presents"]} == {d_ici, d_ailleurs}

    statut(await lecture.get(f"/v1/lieux/{lieu_62}/occupation", role="referent"), 404, "introuvable")
    statut(await lecture.get(f"/v1/lieux/{lieu_62}/occupation", role="referent", departements=("62",)), 200)
    statut(await lecture.get(f"/v1/lieux/{uuid.uuid4()}/occupation", role="referent"), 404, "introuvable")
    statut(await lecture.get("/v1/lieux/pas-un-uuid/occupation", role="referent"), 422, "validation")
    for role in ("observatoire", "auditeur", "service"):
        statut(await lecture.get(f"/v1/lieux/{lieu_nord}/occupation", role=role), 403, "interdit")
    statut(await lecture.client.get(f"/v1/lieux/{lieu_nord}/occupation"), 401, "non_authentifie")


async def test_pilotage_sums_places_and_children_per_departement_and_type_of_lieu(api: Api, lecture: Lecture) -> None:
    nord, pas_de_calais = Referent(api), Referent(api, "62")
    grande, petite = await nord.lieu(capacite=10), await nord.lieu(capacite=5, nom="MECS Petite")
    famille = await nord.lieu("assistant_familial", capacite=1)
    for lieu, enfants in ((grande, 2), (petite, 1), (famille, 2)):
        for _ in range(enfants):
            await nord.enfant_place(lieu, MARS)
    await pas_de_calais.enfant_place(await pas_de_calais.lieu(capacite=8), MARS)
    await lecture.a_jour()

    reponse = await lecture.get("/v1/pilotage/occupation", departements=("59", "62"))
    statut(reponse, 200)
    nord_vu, pdc_vu = reponse.json()["departements"]
    assert (nord_vu["departement"], nord_vu["lieux"], nord_vu["places"], nord_vu["enfants_places"]) == ("59", 3, 16, 5)
    assert (nord_vu["taux"], nord_vu["sur_occupation"], nord_vu["lieux_sur_occupes"]) == (0.3125, False, 1)
    assert nord_vu["par_type"] == [
        {
            "type_lieu": "assistant_familial",
            "lieux": 1,
            "lieux_sur_occupes": 1,
            "places": 1,
            "enfants_places": 2,
            "taux": 2.0,
            "sur_occupation": True,
        },
        {
            "type_lieu": "mecs",
            "lieux": 2,
            "lieux_sur_occupes": 0,
            "places": 15,
            "enfants_places": 3,
            "taux": 0.2,
            "sur_occupation": False,
        },
    ]
    assert (pdc_vu["departement"], pdc_vu["places"], pdc_vu["enfants_places"], pdc_vu["taux"]) == ("62", 8, 1, 0.125)

    filtre = (await lecture.get("/v1/pilotage/occupation", departements=("59", "62"), departement="62")).json()
    assert [d["departement"] for d in filtre["departements"]] == ["62"]
    seul_nord = (await lecture.get("/v1/pilotage/occupation")).json()
    assert [d["departement"] for d in seul_nord["departements"]] == ["59"]


async def test_pilotage_occupation_is_for_managers_and_auditors_of_their_departements(
    api: Api, lecture: Lecture
) -> None:
    await Referent(api, "62").enfant_place(await Referent(api, "62").lieu(), MARS)
    await lecture.a_jour()

    statut(await lecture.get("/v1/pilotage/occupation", departement="62"), 403, "interdit")
    statut(await lecture.get("/v1/pilotage/occupation", role="auditeur"), 200)
    for role in ("referent", "observatoire", "service"):
        statut(await lecture.get("/v1/pilotage/occupation", role=role), 403, "interdit")
    for mauvais in ("20", "2C", "999", "abc", ""):
        statut(await lecture.get("/v1/pilotage/occupation", departement=mauvais), 422, "validation")
    vide = (await lecture.get("/v1/pilotage/occupation")).json()["departements"]
    assert vide == [
        {
            "departement": "59",
            "lieux": 0,
            "lieux_sur_occupes": 0,
            "places": 0,
            "enfants_places": 0,
            "taux": None,
            "sur_occupation": False,
            "par_type": [],
        }
    ]


async def _contenu(lecture: Lecture, schema: str) -> dict[str, list[str]]:
    async with lecture.comp.pool.acquire() as conn:
        return {
            table: sorted(repr(tuple(r)) for r in await conn.fetch(f'SELECT * FROM "{schema}".{table}'))
            for table in ("lieux", "parcours", "presences", "faits", "olinpe")
        }


async def test_rebuilding_the_pilotage_read_model_from_the_store_gives_the_same_tables(
    api: Api, lecture: Lecture, base_url: str
) -> None:
    nord = Referent(api)
    l1, l2 = await nord.lieu(capacite=1), await nord.lieu("foyer_enfance", capacite=4, nom="Foyer")
    bouge = await nord.enfant_place(l1, MARS)
    await nord.changer_lieu(bouge, l2, date(2026, 4, 1))
    rentre = await nord.enfant_place(l1, MARS)
    await nord.dater(rentre, "ppe", date(2026, 4, 1))
    await nord.terminer_accueil(rentre, date(2026, 5, 1))
    await nord.sortir(rentre, date(2026, 5, 2), "famille", motif="retour_en_famille", clore_en_cours=True)
    await nord.rectifier(rentre, 1, "sexe", "M")
    await nord.transferer(bouge, "62", date(2026, 6, 1))
    await nord.envoyer(f"/v1/lieux/{l2}/capacite", {"capacite": 5, "date_effet": "2026-11-28"})
    await nord.envoyer(f"/v1/lieux/{l1}/fermeture", {"date_effet": "2026-11-28"})
    await lecture.a_jour()
    async with lecture.comp.pool.acquire() as conn:
        actif = await catalogue.schema_actif(conn, "pilotage")
    assert actif is not None
    avant = await _contenu(lecture, actif)
    assert all(avant.values()), avant

    async def comparer(nouveau: str) -> None:
        assert await _contenu(lecture, nouveau) == avant

    nouveau = await reconstruire(
        ProjectionPilotage(),
        Sources(base_url, taille_lot=3),
        lecture.comp.pool,
        depuis="store",
        avant_bascule=comparer,
        grace_s=0,
    )

    assert nouveau != actif
    corps = await occupation(lecture, l2, departements=("59", "62"))
    assert (corps["capacite"], corps["enfants_presents"], corps["enfants_autres_departements"]) == (5, 1, 0)
