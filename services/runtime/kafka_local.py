"""A real single-node Apache Kafka broker (KRaft, combined mode) on this machine.

The test suite and ``ase up`` need Kafka without Docker: the broker's jars come
from Maven Central (``deploy/local/kafka/pom.xml``, fetched once into a cache
folder) and run on the machine's Java (17 or later).

    with LocalKafkaBroker() as broker:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, ...)

The broker is closed (ARCHITECTURE.md, Security model): its client listener
takes SASL/SCRAM-SHA-512 only, Kafka's ``StandardAuthorizer`` denies whatever no
ACL allows, and one principal per service (``services.runtime.kafka.PRINCIPAUX``)
gets its ACLs from the super user ``admin`` at each start. Passwords are drawn
once per data folder, into ``identifiants-kafka.json`` (mode 0600) inside it; the
data folder and the log dirs are mode 0700. The KRaft controller listener is
bound to 127.0.0.1 and takes SASL PLAIN against a static JAAS user
(``controleur``, the only other super user); residual risk: any local process
reading the data folder (same Unix user, or root) holds every password.

The broker keeps its ports and its data folder for its whole life, so
``stop()`` then ``start()`` brings the same broker back with its topics and
offsets: that is how tests prove a relay catches up after Kafka was down.
Run ``python -m services.runtime.kafka_local`` to get one by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Coroutine, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import CreateAclsRequest

from services.runtime.kafka import PRINCIPAUX, SUPER_UTILISATEUR, Acl, Identifiants

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
POM_PATH = REPO_ROOT / "deploy" / "local" / "kafka" / "pom.xml"
"""The Maven pom listing the broker's jars (``org.apache.kafka:kafka_2.13``)."""
CACHE_DIR_ENV = "ASE_KAFKA_CACHE"
"""Environment variable overriding :data:`DEFAULT_CACHE_DIR`."""
DEFAULT_CACHE_DIR = REPO_ROOT / ".cache" / "kafka"
DEFAULT_PORT = 9092
"""The broker port ``ase up`` and the command line use."""

STORAGE_TOOL_MAIN = "kafka.tools.StorageTool"
"""Main class formatting a KRaft data folder (``kafka-storage.sh``)."""
BROKER_MAIN = "kafka.Kafka"
"""Main class of the broker itself (``kafka-server-start.sh``)."""

FICHIER_IDENTIFIANTS = "identifiants-kafka.json"
"""File (mode 0600) in the data folder holding each principal's password, drawn at format time."""
CONTROLEUR = "controleur"
"""The principal of the KRaft controller listener (SASL PLAIN, static JAAS)."""

_MARKER_NAME = ".complete"
_MAVEN_TIMEOUT_S = 900.0
_LOG_TAIL_LINES = 40


class LocalKafkaError(RuntimeError):
    """The local broker could not be fetched, formatted, started or stopped."""


# -- jars ---------------------------------------------------------------------


def default_cache_dir() -> Path:
    """The jar cache folder: ``$ASE_KAFKA_CACHE``, else ``.cache/kafka`` at the repo root."""
    override = os.environ.get(CACHE_DIR_ENV)
    return Path(override).expanduser().resolve() if override else DEFAULT_CACHE_DIR


def ensure_kafka_jars(cache_dir: Path | None = None, *, pom: Path = POM_PATH) -> Path:
    """Return ``<cache_dir>/lib`` holding Kafka and its runtime jars, fetching them once.

    Maven runs only when the folder is missing or was filled from another
    version of the pom (a marker file records the pom's digest). It uses its
    own local repository under ``<cache_dir>/m2``, so nothing depends on
    ``~/.m2``. A file lock lets concurrent processes share one cache.
    """
    cache_dir = (cache_dir or default_cache_dir()).resolve()
    lib_dir = cache_dir / "lib"
    if not pom.is_file():
        raise LocalKafkaError(f"Kafka pom not found at {pom}")
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    if _lib_is_complete(lib_dir, digest):
        return lib_dir
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _file_lock(cache_dir / ".lock"):
        if _lib_is_complete(lib_dir, digest):  # another process fetched them meanwhile
            return lib_dir
        _fetch_with_maven(pom, cache_dir, lib_dir, digest)
    return lib_dir


