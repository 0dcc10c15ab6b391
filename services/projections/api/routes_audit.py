"""Read routes of the audit: a parcours' chronology, its bi-temporal state, the access log.

Auditors only, scoped to their départements (a dossier their départements were
never responsible for is a 404, as an unknown one). After a transfer, the
origin's auditors see the chronology up to the transfer and the reads made under
the origin; the destination's auditors the whole chronology and the reads made
under the destination (``services.projections.readmodels.audit``). Every read
here is itself recorded in the access log.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, JsonValue

from services.projections.api.dependances import (
    Auditeur,
    Comp,
    ComposantsLecture,
    journaliser,
    position,
    schema_de,
)
from services.projections.readmodels import audit
from services.projections.readmodels.bitemporel import EtatParcours, etat_au
from services.runtime import journal_acces
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
    """The auditor's département responsible for the period shown (now, or until the transfer)."""
    jusqu_a_version: int | None = None
    """After a transfer away: the transfer's version, the last shown; none: the whole history."""
    evenements: list[EvenementVue]


class EtatBitemporel(BaseModel):
    parcours_id: UUID
    date_effet: date
    """The state as it was on this date..."""
    connu_le: datetime
    """...as the records stood at this instant."""
    etat: EtatParcours


class AccesVue(BaseModel):
    """One line of the access log: one parcours a read showed (or none, for a read that found nobody)."""

    sub: str
    parcours_id: UUID | None
    """None: the read returned nobody (an empty list, a search that matched nothing)."""
    chemin: str
    """The concrete path and query string."""
    lu_le: datetime
    lecture_id: UUID | None
    """Shared by the lines of one read (none for lines recorded before it existed)."""
    service: str
    methode: str
    route: str
    """The path template, ``/v1/dossiers/{parcours_id}``."""
    termes: dict[str, list[str]]
    """The query string's values as given (a search term may be a name: auditors only)."""
    departement: str | None
    """The département the parcours was read under."""
    nb_parcours: int
    """How many parcours the read returned in all."""


class JournalAcces(BaseModel):
    elements: list[AccesVue]
    total: int
    page: int
    taille: int


async def _dossier(comp: ComposantsLecture, u: Utilisateur, parcours_id: Id) -> tuple[str, audit.Vue]:
    """The audit schema and what the caller may see of the dossier (a 404 if its départements never had it)."""
    schema = await schema_de(comp, audit.ProjectionAudit.nom)
    async with comp.pool.acquire() as conn:
        periodes = await audit.responsabilites(conn, schema, parcours_id)
    vue = audit.vue_de_l_auditeur(periodes, u.departements)
    if vue is None:
        raise IntrouvableError("dossier", parcours_id)
    return schema, vue


@routeur.get("/audit/parcours/{parcours_id}/chronologie", response_model=Chronologie, responses=reponses(404))
async def chronologie(parcours_id: Id, *, comp: Comp, u: Auditeur, request: Request, reponse: Response) -> Chronologie:
    schema, vue = await _dossier(comp, u, parcours_id)
    await position(comp, schema, reponse)
    async with comp.pool.acquire() as conn:
        evenements = await audit.evenements_du_parcours(conn, schema, parcours_id, jusqu_a_version=vue.jusqu_a_version)
    await journaliser(comp, request, u, u.departements, [(parcours_id, vue.departement)])
    return Chronologie(
        parcours_id=parcours_id,
        departement=vue.departement,
        jusqu_a_version=vue.jusqu_a_version,
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
    schema, vue = await _dossier(comp, u, parcours_id)
    await position(comp, schema, reponse)
    async with comp.pool.acquire() as conn:
        evenements = await audit.evenements_du_parcours(
            conn, schema, parcours_id, connu_le=instant, jusqu_a_version=vue.jusqu_a_version
        )
    await journaliser(comp, request, u, u.departements, [(parcours_id, vue.departement)])
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
    depuis: Annotated[Instant | None, Query(description="reads at or after this instant (RFC 3339 with zone)")] = None,
    jusqu_a: Annotated[Instant | None, Query(description="reads strictly before this instant")] = None,
    ordre: Annotated[
        Literal["recent", "ancien"], Query(description="recent: latest first (default); ancien: soonest first")
    ] = "recent",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    taille: Annotated[int, Query(ge=1, le=500)] = 50,
) -> JournalAcces:
    """Every line of the access log made under the caller's départements, filtered, one page.

    A line is a parcours a read showed; a read that showed nobody is one line
    without a parcours (still found by ``sub=``). After a transfer each side sees
    the reads made while it was responsible, and only those.
    """
    if parcours_id is None:
        schema = await schema_de(comp, audit.ProjectionAudit.nom)
    else:
        schema, _ = await _dossier(comp, u, parcours_id)
    await position(comp, schema, reponse)
    async with comp.pool.acquire() as conn:
        trouves = await journal_acces.lire_journal(
            conn,
            sorted(u.departements),
            parcours_id=parcours_id,
            sub=sub,
            depuis=depuis,
            jusqu_a=jusqu_a,
            ordre=ordre,
            page=page,
            taille=taille,
        )
    # Recorded after the query: the page shows the reads before this one.
    await journaliser(
        comp,
        request,
        u,
        u.departements,
        [(a.parcours_id, a.departement) for a in trouves.elements if a.parcours_id and a.departement],
    )
    return JournalAcces(
        elements=[
            AccesVue(
                sub=a.sub,
                parcours_id=a.parcours_id,
                chemin=a.chemin,
                lu_le=a.lu_le,
                lecture_id=a.lecture_id,
                service=a.service,
                methode=a.methode,
                route=a.route,
                termes=a.termes,
                departement=a.departement,
                nb_parcours=a.nb_parcours,
            )
            for a in trouves.elements
        ],
        total=trouves.total,
        page=page,
        taille=taille,
    )
