"""Settings of the projections service (read models and read API)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.runtime.auth import duree_max_jeton_s
from services.runtime.coffre import verifier_cle_maitre_de_production
from services.runtime.relais import ATTENTE_ACQUITTEMENT_MAX_S


class ProjectionsSettings(BaseSettings):
    """Read from the environment (``ASE_*``, ``DATABASE_URL``, ``KAFKA_BOOTSTRAP_SERVERS``)."""

    model_config = SettingsConfigDict(env_prefix="ASE_", extra="ignore")

    mode: Literal["dev", "production"] = "dev"
    """``production`` refuses the dev signing key."""

    database_url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL", "ASE_DATABASE_URL"))
    """PostgreSQL holding the event store and the read models; unset: the embedded one in ``data_dir``."""

    kafka_bootstrap_servers: str | None = Field(
        default=None, validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "ASE_KAFKA_BOOTSTRAP_SERVERS")
    )
    """Set: projections follow Kafka in a consumer group. Unset: they follow the store's notification log."""

    data_dir: Path = Path(".data")
    """Embedded PostgreSQL data and dev signing key."""

    db_pool_size: int = Field(default=10, ge=2, le=200)
    """Connections of the read models and the read API."""

    db_timeout: float = Field(default=5.0, gt=0, le=300)
    """Seconds a read waits on PostgreSQL for a connection or a query; beyond, 503 ``indisponible``."""

    retard_max: int = Field(default=1000, ge=0)
    """``/readyz`` fails when a projection is this many events behind its feed."""

    attente_relais_max_s: float = Field(default=ATTENTE_ACQUITTEMENT_MAX_S, gt=0)
    """``/readyz`` fails when the relay's batch has waited this many seconds for Kafka's acknowledgement
    (``ASE_ATTENTE_RELAIS_MAX_S``; default: twice the producer's request timeout)."""

    taille_lot: int = Field(default=500, ge=1, le=10_000)
    """Events applied per transaction."""

    statistiques_intervalle_s: float = Field(default=30.0, gt=0, le=86_400)
    """With Kafka: seconds between two publications of the new or changed OLINPE rows on
    ``ase.statistiques.v1`` (``services.projections.statistiques``)."""

    oidc_jwks_url: str | None = None
    """Production: the OIDC issuer's JWKS URL."""

    oidc_issuer: str | None = None
    """Production: the expected ``iss`` claim."""

    oidc_audience: str | None = None
    """Production: the expected ``aud`` claim, if any."""

    token_max_lifetime: int | None = Field(default=None, ge=60, le=30 * 24 * 3600)
    """Seconds a token may be valid (``exp`` after ``iat``, and after now); default 3600 in
    production, 43200 in dev (the 12 h of ``ase token``)."""

    log_level: str = "INFO"
    """Level of the structured logs."""

    @property
    def duree_max_jeton_s(self) -> int:
        """The longest token lifetime accepted in this mode."""
        return duree_max_jeton_s(self.mode, self.token_max_lifetime)

    @model_validator(mode="after")
    def _production_sans_secrets_de_dev(self) -> ProjectionsSettings:
        if self.mode == "production" and (not self.oidc_jwks_url or not self.oidc_issuer):
            raise ValueError("production needs ASE_OIDC_JWKS_URL and ASE_OIDC_ISSUER: the dev key is refused")
        if self.mode == "production" and not self.database_url:
            raise ValueError("production needs DATABASE_URL")
        if self.mode == "production":
            # The KEK is read from the environment by the vault (services/runtime/coffre.py), never
            # held here: a validation error would print it.
            verifier_cle_maitre_de_production()
        return self
