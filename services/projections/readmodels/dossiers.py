"""The caseworker read model: one dossier per parcours, its measures, IPs, identity and open deadlines.

Fed by both topics: parcours and lieu events (``ase.parcours.evenements.v1``)
and identities (``ase.identites.v1``, where a tombstone erases a person). The
two topics are not ordered with each other, so an identity may come before or
after its parcours: deadlines are recomputed from the rows on either side,
and both orders give the same tables.

A rectification (SaisieRectifiee) corrects the stored copy of the event it
points at, then the parcours' rows are rebuilt from its events: the dossier
shows the corrected facts, as a replay would.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from contracts.enveloppe import TOPIC_IDENTITES, TOPIC_PARCOURS
from services.projections.evenement import EvenementPublie
from services.projections.moteur import Projection
from services.projections.readmodels.dossiers_evenements import GESTIONNAIRES, Donnees
from services.projections.readmodels.echeances import Echeance, FaitIP, FaitMesure, Faits, echeances
from services.projections.readmodels.recherche import normaliser

DDL = [
    "CREATE TABLE IF NOT EXISTS dossiers (parcours_id uuid PRIMARY KEY, personne_id uuid NOT NULL, "
    "departement text NOT NULL, referent_id text, sexe text NOT NULL, mois_naissance text NOT NULL, "
    "ouvert_le date NOT NULL, statut text NOT NULL, version integer NOT NULL DEFAULT 1, derniere_date_effet date, "
    "majorite_atteinte_le date, "
    "mesure_accueil_id uuid, lieu_id uuid, type_lieu text, accueil_debut date, lieu_depuis date, "
    "date_limite_hotel date, fugue_depuis date, lieux_successifs integer NOT NULL DEFAULT 0, "
    "ppe_etabli_le date, ppe_actualise_le date, dernier_rapport_le date, dernier_rapport_transmis boolean, "
    "entretien_autonomie_le date, "
    "apjm_debut date, apjm_fin date, apjm_renouvellements integer NOT NULL DEFAULT 0, apjm_accorde_le date, "
    "apjm_termine_le date, apjm_motif_fin text, "
    "sorti_le date, motif_sortie text, situation_logement text, rouvert_le date)",
    "CREATE INDEX IF NOT EXISTS dossiers_departement ON dossiers (departement, statut)",
    "CREATE INDEX IF NOT EXISTS dossiers_referent ON dossiers (referent_id)",
    "CREATE INDEX IF NOT EXISTS dossiers_lieu ON dossiers (lieu_id)",
    "CREATE INDEX IF NOT EXISTS dossiers_personne ON dossiers (personne_id)",
    "CREATE TABLE IF NOT EXISTS mesures (mesure_id uuid PRIMARY KEY, parcours_id uuid NOT NULL, cadre text NOT NULL, "
    "nature text NOT NULL, autorite text NOT NULL, reference_decision text NOT NULL, date_debut date NOT NULL, "
    "date_echeance date, decidee_le date NOT NULL, renouvellements integer NOT NULL DEFAULT 0, renouvelee_le date, "
    "active boolean NOT NULL, levee_le date, motif_levee text)",
    "CREATE INDEX IF NOT EXISTS mesures_parcours ON mesures (parcours_id)",
    "CREATE TABLE IF NOT EXISTS ips (ip_id uuid PRIMARY KEY, parcours_id uuid NOT NULL, recue_le date NOT NULL, "
    "origine text, dangers text[] NOT NULL DEFAULT '{}', suite text, evaluee_le date)",
    "CREATE INDEX IF NOT EXISTS ips_parcours ON ips (parcours_id)",
    "CREATE TABLE IF NOT EXISTS identites (personne_id uuid PRIMARY KEY, nom text, prenoms text, "
    "date_naissance date, sexe text, recherche text, effacee boolean NOT NULL DEFAULT false)",
    "CREATE TABLE IF NOT EXISTS lieux (lieu_id uuid PRIMARY KEY, nom text, type text NOT NULL, "
    "departement text NOT NULL, ferme boolean NOT NULL DEFAULT false)",
    "CREATE TABLE IF NOT EXISTS echeances (parcours_id uuid NOT NULL, type text NOT NULL, cle text NOT NULL, "
    "due_le date NOT NULL, alerte_le date NOT NULL, departement text NOT NULL, referent_id text, "
    "informatif boolean NOT NULL, details jsonb NOT NULL, PRIMARY KEY (parcours_id, type, cle))",
    "CREATE INDEX IF NOT EXISTS echeances_departement ON echeances (departement, due_le)",
    # The public events of each parcours, as corrected: what a rectification replays.
    "CREATE TABLE IF NOT EXISTS journal (parcours_id uuid NOT NULL, version integer NOT NULL, nom text NOT NULL, "
    "donnees jsonb NOT NULL, rectifie boolean NOT NULL DEFAULT false, PRIMARY KEY (parcours_id, version))",
]


class DossierInconnuError(LookupError):
    """A parcours event came before its ParcoursOuvert: a dead letter, never a silent skip."""


class ProjectionDossiers(Projection):
    """Dossiers, measures, IPs, identities, lieux and the deadline worklist."""

    nom = "dossiers"
    sujets = (TOPIC_PARCOURS, TOPIC_IDENTITES)

    def ddl(self) -> list[str]:
        return list(DDL)

    def __init__(self) -> None:
        # Parcours whose deadlines a batch must recompute, per connection: the
        # deadlines depend only on the rows, so once per batch is enough.
        self._a_recalculer: dict[int, set[UUID]] = {}

    async def appliquer(self, conn: asyncpg.Connection, evenement: EvenementPublie) -> None:
        if evenement.domaine == "identites":
            touches = await appliquer_identite(conn, evenement)
        elif evenement.domaine == "lieux":
            await appliquer_lieu(conn, evenement)
            touches = []
        else:
            touches = await appliquer_parcours(conn, evenement)
        self._a_recalculer.setdefault(id(conn), set()).update(touches)

    async def fin_de_lot(self, conn: asyncpg.Connection) -> None:
        touches = self._a_recalculer.pop(id(conn), set())
        if touches:
            await recalculer(conn, sorted(touches))


# -- parcours ------------------------------------------------------------------------------


async def appliquer_parcours(conn: asyncpg.Connection, ev: EvenementPublie) -> list[UUID]:
    """Apply a parcours event; return the parcours whose deadlines it changes."""
    if ev.donnees is None or ev.nom not in GESTIONNAIRES:
        raise ValueError(f"événement de parcours inattendu: {ev.type}")
    pid = ev.flux_id
    await conn.execute(
        "INSERT INTO journal (parcours_id, version, nom, donnees) VALUES ($1, $2, $3, $4::jsonb)",
        pid,
        ev.version,
        ev.nom,
        orjson.dumps(ev.donnees).decode(),
    )
    if ev.nom == "SaisieRectifiee":
        await _rectifier(conn, pid, ev.donnees)
        await rejouer(conn, pid)
    else:
        await _appliquer_un(conn, pid, ev.version, ev.nom, ev.donnees)
    return [pid]


async def _appliquer_un(conn: asyncpg.Connection, pid: UUID, version: int, nom: str, d: Donnees) -> None:
    await GESTIONNAIRES[nom](conn, pid, d)
    fait = await conn.fetchval(
        "UPDATE dossiers SET version = $2, derniere_date_effet = greatest(derniere_date_effet, $3) "
        "WHERE parcours_id = $1 RETURNING true",
        pid,
        version,
        date.fromisoformat(str(d["date_effet"])),
    )
    if not fait:
        raise DossierInconnuError(f"parcours {pid}: {nom} avant ParcoursOuvert")


async def _rectifier(conn: asyncpg.Connection, pid: UUID, d: Donnees) -> None:
    """Correct the stored copy of the rectified event (a birth date travels as its month)."""
    champ = "mois_naissance" if d["champ"] == "date_naissance" else str(d["champ"])
    brut = await conn.fetchval(
        "SELECT donnees FROM journal WHERE parcours_id = $1 AND version = $2", pid, int(d["version_rectifiee"])
    )
    if brut is None:
        return
    donnees = orjson.loads(brut)
    if champ not in donnees:
        return  # a field the public payload does not carry (a private motif): nothing shown changes
    donnees[champ] = d["nouvelle_valeur"]
    await conn.execute(
        "UPDATE journal SET donnees = $3::jsonb, rectifie = true WHERE parcours_id = $1 AND version = $2",
        pid,
        int(d["version_rectifiee"]),
        orjson.dumps(donnees).decode(),
    )


async def rejouer(conn: asyncpg.Connection, pid: UUID) -> None:
    """Rebuild one parcours' rows from its (corrected) events, in stream order."""
    for table in ("mesures", "ips", "dossiers"):
        await conn.execute(f"DELETE FROM {table} WHERE parcours_id = $1", pid)
    lignes = await conn.fetch("SELECT version, nom, donnees FROM journal WHERE parcours_id = $1 ORDER BY version", pid)
    for ligne in lignes:
        await _appliquer_un(conn, pid, ligne["version"], ligne["nom"], orjson.loads(ligne["donnees"]))


