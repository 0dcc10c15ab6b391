"""The pages' SVG bar chart: named, described, figures written on it, escaped, no inline style."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from services.pages.graphique import Barre, barres_svg

SVG = "{http://www.w3.org/2000/svg}"


def test_each_type_has_a_bar_per_series_proportional_to_its_figure_with_the_figure_in_words() -> None:
    svg = barres_svg(
        [Barre("MECS", 10, 4), Barre("Assistant familial", 2, 3)], ident="g", titre="Occupation", description="d"
    )
    racine = ET.fromstring(str(svg))
    assert (racine.get("role"), racine.get("aria-labelledby")) == ("img", "g-titre g-desc")
    assert racine.find(f"{SVG}title").text == "Occupation"  # type: ignore[union-attr]
    barres = {
        (g.get("data-type"), r.get("data-serie")): float(r.get("width") or 0)
        for g in racine.iter(f"{SVG}g")
        for r in g.iter(f"{SVG}rect")
    }
    assert barres[("MECS", "places")] == 5 * barres[("Assistant familial", "places")] > 0
    assert barres[("MECS", "enfants")] == 2 * barres[("Assistant familial", "places")]
    textes = [t.text for t in racine.iter(f"{SVG}text")]
    assert [t for t in textes if t and t[0].isdigit()] == [
        "10 places",
        "4 enfants",
        "2 places",
        "3 enfants (sur-occupé)",
    ]
    assert "style=" not in str(svg)


def test_a_label_is_escaped_and_an_empty_lieu_draws_no_bar() -> None:
    svg = barres_svg([Barre("<script>x</script>", 0, 0)], ident="v", titre="a & b", description="<d>")
    assert "<script>" not in str(svg)
    racine = ET.fromstring(str(svg))
    (barre, *_) = [r for r in racine.iter(f"{SVG}rect") if r.get("data-serie") == "places"]
    assert barre.get("width") == "0.0"
    assert racine.find(f"{SVG}title").text == "a & b"  # type: ignore[union-attr]
