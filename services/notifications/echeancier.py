"""The deadline engine: one durable timer per open deadline, kept by the shared projection engine.

A :class:`~services.runtime.moteur.Projection` (``echeances``) in its own schema
(:data:`SCHEMA_ECHEANCES`, where the engine keeps its positions), following
``ase.parcours.evenements.v1`` and ``ase.identites.v1`` through the same feeds
and exactly-once batches as the read models (Kafka group
``ase.notifications.echeances`` in the distributed stack, the store's
notification log in ``ase serve``). Not the restricted topic: a deadline needs
no court reference (an event dated by the 18th birthday is dated here by its
month's first day, :func:`droit.etat_parcours.jour_publie`; only whether it
happened matters to a deadline).

Tables (in :data:`SCHEMA_ECHEANCES`):

- ``journal``: each parcours' public events the fold reads (and its
  corrections), as published;
- ``personnes_parcours``: who each parcours is about (from its ``ParcoursOuvert``);
- ``naissances``: each person's birth date, and nothing else of her identity
  (the names are dropped as the event is read); an erasure (a tombstone,
  ``donnees`` None) deletes it;
- ``minuteries``: one timer per open deadline, keyed by (parcours, type, key),
  with its due date and alert date (:func:`droit.echeances.echeances`), the
  département and référent, and what the scheduler did with it (``levee``,
  ``escaladee``) and will do next (``prochaine_action``: the alert date, then
  the day after the due date; null when nothing is left to do).

At the end of each batch every parcours it touched (and every parcours of a
person whose identity changed) is folded again, corrections in place, and its
timers reconciled in the batch's transaction (so with the consumed positions):
a new deadline gets a timer; a deadline whose due date moved (a renewal, a
correction) gets its timer moved and its raised alert closed (the alert of the
new date is another alert, raised on its own alert date); a deadline gone (the
fact was recorded, a levée, a sortie, an erased birth date) loses its timer
and its raised alert is closed. A transfer or a new référent moves the timers
and the open alerts. One statement per table per batch.

The two topics are not ordered with each other: an identity may come before or
after its parcours, and the timers are recomputed on either side.

The timers a batch reconciles are locked (``FOR UPDATE``) before they are read:
a scheduler raising one of them at that moment (``FOR UPDATE SKIP LOCKED``) is
waited for, so the alert it raised is seen and closed if the deadline went.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Final
from uuid import UUID

import asyncpg
import orjson
from prometheus_client import Gauge

from contracts.alertes import StatutAlerte, identifiant_alerte
from contracts.enveloppe import TOPIC_IDENTITES, TOPIC_PARCOURS
from droit.calendrier import ajouter
from droit.echeances import REGLES, echeances
from droit.etat_parcours import (
    EVENEMENTS_REPLIES,
    RECTIFICATION,
    EtatParcours,
    Fait,
    corriges,
    faits_echeances,
    jour_publie,
    replier,
)
from services.notifications import alertes
from services.runtime.evenement import EvenementPublie
from services.runtime.horloge import Horloge, HorlogeSysteme
from services.runtime.http import REGISTRE
from services.runtime.moteur import Projection

SCHEMA_ECHEANCES: Final = "notifications_echeances"
"""The engine's schema: its positions, the journal, birth dates and timers."""

NOM: Final = "echeances"

MINUTERIES: Final = f"{SCHEMA_ECHEANCES}.minuteries"

DDL: Final = [
    "CREATE TABLE IF NOT EXISTS journal (parcours_id uuid NOT NULL, version integer NOT NULL, nom text NOT NULL, "
    "enregistre_le timestamptz NOT NULL, donnees jsonb NOT NULL, PRIMARY KEY (parcours_id, version))",
    "CREATE TABLE IF NOT EXISTS personnes_parcours (parcours_id uuid PRIMARY KEY, personne_id uuid NOT NULL)",
    "CREATE INDEX IF NOT EXISTS personnes_parcours_personne ON personnes_parcours (personne_id)",
    "CREATE TABLE IF NOT EXISTS naissances (personne_id uuid PRIMARY KEY, date_naissance date NOT NULL)",
    "CREATE TABLE IF NOT EXISTS minuteries (parcours_id uuid NOT NULL, type text NOT NULL, cle text NOT NULL, "
    "due_le date NOT NULL, alerte_le date NOT NULL, departement text NOT NULL, referent_id text, "
    "informatif boolean NOT NULL, urgente boolean NOT NULL, levee boolean NOT NULL DEFAULT false, "
    "escaladee boolean NOT NULL DEFAULT false, prochaine_action date, PRIMARY KEY (parcours_id, type, cle))",
    # The scheduler's tick reads only what is due (never a scan of every timer).
    "CREATE INDEX IF NOT EXISTS minuteries_a_traiter ON minuteries (prochaine_action) "
    "WHERE prochaine_action IS NOT NULL",
]

