"""The relay keeps guarantees 2-4 through failures: a killed relay, a stopped broker, two relays at once.

Each test checks what reached Kafka against what PostgreSQL committed: every
(stream, version) at least once, per key the first occurrence of each version
in version order, and any repeat identical to the first (same ``ce_id``, same
headers, same body). Relays run either in this process or as ``ase relay``
subprocesses, which the tests SIGKILL. Nothing waits a fixed time: every wait
polls a real condition (PostgreSQL, Kafka, a process's log) under a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

import asyncpg
import pytest
from aiokafka import TopicPartition

from contracts.enveloppe import TOPIC_IDENTITES, TOPIC_PARCOURS, identifiant_evenement
from services.parcours.relay import CLE_VERROU, ReglagesRelais, Relais
from services.runtime import kafka as clients_kafka
from services.runtime.http import REGISTRE
from services.runtime.kafka_local import LocalKafkaBroker
from tests.integration.conftest import Api
from tests.integration.kafka_fixtures import KafkaBroker, en_tant_que, env_principal
from tests.integration.relais_outils import Recu, relais_actif

RACINE = Path(__file__).resolve().parents[2]
SUJETS = [TOPIC_PARCOURS, TOPIC_IDENTITES]
NOM_RELAIS = "parcours"
SONDE_S = 0.05
"""Poll interval inside every deadline loop."""

T = TypeVar("T")


# -- waiting on real conditions -----------------------------------------------------------------


async def attendre(
    condition: Callable[[], Awaitable[T]], *, delai_s: float, quoi: str, contexte: Callable[[], str] = lambda: ""
) -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``delai_s`` saying ``quoi``."""
    fin = time.monotonic() + delai_s
    while True:
        valeur = await condition()
        if valeur:
            return valeur
        if time.monotonic() > fin:
            raise AssertionError(f"{quoi}: not true after {delai_s}s\n{contexte()}")
        await asyncio.sleep(SONDE_S)


# -- PostgreSQL: what was committed, what the relay saved, who holds the lock ---------------------


@dataclass
class Base:
    """Read-only probes on the test database."""

    conn: asyncpg.Connection

    async def position(self) -> int:
        """The relay's saved position (0 before any relay prepared its table)."""
        try:
            valeur = await self.conn.fetchval("SELECT notification_id FROM relais_position WHERE nom = $1", NOM_RELAIS)
        except asyncpg.UndefinedTableError:
            return 0
        return int(valeur or 0)

    async def maximum(self) -> int:
        return int(await self.conn.fetchval("SELECT coalesce(max(notification_id), 0) FROM ase_events"))

    async def commis(self) -> set[tuple[str, int]]:
        """Every (stream id, version) committed in the event store."""
        lignes = await self.conn.fetch("SELECT originator_id::text AS flux, originator_version AS v FROM ase_events")
        return {(ligne["flux"], int(ligne["v"])) for ligne in lignes}

    async def detenteurs_du_verrou(self) -> list[str]:
        """``application_name`` of each session holding the relay's advisory lock in this database.

        PostgreSQL shows a bigint advisory key as classid (high 32 bits), objid (low 32 bits), objsubid 1.
        """
        lignes = await self.conn.fetch(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND l.classid::bigint = $1 AND l.objid::bigint = $2",
            CLE_VERROU >> 32,
            CLE_VERROU & 0xFFFFFFFF,
        )
        return sorted(ligne["application_name"] for ligne in lignes)

    async def sessions(self, application_name: str) -> int:
        return int(
            await self.conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
                application_name,
            )
        )


@contextlib.asynccontextmanager
async def base(url: str) -> AsyncIterator[Base]:
    conn = await asyncpg.connect(url)
    try:
        yield Base(conn)
    finally:
        await conn.close()


def avec_application_name(url: str, nom: str) -> str:
    """``url`` with ``application_name=nom``: asyncpg passes unknown query parameters as server settings."""
    morceaux = urlparse(url)
    requete = [(k, v) for k, v in parse_qsl(morceaux.query) if k != "application_name"]
    return urlunparse(morceaux._replace(query=urlencode([*requete, ("application_name", nom)])))


