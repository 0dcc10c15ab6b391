"""The caseworker read API: list, dossier, worklist; filters, pages, scoping, roles, erasure, corrections."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.parcours.domain.contexte import Contexte
from services.parcours.domain.identite import Identite
from services.projections.readmodels.dossiers import ProjectionDossiers
from services.runtime.evenement import EvenementPublie
from services.runtime.moteur import creer_tables
from tests.integration.api_parcours import a_la_date, decider_mesure, probleme, referencer_lieu
from tests.integration.conftest import Api, Lecture

LE = date(2026, 11, 2)
"""The day the parcours of these tests open (the fixture's 'today' is 2026-11-28)."""
ECHEANCE = date(2027, 11, 1)
"""An administrative measure's échéance: within the year the law allows (CASF L223-5 al. 1)."""


async def ouvrir(
    api: Api,
    nom: str,
    prenoms: str,
    *,
    ne_le: date = date(2012, 5, 3),
    departement: str = "59",
    referent_id: str | None = "referent-a",
) -> dict[str, Any]:
    a_la_date(api, LE)
    corps: dict[str, Any] = {
        "personne": {"nom": nom, "prenoms": prenoms, "date_naissance": ne_le.isoformat(), "sexe": "F"},
        "departement": departement,
        "date_effet": LE.isoformat(),
    }
    if referent_id is not None:
        corps["referent_id"] = referent_id
    reponse = await api.post("/v1/parcours", corps, **api.jeton(departements=(departement,)))
    assert reponse.status_code == 201, reponse.text
    a_la_date(api, date(2026, 11, 28))
    resultat: dict[str, Any] = reponse.json()
    return resultat


async def commande(api: Api, parcours_id: str, chemin: str, corps: dict[str, Any], departement: str = "59") -> None:
    reponse = await api.post(f"/v1/parcours/{parcours_id}{chemin}", corps, **api.jeton(departements=(departement,)))
    assert reponse.status_code == 200, reponse.text


async def lire(lecture: Lecture, chemin: str, **parametres: Any) -> dict[str, Any]:
    reponse = await lecture.get(chemin, **parametres)
    assert reponse.status_code == 200, reponse.text
    corps: dict[str, Any] = reponse.json()
    return corps


def noms(liste: dict[str, Any]) -> list[str]:
    return [f"{d['nom']} {d['prenoms']}" for d in liste["dossiers"]]


# -- list: search, pages, filters -------------------------------------------------------------


async def test_the_list_searches_names_whatever_their_case_and_accents(api: Api, lecture: Lecture) -> None:
    await ouvrir(api, "Dumoulin-Kervella", "Maëlys Océane")
    await ouvrir(api, "Lefèvre", "Chloé")
    await ouvrir(api, "Cœurdevey", "Noé")
    await lecture.a_jour()
    assert noms(await lire(lecture, "/v1/dossiers", q="maelys")) == ["Dumoulin-Kervella Maëlys Océane"]
    assert noms(await lire(lecture, "/v1/dossiers", q="LEFEVRE")) == ["Lefèvre Chloé"]
    assert noms(await lire(lecture, "/v1/dossiers", q="oceane dumoulin")) == ["Dumoulin-Kervella Maëlys Océane"]
    assert noms(await lire(lecture, "/v1/dossiers", q="coeur")) == ["Cœurdevey Noé"]
    assert (await lire(lecture, "/v1/dossiers", q="100%_"))["total"] == 0, "wildcards are searched literally"


async def test_the_list_pages_by_name_with_the_total_in_the_body(api: Api, lecture: Lecture) -> None:
    for nom in ("Martin", "Bernard", "Dubois", "Thomas", "Robert"):
        await ouvrir(api, nom, "Léa")
    await lecture.a_jour()
    pages = [await lire(lecture, "/v1/dossiers", page=n, taille=2) for n in (1, 2, 3, 4)]
    assert [p["total"] for p in pages] == [5, 5, 5, 5]
    assert [noms(p) for p in pages] == [["Bernard Léa", "Dubois Léa"], ["Martin Léa", "Robert Léa"], ["Thomas Léa"], []]
    assert (pages[0]["page"], pages[0]["taille"]) == (1, 2)


async def test_the_list_filters_by_referent_lieu_and_statut(api: Api, lecture: Lecture) -> None:
    placee = await ouvrir(api, "Placée", "Anna", referent_id="referent-a")
    suivie = await ouvrir(api, "Suivie", "Bea", referent_id="referent-b")
    sortie = await ouvrir(api, "Sortie", "Cleo", referent_id="referent-b")
    lieu = await referencer_lieu(api)
    mesure = await decider_mesure(api, placee["id"], date_debut=LE, date_echeance=ECHEANCE)
    await commande(api, placee["id"], "/accueil", {"mesure_id": mesure, "lieu_id": lieu, "date_effet": LE.isoformat()})
    await commande(
        api,
        sortie["id"],
        "/sortie",
        {"motif": "retour_en_famille", "situation_logement": "famille", "date_effet": "2026-11-20"},
    )
    await lecture.a_jour()
    assert noms(await lire(lecture, "/v1/dossiers", referent_id="referent-b")) == ["Sortie Cleo", "Suivie Bea"]
    assert noms(await lire(lecture, "/v1/dossiers", lieu_id=lieu)) == ["Placée Anna"]
    assert noms(await lire(lecture, "/v1/dossiers", statut="sorti")) == ["Sortie Cleo"]
    ouverts = await lire(lecture, "/v1/dossiers", statut="ouvert", referent_id="referent-b")
    assert [d["parcours_id"] for d in ouverts["dossiers"]] == [suivie["id"]]
    (vue,) = (await lire(lecture, "/v1/dossiers", lieu_id=lieu))["dossiers"]
    assert (vue["lieu_id"], vue["type_lieu"], vue["age"], vue["prochaine_echeance"]["type"]) == (
        lieu,
        "mecs",
        14,
        "ppe",
    )


# -- scoping and roles --------------------------------------------------------------------------


async def test_a_dossier_of_another_departement_is_invisible_on_every_read_path(api: Api, lecture: Lecture) -> None:
    ici = await ouvrir(api, "Nord", "Inès", departement="59")
    ailleurs = await ouvrir(api, "Pas-de-Calais", "Jade", departement="62")
    await decider_mesure(api, ici["id"], date_debut=LE, date_echeance=ECHEANCE)
    reponse = await api.post(
        f"/v1/parcours/{ailleurs['id']}/mesures",
        {
            "cadre": "administratif",
            "nature": "accueil_provisoire",
            "autorite": "president_cd",
            "reference_decision": "DEC-62",
            "date_debut": LE.isoformat(),
            "date_echeance": ECHEANCE.isoformat(),
            "date_effet": LE.isoformat(),
        },
        **api.jeton(departements=("62",)),
    )
    assert reponse.status_code == 200, reponse.text
    await lecture.a_jour()

    probleme(await lecture.get(f"/v1/dossiers/{ailleurs['id']}", role="referent"), 404, "introuvable")
    assert noms(await lire(lecture, "/v1/dossiers", role="referent")) == ["Nord Inès"]
    travail = await lire(lecture, "/v1/echeances", role="referent")
    assert {t["parcours_id"] for t in travail["echeances"]} == {ici["id"]}

    # Seen from the Pas-de-Calais, and from a manager of both.
    assert (await lire(lecture, f"/v1/dossiers/{ailleurs['id']}", departements=("62",)))["departement"] == "62"
    assert noms(await lire(lecture, "/v1/dossiers", departements=("59", "62"), departement="62")) == [
        "Pas-de-Calais Jade"
    ]
    deux = await lire(lecture, "/v1/echeances", departements=("59", "62"))
    assert {t["parcours_id"] for t in deux["echeances"]} == {ici["id"], ailleurs["id"]}


async def test_a_departement_filter_outside_the_callers_is_refused(api: Api, lecture: Lecture) -> None:
    await lecture.a_jour()
    for chemin in ("/v1/dossiers", "/v1/echeances"):
        probleme(await lecture.get(chemin, role="referent", departement="62"), 403, "interdit")


async def test_a_transferred_dossier_follows_its_new_departement(api: Api, lecture: Lecture) -> None:
    p = await ouvrir(api, "Voyageuse", "Lina")
    await decider_mesure(api, p["id"], date_debut=LE, date_echeance=ECHEANCE)
    await commande(api, p["id"], "/transfert", {"departement_destination": "62", "date_effet": "2026-11-20"})
    await lecture.a_jour()
    probleme(await lecture.get(f"/v1/dossiers/{p['id']}"), 404, "introuvable")
    assert (await lire(lecture, "/v1/echeances"))["total"] == 0
    assert (await lire(lecture, f"/v1/dossiers/{p['id']}", departements=("62",)))["departement"] == "62"
    dans_62 = await lire(lecture, "/v1/echeances", departements=("62",))
    assert {t["departement"] for t in dans_62["echeances"]} == {"62"}
    assert dans_62["total"] > 0


@pytest.mark.parametrize(
    ("role", "dossiers", "echeances"),
    [
        ("referent", 200, 200),
        ("encadrant", 200, 200),
        ("auditeur", 200, 403),
        ("observatoire", 403, 403),
        ("service", 403, 403),
    ],
)
async def test_who_may_read_dossiers_and_worklists(
    api: Api, lecture: Lecture, role: str, dossiers: int, echeances: int
) -> None:
    p = await ouvrir(api, "Roles", "Zoé")
    await lecture.a_jour()
    assert (await lecture.get("/v1/dossiers", role=role)).status_code == dossiers
    assert (await lecture.get(f"/v1/dossiers/{p['id']}", role=role)).status_code == dossiers
    assert (await lecture.get("/v1/echeances", role=role)).status_code == echeances


async def test_without_a_token_nothing_is_read(lecture: Lecture) -> None:
    for chemin in ("/v1/dossiers", f"/v1/dossiers/{uuid4()}", "/v1/echeances"):
        probleme(await lecture.client.get(chemin), 401, "non_authentifie")


@pytest.mark.parametrize(
    ("chemin", "parametres"),
    [
        ("/v1/dossiers", {"taille": 0}),
        ("/v1/dossiers", {"taille": 201}),
        ("/v1/dossiers", {"page": 0}),
        ("/v1/dossiers", {"page": "un"}),
        ("/v1/dossiers", {"statut": "ferme"}),
        ("/v1/dossiers", {"lieu_id": "x"}),
        ("/v1/dossiers", {"departement": "20"}),
        ("/v1/dossiers", {"q": "x" * 201}),
        ("/v1/dossiers", {"q": ""}),
        ("/v1/echeances", {"avant": "demain"}),
        ("/v1/echeances", {"avant": "2026-02-30"}),
        ("/v1/echeances", {"taille": 1000}),
        ("/v1/dossiers/pas-un-uuid", {}),
    ],
)
async def test_bad_query_parameters_are_refused_as_invalid(
    lecture: Lecture, chemin: str, parametres: dict[str, Any]
) -> None:
    probleme(await lecture.get(chemin, **parametres), 422, "validation")


async def test_an_unknown_dossier_is_not_found_as_of_the_position_it_tells(lecture: Lecture) -> None:
    reponse = await lecture.get(f"/v1/dossiers/{uuid4()}")
    probleme(reponse, 404, "introuvable")
    assert reponse.headers["X-Projection-Position"] == "vide", "nothing applied yet: the client may wait and retry"


# -- what every read carries and leaves behind -------------------------------------------------------


async def test_every_read_tells_its_position_and_each_dossier_read_is_recorded(api: Api, lecture: Lecture) -> None:
    p = await ouvrir(api, "Trace", "Eva")
    await lecture.a_jour()
    for chemin in ("/v1/dossiers", f"/v1/dossiers/{p['id']}", "/v1/echeances"):
        reponse = await lecture.get(chemin, sub="encadrante-nadia")
        assert reponse.status_code == 200
        assert reponse.headers["X-Projection-Position"] == "journal:0=2", "ParcoursOuvert and IdentiteEnregistree"
    async with lecture.comp.pool.acquire() as conn:
        lignes = await conn.fetch("SELECT sub, parcours_id, chemin FROM public.journal_acces ORDER BY id")
    travail = (await lecture.get("/v1/echeances", sub="autre")).json()["echeances"]
    assert [(ligne["sub"], ligne["parcours_id"], ligne["chemin"]) for ligne in lignes] == [
        ("encadrante-nadia", UUID(p["id"]), "/v1/dossiers"),
        ("encadrante-nadia", UUID(p["id"]), f"/v1/dossiers/{p['id']}"),
        ("encadrante-nadia", UUID(p["id"]) if travail else None, "/v1/echeances"),
    ], "each read names every dossier it showed (a list too)"


# -- erasure, corrections, hotel ----------------------------------------------------------------------


async def test_an_erased_identity_leaves_the_dossier_without_names(api: Api, lecture: Lecture) -> None:
    p = await ouvrir(api, "Oubliée", "Sarah")
    await decider_mesure(api, p["id"], date_debut=LE, date_echeance=ECHEANCE)
    await lecture.a_jour()
    assert (await lire(lecture, "/v1/dossiers", q="oubliee"))["total"] == 1

    identite: Identite = api.application.repository.get(UUID(p["personne_id"]))
    assert isinstance(identite, Identite)
    identite.effacer(
        Contexte(
            auteur="dpo", maintenant=api.horloge.maintenant(), correlation_id="effacement", causation_id="effacement"
        ),
        motif="droit à l'effacement",
    )
    api.application.save(identite)
    await lecture.a_jour()

    vu = await lire(lecture, f"/v1/dossiers/{p['id']}")
    assert vu["identite"] == {"nom": None, "prenoms": None, "date_naissance": None, "effacee": True}
    assert vu["age"] is None
    assert vu["mesures_actives"][0]["nature"] == "accueil_provisoire", "the parcours itself stays"
    assert {e["type"] for e in vu["echeances"]} == {"ppe", "echeance_mesure", "rapport_situation"}, (
        "no exact birth date left for age deadlines"
    )
    assert (await lire(lecture, "/v1/dossiers", q="oubliee"))["total"] == 0
    (ligne,) = (await lire(lecture, "/v1/dossiers"))["dossiers"]
    assert (ligne["nom"], ligne["prenoms"], ligne["date_naissance"]) == (None, None, None)
    travail = await lire(lecture, "/v1/echeances")
    assert {(t["nom"], t["prenoms"]) for t in travail["echeances"]} == {(None, None)}


async def test_a_rectified_echeance_moves_the_deadline(api: Api, lecture: Lecture) -> None:
    p = await ouvrir(api, "Rectifiée", "Mila")
    mesure = await decider_mesure(
        api,
        p["id"],
        cadre="judiciaire",
        nature="confiage_ase",
        autorite="juge_des_enfants",
        date_debut=LE,
        date_echeance=date(2027, 11, 1),
    )
    await lecture.a_jour()
    assert (await lire(lecture, f"/v1/dossiers/{p['id']}"))["mesures_actives"][0]["date_echeance"] == "2027-11-01"
    reponse = await api.post(
        f"/v1/parcours/{p['id']}/rectifications",
        {
            "version_rectifiee": 2,
            "champ": "date_echeance",
            "nouvelle_valeur": "2028-05-01",
            "motif": "erreur de saisie de l'échéance",
        },
    )
    assert reponse.status_code == 200, reponse.text
    await lecture.a_jour()
    vu = await lire(lecture, f"/v1/dossiers/{p['id']}")
    assert vu["version"] == 3
    assert [(m["mesure_id"], m["date_echeance"]) for m in vu["mesures_actives"]] == [(mesure, "2028-05-01")]
    (echeance,) = [e for e in vu["echeances"] if e["type"] == "echeance_mesure"]
    assert (echeance["due_le"], echeance["alerte_le"]) == ("2028-05-01", "2028-03-01")


async def test_a_corrected_birth_date_moves_the_age_deadlines(api: Api, lecture: Lecture) -> None:
    p = await ouvrir(api, "Rectifiée", "Jeanne", ne_le=date(2012, 5, 3))
    await lecture.a_jour()
    reponse = await api.post(
        f"/v1/parcours/{p['id']}/rectifications",
        {
            "version_rectifiee": 1,
            "champ": "date_naissance",
            "nouvelle_valeur": "2011-09-14",
            "motif": "acte de naissance reçu",
        },
    )
    assert reponse.status_code == 200, reponse.text
    await lecture.a_jour()
    vu = await lire(lecture, f"/v1/dossiers/{p['id']}")
    assert (vu["mois_naissance"], vu["identite"]["date_naissance"], vu["date_majorite"]) == (
        "2011-09",
        "2011-09-14",
        "2029-09-14",
    )
    assert [(e["type"], e["due_le"]) for e in vu["echeances"]] == [("majorite", "2029-09-14")]


async def test_a_hebergement_derogatoire_after_seventeen_shows_its_limit_and_an_entretien_due_at_once(
    api: Api, lecture: Lecture
) -> None:
    """CASF L221-2-3 (décret 2024-119): two months at most; L222-5-1: the entretien as soon as possible after 17."""
    p = await ouvrir(api, "Hébergée", "Yasmine", ne_le=date(2009, 6, 1))
    hebergement = await referencer_lieu(api, "hebergement_derogatoire", nom="Résidence Jeunes Lille")
    foyer = await referencer_lieu(api, "foyer_enfance", nom="Foyer Lille-Sud")
    mesure = await decider_mesure(api, p["id"], date_debut=LE, date_echeance=ECHEANCE)
    await commande(
        api, p["id"], "/accueil", {"mesure_id": mesure, "lieu_id": hebergement, "date_effet": LE.isoformat()}
    )
    await lecture.a_jour()
    vu = await lire(lecture, f"/v1/dossiers/{p['id']}")
    assert vu["accueil"]["date_limite_hotel"] == "2027-01-02"
    par_type = {e["type"]: e for e in vu["echeances"]}
    assert (par_type["limite_hebergement_derogatoire"]["due_le"], "limite_hotel" in par_type) == ("2027-01-02", False)
    assert (par_type["entretien_autonomie"]["due_le"], par_type["entretien_autonomie"]["en_retard"]) == (
        LE.isoformat(),
        True,
    ), "placed after 17: as soon as possible"
    assert vu["autonomie"]["statut"] == "en_retard"

    await commande(
        api, p["id"], "/accueil/changement", {"lieu_id": foyer, "motif": "besoin_enfant", "date_effet": "2026-11-20"}
    )
    await lecture.a_jour()
    vu = await lire(lecture, f"/v1/dossiers/{p['id']}")
    assert (vu["accueil"]["lieu_nom"], vu["accueil"]["date_limite_hotel"]) == ("Foyer Lille-Sud", None)
    assert "limite_hebergement_derogatoire" not in {e["type"] for e in vu["echeances"]}


async def test_after_the_opp_carrying_the_accueil_is_lifted_the_dossier_names_the_confiage(
    api: Api, lecture: Lecture
) -> None:
    """Regression: GET /v1/parcours moved the accueil to the confiage, the dossier and the audit state kept the OPP.

    DOMAIN.md, MesureLevee: the accueil goes on under the first active measure that allows one.
    """
    p = await ouvrir(api, "Relayée", "Nour")
    lieu = await referencer_lieu(api)
    opp = await decider_mesure(
        api, p["id"], cadre="judiciaire", nature="opp", autorite="parquet", date_debut=LE, date_echeance=ECHEANCE
    )
    await commande(api, p["id"], "/accueil", {"mesure_id": opp, "lieu_id": lieu, "date_effet": LE.isoformat()})
    aemo = await decider_mesure(
        api,
        p["id"],
        cadre="judiciaire",
        nature="aemo",
        autorite="juge_des_enfants",
        date_debut=date(2026, 11, 5),
        date_echeance=date(2027, 11, 4),
        reference="JE-AEMO",
    )
    confiage = await decider_mesure(
        api,
        p["id"],
        cadre="judiciaire",
        nature="confiage_ase",
        autorite="juge_des_enfants",
        date_debut=date(2026, 11, 10),
        date_echeance=date(2028, 11, 9),
        reference="JE-CONFIAGE",
    )
    await commande(api, p["id"], f"/mesures/{opp}/levee", {"motif": "mainlevee", "date_effet": "2026-11-12"})
    await lecture.a_jour()

    ecrit = (await api.get(f"/v1/parcours/{p['id']}")).json()
    dossier = await lire(lecture, f"/v1/dossiers/{p['id']}")
    audit = await lire(lecture, f"/v1/audit/parcours/{p['id']}/etat", role="auditeur")

    assert ecrit["accueil"]["mesure_id"] == dossier["accueil"]["mesure_id"] == confiage
    assert audit["etat"]["accueil"]["mesure_id"] == confiage
    assert {m["mesure_id"] for m in dossier["mesures_actives"]} == {aemo, confiage}


# -- the two topics in either order ----------------------------------------------------------------------


def _evenement(
    nom: str, type_ce: str, flux_id: UUID, version: int, *, source: str, donnees: dict[str, Any] | None
) -> EvenementPublie:
    return EvenementPublie(
        id=f"{flux_id}:{version}",
        type=type_ce,
        nom=nom,
        flux_id=flux_id,
        version=version,
        source=source,
        enregistre_le=datetime(2026, 11, 2, 10, tzinfo=UTC),
        auteur="alice",
        correlation_id="c",
        donnees=donnees,
    )


async def test_an_identity_before_or_after_its_parcours_builds_the_same_dossier(base_url: str) -> None:
    pid, personne, mesure = uuid4(), uuid4(), uuid4()
    ouvert = {
        "parcours_id": str(pid),
        "personne_id": str(personne),
        "mois_naissance": "2009-06",
        "sexe": "F",
        "departement": "59",
        "referent_id": None,
        "date_effet": "2026-11-02",
    }
    decidee = {
        "parcours_id": str(pid),
        "mesure_id": str(mesure),
        "cadre": "administratif",
        "nature": "accueil_provisoire",
        "autorite": "president_cd",
        "reference_decision": "D",
        "date_debut": "2026-11-02",
        "date_echeance": None,
        "date_effet": "2026-11-02",
    }
    enregistree = {
        "personne_id": str(personne),
        "nom": "Ordre",
        "prenoms": "Aya",
        "date_naissance": "2009-06-01",
        "sexe": "F",
        "lieu_naissance": None,
        "date_effet": "2026-11-02",
    }
    parcours = [
        _evenement(
            "ParcoursOuvert", "fr.ase.parcours.parcours_ouvert.v1", pid, 1, source="/ase/59/parcours", donnees=ouvert
        ),
        _evenement(
            "MesureDecidee", "fr.ase.parcours.mesure_decidee.v1", pid, 2, source="/ase/59/parcours", donnees=decidee
        ),
    ]
    identite = _evenement(
        "IdentiteEnregistree",
        "fr.ase.identite.identite_enregistree.v1",
        personne,
        1,
        source="/ase/identites",
        donnees=enregistree,
    )
    projection = ProjectionDossiers()
    conn = await asyncpg.connect(base_url)
    try:
        tables = []
        for schema, ordre in (
            ("ordre_parcours_d_abord", [*parcours, identite]),
            ("ordre_identite_d_abord", [identite, *parcours]),
        ):
            await creer_tables(conn, schema, projection)
            async with conn.transaction():
                await conn.execute(f'SET LOCAL search_path TO "{schema}"')
                for evenement in ordre:
                    await projection.appliquer(conn, evenement)
                await projection.fin_de_lot(conn)
            tables.append(
                [
                    [dict(ligne) for ligne in await conn.fetch(f'SELECT * FROM "{schema}".{table} ORDER BY 1, 2')]
                    for table in ("dossiers", "identites", "echeances")
                ]
            )
    finally:
        await conn.close()
    assert tables[0] == tables[1]
    # Under an administrative measure, not placed: reports are due (CASF L223-5 al. 2), no entretien (L222-5-1).
    assert {e["type"] for e in tables[0][2]} == {"ppe", "rapport_situation", "preparation_majorite", "majorite"}
