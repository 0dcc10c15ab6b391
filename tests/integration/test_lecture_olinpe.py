"""The OLINPE yearly extract: pseudonymised rows, JSON lines and CSV, scoped and restricted."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import httpx
import orjson

from services.projections.readmodels.olinpe import COLONNES, pseudonyme, reglages_olinpe
from tests.integration.api_parcours import NE_LE, NOM, PRENOMS
from tests.integration.conftest import Api, Lecture
from tests.integration.pilotage_outils import Referent, statut

REFERENCE_JUGE = "JE-59-2025-0042"


async def extrait(lecture: Lecture, annee: int, format: str = "jsonl", **options: Any) -> httpx.Response:
    reponse = await lecture.get(
        "/v1/statistiques/olinpe", **{"role": "observatoire", "annee": annee, "format": format, **options}
    )
    statut(reponse, 200)
    return reponse


def jsonl(reponse: httpx.Response) -> list[dict[str, Any]]:
    return [orjson.loads(ligne) for ligne in reponse.content.splitlines()]


async def une_personne_et_ses_mesures(nord: Referent) -> dict[str, Any]:
    """A child with a judicial measure from 2025 renewed in 2026, and an AED started and lifted in 2026."""
    ouvert = await nord.ouvrir(date(2025, 10, 1))
    parcours_id = str(ouvert["id"])
    confiage = await nord.mesure(
        parcours_id,
        date(2025, 10, 1),
        cadre="judiciaire",
        nature="confiage_ase",
        autorite="juge_des_enfants",
        echeance=date(2026, 9, 30),
        reference=REFERENCE_JUGE,
    )
    aed = await nord.mesure(parcours_id, date(2026, 2, 1), nature="aed")
    await nord.envoyer(
        f"/v1/parcours/{parcours_id}/mesures/{confiage}/renouvellement",
        {"nouvelle_echeance": "2027-09-30", "reference_decision": "JE-59-2026-0007", "date_effet": "2026-06-01"},
    )
    await nord.lever(parcours_id, aed, date(2026, 8, 1))
    return {"parcours_id": parcours_id, "personne_id": str(ouvert["personne_id"]), "mesures": [confiage, aed]}


async def test_the_extract_holds_each_start_renewal_and_end_of_a_measure_of_the_year_under_a_pseudonym(
    api: Api, lecture: Lecture
) -> None:
    nord = Referent(api)
    enfant = await une_personne_et_ses_mesures(nord)
    ailleurs = str((await Referent(api, "62").ouvrir(date(2026, 1, 5)))["id"])
    await Referent(api, "62").mesure(ailleurs, date(2026, 1, 5))
    await lecture.a_jour()

    reponse = await extrait(lecture, 2026)

    assert reponse.headers["content-type"].startswith("application/x-ndjson")
    assert 'filename="olinpe-2026.jsonl"' in reponse.headers["content-disposition"]
    personne = {
        "pseudonyme": pseudonyme(reglages_olinpe().cle_octets(), enfant["personne_id"]),
        "departement": "59",
        "annee_naissance": 2012,
        "mois_naissance": 5,
        "sexe": "F",
    }
    confiage = {
        "cadre": "judiciaire",
        "nature": "confiage_ase",
        "autorite": "juge_des_enfants",
        "date_decision": "2025-10-01",
        "date_debut": "2025-10-01",
    }
    aed = {
        "cadre": "administratif",
        "nature": "aed",
        "autorite": "president_cd",
        "date_decision": "2026-02-01",
        "date_debut": "2026-02-01",
    }
    assert jsonl(reponse) == [
        {
            **personne,
            "rang_mesure": 2,
            "evenement": "debut",
            "date_evenement": "2026-02-01",
            **aed,
            "date_echeance": "2026-08-01",
            "motif_fin": None,
        },
        {
            **personne,
            "rang_mesure": 1,
            "evenement": "renouvellement",
            "date_evenement": "2026-06-01",
            **confiage,
            "date_echeance": "2027-09-30",
            "motif_fin": None,
        },
        {
            **personne,
            "rang_mesure": 2,
            "evenement": "fin",
            "date_evenement": "2026-08-01",
            **aed,
            "date_echeance": None,
            "motif_fin": "mainlevee",
        },
    ]
    assert [list(ligne) for ligne in jsonl(reponse)] == [list(COLONNES)] * 3
    assert jsonl(await extrait(lecture, 2025)) == [
        {
            **personne,
            "rang_mesure": 1,
            "evenement": "debut",
            "date_evenement": "2025-10-01",
            **confiage,
            "date_echeance": "2026-09-30",
            "motif_fin": None,
        },
    ]


async def test_the_extract_carries_no_id_no_name_no_birth_date_and_no_decision_reference(
    api: Api, lecture: Lecture
) -> None:
    enfant = await une_personne_et_ses_mesures(Referent(api))
    await lecture.a_jour()

    for format in ("jsonl", "csv"):
        octets = (await extrait(lecture, 2026, format)).content
        assert octets
        interdits = [
            enfant["parcours_id"],
            enfant["personne_id"],
            *enfant["mesures"],
            NOM,
            *PRENOMS.split(),
            NE_LE.isoformat(),
            "2012-05",
            REFERENCE_JUGE,
            "JE-59-2026-0007",
            "parcours_id",
            "personne_id",
        ]
        for interdit in interdits:
            assert interdit.encode() not in octets, (format, interdit)
            assert interdit.upper().encode() not in octets.upper(), (format, interdit)


async def test_the_csv_extract_has_a_header_and_the_same_rows_as_the_json_lines(api: Api, lecture: Lecture) -> None:
    await une_personne_et_ses_mesures(Referent(api))
    await lecture.a_jour()

    reponse = await extrait(lecture, 2026, "csv")

    assert reponse.headers["content-type"].startswith("text/csv")
    assert 'filename="olinpe-2026.csv"' in reponse.headers["content-disposition"]
    entete, *lignes = list(csv.reader(io.StringIO(reponse.text)))
    assert entete == list(COLONNES)
    attendues = [
        {c: "" if v is None else str(v) for c, v in ligne.items()} for ligne in jsonl(await extrait(lecture, 2026))
    ]
    assert [dict(zip(entete, ligne, strict=True)) for ligne in lignes] == attendues
    assert len(lignes) == 3


async def test_a_corrected_sexe_or_measure_start_shows_in_the_extract(api: Api, lecture: Lecture) -> None:
    nord = Referent(api)
    parcours_id = str((await nord.ouvrir(date(2026, 1, 5)))["id"])
    await nord.mesure(parcours_id, date(2026, 1, 5), nature="aed")  # version 2
    await nord.rectifier(parcours_id, 1, "sexe", "M")
    await nord.rectifier(parcours_id, 2, "date_debut", "2025-12-20")
    await lecture.a_jour()

    assert [(r["sexe"], r["date_evenement"]) for r in jsonl(await extrait(lecture, 2025))] == [("M", "2025-12-20")]
    assert jsonl(await extrait(lecture, 2026)) == []


async def test_a_young_adults_apjm_is_in_the_extract_with_its_start_renewal_and_end_as_corrected(
    api: Api, lecture: Lecture
) -> None:
    """Décret 2016-1966: OLINPE follows the young adults' accompagnement (CASF L222-5) like the measures."""
    nord = Referent(api)
    ouvert = await nord.ouvrir(date(2025, 6, 2), ne_le=date(2007, 9, 1))
    parcours_id = str(ouvert["id"])
    await nord.mesure(
        parcours_id,
        date(2025, 6, 2),
        cadre="judiciaire",
        nature="confiage_ase",
        autorite="juge_des_enfants",
        echeance=date(2026, 6, 1),
    )
    await nord.majorite(parcours_id)  # dated 2025-09-01; lifts the measure the same day
    await nord.apjm(parcours_id, date(2025, 9, 1), date(2026, 8, 31), date(2025, 9, 1))
    renouvellement = await nord.envoyer(
        f"/v1/parcours/{parcours_id}/accompagnement-jeune-majeur/renouvellement",
        {"date_fin": "2027-08-31", "date_effet": "2026-08-01"},
    )
    await nord.envoyer(
        f"/v1/parcours/{parcours_id}/accompagnement-jeune-majeur/fin",
        {"motif": "demande_du_jeune", "date_effet": "2026-10-01"},
    )
    await nord.rectifier(parcours_id, int(renouvellement["version"]), "date_fin", "2027-06-30")
    await lecture.a_jour()

    personne = {
        "pseudonyme": pseudonyme(reglages_olinpe().cle_octets(), str(ouvert["personne_id"])),
        "departement": "59",
        "annee_naissance": 2007,
        "mois_naissance": 9,
        "sexe": "F",
    }
    apjm = {
        "rang_mesure": 2,
        "cadre": "administratif",
        "nature": "accompagnement_jeune_majeur",
        "autorite": "president_cd",
        "date_decision": "2025-09-01",
        "date_debut": "2025-09-01",
    }
    en_2025 = [
        (r["rang_mesure"], r["nature"], r["evenement"], r["date_evenement"])
        for r in jsonl(await extrait(lecture, 2025))
    ]
    assert en_2025 == [
        (1, "confiage_ase", "debut", "2025-06-02"),
        (1, "confiage_ase", "fin", "2025-09-01"),
        (2, "accompagnement_jeune_majeur", "debut", "2025-09-01"),
    ]
    (debut,) = [r for r in jsonl(await extrait(lecture, 2025)) if r["nature"] == "accompagnement_jeune_majeur"]
    assert debut == {
        **personne,
        **apjm,
        "evenement": "debut",
        "date_evenement": "2025-09-01",
        "date_echeance": "2026-08-31",
        "motif_fin": None,
    }
    assert jsonl(await extrait(lecture, 2026)) == [
        {
            **personne,
            **apjm,
            "evenement": "renouvellement",
            "date_evenement": "2026-08-01",
            "date_echeance": "2027-06-30",
            "motif_fin": None,
        },
        {
            **personne,
            **apjm,
            "evenement": "fin",
            "date_evenement": "2026-10-01",
            "date_echeance": None,
            "motif_fin": "demande_du_jeune",
        },
    ]


