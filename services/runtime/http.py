"""HTTP plumbing every service shares: request ids, access logs, health and metrics."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import anyio
import structlog
from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("http")

REGISTRE = CollectorRegistry(auto_describe=True)
REQUETES = Counter("ase_http_requetes_total", "HTTP requests served", ["methode", "route", "statut"], registry=REGISTRE)
DUREES = Histogram(
    "ase_http_duree_secondes",
    "HTTP request latency",
    ["methode", "route"],
    registry=REGISTRE,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

Sonde = Callable[[], Awaitable[None]]

DELAI_SONDE_S = 1.0
"""``/readyz`` answers within this: a dependency slower than that is not ready."""


def correlation_acceptee(recue: str) -> str | None:
    """A caller's ``X-Correlation-Id``, kept only when it is a UUID (canonical form), else None.

    Anything else a caller sends (a name, a birth date) would be copied into every
    log line, the stored events' metadata and the public topic's ``ce_correlationid``.
    """
    try:
        return str(uuid.UUID(recue)) if 32 <= len(recue) <= 45 else None
    except ValueError:
        return None


class _IdsAleatoires:
    """Random version-4 UUIDs, 256 drawn from the system's generator at once.

    ``uuid.uuid4()`` reads 16 bytes from ``os.urandom`` per request, which lets go of the GIL:
    on the event loop's thread that is a wait for a worker thread to hand it back (up to the
    switch interval), measured at ~0.8 ms per request under load. The same randomness, one
    system call per 256 requests.
    """

    LOT = 256

    def __init__(self) -> None:
        self._octets = b""
        self._position = 0
        # A forked child draws its own (never the bytes its parent may use too).
        os.register_at_fork(after_in_child=self._oublier)

    def _oublier(self) -> None:
        self._octets = b""
        self._position = 0

    def suivant(self) -> uuid.UUID:
        if self._position >= len(self._octets):
            self._octets = os.urandom(16 * self.LOT)
            self._position = 0
        debut = self._position
        self._position += 16
        return uuid.UUID(bytes=self._octets[debut : debut + 16], version=4)


_IDS = _IdsAleatoires()
"""One per process, used on the event loop's thread only."""


class Traces:
    """ASGI middleware: ids on every request and log line, access log, metrics.

    A plain ASGI middleware rather than ``@app.middleware("http")``: no extra
    task and response wrapping per request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _IDS.suivant().hex
        recue = dict(scope["headers"]).get(b"x-correlation-id", b"").decode("latin-1")
        correlation_id = correlation_acceptee(recue) or str(uuid.UUID(request_id))  # else: this request starts one
        etat = scope.setdefault("state", {})
        etat["request_id"] = request_id
        etat["correlation_id"] = correlation_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id, correlation_id=correlation_id)
        statut = 500
        ids = [(b"x-request-id", request_id.encode()), (b"x-correlation-id", correlation_id.encode())]

        async def envoyer(message: Message) -> None:
            nonlocal statut
            if message["type"] == "http.response.start":
                statut = message["status"]
                message["headers"] = [*message.get("headers", []), *ids]
            await send(message)

        debut = time.perf_counter()
        try:
            await self.app(scope, receive, envoyer)
        finally:
            duree = time.perf_counter() - debut
            route = getattr(scope.get("route"), "path", "inconnue")
            methode = scope["method"]
            REQUETES.labels(methode, route, str(statut)).inc()
            DUREES.labels(methode, route).observe(duree)
            log.info("requete", methode=methode, route=route, statut=statut, duree_ms=round(duree * 1000, 2))


def installer_traces(app: FastAPI) -> None:
    """Give every request an id and a correlation id, bound to every log line it writes."""
    app.add_middleware(Traces)


class Vivant(BaseModel):
    statut: Literal["vivant"]


class Disponibilite(BaseModel):
    pret: bool
    dependances: dict[str, str]
    """Each dependency: ``ok``, or the name of the error it raised."""


_TEXTE_PROMETHEUS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Prometheus text exposition format",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}


def routeur_sante(sondes: dict[str, Sonde]) -> APIRouter:
    """``/healthz`` (alive), ``/readyz`` (each dependency answers), ``/metrics``."""
    routeur = APIRouter(tags=["exploitation"])

    @routeur.get("/healthz", response_model=Vivant)
    async def healthz() -> dict[str, str]:
        return {"statut": "vivant"}

    @routeur.get(
        "/readyz",
        response_model=Disponibilite,
        responses={503: {"description": "une dépendance ne répond pas", "model": Disponibilite}},
    )
    async def readyz() -> JSONResponse:
        resultats: dict[str, str] = {}

        async def sonder(nom: str, sonde: Sonde) -> None:
            try:
                with anyio.fail_after(DELAI_SONDE_S):
                    await sonde()
                resultats[nom] = "ok"
            except Exception as exc:
                resultats[nom] = type(exc).__name__

        # All at once, each bounded: a probe never waits behind a slow one, nor for long.
        async with anyio.create_task_group() as groupe:
            for nom, sonde in sondes.items():
                groupe.start_soon(sonder, nom, sonde)
        pret = all(resultat == "ok" for resultat in resultats.values())
        ordonnes = {nom: resultats[nom] for nom in sondes}
        return JSONResponse({"pret": pret, "dependances": ordonnes}, status_code=200 if pret else 503)

    @routeur.get("/metrics", response_class=PlainTextResponse, responses=_TEXTE_PROMETHEUS)
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRE), media_type=CONTENT_TYPE_LATEST)

    return routeur
