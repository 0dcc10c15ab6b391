"""``/v1/abonnements``: webhook subscriptions of a département, and their dead letters.

Encadrants only, each on the département(s) of their token. Wiring (the
service's app): ``app.state.abonnements = ComposantsAbonnements(pool,
verificateur, settings)`` in the lifespan, ``app.include_router(routeur)``,
:func:`services.notifications.abonnements.creer_tables` at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final, Literal
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from droit.echeances import TypeEcheance
from services.notifications import abonnements, adresses
from services.notifications.settings import NotificationsSettings
from services.runtime.auth import Utilisateur, Verificateur, authentifier
from services.runtime.documentation import RouteJson, reponses
from services.runtime.errors import HorsPerimetreError, IntrouvableError, RegleMetierError
from services.runtime.horloge import Horloge, HorlogeSysteme
from services.runtime.limites import limites_de
from services.runtime.parametres import Departement, Id
from services.runtime.problemes import InterditError, probleme

TYPES_ABONNABLES: Final = (*(t.value for t in TypeEcheance), abonnements.TOUS)
"""What ``types`` may hold: a deadline type (``droit.echeances.TypeEcheance``) or ``*`` (all)."""
TYPES_MAX: Final = len(TYPES_ABONNABLES)
ABONNEMENTS_MAX: Final = 50
"""Active subscriptions of one département."""


@dataclass
class ComposantsAbonnements:
    """What the routes need, set on ``app.state.abonnements`` by the service's lifespan."""

    pool: asyncpg.Pool
    verificateur: Verificateur
    settings: NotificationsSettings
    horloge: Horloge | None = None
    resolveur: adresses.Resolveur | None = None
    """The DNS resolver of the SSRF check; None: ``getaddrinfo``."""


async def composants(request: Request) -> ComposantsAbonnements:
    comp: ComposantsAbonnements = request.app.state.abonnements
    return comp


_bearer = HTTPBearer(auto_error=False)


