"""The read models: one projection each, one schema each."""

from __future__ import annotations

from services.runtime.moteur import Projection


def catalogue_des_projections() -> list[Projection]:
    """Every projection the service runs, in a stable order."""
    from services.projections.readmodels.audit import ProjectionAudit
    from services.projections.readmodels.dossiers import ProjectionDossiers
    from services.projections.readmodels.pilotage import ProjectionPilotage

    return [ProjectionDossiers(), ProjectionPilotage(), ProjectionAudit()]
