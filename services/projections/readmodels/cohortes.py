"""The cohorts the indicators count, read from the pilotage read model's ``faits``.

One query per indicator, returning one small row per child, measure or exit;
``indicateurs.py`` turns them into figures. Within a parcours, the state at a
date follows the stream's order (versions), not only the dates: majority is
recorded afterwards but dated on the birthday, and ends the accueil then.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, TypeAlias

import asyncpg

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connexion: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

from droit.regles import LIEUX_LIMITES
from services.projections.readmodels.indicateurs import JeuneDe17Ans, Majorite, MesureDebutee, SejourHotel, Sortie


def _departement_le(schema: str, parcours: str, jour: str) -> str:
    """SQL: the parcours' département on ``jour`` (its opening département, or the last transfer's)."""
    return (
        "(SELECT CASE r.nom WHEN 'DossierTransfere' THEN r.donnees->>'departement_destination' "
        "ELSE r.donnees->>'departement' END "
        f'FROM "{schema}".faits r WHERE r.parcours_id = {parcours} '
        f"AND r.nom IN ('ParcoursOuvert', 'DossierTransfere') AND r.date_effet <= {jour} "
        "ORDER BY r.version DESC LIMIT 1)"
    )


def _places_ou_recus(schema: str) -> str:
    """SQL: the parcours that may be placed in ``$2`` on ``$1``: placed by them, or transferred to them, by then."""
    return (
        f'SELECT DISTINCT parcours_id FROM "{schema}".faits WHERE date_effet <= $1 AND ('
        "(nom IN ('AccueilDebute', 'LieuAccueilChange') AND departement = ANY($2::text[])) "
        "OR (nom = 'DossierTransfere' AND donnees->>'departement_destination' = ANY($2::text[])))"
    )


async def lieux_des_enfants_accueillis(
    conn: Connexion, schema: str, jour: date, departements: Sequence[str]
) -> list[int]:
    """For each child placed on ``jour`` in ``departements``: the lieux they have had up to then."""
    lignes = await conn.fetch(
        f"""
        WITH c AS ({_places_ou_recus(schema)}),
        etat AS (
            SELECT c.parcours_id,
                   (SELECT count(*) FROM "{schema}".faits a WHERE a.parcours_id = c.parcours_id
                       AND a.nom IN ('AccueilDebute', 'LieuAccueilChange') AND a.date_effet <= $1) AS lieux,
                   (SELECT a.nom FROM "{schema}".faits a WHERE a.parcours_id = c.parcours_id
                       AND a.nom IN ('AccueilDebute', 'LieuAccueilChange', 'AccueilTermine') AND a.date_effet <= $1
                       ORDER BY a.version DESC LIMIT 1) AS dernier,
                   {_departement_le(schema, "c.parcours_id", "$1")} AS departement
              FROM c
        )
        SELECT lieux FROM etat
         WHERE dernier IN ('AccueilDebute', 'LieuAccueilChange') AND departement = ANY($2::text[])
         ORDER BY lieux
        """,
        jour,
        list(departements),
    )
    return [int(ligne["lieux"]) for ligne in lignes]


async def mesures_debutees(
    conn: Connexion, schema: str, annee: int, departements: Sequence[str]
) -> list[MesureDebutee]:
    """The measures decided by ``departements`` that start in ``annee``, their levée and first PPE after start."""
    lignes = await conn.fetch(
        f"""
        WITH m AS (
            SELECT parcours_id, mesure_id, (donnees->>'date_debut')::date AS date_debut
              FROM "{schema}".faits WHERE nom = 'MesureDecidee' AND departement = ANY($3::text[])
        )
        SELECT m.date_debut,
               (SELECT min(l.date_effet) FROM "{schema}".faits l WHERE l.parcours_id = m.parcours_id
                   AND l.nom = 'MesureLevee' AND l.mesure_id = m.mesure_id) AS levee_le,
               (SELECT min(x.date_effet) FROM "{schema}".faits x WHERE x.parcours_id = m.parcours_id
                   AND x.nom IN ('PPEEtabli', 'PPEActualise') AND x.date_effet >= m.date_debut) AS premier_ppe_le
          FROM m WHERE m.date_debut BETWEEN $1 AND $2
        """,
        date(annee, 1, 1),
        date(annee, 12, 31),
        list(departements),
    )
    return [MesureDebutee(r["date_debut"], r["levee_le"], r["premier_ppe_le"]) for r in lignes]


async def jeunes_de_17_ans(conn: Connexion, schema: str, annee: int, departements: Sequence[str]) -> list[JeuneDe17Ans]:
    """Those turning 17 in ``annee``, placed and followed in ``departements`` on the 1st of that month.

    The entretien d'autonomie is owed to minors placed (CASF L222-5-1): a child
    followed at home, or placed only after that day, is not counted.
    """
    annee_naissance = annee - 17
    lignes = await conn.fetch(
        f"""
        WITH j AS (
            SELECT parcours_id, make_date($1::integer, substr(mois_naissance, 6, 2)::integer, 1) AS mois_17_ans
              FROM "{schema}".parcours WHERE mois_naissance BETWEEN $3 AND $4
        ),
        etat AS (
            SELECT j.mois_17_ans,
                   (SELECT s.nom FROM "{schema}".faits s WHERE s.parcours_id = j.parcours_id
                       AND s.nom IN ('ParcoursOuvert', 'SortieDispositif', 'ParcoursRouvert')
                       AND s.date_effet <= j.mois_17_ans ORDER BY s.version DESC LIMIT 1) AS dernier,
                   (SELECT a.nom FROM "{schema}".faits a WHERE a.parcours_id = j.parcours_id
                       AND a.nom IN ('AccueilDebute', 'LieuAccueilChange', 'AccueilTermine')
                       AND a.date_effet <= j.mois_17_ans ORDER BY a.version DESC LIMIT 1) AS accueil,
                   {_departement_le(schema, "j.parcours_id", "j.mois_17_ans")} AS departement,
                   (SELECT min(e.date_effet) FROM "{schema}".faits e WHERE e.parcours_id = j.parcours_id
                       AND e.nom = 'EntretienAutonomieRealise') AS entretien_le,
                   (SELECT min(s.date_effet) FROM "{schema}".faits s WHERE s.parcours_id = j.parcours_id
                       AND s.nom = 'SortieDispositif' AND s.date_effet >= j.mois_17_ans) AS sorti_le
              FROM j
        )
        SELECT mois_17_ans, entretien_le, sorti_le FROM etat
         WHERE dernier IN ('ParcoursOuvert', 'ParcoursRouvert') AND departement = ANY($2::text[])
           AND accueil IN ('AccueilDebute', 'LieuAccueilChange')
        """,
        annee,
        list(departements),
        f"{annee_naissance:04d}-01",
        f"{annee_naissance:04d}-12",
    )
    return [JeuneDe17Ans(r["mois_17_ans"], r["entretien_le"], r["sorti_le"]) for r in lignes]


async def majorites(conn: Connexion, schema: str, annee: int, departements: Sequence[str]) -> list[Majorite]:
    """Majorities dated in ``annee`` recorded by ``departements``, with the start of the first APJM granted."""
    lignes = await conn.fetch(
        f"""
        SELECT m.date_effet AS majorite_le,
               (SELECT min((a.donnees->>'date_debut')::date) FROM "{schema}".faits a
                 WHERE a.parcours_id = m.parcours_id AND a.nom = 'AccompagnementJeuneMajeurAccorde') AS apjm_debut
          FROM "{schema}".faits m
         WHERE m.nom = 'MajoriteAtteinte' AND m.departement = ANY($3::text[]) AND m.date_effet BETWEEN $1 AND $2
        """,
        date(annee, 1, 1),
        date(annee, 12, 31),
        list(departements),
    )
    return [Majorite(r["majorite_le"], r["apjm_debut"]) for r in lignes]


async def sorties(conn: Connexion, schema: str, annee: int, departements: Sequence[str]) -> list[Sortie]:
    """Exits dated in ``annee`` recorded by ``departements``."""
    lignes = await conn.fetch(
        f"""
        SELECT donnees->>'motif' AS motif, donnees->>'situation_logement' AS situation_logement
          FROM "{schema}".faits
         WHERE nom = 'SortieDispositif' AND departement = ANY($3::text[]) AND date_effet BETWEEN $1 AND $2
        """,
        date(annee, 1, 1),
        date(annee, 12, 31),
        list(departements),
    )
    return [Sortie(r["motif"], r["situation_logement"]) for r in lignes]


async def sejours_hotel(conn: Connexion, schema: str, annee: int, departements: Sequence[str]) -> list[SejourHotel]:
    """Stays in a lieu limited to 2 months (hotel, hébergement dérogatoire: ``droit.regles.LIEUX_LIMITES``)
    starting in ``annee`` recorded by ``departements``, and when each ended (the next accueil event)."""
    lignes = await conn.fetch(
        f"""
        SELECT h.date_effet AS debut,
               (SELECT n.date_effet FROM "{schema}".faits n WHERE n.parcours_id = h.parcours_id
                   AND n.version > h.version AND n.nom IN ('LieuAccueilChange', 'AccueilTermine')
                 ORDER BY n.version LIMIT 1) AS fin
          FROM "{schema}".faits h
         WHERE h.nom IN ('AccueilDebute', 'LieuAccueilChange') AND h.departement = ANY($3::text[])
           AND h.date_effet BETWEEN $1 AND $2 AND h.donnees->>'type_lieu' = ANY($4::text[])
        """,
        date(annee, 1, 1),
        date(annee, 12, 31),
        list(departements),
        sorted(LIEUX_LIMITES),
    )
    return [SejourHotel(r["debut"], r["fin"]) for r in lignes]
