"""The relay, beside a bare producer: throughput from the store to Kafka, and
end-to-end latency from a command's commit to a consumer.

1. ``debit``: ``ase_events`` is pre-filled through ``ParcoursApplication``
   (``PARCOURS_DEBIT`` parcours of ``EVENEMENTS_PAR_PARCOURS`` events, two
   commits each). A relay from position 0, in this process, is timed from the
   moment it holds the lock (producer started, topics there) until its
   ``ase_relais_evenements_publies_total`` has grown by every row: the last
   batch is then acknowledged by Kafka and its position saved. The baseline is
   a bare aiokafka producer built by the same ``producteur()``, sending the
   same records (keys, values, headers, precomputed from the same rows) to
   topics of the same layout (``bench.brut.*``: same partitions and settings),
   in the same batches: ``taille_lot`` sends, await their acks, next. After a
   warm-up send, the two alternate ``REPETITIONS`` times (the relay's position
   reset to 0 each time); medians are compared.
2. ``latence``: the relay runs in its own process, built as ``ase relay``
   builds it (default settings: woken by NOTIFY, polling every second); a
   generator process calls ``ParcoursApplication.commander`` (one
   ``RapportSituationProduit`` per command, no HTTP) from a thread pool, on an
   open-loop schedule of ``CADENCE_CMD_S`` commands/s; commit time = when the
   call returned. A consumer in this process (its own group, from the end of
   the parcours topic) stamps each record on receipt; latency = receipt -
   commit, matched on (``ce_subject``, ``ce_sequence``). Times are
   ``CLOCK_MONOTONIC``, one clock for the processes of a machine.

In both, the relay is the service's ``Relais`` with a stopwatch on the steps of
its loop (``_RelaisChronometre``; behaviour unchanged), to show where its time
goes. Everything runs on 127.0.0.1: an embedded PostgreSQL and a local Kafka
broker, started and stopped here.
"""

from __future__ import annotations

import asyncio
import cProfile
import multiprocessing
import os
import platform
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import NewTopic

from benchmarks import scenario as s
from benchmarks.mesures import PicRss, centile, cpu_de, enfants_de, rss_mo
from benchmarks.postgres_jetable import PostgresJetable, postgres_jetable
from contracts.enveloppe import TOPIC_IDENTITES, TOPIC_PARCOURS
from contracts.vocabulaire import Danger, OrigineIP
from services.parcours import commandes as c
from services.parcours.application import Demande, ParcoursApplication, empreinte_de
from services.parcours.domain.contexte import Contexte
from services.parcours.domain.parcours import Parcours
from services.parcours.publication import Message
from services.parcours.relay import ReglagesRelais, Relais
from services.runtime import coffre
from services.runtime import kafka as clients_kafka
from services.runtime.http import REGISTRE
from services.runtime.kafka import SUJETS, creer_sujets, producteur
from services.runtime.kafka_local import LocalKafkaBroker
from services.runtime.postgres import env_eventsourcing

NOM = "relais"

PARTITIONS = 3
TAILLE_LOT = ReglagesRelais(database_url="", kafka_bootstrap_servers="").taille_lot
PARCOURS_DEBIT = int(os.environ.get("ASE_BENCH_RELAIS_PARCOURS", "2000"))
"""Override with ``ASE_BENCH_RELAIS_PARCOURS`` for a short development run (``make bench`` uses 2000)."""
EVENEMENTS_PAR_PARCOURS = 10
"""ParcoursOuvert + IdentiteEnregistree (one commit), then an IP, a PPE and six reports (one commit)."""
REPETITIONS = 3
CIBLE_RATIO = 0.8
"""Issue 11's target: the relay at least this fraction of the bare producer's throughput."""
PROFIL = os.environ.get("ASE_BENCH_RELAIS_PROFIL")
"""When set, a file where the relay's throughput runs (this process, while the relay publishes) leave a
cProfile dump (``python -m pstats``); the figures are then slower than without."""
PREFIXE_BRUT = "bench.brut."

CADENCE_CMD_S = 100
DUREE_LATENCE_S = int(os.environ.get("ASE_BENCH_RELAIS_LATENCE_S", "25"))
"""Override with ``ASE_BENCH_RELAIS_LATENCE_S`` for a short development run."""
PARCOURS_LATENCE = 250
"""Commands go round these parcours: each gets one every 2.5 s, so no two commands race on a stream."""
THREADS = s.TAILLE_POOL
ECHAUFFEMENT_COMMANDES = 50
DELAI_RECEPTION_S = 30.0


