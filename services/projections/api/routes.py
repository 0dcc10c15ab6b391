"""Every read router of the projections service."""

from __future__ import annotations

from fastapi import APIRouter


def routeurs_lecture() -> list[APIRouter]:
    from services.projections.api import routes_audit, routes_dossiers, routes_jeune, routes_lieux, routes_pilotage

    return [
        routes_dossiers.routeur,
        routes_pilotage.routeur,
        routes_lieux.routeur,
        routes_audit.routeur,
        routes_jeune.routeur,
    ]
