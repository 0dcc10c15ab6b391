"""The ``ase`` command (API.md): serve, token, and the operations still to come."""

from __future__ import annotations

from services.cli.commandes import main

__all__ = ["main"]
