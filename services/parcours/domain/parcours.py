"""The Parcours aggregate: one child's path through child protection, and its rules.

Every rule of DOMAIN.md's Parcours table is a guard of the event it governs
(:data:`_REGLES`): a command computes its events, and each event passes its
guards before it is recorded. A correction (``SaisieRectifiee``) replays the
stream with the corrected value through the very same guards
(:mod:`services.parcours.domain.rectifications`), so there is one
implementation of the law for what is recorded and for what is corrected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar
from uuid import UUID, uuid4

from droit.calendrier import age_le, ajouter, anniversaire
from droit.regles import (
    AGES_HEBERGEMENT_DEROGATOIRE,
    INTERDICTION_HOTEL,
    NATURES_NON_RENOUVELABLES,
    limite_hebergement,
)
from services.parcours.domain import parcours_evenements as ev
from services.parcours.domain import rectifications
from services.parcours.domain.contexte import Contexte
from services.parcours.domain.flux import Evenement, Flux
from services.parcours.domain.parcours_etat import (
    AccompagnementJeuneMajeur,
    Accueil,
    InformationPreoccupante,
    Mesure,
    Suivi,
)
from services.parcours.domain.regles_mesures import (
    check_departement,
    check_echeance,
    check_nature_et_autorite,
    check_ouverture,
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
from services.runtime.errors import IntrouvableError, RegleMetierError


@dataclass(frozen=True)
class LieuPropose:
    """What a parcours needs to know of a lieu d'accueil to place a child there."""

    lieu_id: UUID
    type_lieu: TypeLieu
    ferme: bool


