"""Helpers for the projection engine's tests: compare read models whole, write varied histories.

- :func:`instantane`: every table of a projection's schema, rows sorted, without
  the engine's bookkeeping (positions, per-stream versions, last application)
  and without what legitimately depends on the feed or the wall clock:
  surrogate keys (serial and identity columns, numbered in arrival order, which
  differs between Kafka's partitions and the store's log) and, in the dead
  letters, where the event sat and when. Two read models built from the same
  events must give equal snapshots, whatever the feed, batching or crashes.
- :class:`SeulementCetteBase`: the topics are shared by the whole test session;
  this wrapper applies only the events this test's store holds, so a projection
  fed from Kafka can be compared with one fed from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

import asyncpg

from services.runtime import coffre
from services.runtime.evenement import EvenementPublie
from services.runtime.feeds import Positions, position_de_depart
from services.runtime.moteur import TABLES_DE_SUIVI, Projection, lire_positions
from tests.integration.conftest import Api

if TYPE_CHECKING:
    from services.runtime.moteur import Connexion

Instantane = dict[str, list[dict[str, Any]]]

COLONNES_LETTRES_MORTES = ("ce_id", "ce_type", "flux_id", "version", "erreur")
"""What a dead letter says whatever the feed (its position and timestamps differ)."""


async def tables_du_schema(pool: asyncpg.Pool, schema: str) -> list[str]:
    async with pool.acquire() as conn:
        lignes = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE' "
            "ORDER BY table_name",
            schema,
        )
    return [ligne["table_name"] for ligne in lignes]


async def _colonnes_comparables(conn: Connexion, schema: str, table: str) -> list[str]:
    lignes = await conn.fetch(
        "SELECT column_name, column_default, is_identity FROM information_schema.columns "
        "WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
        schema,
        table,
    )
    return [
        ligne["column_name"]
        for ligne in lignes
        if ligne["is_identity"] != "YES" and not str(ligne["column_default"] or "").startswith("nextval(")
    ]


def _cle_de_tri(ligne: dict[str, Any]) -> tuple[str, ...]:
    return tuple(repr(v) for v in ligne.values())


async def instantane(pool: asyncpg.Pool, schema: str) -> Instantane:
    """Every read-model table of ``schema``: its comparable columns, rows sorted (see the module)."""
    resultat: Instantane = {}
    async with pool.acquire() as conn:
        for table in await tables_du_schema(pool, schema):
            if table in TABLES_DE_SUIVI and table != "lettres_mortes":
                continue
            colonnes = (
                list(COLONNES_LETTRES_MORTES)
                if table == "lettres_mortes"
                else await _colonnes_comparables(conn, schema, table)
            )
            if not colonnes:
                resultat[table] = []
                continue
            liste = ", ".join(f'"{c}"' for c in colonnes)
            lignes = await conn.fetch(f'SELECT {liste} FROM "{schema}"."{table}"')
            resultat[table] = sorted((dict(ligne) for ligne in lignes), key=_cle_de_tri)
    return resultat


def differences(a: Instantane, b: Instantane) -> dict[str, str]:
    """Per table, a short account of what differs (empty: the read models are equal)."""
    ecarts: dict[str, str] = {}
    for table in sorted(a.keys() | b.keys()):
        lignes_a, lignes_b = a.get(table), b.get(table)
        if lignes_a == lignes_b:
            continue
        if lignes_a is None or lignes_b is None:
            ecarts[table] = "absente d'un côté"
            continue
        en_trop = [ligne for ligne in lignes_a if ligne not in lignes_b][:3]
        manquantes = [ligne for ligne in lignes_b if ligne not in lignes_a][:3]
        ecarts[table] = (
            f"{len(lignes_a)} vs {len(lignes_b)} lignes; seulement à gauche {en_trop}; à droite {manquantes}"
        )
    return ecarts


class SeulementCetteBase(Projection):
    """``interne``, applied only to the events of this test's event store (shared topics hold others')."""

    def __init__(self, interne: Projection) -> None:
        self.interne = interne
        self.nom = interne.nom
        self.sujets = interne.sujets
        self.index_a_la_fin = interne.index_a_la_fin

    def ddl(self) -> list[str]:
        return self.interne.ddl()

    async def appliquer(self, conn: asyncpg.Connection, evenement: EvenementPublie) -> None:
        if await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM public.ase_events WHERE originator_id = $1 AND originator_version = $2)",
            evenement.flux_id,
            evenement.version,
        ):
            await self.interne.appliquer(conn, evenement)

    async def appliquer_lot(self, conn: asyncpg.Connection, evenements: Sequence[EvenementPublie]) -> None:
        connus = {
            (ligne["originator_id"], ligne["originator_version"])
            for ligne in await conn.fetch(
                "SELECT originator_id, originator_version FROM public.ase_events WHERE originator_id = ANY($1::uuid[])",
                list({ev.flux_id for ev in evenements}),
            )
        }
        await self.interne.appliquer_lot(conn, [ev for ev in evenements if (ev.flux_id, ev.version) in connus])

    async def a_finir(self, conn: asyncpg.Connection) -> Mapping[uuid.UUID, uuid.UUID]:
        return await self.interne.a_finir(conn)

    async def finir(self, conn: asyncpg.Connection, flux: Sequence[uuid.UUID]) -> None:
        await self.interne.finir(conn, flux)


async def attendre(condition: Callable[[], Awaitable[bool]], *, delai_s: float = 60.0, quoi: str = "") -> None:
    """Poll ``condition`` until it holds (a state to reach, not a time to let pass)."""
    fin = time.monotonic() + delai_s
    while not await condition():
        if time.monotonic() > fin:
            raise AssertionError(f"not reached after {delai_s}s: {quoi}")
        await asyncio.sleep(0.05)


async def relais_a_jour(pool: asyncpg.Pool, *, delai_s: float = 60.0) -> None:
    """Wait until the relay published every event of the store."""

    async def publie_tout() -> bool:
        async with pool.acquire() as conn:
            maximum = await conn.fetchval("SELECT coalesce(max(notification_id), 0) FROM ase_events")
            try:
                publie = await conn.fetchval("SELECT notification_id FROM relais_position WHERE nom = 'parcours'")
            except asyncpg.UndefinedTableError:
                return False
        return publie is not None and publie >= maximum

    await attendre(publie_tout, delai_s=delai_s, quoi="relay caught up")


async def positions_atteintes(pool: asyncpg.Pool, schema: str, fins: Positions) -> bool:
    async with pool.acquire() as conn:
        try:
            positions = await lire_positions(conn, schema)
        except asyncpg.UndefinedTableError:
            return False
    return all(positions.get(cle, position_de_depart(cle)) >= fin for cle, fin in fins.items())


# -- histories ---------------------------------------------------------------------------


async def _ok(api: Api, chemin: str, corps: dict[str, Any], **entetes: str) -> dict[str, Any]:
    reponse = await api.post(chemin, corps, **entetes)
    assert reponse.status_code in (200, 201), (chemin, reponse.text)
    resultat: dict[str, Any] = reponse.json()
    return resultat


async def histoire(api: Api, rang: int, lieux: Sequence[str]) -> str:
    """One child's parcours touching most kinds of events; returns its id."""
    ouvert = await _ok(
        api,
        "/v1/parcours",
        {
            "personne": {
                "nom": f"Essai{rang}-{uuid.uuid4().hex[:6]}",
                "prenoms": "Lou Anne",
                "date_naissance": date(2010 + rang % 5, 1 + rang % 12, 3).isoformat(),
                "sexe": "MF"[rang % 2],
            },
            "departement": "59",
            "date_effet": "2025-01-06",
            "referent_id": f"ref-{rang % 2}",
        },
    )
    pid = ouvert["id"]
    p = f"/v1/parcours/{pid}"
    ip = await _ok(
        api,
        f"{p}/informations-preoccupantes",
        {"origine": "education_nationale", "dangers": ["negligences"], "date_effet": "2025-01-07"},
    )
    await _ok(
        api, f"{p}/evaluations", {"ip_id": ip["ip_id"], "suite": "saisine_judiciaire", "date_effet": "2025-02-01"}
    )
    mesure = await _ok(
        api,
        f"{p}/mesures",
        {
            "cadre": "judiciaire",
            "nature": "confiage_ase",
            "autorite": "juge_des_enfants",
            "reference_decision": f"JE-2025-{rang:04d}",
            "date_debut": "2025-02-03",
            "date_echeance": "2027-02-02",
            "date_effet": "2025-02-03",
        },
    )
    await _ok(api, f"{p}/accueil", {"mesure_id": mesure["mesure_id"], "lieu_id": lieux[0], "date_effet": "2025-02-04"})
    await _ok(api, f"{p}/ppe", {"date_effet": "2025-03-01"})
    if rang % 2 == 0:
        await _ok(
            api,
            f"{p}/accueil/changement",
            {"lieu_id": lieux[1], "motif": "rapprochement_familial", "date_effet": "2025-06-02"},
        )
        await _ok(api, f"{p}/fugues", {"date_effet": "2025-07-01"})
        await _ok(api, f"{p}/fugues/fin", {"date_effet": "2025-07-03"})
    await _ok(api, f"{p}/rapports", {"transmis_au_juge": True, "date_effet": "2025-09-01"})
    await _ok(api, f"{p}/referent", {"referent_id": f"ref-{rang + 2}", "date_effet": "2025-10-01"})
    await _ok(api, f"{p}/ppe", {"date_effet": "2026-03-01"})
    if rang % 3 == 2:
        await _ok(api, f"{p}/transfert", {"departement_destination": "62", "date_effet": "2026-04-01"})
    # A correction is recorded today: it comes last (it also rectifies the identity stream).
    await _ok(
        api,
        f"{p}/rectifications",
        {
            "version_rectifiee": 1,
            "champ": "date_naissance",
            "nouvelle_valeur": date(2010 + rang % 5, 1 + rang % 12, 4).isoformat(),
            "motif": "erreur de saisie",
        },
        **api.jeton(departements=("59", "62")),
    )
    return str(pid)


