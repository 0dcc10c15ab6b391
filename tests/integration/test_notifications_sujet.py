"""The alerts topic on the real Kafka broker (issue 10, item 3): the outbox's changes reach
``ase.alertes.v1`` with the parcours as key, CloudEvents headers and a body valid against the
committed JSON Schema, published as the ``notifications`` principal; a crash after Kafka's
acknowledgement and before the cursor moves sends the same ``ce_id``s again, and loses none.

The topic is shared by the session: each test keeps only the messages of its own parcours (new ids).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import jsonschema
import pytest
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError

from contracts import generation
from contracts.alertes import (
    Alerte,
    EvenementAlerte,
    Niveau,
    StatutAlerte,
    identifiant_alerte,
    identifiant_message,
    lien_dossier,
    type_cloudevents,
)
from contracts.enveloppe import (
    TOPIC_ALERTES,
    TOPIC_IDENTITES,
    TOPIC_PARCOURS,
    TOPIC_RESTREINT,
    TOPIC_STATISTIQUES,
    url_schema,
)
from services.notifications import publication, sorties
from services.runtime import kafka as clients_kafka
from tests.integration.kafka_fixtures import KafkaBroker, principal
from tests.integration.relais_outils import lire_jusqua
from tests.integration.test_kafka_ferme import ECRITURE_REFUSEE, _lire, _produire, _refuse

SCHEMAS = generation.DOSSIER_CONTRATS / generation.SOUS_DOSSIER_SCHEMAS


class Panne(Exception):
    """The process dies after Kafka acknowledged the batch, before the cursor moved."""


@pytest.fixture
async def pool(base_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(base_url, min_size=1, max_size=4)
    async with pool.acquire() as conn:
        await sorties.creer_tables(conn)
    yield pool
    await pool.close()


@pytest.fixture
async def bootstrap(kafka_broker: KafkaBroker) -> str:
    """The session's broker, with the project's topics (``ase.alertes.v1`` among them) created by ``admin``."""
    await clients_kafka.creer_sujets(kafka_broker.bootstrap_servers, partitions=3, replication=1)
    return kafka_broker.bootstrap_servers


def alerte(parcours_id: UUID, type_: str, statut: StatutAlerte = StatutAlerte.OUVERTE, minute: int = 0) -> Alerte:
    due = date(2027, 3, 1)
    instant = datetime(2027, 2, 1, 6, minute, tzinfo=UTC)
    return Alerte(
        alerte_id=identifiant_alerte(parcours_id, type_, "", due),
        parcours_id=parcours_id,
        departement="59",
        referent_id="referent-42",
        type=type_,
        due_le=due,
        mois_du=due.isoformat()[:7],
        alerte_le=due - timedelta(days=28),
        attendu="Établir le projet pour l'enfant",
        article="CASF L223-1-1",
        urgente=False,
        niveau=Niveau.REFERENT,
        statut=statut,
        lien=lien_dossier(parcours_id),
        levee_le=instant,
        modifiee_le=instant,
    )


async def ecrire(pool: asyncpg.Pool, changements: list[tuple[EvenementAlerte, Alerte]]) -> list[int]:
    """Write each change in a transaction of its own, as the engine and the scheduler do; their positions."""
    for evenement, a in changements:
        async with pool.acquire() as conn, conn.transaction():
            await sorties.ajouter(conn, evenement, a)
    async with pool.acquire() as conn:
        lignes = await conn.fetch(f"SELECT position FROM {sorties.SCHEMA}.sorties ORDER BY position")
    return [int(ligne["position"]) for ligne in lignes][-len(changements) :]


async def curseur(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        valeur = await conn.fetchval(
            f"SELECT position FROM {sorties.SCHEMA}.curseurs WHERE consommateur = $1", publication.CONSOMMATEUR
        )
    return int(valeur or 0)


def schema(nom: str) -> dict[str, Any]:
    contenu: dict[str, Any] = json.loads((SCHEMAS / f"{nom}.json").read_text("utf-8"))
    return contenu


def erreurs(nom_schema: str, valeur: Any) -> list[str]:
    validateur = jsonschema.Draft202012Validator(
        schema(nom_schema), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    return [e.message for e in validateur.iter_errors(valeur)]


@pytest.fixture
async def publicateur(pool: asyncpg.Pool, bootstrap: str) -> AsyncIterator[asyncio.Event]:
    """The publisher running as the ``notifications`` principal until the test ends; yields its wake-up."""
    arret, reveil = asyncio.Event(), asyncio.Event()
    tache = asyncio.create_task(
        publication.tourner(
            pool, bootstrap, arret, reveil=reveil, intervalle_s=0.2, identifiants=principal("notifications")
        )
    )
    yield reveil
    arret.set()
    await asyncio.wait_for(tache, timeout=30)


async def test_each_change_of_the_outbox_reaches_the_alerts_topic_keyed_by_parcours_with_its_cloudevents_headers(
    pool: asyncpg.Pool, bootstrap: str, publicateur: asyncio.Event
) -> None:
    p1, p2 = uuid.uuid4(), uuid.uuid4()
    ppe, rapport = alerte(p1, "ppe"), alerte(p2, "rapport")
    changements = [
        (EvenementAlerte.LEVEE, ppe),
        (EvenementAlerte.LEVEE, rapport),
        (EvenementAlerte.ACQUITTEE, alerte(p1, "ppe", StatutAlerte.ACQUITTEE, 1)),
        (EvenementAlerte.ESCALADEE, alerte(p2, "rapport", minute=2).model_copy(update={"niveau": Niveau.ENCADRANT})),
        (EvenementAlerte.CLOSE, alerte(p1, "ppe", StatutAlerte.CLOSE, 3)),
    ]
    positions = await ecrire(pool, changements)
    publicateur.set()
    nos_cles = {str(p1).encode(), str(p2).encode()}
    recus = await lire_jusqua(
        bootstrap, [TOPIC_ALERTES], lambda r: len(r) >= len(changements), filtre=lambda r: r.cle in nos_cles
    )
    assert len(recus) == len(changements)

    par_id = {r.entetes["ce_id"]: r for r in recus}
    for position, (evenement, a) in zip(positions, changements, strict=True):
        recu = par_id[identifiant_message(a.alerte_id, position)]
        type_ce = type_cloudevents(evenement)
        assert recu.cle == str(a.parcours_id).encode()
        assert recu.entetes["ce_specversion"] == "1.0"
        assert recu.entetes["ce_type"] == type_ce
        assert recu.entetes["ce_source"] == "/ase/59/notifications"
        assert recu.entetes["ce_subject"] == str(a.alerte_id)
        assert datetime.fromisoformat(recu.entetes["ce_time"]) == a.modifiee_le
        assert recu.entetes["ce_dataschema"] == url_schema(type_ce)
        assert recu.entetes["content-type"] == "application/json"
        assert erreurs("enveloppe_alertes", recu.entetes) == []
        assert recu.valeur is not None
        corps = json.loads(recu.valeur)
        assert erreurs(type_ce, corps) == []
        assert Alerte.model_validate(corps) == a
        assert not {"nom", "prenom", "date_naissance"} & set(corps)

    # One parcours, one partition: an alert's changes arrive in the outbox's order.
    for cle in nos_cles:
        du_parcours = [r for r in recus if r.cle == cle]
        assert len({r.partition for r in du_parcours}) == 1
        ordre = [r.entetes["ce_id"] for r in sorted(du_parcours, key=lambda r: r.offset)]
        attendu = [
            identifiant_message(a.alerte_id, p)
            for p, (_, a) in zip(positions, changements, strict=True)
            if str(a.parcours_id).encode() == cle
        ]
        assert ordre == attendu
    await _attendre_curseur(pool, positions[-1])


async def test_a_crash_after_the_ack_before_the_cursor_moves_sends_the_same_ids_again_and_loses_none(
    pool: asyncpg.Pool, bootstrap: str
) -> None:
    parcours = uuid.uuid4()
    premiers = [(EvenementAlerte.LEVEE, alerte(parcours, t)) for t in ("ppe", "rapport", "audience")]
    positions = await ecrire(pool, premiers)
    identifiants = principal("notifications")

    async def mourir(_position: int) -> None:
        raise Panne

    kafka = clients_kafka.producteur(bootstrap, client_id="test-panne", identifiants=identifiants)
    await kafka.start()
    try:
        with pytest.raises(Panne):
            await publication.publier_lot(pool, kafka, apres_acquittement=mourir)
    finally:
        await kafka.stop()
    assert await curseur(pool) == 0, "the transaction rolled back: the cursor did not move"

    # Restart, with two more changes written meanwhile.
    suivants = [(EvenementAlerte.CLOSE, alerte(parcours, t, StatutAlerte.CLOSE, 5)) for t in ("ppe", "rapport")]
    positions += await ecrire(pool, suivants)
    arret = asyncio.Event()
    tache = asyncio.create_task(
        publication.tourner(pool, bootstrap, arret, intervalle_s=0.2, identifiants=identifiants)
    )
    try:
        cle = str(parcours).encode()
        recus = await lire_jusqua(bootstrap, [TOPIC_ALERTES], lambda r: len(r) >= 8, filtre=lambda r: r.cle == cle)
        await _attendre_curseur(pool, positions[-1])
    finally:
        arret.set()
        await asyncio.wait_for(tache, timeout=30)

    attendus = [identifiant_message(a.alerte_id, p) for p, (_, a) in zip(positions, premiers + suivants, strict=True)]
    ids = [r.entetes["ce_id"] for r in sorted(recus, key=lambda r: r.offset)]
    assert len(ids) == 8
    # The first batch twice with the same ids (consumers deduplicate on ce_id), then the rest once.
    assert ids == attendus[:3] + attendus[:3] + attendus[3:]
    assert set(ids) == set(attendus), "none lost"
    deduplique = list(dict.fromkeys(ids))
    assert deduplique == attendus, "after deduplication: every change once, in order"


async def test_two_instances_one_publishes_the_other_skips_the_locked_cursor(
    pool: asyncpg.Pool, bootstrap: str
) -> None:
    parcours = uuid.uuid4()
    await ecrire(pool, [(EvenementAlerte.LEVEE, alerte(parcours, "ppe"))])
    kafka = clients_kafka.producteur(bootstrap, client_id="test-deux", identifiants=principal("notifications"))
    await kafka.start()
    try:
        assert await publication.publier_lot(pool, kafka) == 1  # the cursor's row now exists, committed
        await ecrire(pool, [(EvenementAlerte.CLOSE, alerte(parcours, "ppe", StatutAlerte.CLOSE, 1))])
        async with pool.acquire() as autre, autre.transaction():
            assert await sorties.lire(autre, publication.CONSOMMATEUR) is not None  # this one holds it
            assert await publication.publier_lot(pool, kafka) is None
        assert await publication.publier_lot(pool, kafka) == 1
        assert await publication.publier_lot(pool, kafka) == 0
    finally:
        await kafka.stop()
    assert await publication.en_attente(pool) == 0


async def test_the_alerts_topic_is_created_with_one_year_retention(bootstrap: str) -> None:
    admin = clients_kafka.administration(bootstrap, client_id="test-retention")
    await admin.start()
    try:
        reponse = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, TOPIC_ALERTES)])
    finally:
        await admin.close()
    reglages = {c[0]: c[1] for c in reponse[0].resources[0][4]}
    assert reglages["retention.ms"] == "31536000000"
    assert reglages["cleanup.policy"] == "delete"


async def test_the_notifications_principal_reads_parcours_and_identities_writes_only_the_alerts(bootstrap: str) -> None:
    notifications = principal("notifications")
    groupe = f"ase.notifications.test-{uuid.uuid4().hex}"
    for sujet in (TOPIC_PARCOURS, TOPIC_IDENTITES):  # identities: the birth dates of the age deadlines
        await _lire(bootstrap, notifications, sujet, groupe=groupe)
    for sujet in (TOPIC_RESTREINT, TOPIC_STATISTIQUES):
        erreur = await _refuse(lambda sujet=sujet: _lire(bootstrap, notifications, sujet))  # type: ignore[misc]
        assert isinstance(erreur, TopicAuthorizationFailedError), (sujet, erreur)
    erreur = await _refuse(lambda: _lire(bootstrap, notifications, TOPIC_PARCOURS, groupe="ase.projections.dossiers"))
    assert isinstance(erreur, GroupAuthorizationFailedError), erreur
    for sujet in (TOPIC_PARCOURS, TOPIC_IDENTITES):
        erreur = await _refuse(lambda sujet=sujet: _produire(bootstrap, notifications, sujet, b"{}"))  # type: ignore[misc]
        assert isinstance(erreur, ECRITURE_REFUSEE), (sujet, erreur)
    # And nobody else writes the alerts: the projections' principal is refused.
    erreur = await _refuse(lambda: _produire(bootstrap, principal("projections"), TOPIC_ALERTES, b"{}"))
    assert isinstance(erreur, TopicAuthorizationFailedError), erreur


async def _attendre_curseur(pool: asyncpg.Pool, position: int, delai_s: float = 30.0) -> None:
    """Poll the cursor until it reaches ``position`` (the batch acknowledged and committed)."""
    fin = asyncio.get_running_loop().time() + delai_s
    while (courant := await curseur(pool)) < position:
        if asyncio.get_running_loop().time() > fin:
            raise AssertionError(f"cursor at {courant}, expected {position}")
        await asyncio.sleep(0.05)
