"""Kafka clients configured as this project needs them, and the topics it owns."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from contracts.enveloppe import TOPIC_ALERTES, TOPIC_IDENTITES, TOPIC_PARCOURS, TOPIC_RESTREINT, TOPIC_STATISTIQUES

log = structlog.get_logger(__name__)

UN_AN_MS = 365 * 24 * 3600 * 1000
UNE_HEURE_MS = 3600 * 1000
UN_JOUR_MS = 24 * UNE_HEURE_MS

COMPACTION_IDENTITES: dict[str, str] = {
    "cleanup.policy": "compact",
    # The cleaner never touches the active segment: rolled every hour (on the next record), a
    # superseded name becomes cleanable within the hour of its tombstone, not only when 1 GB is full.
    "segment.ms": str(UNE_HEURE_MS),
    "max.compaction.lag.ms": str(UNE_HEURE_MS),
    # One tombstone makes a segment worth cleaning (the default 0.5 waits for half a dirty log).
    "min.cleanable.dirty.ratio": "0.01",
    "min.compaction.lag.ms": "0",
    # Tombstones stay one day after a cleaning, for consumers that are behind to see the erasure.
    "delete.retention.ms": str(UN_JOUR_MS),
}
"""``ase.identites.v1``: compaction that actually removes an erased person's records (README,
"Chiffrement et effacement"): within about ``segment.ms`` plus the broker's ``log.cleaner.backoff.ms``."""


@dataclass(frozen=True)
class Sujet:
    """A topic and the settings it is created with."""

    nom: str
    reglages: dict[str, str]


SUJETS: tuple[Sujet, ...] = (
    Sujet(TOPIC_PARCOURS, {"retention.ms": "-1", "cleanup.policy": "delete"}),
    Sujet(TOPIC_IDENTITES, COMPACTION_IDENTITES),
    Sujet(TOPIC_STATISTIQUES, {"retention.ms": "-1", "cleanup.policy": "delete"}),
    Sujet(TOPIC_RESTREINT, {"retention.ms": "-1", "cleanup.policy": "delete"}),
    Sujet(TOPIC_ALERTES, {"retention.ms": str(UN_AN_MS), "cleanup.policy": "delete"}),
)


def producteur(bootstrap: str, *, client_id: str, linger_ms: int = 0) -> AIOKafkaProducer:
    """An idempotent producer waiting for every in-sync replica (never aiokafka's defaults).

    ``linger_ms`` stays 0 for the relay: it queues a whole batch before yielding,
    so the producer batches anyway, and a lone event goes out at once.
    """
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=linger_ms,
        max_batch_size=256 * 1024,
        request_timeout_ms=15000,
        retry_backoff_ms=200,
    )


async def creer_sujets(bootstrap: str, *, partitions: int, replication: int) -> None:
    """Create the project's topics that are missing, with their retention or compaction."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="ase-admin", request_timeout_ms=15000)
    await admin.start()
    try:
        existants = set(await admin.list_topics())
        manquants = [
            NewTopic(name=s.nom, num_partitions=partitions, replication_factor=replication, topic_configs=s.reglages)
            for s in SUJETS
            if s.nom not in existants
        ]
        if manquants:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process created them meanwhile
                await admin.create_topics(manquants)
            log.info("sujets_crees", sujets=[t.name for t in manquants], partitions=partitions)
    finally:
        await admin.close()
