"""JWT bearer authentication: who the caller is, their roles and départements.

Development and tests sign tokens with a key the project generates in its data
folder; production verifies against an OIDC issuer's JWKS.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import jwt
from anyio import to_thread
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from contracts.vocabulaire import texte_imprimable
from services.runtime.dossiers import dossier_de_donnees

ALGORITHME_DEV = "ES256"
EMETTEUR_DEV = "ase-dev"
FICHIER_CLE_DEV = "dev-jwt-key.pem"
ROLE_JEUNE = "jeune"
"""The young person themself (API.md): their own parcours only, the token carrying their ``personne_id``."""

DUREE_JETON_DEV_S = 12 * 3600
"""What ``ase token`` signs, and the longest a dev token may be valid."""
DUREE_JETON_PRODUCTION_S = 3600
"""The longest a token may be valid in production unless ``ASE_TOKEN_MAX_LIFETIME`` says otherwise."""
DATE_NUMERIQUE_MAX = 2**53
"""Beyond, a NumericDate is no date (and no longer exact as a float)."""


class AuthentificationError(Exception):
    """The token is missing, malformed, expired or not ours."""


@dataclass(frozen=True)
class Utilisateur:
    """The authenticated caller, as its token's claims say."""

    sub: str
    roles: frozenset[str]
    departements: frozenset[str]
    expire_le: float | None = field(default=None, compare=False)
    """The token's ``exp`` (seconds since 1970), how long a verification of it may be reused."""
    personne_id: UUID | None = None
    """The person a ``jeune`` token is about (claim ``personne_id``): the young person reads only their own parcours."""


class Verificateur(Protocol):
    bloquant: bool
    """Whether ``verifier`` may do network I/O (fetching keys): then it runs off the event loop."""

    def verifier(self, jeton: str) -> Utilisateur: ...


JETON_MAX = 8_192
"""Characters of a bearer token by default (``ASE_HTTP_JETON_MAX``): OIDC tokens weigh a few kilobytes."""


async def authentifier(verificateur: Verificateur, jeton: str | None, *, jeton_max: int = JETON_MAX) -> Utilisateur:
    """The caller a bearer token names, or ``AuthentificationError``.

    A token longer than ``jeton_max`` is refused before it is decoded or its signature checked.
    """
    if not jeton:
        raise AuthentificationError("en-tête Authorization: Bearer <jeton> requis")
    if len(jeton) > jeton_max:
        raise AuthentificationError(f"jeton de plus de {jeton_max} caractères")
    if isinstance(verificateur, JetonsVerifies):
        deja = verificateur.deja_verifie(jeton)
        if deja is not None:
            return deja
    if verificateur.bloquant:
        return await to_thread.run_sync(verificateur.verifier, jeton)
    return verificateur.verifier(jeton)


class JetonsVerifies:
    """A verifier that remembers the tokens it verified, each until its ``exp`` (and at most ``taille`` of them).

    A token's signature check (ECDSA or RSA, and for OIDC a JWKS lookup) costs more than the rest of a
    request's handling: a client sends the same token with every request, so it is checked once.
    Entries are keyed by the SHA-256 of the token (the token itself is not kept), evicted
    least-recently-used beyond ``taille``, and dropped at the token's expiry. A failed verification
    is remembered ``echec_s`` seconds at most (a flood of bad tokens costs one check per second
    each), never longer: a token refused now (``nbf`` ahead, keys not fetched yet) may pass soon.
    """

    def __init__(
        self,
        interne: Verificateur,
        *,
        taille: int = 10_000,
        echec_s: float = 1.0,
        horloge: Callable[[], float] = time.time,
    ) -> None:
        self.interne = interne
        self.bloquant = interne.bloquant
        self.taille = taille
        self.echec_s = echec_s
        self._horloge = horloge
        self._entrees: OrderedDict[bytes, tuple[float, Utilisateur | str]] = OrderedDict()
        self._verrou = threading.Lock()

    @staticmethod
    def _cle(jeton: str) -> bytes:
        return hashlib.sha256(jeton.encode()).digest()

    def deja_verifie(self, jeton: str) -> Utilisateur | None:
        """The caller of a token verified before and not expired since; None when it must be verified.

        Raises ``AuthentificationError`` for a token refused less than ``echec_s`` ago.
        """
        cle = self._cle(jeton)
        maintenant = self._horloge()
        with self._verrou:
            entree = self._entrees.get(cle)
            if entree is None:
                return None
            jusqu_a, resultat = entree
            if maintenant >= jusqu_a:
                del self._entrees[cle]
                return None
            self._entrees.move_to_end(cle)
        if isinstance(resultat, str):
            raise AuthentificationError(resultat)
        return resultat

    def verifier(self, jeton: str) -> Utilisateur:
        deja = self.deja_verifie(jeton)
        if deja is not None:
            return deja
        try:
            utilisateur = self.interne.verifier(jeton)
        except AuthentificationError as exc:
            self._retenir(jeton, self._horloge() + self.echec_s, str(exc))
            raise
        if utilisateur.expire_le is not None:
            self._retenir(jeton, utilisateur.expire_le, utilisateur)
        return utilisateur

    def _retenir(self, jeton: str, jusqu_a: float, resultat: Utilisateur | str) -> None:
        with self._verrou:
            self._entrees[self._cle(jeton)] = (jusqu_a, resultat)
            self._entrees.move_to_end(self._cle(jeton))
            while len(self._entrees) > self.taille:
                self._entrees.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entrees)