async def histoires(api: Api, nombre: int) -> list[str]:
    """``nombre`` children in two lieux (with a capacity change): several dozen events of many kinds."""
    lieux = [
        (await _ok(api, "/v1/lieux", {"nom": f"MECS {nom}", "type": "mecs", "departement": "59", "capacite": 12}))["id"]
        for nom in ("Les Tilleuls", "Les Aulnes")
    ]
    await _ok(api, f"/v1/lieux/{lieux[0]}/capacite", {"capacite": 14, "date_effet": "2026-11-28"})
    return [await histoire(api, rang, lieux) for rang in range(nombre)]


# -- engines driven to a target ----------------------------------------------------------


class Registre(Projection):
    """A test read model: one row per event applied; may fail on chosen events or wait at a gate."""

    def __init__(
        self,
        nom: str,
        sujets: Sequence[str],
        *,
        echoue_sur: Callable[[EvenementPublie], bool] = lambda _: False,
        porte: asyncio.Event | None = None,
        seulement: Callable[[EvenementPublie], bool] | None = None,
    ) -> None:
        self.nom = nom
        self.sujets = tuple(sujets)
        self.echoue_sur = echoue_sur
        self.porte = porte
        self.seulement = seulement
        self.devant_la_porte = asyncio.Event()

    def ddl(self) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS vus (ce_id text PRIMARY KEY, nom text NOT NULL, flux_id uuid NOT NULL, "
            "version integer NOT NULL)"
        ]

    async def appliquer(self, conn: asyncpg.Connection, evenement: EvenementPublie) -> None:
        if self.seulement is not None and not self.seulement(evenement):
            return
        if self.porte is not None and not self.porte.is_set():
            self.devant_la_porte.set()
            await self.porte.wait()
        if self.echoue_sur(evenement):
            raise ValueError(f"refus de test: {evenement.nom}")
        await conn.execute(
            "INSERT INTO vus (ce_id, nom, flux_id, version) VALUES ($1, $2, $3, $4)",
            evenement.id,
            evenement.nom,
            evenement.flux_id,
            evenement.version,
        )


