"""One child's whole parcours, from the information préoccupante to the exit with housing.

Inès, born on 4 October 2009 in the Nord, is followed from January 2024 (aged 14)
until she leaves care in July 2029 (aged 19) with a social-housing tenancy. Today
moves forward with the story; at each step we check what was recorded and what
the référent sees on the dossier.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from eventsourcing.application import project_aggregate

from services.parcours.domain import parcours_evenements as ev
from services.parcours.domain.identite import Identite
from services.parcours.domain.parcours import Parcours
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
from tests.unit.fabrique import Clock, assert_refused, lieu, names, state_of

NEE_LE = date(2009, 10, 4)
DIX_HUIT_ANS = date(2027, 10, 4)


class Journal:
    """What each step added to the stream."""

    def __init__(self, p: Parcours) -> None:
        self.p = p
        self.vu = 0

    def nouveaux(self) -> list[Any]:
        evenements = list(self.p.pending_events[self.vu :])
        self.vu = len(self.p.pending_events)
        return evenements


def test_the_parcours_of_ines_from_the_ip_to_the_exit_with_housing() -> None:
    horloge = Clock(date(2024, 1, 8), auteur="crip-59")

    # 8 Jan 2024. Her school sends a report of concern to the CRIP: identity kept apart, parcours opened.
    identite = Identite.enregistrer(
        horloge.ctx(), nom="Benali", prenoms="Inès", date_naissance=NEE_LE, sexe=Sexe.F, date_effet=horloge.today
    )
    p = Parcours.ouvrir(
        horloge.ctx(),
        personne_id=identite.id,
        date_naissance=NEE_LE,
        sexe=Sexe.F,
        departement="59",
        date_effet=horloge.today,
        referent_id="crip-59",
    )
    journal = Journal(p)
    ip_id = p.recevoir_information_preoccupante(
        horloge.ctx(),
        origine=OrigineIP.EDUCATION_NATIONALE,
        dangers=[Danger.VIOLENCES_PSYCHOLOGIQUES, Danger.NEGLIGENCES],
        date_effet=horloge.today,
    )
    assert names(journal.nouveaux()) == ["ParcoursOuvert", "InformationPreoccupanteRecue"]
    assert p.personne_id == identite.id
    assert "Benali" not in repr(state_of(p))  # names never reach the parcours stream
    assert p.informations[ip_id].suite is None

    # 20 Feb. The assessment concludes: the judge must be seized.
    horloge.set(date(2024, 2, 20))
    p.conclure_evaluation(
        horloge.ctx(), ip_id=ip_id, suite=SuiteEvaluation.SAISINE_JUDICIAIRE, date_effet=horloge.today
    )
    assert names(journal.nouveaux()) == ["EvaluationConclue"]
    assert p.informations[ip_id].evaluee_le == date(2024, 2, 20)

    # 22 Feb. Emergency: the parquet orders an OPP; she is placed in a MECS the same day.
    horloge.set(date(2024, 2, 22))
    horloge.auteur = "referent-ase-12"
    p.designer_referent(horloge.ctx(), referent_id="referent-ase-12", date_effet=horloge.today)
    opp = p.decider_mesure(
        horloge.ctx(),
        cadre=Cadre.JUDICIAIRE,
        nature=Nature.OPP,
        autorite=Autorite.PARQUET,
        reference_decision="PARQUET-LILLE-2024-311",
        date_debut=horloge.today,
        date_echeance=None,
        date_effet=horloge.today,
    )
    mecs = lieu(TypeLieu.MECS)
    p.debuter_accueil(horloge.ctx(), mesure_id=opp, lieu=mecs, date_effet=horloge.today)
    assert names(journal.nouveaux()) == ["ReferentDesigne", "MesureDecidee", "AccueilDebute"]
    assert p.referent_id == "referent-ase-12"
    assert p.accueil is not None
    assert p.accueil.lieu_id == mecs.lieu_id
    assert p.accueil.date_limite_hotel is None

    # 5 Mar. The juge des enfants entrusts her to the ASE for two years; the OPP is lifted,
    # the accueil carries on under the confiage.
    horloge.set(date(2024, 3, 5))
    confiage = p.decider_mesure(
        horloge.ctx(),
        cadre=Cadre.JUDICIAIRE,
        nature=Nature.CONFIAGE_ASE,
        autorite=Autorite.JUGE_DES_ENFANTS,
        reference_decision="JE-LILLE-2024-0042",
        date_debut=horloge.today,
        date_echeance=date(2026, 3, 5),
        date_effet=horloge.today,
    )
    p.lever_mesure(horloge.ctx(), mesure_id=opp, motif=MotifLevee.MAINLEVEE, date_effet=horloge.today)
    assert names(journal.nouveaux()) == ["MesureDecidee", "MesureLevee"]
    assert [m.mesure_id for m in p.mesures_actives()] == [confiage]
    assert p.accueil is not None
    assert p.accueil.debut_accueil == date(2024, 2, 22)

    # 10 May. The PPE is established, within three months of the confiage.
    horloge.set(date(2024, 5, 10))
    assert p.etablir_ppe(horloge.ctx(), date_effet=horloge.today) == "PPEEtabli"
    assert names(journal.nouveaux()) == ["PPEEtabli"]
    assert p.suivi.ppe_etabli_le == date(2024, 5, 10)

    # 2 Sep. She moves to an assistante familiale.
    horloge.set(date(2024, 9, 2))
    famille_accueil = lieu(TypeLieu.ASSISTANT_FAMILIAL)
    p.changer_lieu(
        horloge.ctx(), lieu=famille_accueil, motif=MotifChangementLieu.BESOIN_ENFANT, date_effet=horloge.today
    )
    assert names(journal.nouveaux()) == ["LieuAccueilChange"]
    assert p.accueil is not None
    assert (p.accueil.lieu_id, p.accueil.type_lieu, p.suivi.lieux_successifs) == (
        famille_accueil.lieu_id,
        TypeLieu.ASSISTANT_FAMILIAL,
        2,
    )

    # 15-18 Nov. She runs away for three days, then comes back.
    horloge.set(date(2024, 11, 15))
    p.declarer_fugue(horloge.ctx(), date_effet=horloge.today)
    assert p.accueil.fugue_depuis == date(2024, 11, 15)
    horloge.set(date(2024, 11, 18))
    p.terminer_fugue(horloge.ctx(), date_effet=horloge.today)
    assert names(journal.nouveaux()) == ["FugueDeclaree", "FugueTerminee"]
    assert p.accueil.fugue_depuis is None
    assert p.accueil.lieu_id == famille_accueil.lieu_id

    # Feb 2025 and Feb 2026. Yearly reports to the judge; the PPE is updated.
    horloge.set(date(2025, 2, 10))
    p.produire_rapport(horloge.ctx(), transmis_au_juge=True, date_effet=horloge.today)
    horloge.set(date(2025, 5, 12))
    assert p.etablir_ppe(horloge.ctx(), date_effet=horloge.today) == "PPEActualise"
    horloge.set(date(2026, 2, 9))
    p.produire_rapport(horloge.ctx(), transmis_au_juge=True, date_effet=horloge.today)
    assert names(journal.nouveaux()) == ["RapportSituationProduit", "PPEActualise", "RapportSituationProduit"]
    assert (p.suivi.dernier_rapport_le, p.suivi.ppe_actualise_le) == (date(2026, 2, 9), date(2025, 5, 12))

    # 20 Feb 2026. The judge renews the confiage until her majority.
    horloge.set(date(2026, 2, 20))
    p.renouveler_mesure(
        horloge.ctx(),
        mesure_id=confiage,
        nouvelle_echeance=DIX_HUIT_ANS,
        reference_decision="JE-LILLE-2026-0107",
        date_effet=horloge.today,
    )
    assert names(journal.nouveaux()) == ["MesureRenouvelee"]
    assert (p.mesures[confiage].date_echeance, p.mesures[confiage].renouvellements) == (DIX_HUIT_ANS, 1)

    # 15 Apr 2026, aged 16 and a half: the entretien d'autonomie.
    horloge.set(date(2026, 4, 15))
    p.realiser_entretien_autonomie(horloge.ctx(), date_effet=horloge.today)
    assert names(journal.nouveaux()) == ["EntretienAutonomieRealise"]
    assert p.suivi.entretien_autonomie_le == date(2026, 4, 15)

    # 1 Jun 2027, aged 17 and a half: an APJM is decided to start on her 18th birthday.
    horloge.set(date(2027, 6, 1))
    p.accorder_apjm(horloge.ctx(), date_debut=DIX_HUIT_ANS, date_fin=date(2028, 10, 3), date_effet=horloge.today)
    assert names(journal.nouveaux()) == ["AccompagnementJeuneMajeurAccorde"]
    assert p.apjm is not None
    assert p.apjm.date_debut == DIX_HUIT_ANS

    # 6 Oct 2027. Her majority is recorded two days late: dated on her birthday, it ends the
    # confiage and the accueil it carried in the same commit; the APJM takes over.
    horloge.set(date(2027, 10, 6))
    p.atteindre_majorite(horloge.ctx())
    majorite = journal.nouveaux()
    assert names(majorite) == ["MajoriteAtteinte", "AccueilTermine", "MesureLevee"]
    assert {e.date_effet for e in majorite} == {DIX_HUIT_ANS}
    assert isinstance(majorite[1], ev.AccueilTermine)
    assert majorite[1].motif is MotifFinAccueil.MAJORITE
    assert isinstance(majorite[2], ev.MesureLevee)
    assert majorite[2].motif is MotifLevee.MAJORITE
    assert {e.metadonnees.enregistre_le.date() for e in majorite} == {date(2027, 10, 6)}
    assert p.majorite_atteinte_le == DIX_HUIT_ANS
    assert p.accueil is None
    assert p.mesures_actives() == []
    assert p.apjm is not None
    assert p.apjm.date_fin == date(2028, 10, 3)

    # Sep 2028. The APJM is renewed until the end of June 2029, then ends at its term.
    horloge.set(date(2028, 9, 15))
    p.renouveler_apjm(horloge.ctx(), date_fin=date(2029, 6, 30), date_effet=horloge.today)
    horloge.set(date(2029, 6, 30))
    p.terminer_apjm(horloge.ctx(), motif=MotifFinAPJM.TERME, date_effet=horloge.today)
    assert names(journal.nouveaux()) == ["AccompagnementJeuneMajeurRenouvele", "AccompagnementJeuneMajeurTermine"]
    assert p.apjm is None

    # 1 Jul 2029. She leaves care with a social-housing tenancy.
    horloge.set(date(2029, 7, 1))
    p.sortir(
        horloge.ctx(),
        motif=MotifSortie.FIN_ACCOMPAGNEMENT_JEUNE_MAJEUR,
        situation_logement=SituationLogement.LOGEMENT_SOCIAL,
        date_effet=horloge.today,
    )
    (sortie,) = journal.nouveaux()
    assert isinstance(sortie, ev.SortieDispositif)
    assert sortie.situation_logement is SituationLogement.LOGEMENT_SOCIAL
    assert p.sorti_le == date(2029, 7, 1)
    assert_refused(
        p, "parcours_sorti", lambda: p.produire_rapport(horloge.ctx(), transmis_au_juge=False, date_effet=horloge.today)
    )

    # The auditor's view: the whole stream, every event authored, and replaying it gives the same dossier.
    evenements = list(p.pending_events)
    assert len(evenements) == p.version == 24
    assert [e.originator_version for e in evenements] == list(range(1, 25))
    assert {e.metadonnees.auteur for e in evenements} == {"crip-59", "referent-ase-12"}
    rejoue = project_aggregate(None, evenements)
    assert isinstance(rejoue, Parcours)
    assert state_of(rejoue) == state_of(p)
