"""One child's whole parcours through the HTTP API, from the report of concern to leaving care.

Inès, born 20 January 2010, is reported by her school at 13. The parquet places
her in emergency, the juge des enfants entrusts her to the ASE, she lives in a
MECS then with an assistante familiale, runs away once, is interviewed about
autonomy at 16½, comes of age, is supported as a young adult until nearly 20,
and leaves care with social housing. The clock moves with the story; each step
checks what the référente, and at the end the inspection, see.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from tests.integration.api_parcours import a_la_date, etat, evenements, lire, probleme
from tests.integration.conftest import Api

NEE_LE = date(2010, 1, 20)
REFERENTE = "referente-claire"
CHEFFE = "encadrante-nadia"


class Recit:
    """The référente's desk: sends a command on a given day and checks what was recorded."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.parcours_id = ""

    async def le(
        self,
        jour: date,
        chemin: str,
        corps: dict[str, Any],
        attendus: list[str],
        *,
        auteur: str = REFERENTE,
        role: str = "referent",
    ) -> dict[str, Any]:
        a_la_date(self.api, jour)
        avant = len(await evenements(self.api, self.parcours_id)) if self.parcours_id else 0
        reponse = await self.api.post(
            chemin.replace("{p}", f"/v1/parcours/{self.parcours_id}"), corps, **self.api.jeton(role=role, sub=auteur)
        )
        assert reponse.status_code in (200, 201), reponse.text
        resultat: dict[str, Any] = reponse.json()
        assert resultat["evenements"] == attendus
        if chemin.startswith("{p}") or chemin == "/v1/parcours":
            self.parcours_id = self.parcours_id or resultat["id"]
            flux = await evenements(self.api, self.parcours_id)
            assert [e["type"] for e in flux[avant:]] == attendus
            assert resultat["version"] == len(flux)
            assert {e["auteur"] for e in flux[avant:]} == {auteur}
        return resultat

    async def refuse(self, jour: date, chemin: str, corps: dict[str, Any], regle: str) -> None:
        a_la_date(self.api, jour)
        avant = await evenements(self.api, self.parcours_id)
        reponse = await self.api.post(
            chemin.replace("{p}", f"/v1/parcours/{self.parcours_id}"), corps, **self.api.jeton(sub=REFERENTE)
        )
        assert probleme(reponse, 409, "regle_metier")["regle"] == regle
        assert await evenements(self.api, self.parcours_id) == avant

    async def etat(self) -> dict[str, Any]:
        return await etat(self.api, self.parcours_id)


