"""Schema names for the engines a test runs beside the catalogue's."""

from __future__ import annotations

from services.projections import catalogue


def schema_a_part(nom: str) -> str:
    """A fresh schema for an engine outside the catalogue: not a name a rebuild gives
    (``catalogue.MOTIF_SCHEMA``), so no orphan sweep (:func:`catalogue.supprimer_orphelins`) drops it."""
    return "t" + catalogue.nouveau_schema(nom)
