"""The rules of a parcours: one guard per event, run before it is recorded and when a correction replays it.

Each guard reads the state the events built (:class:`EtatParcours`) and raises
``RegleMetierError(regle, message)`` with the rule's stable name; the article of
law is in DOMAIN.md's row for the event. The commands live on
:class:`services.parcours.domain.parcours.Parcours`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, ClassVar
from uuid import UUID

from droit.calendrier import age_le, ajouter, anniversaire
from droit.regles import AGES_HEBERGEMENT_DEROGATOIRE, INTERDICTION_HOTEL, NATURES_NON_RENOUVELABLES
from services.parcours.domain import parcours_evenements as ev
from services.parcours.domain import rectifications
from services.parcours.domain.flux import Evenement, Flux
from services.parcours.domain.identite import DATE_NAISSANCE_EFFACEE
from services.parcours.domain.parcours_etat import (
    AccompagnementJeuneMajeur,
    Accueil,
    InformationPreoccupante,
    Mesure,
    Suivi,
)
from services.parcours.domain.regles_mesures import check_departement, check_echeance, check_nature_et_autorite
from services.parcours.domain.vocabulaire import MotifFinAccueil, MotifLevee, Sexe, TypeLieu
from services.runtime.errors import IntrouvableError, RegleMetierError


class EtatParcours(Flux):
    """A parcours' state and the guards every one of its events passes (DOMAIN.md's Parcours table)."""

    personne_id: UUID
    date_naissance: date
    sexe: Sexe
    departement: str
    referent_id: str | None
    ouvert_le: date
    informations: dict[UUID, InformationPreoccupante]
    mesures: dict[UUID, Mesure]
    accueil: Accueil | None
    majorite_atteinte_le: date | None
    apjm: AccompagnementJeuneMajeur | None
    sorti_le: date | None
    suivi: Suivi
    en_rejeu: bool
    """True while a correction replays the stream (its events then only record themselves)."""
    garde_historique: ClassVar[bool] = True

    # -- rules, one guard per event ----------------------------------------------

    @property
    def identite_effacee(self) -> bool:
        """The person is erased: her birth date is gone (crypto-shredding), the parcours is read-only."""
        return self.date_naissance == DATE_NAISSANCE_EFFACEE

    def check_identite_non_effacee(self) -> None:
        """Refuse any command on the parcours of an erased person: its rules need the birth date."""
        if self.identite_effacee:
            raise RegleMetierError("identite_effacee", "l'identité de la personne de ce parcours est effacée")

    def verifier(self, evenement: Evenement, aujourd_hui: date) -> None:
        """Refuse ``evenement`` if recording it on ``aujourd_hui`` breaks a rule of DOMAIN.md."""
        self.check_identite_non_effacee()
        regle = _REGLES.get(type(evenement))
        if regle is not None:
            regle(self, evenement)
        super().verifier(evenement, aujourd_hui)

    def hors_chronologie(self, evenement: Evenement) -> bool:
        # Majority is dated on the birthday whenever it is recorded, and so are the
        # ends it implies in the same commit (DOMAIN.md, MajoriteAtteinte).
        if isinstance(evenement, ev.MajoriteAtteinte):
            return True
        fin_de_majorite = (
            isinstance(evenement, ev.FugueTerminee)
            or (isinstance(evenement, ev.AccueilTermine) and evenement.motif is MotifFinAccueil.MAJORITE)
            or (isinstance(evenement, ev.MesureLevee) and evenement.motif is MotifLevee.MAJORITE)
        )
        if fin_de_majorite and evenement.date_effet == self.majorite_atteinte_le:
            return True
        return super().hors_chronologie(evenement)

    def _regle_ip(self, e: ev.InformationPreoccupanteRecue) -> None:
        self._check_en_cours()
        if not e.dangers:
            raise RegleMetierError("dangers_requis", "une IP nomme au moins un danger")
        if len(set(e.dangers)) != len(e.dangers):
            raise RegleMetierError("dangers_en_double", "une IP nomme chaque danger une fois")

    def _regle_evaluation(self, e: ev.EvaluationConclue) -> None:
        self._check_en_cours()
        ip = self.informations.get(e.ip_id)
        if ip is None:
            raise IntrouvableError("information préoccupante", e.ip_id)
        if ip.suite is not None:
            raise RegleMetierError("ip_deja_evaluee", "cette information préoccupante est déjà évaluée")

    def _regle_mesure_decidee(self, e: ev.MesureDecidee) -> None:
        self._check_en_cours()
        check_nature_et_autorite(e.cadre, e.nature, e.autorite)
        # Decided or starting once the person is an adult (majority recorded, or
        # on or after the 18th birthday), a measure is no minor's measure.
        if e.date_debut < self.date_naissance:
            raise RegleMetierError("mesure_avant_naissance", "une mesure ne débute pas avant la naissance")
        majeur = self.majorite_atteinte_le is not None
        if majeur or max(e.date_debut, e.date_effet) >= anniversaire(self.date_naissance, 18):
            raise RegleMetierError(
                "mesure_de_mineur",
                "une mesure de protection de l'enfance est décidée et débute avant les 18 ans; "
                "après, c'est un accompagnement jeune majeur",
            )
        check_echeance(e.nature, e.date_debut, e.date_echeance, duree_derogatoire=e.duree_derogatoire)

    def _regle_mesure_renouvelee(self, e: ev.MesureRenouvelee) -> None:
        self._check_en_cours()
        mesure = self._mesure_active(e.mesure_id)
        if mesure.nature in NATURES_NON_RENOUVELABLES:
            raise RegleMetierError(
                "mesure_non_renouvelable",
                f"une mesure {mesure.nature.value} ne se renouvelle pas: à son terme l'enfant rentre chez lui, "
                "ou une admission ou une saisine du juge suit (CASF L223-2)",
            )
        debut_periode = mesure.date_echeance or mesure.date_debut
        if e.nouvelle_echeance <= debut_periode:
            raise RegleMetierError("echeance_invalide", "la nouvelle échéance doit suivre l'échéance en cours")
        check_echeance(mesure.nature, debut_periode, e.nouvelle_echeance, duree_derogatoire=mesure.duree_derogatoire)

    def _regle_mesure_levee(self, e: ev.MesureLevee) -> None:
        self._check_en_cours()
        self._mesure_active(e.mesure_id)
        if e.motif is MotifLevee.MAJORITE:
            self._check_fin_de_majorite(e.date_effet)
        if self.accueil is not None and not self._accueil_reste_permis_sans(e.mesure_id):
            raise RegleMetierError(
                "accueil_sans_mesure",
                "lever cette mesure laisserait l'accueil en cours sans mesure qui le permette: "
                "terminer l'accueil d'abord, ou dans la même commande (motif_fin_accueil)",
            )

    def _regle_accueil_debute(self, e: ev.AccueilDebute) -> None:
        self._check_en_cours()
        mesure = self._mesure_active(e.mesure_id)
        if not mesure.permet_accueil:
            raise RegleMetierError(
                "mesure_sans_accueil",
                f"une mesure {mesure.nature.value} accompagne l'enfant chez lui: elle ne permet pas d'accueil",
            )
        if self.accueil is not None:
            raise RegleMetierError("accueil_deja_en_cours", "un accueil est déjà en cours")
        if e.date_effet < mesure.date_debut:
            raise RegleMetierError("accueil_avant_la_mesure", "l'accueil ne peut débuter avant la mesure qui le permet")
        self._check_avant_majorite(e.date_effet)
        self._check_type_lieu(e.type_lieu, e.date_effet)

    def _regle_lieu_change(self, e: ev.LieuAccueilChange) -> None:
        self._check_en_cours()
        if e.lieu_id == self._accueil_en_cours().lieu_id:
            raise RegleMetierError("meme_lieu", "l'enfant est déjà accueilli dans ce lieu")
        self._check_type_lieu(e.type_lieu, e.date_effet)

    def _regle_accueil_termine(self, e: ev.AccueilTermine) -> None:
        self._check_en_cours()
        self._accueil_en_cours()
        if e.motif is MotifFinAccueil.MAJORITE:
            self._check_fin_de_majorite(e.date_effet)

    def _regle_fugue_declaree(self, _e: ev.FugueDeclaree) -> None:
        self._check_en_cours()
        if self._accueil_en_cours().fugue_depuis is not None:
            raise RegleMetierError("fugue_deja_en_cours", "une fugue est déjà déclarée")

    def _regle_fugue_terminee(self, _e: ev.FugueTerminee) -> None:
        self._check_en_cours()
        if self.accueil is None or self.accueil.fugue_depuis is None:
            raise RegleMetierError("aucune_fugue", "aucune fugue n'est en cours")

    def _regle_ppe_etabli(self, _e: ev.PPEEtabli) -> None:
        self._check_en_cours()
        if self.suivi.ppe_etabli_le is not None:
            raise RegleMetierError("ppe_deja_etabli", "le PPE est déjà établi: il s'actualise")

    def _regle_ppe_actualise(self, _e: ev.PPEActualise) -> None:
        self._check_en_cours()
        if self.suivi.ppe_etabli_le is None:
            raise RegleMetierError("ppe_absent", "aucun PPE n'est établi: il s'établit d'abord")

    def _regle_en_cours(self, _e: Evenement) -> None:
        self._check_en_cours()

    def _regle_entretien(self, e: ev.EntretienAutonomieRealise) -> None:
        self._check_en_cours()
        if age_le(self.date_naissance, e.date_effet) < 16:
            raise RegleMetierError("entretien_avant_16_ans", "l'entretien d'autonomie se tient à partir de 16 ans")

    def _regle_majorite(self, e: ev.MajoriteAtteinte) -> None:
        self._check_en_cours()
        if self.majorite_atteinte_le is not None:
            raise RegleMetierError("majorite_deja_enregistree", "la majorité est déjà enregistrée")
        dix_huit_ans = anniversaire(self.date_naissance, 18)
        if e.date_effet != dix_huit_ans:
            raise RegleMetierError(
                "majorite_hors_anniversaire",
                "la majorité est datée du 18e anniversaire",
            )

    def _regle_apjm_accorde(self, e: ev.AccompagnementJeuneMajeurAccorde) -> None:
        self._check_en_cours()
        dix_huit_ans = anniversaire(self.date_naissance, 18)
        if self.majorite_atteinte_le is None and e.date_debut != dix_huit_ans:
            raise RegleMetierError(
                "apjm_avant_majorite",
                "un accompagnement jeune majeur suit la majorité, ou est décidé avant pour débuter le jour des 18 ans",
            )
        if e.date_debut < dix_huit_ans:
            raise RegleMetierError("apjm_avant_majorite", "un accompagnement jeune majeur débute à 18 ans au plus tôt")
        if e.date_debut >= anniversaire(self.date_naissance, 21):
            raise RegleMetierError("apjm_au_dela_de_21_ans", "un accompagnement jeune majeur débute avant les 21 ans")
        if self.apjm is not None:
            raise RegleMetierError("apjm_deja_en_cours", "un accompagnement jeune majeur est déjà en cours")
        if e.date_fin <= e.date_debut:
            raise RegleMetierError("apjm_dates_invalides", "la fin de l'accompagnement doit suivre son début")
        self._check_fin_apjm(e.date_fin, fin_annee_engagee=e.fin_annee_engagee)

    def _regle_apjm_renouvele(self, e: ev.AccompagnementJeuneMajeurRenouvele) -> None:
        self._check_en_cours()
        if e.date_fin <= self._apjm_en_cours().date_fin:
            raise RegleMetierError("apjm_dates_invalides", "le renouvellement doit prolonger l'accompagnement")
        self._check_fin_apjm(e.date_fin, fin_annee_engagee=e.fin_annee_engagee)

    def _regle_apjm_termine(self, _e: ev.AccompagnementJeuneMajeurTermine) -> None:
        self._check_en_cours()
        self._apjm_en_cours()

    def _regle_sortie(self, _e: ev.SortieDispositif) -> None:
        self._check_en_cours()
        if self.accueil is not None or self.apjm is not None or self._mesures_actives():
            raise RegleMetierError(
                "sortie_avec_prise_en_charge_active",
                "une mesure, un accueil ou un accompagnement est encore en cours: "
                "les clore d'abord, ou dans la même commande (clore_en_cours)",
            )

    def _regle_reouverture(self, e: ev.ParcoursRouvert) -> None:
        if self.sorti_le is None:
            raise RegleMetierError("parcours_non_sorti", "seul un parcours sorti du dispositif se rouvre")
        if e.date_effet >= anniversaire(self.date_naissance, 21):
            raise RegleMetierError("age_limite_depasse", "un parcours ne se rouvre pas après 21 ans")

    def _regle_transfert(self, e: ev.DossierTransfere) -> None:
        self._check_en_cours()
        check_departement(e.departement_destination)
        if e.departement_destination == self.departement:
            raise RegleMetierError("meme_departement", "le dossier est déjà dans ce département")

    def _regle_referent(self, e: ev.ReferentDesigne) -> None:
        self._check_en_cours()
        if e.referent_id == self.referent_id:
            raise RegleMetierError("meme_referent", "ce référent est déjà celui du dossier")

    def _regle_rectification(self, e: ev.SaisieRectifiee) -> None:
        liees = [c for c in getattr(self, "_rectifications_liees", []) if c.originator_version > e.originator_version]
        rectifications.check_rejeu(self.historique, [e, *liees])

    # -- guards ------------------------------------------------------------------

    def _mesures_actives(self) -> list[Mesure]:
        return [m for m in self.mesures.values() if m.active]

    def _check_en_cours(self) -> None:
        if self.sorti_le is not None:
            raise RegleMetierError(
                "parcours_sorti",
                "ce parcours est sorti du dispositif: le rouvrir avant d'enregistrer autre chose",
            )

    def _mesure_active(self, mesure_id: UUID) -> Mesure:
        mesure = self.mesures.get(mesure_id)
        if mesure is None:
            raise IntrouvableError("mesure", mesure_id)
        if not mesure.active:
            raise RegleMetierError("mesure_inactive", "cette mesure est levée")
        return mesure

    def _accueil_en_cours(self) -> Accueil:
        if self.accueil is None:
            raise RegleMetierError("aucun_accueil", "aucun accueil n'est en cours")
        return self.accueil

    def _apjm_en_cours(self) -> AccompagnementJeuneMajeur:
        if self.apjm is None:
            raise RegleMetierError("aucun_apjm", "aucun accompagnement jeune majeur n'est en cours")
        return self.apjm

    def _accueil_reste_permis_sans(self, mesure_id: UUID) -> bool:
        return any(m.permet_accueil for m in self._mesures_actives() if m.mesure_id != mesure_id)

    def _check_type_lieu(self, type_lieu: TypeLieu, date_effet: date) -> None:
        """The hotel ban (CASF L221-2-3) and the age span of a ``hebergement_derogatoire`` (décret 2024-119)."""
        if type_lieu is TypeLieu.HOTEL and date_effet >= INTERDICTION_HOTEL:
            raise RegleMetierError(
                "hotel_interdit",
                "aucun accueil à l'hôtel depuis le 1er février 2024, quel que soit l'âge (CASF L221-2-3); "
                "de 16 à 21 ans, un hébergement dérogatoire est possible pour deux mois au plus",
            )
        minimum, maximum = AGES_HEBERGEMENT_DEROGATOIRE
        if type_lieu is TypeLieu.HEBERGEMENT_DEROGATOIRE and not (
            minimum <= age_le(self.date_naissance, date_effet) < maximum
        ):
            raise RegleMetierError(
                "hebergement_derogatoire_hors_age",
                "un hébergement dérogatoire n'accueille que de 16 à 21 ans (CASF L221-2-3, décret 2024-119)",
            )

    def _check_fin_apjm(self, date_fin: date, *, fin_annee_engagee: bool) -> None:
        """Before the 21st birthday; to finish a school or university year, a year after it at most (L222-5)."""
        vingt_et_un_ans = anniversaire(self.date_naissance, 21)
        if not fin_annee_engagee:
            if date_fin >= vingt_et_un_ans:
                raise RegleMetierError(
                    "apjm_au_dela_de_21_ans",
                    "un accompagnement jeune majeur finit avant les 21 ans, sauf pour terminer l'année scolaire "
                    "ou universitaire engagée (fin_annee_engagee)",
                )
        elif date_fin > ajouter(vingt_et_un_ans, annees=1):
            raise RegleMetierError(
                "apjm_au_dela_de_l_annee_engagee",
                "pour terminer l'année engagée, un accompagnement finit au plus un an après les 21 ans (CASF L222-5)",
            )

    def _check_fin_de_majorite(self, date_effet: date) -> None:
        """An end "because of majority" is dated on or after the 18th birthday."""
        if date_effet < anniversaire(self.date_naissance, 18):
            raise RegleMetierError(
                "majorite_pas_encore_atteinte",
                "une fin pour majorité est datée du 18e anniversaire ou après, pas avant",
            )

    def _check_avant_majorite(self, date_effet: date) -> None:
        if self.majorite_atteinte_le is not None or date_effet >= anniversaire(self.date_naissance, 18):
            raise RegleMetierError(
                "accueil_apres_majorite",
                "un accueil au titre d'une mesure de protection de l'enfance prend fin à la majorité",
            )


_REGLES: dict[type[Evenement], Callable[[EtatParcours, Any], None]] = {
    ev.InformationPreoccupanteRecue: EtatParcours._regle_ip,
    ev.EvaluationConclue: EtatParcours._regle_evaluation,
    ev.MesureDecidee: EtatParcours._regle_mesure_decidee,
    ev.MesureRenouvelee: EtatParcours._regle_mesure_renouvelee,
    ev.MesureLevee: EtatParcours._regle_mesure_levee,
    ev.AccueilDebute: EtatParcours._regle_accueil_debute,
    ev.LieuAccueilChange: EtatParcours._regle_lieu_change,
    ev.AccueilTermine: EtatParcours._regle_accueil_termine,
    ev.FugueDeclaree: EtatParcours._regle_fugue_declaree,
    ev.FugueTerminee: EtatParcours._regle_fugue_terminee,
    ev.PPEEtabli: EtatParcours._regle_ppe_etabli,
    ev.PPEActualise: EtatParcours._regle_ppe_actualise,
    ev.RapportSituationProduit: EtatParcours._regle_en_cours,
    ev.EntretienAutonomieRealise: EtatParcours._regle_entretien,
    ev.MajoriteAtteinte: EtatParcours._regle_majorite,
    ev.AccompagnementJeuneMajeurAccorde: EtatParcours._regle_apjm_accorde,
    ev.AccompagnementJeuneMajeurRenouvele: EtatParcours._regle_apjm_renouvele,
    ev.AccompagnementJeuneMajeurTermine: EtatParcours._regle_apjm_termine,
    ev.SortieDispositif: EtatParcours._regle_sortie,
    ev.ParcoursRouvert: EtatParcours._regle_reouverture,
    ev.DossierTransfere: EtatParcours._regle_transfert,
    ev.ReferentDesigne: EtatParcours._regle_referent,
    ev.SaisieRectifiee: EtatParcours._regle_rectification,
}
"""The guards of each event (DOMAIN.md's Parcours table), run before it is recorded and when a correction replays it."""
