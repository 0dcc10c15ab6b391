"""The LieuAccueil and Identite streams: capacity, closure, over-occupation; rectify, erase."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.parcours.domain.identite import Identite, IdentiteEffacee, IdentiteRectifiee
from services.parcours.domain.lieu import LieuAccueil, LieuAccueilReference
from services.parcours.domain.parcours import LieuPropose
from services.parcours.domain.vocabulaire import Sexe, TypeLieu
from services.runtime.errors import RegleMetierError
from tests.unit.fabrique import (
    assert_refused,
    ctx_on,
    decide_mesure,
    names,
    open_parcours,
    recorded_since,
)

JOUR = date(2024, 4, 2)
LENDEMAIN = JOUR + timedelta(days=1)


def referencer(capacite: int = 12, departement: str = "59") -> LieuAccueil:
    return LieuAccueil.referencer(
        ctx_on(JOUR),
        nom="MECS Les Tilleuls",
        type=TypeLieu.MECS,
        departement=departement,
        capacite=capacite,
        finess="590000017",
    )


def propose(lieu: LieuAccueil) -> LieuPropose:
    """What the application hands a parcours about a lieu."""
    return LieuPropose(lieu_id=lieu.id, type_lieu=lieu.type, ferme=lieu.ferme)


# -- LieuAccueil -----------------------------------------------------------------


def test_a_lieu_is_referenced_as_of_today() -> None:
    lieu = referencer()
    (reference,) = lieu.pending_events
    assert isinstance(reference, LieuAccueilReference)
    assert reference.date_effet == JOUR
    assert (lieu.nom, lieu.type, lieu.departement, lieu.capacite, lieu.finess) == (
        "MECS Les Tilleuls",
        TypeLieu.MECS,
        "59",
        12,
        "590000017",
    )
    assert not lieu.ferme


def test_a_lieu_needs_a_known_departement() -> None:
    with pytest.raises(RegleMetierError) as refus:
        referencer(departement="20")
    assert refus.value.regle == "departement_inconnu"


def test_a_lieu_capacity_is_never_negative() -> None:
    with pytest.raises(RegleMetierError) as refus:
        referencer(capacite=-1)
    assert refus.value.regle == "capacite_invalide"
    assert referencer(capacite=0).capacite == 0


def test_a_capacity_change_is_recorded() -> None:
    lieu = referencer()
    lieu.modifier_capacite(ctx_on(LENDEMAIN), capacite=15, date_effet=LENDEMAIN)
    assert names(recorded_since(lieu, 1)) == ["CapaciteModifiee"]
    assert lieu.capacite == 15


def test_a_capacity_change_must_change_it_and_stay_positive() -> None:
    lieu = referencer()
    assert_refused(
        lieu, "capacite_inchangee", lambda: lieu.modifier_capacite(ctx_on(JOUR), capacite=12, date_effet=JOUR)
    )
    assert_refused(
        lieu, "capacite_invalide", lambda: lieu.modifier_capacite(ctx_on(JOUR), capacite=-3, date_effet=JOUR)
    )


def test_a_capacity_change_follows_the_date_effet_rules() -> None:
    lieu = referencer()
    assert_refused(
        lieu, "date_effet_future", lambda: lieu.modifier_capacite(ctx_on(JOUR), capacite=10, date_effet=LENDEMAIN)
    )
    assert_refused(
        lieu,
        "date_effet_anterieure",
        lambda: lieu.modifier_capacite(ctx_on(JOUR), capacite=10, date_effet=JOUR - timedelta(days=1)),
    )


def test_a_closed_lieu_takes_no_further_change() -> None:
    lieu = referencer()
    lieu.fermer(ctx_on(LENDEMAIN), date_effet=LENDEMAIN)
    assert names(recorded_since(lieu, 1)) == ["LieuAccueilFerme"]
    assert lieu.ferme
    assert lieu.ferme_le == LENDEMAIN
    assert_refused(lieu, "lieu_ferme", lambda: lieu.fermer(ctx_on(LENDEMAIN), date_effet=LENDEMAIN))
    assert_refused(
        lieu, "lieu_ferme", lambda: lieu.modifier_capacite(ctx_on(LENDEMAIN), capacite=3, date_effet=LENDEMAIN)
    )


def test_a_placement_into_a_full_lieu_is_recorded_never_refused() -> None:
    lieu = referencer(capacite=1)
    for _ in range(3):
        p = open_parcours(JOUR)
        mesure_id = decide_mesure(p, JOUR)
        p.debuter_accueil(ctx_on(JOUR), mesure_id=mesure_id, lieu=propose(lieu), date_effet=JOUR)
        assert p.accueil is not None
        assert p.accueil.lieu_id == lieu.id


def test_a_closed_lieu_refuses_new_placements() -> None:
    lieu = referencer()
    lieu.fermer(ctx_on(JOUR), date_effet=JOUR)
    p = open_parcours(JOUR)
    mesure_id = decide_mesure(p, JOUR)
    assert_refused(
        p,
        "lieu_ferme",
        lambda: p.debuter_accueil(ctx_on(JOUR), mesure_id=mesure_id, lieu=propose(lieu), date_effet=JOUR),
    )


# -- Identite --------------------------------------------------------------------


def enregistrer() -> Identite:
    return Identite.enregistrer(
        ctx_on(JOUR),
        nom="Martin",
        prenoms="Léa Marie",
        date_naissance=date(2012, 5, 3),
        sexe=Sexe.F,
        date_effet=JOUR,
        lieu_naissance="Lille",
    )


def test_an_identity_is_recorded_apart_from_the_parcours() -> None:
    identite = enregistrer()
    assert names(identite.pending_events) == ["IdentiteEnregistree"]
    assert (identite.nom, identite.prenoms, identite.date_naissance, identite.sexe, identite.lieu_naissance) == (
        "Martin",
        "Léa Marie",
        date(2012, 5, 3),
        Sexe.F,
        "Lille",
    )
    assert not identite.effacee


def test_rectifying_an_identity_replaces_it_and_is_dated_today() -> None:
    identite = enregistrer()
    plus_tard = JOUR + timedelta(days=30)
    identite.rectifier(
        ctx_on(plus_tard),
        nom="Martin-Dubois",
        prenoms="Léa",
        date_naissance=date(2012, 5, 4),
        sexe=Sexe.F,
        lieu_naissance=None,
    )
    (rectif,) = recorded_since(identite, 1)
    assert isinstance(rectif, IdentiteRectifiee)
    assert rectif.date_effet == plus_tard
    assert (identite.nom, identite.prenoms, identite.date_naissance, identite.lieu_naissance) == (
        "Martin-Dubois",
        "Léa",
        date(2012, 5, 4),
        None,
    )


def test_erasing_an_identity_blanks_the_names() -> None:
    identite = enregistrer()
    identite.effacer(ctx_on(LENDEMAIN), motif="droit à l'effacement")
    (effacement,) = recorded_since(identite, 1)
    assert isinstance(effacement, IdentiteEffacee)
    assert (identite.nom, identite.prenoms, identite.lieu_naissance, identite.effacee) == ("", "", None, True)
    # The names are gone from the state; the original event is the store's concern, not the aggregate's.
    assert "Martin" not in repr({k: v for k, v in identite.__dict__.items() if k != "_pending_events"})


def test_an_erased_identity_is_neither_rectified_nor_erased_again() -> None:
    identite = enregistrer()
    identite.effacer(ctx_on(LENDEMAIN), motif="m")
    assert_refused(
        identite,
        "identite_effacee",
        lambda: identite.rectifier(
            ctx_on(LENDEMAIN), nom="X", prenoms="Y", date_naissance=date(2012, 5, 3), sexe=Sexe.F, lieu_naissance=None
        ),
    )
    assert_refused(identite, "identite_effacee", lambda: identite.effacer(ctx_on(LENDEMAIN), motif="encore"))
