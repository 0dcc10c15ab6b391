"""Compaction proven in a test: a compacted topic read whole, and one-second segments for one test only.

The session's broker is shared: a test that shortens a topic's segments restores its settings after.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

from aiokafka import TopicPartition
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from services.runtime import kafka
from services.runtime.kafka import creer_sujets

SEGMENT_MS_DU_TEST = 1000
"""A test's topic rolls a segment every second (production: one hour, ``services.runtime.kafka``)."""


async def partitions(bootstrap: str, topic: str) -> list[int]:
    admin = kafka.administration(bootstrap)
    await admin.start()
    try:
        (sujet,) = await admin.describe_topics([topic])
        return sorted(int(p["partition"]) for p in sujet["partitions"])
    finally:
        await admin.close()


async def tout_le_sujet(bootstrap: str, topic: str) -> list[tuple[int, bytes, bytes | None]]:
    """Every record of ``topic`` from offset 0 to its end now: (partition, key, value)."""
    consommateur = kafka.consommateur(bootstrap=bootstrap, enable_auto_commit=False, group_id=None)
    await consommateur.start()
    try:
        tps = [TopicPartition(topic, p) for p in await partitions(bootstrap, topic)]
        assert tps, topic
        consommateur.assign(tps)
        await consommateur.seek_to_beginning(*tps)
        fins = await consommateur.end_offsets(tps)
        lus: list[tuple[int, bytes, bytes | None]] = []
        limite = time.monotonic() + 30
        while [tp for tp in tps if await consommateur.position(tp) < fins[tp]]:
            assert time.monotonic() < limite, "the topic could not be read to its end"
            for tp, messages in (await consommateur.getmany(timeout_ms=500)).items():
                lus.extend((tp.partition, m.key or b"", m.value) for m in messages)
        return lus
    finally:
        await consommateur.stop()


async def _reglages_du_sujet(bootstrap: str, topic: str, reglages: dict[str, str]) -> None:
    admin = kafka.administration(bootstrap)
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, reglages)])
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def segments_courts(bootstrap: str, topic: str, reglages: dict[str, str]) -> AsyncIterator[None]:
    """``topic`` with segments of ``SEGMENT_MS_DU_TEST`` ms inside the block, ``reglages`` (its own) after."""
    await creer_sujets(bootstrap, partitions=3, replication=1)
    await _reglages_du_sujet(bootstrap, topic, {**reglages, "segment.ms": str(SEGMENT_MS_DU_TEST)})
    try:
        yield
    finally:
        await _reglages_du_sujet(bootstrap, topic, dict(reglages))
