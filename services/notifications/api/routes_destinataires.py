"""``/v1/destinataires/{referent_id}``: the addresses the e-mails of the alerts go to (encadrants only).

An encadrant keeps the address of each référent of its département (and of the
encadrants: ``"encadrant": true`` makes the address receive the département's
escalations too). A recipient of another département is not disclosed (404) and
cannot be taken over (403). The address is checked strictly
(:func:`services.notifications.destinataires.adresse_valide`): a CR, an LF or any
other character that could add a header is a 422.

Wiring: the app sets ``app.state.courriels`` to an object with ``pool``
(``asyncpg.Pool``) and ``verificateur`` (:class:`services.runtime.auth.Verificateur`),
e.g. :class:`ComposantsDestinataires`, and includes :data:`routeur`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Protocol

import asyncpg
from fastapi import APIRouter, Depends, Request, Response
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

if TYPE_CHECKING:
    from typing import TypeAlias

    from asyncpg.pool import PoolConnectionProxy

    Connexion: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

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


@routeur.put("/destinataires/{referent_id}", response_model=DestinataireVue, responses=reponses(403, 404, 422))
async def enregistrer_destinataire(
    referent_id: Identifiant, corps: DestinataireSaisi, comp: Comp, u: Encadrant
) -> DestinataireVue:
    """Keep (or replace) the address the e-mails for ``referent_id`` go to; 200 with what is kept."""
    departement = _departement(u, corps.departement)
    async with comp.pool.acquire() as conn, conn.transaction():
        actuel = await destinataires.lire(conn, referent_id)
        if actuel is not None and actuel.departement not in u.departements:
            raise HorsPerimetreError(actuel.departement)
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


async def _du_perimetre(conn: Connexion, referent_id: str, u: Utilisateur) -> destinataires.Destinataire:
    d = await destinataires.lire(conn, referent_id)
    if d is None or d.departement not in u.departements:
        raise IntrouvableError("destinataire", referent_id)
    return d


@routeur.get("/destinataires/{referent_id}", response_model=DestinataireVue, responses=reponses(403, 404))
async def lire_destinataire(referent_id: Identifiant, comp: Comp, u: Encadrant) -> DestinataireVue:
    """The address kept for ``referent_id`` (404 if none, or in another département)."""
    async with comp.pool.acquire() as conn:
        return _vue(await _du_perimetre(conn, referent_id, u))


@routeur.delete("/destinataires/{referent_id}", status_code=204, responses=reponses(403, 404))
async def supprimer_destinataire(referent_id: Identifiant, comp: Comp, u: Encadrant) -> Response:
    """Forget the address of ``referent_id`` and the digest lines waiting for it; e-mails queued are not sent."""
    async with comp.pool.acquire() as conn, conn.transaction():
        await _du_perimetre(conn, referent_id, u)
        await destinataires.supprimer(conn, referent_id)
    return Response(status_code=204)
