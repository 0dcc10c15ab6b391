"""The pages service's settings (environment ``ASE_PAGES_*``, ``ASE_OIDC_*``, ``DATABASE_URL``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.runtime.auth import duree_max_jeton_s


class PagesSettings(BaseSettings):
    """Read from the environment; every field documented in the README's "Pages" section."""

    model_config = SettingsConfigDict(env_prefix="ASE_", extra="ignore")

    mode: Literal["dev", "production"] = "dev"
    """``production`` refuses the dev sign-in page and the generated session secret, and needs HTTPS cookies."""

    database_url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL", "ASE_DATABASE_URL"))
    """PostgreSQL holding the sessions (schema ``pages``); unset: the embedded one."""

    data_dir: Path = Path(".data")
    """Embedded PostgreSQL data, the dev signing key and the dev session secret."""

    db_pool_size: int = Field(default=5, ge=1, le=100)
    db_timeout: float = Field(default=5.0, gt=0, le=300)

    # -- where the APIs answer ---------------------------------------------------------------------
    pages_api_parcours: str | None = None
    """Base URL of the command API (``http://parcours:8000``); unset: the APIs of this same process (``ase serve``)."""
    pages_api_projections: str | None = None
    """Base URL of the read API; unset: this process."""
    pages_api_notifications: str | None = None
    """Base URL of the notifications API; unset: this process."""
    pages_api_timeout_s: float = Field(default=15.0, gt=0, le=120)
    """Seconds one call of a page to an API may take; beyond, the page says the service is unavailable."""

    # -- sessions ----------------------------------------------------------------------------------
    pages_secret: SecretStr | None = None
    """Key signing the session cookie (32 bytes or more); required in production. Dev: generated once in
    ``data_dir/pages-secret``."""
    pages_session_duree_s: int = Field(default=8 * 3600, ge=60, le=24 * 3600)
    """A session ends this long after sign-in, whatever happens (a working day)."""
    pages_session_inactivite_s: int = Field(default=30 * 60, ge=30, le=12 * 3600)
    """A session ends after this long without a page asked (RGPD: a screen left open in an office)."""
    pages_cookie_securise: bool | None = None
    """The session cookie is ``Secure`` (sent over HTTPS only) and named ``__Host-…``; unset: in production only."""

    # -- sign-in (OpenID Connect, authorization code + PKCE) ---------------------------------------
    oidc_issuer: str | None = None
    """The issuer (``iss``) the APIs trust; its discovery document is read at ``/.well-known/openid-configuration``."""
    oidc_audience: str | None = None
    """The ``aud`` the APIs expect of an access token (the same variable as theirs)."""
    pages_oidc_client_id: str | None = None
    """The pages' client at the issuer; with ``oidc_issuer``, sign-in goes through the issuer."""
    pages_oidc_client_secret: SecretStr | None = None
    """Unset for a public client (PKCE alone)."""
    pages_oidc_scopes: str = "openid profile"
    pages_oidc_redirect_uri: str | None = None
    """The callback registered at the issuer (``https://ase.example/pages/connexion/retour``); unset: derived
    from the request."""

    token_max_lifetime: int | None = Field(default=None, ge=60, le=30 * 24 * 3600)
    log_level: str = "INFO"

    @property
    def oidc(self) -> bool:
        """Whether sign-in goes through the OIDC issuer (else the dev sign-in page)."""
        return bool(self.oidc_issuer and self.pages_oidc_client_id)

    @property
    def cookie_securise(self) -> bool:
        return self.pages_cookie_securise if self.pages_cookie_securise is not None else self.mode == "production"

    @property
    def duree_jeton_dev_s(self) -> int:
        """How long a dev token minted at sign-in is valid: the session's length, within the dev bound."""
        return min(self.pages_session_duree_s, duree_max_jeton_s(self.mode, self.token_max_lifetime))

    @model_validator(mode="after")
    def _production(self) -> PagesSettings:
        if self.mode == "production":
            if not self.oidc:
                raise ValueError(
                    "production needs ASE_OIDC_ISSUER and ASE_PAGES_OIDC_CLIENT_ID: the dev sign-in page is refused"
                )
            if self.pages_secret is None or len(self.pages_secret.get_secret_value().strip()) < 32:
                raise ValueError("production needs ASE_PAGES_SECRET (32 characters or more)")
            if not self.database_url:
                raise ValueError("production needs DATABASE_URL")
            if not self.pages_oidc_redirect_uri:
                # Behind a proxy that ends TLS, the one derived from the request would be http://.
                raise ValueError("production needs ASE_PAGES_OIDC_REDIRECT_URI (https://<host>/pages/connexion/retour)")
            for nom, url in (
                ("ASE_OIDC_ISSUER", self.oidc_issuer),
                ("ASE_PAGES_OIDC_REDIRECT_URI", self.pages_oidc_redirect_uri),
            ):
                if url is not None and not url.startswith("https://"):
                    # RFC 9700 2.6 and RFC 6749 3.1.2.1: codes and tokens travel over TLS only.
                    raise ValueError(f"production needs an https:// {nom}")
            if self.pages_cookie_securise is False:
                raise ValueError("production sends the session cookie over HTTPS only (ASE_PAGES_COOKIE_SECURISE)")
        return self
