"""The projection engine on the real Kafka broker: crashes after a commit, a rebalance between two
consumers of one group, poison records, duplicates, and the dead-letter topic.

The topics are shared by the whole session: engines here are seeded just before this
test's first events (``debuts_de_nos_evenements``) and apply only this test's streams
(``SeulementCetteBase``); every consumer group is unique to its test.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import asyncpg
import orjson
import pytest
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from contracts.enveloppe import TOPIC_IDENTITES, TOPIC_PARCOURS
from services.projections import catalogue
from services.projections.readmodels import catalogue_des_projections
from services.projections.service import ServiceProjections, Sources, sujet_dlq
from services.runtime import kafka as clients_kafka
from services.runtime.feeds import FeedJournal, FeedKafka, Positions
from services.runtime.http import REGISTRE
from services.runtime.moteur import Moteur
from tests.integration.conftest import Api
from tests.integration.kafka_fixtures import KafkaBroker, en_tant_que, principal
from tests.integration.projections_outils import (
    Registre,
    SeulementCetteBase,
    amorcer,
    attendre,
    debuts_de_nos_evenements,
    differences,
    executer_jusqua,
    histoires,
    instantane,
    nos_flux,
    positions_atteintes,
    principal_du_feed,
)
from tests.integration.relais_outils import lire_jusqua, relais_actif
from tests.integration.schemas import schema_a_part

SUJETS = (TOPIC_PARCOURS, TOPIC_IDENTITES)


@pytest.fixture
async def pool(api: Api, base_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(base_url, min_size=1, max_size=8)
    yield pool
    await pool.close()


@pytest.fixture
async def publie(api: Api, base_url: str, pool: asyncpg.Pool, kafka_broker: KafkaBroker) -> str:
    """Several children's histories written, and all of them published to Kafka by the relay."""
    from tests.integration.projections_outils import relais_a_jour

    async with relais_actif(base_url, kafka_broker.bootstrap_servers):
        await histoires(api, 3)
        await relais_a_jour(pool)
    return kafka_broker.bootstrap_servers


async def fins_kafka(bootstrap: str, topics: Sequence[str]) -> Positions:
    feed = FeedKafka(bootstrap, list(topics), groupe="-")
    try:
        return await feed.fins()
    finally:
        await feed.fermer()


def groupe_unique() -> str:
    """A consumer group of this test, among the projections' (their principal may join it)."""
    return f"ase.projections.test-{uuid.uuid4().hex}"


async def reference(pool: asyncpg.Pool, base_url: str, projection: SeulementCetteBase) -> str:
    """The read model built in one go from the store."""
    moteur = Moteur(
        projection,
        schema_a_part(projection.nom),
        pool,
        FeedJournal(base_url, topics=projection.sujets, taille_lot=1000),
    )
    await executer_jusqua(moteur, await moteur.feed.fins())
    return moteur.schema


async def seeded(pool: asyncpg.Pool, bootstrap: str, projection: SeulementCetteBase) -> tuple[str, Positions]:
    """A fresh schema seeded before this test's events; and the topics' ends."""
    fins = await fins_kafka(bootstrap, projection.sujets)
    schema = schema_a_part(projection.nom)
    await amorcer(pool, schema, projection, await debuts_de_nos_evenements(pool, bootstrap, fins))
    return schema, fins


class Arret(Exception):
    """Raised right after a commit: the consumer dies there."""


async def tuer_et_reprendre(pool: asyncpg.Pool, bootstrap: str, projection: SeulementCetteBase) -> tuple[str, int]:
    """Consume with a consumer killed right after its second commit, four times over; return the schema."""
    schema, fins = await seeded(pool, bootstrap, projection)
    groupe, redemarrages = groupe_unique(), 0
    while True:
        lots = 0

        async def mourir_au_deuxieme_lot(_positions: Positions, mourir: bool = redemarrages < 4) -> None:
            nonlocal lots
            lots += 1
            if lots == 2 and mourir:
                raise Arret

        moteur = Moteur(
            projection,
            schema,
            pool,
            FeedKafka(bootstrap, list(projection.sujets), groupe=groupe, taille_lot=3),
            apres_lot=mourir_au_deuxieme_lot,
        )
        try:
            await executer_jusqua(moteur, fins)
            return schema, redemarrages
        except Arret:
            redemarrages += 1


