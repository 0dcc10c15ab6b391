"""Every command of API.md, once, through the HTTP API on a real PostgreSQL.

Each command answers with its stream's new version and the events it recorded;
those events are then read back from the stream with their author, recording
time, date of effect and data, and the state read right after shows the write.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import pytest

from tests.integration.api_parcours import (
    a_la_date,
    decider_mesure,
    etat,
    evenements,
    ouvrir,
    referencer_lieu,
)
from tests.integration.conftest import Api

ENFANT_NE_LE = date(2010, 1, 20)
"""16 at the fixture's 'today' (2026-11-28), 18 on 2028-01-20."""

MAJEUR_NE_LE = date(2008, 6, 15)
"""18 since 2026-06-15: majority and what follows it can be recorded 'today'."""

OUVERT_LE = date(2026, 9, 1)
LE_JOUR = date(2026, 11, 20)
"""The date of effect of the command under test, after every preparation step."""

ENREGISTRE_LE = datetime(2026, 11, 28, 10, 17, 42, 250_000, tzinfo=UTC)
"""The command under test is recorded at this instant (its preparation at 10:00)."""

AUTEUR = "referent-bob"
PERIMETRE = ("59", "62")

Contexte = dict[str, Any]


# -- preparations: the state a command needs ---------------------------------------------


async def ouvert(api: Api) -> Contexte:
    corps = await ouvrir(api, OUVERT_LE, date_naissance=ENFANT_NE_LE)
    return {"parcours_id": corps["id"], "personne_id": corps["personne_id"]}


async def petit_enfant(api: Api) -> Contexte:
    """Ten at the fixture's 'today': a measure of several years ends well before majority."""
    corps = await ouvrir(api, OUVERT_LE, date_naissance=date(2016, 3, 1))
    return {"parcours_id": corps["id"], "personne_id": corps["personne_id"]}


async def avec_ip(api: Api) -> Contexte:
    ctx = await ouvert(api)
    reponse = await api.post(
        f"/v1/parcours/{ctx['parcours_id']}/informations-preoccupantes",
        {"origine": "appel_119", "dangers": ["negligences"], "date_effet": "2026-09-02"},
    )
    assert reponse.status_code == 200, reponse.text
    return {**ctx, "ip_id": reponse.json()["ip_id"]}


async def avec_mesure_judiciaire(api: Api) -> Contexte:
    ctx = await ouvert(api)
    mesure_id = await decider_mesure(
        api,
        ctx["parcours_id"],
        cadre="judiciaire",
        nature="confiage_ase",
        autorite="juge_des_enfants",
        date_debut=date(2026, 9, 3),
        date_echeance=date(2027, 9, 2),
    )
    return {**ctx, "mesure_id": mesure_id}


async def avec_aed(api: Api) -> Contexte:
    ctx = await ouvert(api)
    return {
        **ctx,
        "mesure_id": await decider_mesure(
            api, ctx["parcours_id"], nature="aed", date_debut=date(2026, 9, 3), date_echeance=date(2027, 3, 2)
        ),
    }


async def avec_mesure_et_lieu(api: Api) -> Contexte:
    ctx = await ouvert(api)
    mesure_id = await decider_mesure(
        api, ctx["parcours_id"], date_debut=date(2026, 9, 3), date_echeance=date(2027, 3, 2)
    )
    return {**ctx, "mesure_id": mesure_id, "lieu_id": await referencer_lieu(api, "mecs")}


async def place(api: Api) -> Contexte:
    ctx = await avec_mesure_et_lieu(api)
    reponse = await api.post(
        f"/v1/parcours/{ctx['parcours_id']}/accueil",
        {"mesure_id": ctx["mesure_id"], "lieu_id": ctx["lieu_id"], "date_effet": "2026-09-03"},
    )
    assert reponse.status_code == 200, reponse.text
    return ctx


async def place_avec_second_lieu(api: Api) -> Contexte:
    ctx = await place(api)
    return {**ctx, "lieu2_id": await referencer_lieu(api, "assistant_familial", nom="Mme A., assistante familiale")}


async def en_fugue(api: Api) -> Contexte:
    ctx = await place(api)
    reponse = await api.post(f"/v1/parcours/{ctx['parcours_id']}/fugues", {"date_effet": "2026-10-01"})
    assert reponse.status_code == 200, reponse.text
    return ctx


async def avec_ppe(api: Api) -> Contexte:
    ctx = await ouvert(api)
    reponse = await api.post(f"/v1/parcours/{ctx['parcours_id']}/ppe", {"date_effet": "2026-09-15"})
    assert reponse.status_code == 200, reponse.text
    return ctx


