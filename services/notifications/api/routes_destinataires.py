"""``/v1/destinataires/{referent_id}``: the addresses the e-mails of the alerts go to (encadrants only).

An encadrant keeps the address of each référent of its département (and of the
encadrants: ``"encadrant": true`` makes the address receive the département's
escalations too). A recipient is one référent in one département (the caller's, from
its token, or the one it names when its token holds several): the same ``referent_id``
in another département is another recipient, never shown, changed nor forgotten here,
and nothing tells whether it exists (a PUT creates the caller's own record). The address is checked strictly
(:func:`services.notifications.destinataires.adresse_valide`): a CR, an LF or any
other character that could add a header is a 422.

Wiring: the app sets ``app.state.courriels`` to an object with ``pool``
(``asyncpg.Pool``) and ``verificateur`` (:class:`services.runtime.auth.Verificateur`),
e.g. :class:`ComposantsDestinataires`, and includes :data:`routeur`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Protocol

import asyncpg
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from services.notifications import destinataires
from services.runtime.auth import Utilisateur, Verificateur, authentifier
from services.runtime.documentation import RouteJson, reponses
from services.runtime.errors import HorsPerimetreError, IntrouvableError, SaisieInvalideError
from services.runtime.horloge import HorlogeSysteme
from services.runtime.limites import limites_de
from services.runtime.parametres import Departement, Identifiant
from services.runtime.problemes import InterditError

routeur = APIRouter(prefix="/v1", tags=["destinataires"], route_class=RouteJson)


class ComposantsDestinataires(Protocol):
    """What the routes need from the service's composition root (``app.state.courriels``)."""

    pool: asyncpg.Pool
    verificateur: Verificateur


Adresse = Annotated[
    str,
    StringConstraints(min_length=3, max_length=destinataires.ADRESSE_MAX),
    AfterValidator(destinataires.adresse_valide),
    WithJsonSchema(
        {"type": "string", "format": "email", "maxLength": destinataires.ADRESSE_MAX, "pattern": destinataires.MOTIF}
    ),
]


class DestinataireSaisi(BaseModel):
    """The body of ``PUT /v1/destinataires/{referent_id}``."""

    model_config = ConfigDict(extra="forbid")

    email: Adresse
    """``nom@domaine.fr``: ASCII, one ``@``, a dot in the domain, 254 characters at most."""
    encadrant: bool = False
    """Also send this address the escalations (due dates passed unmet) of the département."""
    departement: Departement | None = None
    """The recipient's département; may be left out by an encadrant of a single département."""


class DestinataireVue(BaseModel):
    referent_id: str
    departement: str
    email: str
    encadrant: bool
    modifie_le: datetime = Field(description="UTC")


def _composants(request: Request) -> ComposantsDestinataires:
    comp: ComposantsDestinataires = request.app.state.courriels
    return comp


_bearer = HTTPBearer(auto_error=False)


async def _encadrant(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Utilisateur:
    u = await authentifier(
        _composants(request).verificateur,
        credentials.credentials if credentials else None,
        jeton_max=limites_de(request.app).jeton_max,
    )
    if "encadrant" not in u.roles:
        raise InterditError("rôle requis: encadrant")
    return u


Comp = Annotated[ComposantsDestinataires, Depends(_composants)]
Encadrant = Annotated[Utilisateur, Depends(_encadrant)]


def _vue(d: destinataires.Destinataire) -> DestinataireVue:
    return DestinataireVue(
        referent_id=d.referent_id,
        departement=d.departement,
        email=d.email,
        encadrant=d.encadrant,
        modifie_le=d.modifie_le,
    )


def _departement(u: Utilisateur, demande: str | None) -> str:
    if demande is not None:
        if demande not in u.departements:
            raise HorsPerimetreError(demande)
        return demande
    if len(u.departements) != 1:
        raise SaisieInvalideError("departement", "département requis: votre jeton en porte plusieurs (ou aucun)")
    return next(iter(u.departements))


DepartementDemande = Annotated[
    Departement | None,
    Query(description="The recipient's département; may be left out by an encadrant of a single département."),
]


@routeur.put("/destinataires/{referent_id}", response_model=DestinataireVue, responses=reponses(403, 404, 422))
async def enregistrer_destinataire(
    referent_id: Identifiant, corps: DestinataireSaisi, comp: Comp, u: Encadrant
) -> DestinataireVue:
    """Keep (or replace) the address the e-mails for ``referent_id`` of the département go to; 200 with what is kept.

    403 for a département outside the caller's token; 422 without a département when the token holds several.
    """
    departement = _departement(u, corps.departement)
    async with comp.pool.acquire() as conn:
        kept = await destinataires.enregistrer(
            conn,
            referent_id,
            departement,
            corps.email,
            encadrant=corps.encadrant,
            par=u.sub,
            le=HorlogeSysteme().maintenant(),
        )
    return _vue(kept)


@routeur.get("/destinataires/{referent_id}", response_model=DestinataireVue, responses=reponses(403, 404, 422))
async def lire_destinataire(
    referent_id: Identifiant, comp: Comp, u: Encadrant, departement: DepartementDemande = None
) -> DestinataireVue:
    """The address kept for ``referent_id`` in the département (``?departement=`` or the token's; 404 if none)."""
    dep = _departement(u, departement)
    async with comp.pool.acquire() as conn:
        d = await destinataires.lire(conn, dep, referent_id)
    if d is None:
        raise IntrouvableError("destinataire", referent_id)
    return _vue(d)


@routeur.delete("/destinataires/{referent_id}", status_code=204, responses=reponses(403, 404, 422))
async def supprimer_destinataire(
    referent_id: Identifiant, comp: Comp, u: Encadrant, departement: DepartementDemande = None
) -> Response:
    """Forget the address of ``referent_id`` in the département and its waiting digest lines (404 if none).

    E-mails already queued for it are not sent (no address is left to send them to).
    """
    dep = _departement(u, departement)
    async with comp.pool.acquire() as conn, conn.transaction():
        if await destinataires.lire(conn, dep, referent_id) is None:
            raise IntrouvableError("destinataire", referent_id)
        await destinataires.supprimer(conn, dep, referent_id)
    return Response(status_code=204)
