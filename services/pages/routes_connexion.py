"""Signing in and out: the dev sign-in page (a role, départements, the dev key), or the OIDC issuer.

The dev page exists only outside production and without an issuer configured; it mints the same
token ``ase token`` prints, verified as every API verifies it, and opens a session with it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.responses import HTMLResponse

from services.pages.dependances import Comp, ComposantsPages, CsrfError, chemin_local, csrf, meme_origine, session
from services.pages.oidc import ConnexionOIDCError
from services.pages.rendu import page
from services.pages.sessions import Session
from services.runtime.auth import ROLE_JEUNE, AuthentificationError, Utilisateur, authentifier
from services.runtime.parametres import DEPARTEMENTS

routeur = APIRouter()

ACCUEIL = "/pages/"
COOKIE_CSRF_CONNEXION = "ase_csrf_connexion"
COOKIE_CONNEXION = "ase_connexion"
"""Prefix of the cookies binding a sign-in at the issuer to the browser that started it (kept hashed server-side)."""


def cookie_connexion(etat: str) -> str:
    """The cookie of the sign-in ``etat`` (its SHA-256, shortened: a cookie name is a token, RFC 6265)."""
    return f"{COOKIE_CONNEXION}_{hashlib.sha256(etat.encode()).hexdigest()[:20]}"


ROLES_DES_PAGES = {
    "referent": "Référent (travailleur social)",
    "encadrant": "Encadrant (responsable de service)",
    "auditeur": "Auditeur",
    "dpo": "Délégué à la protection des données",
    ROLE_JEUNE: "Jeune (mon parcours)",
}
"""The roles that have pages, as the dev sign-in page offers them."""


def poser_session(comp: ComposantsPages, reponse: Response, session: Session) -> None:
    reponse.set_cookie(
        comp.cookie.nom,
        comp.cookie.valeur(session.id),
        max_age=comp.settings.pages_session_duree_s,
        path="/",
        secure=comp.cookie.securise,
        httponly=True,
        samesite="lax",
    )


def _page_connexion(
    request: Request,
    comp: ComposantsPages,
    retour: str,
    erreurs: dict[str, str] | None = None,
    statut: int = 200,
    *,
    valeurs: dict[str, str] | None = None,
) -> HTMLResponse:
    """The sign-in page; after a refusal, the values entered kept and each error beside its field."""
    jeton_csrf = secrets.token_urlsafe(32)
    request.state.csrf = jeton_csrf
    reponse = page(
        request,
        "connexion.html",
        statut,
        titre=("Erreur — " if erreurs else "") + "Connexion",
        valeurs=valeurs or {"role": "referent", "departements": "59", "sub": "", "personne_id": ""},
        oidc=comp.oidc is not None,
        roles=ROLES_DES_PAGES,
        departements=DEPARTEMENTS,
        retour=retour,
        erreurs=erreurs or {},
    )
    reponse.set_cookie(
        COOKIE_CSRF_CONNEXION, jeton_csrf, max_age=1800, path="/pages/connexion",
        secure=comp.cookie.securise, httponly=True, samesite="strict",
    )  # fmt: skip
    return reponse


@routeur.get("/connexion", response_class=HTMLResponse)
async def connexion(
    request: Request, comp: Comp, retour: Annotated[str | None, Query(max_length=2000)] = None
) -> Response:
    return _page_connexion(request, comp, chemin_local(retour, ACCUEIL))


@routeur.post("/connexion", response_class=HTMLResponse)
async def connexion_dev(  # noqa: PLR0917 (FastAPI reads one form field per parameter)
    request: Request,
    comp: Comp,
    role: Annotated[str, Form(max_length=40)],
    departements: Annotated[str, Form(max_length=400)] = "",
    sub: Annotated[str, Form(max_length=200)] = "",
    personne_id: Annotated[str, Form(max_length=40)] = "",
    retour: Annotated[str, Form(max_length=2000)] = ACCUEIL,
    jeton_csrf: Annotated[str, Form(alias="csrf", max_length=100)] = "",
) -> Response:
    """The dev sign-in (404 in production or with an issuer): a dev token for the chosen role and départements."""
    if comp.cle_dev is None:
        return page(request, "erreur.html", 404, titre="Page introuvable", message="Cette page n'existe pas.")
    attendu = request.cookies.get(COOKIE_CSRF_CONNEXION, "")
    if not meme_origine(request) or not attendu or not secrets.compare_digest(attendu.encode(), jeton_csrf.encode()):
        raise CsrfError("jeton CSRF de connexion absent ou invalide")
    retour = chemin_local(retour, ACCUEIL)
    erreurs: dict[str, str] = {}
    if role not in ROLES_DES_PAGES:
        erreurs["role"] = "Choisissez un rôle de la liste."
    codes = sorted({c for c in departements.replace(",", " ").split() if c})
    if not codes:
        erreurs["departements"] = "Indiquez au moins un département (code INSEE, par exemple 59)."
    elif inconnus := [c for c in codes if c not in DEPARTEMENTS]:
        erreurs["departements"] = f"Code(s) de département inconnu(s) : {', '.join(inconnus[:5])}."
    personne: UUID | None = None
    if role == ROLE_JEUNE:
        try:
            personne = UUID(personne_id.strip())
        except ValueError:
            erreurs["personne_id"] = "Le rôle jeune demande l'identifiant de la personne (un UUID)."
    sub_saisi = sub
    sub = sub.strip() or f"dev-{role}"
    if erreurs:
        saisies = {"role": role, "departements": departements, "sub": sub_saisi, "personne_id": personne_id}
        return _page_connexion(request, comp, retour, erreurs, 422, valeurs=saisies)
    jeton = comp.cle_dev.signer(
        sub=sub, roles=[role], departements=codes, duree_s=comp.settings.duree_jeton_dev_s, personne_id=personne
    )
    try:
        utilisateur = await authentifier(comp.cle_dev, jeton)
    except AuthentificationError as exc:
        return _page_connexion(request, comp, retour, {"sub": str(exc)}, 422)
    return await _ouvrir(comp, utilisateur, jeton, retour)


async def _ouvrir(
    comp: ComposantsPages, utilisateur: Utilisateur, jeton: str, retour: str, actualisation: str | None = None
) -> Response:
    expire = datetime.fromtimestamp(utilisateur.expire_le, UTC) if utilisateur.expire_le else None
    session = await comp.sessions.ouvrir(utilisateur, jeton, expire, actualisation)
    reponse = RedirectResponse(retour, status_code=303)
    poser_session(comp, reponse, session)
    reponse.delete_cookie(COOKIE_CSRF_CONNEXION, path="/pages/connexion")
    return reponse


def _redirect_uri(request: Request, comp: ComposantsPages) -> str:
    return comp.settings.pages_oidc_redirect_uri or str(request.url_for("connexion_retour"))


@routeur.get("/connexion/oidc")
async def connexion_oidc(
    request: Request, comp: Comp, retour: Annotated[str | None, Query(max_length=2000)] = None
) -> Response:
    """Off to the issuer's authorization endpoint, with ``state``, a PKCE challenge (S256) and a ``nonce``."""
    if comp.oidc is None:
        return page(request, "erreur.html", 404, titre="Page introuvable", message="Cette page n'existe pas.")
    try:
        url, etat, verificateur, nonce = await comp.oidc.autorisation(_redirect_uri(request, comp))
    except Exception:  # the issuer is unreachable or its discovery document unusable
        return page(request, "erreur.html", 503, titre="Connexion indisponible",
                    message="Le service d'identification ne répond pas. Réessayez dans quelques minutes.")  # fmt: skip
    navigateur = secrets.token_urlsafe(32)
    await comp.sessions.commencer_connexion(etat, verificateur, nonce, chemin_local(retour, ACCUEIL), navigateur)
    reponse = RedirectResponse(url, status_code=303)
    # Binds the sign-in to this browser: Lax, so the issuer's top-level redirect back carries it; one per
    # state, so that two tabs signing in at once each come back.
    reponse.set_cookie(
        cookie_connexion(etat), navigateur, max_age=600, path="/pages/connexion",
        secure=comp.cookie.securise, httponly=True, samesite="lax",
    )  # fmt: skip
    return reponse


