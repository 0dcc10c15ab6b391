"""What read routes receive: the pool, the caller, the active schema of a projection."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

import asyncpg
from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.projections import catalogue
from services.projections.moteur import Projection, lire_positions
from services.projections.service import ServiceProjections
from services.runtime.auth import Utilisateur, Verificateur, authentifier
from services.runtime.horloge import Horloge
from services.runtime.limites import limites_de
from services.runtime.problemes import InterditError


@dataclass
class ComposantsLecture:
    """The projections service's composition root, built once in the lifespan."""

    pool: asyncpg.Pool
    verificateur: Verificateur
    horloge: Horloge
    projections: Sequence[Projection]
    service: ServiceProjections | None = None


async def composants(request: Request) -> ComposantsLecture:
    comp: ComposantsLecture = request.app.state.lecture
    return comp


_bearer = HTTPBearer(auto_error=False)


async def utilisateur(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Utilisateur:
    comp: ComposantsLecture = request.app.state.lecture
    return await authentifier(
        comp.verificateur, credentials.credentials if credentials else None, jeton_max=limites_de(request.app).jeton_max
    )


def exiger(*roles: str):  # type: ignore[no-untyped-def]
    """A dependency admitting only callers holding one of ``roles``."""
    attendus = frozenset(roles)

    async def verifier(u: Annotated[Utilisateur, Depends(utilisateur)]) -> Utilisateur:
        if not u.roles & attendus:
            raise InterditError(f"rôle requis: {', '.join(sorted(attendus))}")
        return u

    return verifier


Comp = Annotated[ComposantsLecture, Depends(composants)]
LecteurDossiers = Annotated[Utilisateur, Depends(exiger("referent", "encadrant", "auditeur"))]
LecteurEcheances = Annotated[Utilisateur, Depends(exiger("referent", "encadrant"))]
Encadrant = Annotated[Utilisateur, Depends(exiger("encadrant", "auditeur"))]
Auditeur = Annotated[Utilisateur, Depends(exiger("auditeur"))]
Observatoire = Annotated[Utilisateur, Depends(exiger("observatoire", "encadrant"))]


async def schema_de(comp: ComposantsLecture, nom: str) -> str:
    """The schema serving projection ``nom`` right now (a rebuild may switch it)."""
    async with comp.pool.acquire() as conn:
        return await catalogue.schema_actif_ou_nouveau(conn, nom)


async def position(comp: ComposantsLecture, schema: str, reponse: Response) -> None:
    """Set ``X-Projection-Position``: what the read model reflects, per source and partition."""
    async with comp.pool.acquire() as conn:
        try:
            positions = await lire_positions(conn, schema)
        except asyncpg.UndefinedTableError:
            positions = {}
    reponse.headers["X-Projection-Position"] = (
        ",".join(f"{source}:{partition}={valeur}" for (source, partition), valeur in sorted(positions.items()))
        or "vide"
    )


async def journaliser_acces(comp: ComposantsLecture, u: Utilisateur, parcours_id: UUID | None, chemin: str) -> None:
    """Record who read what, when (ARCHITECTURE.md: every read of a dossier is recorded)."""
    async with comp.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO public.journal_acces (sub, parcours_id, chemin) VALUES ($1, $2, $3)",
            u.sub,
            parcours_id,
            chemin,
        )


DDL_JOURNAL_ACCES = [
    "CREATE TABLE IF NOT EXISTS public.journal_acces (id bigserial PRIMARY KEY, sub text NOT NULL, "
    "parcours_id uuid, chemin text NOT NULL, lu_le timestamptz NOT NULL DEFAULT now())",
    "CREATE INDEX IF NOT EXISTS journal_acces_parcours ON public.journal_acces (parcours_id, lu_le)",
    "CREATE INDEX IF NOT EXISTS journal_acces_sub ON public.journal_acces (sub, lu_le)",
]
"""The access log is not a read model: it is never rebuilt, only appended to."""
