"""Crypto-shredding end to end (issue 9, "Erasure"): personal fields encrypted at rest, erased by
``POST /v1/personnes/{id}/effacement`` (the DPO), and from then on absent from every byte of the
store, of the read models, of the API answers and of a rebuild from the store."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg
import psycopg

from contracts.enveloppe import TOPIC_RESTREINT
from services.projections.readmodels import catalogue_des_projections
from services.projections.reconstruction import reconstruire
from services.projections.service import Sources
from services.runtime import coffre
from services.runtime.coffre import TABLE_CLES
from tests.integration.api_parcours import (
    DEPARTEMENT,
    NE_LE,
    NOM,
    PRENOMS,
    a_la_date,
    decider_mesure,
    etat,
    evenements,
    ouvrir,
    probleme,
    referencer_lieu,
)
from tests.integration.conftest import Api, Lecture
from tests.integration.projections_outils import SeulementCetteBase

MOTIF_LIBRE = "Signalement de la voisine Josiane Quintrec-Ballardin"
"""Free text a caseworker types: encrypted with the person's key, erased with it."""

SECRETS = (NOM.encode(), PRENOMS.encode(), NE_LE.isoformat().encode(), MOTIF_LIBRE.encode())


def _fuites(texte: bytes | str) -> list[bytes]:
    brut = texte.encode() if isinstance(texte, str) else texte
    return [s for s in SECRETS if s in brut]


async def _effacer(
    api: Api, personne_id: str, *, role: str = "dpo", departements: tuple[str, ...] = (DEPARTEMENT,)
) -> Any:
    return await api.client.post(
        f"/v1/personnes/{personne_id}/effacement",
        json={"motif": "fin_de_conservation"},
        headers=api.jeton(role, departements, sub="dpo-59"),
    )


def _table_des_evenements(base_url: str) -> bytes:
    with psycopg.connect(base_url) as conn:
        lignes = conn.execute("SELECT topic, state FROM ase_events ORDER BY notification_id").fetchall()
    return b"\n".join(bytes(state) for _, state in lignes)


async def _schemas_de_lecture(pool: asyncpg.Pool, efface_le: datetime) -> str:
    """Every text, varchar and jsonb column of every table outside PostgreSQL's own schemas and the store's.

    The access log's lines written after ``efface_le`` are left out: a search typed
    after the erasure is that reader's own record (it found nobody), not data the
    service kept about her; the lines of the reads that showed her are in.
    """
    async with pool.acquire() as conn:
        colonnes = await conn.fetch(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE data_type IN ('text', 'character varying', 'jsonb', 'json', 'ARRAY') "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema') "
            "AND NOT (table_schema = 'public' AND table_name = 'ase_events')"
        )
        morceaux = []
        for c in colonnes:
            apres = c["table_schema"] == "public" and c["table_name"] == "journal_acces"
            valeurs = await conn.fetch(
                f'SELECT "{c["column_name"]}"::text AS v FROM "{c["table_schema"]}"."{c["table_name"]}"'
                + (" WHERE lu_le < $1" if apres else ""),
                *([efface_le] if apres else []),
            )
            # Each value named by its column, so a failure says where the name stayed.
            ou = f"{c['table_schema']}.{c['table_name']}.{c['column_name']}"
            morceaux.extend(f"{ou}={v['v']}" for v in valeurs if v["v"] is not None)
    assert len(colonnes) > 10, "the read models' columns were found"
    return "\n".join(morceaux)


async def _ouvrir_avec_texte_libre(api: Api) -> dict[str, Any]:
    p = await ouvrir(api, NE_LE.replace(year=2025))
    # A corrected birth date and a reopening carry the birth date and free text in parcours events.
    rectif = await api.post(
        f"/v1/parcours/{p['id']}/rectifications",
        {"version_rectifiee": 1, "champ": "date_naissance", "nouvelle_valeur": "2012-05-04", "motif": MOTIF_LIBRE},
    )
    assert rectif.status_code == 200, rectif.text
    rectif = await api.post(
        f"/v1/parcours/{p['id']}/rectifications",
        {"version_rectifiee": 1, "champ": "date_naissance", "nouvelle_valeur": NE_LE.isoformat(), "motif": MOTIF_LIBRE},
    )
    assert rectif.status_code == 200, rectif.text
    return p


