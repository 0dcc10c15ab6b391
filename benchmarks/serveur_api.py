"""The API as ``ase serve`` runs it, in its own process, for the HTTP path.

The parent binds the listening socket and hands it over (``--fd``), so clients
can connect before the app is up: the kernel queues them until uvicorn
accepts. The server stops when its stdin closes, which also happens if the
parent dies. Settings come from the environment (``DATABASE_URL``,
``ASE_DATA_DIR``, ``ASE_DB_POOL_SIZE``), as in production; only the clock is
fixed, so the benchmark's dates of effect stay valid.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading

import uvicorn

from benchmarks import scenario as s
from services.parcours.api.app import creer_app
from services.parcours.settings import ParcoursSettings
from services.runtime import logs


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__)
    arguments.add_argument("--fd", type=int, required=True, help="descripteur de la socket d'écoute héritée")
    fd: int = arguments.parse_args().fd

    # The same logging as `ase serve`: one structured line per request.
    logs.configurer(os.environ.get("ASE_LOG_LEVEL", "INFO"))
    app = creer_app(ParcoursSettings(), horloge=s.horloge())
    serveur = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))

    def arreter_quand_stdin_se_ferme() -> None:
        sys.stdin.buffer.read()
        serveur.should_exit = True

    threading.Thread(target=arreter_quand_stdin_se_ferme, daemon=True).start()
    profil = os.environ.get("ASE_BENCH_PROFIL")
    if not profil:
        serveur.run(sockets=[socket.socket(fileno=fd)])
        return
    # Where the event loop's CPU goes (its thread only): ``python -m pstats <fichier>.<pid>``.
    import cProfile

    with cProfile.Profile() as profileur:
        serveur.run(sockets=[socket.socket(fileno=fd)])
    profileur.dump_stats(f"{profil}.{os.getpid()}")


if __name__ == "__main__":
    main()
