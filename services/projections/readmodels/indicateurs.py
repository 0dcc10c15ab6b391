"""The steering indicators of API.md: their definitions and how each is counted.

Pure functions, no I/O: the cohorts come from ``cohortes.py``; "today" is a
parameter (a deadline not yet passed is *pending*, neither met nor missed).
Each indicator states its definition in the response, so a figure is never
read without knowing what it counts.

How a year counts (``annee``): an indicator counts the events whose date of
effect (or the measure's start) falls in that year, except
``lieux_successifs``, which is a state at 31 December of the year (for the
current year: as recorded so far). A département is the one that recorded the
event (the parcours' département at that time), or, for a state at a date, the
parcours' département on that date (after any transfer).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel

from droit.calendrier import ajouter

SITUATIONS_SANS_LOGEMENT = frozenset({"sans_solution", "inconnue"})
MOTIFS_HORS_CHAMP_SORTIE = frozenset({"deces"})


class Indicateur(BaseModel):
    """One indicator for one year and a set of départements."""

    code: str
    libelle: str
    definition: str
    unite: Literal["part", "nombre_moyen"]
    valeur: float | None
    """The share (0 to 1, 4 decimals) or the mean (2 decimals); none when nobody is counted."""
    population: int
    """Who the value is computed over (the denominator of a share)."""
    numerateur: int | None = None
    en_attente: int = 0
    """Left out: the deadline has not passed yet and nothing is recorded."""
    exclus: int = 0
    """Left out: see the definition (a measure lifted before its deadline, an exit by death...)."""
    mediane: float | None = None
    maximum: int | None = None
    repartition: dict[str, int] = {}


class Statut(StrEnum):
    DANS_LE_DELAI = "dans_le_delai"
    HORS_DELAI = "hors_delai"
    EN_ATTENTE = "en_attente"
    EXCLU = "exclu"


def statut_echeance(
    limite: date, fait_le: date | None, aujourd_hui: date, *, interrompu_le: date | None = None
) -> Statut:
    """Whether something due by ``limite`` was done in time.

    Done on or before ``limite``: in time. Else, when what made it due stopped
    before ``limite`` (a measure lifted, a young person who left care): excluded.
    Else, when ``limite`` is today or later: pending. Else: late (or never done).
    """
    if fait_le is not None and fait_le <= limite:
        return Statut.DANS_LE_DELAI
    if interrompu_le is not None and interrompu_le < limite:
        return Statut.EXCLU
    if fait_le is None and limite >= aujourd_hui:
        return Statut.EN_ATTENTE
    return Statut.HORS_DELAI


def part(numerateur: int, population: int) -> float | None:
    return round(numerateur / population, 4) if population else None


def _indicateur_delai(code: str, libelle: str, definition: str, statuts: Iterable[Statut]) -> Indicateur:
    compte = Counter(statuts)
    dans_le_delai = compte[Statut.DANS_LE_DELAI]
    population = dans_le_delai + compte[Statut.HORS_DELAI]
    return Indicateur(
        code=code,
        libelle=libelle,
        definition=definition,
        unite="part",
        valeur=part(dans_le_delai, population),
        population=population,
        numerateur=dans_le_delai,
        en_attente=compte[Statut.EN_ATTENTE],
        exclus=compte[Statut.EXCLU],
    )


# -- lieux successifs -------------------------------------------------------------------

DEFINITION_LIEUX = (
    "Enfants accueillis (placés) au 31 décembre de l'année dans le département (celui du parcours à cette date); "
    "pour chacun, le nombre de lieux d'accueil successifs depuis l'ouverture du parcours jusqu'à cette date "
    "(chaque début d'accueil et chaque changement de lieu compte pour un lieu, y compris dans un autre "
    "département). Valeur: la moyenne; aussi la médiane, le maximum et la répartition. Année en cours: "
    "l'état enregistré à ce jour."
)


def lieux_successifs(nombres: Sequence[int]) -> Indicateur:
    """Mean, median and maximum number of successive lieux of the children placed at year end."""
    return Indicateur(
        code="lieux_successifs",
        libelle="Lieux d'accueil successifs par enfant accueilli",
        definition=DEFINITION_LIEUX,
        unite="nombre_moyen",
        valeur=round(statistics.fmean(nombres), 2) if nombres else None,
        population=len(nombres),
        mediane=float(statistics.median(nombres)) if nombres else None,
        maximum=max(nombres) if nombres else None,
        repartition={str(n): k for n, k in sorted(Counter(nombres).items())},
    )


# -- PPE dans les 3 mois ----------------------------------------------------------------

DEFINITION_PPE = (
    "Mesures (administratives et judiciaires, toutes natures) dont la date de début tombe dans l'année, "
    "décidées par le département; part de celles pour lesquelles un PPE (établi ou actualisé) est daté entre "
    "le début de la mesure et 3 mois après (inclus). Exclues: les mesures levées avant ces 3 mois sans PPE. "
    "En attente (hors population): les mesures sans PPE dont les 3 mois ne sont pas écoulés à la date du calcul."
)


@dataclass(frozen=True)
class MesureDebutee:
    date_debut: date
    levee_le: date | None
    premier_ppe_le: date | None
    """The first PPE (established or updated) dated on or after the measure's start."""


def ppe_dans_les_3_mois(mesures: Iterable[MesureDebutee], aujourd_hui: date) -> Indicateur:
    statuts = (
        statut_echeance(ajouter(m.date_debut, mois=3), m.premier_ppe_le, aujourd_hui, interrompu_le=m.levee_le)
        for m in mesures
    )
    return _indicateur_delai("ppe_dans_les_3_mois", "PPE établi dans les 3 mois de la mesure", DEFINITION_PPE, statuts)


