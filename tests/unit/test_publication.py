"""What a stored event becomes on the public topic: only what its contract declares."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import orjson

from contracts.enveloppe import TOPIC_IDENTITES, TOPIC_PARCOURS
from services.parcours.domain.contexte import Contexte
from services.parcours.domain.identite import Identite
from services.parcours.domain.parcours import Parcours
from services.parcours.domain.vocabulaire import MotifSortie, Sexe, SituationLogement
from services.parcours.publication import message


def _ctx(jour: date) -> Contexte:
    return Contexte("referent-7", datetime(jour.year, jour.month, jour.day, 12, tzinfo=UTC), "corr", "req")


def _parcours() -> Parcours:
    return Parcours.ouvrir(
        _ctx(date(2025, 1, 6)),
        personne_id=uuid4(),
        date_naissance=date(2012, 4, 3),
        sexe=Sexe.F,
        departement="59",
        date_effet=date(2025, 1, 6),
    )


def test_an_opening_publishes_the_month_of_birth_and_never_the_date() -> None:
    corps = orjson.loads(message(_parcours().collect_events()[0]).valeur or b"")
    assert corps["mois_naissance"] == "2012-04"
    assert "2012-04-03" not in orjson.dumps(corps).decode()


def test_a_corrected_free_text_travels_without_its_values() -> None:
    p = _parcours()
    jour = date(2025, 2, 1)
    p.sortir(
        _ctx(jour), motif=MotifSortie.RETOUR_EN_FAMILLE, situation_logement=SituationLogement.FAMILLE, date_effet=jour
    )
    p.rouvrir(_ctx(jour), motif="signalement de Mme Martin", date_effet=jour)
    reouverture = p.pending_events[-1]
    p.rectifier(
        _ctx(jour),
        version_rectifiee=reouverture.originator_version,
        champ="motif",
        nouvelle_valeur="signalement de M. Durand",
        motif="erreur de saisie",
    )
    publie = message(p.pending_events[-1])
    corps = orjson.loads(publie.valeur or b"")
    assert publie.topic == TOPIC_PARCOURS
    assert corps["evenement_rectifie"] == "ParcoursRouvert"
    assert corps["ancienne_valeur"] is None
    assert corps["nouvelle_valeur"] is None
    assert b"Martin" not in (publie.valeur or b"")
    assert b"Durand" not in (publie.valeur or b"")
    # The reopening itself publishes no free text either.
    assert b"Martin" not in (message(reouverture).valeur or b"")


def test_a_corrected_public_field_travels_with_its_values() -> None:
    p = _parcours()
    p.rectifier(
        _ctx(date(2025, 1, 7)),
        version_rectifiee=p.pending_events[0].originator_version,
        champ="sexe",
        nouvelle_valeur="M",
        motif="acte",
    )
    corps = orjson.loads(message(p.pending_events[-1]).valeur or b"")
    assert (corps["ancienne_valeur"], corps["nouvelle_valeur"]) == ("F", "M")


def test_an_erased_identity_is_a_tombstone_on_the_identities_topic() -> None:
    ctx = _ctx(date(2025, 1, 6))
    identite = Identite.enregistrer(
        ctx, nom="Martin", prenoms="Léa", date_naissance=date(2012, 4, 3), sexe=Sexe.F, date_effet=date(2025, 1, 6)
    )
    identite.effacer(ctx, motif="droit à l'effacement")
    effacement = message(identite.collect_events()[-1])
    assert effacement.topic == TOPIC_IDENTITES
    assert effacement.valeur is None
    assert effacement.cle == str(identite.id).encode()
    assert dict(effacement.entetes)["ce_type"] == b"fr.ase.identite.identite_effacee.v1"


def test_a_published_accueil_names_the_lieu_not_the_parcours() -> None:
    from services.parcours.domain.parcours import LieuPropose
    from services.parcours.domain.vocabulaire import Autorite, Cadre, Nature, TypeLieu

    p = _parcours()
    jour = date(2025, 1, 7)
    mesure = p.decider_mesure(
        _ctx(jour),
        cadre=Cadre.JUDICIAIRE,
        nature=Nature.CONFIAGE_ASE,
        autorite=Autorite.JUGE_DES_ENFANTS,
        reference_decision="JE-1",
        date_debut=jour,
        date_echeance=date(2026, 1, 7),
        date_effet=jour,
    )
    lieu_id = uuid4()
    p.debuter_accueil(_ctx(jour), mesure_id=mesure, lieu=LieuPropose(lieu_id, TypeLieu.MECS, False), date_effet=jour)
    corps = orjson.loads(message(p.pending_events[-1]).valeur or b"")
    assert corps["lieu_id"] == str(lieu_id)
    assert corps["parcours_id"] == str(p.id)
