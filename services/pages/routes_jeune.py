"""Pages of the young person (role ``jeune``): their own parcours, in plain words.

``/pages/mon-parcours`` lists the person's parcours (one: straight to it);
``/pages/mon-parcours/{parcours_id}`` shows it as a timeline. Both read
``/v1/jeune/...`` of the read API with the person's own token: the API chooses
the parcours by the token's ``personne_id`` (another's is its 404, shown as the
404 page) and records each read in the access log. No rule and no wording of
the law here beyond the headings: the plain words come from the API.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.pages.dependances import Comp, exiger
from services.pages.rendu import page
from services.pages.sessions import Session

routeur = APIRouter()

SessionJeune = Annotated[Session, Depends(exiger("jeune"))]


@routeur.get("/mon-parcours")
async def mes_parcours(request: Request, comp: Comp, s: SessionJeune) -> Response:
    """The person's parcours; with exactly one, its page (303)."""
    liste = (await comp.api.lire("projections", "/v1/jeune/parcours", s.jeton)).donnees["parcours"]
    if len(liste) == 1:
        return RedirectResponse(f"/pages/mon-parcours/{liste[0]['parcours_id']}", status_code=303)
    return page(request, "jeune_liste.html", titre="Mon parcours", parcours=liste)


@routeur.get("/mon-parcours/{parcours_id}")
async def mon_parcours(request: Request, parcours_id: UUID, comp: Comp, s: SessionJeune) -> Response:
    """One parcours of the person, as a timeline; another's (or an unknown id) is the 404 page."""
    vu = (await comp.api.lire("projections", f"/v1/jeune/parcours/{parcours_id}", s.jeton)).donnees
    return page(request, "jeune_parcours.html", titre="Mon parcours", p=vu)
