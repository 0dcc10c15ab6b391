"""The young person's own parcours, read from the dossiers read model (no table of its own).

A ``jeune`` reads only the parcours whose ``personne_id`` is their own: every
query here takes that person and finds nothing else (an unknown id and
another's are the same ``None``, whatever départements the token claims).

Where they lived is not a column of ``dossiers`` (which keeps the current lieu
only): it is read from the model's ``journal`` (each parcours' public events as
published), corrections applied as the dossier's fold applies them
(:func:`droit.etat_parcours.corriges`). Lieu names come from the model's
``lieux`` table, and only for the types that are establishments (see
:data:`TYPES_NOMMABLES`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, TypeAlias
from uuid import UUID

import asyncpg
import orjson

from droit.etat_parcours import Fait, corriges, jour_publie

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connexion: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

TYPES_NOMMABLES = frozenset({"mecs", "foyer_enfance", "pouponniere", "village_enfants", "hebergement_derogatoire"})
"""The lieu types whose name is an establishment's. Every other type may be named after a person (an
assistant familial, a tiers digne de confiance, a lieu de vie run by its permanent, the family's home of a
placement à domicile, an address) or a private place: its name is never shown to the young person."""


@dataclass(frozen=True)
class Sejour:
    """A stay in one lieu: from ``du`` to ``au`` (None: still there)."""

    lieu_id: UUID
    type_lieu: str
    du: date
    au: date | None
    nom: str | None
    """The establishment's name; None for any type outside :data:`TYPES_NOMMABLES`."""


@dataclass(frozen=True)
class Contrat:
    """An accompagnement jeune majeur (contrat jeune majeur): granted from ``debut`` to ``fin`` (its last
    renewal's), ended early or at its term on ``termine_le`` (None: under way, or not recorded as ended)."""

    debut: date | None
    fin: date | None
    fin_annee_engagee: bool
    termine_le: date | None


@dataclass(frozen=True)
class ParcoursDuJeune:
    dossier: asyncpg.Record
    mesures: list[asyncpg.Record]
    sejours: list[Sejour]
    contrats: list[Contrat]
    echeances: list[asyncpg.Record]
    """Its open deadlines (the entretien d'autonomie's, the housing window after the sortie among them)."""


async def parcours_de(conn: Connexion, schema: str, personne_id: UUID) -> list[asyncpg.Record]:
    """The person's parcours (usually one), oldest first: ``parcours_id, statut, ouvert_le, sorti_le``."""
    return list(
        await conn.fetch(
            f'SELECT parcours_id, departement, statut, ouvert_le, sorti_le FROM "{schema}".dossiers '
            "WHERE personne_id = $1 ORDER BY ouvert_le, parcours_id",
            personne_id,
        )
    )


async def lire(conn: Connexion, schema: str, parcours_id: UUID, personne_id: UUID) -> ParcoursDuJeune | None:
    """The parcours ``parcours_id`` if it is ``personne_id``'s, with its measures, stays and deadlines; else None."""
    dossier = await conn.fetchrow(
        f'SELECT * FROM "{schema}".dossiers WHERE parcours_id = $1 AND personne_id = $2', parcours_id, personne_id
    )
    if dossier is None:
        return None
    mesures = await conn.fetch(
        f"SELECT nature, cadre, date_debut, date_echeance, active, levee_le "
        f'FROM "{schema}".mesures WHERE parcours_id = $1 ORDER BY date_debut, decidee_le, mesure_id',
        parcours_id,
    )
    echeances = await conn.fetch(
        f'SELECT * FROM "{schema}".echeances WHERE parcours_id = $1 ORDER BY due_le, type, cle', parcours_id
    )
    faits = await _faits(conn, schema, parcours_id)
    sejours = await _nommer(conn, schema, sejours_de(faits))
    return ParcoursDuJeune(dossier, list(mesures), sejours, contrats_de(faits), list(echeances))


async def _faits(conn: Connexion, schema: str, parcours_id: UUID) -> list[Fait]:
    """The parcours' public events, corrections applied, in stream order."""
    lignes = await conn.fetch(
        f'SELECT version, nom, enregistre_le, donnees FROM "{schema}".journal WHERE parcours_id = $1 ORDER BY version',
        parcours_id,
    )
    faits = []
    for ligne in lignes:
        donnees = orjson.loads(ligne["donnees"])
        jour = jour_publie(donnees)
        if jour is not None:
            faits.append(Fait(ligne["version"], ligne["nom"], jour, ligne["enregistre_le"], donnees))
    return corriges(faits).faits


async def _nommer(conn: Connexion, schema: str, sejours: list[Sejour]) -> list[Sejour]:
    """The stays with their establishment's name, for the types in :data:`TYPES_NOMMABLES` only."""
    noms = {
        ligne["lieu_id"]: ligne["nom"]
        for ligne in await conn.fetch(
            f'SELECT lieu_id, nom FROM "{schema}".lieux WHERE lieu_id = ANY($1::uuid[]) AND type = ANY($2::text[])',
            list({s.lieu_id for s in sejours}),
            sorted(TYPES_NOMMABLES),
        )
    }
    return [replace(s, nom=noms.get(s.lieu_id) if s.type_lieu in TYPES_NOMMABLES else None) for s in sejours]


def contrats_de(faits: list[Fait]) -> list[Contrat]:
    """The contrats jeune majeur the (corrected) events describe, in stream order (as the fold reads them)."""
    contrats: list[Contrat] = []
    for fait in faits:
        d = fait.donnees
        if fait.nom == "AccompagnementJeuneMajeurAccorde":
            debut, fin = jour_publie(d, "date_debut"), jour_publie(d, "date_fin")
            contrats.append(Contrat(debut, fin, bool(d.get("fin_annee_engagee", False)), None))
        elif contrats and contrats[-1].termine_le is None:
            if fait.nom == "AccompagnementJeuneMajeurRenouvele":
                engagee = bool(d.get("fin_annee_engagee", False))
                contrats[-1] = replace(contrats[-1], fin=jour_publie(d, "date_fin"), fin_annee_engagee=engagee)
            elif fait.nom == "AccompagnementJeuneMajeurTermine":
                contrats[-1] = replace(contrats[-1], termine_le=fait.date_effet)
    return contrats


def sejours_de(faits: list[Fait]) -> list[Sejour]:
    """The stays the (corrected) events describe, in stream order, names left out.

    An accueil starts one, a change of lieu ends it and starts the next, the end
    of the accueil (or the sortie) ends it. A later accueil after a reopening starts
    a new one.
    """
    sejours: list[Sejour] = []
    courant: Sejour | None = None
    for fait in faits:
        # As the fold: a change of lieu counts only while an accueil is under way.
        debute = fait.nom == "AccueilDebute" or (fait.nom == "LieuAccueilChange" and courant is not None)
        if courant is not None and (debute or fait.nom in ("AccueilTermine", "SortieDispositif")):
            sejours.append(_fini(courant, fait.date_effet))
            courant = None
        if debute:
            lieu = UUID(str(fait.donnees["lieu_id"]))
            courant = Sejour(lieu, str(fait.donnees.get("type_lieu")), fait.date_effet, None, None)
    if courant is not None:
        sejours.append(courant)
    return sejours


def _fini(sejour: Sejour, le: date) -> Sejour:
    return replace(sejour, au=le)
