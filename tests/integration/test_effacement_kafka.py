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

from contracts.enveloppe import TOPIC_IDENTITES
from services.projections.readmodels.dossiers import ProjectionDossiers
from services.projections.reconstruction import reconstruire
from services.projections.service import Sources
from services.runtime import kafka
from services.runtime.kafka import COMPACTION_IDENTITES
from tests.integration import compaction_outils
from tests.integration.api_parcours import corps_ouverture
from tests.integration.compaction_outils import SEGMENT_MS_DU_TEST
from tests.integration.conftest import Api, Lecture
from tests.integration.kafka_fixtures import KafkaBroker
from tests.integration.projections_outils import SeulementCetteBase
from tests.integration.relais_outils import lire_jusqua, relais_actif


@pytest.fixture
async def segments_courts(kafka_broker: KafkaBroker) -> AsyncIterator[None]:
    """One-second segments on the topic for this test only (the session's broker is shared)."""
    async with compaction_outils.segments_courts(kafka_broker.bootstrap_servers, TOPIC_IDENTITES, COMPACTION_IDENTITES):
        yield


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
            lus = await compaction_outils.tout_le_sujet(bootstrap, TOPIC_IDENTITES)
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
