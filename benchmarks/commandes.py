"""Command throughput and latency through the HTTP API, beside its baselines.

Measured: ``POST /v1/parcours/{id}/rapports`` (one ``RapportSituationProduit``
per command) at 1, 8 and 32 concurrent clients: commands per second, and p50 /
p99 latency of each command as its client sees it.

Baselines, in the same run, on the same embedded PostgreSQL (one fresh
database per path, a checkpoint before each level), with the same commands on
equally long streams and the same connection count (the service's
``db_pool_size``):

* ``application``: ``ParcoursApplication`` called directly (load, decide, save);
* ``application_en_clair``: the same with personal fields stored in clear: ``application/application_en_clair``
  is the cost of encryption at rest (loading a parcours reads its person's key and decrypts its birth date);
* ``bibliotheque``: the eventsourcing library alone saving the same event;
* ``asyncpg``: a raw transaction of the recorder's shape (exclusive table lock,
  NOTIFY, INSERT of the same JSON bytes): the physical limit of gap-free appends.

Ratios divide throughputs: ``api/asyncpg 0.35x`` means the API reaches 35% of
the raw limit at that level.

The API runs as ``ase serve --workers`` does (``ASE_BENCH_WORKERS``, default the cores available).
Also measured: the API's resident memory (all its processes) at rest and at its peak under each
level; and a command's latency at 1 client on streams of ``LONGUEURS`` events (snapshots make
it independent of the stream's length). Shorter runs while developing: ``ASE_BENCH_COMMANDES``,
``ASE_BENCH_TOURS`` (``scenario``) and ``ASE_BENCH_LONGUEUR``.
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

import psycopg

from benchmarks import scenario as s
from benchmarks.chemin_api import CheminApi
from benchmarks.chemin_asyncpg import CheminAsyncpg, evenements_types
from benchmarks.chemins_directs import CheminApplication, CheminApplicationEnClair, CheminBibliotheque
from benchmarks.mesures import CompteurCpu, Mesure, PicRss, charger_en_taches, charger_en_threads, resumer, rss_mo
from benchmarks.postgres_jetable import PostgresJetable, postgres_jetable

NOM = "commandes"
CHEMINS = ("api", "application", "application_en_clair", "bibliotheque", "asyncpg")
RATIOS = (
    ("api", "asyncpg"),
    ("api", "bibliotheque"),
    ("api", "application"),
    ("application", "application_en_clair"),
    ("application", "asyncpg"),
    ("bibliotheque", "asyncpg"),
)

CIBLE_API_BIBLIOTHEQUE = 0.6
"""Issue 11: the API at least 0.6x the bare eventsourcing save, at 8 and 32 clients."""
CIBLE_API_ASYNCPG = 0.35
"""Issue 11: the API at least 0.35x the raw asyncpg transaction, at 8 and 32 clients."""
NIVEAUX_CIBLES = ("8", "32")
CIBLE_P99_MS = 150.0
"""Issue 11: p99 through the API at 32 clients, at most."""
CIBLE_LONGUEUR = 0.8
"""Issue 11: a command on a long stream at least 0.8x as fast as on a short one (latency short / long)."""

LONGUEURS = (10, int(os.environ.get("ASE_BENCH_LONGUEUR", "1000")))
"""Stream lengths of the latency-by-length measure: events of the stream before the measured commands."""
COMMANDES_PAR_LONGUEUR = int(os.environ.get("ASE_BENCH_COMMANDES_LONGUEUR", "60"))
"""Commands measured on each length, alternating short and long streams at 1 client."""

H = TypeVar("H")


@dataclass(frozen=True)
class Pilote(Generic[H]):
    """How the runner drives one path, whichever way it runs (threads or tasks)."""

    ouvrir: Callable[[int], Awaitable[list[H]]]
    charger: Callable[[list[list[H]]], Awaitable[Mesure]]
    url: str
    evenements_par_ouverture: int
    serveur: list[int] | None = None
    """The API's processes (CPU and memory are theirs together)."""


async def _echauffer(pilote: Pilote[Any]) -> None:
    """Connections, prepared statements, caches: exercised once, left out of the figures."""
    flux = await pilote.ouvrir(s.ECHAUFFEMENT_PARCOURS)
    await pilote.charger(s.plan(flux, max(s.NIVEAUX), s.ECHAUFFEMENT_RAPPORTS))