async def majeur_place(api: Api) -> Contexte:
    corps = await ouvrir(api, date(2025, 9, 1), date_naissance=MAJEUR_NE_LE)
    pid = corps["id"]
    mesure_id = await decider_mesure(
        api,
        pid,
        cadre="judiciaire",
        nature="confiage_ase",
        autorite="juge_des_enfants",
        date_debut=date(2025, 9, 1),
        date_echeance=date(2027, 8, 31),
    )
    lieu_id = await referencer_lieu(api, "mecs")
    reponse = await api.post(
        f"/v1/parcours/{pid}/accueil", {"mesure_id": mesure_id, "lieu_id": lieu_id, "date_effet": "2025-09-01"}
    )
    assert reponse.status_code == 200, reponse.text
    return {"parcours_id": pid, "mesure_id": mesure_id, "lieu_id": lieu_id}


async def majeur(api: Api) -> Contexte:
    ctx = await majeur_place(api)
    reponse = await api.post(f"/v1/parcours/{ctx['parcours_id']}/majorite", {})
    assert reponse.status_code == 200, reponse.text
    return ctx


async def avec_apjm(api: Api) -> Contexte:
    ctx = await majeur(api)
    reponse = await api.post(
        f"/v1/parcours/{ctx['parcours_id']}/accompagnement-jeune-majeur",
        {"date_debut": "2026-06-15", "date_fin": "2027-06-14", "date_effet": "2026-10-01"},
    )
    assert reponse.status_code == 200, reponse.text
    return ctx


async def sorti(api: Api) -> Contexte:
    ctx = await majeur(api)
    reponse = await api.post(
        f"/v1/parcours/{ctx['parcours_id']}/sortie",
        {"motif": "majorite_sans_accompagnement", "situation_logement": "famille", "date_effet": "2026-10-01"},
    )
    assert reponse.status_code == 200, reponse.text
    return ctx


# -- the cases ------------------------------------------------------------------------------


def _vide(_ctx: Contexte, _corps: dict[str, Any]) -> dict[str, Any]:
    return {}


def _rien(_ctx: Contexte, _etat: dict[str, Any]) -> None:
    return None


@dataclass(frozen=True)
class Cas:
    """One command: how to reach it, what to send, what must be recorded and seen."""

    nom: str
    preparer: Callable[[Api], Awaitable[Contexte]]
    chemin: Callable[[Contexte], str]
    corps: Callable[[Contexte], dict[str, Any]]
    evenements: tuple[str, ...]
    date_effet: date = LE_JOUR
    ids: tuple[str, ...] = ()
    donnees: Callable[[Contexte, dict[str, Any]], dict[str, Any]] = _vide
    etat: Callable[[Contexte, dict[str, Any]], None] = _rien


def _sur(suffixe: str) -> Callable[[Contexte], str]:
    return lambda ctx: f"/v1/parcours/{ctx['parcours_id']}{suffixe}"


def _date() -> Callable[[Contexte], dict[str, Any]]:
    return lambda _ctx: {"date_effet": LE_JOUR.isoformat()}


def _etat_ip(ctx: Contexte, e: dict[str, Any]) -> None:
    assert [ip["recue_le"] for ip in e["informations_preoccupantes"]] == [LE_JOUR.isoformat()]
    assert e["informations_preoccupantes"][0]["suite"] is None


def _etat_evaluation(ctx: Contexte, e: dict[str, Any]) -> None:
    (ip,) = e["informations_preoccupantes"]
    assert ip == {
        "ip_id": ctx["ip_id"],
        "recue_le": "2026-09-02",
        "suite": "saisine_judiciaire",
        "evaluee_le": LE_JOUR.isoformat(),
    }


def _etat_mesure(ctx: Contexte, e: dict[str, Any]) -> None:
    (mesure,) = e["mesures"]
    assert mesure["mesure_id"] == ctx["reponse"]["mesure_id"]
    assert (mesure["cadre"], mesure["nature"], mesure["autorite"]) == ("judiciaire", "opp", "parquet")
    assert mesure["active"] is True
    assert mesure["date_debut"] == LE_JOUR.isoformat()


def _etat_renouvellement(ctx: Contexte, e: dict[str, Any]) -> None:
    (mesure,) = e["mesures"]
    assert mesure["date_echeance"] == "2029-09-01"
    assert mesure["renouvellements"] == 1
    assert mesure["reference_decision"] == "JE-2027-0456"