def _utilisateur(claims: dict[str, Any]) -> Utilisateur:
    sub = claims.get("sub")
    roles = claims.get("roles", [])
    departements = claims.get("departements", [])
    if not isinstance(sub, str) or not sub:
        raise AuthentificationError("claim 'sub' manquant")
    if not _sub_imprimable(sub):
        # It is written in the access log and beside every event: printable text only.
        raise AuthentificationError("claim 'sub' invalide: texte imprimable de 200 caractères au plus attendu")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise AuthentificationError("claim 'roles' invalide")
    if not isinstance(departements, list) or not all(isinstance(d, str) for d in departements):
        raise AuthentificationError("claim 'departements' invalide")
    personne_id = _personne(claims.get("personne_id"))
    if ROLE_JEUNE in roles and personne_id is None:
        # A young person's token names the person it is about, or it opens nothing.
        raise AuthentificationError("claim 'personne_id' (UUID) requis pour le rôle jeune")
    exp = claims.get("exp")
    return Utilisateur(
        sub=sub,
        roles=frozenset(roles),
        departements=frozenset(departements),
        expire_le=float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None,
        personne_id=personne_id,
    )


def _personne(valeur: object) -> UUID | None:
    if valeur is None:
        return None
    if not isinstance(valeur, str) or len(valeur) > 36:
        raise AuthentificationError("claim 'personne_id' invalide: un UUID est attendu")
    try:
        return UUID(valeur)
    except ValueError:
        raise AuthentificationError("claim 'personne_id' invalide: un UUID est attendu") from None


def _sub_imprimable(sub: str) -> bool:
    try:
        return len(sub) <= 200 and texte_imprimable(sub, rogner=False) == sub
    except ValueError:
        return False


def duree_max_jeton_s(mode: str, configuree: int | None = None) -> int:
    """The longest token lifetime accepted: ``configuree``, else 1 h in production and 12 h in dev."""
    if configuree is not None:
        return configuree
    return DUREE_JETON_PRODUCTION_S if mode == "production" else DUREE_JETON_DEV_S


def _date_numerique(claims: dict[str, Any], nom: str) -> float | None:
    """A claim that is an RFC 7519 NumericDate: a JSON number of seconds since 1970, nothing else."""
    if nom not in claims:
        return None
    valeur = claims[nom]
    # PyJWT reads "9999999999" (a string) as a number and True as 1: a NumericDate is neither.
    if isinstance(valeur, bool) or not isinstance(valeur, int | float) or not 0 <= valeur <= DATE_NUMERIQUE_MAX:
        raise AuthentificationError(f"claim '{nom}' invalide: une date numérique (secondes depuis 1970) est attendue")
    return float(valeur)


