"""Options shared by every ``ase`` command, so that they find their data the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ENV_DATA_DIR = "ASE_DATA_DIR"

DATA_DIR = Path(".data")
"""The data folder when neither ``--data-dir`` nor ``ASE_DATA_DIR`` is given (relative to the working directory)."""

OptionDataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        envvar=ENV_DATA_DIR,
        show_envvar=True,
        help="dossier de données (PostgreSQL embarqué, Kafka local, clés de dev); défaut: ASE_DATA_DIR, puis .data",
    ),
]
"""``--data-dir DIR``, else ``ASE_DATA_DIR``, else ``.data``: the same folder for ``ase serve``, ``ase up``,
``ase token``, ``ase audit``, ``ase retention`` and ``ase cles`` (README, "Configuration")."""
