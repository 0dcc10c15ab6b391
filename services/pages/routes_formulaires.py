"""Pages: the forms of the everyday commands, ``/pages/dossiers/{parcours_id}/actions/{slug}``.

GET shows the form of ``slug`` (:data:`services.pages.formulaires.FORMULAIRES`) for a dossier, with the
stream's version it shows (``GET /v1/parcours/{id}``) and an idempotency key of its own in hidden
fields; POST sends the command with ``If-Match`` (that version) and ``Idempotency-Key`` (that key: a double
submit records once). Recorded: a 303 to the dossier's page with ``?enregistre=<slug>``. Refused: the form
again with the values entered, each error next to its field (:mod:`services.pages.formulaires_erreurs`), or,
on a version conflict, "someone changed this dossier: reload" and a link to the fresh form. Roles
``referent`` and ``encadrant``; a dossier unknown or of another département is the 404 page.

No ``from __future__ import annotations``: FastAPI reads the dependencies' annotations at runtime.
"""

import uuid
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.pages import formulaires_libelles as lib
from services.pages.appels import ProblemeAPI
from services.pages.dependances import Comp, ComposantsPages, exiger
from services.pages.formulaires import FORMULAIRES, Formulaire, Valeurs, chemin_de, corps_de, valeurs_du_formulaire
from services.pages.formulaires_erreurs import CONFLIT_DE_VERSION, Erreurs, erreurs_du_probleme
from services.pages.rendu import date_fr, page
from services.pages.sessions import Session
from services.runtime.horloge import aujourd_hui

log = structlog.get_logger(__name__)

routeur = APIRouter()

Redacteur = Annotated[Session, Depends(exiger("referent", "encadrant"))]
CHEMIN = "/dossiers/{parcours_id}/actions/{slug}"


def _formulaire(parcours_id: str, slug: str) -> tuple[str, Formulaire]:
    """The dossier's canonical id and the form of ``slug``; the 404 page for an unknown slug or a malformed id."""
    formulaire = FORMULAIRES.get(slug)
    try:
        ident = str(uuid.UUID(parcours_id))
    except ValueError:
        formulaire = None
    if formulaire is None:
        raise StarletteHTTPException(404)
    return ident, formulaire


def _libelle_mesure(mesure: dict[str, Any]) -> str:
    nature = lib.NATURES.get(mesure["nature"], mesure["nature"])
    texte = f"{nature}, depuis le {date_fr(mesure['date_debut'])}"
    if mesure.get("date_echeance"):
        texte += f", échéance le {date_fr(mesure['date_echeance'])}"
    return texte


def _libelle_lieu(lieu: dict[str, Any], actuel: str | None) -> str:
    """``MECS Les Tilleuls (Maison d'enfants…) — 3 places libres``; a full lieu says ``complet`` (it stays a
    choice: a placement there is recorded and flagged, never refused)."""
    type_lieu = lib.TYPES_LIEU.get(lieu["type"], lieu["type"])
    texte = f"{lieu['nom']} ({type_lieu})" if lieu.get("nom") else type_lieu
    libres = int(lieu["places_libres"])
    texte += (
        " — complet"
        if libres == 0
        else f" — {libres} place{'s' if libres > 1 else ''} libre{'s' if libres > 1 else ''}"
    )
    if lieu["lieu_id"] == actuel:
        texte += " — lieu actuel"
    return texte


async def _contexte(comp: ComposantsPages, s: Session, formulaire: Formulaire, parcours_id: str) -> dict[str, Any]:
    """What the form shows of the dossier: its state's version, whose dossier, the dynamic selects' options.

    Raises ``ProblemeAPI`` 404 (the 404 page) for a dossier unknown or outside the person's départements.
    """
    etat: dict[str, Any] = (await comp.api.lire("parcours", f"/v1/parcours/{parcours_id}", s.jeton)).donnees
    identite: dict[str, Any] | None = None
    try:
        dossier = (await comp.api.lire("projections", f"/v1/dossiers/{parcours_id}", s.jeton)).donnees
        identite = dossier.get("identite") if isinstance(dossier, dict) else None
    except ProblemeAPI as exc:
        # The read side may not have the dossier yet (eventually consistent): the form works without the name.
        if exc.statut != 404:
            raise
    options: dict[str, list[tuple[str, str]]] = {}
    if "mesure" in formulaire.dynamiques:
        options["mesure"] = [(m["mesure_id"], _libelle_mesure(m)) for m in etat["mesures"] if m["active"]]
    if "ip" in formulaire.dynamiques:
        options["ip"] = [
            (ip["ip_id"], f"Reçue le {date_fr(ip['recue_le'])}")
            for ip in etat["informations_preoccupantes"]
            if not ip.get("suite")
        ]
    if "lieu" in formulaire.dynamiques:
        lieux = await comp.api.lire("projections", "/v1/lieux", s.jeton, params={"departement": etat["departement"]})
        actuel = (etat.get("accueil") or {}).get("lieu_id")
        options["lieu"] = [(lieu["lieu_id"], _libelle_lieu(lieu, actuel)) for lieu in lieux.donnees["lieux"]]
    return {"etat": etat, "identite": identite, "options": options}


