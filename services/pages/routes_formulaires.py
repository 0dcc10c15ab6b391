"""Pages: the forms of the everyday commands (to be built)."""

from __future__ import annotations

from fastapi import APIRouter

routeur = APIRouter()