async def test_the_parcours_of_ines_from_the_report_of_concern_to_leaving_care(api: Api) -> None:
    recit = Recit(api)

    # -- January 2024: the school reports; the CRIP assesses; the parquet places -------------------
    ouverture = await recit.le(
        date(2024, 1, 8),
        "/v1/parcours",
        {
            "personne": {"nom": "Benali", "prenoms": "Inès Sarah", "date_naissance": NEE_LE.isoformat(), "sexe": "F"},
            "departement": "59",
            "date_effet": "2024-01-08",
            "referent_id": REFERENTE,
        },
        ["ParcoursOuvert"],
    )
    ip = await recit.le(
        date(2024, 1, 8),
        "{p}/informations-preoccupantes",
        {
            "origine": "education_nationale",
            "dangers": ["violences_physiques", "negligences"],
            "date_effet": "2024-01-08",
        },
        ["InformationPreoccupanteRecue"],
    )
    vu = await recit.etat()
    assert (vu["age"], vu["referent_id"], vu["personne_id"]) == (13, REFERENTE, ouverture["personne_id"])
    assert vu["informations_preoccupantes"] == [
        {"ip_id": ip["ip_id"], "recue_le": "2024-01-08", "suite": None, "evaluee_le": None}
    ]

    await recit.le(
        date(2024, 1, 10),
        "{p}/evaluations",
        {"ip_id": ip["ip_id"], "suite": "saisine_judiciaire", "date_effet": "2024-01-10"},
        ["EvaluationConclue"],
    )
    mecs = (
        await recit.le(
            date(2024, 1, 10),
            "/v1/lieux",
            {
                "nom": "MECS Les Peupliers",
                "type": "mecs",
                "departement": "59",
                "capacite": 24,
                "finess": "590781234",
            },
            ["LieuAccueilReference"],
            auteur=CHEFFE,
            role="encadrant",
        )
    )["id"]
    assistante = (
        await recit.le(
            date(2024, 1, 10),
            "/v1/lieux",
            {
                "nom": "Mme Lemaire, assistante familiale",
                "type": "assistant_familial",
                "departement": "59",
                "capacite": 2,
            },
            ["LieuAccueilReference"],
            auteur=CHEFFE,
            role="encadrant",
        )
    )["id"]

    opp = (
        await recit.le(
            date(2024, 1, 10),
            "{p}/mesures",
            {
                "cadre": "judiciaire",
                "nature": "opp",
                "autorite": "parquet",
                "reference_decision": "PARQUET-LILLE-2024-0113",
                "date_debut": "2024-01-10",
                "date_effet": "2024-01-10",
            },
            ["MesureDecidee"],
        )
    )["mesure_id"]
    await recit.le(
        date(2024, 1, 10),
        "{p}/accueil",
        {"mesure_id": opp, "lieu_id": mecs, "date_effet": "2024-01-10"},
        ["AccueilDebute"],
    )
    vu = await recit.etat()
    assert vu["accueil"]["lieu_id"] == mecs
    assert vu["accueil"]["type_lieu"] == "mecs"
    assert vu["informations_preoccupantes"][0]["suite"] == "saisine_judiciaire"

    # The OPP alone carries the placement: it cannot be lifted yet.
    await recit.refuse(
        date(2024, 1, 20),
        f"{{p}}/mesures/{opp}/levee",
        {"motif": "mainlevee", "date_effet": "2024-01-20"},
        "accueil_sans_mesure",
    )

    # -- the juge des enfants entrusts her to the ASE; the OPP is lifted, she stays -----------------
    confiage = (
        await recit.le(
            date(2024, 1, 24),
            "{p}/mesures",
            {
                "cadre": "judiciaire",
                "nature": "confiage_ase",
                "autorite": "juge_des_enfants",
                "reference_decision": "JE-LILLE-2024-0057",
                "date_debut": "2024-01-24",
                "date_echeance": "2026-01-23",
                "date_effet": "2024-01-24",
            },
            ["MesureDecidee"],
        )
    )["mesure_id"]
    await recit.le(
        date(2024, 1, 24),
        f"{{p}}/mesures/{opp}/levee",
        {"motif": "mainlevee", "date_effet": "2024-01-24"},
        ["MesureLevee"],
    )
    vu = await recit.etat()
    assert [(m["nature"], m["active"]) for m in vu["mesures"]] == [("opp", False), ("confiage_ase", True)]
    assert vu["accueil"]["lieu_id"] == mecs, "the placement continues under the confiage"

    await recit.le(date(2024, 3, 20), "{p}/ppe", {"date_effet": "2024-03-20"}, ["PPEEtabli"])

    # -- June 2024: a family placement; September: she runs away for two days ------------------------
    await recit.le(
        date(2024, 6, 3),
        "{p}/accueil/changement",
        {"lieu_id": assistante, "motif": "besoin_enfant", "date_effet": "2024-06-03"},
        ["LieuAccueilChange"],
    )
    await recit.le(date(2024, 9, 14), "{p}/fugues", {"date_effet": "2024-09-14"}, ["FugueDeclaree"])
    assert (await recit.etat())["accueil"]["fugue_depuis"] == "2024-09-14"
    await recit.le(date(2024, 9, 16), "{p}/fugues/fin", {"date_effet": "2024-09-16"}, ["FugueTerminee"])
    vu = await recit.etat()
    assert vu["accueil"]["fugue_depuis"] is None
    assert (vu["accueil"]["lieu_id"], vu["accueil"]["type_lieu"]) == (assistante, "assistant_familial")
    assert (vu["accueil"]["debut_accueil"], vu["accueil"]["depuis"]) == ("2024-01-10", "2024-06-03")
    assert vu["lieux_successifs"] == 2

    # -- the yearly report, the updated plan, the renewal --------------------------------------------
    await recit.le(
        date(2025, 1, 15),
        "{p}/rapports",
        {"transmis_au_juge": True, "date_effet": "2025-01-15"},
        ["RapportSituationProduit"],
    )
    await recit.le(date(2025, 3, 20), "{p}/ppe", {"date_effet": "2025-03-20"}, ["PPEActualise"])
    await recit.refuse(
        date(2025, 12, 1), "{p}/entretien-autonomie", {"date_effet": "2025-12-01"}, "entretien_avant_16_ans"
    )
    await recit.le(
        date(2026, 1, 12),
        f"{{p}}/mesures/{confiage}/renouvellement",
        {
            "nouvelle_echeance": "2028-01-23",
            "reference_decision": "JE-LILLE-2026-0042",
            "date_effet": "2026-01-12",
        },
        ["MesureRenouvelee"],
    )
    vu = await recit.etat()
    assert (vu["mesures"][1]["date_echeance"], vu["mesures"][1]["renouvellements"]) == ("2028-01-23", 1)
    assert (vu["dernier_rapport_le"], vu["ppe_etabli_le"], vu["ppe_actualise_le"]) == (
        "2025-01-15",
        "2024-03-20",
        "2025-03-20",
    )

    # -- at 16½, the entretien d'autonomie ----------------------------------------------------------
    await recit.le(
        date(2026, 7, 20), "{p}/entretien-autonomie", {"date_effet": "2026-07-20"}, ["EntretienAutonomieRealise"]
    )
    await recit.le(
        date(2027, 1, 11),
        "{p}/rapports",
        {"transmis_au_juge": True, "date_effet": "2027-01-11"},
        ["RapportSituationProduit"],
    )
    vu = await recit.etat()
    assert (vu["age"], vu["entretien_autonomie_le"], vu["date_majorite"]) == (16, "2026-07-20", "2028-01-20")

    # -- 20 January 2028: majority, recorded two days later, ends the placement and the measure -------
    await recit.refuse(date(2028, 1, 19), "{p}/majorite", {}, "majorite_pas_encore_atteinte")
    majorite = await recit.le(
        date(2028, 1, 22), "{p}/majorite", {}, ["MajoriteAtteinte", "AccueilTermine", "MesureLevee"]
    )
    flux = await evenements(api, recit.parcours_id)
    fins = flux[-3:]
    assert {e["date_effet"] for e in fins} == {"2028-01-20"}, "dated on the birthday, whenever recorded"
    assert {datetime.fromisoformat(e["enregistre_le"]).date() for e in fins} == {date(2028, 1, 22)}
    assert fins[1]["donnees"] == {"motif": "majorite"}
    assert fins[2]["donnees"] == {"mesure_id": confiage, "motif": "majorite"}
    assert majorite["version"] == len(flux)
    vu = await recit.etat()
    assert (vu["age"], vu["majorite_atteinte_le"], vu["accueil"]) == (18, "2028-01-20", None)
    assert [m["active"] for m in vu["mesures"]] == [False, False]
    assert vu["mesures"][1]["motif_levee"] == "majorite"

    # -- the contrat jeune majeur, renewed once, to its term -----------------------------------------
    await recit.le(
        date(2028, 1, 25),
        "{p}/accompagnement-jeune-majeur",
        {"date_debut": "2028-01-20", "date_fin": "2029-01-19", "date_effet": "2028-01-25"},
        ["AccompagnementJeuneMajeurAccorde"],
    )
    await recit.le(
        date(2029, 1, 10),
        "{p}/accompagnement-jeune-majeur/renouvellement",
        {"date_fin": "2030-01-19", "date_effet": "2029-01-10"},
        ["AccompagnementJeuneMajeurRenouvele"],
    )
    assert (await recit.etat())["accompagnement_jeune_majeur"] == {
        "date_debut": "2028-01-20",
        "date_fin": "2030-01-19",
        "renouvellements": 1,
    }
    await recit.refuse(
        date(2029, 1, 10),
        "{p}/accompagnement-jeune-majeur/renouvellement",
        {"date_fin": "2031-01-20", "date_effet": "2029-01-10"},
        "apjm_au_dela_de_21_ans",
    )
    await recit.le(
        date(2030, 1, 19),
        "{p}/accompagnement-jeune-majeur/fin",
        {"motif": "terme", "date_effet": "2030-01-19"},
        ["AccompagnementJeuneMajeurTermine"],
    )

    # -- she leaves care with social housing ----------------------------------------------------------
    await recit.le(
        date(2030, 1, 19),
        "{p}/sortie",
        {
            "motif": "fin_accompagnement_jeune_majeur",
            "situation_logement": "logement_social",
            "date_effet": "2030-01-19",
        },
        ["SortieDispositif"],
    )
    vu = await recit.etat()
    assert (vu["sorti_le"], vu["accompagnement_jeune_majeur"], vu["accueil"], vu["age"]) == (
        "2030-01-19",
        None,
        None,
        19,
    )
    await recit.refuse(date(2030, 2, 1), "{p}/ppe", {"date_effet": "2030-02-01"}, "parcours_sorti")

    # -- what the inspection reads: the whole history, who recorded what and when --------------------
    lecture = await api.client.get(
        f"/v1/parcours/{recit.parcours_id}/evenements", headers=api.jeton(role="auditeur", sub="inspection-ase")
    )
    assert lecture.status_code == 200, lecture.text
    histoire = lecture.json()
    assert [e["type"] for e in histoire] == [
        "ParcoursOuvert",
        "InformationPreoccupanteRecue",
        "EvaluationConclue",
        "MesureDecidee",
        "AccueilDebute",
        "MesureDecidee",
        "MesureLevee",
        "PPEEtabli",
        "LieuAccueilChange",
        "FugueDeclaree",
        "FugueTerminee",
        "RapportSituationProduit",
        "PPEActualise",
        "MesureRenouvelee",
        "EntretienAutonomieRealise",
        "RapportSituationProduit",
        "MajoriteAtteinte",
        "AccueilTermine",
        "MesureLevee",
        "AccompagnementJeuneMajeurAccorde",
        "AccompagnementJeuneMajeurRenouvele",
        "AccompagnementJeuneMajeurTermine",
        "SortieDispositif",
    ]
    assert [e["version"] for e in histoire] == list(range(1, len(histoire) + 1))
    assert {e["auteur"] for e in histoire} == {REFERENTE}
    enregistrements = [datetime.fromisoformat(e["enregistre_le"]) for e in histoire]
    assert enregistrements == sorted(enregistrements)
    assert enregistrements[0] == datetime(2024, 1, 8, 10, tzinfo=UTC)
    effets = [e["date_effet"] for e in histoire]
    assert effets == sorted(effets), "the stream never goes back in time"
    assert all("Benali" not in str(e) and "Inès" not in str(e) for e in histoire), "names live apart"

    # -- and who sees nothing ----------------------------------------------------------------------
    autre_departement = await lire(api, f"/v1/parcours/{recit.parcours_id}", ("62",))
    probleme(autre_departement, 404, "introuvable")
    observatoire = await api.client.get(f"/v1/parcours/{recit.parcours_id}", headers=api.jeton(role="observatoire"))
    probleme(observatoire, 403, "interdit")
