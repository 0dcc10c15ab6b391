"""One child's whole parcours read back through the read API: the dossier and the deadlines, year by year.

Inès, born 20 January 2010, reported by her school at 13, placed by the
parquet, entrusted to the ASE by the juge des enfants, lives in a MECS then
with an assistante familiale, runs away once, is interviewed about autonomy at
16½, comes of age, is supported as a young adult, and leaves care with social
housing. After each step the référente's read models catch up and show what
the step changed: each deadline appears with what opens it and disappears when
the awaited event arrives.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from services.projections.api.dependances import schema_de
from services.projections.readmodels.dossiers import ProjectionDossiers
from services.runtime.feeds import FeedJournal, Positions
from services.runtime.moteur import Moteur, creer_tables
from tests.integration.api_parcours import a_la_date
from tests.integration.conftest import Api, Lecture

NEE_LE = date(2010, 1, 20)
REFERENTE = "referente-claire"
RELAIS = "referent-hugo"
CHEFFE = "encadrante-nadia"


class Bureau:
    """The référente's desk: records a step on a given day, then reads what the read API shows."""

    def __init__(self, api: Api, lecture: Lecture) -> None:
        self.api = api
        self.lecture = lecture
        self.parcours_id = ""

    async def le(
        self, jour: date, chemin: str, corps: dict[str, Any], *, role: str = "referent", sub: str = REFERENTE
    ) -> dict[str, Any]:
        a_la_date(self.api, jour)
        reponse = await self.api.post(
            chemin.replace("{p}", f"/v1/parcours/{self.parcours_id}"), corps, **self.api.jeton(role=role, sub=sub)
        )
        assert reponse.status_code in (200, 201), reponse.text
        resultat: dict[str, Any] = reponse.json()
        await self.lecture.a_jour()
        return resultat

    def au(self, jour: date) -> None:
        """Only the clock moves: what was due becomes overdue."""
        a_la_date(self.api, jour)

    async def dossier(self) -> dict[str, Any]:
        reponse = await self.lecture.get(f"/v1/dossiers/{self.parcours_id}", role="referent", sub=REFERENTE)
        assert reponse.status_code == 200, reponse.text
        assert reponse.headers["X-Projection-Position"].startswith("journal:0=")
        corps: dict[str, Any] = reponse.json()
        return corps

    async def echeances(self) -> dict[str, dict[str, Any]]:
        """The open deadlines by type (one of each in this story)."""
        liste = (await self.dossier())["echeances"]
        par_type = {e["type"]: e for e in liste}
        assert len(par_type) == len(liste), liste
        assert [e["due_le"] for e in liste] == sorted(e["due_le"] for e in liste), "soonest first"
        return par_type

    async def travail(self, **filtres: Any) -> list[dict[str, Any]]:
        reponse = await self.lecture.get("/v1/echeances", role="referent", sub=REFERENTE, **filtres)
        assert reponse.status_code == 200, reponse.text
        lignes: list[dict[str, Any]] = reponse.json()["echeances"]
        return lignes


