"""Read routes of the young person (role ``jeune``): their own parcours only, in plain words.

The token's ``personne_id`` (required for the role by :mod:`services.runtime.auth`)
chooses the parcours: another's, or an unknown id, is the same 404 ``introuvable``
(never a 403, which would tell that it exists), whatever départements the token
claims. Every read is access-logged under the département of the parcours shown.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from services.projections.api import vues_jeune as vues
from services.projections.api.dependances import Comp, exiger, journaliser, position, schema_de
from services.projections.readmodels import parcours_jeune as sql
from services.runtime.auth import ROLE_JEUNE, Utilisateur
from services.runtime.documentation import reponses
from services.runtime.errors import IntrouvableError
from services.runtime.horloge import aujourd_hui
from services.runtime.parametres import Id
from services.runtime.problemes import InterditError, probleme

routeur = APIRouter(prefix="/v1/jeune", tags=["jeune"])

Jeune = Annotated[Utilisateur, Depends(exiger(ROLE_JEUNE))]


def _personne(u: Utilisateur) -> UUID:
    if u.personne_id is None:  # the token verification refuses it already; never read a parcours without it
        raise InterditError("claim 'personne_id' requis")
    return u.personne_id


@routeur.get("/parcours", response_model=vues.ListeParcoursJeune)
async def mes_parcours(comp: Comp, u: Jeune, request: Request, response: Response) -> vues.ListeParcoursJeune:
    """The parcours of the token's person (usually one), oldest first."""
    personne = _personne(u)
    schema = await schema_de(comp, "dossiers")
    await position(comp, schema, response)
    async with comp.pool.acquire() as conn:
        lignes = await sql.parcours_de(conn, schema, personne)
    await journaliser(
        comp,
        request,
        u,
        {ligne["departement"] for ligne in lignes},
        ((ligne["parcours_id"], ligne["departement"]) for ligne in lignes),
    )
    return vues.ListeParcoursJeune(parcours=[vues.resume(ligne) for ligne in lignes])


@routeur.get("/parcours/{parcours_id}", response_model=vues.ParcoursJeuneVue, responses=reponses(404))
async def mon_parcours(
    parcours_id: Id, comp: Comp, u: Jeune, request: Request, response: Response
) -> vues.ParcoursJeuneVue | JSONResponse:
    """One of the person's parcours: lieux with dates, measures, PPE, entretien d'autonomie, contrat jeune
    majeur, sortie and the social-housing priority window, and what they can ask for."""
    personne = _personne(u)
    schema = await schema_de(comp, "dossiers")
    await position(comp, schema, response)
    async with comp.pool.acquire() as conn:
        lu = await sql.lire(conn, schema, parcours_id, personne)
    if lu is None:
        absent = probleme(404, "introuvable", "Introuvable", str(IntrouvableError("parcours", parcours_id)))
        absent.headers["X-Projection-Position"] = response.headers["X-Projection-Position"]
        return absent
    departement = lu.dossier["departement"]
    await journaliser(comp, request, u, [departement], [(parcours_id, departement)])
    return vues.parcours(lu, aujourd_hui(comp.horloge))
