"""A small, real OpenID Connect issuer for tests, served by uvicorn on 127.0.0.1 in a thread.

It does what a département's issuer does for the pages' sign-in (OpenID Connect Core 1.0, RFC 6749,
RFC 7636): discovery, ``/authorize`` (consents at once for the person set in ``identite`` and sends
the browser back with a code, keeping ``state``), ``/token`` (the code once, for the same client and
``redirect_uri``, and only with the ``code_verifier`` whose S256 digest is the challenge sent to
``/authorize``), ``/jwks``. Access tokens are RS256 JWTs with ``sub``, ``roles``, ``departements``
(``personne_id`` for a young person), ``iss``, ``aud``, ``iat``, ``exp``; the ID token carries the
``nonce`` (or ``nonce_impose`` when a test wants a wrong one). With ``avec_actualisation``, a refresh token
too, redeemed once (rotated) for a new pair unless ``refuser_actualisation``. Every refusal is kept in ``refus``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

DUREE_S = 600
"""Seconds an access token and an ID token are valid."""


@dataclass
class Identite:
    """Who signs in at the issuer (what its access token will say)."""

    sub: str = "agent-oidc"
    roles: list[str] = field(default_factory=lambda: ["referent"])
    departements: list[str] = field(default_factory=lambda: ["59"])
    personne_id: str | None = None


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str | None
    identite: Identite


def defi_s256(verificateur: str) -> str:
    """RFC 7636 4.2: ``BASE64URL(SHA256(code_verifier))`` without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verificateur.encode("ascii")).digest()).rstrip(b"=").decode()


