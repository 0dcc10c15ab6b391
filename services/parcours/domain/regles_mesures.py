"""Rules on a measure's frame and dates that need no parcours state: shared by decisions and renewals."""

from __future__ import annotations

from datetime import date

from droit.calendrier import ajouter, anniversaire
from droit.regles import ECHEANCE_REQUISE, NATURES_DUREE_DEROGATOIRE
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


def check_ouverture(departement: str, date_naissance: date, date_effet: date) -> None:
    """A parcours opens from the day of birth (a newborn, L222-6) and before the 21st birthday (L112-3)."""
    check_departement(departement)
    if date_naissance > date_effet:
        raise RegleMetierError(
            "date_naissance_invalide",
            "la date de naissance ne peut suivre la date d'effet (un nouveau-né est pris en charge le jour même)",
        )
    if date_effet >= anniversaire(date_naissance, 21):
        raise RegleMetierError(
            "age_limite_depasse",
            "un parcours ne s'ouvre que pour une personne de moins de 21 ans à la date d'effet",
        )


def check_echeance(nature: Nature, debut: date, echeance: date | None, *, duree_derogatoire: bool) -> None:
    """The échéance of a measure (or of its renewed period from ``debut``) within the law's cap.

    Administrative measures: required, 1 year at most (CASF L223-5 al. 1), ``accueil_72h``
    3 days (L223-2); ``confiage_ase`` and ``aemo``: 2 years (C. civ. 375 al. 3), a
    ``confiage_ase`` beyond only with ``duree_derogatoire`` (375 al. 4);
    ``aemo_renforcee``: 1 year; ``tiers_digne_de_confiance``: required, no cap.
    """
    if echeance is not None and echeance <= debut:
        raise RegleMetierError("echeance_invalide", "l'échéance doit suivre le début de la mesure")
    if duree_derogatoire and nature not in NATURES_DUREE_DEROGATOIRE:
        raise RegleMetierError(
            "duree_derogatoire_invalide",
            "seul un confiage à l'ASE peut dépasser deux ans, sur le fondement de l'article 375 al. 4 du code civil",
        )
    if echeance is None:
        if nature in ECHEANCE_REQUISE:
            raise RegleMetierError("echeance_requise", f"une mesure {nature.value} a une échéance légale: la préciser")
        return
    limite = DUREES_MAXIMALES.get(nature)
    if limite is None or duree_derogatoire:
        return
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
