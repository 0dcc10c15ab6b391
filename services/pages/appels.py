"""The pages' calls to the three APIs, with the signed-in person's own token.

A page holds no rule and no query of its own: it asks the command, read and notifications APIs
what an API client would, with the same bearer token, so the same authorisation decides, the same
rules refuse, and the same access log records every read. In ``ase serve`` the APIs are those of
the same process, called in-process (``httpx.ASGITransport``, no socket); in the distributed stack,
their base URLs (``ASE_PAGES_API_*``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import structlog

log = structlog.get_logger(__name__)

Service = Literal["parcours", "projections", "notifications"]
REPONSE_MAX = 8 * 1024 * 1024
"""Bytes of an API answer a page reads at most (an audit chronology of decades stays far below)."""


@dataclass
class ProblemeAPI(Exception):
    """An API refused (RFC 9457 problem details): what the page shows, next to the field when one is named."""

    statut: int
    code: str
    titre: str
    detail: str
    erreurs: list[dict[str, Any]] = field(default_factory=list)
    extensions: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.statut} {self.code}: {self.detail}"


class ServiceIndisponibleError(Exception):
    """An API did not answer in time, or not with JSON: the page says so (503), nothing was shown."""


@dataclass(frozen=True)
class Reponse:
    donnees: Any
    entetes: httpx.Headers


class ServicesAPI:
    """One ``httpx.AsyncClient`` per API; ``lire`` and ``commander`` raise ``ProblemeAPI`` on a refusal."""

    def __init__(self, clients: dict[Service, httpx.AsyncClient]) -> None:
        self._clients = clients

    @classmethod
    def par_url(cls, urls: dict[Service, str], timeout_s: float) -> ServicesAPI:
        return cls({nom: httpx.AsyncClient(base_url=url, timeout=timeout_s) for nom, url in urls.items()})

    @classmethod
    def en_processus(cls, app: Any, timeout_s: float) -> ServicesAPI:
        """The APIs of the ASGI application ``app`` (the whole ``ase serve``), called without a socket."""
        transport = httpx.ASGITransport(app=app)
        return cls(
            {
                nom: httpx.AsyncClient(transport=transport, base_url="http://ase.interne", timeout=timeout_s)
                for nom in ("parcours", "projections", "notifications")
            }
        )

    async def fermer(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    async def lire(self, service: Service, chemin: str, jeton: str, params: dict[str, Any] | None = None) -> Reponse:
        """GET ``chemin`` of ``service`` as the signed-in person; None values of ``params`` are left out."""
        propres = {k: v for k, v in (params or {}).items() if v is not None and v != ""}
        return await self._envoyer(service, "GET", chemin, jeton, params=propres)

    async def commander(
        self,
        service: Service,
        chemin: str,
        jeton: str,
        corps: Any,
        *,
        version: int | None = None,
        cle_idempotence: str | None = None,
        methode: Literal["POST", "PUT", "DELETE"] = "POST",
    ) -> Reponse:
        """A command: ``If-Match: "<version>"`` when the page knew the stream's version, and an
        ``Idempotency-Key`` (the form's own, so a double submit records once)."""
        entetes = {"Idempotency-Key": cle_idempotence or str(uuid.uuid4())}
        if version is not None:
            entetes["If-Match"] = f'"{version}"'
        return await self._envoyer(service, methode, chemin, jeton, json=corps, entetes=entetes)

    async def _envoyer(
        self,
        service: Service,
        methode: str,
        chemin: str,
        jeton: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        entetes: dict[str, str] | None = None,
    ) -> Reponse:
        client = self._clients[service]
        en_tetes = {"Authorization": f"Bearer {jeton}", "Accept": "application/json", **(entetes or {})}
        try:
            reponse = await client.request(methode, chemin, params=params, json=json, headers=en_tetes)
        except httpx.HTTPError as exc:
            log.warning("api_injoignable", service=service, erreur=type(exc).__name__)
            raise ServiceIndisponibleError(service) from None
        if len(reponse.content) > REPONSE_MAX:
            raise ServiceIndisponibleError(service)
        try:
            donnees = reponse.json() if reponse.content else None
        except ValueError:
            donnees = None
        if reponse.is_success:
            return Reponse(donnees, reponse.headers)
        if not isinstance(donnees, dict) or "code" not in donnees:
            log.warning("api_reponse_inattendue", service=service, statut=reponse.status_code)
            raise ServiceIndisponibleError(service)
        connus = {"type", "title", "status", "detail", "code", "errors"}
        raise ProblemeAPI(
            statut=reponse.status_code,
            code=str(donnees.get("code")),
            titre=str(donnees.get("title", "")),
            detail=str(donnees.get("detail", "")),
            erreurs=list(donnees.get("errors") or []),
            extensions={k: v for k, v in donnees.items() if k not in connus},
        )