class EmetteurOIDC:
    """The issuer at ``url``, for one client ``client_id``, whose access tokens name ``audience``."""

    def __init__(self, url: str, *, client_id: str, audience: str) -> None:
        self.url = url
        self.client_id = client_id
        self.audience = audience
        self.identite = Identite()
        self.nonce_impose: str | None = None
        self.refus: list[str] = []
        self.avec_actualisation = True
        self.refuser_actualisation = False
        self.actualisations_servies = 0
        self._actualisations: dict[str, Identite] = {}
        self.autorisations: list[dict[str, str]] = []
        """The query of every ``/authorize`` request, as received."""
        self._cle = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._kid = secrets.token_hex(8)
        self._codes: dict[str, _Code] = {}
        self._verrou = threading.Lock()

    # -- tokens ------------------------------------------------------------------------------------

    def _signer(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._cle, algorithm="RS256", headers={"kid": self._kid})

    def jeton(self, identite: Identite | None = None) -> str:
        """An access token for ``identite`` (default: ``self.identite``), as ``/token`` issues it."""
        qui = identite or self.identite
        maintenant = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url, "aud": self.audience, "sub": qui.sub, "roles": qui.roles,
            "departements": qui.departements, "iat": maintenant, "exp": maintenant + DUREE_S,
        }  # fmt: skip
        if qui.personne_id:
            claims["personne_id"] = qui.personne_id
        return self._signer(claims)

    def _id_token(self, code: _Code) -> str:
        maintenant = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url, "aud": self.client_id, "sub": code.identite.sub,
            "iat": maintenant, "exp": maintenant + DUREE_S,
        }  # fmt: skip
        nonce = self.nonce_impose if self.nonce_impose is not None else code.nonce
        if nonce is not None:
            claims["nonce"] = nonce
        return self._signer(claims)

    # -- endpoints ---------------------------------------------------------------------------------

    async def _decouverte(self, request: Request) -> Response:
        return JSONResponse({
            "issuer": self.url,
            "authorization_endpoint": self.url + "/authorize",
            "token_endpoint": self.url + "/token",
            "jwks_uri": self.url + "/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
        })  # fmt: skip

    async def _jwks(self, request: Request) -> Response:
        cle = jwt.algorithms.RSAAlgorithm.to_jwk(self._cle.public_key(), as_dict=True)
        return JSONResponse({"keys": [{**cle, "kid": self._kid, "use": "sig", "alg": "RS256"}]})

    async def _authorize(self, request: Request) -> Response:
        q = request.query_params
        self.autorisations.append(dict(q))
        redirect_uri = q.get("redirect_uri", "")
        probleme = None
        if q.get("client_id") != self.client_id:
            probleme = "client_id inconnu"
        elif q.get("response_type") != "code":
            probleme = "response_type autre que code"
        elif q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            probleme = "PKCE S256 absent"
        elif not redirect_uri.startswith("http"):
            probleme = "redirect_uri absent"
        if probleme:
            self.refus.append(probleme)
            return JSONResponse({"error": "invalid_request", "error_description": probleme}, status_code=400)
        code = secrets.token_urlsafe(24)
        with self._verrou:
            self._codes[code] = _Code(
                client_id=self.client_id,
                redirect_uri=redirect_uri,
                challenge=q["code_challenge"],
                nonce=q.get("nonce"),
                identite=self.identite,
            )
        retour = {"code": code}
        if "state" in q:
            retour["state"] = q["state"]
        separateur = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(redirect_uri + separateur + urlencode(retour), status_code=302)

    def _actualisation(self, identite: Identite) -> dict[str, str]:
        if not self.avec_actualisation:
            return {}
        jeton = secrets.token_urlsafe(32)
        with self._verrou:
            self._actualisations[jeton] = identite
        return {"refresh_token": jeton}

    def _actualiser(self, champ: dict[str, str]) -> Response:
        """RFC 6749, 6: the refresh token once (rotated), for a new access token of the same person."""
        with self._verrou:
            identite = self._actualisations.pop(champ.get("refresh_token", ""), None)
        if identite is None or self.refuser_actualisation:
            self.refus.append("refresh_token refusé")
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        self.actualisations_servies += 1
        corps = {"access_token": self.jeton(identite), "token_type": "Bearer", "expires_in": DUREE_S}
        return JSONResponse({**corps, **self._actualisation(identite)}, headers={"Cache-Control": "no-store"})

    async def _token(self, request: Request) -> Response:
        formulaire = await request.form()
        champ = {k: v for k, v in formulaire.items() if isinstance(v, str)}
        if champ.get("grant_type") == "refresh_token":
            return self._actualiser(champ)
        with self._verrou:
            code = self._codes.pop(champ.get("code", ""), None)  # one use, refused or not
        probleme = None
        if champ.get("grant_type") != "authorization_code":
            probleme = "grant_type autre que authorization_code"
        elif code is None:
            probleme = "code inconnu ou déjà utilisé"
        elif champ.get("client_id", self.client_id) != code.client_id:
            probleme = "client_id différent"
        elif champ.get("redirect_uri") != code.redirect_uri:
            probleme = "redirect_uri différente"
        elif not champ.get("code_verifier"):
            probleme = "code_verifier absent"
        elif not secrets.compare_digest(defi_s256(champ["code_verifier"]), code.challenge):
            probleme = "code_verifier ne correspond pas au code_challenge"
        if probleme or code is None:
            self.refus.append(probleme or "code")
            return JSONResponse({"error": "invalid_grant", "error_description": probleme}, status_code=400)
        return JSONResponse(
            {
                "access_token": self.jeton(code.identite),
                "token_type": "Bearer",
                "expires_in": DUREE_S,
                "id_token": self._id_token(code),
                **self._actualisation(code.identite),
            },
            headers={"Cache-Control": "no-store"},
        )

    def application(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self._decouverte),
                Route("/jwks", self._jwks),
                Route("/authorize", self._authorize),
                Route("/token", self._token, methods=["POST"]),
            ]
        )


# -- serving on 127.0.0.1 -------------------------------------------------------------------------------


def prise_locale() -> socket.socket:
    """A socket bound to a free port of 127.0.0.1 and listening (its address is known before serving)."""
    prise = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    prise.bind(("127.0.0.1", 0))
    prise.listen(128)
    return prise


@contextmanager
def servir(app: Any, prise: socket.socket, delai_s: float = 90.0) -> Iterator[str]:
    """``app`` served by uvicorn on ``prise`` in a thread, lifespan included, until the block ends; its base URL."""
    serveur = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    fil = threading.Thread(target=serveur.run, kwargs={"sockets": [prise]}, daemon=True)
    fil.start()
    fin = time.monotonic() + delai_s
    while not serveur.started:
        if not fil.is_alive() or time.monotonic() > fin:
            serveur.should_exit = True
            raise AssertionError("le serveur de test n'a pas démarré")
        fil.join(0.05)
    try:
        yield f"http://127.0.0.1:{prise.getsockname()[1]}"
    finally:
        serveur.should_exit = True
        fil.join(30)
        prise.close()


@contextmanager
def emetteur_en_marche(*, client_id: str, audience: str) -> Iterator[EmetteurOIDC]:
    """An issuer listening on 127.0.0.1 for the block's duration."""
    prise = prise_locale()
    emetteur = EmetteurOIDC(f"http://127.0.0.1:{prise.getsockname()[1]}", client_id=client_id, audience=audience)
    with servir(emetteur.application(), prise):
        yield emetteur
