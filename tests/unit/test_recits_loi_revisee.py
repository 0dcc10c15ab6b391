"""Four short stories of the revised law, told at the domain level with the clock moving forward.

- Noé, taken into care at the maternity ward on the day of his birth (CASF L222-6).
- Sami, sheltered in an emergency, whose accueil d'urgence becomes an accueil
  provisoire with the family's agreement within 5 days (CASF L223-2 al. 4).
- Lina, placed at 16 in a hébergement dérogatoire for two months at most
  (CASF L221-2-3, décret 2024-119), then in a foyer.
- Yanis, whose contrat jeune majeur is extended past 21 to finish his
  university year (CASF L222-5, last paragraph).
"""

from __future__ import annotations

from datetime import date, timedelta

from droit.calendrier import ajouter
from services.parcours.domain import parcours_evenements as ev
from services.parcours.domain.vocabulaire import (
    Autorite,
    Cadre,
    MotifChangementLieu,
    MotifFinAccueil,
    MotifFinAPJM,
    MotifLevee,
    Nature,
    TypeLieu,
)
from tests.unit.fabrique import Clock, assert_refused, lieu, names, open_parcours


def test_noe_is_taken_into_care_and_placed_on_the_day_of_his_birth() -> None:
    naissance = date(2025, 3, 2)
    horloge = Clock(naissance)
    p = open_parcours(naissance, date_naissance=naissance)
    opp = p.decider_mesure(
        horloge.ctx(),
        cadre=Cadre.JUDICIAIRE,
        nature=Nature.OPP,
        autorite=Autorite.PARQUET,
        reference_decision="PARQUET-2025-17",
        date_debut=naissance,
        date_echeance=None,
        date_effet=naissance,
    )
    p.debuter_accueil(horloge.ctx(), mesure_id=opp, lieu=lieu(TypeLieu.POUPONNIERE), date_effet=naissance)
    assert p.accueil is not None
    assert (p.age, p.accueil.type_lieu, p.accueil.debut_accueil) == (0, TypeLieu.POUPONNIERE, naissance)

    # Twelve days later the juge des enfants confies him to the ASE; the OPP is lifted, the confiage carries on.
    horloge.advance(jours=12)
    confiage = p.decider_mesure(
        horloge.ctx(),
        cadre=Cadre.JUDICIAIRE,
        nature=Nature.CONFIAGE_ASE,
        autorite=Autorite.JUGE_DES_ENFANTS,
        reference_decision="JE-2025-88",
        date_debut=horloge.today,
        date_echeance=ajouter(horloge.today, annees=2),
        date_effet=horloge.today,
    )
    p.lever_mesure(horloge.ctx(), mesure_id=opp, motif=MotifLevee.MAINLEVEE, date_effet=horloge.today)
    assert p.accueil.mesure_id == confiage


def test_sami_s_emergency_shelter_becomes_an_accueil_provisoire_within_five_days() -> None:
    horloge = Clock(date(2025, 11, 3))
    p = open_parcours(horloge.today, date_naissance=date(2012, 5, 9))
    urgence = p.decider_mesure(
        horloge.ctx(),
        cadre=Cadre.ADMINISTRATIF,
        nature=Nature.ACCUEIL_URGENCE,
        autorite=Autorite.PRESIDENT_CD,
        reference_decision="PCD-URG-1",
        date_debut=horloge.today,
        date_echeance=horloge.today + timedelta(days=5),
        date_effet=horloge.today,
    )
    p.debuter_accueil(horloge.ctx(), mesure_id=urgence, lieu=lieu(TypeLieu.FOYER_ENFANCE), date_effet=horloge.today)

    # Day 4: the family agrees in writing; the président decides an accueil provisoire for 6 months.
    horloge.advance(jours=4)
    provisoire = p.decider_mesure(
        horloge.ctx(),
        cadre=Cadre.ADMINISTRATIF,
        nature=Nature.ACCUEIL_PROVISOIRE,
        autorite=Autorite.PRESIDENT_CD,
        reference_decision="PCD-AP-1",
        date_debut=horloge.today,
        date_echeance=ajouter(horloge.today, mois=6),
        date_effet=horloge.today,
    )
    p.lever_mesure(horloge.ctx(), mesure_id=urgence, motif=MotifLevee.AUTRE, date_effet=horloge.today)
    assert p.accueil is not None
    assert p.accueil.mesure_id == provisoire
    assert [m.nature for m in p.mesures_actives()] == [Nature.ACCUEIL_PROVISOIRE]
    # An administrative measure is a year at most: its renewal past that is refused.
    assert_refused(
        p,
        "duree_maximale_depassee",
        lambda: p.renouveler_mesure(
            horloge.ctx(),
            mesure_id=provisoire,
            nouvelle_echeance=ajouter(horloge.today, mois=18, jours=1),
            reference_decision="PCD-AP-2",
            date_effet=horloge.today,
        ),
    )