async def test_personal_fields_are_encrypted_at_rest_and_read_back_in_clear(api: Api, base_url: str) -> None:
    p = await _ouvrir_avec_texte_libre(api)

    assert _fuites(_table_des_evenements(base_url)) == [], "no name, birth date or free text in clear in ase_events"
    vu = await etat(api, p["id"])
    assert (vu["age"], vu["date_majorite"]) == (14, "2030-05-03")
    assert vu["rectifications"][0]["motif"] == MOTIF_LIBRE
    assert (await evenements(api, p["id"]))[0]["donnees"]["date_naissance"] == NE_LE.isoformat()
    with psycopg.connect(base_url) as conn:
        (cles,) = conn.execute(f"SELECT count(*) FROM public.{TABLE_CLES}").fetchone() or (0,)
    assert cles == 1, "one data key per person, created with her identity"


async def test_erasure_leaves_no_name_nor_birth_date_in_the_store_the_read_models_the_answers_or_a_rebuild(
    api: Api, base_url: str, lecture: Lecture
) -> None:
    p = await _ouvrir_avec_texte_libre(api)
    await decider_mesure(api, p["id"], date_debut=NE_LE.replace(year=2025))
    await lecture.a_jour()
    avant = await lecture.get(f"/v1/dossiers/{p['id']}")
    assert NOM in avant.text, "the read side showed the name before the erasure"
    trouvee = await lecture.get("/v1/dossiers", q=NOM)
    assert p["id"] in trouvee.text, "a search by her name found her, and the access log kept the term"

    efface = await _effacer(api, p["personne_id"])
    async with lecture.comp.pool.acquire() as conn:
        efface_le = await conn.fetchval("SELECT now()")
    assert efface.status_code == 200, efface.text
    assert efface.json()["evenements"] == ["IdentiteEffacee"]
    await lecture.a_jour()

    # The write side: no age, no date of majority, no birth date, no free text; never an error.
    vu = await etat(api, p["id"])
    assert (vu["age"], vu["date_majorite"], vu["identite_effacee"]) == (None, None, True)
    historique = await evenements(api, p["id"])
    assert historique[0]["donnees"]["date_naissance"] is None
    reponses = [
        (await api.get(f"/v1/parcours/{p['id']}")).text,
        (await api.get(f"/v1/parcours/{p['id']}/evenements")).text,
        (await lecture.get(f"/v1/dossiers/{p['id']}")).text,
        (await lecture.get("/v1/dossiers", q=NOM)).text,
        (await lecture.get("/v1/echeances")).text,
        (await lecture.get(f"/v1/audit/parcours/{p['id']}/chronologie", role="auditeur")).text,
    ]
    for reponse in reponses:
        assert _fuites(reponse) == [], reponse[:500]
    dossier = (await lecture.get(f"/v1/dossiers/{p['id']}")).json()
    assert dossier["identite"]["effacee"] is True
    assert (dossier["age"], dossier["date_majorite"]) == (None, None)

    # The bytes at rest: the store and every read-model column.
    assert _fuites(_table_des_evenements(base_url)) == []
    lu = await _schemas_de_lecture(lecture.comp.pool, efface_le)
    assert _fuites(lu) == [], [ligne[:120] for ligne in lu.splitlines() if _fuites(ligne)]
    with psycopg.connect(base_url) as conn:
        (cles,) = conn.execute(f"SELECT count(*) FROM public.{TABLE_CLES}").fetchone() or (0,)
    assert cles == 0, "the data key is destroyed with the erasure"

    # A rebuild from the store shows the person erased.
    sources = Sources(base_url, None, taille_lot=50)
    for projection in catalogue_des_projections():
        await reconstruire(SeulementCetteBase(projection), sources, lecture.comp.pool, "store", grace_s=0)
    assert _fuites(await _schemas_de_lecture(lecture.comp.pool, efface_le)) == []
    dossier = (await lecture.get(f"/v1/dossiers/{p['id']}")).json()
    assert dossier["identite"] == {"nom": None, "prenoms": None, "date_naissance": None, "effacee": True}


async def test_commands_on_the_parcours_of_an_erased_person_are_refused_as_identite_effacee(api: Api) -> None:
    p = await ouvrir(api, NE_LE.replace(year=2025))
    assert (await _effacer(api, p["personne_id"])).status_code == 200

    reponse = await api.post(f"/v1/parcours/{p['id']}/referent", {"referent_id": "bob", "date_effet": "2026-11-28"})
    assert probleme(reponse, 409, "regle_metier")["regle"] == "identite_effacee"
    encore = await _effacer(api, p["personne_id"])
    assert probleme(encore, 409, "regle_metier")["regle"] == "identite_effacee"