async def _mesurer(pilote: Pilote[Any], clients: int, pg: PostgresJetable, pics: dict[int, float]) -> Mesure:
    """One level of one path on its own fresh parcours; the API's peak memory of the level into ``pics``."""
    flux = await pilote.ouvrir(s.parcours_par_niveau())
    await asyncio.to_thread(pg.checkpoint)
    cpu = CompteurCpu(postmaster=pg.postmaster, serveur=pilote.serveur)
    cpu.demarrer()
    async with PicRss(pilote.serveur or []) as pic:
        mesure = await pilote.charger(s.plan(flux, clients, s.RAPPORTS_PAR_PARCOURS))
    if pilote.serveur:
        pics[clients] = max(pics.get(clients, 0.0), pic.pic_mo)
    return replace(mesure, cpu_s=cpu.arreter())


async def _par_longueur(api: CheminApi) -> dict[str, Any]:
    """Latency of one command at 1 client on a stream of each length of ``LONGUEURS``, alternating."""
    courts, longs = await api.ouvrir(COMMANDES_PAR_LONGUEUR), await api.ouvrir(1)
    for parcours_id in courts:
        for _ in range(LONGUEURS[0] - 2):  # opened with its first event; the identity's is another stream
            await api.commande(parcours_id)
    for _ in range(LONGUEURS[1] - 1):
        await api.commande(longs[0])
    latences: dict[int, list[float]] = {n: [] for n in LONGUEURS}
    for parcours_id in courts:  # each short stream once (length 10), the long one as often (1,000 and on)
        for longueur, flux in ((LONGUEURS[0], parcours_id), (LONGUEURS[1], longs[0])):
            debut = time.perf_counter()
            await api.commande(flux)
            latences[longueur].append(time.perf_counter() - debut)
    medianes = {n: statistics.median(v) * 1000 for n, v in latences.items()}
    return {
        "commandes_par_longueur": COMMANDES_PAR_LONGUEUR,
        "p50_ms": {str(n): round(v, 2) for n, v in medianes.items()},
        "ratio_court_sur_long": round(medianes[LONGUEURS[0]] / medianes[LONGUEURS[1]], 3),
    }


def _verifier_ecrits(pilote: Pilote[Any]) -> None:
    """Every command must have appended exactly one event: nothing lost, nothing doubled."""
    mesures = s.TOURS * len(s.NIVEAUX)
    ouverts = s.ECHAUFFEMENT_PARCOURS + mesures * s.parcours_par_niveau()
    commandes = s.ECHAUFFEMENT_PARCOURS * s.ECHAUFFEMENT_RAPPORTS + mesures * s.COMMANDES_PAR_NIVEAU
    attendus = ouverts * pilote.evenements_par_ouverture + commandes
    with psycopg.connect(pilote.url) as conn:
        ligne = conn.execute("SELECT count(*) FROM ase_events").fetchone()
    if ligne is None or ligne[0] != attendus:
        raise AssertionError(f"{pilote.url}: {ligne} événements écrits, {attendus} attendus")


def _synchrone(chemin: CheminApplication | CheminBibliotheque, url: str, par_ouverture: int) -> Pilote[Any]:
    return Pilote(
        ouvrir=lambda n: asyncio.to_thread(chemin.ouvrir, n),
        charger=lambda plan: asyncio.to_thread(charger_en_threads, plan, chemin.commande),
        url=url,
        evenements_par_ouverture=par_ouverture,
    )


async def _demarrer(
    pile: AsyncExitStack, pg: PostgresJetable, dossier: Path
) -> tuple[dict[str, Pilote[Any]], CheminApi]:
    """Every path up at once, each on its own fresh database; stopped when ``pile`` closes."""
    pilotes: dict[str, Pilote[Any]] = {}

    url = await asyncio.to_thread(pg.nouvelle_base, "asyncpg")
    brut = await CheminAsyncpg.creer(url)
    pile.push_async_callback(brut.fermer)
    pilotes["asyncpg"] = Pilote(brut.ouvrir, lambda plan: charger_en_taches(plan, brut.commande), url, 1)

    url = await asyncio.to_thread(pg.nouvelle_base, "bibliotheque")
    bibliotheque = await asyncio.to_thread(CheminBibliotheque, url)
    pile.callback(bibliotheque.fermer)
    pilotes["bibliotheque"] = _synchrone(bibliotheque, url, 1)

    url = await asyncio.to_thread(pg.nouvelle_base, "application")
    application = await asyncio.to_thread(CheminApplication, url)
    pile.callback(application.fermer)
    # Opening a parcours also registers its Identite: two events.
    pilotes["application"] = _synchrone(application, url, 2)

    url = await asyncio.to_thread(pg.nouvelle_base, "application_en_clair")
    en_clair = await asyncio.to_thread(CheminApplicationEnClair, url)
    pile.callback(en_clair.fermer)
    pilotes["application_en_clair"] = _synchrone(en_clair, url, 2)

    url = await asyncio.to_thread(pg.nouvelle_base, "api")
    api = await pile.enter_async_context(CheminApi.demarrer(url, dossier / "api"))
    pilotes["api"] = Pilote(api.ouvrir, lambda plan: charger_en_taches(plan, api.commande), url, 2, serveur=api.pids)
    return {nom: pilotes[nom] for nom in CHEMINS}, api


