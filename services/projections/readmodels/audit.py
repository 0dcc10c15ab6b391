"""The audit read model: every Parcours event as recorded, and where each dossier is scoped.

Two tables, both pure functions of the events (a rebuild gives the same rows):

- ``evenements``: one row per Parcours event, its envelope (author, recording
  time, correlation) beside its date of effect and its public payload. The
  chronology and the bi-temporal state are read from it; corrections stay rows
  of their own (``SaisieRectifiee``), joined to what they correct at read time.
- ``dossiers``: the département each parcours is under now.
- ``responsabilites``: each département's periods of responsibility for a
  parcours, from the version of its first event (or of the transfer that brought
  it) to the version of the transfer that took it away (null: still responsible).

After a transfer (59 to 62), 59's auditors keep the chronology up to the transfer
and the reads made under 59; 62's auditors see the whole chronology (the history
before the transfer is the caseworkers' history: 62's caseworkers read the whole
dossier, so its auditors must see what they saw) and the reads made under 62 only,
never 59's staff's reads (the access log is scoped by the département each read
was made under, ``services.runtime.journal_acces``).

Lieu and identity events are not kept: the audit of a parcours is its stream,
and names never enter the audit (it reads public payloads only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeAlias
from uuid import UUID

import asyncpg
import orjson

from contracts.enveloppe import TOPIC_IDENTITES, TOPIC_PARCOURS, TOPIC_RESTREINT
from droit.etat_parcours import jour_publie
from services.projections.readmodels import restreints
from services.projections.readmodels.bitemporel import RECTIFICATION, Fait
from services.runtime import journal_acces
from services.runtime.evenement import EvenementPublie
from services.runtime.moteur import Projection

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connexion: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
    """A connection, or one lent by a pool (what read routes hold)."""

TRANSFERT = "DossierTransfere"


async def _remettre(conn: asyncpg.Connection, oublis: list[restreints.Oubli]) -> None:
    """Put back the public values (and the public date of effect) of the events whose facts were forgotten."""
    for oubli in oublis:
        donnees = await conn.fetchval(
            "SELECT donnees FROM evenements WHERE parcours_id = $1 AND version = $2", oubli.flux_id, oubli.version
        )
        if donnees is None:
            continue
        publiques = restreints.publier_a_nouveau(oubli.evenement, orjson.loads(donnees), oubli.cles)
        await conn.execute(
            "UPDATE evenements SET donnees = $3::jsonb, date_effet = coalesce($4, date_effet), "
            f"enregistre_le = CASE WHEN $5 THEN {restreints.DEBUT_DU_MOIS_SQL} ELSE enregistre_le END "
            "WHERE parcours_id = $1 AND version = $2",
            oubli.flux_id,
            oubli.version,
            orjson.dumps(publiques).decode(),
            jour_publie(publiques),
            restreints.HEURE in oubli.cles,
        )


class ProjectionAudit(Projection):
    """Keeps every Parcours event for the auditors, and each dossier's current département."""

    nom = "audit"
    sujets = (TOPIC_PARCOURS, TOPIC_RESTREINT, TOPIC_IDENTITES)
    """Identities for their tombstones only: an erased person's restricted facts are forgotten."""

    def ddl(self) -> list[str]:
        return [
            *restreints.DDL_EFFACEMENTS,
            "CREATE TABLE IF NOT EXISTS evenements (parcours_id uuid NOT NULL, version integer NOT NULL, "
            "ce_id text NOT NULL, type text NOT NULL, nom text NOT NULL, date_effet date NOT NULL, "
            "enregistre_le timestamptz NOT NULL, auteur text NOT NULL, correlation_id text NOT NULL, "
            "departement text NOT NULL, donnees jsonb NOT NULL, PRIMARY KEY (parcours_id, version))",
            # What a given person recorded, and when: the other question an inspection asks.
            "CREATE INDEX IF NOT EXISTS evenements_par_auteur ON evenements (auteur, enregistre_le)",
            "CREATE TABLE IF NOT EXISTS dossiers (parcours_id uuid PRIMARY KEY, departement text NOT NULL, "
            "derniere_version integer NOT NULL)",
            "CREATE INDEX IF NOT EXISTS dossiers_par_departement ON dossiers (departement)",
            "CREATE TABLE IF NOT EXISTS responsabilites (parcours_id uuid NOT NULL, departement text NOT NULL, "
            "depuis_version integer NOT NULL, jusqu_a_version integer, depuis timestamptz NOT NULL, "
            "jusqu_a timestamptz, PRIMARY KEY (parcours_id, depuis_version))",
            "CREATE INDEX IF NOT EXISTS responsabilites_par_departement ON responsabilites (departement, parcours_id)",
            restreints.DDL_RESTREINTS,
        ]

    async def appliquer(self, conn: asyncpg.Connection, evenement: EvenementPublie) -> None:
        if evenement.domaine == "identites" and evenement.donnees is None:
            # An erasure: the auditors no longer see her restricted facts (the month stands for the dates).
            await _remettre(conn, await restreints.effacer(conn, evenement.flux_id))
            return
        if evenement.domaine != "parcours":
            return  # lieux and identités: not a parcours' history
        if evenement.restreint:
            # The facts the public event withholds (a court's reference...): the auditors see them.
            faits = await restreints.garder_faits(conn, evenement)
            if faits is None:
                return  # an erased person's: forgotten
            await conn.execute(
                "UPDATE evenements SET donnees = donnees || $3::jsonb, date_effet = coalesce($4, date_effet), "
                "enregistre_le = coalesce($5, enregistre_le) WHERE parcours_id = $1 AND version = $2",
                evenement.flux_id,
                evenement.version,
                orjson.dumps(faits.champs).decode(),
                jour_publie(faits.champs),
                faits.enregistre_le,
            )
            return
        await _remettre(conn, await restreints.connaitre(conn, evenement))
        evenement = await restreints.completer(conn, evenement)
        donnees = evenement.donnees
        departement = evenement.departement
        if donnees is None or departement is None:
            raise ValueError(f"événement de parcours sans corps ou sans département: {evenement.id}")
        await conn.execute(
            "INSERT INTO evenements (parcours_id, version, ce_id, type, nom, date_effet, enregistre_le, auteur, "
            "correlation_id, departement, donnees) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb) "
            "ON CONFLICT (parcours_id, version) DO NOTHING",
            evenement.flux_id,
            evenement.version,
            evenement.id,
            evenement.type,
            evenement.nom,
            jour_publie(donnees),
            evenement.enregistre_le,
            evenement.auteur,
            evenement.correlation_id,
            departement,
            orjson.dumps(donnees).decode(),
        )
        # Events are recorded under the dossier's département of the moment (ce_source);
        # a transfer, recorded under the origin, moves it to the destination.
        courant = str(donnees["departement_destination"]) if evenement.nom == TRANSFERT else departement
        await conn.execute(
            "INSERT INTO dossiers (parcours_id, departement, derniere_version) VALUES ($1, $2, $3) "
            "ON CONFLICT (parcours_id) DO UPDATE SET departement = excluded.departement, "
            "derniere_version = excluded.derniere_version WHERE dossiers.derniere_version < excluded.derniere_version",
            evenement.flux_id,
            courant,
            evenement.version,
        )
        await self._responsabilites(conn, evenement, departement, courant)

    @staticmethod
    async def _responsabilites(
        conn: asyncpg.Connection, evenement: EvenementPublie, departement: str, courant: str
    ) -> None:
        """Open the first period at the first event; a transfer closes one and opens the next.

        Idempotent: an event applied twice changes nothing (the guards on versions).
        """
        await conn.execute(
            "INSERT INTO responsabilites (parcours_id, departement, depuis_version, depuis) "
            "SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM responsabilites WHERE parcours_id = $1) "
            "ON CONFLICT DO NOTHING",
            evenement.flux_id,
            departement,
            evenement.version,
            evenement.enregistre_le,
        )
        if evenement.nom != TRANSFERT:
            return
        await conn.execute(
            "UPDATE responsabilites SET jusqu_a_version = $2, jusqu_a = $3 "
            "WHERE parcours_id = $1 AND jusqu_a_version IS NULL AND depuis_version < $2",
            evenement.flux_id,
            evenement.version,
            evenement.enregistre_le,
        )
        await conn.execute(
            "INSERT INTO responsabilites (parcours_id, departement, depuis_version, depuis) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT DO NOTHING",
            evenement.flux_id,
            courant,
            evenement.version,
            evenement.enregistre_le,
        )