class Parcours(Flux):
    """One child's or young adult's parcours; every rule of DOMAIN.md is checked here."""

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

    # -- opening ---------------------------------------------------------------

    def __init__(self) -> None:
        """State is built by the creation event's apply()."""

    @classmethod
    def ouvrir(
        cls,
        ctx: Contexte,
        *,
        personne_id: UUID,
        date_naissance: date,
        sexe: Sexe,
        departement: str,
        date_effet: date,
        referent_id: str | None = None,
    ) -> Parcours:
        check_ouverture(departement, date_naissance, date_effet)
        return cls._ouvrir(
            ev.ParcoursOuvert,
            ctx,
            date_effet,
            personne_id=personne_id,
            date_naissance=date_naissance,
            sexe=sexe,
            departement=departement,
            referent_id=referent_id,
        )

    # -- informations préoccupantes ---------------------------------------------

    def recevoir_information_preoccupante(
        self, ctx: Contexte, *, origine: OrigineIP, dangers: list[Danger], date_effet: date
    ) -> UUID:
        ip_id = uuid4()
        self._enregistrer(
            ev.InformationPreoccupanteRecue, ctx, date_effet, ip_id=ip_id, origine=origine, dangers=tuple(dangers)
        )
        return ip_id

    def conclure_evaluation(self, ctx: Contexte, *, ip_id: UUID, suite: SuiteEvaluation, date_effet: date) -> None:
        self._enregistrer(ev.EvaluationConclue, ctx, date_effet, ip_id=ip_id, suite=suite)

    # -- mesures -----------------------------------------------------------------

    def decider_mesure(
        self,
        ctx: Contexte,
        *,
        cadre: Cadre,
        nature: Nature,
        autorite: Autorite,
        reference_decision: str,
        date_debut: date,
        date_echeance: date | None,
        date_effet: date,
        duree_derogatoire: bool = False,
    ) -> UUID:
        mesure_id = uuid4()
        self._enregistrer(
            ev.MesureDecidee,
            ctx,
            date_effet,
            mesure_id=mesure_id,
            cadre=cadre,
            nature=nature,
            autorite=autorite,
            reference_decision=reference_decision,
            date_debut=date_debut,
            date_echeance=date_echeance,
            duree_derogatoire=duree_derogatoire,
        )
        return mesure_id

    def renouveler_mesure(
        self, ctx: Contexte, *, mesure_id: UUID, nouvelle_echeance: date, reference_decision: str, date_effet: date
    ) -> None:
        self._enregistrer(
            ev.MesureRenouvelee,
            ctx,
            date_effet,
            mesure_id=mesure_id,
            nouvelle_echeance=nouvelle_echeance,
            reference_decision=reference_decision,
        )

    def lever_mesure(
        self,
        ctx: Contexte,
        *,
        mesure_id: UUID,
        motif: MotifLevee,
        date_effet: date,
        motif_fin_accueil: MotifFinAccueil | None = None,
    ) -> None:
        """Lift a measure; ``motif_fin_accueil`` ends the accueil it carries in the same commit."""
        self._mesure_active(mesure_id)
        if (
            motif_fin_accueil is not None
            and self.accueil is not None
            and not self._accueil_reste_permis_sans(mesure_id)
        ):
            self._terminer_accueil(ctx, motif_fin_accueil, date_effet)
        self._enregistrer(ev.MesureLevee, ctx, date_effet, mesure_id=mesure_id, motif=motif)

    # -- accueil -----------------------------------------------------------------

    def debuter_accueil(self, ctx: Contexte, *, mesure_id: UUID, lieu: LieuPropose, date_effet: date) -> None:
        self._check_lieu_ouvert(lieu)
        self._enregistrer(
            ev.AccueilDebute,
            ctx,
            date_effet,
            mesure_id=mesure_id,
            lieu_id=lieu.lieu_id,
            type_lieu=lieu.type_lieu,
            date_limite_hotel=limite_hebergement(lieu.type_lieu, date_effet),
        )

    def changer_lieu(self, ctx: Contexte, *, lieu: LieuPropose, motif: MotifChangementLieu, date_effet: date) -> None:
        self._check_lieu_ouvert(lieu)
        self._enregistrer(
            ev.LieuAccueilChange,
            ctx,
            date_effet,
            lieu_id=lieu.lieu_id,
            type_lieu=lieu.type_lieu,
            motif=motif,
            date_limite_hotel=limite_hebergement(lieu.type_lieu, date_effet),
        )

    def terminer_accueil(self, ctx: Contexte, *, motif: MotifFinAccueil, date_effet: date) -> None:
        self._check_en_cours()
        self._accueil_en_cours()
        self._terminer_accueil(ctx, motif, date_effet)

    def declarer_fugue(self, ctx: Contexte, *, date_effet: date) -> None:
        self._enregistrer(ev.FugueDeclaree, ctx, date_effet)

    def terminer_fugue(self, ctx: Contexte, *, date_effet: date) -> None:
        self._enregistrer(ev.FugueTerminee, ctx, date_effet)

    # -- suivi -------------------------------------------------------------------

    def etablir_ppe(self, ctx: Contexte, *, date_effet: date) -> str:
        """Record the PPE: established the first time, updated afterwards."""
        evenement = ev.PPEEtabli if self.suivi.ppe_etabli_le is None else ev.PPEActualise
        self._enregistrer(evenement, ctx, date_effet)
        return evenement.__name__

    def produire_rapport(self, ctx: Contexte, *, transmis_au_juge: bool, date_effet: date) -> None:
        self._enregistrer(ev.RapportSituationProduit, ctx, date_effet, transmis_au_juge=transmis_au_juge)

    def realiser_entretien_autonomie(self, ctx: Contexte, *, date_effet: date) -> None:
        self._enregistrer(ev.EntretienAutonomieRealise, ctx, date_effet)

    # -- majorité et jeune majeur ------------------------------------------------

    def atteindre_majorite(self, ctx: Contexte) -> None:
        """Record majority on the 18th birthday; minors' measures and their accueil end with it."""
        self._check_en_cours()
        dix_huit_ans = anniversaire(self.date_naissance, 18)
        if ctx.aujourd_hui < dix_huit_ans:
            raise RegleMetierError(
                "majorite_pas_encore_atteinte",
                f"la majorité n'est atteinte que le {dix_huit_ans.isoformat()}",
            )
        # Dated on the birthday whenever it is recorded: it may predate the latest event.
        self._enregistrer(ev.MajoriteAtteinte, ctx, dix_huit_ans)
        if self.accueil is not None:
            self._terminer_accueil(ctx, MotifFinAccueil.MAJORITE, dix_huit_ans)
        for mesure in self._mesures_actives():
            self._enregistrer(ev.MesureLevee, ctx, dix_huit_ans, mesure_id=mesure.mesure_id, motif=MotifLevee.MAJORITE)

    def accorder_apjm(
        self, ctx: Contexte, *, date_debut: date, date_fin: date, date_effet: date, fin_annee_engagee: bool = False
    ) -> None:
        self._enregistrer(
            ev.AccompagnementJeuneMajeurAccorde,
            ctx,
            date_effet,
            date_debut=date_debut,
            date_fin=date_fin,
            fin_annee_engagee=fin_annee_engagee,
        )

    def renouveler_apjm(
        self, ctx: Contexte, *, date_fin: date, date_effet: date, fin_annee_engagee: bool = False
    ) -> None:
        self._enregistrer(
            ev.AccompagnementJeuneMajeurRenouvele,
            ctx,
            date_effet,
            date_fin=date_fin,
            fin_annee_engagee=fin_annee_engagee,
        )

    def terminer_apjm(self, ctx: Contexte, *, motif: MotifFinAPJM, date_effet: date) -> None:
        self._enregistrer(ev.AccompagnementJeuneMajeurTermine, ctx, date_effet, motif=motif)

    # -- sortie, réouverture, transfert ------------------------------------------

    def sortir(
        self,
        ctx: Contexte,
        *,
        motif: MotifSortie,
        situation_logement: SituationLogement,
        date_effet: date,
        clore_en_cours: bool = False,
    ) -> None:
        """Leave care; ``clore_en_cours`` ends what is still open in the same commit."""
        self._check_en_cours()
        if clore_en_cours:
            if self.accueil is not None:
                self._terminer_accueil(ctx, MotifFinAccueil.AUTRE, date_effet)
            for mesure in self._mesures_actives():
                self._enregistrer(ev.MesureLevee, ctx, date_effet, mesure_id=mesure.mesure_id, motif=MotifLevee.AUTRE)
            if self.apjm is not None:
                self._enregistrer(ev.AccompagnementJeuneMajeurTermine, ctx, date_effet, motif=MotifFinAPJM.AUTRE)
        self._enregistrer(ev.SortieDispositif, ctx, date_effet, motif=motif, situation_logement=situation_logement)

    def rouvrir(self, ctx: Contexte, *, motif: str, date_effet: date) -> None:
        self._enregistrer(ev.ParcoursRouvert, ctx, date_effet, motif=motif)

    def transferer(self, ctx: Contexte, *, departement_destination: str, date_effet: date) -> None:
        self._enregistrer(
            ev.DossierTransfere,
            ctx,
            date_effet,
            departement_origine=self.departement,
            departement_destination=departement_destination,
        )

    def designer_referent(self, ctx: Contexte, *, referent_id: str, date_effet: date) -> None:
        self._enregistrer(ev.ReferentDesigne, ctx, date_effet, referent_id=referent_id)

    def rectifier(self, ctx: Contexte, *, version_rectifiee: int, champ: str, nouvelle_valeur: Any, motif: str) -> None:
        """Correct one field of a past event by recording the correction beside it.

        Accepted only if the stream, replayed with the corrected value, passes
        every rule as if the value had been recorded so (DOMAIN.md, SaisieRectifiee);
        dated with the corrected event's ``date_effet``.
        """
        correction = rectifications.preparer(self.historique, version_rectifiee, champ, nouvelle_valeur)
        self._enregistrer(
            ev.SaisieRectifiee,
            ctx,
            correction.date_effet,
            version_rectifiee=version_rectifiee,
            evenement_rectifie=correction.evenement_rectifie,
            champ=champ,
            ancienne_valeur=correction.ancienne_valeur,
            nouvelle_valeur=correction.nouvelle_valeur,
            motif=motif,
        )

    # -- rules, one guard per event ----------------------------------------------

    def verifier(self, evenement: Evenement, aujourd_hui: date) -> None:
        """Refuse ``evenement`` if recording it on ``aujourd_hui`` breaks a rule of DOMAIN.md."""
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

    def _regle_accueil_termine(self, _e: ev.AccueilTermine) -> None:
        self._check_en_cours()
        self._accueil_en_cours()

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
                f"la majorité est datée du 18e anniversaire, le {dix_huit_ans.isoformat()}",
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
        rectifications.check_rejeu(self.historique, e)

    # -- guards and helpers ------------------------------------------------------

    @property
    def age(self) -> int:
        return age_le(self.date_naissance, self.derniere_date_effet)

    def mesures_actives(self) -> list[Mesure]:
        return self._mesures_actives()

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

    @staticmethod
    def _check_lieu_ouvert(lieu: LieuPropose) -> None:
        if lieu.ferme:
            raise RegleMetierError("lieu_ferme", "ce lieu d'accueil est fermé")

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

    def _terminer_accueil(self, ctx: Contexte, motif: MotifFinAccueil, date_effet: date) -> None:
        assert self.accueil is not None
        if self.accueil.fugue_depuis is not None:
            self._enregistrer(ev.FugueTerminee, ctx, date_effet)
        self._enregistrer(ev.AccueilTermine, ctx, date_effet, motif=motif)

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

    def _check_avant_majorite(self, date_effet: date) -> None:
        if self.majorite_atteinte_le is not None or date_effet >= anniversaire(self.date_naissance, 18):
            raise RegleMetierError(
                "accueil_apres_majorite",
                "un accueil au titre d'une mesure de protection de l'enfance prend fin à la majorité",
            )


