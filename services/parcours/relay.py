"""The relay: from the event store's notification log to Kafka, in commit order.

The notification log is the outbox: every event has a commit-ordered id given
in its own transaction. The relay reads ids above its saved position (never
``position + 1``: a rolled-back transaction leaves a gap), publishes them with
an idempotent producer, and saves its position only once the broker has
acknowledged every message of the batch and of every batch before it.
Publication is therefore at-least-once and in stream order; ``ce_id`` lets
consumers drop a repeat. It is a pipeline (:meth:`Relais._publier_en_continu`):
batch N+1 is read and converted (in a conversion process, ``conversion_a_part``)
while batch N is sent and earlier ones wait for their acknowledgement.

One relay publishes at a time: it holds a PostgreSQL advisory lock on a
connection of its own. A standby polls the lock and takes over as soon as the
holder's session ends (a killed process closes its connection).

The lock, the saved position and ``envoi_depuis`` (since when the oldest batch sent
and not yet acknowledged waits for Kafka's acknowledgement) are what others watch (``services/runtime/relais.py``:
the projections' ``/readyz`` fails when no relay holds the lock, it falls behind, or
its batch waits longer than ``ATTENTE_ACQUITTEMENT_MAX_S``); the relay itself serves
``/healthz``, ``/readyz`` and its metrics (:func:`application_http`) when ``ase relay
--port`` is given. Its ``/readyz`` fails too when a batch waits longer than that bound
(a broker down: the send blocks, nothing errs), and a watch task of its own measures
``ase_relais_retard`` from the store every ``surveillance_s``, independently of any send.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeAlias
from uuid import UUID

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner
from fastapi import FastAPI
from prometheus_client import Counter, Gauge

from contracts.enveloppe import TOPIC_RESTREINT
from contracts.publication import NOM_EFFACEMENT_IDENTITE, Message, nom_evenement, tombstone_restreint
from services.runtime import coffre
from services.runtime.http import REGISTRE, routeur_sante
from services.runtime.kafka import creer_sujets, producteur
from services.runtime.relais import (
    ATTENTE_ACQUITTEMENT_MAX_S,
    CLE_VERROU,
    NOM_RELAIS,
    TABLE_EVENEMENTS,
    TABLE_POSITION,
    RelaisBloque,
    etat_du_relais,
)

log = structlog.get_logger(__name__)

PUBLIES = Counter("ase_relais_evenements_publies_total", "Events acknowledged by Kafka", registry=REGISTRE)
POSITION = Gauge("ase_relais_position", "Last notification id acknowledged by Kafka", registry=REGISTRE)
RETARD = Gauge(
    "ase_relais_retard", "Notification ids recorded but not yet published (read from the store)", registry=REGISTRE
)
ATTENTE = Gauge(
    "ase_relais_attente_acquittement_secondes",
    "Seconds the batch being sent has waited for Kafka's acknowledgement (0: none in flight)",
    registry=REGISTRE,
)
TROUS = Counter(
    "ase_relais_trous_total", "Notification ids skipped by the log (rolled-back transactions)", registry=REGISTRE
)
ECHECS = Counter("ase_relais_echecs_total", "Failed publication attempts (retried)", registry=REGISTRE)
ACTIF = Gauge("ase_relais_actif", "1 while this relay holds the lock and publishes", registry=REGISTRE)

__all__ = ["CLE_VERROU", "ReglagesRelais", "Relais", "RelaisBloque", "RelaisEnErreur", "application_http"]


class RelaisEnErreur(RuntimeError):
    """The relay is not publishing nor standing by: starting, or backing off after a failure."""


@dataclass(frozen=True)
class ReglagesRelais:
    database_url: str
    kafka_bootstrap_servers: str
    table: str = TABLE_EVENEMENTS
    nom: str = NOM_RELAIS
    partitions: int = 3
    replication: int = 1
    taille_lot: int = 500
    attente_max_s: float = 1.0
    """Polling fallback when no NOTIFY arrives."""
    prise_de_relais_s: float = 1.0
    """How often a standby tries the lock."""
    backoff_max_s: float = 10.0
    attente_acquittement_max_s: float = ATTENTE_ACQUITTEMENT_MAX_S
    """Beyond this wait for Kafka's acknowledgement of a batch, ``/readyz`` fails (:class:`RelaisBloque`)."""
    surveillance_s: float = 5.0
    """How often the watch task reads the lag from the store (``ase_relais_retard``)."""
    conversion_a_part: bool = True
    """Convert rows to records in a process of its own (a second core converts batch N+1 while this
    process sends batch N); False: in this process. The persons' data keys of a batch are passed to it
    (a child of the relay, on a pipe)."""
    lots_en_vol: int = 3
    """Batches handed to the producer and not yet acknowledged and saved, at most (the pipeline's depth:
    the reader reads and converts the next batch while these wait for Kafka)."""