EVENEMENTS_GARDES: Final = EVENEMENTS_REPLIES | {RECTIFICATION}
"""The parcours events the journal keeps: those the fold reads, and the corrections."""

MINUTERIES_PAR_TYPE = Gauge("ase_minuteries", "Timers of open deadlines", ["type"], registry=REGISTRE)

COLONNES: Final = (
    "parcours_id",
    "type",
    "cle",
    "due_le",
    "alerte_le",
    "departement",
    "referent_id",
    "informatif",
    "urgente",
    "levee",
    "escaladee",
    "prochaine_action",
)


@dataclass(frozen=True)
class Minuterie:
    """One timer: a deadline and what the scheduler did with it."""

    parcours_id: UUID
    type: str
    cle: str
    due_le: date
    alerte_le: date
    departement: str
    referent_id: str | None
    informatif: bool
    urgente: bool
    levee: bool = False
    escaladee: bool = False

    @property
    def cle_primaire(self) -> tuple[UUID, str, str]:
        return (self.parcours_id, self.type, self.cle)

    @property
    def alerte_id(self) -> UUID:
        return identifiant_alerte(self.parcours_id, self.type, self.cle, self.due_le)

    @property
    def prochaine_action(self) -> date | None:
        return prochaine_action(self.levee, self.escaladee, self.informatif, self.alerte_le, self.due_le)

    def ligne(self) -> tuple[Any, ...]:
        return (
            self.parcours_id,
            self.type,
            self.cle,
            self.due_le,
            self.alerte_le,
            self.departement,
            self.referent_id,
            self.informatif,
            self.urgente,
            self.levee,
            self.escaladee,
            self.prochaine_action,
        )

    def echeancier(self) -> alertes.Echeancier:
        return alertes.Echeancier(
            self.parcours_id,
            self.type,
            self.cle,
            self.due_le,
            self.alerte_le,
            self.departement,
            self.referent_id,
            self.informatif,
        )


def prochaine_action(levee: bool, escaladee: bool, informatif: bool, alerte_le: date, due_le: date) -> date | None:
    """The day the scheduler next acts on a timer: its alert date until raised, then (unless informative)
    the day after its due date, to escalate it; none once escalated (or raised, for an informative one)."""
    if not levee:
        return alerte_le
    if informatif or escaladee:
        return None
    return ajouter(due_le, jours=1)


def minuterie_de(ligne: asyncpg.Record) -> Minuterie:
    return Minuterie(**{c: ligne[c] for c in COLONNES if c != "prochaine_action"})


