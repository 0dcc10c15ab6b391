"""Erasure on the compacted identities topic (issue 9): once a segment rolls after the tombstone,
the log cleaner removes the named records, and a read of ``ase.identites.v1`` from offset 0 holds
no byte of the name or birth date; a rebuild from Kafka then shows the person erased."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import date

import pytest
from aiokafka import TopicPartition
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from contracts.enveloppe import TOPIC_IDENTITES
from services.projections.readmodels.dossiers import ProjectionDossiers
from services.projections.reconstruction import reconstruire
from services.projections.service import Sources
from services.runtime import kafka
from services.runtime.kafka import COMPACTION_IDENTITES, creer_sujets
from tests.integration.api_parcours import corps_ouverture
from tests.integration.conftest import Api, Lecture
from tests.integration.kafka_fixtures import KafkaBroker
from tests.integration.projections_outils import SeulementCetteBase
from tests.integration.relais_outils import lire_jusqua, relais_actif

SEGMENT_MS_DU_TEST = 1000
"""The test's topic rolls a segment every second (production: ``COMPACTION_IDENTITES``, one hour)."""


async def _tout_le_sujet(bootstrap: str) -> list[tuple[int, bytes, bytes | None]]:
    """Every record of ``ase.identites.v1`` from offset 0 to its end now: (partition, key, value)."""
    consommateur = kafka.consommateur(bootstrap=bootstrap, enable_auto_commit=False, group_id=None)
    await consommateur.start()
    try:
        partitions = [TopicPartition(TOPIC_IDENTITES, p) for p in await _partitions(bootstrap)]
        assert partitions, TOPIC_IDENTITES
        consommateur.assign(partitions)
        await consommateur.seek_to_beginning(*partitions)
        fins = await consommateur.end_offsets(partitions)
        lus: list[tuple[int, bytes, bytes | None]] = []
        limite = time.monotonic() + 30
        while [tp for tp in partitions if await consommateur.position(tp) < fins[tp]]:
            assert time.monotonic() < limite, "the topic could not be read to its end"
            for tp, messages in (await consommateur.getmany(timeout_ms=500)).items():
                lus.extend((tp.partition, m.key or b"", m.value) for m in messages)
        return lus
    finally:
        await consommateur.stop()


async def _partitions(bootstrap: str) -> list[int]:
    admin = kafka.administration(bootstrap)
    await admin.start()
    try:
        (sujet,) = await admin.describe_topics([TOPIC_IDENTITES])
        return sorted(int(p["partition"]) for p in sujet["partitions"])
    finally:
        await admin.close()


async def _reglages_du_sujet(bootstrap: str, reglages: dict[str, str]) -> None:
    admin = kafka.administration(bootstrap)
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, TOPIC_IDENTITES, reglages)])
    finally:
        await admin.close()


@pytest.fixture
async def segments_courts(kafka_broker: KafkaBroker) -> AsyncIterator[None]:
    """Segments of {SEGMENT_MS_DU_TEST} ms on the topic for this test only: the session's broker is shared,
    and a topic left with one-second segments slows every later read of it."""
    bootstrap = kafka_broker.bootstrap_servers
    await creer_sujets(bootstrap, partitions=3, replication=1)
    await _reglages_du_sujet(bootstrap, {**COMPACTION_IDENTITES, "segment.ms": str(SEGMENT_MS_DU_TEST)})
    try:
        yield
    finally:
        await _reglages_du_sujet(bootstrap, dict(COMPACTION_IDENTITES))


async def test_after_erasure_and_a_segment_roll_the_identities_topic_holds_no_byte_of_the_name_or_birth_date(
    api: Api,
    base_url: str,
    lecture: Lecture,
    kafka_broker: KafkaBroker,
    segments_courts: None,
) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    nom = f"Quéménéur-{uuid.uuid4().hex[:12]}"
    naissance = date(2011, 2, 19)
    corps = corps_ouverture(date(2025, 1, 7), date_naissance=naissance)
    corps["personne"]["nom"] = nom
    await creer_sujets(bootstrap, partitions=3, replication=1)

    async with relais_actif(base_url, bootstrap):
        reponse = await api.post("/v1/parcours", corps)
        assert reponse.status_code == 201, reponse.text
        personne = reponse.json()["personne_id"]
        cle = personne.encode()
        nommes = await lire_jusqua(
            bootstrap, [TOPIC_IDENTITES], lambda r: len(r) >= 1, filtre=lambda r: r.cle == cle and r.valeur is not None
        )
        assert nom.encode() in (nommes[0].valeur or b""), "the identity was published with the name"
        efface = await api.client.post(
            f"/v1/personnes/{personne}/effacement", json={"motif": "decision_cnil"}, headers=api.jeton("dpo")
        )
        assert efface.status_code == 200, efface.text
        await lire_jusqua(
            bootstrap, [TOPIC_IDENTITES], lambda r: len(r) >= 1, filtre=lambda r: r.cle == cle and r.valeur is None
        )

    partition = nommes[0].partition
    producteur = kafka.producteur_brut(bootstrap, acks="all", enable_idempotence=True)
    await producteur.start()
    fin = time.monotonic() + 180
    try:
        while True:
            # A record later than segment.ms rolls the segment holding the name and the tombstone:
            # only then may the cleaner compact it (it never touches the active segment).
            await asyncio.sleep(SEGMENT_MS_DU_TEST / 1000 + 0.2)
            await producteur.send_and_wait(
                TOPIC_IDENTITES, key=f"roulement-{uuid.uuid4()}".encode(), value=None, partition=partition
            )
            lus = await _tout_le_sujet(bootstrap)
            fuites = [
                (p, k)
                for p, k, v in lus
                if v is not None and (nom.encode() in v or (k == cle and naissance.isoformat().encode() in v))
            ]
            if not fuites:
                break
            assert time.monotonic() < fin, f"still on the topic after compaction was due: {fuites}"
    finally:
        await producteur.stop()
    assert any(k == cle and v is None for _, k, v in lus), "the tombstone stays (delete.retention.ms)"

    # A rebuild of the dossiers from Kafka now sees only the tombstone: the person is erased.
    pool = lecture.comp.pool
    await reconstruire(SeulementCetteBase(ProjectionDossiers()), Sources(base_url, bootstrap), pool, "kafka", grace_s=0)
    dossier = (await lecture.get(f"/v1/dossiers/{reponse.json()['id']}")).json()
    assert dossier["identite"] == {"nom": None, "prenoms": None, "date_naissance": None, "effacee": True}
    assert dossier["age"] is None
