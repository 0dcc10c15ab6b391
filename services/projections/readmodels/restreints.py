"""Restricted facts beside the public events: how a read model shows what the public topic withholds.

The relay publishes, beside some public records, a restricted one on
``ase.parcours.restreint.v1`` (:mod:`contracts.restreint`): the court's
reference of a measure, the name of a lieu that is a private person, the exact
dates of the events dated by the 18th birthday. It has the stream id and
version of its public event and ``champs``, the public fields with their exact
values; ``{**public, **champs}`` is the event as recorded.

The two topics are not ordered with each other, so a read model keeps each
restricted record in ``faits_restreints`` (by stream and version) and merges
either way round: a public event applied after its facts is completed with
them (:func:`completer`); facts applied after their public event patch what it
wrote (each read model's own update). Any order, batching or feed gives the
same rows; the store feed brings the facts first.

An erased person's facts are forgotten (:func:`effacer`): the tombstone of her
identity (``ase.identites.v1``) deletes the ``faits_restreints`` of her parcours,
and a read model puts back, in what it had completed, the public values (a date
of effect null beside its ``mois_effet``, a court's reference absent): its views
then show what they show while a restricted record has not come yet, the first
day of the month for a date dated by the 18th birthday (:func:`jour_publie
<droit.etat_parcours.jour_publie>`), no court
reference. Facts that come after the erasure (the topics are not ordered with
each other), or before the opening of a parcours of an erased person, are not
kept, or forgotten when the opening comes: every order, and a rebuild from the
store or from Kafka, gives the same rows. ``personnes_parcours`` (who each
parcours is about, from its ``ParcoursOuvert``) and ``personnes_effacees`` (the
tombstones seen) are kept in each schema for that.

The public ``ce_time`` of an event dated by the 18th birthday is the first instant
of its month (UTC); its restricted record carries the exact recording time
(``FaitsRestreints.enregistre_le``), kept beside its ``champs`` (key
:data:`HEURE` of the stored JSON, never merged into the data) and set as the
event's ``enregistre_le`` wherever a read model merges the facts
(:func:`garder_faits`, :func:`completer`). Forgotten, the month's first instant
stands again (``HEURE`` is then among the :class:`Oubli`'s ``cles``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import asyncpg
import orjson

from contracts.evenements import PAYLOADS_COURANTS
from services.runtime.evenement import EvenementPublie

DDL_RESTREINTS = (
    "CREATE TABLE IF NOT EXISTS faits_restreints (flux_id uuid NOT NULL, version integer NOT NULL, "
    "evenement text NOT NULL, champs jsonb NOT NULL, PRIMARY KEY (flux_id, version))"
)

DDL_EFFACEMENTS = [
    "CREATE TABLE IF NOT EXISTS personnes_parcours (parcours_id uuid PRIMARY KEY, personne_id uuid NOT NULL)",
    "CREATE INDEX IF NOT EXISTS personnes_parcours_personne ON personnes_parcours (personne_id)",
    "CREATE TABLE IF NOT EXISTS personnes_effacees (personne_id uuid PRIMARY KEY)",
]
"""Beside ``faits_restreints`` in each schema: who each parcours is about, and who is erased."""


HEURE: Final = "enregistre_le"
"""Key, in a ``faits_restreints`` row's ``champs``, of the exact recording time its record carried (ISO 8601)."""


DEBUT_DU_MOIS_SQL: Final = "date_trunc('month', enregistre_le AT TIME ZONE 'Europe/Paris') AT TIME ZONE 'UTC'"
"""SQL: a row's ``enregistre_le`` back to its public ``ce_time``: 00:00 UTC on the 1st of the month of its
Paris civil date (``contracts.publication.debut_du_mois``)."""


@dataclass(frozen=True)
class Faits:
    """A restricted record's facts: ``champs`` (public field -> exact value) and the exact recording time
    (``enregistre_le``, aware) when the public ``ce_time`` is reduced to its month, else None."""

    champs: dict[str, Any]
    enregistre_le: datetime | None


@dataclass(frozen=True)
class Oubli:
    """Restricted facts forgotten: the event (stream, version, name) they completed and their fields."""

    flux_id: UUID
    version: int
    evenement: str
    cles: frozenset[str]


def publier_a_nouveau(evenement: str, donnees: dict[str, Any], cles: Iterable[str]) -> dict[str, Any]:
    """``donnees`` (an event completed with its restricted facts) with those fields back to their public value.

    A field its current contract declares is null there (a date of effect reduced to ``mois_effet``, the
    old and new values of a correction); any other (``reference_decision``, ``date_debut``) is absent.
    """
    contrat = PAYLOADS_COURANTS.get(evenement)
    publics = contrat.model_fields if contrat is not None else {}
    resultat = dict(donnees)
    for cle in cles:
        if cle in publics:
            resultat[cle] = None
        else:
            resultat.pop(cle, None)
    return resultat