class Relais:
    """Follows the notification log and publishes each event to Kafka."""

    def __init__(self, reglages: ReglagesRelais) -> None:
        self.reglages = reglages
        self._reveil = asyncio.Event()
        self.actif = asyncio.Event()
        """Set while this relay holds the lock (tests and probes wait on it)."""
        self.etat = "demarrage"
        """``demarrage``, ``en_attente`` (a standby, on the lock), ``actif`` or ``en_erreur`` (backing off)."""
        self._envoi_depuis: float | None = None
        """``time.monotonic()`` when the batch being sent was handed to the producer; None once acknowledged."""
        self.retard: int | None = None
        """The lag the watch task last read from the store (None before its first reading)."""
        self._executeur: ProcessPoolExecutor | None = None
        self._conversion_prete: Future[Any] | None = None
        self._conversion_locale = False
        """Set once the conversion process failed: this relay converts in its own process from then on."""
        """The conversion process (:attr:`ReglagesRelais.conversion_a_part`), while this relay holds the lock."""

    async def executer(self, arret: asyncio.Event) -> None:
        """Run until ``arret`` is set: take the lock, then publish; on failure, back off and retry."""
        attente = 0.5
        surveillance = asyncio.create_task(self._surveiller(arret))
        try:
            await self._executer(arret, attente)
        finally:
            self._arreter_conversion()
            surveillance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await surveillance

    def _demarrer_conversion(self) -> None:
        """The conversion process (one, spawned: nothing of this process's state but what it is sent),
        when the settings ask for one and none runs."""
        if not self.reglages.conversion_a_part or self._conversion_locale or self._executeur is not None:
            return
        if multiprocessing.current_process().daemon:
            # A daemonic process (a relay run by a test or a benchmark as a child) may not have children.
            log.info("relais_conversion_dans_le_processus", raison="processus_demon")
            return
        self._executeur = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_suivre_le_parent,
            initargs=(os.getpid(),),
        )
        # Started now, its imports done while a standby waits on the lock (or while Kafka starts).
        self._conversion_prete = self._executeur.submit(convertir_lignes, [], {})

    def _arreter_conversion(self) -> None:
        if self._executeur is not None:
            self._executeur.shutdown(wait=False, cancel_futures=True)
            self._executeur = self._conversion_prete = None

    async def _executer(self, arret: asyncio.Event, attente: float) -> None:
        while not arret.is_set():
            try:
                await self._session(arret)
                attente = 0.5
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, KafkaError, BrokenProcessPool) as exc:
                if isinstance(exc, BrokenProcessPool):
                    # The conversion process died or could not start (a main module that is not import-safe):
                    # convert in this process from now on rather than fail again.
                    self._arreter_conversion()
                    self._conversion_locale = True
                self.etat = "en_erreur"
                ECHECS.inc()
                log.warning("relais_en_erreur", erreur=type(exc).__name__, detail=str(exc)[:300], reprise_s=attente)
                await _attendre(arret, attente)
                attente = min(attente * 2, self.reglages.backoff_max_s)
            finally:
                self.actif.clear()
                self._envoi_depuis = None
                ACTIF.set(0)

    async def _surveiller(self, arret: asyncio.Event) -> None:
        """Every ``surveillance_s``, read the lag from the store (its last id minus the saved position)
        on a connection of its own, whatever the publishing loop is blocked on."""
        conn: asyncpg.Connection | None = None
        try:
            while not arret.is_set():
                try:
                    if conn is None or conn.is_closed():
                        conn = await asyncpg.connect(self.reglages.database_url)
                    etat = await etat_du_relais(conn, nom=self.reglages.nom, table=self.reglages.table)
                    self.retard = etat.retard
                    RETARD.set(etat.retard)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("relais_surveillance_en_erreur", erreur=type(exc).__name__)
                    if conn is not None:
                        with contextlib.suppress(Exception):
                            await conn.close()
                    conn = None
                ATTENTE.set(self.attente_acquittement_s() or 0.0)
                await _attendre(arret, self.reglages.surveillance_s)
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()

    def attente_acquittement_s(self) -> float | None:
        """Seconds the batch being sent has waited for Kafka's acknowledgement; None when none is in flight."""
        return None if self._envoi_depuis is None else time.monotonic() - self._envoi_depuis

    async def _session(self, arret: asyncio.Event) -> None:
        verrou = await asyncpg.connect(self.reglages.database_url)
        try:
            self.etat = "en_attente"
            self._demarrer_conversion()
            while not await verrou.fetchval("SELECT pg_try_advisory_lock($1)", CLE_VERROU):
                log.debug("relais_en_attente_du_verrou")
                if await _attendre(arret, self.reglages.prise_de_relais_s):
                    return
            self.etat = "demarrage"  # the lock is ours, Kafka not yet: not ready
            log.info("relais_actif", nom=self.reglages.nom)
            # Losing the last saved position in a crash only republishes one batch,
            # which at-least-once delivery already allows: no need to wait for the disk.
            await verrou.execute("SET synchronous_commit = off")
            await self._preparer(verrou)
            await verrou.add_listener(self.reglages.table, self._notifie)
            kafka = producteur(self.reglages.kafka_bootstrap_servers, client_id=f"ase-relais-{self.reglages.nom}")
            await creer_sujets(
                self.reglages.kafka_bootstrap_servers,
                partitions=self.reglages.partitions,
                replication=self.reglages.replication,
            )
            try:
                await kafka.start()
                if self._conversion_prete is not None:
                    await asyncio.wrap_future(self._conversion_prete)  # BrokenProcessPool if it could not start
                self.etat = "actif"
                self.actif.set()
                ACTIF.set(1)
                await self._publier_en_continu(verrou, kafka, arret)
            finally:
                await kafka.stop()
        finally:
            with contextlib.suppress(Exception):
                await verrou.close()

    async def verifier(self) -> None:
        """Readiness: publishing, or standing by on the lock; not while starting or backing off, nor while
        a batch has waited for Kafka's acknowledgement longer than ``attente_acquittement_max_s``
        (:class:`RelaisBloque`: the broker is down or unreachable and events pile up)."""
        if self.etat not in ("actif", "en_attente"):
            raise RelaisEnErreur(self.etat)
        attente = self.attente_acquittement_s()
        if attente is not None and attente > self.reglages.attente_acquittement_max_s:
            raise RelaisBloque(
                f"Kafka n'acquitte plus depuis {attente:.0f} s (maximum {self.reglages.attente_acquittement_max_s:.0f} s)"
            )

    async def _preparer(self, conn: asyncpg.Connection) -> None:
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE_POSITION} ("
            "nom text PRIMARY KEY, notification_id bigint NOT NULL, mis_a_jour_le timestamptz NOT NULL DEFAULT now())"
        )
        await conn.execute(f"ALTER TABLE {TABLE_POSITION} ADD COLUMN IF NOT EXISTS envoi_depuis timestamptz")
        await conn.execute(
            f"INSERT INTO {TABLE_POSITION} (nom, notification_id) VALUES ($1, 0) ON CONFLICT (nom) DO NOTHING",
            self.reglages.nom,
        )
        # A previous holder killed mid-send left its batch's start: this relay has sent nothing yet.
        await conn.execute(f"UPDATE {TABLE_POSITION} SET envoi_depuis = NULL WHERE nom = $1", self.reglages.nom)

    def _notifie(self, *_: Any) -> None:
        self._reveil.set()

    async def _publier_en_continu(
        self, conn: asyncpg.Connection, kafka: AIOKafkaProducer, arret: asyncio.Event
    ) -> None:
        """Publish in a pipeline: a reader reads, converts and hands batch N+1 to the producer while an
        acknowledger awaits Kafka's acknowledgement of batch N and saves its position.

        Kept from the one-batch-at-a-time loop: the producer gets every message in notification order
        (one reader, sends awaited in order: a stream's events reach its partition in order, the
        idempotent producer keeping them so across retries); positions are saved in batch order, each
        only once every message of its batch *and of every batch before it* is acknowledged (one
        acknowledger, batches taken in order); a failed send stops both (the session restarts from the
        saved position: at-least-once). At most ``lots_en_vol`` batches are handed over and not yet
        saved. Both share the lock's connection, one query at a time (``asyncio.Lock``).
        """
        position: int = await conn.fetchval(
            f"SELECT notification_id FROM {TABLE_POSITION} WHERE nom = $1", self.reglages.nom
        )
        POSITION.set(position)
        pipeline = _Pipeline(conn, asyncio.Lock(), position)
        lecteur = asyncio.create_task(self._lire_et_envoyer(pipeline, kafka, arret))
        acquitteur = asyncio.create_task(self._acquitter(pipeline))
        try:
            await asyncio.wait([lecteur, acquitteur], return_when=asyncio.FIRST_COMPLETED)
            if acquitteur.done():  # only by failing: it runs until the reader is done
                acquitteur.result()
            lecteur.result()  # stopped (arret) or failed
            pipeline.fini = True
            pipeline.signal.set()
            await acquitteur  # what was handed over is acknowledged and saved before stopping
        finally:
            for tache in (lecteur, acquitteur):
                tache.cancel()
            await asyncio.gather(lecteur, acquitteur, return_exceptions=True)

    async def _lire_et_envoyer(self, pipeline: _Pipeline, kafka: AIOKafkaProducer, arret: asyncio.Event) -> None:
        """The reader: read the batch after the last one read and start its conversion, then hand the
        batch before it (converted meanwhile) to the producer; so batch N+1 is converted while batch N
        is sent, and both while earlier batches wait for their acknowledgement."""
        requete = (
            f'SELECT notification_id, originator_id, originator_version, topic, state FROM "{self.reglages.table}" '
            "WHERE notification_id > $1 ORDER BY notification_id LIMIT $2"
        )
        lu = pipeline.position
        en_conversion: tuple[list[asyncpg.Record], int, asyncio.Task[list[Enregistrement]]] | None = None
        try:
            while True:
                lignes: list[asyncpg.Record] = []
                if not arret.is_set():
                    self._reveil.clear()
                    async with pipeline.verrou:
                        lignes = await pipeline.conn.fetch(requete, lu, self.reglages.taille_lot)
                suivant = None
                if lignes:
                    suivant = (lignes, lu, asyncio.create_task(self._convertir(pipeline, lignes)))
                    lu = int(lignes[-1]["notification_id"])
                if en_conversion is not None:
                    precedentes, debut, conversion = en_conversion
                    en_conversion = None
                    await self._remettre(pipeline, kafka, precedentes, debut, await conversion)
                en_conversion = suivant
                if en_conversion is None:
                    if arret.is_set():
                        return
                    if not pipeline.en_vol:
                        RETARD.set(0)
                    await _attendre(arret, self.reglages.attente_max_s, self._reveil)
        finally:
            if en_conversion is not None:
                en_conversion[2].cancel()

    async def _remettre(
        self,
        pipeline: _Pipeline,
        kafka: AIOKafkaProducer,
        lignes: list[asyncpg.Record],
        debut: int,
        enregistrements: list[Enregistrement],
    ) -> None:
        """Hand one converted batch to the producer, once fewer than ``lots_en_vol`` are in flight."""
        while len(pipeline.en_vol) >= self.reglages.lots_en_vol:
            pipeline.place.clear()
            await pipeline.place.wait()
        lot = _Lot(lignes=lignes, debut=debut, depuis=time.monotonic())
        async with pipeline.verrou:
            pipeline.en_vol.append(lot)
            if len(pipeline.en_vol) == 1:
                # Others see since when the oldest batch not acknowledged waits (services/runtime/relais.py).
                self._envoi_depuis = lot.depuis
                await pipeline.conn.execute(
                    f"UPDATE {TABLE_POSITION} SET envoi_depuis = now() WHERE nom = $1", self.reglages.nom
                )
        pipeline.signal.set()
        lot.envois = await self._envoyer(kafka, enregistrements)
        lot.envoye.set()

    async def _acquitter(self, pipeline: _Pipeline) -> None:
        """The acknowledger: in order, await each batch's acknowledgement, then save its position."""
        while True:
            if not pipeline.en_vol:
                if pipeline.fini:
                    return
                pipeline.signal.clear()
                await pipeline.signal.wait()
                continue
            lot = pipeline.en_vol[0]
            await lot.envoye.wait()
            await self._attendre_acquittements(lot.envois)
            self._compter_trous(lot.debut, lot.lignes)
            async with pipeline.verrou:
                pipeline.en_vol.popleft()
                suivant = pipeline.en_vol[0] if pipeline.en_vol else None
                self._envoi_depuis = suivant.depuis if suivant else None
                # Saved only now that the broker acknowledged this batch and every one before it.
                ok = await pipeline.conn.fetchval(
                    f"UPDATE {TABLE_POSITION} SET notification_id = $3, mis_a_jour_le = now(), "
                    "envoi_depuis = CASE WHEN $4::float8 IS NULL THEN NULL "
                    "ELSE clock_timestamp() - make_interval(secs => $4::float8) END "
                    "WHERE nom = $1 AND notification_id = $2 RETURNING true",
                    self.reglages.nom,
                    lot.debut,
                    lot.derniere,
                    None if suivant is None else time.monotonic() - suivant.depuis,
                )
                if not ok:
                    raise asyncpg.InterfaceError("relay position moved under us: another relay published")
                maximum = await pipeline.conn.fetchval(f'SELECT max(notification_id) FROM "{self.reglages.table}"')
            pipeline.place.set()
            pipeline.position = lot.derniere
            PUBLIES.inc(len(lot.lignes))
            POSITION.set(lot.derniere)
            RETARD.set(max(0, (maximum or 0) - lot.derniere))

    async def _convertir(self, pipeline: _Pipeline, lignes: list[asyncpg.Record]) -> list[Enregistrement]:
        """Every record of a batch, in the rows' order: each row's (a restricted record beside the public
        one), then, after an erasure, the tombstones of the person's restricted records. The persons'
        keys are read once for the batch; the rows are converted in the conversion process when there
        is one (:attr:`ReglagesRelais.conversion_a_part`), here otherwise."""
        async with pipeline.verrou:
            cles = await coffre.cles_async(
                pipeline.conn, coffre.personnes_des_etats(bytes(ligne["state"]) for ligne in lignes)
            )
        if self._executeur is not None:
            par_ligne = await asyncio.get_running_loop().run_in_executor(
                self._executeur,
                convertir_lignes,
                [
                    (ligne["originator_id"].bytes, ligne["originator_version"], ligne["topic"], bytes(ligne["state"]))
                    for ligne in lignes
                ],
                cles,
            )
        else:
            par_ligne = [[_enregistrement(m) for m in self._messages(ligne, cles)] for ligne in lignes]
        enregistrements: list[Enregistrement] = []
        for ligne, de_la_ligne in zip(lignes, par_ligne, strict=True):
            enregistrements += de_la_ligne
            if nom_evenement(ligne["topic"]) == NOM_EFFACEMENT_IDENTITE:
                async with pipeline.verrou:
                    tombstones = await self._tombstones_restreints(
                        pipeline.conn, ligne["originator_id"], ligne["notification_id"]
                    )
                enregistrements += map(_enregistrement, tombstones)
        return enregistrements

    async def _envoyer(
        self, kafka: AIOKafkaProducer, enregistrements: list[Enregistrement]
    ) -> list[asyncio.Future[Any]]:
        """Hand ``enregistrements`` (topic, key, value, headers) to the producer, in order; their
        acknowledgements to come.

        Each goes to the partition the producer's default partitioner gives its key (murmur2 of the key
        modulo the topic's partitions, as the Java client), computed once per key and partition count
        (:func:`_partition_de`) rather than by the producer for every record: a stream's events share
        their key, hence their partition; the placement, and the order per key, are the producer's own.
        """
        partitions: dict[str, tuple[int, ...]] = {}
        envois = []
        for topic, cle, valeur, entetes in enregistrements:
            if (liste := partitions.get(topic)) is None:
                liste = partitions[topic] = tuple(sorted(await kafka.partitions_for(topic)))
            envois.append(
                await kafka.send(topic, key=cle, value=valeur, headers=entetes, partition=_partition_de(cle, liste))
            )
        return envois

    async def _attendre_acquittements(self, envois: list[asyncio.Future[Any]]) -> None:
        """Wait for Kafka's acknowledgement of every message of a batch (raises its first failure)."""
        await asyncio.gather(*envois)

    async def _tombstones_restreints(self, conn: asyncpg.Connection, personne_id: UUID, jusqua: int) -> list[Message]:
        """A tombstone for each restricted record of the erased person ``personne_id``'s parcours
        recorded before her erasure (notification id below ``jusqua``): compaction then removes
        her court references and exact dates from ``ase.parcours.restreint.v1`` (issue 9).

        Her parcours are the streams whose ``ParcoursOuvert`` names her (as ``_parcours_de`` in
        ``persistence.py``); a version had a restricted record when its state held encrypted fields
        (her key is gone: they can no longer be recomputed) or when its erased form still has one.
        """
        table = self.reglages.table
        aiguille = b'"personne_id":"' + str(personne_id).encode() + b'"'
        lignes = await conn.fetch(
            f'SELECT originator_id, originator_version, topic, state FROM "{table}" WHERE notification_id < $2 '
            f'AND originator_id IN (SELECT originator_id FROM "{table}" WHERE originator_version = 1 '
            "AND topic LIKE '%:ParcoursOuvert' AND position($1::bytea in state) > 0) "
            "ORDER BY notification_id",
            aiguille,
            jusqua,
        )
        cles = await coffre.cles_async(conn, coffre.personnes_des_etats(bytes(ligne["state"]) for ligne in lignes))
        tombstones = []
        for ligne in lignes:
            flux_id, version = ligne["originator_id"], ligne["originator_version"]
            chiffre = coffre.est_chiffre(bytes(ligne["state"]))
            if chiffre or any(m.topic == TOPIC_RESTREINT for m in self._messages(ligne, cles)):
                tombstones.append(tombstone_restreint(flux_id, version))
        return tombstones

    def _messages(self, ligne: asyncpg.Record, cles: Mapping[UUID, bytes] | None = None) -> list[Message]:
        """Every record publishing one row of the log, made from its stored form (no domain object):
        its restricted record when it has one, then the public one.

        Its personal fields are decrypted first with ``cles`` (the persons' data keys): without
        its key (an erased person) a field is null, and an identity event becomes a tombstone.
        """
        flux_id, version = ligne["originator_id"], ligne["originator_version"]
        etat = coffre.dechiffrer_stocke(ligne["state"], cles or {}, flux_id=flux_id, version=version)
        return coffre.messages_dechiffres(flux_id, version, ligne["topic"], etat)

    def _compter_trous(self, position: int, lignes: list[asyncpg.Record]) -> None:
        precedent = position
        for ligne in lignes:
            identifiant = int(ligne["notification_id"])
            if identifiant > precedent + 1:
                TROUS.inc(identifiant - precedent - 1)
                log.info("relais_trou_dans_le_journal", apres=precedent, avant=identifiant)
            precedent = identifiant


