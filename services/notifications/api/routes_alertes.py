"""The alerts' inbox: ``GET /v1/alertes`` and ``POST /v1/alertes/{id}/acquittement`` (API.md, Notifications API).

For the référents and encadrants of a département, scoped like every read: a
caller sees the alerts of its départements (a référent sees the whole
département's, ``referent_id=`` narrows to one référent's, as the projections'
worklist does); a ``departement=`` outside them is a 403, an alert outside them
a 404 (its existence is not disclosed). Every answer is written to the access
log (``public.journal_acces``, service ``notifications``) before it leaves.

``statut``: ``ouverte`` (the default) is every alert not closed, acknowledged
ones included: an acknowledgement says "seen", the deadline is still to meet,
and only the awaited fact closes it; ``acquittee`` the acknowledged ones only;
``close`` the closed ones. An informative alert (the housing priority) leaves
the open ones once its window has ended. Soonest first: due date, then type,
key (and id).

Pages as on the read API: ``page`` (from 1) and ``taille`` (1 to 200, default
50), with the ``total`` of the alerts the filters select.

``parcours_id=`` narrows to one parcours' alerts (a dossier's page): only those are read, so only that
parcours is written to the access log, not every parcours of the département's first page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from contracts.alertes import Alerte, instant_publiable
from services.notifications import alertes
from services.notifications.api.dependances import Comp, LecteurAlertes, journaliser
from services.runtime.auth import Utilisateur
from services.runtime.documentation import RouteJson, reponses
from services.runtime.errors import HorsPerimetreError, IntrouvableError, RegleMetierError
from services.runtime.horloge import aujourd_hui
from services.runtime.parametres import Departement as CodeDepartement
from services.runtime.parametres import Id, Identifiant

routeur = APIRouter(prefix="/v1", tags=["alertes"], route_class=RouteJson)

Statut = Literal["ouverte", "acquittee", "close"]


class AlerteBoite(Alerte):
    """An alert as the inbox shows it: the :class:`~contracts.alertes.Alerte`, and who acknowledged it, when."""

    acquittee_par: str | None = None
    """The ``sub`` of who acknowledged it."""
    acquittee_le: datetime | None = None
    escaladee_le: datetime | None = None
    close_le: datetime | None = None


class ListeAlertes(BaseModel):
    total: int
    """How many alerts the filters select (every page)."""
    page: int
    taille: int
    alertes: list[AlerteBoite]


def vue(lue: alertes.AlerteLue) -> AlerteBoite:
    """The inbox's item; its times reduced to months like the alert's when its dates follow from the birth date."""
    a = lue.alerte
    return AlerteBoite(
        **a.model_dump(),
        acquittee_par=lue.acquittee_par,
        acquittee_le=instant_publiable(a, lue.acquittee_le),
        escaladee_le=instant_publiable(a, lue.escaladee_le),
        close_le=instant_publiable(a, lue.close_le),
    )


def _perimetre(u: Utilisateur, departement: str | None) -> list[str]:
    """The départements a query may read: the caller's, or the one it names if it is one of them."""
    if departement is None:
        return sorted(u.departements)
    if departement not in u.departements:
        raise HorsPerimetreError(departement)
    return [departement]


_FILTRES_STATUT: dict[str, str] = {
    "ouverte": "statut <> 'close' AND NOT (informative AND due_le < $3)",
    "acquittee": "statut = 'acquittee' AND NOT (informative AND due_le < $3)",
    "close": "statut = 'close' AND $3::date IS NOT NULL",
}
"""``$3`` is today: an informative alert whose window has ended (the housing priority, 3 years after the
sortie) has nothing left to tell, and leaves the open inbox without being closed (no change to send)."""


@routeur.get("/alertes", response_model=ListeAlertes, responses=reponses(403))
async def lister_alertes(
    *,
    comp: Comp,
    u: LecteurAlertes,
    request: Request,
    departement: Annotated[CodeDepartement | None, Query(description="code INSEE")] = None,
    referent_id: Annotated[Identifiant | None, Query()] = None,
    parcours_id: Annotated[Id | None, Query()] = None,
    statut: Annotated[Statut, Query()] = "ouverte",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    taille: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ListeAlertes:
    """The alerts of the caller's départements, soonest first (see the module for ``statut`` and pages)."""
    departements = _perimetre(u, departement)
    filtre = (
        f"FROM {alertes.TABLE} WHERE departement = ANY($1::text[]) AND ($2::text IS NULL OR referent_id = $2) "
        f"AND ($4::uuid IS NULL OR parcours_id = $4) AND {_FILTRES_STATUT[statut]}"
    )
    jour = aujourd_hui(comp.horloge)
    async with comp.pool.acquire() as conn:
        total = await conn.fetchval(f"SELECT count(*) {filtre}", departements, referent_id, jour, parcours_id)
        lignes = await conn.fetch(
            f"SELECT {alertes.COLONNES} {filtre} ORDER BY due_le, type, cle, alerte_id LIMIT $5 OFFSET $6",
            departements,
            referent_id,
            jour,
            parcours_id,
            taille,
            (page - 1) * taille,
        )
    page_lue = [alertes.lue_de(ligne) for ligne in lignes]
    await journaliser(
        comp, request, u, departements, ((lu.alerte.parcours_id, lu.alerte.departement) for lu in page_lue)
    )
    return ListeAlertes(total=int(total), page=page, taille=taille, alertes=[vue(lu) for lu in page_lue])


@routeur.post("/alertes/{alerte_id}/acquittement", response_model=AlerteBoite, responses=reponses(404, 409))
async def acquitter_alerte(alerte_id: Id, comp: Comp, u: LecteurAlertes, request: Request) -> AlerteBoite:
    """Acknowledge an alert of one's département: idempotent (acknowledged already: the alert as it is).

    Unknown or elsewhere: 404. Closed (nothing left to acknowledge): 409 ``regle_metier``, rule ``alerte_close``.
    """
    maintenant = comp.horloge.maintenant()
    async with comp.pool.acquire() as conn, conn.transaction():
        departement = await conn.fetchval(
            f"SELECT departement FROM {alertes.TABLE} WHERE alerte_id = $1 FOR UPDATE", alerte_id
        )
        if departement is None or departement not in u.departements:
            raise IntrouvableError("alerte", alerte_id)
        try:
            lue = await alertes.acquitter(conn, alerte_id, u.sub, maintenant)
        except alertes.AlerteCloseError:
            raise RegleMetierError("alerte_close", "cette alerte est close: il n'y a plus rien à acquitter") from None
    assert lue is not None
    comp.sorties.notifier()
    await journaliser(comp, request, u, [departement], [(lue.alerte.parcours_id, departement)])
    return vue(lue)