def kafka_version(lib_dir: Path) -> str:
    """The Kafka version found in a lib folder (from ``kafka_2.13-<version>.jar``)."""
    jars = sorted(lib_dir.glob("kafka_2.13-*.jar"))
    if not jars:
        raise LocalKafkaError(f"no kafka_2.13 jar in {lib_dir}")
    return jars[0].stem.removeprefix("kafka_2.13-")


def _lib_is_complete(lib_dir: Path, digest: str) -> bool:
    marker = lib_dir / _MARKER_NAME
    return marker.is_file() and marker.read_text().strip() == digest


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fetch_with_maven(pom: Path, cache_dir: Path, lib_dir: Path, digest: str) -> None:
    """Copy the pom's runtime dependencies into ``lib_dir``, atomically."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise LocalKafkaError("Maven (mvn) is needed once to fetch the Kafka jars; install it")
    staging = cache_dir / "lib.partial"
    shutil.rmtree(staging, ignore_errors=True)
    command = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(pom),
        f"-Dmaven.repo.local={cache_dir / 'm2'}",
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={staging}",
    ]
    logger.info("fetching Kafka jars with Maven into %s", lib_dir)
    started = time.monotonic()
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=_MAVEN_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LocalKafkaError(f"Maven did not finish within {_MAVEN_TIMEOUT_S:.0f}s") from exc
    if result.returncode != 0:
        output = _tail((result.stdout + result.stderr).splitlines())
        raise LocalKafkaError(f"Maven failed ({result.returncode}) fetching Kafka jars:\n{output}")
    (staging / _MARKER_NAME).write_text(digest + "\n")
    shutil.rmtree(lib_dir, ignore_errors=True)
    staging.rename(lib_dir)
    logger.info("Kafka jars fetched in %.1fs", time.monotonic() - started)


# -- the broker ---------------------------------------------------------------


class LocalKafkaBroker:
    """One Apache Kafka process acting as both KRaft controller and broker.

    Ports are chosen when the object is built (free loopback ports unless
    ``port`` is given), so :attr:`bootstrap_servers` is known before the broker
    runs. Without ``data_dir`` the data lives in a temporary folder removed by
    :meth:`close`; a given ``data_dir`` is kept and reused across runs (it is
    formatted only the first time).

    ``start()`` and ``stop()`` may alternate any number of times; the context
    manager starts on entry and closes on exit. Both are blocking: from async
    code use ``await asyncio.to_thread(broker.start)``.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        controller_port: int | None = None,
        data_dir: Path | None = None,
        cache_dir: Path | None = None,
        heap: str = "512m",
        startup_timeout: float = 60.0,
        stop_timeout: float = 30.0,
        auto_create_topics: bool = True,
        extra_properties: Mapping[str, str] | None = None,
        principaux: Mapping[str, tuple[Acl, ...]] = PRINCIPAUX,
    ) -> None:
        """Prepare a broker; nothing runs until :meth:`start`.

        Args:
            port: client port on 127.0.0.1; a free one when ``None``.
            controller_port: KRaft controller port; a free one when ``None``.
            data_dir: persistent data folder; a temporary one when ``None``.
            cache_dir: jar cache, see :func:`default_cache_dir`.
            heap: JVM maximum heap (``-Xmx``).
            startup_timeout: seconds to wait for the broker to answer requests.
            stop_timeout: seconds to wait after SIGTERM before SIGKILL.
            auto_create_topics: value of ``auto.create.topics.enable``.
            extra_properties: broker properties overriding the defaults.
            principaux: SCRAM users created at format time and their ACLs (``admin`` is the super user).
        """
        self.port = port if port is not None else _free_port()
        self.controller_port = controller_port if controller_port is not None else _free_port()
        self._cache_dir = cache_dir
        self._heap = heap
        self._startup_timeout = startup_timeout
        self._stop_timeout = stop_timeout
        self._auto_create_topics = auto_create_topics
        self._extra_properties = dict(extra_properties or {})
        self._principaux = dict(principaux)
        self._principaux.setdefault(SUPER_UTILISATEUR, ())
        self._mots_de_passe: dict[str, str] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None
        self._process_finalizer: weakref.finalize[..., LocalKafkaBroker] | None = None
        if data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="ase-kafka-"))  # mode 0700
            self._data_finalizer: weakref.finalize[..., LocalKafkaBroker] | None = weakref.finalize(
                self, shutil.rmtree, self.data_dir, ignore_errors=True
            )
        else:
            self.data_dir = data_dir.resolve()
            self._data_finalizer = None

    # -- public surface

    @property
    def bootstrap_servers(self) -> str:
        """The address clients connect to, ``"127.0.0.1:<port>"``."""
        return f"127.0.0.1:{self.port}"

    def identifiants(self, principal: str = SUPER_UTILISATEUR) -> Identifiants:
        """SASL/SCRAM-SHA-512 settings of one principal (``admin``, ``relais``, ``lecteur``...).

        Known before the first start (drawn then, as :meth:`start` would).

        Raises:
            KeyError: an unknown principal.
        """
        if principal not in self._principaux:
            raise KeyError(principal)
        if not self._mots_de_passe:
            self._mots_de_passe = preparer_mots_de_passe(self.data_dir, self._principaux)
        mots = self._mots_de_passe
        return Identifiants.scram(principal, mots[principal])

    @property
    def fichier_identifiants(self) -> Path:
        """The 0600 file holding the principals' passwords."""
        return self.data_dir / FICHIER_IDENTIFIANTS

    @property
    def is_running(self) -> bool:
        """Whether the broker process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def log_path(self) -> Path:
        """The broker's own log file (log4j)."""
        return self._logs_dir / "server.log"

    def start(self) -> None:
        """Fetch the jars if needed, format the data folder once, start and wait until ready."""
        if self.is_running:
            return
        lib_dir = ensure_kafka_jars(self._cache_dir)
        java = _java_executable()
        _check_port_free(self.port)
        _check_port_free(self.controller_port)
        _restreindre(self.data_dir)
        if (self._metadata_dir / "meta.properties").exists() and not self.fichier_identifiants.exists():
            raise LocalKafkaError(
                f"{self._metadata_dir} was formatted by an open broker (no {FICHIER_IDENTIFIANTS}); "
                "remove that folder to recreate a closed one"
            )
        self._preparer_mots_de_passe()
        self._write_config()
        if not (self._metadata_dir / "meta.properties").exists():
            self._format(java, lib_dir)
        for dossier in (self._metadata_dir, self._logs_dir):
            _restreindre_arborescence(dossier)  # also a folder written before the broker was closed
        started = time.monotonic()
        self._launch(java, lib_dir)
        try:
            self._wait_until_ready(started + self._startup_timeout)
            _run_in_own_loop(
                functools.partial(
                    _creer_acls, self.bootstrap_servers, self.identifiants(SUPER_UTILISATEUR), self._principaux
                )
            )
        except BaseException:
            self.stop()
            raise
        logger.info(
            "Kafka %s ready on %s in %.1fs (data in %s)",
            kafka_version(lib_dir),
            self.bootstrap_servers,
            time.monotonic() - started,
            self.data_dir,
        )

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after ``stop_timeout``); keep its data."""
        process, self._process = self._process, None
        if self._process_finalizer is not None:
            self._process_finalizer.detach()
            self._process_finalizer = None
        if process is not None:
            _terminate(process, self._stop_timeout)
        if self._output is not None:
            self._output.close()
            self._output = None

    def restart(self) -> None:
        """Stop then start again, on the same ports and data."""
        self.stop()
        self.start()

    def wait(self) -> int:
        """Block until the broker process exits; return its exit code."""
        if self._process is None:
            raise LocalKafkaError("the broker is not running")
        return self._process.wait()

    def close(self) -> None:
        """Stop the broker and remove its data folder if it was a temporary one."""
        self.stop()
        if self._data_finalizer is not None:
            self._data_finalizer()

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last lines of the broker log and of the JVM's own output."""
        parts = []
        for path in (self.log_path, self._logs_dir / "kafka.out"):
            text = path.read_text(errors="replace").splitlines() if path.is_file() else []
            if text:
                parts.append(f"--- {path} ---\n{_tail(text, lines)}")
        return "\n".join(parts) or "(no broker output)"

    def __enter__(self) -> Self:
        """Start the broker."""
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the broker and drop temporary data."""
        self.close()

    def __repr__(self) -> str:
        """Where the broker listens and whether it runs."""
        state = "running" if self.is_running else "stopped"
        return f"<LocalKafkaBroker {self.bootstrap_servers} {state} data={self.data_dir}>"

    # -- layout

    @property
    def _config_path(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def _log4j_path(self) -> Path:
        return self.data_dir / "log4j2.properties"

    @property
    def _metadata_dir(self) -> Path:
        return self.data_dir / "kraft"

    @property
    def _logs_dir(self) -> Path:
        return self.data_dir / "logs"

    def _properties(self) -> dict[str, str]:
        listener = f"SASL_PLAINTEXT://127.0.0.1:{self.port}"
        mots = self._mots_de_passe
        admin, controleur = mots[SUPER_UTILISATEUR], mots[CONTROLEUR]
        properties = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"{listener},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": listener,
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "SASL_PLAINTEXT",
            "listener.security.protocol.map": "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
            # Clients: SCRAM-SHA-512 only, users created at format time (kafka-storage format --add-scram).
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required "
                f'username="{SUPER_UTILISATEUR}" password="{admin}";'
            ),
            # Controller: PLAIN against a static JAAS user, on loopback only.
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": (
                "org.apache.kafka.common.security.plain.PlainLoginModule required "
                f'username="{CONTROLEUR}" password="{controleur}" user_{CONTROLEUR}="{controleur}";'
            ),
            # Kafka's own ACLs: what no ACL allows is denied.
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
            "super.users": f"User:{SUPER_UTILISATEUR};User:{CONTROLEUR}",
            "log.dirs": str(self._metadata_dir),
            "num.partitions": "3",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "auto.create.topics.enable": str(self._auto_create_topics).lower(),
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "3",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "3",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # A small machine: fewer threads and a smaller compaction buffer.
            "num.network.threads": "2",
            "num.io.threads": "4",
            "background.threads": "4",
            "num.recovery.threads.per.data.dir": "1",
            "log.cleaner.dedupe.buffer.size": str(32 * 1024 * 1024),
        }
        properties.update(self._extra_properties)
        return properties

    def _write_config(self) -> None:
        self._logs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        lines = [f"{key}={value}" for key, value in self._properties().items()]
        _ecrire_prive(self._config_path, "# written by services.runtime.kafka_local\n" + "\n".join(lines) + "\n")
        self._log4j_path.write_text(_LOG4J_CONFIG)

    def _preparer_mots_de_passe(self) -> None:
        self._mots_de_passe = preparer_mots_de_passe(self.data_dir, self._principaux)

    # -- process control

    def _jvm_command(self, java: str, lib_dir: Path, main_class: str) -> list[str]:
        return [
            java,
            f"-Xmx{self._heap}",
            "-Xms128m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self._logs_dir}",
            f"-Dlog4j2.configurationFile={self._log4j_path}",
            "-cp",
            f"{lib_dir}/*",
            main_class,
        ]

    def _format(self, java: str, lib_dir: Path) -> None:
        command = [
            *self._jvm_command(java, lib_dir, STORAGE_TOOL_MAIN),
            "format",
            "--config",
            str(self._config_path),
            "--cluster-id",
            _new_cluster_id(),
        ]
        for principal in self._principaux:
            mot = self._mots_de_passe[principal]
            command += ["--add-scram", f"SCRAM-SHA-512=[name={principal},password={mot}]"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, umask=0o077)
        if result.returncode != 0:
            output = _tail((result.stdout + result.stderr).splitlines())
            raise LocalKafkaError(f"formatting {self._metadata_dir} failed:\n{output}")

    def _launch(self, java: str, lib_dir: Path) -> None:
        self._output = os.fdopen(
            os.open(self._logs_dir / "kafka.out", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab"
        )
        command = [
            *self._jvm_command(java, lib_dir, BROKER_MAIN),
            str(self._config_path),
        ]
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            cwd=self.data_dir,
            umask=0o077,  # segments, indexes and checkpoints readable by this user only
            start_new_session=True,  # a terminal's Ctrl-C reaches us, and we stop it cleanly
        )
        # Do not leave a broker behind if the interpreter exits without stop().
        self._process_finalizer = weakref.finalize(self, _terminate, self._process, self._stop_timeout)

    def _wait_until_ready(self, deadline: float) -> None:
        """Poll until the broker answers a metadata request, or fail with its log.

        The port opens before the broker serves requests, so a cheap TCP check
        comes first (quiet while the JVM boots), then a real metadata request.
        """
        while not _port_accepts(self.port):
            self._check_alive()
            if time.monotonic() > deadline:
                raise self._startup_error("the broker port never opened")
            time.sleep(0.1)  # polling interval, bounded by the deadline
        failure: BaseException | None = None
        while time.monotonic() < deadline:
            self._check_alive()
            probe = functools.partial(
                _list_topics,
                self.bootstrap_servers,
                timeout=min(max(deadline - time.monotonic(), 1.0), 10.0),
                identifiants=self.identifiants(SUPER_UTILISATEUR),
            )
            try:
                _run_in_own_loop(probe)
            except Exception as exc:
                failure = exc
                time.sleep(0.2)  # polling interval, bounded by the deadline
            else:
                return
        raise self._startup_error(f"no answer to a metadata request ({failure!r})")

    def _check_alive(self) -> None:
        if self._process is None:
            raise self._startup_error("the broker was stopped")
        if self._process.poll() is not None:
            code = self._process.returncode
            raise self._startup_error(f"the broker exited with code {code}")

    def _startup_error(self, reason: str) -> LocalKafkaError:
        return LocalKafkaError(f"Kafka broker on {self.bootstrap_servers} did not start: {reason}\n{self.log_tail()}")


_LOG4J_CONFIG = """\
# written by services.runtime.kafka_local: the broker logs to files, never to our terminal
status = warn
name = ase-local-kafka
# Kafka logs its own shutdown from a JVM hook: keep log4j alive until the very end.
shutdownHook = disable
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.filePattern = ${sys:kafka.logs.dir}/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 10MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


