"""The vault (``services/runtime/coffre.py``): envelope encryption, erased keys read as erased fields,
tampering detected, KEK rotation; and the write side's application over it (in-memory store)."""

from __future__ import annotations

import base64
import os
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
import orjson
import pytest
from anyio import CapacityLimiter
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError
from typer.testing import CliRunner

from services.cli.commandes import app as app_cli
from services.parcours import commandes as c
from services.parcours.api.app import creer_app
from services.parcours.api.dependances import Composants
from services.parcours.application import Demande, ParcoursApplication
from services.parcours.settings import ParcoursSettings
from services.projections.settings import ProjectionsSettings
from services.runtime.auth import CleDeDeveloppement
from services.runtime.coffre import (
    CHAMP_CHIFFRE,
    CHAMP_EFFACE,
    CLE_MAITRE_DEV,
    CleMaitreEnv,
    CleMaitreInconnueError,
    CleMaitreInvalideError,
    Coffre,
    DonneesAltereesError,
    chiffrer_champs,
    dechiffrer_etat,
    dechiffrer_stocke,
    message_dechiffre,
    reinitialiser_coffre_par_defaut,
)
from services.runtime.errors import IntrouvableError, RegleMetierError
from services.runtime.horloge import HorlogeFixe


def _cle() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def _coffre(cle: str, ident: str = "k1", anciennes: str = "") -> Coffre:
    return Coffre(
        CleMaitreEnv({"ASE_CLE_MAITRE": cle, "ASE_CLE_MAITRE_ID": ident, "ASE_CLES_MAITRES_ANCIENNES": anciennes})
    )


FLUX = uuid4()
PERSONNE = uuid4()


def _chiffre(cle: bytes) -> dict[str, object]:
    etat: dict[str, object] = {"nom": "Durand", "prenoms": "Léa", "date_naissance": "2012-05-03", "sexe": "F"}
    return chiffrer_champs(
        etat, ("nom", "prenoms", "date_naissance"), personne_id=PERSONNE, cle=cle, flux_id=FLUX, version=1
    )


def test_personal_fields_leave_the_state_encrypted_and_come_back_with_the_persons_key() -> None:
    cle = os.urandom(32)
    etat = _chiffre(cle)
    brut = orjson.dumps(etat)
    assert b"Durand" not in brut
    assert b"2012-05-03" not in brut
    assert etat["sexe"] == "F", "what is not personal stays in clear"
    clair = dechiffrer_etat(orjson.loads(brut), {PERSONNE: cle}, flux_id=FLUX, version=1)
    assert clair == {"nom": "Durand", "prenoms": "Léa", "date_naissance": "2012-05-03", "sexe": "F"}


def test_without_the_key_the_fields_read_as_erased_never_as_an_error() -> None:
    etat = _chiffre(os.urandom(32))
    lu = dechiffrer_etat(etat, {}, flux_id=FLUX, version=1)
    assert lu == {"nom": None, "prenoms": None, "date_naissance": None, "sexe": "F", CHAMP_EFFACE: True}


def test_a_tampered_ciphertext_is_an_error_not_an_erasure() -> None:
    cle = os.urandom(32)
    etat = _chiffre(cle)
    bloc = etat[CHAMP_CHIFFRE]
    assert isinstance(bloc, dict)
    brut = bytearray(base64.b64decode(bloc["donnees"]))
    brut[-1] ^= 1
    bloc["donnees"] = base64.b64encode(bytes(brut)).decode()
    with pytest.raises(DonneesAltereesError):
        dechiffrer_etat(etat, {PERSONNE: cle}, flux_id=FLUX, version=1)


def test_a_ciphertext_moved_to_another_event_does_not_decrypt() -> None:
    cle = os.urandom(32)
    with pytest.raises(DonneesAltereesError):
        dechiffrer_etat(_chiffre(cle), {PERSONNE: cle}, flux_id=FLUX, version=2)


def test_a_data_key_does_not_unwrap_with_the_wrong_kek() -> None:
    _, enveloppee = _coffre(_cle()).nouvelle_cle(PERSONNE)
    with pytest.raises(DonneesAltereesError):
        _coffre(_cle()).desenvelopper(enveloppee)


def test_a_wrapped_key_copied_to_another_person_does_not_unwrap() -> None:
    coffre = _coffre(_cle())
    _, enveloppee = coffre.nouvelle_cle(PERSONNE)
    with pytest.raises(DonneesAltereesError):
        coffre.desenvelopper(type(enveloppee)(uuid4(), enveloppee.cle_chiffree, enveloppee.kek_id))


