"""The parts of a parcours' state that its events build up."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from uuid import UUID

from services.parcours.domain.vocabulaire import (
    NATURES_PERMETTANT_ACCUEIL,
    Autorite,
    Cadre,
    MotifLevee,
    Nature,
    SuiteEvaluation,
    TypeLieu,
)


@dataclass
class InformationPreoccupante:
    ip_id: UUID
    recue_le: date
    suite: SuiteEvaluation | None = None
    evaluee_le: date | None = None


@dataclass
class Mesure:
    mesure_id: UUID
    cadre: Cadre
    nature: Nature
    autorite: Autorite
    reference_decision: str | None
    """None once the person is erased."""
    date_debut: date
    date_echeance: date | None
    decidee_le: date
    duree_derogatoire: bool = False
    renouvellements: int = 0
    levee_le: date | None = None
    motif_levee: MotifLevee | None = None

    @property
    def active(self) -> bool:
        return self.levee_le is None

    @property
    def permet_accueil(self) -> bool:
        return self.nature in NATURES_PERMETTANT_ACCUEIL


@dataclass
class Accueil:
    mesure_id: UUID
    lieu_id: UUID
    type_lieu: TypeLieu
    depuis: date
    debut_accueil: date
    date_limite_hotel: date | None = None
    fugue_depuis: date | None = None


@dataclass
class AccompagnementJeuneMajeur:
    date_debut: date
    date_fin: date
    accorde_le: date
    fin_annee_engagee: bool = False
    renouvellements: int = 0


@dataclass
class Rectification:
    version: int
    version_rectifiee: int
    champ: str
    ancienne_valeur: object
    nouvelle_valeur: object
    motif: str
    evenement_rectifie: str = ""
    """The name of the corrected event (``MajoriteAtteinte``...)."""


@dataclass
class Suivi:
    """Dates the deadlines are computed from."""

    ppe_etabli_le: date | None = None
    ppe_actualise_le: date | None = None
    dernier_rapport_le: date | None = None
    entretien_autonomie_le: date | None = None
    lieux_successifs: int = 0
    rectifications: list[Rectification] = field(default_factory=list)
