"""Every ``ase`` command finds its data folder the same way: ``--data-dir``, else ``ASE_DATA_DIR``, else ``.data``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer.main

from services.cli.commandes import app

SANS_DOSSIER = {"relay"}
"""``ase relay`` needs DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS: it has no embedded data."""


def _commandes(commande: Any, prefixe: str = "") -> dict[str, Any]:
    if hasattr(commande, "commands"):
        trouvees: dict[str, Any] = {}
        for nom, sous in commande.commands.items():
            trouvees |= _commandes(sous, f"{prefixe} {nom}".strip())
        return trouvees
    return {prefixe: commande}


def test_the_cli_commands_find_the_data_folder_differently_no_longer() -> None:
    commandes = _commandes(typer.main.get_command(app))
    assert {"retention", "cles rotation", "cles migrer", "audit verify", "audit checkpoint", "serve"} <= set(commandes)
    for nom, commande in commandes.items():
        if nom in SANS_DOSSIER:
            continue
        options = [p for p in commande.params if p.name == "data_dir"]
        assert len(options) == 1, f"ase {nom} n'a pas --data-dir"
        (option,) = options
        assert (option.opts, option.envvar, option.default) == (["--data-dir"], "ASE_DATA_DIR", Path(".data")), nom
