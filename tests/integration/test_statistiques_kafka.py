"""OLINPE rows on ``ase.statistiques.v1``: keyed by pseudonym, nothing personal (real PostgreSQL, real Kafka)."""

from __future__ import annotations

from datetime import date

import orjson

from contracts.enveloppe import TOPIC_STATISTIQUES
from services.projections.readmodels.olinpe import COLONNES, pseudonyme, reglages_olinpe
from services.projections.statistiques import TYPE_LIGNE, PublicationStatistiques
from services.runtime.kafka import creer_sujets, producteur
from tests.integration.api_parcours import NE_LE, NOM, PRENOMS, decider_mesure, ouvrir
from tests.integration.conftest import Api, Lecture
from tests.integration.kafka_fixtures import KafkaBroker
from tests.integration.relais_outils import lire_jusqua


async def test_an_olinpe_record_appears_on_the_statistics_topic_keyed_by_pseudonym_with_no_personal_field(
    api: Api, lecture: Lecture, kafka_broker: KafkaBroker
) -> None:
    p = await ouvrir(api, date(2026, 11, 1))
    await decider_mesure(api, p["id"], date_debut=date(2026, 11, 2), reference="JE-2026-4242")
    await lecture.a_jour()
    cle = pseudonyme(reglages_olinpe().cle_octets(), p["personne_id"]).encode()
    await creer_sujets(kafka_broker.bootstrap_servers, partitions=1, replication=1)
    publication = PublicationStatistiques(
        lecture.comp.pool, lambda: producteur(kafka_broker.bootstrap_servers, client_id="test-statistiques")
    )
    try:
        publiees = await publication.une_fois()
        encore = await publication.une_fois()
    finally:
        await publication.arreter()

    (recu,) = await lire_jusqua(
        kafka_broker.bootstrap_servers, [TOPIC_STATISTIQUES], lambda r: len(r) >= 1, filtre=lambda r: r.cle == cle
    )
    assert (publiees, encore) == (1, 0), "one row, published once: nothing changed since"
    assert recu.valeur is not None
    valeur = orjson.loads(recu.valeur)
    assert set(valeur) == {"id", "type", "version", *COLONNES}
    assert (valeur["pseudonyme"], valeur["evenement"], valeur["type"]) == (cle.decode(), "debut", TYPE_LIGNE)
    assert recu.entetes == {"ce_id": valeur["id"], "ce_type": TYPE_LIGNE}
    for personnel in (NOM, PRENOMS, NE_LE.isoformat(), p["id"], p["personne_id"], "JE-2026-4242"):
        assert personnel.encode() not in recu.valeur, personnel
        assert personnel.encode() not in recu.cle