def _etat_levee(ctx: Contexte, e: dict[str, Any]) -> None:
    (mesure,) = e["mesures"]
    assert mesure["active"] is False
    assert (mesure["levee_le"], mesure["motif_levee"]) == (LE_JOUR.isoformat(), "mainlevee")


def _etat_accueil(ctx: Contexte, e: dict[str, Any]) -> None:
    assert e["accueil"]["lieu_id"] == ctx["lieu_id"]
    assert e["accueil"]["mesure_id"] == ctx["mesure_id"]
    assert e["accueil"]["type_lieu"] == "mecs"
    assert e["accueil"]["depuis"] == LE_JOUR.isoformat()
    assert e["lieux_successifs"] == 1


def _etat_changement(ctx: Contexte, e: dict[str, Any]) -> None:
    assert e["accueil"]["lieu_id"] == ctx["lieu2_id"]
    assert e["accueil"]["type_lieu"] == "assistant_familial"
    assert e["accueil"]["depuis"] == LE_JOUR.isoformat()
    assert e["accueil"]["debut_accueil"] == "2026-09-03"
    assert e["lieux_successifs"] == 2


def _etat_sans_accueil(ctx: Contexte, e: dict[str, Any]) -> None:
    assert e["accueil"] is None
    assert e["mesures"][0]["active"] is True


def _etat_fugue(ctx: Contexte, e: dict[str, Any]) -> None:
    assert e["accueil"]["fugue_depuis"] == LE_JOUR.isoformat()


def _etat_retour(ctx: Contexte, e: dict[str, Any]) -> None:
    assert e["accueil"]["fugue_depuis"] is None
    assert e["accueil"]["lieu_id"] == ctx["lieu_id"]


def _etat_ppe(ctx: Contexte, e: dict[str, Any]) -> None:
    assert (e["ppe_etabli_le"], e["ppe_actualise_le"]) == (LE_JOUR.isoformat(), None)


def _etat_ppe_actualise(ctx: Contexte, e: dict[str, Any]) -> None:
    assert (e["ppe_etabli_le"], e["ppe_actualise_le"]) == ("2026-09-15", LE_JOUR.isoformat())


def _etat_rapport(ctx: Contexte, e: dict[str, Any]) -> None:
    assert e["dernier_rapport_le"] == LE_JOUR.isoformat()


def _etat_entretien(ctx: Contexte, e: dict[str, Any]) -> None:
    assert e["entretien_autonomie_le"] == LE_JOUR.isoformat()


def _etat_majorite(ctx: Contexte, e: dict[str, Any]) -> None:
    assert e["majorite_atteinte_le"] == "2026-06-15"
    assert e["accueil"] is None
    (mesure,) = e["mesures"]
    assert (mesure["active"], mesure["levee_le"], mesure["motif_levee"]) == (False, "2026-06-15", "majorite")


def _etat_apjm(ctx: Contexte, e: dict[str, Any]) -> None:
    assert e["accompagnement_jeune_majeur"] == {
        "date_debut": "2026-06-15",
        "date_fin": "2027-06-14",
        "renouvellements": 0,
    }


def _etat_apjm_renouvele(ctx: Contexte, e: dict[str, Any]) -> None:
    assert e["accompagnement_jeune_majeur"] == {
        "date_debut": "2026-06-15",
        "date_fin": "2028-06-14",
        "renouvellements": 1,
    }


def _etat_apjm_annee_engagee(ctx: Contexte, e: dict[str, Any]) -> None:
    assert e["accompagnement_jeune_majeur"]["date_fin"] == "2029-08-31"


def _etat_apjm_termine(ctx: Contexte, e: dict[str, Any]) -> None:
    assert e["accompagnement_jeune_majeur"] is None


def _etat_sorti(ctx: Contexte, e: dict[str, Any]) -> None:
    assert e["sorti_le"] == LE_JOUR.isoformat()


def _etat_rouvert(ctx: Contexte, e: dict[str, Any]) -> None:
    assert e["sorti_le"] is None


def _etat_transfere(ctx: Contexte, e: dict[str, Any]) -> None:
    assert e["departement"] == "62"


def _etat_referent(ctx: Contexte, e: dict[str, Any]) -> None:
    assert e["referent_id"] == "ref-0042"


def _etat_rectifie(ctx: Contexte, e: dict[str, Any]) -> None:
    assert e["sexe"] == "X"
    (rectification,) = e["rectifications"]
    assert rectification["version_rectifiee"] == 1
    assert (rectification["champ"], rectification["ancienne_valeur"], rectification["nouvelle_valeur"]) == (
        "sexe",
        "F",
        "X",
    )


