"""Webhook subscriptions and the deliveries as the API shows them: create, list, delete, replay.

Tables (schema ``notifications``):

- ``abonnements``: ``abonnement_id uuid PK, departement, url, types text[],
  secret_chiffre bytea, kek_id, etat ('actif' | 'desactive' (a 410) |
  'supprime'), cree_par, cree_le, modifie_le``. The secret is kept wrapped by
  the key-encryption key of ``services.runtime.coffre`` (AES-256-GCM, AAD = the
  subscription's id): a copy of the table does not give it away.
- ``livraisons``: ``livraison_id uuid PK, abonnement_id, position`` (the
  outbox's), ``message_id``, ``evenement``, ``alerte_id``, ``corps`` (the exact
  JSON signed, kept so every try sends the same bytes), ``tentatives``,
  ``prochaine_tentative``, ``etat ('en_attente' | 'livree' | 'lettre_morte' |
  'annulee')``, ``dernier_statut`` (HTTP status), ``derniere_erreur`` (a class:
  ``statut_http``, ``delai_depasse``, ``connexion``, ``adresse_refusee``...;
  never the answer's body), ``creee_le``, ``modifiee_le``; unique
  ``(abonnement_id, position)``.

Deliveries are planned, sent and retried by :mod:`services.notifications.webhooks`.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final, TypeAlias, cast
from uuid import UUID

import asyncpg
import structlog

from services.notifications import adresses, sorties
from services.runtime.coffre import Coffre, coffre_par_defaut

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connexion: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

log = structlog.get_logger(__name__)

SCHEMA: Final = sorties.SCHEMA
TOUS: Final = "*"
EN_ATTENTE: Final = "en_attente"
LIVREE: Final = "livree"
LETTRE_MORTE: Final = "lettre_morte"
ANNULEE: Final = "annulee"
ETATS_LIVRAISON: Final = (EN_ATTENTE, LIVREE, LETTRE_MORTE, ANNULEE)
ACTIF: Final = "actif"
DESACTIVE: Final = "desactive"
SUPPRIME: Final = "supprime"

DDL: Final = [
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.abonnements (
        abonnement_id uuid PRIMARY KEY,
        departement text NOT NULL,
        url text NOT NULL CHECK (length(url) <= {adresses.URL_MAX}),
        types text[] NOT NULL,
        secret_chiffre bytea NOT NULL,
        kek_id text NOT NULL,
        etat text NOT NULL DEFAULT '{ACTIF}' CHECK (etat IN ('{ACTIF}', '{DESACTIVE}', '{SUPPRIME}')),
        cree_par text NOT NULL,
        cree_le timestamptz NOT NULL,
        modifie_le timestamptz NOT NULL)""",
    f"CREATE INDEX IF NOT EXISTS abonnements_actifs ON {SCHEMA}.abonnements (departement) WHERE etat = '{ACTIF}'",
    f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.livraisons (
        livraison_id uuid PRIMARY KEY,
        abonnement_id uuid NOT NULL REFERENCES {SCHEMA}.abonnements (abonnement_id),
        position bigint NOT NULL,
        message_id text NOT NULL,
        evenement text NOT NULL,
        alerte_id uuid NOT NULL,
        corps text NOT NULL,
        tentatives integer NOT NULL DEFAULT 0,
        prochaine_tentative timestamptz NOT NULL,
        etat text NOT NULL DEFAULT '{EN_ATTENTE}'
            CHECK (etat IN ('{EN_ATTENTE}', '{LIVREE}', '{LETTRE_MORTE}', '{ANNULEE}')),
        dernier_statut integer,
        derniere_erreur text,
        creee_le timestamptz NOT NULL,
        modifiee_le timestamptz NOT NULL,
        UNIQUE (abonnement_id, position))""",
    f"CREATE INDEX IF NOT EXISTS livraisons_dues ON {SCHEMA}.livraisons (prochaine_tentative) "
    f"WHERE etat = '{EN_ATTENTE}'",
    f"CREATE INDEX IF NOT EXISTS livraisons_file ON {SCHEMA}.livraisons (abonnement_id, position) "
    f"WHERE etat = '{EN_ATTENTE}'",
    f"CREATE INDEX IF NOT EXISTS livraisons_par_etat ON {SCHEMA}.livraisons (etat, creee_le, position)",
]


async def creer_tables(conn: Connexion) -> None:
    """Create the outbox's tables and this module's (idempotent)."""
    await sorties.creer_tables(cast("asyncpg.Connection[asyncpg.Record]", conn))
    for ddl in DDL:
        await conn.execute(ddl)


# -- subscriptions ---------------------------------------------------------------------------


def nouveau_secret() -> tuple[str, bytes]:
    """A fresh signing secret: ``whsec_<base64 of 32 random bytes>`` and the bytes."""
    brut = secrets.token_bytes(32)
    return "whsec_" + base64.b64encode(brut).decode("ascii"), brut


@dataclass(frozen=True)
class Abonnement:
    """A subscription as the API shows it (never its secret)."""

    abonnement_id: UUID
    departement: str
    url: str
    types: tuple[str, ...]
    etat: str
    cree_le: datetime


def _abonnement(ligne: asyncpg.Record) -> Abonnement:
    return Abonnement(
        ligne["abonnement_id"],
        ligne["departement"],
        ligne["url"],
        tuple(ligne["types"]),
        ligne["etat"],
        ligne["cree_le"],
    )


_COLONNES_ABONNEMENT: Final = "abonnement_id, departement, url, types, etat, cree_le"


async def creer_abonnement(
    conn: Connexion,
    *,
    departement: str,
    url: str,
    types: Sequence[str],
    cree_par: str,
    maintenant: datetime,
    coffre: Coffre | None = None,
) -> tuple[Abonnement, str]:
    """Record a subscription (URL already checked); the subscription and its secret, shown once."""
    abonnement_id = uuid.uuid4()
    secret, brut = nouveau_secret()
    enveloppe = (coffre or coffre_par_defaut()).envelopper(abonnement_id, brut)
    ligne = await conn.fetchrow(
        f"INSERT INTO {SCHEMA}.abonnements (abonnement_id, departement, url, types, secret_chiffre, kek_id, "
        f"cree_par, cree_le, modifie_le) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) "
        f"RETURNING {_COLONNES_ABONNEMENT}",
        abonnement_id,
        departement,
        url,
        list(dict.fromkeys(types)),
        enveloppe.cle_chiffree,
        enveloppe.kek_id,
        cree_par,
        maintenant,
    )
    assert ligne is not None
    return _abonnement(ligne), secret


async def lister_abonnements(conn: Connexion, departements: Sequence[str]) -> list[Abonnement]:
    """The subscriptions (active or disabled, not deleted) of ``departements``, oldest first."""
    lignes = await conn.fetch(
        f"SELECT {_COLONNES_ABONNEMENT} FROM {SCHEMA}.abonnements "
        f"WHERE departement = ANY($1) AND etat <> '{SUPPRIME}' ORDER BY cree_le, abonnement_id",
        list(departements),
    )
    return [_abonnement(ligne) for ligne in lignes]


async def lire_abonnement(conn: Connexion, abonnement_id: UUID, departements: Sequence[str]) -> Abonnement | None:
    """One subscription of ``departements`` (not deleted), or None."""
    ligne = await conn.fetchrow(
        f"SELECT {_COLONNES_ABONNEMENT} FROM {SCHEMA}.abonnements "
        f"WHERE abonnement_id = $1 AND departement = ANY($2) AND etat <> '{SUPPRIME}'",
        abonnement_id,
        list(departements),
    )
    return _abonnement(ligne) if ligne is not None else None


async def _arreter_abonnement(conn: Connexion, abonnement_id: UUID, etat: str, maintenant: datetime) -> None:
    await conn.execute(
        f"UPDATE {SCHEMA}.abonnements SET etat = $2, modifie_le = $3 WHERE abonnement_id = $1",
        abonnement_id,
        etat,
        maintenant,
    )
    await conn.execute(
        f"UPDATE {SCHEMA}.livraisons SET etat = '{ANNULEE}', modifiee_le = $2 "
        f"WHERE abonnement_id = $1 AND etat = '{EN_ATTENTE}'",
        abonnement_id,
        maintenant,
    )


async def supprimer_abonnement(
    conn: Connexion, abonnement_id: UUID, departements: Sequence[str], maintenant: datetime
) -> bool:
    """Delete a subscription of ``departements``: nothing more is planned for it, its pending deliveries
    are cancelled (``annulee``). False when there is none."""
    async with conn.transaction():
        existe = await conn.fetchval(
            f"SELECT 1 FROM {SCHEMA}.abonnements WHERE abonnement_id = $1 AND departement = ANY($2) "
            f"AND etat <> '{SUPPRIME}' FOR UPDATE",
            abonnement_id,
            list(departements),
        )
        if existe is None:
            return False
        await _arreter_abonnement(conn, abonnement_id, SUPPRIME, maintenant)
    return True


# -- deliveries as the API shows them -------------------------------------------------------


@dataclass(frozen=True)
class Livraison:
    livraison_id: UUID
    abonnement_id: UUID
    message_id: str
    type: str
    alerte_id: UUID
    etat: str
    tentatives: int
    prochaine_tentative: datetime
    dernier_statut: int | None
    derniere_erreur: str | None
    creee_le: datetime
    modifiee_le: datetime


_COLONNES_LIVRAISON: Final = (
    "l.livraison_id, l.abonnement_id, l.message_id, l.evenement, l.alerte_id, l.etat, l.tentatives, "
    "l.prochaine_tentative, l.dernier_statut, l.derniere_erreur, l.creee_le, l.modifiee_le"
)


def _livraison(ligne: asyncpg.Record) -> Livraison:
    return Livraison(
        ligne["livraison_id"],
        ligne["abonnement_id"],
        ligne["message_id"],
        ligne["evenement"],
        ligne["alerte_id"],
        ligne["etat"],
        ligne["tentatives"],
        ligne["prochaine_tentative"],
        ligne["dernier_statut"],
        ligne["derniere_erreur"],
        ligne["creee_le"],
        ligne["modifiee_le"],
    )


async def lister_livraisons(
    conn: Connexion,
    departements: Sequence[str],
    etat: str,
    *,
    abonnement_id: UUID | None = None,
    limite: int = 50,
    decalage: int = 0,
) -> list[Livraison]:
    """Deliveries in ``etat`` of the subscriptions of ``departements``, oldest first."""
    lignes = await conn.fetch(
        f"SELECT {_COLONNES_LIVRAISON} FROM {SCHEMA}.livraisons l "
        f"JOIN {SCHEMA}.abonnements a USING (abonnement_id) "
        "WHERE l.etat = $1 AND a.departement = ANY($2) AND ($3::uuid IS NULL OR l.abonnement_id = $3) "
        "ORDER BY l.creee_le, l.position LIMIT $4 OFFSET $5",
        etat,
        list(departements),
        abonnement_id,
        limite,
        decalage,
    )
    return [_livraison(ligne) for ligne in lignes]


class RejeuImpossibleError(Exception):
    """Only a dead letter of an active subscription can be replayed."""


async def rejouer(
    conn: Connexion, livraison_id: UUID, departements: Sequence[str], maintenant: datetime
) -> Livraison | None:
    """Put a dead letter back in the queue, due now, its tries counted from zero.

    None when no delivery of ``departements`` has this id; :class:`RejeuImpossibleError`
    when it is not a dead letter or its subscription is no longer active.
    """
    async with conn.transaction():
        ligne = await conn.fetchrow(
            f"SELECT l.etat, a.etat AS etat_abonnement FROM {SCHEMA}.livraisons l "
            f"JOIN {SCHEMA}.abonnements a USING (abonnement_id) "
            "WHERE l.livraison_id = $1 AND a.departement = ANY($2) FOR UPDATE OF l",
            livraison_id,
            list(departements),
        )
        if ligne is None or ligne["etat_abonnement"] == SUPPRIME:
            return None
        if ligne["etat"] != LETTRE_MORTE:
            raise RejeuImpossibleError(f"seule une lettre morte se rejoue (état: {ligne['etat']})")
        if ligne["etat_abonnement"] != ACTIF:
            raise RejeuImpossibleError("l'abonnement n'est plus actif")
        mise_a_jour = await conn.fetchrow(
            f"UPDATE {SCHEMA}.livraisons l SET etat = '{EN_ATTENTE}', tentatives = 0, prochaine_tentative = $2, "
            f"modifiee_le = $2 WHERE livraison_id = $1 RETURNING {_COLONNES_LIVRAISON}",
            livraison_id,
            maintenant,
        )
    assert mise_a_jour is not None
    log.info("webhook_rejeu", livraison_id=str(livraison_id))
    return _livraison(mise_a_jour)
