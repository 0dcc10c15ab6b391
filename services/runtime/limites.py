"""Limits at the edge: what a request may weigh and how long a client may take to send it.

Every refusal is a problem+json (never uvicorn's plain text), and none reads
more than it must:

- the body: ``Bornes`` answers a declared ``Content-Length`` over the limit
  before the app runs (before authentication, without reading a byte of the
  body), and counts the bytes of a streamed (chunked) body as the app reads it;
- the request line and the headers: ``ProtocoleBorne``, a subclass of uvicorn's
  httptools protocol (uvicorn's ``h11_max_incomplete_event_size`` only bounds
  its h11 implementation; httptools has no limit at all), answers 414 or 431 as
  soon as the bytes received exceed the limit, before the app runs;
- slow clients: uvicorn's ``timeout_keep_alive`` closes an idle connection
  between requests, but uvicorn has no timeout while a request arrives (each
  byte re-arms nothing and the keep-alive timer is cancelled by the first
  byte), so a client dripping its headers one byte at a time held a connection
  forever. ``ProtocoleBorne`` arms a deadline when a connection opens and when
  a new request's first byte arrives, and closes the connection if the whole
  request (headers and body) has not arrived by then.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import orjson
import structlog
import uvicorn
from fastapi import FastAPI
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from services.runtime.problemes import MEDIA, corps_probleme, probleme

log = structlog.get_logger(__name__)


class LimitesHTTP(BaseSettings):
    """The HTTP edge limits every service shares (``ASE_HTTP_*``)."""

    model_config = SettingsConfigDict(env_prefix="ASE_HTTP_", extra="ignore")

    corps_max: int = Field(default=1_048_576, ge=1)
    """Bytes a request body may hold; more is a 413 (commands weigh a few kilobytes)."""

    entetes_max: int = Field(default=16_384, ge=1_024)
    """Bytes of the request line and headers together; more is a 431."""

    url_max: int = Field(default=8_192, ge=256)
    """Bytes of the path and query string; more is a 414."""

    jeton_max: int = Field(default=8_192, ge=256)
    """Characters of a bearer token; a longer one is a 401 before any decoding."""

    delai_requete: float = Field(default=10.0, gt=0)
    """Seconds a client has to send a whole request (headers and body), from connecting or from the
    request's first byte; then the connection is closed."""

    delai_inactivite: int = Field(default=5, ge=1)
    """Seconds an idle keep-alive connection stays open between requests (uvicorn's ``timeout_keep_alive``)."""


def installer_limites(app: FastAPI, limites: LimitesHTTP) -> None:
    """Bound the body, the URL and the token on ``app``; call it before adding other middleware."""
    app.state.limites_http = limites
    app.add_middleware(Bornes, corps_max=limites.corps_max, url_max=limites.url_max)


def limites_de(app: Any) -> LimitesHTTP:
    """The limits installed on ``app`` (the defaults if none were)."""
    limites = getattr(app.state, "limites_http", None)
    return limites if isinstance(limites, LimitesHTTP) else LimitesHTTP()


def trop_volumineux(corps_max: int) -> tuple[int, str, str, str]:
    return 413, "trop_volumineux", "Corps de requête trop volumineux", f"le corps dépasse {corps_max} octets"


def uri_trop_longue(url_max: int) -> tuple[int, str, str, str]:
    return 414, "uri_trop_longue", "URI trop longue", f"le chemin et la requête dépassent {url_max} octets"


def entetes_trop_volumineux(entetes_max: int) -> tuple[int, str, str, str]:
    return (
        431,
        "entetes_trop_volumineux",
        "En-têtes trop volumineux",
        f"la ligne de requête et les en-têtes dépassent {entetes_max} octets",
    )


class CorpsTropVolumineuxError(StarletteHTTPException):
    """Raised by the ``receive`` of ``Bornes`` once a body passes the limit: FastAPI lets it through
    to the problem handlers (an ``HTTPException``), as it does for a body it cannot parse."""

    def __init__(self, corps_max: int) -> None:
        super().__init__(413, f"le corps dépasse {corps_max} octets")


class Bornes:
    """ASGI middleware: a body over the limit, or a URL too long, is a problem+json, never read whole.

    A declared ``Content-Length`` is checked before the app runs (before authentication); a
    streamed (chunked) body is counted as the app reads it. FastAPI's ``max_body_size`` counts
    too, but answers some of its 413s in plain text, whatever the app's handlers.
    """

    def __init__(self, app: ASGIApp, *, corps_max: int, url_max: int) -> None:
        self.app = app
        self.corps_max = corps_max
        self.url_max = url_max

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refus = None
        if len(scope.get("raw_path", b"")) + len(scope.get("query_string", b"")) > self.url_max:
            refus = uri_trop_longue(self.url_max)
        else:
            for nom, valeur in scope["headers"]:
                if nom == b"content-length":
                    if valeur.isdigit() and int(valeur) > self.corps_max:
                        refus = trop_volumineux(self.corps_max)
                    break
        if refus is not None:
            await self._refuser(scope, receive, send, refus)
            return
        recus = 0
        commencee = False

        async def recevoir() -> Message:
            nonlocal recus
            message = await receive()
            if message["type"] == "http.request":
                recus += len(message.get("body", b""))
                if recus > self.corps_max:
                    raise CorpsTropVolumineuxError(self.corps_max)
            return message

        async def envoyer(message: Message) -> None:
            nonlocal commencee
            commencee = commencee or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, recevoir, envoyer)
        except CorpsTropVolumineuxError:
            # Read outside the problem handlers (by a middleware): answered here all the same.
            if commencee:
                raise
            await self._refuser(scope, receive, send, trop_volumineux(self.corps_max))

    async def _refuser(self, scope: Scope, receive: Receive, send: Send, refus: tuple[int, str, str, str]) -> None:
        statut, code, titre, detail = refus
        log.warning("requete_refusee", statut=statut, code=code)
        reponse = probleme(statut, code, titre, detail)
        # The body is not read: the connection cannot carry another request after it.
        reponse.headers["Connection"] = "close"
        await reponse(scope, receive, send)


