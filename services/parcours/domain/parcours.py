"""The Parcours aggregate: one child's path through child protection, and its rules."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import orjson
from pydantic import TypeAdapter, ValidationError

from droit.calendrier import age_le, ajouter, anniversaire
from services.parcours.domain import parcours_evenements as ev
from services.parcours.domain.contexte import Contexte
from services.parcours.domain.flux import Evenement, Flux
from services.parcours.domain.parcours_etat import (
    AccompagnementJeuneMajeur,
    Accueil,
    InformationPreoccupante,
    Mesure,
    Suivi,
)
from services.parcours.domain.regles_mesures import check_departement, check_echeance, check_nature_et_autorite
from services.parcours.domain.vocabulaire import (
    INTERDICTION_HOTEL,
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
        check_departement(departement)
        if date_naissance >= date_effet or date_naissance > ctx.aujourd_hui:
            raise RegleMetierError(
                "date_naissance_invalide",
                "la date de naissance doit précéder la date d'effet et être dans le passé",
            )
        if date_effet >= anniversaire(date_naissance, 21):
            raise RegleMetierError(
                "age_limite_depasse",
                "un parcours ne s'ouvre que pour une personne de moins de 21 ans à la date d'effet",
            )
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
        self._check_en_cours()
        if not dangers:
            raise RegleMetierError("dangers_requis", "une IP nomme au moins un danger")
        ip_id = uuid4()
        self._enregistrer(
            ev.InformationPreoccupanteRecue,
            ctx,
            date_effet,
            ip_id=ip_id,
            origine=origine,
            dangers=tuple(dict.fromkeys(dangers)),
        )
        return ip_id

    def conclure_evaluation(self, ctx: Contexte, *, ip_id: UUID, suite: SuiteEvaluation, date_effet: date) -> None:
        self._check_en_cours()
        ip = self.informations.get(ip_id)
        if ip is None:
            raise IntrouvableError("information préoccupante", ip_id)
        if ip.suite is not None:
            raise RegleMetierError("ip_deja_evaluee", "cette information préoccupante est déjà évaluée")
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
    ) -> UUID:
        self._check_en_cours()
        check_nature_et_autorite(cadre, nature, autorite)
        # Decided or starting once the person is an adult (majority recorded, or
        # on or after the 18th birthday), a measure is no minor's measure.
        majeur = self.majorite_atteinte_le is not None
        if majeur or max(date_debut, date_effet) >= anniversaire(self.date_naissance, 18):
            raise RegleMetierError(
                "mesure_de_mineur",
                "une mesure de protection de l'enfance est décidée et débute avant les 18 ans; "
                "après, c'est un accompagnement jeune majeur",
            )
        check_echeance(cadre, nature, date_debut, date_echeance)
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
        )
        return mesure_id

    def renouveler_mesure(
        self,
        ctx: Contexte,
        *,
        mesure_id: UUID,
        nouvelle_echeance: date,
        reference_decision: str,
        date_effet: date,
    ) -> None:
        self._check_en_cours()
        mesure = self._mesure_active(mesure_id)
        debut_periode = mesure.date_echeance or mesure.date_debut
        if nouvelle_echeance <= debut_periode:
            raise RegleMetierError(
                "echeance_invalide",
                "la nouvelle échéance doit suivre l'échéance en cours",
            )
        check_echeance(mesure.cadre, mesure.nature, debut_periode, nouvelle_echeance)
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
        self._check_en_cours()
        self._mesure_active(mesure_id)
        if self.accueil is not None and not self._accueil_reste_permis_sans(mesure_id):
            if motif_fin_accueil is None:
                raise RegleMetierError(
                    "accueil_sans_mesure",
                    "lever cette mesure laisserait l'accueil en cours sans mesure qui le permette: "
                    "terminer l'accueil d'abord, ou dans la même commande (motif_fin_accueil)",
                )
            self._terminer_accueil(ctx, motif_fin_accueil, date_effet)
        self._enregistrer(ev.MesureLevee, ctx, date_effet, mesure_id=mesure_id, motif=motif)

    # -- accueil -----------------------------------------------------------------

    def debuter_accueil(self, ctx: Contexte, *, mesure_id: UUID, lieu: LieuPropose, date_effet: date) -> None:
        self._check_en_cours()
        mesure = self._mesure_active(mesure_id)
        if not mesure.permet_accueil:
            raise RegleMetierError(
                "mesure_sans_accueil",
                f"une mesure {mesure.nature.value} accompagne l'enfant chez lui: elle ne permet pas d'accueil",
            )
        if self.accueil is not None:
            raise RegleMetierError("accueil_deja_en_cours", "un accueil est déjà en cours")
        if date_effet < mesure.date_debut:
            raise RegleMetierError("accueil_avant_la_mesure", "l'accueil ne peut débuter avant la mesure qui le permet")
        self._check_avant_majorite(date_effet)
        date_limite = self._check_lieu(lieu, date_effet)
        self._enregistrer(
            ev.AccueilDebute,
            ctx,
            date_effet,
            mesure_id=mesure_id,
            lieu_id=lieu.lieu_id,
            type_lieu=lieu.type_lieu,
            date_limite_hotel=date_limite,
        )

    def changer_lieu(self, ctx: Contexte, *, lieu: LieuPropose, motif: MotifChangementLieu, date_effet: date) -> None:
        self._check_en_cours()
        accueil = self._accueil_en_cours()
        if lieu.lieu_id == accueil.lieu_id:
            raise RegleMetierError("meme_lieu", "l'enfant est déjà accueilli dans ce lieu")
        date_limite = self._check_lieu(lieu, date_effet)
        self._enregistrer(
            ev.LieuAccueilChange,
            ctx,
            date_effet,
            lieu_id=lieu.lieu_id,
            type_lieu=lieu.type_lieu,
            motif=motif,
            date_limite_hotel=date_limite,
        )

    def terminer_accueil(self, ctx: Contexte, *, motif: MotifFinAccueil, date_effet: date) -> None:
        self._check_en_cours()
        self._accueil_en_cours()
        self._terminer_accueil(ctx, motif, date_effet)

    def declarer_fugue(self, ctx: Contexte, *, date_effet: date) -> None:
        self._check_en_cours()
        if self._accueil_en_cours().fugue_depuis is not None:
            raise RegleMetierError("fugue_deja_en_cours", "une fugue est déjà déclarée")
        self._enregistrer(ev.FugueDeclaree, ctx, date_effet)

    def terminer_fugue(self, ctx: Contexte, *, date_effet: date) -> None:
        self._check_en_cours()
        if self.accueil is None or self.accueil.fugue_depuis is None:
            raise RegleMetierError("aucune_fugue", "aucune fugue n'est en cours")
        self._enregistrer(ev.FugueTerminee, ctx, date_effet)

    # -- suivi -------------------------------------------------------------------

    def etablir_ppe(self, ctx: Contexte, *, date_effet: date) -> str:
        """Record the PPE: established the first time, updated afterwards."""
        self._check_en_cours()
        evenement = ev.PPEEtabli if self.suivi.ppe_etabli_le is None else ev.PPEActualise
        self._enregistrer(evenement, ctx, date_effet)
        return evenement.__name__

    def produire_rapport(self, ctx: Contexte, *, transmis_au_juge: bool, date_effet: date) -> None:
        self._check_en_cours()
        self._enregistrer(ev.RapportSituationProduit, ctx, date_effet, transmis_au_juge=transmis_au_juge)

    def realiser_entretien_autonomie(self, ctx: Contexte, *, date_effet: date) -> None:
        self._check_en_cours()
        if age_le(self.date_naissance, date_effet) < 16:
            raise RegleMetierError("entretien_avant_16_ans", "l'entretien d'autonomie se tient à partir de 16 ans")
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
        if self.majorite_atteinte_le is not None:
            raise RegleMetierError("majorite_deja_enregistree", "la majorité est déjà enregistrée")
        # Dated on the birthday whenever it is recorded: it may predate the latest event.
        self._enregistrer(ev.MajoriteAtteinte, ctx, dix_huit_ans, retroactif=True)
        if self.accueil is not None:
            self._terminer_accueil(ctx, MotifFinAccueil.MAJORITE, dix_huit_ans, retroactif=True)
        for mesure in list(self.mesures.values()):
            if mesure.active:
                self._enregistrer(
                    ev.MesureLevee,
                    ctx,
                    dix_huit_ans,
                    retroactif=True,
                    mesure_id=mesure.mesure_id,
                    motif=MotifLevee.MAJORITE,
                )

    def accorder_apjm(self, ctx: Contexte, *, date_debut: date, date_fin: date, date_effet: date) -> None:
        self._check_en_cours()
        dix_huit_ans = anniversaire(self.date_naissance, 18)
        if self.majorite_atteinte_le is None and date_debut != dix_huit_ans:
            raise RegleMetierError(
                "apjm_avant_majorite",
                "un accompagnement jeune majeur suit la majorité, ou est décidé avant pour débuter le jour des 18 ans",
            )
        if date_debut < dix_huit_ans:
            raise RegleMetierError("apjm_avant_majorite", "un accompagnement jeune majeur débute à 18 ans au plus tôt")
        if self.apjm is not None:
            raise RegleMetierError("apjm_deja_en_cours", "un accompagnement jeune majeur est déjà en cours")
        if date_fin <= date_debut:
            raise RegleMetierError("apjm_dates_invalides", "la fin de l'accompagnement doit suivre son début")
        self._check_fin_avant_21_ans(date_fin)
        self._enregistrer(
            ev.AccompagnementJeuneMajeurAccorde, ctx, date_effet, date_debut=date_debut, date_fin=date_fin
        )

    def renouveler_apjm(self, ctx: Contexte, *, date_fin: date, date_effet: date) -> None:
        self._check_en_cours()
        apjm = self._apjm_en_cours()
        if date_fin <= apjm.date_fin:
            raise RegleMetierError("apjm_dates_invalides", "le renouvellement doit prolonger l'accompagnement")
        self._check_fin_avant_21_ans(date_fin)
        self._enregistrer(ev.AccompagnementJeuneMajeurRenouvele, ctx, date_effet, date_fin=date_fin)

    def terminer_apjm(self, ctx: Contexte, *, motif: MotifFinAPJM, date_effet: date) -> None:
        self._check_en_cours()
        self._apjm_en_cours()
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
        encore_ouvert = self.accueil is not None or self.apjm is not None or self._mesures_actives()
        if encore_ouvert and not clore_en_cours:
            raise RegleMetierError(
                "sortie_avec_prise_en_charge_active",
                "une mesure, un accueil ou un accompagnement est encore en cours: "
                "les clore d'abord, ou dans la même commande (clore_en_cours)",
            )
        if self.accueil is not None:
            self._terminer_accueil(ctx, MotifFinAccueil.AUTRE, date_effet)
        for mesure in self._mesures_actives():
            self._enregistrer(ev.MesureLevee, ctx, date_effet, mesure_id=mesure.mesure_id, motif=MotifLevee.AUTRE)
        if self.apjm is not None:
            self._enregistrer(ev.AccompagnementJeuneMajeurTermine, ctx, date_effet, motif=MotifFinAPJM.AUTRE)
        self._enregistrer(ev.SortieDispositif, ctx, date_effet, motif=motif, situation_logement=situation_logement)

    def rouvrir(self, ctx: Contexte, *, motif: str, date_effet: date) -> None:
        if self.sorti_le is None:
            raise RegleMetierError("parcours_non_sorti", "seul un parcours sorti du dispositif se rouvre")
        if date_effet >= anniversaire(self.date_naissance, 21):
            raise RegleMetierError("age_limite_depasse", "un parcours ne se rouvre pas après 21 ans")
        self._enregistrer(ev.ParcoursRouvert, ctx, date_effet, motif=motif)

    def transferer(self, ctx: Contexte, *, departement_destination: str, date_effet: date) -> None:
        self._check_en_cours()
        check_departement(departement_destination)
        if departement_destination == self.departement:
            raise RegleMetierError("meme_departement", "le dossier est déjà dans ce département")
        self._enregistrer(
            ev.DossierTransfere,
            ctx,
            date_effet,
            departement_origine=self.departement,
            departement_destination=departement_destination,
        )

    def designer_referent(self, ctx: Contexte, *, referent_id: str, date_effet: date) -> None:
        self._check_en_cours()
        self._enregistrer(ev.ReferentDesigne, ctx, date_effet, referent_id=referent_id)

    def rectifier(
        self,
        ctx: Contexte,
        *,
        evenement_rectifie: Evenement,
        champ: str,
        nouvelle_valeur: Any,
        motif: str,
    ) -> None:
        """Correct one field of a past event by recording the correction beside it."""
        if isinstance(evenement_rectifie, ev.SaisieRectifiee):
            raise RegleMetierError(
                "rectification_de_rectification",
                "une rectification se corrige par une autre rectification de l'événement d'origine",
            )
        types = typing.get_type_hints(type(evenement_rectifie))
        rectifiables = ev.champs_rectifiables(evenement_rectifie)
        if champ not in rectifiables:
            raise RegleMetierError(
                "champ_non_rectifiable",
                f"{type(evenement_rectifie).__name__} n'a pas de champ rectifiable {champ!r}; "
                f"champs: {', '.join(sorted(rectifiables))}",
            )
        try:
            # Strict JSON reading: a date is an ISO string, never a number of seconds.
            valeur = TypeAdapter(types[champ]).validate_json(orjson.dumps(nouvelle_valeur), strict=True)
        except ValidationError as exc:
            raise RegleMetierError(
                "valeur_invalide", f"valeur invalide pour {champ}: {exc.errors()[0]['msg']}"
            ) from None
        nouvelle = TypeAdapter(types[champ]).dump_python(valeur, mode="json")
        ancienne = TypeAdapter(types[champ]).dump_python(getattr(evenement_rectifie, champ), mode="json")
        if nouvelle == ancienne:
            raise RegleMetierError("rectification_sans_effet", "la nouvelle valeur est celle déjà enregistrée")
        if champ == "date_naissance":
            self._check_date_naissance_rectifiee(valeur)
        # A correction is dated when it is made; it may not move the stream backwards.
        self._enregistrer(
            ev.SaisieRectifiee,
            ctx,
            max(ctx.aujourd_hui, self.derniere_date_effet),
            version_rectifiee=evenement_rectifie.originator_version,
            evenement_rectifie=type(evenement_rectifie).__name__,
            champ=champ,
            ancienne_valeur=ancienne,
            nouvelle_valeur=nouvelle,
            motif=motif,
        )

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

    def _check_lieu(self, lieu: LieuPropose, date_effet: date) -> date | None:
        """Refuse a closed lieu or a forbidden hotel; return a hotel stay's limit."""
        if lieu.ferme:
            raise RegleMetierError("lieu_ferme", "ce lieu d'accueil est fermé")
        if lieu.type_lieu is not TypeLieu.HOTEL or date_effet < INTERDICTION_HOTEL:
            return None
        age = age_le(self.date_naissance, date_effet)
        if not 16 <= age < 21:
            raise RegleMetierError(
                "hotel_interdit",
                "l'hébergement à l'hôtel est interdit depuis le 1er février 2024, sauf de 16 à 21 ans",
            )
        return ajouter(date_effet, mois=2)

    def _terminer_accueil(
        self, ctx: Contexte, motif: MotifFinAccueil, date_effet: date, *, retroactif: bool = False
    ) -> None:
        assert self.accueil is not None
        if self.accueil.fugue_depuis is not None:
            self._enregistrer(ev.FugueTerminee, ctx, date_effet, retroactif=retroactif)
        self._enregistrer(ev.AccueilTermine, ctx, date_effet, retroactif=retroactif, motif=motif)

    def _check_fin_avant_21_ans(self, date_fin: date) -> None:
        if date_fin >= anniversaire(self.date_naissance, 21):
            raise RegleMetierError("apjm_au_dela_de_21_ans", "un accompagnement jeune majeur finit avant les 21 ans")

    def _check_date_naissance_rectifiee(self, date_naissance: date) -> None:
        if date_naissance >= self.ouvert_le:
            raise RegleMetierError("date_naissance_invalide", "la date de naissance doit précéder l'ouverture")
        if self.ouvert_le >= anniversaire(date_naissance, 21):
            raise RegleMetierError(
                "age_limite_depasse", "avec cette date de naissance, la personne avait 21 ans à l'ouverture"
            )
        if self.majorite_atteinte_le is not None and anniversaire(date_naissance, 18) != self.majorite_atteinte_le:
            raise RegleMetierError(
                "majorite_deja_enregistree",
                "la majorité est enregistrée à une date que cette date de naissance contredit",
            )

    def _check_avant_majorite(self, date_effet: date) -> None:
        if self.majorite_atteinte_le is not None or date_effet >= anniversaire(self.date_naissance, 18):
            raise RegleMetierError(
                "accueil_apres_majorite",
                "un accueil au titre d'une mesure de protection de l'enfance prend fin à la majorité",
            )
