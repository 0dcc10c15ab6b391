"""The lieux d'accueil of some départements, as a caseworker picks one to place a child.

Read from the pilotage read model (``lieux`` and ``presences``): its name (a private
person's too: the restricted facts complete it for the département's caseworkers),
type, capacity, closing date and the children present now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, TypeAlias
from uuid import UUID

import asyncpg

from services.projections.readmodels.occupation import Occupation, places_offertes

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connexion: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

LIEUX_MAX = 2_000
"""Lieux listed at most: a large département counts a few hundred establishments and families."""


@dataclass(frozen=True)
class LieuListe:
    lieu_id: UUID
    nom: str | None
    type: str
    departement: str
    capacite: int
    ferme_le: date | None
    occupation: Occupation


async def lieux_des_departements(
    conn: Connexion, schema: str, departements: Sequence[str], *, type_lieu: str | None, ouverts: bool
) -> list[LieuListe]:
    """The lieux of ``departements`` (of ``type_lieu`` if given; open ones only with ``ouverts``),
    by département, type and name, at most :data:`LIEUX_MAX`."""
    lignes = await conn.fetch(
        f"""
        SELECT l.lieu_id, l.nom, l.type, l.departement, l.capacite, l.ferme_le, coalesce(o.n, 0) AS enfants
          FROM "{schema}".lieux l
          LEFT JOIN (SELECT lieu_id, count(*) AS n FROM "{schema}".presences GROUP BY lieu_id) o USING (lieu_id)
         WHERE l.departement = ANY($1::text[])
           AND ($2::text IS NULL OR l.type = $2)
           AND (NOT $3 OR l.ferme_le IS NULL)
         ORDER BY l.departement, l.type, l.nom NULLS LAST, l.lieu_id
         LIMIT {LIEUX_MAX}
        """,
        list(departements),
        type_lieu,
        ouverts,
    )
    return [
        LieuListe(
            lieu_id=r["lieu_id"],
            nom=r["nom"],
            type=r["type"],
            departement=r["departement"],
            capacite=r["capacite"],
            ferme_le=r["ferme_le"],
            occupation=Occupation(places_offertes(r["capacite"], r["ferme_le"]), int(r["enfants"])),
        )
        for r in lignes
    ]