CAS: list[Cas] = [
    Cas(
        "information_preoccupante",
        ouvert,
        _sur("/informations-preoccupantes"),
        lambda _: {
            "origine": "education_nationale",
            "dangers": ["negligences", "violences_psychologiques"],
            "date_effet": LE_JOUR.isoformat(),
        },
        ("InformationPreoccupanteRecue",),
        ids=("ip_id",),
        donnees=lambda ctx, corps: {
            "ip_id": corps["ip_id"],
            "origine": "education_nationale",
            "dangers": ["negligences", "violences_psychologiques"],
        },
        etat=_etat_ip,
    ),
    Cas(
        "evaluation",
        avec_ip,
        _sur("/evaluations"),
        lambda ctx: {"ip_id": ctx["ip_id"], "suite": "saisine_judiciaire", "date_effet": LE_JOUR.isoformat()},
        ("EvaluationConclue",),
        donnees=lambda ctx, _: {"ip_id": ctx["ip_id"], "suite": "saisine_judiciaire"},
        etat=_etat_evaluation,
    ),
    Cas(
        "mesure",
        ouvert,
        _sur("/mesures"),
        lambda _: {
            "cadre": "judiciaire",
            "nature": "opp",
            "autorite": "parquet",
            "reference_decision": "PARQUET-2026-77",
            "date_debut": LE_JOUR.isoformat(),
            "date_effet": LE_JOUR.isoformat(),
        },
        ("MesureDecidee",),
        ids=("mesure_id",),
        donnees=lambda ctx, corps: {
            "mesure_id": corps["mesure_id"],
            "cadre": "judiciaire",
            "nature": "opp",
            "autorite": "parquet",
            "reference_decision": "PARQUET-2026-77",
            "date_debut": LE_JOUR.isoformat(),
            "date_echeance": None,
        },
        etat=_etat_mesure,
    ),
    Cas(
        "mesure_de_duree_derogatoire",
        petit_enfant,
        _sur("/mesures"),
        lambda _: {
            "cadre": "judiciaire",
            "nature": "confiage_ase",
            "autorite": "juge_des_enfants",
            "reference_decision": "JE-2026-375-4",
            "date_debut": LE_JOUR.isoformat(),
            "date_echeance": "2030-11-19",
            "duree_derogatoire": True,
            "date_effet": LE_JOUR.isoformat(),
        },
        ("MesureDecidee",),
        ids=("mesure_id",),
        donnees=lambda ctx, corps: {
            "mesure_id": corps["mesure_id"],
            "nature": "confiage_ase",
            "date_echeance": "2030-11-19",
            "duree_derogatoire": True,
        },
    ),
    Cas(
        "renouvellement",
        avec_mesure_judiciaire,
        lambda ctx: f"/v1/parcours/{ctx['parcours_id']}/mesures/{ctx['mesure_id']}/renouvellement",
        lambda _: {
            "nouvelle_echeance": "2029-09-01",
            "reference_decision": "JE-2027-0456",
            "date_effet": LE_JOUR.isoformat(),
        },
        ("MesureRenouvelee",),
        donnees=lambda ctx, _: {
            "mesure_id": ctx["mesure_id"],
            "nouvelle_echeance": "2029-09-01",
            "reference_decision": "JE-2027-0456",
        },
        etat=_etat_renouvellement,
    ),
    Cas(
        "levee",
        avec_aed,
        lambda ctx: f"/v1/parcours/{ctx['parcours_id']}/mesures/{ctx['mesure_id']}/levee",
        lambda _: {"motif": "mainlevee", "date_effet": LE_JOUR.isoformat()},
        ("MesureLevee",),
        donnees=lambda ctx, _: {"mesure_id": ctx["mesure_id"], "motif": "mainlevee"},
        etat=_etat_levee,
    ),
    Cas(
        "accueil",
        avec_mesure_et_lieu,
        _sur("/accueil"),
        lambda ctx: {"mesure_id": ctx["mesure_id"], "lieu_id": ctx["lieu_id"], "date_effet": LE_JOUR.isoformat()},
        ("AccueilDebute",),
        donnees=lambda ctx, _: {"mesure_id": ctx["mesure_id"], "lieu_id": ctx["lieu_id"], "type_lieu": "mecs"},
        etat=_etat_accueil,
    ),
    Cas(
        "changement_de_lieu",
        place_avec_second_lieu,
        _sur("/accueil/changement"),
        lambda ctx: {"lieu_id": ctx["lieu2_id"], "motif": "rupture", "date_effet": LE_JOUR.isoformat()},
        ("LieuAccueilChange",),
        donnees=lambda ctx, _: {"lieu_id": ctx["lieu2_id"], "type_lieu": "assistant_familial", "motif": "rupture"},
        etat=_etat_changement,
    ),
    Cas(
        "fin_d_accueil",
        place,
        _sur("/accueil/fin"),
        lambda _: {"motif": "retour_en_famille", "date_effet": LE_JOUR.isoformat()},
        ("AccueilTermine",),
        donnees=lambda ctx, _: {"motif": "retour_en_famille"},
        etat=_etat_sans_accueil,
    ),
    Cas("fugue", place, _sur("/fugues"), _date(), ("FugueDeclaree",), etat=_etat_fugue),
    Cas("fin_de_fugue", en_fugue, _sur("/fugues/fin"), _date(), ("FugueTerminee",), etat=_etat_retour),
    Cas("ppe", ouvert, _sur("/ppe"), _date(), ("PPEEtabli",), etat=_etat_ppe),
    Cas("ppe_actualise", avec_ppe, _sur("/ppe"), _date(), ("PPEActualise",), etat=_etat_ppe_actualise),
    Cas(
        "rapport",
        ouvert,
        _sur("/rapports"),
        lambda _: {"transmis_au_juge": True, "date_effet": LE_JOUR.isoformat()},
        ("RapportSituationProduit",),
        donnees=lambda ctx, _: {"transmis_au_juge": True},
        etat=_etat_rapport,
    ),
    Cas(
        "entretien_autonomie",
        ouvert,
        _sur("/entretien-autonomie"),
        _date(),
        ("EntretienAutonomieRealise",),
        etat=_etat_entretien,
    ),
    Cas(
        "majorite",
        majeur_place,
        _sur("/majorite"),
        lambda _: {},
        ("MajoriteAtteinte", "AccueilTermine", "MesureLevee"),
        date_effet=date(2026, 6, 15),
        etat=_etat_majorite,
    ),
    Cas(
        "accompagnement_jeune_majeur",
        majeur,
        _sur("/accompagnement-jeune-majeur"),
        lambda _: {"date_debut": "2026-06-15", "date_fin": "2027-06-14", "date_effet": LE_JOUR.isoformat()},
        ("AccompagnementJeuneMajeurAccorde",),
        donnees=lambda ctx, _: {"date_debut": "2026-06-15", "date_fin": "2027-06-14"},
        etat=_etat_apjm,
    ),
    Cas(
        "renouvellement_apjm",
        avec_apjm,
        _sur("/accompagnement-jeune-majeur/renouvellement"),
        lambda _: {"date_fin": "2028-06-14", "date_effet": LE_JOUR.isoformat()},
        ("AccompagnementJeuneMajeurRenouvele",),
        donnees=lambda ctx, _: {"date_fin": "2028-06-14"},
        etat=_etat_apjm_renouvele,
    ),
    Cas(
        "accompagnement_jeune_majeur_pour_finir_l_annee_engagee",
        majeur,
        _sur("/accompagnement-jeune-majeur"),
        lambda _: {
            "date_debut": "2026-06-15",
            "date_fin": "2029-08-31",
            "fin_annee_engagee": True,
            "date_effet": LE_JOUR.isoformat(),
        },
        ("AccompagnementJeuneMajeurAccorde",),
        donnees=lambda ctx, _: {"date_debut": "2026-06-15", "date_fin": "2029-08-31", "fin_annee_engagee": True},
        etat=_etat_apjm_annee_engagee,
    ),
    Cas(
        "renouvellement_apjm_pour_finir_l_annee_engagee",
        avec_apjm,
        _sur("/accompagnement-jeune-majeur/renouvellement"),
        lambda _: {"date_fin": "2029-08-31", "fin_annee_engagee": True, "date_effet": LE_JOUR.isoformat()},
        ("AccompagnementJeuneMajeurRenouvele",),
        donnees=lambda ctx, _: {"date_fin": "2029-08-31", "fin_annee_engagee": True},
        etat=_etat_apjm_annee_engagee,
    ),
    Cas(
        "fin_apjm",
        avec_apjm,
        _sur("/accompagnement-jeune-majeur/fin"),
        lambda _: {"motif": "demande_du_jeune", "date_effet": LE_JOUR.isoformat()},
        ("AccompagnementJeuneMajeurTermine",),
        donnees=lambda ctx, _: {"motif": "demande_du_jeune"},
        etat=_etat_apjm_termine,
    ),
    Cas(
        "sortie",
        majeur,
        _sur("/sortie"),
        lambda _: {
            "motif": "majorite_sans_accompagnement",
            "situation_logement": "logement_social",
            "date_effet": LE_JOUR.isoformat(),
        },
        ("SortieDispositif",),
        donnees=lambda ctx, _: {"motif": "majorite_sans_accompagnement", "situation_logement": "logement_social"},
        etat=_etat_sorti,
    ),
    Cas(
        "reouverture",
        sorti,
        _sur("/reouverture"),
        lambda _: {"motif": "le jeune demande à revenir", "date_effet": LE_JOUR.isoformat()},
        ("ParcoursRouvert",),
        donnees=lambda ctx, _: {"motif": "le jeune demande à revenir"},
        etat=_etat_rouvert,
    ),
    Cas(
        "transfert",
        ouvert,
        _sur("/transfert"),
        lambda _: {"departement_destination": "62", "date_effet": LE_JOUR.isoformat()},
        ("DossierTransfere",),
        donnees=lambda ctx, _: {"departement_origine": "59", "departement_destination": "62"},
        etat=_etat_transfere,
    ),
    Cas(
        "referent",
        ouvert,
        _sur("/referent"),
        lambda _: {"referent_id": "ref-0042", "date_effet": LE_JOUR.isoformat()},
        ("ReferentDesigne",),
        donnees=lambda ctx, _: {"referent_id": "ref-0042"},
        etat=_etat_referent,
    ),
    Cas(
        "rectification",
        ouvert,
        _sur("/rectifications"),
        lambda _: {
            "version_rectifiee": 1,
            "champ": "sexe",
            "nouvelle_valeur": "X",
            "motif": "erreur de saisie à l'ouverture",
        },
        ("SaisieRectifiee",),
        # A correction carries the date of effect of the event it corrects (DOMAIN.md).
        date_effet=OUVERT_LE,
        donnees=lambda ctx, _: {
            "version_rectifiee": 1,
            "champ": "sexe",
            "ancienne_valeur": "F",
            "nouvelle_valeur": "X",
            "motif": "erreur de saisie à l'ouverture",
        },
        etat=_etat_rectifie,
    ),
]


