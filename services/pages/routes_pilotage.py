"""Pages: pilotage (role ``encadrant``): occupancy of the lieux, the indicators, the webhooks' dead letters.

Every figure comes from the read API (``GET /v1/pilotage/occupation``, ``/v1/pilotage/indicateurs``,
``/v1/lieux/{id}/occupation``) or the notifications API (``GET /v1/abonnements/livraisons``), called with the
signed-in person's token: the APIs decide the scope (a département outside hers is a 403 page).
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from services.pages.appels import ProblemeAPI
from services.pages.definitions_pilotage import (
    DEFINITIONS_INDICATEURS,
    TYPES_LIEU,
    libelle_court_type_lieu,
    libelle_type_lieu,
    valeur_indicateur,
)
from services.pages.dependances import Comp, exiger
from services.pages.graphique import Barre, barres_svg
from services.pages.rendu import page
from services.pages.sessions import Session
from services.runtime.horloge import aujourd_hui
from services.runtime.parametres import Departement

routeur = APIRouter()

Encadrant = Annotated[Session, Depends(exiger("encadrant"))]
"""The pages' gate, as the APIs': ``/v1/pilotage/occupation`` and ``/v1/abonnements`` want an encadrant."""
ANNEES_PROPOSEES = 6
"""Years offered by the year selector: this one and the five before."""
FiltreDepartement = Annotated[Departement | None, Query()]


def _departements(s: Session) -> list[str]:
    return sorted(s.utilisateur.departements)


def _barres(par_type: list[dict[str, Any]]) -> list[Barre]:
    return [Barre(libelle_court_type_lieu(t["type_lieu"]), t["places"], t["enfants_places"]) for t in par_type]


@routeur.get("/pilotage")
async def pilotage(
    request: Request,
    comp: Comp,
    s: Encadrant,
    departement: FiltreDepartement = None,
    annee: Annotated[int | None, Query(ge=2000, le=2100)] = None,
) -> Response:
    """Occupancy per département and type of lieu (chart and table), then the year's indicators."""
    annee_courante = aujourd_hui(comp.horloge).year
    annee = annee or annee_courante
    params = {"departement": departement}
    occupation = (await comp.api.lire("projections", "/v1/pilotage/occupation", s.jeton, params=params)).donnees
    lieux = (await comp.api.lire("projections", "/v1/pilotage/lieux", s.jeton, params=params)).donnees["lieux"]
    erreur_annee = None
    indicateurs: dict[str, Any] | None = None
    try:
        indicateurs = (
            await comp.api.lire("projections", "/v1/pilotage/indicateurs", s.jeton, params={**params, "annee": annee})
        ).donnees
    except ProblemeAPI as exc:
        if exc.statut != 422:
            raise
        erreur_annee = next((e["message"] for e in exc.erreurs if e.get("champ") == "annee"), exc.detail)
    for i in (indicateurs or {}).get("indicateurs", []):
        i["valeur_texte"] = valeur_indicateur(i["unite"], i["valeur"])
        i["mediane_texte"] = valeur_indicateur("nombre_moyen", i["mediane"]) if i["mediane"] is not None else None
    blocs = []
    for dep in occupation["departements"]:
        barres = _barres(dep["par_type"])
        blocs.append(
            {
                **dep,
                "graphique": barres_svg(
                    barres,
                    ident=f"occupation-{dep['departement']}",
                    titre=f"Occupation des lieux d'accueil du département {dep['departement']}, par type de lieu",
                    description=(
                        f"Pour chaque type de lieu, les places offertes et les enfants placés aujourd'hui. "
                        f"En tout : {dep['places']} places, {dep['enfants_places']} enfants placés."
                    ),
                )
                if barres
                else None,
                "lignes": [{**t, "libelle": libelle_type_lieu(t["type_lieu"])} for t in dep["par_type"]],
                "liste_lieux": [
                    {**lieu, "libelle": libelle_type_lieu(lieu["type"])}
                    for lieu in lieux
                    if lieu["departement"] == dep["departement"]
                ],
            }
        )
    return page(
        request,
        "pilotage.html",
        titre="Pilotage",
        departements=_departements(s),
        departement=departement,
        annee=annee,
        annees=list(range(annee_courante, annee_courante - ANNEES_PROPOSEES, -1)),
        blocs=blocs,
        indicateurs=indicateurs,
        erreur_annee=erreur_annee,
        definitions=DEFINITIONS_INDICATEURS,
    )


