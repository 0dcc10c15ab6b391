"""Read routes of the dossiers read model: the caseworker list, a dossier, the deadline worklist.

Scoping: a caller sees only the dossiers of its départements. A dossier
elsewhere is a 404 (its existence is not disclosed); a ``departement=`` filter
naming a département outside the caller's is refused with a 403 (an explicit
answer rather than an empty list that would read as 'nothing to do there').
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from services.projections.api import vues_dossiers as vues
from services.projections.api.dependances import (
    Comp,
    ComposantsLecture,
    LecteurDossiers,
    LecteurEcheances,
    journaliser,
    position,
    schema_de,
)
from services.projections.readmodels import dossiers_sql as sql
from services.runtime.auth import Utilisateur
from services.runtime.documentation import reponses
from services.runtime.errors import HorsPerimetreError, IntrouvableError
from services.runtime.horloge import aujourd_hui
from services.runtime.parametres import Departement as CodeDepartement
from services.runtime.parametres import Id, Identifiant, Jour
from services.runtime.problemes import probleme

routeur = APIRouter(prefix="/v1", tags=["dossiers"])

Departement = Annotated[CodeDepartement | None, Query(description="code INSEE")]
Referent = Annotated[Identifiant | None, Query()]
NumeroPage = Annotated[int, Query(ge=1, le=1_000_000)]
TaillePage = Annotated[int, Query(ge=1, le=200)]


def _aujourd_hui(comp: ComposantsLecture) -> date:
    """Ages, overdue measures and deadlines are judged on today's civil date in France (the injected clock)."""
    return aujourd_hui(comp.horloge)


def _perimetre(u: Utilisateur, departement: str | None) -> list[str]:
    """The départements a query may read: the caller's, or the one it names if it is one of them."""
    if departement is None:
        return sorted(u.departements)
    if departement not in u.departements:
        raise HorsPerimetreError(departement)
    return [departement]


@routeur.get("/dossiers", response_model=vues.ListeDossiers)
async def lister_dossiers(
    *,
    comp: Comp,
    u: LecteurDossiers,
    request: Request,
    response: Response,
    departement: Departement = None,
    referent_id: Referent = None,
    lieu_id: Id | None = None,
    statut: Literal["ouvert", "sorti"] | None = None,
    q: Annotated[Identifiant | None, Query()] = None,
    page: NumeroPage = 1,
    taille: TaillePage = 50,
) -> vues.ListeDossiers:
    """The caseworker list: filters, a name search (case- and accent-insensitive), pages."""
    filtres = sql.FiltresDossiers(_perimetre(u, departement), referent_id, lieu_id, statut, q)
    schema = await schema_de(comp, "dossiers")
    await position(comp, schema, response)
    async with comp.pool.acquire() as conn:
        total, lignes = await sql.lister_dossiers(conn, schema, filtres, sql.Page(page, taille))
    # The search terms too (q is often a name): the access log is the auditors' own record.
    await journaliser(
        comp, request, u, filtres.departements, ((ligne["parcours_id"], ligne["departement"]) for ligne in lignes)
    )
    jour = _aujourd_hui(comp)
    return vues.ListeDossiers(
        total=total, page=page, taille=taille, dossiers=[vues.resume(ligne, jour) for ligne in lignes]
    )


@routeur.get("/dossiers/{parcours_id}", response_model=vues.DossierVue, responses=reponses(404))
async def lire_dossier(
    parcours_id: Id, comp: Comp, u: LecteurDossiers, request: Request, response: Response
) -> vues.DossierVue | JSONResponse:
    """One dossier: identity, age, measures, lieu, PPE, autonomy, deadlines."""
    schema = await schema_de(comp, "dossiers")
    await position(comp, schema, response)
    async with comp.pool.acquire() as conn:
        lu = await sql.lire_dossier(conn, schema, parcours_id, sorted(u.departements))
    if lu is None:
        # With its position: a client waiting for its own write knows the read model is not there yet.
        absent = probleme(404, "introuvable", "Introuvable", str(IntrouvableError("dossier", parcours_id)))
        absent.headers["X-Projection-Position"] = response.headers["X-Projection-Position"]
        return absent
    await journaliser(comp, request, u, u.departements, [(parcours_id, lu.dossier["departement"])])
    return vues.dossier(lu, _aujourd_hui(comp))


@routeur.get("/echeances", response_model=vues.ListeEcheances)
async def lister_echeances(
    *,
    comp: Comp,
    u: LecteurEcheances,
    request: Request,
    response: Response,
    departement: Departement = None,
    referent_id: Referent = None,
    avant: Annotated[Jour | None, Query(description="only deadlines due strictly before this day")] = None,
    page: NumeroPage = 1,
    taille: TaillePage = 200,
) -> vues.ListeEcheances:
    """The worklist: deadlines to act on, soonest first (the informational housing window aside)."""
    filtres = sql.FiltresEcheances(_perimetre(u, departement), referent_id, avant)
    schema = await schema_de(comp, "dossiers")
    await position(comp, schema, response)
    async with comp.pool.acquire() as conn:
        total, lignes = await sql.lister_echeances(conn, schema, filtres, sql.Page(page, taille))
    await journaliser(
        comp, request, u, filtres.departements, ((ligne["parcours_id"], ligne["departement"]) for ligne in lignes)
    )
    jour = _aujourd_hui(comp)
    return vues.ListeEcheances(
        total=total, page=page, taille=taille, echeances=[vues.travail(ligne, jour) for ligne in lignes]
    )
