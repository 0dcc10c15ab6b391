"""The public payloads of the events published on Kafka, one model per event and version.

What is published is what other systems may rely on. Within a version an event
only gains optional fields: a field is never removed, retyped or made required,
and an enumeration never narrowed nor widened (a consumer validating with the
published schema must read every later message); anything else is a new version
beside the old one (``tests/unit/test_contrats.py`` enforces it against the
committed schemas).

Never on the public topic: a name, an exact birth date (``mois_naissance``,
``YYYY-MM``, stands for it), or free text a caseworker typed (a ``motif`` of a
reopening or a rectification may name someone: it stays in the store), a
court's reference, the name of a lieu that is a private person, or a date from
which the exact birth date follows (the events dated by the 18th birthday carry
``mois_effet``). Each model's fields are its allow-list
(:meth:`Payload.champs_publics`); what the public record withholds of a court's
reference, a private lieu's name or an exact date travels on the restricted
topic (:mod:`contracts.restreint`).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints

from contracts.vocabulaire import (
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
    TypeLieuV1,
)

CodeDepartement = Annotated[str, StringConstraints(pattern=r"^(0[1-9]|1\d|2[1-9AB]|[3-8]\d|9[0-5]|97[1-6])$")]
MoisNaissance = Annotated[str, StringConstraints(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
Mois = Annotated[str, StringConstraints(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
"""A month, ``YYYY-MM``: what the public topic says of a date that may be a birthday."""

_DATE_ANNIVERSAIRE = (
    "Null on the public topic when the event is dated by the 18th birthday (see mois_effet): with "
    "mois_naissance it would give the exact birth date. The exact date travels on the restricted topic."
)
_MOIS_EFFET = "The month (YYYY-MM) of date_effet, always present."


class Payload(BaseModel):
    """A published event's body. ``extra='allow'`` on read: later versions may add fields."""

    model_config = ConfigDict(frozen=True, extra="allow")

    domaine: ClassVar[str]
    version: ClassVar[int] = 1

    date_effet: date

    @classmethod
    def nom_evenement(cls) -> str:
        return cls.__name__

    @classmethod
    def champs_publics(cls) -> frozenset[str]:
        """The allow-list of this type and version: the only keys its published body may hold.

        The fields the contract declares, nothing else: a field the domain adds stays
        private until a contract version declares it (``publication.corps_public``).
        """
        return frozenset(cls.model_fields)

    @classmethod
    def type_cloudevents(cls) -> str:
        """``fr.ase.<domaine>.<event_snake_name>.v<version>`` (API.md)."""
        return f"fr.ase.{cls.domaine}.{nom_serpent(cls.nom_evenement())}.v{cls.version}"


