"""Pages: jeune (to be built)."""

from __future__ import annotations

from fastapi import APIRouter

routeur = APIRouter()
