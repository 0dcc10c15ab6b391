"""The physical limit: a raw asyncpg transaction shaped as the recorder's.

Per command: ``BEGIN; SET LOCAL lock_timeout; LOCK TABLE ase_events IN
EXCLUSIVE MODE; NOTIFY; INSERT ... RETURNING notification_id; COMMIT`` into a
table shaped as ``ase_events``, with the JSON bytes the mapper stores for the
same event. No load, no domain, no mapping: only what PostgreSQL must do to
append one event gap-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID, uuid4

import asyncpg

from benchmarks import scenario as s
from contracts.vocabulaire import Sexe
from services.parcours.domain.parcours import Parcours
from services.parcours.persistence import JsonMapper

_TABLE = "ase_events"
_CREER = f"""
CREATE TABLE {_TABLE} (
    originator_id uuid NOT NULL,
    originator_version bigint NOT NULL,
    topic text,
    state bytea,
    notification_id bigserial,
    PRIMARY KEY (originator_id, originator_version));
CREATE UNIQUE INDEX {_TABLE}_notification_id_idx ON {_TABLE} (notification_id ASC);
"""
# One simple-query round trip, as psycopg's pipeline sends the recorder's statements together.
_VERROUILLER = f"SET LOCAL lock_timeout = '5s'; LOCK TABLE {_TABLE} IN EXCLUSIVE MODE; NOTIFY {_TABLE}"
_INSERER = (
    f"INSERT INTO {_TABLE} (originator_id, originator_version, topic, state) "
    "VALUES ($1, $2, $3, $4) RETURNING notification_id"
)


@dataclass(frozen=True)
class EvenementStocke:
    topic: str
    etat: bytes


def evenements_types() -> tuple[EvenementStocke, EvenementStocke]:
    """The stored form of a ``ParcoursOuvert`` and a ``RapportSituationProduit``, as the mapper writes them."""
    p = Parcours.ouvrir(
        s.contexte(),
        personne_id=uuid4(),
        date_naissance=s.DATE_NAISSANCE,
        sexe=Sexe.F,
        departement=s.DEPARTEMENT,
        date_effet=s.DATE_OUVERTURE,
    )
    p.produire_rapport(s.contexte(), transmis_au_juge=True, date_effet=s.DATE_RAPPORT)
    mapper = JsonMapper()
    ouverture, rapport = (mapper.to_stored_event(e) for e in p.collect_events())
    return (
        EvenementStocke(ouverture.topic, ouverture.state),
        EvenementStocke(rapport.topic, rapport.state),
    )


class Flux:
    """A stream's id and its next version; only its own client writes it."""

    def __init__(self) -> None:
        self.id: UUID = uuid4()
        self.version = 1


class CheminAsyncpg:
    """Append one event per transaction, the recorder's way, with nothing around it."""

    nom = "asyncpg"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.ouverture, self.rapport = evenements_types()

    @classmethod
    async def creer(cls, url: str) -> CheminAsyncpg:
        pool = await asyncpg.create_pool(url, min_size=s.TAILLE_POOL, max_size=s.TAILLE_POOL)
        await pool.execute(_CREER)
        return cls(pool)

    async def _ajouter(self, flux: Flux, evenement: EvenementStocke) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(_VERROUILLER)
            await conn.fetchval(_INSERER, flux.id, flux.version, evenement.topic, evenement.etat)
        flux.version += 1

    async def ouvrir(self, nombre: int) -> list[Flux]:
        tous = [Flux() for _ in range(nombre)]
        for flux in tous:
            await self._ajouter(flux, self.ouverture)
        return tous

    async def commande(self, flux: Flux) -> None:
        await self._ajouter(flux, self.rapport)

    async def fermer(self) -> None:
        await self.pool.close()
