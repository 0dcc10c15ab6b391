"""The stored form of events: readable JSON, metadata, upcasting, idempotency keys."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar
from uuid import uuid4

import orjson
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from services.parcours.domain.contexte import Contexte
from services.parcours.domain.flux import Creation, Flux
from services.parcours.domain.parcours import Parcours
from services.parcours.domain.vocabulaire import Sexe
from services.parcours.persistence import JsonMapper, POPORecorderIdempotent, ReponseIdempotente

CTX = Contexte(
    auteur="referent-42",
    maintenant=datetime(2026, 11, 28, 9, 30, tzinfo=UTC),
    correlation_id="corr-1",
    causation_id="req-1",
)


def _parcours() -> Parcours:
    return Parcours.ouvrir(
        CTX,
        personne_id=uuid4(),
        date_naissance=date(2012, 4, 3),
        sexe=Sexe.F,
        departement="59",
        date_effet=date(2025, 1, 6),
    )


def test_an_event_is_stored_as_readable_json_with_its_metadata() -> None:
    evenement = _parcours().collect_events()[0]
    stocke = JsonMapper().to_stored_event(evenement)
    donnees = orjson.loads(stocke.state)
    assert stocke.topic == "services.parcours.domain.parcours_evenements:ParcoursOuvert"
    assert donnees["date_naissance"] == "2012-04-03"
    assert donnees["sexe"] == "F"
    assert donnees["metadonnees"] == {
        "auteur": "referent-42",
        "enregistre_le": "2026-11-28T09:30:00Z",
        "correlation_id": "corr-1",
        "causation_id": "req-1",
        "departement": "59",
    }
    assert "originator_id" not in donnees


def test_a_stored_event_reads_back_equal() -> None:
    mapper = JsonMapper()
    for evenement in _parcours().collect_events():
        assert mapper.to_domain_event(mapper.to_stored_event(evenement)) == evenement


class Compteur(Flux):
    def __init__(self) -> None:
        """State comes from the events."""

    @classmethod
    def creer(cls, ctx: Contexte) -> Compteur:
        return cls._ouvrir(CompteurCree, ctx, ctx.aujourd_hui, valeur=1, unite="places")


class CompteurCree(Creation):
    """Version 2 added ``unite``; version 1 stored only ``valeur``."""

    class_version: ClassVar[int] = 2
    valeur: int
    unite: str

    @staticmethod
    def upcast_v1_v2(etat: dict[str, Any]) -> None:
        etat["unite"] = "enfants"


def test_an_old_version_of_an_event_is_upcast_on_read() -> None:
    mapper = JsonMapper()
    actuel = mapper.to_stored_event(Compteur.creer(CTX).collect_events()[0])
    etat = orjson.loads(actuel.state)
    assert etat["class_version"] == 2
    del etat["class_version"], etat["unite"]
    ancien = StoredEvent(actuel.originator_id, actuel.originator_version, actuel.topic, orjson.dumps(etat))
    relu = mapper.to_domain_event(ancien)
    assert isinstance(relu, CompteurCree)
    assert relu.unite == "enfants"
    assert relu.valeur == 1


def test_an_idempotency_key_is_recorded_once_with_its_events() -> None:
    recorder = POPORecorderIdempotent()
    mapper = JsonMapper()
    premier = [mapper.to_stored_event(e) for e in _parcours().collect_events()]
    second = [mapper.to_stored_event(e) for e in _parcours().collect_events()]
    reponse = ReponseIdempotente("alice", "cle-1", "empreinte", 201, {"id": "x"})
    recorder.insert_events(premier, idempotence=reponse)
    with pytest.raises(IntegrityError):
        recorder.insert_events(second, idempotence=reponse)
    # The refused commit recorded nothing: neither its events nor a second key.
    assert recorder.select_events(second[0].originator_id) == []
    assert recorder.lire_reponse("alice", "cle-1") == reponse
    assert recorder.lire_reponse("bob", "cle-1") is None