# -- writing events through the application ---------------------------------------


def _demande(chemin: str, corps: bytes) -> Demande:
    request_id = uuid.uuid4().hex
    return Demande(
        sub=s.AUTEUR,
        departements=frozenset({s.DEPARTEMENT}),
        correlation_id=request_id,
        causation_id=request_id,
        empreinte=empreinte_de("POST", chemin, corps),
    )


_OUVERTURE = c.OuvrirParcours.model_validate_json(s.CORPS_OUVERTURE)


def _application(url: str) -> ParcoursApplication:
    return ParcoursApplication(env=env_eventsourcing(url, taille_pool=THREADS), horloge=s.horloge())


def _ouvrir(application: ParcoursApplication) -> UUID:
    reponse = application.ouvrir_parcours(_OUVERTURE, _demande("/v1/parcours", s.CORPS_OUVERTURE))
    return UUID(reponse.corps["id"])


def _suivi(parcours: Parcours, ctx: Contexte) -> None:
    parcours.recevoir_information_preoccupante(
        ctx, origine=OrigineIP.EDUCATION_NATIONALE, dangers=[Danger.NEGLIGENCES], date_effet=s.DATE_RAPPORT
    )
    parcours.etablir_ppe(ctx, date_effet=s.DATE_RAPPORT)
    for _ in range(EVENEMENTS_PAR_PARCOURS - 4):
        parcours.produire_rapport(ctx, transmis_au_juge=True, date_effet=s.DATE_RAPPORT)


def _preremplir(url: str, nombre: int) -> float:
    """Write ``nombre`` parcours of ``EVENEMENTS_PAR_PARCOURS`` events each; return the seconds it took."""
    application = _application(url)

    def histoire(_: int) -> None:
        parcours_id = _ouvrir(application)
        application.commander(parcours_id, _demande(f"/v1/parcours/{parcours_id}/suivi", b""), _suivi)

    debut = time.perf_counter()
    try:
        with ThreadPoolExecutor(THREADS) as executeur:
            list(executeur.map(histoire, range(nombre)))
    finally:
        application.close()
    return time.perf_counter() - debut


def _rapport(application: ParcoursApplication, parcours_id: UUID) -> int:
    """One report on one parcours; the version of the event it committed."""
    reponse = application.commander(
        parcours_id,
        _demande(f"/v1/parcours/{parcours_id}/rapports", s.CORPS_RAPPORT),
        lambda p, ctx: p.produire_rapport(ctx, transmis_au_juge=True, date_effet=s.DATE_RAPPORT),
    )
    return int(reponse.corps["version"])


# -- the relay, with a stopwatch ----------------------------------------------------

ETAPES = ("lecture", "conversion", "envoi", "attente_acks", "sauvegarde_position", "requete_retard")
"""The relay's steps. Its reader (lecture, conversion: wall time waiting for the conversion process, or
converting here; envoi: handing records to the producer) and its
acknowledger (attente_acks, sauvegarde_position, requete_retard) run side by side: the time of the steps
adds up to more than the wall time, and ``attente_acks`` is mostly time the reader used."""


class _ConnexionChronometree:
    """The relay's connection, timing each query by the step it serves."""

    def __init__(self, conn: asyncpg.Connection, temps: dict[str, float]) -> None:
        self._conn = conn
        self._temps = temps

    def __getattr__(self, nom: str) -> Any:
        return getattr(self._conn, nom)

    async def fetch(self, requete: str, *args: Any) -> list[asyncpg.Record]:
        debut = time.perf_counter()
        lignes: list[asyncpg.Record] = await self._conn.fetch(requete, *args)
        self._temps["lecture"] += time.perf_counter() - debut
        return lignes

    async def fetchval(self, requete: str, *args: Any) -> Any:
        debut = time.perf_counter()
        valeur = await self._conn.fetchval(requete, *args)
        if requete.startswith("UPDATE relais_position"):
            self._temps["sauvegarde_position"] += time.perf_counter() - debut
        elif "max(notification_id)" in requete:
            self._temps["requete_retard"] += time.perf_counter() - debut
        return valeur


