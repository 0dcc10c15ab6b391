"""Kafka clients configured as this project needs them, and the topics it owns.

Every producer, consumer and admin client of the project is built here, with
the SASL settings of the process's principal (ARCHITECTURE.md, Security model):

- ``KAFKA_SECURITY_PROTOCOL``: ``SASL_PLAINTEXT``, ``SASL_SSL`` or ``PLAINTEXT``
  (the default when unset: an external broker without authentication; the
  project's own broker always needs SASL);
- ``KAFKA_SASL_MECHANISM``: ``SCRAM-SHA-512`` (default when a user is set);
- ``KAFKA_SASL_USERNAME`` / ``KAFKA_SASL_PASSWORD``: the principal;
- ``KAFKA_SSL_CAFILE``: optional CA bundle for ``SASL_SSL``.

:data:`PRINCIPAUX` lists each principal's ACLs; the local broker
(``kafka_local.py``) creates them and the k8s base mirrors them as ``KafkaUser``s.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
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

COMPACTION_RESTREINT: dict[str, str] = dict(COMPACTION_IDENTITES)
"""``ase.parcours.restreint.v1``: compacted as the identities (key ``<stream id>:<version>``, one a
record), so that the tombstones the relay sends on an erasure (``IdentiteEffacee``) remove the
person's court references and exact dates from every segment within about an hour (issue 9)."""

PREFIXE_GROUPES_PROJECTIONS: Final = "ase.projections."
"""Consumer groups and dead-letter topics (``<groupe>.dlq``) of the projections."""

PROTOCOLES: Final = ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL")
MECANISME_SCRAM: Final = "SCRAM-SHA-512"


class ReglagesKafkaInvalides(ValueError):
    """The ``KAFKA_SECURITY_PROTOCOL`` / ``KAFKA_SASL_*`` variables do not make a usable setting."""


