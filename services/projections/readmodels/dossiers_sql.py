"""The queries of the dossiers read model: the caseworker list, one dossier, the deadline worklist.

Every query is restricted to the caller's départements (``departements``) and
qualified with the schema serving the projection right now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, TypeAlias
from uuid import UUID

import asyncpg

from services.projections.readmodels.recherche import motifs_like

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connexion: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
    """A connection, or one lent by a pool (what read routes hold)."""


@dataclass(frozen=True)
class FiltresDossiers:
    departements: list[str]
    referent_id: str | None = None
    lieu_id: UUID | None = None
    statut: str | None = None
    q: str | None = None


@dataclass(frozen=True)
class Page:
    numero: int
    taille: int

    @property
    def decalage(self) -> int:
        return (self.numero - 1) * self.taille


class _Conditions:
    """``WHERE`` clauses and their numbered parameters, built together."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.valeurs: list[Any] = []

    def ajouter(self, gabarit: str, valeur: Any) -> None:
        """``gabarit`` holds ``{}`` where this value's ``$n`` goes."""
        self.valeurs.append(valeur)
        self.clauses.append(gabarit.format(f"${len(self.valeurs)}"))

    @property
    def where(self) -> str:
        return " AND ".join(self.clauses) or "true"

    def suivant(self) -> str:
        return f"${len(self.valeurs) + 1}"


async def lister_dossiers(
    conn: Connexion, schema: str, filtres: FiltresDossiers, page: Page
) -> tuple[int, list[asyncpg.Record]]:
    """The total matching and one page of dossiers, by name (erased or unknown identities last)."""
    c = _Conditions()
    c.ajouter("d.departement = ANY({}::text[])", filtres.departements)
    if filtres.referent_id is not None:
        c.ajouter("d.referent_id = {}", filtres.referent_id)
    if filtres.lieu_id is not None:
        c.ajouter("d.lieu_id = {}", filtres.lieu_id)
    if filtres.statut is not None:
        c.ajouter("d.statut = {}", filtres.statut)
    for motif in motifs_like(filtres.q or ""):
        c.ajouter("i.recherche LIKE {} ESCAPE '\\'", motif)
    depuis = f'"{schema}".dossiers d LEFT JOIN "{schema}".identites i ON i.personne_id = d.personne_id'
    total: int = await conn.fetchval(f"SELECT count(*) FROM {depuis} WHERE {c.where}", *c.valeurs)
    limite, decalage = c.suivant(), f"${len(c.valeurs) + 2}"
    lignes = await conn.fetch(
        f"SELECT d.*, i.nom, i.prenoms, i.date_naissance, i.effacee, e.type AS prochaine_type, "
        f"e.cle AS prochaine_cle, e.due_le AS prochaine_due_le, e.alerte_le AS prochaine_alerte_le, "
        f"e.details AS prochaine_details FROM {depuis} "
        f'LEFT JOIN LATERAL (SELECT * FROM "{schema}".echeances x WHERE x.parcours_id = d.parcours_id '
        f"AND NOT x.informatif ORDER BY x.due_le, x.type, x.cle LIMIT 1) e ON true "
        f"WHERE {c.where} ORDER BY i.recherche NULLS LAST, d.parcours_id LIMIT {limite} OFFSET {decalage}",
        *c.valeurs,
        page.taille,
        page.decalage,
    )
    return total, list(lignes)


@dataclass(frozen=True)
class DossierLu:
    dossier: asyncpg.Record
    mesures: list[asyncpg.Record]
    ips: list[asyncpg.Record]
    echeances: list[asyncpg.Record]


async def lire_dossier(conn: Connexion, schema: str, parcours_id: UUID, departements: list[str]) -> DossierLu | None:
    """One dossier with its measures, IPs and open deadlines; none outside ``departements``."""
    dossier = await conn.fetchrow(
        f"SELECT d.*, i.nom, i.prenoms, i.date_naissance, i.effacee, l.nom AS lieu_nom "
        f'FROM "{schema}".dossiers d LEFT JOIN "{schema}".identites i ON i.personne_id = d.personne_id '
        f'LEFT JOIN "{schema}".lieux l ON l.lieu_id = d.lieu_id '
        f"WHERE d.parcours_id = $1 AND d.departement = ANY($2::text[])",
        parcours_id,
        departements,
    )
    if dossier is None:
        return None
    mesures = await conn.fetch(
        f'SELECT * FROM "{schema}".mesures WHERE parcours_id = $1 ORDER BY date_debut, decidee_le, mesure_id',
        parcours_id,
    )
    ips = await conn.fetch(f'SELECT * FROM "{schema}".ips WHERE parcours_id = $1 ORDER BY recue_le, ip_id', parcours_id)
    echeances = await conn.fetch(
        f'SELECT * FROM "{schema}".echeances WHERE parcours_id = $1 ORDER BY due_le, type, cle', parcours_id
    )
    return DossierLu(dossier, list(mesures), list(ips), list(echeances))


@dataclass(frozen=True)
class FiltresEcheances:
    departements: list[str]
    referent_id: str | None = None
    avant: date | None = None


async def lister_echeances(
    conn: Connexion, schema: str, filtres: FiltresEcheances, page: Page
) -> tuple[int, list[asyncpg.Record]]:
    """The deadlines to act on (informational ones aside), soonest first."""
    c = _Conditions()
    c.ajouter("e.departement = ANY({}::text[])", filtres.departements)
    c.clauses.append("NOT e.informatif")
    if filtres.referent_id is not None:
        c.ajouter("e.referent_id = {}", filtres.referent_id)
    if filtres.avant is not None:
        c.ajouter("e.due_le < {}", filtres.avant)
    depuis = (
        f'"{schema}".echeances e JOIN "{schema}".dossiers d ON d.parcours_id = e.parcours_id '
        f'LEFT JOIN "{schema}".identites i ON i.personne_id = d.personne_id'
    )
    total: int = await conn.fetchval(f"SELECT count(*) FROM {depuis} WHERE {c.where}", *c.valeurs)
    limite, decalage = c.suivant(), f"${len(c.valeurs) + 2}"
    lignes = await conn.fetch(
        f"SELECT e.*, i.nom, i.prenoms FROM {depuis} WHERE {c.where} "
        f"ORDER BY e.due_le, e.parcours_id, e.type, e.cle LIMIT {limite} OFFSET {decalage}",
        *c.valeurs,
        page.taille,
        page.decalage,
    )
    return total, list(lignes)
