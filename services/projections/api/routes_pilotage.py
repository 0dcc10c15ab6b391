"""Read routes of the pilotage read model: occupancy, indicators, the OLINPE extract.

Every route is scoped to the caller's départements: a lieu elsewhere is a 404,
a ``departement`` filter outside them a 403; without a filter, the figures
cover all of the caller's départements. The ``X-Projection-Position`` header
is read before the data, so the data is at least as recent as it says.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from services.projections.api.dependances import (
    Comp,
    Encadrant,
    Observatoire,
    exiger,
    journaliser,
    position,
    schema_de,
)
from services.projections.readmodels import cohortes, occupation, olinpe
from services.projections.readmodels import indicateurs as ind
from services.runtime.auth import Utilisateur
from services.runtime.documentation import reponses
from services.runtime.errors import IntrouvableError
from services.runtime.horloge import aujourd_hui as aujourd_hui_de
from services.runtime.parametres import Departement, Id
from services.runtime.problemes import InterditError

routeur = APIRouter(prefix="/v1", tags=["pilotage"])

PILOTAGE = "pilotage"
LecteurOccupation = Annotated[Utilisateur, Depends(exiger("referent", "encadrant"))]
LecteurIndicateurs = Annotated[Utilisateur, Depends(exiger("encadrant", "auditeur", "observatoire"))]
"""Indicators are aggregates: the observatory may read them too."""
FiltreDepartement = Annotated[Departement | None, Query(description="un département du périmètre de l'appelant")]
Annee = Annotated[int, Query(ge=2000, le=2100, description="année civile, au plus l'année en cours")]


def perimetre(u: Utilisateur, departement: str | None) -> list[str]:
    """The départements a read covers: the one asked for (if the caller's), else all the caller's."""
    if departement is None:
        return sorted(u.departements)
    if departement not in u.departements:
        raise InterditError(f"le département {departement} est hors de votre périmètre")
    return [departement]


def verifier_annee(annee: int, comp: Comp) -> None:
    """A year to come has nothing recorded yet: a 422 says so rather than a page of zeros.

    The current year is that of today's civil date in France (on 1 January at 00:30
    in Paris, the new year has begun while UTC still says 31 December).
    """
    if annee > aujourd_hui_de(comp.horloge).year:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("query", "annee"),
                    "input": annee,
                    "msg": "l'année ne peut pas être à venir",
                }
            ]
        )


# -- occupation d'un lieu ---------------------------------------------------------------


class EnfantPresent(BaseModel):
    parcours_id: UUID
    depuis: date


class OccupationLieuVue(BaseModel):
    lieu_id: UUID
    nom: str | None
    type: str
    departement: str
    capacite: int
    finess: str | None
    ferme: bool
    ferme_le: date | None
    places: int
    """Places offered now: the capacity, 0 once the lieu is closed."""
    enfants_presents: int
    """Every child placed here now, whichever département follows them."""
    taux: float | None
    """``enfants_presents / places``; none when no place is offered."""
    sur_occupation: bool
    places_libres: int
    parcours_presents: list[EnfantPresent]
    """The children present whose parcours is in the caller's départements."""
    enfants_autres_departements: int
    """Children present followed by another département (counted, not listed)."""


@routeur.get("/lieux/{lieu_id}/occupation", response_model=OccupationLieuVue, responses=reponses(404))
async def occupation_lieu(
    lieu_id: Id, comp: Comp, u: LecteurOccupation, request: Request, response: Response
) -> OccupationLieuVue:
    schema = await schema_de(comp, PILOTAGE)
    await position(comp, schema, response)
    async with comp.pool.acquire() as conn:
        lieu = await occupation.occupation_lieu(conn, schema, lieu_id)
    if lieu is None or lieu.departement not in u.departements:
        raise IntrouvableError("lieu d'accueil", lieu_id)
    visibles = [
        EnfantPresent(parcours_id=p, depuis=depuis) for p, dep, depuis in lieu.presents if dep in u.departements
    ]
    # The children present are named by their parcours: a read of each, recorded.
    await journaliser(
        comp, request, u, u.departements, [(p, dep) for p, dep, _ in lieu.presents if dep in u.departements]
    )
    occ = lieu.occupation
    return OccupationLieuVue(
        lieu_id=lieu.lieu_id,
        nom=lieu.nom,
        type=lieu.type,
        departement=lieu.departement,
        capacite=lieu.capacite,
        finess=lieu.finess,
        ferme=lieu.ferme_le is not None,
        ferme_le=lieu.ferme_le,
        places=occ.places,
        enfants_presents=occ.enfants,
        taux=occ.taux,
        sur_occupation=occ.sur_occupation,
        places_libres=occ.places_libres,
        parcours_presents=visibles,
        enfants_autres_departements=occ.enfants - len(visibles),
    )


