"""What read routes receive: the pool, the caller, the active schema of a projection."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import Depends, Request, Response

from services.projections import catalogue
from services.projections.service import ServiceProjections
from services.runtime import journal_acces
from services.runtime.auth import Utilisateur, Verificateur
from services.runtime.dependances import authentification
from services.runtime.horloge import Horloge
from services.runtime.moteur import Projection, lire_positions


@dataclass
class ComposantsLecture:
    """The projections service's composition root, built once in the lifespan."""

    pool: asyncpg.Pool
    verificateur: Verificateur
    horloge: Horloge
    projections: Sequence[Projection]
    service: ServiceProjections | None = None
    statistiques: Any = None
    """With Kafka: the OLINPE publication loop (``services.projections.statistiques``)."""
    journal: journal_acces.JournalAcces | None = None
    """Where reads are recorded; none: ``public.journal_acces`` through ``pool``."""

    @property
    def journal_acces(self) -> journal_acces.JournalAcces:
        """The access log's writer: ``journal``, or the table through ``pool``."""
        if self.journal is None:
            self.journal = journal_acces.JournalAccesAsyncpg(self.pool)
        return self.journal


async def composants(request: Request) -> ComposantsLecture:
    comp: ComposantsLecture = request.app.state.lecture
    return comp


def _verificateur(request: Request) -> Verificateur:
    comp: ComposantsLecture = request.app.state.lecture
    return comp.verificateur


utilisateur, exiger = authentification(_verificateur)


Comp = Annotated[ComposantsLecture, Depends(composants)]
LecteurDossiers = Annotated[Utilisateur, Depends(exiger("referent", "encadrant", "auditeur"))]
LecteurEcheances = Annotated[Utilisateur, Depends(exiger("referent", "encadrant"))]
Encadrant = Annotated[Utilisateur, Depends(exiger("encadrant", "auditeur"))]
Auditeur = Annotated[Utilisateur, Depends(exiger("auditeur"))]
Observatoire = Annotated[Utilisateur, Depends(exiger("observatoire", "encadrant"))]


async def schema_de(comp: ComposantsLecture, nom: str) -> str:
    """The schema serving projection ``nom`` right now (a rebuild may switch it)."""
    async with comp.pool.acquire() as conn:
        return await catalogue.schema_actif_ou_nouveau(conn, nom)


async def position(comp: ComposantsLecture, schema: str, reponse: Response) -> None:
    """Set ``X-Projection-Position``: what the read model reflects, per source and partition."""
    async with comp.pool.acquire() as conn:
        try:
            positions = await lire_positions(conn, schema)
        except asyncpg.UndefinedTableError:
            positions = {}
    reponse.headers["X-Projection-Position"] = (
        ",".join(f"{source}:{partition}={valeur}" for (source, partition), valeur in sorted(positions.items()))
        or "vide"
    )


async def journaliser(
    comp: ComposantsLecture,
    request: Request,
    u: Utilisateur,
    departements: Iterable[str],
    parcours: Iterable[tuple[UUID, str]] = (),
) -> None:
    """Record this read before its answer leaves: who, the route, its terms, every parcours returned.

    ``departements`` is the read's scope; ``parcours`` the (id, département) of each
    parcours the answer shows. If the line cannot be written the read is a 503
    (:class:`~services.runtime.journal_acces.JournalIndisponibleError`), never the data.
    """
    await comp.journal_acces.ecrire(journal_acces.lecture_de(request, u.sub, "projections", departements, parcours))


async def journaliser_acces(
    comp: ComposantsLecture, u: Utilisateur, parcours_id: UUID | None, chemin: str, *, departement: str | None = None
) -> None:
    """Record a read without a request at hand (tests, tools): ``chemin`` stands for the route too.

    The parcours is placed under ``departement`` (default: the first of the caller's).
    Routes call :func:`journaliser`, which records the route template and the query terms.
    """
    dep = departement or min(u.departements, default="")
    await comp.journal_acces.ecrire(
        journal_acces.Lecture(
            sub=u.sub,
            service="projections",
            methode="GET",
            route=chemin.split("?", 1)[0],
            chemin=chemin,
            termes={},
            departements=tuple(sorted(u.departements)),
            parcours=(journal_acces.ParcoursLu(parcours_id, dep),) if parcours_id is not None else (),
        )
    )


DDL_JOURNAL_ACCES = journal_acces.DDL
"""The access log is not a read model: it is never rebuilt, only appended to (see ``services.runtime.journal_acces``)."""