# -- relays as separate processes ---------------------------------------------------------------


@dataclass
class ProcessusRelais:
    """One ``python -m services.cli relay`` subprocess; its JSON logs go to a file."""

    nom: str
    processus: subprocess.Popen[bytes]
    journal: Path

    def evenements(self) -> list[dict[str, Any]]:
        lignes = []
        texte = self.journal.read_text(errors="replace") if self.journal.exists() else ""
        for ligne in texte.splitlines():
            with contextlib.suppress(ValueError):
                objet = json.loads(ligne)
                if isinstance(objet, dict):
                    lignes.append(objet)
        return lignes

    def a_journalise(self, evenement: str) -> int:
        return sum(1 for e in self.evenements() if e.get("event") == evenement)

    @property
    def vivant(self) -> bool:
        return self.processus.poll() is None

    def tuer(self) -> None:
        """SIGKILL: no shutdown code runs, nothing is flushed or saved."""
        self.processus.send_signal(signal.SIGKILL)
        self.processus.wait(timeout=10)

    def fin_du_journal(self, lignes: int = 30) -> str:
        texte = self.journal.read_text(errors="replace") if self.journal.exists() else ""
        return f"--- {self.nom} (exit {self.processus.poll()}) ---\n" + "\n".join(texte.splitlines()[-lignes:])


@dataclass
class Lanceur:
    """Starts relay subprocesses and guarantees none outlives the test."""

    dossier: Path
    lances: list[ProcessusRelais] = field(default_factory=list)

    def lancer(self, nom: str, database_url: str, bootstrap: str) -> ProcessusRelais:
        env = {
            **os.environ,
            "DATABASE_URL": avec_application_name(database_url, nom),
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            **env_principal("relais"),
            "ASE_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
        journal = self.dossier / f"{nom}.log"
        with journal.open("wb") as sortie:
            processus = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "relay"],
                cwd=RACINE,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sortie,
                stderr=subprocess.STDOUT,
            )
        relais = ProcessusRelais(nom=nom, processus=processus, journal=journal)
        self.lances.append(relais)
        return relais

    def journaux(self) -> str:
        return "\n".join(r.fin_du_journal() for r in self.lances)

    def arreter_tout(self) -> None:
        for relais in self.lances:
            if relais.vivant:
                relais.processus.terminate()
        for relais in self.lances:
            try:
                relais.processus.wait(timeout=10)
            except subprocess.TimeoutExpired:
                relais.processus.kill()
                relais.processus.wait()


@pytest.fixture
def lanceur(tmp_path: Path) -> Iterator[Lanceur]:
    lanceur = Lanceur(tmp_path)
    try:
        yield lanceur
    finally:
        lanceur.arreter_tout()


@pytest.fixture(scope="module")
def broker_prive() -> Iterator[LocalKafkaBroker]:
    """A broker of this module alone (the session's is never stopped), started and stopped by the tests."""
    broker = LocalKafkaBroker()
    try:
        yield broker
    finally:
        broker.close()


# -- commands -----------------------------------------------------------------------------------


async def _commande(api: Api, chemin: str, corps: dict[str, Any]) -> dict[str, Any]:
    reponse = await api.post(chemin, corps)
    assert reponse.status_code in (200, 201), f"{chemin}: {reponse.status_code} {reponse.text}"
    resultat: dict[str, Any] = reponse.json()
    return resultat