async def test_the_parcours_of_ines_read_back_deadline_by_deadline(api: Api, lecture: Lecture, base_url: str) -> None:
    b = Bureau(api, lecture)

    # -- January 2024: the school reports; the CRIP has three months to assess ---------------------
    ouverture = await b.le(
        date(2024, 1, 8),
        "/v1/parcours",
        {
            "personne": {"nom": "Benali", "prenoms": "Inès Sarah", "date_naissance": NEE_LE.isoformat(), "sexe": "F"},
            "departement": "59",
            "date_effet": "2024-01-08",
            "referent_id": REFERENTE,
        },
    )
    b.parcours_id = ouverture["id"]
    ip = await b.le(
        date(2024, 1, 8),
        "{p}/informations-preoccupantes",
        {
            "origine": "education_nationale",
            "dangers": ["violences_physiques"],
            "date_effet": "2024-01-08",
        },
    )
    vu = await b.dossier()
    assert vu["identite"] == {
        "nom": "Benali",
        "prenoms": "Inès Sarah",
        "date_naissance": "2010-01-20",
        "effacee": False,
    }
    assert (vu["age"], vu["date_majorite"], vu["referent_id"], vu["statut"]) == (13, "2028-01-20", REFERENTE, "ouvert")
    assert vu["informations_preoccupantes"][0]["ip_id"] == ip["ip_id"]
    e = await b.echeances()
    assert set(e) == {"evaluation_ip", "majorite"}
    assert (e["evaluation_ip"]["due_le"], e["evaluation_ip"]["cle"]) == ("2024-04-08", ip["ip_id"])
    assert vu["autonomie"]["statut"] == "non_concerne", "not in care yet"

    await b.le(
        date(2024, 1, 10),
        "{p}/evaluations",
        {"ip_id": ip["ip_id"], "suite": "saisine_judiciaire", "date_effet": "2024-01-10"},
    )
    assert set(await b.echeances()) == {"majorite"}, "the assessment deadline left with the evaluation"

    # -- the parquet places her in a MECS: seize the judge in 8 days, a ruling in 15 ----------------
    mecs = (
        await b.le(
            date(2024, 1, 10),
            "/v1/lieux",
            {
                "nom": "MECS Les Peupliers",
                "type": "mecs",
                "departement": "59",
                "capacite": 24,
            },
            role="encadrant",
            sub=CHEFFE,
        )
    )["id"]
    assistante = (
        await b.le(
            date(2024, 1, 10),
            "/v1/lieux",
            {
                "nom": "Mme Lemaire",
                "type": "assistant_familial",
                "departement": "59",
                "capacite": 2,
            },
            role="encadrant",
            sub=CHEFFE,
        )
    )["id"]
    opp = (
        await b.le(
            date(2024, 1, 10),
            "{p}/mesures",
            {
                "cadre": "judiciaire",
                "nature": "opp",
                "autorite": "parquet",
                "reference_decision": "PARQUET-2024-0113",
                "date_debut": "2024-01-10",
                "date_effet": "2024-01-10",
            },
        )
    )["mesure_id"]
    await b.le(date(2024, 1, 10), "{p}/accueil", {"mesure_id": opp, "lieu_id": mecs, "date_effet": "2024-01-10"})
    vu = await b.dossier()
    assert (vu["accueil"]["lieu_id"], vu["accueil"]["lieu_nom"], vu["accueil"]["type_lieu"]) == (
        mecs,
        "MECS Les Peupliers",
        "mecs",
    )
    e = await b.echeances()
    assert set(e) == {
        "saisine_juge_des_enfants",
        "decision_juge_des_enfants",
        "ppe",
        "rapport_situation",
        "entretien_autonomie",
        "preparation_majorite",
        "majorite",
    }
    assert (e["saisine_juge_des_enfants"]["due_le"], e["decision_juge_des_enfants"]["due_le"]) == (
        "2024-01-18",
        "2024-01-25",
    )
    assert (e["ppe"]["due_le"], e["rapport_situation"]["due_le"]) == ("2024-04-10", "2025-01-10")
    assert (e["entretien_autonomie"]["alerte_le"], e["entretien_autonomie"]["due_le"]) == ("2026-07-20", "2027-01-20")
    assert (e["preparation_majorite"]["alerte_le"], e["preparation_majorite"]["due_le"]) == ("2027-07-20", "2028-01-20")
    urgent = await b.travail(avant="2024-02-01")
    assert [(t["type"], t["parcours_id"], t["nom"]) for t in urgent] == [
        ("saisine_juge_des_enfants", b.parcours_id, "Benali"),
        ("decision_juge_des_enfants", b.parcours_id, "Benali"),
    ]

    # -- the juge des enfants entrusts her to the ASE; the OPP is lifted ---------------------------------
    confiage = (
        await b.le(
            date(2024, 1, 24),
            "{p}/mesures",
            {
                "cadre": "judiciaire",
                "nature": "confiage_ase",
                "autorite": "juge_des_enfants",
                "reference_decision": "JE-2024-0057",
                "date_debut": "2024-01-24",
                "date_echeance": "2026-01-23",
                "date_effet": "2024-01-24",
            },
        )
    )["mesure_id"]
    await b.le(date(2024, 1, 24), f"{{p}}/mesures/{opp}/levee", {"motif": "mainlevee", "date_effet": "2024-01-24"})
    e = await b.echeances()
    assert set(e) == {
        "ppe",
        "echeance_mesure",
        "rapport_situation",
        "entretien_autonomie",
        "preparation_majorite",
        "majorite",
    }, "the judge ruled: the OPP deadlines are gone"
    assert (e["echeance_mesure"]["cle"], e["echeance_mesure"]["due_le"], e["echeance_mesure"]["alerte_le"]) == (
        confiage,
        "2026-01-23",
        "2025-11-23",
    )
    assert e["rapport_situation"]["due_le"] == "2025-01-24", "counted from the measure still active"
    vu = await b.dossier()
    assert [m["nature"] for m in vu["mesures_actives"]] == ["confiage_ase"]
    assert [(m["nature"], m["motif_levee"]) for m in vu["mesures_levees"]] == [("opp", "mainlevee")]

    await b.le(date(2024, 3, 20), "{p}/ppe", {"date_effet": "2024-03-20"})
    assert "ppe" not in await b.echeances()
    assert (await b.dossier())["ppe"] == {"etabli_le": "2024-03-20", "actualise_le": None}

    # -- a family placement; a two-day fugue ----------------------------------------------------------
    await b.le(
        date(2024, 6, 3),
        "{p}/accueil/changement",
        {"lieu_id": assistante, "motif": "besoin_enfant", "date_effet": "2024-06-03"},
    )
    vu = await b.dossier()
    # A private person's name is off the public topic, but the département's caseworker placing the child sees it.
    assert (vu["accueil"]["lieu_id"], vu["accueil"]["lieu_nom"], vu["lieux_successifs"]) == (
        assistante,
        "Mme Lemaire",
        2,
    )
    assert (vu["accueil"]["debut_accueil"], vu["accueil"]["depuis"]) == ("2024-01-10", "2024-06-03")
    await b.le(date(2024, 9, 14), "{p}/fugues", {"date_effet": "2024-09-14"})
    assert (await b.dossier())["accueil"]["fugue_depuis"] == "2024-09-14"
    liste = (await lecture.get("/v1/dossiers", role="referent", lieu_id=assistante)).json()["dossiers"]
    assert [(d["parcours_id"], d["fugue_en_cours"]) for d in liste] == [(b.parcours_id, True)]
    await b.le(date(2024, 9, 16), "{p}/fugues/fin", {"date_effet": "2024-09-16"})
    assert (await b.dossier())["accueil"]["fugue_depuis"] is None
    assert (await lecture.get("/v1/dossiers", role="referent", lieu_id=mecs)).json()["total"] == 0

    # -- the yearly report: overdue a few days, then produced ---------------------------------------
    b.au(date(2025, 1, 30))
    rapport = (await b.echeances())["rapport_situation"]
    assert (rapport["en_alerte"], rapport["en_retard"]) == (True, True)
    await b.le(date(2025, 1, 30), "{p}/rapports", {"transmis_au_juge": True, "date_effet": "2025-01-30"})
    rapport = (await b.echeances())["rapport_situation"]
    assert (rapport["due_le"], rapport["en_retard"], rapport["en_alerte"]) == ("2026-01-30", False, False)
    await b.le(date(2025, 3, 20), "{p}/ppe", {"date_effet": "2025-03-20"})
    assert (await b.dossier())["ppe"] == {"etabli_le": "2024-03-20", "actualise_le": "2025-03-20"}

    # -- two months before the échéance the measure alerts; the judge renews it ----------------------
    b.au(date(2025, 12, 1))
    alerte = (await b.echeances())["echeance_mesure"]
    assert (alerte["en_alerte"], alerte["en_retard"]) == (True, False)
    await b.le(
        date(2026, 1, 12),
        f"{{p}}/mesures/{confiage}/renouvellement",
        {
            "nouvelle_echeance": "2028-01-23",
            "reference_decision": "JE-2026-0042",
            "date_effet": "2026-01-12",
        },
    )
    e = await b.echeances()
    assert (e["echeance_mesure"]["due_le"], e["echeance_mesure"]["en_alerte"]) == ("2028-01-23", False)
    (active,) = (await b.dossier())["mesures_actives"]
    assert (active["date_echeance"], active["renouvellements"], active["echue"]) == ("2028-01-23", 1, False)
    await b.le(date(2026, 1, 26), "{p}/rapports", {"transmis_au_juge": True, "date_effet": "2026-01-26"})

    # -- at 16½, the entretien d'autonomie -----------------------------------------------------------
    b.au(date(2026, 7, 20))
    assert (await b.dossier())["autonomie"] == {
        "entretien_realise_le": None,
        "statut": "a_planifier",
        "a_planifier_des_le": "2026-07-20",
        "du_le": "2027-01-20",
    }
    await b.le(date(2026, 7, 20), "{p}/entretien-autonomie", {"date_effet": "2026-07-20"})
    vu = await b.dossier()
    assert vu["autonomie"]["statut"] == "realise"
    assert "entretien_autonomie" not in {e["type"] for e in vu["echeances"]}
    assert vu["age"] == 16

    # -- a new référent; the worklist follows the dossier -------------------------------------------------
    await b.le(
        date(2027, 1, 11),
        "{p}/referent",
        {"referent_id": RELAIS, "date_effet": "2027-01-11"},
        role="encadrant",
        sub=CHEFFE,
    )
    a_hugo = (await lecture.get("/v1/echeances", role="referent", referent_id=RELAIS)).json()["echeances"]
    assert {t["type"] for t in a_hugo} == {"rapport_situation", "echeance_mesure", "preparation_majorite", "majorite"}
    assert (await lecture.get("/v1/echeances", role="referent", referent_id=REFERENTE)).json()["total"] == 0
    await b.le(date(2027, 1, 20), "{p}/rapports", {"transmis_au_juge": True, "date_effet": "2027-01-20"})

    # -- 20 January 2028: majority, recorded two days late, ends the placement and the measure -------
    b.au(date(2028, 1, 21))
    e = await b.echeances()
    assert (e["majorite"]["due_le"], e["majorite"]["en_retard"]) == ("2028-01-20", True)
    assert e["preparation_majorite"]["en_retard"] is True
    await b.le(date(2028, 1, 22), "{p}/majorite", {})
    vu = await b.dossier()
    assert (vu["age"], vu["majorite_atteinte_le"], vu["accueil"], vu["mesures_actives"]) == (18, "2028-01-20", None, [])
    assert [(m["nature"], m["motif_levee"]) for m in vu["mesures_levees"]] == [
        ("opp", "mainlevee"),
        ("confiage_ase", "majorite"),
    ]
    # Majority recorded, measure lifted, no measure left to report on: what remains is to offer an APJM.
    assert [(o["type"], o["due_le"]) for o in vu["echeances"]] == [
        ("proposition_accompagnement_jeune_majeur", "2028-01-20")
    ]

    # -- the contrat jeune majeur, renewed once, to its term -------------------------------------------
    await b.le(
        date(2028, 1, 25),
        "{p}/accompagnement-jeune-majeur",
        {"date_debut": "2028-01-20", "date_fin": "2029-01-19", "date_effet": "2028-01-25"},
    )
    e = await b.echeances()
    assert set(e) == {"fin_accompagnement_jeune_majeur"}, "the APJM granted, the offer is done"
    fin = e["fin_accompagnement_jeune_majeur"]
    assert (fin["due_le"], fin["alerte_le"], fin["details"]) == (
        "2029-01-19",
        "2028-11-19",
        {"limite_21_ans": "2031-01-20", "limite_legale": "2031-01-20", "fin_annee_engagee": False},
    )
    await b.le(
        date(2029, 1, 10),
        "{p}/accompagnement-jeune-majeur/renouvellement",
        {"date_fin": "2030-01-19", "date_effet": "2029-01-10"},
    )
    assert (await b.echeances())["fin_accompagnement_jeune_majeur"]["due_le"] == "2030-01-19"
    assert (await b.dossier())["accompagnement_jeune_majeur"] == {
        "date_debut": "2028-01-20",
        "date_fin": "2030-01-19",
        "fin_annee_engagee": False,
        "renouvellements": 1,
    }
    await b.le(date(2030, 1, 19), "{p}/accompagnement-jeune-majeur/fin", {"motif": "terme", "date_effet": "2030-01-19"})
    assert await b.echeances() == {}

    # -- she leaves care with social housing: three years of priority, nothing left to do -------------
    await b.le(
        date(2030, 1, 19),
        "{p}/sortie",
        {
            "motif": "fin_accompagnement_jeune_majeur",
            "situation_logement": "logement_social",
            "date_effet": "2030-01-19",
        },
    )
    vu = await b.dossier()
    assert (vu["statut"], vu["sortie"], vu["age"]) == (
        "sorti",
        {"sorti_le": "2030-01-19", "motif": "fin_accompagnement_jeune_majeur", "situation_logement": "logement_social"},
        19,
    )
    (logement,) = vu["echeances"]
    assert (logement["type"], logement["due_le"], logement["informatif"], logement["en_retard"]) == (
        "priorite_logement_social",
        "2033-01-19",
        True,
        False,
    )
    assert await b.travail() == [], "an informational window is not work to do"
    sortis = (await lecture.get("/v1/dossiers", role="referent", statut="sorti", q="ines benali")).json()
    assert [d["parcours_id"] for d in sortis["dossiers"]] == [b.parcours_id]
    assert sortis["dossiers"][0]["prochaine_echeance"] is None

    # -- every read of her dossier was recorded ---------------------------------------------------------
    async with lecture.comp.pool.acquire() as conn:
        lectures = await conn.fetchval(
            "SELECT count(*) FROM public.journal_acces WHERE parcours_id = $1 AND sub = $2 AND chemin = $3",
            b.parcours_id,
            REFERENTE,
            f"/v1/dossiers/{b.parcours_id}",
        )
    assert lectures >= 20

    # -- nothing was dead-lettered, and a rebuild from the store (other batches) gives the same tables -----
    assert await tables_du_modele(lecture, await schema_de(lecture.comp, "dossiers"), lettres_mortes=True) == {
        "lettres_mortes": []
    }
    assert await reconstruire(lecture, base_url) == await tables_du_modele(
        lecture, await schema_de(lecture.comp, "dossiers")
    )


