"""Which schema serves each projection: read models are disposable and rebuilt beside.

A rebuild fills a fresh schema while the active one keeps serving, then one
transaction switches the catalogue to it (its ``generation`` goes up by one and
a ``NOTIFY projections_catalogue`` says so); the old schema is dropped after.
Engines create their tables under a share lock on their catalogue row, so a
switch never interleaves with an engine (re)creating the schema it replaces.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg
import structlog

from services.runtime.moteur import Projection, creer_tables

if TYPE_CHECKING:
    from services.runtime.moteur import Connexion

log = structlog.get_logger(__name__)

CATALOGUE = "projections_catalogue"
CANAL = "projections_catalogue"
"""The channel ``activer`` notifies, with the projection's name as payload."""


@dataclass(frozen=True)
class Entree:
    """The schema serving a projection, and how many switches it has seen."""

    schema: str
    generation: int


async def preparer(conn: Connexion) -> None:
    try:
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS public.{CATALOGUE} (nom text PRIMARY KEY, schema text NOT NULL, "
            "generation bigint NOT NULL DEFAULT 1, active_depuis timestamptz NOT NULL DEFAULT now())"
        )
        await conn.execute(
            f"ALTER TABLE public.{CATALOGUE} ADD COLUMN IF NOT EXISTS generation bigint NOT NULL DEFAULT 1"
        )
    except (asyncpg.UniqueViolationError, asyncpg.DuplicateTableError):
        pass  # created by another connection at the same moment


async def _avec_catalogue(conn: Connexion, requete: str, *arguments: object) -> asyncpg.Record | None:
    """Run ``requete`` on the catalogue, creating it the first time (reads stay one cheap SELECT)."""
    try:
        return await conn.fetchrow(requete, *arguments)
    except (asyncpg.UndefinedTableError, asyncpg.UndefinedColumnError):
        await preparer(conn)
        return await conn.fetchrow(requete, *arguments)


def nouveau_schema(nom: str) -> str:
    """A fresh schema name for ``nom``: ``p_<nom>_<utc time>_<random>``."""
    return f"p_{nom}_{datetime.now(UTC):%Y%m%d%H%M%S}_{secrets.token_hex(3)}"


async def entree(conn: Connexion, nom: str) -> Entree | None:
    ligne = await _avec_catalogue(conn, f"SELECT schema, generation FROM public.{CATALOGUE} WHERE nom = $1", nom)
    return Entree(ligne["schema"], ligne["generation"]) if ligne is not None else None


async def schema_actif(conn: Connexion, nom: str) -> str | None:
    courante = await entree(conn, nom)
    return courante.schema if courante is not None else None


async def schema_actif_ou_nouveau(conn: Connexion, nom: str) -> str:
    """The active schema of ``nom``, registering a fresh one the first time."""
    schema = await schema_actif(conn, nom)
    if schema is not None:
        return schema
    ligne = await _avec_catalogue(
        conn,
        f"INSERT INTO public.{CATALOGUE} (nom, schema) VALUES ($1, $2) ON CONFLICT (nom) DO NOTHING RETURNING schema",
        nom,
        nouveau_schema(nom),
    )
    if ligne is not None:
        return str(ligne["schema"])
    schema = await schema_actif(conn, nom)
    assert schema is not None
    return schema


async def preparer_schema_actif(conn: Connexion, projection: Projection) -> str:
    """The active schema of ``projection``, its tables created while no switch can happen."""
    nom = await schema_actif_ou_nouveau(conn, projection.nom)
    async with conn.transaction():
        schema: str = (
            await conn.fetchval(f"SELECT schema FROM public.{CATALOGUE} WHERE nom = $1 FOR SHARE", projection.nom)
            or nom
        )
        await creer_tables(conn, schema, projection)
    return schema


async def activer(conn: Connexion, nom: str, schema: str) -> str | None:
    """Make ``schema`` serve ``nom``; return the schema it replaces (to drop)."""
    await preparer(conn)
    async with conn.transaction():
        ancien: str | None = await conn.fetchval(
            f"SELECT schema FROM public.{CATALOGUE} WHERE nom = $1 FOR UPDATE", nom
        )
        await conn.execute(
            f"INSERT INTO public.{CATALOGUE} (nom, schema, active_depuis) VALUES ($1, $2, now()) "
            f"ON CONFLICT (nom) DO UPDATE SET schema = excluded.schema, active_depuis = now(), "
            f"generation = {CATALOGUE}.generation + 1",
            nom,
            schema,
        )
        await conn.execute("SELECT pg_notify($1, $2)", CANAL, nom)
    return ancien if ancien != schema else None


async def supprimer(conn: Connexion, schema: str) -> None:
    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


CLASSE_VERROU_RECONSTRUCTION = 0x415352
"""First key of the session advisory lock a rebuild holds on each schema it owns (the one it fills, then
the old one during its grace): a schema outside the catalogue that nobody holds is an orphan."""

MOTIF_SCHEMA = re.compile(r"^p_[a-z0-9_]+_\d{14}_[0-9a-f]{6}$")
"""The names :func:`nouveau_schema` gives."""


async def reserver(conn: Connexion, schema: str) -> None:
    """Hold ``schema`` for this session (a rebuild's), until :func:`liberer` or the session's end."""
    await conn.execute("SELECT pg_advisory_lock($1, hashtext($2))", CLASSE_VERROU_RECONSTRUCTION, schema)


async def liberer(conn: Connexion, schema: str) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1, hashtext($2))", CLASSE_VERROU_RECONSTRUCTION, schema)


async def supprimer_orphelins(conn: Connexion) -> list[str]:
    """Drop the projection schemas that no catalogue entry names and no rebuild holds; return their names.

    A rebuild killed outright (``kill -9``, out of memory, a lost node) never drops the schema it was
    filling, nor the old one it kept for its grace: left, they would keep copies of identities that a later
    erasure blanks everywhere else. Run before each rebuild and when the projections service starts.
    """
    await preparer(conn)
    lignes = await conn.fetch(
        f"SELECT nspname FROM pg_namespace WHERE nspname LIKE 'p\\_%' "
        f"AND nspname NOT IN (SELECT schema FROM public.{CATALOGUE}) ORDER BY nspname"
    )
    supprimes: list[str] = []
    for ligne in lignes:
        schema = str(ligne["nspname"])
        if not MOTIF_SCHEMA.match(schema):
            continue
        if not await conn.fetchval(
            "SELECT pg_try_advisory_lock($1, hashtext($2))", CLASSE_VERROU_RECONSTRUCTION, schema
        ):
            continue  # a rebuild running, or an old schema in its grace
        try:
            if await conn.fetchval(f"SELECT true FROM public.{CATALOGUE} WHERE schema = $1", schema):
                continue  # switched to since the list was read
            await supprimer(conn, schema)
            supprimes.append(schema)
            log.warning("schema_orphelin_supprime", schema=schema)
        finally:
            await liberer(conn, schema)
    return supprimes
