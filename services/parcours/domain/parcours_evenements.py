"""The events of a child's parcours (DOMAIN.md), each evolving the parcours' state.

Event classes are part of what is stored: rename or change one only with a new
``class_version`` and an upcaster.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from pydantic import JsonValue

from droit.regles import limite_hebergement, mesure_portant_accueil
from services.parcours.domain.flux import Creation, Evenement
from services.parcours.domain.parcours_etat import (
    AccompagnementJeuneMajeur,
    Accueil,
    InformationPreoccupante,
    Mesure,
    Rectification,
    Suivi,
)
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

if TYPE_CHECKING:
    from services.parcours.domain.parcours import Parcours


class ParcoursOuvert(Creation):
    personne_id: UUID
    date_naissance: date
    sexe: Sexe
    departement: str
    referent_id: str | None

    def appliquer(self, p: Parcours) -> None:
        p.personne_id = self.personne_id
        p.date_naissance = self.date_naissance
        p.sexe = self.sexe
        p.departement = self.departement
        p.referent_id = self.referent_id
        p.ouvert_le = self.date_effet
        p.informations = {}
        p.mesures = {}
        p.accueil = None
        p.majorite_atteinte_le = None
        p.apjm = None
        p.sorti_le = None
        p.suivi = Suivi()
        p.en_rejeu = False


class InformationPreoccupanteRecue(Evenement):
    ip_id: UUID
    origine: OrigineIP
    dangers: tuple[Danger, ...]

    def appliquer(self, p: Parcours) -> None:
        p.informations[self.ip_id] = InformationPreoccupante(self.ip_id, self.date_effet)


class EvaluationConclue(Evenement):
    ip_id: UUID
    suite: SuiteEvaluation

    def appliquer(self, p: Parcours) -> None:
        ip = p.informations[self.ip_id]
        ip.suite = self.suite
        ip.evaluee_le = self.date_effet


class MesureDecidee(Evenement):
    class_version: ClassVar[int] = 2
    mesure_id: UUID
    cadre: Cadre
    nature: Nature
    autorite: Autorite
    reference_decision: str | None
    """The court's reference; None once the person is erased (encrypted with her key)."""
    date_debut: date
    date_echeance: date | None
    duree_derogatoire: bool
    """The decision rests on C. civ. 375 al. 4: a ``confiage_ase`` beyond 2 years (v2)."""

    @staticmethod
    def upcast_v1_v2(etat: dict[str, Any]) -> None:
        etat["duree_derogatoire"] = False

    def appliquer(self, p: Parcours) -> None:
        p.mesures[self.mesure_id] = Mesure(
            mesure_id=self.mesure_id,
            cadre=self.cadre,
            nature=self.nature,
            autorite=self.autorite,
            reference_decision=self.reference_decision,
            date_debut=self.date_debut,
            date_echeance=self.date_echeance,
            decidee_le=self.date_effet,
            duree_derogatoire=self.duree_derogatoire,
        )


class MesureRenouvelee(Evenement):
    mesure_id: UUID
    nouvelle_echeance: date
    reference_decision: str | None
    """The court's reference; None once the person is erased (encrypted with her key)."""

    def appliquer(self, p: Parcours) -> None:
        mesure = p.mesures[self.mesure_id]
        mesure.date_echeance = self.nouvelle_echeance
        mesure.reference_decision = self.reference_decision
        mesure.renouvellements += 1


class MesureLevee(Evenement):
    mesure_id: UUID
    motif: MotifLevee

    def appliquer(self, p: Parcours) -> None:
        mesure = p.mesures[self.mesure_id]
        mesure.levee_le = self.date_effet
        mesure.motif_levee = self.motif
        if p.accueil is not None and p.accueil.mesure_id == self.mesure_id:
            # Another active measure allows the accueil (the rule guarantees it): it carries it now.
            relais = mesure_portant_accueil((m.mesure_id, m.nature) for m in p.mesures.values() if m.active)
            if relais is not None:
                p.accueil.mesure_id = relais


class AccueilDebute(Evenement):
    mesure_id: UUID
    lieu_id: UUID
    type_lieu: TypeLieu
    date_limite_hotel: date | None

    def appliquer(self, p: Parcours) -> None:
        p.accueil = Accueil(
            mesure_id=self.mesure_id,
            lieu_id=self.lieu_id,
            type_lieu=self.type_lieu,
            depuis=self.date_effet,
            debut_accueil=self.date_effet,
            # Derived from the facts, so that a corrected date or lieu moves it too.
            date_limite_hotel=limite_hebergement(self.type_lieu, self.date_effet),
        )
        p.suivi.lieux_successifs += 1


class LieuAccueilChange(Evenement):
    lieu_id: UUID
    type_lieu: TypeLieu
    motif: MotifChangementLieu
    date_limite_hotel: date | None

    def appliquer(self, p: Parcours) -> None:
        assert p.accueil is not None
        p.accueil.lieu_id = self.lieu_id
        p.accueil.type_lieu = self.type_lieu
        p.accueil.depuis = self.date_effet
        p.accueil.date_limite_hotel = limite_hebergement(self.type_lieu, self.date_effet)
        p.suivi.lieux_successifs += 1


