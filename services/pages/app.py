"""The pages service: server-rendered pages for caseworkers, managers, auditors and the young person.

Mounted at ``/pages`` beside the APIs in ``ase serve`` (which it calls in-process), or alone with
``ase serve pages`` (which calls the APIs at ``ASE_PAGES_API_*``). Pages hold no rule: each reads and
writes through the APIs with the signed-in person's token (:mod:`services.pages.appels`).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import structlog
from anyio import to_thread
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.base import BaseHTTPMiddleware

from services.pages import sessions as sessions_pg
from services.pages.appels import ProblemeAPI, Service, ServiceIndisponibleError, ServicesAPI
from services.pages.dependances import (
    ComposantsPages,
    CsrfError,
    NonConnecteError,
    PageInterditeError,
    SessionCourante,
    csrf,
    lien_connexion,
)
from services.pages.oidc import ClientOIDC
from services.pages.rendu import STATIQUE, page
from services.pages.sessions import CookieSession, Sessions
from services.pages.settings import PagesSettings
from services.runtime.auth import CleDeDeveloppement, duree_max_jeton_s
from services.runtime.dossiers import dossier_de_donnees
from services.runtime.horloge import Horloge, HorlogeSysteme
from services.runtime.http import installer_traces, routeur_sante
from services.runtime.limites import LimitesHTTP, installer_limites
from services.runtime.postgres import demarrer_postgres_embarque

log = structlog.get_logger(__name__)

PREFIXE = "/pages"
FICHIER_SECRET_DEV = "pages-secret"  # noqa: S105 (a file name, not a secret)
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
)
"""The service's own files only: no inline script or style (htmx's indicator style is switched off)."""


def _secret(settings: PagesSettings) -> bytes:
    """The session cookie's signing key: configured, or (dev) generated once in the data folder, 0600."""
    if settings.pages_secret is not None:
        return settings.pages_secret.get_secret_value().encode()
    chemin = dossier_de_donnees(Path(settings.data_dir)) / FICHIER_SECRET_DEV
    try:
        descripteur = os.open(chemin, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return chemin.read_bytes()
    with os.fdopen(descripteur, "wb") as fichier:
        valeur = secrets.token_urlsafe(48).encode()
        fichier.write(valeur)
    return valeur


async def composer(
    settings: PagesSettings,
    *,
    api: ServicesAPI | Callable[[], ServicesAPI],
    horloge: Horloge | None = None,
) -> ComposantsPages:
    """Pool (the sessions' schema prepared), cookie, token verification, the dev key or the OIDC client."""
    url = settings.database_url
    if url is None:
        url = await to_thread.run_sync(
            lambda: demarrer_postgres_embarque(Path(settings.data_dir).resolve() / "postgres")
        )
    pool = await asyncpg.create_pool(
        url,
        min_size=1,
        max_size=settings.db_pool_size,
        command_timeout=settings.db_timeout,
        timeout=settings.db_timeout,
    )
    await sessions_pg.preparer(pool)
    horloge = horloge or HorlogeSysteme()
    duree_max = duree_max_jeton_s(settings.mode, settings.token_max_lifetime)
    oidc = None
    cle_dev = None
    if settings.oidc:
        assert settings.oidc_issuer
        assert settings.pages_oidc_client_id
        oidc = ClientOIDC(
            emetteur=settings.oidc_issuer,
            client_id=settings.pages_oidc_client_id,
            client_secret=(
                settings.pages_oidc_client_secret.get_secret_value() if settings.pages_oidc_client_secret else None
            ),
            scopes=settings.pages_oidc_scopes,
            audience=settings.oidc_audience,
            duree_max_s=duree_max,
        )
    else:
        cle_dev = await to_thread.run_sync(
            lambda: CleDeDeveloppement.dans(Path(settings.data_dir), duree_max_s=duree_max)
        )
    return ComposantsPages(
        settings=settings,
        pool=pool,
        sessions=Sessions(
            pool, horloge, duree_s=settings.pages_session_duree_s, inactivite_s=settings.pages_session_inactivite_s
        ),
        cookie=CookieSession(
            secret=_secret(settings), securise=settings.cookie_securise, duree_s=settings.pages_session_duree_s
        ),
        api=api() if callable(api) else api,
        horloge=horloge,
        cle_dev=cle_dev,
        oidc=oidc,
    )


def urls_des_api(settings: PagesSettings) -> dict[Service, str] | None:
    """The APIs' base URLs when all three are configured, None when none is (in-process); else an error."""
    urls = {
        "parcours": settings.pages_api_parcours,
        "projections": settings.pages_api_projections,
        "notifications": settings.pages_api_notifications,
    }
    if all(urls.values()):
        return {nom: url for nom, url in urls.items() if url}  # type: ignore[misc]
    if any(urls.values()):
        raise ValueError("ASE_PAGES_API_PARCOURS, _PROJECTIONS et _NOTIFICATIONS vont ensemble")
    return None


# -- the application ---------------------------------------------------------------------------------


class EnTetesDeSecurite(BaseHTTPMiddleware):
    """CSP, no framing, no referrer outside, no caching of pages that show personal data."""

    async def dispatch(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        reponse = await call_next(request)
        reponse.headers.setdefault("Content-Security-Policy", CSP)
        reponse.headers.setdefault("X-Content-Type-Options", "nosniff")
        reponse.headers.setdefault("X-Frame-Options", "DENY")
        reponse.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.url.path.startswith(PREFIXE + "/statique/"):
            reponse.headers.setdefault("Cache-Control", "no-store")
        return reponse


def _accueil_de(roles: frozenset[str]) -> str:
    if roles & {"referent", "encadrant"}:
        return PREFIXE + "/travail"
    if roles & {"auditeur", "dpo"}:
        return PREFIXE + "/audit"
    if "jeune" in roles:
        return PREFIXE + "/mon-parcours"
    return ""


def _routeur_accueil() -> APIRouter:
    routeur = APIRouter()

    @routeur.get("/")
    async def accueil(request: Request, s: SessionCourante) -> Response:
        cible = _accueil_de(s.utilisateur.roles)
        if cible:
            return RedirectResponse(cible, status_code=303)
        return page(request, "erreur.html", 403, titre="Aucune page pour ce rôle",
                    message="Votre rôle n'a pas de pages ici : il utilise les API.")  # fmt: skip

    return routeur


def routeurs_des_pages() -> list[APIRouter]:
    """Every router of signed-in pages; each gets the CSRF check (a no-op on GET)."""
    from services.pages import (
        routes_audit,
        routes_creation,
        routes_dossier,
        routes_formulaires,
        routes_jeune,
        routes_pilotage,
        routes_travail,
    )

    return [
        _routeur_accueil(),
        routes_travail.routeur,
        routes_creation.routeur,  # before the dossier's page: /dossiers/nouveau is no dossier id
        routes_dossier.routeur,
        routes_formulaires.routeur,
        routes_pilotage.routeur,
        routes_audit.routeur,
        routes_jeune.routeur,
    ]


def creer_pages() -> FastAPI:
    """The pages as an ASGI application to mount at ``/pages``; its components are set on
    ``app.state.pages`` by the lifespan of the application that mounts it."""
    from services.pages import routes_connexion

    pages = FastAPI(title="Parcours ASE — pages", docs_url=None, redoc_url=None, openapi_url=None)
    pages.add_middleware(EnTetesDeSecurite)
    pages.mount("/statique", StaticFiles(directory=STATIQUE), name="statique")
    pages.include_router(routes_connexion.routeur)
    for routeur in routeurs_des_pages():
        pages.include_router(routeur, dependencies=[Depends(csrf)])
    _installer_erreurs(pages)
    return pages


def _installer_erreurs(pages: FastAPI) -> None:
    def est_htmx(request: Request) -> bool:
        return request.headers.get("hx-request") == "true"

    async def non_connecte(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NonConnecteError)
        cible = lien_connexion(exc.retour)
        if est_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": cible})
        return RedirectResponse(cible, status_code=303)

    async def interdite(request: Request, exc: Exception) -> Response:
        return page(
            request, "erreur.html", 403, titre="Accès refusé", message="Votre rôle ne donne pas accès à cette page."
        )

    async def csrf_refuse(request: Request, exc: Exception) -> Response:
        log.warning("pages_csrf_refuse", raison=str(exc))
        return page(request, "erreur.html", 403, titre="Formulaire refusé",
                    message="Ce formulaire a expiré ou ne vient pas de cette page. Rechargez la page, puis recommencez.")  # fmt: skip

    async def probleme_api(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProblemeAPI)
        if exc.statut == 401:
            # The APIs refuse the session's token (expired, revoked key): the session ends here too.
            comp: ComposantsPages = request.app.state.pages
            session = getattr(request.state, "session", None)
            if session is not None:
                await comp.sessions.fermer(session.id)
            return await non_connecte(request, NonConnecteError(""))
        if exc.statut == 404:
            return page(
                request,
                "erreur.html",
                404,
                titre="Page introuvable",
                message="Ce dossier ou cette page n'existe pas, ou n'est pas de votre périmètre.",
            )
        if exc.statut == 403:
            return await interdite(request, exc)
        return page(
            request,
            "erreur.html",
            exc.statut if 400 <= exc.statut < 600 else 502,
            titre=exc.titre or "Refusé",
            message=exc.detail,
        )

    async def indisponible(request: Request, exc: Exception) -> Response:
        return page(request, "erreur.html", 503, titre="Service indisponible",
                    message="Un service ne répond pas pour le moment. Réessayez dans quelques instants.")  # fmt: skip

    async def validation(request: Request, exc: Exception) -> Response:
        return page(request, "erreur.html", 422, titre="Adresse ou formulaire invalide",
                    message="Un paramètre de cette page n'est pas valide.")  # fmt: skip

    async def http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return page(request, "erreur.html", 404, titre="Page introuvable", message="Cette page n'existe pas.")
        if exc.status_code == 405:
            return page(
                request, "erreur.html", 405, titre="Méthode non permise", message="Cette page ne s'utilise pas ainsi."
            )
        return page(request, "erreur.html", exc.status_code, titre="Erreur", message=str(exc.detail))

    pages.add_exception_handler(NonConnecteError, non_connecte)
    pages.add_exception_handler(PageInterditeError, interdite)
    pages.add_exception_handler(CsrfError, csrf_refuse)
    pages.add_exception_handler(ProblemeAPI, probleme_api)
    pages.add_exception_handler(ServiceIndisponibleError, indisponible)
    pages.add_exception_handler(RequestValidationError, validation)
    pages.add_exception_handler(StarletteHTTPException, http)


def monter(app: FastAPI, pages: FastAPI) -> None:
    """``pages`` at ``/pages`` of ``app``, and ``/`` sending a browser there."""
    app.mount(PREFIXE, pages)

    @app.get("/", include_in_schema=False)
    async def racine() -> RedirectResponse:
        return RedirectResponse(PREFIXE + "/", status_code=307)


def creer_app(settings: PagesSettings | None = None, *, limites: LimitesHTTP | None = None) -> FastAPI:
    """``ase serve pages``: the pages alone, calling the APIs at ``ASE_PAGES_API_*``."""
    reglages = settings or PagesSettings()
    urls = urls_des_api(reglages)
    if urls is None:
        raise ValueError("ase serve pages: ASE_PAGES_API_PARCOURS, _PROJECTIONS et _NOTIFICATIONS sont requis")
    pages = creer_pages()

    @asynccontextmanager
    async def cycle_de_vie(app: FastAPI) -> AsyncIterator[None]:
        comp = await composer(reglages, api=ServicesAPI.par_url(urls, reglages.pages_api_timeout_s))
        pages.state.pages = comp
        log.info("service_demarre", service="pages")
        try:
            yield
        finally:
            await comp.api.fermer()
            await comp.pool.close()

    app = FastAPI(title="Parcours ASE — pages", lifespan=cycle_de_vie, docs_url=None, redoc_url=None, openapi_url=None)
    installer_limites(app, limites or LimitesHTTP())
    installer_traces(app)
    monter(app, pages)
    app.include_router(routeur_sante(sondes(pages)))
    return app


def sondes(pages: FastAPI) -> dict[str, Callable[[], Awaitable[None]]]:
    async def sessions_pg_pretes() -> None:
        comp: ComposantsPages = pages.state.pages
        async with comp.pool.acquire() as conn:
            await conn.fetchval("SELECT 1")

    return {"postgres_pages": sessions_pg_pretes}


__all__: list[Any] = ["composer", "creer_app", "creer_pages", "monter", "sondes"]
