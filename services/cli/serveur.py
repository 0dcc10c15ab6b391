"""The ASGI applications ``ase serve`` runs."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.parcours.api.app import creer_app
from services.parcours.settings import ParcoursSettings
from services.runtime.http import routeur_sante


def application_embarquee(data_dir: Path) -> FastAPI:
    """Every service's routes on one port, on the embedded PostgreSQL unless DATABASE_URL is set."""
    # Projections and notifications mount here as they arrive (issues 3-4).
    return creer_app(ParcoursSettings(data_dir=data_dir))


def application_service(nom: str) -> FastAPI:
    """One service, configured by its environment."""
    if nom == "parcours":
        return creer_app(ParcoursSettings())
    # Projections and notifications: skeletons that answer their probes.
    app = FastAPI(title=f"Parcours ASE — {nom}")
    app.include_router(routeur_sante({}))
    return app
