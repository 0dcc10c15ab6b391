"""The OLINPE rows published on ``ase.statistiques.v1``, keyed by pseudonym, for the observatory.

When: the projections service, when Kafka is configured, compares the OLINPE
view of the active ``pilotage`` schema (``services.projections.readmodels.olinpe``)
with what it already published, every ``ASE_STATISTIQUES_INTERVALLE_S`` seconds
(default 30), and publishes each row that is new or whose content changed (a
correction of a date, a nature, a sexe or a month of birth). What was published is
kept in ``public.statistiques_publiees`` (id, fingerprint of the body): outside the
read model's schema, so a rebuild of the read model publishes nothing again unless
a row's content differs. A row is sent before its line is written there: at least
once, never lost; a republish carries the same ``id``, so a consumer keeps the
latest record per ``id``.

Record: key = the pseudonym (UTF-8 hex), value = JSON
``{"id", "type": "olinpe.ligne", "version": 1, <the extract's columns>}``
(``olinpe.COLONNES``: pseudonym, measure rank, event, dates, département, year and
month of birth, sexe, cadre, nature, autorité, end reason), headers ``ce_id`` and
``ce_type``. ``id`` is deterministic: a UUIDv5 of (pseudonym, measure rank, event,
stream version), the same for every publication of the same row. Never a name, an
exact birth date, a ``parcours_id``, a ``personne_id``, a decision reference or
free text: the pseudonym is ``HMAC(ASE_OLINPE_CLE, personne_id)`` (whence the
production refusal of the development key, ``olinpe.ReglagesOlinpe``).

Written by the projections principal, read by the observatory principal (ACLs: the
Kafka configuration).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

import asyncpg
import orjson
import structlog
from prometheus_client import Gauge
from pydantic import ValidationError

from contracts.enveloppe import TOPIC_STATISTIQUES
from services.projections import catalogue
from services.projections.readmodels import olinpe
from services.runtime.http import REGISTRE

log = structlog.get_logger(__name__)

CLE_DE_DEVELOPPEMENT = Gauge(
    "ase_olinpe_cle_de_developpement",
    "1 when the OLINPE pseudonyms are keyed by the public development key (recomputable by anyone)",
    registry=REGISTRE,
)


class CleOlinpeRefuseeError(RuntimeError):
    """The service does not start: production with the development OLINPE key."""


def verifier_cle_olinpe() -> olinpe.ReglagesOlinpe:
    """Check the OLINPE key at start: refused in production, loudly flagged in dev.

    Raises :class:`CleOlinpeRefuseeError` (startup fails, with the reason) when
    ``ASE_ENV`` or ``ASE_MODE`` is ``production`` and ``ASE_OLINPE_CLE`` is unset or
    the development key. In dev, the development key logs a warning at start and
    sets the gauge ``ase_olinpe_cle_de_developpement`` to 1 (no key material in either).
    """
    try:
        reglages = olinpe.reglages_olinpe()
    except ValidationError as exc:
        messages = "; ".join(str(e["msg"]) for e in exc.errors())
        raise CleOlinpeRefuseeError(f"démarrage refusé: {messages}") from None
    CLE_DE_DEVELOPPEMENT.set(1 if reglages.cle_de_developpement else 0)
    if reglages.cle_de_developpement:
        log.warning(
            "cle_olinpe_de_developpement",
            message="OLINPE pseudonyms use the public development key: anyone can recompute them; "
            "set ASE_OLINPE_CLE (refused in production)",
        )
    return reglages


TYPE_LIGNE = "olinpe.ligne"
VERSION_LIGNE = 1
_ESPACE = uuid.UUID("5a0f7c1e-9d1b-4c47-8f0e-6f6c696e7065")
"""The UUIDv5 namespace of the rows' ids (fixed: ids stay the same across releases)."""

DDL: list[str] = [
    "CREATE TABLE IF NOT EXISTS public.statistiques_publiees (id uuid PRIMARY KEY, empreinte text NOT NULL, "
    "publie_le timestamptz NOT NULL DEFAULT now())",
]


class Producteur(Protocol):
    """What is asked of the producer (``services.runtime.kafka.producteur``)."""

    async def send(
        self, topic: str, value: bytes | None = ..., key: bytes | None = ..., *, headers: Any = ...
    ) -> asyncio.Future[Any]: ...


