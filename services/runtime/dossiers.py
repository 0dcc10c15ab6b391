"""Data folders readable by their owner only (issue 9: the broker's and the store's files were world-readable)."""

from __future__ import annotations

import os
from pathlib import Path

MODE_PRIVE = 0o700
"""Owner: read, write, enter; group and others: nothing."""


def dossier_prive(chemin: Path) -> Path:
    """Create ``chemin`` (and its missing parents) if needed and set it to mode 0700; return it.

    Only ``chemin`` itself is restricted: parents that already exist are left as they are
    (a home folder, ``/tmp``); the project's data folder is given here explicitly.
    """
    chemin.mkdir(mode=MODE_PRIVE, parents=True, exist_ok=True)
    os.chmod(chemin, MODE_PRIVE)
    return chemin
