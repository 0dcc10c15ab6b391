"""A horizontal bar chart drawn server-side as SVG: places offered beside children placed, per type of lieu.

No script and no ``style=`` (the pages' Content-Security-Policy forbids inline style): colours are SVG
presentation attributes (``fill=``). The chart is an image with a name and a description
(``role="img"``, ``aria-labelledby`` on its ``<title>`` and ``<desc>``); every bar carries its figure as
text, and the page repeats the same figures in a table for screen readers and for printing. The two
series differ by their pattern too (places: outlined, children: filled), not by colour alone (RGAA 3.1).
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

LARGEUR = 720
"""Width of the drawing (user units; it scales down with the page, ``.graphique``)."""
MARGE_GAUCHE = 230
"""Room for the type labels on the left."""
MARGE_DROITE = 170
"""Room for the longest bar's value ("12 enfants (sur-occupé)")."""
HAUTEUR_BARRE = 18
ESPACE_GROUPE = 22
HAUT = 44
"""Room for the legend above the bars."""
COULEUR_PLACES = "#ffffff"
BORDURE_PLACES = "#1f4e79"
COULEUR_ENFANTS = "#1f4e79"
COULEUR_SUR_OCCUPATION = "#a4161a"
TEXTE = "#1b1b1b"


@dataclass(frozen=True)
class Barre:
    """One type of lieu: its label, the places it offers and the children placed there now."""

    libelle: str
    places: int
    enfants: int

    @property
    def sur_occupation(self) -> bool:
        return self.enfants > self.places


def _longueur(valeur: int, maximum: int) -> float:
    utile = LARGEUR - MARGE_GAUCHE - MARGE_DROITE
    return round(utile * valeur / maximum, 1) if maximum > 0 else 0.0


def barres_svg(barres: list[Barre], *, ident: str, titre: str, description: str) -> Markup:
    """The chart as an ``<svg>`` element, ready to put in a template (every text escaped).

    ``ident`` prefixes the ids of ``<title>`` and ``<desc>`` (unique on the page). Each type gets two bars,
    places then children, each followed by its value; an over-occupied type says "sur-occupé" in words.
    """
    maximum = max([b.places for b in barres] + [b.enfants for b in barres] + [1])
    hauteur_groupe = 2 * HAUTEUR_BARRE + ESPACE_GROUPE
    hauteur = HAUT + hauteur_groupe * len(barres) + 10
    morceaux: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="graphique" role="img" '
        f'viewBox="0 0 {LARGEUR} {hauteur}" width="{LARGEUR}" height="{hauteur}" '
        f'aria-labelledby="{ident}-titre {ident}-desc">',
        f'<title id="{ident}-titre">{escape(titre)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
        # Legend: the pattern of each series, named in words.
        f'<rect x="{MARGE_GAUCHE}" y="8" width="14" height="14" fill="{COULEUR_PLACES}" '
        f'stroke="{BORDURE_PLACES}" stroke-width="2"/>',
        f'<text x="{MARGE_GAUCHE + 20}" y="20" fill="{TEXTE}" font-size="14">Places offertes</text>',
        f'<rect x="{MARGE_GAUCHE + 160}" y="8" width="14" height="14" fill="{COULEUR_ENFANTS}"/>',
        f'<text x="{MARGE_GAUCHE + 180}" y="20" fill="{TEXTE}" font-size="14">Enfants placés</text>',
    ]
    for rang, barre in enumerate(barres):
        y = HAUT + rang * hauteur_groupe
        morceaux.append(f'<g class="graphique__groupe" data-type="{escape(barre.libelle)}">')
        morceaux.append(
            f'<text x="{MARGE_GAUCHE - 10}" y="{y + HAUTEUR_BARRE + 4}" text-anchor="end" '
            f'fill="{TEXTE}" font-size="14">{escape(barre.libelle)}</text>'
        )
        for decalage, (serie, valeur) in enumerate((("places", barre.places), ("enfants", barre.enfants))):
            yb = y + decalage * HAUTEUR_BARRE
            longueur = _longueur(valeur, maximum)
            if serie == "places":
                peinture = f'fill="{COULEUR_PLACES}" stroke="{BORDURE_PLACES}" stroke-width="2"'
            else:
                couleur = COULEUR_SUR_OCCUPATION if barre.sur_occupation else COULEUR_ENFANTS
                peinture = f'fill="{couleur}"'
            pluriel = "s" if valeur > 1 else ""
            valeur_texte = f"{valeur} place{pluriel}" if serie == "places" else f"{valeur} enfant{pluriel}"
            if serie == "enfants" and barre.sur_occupation:
                valeur_texte += " (sur-occupé)"
            morceaux.append(
                f'<rect class="graphique__barre" data-serie="{serie}" data-valeur="{valeur}" '
                f'x="{MARGE_GAUCHE}" y="{yb + 1}" width="{longueur}" height="{HAUTEUR_BARRE - 2}" {peinture}/>'
            )
            morceaux.append(
                f'<text class="graphique__valeur" x="{MARGE_GAUCHE + longueur + 6}" y="{yb + HAUTEUR_BARRE - 4}" '
                f'fill="{TEXTE}" font-size="13">{escape(valeur_texte)}</text>'
            )
        morceaux.append("</g>")
    morceaux.append("</svg>")
    return Markup("".join(morceaux))  # noqa: S704 (every value above is escaped or a number)