@dataclass(frozen=True)
class Identifiants:
    """How a client authenticates to the broker: a protocol and, with SASL, a SCRAM principal.

    ``repr`` never shows the password.
    """

    protocole: str = "PLAINTEXT"
    utilisateur: str | None = None
    mot_de_passe: str | None = None
    mecanisme: str = MECANISME_SCRAM
    fichier_ca: str | None = None

    def __post_init__(self) -> None:
        if self.protocole not in PROTOCOLES:
            raise ReglagesKafkaInvalides(f"KAFKA_SECURITY_PROTOCOL must be one of {', '.join(PROTOCOLES)}")
        if self.protocole != "PLAINTEXT" and (not self.utilisateur or not self.mot_de_passe):
            raise ReglagesKafkaInvalides(f"{self.protocole} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")
        if self.mecanisme not in ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"):
            raise ReglagesKafkaInvalides("KAFKA_SASL_MECHANISM must be SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN")

    def __repr__(self) -> str:
        """Protocol and user, never the password."""
        return f"Identifiants(protocole={self.protocole!r}, utilisateur={self.utilisateur!r})"

    @classmethod
    def scram(cls, utilisateur: str, mot_de_passe: str, *, protocole: str = "SASL_PLAINTEXT") -> Identifiants:
        """A SCRAM-SHA-512 principal (the local broker's and Strimzi's mechanism)."""
        return cls(protocole=protocole, utilisateur=utilisateur, mot_de_passe=mot_de_passe)

    @classmethod
    def depuis_env(cls, env: Mapping[str, str] | None = None) -> Identifiants:
        """Read the four ``KAFKA_*`` variables (see the module docstring).

        A user without a protocol means ``SASL_PLAINTEXT``; nothing set means ``PLAINTEXT``.

        Raises:
            ReglagesKafkaInvalides: an unknown protocol or mechanism, or SASL without a user.
        """
        env = os.environ if env is None else env
        utilisateur = env.get("KAFKA_SASL_USERNAME") or None
        protocole = env.get("KAFKA_SECURITY_PROTOCOL") or ("SASL_PLAINTEXT" if utilisateur else "PLAINTEXT")
        return cls(
            protocole=protocole.upper(),
            utilisateur=utilisateur,
            mot_de_passe=env.get("KAFKA_SASL_PASSWORD") or None,
            mecanisme=(env.get("KAFKA_SASL_MECHANISM") or MECANISME_SCRAM).upper(),
            fichier_ca=env.get("KAFKA_SSL_CAFILE") or None,
        )

    def options_aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for any aiokafka client (producer, consumer, admin)."""
        if self.protocole == "PLAINTEXT":
            return {"security_protocol": "PLAINTEXT"}
        options: dict[str, Any] = {
            "security_protocol": self.protocole,
            "sasl_mechanism": self.mecanisme,
            "sasl_plain_username": self.utilisateur,
            "sasl_plain_password": self.mot_de_passe,
        }
        if self.protocole == "SASL_SSL":
            options["ssl_context"] = ssl.create_default_context(cafile=self.fichier_ca)
        return options

    def env(self) -> dict[str, str]:
        """The ``KAFKA_*`` variables giving these settings to another process."""
        if self.protocole == "PLAINTEXT":
            return {"KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}
        variables = {
            "KAFKA_SECURITY_PROTOCOL": self.protocole,
            "KAFKA_SASL_MECHANISM": self.mecanisme,
            "KAFKA_SASL_USERNAME": self.utilisateur or "",
            "KAFKA_SASL_PASSWORD": self.mot_de_passe or "",
        }
        if self.fichier_ca:
            variables["KAFKA_SSL_CAFILE"] = self.fichier_ca
        return variables

    def proprietes_client(self, bootstrap: str) -> str:
        """A Java Kafka client ``.properties`` text (``kafka-console-consumer --consumer.config``)."""
        lignes = [f"bootstrap.servers={bootstrap}", f"security.protocol={self.protocole}"]
        if self.protocole != "PLAINTEXT":
            module = (
                "org.apache.kafka.common.security.plain.PlainLoginModule"
                if self.mecanisme == "PLAIN"
                else "org.apache.kafka.common.security.scram.ScramLoginModule"
            )
            lignes += [
                f"sasl.mechanism={self.mecanisme}",
                f'sasl.jaas.config={module} required username="{self.utilisateur}" password="{self.mot_de_passe}";',
            ]
        return "\n".join(lignes) + "\n"


_par_defaut: contextvars.ContextVar[Identifiants | None] = contextvars.ContextVar(
    "ase_kafka_identifiants", default=None
)


@contextlib.contextmanager
def en_tant_que(identifiants: Identifiants) -> Iterator[None]:
    """Within this block (and the tasks it starts), clients built without explicit settings use these.

    For processes hosting several roles (the test suite, ``ase serve``); a service
    process takes its principal from the environment.
    """
    jeton = _par_defaut.set(identifiants)
    try:
        yield
    finally:
        _par_defaut.reset(jeton)


def identifiants_courants(identifiants: Identifiants | None = None) -> Identifiants:
    """The given settings, else those of :func:`en_tant_que`, else :meth:`Identifiants.depuis_env`."""
    if identifiants is not None:
        return identifiants
    return _par_defaut.get() or Identifiants.depuis_env()


# -- principals and their ACLs ----------------------------------------------------------------

Ressource = Literal["topic", "group", "cluster"]
Motif = Literal["literal", "prefixed"]
Operation = Literal["read", "write", "create", "describe", "describe_configs"]


@dataclass(frozen=True)
class Acl:
    """One ALLOW rule: ``principal`` may ``operation`` on ``ressource`` named ``nom`` (``motif``)."""

    ressource: Ressource
    nom: str
    operation: Operation
    motif: Motif = "literal"


def _lit(*sujets: str) -> tuple[Acl, ...]:
    return tuple(Acl("topic", s, op) for s in sujets for op in ("read", "describe"))


def _ecrit(*sujets: str) -> tuple[Acl, ...]:
    return tuple(Acl("topic", s, op) for s in sujets for op in ("write", "describe", "create"))


PRINCIPAUX: Final[dict[str, tuple[Acl, ...]]] = {
    # Super user (super.users): tooling only, never a service.
    "admin": (),
    # The relay: the only writer of the event, identity and restricted topics; creates the project's topics.
    "relais": (
        *_ecrit(TOPIC_PARCOURS, TOPIC_IDENTITES, TOPIC_RESTREINT),
        *(Acl("topic", s, op) for s in (TOPIC_STATISTIQUES, TOPIC_ALERTES) for op in ("create", "describe")),
    ),
    # The projections: the only reader of identities and restricted events; their groups and dead letters.
    "projections": (
        *_lit(TOPIC_PARCOURS, TOPIC_IDENTITES, TOPIC_RESTREINT),
        Acl("group", PREFIXE_GROUPES_PROJECTIONS, "read", "prefixed"),
        *(Acl("topic", PREFIXE_GROUPES_PROJECTIONS, op, "prefixed") for op in ("write", "describe", "create")),
        *_ecrit(TOPIC_STATISTIQUES),
    ),
    # Notifications: the public topic and the identities in (birth dates only: the deadlines of age), alerts out.
    "notifications": (
        *_lit(TOPIC_PARCOURS, TOPIC_IDENTITES),
        Acl("group", "ase.notifications", "read", "prefixed"),
        *_ecrit(TOPIC_ALERTES),
    ),
    # The observatory (ONPE): pseudonymised statistics only.
    "observatoire": (*_lit(TOPIC_STATISTIQUES), Acl("group", "ase.observatoire", "read", "prefixed")),
    # Any other system: the public topic, read only, in groups named ``lecteur.*``.
    "lecteur": (*_lit(TOPIC_PARCOURS), Acl("group", "lecteur.", "read", "prefixed")),
}
"""Each principal's ALLOW rules; everything else is denied (``allow.everyone.if.no.acl.found=false``)."""