# -- occupation par département et type de lieu -----------------------------------------


class OccupationVue(BaseModel):
    lieux: int
    """Open lieux, and closed ones still holding a child."""
    lieux_sur_occupes: int
    places: int
    enfants_places: int
    taux: float | None
    sur_occupation: bool


class OccupationTypeVue(OccupationVue):
    type_lieu: str


class OccupationDepartementVue(OccupationVue):
    departement: str
    par_type: list[OccupationTypeVue]


class OccupationPilotage(BaseModel):
    departements: list[OccupationDepartementVue]


@routeur.get("/pilotage/occupation", response_model=OccupationPilotage)
async def occupation_pilotage(
    comp: Comp, u: Encadrant, response: Response, departement: FiltreDepartement = None
) -> OccupationPilotage:
    departements = perimetre(u, departement)
    schema = await schema_de(comp, PILOTAGE)
    await position(comp, schema, response)
    async with comp.pool.acquire() as conn:
        groupes = await occupation.occupation_par_type(conn, schema, departements)
    resultat = []
    for dep in departements:
        siens = [g for g in groupes if g.departement == dep]
        total = occupation.Occupation(sum(g.occupation.places for g in siens), sum(g.occupation.enfants for g in siens))
        resultat.append(
            OccupationDepartementVue(
                departement=dep,
                lieux=sum(g.lieux for g in siens),
                lieux_sur_occupes=sum(g.lieux_sur_occupes for g in siens),
                places=total.places,
                enfants_places=total.enfants,
                taux=total.taux,
                sur_occupation=total.sur_occupation,
                par_type=[
                    OccupationTypeVue(
                        type_lieu=g.type_lieu,
                        lieux=g.lieux,
                        lieux_sur_occupes=g.lieux_sur_occupes,
                        places=g.occupation.places,
                        enfants_places=g.occupation.enfants,
                        taux=g.occupation.taux,
                        sur_occupation=g.occupation.sur_occupation,
                    )
                    for g in siens
                ],
            )
        )
    return OccupationPilotage(departements=resultat)


# -- occupation lieu par lieu ------------------------------------------------------------


class LieuVue(BaseModel):
    lieu_id: UUID
    nom: str | None
    type: str
    departement: str
    capacite: int
    ferme_le: date | None
    places: int
    """Places offered now: the capacity, 0 once the lieu is closed."""
    enfants_presents: int
    """Every child placed here now, whichever département follows them."""
    taux: float | None
    sur_occupation: bool
    places_libres: int


class LieuxPilotage(BaseModel):
    lieux: list[LieuVue]


@routeur.get("/pilotage/lieux", response_model=LieuxPilotage)
async def lieux_pilotage(
    comp: Comp, u: Encadrant, response: Response, departement: FiltreDepartement = None
) -> LieuxPilotage:
    """Each lieu of the caller's départements (open, or closed and still holding a child) with its occupancy,
    by département, type and name. Children are counted, never listed (``/v1/lieux/{id}/occupation`` lists
    them, and records that read)."""
    departements = perimetre(u, departement)
    schema = await schema_de(comp, PILOTAGE)
    await position(comp, schema, response)
    async with comp.pool.acquire() as conn:
        lieux = await occupation.occupation_des_lieux(conn, schema, departements)
    return LieuxPilotage(
        lieux=[
            LieuVue(
                lieu_id=lieu.lieu_id,
                nom=lieu.nom,
                type=lieu.type,
                departement=lieu.departement,
                capacite=lieu.capacite,
                ferme_le=lieu.ferme_le,
                places=lieu.occupation.places,
                enfants_presents=lieu.occupation.enfants,
                taux=lieu.occupation.taux,
                sur_occupation=lieu.occupation.sur_occupation,
                places_libres=lieu.occupation.places_libres,
            )
            for lieu in lieux
        ]
    )


