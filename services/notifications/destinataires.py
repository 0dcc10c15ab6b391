"""The e-mail recipients: the address of each référent (and encadrant) the service writes to.

Table ``notifications.destinataires``, one row per person and département, keyed by
(``departement``, ``referent_id``): the ``referent_id`` (the ``sub`` of their token, as
alerts name it) is only unique within a département, so an encadrant of one
département can neither read nor replace the address of another's référent, and an
alert is mailed to the recipient of ITS département (:func:`existe`, :func:`adresse`).
A row with ``encadrant`` set also receives the escalations of its département
(:class:`contracts.alertes.Niveau` ``encadrant``).

An address is staff data, not a child's, but personal all the same: it is kept
here, shown to the encadrants of its département, and never logged (logs and
metrics name the ``referent_id`` at most).

Addresses are checked strictly (:func:`adresse_valide`): ASCII, one ``@``, a
dot-atom local part (RFC 5322 § 3.4.1, no quoted strings), a domain of LDH
labels with a dot (RFC 1035 § 2.3.1, RFC 5321 § 4.1.2), at most 254 characters
(RFC 5321 § 4.5.3.1, errata 1690). No character outside those can reach a
header, so no CR, LF or other control character: header injection is impossible.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final

import asyncpg

from services.notifications.sorties import SCHEMA

if TYPE_CHECKING:
    from typing import TypeAlias

    from asyncpg.pool import PoolConnectionProxy

    Connexion: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

ADRESSE_MAX: Final = 254
"""Characters of an address at most (RFC 5321's 256-octet path, less its angle brackets)."""

_ATOME: Final = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCALE: Final = re.compile(rf"{_ATOME}(?:\.{_ATOME})*")
_ETIQUETTE: Final = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAINE: Final = re.compile(rf"{_ETIQUETTE}(?:\.{_ETIQUETTE})*\.[A-Za-z]{{2,63}}")

MOTIF: Final = rf"^(?=.{{1,64}}@){_ATOME}(?:\.{_ATOME})*@(?:{_ETIQUETTE}\.)+[A-Za-z]{{2,63}}$"
"""What :func:`adresse_valide` accepts, as an ECMA-262 regular expression for the API's JSON Schema."""

DDL: Final = [
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    f"CREATE TABLE IF NOT EXISTS {SCHEMA}.destinataires ("
    "departement text NOT NULL, referent_id text NOT NULL, email text NOT NULL, "
    "encadrant boolean NOT NULL DEFAULT false, modifie_le timestamptz NOT NULL, modifie_par text NOT NULL, "
    "PRIMARY KEY (departement, referent_id))",
    f"CREATE INDEX IF NOT EXISTS destinataires_encadrants ON {SCHEMA}.destinataires (departement) WHERE encadrant",
]


def adresse_valide(adresse: str) -> str:
    """``adresse`` with its domain in lower case, or ``ValueError`` saying what is wrong (never echoing it).

    Accepts ``local@domaine.tld`` only: ASCII, a dot-atom local part of 64 characters
    at most, a domain of letters, digits and hyphens with at least one dot and an
    alphabetic top-level label, 254 characters in all. Internationalised addresses
    (RFC 6531) are refused: not every relay takes them.
    """
    if len(adresse) > ADRESSE_MAX:
        raise ValueError(f"adresse de plus de {ADRESSE_MAX} caractères")
    if not adresse.isascii() or not adresse.isprintable():
        raise ValueError("adresse attendue en caractères ASCII imprimables, sans espace ni retour à la ligne")
    if adresse.count("@") != 1:
        raise ValueError("adresse attendue de la forme nom@domaine.fr (un seul @)")
    locale, domaine = adresse.split("@")
    if not 1 <= len(locale) <= 64 or _LOCALE.fullmatch(locale) is None:
        raise ValueError("partie avant le @ invalide (lettres, chiffres, . et !#$%&'*+/=?^_`{|}~- ; 64 au plus)")
    if len(domaine) > 253 or _DOMAINE.fullmatch(domaine) is None:
        raise ValueError("domaine invalide (lettres, chiffres et tirets, avec un point, par exemple exemple.fr)")
    return f"{locale}@{domaine.lower()}"


@dataclass(frozen=True)
class Destinataire:
    """One stored recipient."""

    referent_id: str
    departement: str
    email: str
    encadrant: bool
    modifie_le: datetime


def _destinataire(ligne: asyncpg.Record) -> Destinataire:
    return Destinataire(
        ligne["referent_id"], ligne["departement"], ligne["email"], ligne["encadrant"], ligne["modifie_le"]
    )


async def creer_tables(conn: Connexion) -> None:
    for ddl in DDL:
        await conn.execute(ddl)


async def lire(conn: Connexion, departement: str, referent_id: str) -> Destinataire | None:
    """The recipient ``referent_id`` of ``departement``, if one is kept."""
    ligne = await conn.fetchrow(
        f"SELECT referent_id, departement, email, encadrant, modifie_le FROM {SCHEMA}.destinataires "
        "WHERE departement = $1 AND referent_id = $2",
        departement,
        referent_id,
    )
    return None if ligne is None else _destinataire(ligne)


async def enregistrer(
    conn: Connexion,
    referent_id: str,
    departement: str,
    email: str,
    *,
    encadrant: bool,
    par: str,
    le: datetime,
) -> Destinataire:
    """Create or replace the recipient ``referent_id`` of ``departement`` (``email`` checked by :func:`adresse_valide`).

    Another département's recipient of the same ``referent_id`` is left as it is.
    """
    ligne = await conn.fetchrow(
        f"INSERT INTO {SCHEMA}.destinataires (referent_id, departement, email, encadrant, modifie_le, modifie_par) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (departement, referent_id) DO UPDATE SET "
        "email = EXCLUDED.email, encadrant = EXCLUDED.encadrant, modifie_le = EXCLUDED.modifie_le, "
        "modifie_par = EXCLUDED.modifie_par RETURNING referent_id, departement, email, encadrant, modifie_le",
        referent_id,
        departement,
        email,
        encadrant,
        le,
        par,
    )
    assert ligne is not None
    return _destinataire(ligne)


async def supprimer(conn: Connexion, departement: str, referent_id: str) -> None:
    """Forget the recipient ``referent_id`` of ``departement`` and its waiting digest lines (call in a transaction)."""
    await conn.execute(
        f"DELETE FROM {SCHEMA}.destinataires WHERE departement = $1 AND referent_id = $2", departement, referent_id
    )
    await conn.execute(
        f"DELETE FROM {SCHEMA}.lignes_digest WHERE departement = $1 AND destinataire = $2", departement, referent_id
    )


async def existe(conn: Connexion, departement: str, referent_id: str) -> bool:
    """Whether an address is kept for ``referent_id`` in ``departement`` (the alert's, for an alert)."""
    return bool(
        await conn.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {SCHEMA}.destinataires WHERE departement = $1 AND referent_id = $2)",
            departement,
            referent_id,
        )
    )


async def encadrants(conn: Connexion, departement: str) -> list[str]:
    """The ``referent_id`` of every recipient receiving ``departement``'s escalations."""
    lignes = await conn.fetch(
        f"SELECT referent_id FROM {SCHEMA}.destinataires WHERE departement = $1 AND encadrant ORDER BY referent_id",
        departement,
    )
    return [ligne["referent_id"] for ligne in lignes]


async def adresse(conn: Connexion, departement: str, referent_id: str) -> str | None:
    """The address to write to ``referent_id`` of ``departement`` now, if one is kept."""
    valeur = await conn.fetchval(
        f"SELECT email FROM {SCHEMA}.destinataires WHERE departement = $1 AND referent_id = $2",
        departement,
        referent_id,
    )
    return None if valeur is None else str(valeur)
