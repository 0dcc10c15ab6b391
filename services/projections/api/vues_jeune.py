"""What the young person's routes return: their own parcours in plain words.

Never another person's name (the lieux named after a person are shown by their
type only), never a caseworker's free text (motifs, references of decisions),
never the référent (neither name nor id), never the informations
préoccupantes (their origin and dangers concern others).
"""

from __future__ import annotations

from datetime import date
from typing import Literal
from uuid import UUID

import asyncpg
from pydantic import BaseModel

from droit.echeances import TypeEcheance
from services.projections.api import vues_dossiers
from services.projections.readmodels.parcours_jeune import ParcoursDuJeune, Sejour

LIEUX: dict[str, str] = {
    "assistant_familial": "Chez un assistant familial ou une assistante familiale (famille d'accueil)",
    "mecs": "Dans une maison d'enfants à caractère social (MECS)",
    "foyer_enfance": "Dans un foyer de l'enfance",
    "pouponniere": "Dans une pouponnière",
    "lieu_de_vie": "Dans un lieu de vie et d'accueil",
    "village_enfants": "Dans un village d'enfants",
    "tiers_digne_de_confiance": "Chez une personne de confiance (tiers digne de confiance)",
    "placement_domicile": "À la maison, avec un placement à domicile",
    "logement_autonome": "Dans un logement autonome",
    "hotel": "À l'hôtel",
    "hebergement_derogatoire": "Dans un hébergement pour jeunes (hébergement temporaire)",
}
"""Each lieu type in plain words (``contracts.vocabulaire.TypeLieu``)."""

NATURES: dict[str, str] = {
    "accueil_provisoire": "Accueil provisoire",
    "aed": "Aide éducative à domicile (AED)",
    "accueil_urgence": "Accueil d'urgence",
    "accueil_72h": "Accueil de 72 heures",
    "opp": "Placement provisoire décidé en urgence (OPP)",
    "confiage_ase": "Placement à l'aide sociale à l'enfance, décidé par le juge",
    "aemo": "Aide éducative en milieu ouvert (AEMO), décidée par le juge",
    "aemo_renforcee": "Aide éducative en milieu ouvert renforcée (AEMO renforcée)",
    "tiers_digne_de_confiance": "Confié·e à une personne de confiance par le juge",
    "dap": "Délégation de l'autorité parentale",
    "tutelle": "Tutelle",
}
"""Each measure's nature in plain words (``contracts.vocabulaire.Nature``)."""


class Droit(BaseModel):
    titre: str
    texte: str
    reference: str | None
    """The article of law, where one says it."""


DROITS: tuple[Droit, ...] = (
    Droit(
        titre="Un contrat jeune majeur jusqu'à vos 21 ans",
        texte="Après vos 18 ans, vous pouvez demander un accompagnement jeune majeur (logement, études, "
        "argent, soutien) jusqu'à vos 21 ans, et au-delà pour finir l'année d'études ou de formation commencée.",
        reference="Code de l'action sociale et des familles, article L222-5",
    ),
    Droit(
        titre="Un entretien pour préparer votre autonomie",
        texte="L'année de vos 17 ans, un entretien fait le point avec vous sur vos projets, votre logement, "
        "vos études et vos ressources.",
        reference="Code de l'action sociale et des familles, article L222-5-1",
    ),
    Droit(
        titre="Participer à votre projet pour l'enfant (PPE)",
        texte="Votre projet pour l'enfant est construit avec vous. Vous pouvez demander à le lire et à donner "
        "votre avis.",
        reference="Code de l'action sociale et des familles, article L223-1-1",
    ),
    Droit(
        titre="Lire votre dossier",
        texte="Vous pouvez demander à lire votre dossier et les informations qui vous concernent. "
        "Adressez votre demande au département.",
        reference=None,
    ),
    Droit(
        titre="Une priorité pour un logement social",
        texte="Pendant les 3 ans qui suivent votre sortie de l'aide sociale à l'enfance, votre demande de "
        "logement social est prioritaire.",
        reference="Code de la construction et de l'habitation, article L441-1",
    ),
    Droit(
        titre="Parler à votre référent ou votre référente",
        texte="Votre référent ou votre référente à l'aide sociale à l'enfance répond à vos questions et vous "
        "aide à faire ces demandes.",
        reference=None,
    ),
)


class ParcoursJeuneResume(BaseModel):
    parcours_id: UUID
    statut: Literal["ouvert", "sorti"]
    ouvert_le: date
    sorti_le: date | None


