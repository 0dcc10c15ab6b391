"""The notifications service's settings (environment ``ASE_*``, ``DATABASE_URL``, ``KAFKA_BOOTSTRAP_SERVERS``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.notifications.destinataires import adresse_valide
from services.runtime.auth import duree_max_jeton_s
from services.runtime.coffre import verifier_cle_maitre_de_production


class NotificationsSettings(BaseSettings):
    """Read from the environment; every field documented in the README's "Notifications" section."""

    model_config = SettingsConfigDict(env_prefix="ASE_", extra="ignore")

    mode: Literal["dev", "production"] = "dev"
    """``production`` refuses the dev signing key and loopback webhooks."""

    database_url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL", "ASE_DATABASE_URL"))
    """PostgreSQL holding the timers, alerts, subscriptions and deliveries; unset: the embedded one."""

    kafka_bootstrap_servers: str | None = Field(
        default=None, validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "ASE_KAFKA_BOOTSTRAP_SERVERS")
    )
    """Set: the engine follows Kafka (group ``ase.notifications.echeances``) and alerts are published on
    ``ase.alertes.v1``. Unset: it follows the store's notification log, and no topic is written."""

    data_dir: Path = Path(".data")
    """Embedded PostgreSQL data and dev signing key."""

    db_pool_size: int = Field(default=10, ge=2, le=200)
    db_timeout: float = Field(default=5.0, gt=0, le=300)
    """Seconds a request waits on PostgreSQL; beyond, 503 ``indisponible``."""

    taille_lot: int = Field(default=500, ge=1, le=10_000)
    """Events applied per transaction by the deadline engine."""

    retard_max: int = Field(default=1000, ge=0)
    """``/readyz`` fails when the deadline engine is this many events behind its feed."""

    planificateur_intervalle_s: float = Field(default=60.0, gt=0, le=3600)
    """Seconds between two ticks of the scheduler (alerts due, escalations), also woken by the engine."""

    lien_base: str = Field(default="http://127.0.0.1:8001", max_length=200)
    """The read API's base URL, before an alert's ``lien`` (``/v1/dossiers/{id}``) in e-mails and webhooks."""

    # -- webhooks (Standard Webhooks) ----------------------------------------------------------
    webhooks_loopback: bool = False
    """Allow webhook URLs on loopback addresses (the embedded default and the tests); refused in production."""

    webhooks_tentatives_max: int = Field(default=8, ge=1, le=30)
    """Tries of one delivery before it is dead-lettered."""

    webhooks_delai_initial_s: float = Field(default=30.0, gt=0, le=86_400)
    """Delay before the first retry; each next one doubles, with full jitter, up to ``webhooks_delai_max_s``."""

    webhooks_delai_max_s: float = Field(default=6 * 3600.0, gt=0, le=7 * 86_400)
    webhooks_timeout_s: float = Field(default=10.0, gt=0, le=120)
    """Seconds a whole webhook try may take: resolving, connecting, sending, reading the (bounded) answer."""

    # -- e-mail (SMTP, aiosmtplib) -------------------------------------------------------------
    smtp_hote: str | None = None
    """SMTP server; unset: no e-mail is sent (the inbox, topic and webhooks still work)."""

    smtp_port: int = Field(default=587, ge=1, le=65_535)
    smtp_securite: Literal["starttls", "tls", "aucune"] = "starttls"
    """``starttls`` (port 587), ``tls`` (implicit TLS, port 465), ``aucune`` (local relays and tests only)."""

    smtp_utilisateur: str | None = None
    smtp_mot_de_passe: SecretStr | None = None
    smtp_expediteur: str = "notifications@parcours-ase.invalid"
    digest_heure: int = Field(default=7, ge=0, le=23)
    """Hour (Europe/Paris) of the daily digest of the alerts that are not urgent."""

    smtp_ca_fichier: Path | None = None
    """PEM file of the authorities that sign the SMTP server's certificate (an internal relay); unset: the
    system's. The certificate and its host name are always verified with ``starttls`` and ``tls``."""

    smtp_timeout_s: float = Field(default=30.0, gt=0, le=300)
    """Seconds to connect to the SMTP server and get each answer."""

    smtp_tentatives_max: int = Field(default=8, ge=1, le=30)
    """Tries of one e-mail before it is given up (state ``echec``, counted, logged with its id)."""

    smtp_delai_initial_s: float = Field(default=60.0, gt=0, le=86_400)
    """Delay before the first retry; each next one doubles (half of it random), up to ``smtp_delai_max_s``."""

    smtp_delai_max_s: float = Field(default=3600.0, gt=0, le=86_400)
    courriels_intervalle_s: float = Field(default=15.0, gt=0, le=3600)
    """Seconds between two rounds of the e-mail loop (outbox read, digest due, e-mails to send)."""

    @field_validator("smtp_expediteur")
    @classmethod
    def _expediteur(cls, valeur: str) -> str:
        return adresse_valide(valeur)

    # -- tokens ----------------------------------------------------------------------------------
    oidc_jwks_url: str | None = None
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    token_max_lifetime: int | None = Field(default=None, ge=60, le=30 * 24 * 3600)
    log_level: str = "INFO"

    @property
    def duree_max_jeton_s(self) -> int:
        """The longest token lifetime accepted in this mode."""
        return duree_max_jeton_s(self.mode, self.token_max_lifetime)

    @model_validator(mode="after")
    def _production(self) -> NotificationsSettings:
        if self.mode == "production":
            if not self.oidc_jwks_url or not self.oidc_issuer:
                raise ValueError("production needs ASE_OIDC_JWKS_URL and ASE_OIDC_ISSUER: the dev key is refused")
            if not self.database_url:
                raise ValueError("production needs DATABASE_URL")
            if self.webhooks_loopback:
                raise ValueError("ASE_WEBHOOKS_LOOPBACK is for the embedded default and the tests, not production")
            verifier_cle_maitre_de_production()
        return self
