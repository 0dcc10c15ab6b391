"""The majority clock on the in-memory store: which parcours a run records, and only once."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from uuid import UUID

import pytest

from services.parcours import commandes as c
from services.parcours.application import Demande, ParcoursApplication
from services.parcours.domain.flux import Evenement
from services.parcours.domain.vocabulaire import Autorite, Cadre, MotifSortie, Nature, SituationLogement
from services.parcours.horloge_majorite import (
    AUTEUR,
    HorlogeMajorite,
    candidats_du_journal,
    cle_idempotence,
    mois_limite,
    prochaine_execution,
)
from services.parcours.persistence import empreinte_cle_idempotence
from services.runtime.horloge import FUSEAU, HorlogeFixe

AUJOURD_HUI = date(2026, 11, 29)


def _a(jour: date, heure: time = time(10)) -> datetime:
    return datetime.combine(jour, heure, tzinfo=FUSEAU)


def _demande(sub: str = "alice") -> Demande:
    return Demande(sub=sub, departements=frozenset({"59"}), correlation_id="c", causation_id="r")


@pytest.fixture
def application() -> ParcoursApplication:
    return ParcoursApplication(horloge=HorlogeFixe(_a(AUJOURD_HUI)))


def _ouvrir(app: ParcoursApplication, ne_le: date, ouvert_le: date = date(2024, 1, 8)) -> tuple[UUID, UUID]:
    cmd = c.OuvrirParcours.model_validate(
        {
            "personne": {"nom": "Durand", "prenoms": "Léa", "date_naissance": ne_le.isoformat(), "sexe": "F"},
            "departement": "59",
            "date_effet": ouvert_le.isoformat(),
        }
    )
    corps = app.ouvrir_parcours(cmd, _demande()).corps
    return UUID(corps["id"]), UUID(corps["personne_id"])


def _evenements(app: ParcoursApplication, parcours_id: UUID) -> list[Evenement]:
    return app.evenements(parcours_id, frozenset({"59"}))


def _majorites(app: ParcoursApplication, parcours_id: UUID) -> list[Evenement]:
    return [e for e in _evenements(app, parcours_id) if type(e).__name__ == "MajoriteAtteinte"]


async def _executer(app: ParcoursApplication) -> Any:
    return await HorlogeMajorite(app).executer()


async def test_an_18th_birthday_today_is_recorded_by_the_clock_as_its_author_with_its_ends(
    application: ParcoursApplication,
) -> None:
    parcours_id, _ = _ouvrir(application, date(2008, 11, 29))
    application.commander(
        parcours_id,
        _demande(),
        lambda p, ctx: {
            "mesure_id": p.decider_mesure(
                ctx,
                cadre=Cadre.ADMINISTRATIF,
                nature=Nature.ACCUEIL_PROVISOIRE,
                autorite=Autorite.PRESIDENT_CD,
                reference_decision="DEC-1",
                date_debut=date(2026, 6, 1),
                date_echeance=date(2027, 5, 31),
                date_effet=date(2026, 6, 1),
            )
        },
    )

    bilan = await _executer(application)

    assert bilan.executee
    assert bilan.enregistrees == [parcours_id]
    assert bilan.refusees == {}
    (majorite,) = _majorites(application, parcours_id)
    assert majorite.date_effet == AUJOURD_HUI
    assert majorite.metadonnees.auteur == AUTEUR
    leve = [e for e in _evenements(application, parcours_id) if type(e).__name__ == "MesureLevee"]
    assert [e.metadonnees.auteur for e in leve] == [AUTEUR]  # the measure ends in the same commit
    # Recorded under the clock's idempotency key, as a caller's Idempotency-Key is.
    cle = empreinte_cle_idempotence(AUTEUR, cle_idempotence(parcours_id))
    assert application.idempotence.lire_reponse(AUTEUR, cle) is not None


async def test_a_birthday_tomorrow_is_not_recorded_today_but_tomorrow(application: ParcoursApplication) -> None:
    parcours_id, _ = _ouvrir(application, date(2008, 11, 30))
    assert parcours_id in candidats_du_journal(application.recorder.select_notifications(None, 100), AUJOURD_HUI)

    veille = await _executer(application)
    assert veille.enregistrees == []
    assert veille.refusees == {}  # not yet due is no refusal: the domain is not even asked
    assert _majorites(application, parcours_id) == []

    application.horloge.regler(_a(date(2026, 11, 30), time(0, 5)))  # type: ignore[attr-defined]
    assert (await _executer(application)).enregistrees == [parcours_id]


async def test_an_already_recorded_majority_a_closed_parcours_and_a_minor_are_left_alone(
    application: ParcoursApplication,
) -> None:
    deja, _ = _ouvrir(application, date(2008, 10, 2))
    application.commander(deja, _demande(), lambda p, ctx: p.atteindre_majorite(ctx))
    sorti, _ = _ouvrir(application, date(2008, 9, 1))
    sortie = c.Sortir(
        motif=MotifSortie.RETOUR_EN_FAMILLE, situation_logement=SituationLogement.FAMILLE, date_effet=date(2025, 3, 1)
    )
    application.commander(sorti, _demande(), lambda p, ctx: p.sortir(ctx, **dict(sortie)))
    mineur, _ = _ouvrir(application, date(2012, 5, 3))

    bilan = await _executer(application)

    assert bilan.executee
    assert bilan.enregistrees == []
    assert bilan.refusees == {}
    assert [e.metadonnees.auteur for e in _majorites(application, deja)] == ["alice"]
    assert _majorites(application, sorti) == []
    assert _majorites(application, mineur) == []


async def test_a_reopened_parcours_and_one_whose_birthday_passed_unrecorded_are_caught_up(
    application: ParcoursApplication,
) -> None:
    # Opened at 17, of age since June: the missed days (or a parcours opened of age) are caught up.
    rate, _ = _ouvrir(application, date(2008, 6, 1), ouvert_le=date(2026, 1, 5))
    ouvert_majeur, _ = _ouvrir(application, date(2007, 3, 1), ouvert_le=date(2026, 10, 1))
    rouvert, _ = _ouvrir(application, date(2008, 1, 15))
    sortie = c.Sortir(
        motif=MotifSortie.RETOUR_EN_FAMILLE, situation_logement=SituationLogement.FAMILLE, date_effet=date(2025, 3, 1)
    )
    application.commander(rouvert, _demande(), lambda p, ctx: p.sortir(ctx, **dict(sortie)))
    application.commander(
        rouvert, _demande(), lambda p, ctx: p.rouvrir(ctx, motif="nouvelle demande", date_effet=date(2025, 9, 1))
    )

    bilan = await _executer(application)

    assert sorted(bilan.enregistrees) == sorted([rate, ouvert_majeur, rouvert])
    assert _majorites(application, rate)[0].date_effet == date(2026, 6, 1)  # dated on the birthday
    assert _majorites(application, ouvert_majeur)[0].date_effet == date(2025, 3, 1)


async def test_two_runs_record_once(application: ParcoursApplication) -> None:
    parcours_id, _ = _ouvrir(application, date(2008, 11, 29))
    premier = await _executer(application)
    second = await _executer(application)
    assert (premier.enregistrees, second.enregistrees) == ([parcours_id], [])
    assert len(_majorites(application, parcours_id)) == 1


async def test_born_on_29_february_of_age_on_28_february_of_a_common_year(application: ParcoursApplication) -> None:
    parcours_id, _ = _ouvrir(application, date(2008, 2, 29))
    application.horloge.regler(_a(date(2026, 2, 27), time(23, 59)))  # type: ignore[attr-defined]
    assert (await _executer(application)).enregistrees == []
    application.horloge.regler(_a(date(2026, 2, 28), time(0, 5)))  # type: ignore[attr-defined]
    assert (await _executer(application)).enregistrees == [parcours_id]
    assert _majorites(application, parcours_id)[0].date_effet == date(2026, 2, 28)


async def test_a_birth_date_rectified_into_an_earlier_month_is_still_found(application: ParcoursApplication) -> None:
    # Opened as born in January 2009 (the month in clear says: not of age this month), rectified to 2008-11-02.
    parcours_id, _ = _ouvrir(application, date(2009, 1, 2))
    assert mois_limite(AUJOURD_HUI) == "2008-11"
    cmd = c.Rectifier(
        version_rectifiee=1, champ="date_naissance", nouvelle_valeur="2008-11-02", motif="erreur de saisie"
    )
    application.rectifier(parcours_id, cmd, _demande())

    assert (await _executer(application)).enregistrees == [parcours_id]
    assert _majorites(application, parcours_id)[0].date_effet == date(2026, 11, 2)


async def test_an_erased_identity_is_skipped_by_id_and_the_run_goes_on(
    application: ParcoursApplication, capsys: pytest.CaptureFixture[str]
) -> None:
    efface, personne = _ouvrir(application, date(2008, 11, 1))
    application.effacer_personne(personne, "fin_de_conservation", _demande("dpo"))
    autre, _ = _ouvrir(application, date(2008, 11, 2))

    bilan = await _executer(application)

    assert bilan.enregistrees == [autre]
    assert bilan.refusees == {efface: "identite_effacee"}
    sortie = capsys.readouterr()
    journal = sortie.out + sortie.err
    assert str(efface) in journal
    assert "Durand" not in journal
    assert "2008-11-0" not in journal


def test_the_next_run_is_at_00_05_paris_time_the_coming_night() -> None:
    veille = datetime(2026, 11, 28, 23, 30, tzinfo=FUSEAU)
    assert prochaine_execution(veille) == datetime(2026, 11, 29, 0, 5, tzinfo=FUSEAU)
    assert prochaine_execution(datetime(2026, 11, 29, 0, 5, tzinfo=FUSEAU)) == datetime(
        2026, 11, 30, 0, 5, tzinfo=FUSEAU
    )
    # 23:30 UTC on 28 November is already 00:30 on the 29th in Paris.
    assert prochaine_execution(datetime(2026, 11, 28, 23, 30, tzinfo=UTC)) == datetime(
        2026, 11, 30, 0, 5, tzinfo=FUSEAU
    )


def test_the_idempotency_key_is_derived_from_the_parcours_alone() -> None:
    un = UUID("00000000-0000-4000-8000-000000000001")
    deux = UUID("00000000-0000-4000-8000-000000000002")
    assert cle_idempotence(un) == cle_idempotence(un) != cle_idempotence(deux)
