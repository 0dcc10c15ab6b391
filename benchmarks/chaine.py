"""The cost of the event store's hash chain: commands per second with and without it, in one run.

Two ``ParcoursApplication`` on the same embedded PostgreSQL, each on a fresh
database: ``avec_chaine`` (the service's recorder: the chain's triggers hash every
row and keep the head table, ``services.parcours.integrite``) and
``sans_chaine`` (the same recorder with ``chaine_integrite = False``). Same
workload as ``commandes`` (``scenario``: one ``RapportSituationProduit`` per
command, equally long streams), on threads as the API runs them; the paths take
turns within each level and round. The ratio ``avec_chaine/sans_chaine`` is the
median round's: ``0.95x`` means the chain costs 5% of the throughput.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
from eventsourcing.utils import get_topic

from benchmarks import scenario as s
from benchmarks.chemins_directs import CheminApplication
from benchmarks.mesures import Mesure, charger_en_threads, resumer
from benchmarks.postgres_jetable import PostgresJetable, postgres_jetable
from services.parcours.application import ParcoursApplication
from services.parcours.persistence import PostgresRecorderIdempotent
from services.runtime.postgres import env_eventsourcing

NOM = "chaine"
CHEMINS = ("avec_chaine", "sans_chaine")
NIVEAUX = (1, 8)
"""Concurrent clients (the commandes benchmark's 32 adds little here and doubles the time)."""


class RecorderSansChaine(PostgresRecorderIdempotent):
    """The service's recorder without the hash chain: the baseline."""

    chaine_integrite = False


class CheminSansChaine(CheminApplication):
    """``CheminApplication`` on a store without the chain."""

    nom = "sans_chaine"

    def __init__(self, url: str) -> None:
        env = {
            **env_eventsourcing(url, taille_pool=s.TAILLE_POOL),
            "APPLICATION_RECORDER_TOPIC": get_topic(RecorderSansChaine),
        }
        self.application = ParcoursApplication(env=env, horloge=s.horloge())


def _chaine_presente(url: str) -> bool:
    with psycopg.connect(url) as conn:
        ligne = conn.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'ase_events' AND column_name = 'empreinte'"
        ).fetchone()
    return bool(ligne and ligne[0])


def _mesurer(chemin: CheminApplication, clients: int, pg: PostgresJetable) -> Mesure:
    flux = chemin.ouvrir(s.parcours_par_niveau())
    pg.checkpoint()
    return charger_en_threads(s.plan(flux, clients, s.RAPPORTS_PAR_PARCOURS), chemin.commande)


def executer() -> dict[str, Any]:
    """Measure both paths, level by level, round by round; return the figures and the ratio."""
    debut = time.perf_counter()
    with postgres_jetable() as pg:
        reglages = pg.reglages()
        url_avec, url_sans = pg.nouvelle_base("avec_chaine"), pg.nouvelle_base("sans_chaine")
        chemins: dict[str, CheminApplication] = {
            "avec_chaine": CheminApplication(url_avec),
            "sans_chaine": CheminSansChaine(url_sans),
        }
        try:
            if not _chaine_presente(url_avec) or _chaine_presente(url_sans):
                raise AssertionError("le chemin avec chaîne doit l'avoir, l'autre non")
            for chemin in chemins.values():
                flux = chemin.ouvrir(s.ECHAUFFEMENT_PARCOURS)
                charger_en_threads(s.plan(flux, max(NIVEAUX), s.ECHAUFFEMENT_RAPPORTS), chemin.commande)
            mesures: dict[str, dict[int, list[Mesure]]] = {nom: {n: [] for n in NIVEAUX} for nom in CHEMINS}
            for tour in range(s.TOURS):
                ordre = CHEMINS if tour % 2 == 0 else tuple(reversed(CHEMINS))
                for clients in NIVEAUX:
                    for nom in ordre:
                        mesures[nom][clients].append(_mesurer(chemins[nom], clients, pg))
        finally:
            for chemin in chemins.values():
                chemin.fermer()
    ratios = {
        str(n): round(
            statistics.median(
                a.debit / b.debit for a, b in zip(mesures["avec_chaine"][n], mesures["sans_chaine"][n], strict=True)
            ),
            3,
        )
        for n in NIVEAUX
    }
    return {
        "benchmark": NOM,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "duree_totale_s": round(time.perf_counter() - debut, 1),
        "environnement": {
            "python": sys.version.split()[0],
            "plateforme": platform.platform(),
            "coeurs": os.cpu_count(),
            "postgres": reglages,
        },
        "parametres": {
            "niveaux": list(NIVEAUX),
            "tours": s.TOURS,
            "commandes_par_niveau_et_tour": s.COMMANDES_PAR_NIVEAU,
            "rapports_par_parcours": s.RAPPORTS_PAR_PARCOURS,
            "connexions_postgres": s.TAILLE_POOL,
        },
        "chemins": {nom: {str(n): resumer(tours) for n, tours in niveaux.items()} for nom, niveaux in mesures.items()},
        "ratios_debit": {"avec_chaine/sans_chaine": ratios},
    }


def rapport(resultat: dict[str, Any]) -> str:
    """Throughput and latency of both paths, then the ratio."""
    lignes = [
        f"Chaîne d'intégrité: {resultat['parametres']['tours']} tours de "
        f"{resultat['parametres']['commandes_par_niveau_et_tour']} commandes par niveau et chemin",
        "",
        f"{'chemin':<13}{'clients':>7}{'cmd/s':>8}{'p50 ms':>9}{'p99 ms':>9}",
    ]
    for nom, niveaux in resultat["chemins"].items():
        for clients, f in niveaux.items():
            lignes.append(f"{nom:<13}{clients:>7}{f['debit_cmd_s']:>8.0f}{f['p50_ms']:>9.2f}{f['p99_ms']:>9.2f}")
    for nom, valeurs in resultat["ratios_debit"].items():
        lignes += ["", f"{nom}: " + ", ".join(f"{v:.2f}x à {n} cl." for n, v in valeurs.items())]
    return "\n".join(lignes)
