"""The logs of a whole scenario carry request and correlation ids, and never a name or a birth date.

The scenario sends the child's identity the way callers do, including in
requests that fail (a malformed date, a broken rule, a stale version), since
error paths are where input most easily leaks into logs.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
import structlog

from services.runtime.logs import MASQUE, configurer
from tests.integration.api_parcours import a_la_date, referencer_lieu
from tests.integration.conftest import Api

NOM = "Kervadec-Lüthi"
PRENOMS = "Anaïs Gwendoline"
NEE_LE = date(2011, 4, 27)
CORRELATION = "5f0c2a4e-4242-4c3b-9a1d-0d0551e4b242"
"""A caller's correlation id, a UUID: kept (any other value is replaced, see the test at the end)."""

SECRETS = [
    NOM,
    "Kervadec",
    "Lüthi",
    "Luthi",
    PRENOMS,
    "Anaïs",
    "Anais",
    "Gwendoline",
    NEE_LE.isoformat(),
    "27/04/2011",
    "2011/04/27",
    "20110427",
    "27.04.2011",
    "27-04-2011",
    "2011-04-28",
]
"""The name in whole and in parts, and the exact birth dates (as recorded, as corrected) in every format sent."""


@pytest.fixture
def journaux_json(capfd: pytest.CaptureFixture[str]) -> Iterator[Callable[[], Any]]:
    """Configure the service's JSON logging (as in production); yield how to read what it wrote.

    The set-up is made on the first read, inside the test: the handler binds
    the stderr of the phase it is created in. What was there before is restored.
    """
    racine = logging.getLogger()
    handlers, niveau = racine.handlers[:], racine.level
    acces = logging.getLogger("uvicorn.access").disabled
    structlog_avant = structlog.get_config()

    configure = False

    def lire() -> Any:
        nonlocal configure
        if not configure:
            configurer("INFO", json=True)
            configure = True
        return capfd.readouterr()

    yield lire
    structlog.configure(**structlog_avant)
    racine.handlers[:] = handlers
    racine.setLevel(niveau)
    logging.getLogger("uvicorn.access").disabled = acces


def _lignes(texte: str) -> list[dict[str, Any]]:
    lignes = []
    for ligne in texte.splitlines():
        if ligne.startswith("{"):
            lignes.append(json.loads(ligne))
    return lignes


def _fuites(texte: str) -> list[str]:
    """The secrets found in ``texte``, raw or once JSON escapes are decoded."""
    decode = "\n".join(json.dumps(ligne, ensure_ascii=False) for ligne in _lignes(texte))
    return [s for s in SECRETS if s.lower() in texte.lower() or s.lower() in decode.lower()]


