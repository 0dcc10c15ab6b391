"""The alerts: one row per alert id in ``notifications.alertes``, and every change of it written to the outbox.

An alert's id is derived from (parcours, deadline type, key, due date)
(:func:`contracts.alertes.identifiant_alerte`). Each function here changes one
alert and, in the same (caller's) transaction, records the change in the
outbox (:func:`services.notifications.sorties.ajouter`), only when something
changed: raising an alert that is already open, escalating one already
escalated, acknowledging one already acknowledged or closing one already
closed writes nothing (``INSERT ... ON CONFLICT DO NOTHING`` and
``UPDATE ... WHERE <not yet> RETURNING``). So a restart, a replay of the feed,
a rebuild or two schedulers at once never raise the same alert twice, nor write
a second outbox row for one change.

Statuses (:class:`contracts.alertes.StatutAlerte`): ``ouverte`` (raised, to
act on), ``acquittee`` (someone acknowledged it; still to act on: it stays
in the inbox until the awaited fact is recorded), ``close`` (the fact was
recorded, the deadline moved or ended: nothing left to do). A closed alert
whose deadline comes back on the same due date (a correction undone) is raised
again under its id by :func:`lever` (it had been closed: it is not a duplicate).

No personal data here: ids, types, dates, the rule and its article, a link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Final, TypeAlias, cast
from uuid import UUID

import asyncpg
from prometheus_client import Counter

from contracts.alertes import (
    Alerte,
    EvenementAlerte,
    Niveau,
    StatutAlerte,
    au_plus_tard,
    identifiant_alerte,
    lien_dossier,
    par_anniversaire,
)
from droit.echeances import REGLES, TypeEcheance
from services.notifications import sorties
from services.runtime.http import REGISTRE

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connexion: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

TABLE: Final = f"{sorties.SCHEMA}.alertes"
JOURNAL: Final = "notifications_echeances.journal"
"""The deadline engine's journal of parcours events (``echeancier.SCHEMA_ECHEANCES``): their versions."""

DDL: Final = [
    f"CREATE SCHEMA IF NOT EXISTS {sorties.SCHEMA}",
    f"CREATE TABLE IF NOT EXISTS {TABLE} (alerte_id uuid PRIMARY KEY, parcours_id uuid NOT NULL, "
    "departement text NOT NULL, referent_id text, type text NOT NULL, cle text NOT NULL, due_le date NOT NULL, "
    "alerte_le date NOT NULL, attendu text NOT NULL, article text NOT NULL, urgente boolean NOT NULL, "
    "informative boolean NOT NULL, niveau text NOT NULL, statut text NOT NULL, lien text NOT NULL, "
    "levee_le timestamptz NOT NULL, modifiee_le timestamptz NOT NULL, acquittee_par text, acquittee_le timestamptz, "
    "escaladee_le timestamptz, close_le timestamptz, version_affectation integer NOT NULL DEFAULT 0)",
    # The inbox: a département's alerts not closed, soonest first (and the keyset of its pages).
    f"CREATE INDEX IF NOT EXISTS alertes_boite ON {TABLE} (departement, due_le, type, cle, alerte_id) "
    "WHERE statut <> 'close'",
    f"CREATE INDEX IF NOT EXISTS alertes_parcours ON {TABLE} (parcours_id)",
]

LEVEES = Counter("ase_alertes_levees_total", "Alerts raised", ["type"], registry=REGISTRE)
ESCALADEES = Counter("ase_alertes_escaladees_total", "Alerts escalated to the encadrants", ["type"], registry=REGISTRE)
ACQUITTEES = Counter("ase_alertes_acquittees_total", "Alerts acknowledged", ["type"], registry=REGISTRE)
CLOSES = Counter("ase_alertes_closes_total", "Alerts closed", ["type"], registry=REGISTRE)

COLONNES: Final = (
    "alerte_id, parcours_id, departement, referent_id, type, cle, due_le, alerte_le, attendu, article, urgente, "
    "informative, niveau, statut, lien, levee_le, modifiee_le, acquittee_par, acquittee_le, escaladee_le, close_le"
)


class AlerteCloseError(Exception):
    """An alert closed cannot be acknowledged (the API answers 409)."""


@dataclass(frozen=True)
class Echeancier:
    """What raising an alert needs to know of its timer (``minuteries``'s row)."""

    parcours_id: UUID
    type: str
    cle: str
    due_le: date
    alerte_le: date
    departement: str
    referent_id: str | None
    informatif: bool

    @property
    def alerte_id(self) -> UUID:
        return identifiant_alerte(self.parcours_id, self.type, self.cle, self.due_le)


@dataclass(frozen=True)
class AlerteLue:
    """An alert as stored: the :class:`Alerte` and who acknowledged it, when."""

    alerte: Alerte
    acquittee_par: str | None
    acquittee_le: datetime | None
    escaladee_le: datetime | None
    close_le: datetime | None