# -- the server side: uvicorn's httptools protocol, bounded -------------------------------------------


def _reponse_brute(statut: int, code: str, titre: str, detail: str) -> bytes:
    corps = orjson.dumps(corps_probleme(statut, code, titre, detail))
    raison = {400: b"Bad Request", 414: b"URI Too Long", 431: b"Request Header Fields Too Large"}.get(statut, b"")
    return b"".join(
        [
            b"HTTP/1.1 %d %s\r\n" % (statut, raison),
            b"content-type: " + MEDIA.encode() + b"\r\n",
            b"content-length: %d\r\n" % len(corps),
            b"connection: close\r\n\r\n",
            corps,
        ]
    )


DELAI_FERMETURE_S = 2.0
"""After a refusal, how long what the client still sends is read and dropped before closing."""


class ProtocoleBorne(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded request line, bounded headers and a deadline."""

    limites: ClassVar[LimitesHTTP] = LimitesHTTP()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._echeance: asyncio.TimerHandle | None = None
        self._dans_entete = True
        """Between the end of a request and the end of the next one's headers."""
        self._octets_entete = 0
        self._refuse = False

    # -- the deadline ---------------------------------------------------------------------------

    def _armer(self) -> None:
        if self._echeance is None:
            self._echeance = self.loop.call_later(self.limites.delai_requete, self._trop_lent)

    def _desarmer(self) -> None:
        if self._echeance is not None:
            self._echeance.cancel()
            self._echeance = None

    def _trop_lent(self) -> None:
        self._echeance = None
        if not self.transport.is_closing():
            log.warning("requete_trop_lente", delai_s=self.limites.delai_requete, client=self.client)
            self._refuse = True
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Before the first byte too: a client that connects and sends nothing is held no longer.
        self._armer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # A request's first byte (the keep-alive timer, cancelled by that byte, no longer runs).
        self._armer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._desarmer()
        super().connection_lost(exc)

    # -- sizes ------------------------------------------------------------------------------------

    def _refuser(self, statut: int, code: str, titre: str, detail: str) -> None:
        """Answer a problem+json from here, the app never called, and close."""
        if self._refuse:
            return
        self._refuse = True
        self._desarmer()
        log.warning("requete_refusee", statut=statut, code=code, client=self.client)
        self.transport.write(_reponse_brute(statut, code, titre, detail))
        # Closing now, with the client's bytes unread, would reset the connection, and a client
        # still sending would lose the answer. Half-close instead and drop what still comes for a
        # moment (nginx's "lingering close"), then close.
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._echeance = self.loop.call_later(min(DELAI_FERMETURE_S, self.limites.delai_requete), self._fermer)

    def _fermer(self) -> None:
        self._echeance = None
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._refuse:
            return
        if self._dans_entete:
            self._octets_entete += len(data)
        super().data_received(data)
        # Headers still incomplete after this many bytes: refuse before the parser buffers more.
        if self._dans_entete and not self._refuse and self._octets_entete > self.limites.entetes_max:
            self._refuser(*entetes_trop_volumineux(self.limites.entetes_max))

    def on_url(self, url: bytes) -> None:
        if self._refuse:
            return
        super().on_url(url)
        if len(self.url) > self.limites.url_max:
            self._refuser(*uri_trop_longue(self.limites.url_max))

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._refuse:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refuse:
            return
        taille = len(self.url) + sum(len(nom) + len(valeur) + 4 for nom, valeur in self.headers)
        if taille > self.limites.entetes_max:
            # Arrived in one piece, under the byte count of ``data_received``.
            self._refuser(*entetes_trop_volumineux(self.limites.entetes_max))
            return
        self._dans_entete = False
        self._octets_entete = 0
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refuse:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refuse:
            return
        self._desarmer()
        self._dans_entete = True
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        """A request the parser cannot read: a problem+json too, not uvicorn's plain text."""
        if self._refuse:
            return
        self._refuser(400, "requete_illisible", "Requête illisible", "requête HTTP mal formée")


def protocole_http(limites: LimitesHTTP) -> type[ProtocoleBorne]:
    """The protocol class uvicorn runs, bound to ``limites``."""
    return type("ProtocoleBorne", (ProtocoleBorne,), {"limites": limites})


def config_uvicorn(app: ASGIApp, *, host: str, port: int, limites: LimitesHTTP | None = None) -> uvicorn.Config:
    """How every service is served: uvicorn with the limits above, no access log of its own (``Traces`` logs)."""
    reglages = limites or LimitesHTTP()
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocole_http(reglages),
        timeout_keep_alive=reglages.delai_inactivite,
        log_config=None,
        access_log=False,
    )