def nom_serpent(nom: str) -> str:
    """``PPEEtabli`` -> ``ppe_etabli``, ``LieuAccueilChange`` -> ``lieu_accueil_change``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", nom).lower()


# -- parcours (topic ase.parcours.evenements.v1, key = parcours id) ----------------------


class PayloadParcours(Payload):
    domaine: ClassVar[str] = "parcours"
    parcours_id: UUID


class ParcoursOuvert(PayloadParcours):
    personne_id: UUID
    mois_naissance: MoisNaissance
    sexe: Sexe
    departement: CodeDepartement
    referent_id: str | None


class InformationPreoccupanteRecue(PayloadParcours):
    ip_id: UUID
    origine: OrigineIP
    dangers: list[Danger]


class EvaluationConclue(PayloadParcours):
    ip_id: UUID
    suite: SuiteEvaluation


_DUREE_DEROGATOIRE = (
    "A confiage_ase decided beyond 2 years on chronic parental difficulties (C. civ. 375 al. 4); "
    "false in events published before the field existed."
)
_SANS_REFERENCE = (
    "The court's reference (reference_decision) leads back to a person: it travels only on the restricted "
    "topic ase.parcours.restreint.v1 (contracts/restreint.py)."
)


class MesureDecidee(PayloadParcours):
    __doc__ = _SANS_REFERENCE
    version: ClassVar[int] = 2

    mesure_id: UUID
    cadre: Cadre
    nature: Nature
    autorite: Autorite
    date_debut: date
    date_echeance: date | None
    duree_derogatoire: bool = Field(default=False, description=_DUREE_DEROGATOIRE)


class MesureRenouvelee(PayloadParcours):
    __doc__ = _SANS_REFERENCE
    version: ClassVar[int] = 2

    mesure_id: UUID
    nouvelle_echeance: date


class MesureLevee(PayloadParcours):
    """``date_effet`` is null when ``motif`` is ``majorite`` (the levée is dated by the 18th birthday)."""

    version: ClassVar[int] = 2

    date_effet: date | None = Field(description=_DATE_ANNIVERSAIRE)  # type: ignore[assignment]
    mois_effet: Mois = Field(description=_MOIS_EFFET)
    mesure_id: UUID
    motif: MotifLevee


_DATE_LIMITE = (
    "End of the 2 months a placement in a hebergement_derogatoire (or in a hotel, recorded before "
    "1 Feb 2024) may last; null for any other lieu."
)


class AccueilDebute(PayloadParcours):
    version: ClassVar[int] = 2

    mesure_id: UUID
    lieu_id: UUID
    type_lieu: TypeLieu
    date_limite_hotel: date | None = Field(description=_DATE_LIMITE)


class LieuAccueilChange(PayloadParcours):
    version: ClassVar[int] = 2

    lieu_id: UUID
    type_lieu: TypeLieu
    motif: MotifChangementLieu
    date_limite_hotel: date | None = Field(description=_DATE_LIMITE)


class AccueilTermine(PayloadParcours):
    """``date_effet`` is null when ``motif`` is ``majorite`` (the end is dated by the 18th birthday)."""

    version: ClassVar[int] = 2

    date_effet: date | None = Field(description=_DATE_ANNIVERSAIRE)  # type: ignore[assignment]
    mois_effet: Mois = Field(description=_MOIS_EFFET)
    motif: MotifFinAccueil


class FugueDeclaree(PayloadParcours):
    pass


class FugueTerminee(PayloadParcours):
    """``date_effet`` is always null: majority ends a fugue on the 18th birthday, and nothing in the event
    tells that end from another."""

    version: ClassVar[int] = 2

    date_effet: date | None = Field(description=_DATE_ANNIVERSAIRE)  # type: ignore[assignment]
    mois_effet: Mois = Field(description=_MOIS_EFFET)


class PPEEtabli(PayloadParcours):
    pass


class PPEActualise(PayloadParcours):
    pass


class RapportSituationProduit(PayloadParcours):
    transmis_au_juge: bool


class EntretienAutonomieRealise(PayloadParcours):
    pass


class MajoriteAtteinte(PayloadParcours):
    """Dated by the 18th birthday: ``date_effet`` is always null, ``mois_effet`` its month."""

    version: ClassVar[int] = 2

    date_effet: date | None = Field(description=_DATE_ANNIVERSAIRE)  # type: ignore[assignment]
    mois_effet: Mois = Field(description=_MOIS_EFFET)


_FIN_ANNEE_ENGAGEE = (
    "date_fin goes past the 21st birthday to finish the school or university year under way "
    "(CASF L222-5, last paragraph); false in events published before the field existed."
)


_DATES_APJM = (
    "An APJM starts on the 18th birthday when decided before it, and ends on the 21st at most: its start "
    "and end travel as months (mois_debut, mois_fin), and so does its date of effect (date_effet null, "
    "mois_effet), which may be that start; the exact dates travel on the restricted topic."
)


class AccompagnementJeuneMajeurAccorde(PayloadParcours):
    __doc__ = _DATES_APJM
    version: ClassVar[int] = 2

    date_effet: date | None = Field(description=_DATE_ANNIVERSAIRE)  # type: ignore[assignment]
    mois_effet: Mois = Field(description=_MOIS_EFFET)
    mois_debut: Mois
    mois_fin: Mois
    fin_annee_engagee: bool = Field(default=False, description=_FIN_ANNEE_ENGAGEE)


class AccompagnementJeuneMajeurRenouvele(PayloadParcours):
    __doc__ = _DATES_APJM
    version: ClassVar[int] = 2

    date_effet: date | None = Field(description=_DATE_ANNIVERSAIRE)  # type: ignore[assignment]
    mois_effet: Mois = Field(description=_MOIS_EFFET)
    mois_fin: Mois
    fin_annee_engagee: bool = Field(default=False, description=_FIN_ANNEE_ENGAGEE)


class AccompagnementJeuneMajeurTermine(PayloadParcours):
    motif: MotifFinAPJM


class SortieDispositif(PayloadParcours):
    motif: MotifSortie
    situation_logement: SituationLogement


class ParcoursRouvert(PayloadParcours):
    pass


class DossierTransfere(PayloadParcours):
    departement_origine: CodeDepartement
    departement_destination: CodeDepartement


class ReferentDesigne(PayloadParcours):
    referent_id: str


class SaisieRectifiee(PayloadParcours):
    """A correction of a past event, dated by the event it corrects.

    A corrected birth date travels as a month; the values of a field that is not
    itself public (a free-text ``motif``, a court's reference) or that the public
    topic reduces to a month (a date of an event dated by the 18th birthday)
    travel as null, and ``date_effet`` is null when the corrected event's is
    (``mois_effet`` stands for it). The exact values travel on the restricted topic.
    """

    version: ClassVar[int] = 2

    date_effet: date | None = Field(description=_DATE_ANNIVERSAIRE)  # type: ignore[assignment]
    mois_effet: Mois = Field(description=_MOIS_EFFET)
    version_rectifiee: int
    evenement_rectifie: str
    champ: str
    ancienne_valeur: JsonValue
    nouvelle_valeur: JsonValue


# -- lieux d'accueil (same topic, key = lieu id) ------------------------------------------


class PayloadLieu(Payload):
    domaine: ClassVar[str] = "parcours"
    lieu_id: UUID


class LieuAccueilReference(PayloadLieu):
    """``nom`` is null where the lieu is a private person (assistant familial, tiers digne de confiance)."""

    version: ClassVar[int] = 2

    nom: str | None
    type: TypeLieu
    departement: CodeDepartement
    capacite: int
    finess: str | None


class CapaciteModifiee(PayloadLieu):
    capacite: int


class LieuAccueilFerme(PayloadLieu):
    pass


# -- identités (restricted compacted topic ase.identites.v1, key = personne_id) -----------


class PayloadIdentite(Payload):
    domaine: ClassVar[str] = "identite"
    personne_id: UUID


class IdentiteEnregistree(PayloadIdentite):
    nom: str
    prenoms: str
    date_naissance: date
    sexe: Sexe
    lieu_naissance: str | None


class IdentiteRectifiee(IdentiteEnregistree):
    pass


# -- superseded versions, still on the topic (retention: for ever) ------------------------
#
# A v1 consumer validates ``type_lieu`` (``type``) against a closed enumeration: an event
# holding ``hebergement_derogatoire`` is unreadable for it, so the three events carrying a
# lieu type went to version 2 when that value appeared. The relay publishes only the
# current version (``PAYLOADS_COURANTS``); these models read what was published before.


class _Remplace:
    """Mixin of a superseded version: named like the current one, published no more."""

    @classmethod
    def nom_evenement(cls) -> str:
        return cls.__name__.removesuffix("V1")


class MesureDecideeV1(_Remplace, PayloadParcours):
    """Superseded: it published the court's reference (``reference_decision``), which leads back to a person."""

    mesure_id: UUID
    cadre: Cadre
    nature: Nature
    autorite: Autorite
    reference_decision: str
    date_debut: date
    date_echeance: date | None
    duree_derogatoire: bool = Field(default=False, description=_DUREE_DEROGATOIRE)


class MesureRenouveleeV1(_Remplace, PayloadParcours):
    """Superseded: it published the court's reference (``reference_decision``), which leads back to a person."""

    mesure_id: UUID
    nouvelle_echeance: date
    reference_decision: str


class AccueilDebuteV1(_Remplace, PayloadParcours):
    mesure_id: UUID
    lieu_id: UUID
    type_lieu: TypeLieuV1
    date_limite_hotel: date | None


class LieuAccueilChangeV1(_Remplace, PayloadParcours):
    lieu_id: UUID
    type_lieu: TypeLieuV1
    motif: MotifChangementLieu
    date_limite_hotel: date | None


class MesureLeveeV1(_Remplace, PayloadParcours):
    mesure_id: UUID
    motif: MotifLevee


class AccueilTermineV1(_Remplace, PayloadParcours):
    motif: MotifFinAccueil


class FugueTermineeV1(_Remplace, PayloadParcours):
    pass


class MajoriteAtteinteV1(_Remplace, PayloadParcours):
    pass


class AccompagnementJeuneMajeurAccordeV1(_Remplace, PayloadParcours):
    date_debut: date
    date_fin: date
    fin_annee_engagee: bool = Field(default=False, description=_FIN_ANNEE_ENGAGEE)


class AccompagnementJeuneMajeurRenouveleV1(_Remplace, PayloadParcours):
    date_fin: date
    fin_annee_engagee: bool = Field(default=False, description=_FIN_ANNEE_ENGAGEE)


class SaisieRectifieeV1(_Remplace, PayloadParcours):
    """A correction of a past event.

    A corrected birth date travels as a month; the values of a field that is not
    itself public (a free-text ``motif``) travel as null.
    """

    version_rectifiee: int
    evenement_rectifie: str
    champ: str
    ancienne_valeur: JsonValue
    nouvelle_valeur: JsonValue


class LieuAccueilReferenceV1(_Remplace, PayloadLieu):
    """``nom`` is null where the lieu is a private person (assistant familial, tiers digne de confiance)."""

    nom: str | None
    type: TypeLieuV1
    departement: CodeDepartement
    capacite: int
    finess: str | None


PAYLOADS_PARCOURS: tuple[type[PayloadParcours], ...] = (
    ParcoursOuvert,
    InformationPreoccupanteRecue,
    EvaluationConclue,
    MesureDecideeV1,
    MesureDecidee,
    MesureRenouveleeV1,
    MesureRenouvelee,
    MesureLeveeV1,
    MesureLevee,
    AccueilDebuteV1,
    AccueilDebute,
    LieuAccueilChangeV1,
    LieuAccueilChange,
    AccueilTermineV1,
    AccueilTermine,
    FugueDeclaree,
    FugueTermineeV1,
    FugueTerminee,
    PPEEtabli,
    PPEActualise,
    RapportSituationProduit,
    EntretienAutonomieRealise,
    MajoriteAtteinteV1,
    MajoriteAtteinte,
    AccompagnementJeuneMajeurAccordeV1,
    AccompagnementJeuneMajeurAccorde,
    AccompagnementJeuneMajeurRenouveleV1,
    AccompagnementJeuneMajeurRenouvele,
    AccompagnementJeuneMajeurTermine,
    SortieDispositif,
    ParcoursRouvert,
    DossierTransfere,
    ReferentDesigne,
    SaisieRectifieeV1,
    SaisieRectifiee,
)
PAYLOADS_LIEU: tuple[type[PayloadLieu], ...] = (
    LieuAccueilReferenceV1,
    LieuAccueilReference,
    CapaciteModifiee,
    LieuAccueilFerme,
)
PAYLOADS_IDENTITE: tuple[type[PayloadIdentite], ...] = (IdentiteEnregistree, IdentiteRectifiee)

PAYLOADS: dict[str, type[Payload]] = {
    p.type_cloudevents(): p for p in (*PAYLOADS_PARCOURS, *PAYLOADS_LIEU, *PAYLOADS_IDENTITE)
}
"""Every payload ever published, by its CloudEvents ``type``: what a consumer may read."""

PAYLOADS_COURANTS: dict[str, type[Payload]] = {
    p.nom_evenement(): p for p in sorted(PAYLOADS.values(), key=lambda p: p.version)
}
"""The version published now, by event name (``AccueilDebute`` -> its v2): what the relay writes."""

TYPE_EFFACEMENT_IDENTITE = "fr.ase.identite.identite_effacee.v1"
"""The type of the tombstone (null body) that erases a person on ``ase.identites.v1``."""
