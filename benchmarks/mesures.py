"""How a level is measured: drive N clients, time each command from the client,
and account the CPU each process spent meanwhile.

Latency is one command end to end as its client sees it; throughput is the
level's command count over the wall time from the first command sent to the
last answer received.
"""

from __future__ import annotations

import asyncio
import math
import os
import statistics
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

H = TypeVar("H")

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Mesure:
    """One level of one path in one round: every command's latency and the level's wall time."""

    latences_s: list[float]
    duree_s: float
    cpu_s: dict[str, float] = field(default_factory=dict)

    @property
    def debit(self) -> float:
        return len(self.latences_s) / self.duree_s


def resumer(tours: Sequence[Mesure]) -> dict[str, Any]:
    """One level of one path over its rounds: median throughput, percentiles of all latencies."""
    triees = sorted(lat for m in tours for lat in m.latences_s)
    n = len(triees)
    duree = sum(m.duree_s for m in tours)
    noms_cpu = set.intersection(*(set(m.cpu_s) for m in tours))
    return {
        "commandes": n,
        "debit_cmd_s": round(statistics.median(m.debit for m in tours), 1),
        "debit_par_tour": [round(m.debit, 1) for m in tours],
        "p50_ms": round(centile(triees, 50) * 1000, 3),
        "p99_ms": round(centile(triees, 99) * 1000, 3),
        "max_ms": round(triees[-1] * 1000, 3),
        "moyenne_ms": round(sum(triees) / n * 1000, 3),
        # CPU per process group: cores kept busy, and microseconds per command.
        "cpu": {
            nom: {
                "coeurs": round(sum(m.cpu_s[nom] for m in tours) / duree, 2),
                "us_par_commande": round(sum(m.cpu_s[nom] for m in tours) / n * 1e6),
            }
            for nom in sorted(noms_cpu)
        },
    }


def centile(triees: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rang = max(1, math.ceil(q / 100 * len(triees)))
    return triees[rang - 1]


def charger_en_threads(plan: list[list[H]], commande: Callable[[H], object]) -> Mesure:
    """Run each client's commands on its own thread; all start together at a barrier."""
    depart = threading.Barrier(len(plan) + 1)

    def client(sequence: list[H]) -> list[float]:
        latences = []
        depart.wait()
        for h in sequence:
            debut = time.perf_counter()
            commande(h)
            latences.append(time.perf_counter() - debut)
        return latences

    with ThreadPoolExecutor(max_workers=len(plan)) as executeur:
        futurs = [executeur.submit(client, sequence) for sequence in plan]
        depart.wait()
        debut = time.perf_counter()
        latences = [lat for futur in futurs for lat in futur.result()]
        duree = time.perf_counter() - debut
    return Mesure(latences, duree)


async def charger_en_taches(plan: list[list[H]], commande: Callable[[H], Awaitable[object]]) -> Mesure:
    """Run each client's commands as its own task on the event loop."""

    async def client(sequence: list[H]) -> list[float]:
        latences = []
        for h in sequence:
            debut = time.perf_counter()
            await commande(h)
            latences.append(time.perf_counter() - debut)
        return latences

    debut = time.perf_counter()
    resultats = await asyncio.gather(*(client(sequence) for sequence in plan))
    duree = time.perf_counter() - debut
    return Mesure([lat for r in resultats for lat in r], duree)


# -- CPU accounting (Linux /proc; figures left out elsewhere) ---------------------


def cpu_de(pids: Iterable[int]) -> float:
    """User + system CPU seconds of ``pids`` so far (processes gone are skipped)."""
    total = 0
    for pid in pids:
        try:
            champs = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += int(champs[11]) + int(champs[12])
    return total / _TICKS


def enfants_de(ppid: int) -> list[int]:
    """The processes whose parent is ``ppid`` (a postmaster's backends and workers)."""
    enfants = []
    for entree in Path("/proc").iterdir() if Path("/proc/self/stat").exists() else ():
        if not entree.name.isdigit():
            continue
        try:
            champs = (entree / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(champs[1]) == ppid:
            enfants.append(int(entree.name))
    return enfants


@dataclass
class CompteurCpu:
    """CPU spent during a level by this process, the API server and PostgreSQL."""

    postmaster: int | None
    serveur: Sequence[int] | None = None
    """The API's processes (its workers)."""
    _avant: dict[str, float] = field(default_factory=dict)

    def _instantane(self) -> dict[str, float]:
        valeurs = {"ce_processus": time.process_time()}
        if not Path("/proc/self/stat").exists():
            return valeurs
        if self.serveur is not None:
            valeurs["serveur_api"] = cpu_de(self.serveur)
        if self.postmaster is not None:
            valeurs["postgres"] = cpu_de([self.postmaster, *enfants_de(self.postmaster)])
        return valeurs

    def demarrer(self) -> None:
        self._avant = self._instantane()

    def arreter(self) -> dict[str, float]:
        apres = self._instantane()
        return {nom: apres[nom] - self._avant[nom] for nom in apres if nom in self._avant}


# -- memory (Linux /proc) -------------------------------------------------------------


def rss_mo(pids: Iterable[int]) -> float:
    """Resident memory of ``pids`` together, in MB (``VmRSS``; processes gone are skipped)."""
    total_ko = 0
    for pid in pids:
        try:
            for ligne in Path(f"/proc/{pid}/status").read_text().splitlines():
                if ligne.startswith("VmRSS:"):
                    total_ko += int(ligne.split()[1])
        except OSError:
            continue
    return round(total_ko / 1024, 1)


@dataclass
class PicRss:
    """The highest resident memory of some processes while a block runs, sampled every ``periode_s``."""

    pids: Sequence[int]
    periode_s: float = 0.1
    pic_mo: float = 0.0
    _tache: asyncio.Task[None] | None = None

    async def __aenter__(self) -> PicRss:
        async def echantillonner() -> None:
            while True:
                self.pic_mo = max(self.pic_mo, rss_mo(self.pids))
                await asyncio.sleep(self.periode_s)

        self._tache = asyncio.create_task(echantillonner())
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._tache is not None
        self._tache.cancel()
        self.pic_mo = max(self.pic_mo, rss_mo(self.pids))
