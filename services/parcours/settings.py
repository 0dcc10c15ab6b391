"""Settings of the parcours service (and of the embedded default that hosts it)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.runtime.auth import duree_max_jeton_s
from services.runtime.coffre import verifier_cle_maitre_de_production
from services.runtime.relais import ATTENTE_ACQUITTEMENT_MAX_S


class ParcoursSettings(BaseSettings):
    """Read from the environment (``ASE_*``, and ``DATABASE_URL``)."""

    model_config = SettingsConfigDict(env_prefix="ASE_", extra="ignore")

    mode: Literal["dev", "production"] = "dev"
    """``production`` refuses the dev signing key and the embedded database."""

    database_url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL", "ASE_DATABASE_URL"))
    """PostgreSQL URL; unset, an embedded PostgreSQL keeps its data under ``data_dir``."""

    data_dir: Path = Path(".data")
    """Folder of the embedded PostgreSQL's data and of the dev signing key."""

    db_pool_size: int = Field(default=10, ge=1, le=200)
    """Commands run at most this many at once, each on a pooled connection of its own."""

    db_queue_max: int | None = Field(default=None, ge=0, le=10_000)
    """Requests of each kind (commands, reads) that may wait for a slot, first come first served; one more is
    answered 503 ``indisponible`` with ``Retry-After: 1`` at once rather than queued. Default: 4 x its slots
    (a client retrying later costs less than a queue whose tail outlives its timeouts)."""

    db_read_pool_size: int = Field(default=4, ge=1, le=200)
    """Reads of a stream (``GET /v1/parcours/…``) at once, on connections apart from the commands':
    commands blocked by the database never delay a read. The pool holds both counts."""

    db_timeout: float = Field(default=5.0, gt=0, le=300)
    """Seconds a request waits on the database: for a free slot, then for each lock or statement
    (PostgreSQL's ``lock_timeout`` and ``statement_timeout``) and pooled connection. Beyond, 503
    ``indisponible`` with ``Retry-After``; a command answers within about twice this."""

    token_max_lifetime: int | None = Field(default=None, ge=60, le=30 * 24 * 3600)
    """Seconds a token may be valid (``exp`` after ``iat``, and after now); default 3600 in
    production, 43200 in dev (the 12 h of ``ase token``)."""

    oidc_jwks_url: str | None = None
    """Production: the OIDC issuer's JWKS URL (Keycloak, ProConnect)."""

    oidc_issuer: str | None = None
    """Production: the expected ``iss`` claim."""

    oidc_audience: str | None = None
    """Production: the expected ``aud`` claim, if the issuer sets one."""

    kafka_bootstrap_servers: str | None = Field(
        default=None, validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "ASE_KAFKA_BOOTSTRAP_SERVERS")
    )
    """Kafka brokers the relay publishes to (``host:port,...``)."""

    kafka_partitions: int = Field(default=3, ge=1, le=1000)
    """Partitions of the topics the relay creates when missing."""

    kafka_replication: int = Field(default=1, ge=1, le=10)
    """Replication factor of the topics the relay creates when missing."""

    attente_relais_max_s: float = Field(default=ATTENTE_ACQUITTEMENT_MAX_S, gt=0)
    """The relay's ``/readyz`` fails when its batch has waited this many seconds for Kafka's
    acknowledgement (``ASE_ATTENTE_RELAIS_MAX_S``; default: twice the producer's request timeout)."""

    horloge_majorite: bool = True
    """The majority clock (``ASE_HORLOGE_MAJORITE``): ``MajoriteAtteinte`` recorded by ``systeme:horloge-majorite``
    on each 18th birthday, at start-up then daily at 00:05 Europe/Paris (``services.parcours.horloge_majorite``).
    ``false`` leaves it to the caseworkers (``POST /v1/parcours/{id}/majorite``)."""

    log_level: str = "INFO"
    """Level of the structured logs."""

    @property
    def duree_max_jeton_s(self) -> int:
        """The longest token lifetime accepted in this mode."""
        return duree_max_jeton_s(self.mode, self.token_max_lifetime)

    @model_validator(mode="after")
    def _production_sans_secrets_de_dev(self) -> ParcoursSettings:
        if self.mode == "production":
            if not self.oidc_jwks_url or not self.oidc_issuer:
                raise ValueError("production needs ASE_OIDC_JWKS_URL and ASE_OIDC_ISSUER: the dev key is refused")
            if not self.database_url:
                raise ValueError("production needs DATABASE_URL: the embedded PostgreSQL is for development")
        if self.mode == "production":
            # The KEK is read from the environment by the vault (services/runtime/coffre.py), never
            # held here: a validation error would print it.
            verifier_cle_maitre_de_production()
        return self