# -- credentials ----------------------------------------------------------------


def preparer_mots_de_passe(data_dir: Path, principaux: Mapping[str, object] = PRINCIPAUX) -> dict[str, str]:
    """Each principal's password for the broker in ``data_dir``, drawn once (``secrets.token_hex``).

    Kept in ``<data_dir>/identifiants-kafka.json`` (mode 0600, folder 0700); ``ase up``
    calls this before the broker's first start so the services' environment can
    hold their passwords. Also holds the controller's (:data:`CONTROLEUR`).

    Raises:
        LocalKafkaError: a principal is new but the broker was already formatted
            (SCRAM users are created at format time).
    """
    _restreindre(data_dir)
    fichier = data_dir / FICHIER_IDENTIFIANTS
    mots: dict[str, str] = dict(json.loads(fichier.read_text())) if fichier.is_file() else {}
    tous = {SUPER_UTILISATEUR, *principaux}
    nouveaux = [p for p in (*sorted(tous), CONTROLEUR) if p not in mots]
    if set(nouveaux) - {CONTROLEUR} and (data_dir / "kraft" / "meta.properties").exists():
        raise LocalKafkaError(
            f"principals {sorted(nouveaux)} are unknown to the broker formatted in {data_dir / 'kraft'}; "
            "remove that folder to recreate it"
        )
    for principal in nouveaux:
        mots[principal] = secrets.token_hex(24)
    if nouveaux or not fichier.is_file():
        _ecrire_prive(fichier, json.dumps(mots, indent=2) + "\n")
    os.chmod(fichier, 0o600)
    return mots