async def _tous_les_chemins(
    pg: PostgresJetable, dossier: Path
) -> tuple[dict[str, dict[int, list[Mesure]]], dict[str, Any], dict[str, Any]]:
    """Warm every path up, then run the rounds: each level of each path once per round.

    Paths take turns within a level, in an order that rotates with the round, so
    that neither drift nor a burst of other load favours one of them.
    """
    async with AsyncExitStack() as pile:
        pilotes, api = await _demarrer(pile, pg, dossier)
        for pilote in pilotes.values():
            await _echauffer(pilote)
        memoire: dict[str, Any] = {"processus_api": len(api.pids), "repos_mo": rss_mo(api.pids)}
        pics: dict[int, float] = {}
        mesures: dict[str, dict[int, list[Mesure]]] = {nom: {n: [] for n in s.NIVEAUX} for nom in pilotes}
        for tour in range(s.TOURS):
            ordre = CHEMINS[tour % len(CHEMINS) :] + CHEMINS[: tour % len(CHEMINS)]
            for clients in s.NIVEAUX:
                for nom in ordre:
                    mesures[nom][clients].append(await _mesurer(pilotes[nom], clients, pg, pics))
        for pilote in pilotes.values():
            await asyncio.to_thread(_verifier_ecrits, pilote)
        memoire["pic_sous_charge_mo"] = {str(n): v for n, v in sorted(pics.items())}
        longueurs = await _par_longueur(api)
    return mesures, memoire, longueurs


def _ratios(mesures: dict[str, dict[int, list[Mesure]]]) -> dict[str, dict[str, float]]:
    """Throughput of a over b, per round (measured side by side), then the median round."""
    return {
        f"{a}/{b}": {
            str(n): round(
                statistics.median(x.debit / y.debit for x, y in zip(mesures[a][n], mesures[b][n], strict=True)), 3
            )
            for n in s.NIVEAUX
        }
        for a, b in RATIOS
    }


def _boucle() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (uvicorn[standard] brings it): the load generator costs less CPU."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _charge() -> float | None:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def executer() -> dict[str, Any]:
    """Run every path; return the figures, the ratios and the conditions of the run."""
    s.verifier_parametres()
    debut = time.perf_counter()
    charge_avant = _charge()
    with postgres_jetable() as pg, tempfile.TemporaryDirectory(prefix="ase-bench-") as dossier:
        reglages = pg.reglages()
        with asyncio.Runner(loop_factory=_boucle()) as runner:
            mesures, memoire, longueurs = runner.run(_tous_les_chemins(pg, Path(dossier)))
    _, rapport = evenements_types()
    return {
        "benchmark": NOM,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "duree_totale_s": round(time.perf_counter() - debut, 1),
        "environnement": {
            "python": sys.version.split()[0],
            "plateforme": platform.platform(),
            "coeurs": os.cpu_count(),
            # Other work on the machine skews every figure: recorded so that a noisy run shows
            # ("apres" includes the benchmark's own load).
            "charge_moyenne_1min": {"avant": charge_avant, "apres": _charge()},
            "postgres": reglages,
        },
        "parametres": {
            "niveaux": list(s.NIVEAUX),
            "tours": s.TOURS,
            "commandes_par_niveau_et_tour": s.COMMANDES_PAR_NIVEAU,
            "rapports_par_parcours": s.RAPPORTS_PAR_PARCOURS,
            "echauffement_commandes": s.ECHAUFFEMENT_PARCOURS * s.ECHAUFFEMENT_RAPPORTS,
            "connexions_postgres": s.TAILLE_POOL,
            "octets_etat_evenement": len(rapport.etat),
            "commande": "POST /v1/parcours/{id}/rapports",
            "processus_api": memoire["processus_api"],
            "longueurs": list(LONGUEURS),
        },
        "chemins": {nom: {str(n): resumer(tours) for n, tours in niveaux.items()} for nom, niveaux in mesures.items()},
        "ratios_debit": _ratios(mesures),
        "memoire_api": memoire,
        "latence_par_longueur": longueurs,
    }


