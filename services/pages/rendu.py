"""Rendering the pages: one Jinja2 environment (autoescape on), French dates, the session's CSRF token.

Templates live in ``modeles/`` beside the routes that render them; every page extends ``base.html``
(landmarks, skip link, the menu of the signed-in role). No inline script and no inline style: the
Content-Security-Policy of the pages allows the service's own files only.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from services.runtime.horloge import FUSEAU

MODELES = Path(__file__).parent / "modeles"
STATIQUE = Path(__file__).parent / "statique"
VERSION_HTMX = "2.0.11"
"""htmx, pinned, served from ``statique/`` (zero-clause BSD; checksum in the README)."""

MOIS = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip


def date_fr(valeur: Any) -> str:
    """``2026-03-01`` (date, datetime or ISO text) as ``1er mars 2026``; empty for None."""
    if valeur is None or valeur == "":
        return ""
    if isinstance(valeur, str):
        try:
            valeur = datetime.fromisoformat(valeur) if "T" in valeur else date.fromisoformat(valeur)
        except ValueError:
            return str(valeur)
    if isinstance(valeur, datetime):
        valeur = valeur.astimezone(FUSEAU) if valeur.tzinfo else valeur
        return f"{date_fr(valeur.date())} à {valeur:%H:%M}"
    jour = "1er" if valeur.day == 1 else str(valeur.day)
    return f"{jour} {MOIS[valeur.month - 1]} {valeur.year}"


def mois_fr(valeur: Any) -> str:
    """``2028-01`` as ``janvier 2028``."""
    if not isinstance(valeur, str) or len(valeur) != 7:
        return "" if valeur is None else str(valeur)
    annee, mois = valeur.split("-")
    return f"{MOIS[int(mois) - 1]} {annee}"


def _environnement() -> Environment:
    env = Environment(
        loader=FileSystemLoader(MODELES),
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["date_fr"] = date_fr
    env.filters["mois_fr"] = mois_fr
    env.globals["version_htmx"] = VERSION_HTMX
    return env


modeles = Jinja2Templates(env=_environnement())


def page(request: Request, modele: str, code_http: int = 200, /, **contexte: Any) -> HTMLResponse:
    """``modele`` rendered with ``contexte``, the session (or None) and its CSRF token, answered with
    ``code_http`` (positional only: a template variable may be called ``statut``)."""
    session = getattr(request.state, "session", None)
    contexte.setdefault("session", session)
    contexte.setdefault("csrf", session.csrf if session is not None else getattr(request.state, "csrf", ""))
    contexte.setdefault("titre", "")
    return modeles.TemplateResponse(request, modele, contexte, status_code=code_http)