class _RelaisChronometre(Relais):
    """The service's relay, unchanged, with the time of each step of its loop added up."""

    def __init__(self, reglages: ReglagesRelais) -> None:
        super().__init__(reglages)
        self.temps = dict.fromkeys(ETAPES, 0.0)
        self.lots = 0
        self.evenements = 0

    def pids_conversion(self) -> list[int]:
        """The conversion process's pid, when there is one (benchmark only: the executor's own table)."""
        return list(getattr(self._executeur, "_processes", None) or {})

    def remettre_a_zero(self) -> None:
        self.temps.update(dict.fromkeys(ETAPES, 0.0))  # in place: the timed connection holds this dict
        self.lots = 0
        self.evenements = 0

    def etapes(self) -> dict[str, Any]:
        """Seconds per step, batches, events per batch."""
        temps = dict(self.temps)
        return {
            "s": {k: round(v, 3) for k, v in temps.items()},
            "lots": self.lots,
            "evenements_par_lot": round(self.evenements / max(self.lots, 1), 1),
            "ms_par_lot": {k: round(v / max(self.lots, 1) * 1000, 2) for k, v in temps.items()},
        }

    async def _publier_en_continu(
        self, conn: asyncpg.Connection, kafka: AIOKafkaProducer, arret: asyncio.Event
    ) -> None:
        chronometree = cast(asyncpg.Connection, _ConnexionChronometree(conn, self.temps))
        await super()._publier_en_continu(chronometree, kafka, arret)

    async def _envoyer(self, kafka: AIOKafkaProducer, enregistrements: list[Any]) -> list[asyncio.Future[Any]]:
        debut = time.perf_counter()
        envois = await super()._envoyer(kafka, enregistrements)
        self.temps["envoi"] += time.perf_counter() - debut
        return envois

    async def _attendre_acquittements(self, envois: list[asyncio.Future[Any]]) -> None:
        debut = time.perf_counter()
        await super()._attendre_acquittements(envois)
        self.temps["attente_acks"] += time.perf_counter() - debut

    async def _convertir(self, pipeline: Any, lignes: list[asyncpg.Record]) -> list[Any]:
        # The persons' keys are read here too (counted in "lecture" as well, by the timed connection).
        debut = time.perf_counter()
        enregistrements = await super()._convertir(pipeline, lignes)
        self.temps["conversion"] += time.perf_counter() - debut
        self.lots += 1
        self.evenements += len(lignes)
        return enregistrements


# -- 1. throughput ----------------------------------------------------------------


async def _messages(url: str, lignes: list[asyncpg.Record]) -> list[Message]:
    """The records the relay makes of these rows, decrypted with their persons' keys (the shared conversion)."""
    conn = await asyncpg.connect(url)
    try:
        return await coffre.messages_des_lignes(conn, lignes)
    finally:
        await conn.close()


async def _lignes(url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        lignes: list[asyncpg.Record] = await conn.fetch(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM ase_events "
            "ORDER BY notification_id"
        )
        # Autovacuum would otherwise analyse the fresh table in the middle of a measure.
        await conn.execute("VACUUM ANALYZE ase_events")
        return lignes
    finally:
        await conn.close()


async def _creer_sujets_bruts(bootstrap: str) -> None:
    """The baseline's topics: the project's, prefixed, with the same partitions and settings."""
    admin = clients_kafka.administration(bootstrap, client_id="bench-admin")
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(
                    name=PREFIXE_BRUT + sujet.nom,
                    num_partitions=PARTITIONS,
                    replication_factor=1,
                    topic_configs=sujet.reglages,
                )
                for sujet in SUJETS
            ]
        )
    finally:
        await admin.close()


async def _producteur_nu(bootstrap: str, messages: list[Message], pids_kafka: list[int]) -> dict[str, Any]:
    """Send ``messages`` as the relay does, without the store: ``TAILLE_LOT`` sends, await their acks, next."""
    kafka = producteur(bootstrap, client_id="bench-producteur-nu")
    await kafka.start()
    try:
        cpu, cpu_kafka = time.process_time(), cpu_de(pids_kafka)
        debut = time.perf_counter()
        for i in range(0, len(messages), TAILLE_LOT):
            envois = [
                await kafka.send(PREFIXE_BRUT + m.topic, key=m.cle, value=m.valeur, headers=m.entetes)
                for m in messages[i : i + TAILLE_LOT]
            ]
            await asyncio.gather(*envois)
        duree = time.perf_counter() - debut
        return _debit_de(len(messages), duree, time.process_time() - cpu, cpu_de(pids_kafka) - cpu_kafka)
    finally:
        await kafka.stop()