async def test_a_kafka_consumer_killed_right_after_its_commits_resumes_to_the_read_model_built_in_one_go(
    base_url: str, pool: asyncpg.Pool, publie: str
) -> None:
    for interne in catalogue_des_projections():
        projection = SeulementCetteBase(interne)
        attendu = await instantane(pool, await reference(pool, base_url, projection))
        assert any(attendu.values()), projection.nom
        schema, redemarrages = await tuer_et_reprendre(pool, publie, projection)
        assert redemarrages == 4, projection.nom
        assert differences(await instantane(pool, schema), attendu) == {}, projection.nom


async def deux_consommateurs(
    pool: asyncpg.Pool, bootstrap: str, projection: SeulementCetteBase
) -> tuple[str, dict[str, int]]:
    """A consumes; B joins the group after A's first batch; A leaves after its second. Return the schema."""
    schema, fins = await seeded(pool, bootstrap, projection)
    groupe = groupe_unique()
    arret_a, arret_b = asyncio.Event(), asyncio.Event()
    lots = {"a": 0, "b": 0}
    b = Moteur(projection, schema, pool, FeedKafka(bootstrap, list(projection.sujets), groupe=groupe, taille_lot=3))
    taches: list[asyncio.Task[None]] = []

    async def b_a_des_partitions() -> bool:
        consommateur = getattr(b.feed, "consommateur", None)
        return consommateur is not None and bool(consommateur.assignment())

    async def apres_a(_positions: Positions) -> None:
        lots["a"] += 1
        if lots["a"] == 1:  # the second member joins while the first consumes: a rebalance
            taches.append(asyncio.create_task(b.executer(arret_b)))
            await attendre(b_a_des_partitions, quoi="the second consumer got partitions")
        elif lots["a"] == 2:
            arret_a.set()  # then the first leaves: another rebalance, the second takes everything

    async def apres_b(_positions: Positions) -> None:
        lots["b"] += 1

    async def tout_applique() -> bool:
        return await positions_atteintes(pool, schema, fins)

    b.apres_lot = apres_b
    a = Moteur(
        projection,
        schema,
        pool,
        FeedKafka(bootstrap, list(projection.sujets), groupe=groupe, taille_lot=3),
        apres_lot=apres_a,
    )
    with principal_du_feed(a.feed):  # a's task, and b's started from it, read as the projections
        taches.append(asyncio.create_task(a.executer(arret_a)))
    try:
        await attendre(tout_applique, delai_s=120, quoi="both consumers applied everything")
    finally:
        arret_a.set()
        arret_b.set()
        await asyncio.wait_for(asyncio.gather(*taches), timeout=60)
    return schema, lots


async def test_two_consumers_of_one_group_through_rebalances_build_what_one_consumer_builds(
    base_url: str, pool: asyncpg.Pool, publie: str
) -> None:
    for interne in catalogue_des_projections():
        projection = SeulementCetteBase(interne)
        attendu = await instantane(pool, await reference(pool, base_url, projection))
        schema, lots = await deux_consommateurs(pool, publie, projection)
        assert lots["a"] >= 1, lots
        assert lots["b"] >= 1, lots
        assert differences(await instantane(pool, schema), attendu) == {}, projection.nom


def _entetes(flux: uuid.UUID, version: int) -> list[tuple[str, bytes]]:
    valeurs = {
        "ce_id": str(uuid.uuid5(flux, str(version))),
        "ce_source": "/ase/59/lieux",
        "ce_type": "fr.ase.lieu.capacite_modifiee.v1",
        "ce_subject": str(flux),
        "ce_sequence": str(version),
        "ce_time": datetime(2026, 11, 28, 10, tzinfo=UTC).isoformat(),
        "ce_auteur": "alice",
        "ce_correlationid": "c",
    }
    return [(k, v.encode()) for k, v in valeurs.items()]