def identifiant(ligne: dict[str, Any]) -> uuid.UUID:
    """The row's deterministic id: the same for every publication of the same row."""
    return uuid.uuid5(_ESPACE, f"{ligne['pseudonyme']}:{ligne['rang_mesure']}:{ligne['evenement']}:{ligne['ordre']}")


def corps(ligne: dict[str, Any]) -> bytes:
    """The record's value: id, type, version and the extract's columns (no other field)."""
    valeurs = {c: ligne[c].isoformat() if isinstance(ligne[c], date) else ligne[c] for c in olinpe.COLONNES}
    return orjson.dumps(
        {"id": str(identifiant(ligne)), "type": TYPE_LIGNE, "version": VERSION_LIGNE, **valeurs},
        option=orjson.OPT_SORT_KEYS,
    )


async def publier_statistiques(pool: asyncpg.Pool, producteur: Producteur, schema: str) -> int:
    """Publish the rows of ``schema``'s OLINPE view that are new or changed; return how many.

    Each record is acknowledged by the broker before it is marked as published.
    """
    async with pool.acquire() as conn:
        for instruction in DDL:
            await conn.execute(instruction)
        lignes = await conn.fetch(
            f'SELECT {", ".join(olinpe.COLONNES)}, ordre FROM "{schema}".olinpe '
            "ORDER BY date_evenement, pseudonyme, rang_mesure, ordre"
        )
        deja = {
            r["id"]: r["empreinte"] for r in await conn.fetch("SELECT id, empreinte FROM public.statistiques_publiees")
        }
    a_publier: list[tuple[uuid.UUID, str, bytes, bytes]] = []
    for enregistrement in lignes:
        ligne = dict(enregistrement)
        valeur = corps(ligne)
        empreinte = hashlib.sha256(valeur).hexdigest()
        ident = identifiant(ligne)
        if deja.get(ident) != empreinte:
            a_publier.append((ident, empreinte, str(ligne["pseudonyme"]).encode(), valeur))
    if not a_publier:
        return 0
    envois = [
        await producteur.send(
            TOPIC_STATISTIQUES,
            value=valeur,
            key=cle,
            headers=[("ce_id", str(ident).encode()), ("ce_type", TYPE_LIGNE.encode())],
        )
        for ident, _, cle, valeur in a_publier
    ]
    await asyncio.gather(*envois)
    async with pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO public.statistiques_publiees (id, empreinte) VALUES ($1, $2) "
            "ON CONFLICT (id) DO UPDATE SET empreinte = excluded.empreinte, publie_le = now()",
            [(ident, empreinte) for ident, empreinte, _, _ in a_publier],
        )
    return len(a_publier)


@dataclass
class PublicationStatistiques:
    """The background loop publishing the OLINPE rows (started by the projections service with Kafka).

    The producer is started by the loop, and again after a failure: a broker out of
    reach delays the statistics (a warning each tick), never the service's start.
    """

    pool: asyncpg.Pool
    fabrique: Callable[[], Any]
    """Makes an ``AIOKafkaProducer`` (``services.runtime.kafka.producteur``), started and stopped here."""
    intervalle_s: float = 30.0
    _tache: asyncio.Task[None] | None = field(default=None, init=False)
    _producteur: Any = field(default=None, init=False)

    async def demarrer(self) -> None:
        self._tache = asyncio.create_task(self._boucle(), name="publication-statistiques")

    async def arreter(self) -> None:
        if self._tache is not None:
            self._tache.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tache
        if self._producteur is not None:
            await self._producteur.stop()

    async def une_fois(self) -> int:
        if self._producteur is None:
            producteur = self.fabrique()
            try:
                await producteur.start()
            except BaseException:
                await producteur.stop()
                raise
            self._producteur = producteur
        async with self.pool.acquire() as conn:
            schema = await catalogue.schema_actif_ou_nouveau(conn, "pilotage")
        return await publier_statistiques(self.pool, self._producteur, schema)

    async def _boucle(self) -> None:
        while True:
            try:
                publiees = await self.une_fois()
                if publiees:
                    log.info("statistiques_publiees", lignes=publiees)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # retried at the next tick; the type only (no data in logs)
                log.warning("statistiques_non_publiees", erreur=type(exc).__name__)
            await asyncio.sleep(self.intervalle_s)