async def connaitre(conn: asyncpg.Connection, ev: EvenementPublie) -> list[Oubli]:
    """Remember whom a ``ParcoursOuvert`` is about; when she is already erased, forget the parcours' facts.

    Returns the facts forgotten (none for any other event, or a person not erased).
    """
    if ev.nom != "ParcoursOuvert" or ev.donnees is None or ev.donnees.get("personne_id") is None:
        return []
    personne_id = UUID(str(ev.donnees["personne_id"]))
    await conn.execute(
        "INSERT INTO personnes_parcours (parcours_id, personne_id) VALUES ($1, $2) "
        "ON CONFLICT (parcours_id) DO UPDATE SET personne_id = excluded.personne_id",
        ev.flux_id,
        personne_id,
    )
    if not await conn.fetchval("SELECT true FROM personnes_effacees WHERE personne_id = $1", personne_id):
        return []
    return await _oublier(conn, [ev.flux_id])


async def connaitre_lot(conn: asyncpg.Connection, ouvertures: dict[UUID, UUID]) -> list[Oubli]:
    """:func:`connaitre` for many ``ParcoursOuvert`` at once (parcours id -> person id), in two statements.

    Returns the facts forgotten of those whose person is already erased.
    """
    if not ouvertures:
        return []
    parcours = list(ouvertures)
    await conn.execute(
        "INSERT INTO personnes_parcours (parcours_id, personne_id) SELECT * FROM unnest($1::uuid[], $2::uuid[]) "
        "ON CONFLICT (parcours_id) DO UPDATE SET personne_id = excluded.personne_id",
        parcours,
        [ouvertures[p] for p in parcours],
    )
    effacees = {
        ligne["personne_id"]
        for ligne in await conn.fetch(
            "SELECT personne_id FROM personnes_effacees WHERE personne_id = ANY($1::uuid[])",
            list(set(ouvertures.values())),
        )
    }
    return await _oublier(conn, [p for p in parcours if ouvertures[p] in effacees])


async def effacer(conn: asyncpg.Connection, personne_id: UUID) -> list[Oubli]:
    """A person's identity tombstone: remember her erased, forget the restricted facts of her parcours.

    Returns the facts forgotten, for the read model to put back the public values where it merged them.
    """
    await conn.execute("INSERT INTO personnes_effacees (personne_id) VALUES ($1) ON CONFLICT DO NOTHING", personne_id)
    parcours = await conn.fetch("SELECT parcours_id FROM personnes_parcours WHERE personne_id = $1", personne_id)
    return await _oublier(conn, [ligne["parcours_id"] for ligne in parcours])


async def effacee(conn: asyncpg.Connection, parcours_id: UUID) -> bool:
    """Whether the person the parcours ``parcours_id`` is about is erased (False while her opening is unseen)."""
    return bool(
        await conn.fetchval(
            "SELECT true FROM personnes_parcours p JOIN personnes_effacees e USING (personne_id) "
            "WHERE p.parcours_id = $1",
            parcours_id,
        )
    )


async def _oublier(conn: asyncpg.Connection, parcours: list[UUID]) -> list[Oubli]:
    if not parcours:
        return []
    lignes = await conn.fetch(
        "DELETE FROM faits_restreints WHERE flux_id = ANY($1::uuid[]) RETURNING flux_id, version, evenement, champs",
        parcours,
    )
    return [
        Oubli(ligne["flux_id"], ligne["version"], ligne["evenement"], frozenset(orjson.loads(ligne["champs"])))
        for ligne in lignes
    ]


async def garder(conn: asyncpg.Connection, ev: EvenementPublie) -> dict[str, Any]:
    """Keep the facts of a restricted record; return its ``champs`` (public field -> exact value).

    The facts of a parcours whose person is erased are not kept: none are returned.
    """
    faits = await garder_faits(conn, ev)
    return {} if faits is None else faits.champs


async def garder_faits(conn: asyncpg.Connection, ev: EvenementPublie) -> Faits | None:
    """Keep the facts of a restricted record (its ``champs`` and exact ``enregistre_le``) and return them.

    None when the parcours' person is erased (nothing kept). Raises ``ValueError`` for a record without
    ``champs`` or with an ``enregistre_le`` that is not an ISO 8601 time.
    """
    if ev.donnees is None or not isinstance(ev.donnees.get("champs"), dict):
        raise ValueError(f"faits restreints sans champs: {ev.id}")
    champs: dict[str, Any] = ev.donnees["champs"]
    heure = ev.donnees.get(HEURE)
    faits = Faits(champs, datetime.fromisoformat(str(heure)) if heure is not None else None)
    if await effacee(conn, ev.flux_id):
        return None
    gardes = champs if heure is None else {**champs, HEURE: str(heure)}
    await conn.execute(
        "INSERT INTO faits_restreints (flux_id, version, evenement, champs) VALUES ($1, $2, $3, $4::jsonb) "
        "ON CONFLICT (flux_id, version) DO UPDATE SET evenement = excluded.evenement, champs = excluded.champs",
        ev.flux_id,
        ev.version,
        str(ev.donnees.get("evenement", "")),
        orjson.dumps(gardes).decode(),
    )
    return faits


