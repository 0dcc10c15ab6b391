"""Erasure on the restricted topic (issue 9, point 1): ``ase.parcours.restreint.v1`` is compacted
(key ``<stream id>:<version>``) and, on publishing an ``IdentiteEffacee``, the relay tombstones
every restricted record of the person's parcours. Once a segment rolls, a read of the topic from
offset 0 holds no byte of her court reference nor of her exact majority date, and a rebuild of the
dossiers from Kafka shows neither."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest

from contracts.enveloppe import TOPIC_RESTREINT
from droit.calendrier import anniversaire
from services.projections.readmodels.dossiers import ProjectionDossiers
from services.projections.reconstruction import reconstruire
from services.projections.service import Sources
from services.runtime import kafka
from services.runtime.kafka import COMPACTION_RESTREINT
from tests.integration import compaction_outils
from tests.integration.compaction_outils import SEGMENT_MS_DU_TEST
from tests.integration.conftest import Api, Lecture
from tests.integration.kafka_fixtures import KafkaBroker
from tests.integration.pilotage_outils import Referent
from tests.integration.projections_outils import SeulementCetteBase
from tests.integration.relais_outils import lire_jusqua, relais_actif


@pytest.fixture
async def segments_courts(kafka_broker: KafkaBroker) -> AsyncIterator[None]:
    """One-second segments on the topic for this test only (the session's broker is shared)."""
    async with compaction_outils.segments_courts(kafka_broker.bootstrap_servers, TOPIC_RESTREINT, COMPACTION_RESTREINT):
        yield


async def test_after_erasure_and_a_segment_roll_the_restricted_topic_holds_no_byte_of_the_court_reference_or_majority_date(
    api: Api,
    base_url: str,
    lecture: Lecture,
    kafka_broker: KafkaBroker,
    segments_courts: None,
) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    reference = f"JE-{uuid.uuid4().hex[:10]}"
    # Never the 1st of a month: the date published after the erasure (its month's first day) differs.
    ne_le = date(2008, 1, 2) + timedelta(days=random.randrange(300))
    ne_le = ne_le.replace(day=max(ne_le.day, 2))
    majorite = anniversaire(ne_le, 18).isoformat().encode()

    nord = Referent(api)
    async with relais_actif(base_url, bootstrap):
        ouvert = await nord.ouvrir(date(2025, 3, 3), ne_le=ne_le)
        parcours_id, personne = str(ouvert["id"]), str(ouvert["personne_id"])
        prefixe = f"{parcours_id}:".encode()
        await nord.mesure(
            parcours_id,
            date(2025, 3, 3),
            cadre="judiciaire",
            nature="confiage_ase",
            autorite="juge_des_enfants",
            echeance=date(2026, 3, 2),
            reference=reference,
        )
        await nord.envoyer(f"/v1/parcours/{parcours_id}/majorite", {})
        faits = await lire_jusqua(
            bootstrap,
            [TOPIC_RESTREINT],
            lambda r: (
                any(reference.encode() in (m.valeur or b"") for m in r)
                and any(majorite in (m.valeur or b"") for m in r)
            ),
            filtre=lambda m: m.cle.startswith(prefixe),
        )
        assert all(m.cle == prefixe + m.entetes["ce_sequence"].encode() for m in faits), "one key a record"
        await lecture.a_jour()
        avant = await lecture.get(f"/v1/dossiers/{parcours_id}", role="referent")
        assert majorite in avant.content, "the dossier showed the exact majority date before the erasure"
        efface = await api.client.post(
            f"/v1/personnes/{personne}/effacement", json={"motif": "decision_cnil"}, headers=api.jeton("dpo")
        )
        assert efface.status_code == 200, efface.text
        cles = {m.cle for m in faits}
        await lire_jusqua(
            bootstrap,
            [TOPIC_RESTREINT],
            lambda r: {m.cle for m in r} >= cles,
            filtre=lambda m: m.cle.startswith(prefixe) and m.valeur is None,
        )

    partitions = await compaction_outils.partitions(bootstrap, TOPIC_RESTREINT)
    producteur = kafka.producteur_brut(bootstrap, acks="all", enable_idempotence=True)
    await producteur.start()
    fin = time.monotonic() + 180
    try:
        while True:
            # A record later than segment.ms rolls each partition's segment holding her facts and their
            # tombstones: only then may the cleaner compact it (it never touches the active segment).
            await asyncio.sleep(SEGMENT_MS_DU_TEST / 1000 + 0.2)
            for partition in partitions:
                await producteur.send_and_wait(
                    TOPIC_RESTREINT, key=f"roulement-{uuid.uuid4()}".encode(), value=None, partition=partition
                )
            lus = [(k, v) for _, k, v in await compaction_outils.tout_le_sujet(bootstrap, TOPIC_RESTREINT)]
            fuites = [
                k
                for k, v in lus
                if v is not None and (reference.encode() in v or (k.startswith(prefixe) and majorite in v))
            ]
            if not fuites:
                break
            assert time.monotonic() < fin, f"still on the topic after compaction was due: {fuites}"
    finally:
        await producteur.stop()
    assert any(k.startswith(prefixe) and v is None for k, v in lus), "the tombstones stay (delete.retention.ms)"

    # A rebuild of the dossiers from Kafka shows neither her court reference nor her exact majority date.
    pool = lecture.comp.pool
    await reconstruire(SeulementCetteBase(ProjectionDossiers()), Sources(base_url, bootstrap), pool, "kafka", grace_s=0)
    dossier = await lecture.get(f"/v1/dossiers/{parcours_id}", role="referent")
    assert dossier.status_code == 200, dossier.text
    assert reference.encode() not in dossier.content
    assert majorite not in dossier.content
    assert dossier.json()["identite"]["effacee"] is True
