"""The command API of API.md: request model -> application call -> response."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.parcours import commandes as c
from services.parcours.api.dependances import Composants, Cond, CondDpo
from services.parcours.api.execution import hors_boucle
from services.parcours.application import Reponse
from services.parcours.domain.contexte import Contexte
from services.parcours.domain.parcours import Parcours
from services.runtime.documentation import RouteJson, reponses
from services.runtime.parametres import Id

routeur = APIRouter(prefix="/v1", tags=["commandes"], route_class=RouteJson)


class Resultat(BaseModel):
    id: UUID
    version: int
    evenements: list[str]
    ip_id: UUID | None = None
    mesure_id: UUID | None = None
    personne_id: UUID | None = None


async def executer(comp: Composants, appel: Callable[[], Reponse]) -> JSONResponse:
    """Run a synchronous application call off the event loop, in one of the commands' slots."""
    reponse = await hors_boucle(comp, comp.limiteur, appel)
    return JSONResponse(reponse.corps, status_code=reponse.statut)


async def sur_parcours(
    comp: Composants,
    cond: Cond,
    parcours_id: UUID,
    cmd: BaseModel | None,
    action: Callable[[Parcours, Contexte], dict[str, Any] | None],
) -> JSONResponse:
    demande = cond.demande(cmd)
    return await executer(comp, lambda: comp.application.commander(parcours_id, demande, action))


def _champs(cmd: BaseModel, *sauf: str) -> dict[str, Any]:
    return {k: v for k, v in cmd if k not in sauf}


R: dict[str, Any] = {"response_model": Resultat, "responses": reponses(404, 409)}
"""A command on a stream: unknown (or elsewhere) is a 404, a rule or a version refused a 409."""
CREATION: dict[str, Any] = {"status_code": 201, "response_model": Resultat, "responses": reponses(409)}


# -- lieux d'accueil --------------------------------------------------------------


@routeur.post("/lieux", **CREATION)
async def referencer_lieu(cmd: c.ReferencerLieu, cond: Cond) -> JSONResponse:
    comp = cond.composants
    demande = cond.demande(cmd)
    return await executer(comp, lambda: comp.application.referencer_lieu(cmd, demande))


@routeur.post("/lieux/{lieu_id}/capacite", **R)
async def modifier_capacite(lieu_id: Id, cmd: c.ModifierCapacite, cond: Cond) -> JSONResponse:
    comp = cond.composants
    demande = cond.demande(cmd)
    return await executer(comp, lambda: comp.application.modifier_capacite(lieu_id, cmd, demande))


@routeur.post("/lieux/{lieu_id}/fermeture", **R)
async def fermer_lieu(lieu_id: Id, cmd: c.FermerLieu, cond: Cond) -> JSONResponse:
    comp = cond.composants
    demande = cond.demande(cmd)
    return await executer(comp, lambda: comp.application.fermer_lieu(lieu_id, cmd, demande))


# -- parcours ---------------------------------------------------------------------


@routeur.post("/parcours", **CREATION)
async def ouvrir_parcours(cmd: c.OuvrirParcours, cond: Cond) -> JSONResponse:
    comp = cond.composants
    demande = cond.demande(cmd)
    return await executer(comp, lambda: comp.application.ouvrir_parcours(cmd, demande))


@routeur.post("/parcours/{parcours_id}/informations-preoccupantes", **R)
async def recevoir_ip(parcours_id: Id, cmd: c.RecevoirInformationPreoccupante, cond: Cond) -> JSONResponse:
    comp = cond.composants
    return await sur_parcours(
        comp,
        cond,
        parcours_id,
        cmd,
        lambda p, ctx: {"ip_id": str(p.recevoir_information_preoccupante(ctx, **_champs(cmd)))},
    )


@routeur.post("/parcours/{parcours_id}/evaluations", **R)
async def conclure_evaluation(parcours_id: Id, cmd: c.ConclureEvaluation, cond: Cond) -> JSONResponse:
    comp = cond.composants
    return await sur_parcours(comp, cond, parcours_id, cmd, lambda p, ctx: p.conclure_evaluation(ctx, **_champs(cmd)))