# -- entretien d'autonomie à 17 ans -----------------------------------------------------

DEFINITION_ENTRETIEN = (
    "Jeunes dont le 17e anniversaire tombe dans l'année (le mois de naissance seulement est connu: "
    "le mois des 17 ans), accueillis (placés: un accueil en cours) le 1er jour de ce mois, parcours suivi "
    "dans le département à cette date: l'entretien est dû aux mineurs placés (CASF L222-5-1); part de ceux "
    "dont l'entretien d'autonomie est réalisé au plus tard le dernier jour du mois des 17 ans (précision au "
    "mois). Exclus: ceux sortis du dispositif avant cette date sans entretien. En attente: sans entretien et "
    "le mois des 17 ans pas encore achevé. Ne comptent pas ceux dont le placement commence après le début du "
    "mois des 17 ans (l'entretien est alors dû dès que possible), ni ceux suivis sans être placés."
)


@dataclass(frozen=True)
class JeuneDe17Ans:
    mois_17_ans: date
    """The first day of the month of the 17th birthday."""
    entretien_le: date | None
    sorti_le: date | None
    """The first exit on or after ``mois_17_ans``, if any."""


def fin_de_mois(jour: date) -> date:
    return ajouter(jour.replace(day=1), mois=1, jours=-1)


def entretien_autonomie_a_17_ans(jeunes: Iterable[JeuneDe17Ans], aujourd_hui: date) -> Indicateur:
    statuts = (
        statut_echeance(fin_de_mois(j.mois_17_ans), j.entretien_le, aujourd_hui, interrompu_le=j.sorti_le)
        for j in jeunes
    )
    return _indicateur_delai(
        "entretien_autonomie_a_17_ans", "Entretien d'autonomie réalisé à 17 ans", DEFINITION_ENTRETIEN, statuts
    )


# -- APJM à 18 ans ----------------------------------------------------------------------

DEFINITION_APJM = (
    "Jeunes dont la majorité (MajoriteAtteinte, datée du 18e anniversaire) tombe dans l'année, suivis par le "
    "département à leur majorité; part de ceux à qui un accompagnement jeune majeur a été accordé avec un "
    "début au plus tard 3 mois après la majorité. Seul l'accord est enregistré (une proposition refusée ne "
    "l'est pas). En attente: sans APJM et les 3 mois pas encore écoulés à la date du calcul."
)


@dataclass(frozen=True)
class Majorite:
    majorite_le: date
    apjm_debut: date | None
    """The start of the first APJM granted, if any."""


def apjm_a_18_ans(majorites: Iterable[Majorite], aujourd_hui: date) -> Indicateur:
    statuts = (statut_echeance(ajouter(m.majorite_le, mois=3), m.apjm_debut, aujourd_hui) for m in majorites)
    return _indicateur_delai(
        "apjm_a_18_ans", "Accompagnement jeune majeur accordé à la majorité", DEFINITION_APJM, statuts
    )


# -- sorties sans solution de logement --------------------------------------------------

DEFINITION_SORTIES = (
    "Sorties du dispositif (SortieDispositif) datées dans l'année, enregistrées par le département, hors décès "
    "(exclus); part de celles dont la situation de logement est sans_solution ou inconnue. Une personne sortie "
    "deux fois dans l'année compte deux sorties. Répartition: par situation de logement."
)


@dataclass(frozen=True)
class Sortie:
    motif: str
    situation_logement: str


def sorties_sans_logement(sorties: Iterable[Sortie]) -> Indicateur:
    comptees = []
    exclues = 0
    for sortie in sorties:
        if sortie.motif in MOTIFS_HORS_CHAMP_SORTIE:
            exclues += 1
        else:
            comptees.append(sortie.situation_logement)
    sans = sum(1 for s in comptees if s in SITUATIONS_SANS_LOGEMENT)
    return Indicateur(
        code="sorties_sans_logement",
        libelle="Sorties sans solution de logement",
        definition=DEFINITION_SORTIES,
        unite="part",
        valeur=part(sans, len(comptees)),
        population=len(comptees),
        numerateur=sans,
        exclus=exclues,
        repartition=dict(sorted(Counter(comptees).items())),
    )


# -- hôtel ou hébergement dérogatoire au plus 2 mois ------------------------------------

DEFINITION_HOTEL = (
    "Séjours dans un lieu limité à 2 mois (hébergement dérogatoire des 16-21 ans, décret 2024-119, ou hôtel, "
    "interdit depuis le 1er février 2024: CASF L221-2-3), commencés dans l'année (début d'accueil ou "
    "changement de lieu vers un tel lieu), enregistrés par le département; part de ceux terminés (changement "
    "de lieu ou fin d'accueil) au plus tard 2 mois après leur début, la durée maximale légale. En attente: "
    "séjours en cours dont les 2 mois ne sont pas écoulés à la date du calcul; un séjour en cours au-delà de "
    "2 mois est hors délai."
)


@dataclass(frozen=True)
class SejourHotel:
    debut: date
    fin: date | None
    """When the young person left the lieu (another lieu, or the accueil ended); none while still there."""


def hotel_au_plus_2_mois(sejours: Iterable[SejourHotel], aujourd_hui: date) -> Indicateur:
    statuts = (statut_echeance(ajouter(s.debut, mois=2), s.fin, aujourd_hui) for s in sejours)
    return _indicateur_delai(
        "hotel_au_plus_2_mois",
        "Séjours à l'hôtel ou en hébergement dérogatoire limités à 2 mois",
        DEFINITION_HOTEL,
        statuts,
    )
