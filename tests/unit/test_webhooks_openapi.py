"""The subscriptions' routes keep the OpenAPI contract of every service (tests/unit/test_contrat_openapi.py)."""

from __future__ import annotations

from fastapi import FastAPI

from services.notifications.api.routes_abonnements import routeur
from services.runtime import problemes
from services.runtime.documentation import installer_documentation
from tests.unit.test_contrat_openapi import (
    test_the_openapi_document_lists_only_200_and_a_422_httpvalidationerror as verifier_contrat,
)


def test_the_subscriptions_routes_document_every_problem_they_answer() -> None:
    app = FastAPI(docs_url=None, redoc_url=None)
    problemes.installer(app)
    app.include_router(routeur)
    installer_documentation(app)
    document = app.openapi()
    chemins = set(document["paths"])
    assert chemins == {
        "/v1/abonnements",
        "/v1/abonnements/livraisons",
        "/v1/abonnements/livraisons/{livraison_id}/rejeu",
        "/v1/abonnements/{abonnement_id}",
    }
    assert "secret" not in str(document["components"]["schemas"]["AbonnementVue"])
    verifier_contrat(document)
