"""What a domain event becomes on Kafka: the publication contract applied to its stored form.

The contract (:mod:`contracts.publication`) works from what the store keeps, so
the relay and a projection reading the store publish alike without this
package; this adapter serves code holding domain events (tests, benchmarks).
"""

from __future__ import annotations

from contracts.publication import Message, message_stocke, messages_stockes
from services.parcours.domain.flux import Evenement
from services.parcours.persistence import JsonMapper

__all__ = ["Message", "message", "messages"]

_MAPPER = JsonMapper()


def message(evenement: Evenement) -> Message:
    """The Kafka record publishing ``evenement``, as the relay publishes it once stored."""
    stocke = _MAPPER.to_stored_event(evenement)
    return message_stocke(evenement.originator_id, evenement.originator_version, stocke.topic, stocke.state)


def messages(evenement: Evenement) -> list[Message]:
    """Every Kafka record publishing ``evenement``: its restricted record first, when it has one, then the public one."""
    stocke = _MAPPER.to_stored_event(evenement)
    return messages_stockes(evenement.originator_id, evenement.originator_version, stocke.topic, stocke.state)
