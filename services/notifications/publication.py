"""The alerts topic's publisher: every change of an alert, from the outbox to ``ase.alertes.v1``.

Reads the outbox (``sorties.py``) as consumer :data:`CONSOMMATEUR`, in position
order, and produces each change to ``ase.alertes.v1`` (``TOPIC_ALERTES``):

- key: the parcours id (an alert's changes share a partition, hence stay in order);
- value: the alert as it stands after the change (``Alerte``, JSON), the body of
  ``contracts/schemas/fr.ase.alertes.<change>.v1.json``;
- headers: CloudEvents 1.0 in binary content mode (``contracts.alertes.entetes_alerte``,
  ``contracts/schemas/enveloppe_alertes.json``): ``ce_id`` is a UUIDv5 of the alert id
  and the outbox position, ``ce_type`` ``fr.ase.alertes.<change>.v1``, ``ce_source``
  ``/ase/{departement}/notifications``, ``ce_subject`` the alert id, ``ce_time`` its
  ``modifiee_le``.

**At-least-once, with stable ids.** A batch is produced by the idempotent
producer (``acks=all``, ``services/runtime/kafka.producteur``), and the cursor
moves, in the transaction that locked it, only once Kafka acknowledged every
message of the batch. A crash between the acknowledgement and that commit sends
the batch again with the same ``ce_id``s: consumers drop the repeats. Nothing is
lost: the cursor never passes a change Kafka has not acknowledged.

One instance publishes at a time: the cursor row is locked ``FOR UPDATE SKIP
LOCKED`` for the whole batch (the others skip it), so the topic receives the
changes in the outbox's order. It runs only when Kafka is configured
(``KAFKA_BOOTSTRAP_SERVERS``): the service then runs as the Kafka principal
``notifications``, the only writer of ``ase.alertes.v1``
(``services/runtime/kafka.PRINCIPAUX``). The topic itself (1-year retention) is
created with the project's others (``services/runtime/kafka.SUJETS``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Final, cast

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Gauge

from contracts.alertes import entetes_alerte
from contracts.enveloppe import TOPIC_ALERTES
from services.notifications import sorties
from services.runtime.http import REGISTRE
from services.runtime.kafka import Identifiants, producteur

log = structlog.get_logger(__name__)

CONSOMMATEUR: Final = "sujet"
"""The publisher's cursor in ``notifications.curseurs``."""

PUBLIEES = Counter(
    "ase_notifications_alertes_publiees_total",
    "Alert changes acknowledged by Kafka on ase.alertes.v1 (a change sent again after a crash counts again)",
    registry=REGISTRE,
)
ECHECS = Counter(
    "ase_notifications_publication_echecs_total",
    "Failed attempts to publish alert changes on ase.alertes.v1 (retried with backoff)",
    registry=REGISTRE,
)
EN_ATTENTE = Gauge(
    "ase_notifications_publication_en_attente",
    "Alert changes in the outbox not yet acknowledged on ase.alertes.v1 (read after each attempt)",
    registry=REGISTRE,
)

ApresAcquittement = Callable[[int], Awaitable[None]]
"""Called with the batch's last position once Kafka acknowledged it, before the cursor moves."""


