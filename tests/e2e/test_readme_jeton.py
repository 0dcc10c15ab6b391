"""The README's token step, as written: the token ``make run`` prints, then ``ase token`` from the same folder.

The fault: the README took a token from ``ase token``, which silently created a
new key when its folder had none, so the server refused the token. Now the
README uses the token ``ase serve`` prints, and ``ase token`` warns on stderr
when it creates a key no running server knows.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from tests.e2e.test_ase_serve import ase_serve

RACINE = Path(__file__).resolve().parents[2]


def _ase_token(cwd: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ASE_MODE"}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "token", *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def _bloc_utiliser_l_api() -> list[str]:
    texte = (RACINE / "README.md").read_text()
    section = texte.split("## Using the API", 1)[1]
    bloc = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert bloc is not None, "the README's 'Using the API' has a shell block"
    return bloc.group(1).splitlines()


def test_ase_token_without_data_dir_silently_creates_a_new_key(tmp_path: Path) -> None:
    premier = _ase_token(tmp_path, "--role", "referent", "--departement", "59")
    assert premier.returncode == 0, premier.stderr
    assert re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]+\n", premier.stdout), "stdout holds the token alone"
    assert "attention" in premier.stderr
    assert str((tmp_path / ".data").resolve()) in premier.stderr
    assert "ase serve" in premier.stderr
    assert (tmp_path / ".data" / "dev-jwt-key.pem").exists()

    # The key exists now: no warning.
    second = _ase_token(tmp_path, "--role", "referent", "--departement", "59")
    assert second.returncode == 0
    assert second.stderr == ""


def test_the_readme_token_step_works_as_written(tmp_path: Path) -> None:
    lignes = _bloc_utiliser_l_api()
    assert lignes[0].startswith("make run"), lignes
    jeton_ligne = next(ligne for ligne in lignes if ligne.startswith("TOKEN="))
    assert "make run printed" in jeton_ligne, "the token to use is the one `make run` prints"
    commande = "\n".join(ligne for ligne in lignes[1:] if not ligne.startswith("TOKEN="))
    curl = shutil.which("curl")
    assert curl is not None

    # `make run` is `ase serve --data-dir .data` at the repository's root: here, a folder of its own.
    from tests.e2e.lanceur import port_libre

    port = port_libre()
    with ase_serve(tmp_path / ".data", port) as (url, jeton_imprime):
        executee = subprocess.run(
            ["bash", "-c", commande.replace("localhost:8000", f"127.0.0.1:{port}")],
            env={**os.environ, "TOKEN": jeton_imprime, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert executee.returncode == 0, executee.stderr
        reponse = json.loads(executee.stdout)
        assert reponse["evenements"] == ["ParcoursOuvert"], reponse

        # The README's `ase token` for another role, from the same folder: the server accepts it, silently.
        autre = _ase_token(tmp_path, "--role", "auditeur", "--departement", "59")
        assert autre.stderr == ""
        lu = httpx.get(
            f"{url}/v1/parcours/{reponse['id']}",
            headers={"Authorization": f"Bearer {autre.stdout.strip()}"},
            trust_env=False,
        )
        assert lu.status_code == 200, lu.text