def _rendre(
    request: Request,
    formulaire: Formulaire,
    parcours_id: str,
    contexte: dict[str, Any],
    *,
    valeurs: Valeurs,
    version: int,
    erreurs: Erreurs | None = None,
    statut: int = 200,
) -> Response:
    erreurs = erreurs or Erreurs()
    return page(
        request,
        "formulaire.html",
        statut,
        titre=("Erreur — " if erreurs else "") + formulaire.titre,
        formulaire=formulaire,
        parcours_id=parcours_id,
        action=f"/pages/dossiers/{parcours_id}/actions/{formulaire.slug}",
        valeurs=valeurs,
        version=version,
        # A new attempt, a new key: the same rendered form submitted twice sends the same one.
        cle_idempotence=str(uuid.uuid4()),
        erreurs=erreurs,
        conflit=CONFLIT_DE_VERSION,
        **contexte,
    )


@routeur.get(CHEMIN)
async def afficher(request: Request, parcours_id: str, slug: str, comp: Comp, s: Redacteur) -> Response:
    ident, formulaire = _formulaire(parcours_id, slug)
    contexte = await _contexte(comp, s, formulaire, ident)
    valeurs: dict[str, str | list[str]] = {c.nom: [] if c.genre == "cases" else "" for c in formulaire.champs}
    if formulaire.champ("date_effet") is not None:
        valeurs["date_effet"] = aujourd_hui(comp.horloge).isoformat()
    return _rendre(request, formulaire, ident, contexte, valeurs=valeurs, version=contexte["etat"]["version"])


def _entier(valeur: object) -> int | None:
    try:
        return int(str(valeur)) if valeur is not None else None
    except ValueError:
        return None


def _cle(valeur: object) -> str:
    """The form's idempotency key (a uuid), or a new one when it is missing or malformed."""
    try:
        return str(uuid.UUID(str(valeur)))
    except ValueError:
        return str(uuid.uuid4())


@routeur.post(CHEMIN)
async def enregistrer(request: Request, parcours_id: str, slug: str, comp: Comp, s: Redacteur) -> Response:
    ident, formulaire = _formulaire(parcours_id, slug)
    recu = await request.form()
    valeurs = valeurs_du_formulaire(formulaire, {nom: [str(v) for v in recu.getlist(nom)] for nom in recu})
    version = _entier(recu.get("version"))
    erreurs = Erreurs()
    statut = 422
    chemin, manquants = chemin_de(formulaire, ident, valeurs)
    if version is None:
        erreurs.conflit, statut = True, 409  # a form without the version it showed: reload it
    elif chemin is None:
        erreurs.par_champ.update(manquants)
    else:
        try:
            await comp.api.commander(
                "parcours",
                chemin,
                s.jeton,
                corps_de(formulaire, valeurs),
                version=version,
                cle_idempotence=_cle(recu.get("cle_idempotence")),
            )
        except ProblemeAPI as exc:
            if exc.statut not in (409, 422):
                raise
            erreurs, statut = erreurs_du_probleme(formulaire, exc), exc.statut
            log.info("formulaire_refuse", formulaire=slug, statut=exc.statut, code=exc.code,
                     regle=exc.extensions.get("regle"))  # fmt: skip
        else:
            return RedirectResponse(f"/pages/dossiers/{ident}?enregistre={slug}", status_code=303)
    contexte = await _contexte(comp, s, formulaire, ident)
    return _rendre(
        request,
        formulaire,
        ident,
        contexte,
        valeurs=valeurs,
        version=version if version is not None else contexte["etat"]["version"],
        erreurs=erreurs,
        statut=statut,
    )