async def test_the_extract_is_for_the_observatory_and_managers_of_their_departements(
    api: Api, lecture: Lecture
) -> None:
    await une_personne_et_ses_mesures(Referent(api))
    pas_de_calais = Referent(api, "62")
    ailleurs = str((await pas_de_calais.ouvrir(date(2026, 1, 5)))["id"])
    await pas_de_calais.mesure(ailleurs, date(2026, 1, 5))
    await lecture.a_jour()

    assert {r["departement"] for r in jsonl(await extrait(lecture, 2026))} == {"59"}
    assert {r["departement"] for r in jsonl(await extrait(lecture, 2026, departements=("59", "62")))} == {"59", "62"}
    seul_62 = jsonl(await extrait(lecture, 2026, departements=("59", "62"), departement="62"))
    assert [(r["departement"], r["evenement"], r["nature"]) for r in seul_62] == [("62", "debut", "accueil_provisoire")]
    assert len(jsonl(await extrait(lecture, 2026, role="encadrant"))) == 3

    chemin = "/v1/statistiques/olinpe"
    for role in ("referent", "auditeur", "service"):
        statut(await lecture.get(chemin, role=role, annee=2026), 403, "interdit")
    statut(await lecture.get(chemin, role="observatoire", annee=2026, departement="62"), 403, "interdit")
    for mauvais in (
        {},
        {"annee": 2027},
        {"annee": 1999},
        {"annee": "x"},
        {"annee": 2026, "format": "xml"},
        {"annee": 2026, "departement": "975 "},
        {"annee": 2026, "departement": "977"},
    ):
        statut(await lecture.get(chemin, role="observatoire", **mauvais), 422, "validation")
    statut(await lecture.client.get(chemin, params={"annee": 2026}), 401, "non_authentifie")