async def _scenario(api: Api) -> list[str]:
    """A whole parcours with errors on the way; returns the request ids the API answered with."""
    ids: list[str] = []
    personne = {"nom": NOM, "prenoms": PRENOMS, "date_naissance": NEE_LE.isoformat(), "sexe": "F"}
    correle = {"X-Correlation-Id": CORRELATION}

    async def envoyer(chemin: str, corps: Any, statut: int, **entetes: str) -> dict[str, Any]:
        reponse = await api.post(chemin, corps, **entetes)
        assert reponse.status_code == statut, reponse.text
        ids.append(reponse.headers["x-request-id"])
        resultat: dict[str, Any] = reponse.json()
        return resultat

    a_la_date(api, date(2026, 3, 10))
    pid = (
        await envoyer(
            "/v1/parcours", {"personne": personne, "departement": "59", "date_effet": "2026-03-02"}, 201, **correle
        )
    )["id"]
    # Malformed: the identity comes back in other date formats, with a bad sexe and unknown fields.
    for autre_format in ("27/04/2011", "2011/04/27", "27.04.2011", "27-04-2011"):
        await envoyer(
            "/v1/parcours",
            {
                "personne": {**personne, "date_naissance": autre_format, "sexe": "féminin"},
                "departement": "59",
                "date_effet": "2026-03-02",
                "nom": NOM,
            },
            422,
            **correle,
        )
    await envoyer(
        "/v1/parcours",
        {"personne": {**personne, "date_naissance": 20110427}, "departement": "59", "date_effet": "2026-03-02"},
        422,
    )
    # Refused by a rule, with the identity in the body.
    await envoyer(
        "/v1/parcours",
        {"personne": {**personne, "date_naissance": "2027-04-27"}, "departement": "59", "date_effet": "2026-03-02"},
        409,
    )
    await envoyer("/v1/parcours", {"personne": personne, "departement": "62", "date_effet": "2026-03-02"}, 403)

    lieu = await referencer_lieu(api, "mecs")
    await envoyer(
        f"/v1/parcours/{pid}/informations-preoccupantes",
        {"origine": "sante", "dangers": ["negligences"], "date_effet": "2026-03-03"},
        200,
        **correle,
    )
    mesure = (
        await envoyer(
            f"/v1/parcours/{pid}/mesures",
            {
                "cadre": "administratif",
                "nature": "accueil_provisoire",
                "autorite": "president_cd",
                "reference_decision": "PCD-2026-12",
                "date_debut": "2026-03-04",
                "date_echeance": "2026-09-03",
                "date_effet": "2026-03-04",
            },
            200,
        )
    )["mesure_id"]
    await envoyer(
        f"/v1/parcours/{pid}/accueil", {"mesure_id": mesure, "lieu_id": lieu, "date_effet": "2026-03-04"}, 200
    )
    await envoyer(f"/v1/parcours/{pid}/ppe", {"date_effet": "2026-03-05"}, 409, If_Match='"1"')
    await envoyer(f"/v1/parcours/{pid}/majorite", {}, 409)
    await envoyer(
        f"/v1/parcours/{pid}/rectifications",
        {"version_rectifiee": 1, "champ": "date_naissance", "nouvelle_valeur": "2011-04-28", "motif": NOM},
        200,
    )
    await envoyer(
        f"/v1/parcours/{pid}/rectifications",
        {"version_rectifiee": 1, "champ": "date_naissance", "nouvelle_valeur": "27/04/2011", "motif": "m"},
        422,
    )
    for chemin in (f"/v1/parcours/{pid}", f"/v1/parcours/{pid}/evenements"):
        lecture = await api.client.get(chemin, headers=api.jeton())
        assert lecture.status_code == 200
        ids.append(lecture.headers["x-request-id"])
    anonyme = await api.client.post("/v1/parcours", json={"personne": personne})
    assert anonyme.status_code == 401
    ids.append(anonyme.headers["x-request-id"])
    return ids


async def test_a_whole_scenario_logs_request_and_correlation_ids_and_no_name_or_birth_date(
    api: Api, journaux_json: Callable[[], Any]
) -> None:
    journaux_json()
    ids = await _scenario(api)
    # A witness: if redaction were gone, this line alone would fail the test.
    structlog.get_logger("tests.logs").info(
        "temoin", nom=NOM, personne={"prenoms": PRENOMS, "date_naissance": NEE_LE.isoformat()}
    )

    capture = journaux_json()
    texte = capture.out + capture.err
    assert _fuites(texte) == []
    lignes = _lignes(capture.err)
    (temoin,) = [ligne for ligne in lignes if ligne.get("event") == "temoin"]
    assert (temoin["nom"], temoin["personne"]) == (MASQUE, MASQUE)
    requetes = [ligne for ligne in lignes if ligne.get("event") == "requete"]
    assert requetes, "the JSON logs of the requests go to stderr"
    assert set(ids) <= {ligne.get("request_id") for ligne in requetes}, "every request answered is logged"
    for ligne in requetes:
        assert ligne.get("request_id"), ligne
        assert ligne.get("correlation_id"), ligne
    assert CORRELATION in {ligne["correlation_id"] for ligne in requetes}
    assert {ligne["statut"] for ligne in requetes} >= {200, 201, 401, 403, 409, 422}


