"""Occupancy of the lieux d'accueil: places, children present, rate, over-occupation.

A placement into a full lieu is recorded, never refused (DOMAIN.md): here it
shows as a rate above 1 and ``sur_occupation``. A closed lieu offers no place;
a child still recorded there (its accueil not yet moved) makes it over-occupied,
which is exactly what a manager must see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, TypeAlias
from uuid import UUID

import asyncpg

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connexion: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]


@dataclass(frozen=True)
class Occupation:
    """Places offered and children present somewhere (a lieu, or a sum of lieux)."""

    places: int
    enfants: int

    @property
    def taux(self) -> float | None:
        """Children per place (4 decimals); none when no place is offered."""
        return round(self.enfants / self.places, 4) if self.places > 0 else None

    @property
    def sur_occupation(self) -> bool:
        return self.enfants > self.places

    @property
    def places_libres(self) -> int:
        return max(0, self.places - self.enfants)


def places_offertes(capacite: int, ferme_le: date | None) -> int:
    """The places a lieu offers now: its capacity, none once closed."""
    return 0 if ferme_le is not None else capacite


@dataclass(frozen=True)
class LieuOccupe:
    lieu_id: UUID
    nom: str | None
    type: str
    departement: str
    capacite: int
    finess: str | None
    ferme_le: date | None
    occupation: Occupation
    presents: list[tuple[UUID, str | None, date]]
    """Each child present: ``(parcours_id, the parcours' département, present since)``."""


async def occupation_lieu(conn: Connexion, schema: str, lieu_id: UUID) -> LieuOccupe | None:
    """One lieu and who is placed there now; ``None`` if unknown."""
    lieu = await conn.fetchrow(
        f'SELECT lieu_id, nom, type, departement, capacite, finess, ferme_le FROM "{schema}".lieux WHERE lieu_id = $1',
        lieu_id,
    )
    if lieu is None:
        return None
    presents = await conn.fetch(
        f'SELECT pr.parcours_id, p.departement, pr.depuis FROM "{schema}".presences pr '
        f'LEFT JOIN "{schema}".parcours p USING (parcours_id) WHERE pr.lieu_id = $1 '
        "ORDER BY pr.depuis, pr.parcours_id",
        lieu_id,
    )
    return LieuOccupe(
        lieu_id=lieu["lieu_id"],
        nom=lieu["nom"],
        type=lieu["type"],
        departement=lieu["departement"],
        capacite=lieu["capacite"],
        finess=lieu["finess"],
        ferme_le=lieu["ferme_le"],
        occupation=Occupation(places_offertes(lieu["capacite"], lieu["ferme_le"]), len(presents)),
        presents=[(r["parcours_id"], r["departement"], r["depuis"]) for r in presents],
    )


@dataclass(frozen=True)
class OccupationGroupe:
    """The lieux of one département and one type, summed."""

    departement: str
    type_lieu: str
    lieux: int
    lieux_sur_occupes: int
    occupation: Occupation


async def occupation_par_type(conn: Connexion, schema: str, departements: Sequence[str]) -> list[OccupationGroupe]:
    """Per département and type of lieu: open lieux (and closed ones still holding a child), places, children.

    A child counts where its lieu is: a child of another département placed in
    one of these lieux takes one of their places.
    """
    lignes = await conn.fetch(
        f"""
        WITH parlieu AS (
            SELECT l.departement, l.type, l.capacite, l.ferme_le, coalesce(o.n, 0) AS enfants
              FROM "{schema}".lieux l
              LEFT JOIN (SELECT lieu_id, count(*) AS n FROM "{schema}".presences GROUP BY lieu_id) o USING (lieu_id)
             WHERE l.departement = ANY($1::text[]) AND (l.ferme_le IS NULL OR coalesce(o.n, 0) > 0)
        )
        SELECT departement, type, count(*) AS lieux,
               sum(CASE WHEN ferme_le IS NULL THEN capacite ELSE 0 END) AS places,
               sum(enfants) AS enfants,
               count(*) FILTER (WHERE enfants > CASE WHEN ferme_le IS NULL THEN capacite ELSE 0 END)
                   AS lieux_sur_occupes
          FROM parlieu GROUP BY departement, type ORDER BY departement, type
        """,
        list(departements),
    )
    return [
        OccupationGroupe(
            departement=r["departement"],
            type_lieu=r["type"],
            lieux=r["lieux"],
            lieux_sur_occupes=r["lieux_sur_occupes"],
            occupation=Occupation(int(r["places"]), int(r["enfants"])),
        )
        for r in lignes
    ]


async def occupation_des_lieux(conn: Connexion, schema: str, departements: Sequence[str]) -> list[LieuOccupe]:
    """Every lieu of ``departements`` (open ones, and closed ones still holding a child) with its occupancy,
    by département, type and name; ``presents`` is left empty (a list of lieux names no child)."""
    lignes = await conn.fetch(
        f"""
        SELECT l.lieu_id, l.nom, l.type, l.departement, l.capacite, l.finess, l.ferme_le, coalesce(o.n, 0) AS enfants
          FROM "{schema}".lieux l
          LEFT JOIN (SELECT lieu_id, count(*) AS n FROM "{schema}".presences GROUP BY lieu_id) o USING (lieu_id)
         WHERE l.departement = ANY($1::text[]) AND (l.ferme_le IS NULL OR coalesce(o.n, 0) > 0)
         ORDER BY l.departement, l.type, l.nom NULLS LAST, l.lieu_id
        """,
        list(departements),
    )
    return [
        LieuOccupe(
            lieu_id=r["lieu_id"],
            nom=r["nom"],
            type=r["type"],
            departement=r["departement"],
            capacite=r["capacite"],
            finess=r["finess"],
            ferme_le=r["ferme_le"],
            occupation=Occupation(places_offertes(r["capacite"], r["ferme_le"]), int(r["enfants"])),
            presents=[],
        )
        for r in lignes
    ]