@routeur.post("/parcours/{parcours_id}/mesures", **R)
async def decider_mesure(parcours_id: Id, cmd: c.DeciderMesure, cond: Cond) -> JSONResponse:
    comp = cond.composants
    return await sur_parcours(
        comp, cond, parcours_id, cmd, lambda p, ctx: {"mesure_id": str(p.decider_mesure(ctx, **_champs(cmd)))}
    )


@routeur.post("/parcours/{parcours_id}/mesures/{mesure_id}/renouvellement", **R)
async def renouveler_mesure(parcours_id: Id, mesure_id: Id, cmd: c.RenouvelerMesure, cond: Cond) -> JSONResponse:
    comp = cond.composants
    return await sur_parcours(
        comp, cond, parcours_id, cmd, lambda p, ctx: p.renouveler_mesure(ctx, mesure_id=mesure_id, **_champs(cmd))
    )


@routeur.post("/parcours/{parcours_id}/mesures/{mesure_id}/levee", **R)
async def lever_mesure(parcours_id: Id, mesure_id: Id, cmd: c.LeverMesure, cond: Cond) -> JSONResponse:
    comp = cond.composants
    return await sur_parcours(
        comp, cond, parcours_id, cmd, lambda p, ctx: p.lever_mesure(ctx, mesure_id=mesure_id, **_champs(cmd))
    )


@routeur.post("/parcours/{parcours_id}/accueil", **R)
async def debuter_accueil(parcours_id: Id, cmd: c.DebuterAccueil, cond: Cond) -> JSONResponse:
    comp = cond.composants
    demande = cond.demande(cmd)
    return await executer(comp, lambda: comp.application.debuter_accueil(parcours_id, cmd, demande))


@routeur.post("/parcours/{parcours_id}/accueil/changement", **R)
async def changer_lieu(parcours_id: Id, cmd: c.ChangerLieu, cond: Cond) -> JSONResponse:
    comp = cond.composants
    demande = cond.demande(cmd)
    return await executer(comp, lambda: comp.application.changer_lieu(parcours_id, cmd, demande))


@routeur.post("/parcours/{parcours_id}/accueil/fin", **R)
async def terminer_accueil(parcours_id: Id, cmd: c.TerminerAccueil, cond: Cond) -> JSONResponse:
    comp = cond.composants
    return await sur_parcours(comp, cond, parcours_id, cmd, lambda p, ctx: p.terminer_accueil(ctx, **_champs(cmd)))


@routeur.post("/parcours/{parcours_id}/fugues", **R)
async def declarer_fugue(parcours_id: Id, cmd: c.Dater, cond: Cond) -> JSONResponse:
    comp = cond.composants
    return await sur_parcours(comp, cond, parcours_id, cmd, lambda p, ctx: p.declarer_fugue(ctx, **_champs(cmd)))


@routeur.post("/parcours/{parcours_id}/fugues/fin", **R)
async def terminer_fugue(parcours_id: Id, cmd: c.Dater, cond: Cond) -> JSONResponse:
    comp = cond.composants
    return await sur_parcours(comp, cond, parcours_id, cmd, lambda p, ctx: p.terminer_fugue(ctx, **_champs(cmd)))


def _etablir_ppe(cmd: c.Dater) -> Callable[[Parcours, Contexte], None]:
    def action(p: Parcours, ctx: Contexte) -> None:
        p.etablir_ppe(ctx, **_champs(cmd))

    return action


@routeur.post("/parcours/{parcours_id}/ppe", **R)
async def etablir_ppe(parcours_id: Id, cmd: c.Dater, cond: Cond) -> JSONResponse:
    comp = cond.composants
    return await sur_parcours(comp, cond, parcours_id, cmd, _etablir_ppe(cmd))


@routeur.post("/parcours/{parcours_id}/rapports", **R)
async def produire_rapport(parcours_id: Id, cmd: c.ProduireRapport, cond: Cond) -> JSONResponse:
    comp = cond.composants
    return await sur_parcours(comp, cond, parcours_id, cmd, lambda p, ctx: p.produire_rapport(ctx, **_champs(cmd)))


@routeur.post("/parcours/{parcours_id}/entretien-autonomie", **R)
async def realiser_entretien(parcours_id: Id, cmd: c.Dater, cond: Cond) -> JSONResponse:
    comp = cond.composants
    return await sur_parcours(
        comp, cond, parcours_id, cmd, lambda p, ctx: p.realiser_entretien_autonomie(ctx, **_champs(cmd))
    )