def _verifier_dates(claims: dict[str, Any], duree_max_s: int) -> None:
    """``exp``, ``iat`` and ``nbf`` are NumericDates, and the token is valid ``duree_max_s`` at most.

    The bound holds from ``iat`` and from now alike: an ``iat`` set in the past
    does not stretch a token, nor one claiming to expire in 9999.
    """
    exp = _date_numerique(claims, "exp")
    iat = _date_numerique(claims, "iat")
    _date_numerique(claims, "nbf")
    if exp is None or iat is None:
        raise AuthentificationError("claims 'exp' et 'iat' requis")
    if exp - iat > duree_max_s or exp - time.time() > duree_max_s:
        raise AuthentificationError(f"jeton valable plus de {duree_max_s} s")


class CleDeDeveloppement:
    """An EC key kept in the data folder: signs dev tokens and verifies them."""

    bloquant = False

    def __init__(self, cle_privee: ec.EllipticCurvePrivateKey, *, duree_max_s: int = DUREE_JETON_DEV_S) -> None:
        self._cle_privee = cle_privee
        self._cle_publique = cle_privee.public_key()
        self._duree_max_s = duree_max_s

    @classmethod
    def dans(cls, dossier: Path, *, duree_max_s: int = DUREE_JETON_DEV_S) -> CleDeDeveloppement:
        """Load the key of ``dossier``, creating it (readable by its owner only) if absent."""
        dossier_de_donnees(dossier)  # often the data folder itself (ase serve, ase up)
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
        return cls(cle_privee, duree_max_s=duree_max_s)

    def signer(
        self,
        *,
        sub: str,
        roles: list[str],
        departements: list[str],
        duree_s: int = DUREE_JETON_DEV_S,
        personne_id: UUID | None = None,
    ) -> str:
        maintenant = int(time.time())
        claims: dict[str, Any] = {
            "sub": sub,
            "roles": roles,
            "departements": departements,
            "iss": EMETTEUR_DEV,
            "iat": maintenant,
            "exp": maintenant + duree_s,
        }
        if personne_id is not None:
            claims["personne_id"] = str(personne_id)
        return jwt.encode(claims, self._cle_privee, algorithm=ALGORITHME_DEV)

    def verifier(self, jeton: str) -> Utilisateur:
        try:
            claims = jwt.decode(
                jeton,
                self._cle_publique,
                algorithms=[ALGORITHME_DEV],
                issuer=EMETTEUR_DEV,
                options={"require": ["exp", "iat", "sub", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise AuthentificationError(str(exc)) from None
        _verifier_dates(claims, self._duree_max_s)
        return _utilisateur(claims)


class VerificateurOIDC:
    """Production: tokens signed by an OIDC issuer, keys from its JWKS."""

    bloquant = True

    def __init__(
        self, *, jwks_url: str, emetteur: str, audience: str | None, duree_max_s: int = DUREE_JETON_PRODUCTION_S
    ) -> None:
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, timeout=10)
        self._emetteur = emetteur
        self._audience = audience
        self._duree_max_s = duree_max_s

    def verifier(self, jeton: str) -> Utilisateur:
        try:
            cle = self._jwks.get_signing_key_from_jwt(jeton)
            claims = jwt.decode(
                jeton,
                cle.key,
                algorithms=["RS256", "ES256", "PS256"],
                issuer=self._emetteur,
                audience=self._audience,
                options={"require": ["exp", "iat", "sub", "iss"], "verify_aud": self._audience is not None},
            )
        except jwt.PyJWTError as exc:
            raise AuthentificationError(str(exc)) from None
        _verifier_dates(claims, self._duree_max_s)
        return _utilisateur(claims)


def verificateur_configure(
    *, oidc_jwks_url: str | None, oidc_issuer: str | None, oidc_audience: str | None, data_dir: Path, duree_max_s: int
) -> Verificateur:
    """Tokens verified against the OIDC issuer when both its JWKS URL and its ``iss`` are set, else by the
    dev key in ``data_dir`` (which production settings refuse before this runs)."""
    if oidc_jwks_url and oidc_issuer:
        return VerificateurOIDC(
            jwks_url=oidc_jwks_url, emetteur=oidc_issuer, audience=oidc_audience, duree_max_s=duree_max_s
        )
    return CleDeDeveloppement.dans(data_dir, duree_max_s=duree_max_s)
