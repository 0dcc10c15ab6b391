"""The steering indicators on small constructed populations, with the expected figures computed by hand.

"Today" is the fixtures' 2026-11-28: a deadline after it is pending.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from tests.integration.conftest import Api, Lecture
from tests.integration.pilotage_outils import Referent, statut


async def indicateur(
    lecture: Lecture, code: str, annee: int, departements: tuple[str, ...] = ("59",)
) -> dict[str, Any]:
    reponse = await lecture.get("/v1/pilotage/indicateurs", annee=annee, departements=departements)
    statut(reponse, 200)
    corps = reponse.json()
    assert corps["annee"] == annee
    (trouve,) = [i for i in corps["indicateurs"] if i["code"] == code]
    assert trouve["definition"]
    resultat: dict[str, Any] = trouve
    return resultat


async def test_successive_lieux_count_the_children_placed_at_year_end_where_they_are_followed(
    api: Api, lecture: Lecture
) -> None:
    nord, pas_de_calais = Referent(api), Referent(api, "62")
    l1, l2, l3 = await nord.lieu(), await nord.lieu(nom="L2"), await nord.lieu(nom="L3")
    trois = await nord.enfant_place(l1, date(2025, 2, 1))  # 3 lieux in 2025
    await nord.changer_lieu(trois, l2, date(2025, 6, 1))
    await nord.changer_lieu(trois, l3, date(2025, 9, 1))
    await nord.enfant_place(l1, date(2025, 3, 1))  # 1 lieu
    rentre = await nord.enfant_place(l1, date(2025, 1, 10))  # back home in May: not placed at year end
    await nord.terminer_accueil(rentre, date(2025, 5, 1))
    bouge_en_2026 = await nord.enfant_place(l1, date(2025, 4, 1))  # 1 lieu at end 2025, 2 in 2026
    await nord.changer_lieu(bouge_en_2026, l2, date(2026, 2, 1))
    transfere = await nord.enfant_place(l1, date(2025, 2, 1))  # 2 lieux, followed by the 62 from October
    await nord.changer_lieu(transfere, l2, date(2025, 5, 1))
    await nord.transferer(transfere, "62", date(2025, 10, 1))
    await pas_de_calais.enfant_place(await pas_de_calais.lieu(), date(2025, 5, 1))
    await lecture.a_jour()

    nord_2025 = await indicateur(lecture, "lieux_successifs", 2025)
    assert (nord_2025["population"], nord_2025["valeur"], nord_2025["mediane"], nord_2025["maximum"]) == (
        3,
        1.67,
        1.0,
        3,
    )
    assert nord_2025["repartition"] == {"1": 2, "3": 1}
    assert nord_2025["unite"] == "nombre_moyen"
    pdc_2025 = await indicateur(lecture, "lieux_successifs", 2025, ("62",))
    assert (pdc_2025["population"], pdc_2025["valeur"], pdc_2025["mediane"], pdc_2025["maximum"]) == (2, 1.5, 1.5, 2)
    nord_2026 = await indicateur(lecture, "lieux_successifs", 2026)
    assert (nord_2026["population"], nord_2026["valeur"], nord_2026["repartition"]) == (
        3,
        2.0,
        {"1": 1, "2": 1, "3": 1},
    )


async def test_a_ppe_counts_within_three_months_of_the_measure_start_pending_and_lifted_measures_apart(
    api: Api, lecture: Lecture
) -> None:
    nord, pas_de_calais = Referent(api), Referent(api, "62")

    async def mesure(referent: Referent, debut: date, ppe: date | None = None, **options: Any) -> tuple[str, str]:
        parcours_id = str((await referent.ouvrir(debut))["id"])
        mesure_id = await referent.mesure(parcours_id, debut, **options)
        if ppe is not None:
            await referent.dater(parcours_id, "ppe", ppe)
        return parcours_id, mesure_id

    await mesure(nord, date(2026, 2, 1), date(2026, 4, 15))  # in time
    await mesure(nord, date(2026, 2, 28), date(2026, 5, 28))  # on the last day
    await mesure(nord, date(2026, 1, 10), date(2026, 4, 11))  # a day late
    await mesure(nord, date(2026, 1, 10))  # never
    await mesure(nord, date(2026, 10, 1))  # pending until 2027-01-01
    breve, accueil_72h = await mesure(nord, date(2026, 3, 1), nature="accueil_72h", echeance=date(2026, 3, 4))
    await nord.lever(breve, accueil_72h, date(2026, 3, 3), motif="echeance")  # lifted after 2 days: excluded
    await mesure(nord, date(2025, 11, 1), date(2026, 1, 15))  # a 2025 measure, in time
    await mesure(pas_de_calais, date(2026, 2, 1))  # another département's
    await lecture.a_jour()

    ppe = await indicateur(lecture, "ppe_dans_les_3_mois", 2026)
    assert (ppe["population"], ppe["numerateur"], ppe["valeur"]) == (4, 2, 0.5)
    assert (ppe["en_attente"], ppe["exclus"], ppe["unite"]) == (1, 1, "part")
    en_2025 = await indicateur(lecture, "ppe_dans_les_3_mois", 2025)
    assert (en_2025["population"], en_2025["numerateur"], en_2025["valeur"]) == (1, 1, 1.0)


async def test_the_entretien_d_autonomie_counts_those_turning_17_in_the_year_placed_at_the_start_of_that_month(
    api: Api, lecture: Lecture
) -> None:
    """CASF L222-5-1 (revised): the entretien is owed to minors placed, not to a child followed at home."""
    nord = Referent(api)
    suivi_depuis = date(2025, 6, 1)
    mecs = await nord.lieu()

    async def jeune(
        ne_le: date, entretien: date | None = None, ouvert_le: date = suivi_depuis, *, place: bool = True
    ) -> str:
        parcours_id = str((await nord.ouvrir(ouvert_le, ne_le=ne_le))["id"])
        mesure = await nord.mesure(parcours_id, ouvert_le)
        if place:
            await nord.placer(parcours_id, mesure, mecs, ouvert_le)
        if entretien is not None:
            await nord.dater(parcours_id, "entretien-autonomie", entretien)
        return parcours_id

    await jeune(date(2009, 3, 10), date(2026, 2, 15))  # before 17: in time
    await jeune(date(2009, 4, 20), date(2026, 4, 25))  # after the birthday, within its month: in time
    await jeune(date(2009, 5, 5), date(2026, 6, 1))  # a day late
    await jeune(date(2009, 6, 1))  # never
    await jeune(date(2009, 12, 10))  # pending until 2026-12-31
    await jeune(date(2009, 8, 15), ouvert_le=date(2026, 9, 1))  # placed after 17: not counted
    await jeune(date(2009, 9, 15), place=False)  # followed at home: owed no entretien, not counted
    sorti_avant = await jeune(date(2009, 7, 10))  # left care within the month: excluded
    await nord.sortir(sorti_avant, date(2026, 7, 5), "famille", motif="retour_en_famille", clore_en_cours=True)
    sorti_a_16_ans = await jeune(date(2009, 2, 1))  # not followed any more at 17: not counted
    await nord.sortir(sorti_a_16_ans, date(2025, 12, 1), "famille", motif="retour_en_famille", clore_en_cours=True)
    await jeune(date(2010, 3, 1), date(2026, 5, 1))  # 17 in 2027
    await lecture.a_jour()

    entretien = await indicateur(lecture, "entretien_autonomie_a_17_ans", 2026)
    assert (entretien["population"], entretien["numerateur"], entretien["valeur"]) == (4, 2, 0.5)
    assert (entretien["en_attente"], entretien["exclus"]) == (1, 1)


async def test_an_apjm_at_18_counts_those_reaching_majority_in_the_year_with_one_starting_within_three_months(
    api: Api, lecture: Lecture
) -> None:
    nord = Referent(api)

    async def majeur(ne_le: date, apjm_le: date | None = None) -> None:
        parcours_id = str((await nord.ouvrir(date(2025, 1, 15), ne_le=ne_le))["id"])
        await nord.majorite(parcours_id)  # dated on the 18th birthday
        if apjm_le is not None:
            await nord.apjm(parcours_id, apjm_le, date(2027, 2, 1), apjm_le)

    await majeur(date(2008, 2, 10), date(2026, 5, 10))  # three months later: in time
    await majeur(date(2008, 3, 5), date(2026, 6, 6))  # three months and a day: late
    await majeur(date(2008, 4, 1))  # none
    await majeur(date(2008, 10, 1))  # none yet, pending until 2027-01-01
    await majeur(date(2007, 6, 1), date(2025, 6, 1))  # majority in 2025
    await lecture.a_jour()

    apjm = await indicateur(lecture, "apjm_a_18_ans", 2026)
    assert (apjm["population"], apjm["numerateur"], apjm["valeur"], apjm["en_attente"]) == (3, 1, 0.3333, 1)
    en_2025 = await indicateur(lecture, "apjm_a_18_ans", 2025)
    assert (en_2025["population"], en_2025["valeur"]) == (1, 1.0)


async def test_exits_without_housing_count_unknown_situations_leave_deaths_out_and_follow_corrections(
    api: Api, lecture: Lecture
) -> None:
    nord, pas_de_calais = Referent(api), Referent(api, "62")

    async def sortie(referent: Referent, jour: date, situation: str, motif: str = "autre") -> tuple[str, int]:
        parcours_id = str((await referent.ouvrir(date(2025, 3, 1), ne_le=date(2007, 9, 1)))["id"])
        return parcours_id, await referent.sortir(parcours_id, jour, situation, motif=motif)

    en_famille = await sortie(nord, date(2026, 2, 1), "famille", "retour_en_famille")
    await sortie(nord, date(2026, 3, 1), "sans_solution", "majorite_sans_accompagnement")
    await sortie(nord, date(2026, 4, 1), "inconnue")
    await sortie(nord, date(2026, 5, 1), "logement_social", "demenagement")
    await sortie(nord, date(2026, 6, 1), "inconnue", "deces")
    await sortie(nord, date(2025, 6, 1), "sans_solution")
    await sortie(pas_de_calais, date(2026, 6, 1), "sans_solution")
    await lecture.a_jour()

    sorties = await indicateur(lecture, "sorties_sans_logement", 2026)
    assert (sorties["population"], sorties["numerateur"], sorties["valeur"], sorties["exclus"]) == (4, 2, 0.5, 1)
    assert sorties["repartition"] == {"famille": 1, "inconnue": 1, "logement_social": 1, "sans_solution": 1}

    await nord.rectifier(en_famille[0], en_famille[1], "situation_logement", "sans_solution")
    await lecture.a_jour()
    corrige = await indicateur(lecture, "sorties_sans_logement", 2026)
    assert (corrige["numerateur"], corrige["valeur"], corrige["repartition"]["sans_solution"]) == (3, 0.75, 2)


async def test_hebergement_derogatoire_stays_count_those_ending_within_two_months_still_open_ones_by_today(
    api: Api, lecture: Lecture
) -> None:
    """CASF L221-2-3 (décret 2024-119): since hotels are banned, the 2-month stays are in hébergement dérogatoire."""
    nord = Referent(api)
    hotel = await nord.lieu("hebergement_derogatoire", capacite=20, nom="Résidence Jeunes de la Gare")
    mecs = await nord.lieu()

    async def sejour(debut: date, lieu: str = hotel) -> str:
        parcours_id = str((await nord.ouvrir(debut, ne_le=date(2009, 1, 1)))["id"])
        await nord.placer(parcours_id, await nord.mesure(parcours_id, debut), lieu, debut)
        return parcours_id

    await nord.changer_lieu(await sejour(date(2026, 2, 1)), mecs, date(2026, 4, 1))  # the last allowed day
    await nord.terminer_accueil(await sejour(date(2026, 3, 1)), date(2026, 5, 2))  # a day over
    await sejour(date(2026, 4, 1))  # still there after two months
    await sejour(date(2026, 10, 15))  # still there, within two months
    vers_l_hotel = await sejour(date(2026, 5, 1), mecs)  # from a MECS to the hotel for 19 days, then back
    await nord.changer_lieu(vers_l_hotel, hotel, date(2026, 6, 1))
    await nord.changer_lieu(vers_l_hotel, mecs, date(2026, 6, 20))
    await lecture.a_jour()

    resultat = await indicateur(lecture, "hotel_au_plus_2_mois", 2026)
    assert (resultat["population"], resultat["numerateur"], resultat["valeur"]) == (4, 2, 0.5)
    assert resultat["en_attente"] == 1


async def test_indicators_are_for_managers_auditors_and_the_observatory_of_their_departements(
    api: Api, lecture: Lecture
) -> None:
    nord = Referent(api)
    parcours_id = str((await nord.ouvrir(date(2026, 1, 5), ne_le=date(2007, 9, 1)))["id"])
    await nord.sortir(parcours_id, date(2026, 2, 1), "sans_solution")
    await lecture.a_jour()

    defaut = await lecture.get("/v1/pilotage/indicateurs")
    statut(defaut, 200)
    corps = defaut.json()
    assert (corps["annee"], corps["departements"], corps["calcule_le"]) == (2026, ["59"], "2026-11-28")
    assert [i["code"] for i in corps["indicateurs"]] == [
        "lieux_successifs",
        "ppe_dans_les_3_mois",
        "entretien_autonomie_a_17_ans",
        "apjm_a_18_ans",
        "sorties_sans_logement",
        "hotel_au_plus_2_mois",
    ]
    deux = (await lecture.get("/v1/pilotage/indicateurs", departements=("59", "62"))).json()
    assert deux["departements"] == ["59", "62"]
    assert [i["population"] for i in deux["indicateurs"] if i["code"] == "sorties_sans_logement"] == [1]
    ailleurs = (await lecture.get("/v1/pilotage/indicateurs", departements=("62",))).json()
    assert [i["population"] for i in ailleurs["indicateurs"] if i["code"] == "sorties_sans_logement"] == [0]

    for role in ("auditeur", "observatoire"):
        statut(await lecture.get("/v1/pilotage/indicateurs", role=role), 200)
    for role in ("referent", "service"):
        statut(await lecture.get("/v1/pilotage/indicateurs", role=role), 403, "interdit")
    statut(await lecture.get("/v1/pilotage/indicateurs", departement="62"), 403, "interdit")
    for mauvais in (
        {"annee": "deux-mille"},
        {"annee": 1999},
        {"annee": 2027},
        {"annee": "2026.5"},
        {"departement": "2C"},
        {"departement": "20"},
    ):
        statut(await lecture.get("/v1/pilotage/indicateurs", **mauvais), 422, "validation")