async def creer_tables(conn: Connexion) -> None:
    for ddl in DDL:
        await conn.execute(ddl)


def alerte_de(ligne: asyncpg.Record | dict[str, Any]) -> Alerte:
    """The :class:`Alerte` of a row of ``notifications.alertes``, as it leaves the service: the dates of a
    deadline that follows from the birth date reduced to months (:func:`contracts.alertes.par_anniversaire`);
    the row keeps them exact, for the scheduler."""
    return par_anniversaire(
        Alerte(
            alerte_id=ligne["alerte_id"],
            parcours_id=ligne["parcours_id"],
            departement=ligne["departement"],
            referent_id=ligne["referent_id"],
            type=ligne["type"],
            cle=ligne["cle"],
            due_le=ligne["due_le"],
            mois_du=ligne["due_le"].isoformat()[:7],
            alerte_le=ligne["alerte_le"],
            attendu=ligne["attendu"],
            article=ligne["article"],
            urgente=ligne["urgente"],
            informative=ligne["informative"],
            niveau=Niveau(ligne["niveau"]),
            statut=StatutAlerte(ligne["statut"]),
            lien=ligne["lien"],
            levee_le=ligne["levee_le"],
            modifiee_le=ligne["modifiee_le"],
        )
    )


def lue_de(ligne: asyncpg.Record) -> AlerteLue:
    return AlerteLue(
        alerte_de(ligne), ligne["acquittee_par"], ligne["acquittee_le"], ligne["escaladee_le"], ligne["close_le"]
    )


async def lever(conn: Connexion, e: Echeancier, maintenant: datetime) -> Alerte | None:
    """Raise the alert of ``e``'s deadline (its rule and article from :data:`droit.echeances.REGLES`).

    Returns the alert when it was raised now (an outbox ``alerte_levee`` written), None when it
    was open already (a replay, another scheduler). A closed alert of the same id is raised again.
    """
    regle = REGLES[TypeEcheance(e.type)]
    ligne = await conn.fetchrow(
        f"INSERT INTO {TABLE} AS a ({COLONNES}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
        "$13, $14, $15, $16, $16, NULL, NULL, NULL, NULL) "
        "ON CONFLICT (alerte_id) DO UPDATE SET statut = excluded.statut, niveau = excluded.niveau, "
        "departement = excluded.departement, referent_id = excluded.referent_id, alerte_le = excluded.alerte_le, "
        "levee_le = excluded.levee_le, modifiee_le = excluded.modifiee_le, acquittee_par = NULL, "
        "acquittee_le = NULL, escaladee_le = NULL, close_le = NULL WHERE a.statut = 'close' "
        f"RETURNING {COLONNES}",
        e.alerte_id,
        e.parcours_id,
        e.departement,
        e.referent_id,
        e.type,
        e.cle,
        e.due_le,
        e.alerte_le,
        regle.attendu,
        regle.article,
        regle.urgente,
        e.informatif,
        Niveau.REFERENT.value,
        StatutAlerte.OUVERTE.value,
        lien_dossier(e.parcours_id),
        maintenant,
    )
    if ligne is None:
        return None
    # The parcours' version its timer reflects: a replay of older events (a rebuild) never moves it back.
    await conn.execute(
        f"UPDATE {TABLE} SET version_affectation = (SELECT coalesce(max(version), 0) FROM {JOURNAL} "
        "WHERE parcours_id = $2) WHERE alerte_id = $1",
        e.alerte_id,
        e.parcours_id,
    )
    alerte = alerte_de(ligne)
    await sorties.ajouter(cast("asyncpg.Connection", conn), EvenementAlerte.LEVEE, alerte)
    LEVEES.labels(e.type).inc()
    return alerte


async def escalader(conn: Connexion, alerte_id: UUID, maintenant: datetime) -> Alerte | None:
    """Its due date passed unmet: the alert goes to the encadrants too (``niveau = encadrant``).

    None when it is closed, unknown or escalated already (nothing written).
    """
    ligne = await conn.fetchrow(
        f"UPDATE {TABLE} SET niveau = $2, escaladee_le = $3, modifiee_le = $3 "
        f"WHERE alerte_id = $1 AND statut <> 'close' AND escaladee_le IS NULL RETURNING {COLONNES}",
        alerte_id,
        Niveau.ENCADRANT.value,
        maintenant,
    )
    if ligne is None:
        return None
    alerte = alerte_de(ligne)
    await sorties.ajouter(cast("asyncpg.Connection", conn), EvenementAlerte.ESCALADEE, alerte)
    ESCALADEES.labels(alerte.type).inc()
    return alerte


