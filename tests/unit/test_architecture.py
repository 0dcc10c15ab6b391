"""Services apart, the law in one place: the import contracts of ``pyproject.toml`` hold.

``[tool.importlinter]`` says it once: services.parcours, services.projections and
services.notifications import none of each other (services.cli wires them and
may import them all); the shared runtime imports no service; the law (``droit``)
and the contracts import nothing from ``services``. The linter is run here so
that ``make test`` fails when an import breaks a rule, and on a copy of the code
with forbidden imports added (each rule, each direction between services), so
that a rule that stopped checking anything would show.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

RACINE = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
SERVICES_APART = "The four services import none of each other"
RUNTIME = "The shared runtime imports no service"
DROIT_ET_CONTRATS = "The law and the contracts import nothing from services"


def _lint_imports(racine: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the code under ``racine``, with its ``pyproject.toml``."""
    env = {**os.environ, "PYTHONPATH": str(racine)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=racine,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_no_service_imports_another_and_the_law_and_contracts_import_no_service() -> None:
    resultat = _lint_imports(RACINE)
    assert resultat.returncode == 0, resultat.stdout + resultat.stderr
    assert "3 kept, 0 broken" in resultat.stdout


INTERDITES = [
    ("services/projections/service.py", "services.parcours.persistence", SERVICES_APART),
    ("services/notifications/__init__.py", "services.projections.readmodels.dossiers", SERVICES_APART),
    ("services/parcours/relay.py", "services.notifications", SERVICES_APART),
    ("services/runtime/http.py", "services.parcours.settings", RUNTIME),
    ("droit/regles.py", "services.runtime.horloge", DROIT_ET_CONTRATS),
    ("contracts/publication.py", "services.parcours.domain.flux", DROIT_ET_CONTRATS),
]
"""Imports each breaking a contract: (importing file, imported module, contract)."""

PERMISES = [("services/cli/__init__.py", m) for m in ("services.parcours.relay", "services.projections.service")]
"""The command line wires the services together: it may import every one."""


def _module(fichier: str) -> str:
    return fichier.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def test_every_contract_breaks_on_a_forbidden_import_and_the_cli_may_import_every_service(tmp_path: Path) -> None:
    for paquet in ("services", "contracts", "droit"):
        shutil.copytree(RACINE / paquet, tmp_path / paquet, ignore=shutil.ignore_patterns("__pycache__", "*.json"))
    shutil.copy(RACINE / "pyproject.toml", tmp_path / "pyproject.toml")
    for fichier, importe, *_ in [*INTERDITES, *PERMISES]:
        with (tmp_path / fichier).open("a") as f:
            f.write(f"\nimport {importe}  # added by the test\n")

    resultat = _lint_imports(tmp_path)

    assert resultat.returncode == 1, resultat.stdout + resultat.stderr
    assert "0 kept, 3 broken" in resultat.stdout
    for fichier, importe, contrat in INTERDITES:
        assert f"{contrat} BROKEN" in resultat.stdout
        assert f"{_module(fichier)} -> {importe} " in resultat.stdout, (fichier, importe)
    for fichier, importe in PERMISES:
        assert f"{_module(fichier)} -> {importe} " not in resultat.stdout