async def test_a_poison_record_is_dead_lettered_and_a_republished_event_changes_nothing(
    pool: asyncpg.Pool, kafka_broker: KafkaBroker
) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    sujet, flux = f"test.poison.{uuid.uuid4().hex}", uuid.uuid4()
    producteur = clients_kafka.producteur_brut(bootstrap, acks="all", enable_idempotence=True)
    await producteur.start()
    try:
        corps = orjson.dumps({"capacite": 10, "date_effet": "2026-11-28"})
        for cle, valeur, entetes in [
            (b"k", corps, _entetes(flux, 1)),
            (b"k", b"\x00pas du json", [("ce_type", b"inconnu")]),
            (b"k", corps, _entetes(flux, 2)),
            (b"k", corps, _entetes(flux, 2)),  # the relay published it again
        ]:
            await producteur.send_and_wait(sujet, key=cle, value=valeur, headers=entetes, partition=0)
    finally:
        await producteur.stop()
    projection = Registre(f"poison_{uuid.uuid4().hex[:6]}", [sujet])
    moteur = Moteur(
        projection,
        schema_a_part(projection.nom),
        pool,
        FeedKafka(bootstrap, [sujet], groupe=groupe_unique()),
    )
    doublons = REGISTRE.get_sample_value("ase_projection_doublons_total", {"projection": projection.nom}) or 0.0
    await executer_jusqua(moteur, await moteur.feed.fins())

    instant = await instantane(pool, moteur.schema)
    assert sorted(ligne["version"] for ligne in instant["vus"]) == [1, 2]
    assert [(ligne["ce_type"], ligne["erreur"].split(":")[:2]) for ligne in instant["lettres_mortes"]] == [
        ("inconnu", ["illisible", " KeyError"])
    ]
    assert REGISTRE.get_sample_value("ase_projection_doublons_total", {"projection": projection.nom}) == doublons + 1


async def test_with_kafka_a_dead_letter_reaches_the_group_s_dlq_topic_and_the_engine_goes_on(
    base_url: str, pool: asyncpg.Pool, publie: str
) -> None:
    nos = await nos_flux(pool)
    projection = Registre(
        f"dlq_{uuid.uuid4().hex[:6]}",
        SUJETS,
        seulement=lambda e: str(e.flux_id) in nos,
        echoue_sur=lambda e: e.nom == "MesureDecidee",
    )
    async with pool.acquire() as conn:
        schema = await catalogue.schema_actif_ou_nouveau(conn, projection.nom)
    fins = await fins_kafka(publie, SUJETS)
    await amorcer(pool, schema, projection, await debuts_de_nos_evenements(pool, publie, fins))
    service = ServiceProjections(pool, Sources(base_url, publie, taille_lot=50), [projection])
    with en_tant_que(principal("projections")):  # its consumer and its dead-letter producer
        await service.demarrer()
    try:

        async def tout_applique_et_publie() -> bool:
            async with pool.acquire() as conn:
                en_attente = await conn.fetchval(f'SELECT count(*) FROM "{schema}".lettres_mortes WHERE NOT publiee')
            return en_attente == 0 and await positions_atteintes(pool, schema, fins)

        await attendre(tout_applique_et_publie, quoi="applied, dead letters published")
    finally:
        await service.arreter()

    async with pool.acquire() as conn:
        mesures = {str(ligne["ce_id"]) for ligne in await conn.fetch(f'SELECT ce_id FROM "{schema}".lettres_mortes')}
        nombre = await conn.fetchval("SELECT count(*) FROM ase_events")
    assert len(mesures) == 3  # one MesureDecidee per child
    assert len((await instantane(pool, schema))["vus"]) == nombre - 3
    assert REGISTRE.get_sample_value("ase_projection_lettres_mortes_total", {"projection": projection.nom}) == 3
    recus = await lire_jusqua(publie, [sujet_dlq(projection)], lambda r: len(r) >= 3)
    corps = [orjson.loads(r.valeur or b"{}") for r in recus]
    assert {c["ce_id"] for c in corps} == mesures
    assert all(
        c["erreur"] == "ValueError: refus de test: MesureDecidee" and c["source"] == TOPIC_PARCOURS for c in corps
    )
    assert {r.cle.decode() for r in recus} <= nos
    admin = clients_kafka.administration(publie)
    await admin.start()
    try:
        reponse = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, sujet_dlq(projection))])
    finally:
        await admin.close()
    assert ("retention.ms", "-1") in [(c[0], c[1]) for c in reponse[0].resources[0][4]]  # kept forever
