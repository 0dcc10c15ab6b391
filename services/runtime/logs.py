"""Structured logs: JSON outside a terminal, request and correlation ids on every
line of a request, and personal fields redacted whatever a caller passes."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

CHAMPS_PERSONNELS = frozenset(
    {
        "nom",
        "prenoms",
        "prenom",
        "date_naissance",
        "lieu_naissance",
        "personne",
        "authorization",
        "token",
        "secret",
    }
)
MASQUE = "[masqué]"


def masquer_donnees_personnelles(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Replace the value of any personal field, at any depth, before it is rendered."""
    for cle in list(event_dict):
        event_dict[cle] = _masquer(cle, event_dict[cle])
    return event_dict


def _masquer(cle: str, valeur: Any) -> Any:
    if cle.lower() in CHAMPS_PERSONNELS:
        return MASQUE
    if isinstance(valeur, dict):
        return {k: _masquer(str(k), v) for k, v in valeur.items()}
    if isinstance(valeur, list | tuple):
        return [_masquer("", v) for v in valeur]
    return valeur


def configurer(niveau: str = "INFO", *, json: bool | None = None) -> None:
    """Configure structlog and route the standard library's logs through it."""
    if json is None:
        json = not sys.stderr.isatty()
    partages: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        masquer_donnees_personnelles,
    ]
    rendu: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            *partages,
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formateur = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=partages,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, rendu],
    )
    gestionnaire = logging.StreamHandler(sys.stderr)
    gestionnaire.setFormatter(formateur)
    racine = logging.getLogger()
    racine.handlers[:] = [gestionnaire]
    racine.setLevel(niveau.upper())
    # Access logs would carry paths and query strings; ours say the same, redacted.
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every request's URL at INFO ("HTTP Request: POST <url>"): a webhook's URL,
    # query string (a receiver's token) included. Their warnings and errors still come through.
    for bavard in ("httpx", "httpcore"):
        logging.getLogger(bavard).setLevel(logging.WARNING)
