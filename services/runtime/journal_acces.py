"""The access log: one line per parcours a read showed, written by every service before it answers.

One table, ``public.journal_acces``, in the database both services share (the
write side's event store and the read models live in the same PostgreSQL in
every mode: ``ase serve``, the distributed stack, the test suite). It is the
auditors' own record, never a read model: it is only appended to, never rebuilt.

One row per (read, parcours returned); a read that returned nobody (an empty
list, a search that matched nothing) still has one row, with ``parcours_id``
null. The rows of one read share ``lecture_id``. Each row holds:

- ``sub``: who read (the token's subject); ``lu_le``: when (the database's clock);
- ``service``, ``methode``, ``route`` (the path template, ``/v1/dossiers/{parcours_id}``)
  and ``chemin`` (the concrete path; its query string is in ``termes``);
- ``termes``: the query string's values as given (``{"q": ["dupont"]}``). A search
  term is often a name: this column holds personal data on purpose, because the
  access log must show what was looked for. It is read by auditors only
  (``GET /v1/audit/acces``), and never logged, measured or published;
- ``departement``: the département under which the returned parcours was read
  (the dossier's at the time, which the reader's scope held), and
  ``departements``: the scope of the read (the départements it covered), which
  is what places a row without a parcours;
- ``nb_parcours``: how many parcours the read returned in all.

Indexed by ``(sub, lu_le)``, ``(parcours_id, lu_le)`` and ``(departement, lu_le)``:
``GET /v1/audit/acces?sub=`` and ``?parcours_id=`` are both complete and indexed.

No answer without its line: a failed insert raises :class:`JournalIndisponibleError`
(an :class:`IndisponibleError`, answered 503 with ``Retry-After``), so the data
never leaves unrecorded.

Writers: :class:`JournalAccesAsyncpg` (the projections' pool),
:class:`JournalAccesPsycopg` (the write side's eventsourcing datastore, synchronous,
called in the read's own worker thread and slot), :class:`JournalAccesMemoire`
(unit tests, beside the in-memory event store).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias
from uuid import UUID, uuid4

import asyncpg
from starlette.requests import Request

from services.runtime.errors import IndisponibleError

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connexion: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

TABLE = "public.journal_acces"

_VERROU_DDL = 4_214_775_001
"""An advisory lock taken around the DDL: both services may create the table at once."""

DDL: list[str] = [
    "CREATE TABLE IF NOT EXISTS public.journal_acces (id bigserial PRIMARY KEY, sub text NOT NULL, "
    "parcours_id uuid, chemin text NOT NULL, lu_le timestamptz NOT NULL DEFAULT now())",
    # The first version had one row per read with one parcours at most: the columns added since.
    "ALTER TABLE public.journal_acces ADD COLUMN IF NOT EXISTS lecture_id uuid, "
    "ADD COLUMN IF NOT EXISTS service text NOT NULL DEFAULT '', "
    "ADD COLUMN IF NOT EXISTS methode text NOT NULL DEFAULT 'GET', "
    "ADD COLUMN IF NOT EXISTS route text NOT NULL DEFAULT '', "
    "ADD COLUMN IF NOT EXISTS termes jsonb NOT NULL DEFAULT '{}'::jsonb, "
    "ADD COLUMN IF NOT EXISTS departement text, "
    "ADD COLUMN IF NOT EXISTS departements text[] NOT NULL DEFAULT '{}'::text[], "
    "ADD COLUMN IF NOT EXISTS nb_parcours integer NOT NULL DEFAULT 0",
    "CREATE INDEX IF NOT EXISTS journal_acces_parcours ON public.journal_acces (parcours_id, lu_le)",
    "CREATE INDEX IF NOT EXISTS journal_acces_sub ON public.journal_acces (sub, lu_le)",
    "CREATE INDEX IF NOT EXISTS journal_acces_departement ON public.journal_acces (departement, lu_le)",
]
"""Idempotent: run by each service at start, under an advisory lock."""

_COLONNES_INSERTION = (
    "INSERT INTO public.journal_acces (lecture_id, sub, service, methode, route, chemin, termes, departements, "
    "nb_parcours, parcours_id, departement) "
)
_INSERTION_ASYNCPG = (
    _COLONNES_INSERTION + "SELECT $1::uuid, $2::text, $3::text, $4::text, $5::text, $6::text, $7::jsonb, "
    "$8::text[], $9::integer, t.parcours_id, t.departement "
    "FROM unnest($10::uuid[], $11::text[]) AS t(parcours_id, departement)"
)
_INSERTION_PSYCOPG = (
    _COLONNES_INSERTION + "SELECT %s::uuid, %s::text, %s::text, %s::text, %s::text, %s::text, %s::jsonb, "
    "%s::text[], %s::integer, t.parcours_id, t.departement "
    "FROM unnest(%s::uuid[], %s::text[]) AS t(parcours_id, departement)"
)
"""One statement per read: its rows are written together or not at all."""


_TERMES_EFFACES = (
    "UPDATE public.journal_acces SET termes = '{\"_effaces\": []}'::jsonb WHERE lecture_id IN ("
    "SELECT lecture_id FROM public.journal_acces WHERE parcours_id = ANY(%s::uuid[]) AND lecture_id IS NOT NULL"
    ") AND termes <> '{}'::jsonb"
)


def effacer_termes_sync(curs: Any, parcours: Sequence[UUID]) -> None:
    """Erasure of a person: blank the query terms of every read that showed one of her ``parcours``.

    A search term may be her name. Who read, when, which route and which parcours
    stay: the access log keeps its record, without the name. Runs on the erasure's
    psycopg cursor, so in its transaction; nothing to do before the table exists.
    """
    curs.execute("SELECT to_regclass('public.journal_acces') IS NOT NULL AS existe")
    ligne = curs.fetchone()
    existe = ligne["existe"] if isinstance(ligne, dict) else ligne[0]
    if existe and parcours:
        curs.execute(_TERMES_EFFACES, (list(parcours),))


class JournalIndisponibleError(IndisponibleError):
    """The access log could not be written: the read is refused (503), its data never sent."""

    def __init__(self, cause: BaseException | None = None) -> None:
        quoi = type(cause).__name__ if cause is not None else "panne"
        super().__init__(f"journal des accès indisponible ({quoi}): la lecture n'est pas servie", 1)


@dataclass(frozen=True)
class ParcoursLu:
    """A parcours a read showed, and the département under which it was read."""

    parcours_id: UUID
    departement: str


@dataclass(frozen=True)
class Lecture:
    """One read to record: who, which route, what was asked, every parcours returned."""

    sub: str
    service: str
    methode: str
    route: str
    """The path template, ``/v1/parcours/{parcours_id}``."""
    chemin: str
    """The concrete path and query string, as asked."""
    termes: dict[str, list[str]]
    """The query string's values as given (personal data: see the module's docstring)."""
    departements: tuple[str, ...]
    """The départements the read covered (the caller's scope, or the one it named)."""
    parcours: tuple[ParcoursLu, ...] = ()
    lecture_id: UUID = field(default_factory=uuid4)

    def arguments(self) -> tuple[Any, ...]:
        """The insert's parameters; a read that returned nobody is one row with no parcours."""
        ids: list[UUID | None] = [p.parcours_id for p in self.parcours] or [None]
        deps: list[str | None] = [p.departement for p in self.parcours] or [None]
        return (
            self.lecture_id,
            self.sub,
            self.service,
            self.methode,
            self.route,
            self.chemin,
            json.dumps(self.termes, ensure_ascii=False, sort_keys=True),
            sorted(self.departements),
            len(self.parcours),
            ids,
            deps,
        )


def lecture_de(
    request: Request,
    sub: str,
    service: str,
    departements: Iterable[str],
    parcours: Iterable[tuple[UUID, str]] = (),
) -> Lecture:
    """The :class:`Lecture` of the request being answered (route template from the matched route).

    ``parcours`` are (id, département) pairs; duplicates (a dossier listed twice
    in a worklist) are kept once, in their first order.
    """
    route = request.scope.get("route")
    gabarit = str(getattr(route, "path", request.url.path))
    vus: dict[UUID, str] = {}
    for parcours_id, departement in parcours:
        vus.setdefault(parcours_id, departement)
    return Lecture(
        sub=sub,
        service=service,
        methode=request.method,
        route=gabarit,
        chemin=request.url.path,
        termes={cle: request.query_params.getlist(cle) for cle in dict.fromkeys(request.query_params.keys())},
        departements=tuple(sorted(set(departements))),
        parcours=tuple(ParcoursLu(p, d) for p, d in vus.items()),
    )


class JournalAcces(Protocol):
    """Where reads are recorded (asynchronous side)."""

    async def ecrire(self, lecture: Lecture) -> None:
        """Record ``lecture``; raise :class:`JournalIndisponibleError` if it could not be."""


class JournalAccesSynchrone(Protocol):
    """Where reads are recorded from a worker thread (the write side)."""

    def ecrire_sync(self, lecture: Lecture) -> None:
        """Record ``lecture``; raise :class:`JournalIndisponibleError` if it could not be."""

    def preparer_sync(self) -> None:
        """Create or migrate the table (idempotent)."""


async def preparer(conn: Connexion) -> None:
    """Create or migrate ``public.journal_acces`` (idempotent, safe while the other service does too)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _VERROU_DDL)
        for instruction in DDL:
            await conn.execute(instruction)


@dataclass
class JournalAccesAsyncpg:
    """The projections' writer: one statement on the service's pool, bounded by its timeouts."""

    pool: asyncpg.Pool

    async def ecrire(self, lecture: Lecture) -> None:
        try:
            async with self.pool.acquire() as conn:
                await conn.execute(_INSERTION_ASYNCPG, *lecture.arguments())
        except Exception as exc:  # any failure: the read is not served
            raise JournalIndisponibleError(exc) from exc


class _Datastore(Protocol):
    def get_connection(self) -> AbstractContextManager[Any]: ...


@dataclass
class JournalAccesPsycopg:
    """The write side's writer, on the eventsourcing datastore's own psycopg pool.

    Called in the read's worker thread, inside the read's slot: it takes the
    slot's pooled connection after the read has released it, so it needs no
    pool of its own and obeys the same timeouts.
    """

    datastore: _Datastore

    def ecrire_sync(self, lecture: Lecture) -> None:
        try:
            with self.datastore.get_connection() as conn, conn.transaction():
                conn.execute(_INSERTION_PSYCOPG, lecture.arguments())
        except Exception as exc:  # any failure: the read is not served
            raise JournalIndisponibleError(exc) from exc

    def preparer_sync(self) -> None:
        with self.datastore.get_connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_VERROU_DDL,))
            for instruction in DDL:
                conn.execute(instruction)


@dataclass
class JournalAccesMemoire:
    """Unit tests' writer (beside the in-memory event store): the reads, in order.

    ``en_panne`` makes every write fail, as a database that does not answer would.
    """

    lectures: list[Lecture] = field(default_factory=list)
    en_panne: bool = False

    def ecrire_sync(self, lecture: Lecture) -> None:
        if self.en_panne:
            raise JournalIndisponibleError()
        self.lectures.append(lecture)

    def preparer_sync(self) -> None:
        return None

    async def ecrire(self, lecture: Lecture) -> None:
        self.ecrire_sync(lecture)


def journal_de_magasin(recorder: object) -> JournalAccesSynchrone:
    """The writer matching an eventsourcing recorder: its datastore's pool, or memory for POPO stores."""
    datastore = getattr(recorder, "datastore", None)
    if datastore is not None and hasattr(datastore, "get_connection"):
        return JournalAccesPsycopg(datastore)
    return JournalAccesMemoire()


# -- reads (auditors) ------------------------------------------------------------------------


@dataclass(frozen=True)
class Acces:
    """One row of the access log as auditors see it."""

    id: int
    lecture_id: UUID | None
    sub: str
    service: str
    methode: str
    route: str
    chemin: str
    termes: dict[str, list[str]]
    departement: str | None
    parcours_id: UUID | None
    nb_parcours: int
    lu_le: datetime


@dataclass(frozen=True)
class PageAcces:
    elements: list[Acces]
    total: int


Ordre = Literal["recent", "ancien"]


async def lire_journal(
    conn: Connexion,
    departements: Sequence[str],
    *,
    parcours_id: UUID | None = None,
    sub: str | None = None,
    depuis: datetime | None = None,
    jusqu_a: datetime | None = None,
    ordre: Ordre = "recent",
    page: int = 1,
    taille: int = 50,
) -> PageAcces:
    """The rows an auditor of ``departements`` sees, filtered, one page.

    A row is the auditor's when the parcours it names was read under one of
    ``departements`` (so after a transfer each side keeps the reads made while it
    was responsible, and only those), or, for a read that returned nobody, when
    the read covered one of them. ``depuis`` is inclusive, ``jusqu_a`` exclusive;
    ``ordre`` ``recent`` is latest first, ``ancien`` soonest first (ties by insertion).
    """
    filtre = (
        "FROM public.journal_acces j WHERE (j.departement = ANY($1::text[]) "
        "OR (j.parcours_id IS NULL AND j.departements && $1::text[])) "
        "AND ($2::uuid IS NULL OR j.parcours_id = $2) AND ($3::text IS NULL OR j.sub = $3) "
        "AND ($4::timestamptz IS NULL OR j.lu_le >= $4) AND ($5::timestamptz IS NULL OR j.lu_le < $5)"
    )
    arguments = (list(departements), parcours_id, sub, depuis, jusqu_a)
    sens = "DESC" if ordre == "recent" else "ASC"
    total = await conn.fetchval(f"SELECT count(*) {filtre}", *arguments)
    lignes = await conn.fetch(
        "SELECT j.id, j.lecture_id, j.sub, j.service, j.methode, j.route, j.chemin, j.termes, j.departement, "
        f"j.parcours_id, j.nb_parcours, j.lu_le {filtre} ORDER BY j.lu_le {sens}, j.id {sens} LIMIT $6 OFFSET $7",
        *arguments,
        taille,
        (page - 1) * taille,
    )
    return PageAcces([_acces(ligne) for ligne in lignes], int(total))


def _acces(ligne: asyncpg.Record) -> Acces:
    valeurs = dict(ligne)
    termes = valeurs["termes"]
    valeurs["termes"] = json.loads(termes) if isinstance(termes, str) else termes
    return Acces(**valeurs)


def parcours_de(lectures: Iterable[Lecture]) -> Iterator[UUID]:
    """Every parcours id the given reads returned (tests, the in-memory writer)."""
    for lecture in lectures:
        for p in lecture.parcours:
            yield p.parcours_id