async def _un_parcours(api: Api, n: int) -> None:
    """Six events on two streams: the identity (v1) and the parcours (v1-v5)."""
    pid = (
        await _commande(
            api,
            "/v1/parcours",
            {
                "personne": {"nom": f"Rafale{n}", "prenoms": "Test", "date_naissance": "2012-05-03", "sexe": "F"},
                "departement": "59",
                "date_effet": "2025-01-06",
            },
        )
    )["id"]
    ip = await _commande(
        api,
        f"/v1/parcours/{pid}/informations-preoccupantes",
        {"origine": "education_nationale", "dangers": ["negligences"], "date_effet": "2025-01-07"},
    )
    await _commande(
        api,
        f"/v1/parcours/{pid}/evaluations",
        {"ip_id": ip["ip_id"], "suite": "saisine_judiciaire", "date_effet": "2025-02-01"},
    )
    await _commande(
        api,
        f"/v1/parcours/{pid}/mesures",
        {
            "cadre": "judiciaire",
            "nature": "confiage_ase",
            "autorite": "juge_des_enfants",
            "reference_decision": f"JE-2025-{n:04d}",
            "date_debut": "2025-02-03",
            "date_echeance": "2027-02-02",
            "date_effet": "2025-02-03",
        },
    )
    await _commande(
        api,
        f"/v1/parcours/{pid}/informations-preoccupantes",
        {"origine": "sante", "dangers": ["autre"], "date_effet": "2025-03-01"},
    )


async def rafale(api: Api, nombre: int, *, concurrence: int = 8) -> None:
    """``nombre`` parcours written concurrently, each command asserted accepted."""
    limite = asyncio.Semaphore(concurrence)

    async def un(n: int) -> None:
        async with limite:
            await _un_parcours(api, n)

    await asyncio.gather(*(un(n) for n in range(nombre)))


async def un_lieu(api: Api) -> str:
    """A first write: the event store's tables exist from here on."""
    lieu = await _commande(
        api, "/v1/lieux", {"nom": "MECS Les Tilleuls", "type": "mecs", "departement": "59", "capacite": 12}
    )
    return str(lieu["id"])


# -- Kafka: everything there is about some streams ----------------------------------------------


async def _partitions(bootstrap: str) -> list[TopicPartition]:
    """The relay's topic-partitions, asked to the broker (a fresh consumer's metadata cache is empty)."""
    admin = clients_kafka.administration(bootstrap, client_id="test-relais-pannes")
    await admin.start()
    try:
        sujets = await admin.describe_topics(SUJETS)
    finally:
        await admin.close()
    partitions = [
        TopicPartition(s["topic"], p["partition"]) for s in sujets if s["error_code"] == 0 for p in s["partitions"]
    ]
    assert {tp.topic for tp in partitions} == set(SUJETS), sujets
    return partitions


async def lire_tout(bootstrap: str, flux: set[str], *, delai_s: float = 60.0) -> list[Recu]:
    """Every message of ``flux`` on the relay's topics, up to the end offsets seen now (repeats included)."""
    partitions = await _partitions(bootstrap)
    consommateur = clients_kafka.consommateur(
        bootstrap=bootstrap, enable_auto_commit=False, isolation_level="read_committed"
    )
    await consommateur.start()
    try:
        consommateur.assign(partitions)
        await consommateur.seek_to_beginning(*partitions)
        fins = await consommateur.end_offsets(partitions)
        recus: list[Recu] = []
        fin = time.monotonic() + delai_s

        async def reste_a_lire() -> bool:
            return any([await consommateur.position(tp) < fins[tp] for tp in partitions])

        while await reste_a_lire():
            if time.monotonic() > fin:
                raise AssertionError(f"end offsets {fins} not reached after {delai_s}s")
            lots = await consommateur.getmany(timeout_ms=500)
            for tp, messages in lots.items():
                for m in messages:
                    if m.offset >= fins[tp]:
                        continue
                    entetes = {k: v.decode() for k, v in m.headers}
                    if entetes.get("ce_subject") in flux:
                        recus.append(
                            Recu(
                                topic=tp.topic,
                                partition=tp.partition,
                                offset=m.offset,
                                cle=m.key or b"",
                                valeur=m.value,
                                entetes=entetes,
                            )
                        )
        return recus
    finally:
        await consommateur.stop()


@dataclass(frozen=True)
class Bilan:
    messages: int
    repetitions: int


