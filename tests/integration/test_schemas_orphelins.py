"""The schemas a rebuild killed outright leaves behind are dropped by the next rebuild or service start."""

from __future__ import annotations

import asyncpg

from services.projections import catalogue


async def _schemas(conn: asyncpg.Connection) -> set[str]:
    return {r["nspname"] for r in await conn.fetch("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'p\\_%'")}


async def test_a_rebuild_killed_with_kill_9_leaves_no_schema_holding_the_names_of_persons_erased_later(
    base_url: str,
) -> None:
    """Found by the verifier: ``ase rebuild dossiers`` killed with ``kill -9`` left its schema, whose
    ``identites`` kept a name that the erasure then blanked everywhere else."""
    conn = await asyncpg.connect(base_url)
    rebuild_en_cours = await asyncpg.connect(base_url)
    try:
        await catalogue.preparer(conn)
        actif = await catalogue.schema_actif_ou_nouveau(conn, "dossiers")
        orphelin, en_cours = catalogue.nouveau_schema("dossiers"), catalogue.nouveau_schema("dossiers")
        for schema in (actif, orphelin, en_cours):
            await conn.execute(f'CREATE SCHEMA "{schema}"')
            await conn.execute(f'CREATE TABLE "{schema}".identites (nom text)')
            await conn.execute(f"INSERT INTO \"{schema}\".identites VALUES ('Martin')")
        await conn.execute('CREATE SCHEMA "p_autre_chose"')  # not a name the catalogue gives: not ours
        await catalogue.reserver(rebuild_en_cours, en_cours)  # a rebuild still running holds its schema

        assert await catalogue.supprimer_orphelins(conn) == [orphelin]
        assert await _schemas(conn) == {actif, en_cours, "p_autre_chose"}

        await rebuild_en_cours.close()  # that rebuild dies too: its session's lock goes with it
        assert await catalogue.supprimer_orphelins(conn) == [en_cours]
        assert await _schemas(conn) == {actif, "p_autre_chose"}
    finally:
        await conn.close()
        if not rebuild_en_cours.is_closed():
            await rebuild_en_cours.close()