async def encadrant(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Utilisateur:
    """The caller, who must be an encadrant."""
    comp: ComposantsAbonnements = request.app.state.abonnements
    u = await authentifier(
        comp.verificateur, credentials.credentials if credentials else None, jeton_max=limites_de(request.app).jeton_max
    )
    if "encadrant" not in u.roles:
        raise InterditError("rôle requis: encadrant")
    return u


Comp = Annotated[ComposantsAbonnements, Depends(composants)]
Encadrant = Annotated[Utilisateur, Depends(encadrant)]

routeur = APIRouter(prefix="/v1/abonnements", tags=["webhooks"], route_class=RouteJson)

creer_tables = abonnements.creer_tables
"""The subscriptions' and deliveries' tables (and the outbox's): call at start-up."""


def _type_connu(valeur: str) -> str:
    if valeur not in TYPES_ABONNABLES:
        raise ValueError(f"type inconnu: attendu un type d'échéance ou '{abonnements.TOUS}'")
    return valeur


TypeAbonnable = Annotated[
    str, Field(max_length=64, json_schema_extra={"enum": list(TYPES_ABONNABLES)}), AfterValidator(_type_connu)
]


class NouvelAbonnement(BaseModel):
    """``POST /v1/abonnements``."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=adresses.URL_MAX)
    """Where alerts are POSTed: https (http outside production), a public address."""
    types: list[TypeAbonnable] = Field(min_length=1, max_length=TYPES_MAX)
    """Deadline types to receive (``droit.echeances.TypeEcheance`` values), or ``["*"]``."""
    departement: Departement | None = None
    """Needed only when the caller's token names several départements."""


class AbonnementVue(BaseModel):
    abonnement_id: UUID
    departement: str
    url: str
    types: list[str]
    etat: Literal["actif", "desactive"]
    """``desactive``: the receiver answered 410 Gone; nothing more is sent."""
    cree_le: datetime


class AbonnementCree(AbonnementVue):
    secret: str
    """``whsec_<base64>``: shown now and never again; verify deliveries with it."""


class ListeAbonnements(BaseModel):
    abonnements: list[AbonnementVue]


class LivraisonVue(BaseModel):
    livraison_id: UUID
    abonnement_id: UUID
    message_id: str
    """The ``webhook-id`` header of every try."""
    type: str
    """The alert change (``alerte_levee``...)."""
    alerte_id: UUID
    etat: Literal["en_attente", "livree", "lettre_morte", "annulee"]
    tentatives: int
    prochaine_tentative: datetime
    dernier_statut: int | None
    derniere_erreur: str | None
    """An error class (``statut_http``, ``delai_depasse``, ``connexion``, ``adresse_refusee``...)."""
    creee_le: datetime
    modifiee_le: datetime


class ListeLivraisons(BaseModel):
    livraisons: list[LivraisonVue]


def _vue(a: abonnements.Abonnement) -> dict[str, Any]:
    return {
        "abonnement_id": a.abonnement_id,
        "departement": a.departement,
        "url": a.url,
        "types": list(a.types),
        "etat": a.etat,
        "cree_le": a.cree_le,
    }


def _livraison(lv: abonnements.Livraison) -> LivraisonVue:
    return LivraisonVue(
        livraison_id=lv.livraison_id,
        abonnement_id=lv.abonnement_id,
        message_id=lv.message_id,
        type=lv.type,
        alerte_id=lv.alerte_id,
        etat=lv.etat,
        tentatives=lv.tentatives,
        prochaine_tentative=lv.prochaine_tentative,
        dernier_statut=lv.dernier_statut,
        derniere_erreur=lv.derniere_erreur,
        creee_le=lv.creee_le,
        modifiee_le=lv.modifiee_le,
    )


def _maintenant(comp: ComposantsAbonnements) -> datetime:
    return (comp.horloge or HorlogeSysteme()).maintenant()


def _departement(u: Utilisateur, demande: str | None) -> str:
    """The département a subscription is for: the one named (if the caller's), or the caller's only one."""
    if demande is not None:
        if demande not in u.departements:
            raise HorsPerimetreError(demande)
        return demande
    if len(u.departements) != 1:
        raise InterditError(
            "votre jeton nomme plusieurs départements (ou aucun): précisez 'departement'"
            if u.departements
            else "votre jeton ne nomme aucun département"
        )
    return next(iter(u.departements))


def _url_refusee(message: str) -> JSONResponse:
    return probleme(
        422,
        "validation",
        "Requête invalide",
        "1 champ(s) invalide(s)",
        [{"champ": "url", "message": message, "type": "adresse_refusee"}],
    )


@routeur.post("", status_code=status.HTTP_201_CREATED, response_model=AbonnementCree, responses=reponses(409))
async def creer(corps: NouvelAbonnement, comp: Comp, u: Encadrant) -> AbonnementCree | JSONResponse:
    """Subscribe a URL to the alerts of the caller's département; the answer shows the signing secret ONCE.

    The URL must be https (http outside production) and its host resolve only to
    public addresses (loopback with ``ASE_WEBHOOKS_LOOPBACK``): else 422, ``type: adresse_refusee``.
    """
    departement = _departement(u, corps.departement)
    try:
        c = adresses.cible(corps.url, http_permis=comp.settings.mode != "production")
        await adresses.resoudre(c, loopback=comp.settings.webhooks_loopback, resolveur=comp.resolveur)
    except adresses.AdresseRefuseeError as exc:
        return _url_refusee(str(exc))
    async with comp.pool.acquire() as conn, conn.transaction():
        # One at a time per département, so the bound below holds under concurrent requests.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('webhooks:' || $1))", departement)
        actifs = await conn.fetchval(
            f"SELECT count(*) FROM {abonnements.SCHEMA}.abonnements WHERE departement = $1 AND etat = '{abonnements.ACTIF}'",
            departement,
        )
        if actifs >= ABONNEMENTS_MAX:
            raise RegleMetierError("abonnements_max", f"au plus {ABONNEMENTS_MAX} abonnements actifs par département")
        abonnement, secret = await abonnements.creer_abonnement(
            conn,
            departement=departement,
            url=corps.url,
            types=corps.types,
            cree_par=u.sub,
            maintenant=_maintenant(comp),
        )
    return AbonnementCree(**_vue(abonnement), secret=secret)


@routeur.get("", response_model=ListeAbonnements)
async def lister(comp: Comp, u: Encadrant) -> ListeAbonnements:
    """The subscriptions of the caller's départements (never their secrets)."""
    async with comp.pool.acquire() as conn:
        liste = await abonnements.lister_abonnements(conn, sorted(u.departements))
    return ListeAbonnements(abonnements=[AbonnementVue(**_vue(a)) for a in liste])


@routeur.get("/livraisons", response_model=ListeLivraisons)
async def lister_livraisons(
    *,
    comp: Comp,
    u: Encadrant,
    etat: Literal["lettre_morte", "en_attente", "livree", "annulee"] = "lettre_morte",
    abonnement_id: Annotated[Id | None, Query()] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    taille: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ListeLivraisons:
    """The deliveries of the caller's départements in ``etat`` (default: the dead letters), oldest first."""
    async with comp.pool.acquire() as conn:
        livraisons = await abonnements.lister_livraisons(
            conn,
            sorted(u.departements),
            etat,
            abonnement_id=abonnement_id,
            limite=taille,
            decalage=(page - 1) * taille,
        )
    return ListeLivraisons(livraisons=[_livraison(lv) for lv in livraisons])


@routeur.post("/livraisons/{livraison_id}/rejeu", response_model=LivraisonVue, responses=reponses(404, 409))
async def rejouer(livraison_id: Id, comp: Comp, u: Encadrant) -> LivraisonVue:
    """Send a dead letter again: back in the queue, due now, its tries counted from zero (409 if not a dead letter)."""
    async with comp.pool.acquire() as conn:
        try:
            livraison = await abonnements.rejouer(conn, livraison_id, sorted(u.departements), _maintenant(comp))
        except abonnements.RejeuImpossibleError as exc:
            raise RegleMetierError("rejeu_lettre_morte", str(exc)) from None
    if livraison is None:
        raise IntrouvableError("livraison", livraison_id)
    return _livraison(livraison)


@routeur.get("/{abonnement_id}", response_model=AbonnementVue, responses=reponses(404))
async def lire(abonnement_id: Id, comp: Comp, u: Encadrant) -> AbonnementVue:
    """One subscription of the caller's départements (never its secret)."""
    async with comp.pool.acquire() as conn:
        abonnement = await abonnements.lire_abonnement(conn, abonnement_id, sorted(u.departements))
    if abonnement is None:
        raise IntrouvableError("abonnement", abonnement_id)
    return AbonnementVue(**_vue(abonnement))


@routeur.delete(
    "/{abonnement_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, responses=reponses(404)
)
async def supprimer(abonnement_id: Id, comp: Comp, u: Encadrant) -> Response:
    """Delete a subscription: nothing more is sent to it, its pending deliveries are cancelled."""
    async with comp.pool.acquire() as conn:
        supprime = await abonnements.supprimer_abonnement(
            conn, abonnement_id, sorted(u.departements), _maintenant(comp)
        )
    if not supprime:
        raise IntrouvableError("abonnement", abonnement_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
