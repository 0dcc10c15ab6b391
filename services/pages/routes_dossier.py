"""Pages: one dossier (``GET /pages/dossiers/{parcours_id}``).

Read from three APIs with the signed-in person's token:

- the write side, ``GET /v1/parcours/{id}`` (the stream's current ``version``, which the forms send as
  ``If-Match``) and ``GET /v1/parcours/{id}/evenements`` (the timeline: read-your-writes, so an event
  the person just recorded is there). Unknown, or of another département: the API says 404, and so does
  the page (``ProblemeAPI`` goes to the error page; the dossier's existence is not disclosed);
- the read side, ``GET /v1/dossiers/{id}``: identity, age, measures, lieu, PPE, autonomy, deadlines. It
  follows the store's log: a dossier opened a moment ago may not be there yet (404 while the write side
  has it), then the page says so and shows the timeline;
- the notifications, ``GET /v1/alertes?parcours_id=``: the open alerts of this parcours, to acknowledge.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.pages.appels import ProblemeAPI
from services.pages.chronologie import chronologie, libelle
from services.pages.dependances import Comp
from services.pages.formulaires import COMMANDES
from services.pages.liste_travail import regle
from services.pages.rendu import page
from services.pages.routes_travail import TAILLE_LISTE, Intervenant
from services.pages.sessions import Session

routeur = APIRouter()


async def _alertes(comp: Comp, s: Session, parcours_id: UUID) -> list[Any]:
    """The open alerts of ``parcours_id`` (``parcours_id=``: only this parcours is read, and access-logged)."""
    params = {"parcours_id": str(parcours_id), "taille": TAILLE_LISTE}
    lues = (await comp.api.lire("notifications", "/v1/alertes", s.jeton, params=params)).donnees
    alertes: list[Any] = lues["alertes"]
    return alertes


@routeur.get("/dossiers/{parcours_id}")
async def dossier(parcours_id: UUID, request: Request, comp: Comp, s: Intervenant) -> Response:
    etat = (await comp.api.lire("parcours", f"/v1/parcours/{parcours_id}", s.jeton)).donnees
    evenements = (await comp.api.lire("parcours", f"/v1/parcours/{parcours_id}/evenements", s.jeton)).donnees
    try:
        vue: dict[str, Any] | None = (
            await comp.api.lire("projections", f"/v1/dossiers/{parcours_id}", s.jeton)
        ).donnees
    except ProblemeAPI as exc:
        if exc.statut != 404:
            raise
        vue = None  # the read model has not caught up with the stream yet
    alertes = await _alertes(comp, s, parcours_id)
    identite = (vue or {}).get("identite") or {}
    nom_complet = " ".join(x for x in (identite.get("prenoms"), identite.get("nom")) if x)
    return page(
        request,
        "dossier.html",
        titre=f"Dossier de {nom_complet}" if nom_complet else "Dossier",
        nom_complet=nom_complet,
        etat=etat,
        vue=vue,
        en_retard_vue=vue is not None and vue["version"] < etat["version"],
        entrees=chronologie(evenements),
        alertes=alertes,
        commandes=COMMANDES,
        libelle=libelle,
        regle=regle,
        retour=f"/pages/dossiers/{parcours_id}",
    )