def test_rotation_rewraps_with_the_new_kek_and_the_old_one_can_then_be_dropped() -> None:
    ancienne, nouvelle = _cle(), _cle()
    cle, enveloppee = _coffre(ancienne, "k1").nouvelle_cle(PERSONNE)
    pendant = _coffre(nouvelle, "k2", anciennes=f"k1:{ancienne}")
    assert pendant.desenvelopper(enveloppee) == cle, "the old KEK still unwraps during the rotation"
    tournee = pendant.reenvelopper(enveloppee)
    assert tournee.kek_id == "k2"
    apres = _coffre(nouvelle, "k2")
    assert apres.desenvelopper(tournee) == cle
    with pytest.raises(CleMaitreInconnueError):
        apres.desenvelopper(enveloppee)


def test_the_dev_kek_is_refused_in_production_and_a_bad_kek_is_refused_everywhere() -> None:
    with pytest.raises(CleMaitreInvalideError):
        CleMaitreEnv({"ASE_ENV": "production"})
    with pytest.raises(CleMaitreInvalideError):
        CleMaitreEnv({"ASE_MODE": "production", "ASE_CLE_MAITRE": CLE_MAITRE_DEV})
    with pytest.raises(CleMaitreInvalideError):
        CleMaitreEnv({"ASE_CLE_MAITRE": base64.b64encode(b"trop court").decode()})
    with pytest.raises(CleMaitreInvalideError):
        CleMaitreEnv({"ASE_CLE_MAITRE": "pas du base64 !"})
    assert CleMaitreEnv({}).cle_courante()[0] == "dev", "dev: the public dev key, flagged"


# -- the application over the in-memory store ----------------------------------------------------

MAINTENANT = datetime(2026, 11, 28, 10, tzinfo=UTC)


def _demande(departements: frozenset[str] = frozenset({"59"})) -> Demande:
    return Demande(sub="dpo", departements=departements, correlation_id="c", causation_id="r")


@pytest.fixture
def application(monkeypatch: pytest.MonkeyPatch) -> ParcoursApplication:
    monkeypatch.setenv("ASE_CLE_MAITRE", _cle())
    reinitialiser_coffre_par_defaut()
    return ParcoursApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, horloge=HorlogeFixe(MAINTENANT))


def _ouvrir(application: ParcoursApplication) -> tuple[UUID, UUID]:
    cmd = c.OuvrirParcours.model_validate(
        {
            "personne": {"nom": "Durand", "prenoms": "Léa", "date_naissance": "2012-05-03", "sexe": "F"},
            "departement": "59",
            "date_effet": "2026-01-05",
        }
    )
    corps = application.ouvrir_parcours(cmd, _demande()).corps
    return UUID(corps["id"]), UUID(corps["personne_id"])


def test_the_in_memory_store_keeps_no_name_and_an_erasure_leaves_the_parcours_readable(
    application: ParcoursApplication,
) -> None:
    parcours_id, personne_id = _ouvrir(application)
    stocke = b"".join(e.state for e in application.recorder._stored_events)  # type: ignore[attr-defined]
    assert b"Durand" not in stocke
    assert b"2012-05-03" not in stocke
    assert application.parcours(parcours_id, frozenset({"59"})).date_naissance == date(2012, 5, 3)

    with pytest.raises(IntrouvableError):
        application.effacer_personne(personne_id, "autre", _demande(frozenset({"62"})))
    reponse = application.effacer_personne(personne_id, "fin_de_conservation", _demande())
    assert reponse.corps["evenements"] == ["IdentiteEffacee"]

    parcours = application.parcours(parcours_id, frozenset({"59"}))
    assert parcours.identite_effacee
    identite = application.repository.get(personne_id)
    assert (identite.nom, identite.prenoms, identite.effacee) == ("", "", True)
    with pytest.raises(RegleMetierError, match="effacée"):
        application.effacer_personne(personne_id, "autre", _demande())
    with pytest.raises(RegleMetierError) as refus:
        application.commander(
            parcours_id,
            _demande(),
            lambda p, ctx: p.designer_referent(ctx, referent_id="bob", date_effet=date(2026, 11, 28)),
        )
    assert refus.value.regle == "identite_effacee"


