"""The audit read API: chronology, bi-temporal state, access log (real PostgreSQL, fed from the store)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from tests.integration.api_parcours import NE_LE, decider_mesure, ouvrir, probleme
from tests.integration.conftest import AUJOURD_HUI, Api, Lecture

T1 = AUJOURD_HUI
T2 = AUJOURD_HUI + timedelta(hours=2)
OUVERT_LE = date(2026, 11, 1)


def referent(api: Api, sub: str, departement: str = "59") -> dict[str, str]:
    return api.jeton("referent", (departement,), sub)


async def commande(
    api: Api, chemin: str, corps: dict[str, Any], *, par: str = "alice", departement: str = "59"
) -> dict[str, Any]:
    reponse = await api.post(chemin, corps, **referent(api, par, departement))
    assert reponse.status_code in (200, 201), reponse.text
    resultat: dict[str, Any] = reponse.json()
    return resultat


async def auditer(
    lecture: Lecture, chemin: str, *, departement: str = "59", par: str = "inspectrice", **params: Any
) -> httpx.Response:
    """GET an audit route as auditeur ``par``; ``params`` are the query string, as is."""
    return await lecture.client.get(
        chemin, params=params or None, headers=lecture.api.jeton("auditeur", (departement,), par)
    )


def corps(reponse: httpx.Response) -> Any:
    assert reponse.status_code == 200, reponse.text
    assert reponse.headers["X-Projection-Position"] not in ("", "vide"), reponse.headers
    return reponse.json()


async def test_the_chronology_shows_every_event_with_its_author_times_and_its_corrections(
    api: Api, lecture: Lecture
) -> None:
    pid = (
        await commande(
            api,
            "/v1/parcours",
            {
                "personne": {"nom": "Kervella", "prenoms": "Maëlys", "date_naissance": NE_LE.isoformat(), "sexe": "F"},
                "departement": "59",
                "date_effet": OUVERT_LE.isoformat(),
            },
            par="alice",
        )
    )["id"]
    mesure = await commande(
        api,
        f"/v1/parcours/{pid}/mesures",
        {
            "cadre": "administratif",
            "nature": "accueil_provisoire",
            "autorite": "president_cd",
            "reference_decision": "DEC-1",
            "date_debut": "2026-11-02",
            "date_echeance": "2027-11-01",
            "date_effet": "2026-11-02",
        },
        par="bruno",
    )
    api.horloge.regler(T2)
    await commande(
        api,
        f"/v1/parcours/{pid}/rectifications",
        {
            "version_rectifiee": 2,
            "champ": "date_echeance",
            "nouvelle_valeur": "2027-05-01",
            "motif": "erreur de saisie",
        },
        par="carole",
    )
    await lecture.a_jour()

    chrono = corps(await auditer(lecture, f"/v1/audit/parcours/{pid}/chronologie"))

    assert (chrono["parcours_id"], chrono["departement"]) == (pid, "59")
    ouverture, decision, correction = chrono["evenements"]
    assert [(e["version"], e["nom"], e["auteur"]) for e in chrono["evenements"]] == [
        (1, "ParcoursOuvert", "alice"),
        (2, "MesureDecidee", "bruno"),
        (3, "SaisieRectifiee", "carole"),
    ]
    assert ouverture["type"] == "fr.ase.parcours.parcours_ouvert.v1"
    assert [datetime.fromisoformat(e["enregistre_le"]) for e in chrono["evenements"]] == [T1, T1, T2]
    # A correction carries the date of effect of the event it corrects.
    assert [e["date_effet"] for e in chrono["evenements"]] == ["2026-11-01", "2026-11-02", "2026-11-02"]
    assert decision["donnees"]["mesure_id"] == mesure["mesure_id"]
    assert decision["donnees"]["date_echeance"] == "2027-11-01", "the event stays as recorded"
    assert "date_naissance" not in ouverture["donnees"]
    assert ouverture["donnees"]["mois_naissance"] == NE_LE.isoformat()[:7]
    (beside,) = decision["rectifications"]
    assert beside["version"] == 3
    assert (beside["champ"], beside["ancienne_valeur"], beside["nouvelle_valeur"]) == (
        "date_echeance",
        "2027-11-01",
        "2027-05-01",
    )
    assert (datetime.fromisoformat(beside["enregistre_le"]), beside["auteur"]) == (T2, "carole")
    assert correction["rectifie_version"] == 2
    assert ouverture["rectifications"] == []
    assert ouverture["rectifie_version"] is None


async def test_a_correction_recorded_later_changes_the_state_known_after_it_and_not_before(
    api: Api, lecture: Lecture
) -> None:
    pid = (await ouvrir(api, OUVERT_LE, referent_id="alice"))["id"]
    await commande(api, f"/v1/parcours/{pid}/referent", {"referent_id": "bruno", "date_effet": "2026-11-10"})
    await commande(api, f"/v1/parcours/{pid}/ppe", {"date_effet": "2026-11-20"})
    api.horloge.regler(T2)
    await commande(
        api,
        f"/v1/parcours/{pid}/rectifications",
        {"version_rectifiee": 2, "champ": "referent_id", "nouvelle_valeur": "bertrand", "motif": "homonyme"},
    )
    await commande(
        api,
        f"/v1/parcours/{pid}/rectifications",
        {"version_rectifiee": 1, "champ": "date_naissance", "nouvelle_valeur": "2012-04-03", "motif": "acte"},
    )
    await lecture.a_jour()
    chemin = f"/v1/audit/parcours/{pid}/etat"
    entre = (T1 + timedelta(hours=1)).isoformat()

    avant = corps(await auditer(lecture, chemin, date_effet="2026-11-28", connu_le=entre))
    apres = corps(await auditer(lecture, chemin, date_effet="2026-11-28", connu_le=T2.isoformat()))
    maintenant = corps(await auditer(lecture, chemin))

    assert (avant["etat"]["referent_id"], avant["etat"]["mois_naissance"]) == ("bruno", "2012-05")
    assert avant["etat"]["rectifications_appliquees"] == []
    assert (apres["etat"]["referent_id"], apres["etat"]["mois_naissance"]) == ("bertrand", "2012-04")
    assert apres["etat"]["rectifications_appliquees"] == [4, 5]
    assert maintenant["etat"] == apres["etat"]
    assert (maintenant["date_effet"], datetime.fromisoformat(maintenant["connu_le"])) == ("2026-11-28", T2)
    assert datetime.fromisoformat(avant["connu_le"]) == T1 + timedelta(hours=1)


async def test_the_date_of_effect_asked_decides_which_events_are_in_the_state(api: Api, lecture: Lecture) -> None:
    pid = (await ouvrir(api, OUVERT_LE, referent_id="alice"))["id"]
    mesure_id = await decider_mesure(api, pid, date_debut=date(2026, 11, 5), date_echeance=date(2027, 5, 4))
    await commande(api, f"/v1/parcours/{pid}/referent", {"referent_id": "bruno", "date_effet": "2026-11-10"})
    await commande(api, f"/v1/parcours/{pid}/ppe", {"date_effet": "2026-11-20"})
    await lecture.a_jour()
    chemin = f"/v1/audit/parcours/{pid}/etat"

    veille = corps(await auditer(lecture, chemin, date_effet="2026-10-31"))["etat"]
    debut = corps(await auditer(lecture, chemin, date_effet="2026-11-09"))["etat"]
    ensuite = corps(await auditer(lecture, chemin, date_effet="2026-11-20"))["etat"]
    jamais_connu = corps(await auditer(lecture, chemin, connu_le=(T1 - timedelta(seconds=1)).isoformat()))["etat"]

    assert (veille["ouvert_le"], veille["derniere_version"]) == (None, None)
    assert (debut["referent_id"], debut["ppe_etabli_le"], debut["derniere_version"]) == ("alice", None, 2)
    assert debut["departement"] == "59"
    assert debut["mesures_actives"] == [
        {
            "mesure_id": mesure_id,
            "cadre": "administratif",
            "nature": "accueil_provisoire",
            "autorite": "president_cd",
            "reference_decision": "DEC-2026-001",
            "date_debut": "2026-11-05",
            "date_echeance": "2027-05-04",
            "decidee_le": "2026-11-05",
            "duree_derogatoire": False,
            "renouvellements": 0,
            "renouvelee_le": None,
            "levee_le": None,
            "motif_levee": None,
            "version_decision": 2,
        }
    ]
    assert debut["mesures_levees"] == []
    assert (ensuite["referent_id"], ensuite["ppe_etabli_le"], ensuite["evenements_pris_en_compte"]) == (
        "bruno",
        "2026-11-20",
        4,
    )
    assert jamais_connu["evenements_pris_en_compte"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {"date_effet": "2026-13-01"},
        {"date_effet": "hier"},
        {"connu_le": "pas-une-heure"},
        {"connu_le": "2026-11-28T10:00:00"},  # no zone: which instant would it be?
        {"connu_le": "2026-11-28"},
    ],
)
async def test_a_malformed_date_or_instant_is_a_422(api: Api, lecture: Lecture, params: dict[str, str]) -> None:
    pid = (await ouvrir(api, OUVERT_LE))["id"]
    await lecture.a_jour()

    reponse = await auditer(lecture, f"/v1/audit/parcours/{pid}/etat", **params)

    erreurs = probleme(reponse, 422, "validation")["errors"]
    assert [e["champ"] for e in erreurs] == [f"query.{next(iter(params))}"]


@pytest.mark.parametrize(
    "params", [{"page": "0"}, {"taille": "0"}, {"taille": "100000"}, {"parcours_id": "x"}, {"sub": ""}]
)
async def test_a_malformed_access_log_query_is_a_422(lecture: Lecture, params: dict[str, str]) -> None:
    probleme(await auditer(lecture, "/v1/audit/acces", **params), 422, "validation")


async def journaliser(
    lecture: Lecture, sub: str, parcours_id: str | None, chemin: str, departement: str = "59"
) -> None:
    """A read recorded as the dossiers routes record theirs, by a reader of ``departement``."""
    from services.projections.api.dependances import journaliser_acces
    from services.runtime.auth import Utilisateur

    lecteur = Utilisateur(sub=sub, roles=frozenset({"referent"}), departements=frozenset({departement}))
    await journaliser_acces(lecture.comp, lecteur, UUID(parcours_id) if parcours_id else None, chemin)


async def test_the_access_log_shows_who_read_which_dossier_filtered_by_dossier_and_reader(
    api: Api, lecture: Lecture
) -> None:
    premier = (await ouvrir(api, OUVERT_LE))["id"]
    second = (await ouvrir(api, OUVERT_LE))["id"]
    ailleurs = (
        await commande(
            api,
            "/v1/parcours",
            {
                "personne": {"nom": "Autre", "prenoms": "Jean", "date_naissance": "2013-02-01", "sexe": "M"},
                "departement": "62",
                "date_effet": OUVERT_LE.isoformat(),
            },
            departement="62",
        )
    )["id"]
    await lecture.a_jour()
    await journaliser(lecture, "referente-alice", premier, f"/v1/dossiers/{premier}")
    await journaliser(lecture, "referente-alice", None, "/v1/dossiers")
    await journaliser(lecture, "referent-bruno", second, f"/v1/dossiers/{second}")
    await journaliser(lecture, "referent-62", ailleurs, f"/v1/dossiers/{ailleurs}", departement="62")
    corps(await auditer(lecture, f"/v1/audit/parcours/{premier}/chronologie", par="inspecteur-1"))

    tout = corps(await auditer(lecture, "/v1/audit/acces", par="inspecteur-2"))
    du_premier = corps(await auditer(lecture, "/v1/audit/acces", parcours_id=premier))
    lecture_du_journal = await auditer(lecture, "/v1/audit/acces", par="inspecteur-3", sub="referente-alice")

    assert [(a["sub"], a["parcours_id"], a["chemin"]) for a in tout["elements"]] == [
        ("inspecteur-1", premier, f"/v1/audit/parcours/{premier}/chronologie"),
        ("referent-bruno", second, f"/v1/dossiers/{second}"),
        ("referente-alice", None, "/v1/dossiers"),
        ("referente-alice", premier, f"/v1/dossiers/{premier}"),
    ], "latest first; a list read that found nobody shown; other départements' reads left out"
    assert (tout["total"], tout["page"], tout["taille"]) == (4, 1, 50)
    assert [a["sub"] for a in du_premier["elements"]] == ["inspecteur-2", "inspecteur-1", "referente-alice"], (
        "a read of the access log names the dossiers its page showed: it is recorded too"
    )
    assert [(a["sub"], a["chemin"]) for a in corps(lecture_du_journal)["elements"]] == [
        ("referente-alice", "/v1/dossiers"),
        ("referente-alice", f"/v1/dossiers/{premier}"),
    ], "list reads are visible by sub"
    suivant = corps(await auditer(lecture, "/v1/audit/acces", parcours_id=premier, page="2", taille="1"))
    assert [a["sub"] for a in suivant["elements"]] == ["inspectrice"], "behind inspecteur-3's read"
    assert suivant["total"] == 5
    assert all(datetime.fromisoformat(a["lu_le"]).tzinfo is not None for a in suivant["elements"])


async def test_every_audit_read_is_itself_recorded(api: Api, lecture: Lecture) -> None:
    pid = (await ouvrir(api, OUVERT_LE))["id"]
    await lecture.a_jour()

    corps(await auditer(lecture, f"/v1/audit/parcours/{pid}/chronologie", par="inspecteur-1"))
    corps(await auditer(lecture, f"/v1/audit/parcours/{pid}/etat", par="inspecteur-2", date_effet="2026-11-05"))
    corps(await auditer(lecture, "/v1/audit/acces", par="inspecteur-3", parcours_id=pid))
    journal = corps(await auditer(lecture, "/v1/audit/acces", parcours_id=pid))

    assert [(a["sub"], a["chemin"], a["termes"]) for a in journal["elements"]] == [
        ("inspecteur-3", "/v1/audit/acces", {"parcours_id": [pid]}),
        ("inspecteur-2", f"/v1/audit/parcours/{pid}/etat", {"date_effet": ["2026-11-05"]}),
        ("inspecteur-1", f"/v1/audit/parcours/{pid}/chronologie", {}),
    ]


async def test_after_a_transfer_from_59_to_62_the_auditor_of_59_keeps_its_period_and_62_sees_none_of_59s_reads(
    api: Api, lecture: Lecture
) -> None:
    pid = (await ouvrir(api, OUVERT_LE))["id"]
    await commande(api, f"/v1/parcours/{pid}/ppe", {"date_effet": "2026-11-10"})
    await lecture.a_jour()
    assert (await lecture.get(f"/v1/dossiers/{pid}", role="referent", sub="referente-59")).status_code == 200
    corps(await auditer(lecture, f"/v1/audit/parcours/{pid}/chronologie", par="inspecteur-59"))
    await commande(api, f"/v1/parcours/{pid}/transfert", {"departement_destination": "62", "date_effet": "2026-11-20"})
    await commande(
        api, f"/v1/parcours/{pid}/rapports", {"transmis_au_juge": False, "date_effet": "2026-11-25"}, departement="62"
    )
    await lecture.a_jour()
    lu_62 = await lecture.get(f"/v1/dossiers/{pid}", role="referent", departements=("62",), sub="referent-62")
    assert lu_62.status_code == 200, lu_62.text
    chemins = [f"/v1/audit/parcours/{pid}/chronologie", f"/v1/audit/parcours/{pid}/etat"]

    chrono_59 = corps(await auditer(lecture, chemins[0], departement="59", par="inspecteur-59"))
    etat_59 = corps(await auditer(lecture, chemins[1], departement="59", par="inspecteur-59"))
    journal_59 = corps(await auditer(lecture, "/v1/audit/acces", departement="59", parcours_id=pid, taille="500"))
    chrono_62 = corps(await auditer(lecture, chemins[0], departement="62", par="inspecteur-62"))
    etat_62 = corps(await auditer(lecture, chemins[1], departement="62", date_effet="2026-11-19"))
    journal_62 = corps(await auditer(lecture, "/v1/audit/acces", departement="62", parcours_id=pid, taille="500"))

    assert (chrono_59["departement"], chrono_59["jusqu_a_version"]) == ("59", 3)
    assert [e["nom"] for e in chrono_59["evenements"]] == ["ParcoursOuvert", "PPEEtabli", "DossierTransfere"], (
        "59's period, up to the transfer: not what 62 recorded since"
    )
    assert etat_59["etat"]["departement"] == "62", "the state as 59 left it: handed over to 62"
    subs_59 = {a["sub"] for a in journal_59["elements"]}
    assert {"referente-59", "inspecteur-59"} <= subs_59
    assert not subs_59 & {"referent-62", "inspecteur-62"}, "59's auditors do not see 62's reads"
    assert {a["departement"] for a in journal_59["elements"]} == {"59"}

    assert (chrono_62["departement"], chrono_62["jusqu_a_version"]) == ("62", None)
    assert [(e["nom"], e["departement"]) for e in chrono_62["evenements"]] == [
        ("ParcoursOuvert", "59"),
        ("PPEEtabli", "59"),
        ("DossierTransfere", "59"),
        ("RapportSituationProduit", "62"),
    ], "the history 62's caseworkers read, and what happened from the transfer on"
    assert etat_62["etat"]["departement"] == "59", "on the day before the transfer it was under the Nord"
    subs_62 = {a["sub"] for a in journal_62["elements"]}
    assert {"referent-62", "inspecteur-62"} <= subs_62
    assert not subs_62 & {"referente-59", "inspecteur-59"}, "not the origin staff's reads"
    assert {a["departement"] for a in journal_62["elements"]} == {"62"}
    probleme(await auditer(lecture, chemins[0], departement="75"), 404, "introuvable")
    probleme(await auditer(lecture, "/v1/audit/acces", departement="75", parcours_id=pid), 404, "introuvable")


async def test_an_unknown_dossier_is_a_404(lecture: Lecture) -> None:
    inconnu = "00000000-0000-4000-8000-000000000000"

    for chemin in (f"/v1/audit/parcours/{inconnu}/chronologie", f"/v1/audit/parcours/{inconnu}/etat"):
        probleme(await auditer(lecture, chemin), 404, "introuvable")
    probleme(await auditer(lecture, "/v1/audit/parcours/pas-un-uuid/chronologie"), 422, "validation")


@pytest.mark.parametrize("role", ["referent", "encadrant", "observatoire", "service"])
async def test_only_auditors_read_the_audit(api: Api, lecture: Lecture, role: str) -> None:
    pid = (await ouvrir(api, OUVERT_LE))["id"]
    await lecture.a_jour()

    for chemin in (f"/v1/audit/parcours/{pid}/chronologie", f"/v1/audit/parcours/{pid}/etat", "/v1/audit/acces"):
        probleme(await lecture.get(chemin, role=role), 403, "interdit")
    probleme(await lecture.client.get("/v1/audit/acces"), 401, "non_authentifie")


async def test_a_referents_read_of_a_dossier_through_the_read_api_is_in_the_access_log(
    api: Api, lecture: Lecture
) -> None:
    pid = (await ouvrir(api, OUVERT_LE))["id"]
    await lecture.a_jour()

    lu = await lecture.get(f"/v1/dossiers/{pid}", role="referent", sub="referente-alice")
    journal = corps(await auditer(lecture, "/v1/audit/acces", parcours_id=pid, sub="referente-alice"))

    assert lu.status_code == 200, lu.text
    assert [(a["sub"], a["parcours_id"], a["chemin"]) for a in journal["elements"]] == [
        ("referente-alice", pid, f"/v1/dossiers/{pid}")
    ]
