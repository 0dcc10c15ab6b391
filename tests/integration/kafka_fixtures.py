"""The Kafka broker the integration tests share.

A real Apache Kafka broker started once per test session from the jar cache
(see ``services/runtime/kafka_local.py``), closed like the project's own:
SASL/SCRAM-SHA-512 and Kafka's ACL authoriser, one principal per service.
When ``KAFKA_BOOTSTRAP_SERVERS`` is set, the broker it names is used instead
(then nothing is started or stopped here, and every principal is the one the
``KAFKA_SASL_*`` variables name).

For the session, the process environment holds the ``admin`` (super user)
settings, so a test's own tooling (creating a scratch topic, reading what
reached a topic) works; the services under test run as their own principal:
:func:`principal` gives its settings and :func:`en_tant_que` (from
``services.runtime.kafka``) makes the clients built in a block use them.

Tests create the topics they use, with unique names, so they can run against
a shared external broker. Only a :class:`LocalKafkaBroker` can be stopped and
restarted; a test needing that should check the type and skip otherwise.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from services.runtime.kafka import Identifiants, en_tant_que
from services.runtime.kafka_local import LocalKafkaBroker

__all__ = [
    "ExternalKafkaBroker",
    "KafkaBroker",
    "broker_enregistre",
    "en_tant_que",
    "env_principal",
    "kafka_broker",
    "principal",
    "principal_connu",
]

BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP_SERVERS"
VARIABLES_SASL = ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD")


@dataclass(frozen=True)
class ExternalKafkaBroker:
    """A broker run by someone else; only its address (and the env's credentials) are known."""

    bootstrap_servers: str

    def identifiants(self, principal: str = "admin") -> Identifiants:
        """The environment's settings, whatever the principal asked."""
        return Identifiants.depuis_env()


KafkaBroker = LocalKafkaBroker | ExternalKafkaBroker
"""What the ``kafka_broker`` fixture yields; both have ``bootstrap_servers`` and ``identifiants()``."""

_courant: list[KafkaBroker] = []
_par_adresse: dict[str, KafkaBroker] = {}


@contextlib.contextmanager
def broker_enregistre(broker: KafkaBroker) -> Iterator[KafkaBroker]:
    """Make a test's own broker known by its address (:func:`principal_connu`) within the block."""
    _par_adresse[broker.bootstrap_servers] = broker
    try:
        yield broker
    finally:
        _par_adresse.pop(broker.bootstrap_servers, None)


def principal(nom: str, bootstrap: str | None = None) -> Identifiants:
    """The SASL settings of principal ``nom`` (``relais``, ``projections``, ``lecteur``...) on the session's
    broker, or on the registered broker at ``bootstrap``."""
    broker = _par_adresse.get(bootstrap) if bootstrap else (_courant[-1] if _courant else None)
    if broker is None:
        raise RuntimeError(f"no Kafka broker known at {bootstrap or 'the session'}: request the kafka_broker fixture")
    return broker.identifiants(nom)


def principal_connu(nom: str, bootstrap: str) -> Identifiants | None:
    """Principal ``nom`` of the broker at ``bootstrap`` if it is registered, else ``None`` (the caller's context)."""
    broker = _par_adresse.get(bootstrap)
    return broker.identifiants(nom) if broker is not None else None


def env_principal(nom: str) -> dict[str, str]:
    """The ``KAFKA_*`` variables of principal ``nom``, for a service run as a subprocess."""
    return principal(nom).env()


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """A running Kafka broker for the whole session; the environment authenticates as ``admin``."""
    external = os.environ.get(BOOTSTRAP_ENV)
    with pytest.MonkeyPatch.context() as env:
        if external:
            broker: KafkaBroker = ExternalKafkaBroker(bootstrap_servers=external)
            _courant.append(broker)
            try:
                with broker_enregistre(broker):
                    yield broker
            finally:
                _courant.remove(broker)
            return
        # The log cleaner looks for work every 0.5 s instead of 15 s: erasure tests see compaction soon.
        with LocalKafkaBroker(extra_properties={"log.cleaner.backoff.ms": "500"}) as local:
            for variable, valeur in local.identifiants("admin").env().items():
                env.setenv(variable, valeur)
            _courant.append(local)
            try:
                with broker_enregistre(local):
                    yield local
            finally:
                _courant.remove(local)
