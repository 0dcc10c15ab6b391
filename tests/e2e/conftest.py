"""Fixtures of the end-to-end tests."""

from __future__ import annotations

import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from services.runtime.postgres import processus_postgres


@pytest.fixture
def donnees() -> Iterator[Path]:
    """A data folder outside pytest's (a concurrent run may prune those); no server survives the test."""
    dossier = Path(tempfile.mkdtemp(prefix="ase-e2e-")) / "donnees"
    try:
        yield dossier
    finally:
        _arreter_ce_qui_reste(dossier / "postgres")
        shutil.rmtree(dossier.parent, ignore_errors=True)


def _arreter_ce_qui_reste(pgdata: Path) -> None:
    """Whatever a failed test left running on ``pgdata``: stopped, so nothing outlives the test."""
    restants = processus_postgres(pgdata)
    for processus in restants:
        if processus.ppid() not in {p.pid for p in restants}:
            processus.send_signal(signal.SIGQUIT)
    psutil.wait_procs(restants, timeout=10)
