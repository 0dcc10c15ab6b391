"""JWT bearer authentication: who the caller is, their roles and départements.

Development and tests sign tokens with a key the project generates in its data
folder; production verifies against an OIDC issuer's JWKS.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jwt
from anyio import to_thread
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ALGORITHME_DEV = "ES256"
EMETTEUR_DEV = "ase-dev"
FICHIER_CLE_DEV = "dev-jwt-key.pem"


class AuthentificationError(Exception):
    """The token is missing, malformed, expired or not ours."""


@dataclass(frozen=True)
class Utilisateur:
    """The authenticated caller, as its token's claims say."""

    sub: str
    roles: frozenset[str]
    departements: frozenset[str]


class Verificateur(Protocol):
    bloquant: bool
    """Whether ``verifier`` may do network I/O (fetching keys): then it runs off the event loop."""

    def verifier(self, jeton: str) -> Utilisateur: ...


async def authentifier(verificateur: Verificateur, jeton: str | None) -> Utilisateur:
    """The caller a bearer token names, or ``AuthentificationError``."""
    if not jeton:
        raise AuthentificationError("en-tête Authorization: Bearer <jeton> requis")
    if verificateur.bloquant:
        return await to_thread.run_sync(verificateur.verifier, jeton)
    return verificateur.verifier(jeton)


def _utilisateur(claims: dict[str, Any]) -> Utilisateur:
    sub = claims.get("sub")
    roles = claims.get("roles", [])
    departements = claims.get("departements", [])
    if not isinstance(sub, str) or not sub:
        raise AuthentificationError("claim 'sub' manquant")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise AuthentificationError("claim 'roles' invalide")
    if not isinstance(departements, list) or not all(isinstance(d, str) for d in departements):
        raise AuthentificationError("claim 'departements' invalide")
    return Utilisateur(sub=sub, roles=frozenset(roles), departements=frozenset(departements))


class CleDeDeveloppement:
    """An EC key kept in the data folder: signs dev tokens and verifies them."""

    bloquant = False

    def __init__(self, cle_privee: ec.EllipticCurvePrivateKey) -> None:
        self._cle_privee = cle_privee
        self._cle_publique = cle_privee.public_key()

    @classmethod
    def dans(cls, dossier: Path) -> CleDeDeveloppement:
        """Load the key of ``dossier``, creating it (readable by its owner only) if absent."""
        dossier.mkdir(parents=True, exist_ok=True)
        chemin = dossier / FICHIER_CLE_DEV
        if not chemin.exists():
            cle = ec.generate_private_key(ec.SECP256R1())
            pem = cle.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            descripteur = os.open(chemin, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descripteur, "wb") as fichier:
                fichier.write(pem)
        cle_privee = serialization.load_pem_private_key(chemin.read_bytes(), password=None)
        if not isinstance(cle_privee, ec.EllipticCurvePrivateKey):
            raise AuthentificationError(f"{chemin} n'est pas une clé EC")
        return cls(cle_privee)

    def signer(
        self,
        *,
        sub: str,
        roles: list[str],
        departements: list[str],
        duree_s: int = 12 * 3600,
    ) -> str:
        maintenant = int(time.time())
        claims = {
            "sub": sub,
            "roles": roles,
            "departements": departements,
            "iss": EMETTEUR_DEV,
            "iat": maintenant,
            "exp": maintenant + duree_s,
        }
        return jwt.encode(claims, self._cle_privee, algorithm=ALGORITHME_DEV)

    def verifier(self, jeton: str) -> Utilisateur:
        try:
            claims = jwt.decode(
                jeton,
                self._cle_publique,
                algorithms=[ALGORITHME_DEV],
                issuer=EMETTEUR_DEV,
                options={"require": ["exp", "sub", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise AuthentificationError(str(exc)) from None
        return _utilisateur(claims)


class VerificateurOIDC:
    """Production: tokens signed by an OIDC issuer, keys from its JWKS."""

    bloquant = True

    def __init__(self, *, jwks_url: str, emetteur: str, audience: str | None) -> None:
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True)
        self._emetteur = emetteur
        self._audience = audience

    def verifier(self, jeton: str) -> Utilisateur:
        try:
            cle = self._jwks.get_signing_key_from_jwt(jeton)
            claims = jwt.decode(
                jeton,
                cle.key,
                algorithms=["RS256", "ES256", "PS256"],
                issuer=self._emetteur,
                audience=self._audience,
                options={"require": ["exp", "sub", "iss"], "verify_aud": self._audience is not None},
            )
        except jwt.PyJWTError as exc:
            raise AuthentificationError(str(exc)) from None
        return _utilisateur(claims)
