"""The Parcours aggregate: one child's path through child protection, and its rules.

Every rule of DOMAIN.md's Parcours table is a guard of the event it governs
(:mod:`services.parcours.domain.parcours_regles`): a command computes its events, and each event passes its
guards before it is recorded. A correction (``SaisieRectifiee``) replays the
stream with the corrected value through the very same guards
(:mod:`services.parcours.domain.rectifications`), so there is one
implementation of the law for what is recorded and for what is corrected.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any, Concatenate, ParamSpec, TypeVar
from uuid import UUID, uuid4

from droit.calendrier import age_le, anniversaire
from droit.regles import (
    limite_hebergement,
)
from services.parcours.domain import parcours_evenements as ev
from services.parcours.domain import rectifications
from services.parcours.domain.contexte import Contexte
from services.parcours.domain.parcours_etat import (
    Mesure,
)
from services.parcours.domain.parcours_regles import EtatParcours
from services.parcours.domain.regles_mesures import (
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
from services.runtime.errors import RegleMetierError

P = ParamSpec("P")
R = TypeVar("R")


def atomique(commande: Callable[Concatenate[Parcours, P], R]) -> Callable[Concatenate[Parcours, P], R]:
    """A command that may record several events records all of them or none."""

    @functools.wraps(commande)
    def enveloppe(parcours: Parcours, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with parcours._atomique():
            return commande(parcours, *args, **kwargs)

    return enveloppe


@dataclass(frozen=True)
class LieuPropose:
    """What a parcours needs to know of a lieu d'accueil to place a child there."""

    lieu_id: UUID
    type_lieu: TypeLieu
    ferme: bool


class Parcours(EtatParcours):
    """One child's or young adult's parcours: the commands of API.md, each recording events that pass their rules."""

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

    @atomique
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

    @atomique
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

    @atomique
    def atteindre_majorite(self, ctx: Contexte) -> None:
        """Record majority on the 18th birthday; minors' measures and their accueil end with it."""
        self._check_en_cours()
        dix_huit_ans = anniversaire(self.date_naissance, 18)
        if ctx.aujourd_hui < dix_huit_ans:
            raise RegleMetierError(
                "majorite_pas_encore_atteinte",
                "la majorité n'est pas encore atteinte: elle se constate à partir du 18e anniversaire",
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

    @atomique
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

    @atomique
    def rectifier(self, ctx: Contexte, *, version_rectifiee: int, champ: str, nouvelle_valeur: Any, motif: str) -> None:
        """Correct one field of a past event by recording the correction beside it.

        Accepted only if the stream, replayed with the corrected value, passes
        every rule as if the value had been recorded so (DOMAIN.md, SaisieRectifiee);
        dated with the corrected event's ``date_effet``. A corrected birth date
        also re-dates a recorded majority and the ends it implied, in the same commit.
        Raises ``SaisieInvalideError`` for a value of the wrong type, ``RegleMetierError`` otherwise.
        """
        correction = rectifications.preparer(self.historique, version_rectifiee, champ, nouvelle_valeur)
        corrections = [correction]
        if champ == "date_naissance" and self.majorite_atteinte_le is not None:
            naissance = date.fromisoformat(str(correction.nouvelle_valeur))
            corrections += rectifications.majorite_redatee(self.historique, naissance)
        candidats = [
            self._construire(
                ev.SaisieRectifiee,
                ctx,
                c.date_effet,
                rang=rang,
                version_rectifiee=c.version_rectifiee,
                evenement_rectifie=c.evenement_rectifie,
                champ=c.champ,
                ancienne_valeur=c.ancienne_valeur,
                nouvelle_valeur=c.nouvelle_valeur,
                motif=motif,
            )
            for rang, c in enumerate(corrections)
        ]
        # The corrections of one command stand or fall together: each is checked with those after it.
        self._rectifications_liees = candidats
        try:
            for candidat in candidats:
                self._inscrire(candidat, ctx.aujourd_hui)
        finally:
            del self._rectifications_liees

    # -- guards and helpers ------------------------------------------------------

    @property
    def age(self) -> int:
        return age_le(self.date_naissance, self.derniere_date_effet)

    def mesures_actives(self) -> list[Mesure]:
        return self._mesures_actives()

    @contextmanager
    def _atomique(self) -> Iterator[None]:
        """A command of several events records all or none: a refusal of a later one undoes the earlier."""
        version, en_attente = self.version, len(self._pending_events)
        try:
            yield
        except Exception:
            if self.version != version:
                originaux = self.historique[: len(self.historique) - (self.version - version)]
                etat = rectifications.rejouer(originaux)
                for nom, valeur in vars(etat).items():
                    if nom != "_pending_events":
                        setattr(self, nom, valeur)
                self.historique = originaux
                del self._pending_events[en_attente:]
            raise

    @staticmethod
    def _check_lieu_ouvert(lieu: LieuPropose) -> None:
        if lieu.ferme:
            raise RegleMetierError("lieu_ferme", "ce lieu d'accueil est fermé")

    def _terminer_accueil(self, ctx: Contexte, motif: MotifFinAccueil, date_effet: date) -> None:
        assert self.accueil is not None
        if self.accueil.fugue_depuis is not None:
            self._enregistrer(ev.FugueTerminee, ctx, date_effet)
        self._enregistrer(ev.AccueilTermine, ctx, date_effet, motif=motif)