# -- reads ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvenementAudite:
    """One row of ``evenements``."""

    parcours_id: UUID
    version: int
    ce_id: str
    type: str
    nom: str
    date_effet: date
    enregistre_le: datetime
    auteur: str
    correlation_id: str
    departement: str
    donnees: dict[str, Any]

    @property
    def version_rectifiee(self) -> int | None:
        """For a correction, the version it corrects."""
        return int(self.donnees["version_rectifiee"]) if self.nom == RECTIFICATION else None

    def fait(self) -> Fait:
        return Fait(self.version, self.nom, self.date_effet, self.enregistre_le, self.donnees)


@dataclass(frozen=True)
class EntreeChronologie:
    """An event and the corrections recorded against it."""

    evenement: EvenementAudite
    rectifications: list[EvenementAudite] = field(default_factory=list)


def chronologie(evenements: Sequence[EvenementAudite]) -> list[EntreeChronologie]:
    """Every event in version order, each with the corrections that target it (in their order)."""
    par_cible: dict[int, list[EvenementAudite]] = {}
    for e in evenements:
        if e.version_rectifiee is not None:
            par_cible.setdefault(e.version_rectifiee, []).append(e)
    return [
        EntreeChronologie(e, sorted(par_cible.get(e.version, []), key=lambda r: r.version))
        for e in sorted(evenements, key=lambda e: e.version)
    ]