async def garder_faits_lot(
    conn: asyncpg.Connection, evenements: list[EvenementPublie]
) -> dict[tuple[UUID, int], Faits]:
    """:func:`garder_faits` for many restricted records, in two statements; the facts kept by (stream, version).

    Raises as :func:`garder_faits` does when any record is malformed (nothing is written then).
    """
    faits: dict[tuple[UUID, int], tuple[EvenementPublie, Faits]] = {}
    for ev in evenements:
        if ev.donnees is None or not isinstance(ev.donnees.get("champs"), dict):
            raise ValueError(f"faits restreints sans champs: {ev.id}")
        heure = ev.donnees.get(HEURE)
        faits[(ev.flux_id, ev.version)] = (
            ev,
            Faits(ev.donnees["champs"], datetime.fromisoformat(str(heure)) if heure is not None else None),
        )
    effaces = {
        ligne["parcours_id"]
        for ligne in await conn.fetch(
            "SELECT p.parcours_id FROM personnes_parcours p JOIN personnes_effacees e USING (personne_id) "
            "WHERE p.parcours_id = ANY($1::uuid[])",
            list({flux for flux, _ in faits}),
        )
    }
    gardes = {cle: valeur for cle, valeur in faits.items() if cle[0] not in effaces}
    if gardes:
        cles = list(gardes)
        await conn.execute(
            "INSERT INTO faits_restreints (flux_id, version, evenement, champs) "
            "SELECT f, v, e, c::jsonb FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[]) AS u(f, v, e, c) "
            "ON CONFLICT (flux_id, version) DO UPDATE SET evenement = excluded.evenement, champs = excluded.champs",
            [f for f, _ in cles],
            [v for _, v in cles],
            [str(gardes[c][0].donnees.get("evenement", "")) for c in cles],  # type: ignore[union-attr]
            [orjson.dumps(_a_garder(gardes[c][0])).decode() for c in cles],
        )
    return {cle: f for cle, (_, f) in gardes.items()}


def _a_garder(ev: EvenementPublie) -> dict[str, Any]:
    assert ev.donnees is not None
    champs: dict[str, Any] = ev.donnees["champs"]
    heure = ev.donnees.get(HEURE)
    return champs if heure is None else {**champs, HEURE: str(heure)}


async def completer(conn: asyncpg.Connection, ev: EvenementPublie) -> EvenementPublie:
    """``ev`` with the restricted facts already kept for it merged into its data, and its exact
    ``enregistre_le`` when they carry it (unchanged when none)."""
    if ev.donnees is None:
        return ev
    brut = await conn.fetchval(
        "SELECT champs FROM faits_restreints WHERE flux_id = $1 AND version = $2", ev.flux_id, ev.version
    )
    return ev if brut is None else fusionner(ev, brut)


async def completer_lot(conn: asyncpg.Connection, evenements: list[EvenementPublie]) -> list[EvenementPublie]:
    """:func:`completer` for many events, with one query."""
    flux = list({ev.flux_id for ev in evenements if ev.donnees is not None})
    if not flux:
        return evenements
    gardes = {
        (ligne["flux_id"], ligne["version"]): ligne["champs"]
        for ligne in await conn.fetch(
            "SELECT flux_id, version, champs FROM faits_restreints WHERE flux_id = ANY($1::uuid[])", flux
        )
    }
    if not gardes:
        return evenements
    return [
        ev if ev.donnees is None or (brut := gardes.get((ev.flux_id, ev.version))) is None else fusionner(ev, brut)
        for ev in evenements
    ]


def fusionner(ev: EvenementPublie, brut: str) -> EvenementPublie:
    """``ev`` with kept facts (a ``faits_restreints.champs``, JSON) merged into its data, and their exact time."""
    assert ev.donnees is not None
    champs: dict[str, Any] = orjson.loads(brut)
    heure = champs.pop(HEURE, None)
    enregistre_le = datetime.fromisoformat(str(heure)) if heure is not None else ev.enregistre_le
    return replace(ev, donnees={**ev.donnees, **champs}, enregistre_le=enregistre_le)
