"""How each parcours event changes the dossier's rows (``dossiers``, ``mesures``, ``ips``).

Handlers read only the event's public data and the rows of its own parcours,
so replaying a parcours' events from its first one rebuilds the same rows
(which is how a rectification is applied: see ``dossiers.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

Donnees = dict[str, Any]
Gestionnaire = Callable[[asyncpg.Connection, UUID, Donnees], Awaitable[None]]


def _date(valeur: Any) -> date | None:
    return date.fromisoformat(str(valeur)) if valeur is not None else None


def _uuid(valeur: Any) -> UUID | None:
    return UUID(str(valeur)) if valeur is not None else None


async def _maj(conn: asyncpg.Connection, pid: UUID, affectations: str, *valeurs: Any) -> None:
    """``UPDATE dossiers SET <affectations>`` for one parcours; parameters start at $2."""
    await conn.execute(f"UPDATE dossiers SET {affectations} WHERE parcours_id = $1", pid, *valeurs)


async def parcours_ouvert(conn: asyncpg.Connection, pid: UUID, d: Donnees) -> None:
    await conn.execute(
        "INSERT INTO dossiers (parcours_id, personne_id, departement, referent_id, sexe, mois_naissance, ouvert_le, "
        "statut) VALUES ($1, $2, $3, $4, $5, $6, $7, 'ouvert')",
        pid,
        _uuid(d["personne_id"]),
        d["departement"],
        d.get("referent_id"),
        d["sexe"],
        d["mois_naissance"],
        _date(d["date_effet"]),
    )


async def ip_recue(conn: asyncpg.Connection, pid: UUID, d: Donnees) -> None:
    await conn.execute(
        "INSERT INTO ips (ip_id, parcours_id, recue_le, origine, dangers) VALUES ($1, $2, $3, $4, $5)",
        _uuid(d["ip_id"]),
        pid,
        _date(d["date_effet"]),
        d.get("origine"),
        list(d.get("dangers") or []),
    )


async def evaluation_conclue(conn: asyncpg.Connection, pid: UUID, d: Donnees) -> None:
    await conn.execute(
        "UPDATE ips SET suite = $3, evaluee_le = $4 WHERE parcours_id = $1 AND ip_id = $2",
        pid,
        _uuid(d["ip_id"]),
        d["suite"],
        _date(d["date_effet"]),
    )


async def mesure_decidee(conn: asyncpg.Connection, pid: UUID, d: Donnees) -> None:
    await conn.execute(
        "INSERT INTO mesures (mesure_id, parcours_id, cadre, nature, autorite, reference_decision, date_debut, "
        "date_echeance, decidee_le, active) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, true)",
        _uuid(d["mesure_id"]),
        pid,
        d["cadre"],
        d["nature"],
        d["autorite"],
        d["reference_decision"],
        _date(d["date_debut"]),
        _date(d.get("date_echeance")),
        _date(d["date_effet"]),
    )


async def mesure_renouvelee(conn: asyncpg.Connection, pid: UUID, d: Donnees) -> None:
    await conn.execute(
        "UPDATE mesures SET date_echeance = $3, reference_decision = $4, renouvellements = renouvellements + 1, "
        "renouvelee_le = $5 WHERE parcours_id = $1 AND mesure_id = $2",
        pid,
        _uuid(d["mesure_id"]),
        _date(d["nouvelle_echeance"]),
        d["reference_decision"],
        _date(d["date_effet"]),
    )


async def mesure_levee(conn: asyncpg.Connection, pid: UUID, d: Donnees) -> None:
    await conn.execute(
        "UPDATE mesures SET active = false, levee_le = $3, motif_levee = $4 WHERE parcours_id = $1 AND mesure_id = $2",
        pid,
        _uuid(d["mesure_id"]),
        _date(d["date_effet"]),
        d["motif"],
    )


async def accueil_debute(conn: asyncpg.Connection, pid: UUID, d: Donnees) -> None:
    jour = _date(d["date_effet"])
    await _maj(
        conn,
        pid,
        "mesure_accueil_id = $2, lieu_id = $3, type_lieu = $4, accueil_debut = $5, "
        "lieu_depuis = $5, date_limite_hotel = $6, fugue_depuis = NULL, lieux_successifs = lieux_successifs + 1",
        _uuid(d["mesure_id"]),
        _uuid(d["lieu_id"]),
        d["type_lieu"],
        jour,
        _date(d.get("date_limite_hotel")),
    )


async def lieu_change(conn: asyncpg.Connection, pid: UUID, d: Donnees) -> None:
    await _maj(
        conn,
        pid,
        "lieu_id = $2, type_lieu = $3, lieu_depuis = $4, date_limite_hotel = $5, "
        "lieux_successifs = lieux_successifs + 1",
        _uuid(d["lieu_id"]),
        d["type_lieu"],
        _date(d["date_effet"]),
        _date(d.get("date_limite_hotel")),
    )


async def accueil_termine(conn: asyncpg.Connection, pid: UUID, d: Donnees) -> None:
    await _maj(
        conn,
        pid,
        "mesure_accueil_id = NULL, lieu_id = NULL, type_lieu = NULL, accueil_debut = NULL, "
        "lieu_depuis = NULL, date_limite_hotel = NULL, fugue_depuis = NULL",
    )


def _date_de(colonne: str) -> Gestionnaire:
    """A handler recording the event's date of effect in ``colonne``."""

    async def gerer(conn: asyncpg.Connection, pid: UUID, d: Donnees) -> None:
        await _maj(conn, pid, f"{colonne} = $2", _date(d["date_effet"]))

    return gerer