_REGLES: dict[type[Evenement], Callable[[Parcours, Any], None]] = {
    ev.InformationPreoccupanteRecue: Parcours._regle_ip,
    ev.EvaluationConclue: Parcours._regle_evaluation,
    ev.MesureDecidee: Parcours._regle_mesure_decidee,
    ev.MesureRenouvelee: Parcours._regle_mesure_renouvelee,
    ev.MesureLevee: Parcours._regle_mesure_levee,
    ev.AccueilDebute: Parcours._regle_accueil_debute,
    ev.LieuAccueilChange: Parcours._regle_lieu_change,
    ev.AccueilTermine: Parcours._regle_accueil_termine,
    ev.FugueDeclaree: Parcours._regle_fugue_declaree,
    ev.FugueTerminee: Parcours._regle_fugue_terminee,
    ev.PPEEtabli: Parcours._regle_ppe_etabli,
    ev.PPEActualise: Parcours._regle_ppe_actualise,
    ev.RapportSituationProduit: Parcours._regle_en_cours,
    ev.EntretienAutonomieRealise: Parcours._regle_entretien,
    ev.MajoriteAtteinte: Parcours._regle_majorite,
    ev.AccompagnementJeuneMajeurAccorde: Parcours._regle_apjm_accorde,
    ev.AccompagnementJeuneMajeurRenouvele: Parcours._regle_apjm_renouvele,
    ev.AccompagnementJeuneMajeurTermine: Parcours._regle_apjm_termine,
    ev.SortieDispositif: Parcours._regle_sortie,
    ev.ParcoursRouvert: Parcours._regle_reouverture,
    ev.DossierTransfere: Parcours._regle_transfert,
    ev.ReferentDesigne: Parcours._regle_referent,
    ev.SaisieRectifiee: Parcours._regle_rectification,
}
"""The guards of each event (DOMAIN.md's Parcours table), run before it is recorded and when a correction replays it."""
