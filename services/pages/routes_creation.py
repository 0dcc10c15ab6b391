"""Pages: what a caseworker creates before the everyday commands: a new dossier (``POST /v1/parcours``) and a
new lieu d'accueil (``POST /v1/lieux``), so that a newcomer can record a placement from the pages alone.

The same machinery as the commands' forms (:mod:`services.pages.formulaires`): fields named after the
command's (API.md), an idempotency key of the form's own, the API's refusal next to its field. Roles
``referent`` and ``encadrant``, as the command API. Registered before the dossier's page: ``/dossiers/nouveau``
is not a dossier id.

No ``from __future__ import annotations``: FastAPI reads the dependencies' annotations at runtime.
"""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.pages import formulaires_libelles as lib
from services.pages.appels import ProblemeAPI
from services.pages.dependances import Comp, exiger
from services.pages.formulaires import Champ, Formulaire, Valeurs, valeurs_du_formulaire
from services.pages.formulaires_erreurs import Erreurs, erreurs_du_probleme
from services.pages.rendu import page
from services.pages.sessions import Session
from services.runtime.horloge import aujourd_hui

routeur = APIRouter()

Redacteur = Annotated[Session, Depends(exiger("referent", "encadrant"))]
SEXES = {"F": "Féminin", "M": "Masculin", "X": "Non précisé (X)"}

OUVERTURE = Formulaire(
    slug="ouverture",
    titre="Nouveau dossier",
    chemin="/v1/parcours",
    introduction="Ouvre le parcours d'un enfant. Vérifiez d'abord avec « Rechercher » qu'il n'a pas déjà un dossier.",
    bouton="Ouvrir le dossier",
    champs=(
        Champ("personne.nom", "Nom", "texte"),
        Champ("personne.prenoms", "Prénoms", "texte", aide="Tous les prénoms, comme à l'état civil."),
        Champ("personne.date_naissance", "Date de naissance", "date"),
        Champ("personne.sexe", "Sexe", "liste", choix=SEXES),
        Champ("departement", "Département", "liste"),
        Champ("date_effet", "Date d'ouverture", "date", aide="Le jour où le parcours commence (pas dans le futur)."),
        Champ("referent_id", "Référent", "texte", requis=False, aide="L'identifiant du référent ; vide : vous."),
    ),
)

LIEU = Formulaire(
    slug="lieu",
    titre="Nouveau lieu d'accueil",
    chemin="/v1/lieux",
    introduction="Référence un lieu où un enfant peut être accueilli (établissement, assistant familial…).",
    bouton="Référencer le lieu",
    champs=(
        Champ("nom", "Nom du lieu", "texte"),
        Champ("type", "Type de lieu", "liste", choix=lib.TYPES_LIEU),
        Champ("departement", "Département", "liste"),
        Champ("capacite", "Capacité (places)", "texte", aide="Un nombre entier de places."),
        Champ("finess", "Numéro FINESS", "texte", requis=False, aide="9 caractères, pour un établissement."),
    ),
)


def _corps(formulaire: Formulaire, valeurs: Valeurs) -> dict[str, Any]:
    """The command's JSON body, ``personne.nom`` nested as ``{"personne": {"nom": …}}``; empty fields left out."""
    corps: dict[str, Any] = {}
    for champ in formulaire.champs:
        valeur = valeurs.get(champ.nom)
        if not valeur:
            continue
        *parents, feuille = champ.nom.split(".")
        cible = corps
        for parent in parents:
            cible = cible.setdefault(parent, {})
        cible[feuille] = int(str(valeur)) if champ.nom == "capacite" and str(valeur).isdigit() else valeur
    return corps


def _avec_departements(formulaire: Formulaire, s: Session) -> Formulaire:
    """The form with the person's départements as the choices of ``departement``."""
    choix = {d: d for d in sorted(s.utilisateur.departements)}
    champs = tuple(
        Champ(c.nom, c.libelle, c.genre, choix=choix, aide=c.aide) if c.nom == "departement" else c
        for c in formulaire.champs
    )
    return Formulaire(formulaire.slug, formulaire.titre, formulaire.chemin, champs, formulaire.bouton,
                      formulaire.introduction)  # fmt: skip


