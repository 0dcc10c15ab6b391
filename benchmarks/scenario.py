"""The workload every measured path runs: the same commands on the same streams.

Each level writes ``COMMANDES_PAR_NIVEAU`` reports (``RapportSituationProduit``),
``RAPPORTS_PAR_PARCOURS`` on each of its own freshly opened parcours, so streams
are equally long whatever the number of clients. A client owns its parcours
(no two clients write one stream, so no version conflict) and goes round them in
turn, so every stream grows at the same pace during the run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import TypeVar
from uuid import uuid4

import orjson

from services.parcours.domain.contexte import Contexte
from services.parcours.settings import ParcoursSettings
from services.runtime.horloge import HorlogeFixe

H = TypeVar("H")

NIVEAUX = (1, 8, 32)
"""Concurrent clients of each measured level."""

TOURS = int(os.environ.get("ASE_BENCH_TOURS", "3"))
"""Rounds: each runs every level of every path once, paths interleaved, so that
a burst of other work on the machine hits all paths alike; figures are the
median round's throughput and percentiles over all rounds' latencies."""

COMMANDES_PAR_NIVEAU = int(os.environ.get("ASE_BENCH_COMMANDES", "960"))
"""Commands of one level in one round, the same for every path (a multiple of every level); a shorter
run while developing: ``ASE_BENCH_COMMANDES=320 ASE_BENCH_TOURS=1`` (the lead's ``make bench`` uses the defaults)."""

RAPPORTS_PAR_PARCOURS = 10
"""Commands per stream: a level opens ``COMMANDES_PAR_NIVEAU / RAPPORTS_PAR_PARCOURS`` parcours."""

ECHAUFFEMENT_PARCOURS = max(NIVEAUX)
ECHAUFFEMENT_RAPPORTS = 2
"""Warm-up before the first level (connections, prepared statements, caches), left out of the figures."""

TAILLE_POOL: int = ParcoursSettings.model_fields["db_pool_size"].default
"""Database connections of every path: the service's default ``db_pool_size``."""

AUJOURD_HUI = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
DATE_OUVERTURE = date(2026, 1, 5)
DATE_RAPPORT = date(2026, 11, 2)
DATE_NAISSANCE = date(2012, 3, 4)
DEPARTEMENT = "59"
AUTEUR = "bench"

CORPS_OUVERTURE = orjson.dumps(
    {
        "personne": {
            "nom": "Martin",
            "prenoms": "Léa",
            "date_naissance": DATE_NAISSANCE.isoformat(),
            "sexe": "F",
        },
        "departement": DEPARTEMENT,
        "date_effet": DATE_OUVERTURE.isoformat(),
    }
)
CORPS_RAPPORT = orjson.dumps({"transmis_au_juge": True, "date_effet": DATE_RAPPORT.isoformat()})


def horloge() -> HorlogeFixe:
    """A fixed 'now', so the dates of effect above are valid whenever the benchmark runs."""
    return HorlogeFixe(AUJOURD_HUI)


def contexte() -> Contexte:
    """A command's context shaped as the API builds it: request id as correlation and causation."""
    request_id = uuid4().hex
    return Contexte(auteur=AUTEUR, maintenant=AUJOURD_HUI, correlation_id=request_id, causation_id=request_id)


def parcours_par_niveau() -> int:
    return COMMANDES_PAR_NIVEAU // RAPPORTS_PAR_PARCOURS


def plan(flux: Sequence[H], clients: int, par_flux: int) -> list[list[H]]:
    """Each client's commands, in order: its own streams, round after round.

    Deterministic: the same streams and the same command count for every path.
    """
    if len(flux) % clients:
        raise ValueError(f"{len(flux)} flux ne se répartissent pas entre {clients} clients")
    return [[f for _ in range(par_flux) for f in flux[i::clients]] for i in range(clients)]


def verifier_parametres() -> None:
    """Refuse a configuration where levels would not run the same commands."""
    parcours = parcours_par_niveau()
    if COMMANDES_PAR_NIVEAU % RAPPORTS_PAR_PARCOURS or any(parcours % n for n in NIVEAUX):
        raise ValueError("COMMANDES_PAR_NIVEAU doit se répartir en parcours entiers entre les clients de chaque niveau")