async def acquitter(conn: Connexion, alerte_id: UUID, sub: str, maintenant: datetime) -> AlerteLue | None:
    """Acknowledge an alert as ``sub``: idempotent (acknowledged already: returned unchanged, nothing written).

    None when unknown; raises :class:`AlerteCloseError` when closed. Locks the row (``FOR UPDATE``).
    """
    ligne = await conn.fetchrow(f"SELECT {COLONNES} FROM {TABLE} WHERE alerte_id = $1 FOR UPDATE", alerte_id)
    if ligne is None:
        return None
    if ligne["statut"] == StatutAlerte.CLOSE.value:
        raise AlerteCloseError(str(alerte_id))
    if ligne["statut"] == StatutAlerte.ACQUITTEE.value:
        return lue_de(ligne)
    ligne = await conn.fetchrow(
        f"UPDATE {TABLE} SET statut = $2, acquittee_par = $3, acquittee_le = $4, modifiee_le = $4 "
        f"WHERE alerte_id = $1 RETURNING {COLONNES}",
        alerte_id,
        StatutAlerte.ACQUITTEE.value,
        sub,
        maintenant,
    )
    assert ligne is not None
    lue = lue_de(ligne)
    await sorties.ajouter(cast("asyncpg.Connection", conn), EvenementAlerte.ACQUITTEE, lue.alerte)
    ACQUITTEES.labels(lue.alerte.type).inc()
    return lue


async def clore(conn: Connexion, alertes: list[UUID], maintenant: datetime) -> list[Alerte]:
    """Close the alerts ``alertes`` not closed yet (one statement); each closed now is written to the outbox."""
    if not alertes:
        return []
    lignes = await conn.fetch(
        f"UPDATE {TABLE} SET statut = $2, close_le = $3, modifiee_le = $3 "
        f"WHERE alerte_id = ANY($1::uuid[]) AND statut <> 'close' RETURNING {COLONNES}",
        alertes,
        StatutAlerte.CLOSE.value,
        maintenant,
    )
    closes = sorted((alerte_de(ligne) for ligne in lignes), key=lambda a: (au_plus_tard(a), a.type, a.cle))
    for alerte in closes:
        await sorties.ajouter(cast("asyncpg.Connection", conn), EvenementAlerte.CLOSE, alerte)
        CLOSES.labels(alerte.type).inc()
    return closes


async def reaffecter(
    conn: Connexion, affectations: dict[UUID, tuple[str, str | None, int]], maintenant: datetime
) -> list[Alerte]:
    """Move the open alerts of parcours to their new département / référent (a transfer, a new référent).

    ``affectations``: parcours -> (département, référent, the parcours' version they are from). Only an
    alert assigned from an older version moves (a rebuild replaying older events moves nothing back). One
    statement; returns the alerts moved, each
    written to the outbox as ``alerte_reaffectee`` (the e-mails follow the new référent, the webhooks and
    the topic learn of it).
    """
    if not affectations:
        return []
    cles = list(affectations)
    lignes = await conn.fetch(
        f"WITH avant AS (SELECT alerte_id, departement AS ancien FROM {TABLE} "
        "WHERE parcours_id = ANY($1::uuid[]) AND statut <> 'close' FOR UPDATE) "
        f"UPDATE {TABLE} a SET departement = u.d, referent_id = u.r, modifiee_le = $4, version_affectation = u.v "
        "FROM unnest($1::uuid[], $2::text[], $3::text[], $5::int[]) AS u(p, d, r, v), avant "
        "WHERE a.parcours_id = u.p AND avant.alerte_id = a.alerte_id AND a.version_affectation < u.v "
        "AND (a.departement IS DISTINCT FROM u.d OR a.referent_id IS DISTINCT FROM u.r) "
        f"RETURNING {', '.join('a.' + c.strip() for c in COLONNES.split(','))}, avant.ancien",
        cles,
        [affectations[p][0] for p in cles],
        [affectations[p][1] for p in cles],
        maintenant,
        [affectations[p][2] for p in cles],
    )
    deplacees = []
    for ligne in lignes:
        alerte = alerte_de(ligne)
        if ligne["ancien"] != alerte.departement:
            alerte = alerte.model_copy(update={"departement_precedent": ligne["ancien"]})
        deplacees.append(alerte)
        await sorties.ajouter(cast("asyncpg.Connection", conn), EvenementAlerte.REAFFECTEE, alerte)
    return deplacees


async def etats(conn: Connexion, ids: list[UUID]) -> dict[UUID, tuple[str, bool]]:
    """For each existing alert among ``ids``: (its status, escalated or not)."""
    if not ids:
        return {}
    lignes = await conn.fetch(
        f"SELECT alerte_id, statut, escaladee_le IS NOT NULL AS escaladee FROM {TABLE} WHERE alerte_id = ANY($1::uuid[])",
        ids,
    )
    return {ligne["alerte_id"]: (ligne["statut"], ligne["escaladee"]) for ligne in lignes}
