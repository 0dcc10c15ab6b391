"""Invariants of the Parcours stream under random sequences of commands (hypothesis).

A state machine plays random commands, with "today" moving forward, against one
parcours; refused commands must leave it untouched, accepted ones are kept by
commit. After every step:

(a) replaying the recorded events rebuilds exactly the live state;
(b) never two current accueils, and ``accueil`` agrees with the stream;
(c) a current accueil always rests on an active mesure that allows it;
(d) dates of effect never go backwards, except MajoriteAtteinte and the ends of
    its commit, all dated on the 18th birthday; none is after its recording day;
(e) once the majority is recorded, no minor's mesure is active any more.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import project_aggregate
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from droit.calendrier import ajouter, anniversaire
from services.parcours.domain import parcours_evenements as ev
from services.parcours.domain import rectifications
from services.parcours.domain.parcours import LieuPropose, Parcours
from services.parcours.domain.vocabulaire import (
    NATURES_PERMETTANT_ACCUEIL,
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
from services.runtime.errors import IntrouvableError, RegleMetierError, SaisieInvalideError
from services.runtime.horloge import FUSEAU
from tests.unit.fabrique import AUTORITE_DE, CADRE_DE, ctx_on, echeance_maximale, state_of

# Mostly today; sometimes a little or much earlier (often refused as behind the
# stream); once in a while tomorrow (always refused).
RETARDS = st.sampled_from([0, 0, 0, 0, 0, 1, 3, 20, 90, -1])
INDEX = st.integers(min_value=0, max_value=12)
INCONNU = 12
DEPARTEMENTS = st.sampled_from(["59", "62", "75", "2A", "974", "20"])


class ParcoursAuHasard(RuleBasedStateMachine):
    """One parcours under a random sequence of commands."""

    def __init__(self) -> None:
        super().__init__()
        self.today = date(2023, 1, 1)
        self.p: Parcours
        self.lieux: list[LieuPropose] = []
        self.commits: list[tuple[list[Any], date]] = []

    # -- plumbing ----------------------------------------------------------------

    def jour(self, retard: int) -> date:
        return self.today - timedelta(days=retard)

    def executer(self, commande: Callable[[], object]) -> None:
        """Play ``commande``; a refusal must leave the stream exactly as it was."""
        p = self.p
        version, en_attente, avant = p.version, len(p.pending_events), state_of(p)
        dix_huit_ans = anniversaire(p.date_naissance, 18)
        try:
            commande()
        except (RegleMetierError, IntrouvableError, SaisieInvalideError):
            assert p.version == version
            assert len(p.pending_events) == en_attente
            assert state_of(p) == avant
            return
        nouveaux = list(p.pending_events[en_attente:])
        assert nouveaux, "an accepted command records at least one event"
        assert p.version == version + len(nouveaux)
        self.commits.append((nouveaux, dix_huit_ans))

    def mesure(self, index: int) -> UUID:
        """One of the parcours' mesures, or now and then an unknown one."""
        ids = list(self.p.mesures)
        return ids[index % len(ids)] if ids and index != INCONNU else uuid4()

    def lieu(self, index: int) -> LieuPropose:
        if self.p.accueil is not None and index == 0:
            return LieuPropose(self.p.accueil.lieu_id, self.p.accueil.type_lieu, ferme=False)
        return self.lieux[index % len(self.lieux)]

    # -- setup -------------------------------------------------------------------

    @initialize(
        ne_le=st.dates(min_value=date(2005, 6, 1), max_value=date(2011, 12, 31)),
        ouvert_le=st.dates(min_value=date(2023, 1, 1), max_value=date(2024, 6, 30)),
        departement=st.sampled_from(["59", "62", "2A", "974"]),
    )
    def ouvrir(self, ne_le: date, ouvert_le: date, departement: str) -> None:
        if ouvert_le >= anniversaire(ne_le, 21):
            ouvert_le = ajouter(anniversaire(ne_le, 21), jours=-1)
        self.today = ouvert_le
        self.p = Parcours.ouvrir(
            ctx_on(ouvert_le),
            personne_id=uuid4(),
            date_naissance=ne_le,
            sexe=Sexe.X,
            departement=departement,
            date_effet=ouvert_le,
        )
        self.commits.append((list(self.p.pending_events), anniversaire(ne_le, 18)))
        self.lieux = [
            LieuPropose(uuid4(), type_lieu, ferme=ferme)
            for type_lieu, ferme in [
                (TypeLieu.MECS, False),
                (TypeLieu.ASSISTANT_FAMILIAL, False),
                (TypeLieu.HOTEL, False),
                (TypeLieu.HOTEL, False),
                (TypeLieu.LOGEMENT_AUTONOME, False),
                (TypeLieu.FOYER_ENFANCE, True),
            ]
        ]

    # -- time --------------------------------------------------------------------

    @rule(jours=st.integers(min_value=0, max_value=400))
    def avancer(self, jours: int) -> None:
        self.today += timedelta(days=jours)

    # -- commands ----------------------------------------------------------------

    @rule(
        retard=RETARDS,
        origine=st.sampled_from(OrigineIP),
        dangers=st.lists(st.sampled_from(Danger), max_size=3),
    )
    def recevoir_ip(self, retard: int, origine: OrigineIP, dangers: list[Danger]) -> None:
        jour = self.jour(retard)
        self.executer(
            lambda: self.p.recevoir_information_preoccupante(
                ctx_on(self.today), origine=origine, dangers=dangers, date_effet=jour
            )
        )

    @rule(retard=RETARDS, index=INDEX, suite=st.sampled_from(SuiteEvaluation))
    def evaluer(self, retard: int, index: int, suite: SuiteEvaluation) -> None:
        ips = list(self.p.informations)
        ip_id = ips[index % len(ips)] if ips and index != INCONNU else uuid4()
        jour = self.jour(retard)
        self.executer(lambda: self.p.conclure_evaluation(ctx_on(self.today), ip_id=ip_id, suite=suite, date_effet=jour))

    @rule(
        retard=RETARDS,
        nature=st.sampled_from(Nature),
        cadre=st.one_of(st.none(), st.none(), st.none(), st.sampled_from(Cadre)),
        autorite=st.one_of(st.none(), st.none(), st.sampled_from(Autorite)),
        debut=st.one_of(st.integers(min_value=-30, max_value=30), st.integers(min_value=-400, max_value=0)),
        echeance=st.one_of(st.none(), st.integers(min_value=-400, max_value=5)),
    )
    def decider_mesure(
        self,
        *,
        retard: int,
        nature: Nature,
        cadre: Cadre | None,
        autorite: Autorite | None,
        debut: int,
        echeance: int | None,
    ) -> None:
        jour = self.jour(retard)
        date_debut = jour + timedelta(days=debut)
        maximale = echeance_maximale(nature, date_debut) or ajouter(date_debut, annees=1)
        date_echeance = None if echeance is None else maximale + timedelta(days=echeance)
        self.executer(
            lambda: self.p.decider_mesure(
                ctx_on(self.today),
                cadre=cadre or CADRE_DE[nature],
                nature=nature,
                autorite=autorite or AUTORITE_DE[nature],
                reference_decision="ref",
                date_debut=date_debut,
                date_echeance=date_echeance,
                date_effet=jour,
            )
        )

    @rule(retard=RETARDS, index=INDEX, jours=st.integers(min_value=-10, max_value=800))
    def renouveler_mesure(self, retard: int, index: int, jours: int) -> None:
        mesure_id = self.mesure(index)
        mesure = self.p.mesures.get(mesure_id)
        base = (mesure.date_echeance or mesure.date_debut) if mesure else self.today
        jour = self.jour(retard)
        self.executer(
            lambda: self.p.renouveler_mesure(
                ctx_on(self.today),
                mesure_id=mesure_id,
                nouvelle_echeance=base + timedelta(days=jours),
                reference_decision="renouv",
                date_effet=jour,
            )
        )

    @rule(
        retard=RETARDS,
        index=INDEX,
        motif=st.sampled_from(MotifLevee),
        motif_fin_accueil=st.one_of(st.none(), st.sampled_from(MotifFinAccueil)),
    )
    def lever_mesure(
        self, retard: int, index: int, motif: MotifLevee, motif_fin_accueil: MotifFinAccueil | None
    ) -> None:
        mesure_id = self.mesure(index)
        jour = self.jour(retard)
        self.executer(
            lambda: self.p.lever_mesure(
                ctx_on(self.today),
                mesure_id=mesure_id,
                motif=motif,
                date_effet=jour,
                motif_fin_accueil=motif_fin_accueil,
            )
        )

    @rule(retard=RETARDS, index=INDEX, lieu=INDEX)
    def debuter_accueil(self, retard: int, index: int, lieu: int) -> None:
        mesure_id, ou, jour = self.mesure(index), self.lieu(lieu), self.jour(retard)
        self.executer(lambda: self.p.debuter_accueil(ctx_on(self.today), mesure_id=mesure_id, lieu=ou, date_effet=jour))

    @rule(retard=RETARDS, nature=st.sampled_from(sorted(NATURES_PERMETTANT_ACCUEIL)), lieu=INDEX)
    def placer(self, retard: int, nature: Nature, lieu: int) -> None:
        """The usual pair: a mesure allowing an accueil, then the accueil under it."""
        jour = self.jour(retard)
        self.executer(
            lambda: self.p.decider_mesure(
                ctx_on(self.today),
                cadre=CADRE_DE[nature],
                nature=nature,
                autorite=AUTORITE_DE[nature],
                reference_decision="ref",
                date_debut=jour,
                date_echeance=echeance_maximale(nature, jour),
                date_effet=jour,
            )
        )
        if self.p.mesures:
            self.debuter_accueil(retard=retard, index=len(self.p.mesures) - 1, lieu=lieu)

    @rule(retard=RETARDS, lieu=INDEX, motif=st.sampled_from(MotifChangementLieu))
    def changer_lieu(self, retard: int, lieu: int, motif: MotifChangementLieu) -> None:
        ou, jour = self.lieu(lieu), self.jour(retard)
        self.executer(lambda: self.p.changer_lieu(ctx_on(self.today), lieu=ou, motif=motif, date_effet=jour))

    @rule(retard=RETARDS, motif=st.sampled_from(MotifFinAccueil))
    def terminer_accueil(self, retard: int, motif: MotifFinAccueil) -> None:
        jour = self.jour(retard)
        self.executer(lambda: self.p.terminer_accueil(ctx_on(self.today), motif=motif, date_effet=jour))

    @rule(retard=RETARDS)
    def declarer_fugue(self, retard: int) -> None:
        jour = self.jour(retard)
        self.executer(lambda: self.p.declarer_fugue(ctx_on(self.today), date_effet=jour))

    @rule(retard=RETARDS)
    def terminer_fugue(self, retard: int) -> None:
        jour = self.jour(retard)
        self.executer(lambda: self.p.terminer_fugue(ctx_on(self.today), date_effet=jour))

    @rule(retard=RETARDS, quoi=st.sampled_from(["ppe", "rapport", "entretien", "referent"]))
    def suivre(self, retard: int, quoi: str) -> None:
        ctx, jour = ctx_on(self.today), self.jour(retard)
        commandes: dict[str, Callable[[], object]] = {
            "ppe": lambda: self.p.etablir_ppe(ctx, date_effet=jour),
            "rapport": lambda: self.p.produire_rapport(ctx, transmis_au_juge=True, date_effet=jour),
            "entretien": lambda: self.p.realiser_entretien_autonomie(ctx, date_effet=jour),
            "referent": lambda: self.p.designer_referent(ctx, referent_id="ref-2", date_effet=jour),
        }
        self.executer(commandes[quoi])

    @rule()
    def atteindre_majorite(self) -> None:
        self.executer(lambda: self.p.atteindre_majorite(ctx_on(self.today)))

    @rule(
        retard=RETARDS,
        au_dix_huitieme=st.booleans(),
        mois=st.integers(min_value=0, max_value=40),
    )
    def accorder_apjm(self, retard: int, au_dix_huitieme: bool, mois: int) -> None:
        jour = self.jour(retard)
        debut = anniversaire(self.p.date_naissance, 18) if au_dix_huitieme else jour
        self.executer(
            lambda: self.p.accorder_apjm(
                ctx_on(self.today), date_debut=debut, date_fin=ajouter(debut, mois=mois), date_effet=jour
            )
        )

    @rule(retard=RETARDS, mois=st.integers(min_value=0, max_value=30))
    def renouveler_apjm(self, retard: int, mois: int) -> None:
        fin = ajouter(self.p.apjm.date_fin if self.p.apjm else self.today, mois=mois)
        jour = self.jour(retard)
        self.executer(lambda: self.p.renouveler_apjm(ctx_on(self.today), date_fin=fin, date_effet=jour))

    @rule(retard=RETARDS, motif=st.sampled_from(MotifFinAPJM))
    def terminer_apjm(self, retard: int, motif: MotifFinAPJM) -> None:
        jour = self.jour(retard)
        self.executer(lambda: self.p.terminer_apjm(ctx_on(self.today), motif=motif, date_effet=jour))

    @rule(
        retard=RETARDS,
        motif=st.sampled_from(MotifSortie),
        logement=st.sampled_from(SituationLogement),
        clore=st.booleans(),
        tenter=st.integers(min_value=0, max_value=3),
    )
    def sortir(self, retard: int, motif: MotifSortie, logement: SituationLogement, clore: bool, tenter: int) -> None:
        if tenter:  # a sortie blocks everything until a réouverture: keep it rarer
            return
        jour = self.jour(retard)
        self.executer(
            lambda: self.p.sortir(
                ctx_on(self.today), motif=motif, situation_logement=logement, date_effet=jour, clore_en_cours=clore
            )
        )

    @rule(retard=RETARDS)
    def rouvrir(self, retard: int) -> None:
        jour = self.jour(retard)
        self.executer(lambda: self.p.rouvrir(ctx_on(self.today), motif="nouvelle IP", date_effet=jour))

    @rule(retard=RETARDS, departement=DEPARTEMENTS)
    def transferer(self, retard: int, departement: str) -> None:
        jour = self.jour(retard)
        self.executer(
            lambda: self.p.transferer(ctx_on(self.today), departement_destination=departement, date_effet=jour)
        )

    @rule(
        version=st.integers(min_value=0, max_value=60),
        champ=st.sampled_from(["date_naissance", "sexe", "nature", "motif", "date_effet", "referent_id", "inconnu"]),
        jours=st.integers(min_value=-800, max_value=800),
        texte=st.sampled_from(["F", "M", "X", "Z", "aemo", "opp", "autre", "2010-13-01", ""]),
    )
    def rectifier(self, version: int, champ: str, jours: int, texte: str) -> None:
        """A correction is accepted iff the corrected stream replays through the rules, and then
        the state is that of the corrected stream recorded command by command (DOMAIN.md, SaisieRectifiee)."""
        evenements = list(self.p.pending_events)
        cible = evenements[version % len(evenements)]
        valeur: object = texte
        if champ in ("date_naissance", "date_effet") and texte != "2010-13-01":
            valeur = (self.p.date_naissance + timedelta(days=jours)).isoformat()
        try:
            correction = rectifications.preparer(evenements, cible.originator_version, champ, valeur)
        except (RegleMetierError, SaisieInvalideError):
            correction = None
        attendu = None
        if correction is not None:
            corrige = [*rectifications.historique_rectifie(evenements)]
            index = cible.originator_version - 1
            corrige[index] = dataclasses.replace(
                corrige[index], **{champ: rectifications._adaptateur(type(cible), champ).validate_python(valeur)}
            )
            if champ == "date_naissance":
                corrige = self.majorite_au_dix_huitieme_anniversaire(corrige, corrige[index].date_naissance)
            attendu = reenregistrer(corrige)
        avant = len(self.p.pending_events)
        self.executer(
            lambda: self.p.rectifier(
                ctx_on(self.today),
                version_rectifiee=cible.originator_version,
                champ=champ,
                nouvelle_valeur=valeur,
                motif="saisie",
            )
        )
        accepte = len(self.p.pending_events) > avant
        assert accepte == (attendu is not None)
        if attendu is not None:
            assert faits(self.p) == faits(attendu)

    def majorite_au_dix_huitieme_anniversaire(self, corrige: list[Any], naissance: date) -> list[Any]:
        """The corrected stream with a recorded majority, and the ends of its commit dated with it, on the
        18th birthday of ``naissance``: MajoriteAtteinte is dated on the 18th birthday whenever it is
        recorded, so a corrected birth date dates it, as if it had been recorded so (DOMAIN.md)."""
        commit = next((c for c, _ in self.commits if any(isinstance(e, ev.MajoriteAtteinte) for e in c)), None)
        if commit is None:
            return corrige
        versions = [e.originator_version for e in commit]
        majorite = next(v for v in versions if isinstance(corrige[v - 1], ev.MajoriteAtteinte))
        ancienne, nouvelle = corrige[majorite - 1].date_effet, anniversaire(naissance, 18)
        redate = list(corrige)
        for v in versions:
            if redate[v - 1].date_effet == ancienne:
                redate[v - 1] = dataclasses.replace(redate[v - 1], date_effet=nouvelle)
        return redate

    # -- invariants --------------------------------------------------------------

    @invariant()
    def le_rejeu_redonne_l_etat(self) -> None:
        rejoue = project_aggregate(None, list(self.p.pending_events))
        assert isinstance(rejoue, Parcours)
        assert state_of(rejoue, copie=False) == state_of(self.p, copie=False)

    @invariant()
    def jamais_deux_accueils_en_cours(self) -> None:
        en_cours = 0
        for evenement in self.p.pending_events:
            if isinstance(evenement, ev.AccueilDebute):
                en_cours += 1
            elif isinstance(evenement, ev.AccueilTermine):
                en_cours -= 1
            assert en_cours in (0, 1)
        assert (self.p.accueil is not None) == (en_cours == 1)

    @invariant()
    def un_accueil_repose_sur_une_mesure_qui_le_permet(self) -> None:
        if self.p.accueil is not None:
            assert any(m.active and m.permet_accueil for m in self.p.mesures.values())

    @invariant()
    def apres_la_majorite_aucune_mesure_de_mineur_n_est_active(self) -> None:
        if self.p.majorite_atteinte_le is not None:
            assert self.p.mesures_actives() == []

    @invariant()
    def les_dates_d_effet_ne_reculent_que_pour_la_majorite(self) -> None:
        plus_recente: date | None = None
        majorites = 0
        # Dates are those of the stream as corrected; a correction carries the date of what it corrects.
        corriges = iter(rectifications.historique_rectifie(self.p.pending_events))
        for commit, _dix_huit_ans in self.commits:
            evenements = [next(corriges) for _ in commit]
            majorite = any(isinstance(e, ev.MajoriteAtteinte) for e in evenements)
            majorites += majorite
            for e in evenements:
                assert e.date_effet <= e.metadonnees.enregistre_le.astimezone(FUSEAU).date()
                if isinstance(e, ev.SaisieRectifiee):
                    continue
                if majorite:
                    assert e.date_effet == anniversaire(self.p.date_naissance, 18)
                else:
                    assert plus_recente is None or e.date_effet >= plus_recente
                plus_recente = e.date_effet if plus_recente is None else max(plus_recente, e.date_effet)
        assert majorites <= 1
        assert self.p.derniere_date_effet == plus_recente
        assert [e for c, _ in self.commits for e in c] == list(self.p.pending_events)


