"""Read route of the lieux d'accueil a caseworker may place a child in: ``GET /v1/lieux``.

Roles ``referent`` and ``encadrant``, scoped to the caller's départements: a ``departement``
filter outside them is a 403; without it, every lieu of the caller's départements. The read is
recorded in the access log (a lieu may be a private person: an assistant familial's name).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from contracts.vocabulaire import TypeLieu
from services.projections.api.dependances import Comp, journaliser, position, schema_de
from services.projections.api.routes_pilotage import PILOTAGE, FiltreDepartement, LecteurOccupation, perimetre
from services.projections.readmodels import lieux

routeur = APIRouter(prefix="/v1", tags=["pilotage"])


class LieuVue(BaseModel):
    lieu_id: UUID
    nom: str | None
    type: str
    departement: str
    capacite: int
    ferme: bool
    ferme_le: date | None
    places: int
    """Places offered now: the capacity, 0 once closed."""
    enfants_presents: int
    places_libres: int
    sur_occupation: bool


class ListeLieux(BaseModel):
    lieux: list[LieuVue]


@routeur.get("/lieux", response_model=ListeLieux)
async def lister_lieux(
    *,
    comp: Comp,
    u: LecteurOccupation,
    request: Request,
    response: Response,
    departement: FiltreDepartement = None,
    type: Annotated[TypeLieu | None, Query(description="un type de lieu")] = None,
    ouverts: Annotated[bool, Query(description="les lieux non fermés seulement")] = True,
) -> ListeLieux:
    """The lieux of the caller's départements (or of ``departement``), open ones by default, by
    département, type and name; each with its places and the children present now (a full lieu is
    listed too: a placement there is recorded and flagged, never refused)."""
    departements = perimetre(u, departement)
    schema = await schema_de(comp, PILOTAGE)
    await position(comp, schema, response)
    async with comp.pool.acquire() as conn:
        trouves = await lieux.lieux_des_departements(
            conn, schema, departements, type_lieu=type.value if type else None, ouverts=ouverts
        )
    await journaliser(comp, request, u, departements)
    return ListeLieux(
        lieux=[
            LieuVue(
                lieu_id=lieu.lieu_id,
                nom=lieu.nom,
                type=lieu.type,
                departement=lieu.departement,
                capacite=lieu.capacite,
                ferme=lieu.ferme_le is not None,
                ferme_le=lieu.ferme_le,
                places=lieu.occupation.places,
                enfants_presents=lieu.occupation.enfants,
                places_libres=lieu.occupation.places_libres,
                sur_occupation=lieu.occupation.sur_occupation,
            )
            for lieu in trouves
        ]
    )