@routeur.get("/connexion/retour", name="connexion_retour")
async def connexion_retour(
    request: Request,
    comp: Comp,
    code: Annotated[str | None, Query(max_length=2000)] = None,
    state: Annotated[str | None, Query(max_length=200)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The issuer sends the browser back here: redeem the code, verify the tokens, open the session.

    Only in the browser that started the sign-in (its cookie ``ase_connexion``): a callback URL opened
    elsewhere (login CSRF, a leaked URL) opens nothing."""
    if comp.oidc is None:
        return page(request, "erreur.html", 404, titre="Page introuvable", message="Cette page n'existe pas.")
    navigateur = request.cookies.get(cookie_connexion(state), "") if state else ""
    if error is not None:
        if state and navigateur:
            await comp.sessions.abandonner_connexion(state, navigateur)
        return page(request, "erreur.html", 401, titre="Connexion annulée",
                    message="La connexion a été annulée ou refusée par le service d'identification. Reconnectez-vous.")  # fmt: skip
    attente = await comp.sessions.terminer_connexion(state, navigateur) if state and code and navigateur else None
    if attente is None:
        return page(request, "erreur.html", 400, titre="Connexion interrompue",
                    message="Cette connexion a expiré ou a déjà servi. Reconnectez-vous.")  # fmt: skip
    verificateur, nonce, retour = attente
    try:
        jeton, _, actualisation, sub_id = await comp.oidc.jeton(
            _redirect_uri(request, comp), code or "", verificateur, nonce
        )
        utilisateur = await authentifier(await comp.oidc.verificateur(), jeton)
        if utilisateur.sub != sub_id:
            # OpenID Connect Core 3.1.3.7: the ID token and the access token name the same person.
            raise ConnexionOIDCError("id_token et access_token de personnes différentes")
    except (ConnexionOIDCError, AuthentificationError):
        return page(request, "erreur.html", 401, titre="Connexion refusée",
                    message="Le service d'identification n'a pas permis d'ouvrir une session. Reconnectez-vous.")  # fmt: skip
    reponse = await _ouvrir(comp, utilisateur, jeton, retour, actualisation)
    reponse.delete_cookie(cookie_connexion(state or ""), path="/pages/connexion")
    return reponse


@routeur.post("/deconnexion")
async def deconnexion(request: Request, comp: Comp) -> Response:
    """Sign out: the session row is deleted and the cookie cleared (CSRF-checked like every form)."""
    courante = await session(request, comp)
    await csrf(request, courante)
    await comp.sessions.fermer(courante.id)
    reponse = RedirectResponse("/pages/connexion", status_code=303)
    reponse.delete_cookie(comp.cookie.nom, path="/", secure=comp.cookie.securise, httponly=True, samesite="lax")
    return reponse
