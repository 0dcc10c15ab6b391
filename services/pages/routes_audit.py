"""Pages: audit (roles ``auditeur`` and ``dpo``): a parcours' chronology and its state on a date as known at
a time, the access log, and the DPO's erasure of a person with its confirmation step.

Gated as the APIs are: the audit read routes (``/v1/audit/...``) want an ``auditeur``, the erasure
(``POST /v1/personnes/{id}/effacement``) a ``dpo``; a role without access gets the 403 page before any
call. Every read goes through the read API, which records it in the access log.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from services.pages.appels import ProblemeAPI
from services.pages.definitions_pilotage import EVENEMENTS, MOTIFS_EFFACEMENT
from services.pages.dependances import Comp, exiger
from services.pages.rendu import date_fr, page
from services.pages.sessions import Session
from services.runtime.horloge import FUSEAU

routeur = APIRouter()

AuditeurOuDpo = Annotated[Session, Depends(exiger("auditeur", "dpo"))]
Auditeur = Annotated[Session, Depends(exiger("auditeur"))]
"""``/v1/audit/*`` of the read API accepts the role ``auditeur`` only."""
Dpo = Annotated[Session, Depends(exiger("dpo"))]
"""``POST /v1/personnes/{id}/effacement`` accepts the role ``dpo`` only."""
Texte = Annotated[str | None, Query(max_length=200)]
MOT_DE_CONFIRMATION = "EFFACER"
"""What the DPO types to confirm an erasure (it cannot be undone)."""


def _uuid(texte: str | None) -> UUID | None:
    try:
        return UUID(texte.strip()) if texte else None
    except ValueError:
        return None


def instant(texte: str | None) -> datetime | None:
    """A ``datetime-local`` value (``2026-11-30T10:15``, seconds and milliseconds optional), read in
    Europe/Paris, as an aware instant; None when empty; ``ValueError`` when malformed."""
    if not texte:
        return None
    valeur = datetime.fromisoformat(texte)
    return valeur if valeur.tzinfo else valeur.replace(tzinfo=FUSEAU)


def instant_fr(valeur: str) -> str:
    """An RFC 3339 instant in Paris time, to the second: ``30 novembre 2026 à 02:13:05``."""
    moment = datetime.fromisoformat(valeur).astimezone(FUSEAU)
    return f"{date_fr(moment.date())} à {moment:%H:%M:%S}"


def juste_avant(valeur: str) -> str:
    """The ``datetime-local`` value one millisecond before an instant: what was known just before it."""
    return local((datetime.fromisoformat(valeur) - timedelta(milliseconds=1)).isoformat())


def local(valeur: str | None) -> str:
    """An RFC 3339 instant as a ``datetime-local`` value in Europe/Paris, to the millisecond."""
    if not valeur:
        return ""
    moment = datetime.fromisoformat(valeur).astimezone(FUSEAU)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


@routeur.get("/audit")
async def audit(request: Request, s: AuditeurOuDpo, parcours_id: Texte = None) -> Response:
    """The auditor's entry: open a parcours by its identifier; the access log; for a DPO, the erasure."""
    erreur = None
    if parcours_id is not None:
        ident = _uuid(parcours_id)
        if ident is not None:
            return RedirectResponse(f"/pages/audit/parcours/{ident}", status_code=303)
        erreur = "Cet identifiant de parcours n'a pas la forme attendue (36 caractères, par exemple 0b9c…)."
    return page(
        request,
        "audit.html",
        400 if erreur else 200,
        titre="Audit",
        parcours_id=parcours_id or "",
        erreur=erreur,
        auditeur="auditeur" in s.utilisateur.roles,
        dpo="dpo" in s.utilisateur.roles,
    )


@routeur.get("/audit/parcours/{parcours_id}")
async def parcours(
    *,
    request: Request,
    comp: Comp,
    s: Auditeur,
    parcours_id: UUID,
    date_effet: Texte = None,
    connu_le: Texte = None,
) -> Response:
    """The chronology (corrections beside what they correct) and the state on ``date_effet`` as known at
    ``connu_le`` (both default to now; ``connu_le`` is read in Europe/Paris)."""
    erreurs: dict[str, str] = {}
    params: dict[str, Any] = {}
    if date_effet:
        params["date_effet"] = date_effet
    try:
        moment = instant(connu_le)
    except ValueError:
        erreurs["connu_le"] = "Date et heure invalides : attendu jour, mois, année, heure et minutes."
    else:
        if moment is not None:
            params["connu_le"] = moment.isoformat()
    chronologie = (await comp.api.lire("projections", f"/v1/audit/parcours/{parcours_id}/chronologie", s.jeton)).donnees
    etat = None
    try:
        etat = (
            await comp.api.lire("projections", f"/v1/audit/parcours/{parcours_id}/etat", s.jeton, params=params)
        ).donnees
    except ProblemeAPI as exc:
        if exc.statut != 422:
            raise
        for e in exc.erreurs:
            champ = str(e.get("champ", "")).rsplit(".", 1)[-1]
            if champ in ("date_effet", "connu_le"):
                erreurs[champ] = str(e.get("message", "valeur invalide"))
        if not erreurs:
            erreurs["date_effet"] = exc.detail
    for ev in chronologie["evenements"]:
        ev["libelle"] = EVENEMENTS.get(ev["nom"], ev["nom"])
        ev["enregistre_le_texte"] = instant_fr(ev["enregistre_le"])
        for r in ev["rectifications"]:
            r["enregistre_le_texte"] = instant_fr(r["enregistre_le"])
            r["connu_juste_avant"] = juste_avant(r["enregistre_le"])
    return page(
        request,
        "audit_parcours.html",
        422 if erreurs else 200,
        titre="Audit du parcours",
        parcours_id=parcours_id,
        chronologie=chronologie,
        etat=etat,
        erreurs=erreurs,
        date_effet=date_effet or (etat["date_effet"] if etat else ""),
        connu_le=connu_le or (local(etat["connu_le"]) if etat else ""),
    )


@routeur.get("/audit/acces")
async def acces(
    *,
    request: Request,
    comp: Comp,
    s: Auditeur,
    parcours_id: Texte = None,
    sub: Texte = None,
    depuis: Texte = None,
    jusqu_a: Texte = None,
    ordre: Annotated[str, Query(pattern="^(recent|ancien)$")] = "recent",
    page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> Response:
    """The access log of the person's départements (``GET /v1/audit/acces``), filtered, 50 lines a page."""
    taille = 50
    erreurs: dict[str, str] = {}
    params: dict[str, Any] = {"sub": sub, "ordre": ordre, "page": page_no, "taille": taille}
    if parcours_id:
        ident = _uuid(parcours_id)
        if ident is None:
            erreurs["parcours_id"] = "Identifiant de parcours invalide (36 caractères attendus)."
        params["parcours_id"] = ident
    for nom, valeur in (("depuis", depuis), ("jusqu_a", jusqu_a)):
        try:
            moment = instant(valeur)
        except ValueError:
            erreurs[nom] = "Date et heure invalides."
        else:
            params[nom] = moment.isoformat() if moment else None
    journal = None
    if not erreurs:
        try:
            journal = (await comp.api.lire("projections", "/v1/audit/acces", s.jeton, params=params)).donnees
        except ProblemeAPI as exc:
            if exc.statut == 404 and parcours_id:
                erreurs["parcours_id"] = "Aucun parcours de vos départements n'a cet identifiant."
            elif exc.statut == 422:
                for e in exc.erreurs:
                    champ = str(e.get("champ", "")).rsplit(".", 1)[-1]
                    erreurs[champ if champ in ("sub", "depuis", "jusqu_a", "parcours_id") else "sub"] = str(
                        e.get("message", "valeur invalide")
                    )
            else:
                raise
    for a in (journal or {}).get("elements", []):
        a["lu_le_texte"] = instant_fr(a["lu_le"])
    filtres = {"parcours_id": parcours_id, "sub": sub, "depuis": depuis, "jusqu_a": jusqu_a, "ordre": ordre}
    return page(
        request,
        "audit_acces.html",
        422 if erreurs else 200,
        titre="Journal des accès",
        journal=journal,
        erreurs=erreurs,
        filtres={k: v or "" for k, v in filtres.items()},
        page_no=page_no,
        pages=max(1, -(-journal["total"] // taille)) if journal else 1,
    )


# -- effacement (DPO) ------------------------------------------------------------------------------


@routeur.get("/audit/effacement")
async def effacement(request: Request, s: Dpo, fait: Texte = None) -> Response:
    """Step 0: the person's identifier and the motif."""
    return _page_effacement(request, etape="saisie", fait=_uuid(fait))


def _page_effacement(request: Request, statut: int = 200, **contexte: Any) -> Response:
    contexte.setdefault("personne_id", "")
    contexte.setdefault("motif", "")
    contexte.setdefault("erreurs", {})
    contexte.setdefault("fait", None)
    return page(
        request,
        "audit_effacement.html",
        statut,
        titre="Effacement de l'identité d'une personne",
        motifs=MOTIFS_EFFACEMENT,
        mot=MOT_DE_CONFIRMATION,
        **contexte,
    )


@routeur.post("/audit/effacement")
async def effacer(
    *,
    request: Request,
    comp: Comp,
    s: Dpo,
    personne_id: Annotated[str, Form(max_length=200)] = "",
    motif: Annotated[str, Form(max_length=100)] = "",
    confirmation: Annotated[str | None, Form(max_length=200)] = None,
    cle: Annotated[str | None, Form(max_length=100)] = None,
) -> Response:
    """First POST (no ``confirmation`` field): check the form, show what will be erased and ask to type
    the confirmation word. Second POST: only then ``POST /v1/personnes/{id}/effacement`` ``{motif}``."""
    erreurs: dict[str, str] = {}
    ident = _uuid(personne_id)
    if ident is None:
        erreurs["personne_id"] = "Identifiant de personne invalide (36 caractères attendus)."
    if motif not in MOTIFS_EFFACEMENT:
        erreurs["motif"] = "Choisissez le motif de l'effacement."
    if erreurs:
        return _page_effacement(request, 422, etape="saisie", personne_id=personne_id, motif=motif, erreurs=erreurs)
    assert ident is not None
    if confirmation is None:
        return _page_effacement(
            request, etape="confirmation", personne_id=str(ident), motif=motif, cle=str(uuid.uuid4())
        )
    if confirmation.strip() != MOT_DE_CONFIRMATION:
        erreurs["confirmation"] = f"Pour confirmer, tapez {MOT_DE_CONFIRMATION} en majuscules."
        return _page_effacement(
            request, 422, etape="confirmation", personne_id=str(ident), motif=motif, erreurs=erreurs,
            cle=cle or str(uuid.uuid4()),
        )  # fmt: skip
    try:
        await comp.api.commander(
            "parcours", f"/v1/personnes/{ident}/effacement", s.jeton, {"motif": motif}, cle_idempotence=cle
        )
    except ProblemeAPI as exc:
        if exc.statut == 401:
            raise
        return _page_effacement(
            request, exc.statut if exc.statut in (403, 404, 409, 422) else 400, etape="saisie",
            personne_id=str(ident), motif=motif, erreurs={"personne_id": _refus(exc)},
        )  # fmt: skip
    return RedirectResponse(f"/pages/audit/effacement?fait={ident}", status_code=303)


def _refus(exc: ProblemeAPI) -> str:
    """The API's refusal of an erasure, in plain French."""
    if exc.statut == 404:
        return "Aucune personne suivie dans vos départements n'a cet identifiant."
    if exc.statut == 403:
        return "Vous n'êtes pas délégué à la protection des données du département de cette personne."
    if exc.statut == 409 and exc.extensions.get("regle") == "identite_effacee":
        return "L'identité de cette personne est déjà effacée."
    if exc.statut == 409:
        return f"Effacement refusé : {exc.detail}"
    return f"Effacement refusé : {exc.detail or exc.titre}"