def rapport(resultat: dict[str, Any]) -> str:
    """The figures as a short table, then the ratios."""
    cpu_noms = ("ce_processus", "serveur_api", "postgres")
    env = resultat["environnement"]
    charge = env["charge_moyenne_1min"]
    parametres = resultat["parametres"]
    lignes = [
        f"Commandes: {parametres['tours']} tours de {parametres['commandes_par_niveau_et_tour']} par niveau et chemin, "
        f"{parametres['connexions_postgres']} connexions PostgreSQL, "
        f"fsync={env['postgres'].get('fsync')}, {env['coeurs']} cœurs, "
        f"charge de la machine {charge['avant']} avant, {charge['apres']} après",
    ]
    if (charge["avant"] or 0) > (env["coeurs"] or 1) / 2:
        lignes.append(
            f"ATTENTION: charge de {charge['avant']} avant le départ: d'autres travaux tournaient, les chiffres en sont faussés."
        )
    lignes += [
        "",
        "cmd/s: tour médian (plus lent-plus rapide); latences: tous les tours; CPU en cœurs occupés",
        "",
        f"{'chemin':<13}{'clients':>7}{'cmd/s':>7}{'(tours)':>12}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"   CPU {' / '.join(cpu_noms)}",
    ]
    for nom, niveaux in resultat["chemins"].items():
        for clients, f in niveaux.items():
            cpu = " / ".join(f"{f['cpu'][c]['coeurs']:.2f}" if c in f["cpu"] else "-" for c in cpu_noms)
            ecart = f"({min(f['debit_par_tour']):.0f}-{max(f['debit_par_tour']):.0f})"
            lignes.append(
                f"{nom:<13}{clients:>7}{f['debit_cmd_s']:>7.0f}{ecart:>12}{f['p50_ms']:>9.2f}{f['p99_ms']:>9.2f}"
                f"{f['max_ms']:>9.2f}   {cpu}"
            )
    niveaux_noms = list(next(iter(resultat["chemins"].values())))
    lignes += ["", f"{'débit relatif (médiane)':<24}" + "".join(f"{n + ' cl.':>10}" for n in niveaux_noms)]
    for rapport_nom, valeurs in resultat["ratios_debit"].items():
        lignes.append(f"{rapport_nom:<24}" + "".join(f"{valeurs[n]:>9.2f}x" for n in niveaux_noms))
    lignes += ["", "Cibles (issue 11):"]
    ratios = resultat["ratios_debit"]
    for nom, cible in (("api/bibliotheque", CIBLE_API_BIBLIOTHEQUE), ("api/asyncpg", CIBLE_API_ASYNCPG)):
        for n in NIVEAUX_CIBLES:
            if n in ratios[nom]:
                lignes.append(f"  {nom} à {n} clients: {_cible(ratios[nom][n], cible, 'x')}")
    api = resultat["chemins"]["api"].get(str(max(s.NIVEAUX)))
    if api is not None:
        p99 = api["p99_ms"]
        lignes.append(
            f"  p99 via l'API à {max(s.NIVEAUX)} clients: {p99:.1f} ms (cible ≤ {CIBLE_P99_MS:g} ms) "
            + ("✓" if p99 <= CIBLE_P99_MS else "✗")
        )
    longueurs = resultat.get("latence_par_longueur")
    if longueurs:
        court, long = (longueurs["p50_ms"][k] for k in list(longueurs["p50_ms"]))
        noms = list(longueurs["p50_ms"])
        lignes.append(
            f"  latence (p50, 1 client) à {noms[0]} événements {court:.1f} ms, à {noms[1]} {long:.1f} ms: "
            f"{_cible(longueurs['ratio_court_sur_long'], CIBLE_LONGUEUR, 'x')}"
        )
    memoire = resultat.get("memoire_api")
    if memoire:
        pics = ", ".join(f"{n} cl. {v:.0f} Mo" for n, v in memoire["pic_sous_charge_mo"].items())
        lignes.append(
            f"Mémoire de l'API ({memoire['processus_api']} processus, RSS): {memoire['repos_mo']:.0f} Mo au repos; "
            f"pic sous charge: {pics}"
        )
    return "\n".join(lignes)


def _cible(valeur: float, cible: float, unite: str) -> str:
    """``0.62x (cible ≥ 0.6x) ✓``."""
    return f"{valeur:.2f}{unite} (cible ≥ {cible:g}{unite}) " + ("✓" if valeur >= cible else "✗")
