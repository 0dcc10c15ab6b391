"""The README names nothing outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

RACINE = Path(__file__).resolve().parents[2]


def test_the_readme_points_outside_the_repository() -> None:
    texte = (RACINE / "README.md").read_text()
    # A relative path climbing out (`../shared/spec/`), in code, in a link or in prose.
    dehors = [ligne for ligne in texte.splitlines() if re.search(r"(^|[\s`(\"'])\.\./", ligne)]
    assert not dehors, f"the README points outside the repository: {dehors}"
    # Every link to a file resolves inside the repository, to something that exists.
    for cible in re.findall(r"\]\(([^)#\s]+)\)", texte):
        if re.match(r"^[a-z]+://", cible):
            continue
        chemin = (RACINE / cible).resolve()
        assert chemin.is_relative_to(RACINE), cible
        assert chemin.exists(), f"the README links to {cible}, which does not exist"