def principal_du_feed(feed: Any) -> contextlib.AbstractContextManager[None]:
    """The projections' own principal for a Kafka feed of the project's topics in one of their groups;
    the session's (``admin``) for a scratch topic or group of a test."""
    from services.runtime.feeds import FeedKafka
    from services.runtime.kafka import PREFIXE_GROUPES_PROJECTIONS
    from tests.integration.kafka_fixtures import en_tant_que, principal_connu

    if (
        isinstance(feed, FeedKafka)
        and all(t.startswith("ase.") for t in feed.topics)
        and feed.groupe.startswith(PREFIXE_GROUPES_PROJECTIONS)
        and (identifiants := principal_connu("projections", feed.bootstrap)) is not None
    ):
        return en_tant_que(identifiants)
    return contextlib.nullcontext()


async def executer_jusqua(moteur: Any, fins: Positions, *, delai_s: float = 120.0) -> None:
    """Run ``moteur`` (a :class:`Moteur`) until its stored positions reach ``fins``.

    A Kafka feed of the project's topics reads as the projections' principal (see :func:`principal_du_feed`).
    """
    arret = asyncio.Event()
    suite = moteur.apres_lot

    async def apres_lot(positions: Positions) -> None:
        if suite is not None:
            await suite(positions)
        if all(positions.get(cle, position_de_depart(cle)) >= fin for cle, fin in fins.items()):
            arret.set()

    moteur.apres_lot = apres_lot
    if await positions_atteintes(moteur.pool, moteur.schema, fins):
        arret.set()
    try:
        with principal_du_feed(moteur.feed):
            tache = asyncio.ensure_future(moteur.executer(arret))  # the task keeps the principal
        await asyncio.wait_for(tache, timeout=delai_s)
    finally:
        moteur.apres_lot = suite


