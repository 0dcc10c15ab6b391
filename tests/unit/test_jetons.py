"""Tokens: claims checked by type, and a lifetime bound (1 h in production unless configured)."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from services.parcours.api.app import verificateur
from services.parcours.settings import ParcoursSettings
from services.runtime.auth import (
    ALGORITHME_DEV,
    EMETTEUR_DEV,
    AuthentificationError,
    CleDeDeveloppement,
    JetonsVerifies,
    Verificateur,
    VerificateurOIDC,
)

EMETTEUR_OIDC = "https://idp.example.fr/realms/ase"
AN_9999 = 253_402_300_000


@pytest.fixture
def cle_privee() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def cle_dev(cle_privee: ec.EllipticCurvePrivateKey) -> CleDeDeveloppement:
    return CleDeDeveloppement(cle_privee)


def _claims(**dates: Any) -> dict[str, Any]:
    maintenant = int(time.time())
    return {
        "sub": "alice",
        "roles": ["referent"],
        "departements": ["59"],
        "iss": EMETTEUR_DEV,
        "iat": maintenant,
        "exp": maintenant + 600,
        **dates,
    }


def _signe(cle_privee: ec.EllipticCurvePrivateKey, claims: dict[str, Any]) -> str:
    """A token correctly signed with the key the verifier trusts: only its claims are at fault."""
    return jwt.encode({k: v for k, v in claims.items() if v is not ...}, cle_privee, algorithm=ALGORITHME_DEV)


def test_a_token_the_dev_key_signed_is_accepted(cle_dev: CleDeDeveloppement) -> None:
    utilisateur = cle_dev.verifier(cle_dev.signer(sub="alice", roles=["referent"], departements=["59"]))
    assert (utilisateur.sub, utilisateur.departements) == ("alice", frozenset({"59"}))


def test_an_exp_claim_given_as_a_string_is_accepted(cle_privee: ec.EllipticCurvePrivateKey) -> None:
    """Regression: PyJWT reads ``"exp": "1893456000"`` as a number; a NumericDate is a JSON number."""
    cle = CleDeDeveloppement(cle_privee)
    exp = str(int(time.time()) + 600)
    with pytest.raises(AuthentificationError, match="'exp'"):
        cle.verifier(_signe(cle_privee, _claims(exp=exp)))


@pytest.mark.parametrize(
    ("claim", "valeur"),
    [
        ("iat", "1700000000"),
        ("nbf", "1700000000"),
        ("exp", True),
        ("iat", [1700000000]),
        ("exp", 10**400),
        ("exp", 1e300),
        ("iat", -1),
    ],
)
def test_every_date_claim_must_be_a_numeric_date(
    cle_privee: ec.EllipticCurvePrivateKey, claim: str, valeur: Any
) -> None:
    with pytest.raises(AuthentificationError):
        CleDeDeveloppement(cle_privee).verifier(_signe(cle_privee, _claims(**{claim: valeur})))


def test_a_token_without_iat_is_refused(cle_privee: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(AuthentificationError, match="iat"):
        CleDeDeveloppement(cle_privee).verifier(_signe(cle_privee, _claims(iat=...)))


def test_a_token_expiring_in_year_9999_is_accepted(cle_privee: ec.EllipticCurvePrivateKey) -> None:
    """Regression: a correctly signed token valid until 9999 was accepted; a dev token lives 12 h at most."""
    cle = CleDeDeveloppement(cle_privee)
    with pytest.raises(AuthentificationError, match="valable plus de"):
        cle.verifier(_signe(cle_privee, _claims(exp=AN_9999)))
    # Nor 13 h, and an old ``iat`` does not hide it: the bound holds from ``iat`` and from now.
    with pytest.raises(AuthentificationError, match="valable plus de"):
        cle.verifier(_signe(cle_privee, _claims(exp=int(time.time()) + 13 * 3600)))
    with pytest.raises(AuthentificationError, match="valable plus de"):
        cle.verifier(_signe(cle_privee, _claims(iat=int(time.time()) - 11 * 3600, exp=int(time.time()) + 2 * 3600)))


class _JWKS:
    """The issuer's key set, without the network."""

    def __init__(self, cle: ec.EllipticCurvePublicKey) -> None:
        self.cle = cle

    def get_signing_key_from_jwt(self, _jeton: str) -> Any:
        return type("Cle", (), {"key": self.cle})()