TABLES = ("dossiers", "mesures", "ips", "identites", "lieux", "echeances", "journal")


async def tables_du_modele(lecture: Lecture, schema: str, *, lettres_mortes: bool = False) -> dict[str, list[Any]]:
    async with lecture.comp.pool.acquire() as conn:
        if lettres_mortes:
            return {
                "lettres_mortes": [
                    dict(ligne) for ligne in await conn.fetch(f'SELECT * FROM "{schema}".lettres_mortes')
                ]
            }
        return {
            t: [dict(ligne) for ligne in await conn.fetch(f'SELECT * FROM "{schema}".{t} ORDER BY 1, 2, 3')]
            for t in TABLES
        }


async def reconstruire(lecture: Lecture, base_url: str) -> dict[str, list[Any]]:
    """Replay the whole store into a fresh schema, three events per batch."""
    schema = "reconstruction_dossiers"
    async with lecture.comp.pool.acquire() as conn:
        await creer_tables(conn, schema, ProjectionDossiers())
    feed = FeedJournal(base_url, taille_lot=3)
    moteur = Moteur(ProjectionDossiers(), schema, lecture.comp.pool, feed)

    async def depuis_le_debut() -> Positions:
        return {}

    try:
        async for lot in feed.lots(depuis_le_debut):
            if not lot:
                break
            await moteur.appliquer_lot(lot)
    finally:
        await feed.fermer()
    return await tables_du_modele(lecture, schema)