Enregistrement: TypeAlias = tuple[str, bytes, bytes | None, list[tuple[str, bytes]]]
"""One Kafka record as the producer takes it: topic, key, value (None: a tombstone), headers."""


def _enregistrement(message: Message) -> Enregistrement:
    return (message.topic, message.cle, message.valeur, message.entetes)


def convertir_lignes(
    lignes: list[tuple[bytes, int, str, bytes]], cles: Mapping[UUID, bytes]
) -> list[list[Enregistrement]]:
    """The records of stored rows (stream id as 16 bytes, version, ``topic`` column, ``state`` column),
    row by row, decrypted with ``cles``: what :meth:`Relais._messages` gives, as plain tuples (cheap to
    pass between processes). Runs in the relay's conversion process."""
    par_ligne = []
    for octets, version, classe, etat in lignes:
        flux_id = UUID(bytes=octets)
        clair = coffre.dechiffrer_stocke(etat, cles, flux_id=flux_id, version=version)
        par_ligne.append([_enregistrement(m) for m in coffre.messages_dechiffres(flux_id, version, classe, clair)])
    return par_ligne


def _suivre_le_parent(parent: int) -> None:
    """In the conversion process: exit as soon as the relay that started it is gone (a killed relay runs
    no shutdown code, and an orphan would wait on its queue for ever)."""

    def surveiller() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=surveiller, name="relais-parent", daemon=True).start()