@routeur.post("/parcours/{parcours_id}/majorite", **R)
async def atteindre_majorite(parcours_id: Id, cond: Cond, cmd: c.AtteindreMajorite | None = None) -> JSONResponse:
    comp = cond.composants
    return await sur_parcours(comp, cond, parcours_id, cmd, lambda p, ctx: p.atteindre_majorite(ctx))


@routeur.post("/parcours/{parcours_id}/accompagnement-jeune-majeur", **R)
async def accorder_apjm(parcours_id: Id, cmd: c.AccorderAPJM, cond: Cond) -> JSONResponse:
    comp = cond.composants
    return await sur_parcours(comp, cond, parcours_id, cmd, lambda p, ctx: p.accorder_apjm(ctx, **_champs(cmd)))


@routeur.post("/parcours/{parcours_id}/accompagnement-jeune-majeur/renouvellement", **R)
async def renouveler_apjm(parcours_id: Id, cmd: c.RenouvelerAPJM, cond: Cond) -> JSONResponse:
    comp = cond.composants
    return await sur_parcours(comp, cond, parcours_id, cmd, lambda p, ctx: p.renouveler_apjm(ctx, **_champs(cmd)))


@routeur.post("/parcours/{parcours_id}/accompagnement-jeune-majeur/fin", **R)
async def terminer_apjm(parcours_id: Id, cmd: c.TerminerAPJM, cond: Cond) -> JSONResponse:
    comp = cond.composants
    return await sur_parcours(comp, cond, parcours_id, cmd, lambda p, ctx: p.terminer_apjm(ctx, **_champs(cmd)))


@routeur.post("/parcours/{parcours_id}/sortie", **R)
async def sortir(parcours_id: Id, cmd: c.Sortir, cond: Cond) -> JSONResponse:
    comp = cond.composants
    return await sur_parcours(comp, cond, parcours_id, cmd, lambda p, ctx: p.sortir(ctx, **_champs(cmd)))


@routeur.post("/parcours/{parcours_id}/reouverture", **R)
async def rouvrir(parcours_id: Id, cmd: c.Rouvrir, cond: Cond) -> JSONResponse:
    comp = cond.composants
    return await sur_parcours(comp, cond, parcours_id, cmd, lambda p, ctx: p.rouvrir(ctx, **_champs(cmd)))


@routeur.post("/parcours/{parcours_id}/transfert", **R)
async def transferer(parcours_id: Id, cmd: c.Transferer, cond: Cond) -> JSONResponse:
    comp = cond.composants
    return await sur_parcours(comp, cond, parcours_id, cmd, lambda p, ctx: p.transferer(ctx, **_champs(cmd)))


@routeur.post("/parcours/{parcours_id}/referent", **R)
async def designer_referent(parcours_id: Id, cmd: c.DesignerReferent, cond: Cond) -> JSONResponse:
    comp = cond.composants
    return await sur_parcours(comp, cond, parcours_id, cmd, lambda p, ctx: p.designer_referent(ctx, **_champs(cmd)))


@routeur.post("/parcours/{parcours_id}/rectifications", **R)
async def rectifier(parcours_id: Id, cmd: c.Rectifier, cond: Cond) -> JSONResponse:
    comp = cond.composants
    demande = cond.demande(cmd)
    return await executer(comp, lambda: comp.application.rectifier(parcours_id, cmd, demande))


# -- effacement (crypto-shredding) ---------------------------------------------------


@routeur.post("/personnes/{personne_id}/effacement", response_model=Resultat, responses=reponses(403, 404, 409))
async def effacer_identite(personne_id: Id, cmd: c.EffacerIdentite, cond: CondDpo) -> JSONResponse:
    """Erase a person's identity: ``IdentiteEffacee`` and the destruction of her data key, in one commit.

    Role ``dpo`` of the département of her parcours (403 without it, 404 elsewhere); erasing twice is
    a 409 (rule ``identite_effacee``). From then on no route shows her name or birth date.
    """
    comp = cond.composants
    demande = cond.demande(cmd)
    return await executer(comp, lambda: comp.application.effacer_personne(personne_id, cmd.motif.value, demande))
