"""The Kafka broker the integration tests share.

A real Apache Kafka broker started once per test session from the jar cache
(see ``services/runtime/kafka_local.py``), or, when ``KAFKA_BOOTSTRAP_SERVERS``
is set, the broker it names (then nothing is started or stopped here).

Tests create the topics they use, with unique names, so they can run against
a shared external broker. Only a :class:`LocalKafkaBroker` can be stopped and
restarted; a test needing that should check the type and skip otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from services.runtime.kafka_local import LocalKafkaBroker

BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP_SERVERS"


@dataclass(frozen=True)
class ExternalKafkaBroker:
    """A broker run by someone else; only its address is known."""

    bootstrap_servers: str


KafkaBroker = LocalKafkaBroker | ExternalKafkaBroker
"""What the ``kafka_broker`` fixture yields; both have ``bootstrap_servers``."""


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """A running Kafka broker for the whole session."""
    external = os.environ.get(BOOTSTRAP_ENV)
    if external:
        yield ExternalKafkaBroker(bootstrap_servers=external)
        return
    # The log cleaner looks for work every 0.5 s instead of 15 s: erasure tests see compaction soon.
    with LocalKafkaBroker(extra_properties={"log.cleaner.backoff.ms": "500"}) as broker:
        yield broker
