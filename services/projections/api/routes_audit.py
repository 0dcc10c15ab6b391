"""Read routes of the audit: a parcours' chronology, its bi-temporal state, the access log.

Auditors only, scoped to their départements (a dossier elsewhere is a 404, as an
unknown one). Every read here is itself recorded in the access log.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, JsonValue

from services.projections.api.dependances import (
    Auditeur,
    Comp,
    ComposantsLecture,
    journaliser_acces,
    position,
    schema_de,
)
from services.projections.readmodels import audit
from services.projections.readmodels.bitemporel import EtatParcours, etat_au
from services.runtime.auth import Utilisateur
from services.runtime.documentation import reponses
from services.runtime.errors import IntrouvableError
from services.runtime.horloge import date_civile
from services.runtime.parametres import Id, Identifiant, Instant, Jour

routeur = APIRouter(prefix="/v1", tags=["audit"])


class RectificationVue(BaseModel):
    """A correction, shown beside the event it corrects."""

    version: int
    champ: str
    ancienne_valeur: JsonValue
    nouvelle_valeur: JsonValue
    date_effet: date
    enregistre_le: datetime
    auteur: str


class EvenementVue(BaseModel):
    version: int
    type: str
    nom: str
    date_effet: date
    enregistre_le: datetime
    auteur: str
    correlation_id: str
    departement: str
    """The département it was recorded under."""
    donnees: dict[str, JsonValue]
    rectifie_version: int | None
    """For a correction (``SaisieRectifiee``): the version it corrects."""
    rectifications: list[RectificationVue]
    """The corrections recorded against this event, in their order."""


class Chronologie(BaseModel):
    parcours_id: UUID
    departement: str
    evenements: list[EvenementVue]


class EtatBitemporel(BaseModel):
    parcours_id: UUID
    date_effet: date
    """The state as it was on this date..."""
    connu_le: datetime
    """...as the records stood at this instant."""
    etat: EtatParcours


class AccesVue(BaseModel):
    sub: str
    parcours_id: UUID
    chemin: str
    lu_le: datetime


class JournalAcces(BaseModel):
    elements: list[AccesVue]
    total: int
    page: int
    taille: int


async def _dossier(comp: ComposantsLecture, u: Utilisateur, parcours_id: Id) -> tuple[str, str]:
    """The audit schema and the dossier's département, if it is one of the caller's (else a 404)."""
    schema = await schema_de(comp, audit.ProjectionAudit.nom)
    async with comp.pool.acquire() as conn:
        departement = await audit.departement_du_dossier(conn, schema, parcours_id)
    if departement is None or departement not in u.departements:
        raise IntrouvableError("dossier", parcours_id)
    return schema, departement


def _chemin(request: Request) -> str:
    """What was asked, query included (dates, ids: nothing personal)."""
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


@routeur.get("/audit/parcours/{parcours_id}/chronologie", response_model=Chronologie, responses=reponses(404))
async def chronologie(parcours_id: Id, *, comp: Comp, u: Auditeur, request: Request, reponse: Response) -> Chronologie:
    schema, departement = await _dossier(comp, u, parcours_id)
    await position(comp, schema, reponse)
    async with comp.pool.acquire() as conn:
        evenements = await audit.evenements_du_parcours(conn, schema, parcours_id)
    await journaliser_acces(comp, u, parcours_id, _chemin(request))
    return Chronologie(
        parcours_id=parcours_id,
        departement=departement,
        evenements=[_vue(entree) for entree in audit.chronologie(evenements)],
    )


def _vue(entree: audit.EntreeChronologie) -> EvenementVue:
    e = entree.evenement
    return EvenementVue(
        version=e.version,
        type=e.type,
        nom=e.nom,
        date_effet=e.date_effet,
        enregistre_le=e.enregistre_le,
        auteur=e.auteur,
        correlation_id=e.correlation_id,
        departement=e.departement,
        donnees=e.donnees,
        rectifie_version=e.version_rectifiee,
        rectifications=[
            RectificationVue(
                version=r.version,
                champ=r.donnees["champ"],
                ancienne_valeur=r.donnees["ancienne_valeur"],
                nouvelle_valeur=r.donnees["nouvelle_valeur"],
                date_effet=r.date_effet,
                enregistre_le=r.enregistre_le,
                auteur=r.auteur,
            )
            for r in entree.rectifications
        ],
    )


@routeur.get("/audit/parcours/{parcours_id}/etat", response_model=EtatBitemporel, responses=reponses(404))
async def etat(
    parcours_id: Id,
    *,
    comp: Comp,
    u: Auditeur,
    request: Request,
    reponse: Response,
    date_effet: Annotated[Jour | None, Query(description="the date the state is asked for (default: today)")] = None,
    connu_le: Annotated[
        Instant | None,
        Query(description="the instant the records are read as of, RFC 3339 with zone (default: now)"),
    ] = None,
) -> EtatBitemporel:
    maintenant = comp.horloge.maintenant()
    jour = date_effet or date_civile(maintenant)
    instant = connu_le or maintenant
    schema, _ = await _dossier(comp, u, parcours_id)
    await position(comp, schema, reponse)
    async with comp.pool.acquire() as conn:
        evenements = await audit.evenements_du_parcours(conn, schema, parcours_id, connu_le=instant)
    await journaliser_acces(comp, u, parcours_id, _chemin(request))
    return EtatBitemporel(
        parcours_id=parcours_id,
        date_effet=jour,
        connu_le=instant,
        etat=etat_au((e.fait() for e in evenements), jour, instant),
    )


@routeur.get("/audit/acces", response_model=JournalAcces, responses=reponses(404))
async def acces(
    *,
    comp: Comp,
    u: Auditeur,
    request: Request,
    reponse: Response,
    parcours_id: Id | None = None,
    sub: Annotated[Identifiant | None, Query()] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    taille: Annotated[int, Query(ge=1, le=500)] = 50,
) -> JournalAcces:
    if parcours_id is None:
        schema = await schema_de(comp, audit.ProjectionAudit.nom)
    else:
        schema, _ = await _dossier(comp, u, parcours_id)
    await position(comp, schema, reponse)
    async with comp.pool.acquire() as conn:
        trouves = await audit.journal_des_acces(
            conn, schema, sorted(u.departements), parcours_id=parcours_id, sub=sub, page=page, taille=taille
        )
    # Recorded after the query: the page shows the reads before this one.
    await journaliser_acces(comp, u, parcours_id, _chemin(request))
    return JournalAcces(
        elements=[
            AccesVue(sub=a.sub, parcours_id=a.parcours_id, chemin=a.chemin, lu_le=a.lu_le) for a in trouves.elements
        ],
        total=trouves.total,
        page=page,
        taille=taille,
    )
