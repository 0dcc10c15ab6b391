"""Settings of the parcours service (and of the embedded default that hosts it)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    """Connections the write side holds; commands run at most this many at once."""

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

    log_level: str = "INFO"
    """Level of the structured logs."""

    @model_validator(mode="after")
    def _production_sans_secrets_de_dev(self) -> ParcoursSettings:
        if self.mode == "production":
            if not self.oidc_jwks_url or not self.oidc_issuer:
                raise ValueError("production needs ASE_OIDC_JWKS_URL and ASE_OIDC_ISSUER: the dev key is refused")
            if not self.database_url:
                raise ValueError("production needs DATABASE_URL: the embedded PostgreSQL is for development")
        return self