@pytest.mark.parametrize("cas", CAS, ids=lambda c: c.nom)
async def test_a_parcours_command_answers_its_new_version_and_its_events_are_read_back(api: Api, cas: Cas) -> None:
    ctx = await cas.preparer(api)
    pid = ctx["parcours_id"]
    avant = await evenements(api, pid, PERIMETRE)
    api.horloge.regler(ENREGISTRE_LE)

    reponse = await api.post(cas.chemin(ctx), cas.corps(ctx), **api.jeton(departements=PERIMETRE, sub=AUTEUR))

    assert reponse.status_code == 200, reponse.text
    corps = reponse.json()
    assert set(corps) == {"id", "version", "evenements", *cas.ids}, corps
    assert corps["id"] == pid
    assert corps["evenements"] == list(cas.evenements)
    assert corps["version"] == len(avant) + len(cas.evenements)
    for cle in cas.ids:
        UUID(corps[cle])

    apres = await evenements(api, pid, PERIMETRE)
    assert apres[: len(avant)] == avant, "a command never rewrites what was recorded"
    nouveaux = apres[len(avant) :]
    assert [e["type"] for e in nouveaux] == list(cas.evenements)
    assert [e["version"] for e in nouveaux] == list(range(len(avant) + 1, corps["version"] + 1))
    for e in nouveaux:
        assert e["auteur"] == AUTEUR
        assert datetime.fromisoformat(e["enregistre_le"]) == ENREGISTRE_LE
        assert e["date_effet"] == cas.date_effet.isoformat()
    attendues = cas.donnees({**ctx, "reponse": corps}, corps)
    assert {k: nouveaux[0]["donnees"].get(k) for k in attendues} == attendues

    vu = await etat(api, pid, PERIMETRE)
    assert vu["version"] == corps["version"], "the state read right after a write shows that write"
    cas.etat({**ctx, "reponse": corps}, vu)