class ProjectionEcheances(Projection):
    """The timers of every open deadline (see the module)."""

    nom = NOM
    sujets = (TOPIC_PARCOURS, TOPIC_IDENTITES)

    def __init__(self, horloge: Horloge | None = None) -> None:
        self.horloge = horloge or HorlogeSysteme()
        """When alerts are closed (their ``modifiee_le``)."""
        self._lots: dict[int, tuple[set[UUID], set[UUID]]] = {}

    def ddl(self) -> list[str]:
        return list(DDL)

    def _lot(self, conn: asyncpg.Connection) -> tuple[set[UUID], set[UUID]]:
        """(parcours, persons) the batch on ``conn`` touched."""
        return self._lots.setdefault(id(conn), (set(), set()))

    async def appliquer(self, conn: asyncpg.Connection, evenement: EvenementPublie) -> None:
        await self.appliquer_lot(conn, [evenement])

    async def appliquer_lot(self, conn: asyncpg.Connection, evenements: Sequence[EvenementPublie]) -> None:
        """Keep the parcours events and the birth dates (one statement per table); raises on an event that
        cannot be read (its body missing, an identity without a birth date), as ``appliquer`` would alone."""
        parcours, personnes = self._lot(conn)
        journal: list[tuple[Any, ...]] = []
        ouvertures: dict[UUID, UUID] = {}
        naissances: dict[UUID, date | None] = {}
        for ev in evenements:
            if ev.restreint or ev.domaine == "lieux":
                continue
            if ev.domaine == "identites":
                naissances[ev.flux_id] = _naissance(ev)
                continue
            if ev.donnees is None:
                raise ValueError(f"événement de parcours sans corps: {ev.type}")
            if ev.nom not in EVENEMENTS_GARDES:
                continue
            if jour_publie(ev.donnees) is None and ev.nom != RECTIFICATION:
                raise ValueError(f"{ev.nom} sans date_effet ni mois_effet")
            journal.append((ev.flux_id, ev.version, ev.nom, ev.enregistre_le, orjson.dumps(ev.donnees).decode()))
            if ev.nom == "ParcoursOuvert" and ev.donnees.get("personne_id") is not None:
                ouvertures[ev.flux_id] = UUID(str(ev.donnees["personne_id"]))
        if journal:
            await conn.execute(
                "INSERT INTO journal (parcours_id, version, nom, enregistre_le, donnees) "
                "SELECT p, v, n, e, d::jsonb FROM unnest($1::uuid[], $2::int[], $3::text[], $4::timestamptz[], "
                "$5::text[]) AS u(p, v, n, e, d) ON CONFLICT DO NOTHING",
                *[list(c) for c in zip(*journal, strict=True)],
            )
            parcours.update(ligne[0] for ligne in journal)
        if ouvertures:
            await conn.execute(
                "INSERT INTO personnes_parcours (parcours_id, personne_id) SELECT * FROM unnest($1::uuid[], $2::uuid[]) "
                "ON CONFLICT DO NOTHING",
                list(ouvertures),
                list(ouvertures.values()),
            )
        if naissances:
            connues = {p: n for p, n in naissances.items() if n is not None}
            effacees = [p for p, n in naissances.items() if n is None]
            if effacees:
                await conn.execute("DELETE FROM naissances WHERE personne_id = ANY($1::uuid[])", effacees)
            if connues:
                await conn.execute(
                    "INSERT INTO naissances (personne_id, date_naissance) SELECT * FROM unnest($1::uuid[], $2::date[]) "
                    "ON CONFLICT (personne_id) DO UPDATE SET date_naissance = excluded.date_naissance",
                    list(connues),
                    list(connues.values()),
                )
            personnes.update(naissances)

    async def a_finir(self, conn: asyncpg.Connection) -> dict[UUID, UUID]:
        lot = self._lots.pop(id(conn), None)
        if lot is None:
            return {}
        parcours, personnes = lot
        a_finir: dict[UUID, UUID] = {}
        if personnes:
            lignes = await conn.fetch(
                "SELECT parcours_id, personne_id FROM personnes_parcours WHERE personne_id = ANY($1::uuid[])",
                list(personnes),
            )
            a_finir.update((ligne["parcours_id"], ligne["personne_id"]) for ligne in lignes)
        a_finir.update((p, p) for p in parcours)
        return a_finir

    async def finir(self, conn: asyncpg.Connection, flux: Sequence[UUID]) -> None:
        await reconcilier(conn, flux, self.horloge)


def _naissance(ev: EvenementPublie) -> date | None:
    """The birth date of an identity event (its names are not kept); None for an erasure (a tombstone)."""
    if ev.donnees is None:
        return None
    if ev.nom not in ("IdentiteEnregistree", "IdentiteRectifiee"):
        raise ValueError(f"événement d'identité inattendu: {ev.type}")
    return date.fromisoformat(str(ev.donnees["date_naissance"]))


def _fait(ligne: asyncpg.Record) -> Fait:
    donnees = orjson.loads(ligne["donnees"])
    jour = jour_publie(donnees)
    if jour is None:
        jour = ligne["enregistre_le"].date()  # a correction: its own date changes nothing of the fold
    return Fait(ligne["version"], ligne["nom"], jour, ligne["enregistre_le"], donnees)


async def etats_des_parcours(conn: asyncpg.Connection, parcours: Sequence[UUID]) -> dict[UUID, EtatParcours]:
    """Each parcours folded from its journal, corrections in place (those not opened yet left out)."""
    lignes = await conn.fetch(
        "SELECT parcours_id, version, nom, enregistre_le, donnees FROM journal "
        "WHERE parcours_id = ANY($1::uuid[]) ORDER BY parcours_id, version",
        list(parcours),
    )
    journaux: dict[UUID, list[Fait]] = {}
    for ligne in lignes:
        journaux.setdefault(ligne["parcours_id"], []).append(_fait(ligne))
    etats = {pid: replier(corriges(faits)) for pid, faits in journaux.items()}
    return {
        pid: e
        for pid, e in etats.items()
        if e.ouvert_le is not None and e.mois_naissance is not None and e.departement is not None
    }


def minuteries_voulues(pid: UUID, etat: EtatParcours, naissance: date | None) -> list[Minuterie]:
    """The timers a parcours' state asks for: one per open deadline (:func:`droit.echeances.echeances`)."""
    assert etat.departement is not None
    return [
        Minuterie(
            pid,
            e.type.value,
            e.cle,
            e.due_le,
            e.alerte_le,
            etat.departement,
            etat.referent_id,
            e.informatif,
            REGLES[e.type].urgente,
        )
        for e in echeances(faits_echeances(etat, naissance))
    ]