def _debit_de(n: int, duree: float, cpu: float, cpu_kafka: float) -> dict[str, Any]:
    return {
        "duree_s": round(duree, 3),
        "debit_evt_s": round(n / duree),
        "us_cpu_par_evenement": round(cpu / n * 1e6, 1),
        "cpu_kafka_s": round(cpu_kafka, 2),
    }


def _publies() -> float:
    return REGISTRE.get_sample_value("ase_relais_evenements_publies_total") or 0.0


async def _relais_depuis_zero(url: str, bootstrap: str, n: int, pids_kafka: list[int]) -> dict[str, Any]:
    """The relay from position 0, timed from holding the lock until ``n`` events are acknowledged and saved."""
    conn = await asyncpg.connect(url)
    try:
        if await conn.fetchval("SELECT to_regclass('relais_position') IS NOT NULL"):
            await conn.execute("UPDATE relais_position SET notification_id = 0")
    finally:
        await conn.close()
    relais = _RelaisChronometre(
        ReglagesRelais(
            database_url=url, kafka_bootstrap_servers=bootstrap, partitions=PARTITIONS, taille_lot=TAILLE_LOT
        )
    )
    arret = asyncio.Event()
    deja = _publies()  # counted after a batch's acks, once its position is saved
    lance = time.perf_counter()
    tache = asyncio.create_task(relais.executer(arret))
    try:
        await asyncio.wait_for(relais.actif.wait(), timeout=60)
        profil = cProfile.Profile() if PROFIL else None
        conversion = relais.pids_conversion()
        cpu, cpu_kafka, cpu_conversion = time.process_time(), cpu_de(pids_kafka), cpu_de(conversion)
        debut = time.perf_counter()
        if profil:
            profil.enable()
        while _publies() - deja < n:
            if tache.done():
                tache.result()
                raise RuntimeError("le relais s'est arrêté avant d'avoir tout publié")
            await asyncio.sleep(0.002)
        duree = time.perf_counter() - debut
        if profil and PROFIL:
            profil.disable()
            profil.dump_stats(PROFIL)
        cpu_conversion = cpu_de(conversion) - cpu_conversion
        # The relay's CPU: this process's and its conversion process's.
        resultat = _debit_de(n, duree, time.process_time() - cpu + cpu_conversion, cpu_de(pids_kafka) - cpu_kafka)
        resultat["cpu_processus_conversion_s"] = round(cpu_conversion, 3)
        resultat["demarrage_s"] = round(debut - lance, 3)
        resultat["etapes"] = relais.etapes()
    finally:
        arret.set()
        await asyncio.wait_for(tache, timeout=30)
    return resultat


async def _compter(bootstrap: str, topics: list[str]) -> int:
    """Records on ``topics`` (sum of partition end offsets)."""
    consommateur = clients_kafka.consommateur(bootstrap=bootstrap, enable_auto_commit=False)
    await consommateur.start()
    try:
        # Created here with PARTITIONS partitions (a fresh consumer's partitions_for_topic() knows none).
        partitions = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
        return sum((await consommateur.end_offsets(partitions)).values())
    finally:
        await consommateur.stop()