async def test_opening_a_parcours_answers_201_with_the_person_and_keeps_names_out_of_the_parcours(api: Api) -> None:
    api.horloge.regler(ENREGISTRE_LE)
    reponse = await api.post(
        "/v1/parcours",
        {
            "personne": {"nom": "Lefèvre", "prenoms": "Jean Noël", "date_naissance": "2013-02-11", "sexe": "M"},
            "departement": "59",
            "date_effet": "2026-11-02",
            "referent_id": "ref-0007",
        },
        **api.jeton(sub=AUTEUR),
    )

    assert reponse.status_code == 201, reponse.text
    corps = reponse.json()
    assert set(corps) == {"id", "version", "evenements", "personne_id"}
    assert corps["version"] == 1
    assert "ParcoursOuvert" in corps["evenements"]
    (ouverture,) = await evenements(api, corps["id"])
    assert ouverture["type"] == "ParcoursOuvert"
    assert ouverture["version"] == 1
    assert ouverture["auteur"] == AUTEUR
    assert datetime.fromisoformat(ouverture["enregistre_le"]) == ENREGISTRE_LE
    assert ouverture["date_effet"] == "2026-11-02"
    assert ouverture["donnees"] == {
        "personne_id": corps["personne_id"],
        "date_naissance": "2013-02-11",
        "sexe": "M",
        "departement": "59",
        "referent_id": "ref-0007",
    }
    vu = await etat(api, corps["id"])
    assert (vu["version"], vu["personne_id"], vu["departement"], vu["sexe"], vu["age"]) == (
        1,
        corps["personne_id"],
        "59",
        "M",
        13,
    )
    assert (vu["ouvert_le"], vu["referent_id"], vu["date_majorite"]) == ("2026-11-02", "ref-0007", "2031-02-11")
    assert "Lefèvre" not in reponse.text + str(vu) + str(ouverture)

    # The identity is recorded too, in its own stream, by the same command.
    (identite,) = api.application.repository.event_store.get(UUID(corps["personne_id"]))
    assert type(identite).__name__ == "IdentiteEnregistree"
    assert (identite.nom, identite.prenoms) == ("Lefèvre", "Jean Noël")
    assert identite.metadonnees.auteur == AUTEUR


