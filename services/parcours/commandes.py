"""The commands of the write side, exactly as API.md names their fields.

They are the request bodies of the command API and what the application takes.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Any
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
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)

from contracts.vocabulaire import texte_imprimable
from services.parcours.domain.vocabulaire import (
    Autorite,
    Cadre,
    Danger,
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
from services.parcours.domain.vocabulaire import (
    Finess as _Finess,
)
from services.runtime.errors import SaisieInvalideError
from services.runtime.parametres import JOUR, Departement, Identifiant, Texte


def _date_iso(valeur: object) -> object:
    if isinstance(valeur, str) and not _DATE_ISO.match(valeur):
        raise ValueError("date attendue au format ISO 8601 AAAA-MM-JJ")
    if not isinstance(valeur, str | date):
        raise ValueError("date attendue au format ISO 8601 AAAA-MM-JJ")
    return valeur


def _date_plausible(valeur: date) -> date:
    # A child-protection record has no date before 1900 or after 2100: such a
    # date is a typing error, not a fact (and would slip past the age rules).
    if not date(1900, 1, 1) <= valeur <= date(2100, 12, 31):
        raise ValueError("date hors de la plage plausible 1900-01-01 à 2100-12-31")
    return valeur


Finess = Annotated[_Finess, WithJsonSchema({"type": "string", "pattern": r"^(?:\d{9}|2[AB]\d{7})$"})]

_DATE_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")
Date = Annotated[
    date,
    BeforeValidator(_date_iso),
    AfterValidator(_date_plausible),
    WithJsonSchema({"type": "string", "format": "date", "pattern": JOUR}),
]


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


def _sans_repetition(dangers: list[Danger]) -> list[Danger]:
    repetes = sorted({d.value for d in dangers if dangers.count(d) > 1})
    if repetes:
        raise ValueError(f"chaque danger au plus une fois; répété: {', '.join(repetes)}")
    return dangers


class RecevoirInformationPreoccupante(Commande):
    origine: OrigineIP
    dangers: Annotated[
        list[Danger],
        Field(min_length=1, max_length=len(Danger), json_schema_extra={"uniqueItems": True}),
        AfterValidator(_sans_repetition),
    ]
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
    duree_derogatoire: StrictBool = False
    """A ``confiage_ase`` beyond 2 years, on chronic parental difficulties (C. civ. 375 al. 4)."""
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
    fin_annee_engagee: StrictBool = False
    """Ends after the 21st birthday to finish the school or university year under way (L222-5, last paragraph)."""
    date_effet: Date


class RenouvelerAPJM(Commande):
    date_fin: Date
    fin_annee_engagee: StrictBool = False
    """As for ``AccorderAPJM``: beyond the 21st birthday, to finish the year under way."""
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
    return _textes_imprimables(valeur)


def _textes_imprimables(valeur: JsonValue) -> JsonValue:
    """``valeur`` with every string (keys included) a printable text, NFC-normalised.

    A corrected value is as much free text as the one it corrects. It is not
    stripped: the corrected field's own type judges the rest (a padded ``" F"`` is
    no ``sexe``, here as anywhere else).
    """
    if isinstance(valeur, str):
        return texte_imprimable(valeur, rogner=False)
    if isinstance(valeur, list):
        return [_textes_imprimables(element) for element in valeur]
    if isinstance(valeur, dict):
        return {texte_imprimable(cle, rogner=False): _textes_imprimables(element) for cle, element in valeur.items()}
    return valeur


class MotifEffacement(StrEnum):
    """Why a DPO erases an identity (``POST /v1/personnes/{personne_id}/effacement``)."""

    ERREUR_DE_SAISIE = "erreur_de_saisie"
    FIN_DE_CONSERVATION = "fin_de_conservation"
    DECISION_CNIL = "decision_cnil"
    AUTRE = "autre"


class EffacerIdentite(Commande):
    motif: MotifEffacement


class Rectifier(Commande):
    version_rectifiee: Annotated[StrictInt, Field(ge=1)]
    champ: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,99}$")]
    """The corrected field's name, as in the event (``referent_id``, ``date_naissance``)."""
    nouvelle_valeur: Annotated[JsonValue, AfterValidator(_valeur_bornee)]
    motif: Texte


SAISIES_RECTIFIABLES: dict[str, Any] = {
    "date_naissance": Date,
    "date_effet": Date,
    "date_debut": Date,
    "date_echeance": Date,
    "nouvelle_echeance": Date,
    "date_fin": Date,
    "reference_decision": Identifiant,
    "referent_id": Identifiant,
    "motif": Texte,
}
"""How the commands read each field a correction may carry: a corrected value is read the same way."""


def saisie_rectifiee(champ: str, valeur: JsonValue) -> JsonValue:
    """``valeur`` read as the commands read ``champ`` (dates 1900-2100 in ISO form, printable bounded text),
    returned in its JSON form; null and fields the commands do not type are left to the event's own type.

    Raises ``SaisieInvalideError`` naming ``nouvelle_valeur``.
    """
    saisie = SAISIES_RECTIFIABLES.get(champ)
    if saisie is None or valeur is None:
        return valeur
    adaptateur: TypeAdapter[Any] = TypeAdapter(saisie)
    try:
        lue = adaptateur.validate_python(valeur)
    except ValidationError as exc:
        raise SaisieInvalideError("nouvelle_valeur", f"{champ}: {exc.errors()[0]['msg']}") from None
    resultat: JsonValue = adaptateur.dump_python(lue, mode="json")
    return resultat
