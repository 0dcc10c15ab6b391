"""Rules on a measure's frame and dates that need no parcours state: shared by decisions and renewals."""

from __future__ import annotations

from datetime import date

from droit.calendrier import ajouter
from services.parcours.domain.vocabulaire import (
    DUREES_MAXIMALES,
    NATURES_PAR_CADRE,
    Autorite,
    Cadre,
    Nature,
    est_departement,
)
from services.runtime.errors import RegleMetierError


def check_departement(code: str) -> None:
    if not est_departement(code):
        raise RegleMetierError("departement_inconnu", f"{code!r} n'est pas un code de département")


def check_nature_et_autorite(cadre: Cadre, nature: Nature, autorite: Autorite) -> None:
    if nature not in NATURES_PAR_CADRE[cadre]:
        raise RegleMetierError("nature_hors_cadre", f"une mesure {nature.value} ne relève pas du cadre {cadre.value}")
    if cadre is Cadre.ADMINISTRATIF and autorite is not Autorite.PRESIDENT_CD:
        raise RegleMetierError(
            "autorite_invalide", "une mesure administrative est décidée par le président du conseil départemental"
        )
    if cadre is Cadre.JUDICIAIRE and autorite is Autorite.PRESIDENT_CD:
        raise RegleMetierError("autorite_invalide", "une mesure judiciaire est ordonnée par un juge ou le parquet")
    if autorite is Autorite.PARQUET and nature is not Nature.OPP:
        raise RegleMetierError("autorite_invalide", "le parquet n'ordonne qu'une ordonnance de placement provisoire")


def check_echeance(cadre: Cadre, nature: Nature, debut: date, echeance: date | None) -> None:
    if echeance is not None and echeance <= debut:
        raise RegleMetierError("echeance_invalide", "l'échéance doit suivre le début de la mesure")
    limite = DUREES_MAXIMALES.get(nature)
    if limite is None or (cadre is not Cadre.JUDICIAIRE and nature is not Nature.ACCUEIL_72H):
        return
    if echeance is None:
        raise RegleMetierError("echeance_requise", f"une mesure {nature.value} a une échéance légale: la préciser")
    annees, mois, jours = limite
    if echeance > ajouter(debut, annees=annees, mois=mois, jours=jours):
        raise RegleMetierError(
            "duree_maximale_depassee",
            f"une mesure {nature.value} dure au plus {_duree(limite)}",
        )


def _duree(limite: tuple[int, int, int]) -> str:
    annees, mois, jours = limite
    if annees:
        return f"{annees} an{'s' if annees > 1 else ''}"
    if mois:
        return f"{mois} mois"
    return f"{jours} jours"
