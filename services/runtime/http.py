"""HTTP plumbing every service shares: request ids, access logs, health and metrics."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

log = structlog.get_logger("http")

REGISTRE = CollectorRegistry(auto_describe=True)
REQUETES = Counter(
    "ase_http_requetes_total", "HTTP requests served", ["methode", "route", "statut"], registry=REGISTRE
)
DUREES = Histogram(
    "ase_http_duree_secondes", "HTTP request latency", ["methode", "route"], registry=REGISTRE,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

Sonde = Callable[[], Awaitable[None]]


def installer_traces(app: FastAPI) -> None:
    """Give every request an id and a correlation id, bound to every log line it writes."""

    @app.middleware("http")
    async def tracer(request: Request, suite: Callable[[Request], Awaitable[Response]]) -> Response:
        request_id = uuid.uuid4().hex
        correlation_id = request.headers.get("x-correlation-id", "")[:128] or request_id
        request.state.request_id = request_id
        request.state.correlation_id = correlation_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id, correlation_id=correlation_id)
        debut = time.perf_counter()
        reponse = await suite(request)
        duree = time.perf_counter() - debut
        route = getattr(request.scope.get("route"), "path", "inconnue")
        REQUETES.labels(request.method, route, str(reponse.status_code)).inc()
        DUREES.labels(request.method, route).observe(duree)
        log.info("requete", methode=request.method, route=route, statut=reponse.status_code,
                 duree_ms=round(duree * 1000, 2))
        reponse.headers["X-Request-Id"] = request_id
        reponse.headers["X-Correlation-Id"] = correlation_id
        return reponse


def routeur_sante(sondes: dict[str, Sonde]) -> APIRouter:
    """``/healthz`` (alive), ``/readyz`` (each dependency answers), ``/metrics``."""
    routeur = APIRouter(tags=["exploitation"])

    @routeur.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"statut": "vivant"}

    @routeur.get("/readyz")
    async def readyz() -> JSONResponse:
        resultats: dict[str, str] = {}
        pret = True
        for nom, sonde in sondes.items():
            try:
                await sonde()
                resultats[nom] = "ok"
            except Exception as exc:
                pret = False
                resultats[nom] = type(exc).__name__
        return JSONResponse({"pret": pret, "dependances": resultats}, status_code=200 if pret else 503)

    @routeur.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRE), media_type=CONTENT_TYPE_LATEST)

    return routeur