def ecrire_reglages_clients(
    data_dir: Path, bootstrap_servers: str, principaux: Mapping[str, object] = PRINCIPAUX
) -> Path:
    """Write each principal's client settings under ``<data_dir>/clients``; return that folder.

    Per principal: ``<nom>.properties`` (a Java client's ``--command-config`` /
    ``--consumer.config``) and ``<nom>.env`` (``KAFKA_BOOTSTRAP_SERVERS`` and the
    four ``KAFKA_*`` SASL variables of ``services.runtime.kafka``), mode 0600 in a
    0700 folder.
    """
    mots = preparer_mots_de_passe(data_dir, principaux)
    dossier = data_dir / "clients"
    _restreindre(dossier)
    for principal in {SUPER_UTILISATEUR, *principaux}:
        ids = Identifiants.scram(principal, mots[principal])
        _ecrire_prive(dossier / f"{principal}.properties", ids.proprietes_client(bootstrap_servers))
        variables = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers, **ids.env()}
        _ecrire_prive(dossier / f"{principal}.env", "".join(f"{k}={v}\n" for k, v in variables.items()))
    return dossier


# -- small pieces -------------------------------------------------------------


def _java_executable() -> str:
    """``$JAVA_HOME/bin/java`` when JAVA_HOME is set, else ``java`` on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file():
            return str(candidate)
        raise LocalKafkaError(f"JAVA_HOME={java_home} has no bin/java")
    found = shutil.which("java")
    if found is None:
        raise LocalKafkaError("Java 17 or later is needed to run Kafka: set JAVA_HOME or put java on PATH")
    return found


def _new_cluster_id() -> str:
    """A random Kafka cluster id, made the way ``Uuid.randomUuid()`` makes them."""
    while True:
        raw = uuid.uuid4().bytes
        encoded = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
        if not encoded.startswith("-"):
            return encoded


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise LocalKafkaError(f"port 127.0.0.1:{port} is already in use") from exc


def _port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _terminate(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM (Kafka shuts down cleanly), then SIGKILL if it hangs."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        logger.warning(
            "Kafka broker pid %d ignored SIGTERM for %.0fs; killing it",
            process.pid,
            timeout,
        )
        process.kill()
        process.wait()


async def _list_topics(bootstrap_servers: str, timeout: float, identifiants: Identifiants) -> None:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers,
        request_timeout_ms=int(timeout * 1000),
        client_id="ase-kafka-local-probe",
        **identifiants.options_aiokafka(),
    )
    await admin.start()
    try:
        await admin.list_topics()
    finally:
        await admin.close()


_TYPES_RESSOURCE = {"topic": 2, "group": 3, "cluster": 4}
_TYPES_MOTIF = {"literal": 3, "prefixed": 4}
_OPERATIONS = {"read": 3, "write": 4, "create": 5, "describe": 8, "describe_configs": 10}
_AUTORISER = 3
"""Kafka's wire codes (``org.apache.kafka.common.acl``/``resource``): ALLOW, LITERAL, PREFIXED..."""