# -- indicateurs --------------------------------------------------------------------------


class Indicateurs(BaseModel):
    annee: int
    departements: list[str]
    calcule_le: date
    """The day "pending" is judged against (deadlines not yet passed)."""
    indicateurs: list[ind.Indicateur]


@routeur.get("/pilotage/indicateurs", response_model=Indicateurs)
async def indicateurs_pilotage(
    comp: Comp,
    u: LecteurIndicateurs,
    response: Response,
    departement: FiltreDepartement = None,
    annee: Annotated[int | None, Query(ge=2000, le=2100, description="défaut: l'année en cours")] = None,
) -> Indicateurs:
    aujourd_hui = aujourd_hui_de(comp.horloge)
    annee = aujourd_hui.year if annee is None else annee
    verifier_annee(annee, comp)
    departements = perimetre(u, departement)
    schema = await schema_de(comp, PILOTAGE)
    await position(comp, schema, response)
    async with comp.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        lieux = await cohortes.lieux_des_enfants_accueillis(conn, schema, date(annee, 12, 31), departements)
        mesures = await cohortes.mesures_debutees(conn, schema, annee, departements)
        jeunes = await cohortes.jeunes_de_17_ans(conn, schema, annee, departements)
        majorites = await cohortes.majorites(conn, schema, annee, departements)
        sorties = await cohortes.sorties(conn, schema, annee, departements)
        hotel = await cohortes.sejours_hotel(conn, schema, annee, departements)
    return Indicateurs(
        annee=annee,
        departements=departements,
        calcule_le=aujourd_hui,
        indicateurs=[
            ind.lieux_successifs(lieux),
            ind.ppe_dans_les_3_mois(mesures, aujourd_hui),
            ind.entretien_autonomie_a_17_ans(jeunes, aujourd_hui),
            ind.apjm_a_18_ans(majorites, aujourd_hui),
            ind.sorties_sans_logement(sorties),
            ind.hotel_au_plus_2_mois(hotel, aujourd_hui),
        ],
    )


# -- extrait OLINPE -----------------------------------------------------------------------

FORMATS = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


@routeur.get(
    "/statistiques/olinpe",
    response_class=Response,
    responses={
        200: {
            "content": {"application/x-ndjson": {}, "text/csv": {}},
            "description": "une ligne par début, renouvellement et fin de mesure de l'année, pseudonymisée",
        },
    },
)
async def extrait_olinpe(
    *,
    comp: Comp,
    u: Observatoire,
    request: Request,
    annee: Annee,
    departement: FiltreDepartement = None,
    format: Annotated[Literal["jsonl", "csv"], Query(description="jsonl (défaut) ou csv")] = "jsonl",
) -> Response:
    verifier_annee(annee, comp)
    departements = perimetre(u, departement)
    schema = await schema_de(comp, PILOTAGE)
    # The position is read before the rows, so the rows are at least as recent as it says.
    entetes = Response()
    await position(comp, schema, entetes)
    async with comp.pool.acquire() as conn:
        lignes = await olinpe.lignes_olinpe(conn, schema, annee, departements)
    # Pseudonymised rows name no parcours; the read itself is recorded (who took which extract).
    await journaliser(comp, request, u, departements)
    return Response(
        content=olinpe.en_csv(lignes) if format == "csv" else olinpe.en_jsonl(lignes),
        media_type=FORMATS[format],
        headers={
            "X-Projection-Position": entetes.headers["X-Projection-Position"],
            "Content-Disposition": f'attachment; filename="olinpe-{annee}.{format}"',
        },
    )