def test_stored_events_of_an_erased_person_publish_as_a_tombstone_and_a_month_never_as_an_error(
    application: ParcoursApplication,
) -> None:
    parcours_id, personne_id = _ouvrir(application)
    stockes = {e.topic.rpartition(":")[2]: e for e in application.recorder._stored_events}  # type: ignore[attr-defined]
    ouvert, enregistree = stockes["ParcoursOuvert"], stockes["IdentiteEnregistree"]
    cles = application.idempotence.cles_personnes([personne_id])

    def publie(stocke: Any, avec: dict[UUID, bytes]) -> Any:
        etat = dechiffrer_stocke(stocke.state, avec, flux_id=stocke.originator_id, version=stocke.originator_version)
        return message_dechiffre(stocke.originator_id, stocke.originator_version, stocke.topic, etat)

    assert b"Durand" in publie(enregistree, cles).valeur, "the restricted topic gets the identity in clear"
    assert orjson.loads(publie(ouvert, cles).valeur)["mois_naissance"] == "2012-05"

    assert publie(enregistree, {}).valeur is None, "erased: a tombstone on ase.identites.v1"
    assert orjson.loads(publie(ouvert, {}).valeur)["mois_naissance"] == "2012-05", "the month kept in clear"
    assert parcours_id == ouvert.originator_id


# -- production starts only with a KEK (issue 9, review) -----------------------------------------

_PRODUCTION: dict[str, Any] = {
    "mode": "production",
    "database_url": "postgresql://ase@db/ase",
    "oidc_jwks_url": "https://idp.example.fr/certs",
    "oidc_issuer": "https://idp.example.fr",
}


@pytest.mark.parametrize("reglages", [ParcoursSettings, ProjectionsSettings], ids=["parcours_et_relais", "projections"])
def test_a_production_start_without_ase_cle_maitre_is_refused_by_the_settings_not_on_first_use(
    reglages: type[ParcoursSettings] | type[ProjectionsSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ASE_CLE_MAITRE", raising=False)
    monkeypatch.delenv("ASE_CLES_MAITRES_ANCIENNES", raising=False)
    with pytest.raises(ValidationError, match="ASE_CLE_MAITRE"):
        reglages(**_PRODUCTION)
    monkeypatch.setenv("ASE_CLE_MAITRE", CLE_MAITRE_DEV)
    with pytest.raises(ValidationError, match="dev key-encryption key"):
        reglages(**_PRODUCTION)
    monkeypatch.setenv("ASE_CLE_MAITRE", base64.b64encode(b"trop court").decode())
    with pytest.raises(ValidationError, match="32 octets") as refus:
        reglages(**_PRODUCTION)
    assert base64.b64encode(b"trop court").decode() not in str(refus.value), "the message names no key"
    cle = _cle()
    monkeypatch.setenv("ASE_CLE_MAITRE", cle)
    assert reglages(**_PRODUCTION).mode == "production"
    monkeypatch.delenv("ASE_CLE_MAITRE")
    assert reglages().mode == "dev", "dev starts with the dev KEK"


# -- a KEK the running service does not know (issue 9, review) ------------------------------------


async def test_a_kek_unknown_to_the_running_service_answers_503_indisponible_not_500(
    application: ParcoursApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    parcours_id, _ = _ouvrir(application)
    # A rotation rolled out to another instance only: this one does not know k1.
    monkeypatch.setenv("ASE_CLE_MAITRE", _cle())
    monkeypatch.setenv("ASE_CLE_MAITRE_ID", "k2")
    reinitialiser_coffre_par_defaut()
    cle = CleDeDeveloppement(ec.generate_private_key(ec.SECP256R1()))
    app = creer_app(composants=Composants(application=application, verificateur=cle, limiteur=CapacityLimiter(2)))
    jeton = cle.signer(sub="referente-alice", roles=["referent"], departements=["59"])
    try:
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parcours.test") as client,
        ):
            reponse = await client.get(f"/v1/parcours/{parcours_id}", headers={"Authorization": f"Bearer {jeton}"})
    finally:
        reinitialiser_coffre_par_defaut()
    assert reponse.status_code == 503, reponse.text
    assert reponse.headers["content-type"].startswith("application/problem+json")
    corps = reponse.json()
    assert corps["type"].endswith("indisponible")
    assert "k1" not in reponse.text, "no key id"
    assert "Durand" not in reponse.text, "no personal data"


def test_ase_relay_in_production_without_ase_cle_maitre_refuses_to_start_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable, valeur in {
        "ASE_MODE": "production",
        "DATABASE_URL": "postgresql://ase:mot-de-passe-secret@db/ase",
        "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
        "ASE_OIDC_JWKS_URL": _PRODUCTION["oidc_jwks_url"],
        "ASE_OIDC_ISSUER": _PRODUCTION["oidc_issuer"],
    }.items():
        monkeypatch.setenv(variable, valeur)
    monkeypatch.delenv("ASE_CLE_MAITRE", raising=False)
    resultat = CliRunner().invoke(app_cli, ["relay"])
    assert resultat.exit_code == 2, resultat.output
    assert "ASE_CLE_MAITRE" in resultat.output
    assert "mot-de-passe-secret" not in resultat.output, "the settings' values are not printed"