# -- identities and lieux ------------------------------------------------------------------


async def appliquer_identite(conn: asyncpg.Connection, ev: EvenementPublie) -> list[UUID]:
    """Record (or erase) a person's identity; return their parcours, whose deadlines it moves.

    A tombstone erases everything personal in the row, birth date included:
    after compaction a rebuild from Kafka sees only the tombstone, and must
    build the same row.
    """
    personne_id = ev.flux_id
    d = ev.donnees
    if d is None:
        await conn.execute(
            "INSERT INTO identites (personne_id, effacee) VALUES ($1, true) ON CONFLICT (personne_id) DO UPDATE "
            "SET nom = NULL, prenoms = NULL, date_naissance = NULL, sexe = NULL, recherche = NULL, effacee = true",
            personne_id,
        )
    elif ev.nom in ("IdentiteEnregistree", "IdentiteRectifiee"):
        await conn.execute(
            "INSERT INTO identites (personne_id, nom, prenoms, date_naissance, sexe, recherche) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (personne_id) DO UPDATE SET nom = excluded.nom, "
            "prenoms = excluded.prenoms, date_naissance = excluded.date_naissance, sexe = excluded.sexe, "
            "recherche = excluded.recherche, effacee = false",
            personne_id,
            d["nom"],
            d["prenoms"],
            date.fromisoformat(str(d["date_naissance"])),
            d["sexe"],
            normaliser(f"{d['nom']} {d['prenoms']}"),
        )
    else:
        raise ValueError(f"événement d'identité inattendu: {ev.type}")
    lignes = await conn.fetch("SELECT parcours_id FROM dossiers WHERE personne_id = $1", personne_id)
    return [ligne["parcours_id"] for ligne in lignes]