# -- Kafka: the shared topics ------------------------------------------------------------


async def nos_flux(pool: asyncpg.Pool) -> set[str]:
    """The streams of this test's store (the shared topics hold other tests' too)."""
    async with pool.acquire() as conn:
        return {
            str(ligne["originator_id"]) for ligne in await conn.fetch("SELECT DISTINCT originator_id FROM ase_events")
        }


async def debuts_de_nos_evenements(pool: asyncpg.Pool, bootstrap: str, fins: Positions) -> Positions:
    """Positions just before this test's first event in each partition of ``fins`` (its end where it has none).

    An engine seeded with them reads only this test's stretch of the shared
    topics, yet every one of its events.
    """
    from tests.integration.relais_outils import lire_jusqua

    async with pool.acquire() as conn:
        lignes = await conn.fetch("SELECT originator_id, originator_version, topic, state FROM ase_events")
        attendus = {(m.topic, str(m.flux_id), m.version) for m in await coffre.messages_des_lignes(conn, lignes)}
    flux = {f for _, f, _ in attendus}
    recus = await lire_jusqua(
        bootstrap,
        sorted({t for t, _, _ in attendus}),
        lambda r: {(m.topic, m.entetes["ce_subject"], int(m.entetes["ce_sequence"])) for m in r} >= attendus,
        filtre=lambda m: m.entetes.get("ce_subject") in flux,
    )
    debuts = dict(fins)
    for m in recus:
        cle = (m.topic, m.partition)
        if cle in fins:
            debuts[cle] = min(debuts[cle], m.offset - 1)
    return debuts


async def amorcer(pool: asyncpg.Pool, schema: str, projection: Projection, positions: Positions) -> None:
    """Create ``schema`` with ``positions`` stored, as if everything before them had been applied."""
    from services.runtime.moteur import creer_tables

    async with pool.acquire() as conn:
        await creer_tables(conn, schema, projection)
        await conn.executemany(
            f'INSERT INTO "{schema}".positions (source, partition, position) VALUES ($1, $2, $3) '
            "ON CONFLICT (source, partition) DO UPDATE SET position = excluded.position",
            [(source, partition, position) for (source, partition), position in positions.items()],
        )
