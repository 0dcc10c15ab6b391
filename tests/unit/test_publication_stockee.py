"""The publication contract from the stored form: what a row of the event store becomes on Kafka.

The relay and the store feed both call :func:`contracts.publication.message_stocke`
on the store's columns; nothing here needs the write side, except the checks
that an event stored by an older class version publishes its current public form.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest
from eventsourcing.persistence import StoredEvent

from contracts.enveloppe import TOPIC_IDENTITES, TOPIC_PARCOURS, identifiant_evenement
from contracts.evenements import TYPE_EFFACEMENT_IDENTITE, PayloadParcours
from contracts.publication import EvenementNonPublie, corps_public, message_stocke, nom_evenement, topic_de

_STOCKES_V1: list[dict[str, Any]] = json.loads((Path(__file__).parent / "stockes_v1.json").read_text())
"""One event of each class as version 1 of its class stored it (the store keeps them for ever)."""

_META = {
    "auteur": "referent-7",
    "enregistre_le": "2026-11-28T09:30:00Z",
    "correlation_id": "c0a1e2b3-0000-4000-8000-000000000001",
    "causation_id": "req-1",
    "departement": "59",
}


def _etat(**champs: Any) -> bytes:
    return orjson.dumps(
        {"timestamp": _META["enregistre_le"], "metadonnees": _META, "date_effet": "2025-01-06", **champs}
    )


def test_a_stored_opening_publishes_its_envelope_and_the_month_of_birth_only() -> None:
    flux_id, personne_id = uuid4(), uuid4()
    etat = _etat(
        personne_id=str(personne_id), date_naissance="2012-04-03", sexe="F", departement="59", referent_id=None
    )
    publie = message_stocke(flux_id, 1, "services.parcours.domain.parcours_evenements:ParcoursOuvert", etat)
    entetes = dict(publie.entetes)
    assert (publie.topic, publie.cle, publie.flux_id, publie.version) == (
        TOPIC_PARCOURS,
        str(flux_id).encode(),
        flux_id,
        1,
    )
    assert entetes["ce_id"] == identifiant_evenement(flux_id, 1).encode()
    assert entetes["ce_type"] == b"fr.ase.parcours.parcours_ouvert.v1"
    assert entetes["ce_source"] == b"/ase/59/parcours"
    assert entetes["ce_time"] == b"2026-11-28T09:30:00Z"
    assert (entetes["ce_auteur"], entetes["ce_correlationid"], entetes["ce_causationid"]) == (
        b"referent-7",
        b"c0a1e2b3-0000-4000-8000-000000000001",
        b"req-1",
    )
    assert orjson.loads(publie.valeur or b"") == {
        "date_effet": "2025-01-06",
        "parcours_id": str(flux_id),
        "personne_id": str(personne_id),
        "mois_naissance": "2012-04",
        "sexe": "F",
        "departement": "59",
        "referent_id": None,
    }


def test_a_lieu_run_by_a_private_person_is_published_without_its_name() -> None:
    def corps(type_lieu: str) -> dict[str, Any]:
        etat = _etat(nom="Mme Martin", type=type_lieu, departement="59", capacite=2, finess=None)
        publie = message_stocke(uuid4(), 1, "services.parcours.domain.lieu:LieuAccueilReference", etat)
        assert dict(publie.entetes)["ce_source"] == b"/ase/59/lieux"
        return dict(orjson.loads(publie.valeur or b""))

    assert corps("assistant_familial")["nom"] is None
    assert corps("tiers_digne_de_confiance")["nom"] is None
    assert corps("mecs")["nom"] == "Mme Martin"


def test_a_stored_identity_goes_to_the_identities_topic_and_its_erasure_is_a_tombstone() -> None:
    personne = uuid4()
    meta = {**_META, "departement": None}
    enregistree = message_stocke(
        personne,
        1,
        "services.parcours.domain.identite:IdentiteEnregistree",
        orjson.dumps(
            {
                "metadonnees": meta,
                "date_effet": "2025-01-06",
                "nom": "Martin",
                "prenoms": "Léa",
                "date_naissance": "2012-04-03",
                "sexe": "F",
                "lieu_naissance": None,
            }
        ),
    )
    assert enregistree.topic == TOPIC_IDENTITES
    assert dict(enregistree.entetes)["ce_source"] == b"/ase/identites"
    assert orjson.loads(enregistree.valeur or b"")["personne_id"] == str(personne)
    effacee = message_stocke(
        personne,
        2,
        "services.parcours.domain.identite:IdentiteEffacee",
        orjson.dumps({"metadonnees": meta, "date_effet": "2025-02-01", "motif": "droit à l'effacement"}),
    )
    assert (effacee.topic, effacee.cle, effacee.valeur) == (TOPIC_IDENTITES, str(personne).encode(), None)
    assert dict(effacee.entetes)["ce_type"] == TYPE_EFFACEMENT_IDENTITE.encode()


def test_a_stored_correction_of_a_free_text_travels_without_its_values() -> None:
    etat = _etat(
        version_rectifiee=3,
        evenement_rectifie="ParcoursRouvert",
        champ="motif",
        ancienne_valeur="signalement de Mme Martin",
        nouvelle_valeur="signalement de M. Durand",
        motif="erreur de saisie",
    )
    publie = message_stocke(uuid4(), 4, "services.parcours.domain.parcours_evenements:SaisieRectifiee", etat)
    corps = orjson.loads(publie.valeur or b"")
    assert (corps["ancienne_valeur"], corps["nouvelle_valeur"], corps["champ"]) == (None, None, "motif")
    assert "motif" not in corps
    assert b"Martin" not in (publie.valeur or b"")


def test_a_stored_event_no_contract_publishes_is_refused_by_name() -> None:
    assert nom_evenement("tests.unit.test_stockage_json:CompteurCree") == "CompteurCree"
    with pytest.raises(EvenementNonPublie, match="CompteurCree"):
        topic_de("CompteurCree")
    with pytest.raises(EvenementNonPublie):
        message_stocke(uuid4(), 1, "tests.unit.test_stockage_json:CompteurCree", _etat(valeur=1))


class _Exemple(PayloadParcours):
    """A payload that gained an optional field within its version, as contracts may."""

    capacite: int
    unite: str | None = None


def test_a_field_the_stored_event_predates_takes_the_contract_default_and_its_class_version_is_private() -> None:
    flux_id = uuid4()
    ancien = {"metadonnees": _META, "date_effet": "2025-01-06", "capacite": 3}
    recent = {**ancien, "class_version": 2, "unite": "places"}
    assert orjson.loads(corps_public(_Exemple, flux_id, dict(ancien))) == {
        "date_effet": "2025-01-06",
        "parcours_id": str(flux_id),
        "capacite": 3,
        "unite": None,
    }
    assert "class_version" not in orjson.loads(corps_public(_Exemple, flux_id, recent))


@pytest.mark.parametrize("stocke", _STOCKES_V1, ids=[nom_evenement(s["topic"]) for s in _STOCKES_V1])
def test_an_event_stored_by_version_1_of_its_class_publishes_what_its_upcast_form_publishes(
    stocke: dict[str, Any],
) -> None:
    """Publication never upcasts: this holds because every upcast field a contract publishes
    takes, in the contract, the default its upcaster gives (see contracts/publication.py)."""
    from services.parcours.persistence import JsonMapper

    mapper = JsonMapper()
    ancien = StoredEvent(
        UUID(stocke["originator_id"]), stocke["originator_version"], stocke["topic"], orjson.dumps(stocke["state"])
    )
    actuel = mapper.to_stored_event(mapper.to_domain_event(ancien))
    assert message_stocke(actuel.originator_id, actuel.originator_version, actuel.topic, actuel.state) == (
        message_stocke(ancien.originator_id, ancien.originator_version, ancien.topic, ancien.state)
    )


def test_every_event_class_past_its_first_version_has_a_stored_version_1_sample() -> None:
    import services.parcours.domain.identite
    import services.parcours.domain.lieu
    import services.parcours.domain.parcours  # noqa: F401  (registers every event class)
    from services.parcours.domain.flux import Evenement

    def sous_classes(classe: type) -> set[type]:
        return {s for c in classe.__subclasses__() for s in {c, *sous_classes(c)}}

    evoluees = {
        c.__name__ for c in sous_classes(Evenement) if c.__module__.startswith("services.") and c.class_version > 1
    }
    assert evoluees <= {nom_evenement(s["topic"]) for s in _STOCKES_V1}, "add a stored v1 form to stockes_v1.json"