def verifier_publication(recus: list[Recu], commis: set[tuple[str, int]]) -> Bilan:
    """Guarantees 3 and 4 on what reached Kafka for the streams of ``commis``."""
    publies = {(m.entetes["ce_subject"], int(m.entetes["ce_sequence"])) for m in recus}
    manquants = sorted(commis - publies)
    assert not manquants, f"{len(manquants)} committed events never reached Kafka, e.g. {manquants[:5]}"
    en_trop = sorted(publies - commis)
    assert not en_trop, f"events on Kafka that were never committed: {en_trop[:5]}"

    par_cle: dict[bytes, list[Recu]] = defaultdict(list)
    for m in recus:
        assert m.cle == m.entetes["ce_subject"].encode(), "the key is the stream id"
        par_cle[m.cle].append(m)
    for cle, messages in par_cle.items():
        assert len({(m.topic, m.partition) for m in messages}) == 1, f"{cle!r} spread over partitions"
        dans_l_ordre = sorted(messages, key=lambda m: m.offset)
        premieres: list[int] = []
        for m in dans_l_ordre:
            version = int(m.entetes["ce_sequence"])
            if version not in premieres:
                premieres.append(version)
        assert premieres == sorted(premieres), f"{cle!r}: first occurrences out of stream order: {premieres}"

    par_evenement: dict[tuple[str, int], list[Recu]] = defaultdict(list)
    for m in recus:
        par_evenement[(m.entetes["ce_subject"], int(m.entetes["ce_sequence"]))].append(m)
    repetitions = 0
    for (flux, version), copies in par_evenement.items():
        attendu = identifiant_evenement(uuid.UUID(flux), version)
        assert all(c.entetes["ce_id"] == attendu for c in copies), f"{flux} v{version}: ce_id not deterministic"
        premiere = copies[0]
        for copie in copies[1:]:
            assert copie.entetes == premiere.entetes, f"{flux} v{version}: a repeat with other headers"
            assert copie.valeur == premiere.valeur, f"{flux} v{version}: a repeat with another body"
        repetitions += len(copies) - 1
    return Bilan(messages=len(recus), repetitions=repetitions)


async def tout_verifier(db: Base, bootstrap: str, *, contexte: Callable[[], str] = lambda: "") -> Bilan:
    """Wait until the relay saved the last id (so the broker acked everything), then check Kafka."""
    maximum = await db.maximum()

    async def a_jour() -> bool:
        return await db.position() == maximum

    await attendre(a_jour, delai_s=60, quoi=f"relay position reaching {maximum}", contexte=contexte)
    commis = await db.commis()
    return verifier_publication(await lire_tout(bootstrap, {f for f, _ in commis}), commis)


# -- the tests ----------------------------------------------------------------------------------


async def test_a_relay_killed_mid_burst_loses_nothing_and_a_new_relay_resumes_in_stream_order(
    api: Api, base_url: str, kafka_broker: KafkaBroker, lanceur: Lanceur
) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    await un_lieu(api)
    async with base(base_url) as db:
        avant = await db.maximum()
        premier = lanceur.lancer("relais-premier", base_url, bootstrap)

        async def publie_deja() -> bool:
            return await db.position() >= avant

        await attendre(publie_deja, delai_s=60, quoi="the first relay publishing", contexte=lanceur.journaux)

        ecriture = asyncio.create_task(rafale(api, 40))
        try:

            async def a_publie_une_partie() -> bool:
                if ecriture.done():
                    ecriture.result()  # a failed command surfaces here
                return await db.position() > avant

            await attendre(
                a_publie_une_partie,
                delai_s=60,
                quoi="the relay publishing part of the burst",
                contexte=lanceur.journaux,
            )
            premier.tuer()
            a_la_mort = await db.position()
            en_cours = not ecriture.done()
        finally:
            await ecriture
        maximum = await db.maximum()
        assert en_cours, "the burst was over before the relay was killed"
        assert avant < a_la_mort < maximum, (avant, a_la_mort, maximum)
        assert await db.position() == a_la_mort, "a dead relay cannot move its position"

        second = lanceur.lancer("relais-second", base_url, bootstrap)
        bilan = await tout_verifier(db, bootstrap, contexte=lanceur.journaux)
        assert second.vivant, second.fin_du_journal()
        assert len(await db.commis()) == 1 + 40 * 6
    assert bilan.messages >= 1 + 40 * 6


