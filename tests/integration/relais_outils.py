"""Helpers for the relay's integration tests: run a relay, read what reached Kafka."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from services.parcours.relay import ReglagesRelais, Relais
from services.runtime import kafka as clients_kafka
from services.runtime.kafka import Identifiants
from tests.integration.kafka_fixtures import en_tant_que, principal, principal_connu


@dataclass(frozen=True)
class Recu:
    topic: str
    partition: int
    offset: int
    cle: bytes
    valeur: bytes | None
    entetes: dict[str, str]


@contextlib.asynccontextmanager
async def relais_actif(
    database_url: str, bootstrap: str, *, identifiants: Identifiants | None = None, **reglages: object
) -> AsyncIterator[Relais]:
    """A relay running in this process until the block ends; entered once it holds the lock.

    It runs as the ``relais`` principal of the session's broker, or as ``identifiants``.
    """
    relais = Relais(
        ReglagesRelais(
            database_url=database_url,
            kafka_bootstrap_servers=bootstrap,
            attente_max_s=0.2,
            prise_de_relais_s=0.2,
            **reglages,
        )
    )  # type: ignore[arg-type]
    arret = asyncio.Event()
    with en_tant_que(
        identifiants or principal_connu("relais", bootstrap) or principal("relais")
    ):  # the task keeps the relay's principal
        tache = asyncio.create_task(relais.executer(arret))
    try:
        await asyncio.wait_for(relais.actif.wait(), timeout=60)
        yield relais
    finally:
        arret.set()
        await asyncio.wait_for(tache, timeout=30)


async def lire_jusqua(
    bootstrap: str,
    topics: list[str],
    condition: Callable[[list[Recu]], bool],
    *,
    filtre: Callable[[Recu], bool] = lambda _: True,
    delai_s: float = 60.0,
) -> list[Recu]:
    """Read ``topics`` from the beginning until ``condition`` holds on what ``filtre`` keeps."""
    consommateur = clients_kafka.consommateur(
        *topics,
        identifiants=principal_connu("admin", bootstrap),
        bootstrap=bootstrap,
        group_id=f"test-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consommateur.start()
    recus: list[Recu] = []
    fin = time.monotonic() + delai_s
    try:
        while not condition(recus):
            if time.monotonic() > fin:
                raise AssertionError(f"condition not met after {delai_s}s; {len(recus)} messages kept")
            lots = await consommateur.getmany(timeout_ms=500)
            for tp, messages in lots.items():
                for m in messages:
                    recu = Recu(
                        topic=tp.topic,
                        partition=tp.partition,
                        offset=m.offset,
                        cle=m.key or b"",
                        valeur=m.value,
                        entetes={k: v.decode() for k, v in m.headers},
                    )
                    if filtre(recu):
                        recus.append(recu)
    finally:
        await consommateur.stop()
    return recus