def _median(mesures: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median throughput."""
    return sorted(mesures, key=lambda m: m["debit_evt_s"])[len(mesures) // 2]


async def _debit(pg: PostgresJetable, bootstrap: str, pids_kafka: list[int]) -> dict[str, Any]:
    url = pg.nouvelle_base("relais_debit")
    preremplissage = await asyncio.to_thread(_preremplir, url, PARCOURS_DEBIT)
    lignes = await _lignes(url)
    n = len(lignes)
    messages = await _messages(url, lignes)
    await creer_sujets(bootstrap, partitions=PARTITIONS, replication=1)
    await _creer_sujets_bruts(bootstrap)
    await asyncio.to_thread(pg.checkpoint)

    await _producteur_nu(bootstrap, messages, pids_kafka)  # warm-up: the broker's JIT, first segments, metadata
    bruts, relais = [], []
    for _ in range(REPETITIONS):
        bruts.append(await _producteur_nu(bootstrap, messages, pids_kafka))
        relais.append(await _relais_depuis_zero(url, bootstrap, n, pids_kafka))

    publies = await _compter(bootstrap, [TOPIC_PARCOURS, TOPIC_IDENTITES])
    envoyes = await _compter(bootstrap, [PREFIXE_BRUT + TOPIC_PARCOURS, PREFIXE_BRUT + TOPIC_IDENTITES])
    if publies != REPETITIONS * n or envoyes != (REPETITIONS + 1) * n or int(lignes[-1]["notification_id"]) != n:
        raise AssertionError(f"{n} lignes, {publies} publiés par le relais, {envoyes} par le producteur nu")
    relais_median, brut_median = _median(relais), _median(bruts)
    return {
        "evenements": n,
        "octets_par_evenement": {
            "valeur": round(sum(len(m.valeur or b"") for m in messages) / n),
            "entetes": round(sum(len(k) + len(v) for m in messages for k, v in m.entetes) / n),
        },
        "preremplissage_s": round(preremplissage, 1),
        "relais": relais_median,
        "producteur_nu": brut_median,
        "ratio_relais_sur_nu": round(relais_median["debit_evt_s"] / brut_median["debit_evt_s"], 3),
        "cible_ratio": CIBLE_RATIO,
        "repetitions": {
            "relais_evt_s": [m["debit_evt_s"] for m in relais],
            "producteur_nu_evt_s": [m["debit_evt_s"] for m in bruts],
        },
    }


# -- 2. latency -------------------------------------------------------------------

Commit = tuple[str, int, float, float, float, float]
"""(stream, version, scheduled, started, committed monotonic, committed wall clock)."""
Recu = tuple[float, float, int]
"""(received monotonic, received wall clock, record timestamp in ms)."""


def _relais_enfant(url: str, bootstrap: str, canal: Connection) -> None:
    """Child process: the relay with ``ase relay``'s settings; says "actif", then obeys "zero" and "stop"."""
    from services.runtime import logs

    logs.configurer("WARNING")

    async def principal() -> dict[str, Any]:
        relais = _RelaisChronometre(
            ReglagesRelais(database_url=url, kafka_bootstrap_servers=bootstrap, partitions=PARTITIONS)
        )
        arret = asyncio.Event()
        boucle = asyncio.get_running_loop()

        def ecouter() -> None:
            while (ordre := canal.recv()) != "stop":
                if ordre == "zero":
                    boucle.call_soon_threadsafe(relais.remettre_a_zero)
            boucle.call_soon_threadsafe(arret.set)

        threading.Thread(target=ecouter, daemon=True).start()
        tache = asyncio.create_task(relais.executer(arret))
        await relais.actif.wait()
        canal.send("actif")
        await tache
        return relais.etapes()

    canal.send(("fait", asyncio.run(principal())))


def _generateur(url: str, ids: list[str], canal: Connection) -> None:
    """Child process: warm up, say "pret", then run the open-loop schedule from the start time received."""
    from services.runtime import logs

    logs.configurer("WARNING")
    application = _application(url)
    flux = [UUID(i) for i in ids]
    try:
        for i in range(ECHAUFFEMENT_COMMANDES):
            _rapport(application, flux[i % len(flux)])
        canal.send("pret")
        t0: float = canal.recv()

        def commande(i: int, prevu: float) -> Commit:
            debut = time.monotonic()
            version = _rapport(application, flux[i % len(flux)])
            return str(flux[i % len(flux)]), version, prevu, debut, time.monotonic(), time.time()

        cpu = time.process_time()
        with ThreadPoolExecutor(THREADS) as executeur:
            futurs = []
            for i in range(CADENCE_CMD_S * DUREE_LATENCE_S):
                prevu = t0 + i / CADENCE_CMD_S
                attente = prevu - time.monotonic()
                if attente > 0:
                    time.sleep(attente)
                futurs.append(executeur.submit(commande, i, prevu))
            commits = [f.result() for f in futurs]
        canal.send(("fait", commits, time.process_time() - cpu))
    except Exception as exc:
        canal.send(("erreur", repr(exc)))
    finally:
        application.close()


def _ouvrir_tous(url: str, nombre: int) -> list[str]:
    application = _application(url)
    try:
        return [str(_ouvrir(application)) for _ in range(nombre)]
    finally:
        application.close()


async def _position_sauvee(url: str, delai_s: float = 60.0) -> None:
    """Wait until the relay has saved the largest notification id as its position."""
    conn = await asyncpg.connect(url)
    try:
        cible = await conn.fetchval("SELECT max(notification_id) FROM ase_events")
        fin = time.monotonic() + delai_s
        while await conn.fetchval("SELECT notification_id FROM relais_position WHERE nom = 'parcours'") != cible:
            if time.monotonic() > fin:
                raise TimeoutError(f"le relais n'a pas atteint la position {cible}")
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


async def _consommateur_en_fin(bootstrap: str) -> AIOKafkaConsumer:
    """A consumer of the parcours topic in its own group, at the end of each partition before anything is measured."""
    consommateur = clients_kafka.consommateur(
        TOPIC_PARCOURS,
        bootstrap=bootstrap,
        group_id=f"bench-{uuid.uuid4().hex}",
        auto_offset_reset="latest",
        enable_auto_commit=False,
    )
    await consommateur.start()
    while len(consommateur.assignment()) < PARTITIONS:
        await consommateur.getmany(timeout_ms=100)
    for tp in consommateur.assignment():
        await consommateur.position(tp)  # resolves "latest" now, before any measured command commits
    return consommateur


async def _recevoir(
    consommateur: AIOKafkaConsumer, fin_generateur: asyncio.Future[Any]
) -> tuple[dict[tuple[str, int], Recu], int, tuple[list[Commit], float]]:
    """Stamp every record until the generator is done and all its commits arrived (or the delay ran out)."""
    recus: dict[tuple[str, int], Recu] = {}
    doublons = 0
    generateur: tuple[list[Commit], float] | None = None
    attendus: set[tuple[str, int]] = set()
    fin = float("inf")
    while generateur is None or not attendus <= recus.keys():
        lots = await consommateur.getmany(timeout_ms=50)
        recu_mono, recu_mur = time.monotonic(), time.time()
        for messages in lots.values():
            for m in messages:
                entetes = dict(m.headers)
                cle = (entetes["ce_subject"].decode(), int(entetes["ce_sequence"]))
                doublons += cle in recus
                recus[cle] = (recu_mono, recu_mur, m.timestamp)
        if generateur is None and fin_generateur.done():
            etat, *contenu = fin_generateur.result()
            if etat != "fait":
                raise RuntimeError(f"générateur: {contenu[0]}")
            generateur = (contenu[0], contenu[1])
            attendus = {(flux, version) for flux, version, *_ in generateur[0]}
            fin = time.monotonic() + DELAI_RECEPTION_S
        if time.monotonic() > fin:
            break
    assert generateur is not None
    return recus, doublons, generateur


def _cpu(pid_relais: int | None, pids_pg: list[int], pids_kafka: list[int]) -> dict[str, float]:
    return {
        "relais": cpu_de([pid_relais] if pid_relais else []),
        "consommateur": time.process_time(),
        "postgres": cpu_de(pids_pg),
        "kafka": cpu_de(pids_kafka),
    }


async def _latence(pg: PostgresJetable, bootstrap: str, pids_kafka: list[int]) -> dict[str, Any]:
    url = pg.nouvelle_base("relais_latence")
    ids = await asyncio.to_thread(_ouvrir_tous, url, PARCOURS_LATENCE)
    contexte = multiprocessing.get_context("spawn")
    vers_relais, canal_relais = contexte.Pipe()
    vers_generateur, canal_generateur = contexte.Pipe()
    enfants = [
        # Not daemonic: the relay starts its conversion process, as `ase relay` does (joined or killed below).
        (contexte.Process(target=_relais_enfant, args=(url, bootstrap, canal_relais)), canal_relais),
        (contexte.Process(target=_generateur, args=(url, ids, canal_generateur), daemon=True), canal_generateur),
    ]
    relais = enfants[0][0]
    try:
        for processus, canal in enfants:
            processus.start()
            canal.close()  # only the child holds its end now: its exit ends a pending recv()
        for canal, attendu in ((vers_relais, "actif"), (vers_generateur, "pret")):
            if (reponse := await asyncio.to_thread(canal.recv)) != attendu:
                raise RuntimeError(f"un processus n'a pas démarré: {reponse}")
        await _position_sauvee(url)
        consommateur = await _consommateur_en_fin(bootstrap)
        try:
            pids_pg = [pg.postmaster, *enfants_de(pg.postmaster)] if pg.postmaster else []
            assert relais.pid is not None
            pids_relais = [relais.pid, *enfants_de(relais.pid)]  # its conversion process included
            memoire = {"processus_relais": len(pids_relais), "repos_mo": rss_mo(pids_relais)}
            avant = _cpu(relais.pid, pids_pg, pids_kafka)
            vers_relais.send("zero")
            vers_generateur.send(time.monotonic() + 0.2)
            fin_generateur = asyncio.ensure_future(asyncio.to_thread(vers_generateur.recv))
            async with PicRss(pids_relais) as pic:
                recus, doublons, (commits, cpu_generateur) = await _recevoir(consommateur, fin_generateur)
            memoire["pic_sous_charge_mo"] = pic.pic_mo
            apres = _cpu(relais.pid, pids_pg, pids_kafka)
        finally:
            await consommateur.stop()
        vers_relais.send("stop")
        _, etapes = await asyncio.to_thread(vers_relais.recv)
    finally:
        for processus, _ in enfants:
            await asyncio.to_thread(processus.join, 30)
            if processus.is_alive():
                processus.kill()
    cpu = {nom: apres[nom] - avant[nom] for nom in avant} | {"generateur": cpu_generateur}
    return _latences(commits, recus, doublons, cpu) | {"etapes_du_relais": etapes, "memoire": memoire}


def _ms(valeurs: list[float]) -> dict[str, float]:
    triees = sorted(valeurs)
    return {
        "p50_ms": round(centile(triees, 50) * 1000, 2),
        "p99_ms": round(centile(triees, 99) * 1000, 2),
        "max_ms": round(triees[-1] * 1000, 2),
    }


def _latences(
    commits: list[Commit], recus: dict[tuple[str, int], Recu], doublons: int, cpu: dict[str, float]
) -> dict[str, Any]:
    attendus = {(flux, version) for flux, version, *_ in commits}
    presents = [(c[4], c[5], recus[(c[0], c[1])]) for c in commits if (c[0], c[1]) in recus]
    duree = commits[-1][4] - commits[0][2]
    return {
        "commandes": len(commits),
        "recus": len(presents),
        "manquants": len(attendus - recus.keys()),
        "doublons": doublons,
        "autres_recus": len(recus.keys() - attendus),
        "cadence_obtenue_cmd_s": round(len(commits) / duree, 1),
        "commit_a_reception": _ms([recu[0] - commit for commit, _, recu in presents]),
        # Wall-clock split at the record's timestamp: when the relay called send() (ms resolution).
        "commit_a_envoi": _ms([recu[2] / 1000 - mur for _, mur, recu in presents]),
        "envoi_a_reception": _ms([recu[1] - recu[2] / 1000 for _, _, recu in presents]),
        "commande_prevue_a_commit": _ms([c[4] - c[2] for c in commits]),
        "cpu_coeurs": {nom: round(v / duree, 2) for nom, v in cpu.items()},
    }


# -- the run ----------------------------------------------------------------------


def _pids_java() -> list[int]:
    """The local broker's JVM (a child of this process)."""
    return [pid for pid in enfants_de(os.getpid()) if Path(f"/proc/{pid}/comm").read_text().strip() == "java"]


async def _tout(pg: PostgresJetable, bootstrap: str) -> dict[str, Any]:
    pids_kafka = _pids_java()
    return {"debit": await _debit(pg, bootstrap, pids_kafka), "latence": await _latence(pg, bootstrap, pids_kafka)}


def executer() -> dict[str, Any]:
    """Start PostgreSQL and Kafka, measure both, stop them; return the figures and the run's conditions."""
    debut = time.perf_counter()
    with postgres_jetable() as pg, LocalKafkaBroker() as broker:
        reglages = pg.reglages()
        # A closed broker: SASL as the super user, in this process and the spawned ones.
        os.environ.update(broker.identifiants("admin").env())
        figures = asyncio.run(_tout(pg, broker.bootstrap_servers))
    return {
        "benchmark": NOM,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "duree_totale_s": round(time.perf_counter() - debut, 1),
        "environnement": {
            "python": sys.version.split()[0],
            "plateforme": platform.platform(),
            "coeurs": os.cpu_count(),
            "postgres": reglages,
        },
        "parametres": {
            "partitions": PARTITIONS,
            "taille_lot": TAILLE_LOT,
            "repetitions": REPETITIONS,
            "parcours_debit": PARCOURS_DEBIT,
            "evenements_par_parcours": EVENEMENTS_PAR_PARCOURS,
            "cadence_cmd_s": CADENCE_CMD_S,
            "duree_latence_s": DUREE_LATENCE_S,
            "parcours_latence": PARCOURS_LATENCE,
            "threads_generateur": THREADS,
            "fin_du_debit": "le compteur ase_relais_evenements_publies_total a crû de toutes les lignes "
            "(acks reçus et position sauvée)",
            "commande_latence": "ParcoursApplication.commander (produire_rapport), sans HTTP, processus à part",
            "relais_latence": "Relais avec les réglages d'ase relay, processus à part, chronométré",
        },
        **figures,
    }


def _etapes(etapes: dict[str, Any]) -> str:
    ms = etapes["ms_par_lot"]

    def groupe(noms: tuple[str, ...]) -> str:
        return ", ".join(f"{k} {ms[k]:.2f}" for k in noms if k in ms)

    return (
        f"{etapes['lots']} lots de {etapes['evenements_par_lot']} évt, ms par lot (en parallèle): "
        f"lecteur [{groupe(ETAPES[:3])}] | acquitteur [{groupe(ETAPES[3:])}]"
    )


def rapport(resultat: dict[str, Any]) -> str:
    """Both measures as a few lines."""
    d, lat, p = resultat["debit"], resultat["latence"], resultat["parametres"]
    r, b = d["relais"], d["producteur_nu"]
    lignes = [
        f"Relais: débit ({d['evenements']} événements, lots de {p['taille_lot']}, {p['partitions']} partitions, "
        f"acks=all, idempotent; médiane de {p['repetitions']})",
        f"  relais          {r['debit_evt_s']:>6} évt/s  ({r['duree_s']:.2f} s, {r['us_cpu_par_evenement']:.0f} µs CPU/évt;"
        f" toutes: {d['repetitions']['relais_evt_s']})",
        f"  producteur nu   {b['debit_evt_s']:>6} évt/s  ({b['duree_s']:.2f} s, {b['us_cpu_par_evenement']:.0f} µs CPU/évt;"
        f" toutes: {d['repetitions']['producteur_nu_evt_s']})",
        f"  relais/nu       {d['ratio_relais_sur_nu']:.2f}x (cible ≥ {CIBLE_RATIO}x) "
        f"{'✓' if d['ratio_relais_sur_nu'] >= CIBLE_RATIO else '✗'}",
        f"  relais: {_etapes(r['etapes'])}",
        "",
        f"Latence commit → consommateur à {p['cadence_cmd_s']} cmd/s ({lat['cadence_obtenue_cmd_s']} obtenues, "
        f"{lat['commandes']} commandes, {lat['recus']} reçues, {lat['manquants']} manquantes, "
        f"{lat['doublons']} doublons)",
    ]
    for nom in ("commit_a_reception", "commit_a_envoi", "envoi_a_reception", "commande_prevue_a_commit"):
        f = lat[nom]
        lignes.append(
            f"  {nom:<26} p50 {f['p50_ms']:>7.1f} ms   p99 {f['p99_ms']:>7.1f} ms   max {f['max_ms']:>7.1f} ms"
        )
    lignes.append(f"  relais: {_etapes(lat['etapes_du_relais'])}")
    lignes.append("  cœurs CPU: " + ", ".join(f"{k} {v:.2f}" for k, v in lat["cpu_coeurs"].items()))
    if memoire := lat.get("memoire"):
        lignes.append(
            f"  mémoire du relais ({memoire['processus_relais']} processus, RSS): {memoire['repos_mo']:.0f} Mo au "
            f"repos, {memoire['pic_sous_charge_mo']:.0f} Mo au plus haut sous la charge"
        )
    return "\n".join(lignes)


def main() -> None:
    """``python -m benchmarks.relais``: the runner, for this benchmark alone."""
    from benchmarks.__main__ import main as lancer

    lancer([NOM])


if __name__ == "__main__":
    main()