async def test_commands_succeed_while_kafka_is_down_and_the_relay_catches_up_once_it_is_back(
    api: Api, base_url: str, broker_prive: LocalKafkaBroker
) -> None:
    await asyncio.to_thread(broker_prive.start)  # no-op when already running
    bootstrap = broker_prive.bootstrap_servers
    await un_lieu(api)
    async with (
        base(base_url) as db,
        relais_actif(
            base_url, bootstrap, identifiants=broker_prive.identifiants("relais"), backoff_max_s=2.0
        ) as relais,
    ):
        avant = await db.maximum()

        async def publie_deja() -> bool:
            return await db.position() == avant

        await attendre(publie_deja, delai_s=30, quoi="the relay publishing the first event")

        await asyncio.to_thread(broker_prive.stop)
        await rafale(api, 10)  # each command asserts its 201/200
        maximum = await db.maximum()
        assert maximum >= avant + 10 * 6
        assert await db.position() < maximum, "the position moved although no broker acknowledged anything"

        await asyncio.to_thread(broker_prive.start)
        with en_tant_que(broker_prive.identifiants("admin")):  # this broker's super user reads it back
            bilan = await tout_verifier(db, bootstrap)
        assert relais.actif.is_set()
    assert bilan.messages >= 1 + 10 * 6


async def test_of_two_relays_only_the_lock_holder_publishes_and_the_standby_takes_over_when_it_is_killed(
    api: Api, base_url: str, kafka_broker: KafkaBroker, lanceur: Lanceur
) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    await un_lieu(api)
    async with base(base_url) as db:
        actif = lanceur.lancer("relais-a", base_url, bootstrap)

        async def detenteurs(*attendus: str) -> bool:
            return await db.detenteurs_du_verrou() == list(attendus)

        await attendre(
            lambda: detenteurs("relais-a"), delai_s=60, quoi="relais-a holding the lock", contexte=lanceur.journaux
        )
        veille = lanceur.lancer("relais-b", base_url, bootstrap)

        async def veille_connectee() -> bool:
            return await db.sessions("relais-b") > 0

        await attendre(veille_connectee, delai_s=60, quoi="relais-b connected", contexte=lanceur.journaux)

        await rafale(api, 5)
        await tout_verifier(db, bootstrap, contexte=lanceur.journaux)
        assert await db.detenteurs_du_verrou() == ["relais-a"]
        assert actif.a_journalise("relais_actif") == 1, actif.fin_du_journal()
        assert veille.vivant, veille.fin_du_journal()
        assert veille.a_journalise("relais_actif") == 0, veille.fin_du_journal()
        assert await db.sessions("relais-b") > 0, "the standby is still trying the lock"

        actif.tuer()

        async def veille_active() -> bool:
            return await detenteurs("relais-b") and veille.a_journalise("relais_actif") == 1

        await attendre(veille_active, delai_s=10, quoi="relais-b taking over", contexte=lanceur.journaux)

        await rafale(api, 5)
        bilan = await tout_verifier(db, bootstrap, contexte=lanceur.journaux)
        assert await db.detenteurs_du_verrou() == ["relais-b"]
    assert bilan.messages >= 1 + 10 * 6


def _echecs() -> float:
    return REGISTRE.get_sample_value("ase_relais_echecs_total") or 0.0