def test_lina_is_sheltered_at_16_in_a_hebergement_derogatoire_for_two_months_at_most() -> None:
    seize_ans = date(2025, 4, 10)
    horloge = Clock(date(2025, 1, 6))
    p = open_parcours(horloge.today, date_naissance=date(2009, 4, 10))
    confiage = p.decider_mesure(
        horloge.ctx(),
        cadre=Cadre.JUDICIAIRE,
        nature=Nature.CONFIAGE_ASE,
        autorite=Autorite.JUGE_DES_ENFANTS,
        reference_decision="JE-2025-3",
        date_debut=horloge.today,
        date_echeance=ajouter(horloge.today, annees=2),
        date_effet=horloge.today,
    )
    p.debuter_accueil(horloge.ctx(), mesure_id=confiage, lieu=lieu(TypeLieu.MECS), date_effet=horloge.today)
    # At 15 the youth accommodation is refused; a hotel is refused at any age since 1 Feb 2024.
    assert_refused(
        p,
        "hebergement_derogatoire_hors_age",
        lambda: p.changer_lieu(
            horloge.ctx(),
            lieu=lieu(TypeLieu.HEBERGEMENT_DEROGATOIRE),
            motif=MotifChangementLieu.RUPTURE,
            date_effet=horloge.today,
        ),
    )
    horloge.set(seize_ans)
    assert_refused(
        p,
        "hotel_interdit",
        lambda: p.changer_lieu(
            horloge.ctx(), lieu=lieu(TypeLieu.HOTEL), motif=MotifChangementLieu.RUPTURE, date_effet=horloge.today
        ),
    )
    p.changer_lieu(
        horloge.ctx(),
        lieu=lieu(TypeLieu.HEBERGEMENT_DEROGATOIRE),
        motif=MotifChangementLieu.RUPTURE,
        date_effet=horloge.today,
    )
    assert p.accueil is not None
    assert p.accueil.date_limite_hotel == date(2025, 6, 10)
    horloge.advance(mois=1, jours=20)
    p.changer_lieu(
        horloge.ctx(),
        lieu=lieu(TypeLieu.FOYER_ENFANCE),
        motif=MotifChangementLieu.BESOIN_ENFANT,
        date_effet=horloge.today,
    )
    assert (p.accueil.type_lieu, p.accueil.date_limite_hotel) == (TypeLieu.FOYER_ENFANCE, None)
    assert p.suivi.lieux_successifs == 3


def test_yanis_contrat_jeune_majeur_is_extended_past_21_to_finish_his_university_year() -> None:
    ne_le = date(2004, 2, 20)
    horloge = Clock(date(2021, 9, 1))
    p = open_parcours(horloge.today, date_naissance=ne_le)
    confiage = p.decider_mesure(
        horloge.ctx(),
        cadre=Cadre.JUDICIAIRE,
        nature=Nature.CONFIAGE_ASE,
        autorite=Autorite.JUGE_DES_ENFANTS,
        reference_decision="JE-2021-5",
        date_debut=horloge.today,
        date_echeance=ajouter(horloge.today, annees=2),
        date_effet=horloge.today,
    )
    p.debuter_accueil(horloge.ctx(), mesure_id=confiage, lieu=lieu(TypeLieu.MECS), date_effet=horloge.today)
    dix_huit_ans = date(2022, 2, 20)
    horloge.set(dix_huit_ans)
    p.accorder_apjm(horloge.ctx(), date_debut=dix_huit_ans, date_fin=date(2023, 2, 19), date_effet=horloge.today)
    debut = len(p.pending_events)
    p.atteindre_majorite(horloge.ctx())
    assert names(p.pending_events[debut:]) == ["MajoriteAtteinte", "AccueilTermine", "MesureLevee"]
    assert p.pending_events[-2].motif is MotifFinAccueil.MAJORITE

    horloge.set(date(2023, 2, 1))
    p.renouveler_apjm(horloge.ctx(), date_fin=date(2025, 2, 19), date_effet=horloge.today)

    # At 20 he starts a master's degree: the contract may run past 21 to finish the year, a year at most.
    horloge.set(date(2025, 2, 1))
    assert_refused(
        p,
        "apjm_au_dela_de_21_ans",
        lambda: p.renouveler_apjm(horloge.ctx(), date_fin=date(2025, 7, 15), date_effet=horloge.today),
    )
    assert_refused(
        p,
        "apjm_au_dela_de_l_annee_engagee",
        lambda: p.renouveler_apjm(
            horloge.ctx(), date_fin=date(2026, 2, 21), date_effet=horloge.today, fin_annee_engagee=True
        ),
    )
    p.renouveler_apjm(horloge.ctx(), date_fin=date(2025, 7, 15), date_effet=horloge.today, fin_annee_engagee=True)
    assert p.apjm is not None
    assert (p.apjm.date_fin, p.apjm.fin_annee_engagee) == (date(2025, 7, 15), True)
    assert isinstance(p.pending_events[-1], ev.AccompagnementJeuneMajeurRenouvele)

    horloge.set(date(2025, 7, 15))
    p.terminer_apjm(horloge.ctx(), motif=MotifFinAPJM.TERME, date_effet=horloge.today)
    assert p.apjm is None
