"""Names as a caseworker types them: case- and accent-insensitive search text.

Normalised in Python when the identity is projected, and the same way when a
query arrives, so the search needs no database extension (``unaccent``) and a
rebuild stores the same text.
"""

from __future__ import annotations

import unicodedata

_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae"})


def normaliser(texte: str) -> str:
    """``"Maëlys  Océane"`` -> ``"maelys oceane"``: no accent, no case, single spaces."""
    decompose = unicodedata.normalize("NFKD", texte.casefold().translate(_LIGATURES))
    sans_accents = "".join(c for c in decompose if not unicodedata.combining(c))
    return " ".join(sans_accents.split())


def motifs_like(requete: str) -> list[str]:
    """One ``LIKE`` pattern per word of ``requete`` (every word must match), wildcards escaped."""
    mots = normaliser(requete).split()
    return ["%" + m.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%" for m in mots]
