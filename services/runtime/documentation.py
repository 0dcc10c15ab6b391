"""The OpenAPI document as the contract, and its pages served by the service itself.

Every operation documents what it can answer: each error as problem+json
(``Probleme``), FastAPI's ``HTTPValidationError`` replaced by it. What every
operation can answer is added here, in one place; what only some routes answer
(404, 409) each route declares with ``reponses(...)``.

``/docs`` loads its scripts from this service (a caseworkers'
network may reach no CDN, and a CDN would see who reads the API): the assets of
the ``fastapi-offline`` package, when installed. Without it, ``/docs`` is a plain
page linking the document, still with nothing fetched from elsewhere.
"""

from __future__ import annotations

import importlib.util
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from services.runtime.problemes import MEDIA, TypeDeContenuError


class ErreurChamp(BaseModel):
    """One malformed field of a 422."""

    champ: str
    """The field, dotted (``personne.nom``), or ``header.If-Match``, ``query.q``..."""
    message: str
    type: str
    attendu: str | None = None


class Probleme(BaseModel):
    """RFC 9457 problem details, with a stable machine ``code``."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    code: str
    """A stable machine word: ``validation``, ``regle_metier``, ``conflit_de_version``, ``introuvable``,
    ``non_authentifie``, ``interdit``, ``methode_non_permise``, ``trop_volumineux``, ``uri_trop_longue``,
    ``entetes_trop_volumineux``, ``type_de_contenu``, ``requete_illisible``, ``indisponible``,
    ``erreur_interne``."""
    errors: list[ErreurChamp]
    regle: str | None = None
    """With ``regle_metier``: the rule broken."""
    version_actuelle: int | None = None
    """With ``conflit_de_version``: the stream's version now."""


DESCRIPTIONS = {
    400: "requête HTTP illisible (`requete_illisible`)",
    401: "jeton absent, invalide, expiré ou trop long (`non_authentifie`)",
    403: "rôle ou département hors de portée (`interdit`)",
    404: "inconnu, ou hors des départements de l'appelant (`introuvable`)",
    405: "méthode non permise sur ce chemin (`methode_non_permise`, en-tête `Allow`)",
    409: "règle métier non respectée (`regle_metier`) ou version dépassée (`conflit_de_version`)",
    413: "corps plus lourd que `ASE_HTTP_CORPS_MAX` (`trop_volumineux`)",
    414: "chemin et requête plus longs que `ASE_HTTP_URL_MAX` (`uri_trop_longue`)",
    415: "corps qui n'est pas déclaré `application/json` (`type_de_contenu`)",
    422: "paramètre, en-tête ou corps invalide, une entrée par champ (`validation`)",
    431: "ligne de requête et en-têtes plus lourds que `ASE_HTTP_ENTETES_MAX` (`entetes_trop_volumineux`)",
    500: "erreur inattendue, journalisée (`erreur_interne`)",
    503: "une dépendance (PostgreSQL) ne répond pas (`indisponible`)",
}

_REF = "#/components/schemas/Probleme"
_EN_TETES = {
    401: {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
    405: {"Allow": {"description": "les méthodes permises sur ce chemin", "schema": {"type": "string"}}},
}

PARTOUT = (400, 413, 414, 431, 500, 503)
"""What any operation may answer: the edge limits (``services/runtime/limites.py``) and faults."""


def reponse_probleme(statut: int) -> dict[str, Any]:
    """The OpenAPI response object of an error ``statut``."""
    reponse: dict[str, Any] = {"description": DESCRIPTIONS[statut], "content": {MEDIA: {"schema": {"$ref": _REF}}}}
    if statut in _EN_TETES:
        reponse["headers"] = _EN_TETES[statut]
    return reponse


def reponses(*statuts: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route answering these statuses (each a problem+json)."""
    return {statut: reponse_probleme(statut) for statut in statuts}


def _est_json(type_contenu: str) -> bool:
    media = type_contenu.split(";", 1)[0].strip().lower()
    principal, _, sous_type = media.partition("/")
    return principal == "application" and (sous_type == "json" or sous_type.endswith("+json"))


class RouteJson(APIRoute):
    """A route whose body is JSON: another declared type is a 415 before the body is read.

    FastAPI reads a ``text/plain`` body as bytes and answers a 422 on its shape,
    which blames the fields instead of the type.
    """

    def get_route_handler(self) -> Any:
        gestionnaire = super().get_route_handler()
        if self.body_field is None:
            return gestionnaire

        async def avec_type_verifie(request: Request) -> Response:
            entetes = request.headers
            a_un_corps = entetes.get("content-length", "0") != "0" or "transfer-encoding" in entetes
            if a_un_corps and not _est_json(entetes.get("content-type", "")):
                recu = entetes.get("content-type") or "aucun"
                raise TypeDeContenuError(f"corps attendu en application/json (reçu: {recu})")
            reponse: Response = await gestionnaire(request)
            return reponse

        return avec_type_verifie


def _completer(document: dict[str, Any]) -> None:
    """Add to every operation what it can answer, each error as a ``Probleme``."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    modele = Probleme.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(modele.pop("$defs", {}))
    schemas["Probleme"] = modele
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            reponses_ = operation.setdefault("responses", {})
            statuts = set(PARTOUT)
            if operation.get("security"):
                statuts |= {401, 403}
            if "requestBody" in operation:
                statuts |= {415, 422}
            if operation.get("parameters"):
                statuts.add(422)
            validation = reponses_.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {})
            if validation.get("$ref", "").endswith("/HTTPValidationError"):
                del reponses_["422"]
            for statut in sorted(statuts):
                reponses_.setdefault(str(statut), reponse_probleme(statut))
    for inutile in ("HTTPValidationError", "ValidationError"):
        schemas.pop(inutile, None)


def installer_documentation(app: FastAPI) -> None:
    """The completed OpenAPI document at ``/openapi.json``; ``/docs`` served from here.

    ``app`` must be created with ``docs_url=None, redoc_url=None`` (FastAPI's pages load from a CDN).
    """
    generer = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _completer(generer())
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    if importlib.util.find_spec("fastapi_offline") is not None:
        app.mount("/docs/statiques", StaticFiles(directory=str(files("fastapi_offline") / "static")), "statiques")

        @app.get("/docs", include_in_schema=False)
        async def docs() -> HTMLResponse:
            return get_swagger_ui_html(
                openapi_url="/openapi.json",
                title=f"{app.title} — documentation",
                swagger_js_url="/docs/statiques/swagger-ui-bundle.js",
                swagger_css_url="/docs/statiques/swagger-ui.css",
                swagger_favicon_url="/docs/statiques/favicon.png",
            )

        # No /redoc: ReDoc's bundle draws a logo from its publisher's CDN, whatever its options.
        return

    @app.get("/docs", include_in_schema=False)
    async def docs_sans_interface() -> HTMLResponse:
        return HTMLResponse(
            f"<!doctype html><html lang='fr'><head><meta charset='utf-8'><title>{app.title}</title></head>"
            "<body><h1>Documentation de l'API</h1><p>Le document OpenAPI: "
            "<a href='/openapi.json'>/openapi.json</a>. La page interactive demande le paquet "
            "<code>fastapi-offline</code> (ses scripts sont servis par le service, sans CDN).</p></body></html>"
        )
