"""``ase serve --workers N``: the API in N processes, each accepting on its own socket of one port.

Python runs one thread at a time per process (the GIL): a command's decoding, domain rules and
encoding use one core at most whatever the thread count, and a thread waiting for the GIL delays
every command queued behind the store's table lock. Several processes use the machine's cores.

What is multiplied, and what is not:

- the parent binds the socket, starts the embedded PostgreSQL (when ``DATABASE_URL`` is unset), creates
  the dev signing key in the data folder (every worker verifies with the same key file), then starts
  the workers, each accepting on its inherited socket of the port (``SO_REUSEPORT``: the kernel spreads
  the connections evenly over them, see :func:`prises_d_ecoute`);
- the projection engines run in worker 0 only (``ASE_MOTEURS=0`` for the others): an engine is one
  consumer of the store's log. ``ase relay`` is its own command, never multiplied here;
- a worker that stops makes the parent stop them all (and its PostgreSQL): a supervisor above
  (systemd, Kubernetes, ``make run``) restarts the whole, not a part;
- each worker's standard input is a pipe from the parent: when the parent dies (even ``kill -9``),
  the workers see it close and stop.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

ENV_MOTEURS = "ASE_MOTEURS"
"""``0`` in the workers that must not run the projection engines (all but worker 0)."""

ARRET_S = 30.0
"""How long the parent waits for its workers to end their lifespans before killing them."""


def coeurs_disponibles() -> int:
    """The cores this process may use: its CPU affinity, bounded by a cgroup v2 CPU quota (a container's limit)."""
    coeurs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    with contextlib.suppress(OSError, ValueError):
        quota, periode = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            coeurs = min(coeurs, max(1, math.ceil(int(quota) / int(periode))))
    return max(1, coeurs)


def moteurs_autorises() -> bool:
    """Whether this process may run the projection engines (not a worker other than the first)."""
    return os.environ.get(ENV_MOTEURS, "1") != "0"


def prises_d_ecoute(host: str, port: int, nombre: int) -> list[socket.socket]:
    """``nombre`` listening sockets on ``host:port`` (``port`` 0: one free port for all), one per worker.

    With ``SO_REUSEPORT`` (Linux, BSD) each worker accepts on a socket of its own and the kernel
    spreads new connections evenly over them. On one shared socket the worker that was last in
    ``epoll_wait`` (the busiest) took most of them: measured, 29 of 32 keep-alive connections on one
    of 2 workers, the other idle, the tail of latency at 32 clients 5 to 8 times the mean.
    Without ``SO_REUSEPORT``, one socket shared by all (the kernel's handover).

    Raises ``OSError`` (``EADDRINUSE``) when something already listens on ``host:port``, even another
    server whose sockets have ``SO_REUSEPORT`` too: the port is first bound alone, without it, so a
    second ``ase serve`` on the same port fails instead of sharing its connections with the first.
    """
    famille = socket.AF_INET6 if ":" in host else socket.AF_INET
    partage = not hasattr(socket, "SO_REUSEPORT") or nombre <= 1
    if not partage:
        with socket.socket(famille, socket.SOCK_STREAM) as seule:
            seule.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            seule.bind((host, port))  # EADDRINUSE when anyone listens there, with SO_REUSEPORT or not
            port = seule.getsockname()[1]
    prises: list[socket.socket] = []
    for _ in range(1 if partage else nombre):
        prise = socket.socket(famille, socket.SOCK_STREAM)
        prise.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if not partage:
            prise.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        prise.bind((host, port))
        port = prise.getsockname()[1]  # the same port for the next ones
        prise.listen(2048)
        prise.set_inheritable(True)
        prises.append(prise)
    return prises if not partage else prises * nombre


@contextlib.contextmanager
def _postgres_du_parent(service: str | None, data_dir: Path) -> Iterator[dict[str, str]]:
    """The environment of the workers: the embedded PostgreSQL's URL when it is the parent's to run."""
    if service is not None or os.environ.get("DATABASE_URL") or os.environ.get("ASE_DATABASE_URL"):
        yield {}
        return
    from services.runtime.postgres import tenir_postgres_embarque

    embarque = tenir_postgres_embarque(data_dir / "postgres")
    try:
        yield {"DATABASE_URL": embarque.url}
    finally:
        embarque.liberer()


def superviser(service: str | None, *, host: str, port: int, data_dir: Path, workers: int) -> int:
    """Run ``workers`` API processes on ``host:port`` until a signal or one of them stops; the exit status."""
    prises = prises_d_ecoute(host, port, workers)
    arret = threading.Event()

    def sur_signal(numero: int, _: FrameType | None) -> None:
        arret.set()

    for numero in (signal.SIGTERM, signal.SIGINT):
        signal.signal(numero, sur_signal)
    statut = 0
    with _postgres_du_parent(service, data_dir) as env_postgres:
        enfants: list[subprocess.Popen[bytes]] = []
        try:
            for rang in range(workers):
                env = {**os.environ, **env_postgres, ENV_MOTEURS: "1" if rang == 0 else "0"}
                prise = prises[rang]
                commande = [sys.executable, "-m", "services.cli.travailleurs", "--fd", str(prise.fileno())]
                commande += ["--host", host, "--port", str(port), "--data-dir", str(data_dir)]
                if service is not None:
                    commande += ["--service", service]
                enfants.append(subprocess.Popen(commande, stdin=subprocess.PIPE, pass_fds=[prise.fileno()], env=env))
            while not arret.is_set():
                if any(e.poll() is not None for e in enfants):
                    statut = 1
                    break
                arret.wait(0.2)  # a signal sets it at once; polling only for a worker that ends
        finally:
            for prise in prises:
                prise.close()
            _arreter(enfants)
    return statut


def _arreter(enfants: list[subprocess.Popen[bytes]]) -> None:
    for enfant in enfants:
        if enfant.poll() is None:
            enfant.send_signal(signal.SIGTERM)
    fin = time.monotonic() + ARRET_S
    for enfant in enfants:
        try:
            enfant.wait(timeout=max(0.1, fin - time.monotonic()))
        except subprocess.TimeoutExpired:
            enfant.kill()
            enfant.wait()


def _travailleur() -> None:
    """One worker: the app on the inherited socket, until SIGTERM or its parent's end."""
    arguments = argparse.ArgumentParser(description="un processus de ase serve --workers")
    arguments.add_argument("--fd", type=int, required=True)
    arguments.add_argument("--host", required=True)
    arguments.add_argument("--port", type=int, required=True)
    arguments.add_argument("--data-dir", type=Path, required=True)
    arguments.add_argument("--service")
    options = arguments.parse_args()

    import uvicorn

    from services.cli.serveur import application_embarquee, application_service
    from services.runtime import logs
    from services.runtime.limites import config_uvicorn

    logs.configurer(os.environ.get("ASE_LOG_LEVEL", "INFO"))
    asgi = application_embarquee(options.data_dir) if options.service is None else application_service(options.service)
    serveur = uvicorn.Server(config_uvicorn(asgi, host=options.host, port=options.port))

    def arreter_quand_le_parent_s_en_va() -> None:
        sys.stdin.buffer.read()  # EOF: the parent is gone
        serveur.should_exit = True

    threading.Thread(target=arreter_quand_le_parent_s_en_va, daemon=True).start()
    serveur.run(sockets=[socket.socket(fileno=options.fd)])


if __name__ == "__main__":
    _travailleur()
