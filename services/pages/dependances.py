"""What every page depends on: the service's components, the signed-in session, the role, the CSRF check.

No ``from __future__ import annotations`` here: FastAPI reads the dependencies' annotations at runtime.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import asyncpg
from fastapi import Depends, Request

from services.pages.appels import ServicesAPI
from services.pages.oidc import ConnexionOIDCError, EmetteurInjoignableError
from services.pages.sessions import CookieSession, RenouvellementReporteError, Session, Sessions
from services.pages.settings import PagesSettings
from services.runtime.auth import AuthentificationError, CleDeDeveloppement, Utilisateur, authentifier
from services.runtime.horloge import Horloge

METHODES_SURES = frozenset({"GET", "HEAD", "OPTIONS"})
RENOUVELLEMENT = timedelta(seconds=60)
"""An access token is renewed when it has less than this left (a page's API calls fit in it)."""


@dataclass
class ComposantsPages:
    """The composition root of the pages (built in the lifespan, reached by ``request.app.state.pages``)."""

    settings: PagesSettings
    pool: asyncpg.Pool
    sessions: Sessions
    cookie: CookieSession
    api: ServicesAPI
    horloge: Horloge
    cle_dev: CleDeDeveloppement | None = None
    """The dev key signing and verifying the dev sign-in page's tokens; None with an issuer (no dev key is
    then created: its tokens are verified by ``oidc.verificateur()``, the issuer's JWKS, as the APIs do)."""
    oidc: Any = None
    """The OpenID Connect client (:class:`services.pages.oidc.ClientOIDC`) when sign-in goes through an issuer."""


class NonConnecteError(Exception):
    """No live session: the browser is sent to the sign-in page, then back to ``retour``."""

    def __init__(self, retour: str) -> None:
        super().__init__("connexion requise")
        self.retour = retour


class PageInterditeError(Exception):
    """The signed-in role has no access to this page (403)."""


class CsrfError(Exception):
    """A form sent without this session's CSRF token, or from another site (403)."""


def composants(request: Request) -> ComposantsPages:
    comp: ComposantsPages = request.app.state.pages
    return comp


Comp = Annotated[ComposantsPages, Depends(composants)]


def chemin_local(chemin: str | None, defaut: str) -> str:
    """``chemin`` if it is a path of these pages (never another site: no open redirect), else ``defaut``."""
    if not chemin or len(chemin) > 2000:
        return defaut
    morceaux = urlsplit(chemin)
    if morceaux.scheme or morceaux.netloc or not chemin.startswith("/pages/") or "\\" in chemin:
        return defaut
    return chemin


def _retour(request: Request) -> str:
    cible = request.url.path
    if request.url.query:
        cible += "?" + request.url.query
    return cible


async def session(request: Request, comp: Comp) -> Session:
    """The live session of the request's cookie, or ``NonConnecteError``."""
    id_session = comp.cookie.id_de(request.cookies.get(comp.cookie.nom))
    courante = await comp.sessions.lire(id_session) if id_session else None
    if courante is not None and _a_renouveler(comp, courante):
        courante = await _renouveler(comp, courante)
    if courante is None:
        raise NonConnecteError(_retour(request) if request.method in METHODES_SURES else "")
    request.state.session = courante
    return courante


def _a_renouveler(comp: ComposantsPages, s: Session) -> bool:
    """Whether the session's access token expires within the minute (the issuer's are short-lived)."""
    return s.jeton_expire_le is not None and s.jeton_expire_le - RENOUVELLEMENT <= comp.horloge.maintenant()


async def _renouveler(comp: ComposantsPages, s: Session) -> Session | None:
    """The session with a fresh access token from its refresh token, for the same person; None (and the
    session ended) when there is none, the issuer refuses, or the new token names someone else."""
    oidc = comp.oidc
    if oidc is None or s.actualisation is None:
        await comp.sessions.fermer(s.id)
        return None

    async def aupres_de_l_emetteur(actualisation: str) -> tuple[str, datetime | None, str | None, Utilisateur] | None:
        try:
            jeton, _, nouvelle = await oidc.actualiser(actualisation)
            utilisateur = await authentifier(await oidc.verificateur(), jeton)
        except EmetteurInjoignableError:
            raise RenouvellementReporteError from None
        except (ConnexionOIDCError, AuthentificationError):
            return None
        if utilisateur.sub != s.utilisateur.sub:
            return None
        expire = datetime.fromtimestamp(utilisateur.expire_le, UTC) if utilisateur.expire_le else None
        return jeton, expire, nouvelle, utilisateur

    # The claim outlasts the issuer's calls (token, then keys), each bounded by its timeout.
    delai = timedelta(seconds=3 * oidc.timeout_s)
    return await comp.sessions.renouveler(s, comp.horloge.maintenant() + RENOUVELLEMENT, aupres_de_l_emetteur, delai)


SessionCourante = Annotated[Session, Depends(session)]


def exiger(*roles: str) -> Callable[..., Awaitable[Session]]:
    """A session whose person holds one of ``roles`` (a 403 page otherwise)."""
    attendus = frozenset(roles)

    async def verifier(s: SessionCourante) -> Session:
        if not s.utilisateur.roles & attendus:
            raise PageInterditeError(f"rôle requis: {', '.join(sorted(attendus))}")
        return s

    return verifier


def meme_origine(request: Request) -> bool:
    """Whether an unsafe request comes from these pages: ``Sec-Fetch-Site`` and ``Origin``, when the browser
    sends them, name this site (OWASP CSRF cheat sheet, "verifying origin with standard headers")."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origine = request.headers.get("origin")
    if origine is None:
        return True
    # The host only, not the scheme: behind an ingress that ends TLS, the browser's origin is
    # https://host while this process sees http (Sec-Fetch-Site already tells a scheme change apart).
    morceaux = urlsplit(origine)
    return morceaux.scheme in ("http", "https") and morceaux.netloc == request.headers.get("host", "") != ""


async def csrf(request: Request, s: SessionCourante) -> None:
    """Refuse an unsafe request without this session's CSRF token (form field ``csrf`` or header
    ``X-CSRF-Token``, which htmx sends from ``hx-headers``) or coming from another site."""
    if request.method in METHODES_SURES:
        return
    if not meme_origine(request):
        raise CsrfError("requête venue d'un autre site")
    recu = request.headers.get("x-csrf-token")
    if recu is None:
        formulaire = await request.form()
        valeur = formulaire.get("csrf")
        recu = valeur if isinstance(valeur, str) else None
    if not s.csrf_valide(recu):
        raise CsrfError("jeton CSRF absent ou invalide")


def lien_connexion(retour: str) -> str:
    return "/pages/connexion" + (f"?retour={quote(retour, safe='')}" if retour else "")
