"""``ase serve`` as a real process: the embedded default keeps every parcours across a restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.e2e.lanceur import lancer_ase_serve, port_libre


@contextmanager
def ase_serve(data_dir: Path, port: int) -> Iterator[tuple[str, str]]:
    """Run ``ase serve`` until its startup line; yield its URL and the dev token it printed."""
    processus, vues = lancer_ase_serve(data_dir, port)
    try:
        jeton = next(vues[i + 1].strip() for i, line in enumerate(vues) if line.startswith("Jeton"))
        yield f"http://127.0.0.1:{port}", jeton
    finally:
        processus.send_signal(signal.SIGINT)
        processus.wait(timeout=30)


def test_every_parcours_is_still_there_after_ase_serve_restarts(tmp_path: Path) -> None:
    data_dir = tmp_path / "donnees"
    port = port_libre()
    with ase_serve(data_dir, port) as (url, jeton):
        entetes = {"Authorization": f"Bearer {jeton}"}
        reponse = httpx.post(
            f"{url}/v1/parcours",
            json={
                "personne": {"nom": "Martin", "prenoms": "Léa", "date_naissance": "2012-04-03", "sexe": "F"},
                "departement": "59",
                "date_effet": "2025-01-06",
            },
            headers={**entetes, "Idempotency-Key": "ouverture-1"},
        )
        assert reponse.status_code == 201, reponse.text
        cree = reponse.json()
        assert httpx.get(f"{url}/readyz").json()["pret"] is True

    with ase_serve(data_dir, port) as (url, _):
        # A token minted by `ase token` with the same data folder is accepted.
        jeton_cli = subprocess.run(
            [
                sys.executable,
                "-m",
                "services.cli",
                "token",
                "--role",
                "auditeur",
                "--departement",
                "59",
                "--sub",
                "inspection",
                "--data-dir",
                str(data_dir),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        etat = httpx.get(f"{url}/v1/parcours/{cree['id']}", headers={"Authorization": f"Bearer {jeton_cli}"})
        assert etat.status_code == 200, etat.text
        assert etat.json()["personne_id"] == cree["personne_id"]
        assert etat.json()["version"] == 1
        # The idempotency key survived too: the retry answers as the first time.
        retry = httpx.post(
            f"{url}/v1/parcours",
            json={
                "personne": {"nom": "Martin", "prenoms": "Léa", "date_naissance": "2012-04-03", "sexe": "F"},
                "departement": "59",
                "date_effet": "2025-01-06",
            },
            headers={"Authorization": f"Bearer {jeton}", "Idempotency-Key": "ouverture-1"},
        )
        assert retry.status_code == 201
        assert retry.json() == cree


def test_ase_token_refuses_in_production_mode(tmp_path: Path) -> None:
    resultat = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.cli",
            "token",
            "--role",
            "referent",
            "--departement",
            "59",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "ASE_MODE": "production"},
        check=False,
    )
    assert resultat.returncode != 0
    assert "production" in resultat.stderr
    assert not (tmp_path / "dev-jwt-key.pem").exists()