async def departement_du_dossier(conn: Connexion, schema: str, parcours_id: UUID) -> str | None:
    """The département the dossier is under now; none if the audit has not seen it."""
    departement: str | None = await conn.fetchval(
        f'SELECT departement FROM "{schema}".dossiers WHERE parcours_id = $1', parcours_id
    )
    return departement


@dataclass(frozen=True)
class Responsabilite:
    """A période during which ``departement`` was responsible for the parcours."""

    departement: str
    depuis_version: int
    jusqu_a_version: int | None
    """The version of the transfer that ended it (included in it); none: still responsible."""
    depuis: datetime
    jusqu_a: datetime | None


async def responsabilites(conn: Connexion, schema: str, parcours_id: UUID) -> list[Responsabilite]:
    """The parcours' periods of responsibility, in order; empty if the audit has not seen it."""
    lignes = await conn.fetch(
        f"SELECT departement, depuis_version, jusqu_a_version, depuis, jusqu_a "
        f'FROM "{schema}".responsabilites WHERE parcours_id = $1 ORDER BY depuis_version',
        parcours_id,
    )
    return [Responsabilite(**dict(ligne)) for ligne in lignes]


@dataclass(frozen=True)
class Vue:
    """What an auditor may see of a parcours: under which département, and up to which version."""

    departement: str
    jusqu_a_version: int | None
    """None: the whole chronology (the auditor's département is responsible now)."""


def vue_de_l_auditeur(periodes: Sequence[Responsabilite], departements: frozenset[str]) -> Vue | None:
    """The auditor's view: the whole history if responsible now, else up to the end of its last period.

    None when none of ``departements`` was ever responsible (a 404, as an unknown dossier).
    """
    if not periodes:
        return None
    courante = periodes[-1]
    if courante.jusqu_a_version is None and courante.departement in departements:
        return Vue(courante.departement, None)
    passees = [p for p in periodes if p.departement in departements and p.jusqu_a_version is not None]
    if not passees:
        return None
    derniere = max(passees, key=lambda p: p.depuis_version)
    return Vue(derniere.departement, derniere.jusqu_a_version)


_COLONNES = (
    "parcours_id, version, ce_id, type, nom, date_effet, enregistre_le, auteur, correlation_id, departement, donnees"
)


async def evenements_du_parcours(
    conn: Connexion,
    schema: str,
    parcours_id: UUID,
    *,
    connu_le: datetime | None = None,
    jusqu_a_version: int | None = None,
) -> list[EvenementAudite]:
    """The parcours' events in version order; only those recorded by ``connu_le``, and up to
    ``jusqu_a_version`` (included), when given."""
    lignes = await conn.fetch(
        f'SELECT {_COLONNES} FROM "{schema}".evenements WHERE parcours_id = $1 '
        "AND ($2::timestamptz IS NULL OR enregistre_le <= $2) AND ($3::integer IS NULL OR version <= $3) "
        "ORDER BY version",
        parcours_id,
        connu_le,
        jusqu_a_version,
    )
    return [EvenementAudite(**{**dict(ligne), "donnees": orjson.loads(ligne["donnees"])}) for ligne in lignes]


Acces = journal_acces.Acces
"""One row of ``public.journal_acces`` (kept here for callers of the first version)."""
PageAcces = journal_acces.PageAcces


async def journal_des_acces(
    conn: Connexion,
    schema: str,
    departements: Sequence[str],
    *,
    parcours_id: UUID | None,
    sub: str | None,
    page: int,
    taille: int,
) -> PageAcces:
    """Reads made under ``departements``, latest first (``schema`` is no longer needed:
    each row carries the département it was read under; see :func:`journal_acces.lire_journal`)."""
    del schema
    return await journal_acces.lire_journal(
        conn, departements, parcours_id=parcours_id, sub=sub, page=page, taille=taille
    )