async def test_only_a_dpo_of_the_parcours_departement_erases(api: Api) -> None:
    p = await ouvrir(api, NE_LE.replace(year=2025))
    assert (await _effacer(api, p["personne_id"], role="referent")).status_code == 403
    assert (await _effacer(api, p["personne_id"], departements=("62",))).status_code == 404
    assert (await _effacer(api, str(UUID(int=7)))).status_code == 404
    mauvais = await api.client.post(
        f"/v1/personnes/{p['personne_id']}/effacement", json={"motif": "parce que"}, headers=api.jeton("dpo")
    )
    assert mauvais.status_code == 422
    assert (await etat(api, p["id"]))["age"] == 14, "nothing erased by the refused calls"


async def test_an_erasure_retried_with_its_idempotency_key_answers_the_first_answer_again(api: Api) -> None:
    p = await ouvrir(api, NE_LE.replace(year=2025))
    entetes = {**api.jeton("dpo"), "Idempotency-Key": "effacement-1"}
    chemin = f"/v1/personnes/{p['personne_id']}/effacement"
    premiere = await api.client.post(chemin, json={"motif": "erreur_de_saisie"}, headers=entetes)
    seconde = await api.client.post(chemin, json={"motif": "erreur_de_saisie"}, headers=entetes)
    assert premiere.status_code == seconde.status_code == 200, seconde.text
    assert premiere.json() == seconde.json()
    identite = api.application.repository.get(UUID(p["personne_id"]))
    assert identite.version == 2, "one IdentiteEffacee, not two"


MAJEURE_NEE_LE = date(2008, 6, 15)
DIX_HUIT_ANS = "2026-06-15"
"""Her 18th birthday: the write side dates majority, and what it ends, on it."""


async def _majeure_placee_puis_accompagnee(api: Api) -> dict[str, Any]:
    p = await ouvrir(api, date(2025, 9, 1), date_naissance=MAJEURE_NEE_LE)
    mesure_id = await decider_mesure(
        api,
        p["id"],
        cadre="judiciaire",
        nature="confiage_ase",
        autorite="juge_des_enfants",
        date_debut=date(2025, 9, 1),
        date_echeance=date(2027, 8, 31),
    )
    lieu_id = await referencer_lieu(api, "mecs")
    accueil = await api.post(
        f"/v1/parcours/{p['id']}/accueil", {"mesure_id": mesure_id, "lieu_id": lieu_id, "date_effet": "2025-09-01"}
    )
    assert accueil.status_code == 200, accueil.text
    majorite = await api.post(f"/v1/parcours/{p['id']}/majorite", {})
    assert majorite.status_code == 200, majorite.text
    apjm = await api.post(
        f"/v1/parcours/{p['id']}/accompagnement-jeune-majeur",
        {"date_debut": DIX_HUIT_ANS, "date_fin": "2027-06-14", "date_effet": "2026-10-01"},
    )
    assert apjm.status_code == 200, apjm.text
    return p


async def test_after_erasure_no_date_that_follows_from_the_18th_birthday_is_shown_by_the_write_side(
    api: Api,
) -> None:
    p = await _majeure_placee_puis_accompagnee(api)
    avant = await etat(api, p["id"])
    assert avant["majorite_atteinte_le"] == DIX_HUIT_ANS, "the birthday was shown before the erasure"
    assert {e["type"] for e in await evenements(api, p["id"]) if e["date_effet"] == DIX_HUIT_ANS} >= {
        "MajoriteAtteinte",
        "MesureLevee",
        "AccueilTermine",
    }

    assert (await _effacer(api, p["personne_id"])).status_code == 200

    vu = await etat(api, p["id"])
    assert vu["majorite_atteinte_le"] is None
    (mesure,) = vu["mesures"]
    assert (mesure["motif_levee"], mesure["levee_le"]) == ("majorite", None)
    assert vu["accompagnement_jeune_majeur"]["date_debut"] is None
    # An accompagnement may run to the eve of the 21st birthday: its end is as telling as the birth date.
    assert vu["accompagnement_jeune_majeur"]["date_fin"] is None
    historique = await evenements(api, p["id"])
    par_type = {e["type"]: e for e in historique}
    for nom in ("MajoriteAtteinte", "MesureLevee", "AccueilTermine"):
        assert par_type[nom]["date_effet"] is None, nom
    assert par_type["AccompagnementJeuneMajeurAccorde"]["donnees"]["date_debut"] is None
    assert par_type["AccompagnementJeuneMajeurAccorde"]["donnees"]["date_fin"] is None
    for chemin in (f"/v1/parcours/{p['id']}", f"/v1/parcours/{p['id']}/evenements"):
        assert DIX_HUIT_ANS not in (await api.get(chemin)).text, chemin
        assert "2027-06-14" not in (await api.get(chemin)).text, chemin