async def appliquer_lieu(conn: asyncpg.Connection, ev: EvenementPublie) -> None:
    """Keep what the dossier shows of a lieu: its name (none for a private person), type, département."""
    d = ev.donnees or {}
    if ev.nom == "LieuAccueilReference":
        await conn.execute(
            "INSERT INTO lieux (lieu_id, nom, type, departement) VALUES ($1, $2, $3, $4) ON CONFLICT (lieu_id) "
            "DO UPDATE SET nom = excluded.nom, type = excluded.type, departement = excluded.departement",
            ev.flux_id,
            d.get("nom"),
            d["type"],
            d["departement"],
        )
    elif ev.nom == "LieuAccueilFerme":
        await conn.execute("UPDATE lieux SET ferme = true WHERE lieu_id = $1", ev.flux_id)


# -- deadlines -----------------------------------------------------------------------------


async def recalculer(conn: asyncpg.Connection, parcours: Iterable[UUID]) -> None:
    """Replace the open deadlines of each parcours by what its facts open now."""
    for pid in parcours:
        dossier = await conn.fetchrow(
            "SELECT d.*, i.date_naissance FROM dossiers d LEFT JOIN identites i USING (personne_id) "
            "WHERE d.parcours_id = $1",
            pid,
        )
        await conn.execute("DELETE FROM echeances WHERE parcours_id = $1", pid)
        if dossier is None:
            continue
        mesures = await conn.fetch("SELECT * FROM mesures WHERE parcours_id = $1", pid)
        ips = await conn.fetch("SELECT * FROM ips WHERE parcours_id = $1", pid)
        ouvertes = echeances(faits(dossier, mesures, ips))
        await conn.executemany(
            "INSERT INTO echeances (parcours_id, type, cle, due_le, alerte_le, departement, referent_id, informatif, "
            "details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)",
            [_ligne(pid, dossier, e) for e in ouvertes],
        )


def _ligne(pid: UUID, dossier: asyncpg.Record, e: Echeance) -> tuple[Any, ...]:
    return (
        pid,
        e.type.value,
        e.cle,
        e.due_le,
        e.alerte_le,
        dossier["departement"],
        dossier["referent_id"],
        e.informatif,
        orjson.dumps(e.details).decode(),
    )


def faits(dossier: asyncpg.Record, mesures: Iterable[asyncpg.Record], ips: Iterable[asyncpg.Record]) -> Faits:
    """The facts the deadline rules read, from a dossier's rows."""
    return Faits(
        ouvert_le=dossier["ouvert_le"],
        mois_naissance=dossier["mois_naissance"],
        date_naissance=dossier["date_naissance"],
        rouvert_le=dossier["rouvert_le"],
        mesures=tuple(
            FaitMesure(
                str(m["mesure_id"]),
                m["cadre"],
                m["nature"],
                m["autorite"],
                m["date_debut"],
                m["date_echeance"],
                m["decidee_le"],
                m["active"],
            )
            for m in sorted(mesures, key=lambda m: (m["decidee_le"], str(m["mesure_id"])))
        ),
        ips=tuple(
            FaitIP(str(i["ip_id"]), i["recue_le"], i["evaluee_le"])
            for i in sorted(ips, key=lambda i: (i["recue_le"], str(i["ip_id"])))
        ),
        ppe_etabli_le=dossier["ppe_etabli_le"],
        dernier_rapport_le=dossier["dernier_rapport_le"],
        entretien_autonomie_le=dossier["entretien_autonomie_le"],
        majorite_atteinte_le=dossier["majorite_atteinte_le"],
        apjm_debut=dossier["apjm_debut"],
        apjm_fin=dossier["apjm_fin"],
        type_lieu=dossier["type_lieu"],
        lieu_depuis=dossier["lieu_depuis"],
        date_limite_hotel=dossier["date_limite_hotel"],
        sorti_le=dossier["sorti_le"],
        motif_sortie=dossier["motif_sortie"],
    )
