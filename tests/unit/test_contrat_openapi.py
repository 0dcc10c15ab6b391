"""The OpenAPI document of each service is the contract: every status it can answer, each error a problem.

No database: the documents and the documentation pages need none.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.cli.serveur import application_notifications
from services.parcours.api.app import creer_app as creer_app_parcours
from services.projections.api.app import creer_app as creer_app_projections
from services.runtime.documentation import PARTOUT

PROBLEME = {"$ref": "#/components/schemas/Probleme"}
APPS = {
    "parcours": creer_app_parcours,
    "projections": creer_app_projections,
    "notifications": application_notifications,
}


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(methode.upper(), chemin, op) for chemin, ops in document["paths"].items() for methode, op in ops.items()]


@pytest.fixture(params=sorted(APPS))
def document(request: pytest.FixtureRequest) -> dict[str, Any]:
    app: FastAPI = APPS[request.param]()
    resultat: dict[str, Any] = app.openapi()
    return resultat


def test_the_openapi_document_lists_only_200_and_a_422_httpvalidationerror(document: dict[str, Any]) -> None:
    """Regression: each operation listed its success and FastAPI's ``HTTPValidationError`` 422 (plain JSON),
    none of the 401, 403, 404, 409, 413, 415 or 422 problems the service answers."""
    assert "HTTPValidationError" not in str(document)
    for methode, chemin, op in _operations(document):
        statuts = {int(s) for s in op["responses"]}
        attendus = set(PARTOUT)
        if op.get("security"):
            attendus |= {401, 403}
        if "requestBody" in op:
            attendus |= {415, 422}
        if op.get("parameters"):
            attendus.add(422)
        if "{" in chemin:
            attendus.add(404)
        if methode == "POST" and chemin.startswith("/v1/"):
            attendus.add(409)
        assert attendus <= statuts, (methode, chemin, attendus - statuts)
        for statut, reponse in op["responses"].items():
            if int(statut) >= 400 and not (chemin == "/readyz" and statut == "503"):
                assert reponse["content"] == {"application/problem+json": {"schema": PROBLEME}}, (chemin, statut)
        assert op["responses"]["401" if op.get("security") else "413"]["content"]


def test_a_401_documents_its_www_authenticate_header(document: dict[str, Any]) -> None:
    proteges = [op for _, _, op in _operations(document) if op.get("security")]

    assert all("WWW-Authenticate" in op["responses"]["401"]["headers"] for op in proteges)


def test_the_problem_schema_is_the_rfc_9457_shape_with_a_code(document: dict[str, Any]) -> None:
    schema = document["components"]["schemas"]["Probleme"]

    assert {"type", "title", "status", "detail", "code", "errors"} <= set(schema["required"])


def test_metrics_is_documented_as_prometheus_text(document: dict[str, Any]) -> None:
    reponse = document["paths"]["/metrics"]["get"]["responses"]["200"]

    assert list(reponse["content"]) == ["text/plain"]


def test_a_day_an_instant_and_a_text_say_their_format() -> None:
    document = creer_app_projections().openapi()
    parametres = {
        p["name"]: p["schema"]
        for chemin in ("/v1/echeances", "/v1/audit/parcours/{parcours_id}/etat", "/v1/dossiers")
        for p in document["paths"][chemin]["get"]["parameters"]
    }

    def variante(schema: dict[str, Any]) -> dict[str, Any]:
        return next(s for s in schema.get("anyOf", [schema]) if s.get("type") == "string")

    assert variante(parametres["avant"])["format"] == "date"
    assert re.fullmatch(variante(parametres["avant"])["pattern"], "2026-01-31")
    assert not re.fullmatch(variante(parametres["avant"])["pattern"], "0")
    assert variante(parametres["connu_le"])["format"] == "date-time"
    assert not re.fullmatch(variante(parametres["connu_le"])["pattern"], "0")
    motif = variante(parametres["q"])["pattern"]
    assert re.fullmatch(motif, "Dupont-Kerhervé")
    assert not re.fullmatch(motif, "a\x00b")
    assert not re.fullmatch(motif, "   ")


@pytest.mark.parametrize("nom", sorted(APPS))
async def test_docs_loads_nothing_from_another_host(nom: str) -> None:
    app = APPS[nom]()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service.test") as client:
        page = await client.get("/docs")
        references = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", page.text)
        servies = [await client.get(ref) for ref in references]

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in references
    assert any("swagger-ui" in ref and ref.endswith(".js") for ref in references), "the interactive Swagger UI"
    assert all(ref.startswith("/") and not ref.startswith("//") for ref in references), references
    assert all(r.status_code == 200 for r in servies), [(r.url, r.status_code) for r in servies]
