"""Start ``ase serve`` as a process for the end-to-end tests, and wait until it serves."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from queue import Empty, Queue

PRET = "Application startup complete"


def port_libre() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def lancer_ase_serve(
    donnees: Path,
    port: int,
    *,
    delai_s: float = 60.0,
    options: tuple[str, ...] = ("--workers", "1"),
    env_en_plus: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[str], list[str]]:
    """``ase serve`` on ``port`` and ``donnees``, once it logged its startup; the process and the lines it printed.

    Its environment is this one's without ``DATABASE_URL`` (the embedded PostgreSQL), plus ``env_en_plus``.
    Raises ``AssertionError`` with what it printed when it does not start within ``delai_s`` (it is killed).
    """
    env = {**os.environ, "ASE_LOG_LEVEL": "INFO"}
    env.pop("DATABASE_URL", None)
    env.update(env_en_plus or {})
    processus = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "serve", "--port", str(port), "--data-dir", str(donnees), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lignes: Queue[str] = Queue()
    assert processus.stdout is not None
    flux = processus.stdout

    def lire() -> None:
        for ligne in flux:
            lignes.put(ligne)

    threading.Thread(target=lire, daemon=True).start()
    vues: list[str] = []
    fin = time.monotonic() + delai_s
    while not any(PRET in ligne for ligne in vues):
        try:
            vues.append(lignes.get(timeout=max(0.1, fin - time.monotonic())))
        except Empty:
            processus.kill()
            raise AssertionError("ase serve did not start:\n" + "".join(vues)) from None
    return processus, vues
