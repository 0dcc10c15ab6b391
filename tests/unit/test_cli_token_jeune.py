"""``ase token --role jeune`` carries the person's ``personne_id``, and refuses to go without it."""

from __future__ import annotations

import uuid
from pathlib import Path

from typer.testing import CliRunner

from services.cli.commandes import app
from services.runtime.auth import CleDeDeveloppement


def test_a_jeune_token_carries_the_personne_id_given(tmp_path: Path) -> None:
    personne = uuid.uuid4()
    resultat = CliRunner().invoke(
        app,
        [
            "token",
            "--role",
            "jeune",
            "--departement",
            "59",
            "--personne-id",
            str(personne),
            "--data-dir",
            str(tmp_path),
        ],
    )
    assert resultat.exit_code == 0, resultat.output
    jeton = resultat.stdout.strip().splitlines()[-1]
    utilisateur = CleDeDeveloppement.dans(tmp_path).verifier(jeton)
    assert utilisateur.roles == frozenset({"jeune"})
    assert utilisateur.personne_id == personne


def test_a_jeune_token_without_personne_id_is_refused(tmp_path: Path) -> None:
    resultat = CliRunner().invoke(app, ["token", "--role", "jeune", "--departement", "59", "--data-dir", str(tmp_path)])
    assert resultat.exit_code == 2
    assert "--personne-id" in resultat.output


def test_a_personne_id_that_is_not_a_uuid_is_refused(tmp_path: Path) -> None:
    resultat = CliRunner().invoke(
        app,
        ["token", "--role", "jeune", "--departement", "59", "--personne-id", "moi", "--data-dir", str(tmp_path)],
    )
    assert resultat.exit_code == 2
    assert "UUID" in resultat.output
