"""Every service against its own OpenAPI document: schemathesis, in-process (ASGI), real PostgreSQL.

Every check is on: no server error, every status and content type and header
documented, every body matching its schema, schema-valid input accepted (or
refused by a rule, a scope or an unknown id), schema-invalid input refused.
Each operation gets ``ASE_FUZZ_EXEMPLES`` examples (default below), plus the
examples and boundary values schemathesis derives from the document; each
example goes out with the token of one of the roles, drawn with the rest.

A hand run with ten times the examples::

    ASE_FUZZ_EXEMPLES=150 .venv/bin/pytest tests/integration/test_openapi_fuzz.py
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi

from services.cli.serveur import application_notifications
from services.parcours.api.app import creer_app as creer_app_parcours
from services.parcours.settings import ParcoursSettings
from services.projections.api.app import creer_app as creer_app_projections
from services.projections.settings import ProjectionsSettings
from services.runtime.auth import CleDeDeveloppement
from tests.integration.api_parcours import DEPARTEMENTS
from tests.integration.conftest import _url_de

if not hasattr(pytest.Function, "_nodeid"):
    # schemathesis 4.32 renames the running test (``request.node._nodeid``) to report each operation;
    # pytest 9 keeps the id elsewhere. Reports keep the test's own name.
    pytest.Function._nodeid = property(lambda node: node.nodeid, lambda node, _: None)  # type: ignore[attr-defined]

EXEMPLES = int(os.environ.get("ASE_FUZZ_EXEMPLES", "15"))
"""Examples per operation in the fuzzing phase."""

ROLES = ["referent", "encadrant", "auditeur", "observatoire", "service", "dpo", "jeune"]

ACCEPTEES = ["2xx", "401", "403", "404", "409"]
"""What a schema-valid request may get: done, or refused by scope, an unknown id or a rule."""

REFUSEES = ["400", "401", "403", "404", "405", "406", "409", "413", "414", "415", "422", "428", "429", "431", "5xx"]
"""What a schema-violating request may get: schemathesis' own list, plus the edge limits (413 body, 414 URI,
431 headers), which refuse an oversized request as clearly as a 422 (a server error is its own check)."""

REFUS = {"negative_data_rejection": {"expected-statuses": REFUSEES}}

CONFIG = {
    "generation": {"max-examples": EXEMPLES, "database": "none"},
    "phases": {"stateful": {"enabled": False}},
    "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTEES}, **REFUS},
    "operations": [
        {
            # JSON Schema holds 12.0 for an integer; commands refuse it (a loosely typed number, as
            # "12" is). And a correction's value is checked against the type of the field it names.
            "include-path": ["/v1/lieux", "/v1/lieux/{lieu_id}/capacite", "/v1/parcours/{parcours_id}/rectifications"],
            "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTEES, "422"]}, **REFUS},
        },
        {
            # A webhook URL is refused unless its host resolves, to public addresses only (the SSRF guard):
            # what DNS answers, a schema cannot say.
            "include-path": ["/v1/abonnements"],
            "include-method": ["POST"],
            "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTEES, "422"]}, **REFUS},
        },
        {
            # A recipient belongs to one département: naming it is required when the token holds several,
            # which depends on the token, not on the schema.
            "include-path": ["/v1/destinataires/{referent_id}"],
            "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTEES, "422"]}, **REFUS},
        },
        {
            # A year "at most the current one": its bound moves with the calendar, the schema's cannot.
            "include-path": ["/v1/pilotage/indicateurs", "/v1/statistiques/olinpe"],
            "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTEES, "422"]}, **REFUS},
        },
    ],
}


def _config() -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(CONFIG)


@pytest.fixture(scope="module")
def base_fuzz(postgres_url: str) -> Iterator[str]:
    nom = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{nom}"')
    try:
        yield _url_de(postgres_url, nom)
    finally:
        # The apps' lifespans run in schemathesis' event loop thread: stopped before the database goes.
        asgi.shutdown_lifespans()
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{nom}" WITH (FORCE)')


@pytest.fixture(scope="module")
def cles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cles")


@pytest.fixture(scope="module")
def jetons(cles: Path) -> dict[str, str]:
    """A token per role, every département: the routes' scoping is exercised by the ids drawn."""
    cle = CleDeDeveloppement.dans(cles)
    return {role: cle.signer(sub=f"fuzz-{role}", roles=[role], departements=DEPARTEMENTS) for role in ROLES}


@pytest.fixture(scope="module")
def schema_parcours(base_fuzz: str, cles: Path) -> Any:
    app = creer_app_parcours(ParcoursSettings(database_url=base_fuzz, data_dir=cles))
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=_config())


@pytest.fixture(scope="module")
def schema_projections(base_fuzz: str, cles: Path) -> Any:
    app = creer_app_projections(
        ProjectionsSettings(database_url=base_fuzz, data_dir=cles, kafka_bootstrap_servers=None)
    )
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=_config())


@pytest.fixture(scope="module")
def schema_notifications(base_fuzz: str, cles: Path) -> Any:
    from services.notifications.settings import NotificationsSettings

    app = application_notifications(
        NotificationsSettings(database_url=base_fuzz, data_dir=cles, kafka_bootstrap_servers=None)
    )
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=_config())


PARCOURS = schemathesis.pytest.from_fixture("schema_parcours")
PROJECTIONS = schemathesis.pytest.from_fixture("schema_projections")
NOTIFICATIONS = schemathesis.pytest.from_fixture("schema_notifications")
REGLAGES = settings(
    max_examples=EXEMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)


def _appeler(case: Any, jetons: dict[str, str], role: str) -> None:
    entetes = case.headers or {}
    if "idempotency-key" in entetes and case.meta is not None and case.meta.generation.mode.is_positive:
        # Drawn values repeat across examples: the same key with another body is rightly a 422
        # (draft-ietf-httpapi-idempotency-key-header). A valid request gets a key of its own.
        entetes["idempotency-key"] = uuid.uuid4().hex
    negatif = case.meta is not None and not case.meta.generation.mode.is_positive
    if negatif and "authorization" not in {cle.lower() for cle in entetes}:
        # The invalid part drawn is the missing token itself: adding one would make the request valid.
        case.call_and_validate()
        return
    case.call_and_validate(headers={"Authorization": f"Bearer {jetons[role]}"})


@PARCOURS.parametrize()
@PARCOURS.given(role=st.sampled_from(ROLES))
@REGLAGES
def test_the_parcours_service_answers_as_its_openapi_says(case: Any, role: str, jetons: dict[str, str]) -> None:
    _appeler(case, jetons, role)


@PROJECTIONS.parametrize()
@PROJECTIONS.given(role=st.sampled_from(ROLES))
@REGLAGES
def test_the_projections_service_answers_as_its_openapi_says(case: Any, role: str, jetons: dict[str, str]) -> None:
    _appeler(case, jetons, role)


@NOTIFICATIONS.parametrize()
@NOTIFICATIONS.given(role=st.sampled_from(ROLES))
@REGLAGES
def test_the_notifications_service_answers_as_its_openapi_says(case: Any, role: str, jetons: dict[str, str]) -> None:
    _appeler(case, jetons, role)