async def reconcilier(conn: asyncpg.Connection, parcours: Sequence[UUID], horloge: Horloge) -> None:
    """Fold ``parcours`` again and reconcile their timers and alerts (see the module); in the caller's transaction."""
    maintenant = horloge.maintenant()
    etats = await etats_des_parcours(conn, parcours)
    personnes = {pid: UUID(e.personne_id) for pid, e in etats.items() if e.personne_id is not None}
    naissances: dict[UUID, date] = {
        ligne["personne_id"]: ligne["date_naissance"]
        for ligne in await conn.fetch(
            "SELECT personne_id, date_naissance FROM naissances WHERE personne_id = ANY($1::uuid[])",
            list(set(personnes.values())),
        )
    }
    voulues: dict[tuple[UUID, str, str], Minuterie] = {}
    for pid, etat in etats.items():
        naissance = naissances.get(personnes[pid]) if pid in personnes else None
        for m in minuteries_voulues(pid, etat, naissance):
            voulues[m.cle_primaire] = m
    # Locked before they are read: a scheduler raising one now is waited for (see the module).
    existantes = {
        (m := minuterie_de(ligne)).cle_primaire: m
        for ligne in await conn.fetch(
            f"SELECT {', '.join(COLONNES)} FROM minuteries WHERE parcours_id = ANY($1::uuid[]) "
            "ORDER BY parcours_id, type, cle FOR UPDATE",
            list(parcours),
        )
    }
    a_clore: list[UUID] = []
    a_supprimer = [cle for cle in existantes if cle not in voulues]
    a_clore += [existantes[cle].alerte_id for cle in a_supprimer if existantes[cle].levee]
    nouvelles: list[Minuterie] = []
    a_ecrire: list[Minuterie] = []
    for cle, voulue in voulues.items():
        existante = existantes.get(cle)
        if existante is None or existante.due_le != voulue.due_le:
            if existante is not None and existante.levee:
                a_clore.append(existante.alerte_id)
            nouvelles.append(voulue)
            continue
        suivie = replace(voulue, levee=existante.levee, escaladee=existante.escaladee)
        if suivie != existante:
            a_ecrire.append(suivie)
    # A deadline whose alert exists already (a rebuild of this schema, a due date moved back):
    # its timer takes the alert's state, so it is not raised again while open.
    connues = await alertes.etats(conn, [m.alerte_id for m in nouvelles])
    for m in nouvelles:
        statut, escaladee = connues.get(m.alerte_id, (None, False))
        ouverte = statut is not None and statut != StatutAlerte.CLOSE.value
        a_ecrire.append(replace(m, levee=ouverte, escaladee=ouverte and escaladee))
    if a_supprimer:
        await conn.execute(
            "DELETE FROM minuteries m USING unnest($1::uuid[], $2::text[], $3::text[]) AS u(p, t, c) "
            "WHERE m.parcours_id = u.p AND m.type = u.t AND m.cle = u.c",
            [c[0] for c in a_supprimer],
            [c[1] for c in a_supprimer],
            [c[2] for c in a_supprimer],
        )
    if a_ecrire:
        colonnes = list(zip(*(m.ligne() for m in a_ecrire), strict=True))
        mises_a_jour = ", ".join(f"{c} = excluded.{c}" for c in COLONNES[3:])
        await conn.execute(
            f"INSERT INTO minuteries ({', '.join(COLONNES)}) SELECT * FROM unnest($1::uuid[], $2::text[], "
            "$3::text[], $4::date[], $5::date[], $6::text[], $7::text[], $8::boolean[], $9::boolean[], "
            "$10::boolean[], $11::boolean[], $12::date[]) "
            f"ON CONFLICT (parcours_id, type, cle) DO UPDATE SET {mises_a_jour}",
            *[list(c) for c in colonnes],
        )
    await alertes.clore(conn, a_clore, maintenant)
    await alertes.reaffecter(
        conn,
        {pid: (e.departement, e.referent_id, e.derniere_version or 0) for pid, e in etats.items() if e.departement},
        maintenant,
    )


async def compter_minuteries(conn: asyncpg.Connection | Any) -> dict[str, int]:
    """The timers by deadline type (the ``ase_minuteries`` gauge is set from it)."""
    lignes = await conn.fetch(f"SELECT type, count(*) AS n FROM {MINUTERIES} GROUP BY type")
    comptes = {ligne["type"]: int(ligne["n"]) for ligne in lignes}
    for type_ in REGLES:
        MINUTERIES_PAR_TYPE.labels(type_.value).set(comptes.get(type_.value, 0))
    return comptes
