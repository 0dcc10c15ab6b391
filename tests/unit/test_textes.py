"""``texte_imprimable``: the printable text of DOMAIN.md, behind every name and free text of a command."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.vocabulaire import texte_imprimable


@pytest.mark.parametrize(
    ("texte", "attendu"),
    [
        ("Lefe\u0300vre", "Lefèvre"),
        ("  Jean Noël  ", "Jean Noël"),
        ("Marie\u00a0Claire", "Marie\u00a0Claire"),
        ("محمد", "محمد"),
        ("N'Diaye-Koné", "N'Diaye-Koné"),
        ("\u212b", "\u00c5"),  # ANGSTROM SIGN: NFC makes it the letter Å
    ],
)
def test_a_printable_text_comes_back_nfc_normalised_and_stripped(texte: str, attendu: str) -> None:
    assert texte_imprimable(texte) == attendu


@pytest.mark.parametrize(
    ("texte", "message"),
    [
        ("\u200b", "U+200B en position 1"),
        ("Du\x1b[31mpont", "caractère de contrôle interdit: U+001B en position 3"),
        ("Martin\u202eesiuoL", "U+202E en position 7"),
        ("Mar\u00adtin", "U+00AD"),
        ("\ufeffMartin", "U+FEFF"),
        ("Martin\u2066", "U+2066"),
        ("Martin\n", "U+000A"),
        ("Martin\u2028", "séparateur de ligne"),
        ("\u3164", "caractère invisible interdit: U+3164"),
        ("\ud800", "U+D800"),
        ("   ", "texte vide"),
        ("\u0301", "sans caractère visible"),
    ],
)
def test_a_text_that_does_not_print_is_refused_naming_the_character(texte: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        texte_imprimable(texte)


@given(st.text(max_size=40))
def test_an_accepted_text_is_normalised_printable_and_stable(texte: str) -> None:
    try:
        resultat = texte_imprimable(texte)
    except ValueError:
        return
    assert unicodedata.is_normalized("NFC", resultat)
    assert resultat == resultat.strip()
    assert not any(unicodedata.category(c) in {"Cc", "Cf", "Cs", "Zl", "Zp"} for c in resultat)
    assert texte_imprimable(resultat) == resultat


def test_without_stripping_a_value_keeps_its_spaces_but_not_its_invisible_characters() -> None:
    """How a rectification's ``nouvelle_valeur`` is read: its field's own type judges the spaces."""
    assert texte_imprimable(" Lefe\u0300vre ", rogner=False) == " Lefèvre "
    with pytest.raises(ValueError, match="texte vide"):
        texte_imprimable("   ", rogner=False)
    with pytest.raises(ValueError, match=re.escape("U+200B")):
        texte_imprimable("F\u200b", rogner=False)
