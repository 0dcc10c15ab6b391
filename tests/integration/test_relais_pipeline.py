"""The pipelined relay (issue 11): with many small batches in flight side by side, every stream still reaches
its one partition in order, on the partition the producer's own partitioner gives its key, and the saved
position ends on the last event, saved batch after batch in order."""

from __future__ import annotations

import os
import signal
import uuid

import asyncpg
import pytest
from aiokafka.partitioner import DefaultPartitioner

from contracts.enveloppe import TOPIC_PARCOURS
from services.runtime.kafka_local import LocalKafkaBroker
from services.runtime.relais import NOM_RELAIS
from tests.integration.conftest import Api
from tests.integration.relais_outils import lire_jusqua, relais_actif
from tests.integration.test_relais_publication import _scenario


@pytest.mark.parametrize("a_part", [True, False], ids=["conversion_process", "conversion_in_process"])
async def test_small_batches_in_flight_side_by_side_keep_each_stream_in_order_and_save_the_last_position(
    api: Api, base_url: str, kafka_broker: LocalKafkaBroker, a_part: bool
) -> None:
    flux: dict[str, int] = {}
    for i in range(3):
        pid, lieu = await _scenario(api, f"Pipeline{uuid.uuid4().hex[:8]}", f"Essai {i}")
        for f in (pid, lieu):
            flux[f] = len(list(api.application.repository.event_store.get(uuid.UUID(f))))
    attendus = {(f, v) for f, n in flux.items() for v in range(1, n + 1)}

    async with relais_actif(
        base_url, kafka_broker.bootstrap_servers, taille_lot=2, lots_en_vol=3, conversion_a_part=a_part
    ) as relais:
        recus = await lire_jusqua(
            kafka_broker.bootstrap_servers,
            [TOPIC_PARCOURS],
            lambda r: {(m.entetes["ce_subject"], int(m.entetes["ce_sequence"])) for m in r} >= attendus,
            filtre=lambda m: m.entetes.get("ce_subject") in flux,
        )
    assert relais.attente_acquittement_s() is None  # stopped: nothing left in flight

    partitions = sorted({m.partition for m in recus} | {0, 1, 2})
    for f in flux:
        dans_l_ordre = sorted((m for m in recus if m.cle == f.encode()), key=lambda m: m.offset)
        versions = [int(m.entetes["ce_sequence"]) for m in dans_l_ordre]
        assert versions == sorted(versions)
        assert {m.partition for m in dans_l_ordre} == {DefaultPartitioner()(f.encode(), partitions, partitions)}

    conn = await asyncpg.connect(base_url)
    try:
        position, attente = await conn.fetchrow(
            "SELECT notification_id, envoi_depuis FROM relais_position WHERE nom = $1", NOM_RELAIS
        )
        assert position == await conn.fetchval("SELECT max(notification_id) FROM ase_events")
        assert attente is None
    finally:
        await conn.close()


async def test_a_killed_conversion_process_costs_one_retry_and_the_relay_goes_on_converting_by_itself(
    api: Api, base_url: str, kafka_broker: LocalKafkaBroker
) -> None:
    avant = await _scenario(api, f"Conversion{uuid.uuid4().hex[:8]}", "Avant")
    async with relais_actif(base_url, kafka_broker.bootstrap_servers, taille_lot=5) as relais:
        await lire_jusqua(
            kafka_broker.bootstrap_servers,
            [TOPIC_PARCOURS],
            lambda r: {m.entetes["ce_subject"] for m in r} >= set(avant),
            filtre=lambda m: m.entetes.get("ce_subject") in avant,
        )
        assert relais._executeur is not None
        processus = list(relais._executeur._processes)  # type: ignore[attr-defined]
        assert processus
        for pid in processus:
            os.kill(pid, signal.SIGKILL)
        apres = await _scenario(api, f"Conversion{uuid.uuid4().hex[:8]}", "Apres")
        recus = await lire_jusqua(
            kafka_broker.bootstrap_servers,
            [TOPIC_PARCOURS],
            lambda r: {m.entetes["ce_subject"] for m in r} >= set(apres),
            filtre=lambda m: m.entetes.get("ce_subject") in apres,
        )
        assert relais._conversion_locale
        assert relais._executeur is None
    assert {m.entetes["ce_subject"] for m in recus} == set(apres)