SUPER_UTILISATEUR: Final = "admin"


# -- clients ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sujet:
    """A topic and the settings it is created with."""

    nom: str
    reglages: dict[str, str]


SUJETS: tuple[Sujet, ...] = (
    Sujet(TOPIC_PARCOURS, {"retention.ms": "-1", "cleanup.policy": "delete"}),
    Sujet(TOPIC_IDENTITES, COMPACTION_IDENTITES),
    Sujet(TOPIC_STATISTIQUES, {"retention.ms": "-1", "cleanup.policy": "delete"}),
    Sujet(TOPIC_RESTREINT, COMPACTION_RESTREINT),
    Sujet(TOPIC_ALERTES, {"retention.ms": str(UN_AN_MS), "cleanup.policy": "delete"}),
)


def producteur(
    bootstrap: str, *, client_id: str, linger_ms: int = 0, identifiants: Identifiants | None = None
) -> AIOKafkaProducer:
    """An idempotent producer waiting for every in-sync replica (never aiokafka's defaults).

    ``linger_ms`` stays 0 for the relay: it queues a whole batch before yielding,
    so the producer batches anyway, and a lone event goes out at once.
    ``identifiants``: see :func:`identifiants_courants`.
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
        **identifiants_courants(identifiants).options_aiokafka(),
    )


def producteur_brut(bootstrap: str, *, identifiants: Identifiants | None = None, **options: Any) -> AIOKafkaProducer:
    """A producer with aiokafka's options as given (tests, benchmarks), authenticated as :func:`producteur`."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, **options, **identifiants_courants(identifiants).options_aiokafka()
    )


def consommateur(
    *sujets: str, bootstrap: str, identifiants: Identifiants | None = None, **options: Any
) -> AIOKafkaConsumer:
    """A consumer of ``sujets`` (none: assign or subscribe later) with aiokafka's ``options``, authenticated."""
    return AIOKafkaConsumer(
        *sujets, bootstrap_servers=bootstrap, **options, **identifiants_courants(identifiants).options_aiokafka()
    )


def administration(bootstrap: str, *, identifiants: Identifiants | None = None, **options: Any) -> AIOKafkaAdminClient:
    """An admin client (topic creation, metadata), authenticated; ``options`` as aiokafka's."""
    options.setdefault("request_timeout_ms", 15000)
    return AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, **options, **identifiants_courants(identifiants).options_aiokafka()
    )


async def creer_sujets(
    bootstrap: str, *, partitions: int, replication: int, identifiants: Identifiants | None = None
) -> None:
    """Create the project's topics that are missing, with their retention or compaction."""
    admin = administration(bootstrap, client_id="ase-admin", identifiants=identifiants)
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