def _rendre(
    request: Request, formulaire: Formulaire, action: str, valeurs: Valeurs, *, erreurs: Erreurs | None = None,
    code_http: int = 200, message: str = "",
) -> Response:  # fmt: skip
    return page(
        request,
        "creation.html",
        code_http,
        titre=("Erreur — " if erreurs else "") + formulaire.titre,
        formulaire=formulaire,
        action=action,
        valeurs=valeurs,
        erreurs=erreurs or Erreurs(),
        cle_idempotence=str(uuid.uuid4()),
        message=message,
    )


def _valeurs_initiales(formulaire: Formulaire, s: Session, comp: Comp) -> dict[str, str | list[str]]:
    valeurs: dict[str, str | list[str]] = {c.nom: "" for c in formulaire.champs}
    if len(s.utilisateur.departements) == 1:
        valeurs["departement"] = next(iter(s.utilisateur.departements))
    if "date_effet" in valeurs:
        valeurs["date_effet"] = aujourd_hui(comp.horloge).isoformat()
    return valeurs


async def _enregistrer(request: Request, comp: Comp, s: Session, formulaire: Formulaire, action: str) -> Response:
    recu = await request.form()
    valeurs = valeurs_du_formulaire(formulaire, {nom: [str(v) for v in recu.getlist(nom)] for nom in recu})
    try:
        cle = str(uuid.UUID(str(recu.get("cle_idempotence"))))
    except ValueError:
        cle = str(uuid.uuid4())
    corps = _corps(formulaire, valeurs)
    if formulaire.slug == OUVERTURE.slug:
        corps.setdefault("referent_id", s.utilisateur.sub)  # the caseworker who opens a dossier follows it
    try:
        reponse = await comp.api.commander("parcours", formulaire.chemin, s.jeton, corps, cle_idempotence=cle)
    except ProblemeAPI as exc:
        if exc.statut not in (409, 422):
            raise
        return _rendre(
            request, formulaire, action, valeurs, erreurs=erreurs_du_probleme(formulaire, exc), code_http=exc.statut
        )
    ident = reponse.donnees["id"]
    if formulaire.slug == OUVERTURE.slug:
        return RedirectResponse(f"/pages/dossiers/{ident}?enregistre=ouverture", status_code=303)
    return RedirectResponse(f"{action}?enregistre={ident}", status_code=303)


@routeur.get("/dossiers/nouveau")
async def nouveau_dossier(request: Request, comp: Comp, s: Redacteur) -> Response:
    formulaire = _avec_departements(OUVERTURE, s)
    return _rendre(request, formulaire, "/pages/dossiers/nouveau", _valeurs_initiales(formulaire, s, comp))


@routeur.post("/dossiers/nouveau")
async def ouvrir_dossier(request: Request, comp: Comp, s: Redacteur) -> Response:
    return await _enregistrer(request, comp, s, _avec_departements(OUVERTURE, s), "/pages/dossiers/nouveau")


@routeur.get("/lieux/nouveau")
async def nouveau_lieu(request: Request, comp: Comp, s: Redacteur, enregistre: str | None = None) -> Response:
    formulaire = _avec_departements(LIEU, s)
    message = "Le lieu est référencé : il est proposé dans les formulaires d'accueil." if enregistre else ""
    return _rendre(request, formulaire, "/pages/lieux/nouveau", _valeurs_initiales(formulaire, s, comp),
                   message=message)  # fmt: skip


@routeur.post("/lieux/nouveau")
async def referencer_lieu(request: Request, comp: Comp, s: Redacteur) -> Response:
    return await _enregistrer(request, comp, s, _avec_departements(LIEU, s), "/pages/lieux/nouveau")