def _flux_du_lieu(api: Api, lieu_id: str) -> list[Any]:
    return list(api.application.repository.event_store.get(UUID(lieu_id)))


async def test_referencing_a_lieu_answers_201_and_records_it_with_its_author(api: Api) -> None:
    api.horloge.regler(ENREGISTRE_LE)
    reponse = await api.post(
        "/v1/lieux",
        {
            "nom": "Foyer de l'enfance de Lille",
            "type": "foyer_enfance",
            "departement": "59",
            "capacite": 40,
            "finess": "590000123",
        },
        **api.jeton(sub=AUTEUR),
    )

    assert reponse.status_code == 201, reponse.text
    corps = reponse.json()
    assert set(corps) == {"id", "version", "evenements"}
    assert (corps["version"], corps["evenements"]) == (1, ["LieuAccueilReference"])
    (reference,) = _flux_du_lieu(api, corps["id"])
    assert type(reference).__name__ == "LieuAccueilReference"
    assert (reference.nom, reference.type, reference.departement, reference.capacite, reference.finess) == (
        "Foyer de l'enfance de Lille",
        "foyer_enfance",
        "59",
        40,
        "590000123",
    )
    assert reference.metadonnees.auteur == AUTEUR
    assert reference.metadonnees.enregistre_le == ENREGISTRE_LE
    assert reference.date_effet == ENREGISTRE_LE.date()


async def test_a_lieu_capacity_change_and_closing_are_recorded_and_a_closed_lieu_takes_no_child(api: Api) -> None:
    a_la_date(api, date(2026, 10, 1))
    lieu_id = await referencer_lieu(api, "mecs", capacite=12)
    api.horloge.regler(ENREGISTRE_LE)

    capacite = await api.post(
        f"/v1/lieux/{lieu_id}/capacite", {"capacite": 15, "date_effet": "2026-11-02"}, **api.jeton(sub=AUTEUR)
    )
    fermeture = await api.post(f"/v1/lieux/{lieu_id}/fermeture", {"date_effet": "2026-11-20"}, **api.jeton(sub=AUTEUR))

    assert capacite.status_code == 200, capacite.text
    assert capacite.json() == {"id": lieu_id, "version": 2, "evenements": ["CapaciteModifiee"]}
    assert fermeture.status_code == 200, fermeture.text
    assert fermeture.json() == {"id": lieu_id, "version": 3, "evenements": ["LieuAccueilFerme"]}
    _, modifiee, fermee = _flux_du_lieu(api, lieu_id)
    assert (type(modifiee).__name__, modifiee.capacite, modifiee.date_effet) == (
        "CapaciteModifiee",
        15,
        date(2026, 11, 2),
    )
    assert (type(fermee).__name__, fermee.date_effet) == ("LieuAccueilFerme", date(2026, 11, 20))
    assert {e.metadonnees.auteur for e in (modifiee, fermee)} == {AUTEUR}
    assert {e.metadonnees.enregistre_le for e in (modifiee, fermee)} == {ENREGISTRE_LE}

    ctx = await ouvert(api)
    mesure_id = await decider_mesure(api, ctx["parcours_id"], date_debut=LE_JOUR, date_echeance=date(2027, 5, 19))
    refus = await api.post(
        f"/v1/parcours/{ctx['parcours_id']}/accueil",
        {"mesure_id": mesure_id, "lieu_id": lieu_id, "date_effet": LE_JOUR.isoformat()},
    )
    assert refus.status_code == 409, refus.text
    assert refus.json()["regle"] == "lieu_ferme"


