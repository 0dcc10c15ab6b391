"""A closed Kafka (issue 9, "Kafka is open"): the session's broker takes SASL/SCRAM only, Kafka's
ACLs decide who writes and reads what, and a projection never applies a forged or out-of-order
version, even one produced by a stolen super user.

Each fault of the issue is a test named after it. Forged records go to a broker of this module
alone (other tests rebuild from the shared topics' beginning and must not meet them); the
engines are seeded just before this test's first events (see ``test_projections_kafka.py``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    KafkaError,
    TopicAuthorizationFailedError,
)

from contracts.enveloppe import TOPIC_IDENTITES, TOPIC_PARCOURS, TOPIC_STATISTIQUES, identifiant_evenement
from services.projections.readmodels import catalogue_des_projections
from services.runtime import kafka as clients_kafka
from services.runtime.evenement import EvenementPublie
from services.runtime.feeds import FeedJournal, FeedKafka, Positions
from services.runtime.http import REGISTRE
from services.runtime.kafka import TOPIC_RESTREINT, Identifiants
from services.runtime.kafka_local import LocalKafkaBroker
from services.runtime.moteur import Moteur, Projection
from tests.integration.conftest import Api
from tests.integration.kafka_fixtures import KafkaBroker, broker_enregistre, en_tant_que, principal
from tests.integration.projections_outils import (
    _ok,
    amorcer,
    debuts_de_nos_evenements,
    differences,
    executer_jusqua,
    histoires,
    instantane,
    nos_flux,
    relais_a_jour,
)
from tests.integration.relais_outils import Recu, lire_jusqua, relais_actif
from tests.integration.schemas import schema_a_part

DELAI_S = 30.0
ECRITURE_REFUSEE = (TopicAuthorizationFailedError, ClusterAuthorizationFailedError)
"""A principal allowed to write nowhere is refused its idempotent producer id (the cluster's ACL) first."""


@pytest.fixture
async def pool(api: Api, base_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(base_url, min_size=1, max_size=8)
    yield pool
    await pool.close()


@pytest.fixture(scope="module")
def broker_prive() -> Iterator[LocalKafkaBroker]:
    """A closed broker of this module alone, known by its address to the test helpers."""
    with LocalKafkaBroker() as broker, broker_enregistre(broker):
        yield broker


@pytest.fixture
async def sujets_prives(broker_prive: LocalKafkaBroker) -> str:
    """The project's topics on the private broker, created by its relay's principal."""
    bootstrap = broker_prive.bootstrap_servers
    relais = broker_prive.identifiants("relais")
    await clients_kafka.creer_sujets(bootstrap, partitions=3, replication=1, identifiants=relais)
    return bootstrap


@pytest.fixture
async def sujets(kafka_broker: KafkaBroker) -> str:
    """The project's topics exist (created by the relay's principal, as in production)."""
    bootstrap = kafka_broker.bootstrap_servers
    await clients_kafka.creer_sujets(bootstrap, partitions=3, replication=1, identifiants=principal("relais"))
    return bootstrap


async def _refuse(action: Callable[[], Awaitable[Any]]) -> KafkaError:
    """Run ``action``: it must fail with a Kafka error within the deadline; return that error."""
    with pytest.raises(KafkaError) as erreur:
        await asyncio.wait_for(action(), timeout=DELAI_S)
    return erreur.value


async def _produire(bootstrap: str, identifiants: Identifiants, sujet: str, valeur: bytes) -> None:
    producteur = clients_kafka.producteur(bootstrap, client_id="test-kafka-ferme", identifiants=identifiants)
    try:
        await producteur.start()
        await producteur.send_and_wait(sujet, key=b"intrus", value=valeur)
    finally:
        await producteur.stop()


async def _lire(
    bootstrap: str, identifiants: Identifiants, sujet: str, *, groupe: str | None = None
) -> dict[TopicPartition, list[Any]]:
    """One poll of ``sujet`` from its beginning, in ``groupe`` (subscribed) or without group (assigned)."""
    lecteur: AIOKafkaConsumer = clients_kafka.consommateur(
        bootstrap=bootstrap,
        identifiants=identifiants,
        group_id=groupe,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    try:
        await lecteur.start()
        if groupe is None:
            lecteur.assign([TopicPartition(sujet, 0)])
        else:
            lecteur.subscribe([sujet])
        recus: dict[TopicPartition, list[Any]] = {}
        fin = asyncio.get_running_loop().time() + 10
        while not recus and asyncio.get_running_loop().time() < fin:
            recus = await lecteur.getmany(timeout_ms=200)
            # The broker's metadata answer: TOPIC_AUTHORIZATION_FAILED (aiokafka logs it, never fetches).
            if sujet in lecteur._client.cluster.unauthorized_topics:
                raise TopicAuthorizationFailedError(sujet)
        return recus
    finally:
        await lecteur.stop()


# -- who may write ------------------------------------------------------------------------------


async def test_producing_with_no_credentials_is_refused(sujets: str) -> None:
    await _refuse(lambda: _produire(sujets, Identifiants(), TOPIC_PARCOURS, b"{}"))
    await _refuse(lambda: _produire(sujets, Identifiants.scram("relais", "devine"), TOPIC_PARCOURS, b"{}"))
    await _refuse(lambda: _produire(sujets, Identifiants.scram("inconnu", "devine"), TOPIC_IDENTITES, b"{}"))


async def test_producing_with_the_projections_credentials_to_the_parcours_or_identities_topic_is_refused(
    sujets: str,
) -> None:
    projections = principal("projections")
    for sujet in (TOPIC_PARCOURS, TOPIC_IDENTITES, TOPIC_RESTREINT):
        erreur = await _refuse(lambda sujet=sujet: _produire(sujets, projections, sujet, b"{}"))  # type: ignore[misc]
        assert isinstance(erreur, TopicAuthorizationFailedError), (sujet, erreur)


# -- who may read -------------------------------------------------------------------------------


async def test_the_lecteur_reads_the_public_topic_and_nothing_else(
    api: Api, base_url: str, pool: asyncpg.Pool, sujets: str
) -> None:
    async with relais_actif(base_url, sujets):
        await histoires(api, 1)
        await relais_a_jour(pool)
    lecteur = principal("lecteur")

    recus = await _lire(sujets, lecteur, TOPIC_PARCOURS, groupe=f"lecteur.test-{uuid.uuid4().hex}")
    assert any(recus.values()), "the read-only principal reads the public topic"

    for sujet in (TOPIC_IDENTITES, TOPIC_RESTREINT, TOPIC_STATISTIQUES):
        erreur = await _refuse(lambda sujet=sujet: _lire(sujets, lecteur, sujet))  # type: ignore[misc]
        assert isinstance(erreur, TopicAuthorizationFailedError), (sujet, erreur)
    # Another service's consumer group (moving its offsets) is not its to join.
    erreur = await _refuse(lambda: _lire(sujets, lecteur, TOPIC_PARCOURS, groupe="ase.projections.dossiers"))
    assert isinstance(erreur, GroupAuthorizationFailedError), erreur
    erreur = await _refuse(lambda: _produire(sujets, lecteur, TOPIC_PARCOURS, b"{}"))
    assert isinstance(erreur, ECRITURE_REFUSEE), erreur


async def test_the_observatoire_reads_only_statistics(sujets: str) -> None:
    observatoire = principal("observatoire")
    await _lire(sujets, observatoire, TOPIC_STATISTIQUES, groupe=f"ase.observatoire.test-{uuid.uuid4().hex}")
    for sujet in (TOPIC_PARCOURS, TOPIC_IDENTITES, TOPIC_RESTREINT):
        erreur = await _refuse(lambda sujet=sujet: _lire(sujets, observatoire, sujet))  # type: ignore[misc]
        assert isinstance(erreur, TopicAuthorizationFailedError), (sujet, erreur)
    erreur = await _refuse(lambda: _produire(sujets, observatoire, TOPIC_STATISTIQUES, b"{}"))
    assert isinstance(erreur, ECRITURE_REFUSEE), erreur


async def test_the_broker_s_data_folder_and_its_password_file_are_private(kafka_broker: KafkaBroker) -> None:
    assert isinstance(kafka_broker, LocalKafkaBroker), "the session's own broker"
    dossiers = [kafka_broker.data_dir, kafka_broker.data_dir / "kraft", kafka_broker.data_dir / "logs"]
    for dossier in dossiers:
        assert dossier.stat().st_mode & 0o777 == 0o700, dossier
    assert kafka_broker.fichier_identifiants.stat().st_mode & 0o777 == 0o600
    segments = [f for f in (kafka_broker.data_dir / "kraft").rglob("*") if f.is_file()]
    assert segments
    assert all(f.stat().st_mode & 0o077 == 0 for f in segments), "no log segment readable by others"


# -- forged records: a stolen super user ----------------------------------------------------------


class NosFlux(Projection):
    """``interne``, applied only to this test's streams (the shared topics hold other tests')."""

    def __init__(self, interne: Projection, flux: set[str]) -> None:
        self.interne = interne
        self.flux = flux
        self.nom = interne.nom
        self.sujets = interne.sujets

    def ddl(self) -> list[str]:
        return self.interne.ddl()

    async def appliquer(self, conn: asyncpg.Connection, evenement: EvenementPublie) -> None:
        if str(evenement.flux_id) in self.flux:
            await self.interne.appliquer(conn, evenement)

    async def a_finir(self, conn: asyncpg.Connection) -> Mapping[uuid.UUID, uuid.UUID]:
        return await self.interne.a_finir(conn)

    async def finir(self, conn: asyncpg.Connection, flux: Sequence[uuid.UUID]) -> None:
        await self.interne.finir(conn, flux)


def _sans_suivi(instant: dict[str, Any]) -> dict[str, Any]:
    return {table: lignes for table, lignes in instant.items() if table != "lettres_mortes"}


async def _fins(bootstrap: str, topics: Sequence[str]) -> Positions:
    feed = FeedKafka(bootstrap, list(topics), groupe="-")
    try:
        return await feed.fins()
    finally:
        await feed.fermer()


class Banc:
    """This test's read models fed from Kafka as the projections' principal, beside the store's."""

    def __init__(self, pool: asyncpg.Pool, base_url: str, bootstrap: str) -> None:
        self.pool, self.base_url, self.bootstrap = pool, base_url, bootstrap
        self.moteurs: list[Moteur] = []

    async def amorcer(self) -> None:
        nos = await nos_flux(self.pool)
        sujets = sorted({s for p in catalogue_des_projections() for s in p.sujets})
        with en_tant_que(principal("projections", self.bootstrap)):
            fins = await _fins(self.bootstrap, sujets)
        debuts = await debuts_de_nos_evenements(self.pool, self.bootstrap, fins)
        for interne in catalogue_des_projections():
            projection = NosFlux(interne, nos)
            schema = schema_a_part(projection.nom)
            await amorcer(self.pool, schema, projection, {k: v for k, v in debuts.items() if k[0] in interne.sujets})
            groupe = f"ase.projections.test-{uuid.uuid4().hex}"
            feed = FeedKafka(self.bootstrap, list(projection.sujets), groupe=groupe, taille_lot=50)
            self.moteurs.append(Moteur(projection, schema, self.pool, feed, attente_en_avance_s=0.0))

    async def a_jour(self) -> None:
        """Every engine applied the topics to their end; versions held back beyond the bound dead-lettered."""
        with en_tant_que(principal("projections", self.bootstrap)):
            for moteur in self.moteurs:
                await executer_jusqua(moteur, await _fins(self.bootstrap, moteur.projection.sujets))
                await moteur.expirer_en_avance()

    async def ecarts_avec_le_store(self) -> dict[str, dict[str, str]]:
        """Per projection, how its Kafka-fed read model differs from one built from the store."""
        ecarts = {}
        for moteur in self.moteurs:
            reference = Moteur(
                moteur.projection,
                schema_a_part(moteur.projection.nom),
                self.pool,
                FeedJournal(self.base_url, topics=moteur.projection.sujets, taille_lot=1000),
            )
            await executer_jusqua(reference, await reference.feed.fins())
            attendu = _sans_suivi(await instantane(self.pool, reference.schema))
            if ecart := differences(_sans_suivi(await instantane(self.pool, moteur.schema)), attendu):
                ecarts[moteur.projection.nom] = ecart
        return ecarts

    async def lettres_mortes(self) -> set[tuple[str, int, str]]:
        lettres = set()
        async with self.pool.acquire() as conn:
            for moteur in self.moteurs:
                for ligne in await conn.fetch(f'SELECT flux_id, version, erreur FROM "{moteur.schema}".lettres_mortes'):
                    lettres.add((str(ligne["flux_id"]), ligne["version"], ligne["erreur"].split(":")[0]))
        return lettres


async def _publies(pool: asyncpg.Pool, bootstrap: str, flux: str) -> list[Recu]:
    """The records of stream ``flux`` on the public and identity topics, in version order."""
    async with pool.acquire() as conn:
        nombre = await conn.fetchval("SELECT count(*) FROM ase_events WHERE originator_id = $1", uuid.UUID(flux))
    recus = await lire_jusqua(
        bootstrap,
        [TOPIC_PARCOURS, TOPIC_IDENTITES],
        lambda r: len({m.entetes["ce_sequence"] for m in r}) >= nombre,
        filtre=lambda m: m.entetes.get("ce_subject") == flux,
    )
    return sorted(recus, key=lambda m: int(m.entetes["ce_sequence"]))


async def _forger(
    bootstrap: str, modele: Recu, *, version: int, type_ce: str, corps: dict[str, Any], **entetes: str
) -> None:
    """Produce, as the super user ``admin``, a record like ``modele`` with another version, type and body."""
    flux = modele.entetes["ce_subject"]
    valeurs = {
        **modele.entetes,
        "ce_id": identifiant_evenement(uuid.UUID(flux), version),  # anyone can compute the deterministic id
        "ce_sequence": str(version),
        "ce_type": type_ce,
        **entetes,
    }
    producteur = clients_kafka.producteur(
        bootstrap, client_id="test-forgeur", identifiants=principal("admin", bootstrap)
    )
    await producteur.start()
    try:
        await producteur.send_and_wait(
            modele.topic,
            key=flux.encode(),
            value=orjson.dumps(corps),
            headers=[(k, v.encode()) for k, v in valeurs.items()],
            partition=modele.partition,
        )
    finally:
        await producteur.stop()


async def _personne(pool: asyncpg.Pool) -> str:
    """The identity stream of this test's only child."""
    async with pool.acquire() as conn:
        personnes = await conn.fetch(
            "SELECT DISTINCT originator_id FROM ase_events WHERE topic LIKE '%:IdentiteEnregistree'"
        )
    assert len(personnes) == 1
    return str(personnes[0]["originator_id"])


def _compteur(nom: str, moteurs: Sequence[Moteur]) -> float:
    return sum(REGISTRE.get_sample_value(nom, {"projection": m.etiquette}) or 0.0 for m in moteurs)


async def test_a_forged_identite_rectifiee_ahead_and_a_forged_dossier_transfere_conflicting_produced_by_admin_are_dead_lettered_and_the_dossier_equals_the_store_s(
    api: Api, base_url: str, pool: asyncpg.Pool, sujets_prives: str
) -> None:
    sujets = sujets_prives
    async with relais_actif(base_url, sujets):
        [parcours_id] = await histoires(api, 1)
        await relais_a_jour(pool)
    personne_id = await _personne(pool)
    banc = Banc(pool, base_url, sujets)
    await banc.amorcer()
    await banc.a_jour()
    assert await banc.ecarts_avec_le_store() == {}

    identite = await _publies(pool, sujets, personne_id)
    parcours = await _publies(pool, sujets, parcours_id)
    rectifiee = next(m for m in identite if m.entetes["ce_type"].endswith(".identite_rectifiee.v1"))
    derniere_identite, derniere_parcours = (
        int(identite[-1].entetes["ce_sequence"]),
        int(parcours[-1].entetes["ce_sequence"]),
    )
    # A new name, two versions ahead of the identity stream.
    nom_force = {**orjson.loads(rectifiee.valeur or b"{}"), "nom": "Forge", "prenoms": "Usurpe"}
    await _forger(
        sujets, rectifiee, version=derniere_identite + 2, type_ce=rectifiee.entetes["ce_type"], corps=nom_force
    )
    # A transfer to 75 re-using the last applied version of the parcours: same ce_id, other content,
    # and the same again with another ce_id.
    transfert = {
        "parcours_id": parcours_id,
        "date_effet": "2026-11-28",
        "departement_origine": "59",
        "departement_destination": "75",
    }
    for autre_id in (None, str(uuid.uuid4())):
        await _forger(
            sujets,
            parcours[-1],
            version=derniere_parcours,
            type_ce="fr.ase.parcours.dossier_transfere.v1",
            corps=transfert,
            **({"ce_id": autre_id} if autre_id else {}),
        )
    en_avance = _compteur("ase_projection_versions_en_avance_total", banc.moteurs)
    conflits = _compteur("ase_projection_conflits_total", banc.moteurs)

    await banc.a_jour()

    assert await banc.ecarts_avec_le_store() == {}
    lettres = await banc.lettres_mortes()
    assert (personne_id, derniere_identite + 2, "VersionEnAvance") in lettres
    assert (parcours_id, derniere_parcours, "ConflitDeVersion") in lettres
    assert _compteur("ase_projection_versions_en_avance_total", banc.moteurs) > en_avance
    assert _compteur("ase_projection_conflits_total", banc.moteurs) >= conflits + 2

    # The real next events of both streams are then applied, not dropped as duplicates.
    async with relais_actif(base_url, sujets):
        await _ok(
            api,
            f"/v1/parcours/{parcours_id}/rectifications",
            {"version_rectifiee": 1, "champ": "date_naissance", "nouvelle_valeur": "2010-01-05", "motif": "saisie"},
            **api.jeton(departements=("59", "62")),
        )
        await _ok(api, f"/v1/parcours/{parcours_id}/referent", {"referent_id": "ref-9", "date_effet": "2026-11-28"})
        await relais_a_jour(pool)
    await banc.a_jour()
    assert await banc.ecarts_avec_le_store() == {}
    assert {(f, v) for f, v, _ in await banc.lettres_mortes()} == {
        (personne_id, derniere_identite + 2),
        (parcours_id, derniere_parcours),
    }
