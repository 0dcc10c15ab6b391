"""Pages: the worklist (deadlines and open alerts), the acknowledgement of an alert, the search.

``GET /pages/travail``: :mod:`services.pages.liste_travail` merges ``GET /v1/echeances`` (read API) and
``GET /v1/alertes`` (notifications API), soonest first. Filters, a GET form: ``referent_id`` (absent: a
référent sees their own deadlines, an encadrant the whole département; empty: everyone's) and
``departement`` (offered when the person has several).

``POST /pages/travail/alertes/{alerte_id}/acquittement``: ``POST /v1/alertes/{id}/acquittement``; from
htmx, answers the alert's cell (swapped in place); without JavaScript, redirects to ``retour``.

``GET /pages/recherche?q=&departement=&statut=&page=``: ``GET /v1/dossiers``, 20 a page.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from services.pages.appels import ProblemeAPI
from services.pages.dependances import Comp, chemin_local, exiger
from services.pages.liste_travail import fusionner
from services.pages.rendu import page
from services.pages.sessions import Session
from services.runtime.horloge import aujourd_hui

routeur = APIRouter()

Intervenant = Annotated[Session, Depends(exiger("referent", "encadrant"))]
"""A signed-in référent or encadrant (a 403 page for any other role)."""
TAILLE_LISTE = 200
"""Deadlines and alerts read at most for one worklist (the APIs' largest page); beyond, the page says so."""
TAILLE_RECHERCHE = 20
FiltreTexte = Annotated[str | None, Query(max_length=200)]


def _departement(s: Session, demande: str | None) -> str | None:
    """The département asked for when it is the person's (else every one of theirs: no 403 page for a
    link edited by hand; the APIs would refuse it anyway)."""
    return demande if demande and demande in s.utilisateur.departements else None


def referent_par_defaut(s: Session, request: Request) -> str:
    """The référent filter: the one asked for (empty: everyone); when none was asked, a référent's own
    ``sub`` (their worklist), nothing for an encadrant (the département's)."""
    if "referent_id" in request.query_params:
        return request.query_params["referent_id"].strip()
    if "referent" in s.utilisateur.roles and "encadrant" not in s.utilisateur.roles:
        return s.utilisateur.sub
    return ""


@routeur.get("/travail")
async def travail(request: Request, comp: Comp, s: Intervenant, departement: FiltreTexte = None) -> Response:
    referent_id = referent_par_defaut(s, request)[:200]
    dep = _departement(s, departement)
    params = {"departement": dep, "referent_id": referent_id or None, "taille": TAILLE_LISTE}
    echeances = (await comp.api.lire("projections", "/v1/echeances", s.jeton, params=params)).donnees
    alertes = (await comp.api.lire("notifications", "/v1/alertes", s.jeton, params=params)).donnees
    lignes = fusionner(echeances["echeances"], alertes["alertes"], aujourd_hui(comp.horloge))
    return page(
        request,
        "travail.html",
        titre="Liste de travail",
        lignes=lignes,
        en_retard=sum(1 for ligne in lignes if ligne.en_retard),
        tronquee=echeances["total"] > len(echeances["echeances"]) or alertes["total"] > len(alertes["alertes"]),
        referent_id=referent_id,
        departement=dep or "",
        departements=sorted(s.utilisateur.departements),
        moi=s.utilisateur.sub,
        retour=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
    )


@routeur.post("/travail/alertes/{alerte_id}/acquittement")
async def acquitter(
    alerte_id: UUID, request: Request, comp: Comp, s: Intervenant, retour: Annotated[str, Form(max_length=2000)] = ""
) -> Response:
    """Acknowledge an alert (idempotent on the API's side). A closed alert (409) is said in its cell."""
    htmx = request.headers.get("hx-request") == "true"
    cible = chemin_local(retour, "/pages/travail")
    try:
        alerte: dict[str, Any] = (
            await comp.api.commander("notifications", f"/v1/alertes/{alerte_id}/acquittement", s.jeton, None)
        ).donnees
    except ProblemeAPI as exc:
        if not htmx or exc.statut != 409:
            raise
        return page(request, "travail_alerte.html", alerte=None, message=exc.detail, retour=cible)
    if htmx:
        return page(request, "travail_alerte.html", alerte=alerte, message="Alerte acquittée.", retour=cible)
    return RedirectResponse(cible, status_code=303)


@routeur.get("/recherche")
async def recherche(
    *,
    request: Request,
    comp: Comp,
    s: Intervenant,
    q: FiltreTexte = None,
    departement: FiltreTexte = None,
    statut: FiltreTexte = None,
    page_: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> Response:
    texte = (q or "").strip()
    dep = _departement(s, departement)
    etat = statut if statut in ("ouvert", "sorti") else None
    resultats = None
    if texte or dep or etat:
        params = {"q": texte, "departement": dep, "statut": etat, "page": page_, "taille": TAILLE_RECHERCHE}
        resultats = (await comp.api.lire("projections", "/v1/dossiers", s.jeton, params=params)).donnees
    pages = -(-resultats["total"] // TAILLE_RECHERCHE) if resultats else 0
    return page(
        request,
        "recherche.html",
        titre="Rechercher un dossier" + (f" — page {page_}" if resultats and page_ > 1 else ""),
        q=texte,
        departement=dep or "",
        statut_choisi=etat or "",
        departements=sorted(s.utilisateur.departements),
        resultats=resultats,
        numero=page_,
        pages=pages,
    )
