"""Every error as RFC 9457 problem details, with a stable machine ``code``.

Domain errors become problems here, in one place, not in each route.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from services.runtime.auth import AuthentificationError
from services.runtime.coffre import CoffreError
from services.runtime.errors import (
    CleIdempotenceReutiliseeError,
    ConflitDeVersionError,
    HorsPerimetreError,
    IndisponibleError,
    IntrouvableError,
    RegleMetierError,
    SaisieInvalideError,
)

log = structlog.get_logger(__name__)

TYPE_BASE = "https://parcours-ase.fr/problemes/"
MEDIA = "application/problem+json"


class InterditError(Exception):
    """The caller's roles do not allow this."""


class TypeDeContenuError(Exception):
    """A request body that is not declared as JSON, on a route that reads JSON."""


def corps_probleme(
    statut: int,
    code: str,
    titre: str,
    detail: str,
    erreurs: list[dict[str, Any]] | None = None,
    **extensions: Any,
) -> dict[str, Any]:
    """The RFC 9457 body every error of every service has."""
    return {
        "type": TYPE_BASE + code,
        "title": titre,
        "status": statut,
        "detail": detail,
        "code": code,
        "errors": erreurs or [],
        **extensions,
    }


def probleme(
    statut: int,
    code: str,
    titre: str,
    detail: str,
    erreurs: list[dict[str, Any]] | None = None,
    *,
    entetes: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    corps = corps_probleme(statut, code, titre, detail, erreurs, **extensions)
    en_tetes = {**({"WWW-Authenticate": "Bearer"} if statut == 401 else {}), **(entetes or {})}
    return JSONResponse(corps, status_code=statut, media_type=MEDIA, headers=en_tetes or None)


def _champ(loc: tuple[Any, ...]) -> str:
    morceaux = [str(p) for p in loc if p not in ("body",)]
    return ".".join(morceaux) or "body"


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    erreurs = []
    for e in exc.errors():
        entree: dict[str, Any] = {
            "champ": _champ(tuple(e.get("loc", ()))),
            "message": e.get("msg", ""),
            "type": e.get("type", ""),
        }
        attendu = (e.get("ctx") or {}).get("expected")
        if attendu:
            entree["attendu"] = str(attendu)
        erreurs.append(entree)
    return probleme(422, "validation", "Requête invalide", f"{len(erreurs)} champ(s) invalide(s)", erreurs)


async def _saisie(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SaisieInvalideError)
    erreurs = [{"champ": exc.champ, "message": exc.message, "type": "valeur_invalide"}]
    return probleme(422, "validation", "Requête invalide", "1 champ(s) invalide(s)", erreurs)


async def _regle(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RegleMetierError)
    return probleme(409, "regle_metier", "Règle métier non respectée", exc.message, regle=exc.regle)


async def _conflit(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ConflitDeVersionError)
    return probleme(409, "conflit_de_version", "Conflit de version", str(exc), version_actuelle=exc.actuelle)


async def _introuvable(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IntrouvableError)
    return probleme(404, "introuvable", "Introuvable", str(exc))


async def _hors_perimetre(_: Request, exc: Exception) -> JSONResponse:
    return probleme(403, "interdit", "Interdit", str(exc))


async def _interdit(_: Request, exc: Exception) -> JSONResponse:
    return probleme(403, "interdit", "Interdit", str(exc) or "votre rôle ne permet pas cette action")


async def _non_authentifie(_: Request, exc: Exception) -> JSONResponse:
    return probleme(401, "non_authentifie", "Non authentifié", str(exc) or "jeton absent ou invalide")


async def _cle_reutilisee(_: Request, exc: Exception) -> JSONResponse:
    return probleme(
        422,
        "validation",
        "Clé d'idempotence réutilisée",
        str(exc),
        [{"champ": "Idempotency-Key", "message": str(exc), "type": "idempotence"}],
    )


CODES_HTTP = {
    401: "non_authentifie",
    403: "interdit",
    404: "introuvable",
    405: "methode_non_permise",
    409: "conflit_de_version",
    413: "trop_volumineux",
    414: "uri_trop_longue",
    415: "type_de_contenu",
    503: "indisponible",
}
"""The stable ``code`` of a status raised as an ``HTTPException`` (by Starlette, FastAPI or a route)."""


def _methodes_permises(request: Request) -> str:
    """Every method some route answers on this path (Starlette names only the first route's)."""
    methodes: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods and route.path_regex.match(request.url.path):
            methodes |= route.methods
    return ", ".join(sorted(methodes))


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI's "error parsing the body" (a JSON nested too deep to parse):
        # malformed input, a 422 like every other one.
        return probleme(
            422,
            "validation",
            "Requête invalide",
            str(exc.detail),
            [{"champ": "body", "message": str(exc.detail), "type": "json_invalid"}],
        )
    entetes = dict(exc.headers or {})
    if exc.status_code == 405:
        entetes["Allow"] = _methodes_permises(request) or entetes.get("Allow", "")
    code = CODES_HTTP.get(exc.status_code, "validation")
    return probleme(exc.status_code, code, str(exc.detail), str(exc.detail), entetes=entetes)


async def _type_de_contenu(_: Request, exc: Exception) -> JSONResponse:
    return probleme(415, "type_de_contenu", "Type de contenu non pris en charge", str(exc))


async def _indisponible(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IndisponibleError)
    log.warning("base_indisponible", raison=str(exc))
    reponse = probleme(503, "indisponible", "Service momentanément indisponible", str(exc))
    reponse.headers["Retry-After"] = str(exc.reessayer_dans_s)
    return reponse


async def _coffre(request: Request, exc: Exception) -> JSONResponse:
    # A KEK this process does not know (a rotation not rolled out to it yet), a KEK setting
    # refused, or a data key that does not authenticate: no fault of the request, and nothing the
    # caller can fix. The detail names no key id nor key material; the log names the error's class.
    log.error("coffre_indisponible", chemin=request.url.path, erreur=type(exc).__name__)
    return probleme(
        503,
        "indisponible",
        "Service momentanément indisponible",
        "les clés de chiffrement des données personnelles ne sont pas disponibles pour ce service",
    )


async def _inattendue(request: Request, exc: Exception) -> JSONResponse:
    log.exception("erreur_inattendue", chemin=request.url.path, erreur=type(exc).__name__)
    return probleme(500, "erreur_interne", "Erreur interne", "une erreur inattendue est survenue; elle est journalisée")


async def _delai_depasse(request: Request, exc: Exception) -> JSONResponse:
    # A query or a connection bounded by the client (asyncpg's command_timeout): the database did
    # not answer in time, which is no fault of the request.
    return await _indisponible(request, IndisponibleError(f"la base de données n'a pas répondu ({type(exc).__name__})"))


def installer(app: FastAPI) -> None:
    """Register every handler on ``app``."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(RegleMetierError, _regle)
    app.add_exception_handler(SaisieInvalideError, _saisie)
    app.add_exception_handler(ConflitDeVersionError, _conflit)
    app.add_exception_handler(IntrouvableError, _introuvable)
    app.add_exception_handler(HorsPerimetreError, _hors_perimetre)
    app.add_exception_handler(InterditError, _interdit)
    app.add_exception_handler(AuthentificationError, _non_authentifie)
    app.add_exception_handler(CleIdempotenceReutiliseeError, _cle_reutilisee)
    app.add_exception_handler(IndisponibleError, _indisponible)
    app.add_exception_handler(TimeoutError, _delai_depasse)
    app.add_exception_handler(CoffreError, _coffre)
    app.add_exception_handler(TypeDeContenuError, _type_de_contenu)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _inattendue)
