"""The caseworker read model (``dossiers``): rebuild rate beside a bare read of
the same events, and freshness from a command's commit to the read API.

1. ``reconstruction``: ``ase_events`` is filled with at least
   ``EVENEMENTS_MIN`` events of realistic children's histories (an opening
   with its identity, an IP and its evaluation, a judicial measure, an accueil,
   PPE, reports, a renewal, a referent, for some a change of lieu and a
   runaway, a transfer, a rectification: ~14 events each), written with the
   domain's own commands and saved by ``ParcoursApplication`` (same stored
   JSON), several parcours per commit (see ``_generer``). The relay then
   publishes everything to Kafka (timed until its position is the largest
   notification id). Measured, alternated, with the machine's CPU accounted:

   - the rebuild, ``reconstruction.reconstruire`` as ``ase rebuild`` runs it,
     from the store (``FeedJournal``) and from Kafka (``FeedKafka``, a fresh
     group), timed from the call until it is ready to switch (positions at the
     feed's ends, deferred ends of batch run, indexes built; the catalogue
     switch excluded), with a stopwatch on the feed (time spent
     waiting for the next batch, and on each batch until the engine asks for
     the next) and on the projection's ``appliquer`` and ``fin_de_lot``; the
     engine's own work (per-stream versions, savepoints, positions, commit) is
     the remainder. One rebuild per source: ``REPETITIONS_RECONSTRUCTION``.
     Its rate is also given per tenth of the events (median and spread), so a
     burst of other work on the machine shows;
   - the raw pass of each source: the same feed class (``FeedJournal``: same
     SELECT, batch size, and decoding into ``EvenementPublie``; ``FeedKafka``:
     a consumer in a fresh group, headers and body parsed into
     ``EvenementPublie``) iterated to the same end positions, nothing applied.
     ``REPETITIONS_BRUT`` each, interleaved with the rebuilds; medians.

   Both rebuilt read models are checked (no dead letter, one dossier per
   parcours, one journal row per parcours event) and compared table by table.

2. ``fraicheur``: on the same database, with the read model the Kafka rebuild
   left active, three processes as deployed: the relay (``ase relay``'s
   settings), the projections service (``composer`` + the read app under
   uvicorn on 127.0.0.1, its engine following Kafka, only the ``dossiers``
   projection, with the stopwatches above), and a generator calling
   ``ParcoursApplication.commander`` (one ``RapportSituationProduit`` per
   command, no HTTP) from a thread pool on an open-loop schedule of
   ``CADENCE_CMD_S`` commands/s, round ``PARCOURS_FRAICHEUR`` parcours. Each
   commit is sent at once to this process, where a poller calls
   ``GET /v1/dossiers/{id}`` over HTTP until the dossier's ``version`` reaches
   the committed one. A GET costs the read side seven queries and a durable
   write (the access log), and the engine shares its process: polling every
   few milliseconds from the commit would measure the poller's own load. So
   the first GET waits for a hint: a bare consumer of the parcours topic (own
   group) notes each event's partition and offset, and one query every
   ``POLL_RAPIDE_S`` on the active schema's ``positions`` tells when the
   engine has committed it; then GET every ``POLL_RAPIDE_S`` until the
   version shows (one GET per command in practice). Freshness = GET answered
   - commit returned (``CLOCK_MONOTONIC``, shared by the processes), split at
   the bare consumer's receipt and at the position seen.

Each ratio is printed beside issue 11's target (``CIBLE_RECONSTRUCTION``), with
the rebuild time extrapolated at the measured rate to ``ECHELLES`` events.
Development runs: ``ASE_BENCH_PROJECTIONS_EVENEMENTS`` (events generated),
``ASE_BENCH_PROJECTIONS_FRAICHEUR=0`` (part 2 left out),
``ASE_BENCH_PROJECTIONS_PROFIL=<prefix>`` (a cProfile of each rebuild).

Everything runs on 127.0.0.1: an embedded PostgreSQL and a local Kafka broker,
started and stopped here.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import platform
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer

from benchmarks import scenario as s
from benchmarks.mesures import PicRss, centile, cpu_de, enfants_de, rss_mo
from benchmarks.postgres_jetable import PostgresJetable, postgres_jetable
from benchmarks.relais import _application, _consommateur_en_fin, _etapes, _pids_java, _rapport, _relais_enfant
from contracts.vocabulaire import (
    Autorite,
    Cadre,
    Danger,
    MotifChangementLieu,
    Nature,
    OrigineIP,
    Sexe,
    SuiteEvaluation,
    TypeLieu,
)
from services.parcours.application import ParcoursApplication
from services.parcours.domain.contexte import Contexte
from services.parcours.domain.flux import Evenement, Flux
from services.parcours.domain.identite import Identite
from services.parcours.domain.lieu import LieuAccueil
from services.parcours.domain.parcours import LieuPropose, Parcours
from services.parcours.relay import ReglagesRelais, Relais
from services.projections import catalogue
from services.projections.readmodels.dossiers import ProjectionDossiers
from services.projections.reconstruction import Avancement, rattrape, reconstruire, total_a_traiter
from services.projections.service import Sources
from services.runtime.auth import CleDeDeveloppement
from services.runtime.evenement import EvenementPublie
from services.runtime.feeds import (
    Feed,
    FeedJournal,
    FeedKafka,
    LecteurPositions,
    MessageLu,
    Positions,
    position_de_depart,
)

NOM = "projections"

EVENEMENTS_MIN = int(os.environ.get("ASE_BENCH_PROJECTIONS_EVENEMENTS", "200000"))
"""Events generated; ``ASE_BENCH_PROJECTIONS_EVENEMENTS`` lowers it for a development run."""
FRAICHEUR = os.environ.get("ASE_BENCH_PROJECTIONS_FRAICHEUR", "1") != "0"
PROFIL = os.environ.get("ASE_BENCH_PROJECTIONS_PROFIL", "")
"""A path prefix: each rebuild runs under cProfile, its stats written to ``<prefix>.<source>.prof``
(development runs; the profiler's own cost lowers the figures)."""
"""Part 2 (freshness); ``ASE_BENCH_PROJECTIONS_FRAICHEUR=0`` leaves it out of a development run."""
PARCOURS_PAR_VAGUE = 500
"""Histories written together, command after command (each command of a wave, then the next)."""
PARCOURS_PAR_COMMIT = 20
THREADS_GENERATION = 2
LIEUX = 40
PARTITIONS = 3
TAILLE_LOT = Sources("").taille_lot
REPETITIONS_RECONSTRUCTION = 1
"""A rebuild of 200k events takes minutes: one per source; its per-tenth rates show the spread."""
REPETITIONS_BRUT = 1 + 2 * REPETITIONS_RECONSTRUCTION
"""Raw passes per source: before, between and after the rebuilds (see ``ORDRE``)."""
FENETRES = 10

CADENCE_CMD_S = 100
DUREE_FRAICHEUR_S = 25
PARCOURS_FRAICHEUR = 250
"""Each gets a command every 2.5 s: no two commands race on a stream, and polls never overlap."""
THREADS_COMMANDES = s.TAILLE_POOL
ECHAUFFEMENT_COMMANDES = 50
POLL_LENT_S = 0.05
POLL_RAPIDE_S = 0.005
DELAI_VISIBLE_S = 30.0
LECTURES_EN_VOL = 8
"""At most this many GETs at once: a read model falling behind must not turn the poller into a flood."""
TRANCHE_S = 5

CIBLE_RECONSTRUCTION = 0.5
"""Issue 11's target: a rebuild, from the store or from Kafka, at ≥ 0.5x of the raw read + decode pass."""
ECHELLES = {"département (20 ans)": 20_000_000, "national": 250_000_000}
"""Event counts the measured rebuild rate is extrapolated to (issue 11: one département's 20 years, the nation)."""
"""Freshness is also given per slice of the run, to tell a transient from a steady state."""


# -- generation: children's histories through the domain ---------------------------


@dataclass
class _Histoire:
    """One child's parcours being written, and what its later commands need."""

    rang: int
    parcours: Parcours
    identite: Identite
    ouverture: Evenement
    d0: date
    naissance: date
    lieux: Sequence[LieuPropose]
    ip_id: UUID | None = None
    mesure_id: UUID | None = None
    echeance: date | None = None

    @property
    def accueil(self) -> bool:
        """Three in four are placed (a confiage); the fourth gets an AEMO at home."""
        return self.rang % 4 != 3

    def jour(self, n: int) -> date:
        return self.d0 + timedelta(days=n)


def _ouvrir(rang: int, lieux: Sequence[LieuPropose]) -> _Histoire:
    ctx = s.contexte()
    naissance = date(2009 + rang % 8, 1 + rang % 12, 1 + rang % 28)
    d0 = date(2025, 1, 6) + timedelta(days=rang % 60)
    sexe = (Sexe.F, Sexe.M)[rang % 2]
    identite = Identite.enregistrer(
        ctx,
        nom=f"Nom{rang}",
        prenoms=("Léa", "Lou Anne", "Noé", "Yanis")[rang % 4],
        date_naissance=naissance,
        sexe=sexe,
        date_effet=d0,
    )
    parcours = Parcours.ouvrir(
        ctx,
        personne_id=identite.id,
        date_naissance=naissance,
        sexe=sexe,
        departement=s.DEPARTEMENT,
        date_effet=d0,
        referent_id=f"ref-{rang % 50}",
    )
    ouverture = parcours.pending_events[0]
    assert isinstance(ouverture, Evenement)
    return _Histoire(rang, parcours, identite, ouverture, d0, naissance, lieux)


Etape = Callable[[_Histoire, Contexte], list[Flux]]
"""One command of a history: the streams it wrote (none: not for this child)."""


def _ip(h: _Histoire, ctx: Contexte) -> list[Flux]:
    origines = list(OrigineIP)
    h.ip_id = h.parcours.recevoir_information_preoccupante(
        ctx,
        origine=origines[h.rang % len(origines)],
        dangers=list(dict.fromkeys([list(Danger)[h.rang % 5], Danger.NEGLIGENCES])),  # each danger once
        date_effet=h.jour(1),
    )
    return [h.parcours]


def _evaluation(h: _Histoire, ctx: Contexte) -> list[Flux]:
    assert h.ip_id is not None
    h.parcours.conclure_evaluation(ctx, ip_id=h.ip_id, suite=SuiteEvaluation.SAISINE_JUDICIAIRE, date_effet=h.jour(20))
    return [h.parcours]


def _mesure(h: _Histoire, ctx: Contexte) -> list[Flux]:
    debut = h.jour(28)
    nature = Nature.CONFIAGE_ASE if h.accueil else Nature.AEMO
    h.echeance = debut.replace(year=debut.year + 2) - timedelta(days=1) if h.accueil else debut + timedelta(days=365)
    h.mesure_id = h.parcours.decider_mesure(
        ctx,
        cadre=Cadre.JUDICIAIRE,
        nature=nature,
        autorite=Autorite.JUGE_DES_ENFANTS,
        reference_decision=f"JE-2025-{h.rang:05d}",
        date_debut=debut,
        date_echeance=h.echeance,
        date_effet=debut,
    )
    return [h.parcours]


def _accueil(h: _Histoire, ctx: Contexte) -> list[Flux]:
    if not h.accueil:
        return []
    assert h.mesure_id is not None
    h.parcours.debuter_accueil(ctx, mesure_id=h.mesure_id, lieu=h.lieux[h.rang % len(h.lieux)], date_effet=h.jour(29))
    return [h.parcours]


def _si(condition: Callable[[_Histoire], bool], etape: Etape) -> Etape:
    return lambda h, ctx: etape(h, ctx) if condition(h) else []


def _changement(h: _Histoire, ctx: Contexte) -> list[Flux]:
    motifs = list(MotifChangementLieu)
    h.parcours.changer_lieu(
        ctx, lieu=h.lieux[(h.rang + 1) % len(h.lieux)], motif=motifs[h.rang % len(motifs)], date_effet=h.jour(150)
    )
    return [h.parcours]


def _renouvellement(h: _Histoire, ctx: Contexte) -> list[Flux]:
    assert h.mesure_id is not None
    assert h.echeance is not None
    h.parcours.renouveler_mesure(
        ctx,
        mesure_id=h.mesure_id,
        nouvelle_echeance=h.echeance + timedelta(days=365),
        reference_decision=f"JE-2026-{h.rang:05d}",
        date_effet=h.jour(400),
    )
    return [h.parcours]


def _rectification(h: _Histoire, ctx: Contexte) -> list[Flux]:
    """A birth date corrected, on the parcours and on the identity in the same commit (as the API does)."""
    p, i = h.parcours, h.identite
    p.rectifier(
        ctx,
        version_rectifiee=h.ouverture.originator_version,
        champ="date_naissance",
        nouvelle_valeur=(h.naissance + timedelta(days=1)).isoformat(),
        motif="erreur de saisie",
    )
    i.rectifier(
        ctx, nom=i.nom, prenoms=i.prenoms, date_naissance=p.date_naissance, sexe=p.sexe, lieu_naissance=i.lieu_naissance
    )
    return [p, i]


def _fuguera(h: _Histoire) -> bool:
    return h.accueil and h.rang % 2 == 0


def _transfere(rang: int) -> bool:
    return rang % 10 == 5


def _rectifie(rang: int) -> bool:
    return rang % 20 == 7


def _simple(action: Callable[[Parcours, Contexte, date], object], jour: int) -> Etape:
    def etape(h: _Histoire, ctx: Contexte) -> list[Flux]:
        action(h.parcours, ctx, h.jour(jour))
        return [h.parcours]

    return etape


ETAPES: tuple[Etape, ...] = (
    _ip,
    _evaluation,
    _mesure,
    _accueil,
    _simple(lambda p, ctx, j: p.etablir_ppe(ctx, date_effet=j), 60),
    _simple(lambda p, ctx, j: p.produire_rapport(ctx, transmis_au_juge=True, date_effet=j), 120),
    _si(_fuguera, _changement),
    _si(_fuguera, _simple(lambda p, ctx, j: p.declarer_fugue(ctx, date_effet=j), 180)),
    _si(_fuguera, _simple(lambda p, ctx, j: p.terminer_fugue(ctx, date_effet=j), 183)),
    _renouvellement,
    _simple(
        lambda p, ctx, j: p.designer_referent(ctx, referent_id=f"ref-{(p.version * 7) % 50}-bis", date_effet=j), 420
    ),
    _simple(lambda p, ctx, j: p.etablir_ppe(ctx, date_effet=j), 450),
    _simple(lambda p, ctx, j: p.produire_rapport(ctx, transmis_au_juge=False, date_effet=j), 480),
    _simple(lambda p, ctx, j: p.produire_rapport(ctx, transmis_au_juge=True, date_effet=j), 600),
    _si(
        lambda h: _transfere(h.rang),
        _simple(lambda p, ctx, j: p.transferer(ctx, departement_destination="62", date_effet=j), 610),
    ),
    _si(lambda h: _rectifie(h.rang), _rectification),
)
"""After the opening, in order; every date of effect is before the benchmark's 'today' (2026-11-28)."""


def _referencer_lieux(application: ParcoursApplication) -> list[LieuPropose]:
    types = (TypeLieu.MECS, TypeLieu.ASSISTANT_FAMILIAL, TypeLieu.FOYER_ENFANCE, TypeLieu.LIEU_DE_VIE)
    lieux = []
    for i in range(LIEUX):
        lieu = LieuAccueil.referencer(
            s.contexte(), nom=f"Lieu {i}", type=types[i % len(types)], departement=s.DEPARTEMENT, capacite=30
        )
        application.save(lieu)
        lieux.append(LieuPropose(lieu_id=lieu.id, type_lieu=lieu.type, ferme=False))
    return lieux


def _vague(application: ParcoursApplication, debut: int, lieux: Sequence[LieuPropose]) -> tuple[int, int, list[str]]:
    """Write ``PARCOURS_PAR_VAGUE`` histories, one command of each in turn; (events, commits, ids to follow)."""
    histoires = [_ouvrir(rang, lieux) for rang in range(debut, debut + PARCOURS_PAR_VAGUE)]
    evenements = commits = 0

    def sauver(ecrits: list[list[Flux]]) -> None:
        nonlocal evenements, commits
        for i in range(0, len(ecrits), PARCOURS_PAR_COMMIT):
            agregats = [a for flux in ecrits[i : i + PARCOURS_PAR_COMMIT] for a in flux]
            if agregats:
                evenements += sum(len(a.pending_events) for a in agregats)
                application.save(*agregats)
                commits += 1

    sauver([[h.parcours, h.identite] for h in histoires])
    for etape in ETAPES:
        sauver([etape(h, s.contexte()) for h in histoires])
    suivis = [str(h.parcours.id) for h in histoires if not _transfere(h.rang) and not _rectifie(h.rang)]
    return evenements, commits, suivis


def _generer(url: str) -> dict[str, Any]:
    """At least ``EVENEMENTS_MIN`` events: waves of histories on ``THREADS_GENERATION`` threads."""
    application = _application(url)
    try:
        debut = time.perf_counter()
        cpu = time.process_time()
        lieux = _referencer_lieux(application)
        evenements, commits, suivis, parcours = LIEUX, LIEUX, [], 0
        with ThreadPoolExecutor(THREADS_GENERATION) as executeur:
            en_cours: set[Future[tuple[int, int, list[str]]]] = set()
            while evenements < EVENEMENTS_MIN or en_cours:
                while evenements < EVENEMENTS_MIN and len(en_cours) < THREADS_GENERATION:
                    en_cours.add(executeur.submit(_vague, application, parcours, lieux))
                    parcours += PARCOURS_PAR_VAGUE
                faits, en_cours = wait(en_cours, return_when=FIRST_COMPLETED)
                for fait in faits:
                    n, c, ids = fait.result()
                    evenements, commits = evenements + n, commits + c
                    suivis.extend(ids)
        duree = time.perf_counter() - debut
    finally:
        application.close()
    return {
        "parcours": parcours,
        "evenements": evenements,
        "commits": commits,
        "duree_s": round(duree, 1),
        "evt_s": round(evenements / duree),
        "cpu_python_s": round(time.process_time() - cpu, 1),
        "suivis": suivis[:PARCOURS_FRAICHEUR],
    }


# -- publication ---------------------------------------------------------------------


async def _publier(url: str, bootstrap: str) -> dict[str, Any]:
    """The relay from position 0 until its saved position is the largest notification id."""
    conn = await asyncpg.connect(url)
    arret = asyncio.Event()
    relais = Relais(ReglagesRelais(database_url=url, kafka_bootstrap_servers=bootstrap, partitions=PARTITIONS))
    debut = time.perf_counter()
    tache = asyncio.create_task(relais.executer(arret))
    try:
        cible = await conn.fetchval("SELECT max(notification_id) FROM ase_events")
        while True:
            if tache.done():
                tache.result()
                raise RuntimeError("le relais s'est arrêté avant d'avoir tout publié")
            with contextlib.suppress(asyncpg.UndefinedTableError):
                if await conn.fetchval("SELECT notification_id FROM relais_position WHERE nom = 'parcours'") == cible:
                    break
            await asyncio.sleep(0.05)
        duree = time.perf_counter() - debut
    finally:
        arret.set()
        await asyncio.wait_for(tache, timeout=30)
        await conn.close()
    return {"evenements": cible, "duree_s": round(duree, 1), "evt_s": round(cible / duree)}


# -- 1. rebuild beside the raw pass ------------------------------------------------------


@dataclass
class _Cpu:
    """CPU seconds of this process, PostgreSQL and Kafka, between two moments.

    Counted per process, so a PostgreSQL backend that appears meanwhile counts
    whole; one that exits meanwhile is lost (the pools here never close theirs).
    """

    pids_pg: Callable[[], list[int]]
    pids_kafka: list[int]
    _avant: dict[str, dict[int, float]] = field(default_factory=dict)

    def _instantane(self) -> dict[str, dict[int, float]]:
        return {
            "python": {0: time.process_time()},
            "postgres": {pid: cpu_de([pid]) for pid in self.pids_pg()},
            "kafka": {pid: cpu_de([pid]) for pid in self.pids_kafka},
        }

    def demarrer(self) -> None:
        self._avant = self._instantane()

    def par_evenement(self, n: int) -> dict[str, float]:
        apres = self._instantane()
        return {
            nom: round(sum(v - self._avant[nom].get(pid, 0.0) for pid, v in apres[nom].items()) / n * 1e6, 1)
            for nom in apres
        }


async def _aucune_position() -> Positions:
    return {}


async def _passe_brute(feed: Feed, fins: Positions, cpu: _Cpu) -> dict[str, Any]:
    """Read and decode every event up to ``fins``, applying nothing.

    A record delivered again (a consumer-group rebalance seeks back) is counted
    apart, as the engine would skip it by its position.
    """
    atteintes: Positions = {}
    n = relus = 0
    cpu.demarrer()
    debut = time.perf_counter()
    lots = feed.lots(_aucune_position)
    try:
        async for lot in lots:
            for msg in lot:
                if msg.offset <= atteintes.get(msg.cle, position_de_depart(msg.cle)):
                    relus += 1
                    continue
                atteintes[msg.cle] = msg.offset
                n += msg.evenement is not None or msg.illisible is not None
            if rattrape(atteintes, fins):
                break
    finally:
        await lots.aclose()  # type: ignore[attr-defined]
        await feed.fermer()
    duree = time.perf_counter() - debut
    total = total_a_traiter(fins)  # the rebuild's unit (positions covered), for a like-for-like ratio
    return {
        "evenements": total,
        "messages": n,
        "relus": relus,
        "duree_s": round(duree, 2),
        "evt_s": round(total / duree),
        "us_cpu_par_evenement": cpu.par_evenement(total),
    }


CHRONOS = (
    "attente_du_feed",
    "traitement_des_lots",
    "lots",
    "messages",
    "appliquer",
    "fin_de_lot",
    "fin_de_lot_hors_lot",
    "en_lot",
    "parcours_recalcules",
)


class _FeedChronometre:
    """A feed, with the time its engine waited for each batch and spent on it added up."""

    def __init__(self, feed: Feed, temps: dict[str, float]) -> None:
        self.feed = feed
        self.temps = temps

    async def lots(self, positions: LecteurPositions) -> AsyncIterator[list[MessageLu]]:
        lots = self.feed.lots(positions).__aiter__()
        try:
            while True:
                debut = time.perf_counter()
                try:
                    lot = await lots.__anext__()
                except StopAsyncIteration:
                    return
                recu = time.perf_counter()
                self.temps["attente_du_feed"] += recu - debut
                self.temps["en_lot"] = 1.0
                try:
                    yield lot
                finally:
                    self.temps["en_lot"] = 0.0
                if lot:  # the engine asks for the next batch once this one is committed
                    self.temps["traitement_des_lots"] += time.perf_counter() - recu
                    self.temps["lots"] += 1
                    self.temps["messages"] += len(lot)
        finally:
            await lots.aclose()  # type: ignore[attr-defined]

    async def repositionner(self) -> None:
        await self.feed.repositionner()

    async def fins(self) -> Positions:
        return await self.feed.fins()

    async def fermer(self) -> None:
        await self.feed.fermer()


@dataclass
class _SourcesChronometrees(Sources):
    temps: dict[str, float] = field(default_factory=dict)

    def feed(self, projection: Any, *, depuis: str | None = None, groupe: str | None = None) -> Feed:
        return _FeedChronometre(super().feed(projection, depuis=depuis, groupe=groupe), self.temps)


class _DossiersChronometres(ProjectionDossiers):
    """The caseworker projection, unchanged, with the time spent in its handlers added up."""

    def __init__(self, temps: dict[str, float]) -> None:
        super().__init__()
        self.temps = temps
        self._dans_un_lot = False

    async def appliquer(self, conn: asyncpg.Connection, evenement: EvenementPublie) -> None:
        if self._dans_un_lot:
            await super().appliquer(conn, evenement)
            return
        debut = time.perf_counter()
        try:
            await super().appliquer(conn, evenement)
        finally:
            self.temps["appliquer"] += time.perf_counter() - debut

    async def appliquer_lot(self, conn: asyncpg.Connection, evenements: Sequence[EvenementPublie]) -> None:
        debut = time.perf_counter()
        self._dans_un_lot = True
        try:
            await super().appliquer_lot(conn, evenements)
        finally:
            self._dans_un_lot = False
            self.temps["appliquer"] += time.perf_counter() - debut

    async def a_finir(self, conn: asyncpg.Connection) -> dict[UUID, UUID]:
        # The engine's end of batch is a_finir, then finir: both are timed as "fin_de_lot".
        debut = time.perf_counter()
        try:
            parcours = await super().a_finir(conn)
        finally:
            self.temps["fin_de_lot"] += time.perf_counter() - debut
        self.temps["parcours_recalcules"] += len(parcours)
        return parcours

    async def finir(self, conn: asyncpg.Connection, flux: Sequence[UUID]) -> None:
        debut = time.perf_counter()
        try:
            await super().finir(conn, flux)
        finally:
            self.temps["fin_de_lot"] += time.perf_counter() - debut
            if not self.temps["en_lot"]:  # a rebuild's deferred ends, once caught up
                self.temps["fin_de_lot_hors_lot"] += time.perf_counter() - debut


def _fenetres(echantillons: list[tuple[float, int]], total: int) -> list[int]:
    """Rates (events/s) over each tenth of the events, from (time, events done) after each batch."""
    taux, depart = [], echantillons[0]
    for t, n in echantillons[1:]:
        if n - depart[1] >= total / FENETRES or n >= total:
            taux.append(round((n - depart[1]) / (t - depart[0])))
            depart = (t, n)
    return taux


async def _reconstruction(url: str, bootstrap: str, depuis: str, pool: asyncpg.Pool, cpu: _Cpu) -> dict[str, Any]:
    """``reconstruire`` from ``depuis``, timed until the positions reach the feed's ends (switch excluded)."""
    temps = dict.fromkeys(CHRONOS, 0.0)
    echantillons: list[tuple[float, int]] = []
    par_evenement: dict[str, float] = {}
    total = 0

    def progression(a: Avancement) -> None:
        nonlocal total
        if a.traites > 0 and not a.termine:
            echantillons.append((time.perf_counter(), a.traites))
        total = a.total

    profil = None
    if PROFIL:
        import cProfile

        profil = cProfile.Profile()
        profil.enable()
    rattrapee: list[float] = []

    async def avant_bascule(_schema: str) -> None:
        # Caught up, deferred ends run, indexes built: only the catalogue switch is left.
        rattrapee.append(time.perf_counter())
        if not par_evenement:
            par_evenement.update(cpu.par_evenement(total))

    cpu.demarrer()
    debut = time.perf_counter()
    schema = await reconstruire(
        _DossiersChronometres(temps),
        _SourcesChronometrees(url, bootstrap, TAILLE_LOT, temps),
        pool,
        depuis=depuis,
        progression=progression,
        avant_bascule=avant_bascule,
        grace_s=0.0,
    )
    if profil is not None:
        profil.disable()
        profil.dump_stats(f"{PROFIL}.{depuis}.prof")
    fini = rattrapee[0]
    duree = fini - debut
    fenetres = _fenetres(echantillons, total)
    return {
        "schema": schema,
        "evenements": total,
        "duree_s": round(duree, 1),
        "evt_s": round(total / duree),
        "jusqu_au_premier_lot_s": round(echantillons[0][0] - debut, 2),
        "evt_s_par_dixieme": {
            "mediane": round(statistics.median(fenetres)),
            "min": min(fenetres),
            "max": max(fenetres),
            "toutes": fenetres,
        },
        "s": {
            "attente_du_feed": round(temps["attente_du_feed"], 1),
            "projection_appliquer": round(temps["appliquer"], 1),
            "projection_fin_de_lot": round(temps["fin_de_lot"], 1),
            "dont_fins_differees": round(temps["fin_de_lot_hors_lot"], 1),
            "apres_rattrapage": round(fini - echantillons[-1][0], 1),
            "reste_du_lot_dans_le_moteur": round(
                temps["traitement_des_lots"]
                - temps["appliquer"]
                - (temps["fin_de_lot"] - temps["fin_de_lot_hors_lot"]),
                1,
            ),
        },
        "lots": int(temps["lots"]),
        "parcours_recalcules_par_evenement": round(temps["parcours_recalcules"] / max(total, 1), 3),
        "us_cpu_par_evenement": par_evenement,
    }


async def _verifier(pool: asyncpg.Pool, schema: str, attendus: dict[str, int]) -> dict[str, int]:
    """Row counts of the rebuilt read model, refused if it misses anything."""
    async with pool.acquire() as conn:
        comptes = {
            table: int(await conn.fetchval(f'SELECT count(*) FROM "{schema}".{table}'))
            for table in ("dossiers", "journal", "mesures", "ips", "identites", "lieux", "echeances", "lettres_mortes")
        }
    for table, n in attendus.items():
        if comptes[table] != n:
            raise RuntimeError(f"reconstruction incomplète: {table} a {comptes[table]} lignes, {n} attendues")
    return comptes


async def _empreintes(pool: asyncpg.Pool, schema: str) -> dict[str, str]:
    """A digest of each read-model table (rows as text, sorted), to compare two rebuilds."""
    async with pool.acquire() as conn:
        return {
            table: await conn.fetchval(
                f"SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM \"{schema}\".{table} t"
            )
            for table in ("dossiers", "journal", "mesures", "ips", "identites", "lieux", "echeances")
        }


async def _attendus(url: str) -> dict[str, int]:
    """What a complete read model holds: a dossier per opening, a journal row per parcours event, no dead letter."""
    conn = await asyncpg.connect(url)
    try:
        parcours = "SELECT originator_id FROM ase_events WHERE topic LIKE '%:ParcoursOuvert'"
        return {
            "dossiers": await conn.fetchval(f"SELECT count(*) FROM ({parcours}) p"),
            "journal": await conn.fetchval(f"SELECT count(*) FROM ase_events WHERE originator_id IN ({parcours})"),
            "lettres_mortes": 0,
        }
    finally:
        await conn.close()


def _mediane(mesures: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(mesures, key=lambda m: m["evt_s"])[len(mesures) // 2]


async def _fins(url: str, bootstrap: str, sujets: list[str]) -> dict[str, Positions]:
    fins: dict[str, Positions] = {}
    for source, feed in (
        ("store", FeedJournal(url, topics=sujets)),
        ("kafka", FeedKafka(bootstrap, sujets, groupe="-")),
    ):
        try:
            fins[source] = await feed.fins()
        finally:
            await feed.fermer()
    return fins


ORDRE = [("brut", "store"), ("brut", "kafka")] + [
    ("reconstruction", "store"),
    ("brut", "store"),
    ("brut", "kafka"),
    ("reconstruction", "kafka"),
    ("brut", "store"),
    ("brut", "kafka"),
] * REPETITIONS_RECONSTRUCTION
"""Raw passes around each rebuild; the Kafka rebuild last, so its read model (Kafka offsets) serves part 2."""


async def _reconstructions(pg: PostgresJetable, url: str, bootstrap: str, pids_kafka: list[int]) -> dict[str, Any]:
    # Connections kept for the whole run (asyncpg would replace one every 50,000 queries, or idle for 5 min):
    # a backend closed mid-measure would take its CPU time along.
    pool = await asyncpg.create_pool(
        url, min_size=2, max_size=4, max_queries=2**31 - 1, max_inactive_connection_lifetime=0
    )
    cpu = _Cpu(lambda: [pg.postmaster, *enfants_de(pg.postmaster)] if pg.postmaster else [], pids_kafka)
    sujets = list(ProjectionDossiers.sujets)
    try:
        fins = await _fins(url, bootstrap, sujets)
        # Positions to cover: stored events for the store (a restricted record shares its public one's
        # notification id), records of the three topics for Kafka. Each rate is over its own source's count.
        totaux = {source: total_a_traiter(f) for source, f in fins.items()}
        attendus = await _attendus(url)

        def brut(source: str) -> Feed:
            if source == "store":
                return FeedJournal(url, topics=sujets, taille_lot=TAILLE_LOT)
            return FeedKafka(bootstrap, sujets, groupe=f"bench.brut.{time.monotonic_ns()}", taille_lot=TAILLE_LOT)

        mesures: dict[tuple[str, str], list[dict[str, Any]]] = {cle: [] for cle in set(ORDRE)}
        comptes: dict[str, dict[str, int]] = {}
        empreintes: dict[str, dict[str, str]] = {}
        for quoi, source in ORDRE:
            await asyncio.to_thread(pg.checkpoint)
            if quoi == "brut":
                mesure = await _passe_brute(brut(source), fins[source], cpu)
            else:
                mesure = await _reconstruction(url, bootstrap, source, pool, cpu)
                comptes[source] = await _verifier(pool, mesure["schema"], attendus)
                empreintes[source] = await _empreintes(pool, mesure["schema"])
            mesures[(quoi, source)].append(mesure)
    finally:
        await pool.close()
    resultat: dict[str, Any] = {
        "evenements": totaux["store"],
        "enregistrements_kafka": totaux["kafka"],
        "partitions_kafka": len(fins["kafka"]),
        "lignes": comptes,
        "tables_differentes_store_kafka": sorted(
            t for t in empreintes["store"] if empreintes["store"][t] != empreintes["kafka"][t]
        ),
    }
    for source in ("store", "kafka"):
        r, b = _mediane(mesures[("reconstruction", source)]), _mediane(mesures[("brut", source)])
        resultat[source] = {
            "reconstruction": r,
            "brut": b,
            "ratio_reconstruction_sur_brut": round(r["evt_s"] / b["evt_s"], 4),
            "repetitions": {
                "reconstruction_evt_s": [m["evt_s"] for m in mesures[("reconstruction", source)]],
                "brut_evt_s": [m["evt_s"] for m in mesures[("brut", source)]],
            },
        }
    return resultat


# -- 2. freshness: commit -> relay -> Kafka -> engine -> read API -----------------------


def _service_lecture(url: str, bootstrap: str, dossier_cles: str, canal: Connection) -> None:
    """Child process: the projections service (dossiers only, fed by Kafka) and its read API on 127.0.0.1.

    Built as ``ase serve projections`` builds it, with the stopwatches of part 1
    on its feed and projection; says ("pret", port), obeys "zero" and "stop",
    answers ("fait", times).
    """
    import uvicorn

    from services.projections.api.app import composer, creer_app
    from services.projections.service import ServiceProjections
    from services.projections.settings import ProjectionsSettings
    from services.runtime import logs

    logs.configurer("WARNING")
    reglages = ProjectionsSettings(database_url=url, kafka_bootstrap_servers=bootstrap, data_dir=Path(dossier_cles))
    temps = dict.fromkeys(CHRONOS, 0.0)

    async def principal() -> None:
        projection = _DossiersChronometres(temps)
        comp = await composer(reglages, horloge=s.horloge(), projections=[projection], demarrer_moteurs=False)
        comp.service = ServiceProjections(
            comp.pool, _SourcesChronometrees(url, bootstrap, reglages.taille_lot, temps), [projection]
        )
        await comp.service.demarrer()
        prise = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY needs IPPROTO_TCP
        prise.bind(("127.0.0.1", 0))
        serveur = uvicorn.Server(
            uvicorn.Config(creer_app(reglages, composants=comp), log_config=None, access_log=False)
        )
        boucle = asyncio.get_running_loop()

        def ecouter() -> None:
            with contextlib.suppress(EOFError):
                while canal.recv() == "zero":
                    boucle.call_soon_threadsafe(temps.update, dict.fromkeys(CHRONOS, 0.0))
            boucle.call_soon_threadsafe(setattr, serveur, "should_exit", True)

        tache = asyncio.create_task(serveur.serve(sockets=[prise]))
        while not serveur.started:
            if tache.done():
                tache.result()
            await asyncio.sleep(0.02)
        canal.send(("pret", prise.getsockname()[1]))
        threading.Thread(target=ecouter, daemon=True).start()
        try:
            await tache
        finally:
            await comp.service.arreter()
            await comp.pool.close()
        canal.send(("fait", dict(temps)))

    asyncio.run(principal())


def _generateur(url: str, ids: list[str], canal: Connection) -> None:
    """Child process: warm up, say "pret", then the open-loop schedule; every commit is sent as it returns."""
    from services.runtime import logs

    logs.configurer("WARNING")
    application = _application(url)
    flux = [UUID(i) for i in ids]
    verrou = threading.Lock()

    def commande(i: int, prevu: float, echauffement: bool) -> None:
        parcours = flux[i % len(flux)]
        version = _rapport(application, parcours)
        commit = time.monotonic()
        with verrou:
            canal.send(("commit", str(parcours), version, prevu, commit, echauffement))

    try:
        for i in range(ECHAUFFEMENT_COMMANDES):
            commande(i, time.monotonic(), True)
        canal.send(("pret",))
        t0: float = canal.recv()
        cpu = time.process_time()
        with ThreadPoolExecutor(THREADS_COMMANDES) as executeur:
            futurs = []
            for i in range(CADENCE_CMD_S * DUREE_FRAICHEUR_S):
                prevu = t0 + i / CADENCE_CMD_S
                if (attente := prevu - time.monotonic()) > 0:
                    time.sleep(attente)
                futurs.append(executeur.submit(commande, ECHAUFFEMENT_COMMANDES + i, prevu, False))
            for futur in futurs:
                futur.result()
        with verrou:
            canal.send(("fait", time.process_time() - cpu))
    except Exception as exc:
        canal.send(("erreur", repr(exc)))
    finally:
        application.close()


@dataclass
class _Suivi:
    """One command followed to the read API (times on ``CLOCK_MONOTONIC``)."""

    flux: str
    version: int
    prevu: float
    commit: float
    echauffement: bool
    kafka: float | None = None
    """When the bare consumer received the event."""
    applique: float | None = None
    """When the engine's stored position was seen to cover the event's offset."""
    visible: float | None = None
    """When a GET answered with the dossier at this version or later."""
    lectures: int = 0


Enregistrement = tuple[float, tuple[str, int], int]
"""(received, (topic, partition), offset) of a record, as the bare consumer saw it."""


class _Poller:
    """Follows every commit until ``GET /v1/dossiers/{id}`` shows its version.

    A GET costs the read side several queries and a durable write (the access
    log), so the poller does not hammer it: it asks once the engine's stored
    position (``positions`` of the active schema, one query every
    ``POLL_RAPIDE_S`` for all commands) covers the event's offset, then every
    ``POLL_RAPIDE_S`` until the dossier shows the version; a command whose
    record the bare consumer has not seen is polled every ``POLL_LENT_S``.
    """

    def __init__(self, client: httpx.AsyncClient, jeton: str, conn: asyncpg.Connection, schema: str) -> None:
        self.client = client
        self.entetes = {"Authorization": f"Bearer {jeton}"}
        self.conn = conn
        self.schema = schema
        self.suivis: list[_Suivi] = []
        self.recus: dict[tuple[str, int], Enregistrement] = {}
        self.en_attente: dict[tuple[str, int], tuple[_Suivi, asyncio.Event]] = {}
        self.taches: list[asyncio.Task[None]] = []
        self.erreurs: dict[int, int] = {}
        self.lectures_en_vol = asyncio.Semaphore(LECTURES_EN_VOL)
        self.durees_get: list[float] = []

    async def recevoir(self, consommateur: AIOKafkaConsumer, arret: asyncio.Event) -> None:
        """The bare consumer: stamp each record of the parcours topic with its offset."""
        while not arret.is_set():
            lots = await consommateur.getmany(timeout_ms=20)
            recu = time.monotonic()
            for tp, messages in lots.items():
                for m in messages:
                    entetes = dict(m.headers)
                    cle = (entetes["ce_subject"].decode(), int(entetes["ce_sequence"]))
                    self.recus.setdefault(cle, (recu, (tp.topic, tp.partition), m.offset))

    async def surveiller_positions(self, arret: asyncio.Event) -> None:
        """Mark the commands whose event the engine has committed, and wake their pollers."""
        requete = f'SELECT source, partition, position FROM "{self.schema}".positions'
        while not arret.is_set():
            lignes = await self.conn.fetch(requete)
            vu = time.monotonic()
            positions = {(ligne["source"], ligne["partition"]): ligne["position"] for ligne in lignes}
            for cle, (suivi, applique) in list(self.en_attente.items()):
                recu = self.recus.get(cle)
                if recu is not None and positions.get(recu[1], -1) >= recu[2]:
                    suivi.applique = vu
                    applique.set()
                    del self.en_attente[cle]
            await asyncio.sleep(POLL_RAPIDE_S)

    def suivre(self, suivi: _Suivi) -> None:
        self.suivis.append(suivi)
        applique = asyncio.Event()
        self.en_attente[(suivi.flux, suivi.version)] = (suivi, applique)
        self.taches.append(asyncio.create_task(self._suivre(suivi, applique)))

    async def _lire(self, suivi: _Suivi) -> bool:
        async with self.lectures_en_vol:
            envoi = time.monotonic()
            reponse = await self.client.get(f"/v1/dossiers/{suivi.flux}", headers=self.entetes)
            recue = time.monotonic()
        self.durees_get.append(recue - envoi)
        suivi.lectures += 1
        if reponse.status_code != 200:
            self.erreurs[reponse.status_code] = self.erreurs.get(reponse.status_code, 0) + 1
            return False
        if reponse.json()["version"] < suivi.version:
            return False
        suivi.visible = recue
        return True

    async def _suivre(self, suivi: _Suivi, applique: asyncio.Event) -> None:
        cle = (suivi.flux, suivi.version)
        while time.monotonic() - suivi.commit < DELAI_VISIBLE_S:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(applique.wait(), POLL_LENT_S)
            if applique.is_set():
                break
            if cle not in self.recus and await self._lire(suivi):
                return  # the bare consumer missed it: the slow poll is the only way to see it
        while time.monotonic() - suivi.commit < DELAI_VISIBLE_S:
            if await self._lire(suivi):
                return
            await asyncio.sleep(POLL_RAPIDE_S)

    async def tout_visible(self) -> None:
        taches, self.taches = self.taches, []
        await asyncio.gather(*taches)


async def _messages(canal: Connection, file: asyncio.Queue[tuple[Any, ...]]) -> None:
    """The generator's messages, from its pipe into an asyncio queue."""
    boucle = asyncio.get_running_loop()

    def lire() -> None:
        try:
            while True:
                message = canal.recv()
                boucle.call_soon_threadsafe(file.put_nowait, message)
                if message[0] in ("fait", "erreur"):
                    return
        except EOFError:
            boucle.call_soon_threadsafe(file.put_nowait, ("erreur", "le générateur s'est arrêté"))

    await asyncio.to_thread(lire)


async def _suivre_le_generateur(file: asyncio.Queue[tuple[Any, ...]], poller: _Poller, jusqu_a: str) -> tuple[Any, ...]:
    while True:
        message = await file.get()
        if message[0] == "commit":
            poller.suivre(_Suivi(*message[1:]))
        elif message[0] == "erreur":
            raise RuntimeError(f"générateur: {message[1]}")
        elif message[0] == jusqu_a:
            return message


def _cpu_processus(pids: dict[str, list[int]]) -> dict[str, float]:
    return {nom: cpu_de(p) for nom, p in pids.items()} | {"poller_et_consommateur": time.process_time()}


async def _phase_mesuree(
    poller: _Poller, file: asyncio.Queue[tuple[Any, ...]], vers: dict[str, Connection], pids: dict[str, list[int]]
) -> tuple[float, dict[str, float]]:
    """The open-loop schedule, from its start until every command is visible; (seconds, CPU cores per process)."""
    avant = _cpu_processus(pids)
    vers["relais"].send("zero")
    vers["service_lecture"].send("zero")
    t0 = time.monotonic() + 0.2
    vers["generateur"].send(t0)
    _, cpu_generateur = await _suivre_le_generateur(file, poller, "fait")
    await poller.tout_visible()
    duree = time.monotonic() - t0
    apres = _cpu_processus(pids)
    return duree, {nom: round((apres[nom] - avant[nom]) / duree, 2) for nom in avant} | {
        "generateur": round(cpu_generateur / duree, 2)
    }


def _moteur_du_service(temps: dict[str, float]) -> dict[str, Any]:
    lots = max(temps["lots"], 1)
    return {
        "lots": int(temps["lots"]),
        "evenements_par_lot": round(temps["messages"] / lots, 2),
        "ms_par_lot": {
            "traitement": round(temps["traitement_des_lots"] / lots * 1000, 2),
            "dont_projection": round((temps["appliquer"] + temps["fin_de_lot"]) / lots * 1000, 2),
        },
    }


async def _phase_et_memoire(
    poller: _Poller, file: asyncio.Queue[tuple[Any, ...]], vers: dict[str, Connection], pids: dict[str, list[int]]
) -> tuple[float, dict[str, float], dict[str, float]]:
    """The measured phase, with the read service's resident memory before it and at its highest during it (MB)."""
    service = pids["service_lecture"]
    memoire = {"repos_mo": rss_mo(service)}
    async with PicRss(service) as pic:
        duree, cpu = await _phase_mesuree(poller, file, vers, pids)
    return duree, cpu, memoire | {"pic_sous_charge_mo": pic.pic_mo}


async def _fraicheur(
    pg: PostgresJetable, url: str, bootstrap: str, ids: list[str], pids_kafka: list[int]
) -> dict[str, Any]:
    contexte = multiprocessing.get_context("spawn")
    dossier_cles = tempfile.mkdtemp(prefix="ase-bench-cles-")
    jeton = CleDeDeveloppement.dans(Path(dossier_cles)).signer(
        sub=s.AUTEUR, roles=["referent"], departements=[s.DEPARTEMENT]
    )
    tubes = {nom: contexte.Pipe() for nom in ("relais", "service_lecture", "generateur")}
    cibles: dict[str, tuple[Callable[..., None], tuple[Any, ...]]] = {
        "relais": (_relais_enfant, (url, bootstrap)),
        "service_lecture": (_service_lecture, (url, bootstrap, dossier_cles)),
        "generateur": (_generateur, (url, ids)),
    }
    enfants = {
        nom: contexte.Process(target=cible, args=(*args, tubes[nom][1]), daemon=True)
        for nom, (cible, args) in cibles.items()
    }
    vers = {nom: tube[0] for nom, tube in tubes.items()}

    def demarrer(nom: str) -> None:
        enfants[nom].start()
        tubes[nom][1].close()  # only the child holds its end now: its exit ends a pending recv()

    conn = await asyncpg.connect(url)
    arret = asyncio.Event()
    try:
        schema = await catalogue.schema_actif(conn, "dossiers")
        assert schema is not None
        demarrer("relais")
        demarrer("service_lecture")
        if (reponse := await asyncio.to_thread(vers["relais"].recv)) != "actif":
            raise RuntimeError(f"le relais n'a pas démarré: {reponse}")
        _, port = await asyncio.to_thread(vers["service_lecture"].recv)
        consommateur = await _consommateur_en_fin(bootstrap)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=30, limits=httpx.Limits(max_connections=LECTURES_EN_VOL)
        ) as client:
            poller = _Poller(client, jeton, conn, schema)
            taches = [
                asyncio.create_task(poller.recevoir(consommateur, arret)),
                asyncio.create_task(poller.surveiller_positions(arret)),
            ]
            demarrer("generateur")
            file: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
            taches.append(asyncio.create_task(_messages(vers["generateur"], file)))
            await _suivre_le_generateur(file, poller, "pret")
            await poller.tout_visible()  # the warm-up is visible: connections and caches are warm everywhere
            poller.suivis.clear()
            poller.durees_get.clear()
            pids = {nom: [p.pid or 0] for nom, p in enfants.items() if nom != "generateur"} | {
                "postgres": [pg.postmaster, *enfants_de(pg.postmaster)] if pg.postmaster else [],
                "kafka": pids_kafka,
            }
            duree, cpu, memoire = await _phase_et_memoire(poller, file, vers, pids)
            arret.set()
            await asyncio.gather(*taches)
        await consommateur.stop()
        vers["relais"].send("stop")
        _, etapes = await asyncio.to_thread(vers["relais"].recv)
        vers["service_lecture"].send("stop")
        _, temps = await asyncio.to_thread(vers["service_lecture"].recv)
    finally:
        await conn.close()
        for processus in enfants.values():
            if processus.pid is not None:
                await asyncio.to_thread(processus.join, 30)
                if processus.is_alive():
                    processus.kill()
        shutil.rmtree(dossier_cles, ignore_errors=True)
    return _fraicheurs(poller, cpu, duree) | {
        "moteur_du_service": _moteur_du_service(temps),
        "etapes_du_relais": etapes,
        "memoire_du_service": memoire,
    }


def _ms(valeurs: list[float]) -> dict[str, float]:
    triees = sorted(valeurs)
    if not triees:
        return {"p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    return {
        "p50_ms": round(centile(triees, 50) * 1000, 1),
        "p99_ms": round(centile(triees, 99) * 1000, 1),
        "max_ms": round(triees[-1] * 1000, 1),
    }


def _fraicheurs(poller: _Poller, cpu: dict[str, float], duree: float) -> dict[str, Any]:
    suivis = poller.suivis
    for suivi in suivis:
        recu = poller.recus.get((suivi.flux, suivi.version))
        suivi.kafka = recu[0] if recu is not None else None
    visibles = [(x.commit, x.visible) for x in suivis if x.visible is not None]
    debut = min(x.prevu for x in suivis)
    tranches: dict[int, list[float]] = {}
    for c, v in visibles:
        tranches.setdefault(int((c - debut) // TRANCHE_S), []).append(v - c)
    etapes = [
        (x.commit, x.kafka, x.applique, x.visible)
        for x in suivis
        if x.kafka is not None and x.applique is not None and x.visible is not None
    ]
    lectures = sum(x.lectures for x in suivis)
    return {
        "commandes": len(suivis),
        "visibles": len(visibles),
        "manquantes": len(suivis) - len(visibles),
        "cadence_obtenue_cmd_s": round(len(suivis) / (max(x.commit for x in suivis) - min(x.prevu for x in suivis)), 1),
        "commit_a_visible": _ms([v - c for c, v in visibles]),
        "commit_a_visible_par_tranche": [_ms(tranches[i]) for i in sorted(tranches)],
        "decomposition": {
            "commandes": len(etapes),
            "commit_a_kafka": _ms([k - c for c, k, _, _ in etapes]),
            "kafka_a_applique": _ms([a - k for _, k, a, _ in etapes]),
            "applique_a_visible": _ms([v - a for _, _, a, v in etapes]),
        },
        "commande_prevue_a_commit": _ms([x.commit - x.prevu for x in suivis]),
        "lectures": {
            "total": lectures,
            "par_commande": round(lectures / max(len(suivis), 1), 2),
            "par_s": round(lectures / duree),
            "duree_get": _ms(poller.durees_get),
            "erreurs_http": poller.erreurs,
        },
        "cpu_coeurs": cpu,
    }


# -- the run ---------------------------------------------------------------------------


async def _vacuum(url: str, table: str = "") -> None:
    """Autovacuum would otherwise land in a measure: freshly written tables are vacuumed and analysed first."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"VACUUM ANALYZE {table}")
    finally:
        await conn.close()


async def _tout(pg: PostgresJetable, bootstrap: str) -> dict[str, Any]:
    pids_kafka = _pids_java()
    url = pg.nouvelle_base("projections")
    generation = await asyncio.to_thread(_generer, url)
    suivis = generation.pop("suivis")
    await _vacuum(url, "ase_events")
    publication = await _publier(url, bootstrap)
    reconstruction = await _reconstructions(pg, url, bootstrap, pids_kafka)
    fraicheur: dict[str, Any] | None = None
    if FRAICHEUR:
        await _vacuum(url)  # the read model the Kafka rebuild left active, among others
        await asyncio.to_thread(pg.checkpoint)
        fraicheur = await _fraicheur(pg, url, bootstrap, suivis, pids_kafka)
    return {
        "generation": generation,
        "publication": publication,
        "reconstruction": reconstruction,
        "fraicheur": fraicheur,
    }


def executer() -> dict[str, Any]:
    """Start PostgreSQL and Kafka, measure, stop them; return the figures and the run's conditions."""
    from services.runtime.kafka_local import LocalKafkaBroker

    debut = time.perf_counter()
    with postgres_jetable() as pg, LocalKafkaBroker() as broker:
        reglages = pg.reglages()
        # A closed broker: SASL as the super user, in this process and the spawned ones.
        os.environ.update(broker.identifiants("admin").env())
        figures = asyncio.run(_tout(pg, broker.bootstrap_servers))
    return {
        "benchmark": NOM,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "duree_totale_s": round(time.perf_counter() - debut, 1),
        "environnement": {
            "python": sys.version.split()[0],
            "plateforme": platform.platform(),
            "coeurs": os.cpu_count(),
            "charge_1min": round(os.getloadavg()[0], 2),
            "postgres": reglages,
        },
        "parametres": {
            "evenements_min": EVENEMENTS_MIN,
            "parcours_par_commit": PARCOURS_PAR_COMMIT,
            "partitions": PARTITIONS,
            "taille_lot": TAILLE_LOT,
            "repetitions_brut": REPETITIONS_BRUT,
            "repetitions_reconstruction": REPETITIONS_RECONSTRUCTION,
            "cadence_cmd_s": CADENCE_CMD_S,
            "duree_fraicheur_s": DUREE_FRAICHEUR_S,
            "parcours_fraicheur": PARCOURS_FRAICHEUR,
            "poll_s": {"avant_kafka": POLL_LENT_S, "apres_kafka": POLL_RAPIDE_S},
            "commande_fraicheur": "ParcoursApplication.commander (produire_rapport), sans HTTP, processus à part",
            "lecture_fraicheur": "GET /v1/dossiers/{id} en HTTP (uvicorn, processus du service de projections)",
        },
        **figures,
    }


def _ligne_ms(nom: str, f: dict[str, float]) -> str:
    return f"  {nom:<26} p50 {f['p50_ms']:>7.1f} ms   p99 {f['p99_ms']:>7.1f} ms   max {f['max_ms']:>7.1f} ms"


def _cpu_texte(cpu: dict[str, float]) -> str:
    return ", ".join(f"{nom} {v:.0f}" for nom, v in cpu.items())


def _cible(ratio: float) -> str:
    return f"{ratio:.3f}x (cible ≥ {CIBLE_RECONSTRUCTION}x) {'✓' if ratio >= CIBLE_RECONSTRUCTION else '✗'}"


def _duree(secondes: float) -> str:
    """``secondes`` in the largest fitting unit: "3 h 12 min", "2 j 5 h", "45 min"."""
    minutes = round(secondes / 60)
    if minutes < 60:
        return f"{minutes} min"
    heures, minutes = divmod(minutes, 60)
    if heures < 24:
        return f"{heures} h {minutes:02d} min"
    jours, heures = divmod(heures, 24)
    return f"{jours} j {heures} h"


def rapport(resultat: dict[str, Any]) -> str:
    """The figures as a few lines."""
    g, pub, r, f = resultat["generation"], resultat["publication"], resultat["reconstruction"], resultat["fraicheur"]
    lignes = [
        f"Projection dossiers: {r['evenements']} événements ({g['parcours']} parcours; écrits en {g['duree_s']} s, "
        f"{g['evt_s']} évt/s, {g['commits']} commits; publiés par le relais en {pub['duree_s']} s, {pub['evt_s']} évt/s)",
    ]
    for source in ("store", "kafka"):
        x = r[source]
        rec, brut = x["reconstruction"], x["brut"]
        fen, t = rec["evt_s_par_dixieme"], rec["s"]
        lignes += [
            f"  {source:<5} reconstruction {rec['evt_s']:>7} évt/s ({rec['duree_s']} s; par dixième: médiane "
            f"{fen['mediane']}, {fen['min']}–{fen['max']})",
            f"        passe brute    {brut['evt_s']:>7} évt/s ({brut['duree_s']} s; toutes: "
            f"{x['repetitions']['brut_evt_s']}; relus après rééquilibrage: {brut['relus']})",
            f"        reconstruction/brut {_cible(x['ratio_reconstruction_sur_brut'])};  s: attente du feed "
            f"{t['attente_du_feed']}, projection: appliquer {t['projection_appliquer']} + fin_de_lot "
            f"{t['projection_fin_de_lot']} (dont différée {t['dont_fins_differees']}; après rattrapage "
            f"{t['apres_rattrapage']}), reste du lot "
            f"(moteur) {t['reste_du_lot_dans_le_moteur']}; {rec['lots']} lots, "
            f"{rec['parcours_recalcules_par_evenement']} échéanciers recalculés par évt",
            f"        µs CPU/évt: reconstruction {_cpu_texte(rec['us_cpu_par_evenement'])}; "
            f"brut {_cpu_texte(brut['us_cpu_par_evenement'])}",
            "        à ce débit: "
            + ", ".join(f"{nom} ({n / 1e6:g} M évt) {_duree(n / rec['evt_s'])}" for nom, n in ECHELLES.items()),
        ]
    lignes.append(f"  tables différentes entre store et Kafka: {r['tables_differentes_store_kafka'] or 'aucune'}")
    if f is None:
        return "\n".join(lignes)
    m = f["moteur_du_service"]
    lignes += [
        "",
        f"Fraîcheur commit → GET /v1/dossiers/{{id}} à {resultat['parametres']['cadence_cmd_s']} cmd/s "
        f"({f['cadence_obtenue_cmd_s']} obtenues, {f['commandes']} commandes, {f['visibles']} visibles, "
        f"{f['manquantes']} manquantes)",
        _ligne_ms("commit_a_visible", f["commit_a_visible"]),
        *(
            _ligne_ms(f"  {nom}", f["decomposition"][nom])
            for nom in ("commit_a_kafka", "kafka_a_applique", "applique_a_visible")
        ),
        _ligne_ms("commande_prevue_a_commit", f["commande_prevue_a_commit"]),
        f"  commit_a_visible par tranche de {TRANCHE_S} s, p50/p99 ms: "
        + ", ".join(f"{x['p50_ms']:.0f}/{x['p99_ms']:.0f}" for x in f["commit_a_visible_par_tranche"]),
        _ligne_ms("GET /v1/dossiers/{id}", f["lectures"]["duree_get"]),
        f"  lectures: {f['lectures']['total']} ({f['lectures']['par_commande']} par commande, "
        f"{f['lectures']['par_s']}/s, erreurs HTTP {f['lectures']['erreurs_http'] or 'aucune'})",
        f"  moteur du service: {m['lots']} lots de {m['evenements_par_lot']} évt, {m['ms_par_lot']['traitement']} ms "
        f"par lot dont {m['ms_par_lot']['dont_projection']} dans la projection",
        f"  relais: {_etapes(f['etapes_du_relais'])}",
        "  cœurs CPU: " + ", ".join(f"{k} {v:.2f}" for k, v in f["cpu_coeurs"].items()),
    ]
    if memoire := f.get("memoire_du_service"):
        lignes.append(
            f"  mémoire du service de lecture (RSS): {memoire['repos_mo']:.0f} Mo au repos, "
            f"{memoire['pic_sous_charge_mo']:.0f} Mo au plus haut sous la charge"
        )
    return "\n".join(lignes)


def main() -> None:
    """``python -m benchmarks.projections``: the runner, for this benchmark alone."""
    from benchmarks.__main__ import main as lancer

    lancer([NOM])


if __name__ == "__main__":
    main()