def reenregistrer(evenements: list[Any]) -> Parcours | None:
    """The stream recorded anew, event by event, through the commands' own recording path
    (each on the day it was first recorded); None when a rule refuses one."""
    premier, *suite = [e for e in evenements if not isinstance(e, ev.SaisieRectifiee)]
    try:
        p = Parcours.ouvrir(
            ctx_on(premier.metadonnees.enregistre_le.astimezone(FUSEAU).date()),
            personne_id=premier.personne_id,
            date_naissance=premier.date_naissance,
            sexe=premier.sexe,
            departement=premier.departement,
            date_effet=premier.date_effet,
            referent_id=premier.referent_id,
        )
        for e in suite:
            donnees = {f.name: getattr(e, f.name) for f in dataclasses.fields(e) if f.name not in _TECHNIQUES}
            p._enregistrer(type(e), ctx_on(e.metadonnees.enregistre_le.astimezone(FUSEAU).date()), **donnees)
    except (RegleMetierError, IntrouvableError):
        return None
    return p


_TECHNIQUES = {"originator_id", "originator_version", "timestamp", "originator_topic", "metadonnees"}


def faits(p: Parcours) -> dict[str, Any]:
    """What the law knows of a parcours, without the stream's bookkeeping."""
    etat = {k: v for k, v in vars(p).items() if not k.startswith("_") and k not in ("historique", "suivi")}
    etat["suivi"] = dataclasses.replace(p.suivi, rectifications=[])
    return etat


ParcoursAuHasard.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestParcoursAuHasard = ParcoursAuHasard.TestCase