async def _creer_acls(
    bootstrap_servers: str, admin_ids: Identifiants, principaux: Mapping[str, tuple[Acl, ...]]
) -> None:
    """Create every principal's ALLOW ACLs as the super user (CreateAcls v1; idempotent on the broker).

    aiokafka 0.14 has no ``create_acls``: the request is sent through its admin client.
    """
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, client_id="ase-kafka-local-acls", **admin_ids.options_aiokafka()
    )
    await admin.start()
    try:
        for principal, acls in principaux.items():
            for acl in acls:
                requete = CreateAclsRequest(
                    _TYPES_RESSOURCE[acl.ressource],
                    acl.nom,
                    _TYPES_MOTIF[acl.motif],
                    f"User:{principal}",
                    "*",
                    _OPERATIONS[acl.operation],
                    _AUTORISER,
                )
                reponse = await admin._send_request(requete)
                for code, message in reponse.creation_responses:
                    if code != 0:
                        raise LocalKafkaError(f"ACL {acl} for {principal} refused: error {code} {message}")
    finally:
        await admin.close()


def _restreindre(dossier: Path) -> None:
    """Create ``dossier`` if needed and make it mode 0700 (owner only)."""
    dossier.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(dossier, 0o700)


def _restreindre_arborescence(racine: Path) -> None:
    """``racine`` and every folder under it 0700, every file 0600."""
    _restreindre(racine)
    for dossier, sous_dossiers, fichiers in os.walk(racine):
        for nom in sous_dossiers:
            os.chmod(Path(dossier) / nom, 0o700)
        for nom in fichiers:
            os.chmod(Path(dossier) / nom, 0o600)