@lru_cache(maxsize=16384)
def _partition_de(cle: bytes, partitions: tuple[int, ...]) -> int:
    """The partition aiokafka's ``DefaultPartitioner`` (the producer's: ``services/runtime/kafka.producteur``
    sets none other) gives a record keyed ``cle`` on a topic of ``partitions`` (sorted)."""
    return int(DefaultPartitioner()(cle, list(partitions), list(partitions)))


@dataclass(eq=False)
class _Lot:
    """A batch handed to the producer and not yet saved."""

    lignes: list[asyncpg.Record]
    debut: int
    """The position before it (the last id of the batch before, or the saved position)."""
    depuis: float
    """``time.monotonic()`` when its sends began."""
    envois: list[asyncio.Future[Any]] = field(default_factory=list)
    envoye: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once every message is handed to the producer (``envois`` complete)."""

    @property
    def derniere(self) -> int:
        return int(self.lignes[-1]["notification_id"])


@dataclass(eq=False)
class _Pipeline:
    """What the reader and the acknowledger of one session share."""

    conn: asyncpg.Connection
    verrou: asyncio.Lock
    """One query at a time on ``conn``."""
    position: int
    """The last saved position."""
    en_vol: deque[_Lot] = field(default_factory=deque)
    """Batches handed over (or being handed over) and not yet saved, oldest first."""
    signal: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a batch joins ``en_vol`` or the reader is done."""
    place: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a batch leaves ``en_vol``."""
    fini: bool = False
    """The reader is done: the acknowledger stops once ``en_vol`` is empty."""


def application_http(relais: Relais) -> FastAPI:
    """``/healthz``, ``/readyz`` (publishing or standing by) and ``/metrics`` (``ase_relais_*``) of one relay."""
    app = FastAPI(title="Parcours ASE — relais", openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(routeur_sante({"relais": relais.verifier}))
    return app


async def _attendre(arret: asyncio.Event, secondes: float, reveil: asyncio.Event | None = None) -> bool:
    """Wait ``secondes``, or less if stopped or woken; return whether stopped."""
    attentes = [asyncio.ensure_future(arret.wait())]
    if reveil is not None:
        attentes.append(asyncio.ensure_future(reveil.wait()))
    _, en_cours = await asyncio.wait(attentes, timeout=secondes, return_when=asyncio.FIRST_COMPLETED)
    for tache in en_cours:
        tache.cancel()
    return arret.is_set()