class ListeParcoursJeune(BaseModel):
    parcours: list[ParcoursJeuneResume]


class LieuVecu(BaseModel):
    type_lieu: str
    libelle: str
    """The type in plain words: what is shown of a lieu named after a person."""
    nom: str | None
    """The establishment's name (MECS, foyer...); never given for a lieu that may be named after a person."""
    du: date
    au: date | None
    """None: still there."""


class MesureJeune(BaseModel):
    nature: str
    libelle: str
    judiciaire: bool
    """Decided by a judge (else by the département)."""
    debut: date
    echeance: date | None
    terminee_le: date | None


class PPEJeune(BaseModel):
    etabli_le: date | None
    actualise_le: date | None


class AutonomieJeune(BaseModel):
    realise_le: date | None
    statut: Literal["realise", "en_retard", "a_planifier", "a_venir", "non_concerne"]
    prevu_au_plus_tard_le: date | None


class ContratJeuneMajeur(BaseModel):
    debut: date | None
    fin: date | None
    """The end granted (its last renewal's)."""
    fin_annee_engagee: bool
    """Goes past the 21st birthday to finish the school or university year under way (CASF L222-5)."""
    termine_le: date | None
    """When it ended (None: under way)."""


class SortieJeune(BaseModel):
    sorti_le: date
    priorite_logement_jusqu_au: date | None
    """The last day of the social-housing priority window (3 years after the sortie, CCH L441-1);
    None where the law gives none (a sortie before majority for another reason)."""


class ParcoursJeuneVue(BaseModel):
    parcours_id: UUID
    statut: Literal["ouvert", "sorti"]
    ouvert_le: date
    lieux: list[LieuVecu]
    mesures: list[MesureJeune]
    ppe: PPEJeune
    entretien_autonomie: AutonomieJeune
    contrats_jeune_majeur: list[ContratJeuneMajeur]
    """Every contrat jeune majeur granted, the latest last (usually one)."""
    sortie: SortieJeune | None
    droits: list[Droit]


def resume(ligne: asyncpg.Record) -> ParcoursJeuneResume:
    return ParcoursJeuneResume(
        parcours_id=ligne["parcours_id"],
        statut=ligne["statut"],
        ouvert_le=ligne["ouvert_le"],
        sorti_le=ligne["sorti_le"],
    )


def lieu(s: Sejour) -> LieuVecu:
    libelle = LIEUX.get(s.type_lieu, "Dans un lieu d'accueil")
    return LieuVecu(type_lieu=s.type_lieu, libelle=libelle, nom=s.nom, du=s.du, au=s.au)


def parcours(lu: ParcoursDuJeune, aujourd_hui: date) -> ParcoursJeuneVue:
    d = lu.dossier
    echeances = [vues_dossiers.echeance(e, aujourd_hui) for e in lu.echeances]
    autonomie = vues_dossiers.autonomie(d, echeances, aujourd_hui)
    sortie = None
    if d["sorti_le"] is not None:
        logement = next((e for e in echeances if e.type == TypeEcheance.PRIORITE_LOGEMENT), None)
        sortie = SortieJeune(sorti_le=d["sorti_le"], priorite_logement_jusqu_au=logement.due_le if logement else None)
    return ParcoursJeuneVue(
        parcours_id=d["parcours_id"],
        statut=d["statut"],
        ouvert_le=d["ouvert_le"],
        lieux=[lieu(s) for s in lu.sejours],
        mesures=[
            MesureJeune(
                nature=m["nature"],
                libelle=NATURES.get(m["nature"], "Mesure de protection"),
                judiciaire=m["cadre"] == "judiciaire",
                debut=m["date_debut"],
                echeance=m["date_echeance"],
                terminee_le=m["levee_le"],
            )
            for m in lu.mesures
        ],
        ppe=PPEJeune(etabli_le=d["ppe_etabli_le"], actualise_le=d["ppe_actualise_le"]),
        entretien_autonomie=AutonomieJeune(
            realise_le=autonomie.entretien_realise_le, statut=autonomie.statut, prevu_au_plus_tard_le=autonomie.du_le
        ),
        contrats_jeune_majeur=[
            ContratJeuneMajeur(debut=c.debut, fin=c.fin, fin_annee_engagee=c.fin_annee_engagee, termine_le=c.termine_le)
            for c in lu.contrats
        ],
        sortie=sortie,
        droits=list(DROITS),
    )
