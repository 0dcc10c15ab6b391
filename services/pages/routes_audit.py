"""Pages: audit (to be built)."""

from __future__ import annotations

from fastapi import APIRouter

routeur = APIRouter()