async def fugue_terminee(conn: asyncpg.Connection, pid: UUID, d: Donnees) -> None:
    await _maj(conn, pid, "fugue_depuis = NULL")


async def rapport_produit(conn: asyncpg.Connection, pid: UUID, d: Donnees) -> None:
    await _maj(
        conn,
        pid,
        "dernier_rapport_le = $2, dernier_rapport_transmis = $3",
        _date(d["date_effet"]),
        bool(d.get("transmis_au_juge")),
    )


async def apjm_accorde(conn: asyncpg.Connection, pid: UUID, d: Donnees) -> None:
    await _maj(
        conn,
        pid,
        "apjm_debut = $2, apjm_fin = $3, apjm_renouvellements = 0, apjm_accorde_le = $4",
        _date(d["date_debut"]),
        _date(d["date_fin"]),
        _date(d["date_effet"]),
    )


async def apjm_renouvele(conn: asyncpg.Connection, pid: UUID, d: Donnees) -> None:
    await _maj(conn, pid, "apjm_fin = $2, apjm_renouvellements = apjm_renouvellements + 1", _date(d["date_fin"]))


async def apjm_termine(conn: asyncpg.Connection, pid: UUID, d: Donnees) -> None:
    await _maj(
        conn,
        pid,
        "apjm_debut = NULL, apjm_fin = NULL, apjm_renouvellements = 0, apjm_accorde_le = NULL, "
        "apjm_termine_le = $2, apjm_motif_fin = $3",
        _date(d["date_effet"]),
        d.get("motif"),
    )


async def sortie(conn: asyncpg.Connection, pid: UUID, d: Donnees) -> None:
    await _maj(
        conn,
        pid,
        "statut = 'sorti', sorti_le = $2, motif_sortie = $3, situation_logement = $4",
        _date(d["date_effet"]),
        d["motif"],
        d["situation_logement"],
    )


async def parcours_rouvert(conn: asyncpg.Connection, pid: UUID, d: Donnees) -> None:
    await _maj(
        conn,
        pid,
        "statut = 'ouvert', sorti_le = NULL, motif_sortie = NULL, situation_logement = NULL, rouvert_le = $2",
        _date(d["date_effet"]),
    )


async def dossier_transfere(conn: asyncpg.Connection, pid: UUID, d: Donnees) -> None:
    await _maj(conn, pid, "departement = $2", d["departement_destination"])


async def referent_designe(conn: asyncpg.Connection, pid: UUID, d: Donnees) -> None:
    await _maj(conn, pid, "referent_id = $2", d["referent_id"])


async def sans_effet(conn: asyncpg.Connection, pid: UUID, d: Donnees) -> None:
    """Events that change no row of their own (a rectification is replayed by the projection)."""


GESTIONNAIRES: dict[str, Gestionnaire] = {
    "ParcoursOuvert": parcours_ouvert,
    "InformationPreoccupanteRecue": ip_recue,
    "EvaluationConclue": evaluation_conclue,
    "MesureDecidee": mesure_decidee,
    "MesureRenouvelee": mesure_renouvelee,
    "MesureLevee": mesure_levee,
    "AccueilDebute": accueil_debute,
    "LieuAccueilChange": lieu_change,
    "AccueilTermine": accueil_termine,
    "FugueDeclaree": _date_de("fugue_depuis"),
    "FugueTerminee": fugue_terminee,
    "PPEEtabli": _date_de("ppe_etabli_le"),
    "PPEActualise": _date_de("ppe_actualise_le"),
    "RapportSituationProduit": rapport_produit,
    "EntretienAutonomieRealise": _date_de("entretien_autonomie_le"),
    "MajoriteAtteinte": _date_de("majorite_atteinte_le"),
    "AccompagnementJeuneMajeurAccorde": apjm_accorde,
    "AccompagnementJeuneMajeurRenouvele": apjm_renouvele,
    "AccompagnementJeuneMajeurTermine": apjm_termine,
    "SortieDispositif": sortie,
    "ParcoursRouvert": parcours_rouvert,
    "DossierTransfere": dossier_transfere,
    "ReferentDesigne": referent_designe,
    "SaisieRectifiee": sans_effet,
}
"""One handler per parcours event of contracts/evenements.py; an unknown event is a dead letter."""