def _ecrire_prive(chemin: Path, texte: str) -> None:
    """Write a file readable by its owner only (0600), never world-readable even for an instant."""
    descripteur = os.open(chemin, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descripteur, "w") as fichier:
        fichier.write(texte)
    os.chmod(chemin, 0o600)


def _run_in_own_loop(make_coroutine: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a coroutine to completion in a private event loop on a helper thread.

    ``start()`` is synchronous but may be called while an event loop runs in
    this thread (an async fixture, ``ase up``), where ``asyncio.run`` refuses.
    """
    failure: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(make_coroutine())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target, name="kafka-local-probe", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def _tail(lines: list[str], count: int = _LOG_TAIL_LINES) -> str:
    return "\n".join(lines[-count:])


# -- command line -------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run a broker in the foreground until Ctrl-C (or SIGTERM)."""
    parser = argparse.ArgumentParser(
        prog="python -m services.runtime.kafka_local",
        description="Run a real single-node Apache Kafka broker (KRaft) on 127.0.0.1.",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="client port (default %(default)s)",
    )
    parser.add_argument(
        "--controller-port",
        type=int,
        default=None,
        help="KRaft controller port (default: free)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="keep data here (default: temporary)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help=f"jar cache (default: ${CACHE_DIR_ENV} or .cache/kafka)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for signum in (
        signal.SIGINT,
        signal.SIGTERM,
    ):  # SIGINT may be ignored when backgrounded
        signal.signal(signum, interrupt)
    broker = LocalKafkaBroker(
        port=args.port,
        controller_port=args.controller_port,
        data_dir=args.data_dir,
        cache_dir=args.cache_dir,
    )
    try:
        broker.start()
        print(f"Kafka ready: KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap_servers}")
        print(f"SASL/SCRAM-SHA-512 principals and passwords: {broker.fichier_identifiants}")
        print(
            f"data: {broker.data_dir}  log: {broker.log_path}  (Ctrl-C to stop)",
            flush=True,
        )
        code = broker.wait()
        print(f"Kafka exited with code {code}\n{broker.log_tail()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopping Kafka...", flush=True)
        return 0
    except LocalKafkaError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        broker.close()


if __name__ == "__main__":
    sys.exit(main())