async def test_a_refused_majority_does_not_tell_the_date_of_the_18th_birthday(api: Api) -> None:
    p = await ouvrir(api, NE_LE.replace(year=2025))
    reponse = await api.post(f"/v1/parcours/{p['id']}/majorite", {})
    corps = probleme(reponse, 409, "regle_metier")
    assert corps["regle"] == "majorite_pas_encore_atteinte"
    assert "2030" not in reponse.text
    assert "18e anniversaire" in corps["detail"]


REFERENCE = "JE-Lille-2026-00042-Quintrec"
"""A court's reference: it leads back to the child, so it is encrypted with her key and erased with it."""


async def _publies_par_le_relais(base_url: str) -> list[Any]:
    """What the relay would send for every stored row (decrypted first, as it does)."""
    conn = await asyncpg.connect(base_url)
    try:
        lignes = await conn.fetch("SELECT originator_id, originator_version, topic, state FROM ase_events")
        return await coffre.messages_des_lignes(conn, lignes)
    finally:
        await conn.close()


async def test_court_references_survive_no_erasure_in_the_store_the_answers_or_the_restricted_topic(
    api: Api, base_url: str
) -> None:
    debut = date(2026, 3, 9)
    a_la_date(api, debut)
    p = await ouvrir(api, debut)
    mesure_id = await decider_mesure(
        api,
        p["id"],
        cadre="judiciaire",
        nature="confiage_ase",
        autorite="juge_des_enfants",
        date_debut=debut,
        date_echeance=date(2027, 3, 9),
        reference=REFERENCE,
    )
    a_la_date(api, date(2026, 11, 28))
    renouvellement = await api.post(
        f"/v1/parcours/{p['id']}/mesures/{mesure_id}/renouvellement",
        {"nouvelle_echeance": "2028-03-09", "reference_decision": f"{REFERENCE}-R", "date_effet": "2026-11-28"},
    )
    assert renouvellement.status_code == 200, renouvellement.text
    corriger = {"version_rectifiee": 2, "champ": "reference_decision", "motif": "erreur de saisie"}
    rectif = await api.post(f"/v1/parcours/{p['id']}/rectifications", {**corriger, "nouvelle_valeur": f"{REFERENCE}-C"})
    assert rectif.status_code == 200, rectif.text
    sans_valeur = await api.post(f"/v1/parcours/{p['id']}/rectifications", {**corriger, "nouvelle_valeur": None})
    probleme(sans_valeur, 422, "validation")

    assert REFERENCE.encode() not in _table_des_evenements(base_url), "no court reference in clear at rest"
    assert (await etat(api, p["id"]))["mesures"][0]["reference_decision"] == f"{REFERENCE}-R"
    restreints = [m for m in await _publies_par_le_relais(base_url) if m.topic == TOPIC_RESTREINT]
    assert sum(REFERENCE.encode() in (m.valeur or b"") for m in restreints) == 3, "decided, renewed, corrected"

    assert (await _effacer(api, p["personne_id"])).status_code == 200

    vu = await etat(api, p["id"])
    assert vu["mesures"][0]["reference_decision"] is None
    historique = {e["type"]: e["donnees"] for e in await evenements(api, p["id"])}
    assert historique["MesureDecidee"]["reference_decision"] is None
    assert historique["MesureRenouvelee"]["reference_decision"] is None
    assert (historique["SaisieRectifiee"]["ancienne_valeur"], historique["SaisieRectifiee"]["nouvelle_valeur"]) == (
        None,
        None,
    )
    for chemin in (f"/v1/parcours/{p['id']}", f"/v1/parcours/{p['id']}/evenements"):
        assert REFERENCE not in (await api.get(chemin)).text, chemin
    publies = await _publies_par_le_relais(base_url)
    assert [m for m in publies if REFERENCE.encode() in (m.valeur or b"")] == [], "the relay copes with null"