async def test_after_a_transfer_only_the_destination_departement_sees_the_dossier(api: Api) -> None:
    ctx = await ouvert(api)
    pid = ctx["parcours_id"]

    reponse = await api.post(
        f"/v1/parcours/{pid}/transfert", {"departement_destination": "62", "date_effet": LE_JOUR.isoformat()}
    )

    assert reponse.status_code == 200, reponse.text
    assert (await etat(api, pid, ("62",)))["departement"] == "62"
    ancien = await api.client.get(f"/v1/parcours/{pid}", headers=api.jeton(departements=("59",)))
    assert ancien.status_code == 404
    suite = await api.post(f"/v1/parcours/{pid}/ppe", {"date_effet": LE_JOUR.isoformat()})
    assert suite.status_code == 404, "the origin département's référent may no longer write either"


async def test_an_auditeur_reads_what_a_referent_wrote(api: Api) -> None:
    ctx = await avec_ip(api)
    entetes = api.jeton(role="auditeur", sub="inspection-1")

    vu = await api.client.get(f"/v1/parcours/{ctx['parcours_id']}", headers=entetes)
    flux = await api.client.get(f"/v1/parcours/{ctx['parcours_id']}/evenements", headers=entetes)

    assert vu.status_code == 200, vu.text
    assert vu.json()["informations_preoccupantes"][0]["ip_id"] == ctx["ip_id"]
    assert [e["type"] for e in flux.json()] == ["ParcoursOuvert", "InformationPreoccupanteRecue"]


@pytest.mark.parametrize(
    ("preparer", "suffixe", "corps", "regle"),
    [
        pytest.param(
            petit_enfant,
            "/mesures",
            {
                "cadre": "judiciaire",
                "nature": "confiage_ase",
                "autorite": "juge_des_enfants",
                "reference_decision": "JE-2026-375-3",
                "date_debut": LE_JOUR.isoformat(),
                "date_echeance": "2030-11-19",
                "date_effet": LE_JOUR.isoformat(),
            },
            "duree_maximale_depassee",
            id="confiage_ase_beyond_two_years",
        ),
        pytest.param(
            majeur,
            "/accompagnement-jeune-majeur",
            {"date_debut": "2026-06-15", "date_fin": "2029-08-31", "date_effet": LE_JOUR.isoformat()},
            "apjm_au_dela_de_21_ans",
            id="apjm_beyond_21",
        ),
        pytest.param(
            avec_apjm,
            "/accompagnement-jeune-majeur/renouvellement",
            {"date_fin": "2029-08-31", "date_effet": LE_JOUR.isoformat()},
            "apjm_au_dela_de_21_ans",
            id="apjm_renewed_beyond_21",
        ),
    ],
)
async def test_without_its_flag_the_same_command_is_refused_by_the_law(
    api: Api,
    preparer: Callable[[Api], Awaitable[Contexte]],
    suffixe: str,
    corps: dict[str, Any],
    regle: str,
) -> None:
    """The flags are optional and false by default: absent, the command meets the ordinary cap."""
    ctx = await preparer(api)
    avant = await evenements(api, ctx["parcours_id"], PERIMETRE)

    reponse = await api.post(_sur(suffixe)(ctx), corps, **api.jeton(departements=PERIMETRE))

    assert reponse.status_code == 409, reponse.text
    assert reponse.json()["regle"] == regle
    assert await evenements(api, ctx["parcours_id"], PERIMETRE) == avant
