"""The real broker carries keyed events the way the relay and the projections rely on.

Producer as the relay configures it (``acks="all"``, idempotent), consumers as
the projections do (a group, manual commits, ``read_committed``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import NewTopic

from services.runtime import kafka as clients_kafka
from tests.integration.kafka_fixtures import KafkaBroker

PARTITIONS = 3
STREAMS = 6
VERSIONS_PER_STREAM = 5
DEADLINE_S = 30.0

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"


def _unique(prefix: str) -> str:
    return f"{prefix}.{uuid.uuid4().hex[:12]}"


def _headers(stream: str, version: int) -> list[tuple[str, bytes]]:
    return [
        ("ce_id", f"{stream}-{version}".encode()),
        ("ce_type", b"fr.ase.parcours.EvenementTeste"),
    ]


async def _create_topic(bootstrap_servers: str) -> str:
    topic = _unique("test.kafka-broker")
    admin = clients_kafka.administration(bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name=topic, num_partitions=PARTITIONS, replication_factor=1)])
    finally:
        await admin.close()
    return topic


async def _produce(bootstrap_servers: str, topic: str, events: list[tuple[str, int]]) -> None:
    """Send each (stream, version) keyed by stream; return once all are acknowledged."""
    producer = clients_kafka.producteur_brut(bootstrap_servers, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        pending = [
            await producer.send(
                topic,
                key=stream.encode(),
                value=str(version).encode(),
                headers=_headers(stream, version),
            )
            for stream, version in events
        ]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def _consumer(bootstrap_servers: str, topic: str, group_id: str) -> AIOKafkaConsumer:
    return clients_kafka.consommateur(
        topic,
        bootstrap=bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )


async def _poll_until(consumer: AIOKafkaConsumer, done: Callable[[list[Record]], bool]) -> list[Record]:
    """Collect records until ``done`` holds, failing after ``DEADLINE_S``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    records: list[Record] = []
    while not done(records):
        assert loop.time() < deadline, f"gave up after {DEADLINE_S}s with {len(records)} records"
        batches = await consumer.getmany(timeout_ms=200)
        for batch in batches.values():
            records.extend(batch)
    return records


def _all_events() -> list[tuple[str, int]]:
    streams = [f"parcours-{uuid.uuid4()}" for _ in range(STREAMS)]
    return [(stream, version) for version in range(1, VERSIONS_PER_STREAM + 1) for stream in streams]


async def _consume_everything_and_commit(
    bootstrap_servers: str, topic: str, group_id: str, expected: int
) -> list[Record]:
    consumer = _consumer(bootstrap_servers, topic, group_id)
    await consumer.start()
    try:
        records = await _poll_until(consumer, lambda got: len(got) >= expected)
        await consumer.commit()
    finally:
        await consumer.stop()
    return records


async def test_a_consumer_group_reads_every_keyed_message_in_per_key_order_with_its_headers(
    kafka_broker: KafkaBroker,
) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topic = await _create_topic(bootstrap)
    events = _all_events()

    await _produce(bootstrap, topic, events)
    records = await _consume_everything_and_commit(bootstrap, topic, _unique("group"), len(events))

    assert len(records) == len(events)
    versions_by_stream: dict[str, list[int]] = defaultdict(list)
    partitions_by_stream: dict[str, set[int]] = defaultdict(set)
    for record in records:
        assert record.key is not None
        assert record.value is not None
        stream, version = record.key.decode(), int(record.value)
        versions_by_stream[stream].append(version)
        partitions_by_stream[stream].add(record.partition)
        assert list(record.headers) == _headers(stream, version)
    expected_order = list(range(1, VERSIONS_PER_STREAM + 1))
    assert versions_by_stream == {stream: expected_order for stream, _ in events}
    assert all(len(partitions) == 1 for partitions in partitions_by_stream.values())


async def test_a_second_consumer_in_the_group_resumes_after_the_manual_commit(
    kafka_broker: KafkaBroker,
) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topic = await _create_topic(bootstrap)
    group_id = _unique("group")
    events = _all_events()
    await _produce(bootstrap, topic, events)
    await _consume_everything_and_commit(bootstrap, topic, group_id, len(events))

    successor = _consumer(bootstrap, topic, group_id)
    await successor.start()
    try:
        partitions = {TopicPartition(topic, partition) for partition in range(PARTITIONS)}
        replayed = await _poll_until(successor, lambda _: successor.assignment() == partitions)
        end_offsets = await successor.end_offsets(list(partitions))
        positions = {tp: await successor.position(tp) for tp in partitions}
        assert replayed == []
        assert positions == end_offsets
        assert sum(end_offsets.values()) == len(events)

        await _produce(bootstrap, topic, [("parcours-late", 1)])
        fresh = await _poll_until(successor, lambda got: len(got) >= 1)
    finally:
        await successor.stop()

    assert [(record.key, record.value) for record in fresh] == [(b"parcours-late", b"1")]