@routeur.get("/pilotage/lieux")
async def lieu(
    request: Request, comp: Comp, s: Encadrant, lieu_id: Annotated[str | None, Query(max_length=100)] = None
) -> Response:
    """One lieu's occupancy by its identifier, and the children present followed by the person's départements."""
    erreur = None
    occupation = None
    if lieu_id:
        try:
            ident = UUID(lieu_id.strip())
        except ValueError:
            erreur = "Cet identifiant n'a pas la forme attendue (par exemple 0b9c…-…, 36 caractères)."
        else:
            try:
                occupation = (await comp.api.lire("projections", f"/v1/lieux/{ident}/occupation", s.jeton)).donnees
            except ProblemeAPI as exc:
                if exc.statut != 404:
                    raise
                erreur = "Aucun lieu d'accueil de vos départements n'a cet identifiant."
    if occupation is not None:
        occupation["libelle_type"] = libelle_type_lieu(occupation["type"])
    return page(
        request,
        "pilotage_lieu.html",
        400 if erreur else 200,
        titre="Occupation d'un lieu d'accueil",
        lieu_id=lieu_id or "",
        erreur=erreur,
        occupation=occupation,
        types=TYPES_LIEU,
    )


@routeur.get("/pilotage/livraisons")
async def livraisons(
    request: Request,
    comp: Comp,
    s: Encadrant,
    page_no: Annotated[int, Query(alias="page", ge=1, le=1_000_000)] = 1,
    rejouee: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """The dead-lettered webhook deliveries of the person's départements, oldest first, 50 a page."""
    taille = 50
    donnees = (
        await comp.api.lire(
            "notifications", "/v1/abonnements/livraisons", s.jeton,
            params={"etat": "lettre_morte", "page": page_no, "taille": taille},
        )
    ).donnees  # fmt: skip
    return _page_livraisons(request, donnees["livraisons"], page_no, taille, rejouee=rejouee)


def _page_livraisons(
    request: Request,
    liste: list[dict[str, Any]],
    page_no: int,
    taille: int,
    *,
    rejouee: str | None = None,
    erreur: str | None = None,
    statut: int = 200,
) -> Response:
    return page(
        request,
        "pilotage_livraisons.html",
        statut,
        titre="Livraisons de webhooks en échec",
        livraisons=liste,
        page_no=page_no,
        suivante=len(liste) == taille,
        rejouee=rejouee,
        erreur=erreur,
    )


@routeur.post("/pilotage/livraisons/{livraison_id}/rejeu")
async def rejouer(
    request: Request,
    comp: Comp,
    s: Encadrant,
    livraison_id: UUID,
) -> Response:
    """Put a dead letter back in the queue (``POST /v1/abonnements/livraisons/{id}/rejeu``), then the list again."""
    try:
        await comp.api.commander("notifications", f"/v1/abonnements/livraisons/{livraison_id}/rejeu", s.jeton, None)
    except ProblemeAPI as exc:
        if exc.statut not in (404, 409):
            raise
        message = (
            "Cette livraison n'existe plus ou n'est pas de vos départements."
            if exc.statut == 404
            else f"Cette livraison ne peut pas être renvoyée : {exc.detail}"
        )
        donnees = (
            await comp.api.lire("notifications", "/v1/abonnements/livraisons", s.jeton, params={"etat": "lettre_morte"})
        ).donnees
        return _page_livraisons(request, donnees["livraisons"], 1, 50, erreur=message, statut=exc.statut)
    return RedirectResponse(f"/pages/pilotage/livraisons?rejouee={livraison_id}", status_code=303)
