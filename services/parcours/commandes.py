"""The commands of the write side, exactly as API.md names their fields.

They are the request bodies of the command API and what the application takes.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated
from uuid import UUID

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StrictInt,
    StringConstraints,
)

from services.parcours.domain.vocabulaire import (
    Autorite,
    Cadre,
    Danger,
    Departement,
    Finess,
    MotifChangementLieu,
    MotifFinAccueil,
    MotifFinAPJM,
    MotifLevee,
    MotifSortie,
    Nature,
    OrigineIP,
    Sexe,
    SituationLogement,
    SuiteEvaluation,
    TypeLieu,
)

Texte = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


def _date_iso(valeur: object) -> object:
    if isinstance(valeur, str) and not _DATE_ISO.match(valeur):
        raise ValueError("date attendue au format ISO 8601 AAAA-MM-JJ")
    if not isinstance(valeur, str | date):
        raise ValueError("date attendue au format ISO 8601 AAAA-MM-JJ")
    return valeur


_DATE_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")
Date = Annotated[date, BeforeValidator(_date_iso)]
Identifiant = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class Commande(BaseModel):
    """Unknown fields, loosely typed numbers and booleans, and non-ISO dates get a 422."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ReferencerLieu(Commande):
    nom: Texte
    type: TypeLieu
    departement: Departement
    capacite: Annotated[StrictInt, Field(ge=0, le=100_000)]
    finess: Finess | None = None


class ModifierCapacite(Commande):
    capacite: Annotated[StrictInt, Field(ge=0, le=100_000)]
    date_effet: Date


class FermerLieu(Commande):
    date_effet: Date


class Personne(Commande):
    nom: Texte
    prenoms: Texte
    date_naissance: Date
    sexe: Sexe


class OuvrirParcours(Commande):
    personne: Personne
    departement: Departement
    date_effet: Date
    referent_id: Identifiant | None = None


class RecevoirInformationPreoccupante(Commande):
    origine: OrigineIP
    dangers: Annotated[list[Danger], Field(min_length=1, max_length=len(Danger))]
    date_effet: Date


class ConclureEvaluation(Commande):
    ip_id: UUID
    suite: SuiteEvaluation
    date_effet: Date


class DeciderMesure(Commande):
    cadre: Cadre
    nature: Nature
    autorite: Autorite
    reference_decision: Identifiant
    date_debut: Date
    date_echeance: Date | None = None
    date_effet: Date


class RenouvelerMesure(Commande):
    nouvelle_echeance: Date
    reference_decision: Identifiant
    date_effet: Date


class LeverMesure(Commande):
    motif: MotifLevee
    date_effet: Date
    motif_fin_accueil: MotifFinAccueil | None = None
    """Ends the accueil this measure carries in the same commit (an extension of API.md)."""


class DebuterAccueil(Commande):
    mesure_id: UUID
    lieu_id: UUID
    date_effet: Date


class ChangerLieu(Commande):
    lieu_id: UUID
    motif: MotifChangementLieu
    date_effet: Date


class TerminerAccueil(Commande):
    motif: MotifFinAccueil
    date_effet: Date


class Dater(Commande):
    """A command whose only datum is its date of effect (fugue, PPE, entretien)."""

    date_effet: Date


class ProduireRapport(Commande):
    transmis_au_juge: StrictBool
    date_effet: Date


class AtteindreMajorite(Commande):
    """No field: majority is dated on the 18th birthday."""


class AccorderAPJM(Commande):
    date_debut: Date
    date_fin: Date
    date_effet: Date


class RenouvelerAPJM(Commande):
    date_fin: Date
    date_effet: Date


class TerminerAPJM(Commande):
    motif: MotifFinAPJM
    date_effet: Date


class Sortir(Commande):
    motif: MotifSortie
    situation_logement: SituationLogement
    date_effet: Date
    clore_en_cours: StrictBool = False
    """Ends what is still open (accueil, measures, APJM) in the same commit (an extension of API.md)."""


class Rouvrir(Commande):
    motif: Texte
    date_effet: Date


class Transferer(Commande):
    departement_destination: Departement
    date_effet: Date


class DesignerReferent(Commande):
    referent_id: Identifiant
    date_effet: Date


TAILLE_MAX_VALEUR = 2_000
"""Bytes of JSON a corrected value may take: more than any field of an event holds."""


def _valeur_bornee(valeur: JsonValue) -> JsonValue:
    # Every other field has a bounded length; this one is stored as given. Unbounded,
    # a value of ~0.5 MB made the store's pipelined insert hang, and a lone
    # surrogate could not be serialised (a 500).
    try:
        taille = len(orjson.dumps(valeur))
    except orjson.JSONEncodeError:
        raise ValueError("valeur JSON invalide: texte UTF-8, entiers de 64 bits, profondeur bornée") from None
    if taille > TAILLE_MAX_VALEUR:
        raise ValueError(f"valeur trop longue: {TAILLE_MAX_VALEUR} octets au plus en JSON")
    return valeur


class Rectifier(Commande):
    version_rectifiee: Annotated[StrictInt, Field(ge=1)]
    champ: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    nouvelle_valeur: Annotated[JsonValue, AfterValidator(_valeur_bornee)]
    motif: Texte