class AccueilTermine(Evenement):
    motif: MotifFinAccueil

    def appliquer(self, p: Parcours) -> None:
        p.accueil = None


class FugueDeclaree(Evenement):
    def appliquer(self, p: Parcours) -> None:
        assert p.accueil is not None
        p.accueil.fugue_depuis = self.date_effet


class FugueTerminee(Evenement):
    def appliquer(self, p: Parcours) -> None:
        assert p.accueil is not None
        p.accueil.fugue_depuis = None


class PPEEtabli(Evenement):
    def appliquer(self, p: Parcours) -> None:
        p.suivi.ppe_etabli_le = self.date_effet


class PPEActualise(Evenement):
    def appliquer(self, p: Parcours) -> None:
        p.suivi.ppe_actualise_le = self.date_effet


class RapportSituationProduit(Evenement):
    transmis_au_juge: bool

    def appliquer(self, p: Parcours) -> None:
        p.suivi.dernier_rapport_le = self.date_effet


class EntretienAutonomieRealise(Evenement):
    def appliquer(self, p: Parcours) -> None:
        p.suivi.entretien_autonomie_le = self.date_effet


class MajoriteAtteinte(Evenement):
    def appliquer(self, p: Parcours) -> None:
        p.majorite_atteinte_le = self.date_effet


class AccompagnementJeuneMajeurAccorde(Evenement):
    class_version: ClassVar[int] = 2
    date_debut: date
    date_fin: date
    fin_annee_engagee: bool
    """Past the 21st birthday to finish the school or university year under way (CASF L222-5; v2)."""

    @staticmethod
    def upcast_v1_v2(etat: dict[str, Any]) -> None:
        etat["fin_annee_engagee"] = False

    def appliquer(self, p: Parcours) -> None:
        p.apjm = AccompagnementJeuneMajeur(
            self.date_debut, self.date_fin, self.date_effet, fin_annee_engagee=self.fin_annee_engagee
        )


class AccompagnementJeuneMajeurRenouvele(Evenement):
    class_version: ClassVar[int] = 2
    date_fin: date
    fin_annee_engagee: bool
    """As on the grant (v2)."""

    @staticmethod
    def upcast_v1_v2(etat: dict[str, Any]) -> None:
        etat["fin_annee_engagee"] = False

    def appliquer(self, p: Parcours) -> None:
        assert p.apjm is not None
        p.apjm.date_fin = self.date_fin
        p.apjm.fin_annee_engagee = self.fin_annee_engagee
        p.apjm.renouvellements += 1


class AccompagnementJeuneMajeurTermine(Evenement):
    motif: MotifFinAPJM

    def appliquer(self, p: Parcours) -> None:
        p.apjm = None


class SortieDispositif(Evenement):
    motif: MotifSortie
    situation_logement: SituationLogement

    def appliquer(self, p: Parcours) -> None:
        p.sorti_le = self.date_effet


class ParcoursRouvert(Evenement):
    motif: str

    def appliquer(self, p: Parcours) -> None:
        p.sorti_le = None


class DossierTransfere(Evenement):
    departement_origine: str
    departement_destination: str

    def appliquer(self, p: Parcours) -> None:
        p.departement = self.departement_destination


class ReferentDesigne(Evenement):
    referent_id: str

    def appliquer(self, p: Parcours) -> None:
        p.referent_id = self.referent_id


class SaisieRectifiee(Evenement):
    """A correction of one field of a past event, dated with that event's ``date_effet``."""

    version_rectifiee: int
    evenement_rectifie: str
    """The name of the corrected event (``MesureDecidee``...)."""
    champ: str
    ancienne_valeur: JsonValue
    nouvelle_valeur: JsonValue
    motif: str

    def deplace_la_date_du_flux(self) -> bool:
        return False

    def appliquer(self, p: Parcours) -> None:
        if p.en_rejeu:
            p.suivi.rectifications.append(
                Rectification(
                    version=self.originator_version,
                    version_rectifiee=self.version_rectifiee,
                    champ=self.champ,
                    ancienne_valeur=self.ancienne_valeur,
                    nouvelle_valeur=self.nouvelle_valeur,
                    motif=self.motif,
                    evenement_rectifie=self.evenement_rectifie,
                )
            )
            return
        # The state is what the stream says with every correction in place: as if
        # the corrected values had been recorded so (DOMAIN.md, SaisieRectifiee).
        from services.parcours.domain.rectifications import etat_rectifie

        etat_rectifie(p)


EVENEMENTS_PARCOURS: tuple[type[Evenement], ...] = (
    ParcoursOuvert,
    InformationPreoccupanteRecue,
    EvaluationConclue,
    MesureDecidee,
    MesureRenouvelee,
    MesureLevee,
    AccueilDebute,
    LieuAccueilChange,
    AccueilTermine,
    FugueDeclaree,
    FugueTerminee,
    PPEEtabli,
    PPEActualise,
    RapportSituationProduit,
    EntretienAutonomieRealise,
    MajoriteAtteinte,
    AccompagnementJeuneMajeurAccorde,
    AccompagnementJeuneMajeurRenouvele,
    AccompagnementJeuneMajeurTermine,
    SortieDispositif,
    ParcoursRouvert,
    DossierTransfere,
    ReferentDesigne,
    SaisieRectifiee,
)