async def test_a_relay_started_while_kafka_is_unreachable_keeps_retrying_and_publishes_once_it_appears(
    api: Api, base_url: str, broker_prive: LocalKafkaBroker
) -> None:
    await asyncio.to_thread(broker_prive.stop)  # no-op when not running
    bootstrap = broker_prive.bootstrap_servers  # nothing listens there now
    await un_lieu(api)
    relais = Relais(
        ReglagesRelais(
            database_url=base_url,
            kafka_bootstrap_servers=bootstrap,
            attente_max_s=0.2,
            prise_de_relais_s=0.2,
            backoff_max_s=1.0,
        )
    )
    arret = asyncio.Event()
    with en_tant_que(broker_prive.identifiants("relais")):
        tache = asyncio.create_task(relais.executer(arret))
    try:
        async with base(base_url) as db:
            debut = _echecs()

            async def echoue(fois: int, depuis: float) -> bool:
                assert not tache.done(), tache
                return _echecs() >= depuis + fois

            await attendre(lambda: echoue(2, debut), delai_s=30, quoi="the relay retrying")
            await rafale(api, 5)
            apres_commandes = _echecs()
            await attendre(lambda: echoue(2, apres_commandes), delai_s=30, quoi="the relay still retrying")
            assert not relais.actif.is_set()
            assert await db.position() == 0, "nothing may count as published without a broker"

            await asyncio.to_thread(broker_prive.start)
            with en_tant_que(broker_prive.identifiants("admin")):
                await tout_verifier(db, bootstrap)
            assert relais.actif.is_set()
    finally:
        arret.set()
        await asyncio.wait_for(tache, timeout=30)


def _retard() -> float:
    return REGISTRE.get_sample_value("ase_relais_retard") or 0.0


async def test_with_the_broker_down_readiness_and_the_relays_lag_no_longer_stay_green(
    api: Api, base_url: str, broker_prive: LocalKafkaBroker
) -> None:
    """Kafka stopped under an active relay: its ``/readyz`` and the projections' check of it fail within
    the acknowledgement bound, ``ase_relais_retard`` (read from the store) grows; back, all recovers."""
    import httpx

    from services.parcours.relay import application_http
    from services.runtime.relais import etat_du_relais

    await asyncio.to_thread(broker_prive.start)  # no-op when already running
    bootstrap = broker_prive.bootstrap_servers
    await un_lieu(api)
    borne_s = 1.0

    async with (
        base(base_url) as db,
        relais_actif(
            base_url,
            bootstrap,
            identifiants=broker_prive.identifiants("relais"),
            backoff_max_s=1.0,
            attente_acquittement_max_s=borne_s,
            surveillance_s=0.1,
        ) as relais,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=application_http(relais)), base_url="http://r") as http,
    ):

        async def relais_pret() -> bool:
            return (await http.get("/readyz")).status_code == 200

        async def projections_voient_le_relais_pret() -> bool:
            # The projections' /readyz check of the relay (services/projections/api/app.py), lag bound out of play.
            try:
                (await etat_du_relais(db.conn)).verifier(10**9, borne_s)
            except RuntimeError:
                return False
            return True

        async def a_jour() -> bool:
            return await db.position() == await db.maximum() and _retard() == 0

        await attendre(a_jour, delai_s=30, quoi="the relay publishing the first event")
        assert await relais_pret()
        assert await projections_voient_le_relais_pret()

        await asyncio.to_thread(broker_prive.stop)
        await rafale(api, 2)  # each command asserts its 201/200
        en_attente = await db.maximum() - await db.position()
        assert en_attente >= 2 * 6

        async def retard_mesure() -> bool:
            return _retard() >= en_attente

        async def relais_signale() -> bool:
            return not await relais_pret() and not await projections_voient_le_relais_pret()

        await attendre(retard_mesure, delai_s=10, quoi="ase_relais_retard measured from the store")
        await attendre(relais_signale, delai_s=10, quoi="the relay's and the projections' readiness failing")
        raison = (await http.get("/readyz")).json()["dependances"]["relais"]
        assert raison in ("RelaisBloque", "RelaisEnErreur"), raison

        await asyncio.to_thread(broker_prive.start)
        await attendre(a_jour, delai_s=30, quoi="the relay catching up once Kafka is back")
        await attendre(relais_pret, delai_s=10, quoi="the relay ready again")
        await attendre(projections_voient_le_relais_pret, delai_s=10, quoi="the projections seeing it ready")