@pytest.fixture(autouse=True)
def _cle_maitre(monkeypatch: pytest.MonkeyPatch) -> None:
    """Production settings also need a KEK (services/runtime/coffre.py)."""
    monkeypatch.setenv("ASE_CLE_MAITRE", base64.b64encode(os.urandom(32)).decode())


def _production(cle_privee: ec.EllipticCurvePrivateKey, tmp_path: Path, **reglages: Any) -> Verificateur:
    settings = ParcoursSettings(
        mode="production",
        database_url="postgresql://ase@db/ase",
        oidc_jwks_url="https://idp.example.fr/realms/ase/protocol/openid-connect/certs",
        oidc_issuer=EMETTEUR_OIDC,
        data_dir=tmp_path,
        **reglages,
    )
    verif = verificateur(settings)
    assert isinstance(verif, JetonsVerifies)  # the verified-token cache, around the OIDC verifier
    assert isinstance(verif.interne, VerificateurOIDC)
    verif.interne._jwks = _JWKS(cle_privee.public_key())  # type: ignore[assignment]
    return verif


def _jeton_oidc(cle_privee: ec.EllipticCurvePrivateKey, duree_s: int) -> str:
    return _signe(cle_privee, _claims(iss=EMETTEUR_OIDC, exp=int(time.time()) + duree_s))


def test_in_production_a_token_lives_an_hour_at_most_by_default(
    cle_privee: ec.EllipticCurvePrivateKey, tmp_path: Path
) -> None:
    production = _production(cle_privee, tmp_path)
    assert production.verifier(_jeton_oidc(cle_privee, 3000)).sub == "alice"
    with pytest.raises(AuthentificationError, match="valable plus de 3600 s"):
        production.verifier(_jeton_oidc(cle_privee, 2 * 3600))
    with pytest.raises(AuthentificationError, match="valable plus de"):
        production.verifier(_signe(cle_privee, _claims(iss=EMETTEUR_OIDC, exp=AN_9999)))
    with pytest.raises(AuthentificationError, match="'exp'"):
        production.verifier(_signe(cle_privee, _claims(iss=EMETTEUR_OIDC, exp=str(int(time.time()) + 60))))


def test_the_production_lifetime_bound_is_configurable(cle_privee: ec.EllipticCurvePrivateKey, tmp_path: Path) -> None:
    production = _production(cle_privee, tmp_path, token_max_lifetime=8 * 3600)
    assert production.verifier(_jeton_oidc(cle_privee, 7 * 3600)).sub == "alice"
    with pytest.raises(AuthentificationError, match="valable plus de 28800 s"):
        production.verifier(_jeton_oidc(cle_privee, 9 * 3600))


@pytest.mark.parametrize("sub", ["a\u0000b", "\ud800", "a\u202eb", "\u200b", "x" * 201])
def test_a_token_sub_with_a_nul_or_a_lone_surrogate_causes_500s(
    cle_privee: ec.EllipticCurvePrivateKey, sub: str
) -> None:
    """Regression, named after the fault: a signed ``sub`` holding U+0000 or a lone surrogate made the access
    log and the store fail (500) and the audit projection drop the event; a ``sub`` is printable text."""
    cle = CleDeDeveloppement(cle_privee)
    with pytest.raises(AuthentificationError, match="'sub'"):
        cle.verifier(_signe(cle_privee, {**_claims(), "sub": sub}))