async def test_personal_fields_passed_to_a_logger_are_masked_at_any_depth(
    api: Api, journaux_json: Callable[[], Any]
) -> None:
    journaux_json()
    log = structlog.get_logger("tests.logs")

    log.info(
        "identite_saisie",
        nom=NOM,
        prenoms=PRENOMS,
        date_naissance=NEE_LE.isoformat(),
        personne={"nom": NOM, "prenoms": PRENOMS, "date_naissance": "27/04/2011"},
        lot=[{"nom": NOM, "lieu_naissance": "Quimper"}],
        parcours_id="p-1",
    )
    logging.getLogger("tests.logs.stdlib").warning("identite_refusee")

    capture = journaux_json()
    assert _fuites(capture.out + capture.err) == []
    (ligne,) = [ligne for ligne in _lignes(capture.err) if ligne.get("event") == "identite_saisie"]
    assert (ligne["nom"], ligne["prenoms"], ligne["date_naissance"], ligne["personne"]) == (
        MASQUE,
        MASQUE,
        MASQUE,
        MASQUE,
    )
    assert ligne["lot"] == [{"nom": MASQUE, "lieu_naissance": MASQUE}]
    assert ligne["parcours_id"] == "p-1", "what is not personal is kept"
    assert "Quimper" not in capture.err
    assert any(ligne.get("event") == "identite_refusee" for ligne in _lignes(capture.err)), "stdlib logs are JSON too"


async def test_a_name_and_birth_date_sent_as_correlation_id_appear_nowhere(
    api: Api, base_url: str, journaux_json: Callable[[], Any]
) -> None:
    """Issue 9: a caller's X-Correlation-Id was copied verbatim into the logs, the stored metadata and
    ``ce_correlationid``. Only a UUID is kept; anything else is replaced by a generated UUID."""
    import asyncpg

    from services.runtime import coffre

    journaux_json()
    # Printable ASCII, no space: what the API used to take as a correlation id.
    fuite = f"Kervadec-Luthi.Anais.Gwendoline.{NEE_LE.isoformat()}"
    personne = {"nom": "Martin", "prenoms": "Léa", "date_naissance": "2012-04-03", "sexe": "F"}
    a_la_date(api, date(2026, 3, 10))
    reponse = await api.post(
        "/v1/parcours",
        {"personne": personne, "departement": "59", "date_effet": "2026-03-02"},
        X_Correlation_Id=fuite,
    )
    assert reponse.status_code == 201, reponse.text
    remplace = reponse.headers["x-correlation-id"]
    assert str(uuid.UUID(remplace)) == remplace
    gardee = await api.post(
        f"/v1/parcours/{reponse.json()['id']}/ppe", {"date_effet": "2026-03-03"}, X_Correlation_Id=CORRELATION.upper()
    )
    assert gardee.headers["x-correlation-id"] == CORRELATION, "a UUID is kept (in its canonical form)"

    texte_reponses = "\n".join(f"{k}: {v}" for r in (reponse, gardee) for k, v in r.headers.items())
    conn = await asyncpg.connect(base_url)
    try:
        lignes = await conn.fetch("SELECT originator_id, originator_version, topic, state FROM ase_events")
        publies = await coffre.messages_des_lignes(conn, lignes)
    finally:
        await conn.close()
    stockes = "\n".join(bytes(ligne["state"]).decode() for ligne in lignes)
    correlations = {dict(m.entetes)["ce_correlationid"].decode() for m in publies}
    assert remplace in correlations
    assert CORRELATION in correlations
    capture = journaux_json()
    journaux = capture.out + capture.err
    for morceau in ("Kervadec", "Luthi", "Gwendoline", NEE_LE.isoformat()):
        assert morceau not in texte_reponses, "response headers"
        assert morceau not in stockes, "stored metadata"
        assert all(morceau not in c for c in correlations), "ce_correlationid"
        assert all(morceau.encode() not in valeur for m in publies for _, valeur in m.entetes), "Kafka headers"
        assert morceau.lower() not in journaux.lower(), "logs"
    requetes = [ligne for ligne in _lignes(capture.err) if ligne.get("event") == "requete"]
    assert {ligne["correlation_id"] for ligne in requetes} >= {remplace, CORRELATION}