async def publier_lot(
    pool: asyncpg.Pool,
    kafka: AIOKafkaProducer,
    *,
    sujet: str = TOPIC_ALERTES,
    limite: int = 500,
    apres_acquittement: ApresAcquittement | None = None,
) -> int | None:
    """Publish the next ``limite`` changes at most; the number published, ``None`` if another instance holds
    the cursor.

    In one transaction: lock the cursor, read the changes after it, produce them in order, await every
    acknowledgement, move the cursor past them, commit. ``apres_acquittement`` (tests) runs between the
    acknowledgements and the cursor's move: raising there is a crash at the worst moment.

    Raises:
        KafkaError: a send failed (nothing moved; the next attempt sends the batch again, same ``ce_id``s).
        asyncpg.PostgresError, OSError: the database failed (same).
    """
    async with pool.acquire() as proxy, proxy.transaction():
        conn = cast(asyncpg.Connection, proxy)  # sorties.py types a bare connection; a pool's proxies it
        lu = await sorties.lire(conn, CONSOMMATEUR, limite)
        if lu is None:
            return None
        _, changements = lu
        if not changements:
            return 0
        envois: list[asyncio.Future[Any]] = []
        for changement in changements:
            alerte = changement.alerte
            envois.append(
                await kafka.send(
                    sujet,
                    key=str(alerte.parcours_id).encode(),
                    value=alerte.model_dump_json().encode(),
                    headers=entetes_alerte(changement.evenement, alerte, changement.position),
                )
            )
        await asyncio.gather(*envois)
        derniere = changements[-1].position
        if apres_acquittement is not None:
            await apres_acquittement(derniere)
        await sorties.avancer(conn, CONSOMMATEUR, derniere)
    PUBLIEES.inc(len(changements))
    log.info("alertes_publiees", nombre=len(changements), position=derniere)
    return len(changements)


async def en_attente(pool: asyncpg.Pool) -> int:
    """Changes in the outbox after the publisher's cursor (all of them before its first batch)."""
    async with pool.acquire() as conn:
        valeur = await conn.fetchval(
            f"SELECT count(*) FROM {sorties.SCHEMA}.sorties WHERE position > "
            f"COALESCE((SELECT position FROM {sorties.SCHEMA}.curseurs WHERE consommateur = $1), 0)",
            CONSOMMATEUR,
        )
    return int(valeur or 0)


async def tourner(
    pool: asyncpg.Pool,
    bootstrap: str,
    arret: asyncio.Event,
    *,
    reveil: asyncio.Event | None = None,
    sujet: str = TOPIC_ALERTES,
    intervalle_s: float = 1.0,
    backoff_max_s: float = 30.0,
    taille_lot: int = 500,
    identifiants: Identifiants | None = None,
    apres_acquittement: ApresAcquittement | None = None,
) -> None:
    """Publish the outbox to ``sujet`` until ``arret`` is set; run only when Kafka is configured.

    Drains the outbox batch after batch, then waits ``intervalle_s`` or until ``reveil`` is set (the
    scheduler or the engine may set it after writing to the outbox). A failure (Kafka or PostgreSQL)
    is logged and retried after a backoff doubling up to ``backoff_max_s``, with a new producer.
    ``identifiants``: the Kafka principal (default: the process's, ``KAFKA_SASL_*``).
    """
    attente = 0.5
    while not arret.is_set():
        kafka = producteur(bootstrap, client_id="ase-notifications-alertes", identifiants=identifiants)
        try:
            await kafka.start()
            while not arret.is_set():
                if reveil is not None:
                    reveil.clear()  # before reading: a change written from now on wakes the wait below
                publies = await publier_lot(
                    pool, kafka, sujet=sujet, limite=taille_lot, apres_acquittement=apres_acquittement
                )
                attente = 0.5
                if publies:
                    continue
                EN_ATTENTE.set(await en_attente(pool))
                await _attendre(arret, intervalle_s, reveil)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, KafkaError) as exc:
            ECHECS.inc()
            log.warning("publication_alertes_en_erreur", erreur=type(exc).__name__, reprise_s=attente)
            await _attendre(arret, attente)
            attente = min(attente * 2, backoff_max_s)
        finally:
            with contextlib.suppress(Exception):
                await kafka.stop()


async def _attendre(arret: asyncio.Event, secondes: float, reveil: asyncio.Event | None = None) -> bool:
    """Wait ``secondes``, or less if stopped or woken; return whether stopped."""
    attentes = [asyncio.ensure_future(arret.wait())]
    if reveil is not None:
        attentes.append(asyncio.ensure_future(reveil.wait()))
    _, en_cours = await asyncio.wait(attentes, timeout=secondes, return_when=asyncio.FIRST_COMPLETED)
    for tache in en_cours:
        tache.cancel()
    return arret.is_set()
