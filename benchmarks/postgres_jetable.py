"""The benchmark's own PostgreSQL: embedded, in a temporary folder, stopped and
deleted when the benchmark ends; one fresh database per measured path."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse, urlunparse
from uuid import uuid4

import psycopg

from services.runtime.postgres import tenir_postgres_embarque


@dataclass(frozen=True)
class PostgresJetable:
    """A running embedded server: its admin URL and its postmaster's pid."""

    url: str
    postmaster: int | None

    def nouvelle_base(self, prefixe: str) -> str:
        """Create an empty database; return its URL."""
        nom = f"{prefixe}_{uuid4().hex[:8]}"
        with psycopg.connect(self.url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{nom}"')
        return urlunparse(urlparse(self.url)._replace(path="/" + nom))

    def checkpoint(self) -> None:
        """Flush dirty pages now, so that a checkpoint does not land inside a measured level."""
        with psycopg.connect(self.url, autocommit=True) as admin:
            admin.execute("CHECKPOINT")

    def reglages(self) -> dict[str, str]:
        """What decides the cost of a commit here, for the record."""
        with psycopg.connect(self.url, autocommit=True) as admin:
            resultat = {
                nom: str(admin.execute(f"SHOW {nom}").fetchone()[0])  # type: ignore[index]
                for nom in ("server_version", "fsync", "synchronous_commit", "wal_sync_method", "shared_buffers")
            }
        return resultat


@contextmanager
def postgres_jetable() -> Iterator[PostgresJetable]:
    """Start an embedded PostgreSQL in a temporary folder; stop it and delete the folder after."""
    dossier = Path(tempfile.mkdtemp(prefix="ase-bench-"))
    donnees = dossier / "postgres"
    try:
        serveur = tenir_postgres_embarque(donnees)
        try:
            postmaster = int((donnees / "postmaster.pid").read_text().split()[0])
            yield PostgresJetable(url=serveur.url, postmaster=postmaster)
        finally:
            # The server would stop at exit anyway; stop it now so its folder can go.
            serveur.liberer()
    finally:
        shutil.rmtree(dossier, ignore_errors=True)
