"""Sign-in through the département's OpenID Connect issuer: authorization code with PKCE (RFC 7636, S256).

Authlib's ``AsyncOAuth2Client`` builds the authorization URL and redeems the code; the ``state``, the
``code_verifier`` and the ``nonce`` wait in ``pages.connexions`` (one use, ten minutes). The access token is
then verified as the APIs verify it (the issuer's JWKS, ``iss``, ``aud``, lifetime) before a session opens,
and the ID token's ``nonce`` must be the one sent (OpenID Connect Core 1.0, 3.1.3.7).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from anyio import to_thread
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client

from services.runtime.auth import AuthentificationError, VerificateurOIDC


class ConnexionOIDCError(Exception):
    """The issuer refused, or answered something that opens no session (the page says: sign in again)."""


class EmetteurInjoignableError(ConnexionOIDCError):
    """The issuer did not answer (network, timeout): no refusal of its own."""


@dataclass(frozen=True)
class Decouverte:
    """What the issuer's discovery document says (OpenID Connect Discovery 1.0)."""

    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None


class ClientOIDC:
    def __init__(
        self,
        *,
        emetteur: str,
        client_id: str,
        client_secret: str | None,
        scopes: str,
        audience: str | None,
        duree_max_s: int,
        timeout_s: float = 10.0,
    ) -> None:
        self.emetteur = emetteur
        """As configured: the ``iss`` of the tokens, compared verbatim (an issuer may end with ``/``)."""
        self.client_id = client_id
        self.client_secret = client_secret
        self.scopes = scopes
        self.audience = audience
        self.duree_max_s = duree_max_s
        self.timeout_s = timeout_s
        self._decouverte: Decouverte | None = None
        self._verificateur: VerificateurOIDC | None = None
        self._cles_id_token: jwt.PyJWKClient | None = None

    async def decouverte(self) -> Decouverte:
        if self._decouverte is None:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                reponse = await client.get(self.emetteur.rstrip("/") + "/.well-known/openid-configuration")
            reponse.raise_for_status()
            doc = reponse.json()
            if doc.get("issuer", "").rstrip("/") != self.emetteur.rstrip("/"):
                raise ConnexionOIDCError("le document de découverte ne nomme pas l'émetteur configuré")
            self._decouverte = Decouverte(
                authorization_endpoint=doc["authorization_endpoint"],
                token_endpoint=doc["token_endpoint"],
                jwks_uri=doc["jwks_uri"],
                end_session_endpoint=doc.get("end_session_endpoint"),
            )
        return self._decouverte

    def _client(self, redirect_uri: str) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self.client_secret,
            scope=self.scopes,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic" if self.client_secret else "none",
            timeout=self.timeout_s,
        )

    async def autorisation(self, redirect_uri: str) -> tuple[str, str, str, str]:
        """``(url, state, code_verifier, nonce)``: where to send the browser, and what to keep until it returns."""
        decouverte = await self.decouverte()
        verificateur = generate_token(64)
        nonce = secrets.token_urlsafe(24)
        async with self._client(redirect_uri) as client:
            url, etat = client.create_authorization_url(
                decouverte.authorization_endpoint, code_verifier=verificateur, nonce=nonce
            )
        return url, etat, verificateur, nonce

    async def jeton(
        self, redirect_uri: str, code: str, verificateur: str, nonce: str
    ) -> tuple[str, float | None, str | None, str]:
        """Redeem ``code``: ``(access_token, expires_at, refresh_token, the ID token's sub)``, after the ID
        token's signature, ``aud``/``azp`` and ``nonce`` hold."""
        try:
            # Inside the try: another worker than the one that sent the browser may redeem the code,
            # and read the discovery document now (an unreachable issuer refuses the sign-in, no 500).
            decouverte = await self.decouverte()
            async with self._client(redirect_uri) as client:
                reponse: dict[str, Any] = await client.fetch_token(
                    decouverte.token_endpoint, code=code, code_verifier=verificateur
                )
        except Exception as exc:  # Authlib raises its OAuthError, httpx its HTTPError: both refuse the sign-in
            raise ConnexionOIDCError(type(exc).__name__) from None
        acces = reponse.get("access_token")
        id_token = reponse.get("id_token")
        if not isinstance(acces, str) or not isinstance(id_token, str):
            raise ConnexionOIDCError("réponse de l'émetteur sans access_token ou id_token")
        # PyJWKClient fetches the keys with urllib: off the event loop.
        sub = await to_thread.run_sync(self._verifier_id_token, id_token, decouverte, nonce)
        return (*_jetons(reponse), sub)

    async def actualiser(self, actualisation: str) -> tuple[str, float | None, str | None]:
        """A new access token for the refresh token ``actualisation`` (RFC 6749, 6): the session goes on
        past its first access token's short life without a new sign-in, until the issuer says no."""
        try:
            decouverte = await self.decouverte()
            async with self._client("") as client:
                reponse: dict[str, Any] = await client.refresh_token(
                    decouverte.token_endpoint, refresh_token=actualisation
                )
        except (httpx.TransportError, OSError) as exc:  # unreachable or too slow: not a refusal
            raise EmetteurInjoignableError(type(exc).__name__) from None
        except Exception as exc:  # the issuer refused (revoked, expired) or answered nonsense: the session ends
            raise ConnexionOIDCError(type(exc).__name__) from None
        return _jetons(reponse)

    def _verifier_id_token(self, id_token: str, decouverte: Decouverte, nonce: str) -> str:
        """The ID token's ``sub`` once its signature, ``iss``, ``aud`` (and ``azp`` when several audiences),
        ``exp`` and ``nonce`` hold (OpenID Connect Core 3.1.3.7)."""
        if self._cles_id_token is None:
            self._cles_id_token = jwt.PyJWKClient(decouverte.jwks_uri, cache_keys=True, timeout=int(self.timeout_s))
        try:
            cle = self._cles_id_token.get_signing_key_from_jwt(id_token)
            claims = jwt.decode(
                id_token,
                cle.key,
                algorithms=["RS256", "ES256", "PS256"],
                issuer=self.emetteur,
                audience=self.client_id,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise ConnexionOIDCError(f"id_token refusé: {exc}") from None
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise ConnexionOIDCError("id_token refusé: nonce différent")
        if float(claims["exp"]) < time.time():
            raise ConnexionOIDCError("id_token expiré")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise ConnexionOIDCError("id_token refusé: azp n'est pas ce client")
        return str(claims["sub"])

    async def verificateur(self) -> VerificateurOIDC:
        """Access tokens verified as the APIs verify them (the issuer's JWKS, ``iss``, ``aud``, lifetime)."""
        if self._verificateur is None:
            decouverte = await self.decouverte()
            self._verificateur = VerificateurOIDC(
                jwks_url=decouverte.jwks_uri,
                emetteur=self.emetteur,
                audience=self.audience,
                duree_max_s=self.duree_max_s,
            )
        return self._verificateur


def _jetons(reponse: dict[str, Any]) -> tuple[str, float | None, str | None]:
    acces = reponse.get("access_token")
    if not isinstance(acces, str):
        raise ConnexionOIDCError("réponse de l'émetteur sans access_token")
    expire = reponse.get("expires_at")
    actualisation = reponse.get("refresh_token")
    return (
        acces,
        float(expire) if isinstance(expire, int | float) else None,
        actualisation if isinstance(actualisation, str) else None,
    )


__all__ = ["AuthentificationError", "ClientOIDC", "ConnexionOIDCError", "Decouverte"]
