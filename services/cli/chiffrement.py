"""What ``ase retention`` and ``ase cles`` do on the write side's database (README, "Chiffrement et effacement").

- :func:`a_effacer` lists the persons whose parcours ended (``SortieDispositif``, not reopened since)
  on or before a date, and not erased yet; :func:`effacer` erases them as the DPO route does.
- :func:`rotation` re-wraps every data key with the current key-encryption key: no event is rewritten.
- :func:`migrer` encrypts in place the personal fields of events stored in clear before encryption
  existed (a one-off migration). It rewrites stored bytes: run it before the hash chain is first
  written, or recompute the chain after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import orjson
import psycopg
from psycopg.rows import dict_row

from contracts.publication import nom_evenement
from services.parcours import integrite
from services.parcours.application import Demande, ParcoursApplication
from services.parcours.persistence import CHAMPS_PERSONNELS, chiffrer_etat
from services.runtime import coffre
from services.runtime.relais import TABLE_EVENEMENTS

TABLE_INSTANTANES = "ase_snapshots"
"""The snapshots' table (``ParcoursApplication``'s, named by the library after the application)."""

MOTIF_RETENTION = "fin_de_conservation"


@dataclass(frozen=True)
class AEffacer:
    """A person due for erasure: pseudonymous ids and the date her parcours ended, never a name."""

    personne_id: UUID
    parcours_id: UUID
    sorti_le: date


_SQL_A_EFFACER = f"""
WITH ouverts AS (
    SELECT originator_id AS parcours_id,
           (convert_from(state, 'UTF8')::jsonb ->> 'personne_id')::uuid AS personne_id
    FROM {TABLE_EVENEMENTS} WHERE originator_version = 1 AND topic LIKE '%%:ParcoursOuvert'
), fins AS (
    SELECT DISTINCT ON (originator_id) originator_id AS parcours_id, topic,
           (convert_from(state, 'UTF8')::jsonb ->> 'date_effet')::date AS le
    FROM {TABLE_EVENEMENTS} WHERE topic LIKE '%%:SortieDispositif' OR topic LIKE '%%:ParcoursRouvert'
    ORDER BY originator_id, originator_version DESC
)
SELECT o.personne_id, o.parcours_id, f.le FROM ouverts o JOIN fins f USING (parcours_id)
WHERE f.topic LIKE '%%:SortieDispositif' AND f.le <= %s
  AND NOT EXISTS (SELECT 1 FROM {TABLE_EVENEMENTS} e
                  WHERE e.originator_id = o.personne_id AND e.topic LIKE '%%:IdentiteEffacee')
ORDER BY f.le, o.personne_id
"""


def a_effacer(url: str, sortis_au_plus_tard_le: date) -> list[AEffacer]:
    """The persons whose parcours ended on or before ``sortis_au_plus_tard_le`` and are not erased yet."""
    with psycopg.connect(url) as conn:
        lignes = conn.execute(_SQL_A_EFFACER, (sortis_au_plus_tard_le,)).fetchall()
    return [AEffacer(UUID(str(p)), UUID(str(q)), le) for p, q, le in lignes]


def effacer(application: ParcoursApplication, personnes: list[AEffacer], departements: frozenset[str]) -> int:
    """Erase each person (``IdentiteEffacee`` and her key, one commit each); return how many."""
    for personne in personnes:
        demande = Demande(
            sub="ase-retention", departements=departements, correlation_id=str(uuid4()), causation_id=str(uuid4())
        )
        application.effacer_personne(personne.personne_id, MOTIF_RETENTION, demande)
    return len(personnes)


def rotation(url: str, le_coffre: coffre.Coffre | None = None) -> int:
    """Re-wrap with the current KEK every data key wrapped by another; return how many (one transaction)."""
    le_coffre = le_coffre or coffre.coffre_par_defaut()
    courante, _ = le_coffre.fournisseur.cle_courante()
    with psycopg.connect(url) as conn, conn.transaction():
        lignes = conn.execute(
            f"SELECT personne_id, cle_chiffree, kek_id FROM public.{coffre.TABLE_CLES} WHERE kek_id <> %s FOR UPDATE",
            (courante,),
        ).fetchall()
        for personne, chiffree, kek_id in lignes:
            nouvelle = le_coffre.reenvelopper(coffre.CleEnveloppee(UUID(str(personne)), bytes(chiffree), kek_id))
            conn.execute(
                f"UPDATE public.{coffre.TABLE_CLES} SET cle_chiffree = %s, kek_id = %s WHERE personne_id = %s",
                (nouvelle.cle_chiffree, nouvelle.kek_id, nouvelle.personne_id),
            )
    return len(lignes)


def _lignes_en_clair(conn: psycopg.Connection[Any]) -> Iterator[dict[str, Any]]:
    motifs = " OR ".join(f"topic LIKE '%%:{nom}'" for nom in CHAMPS_PERSONNELS)
    with conn.cursor(row_factory=dict_row) as curs:
        curs.execute(
            f"SELECT originator_id, originator_version, topic, state FROM {TABLE_EVENEMENTS} "
            f"WHERE ({motifs}) AND position('\"_chiffre\"'::bytea in state) = 0 "
            "ORDER BY notification_id FOR UPDATE"
        )
        yield from curs.fetchall()


def migrer(url: str, le_coffre: coffre.Coffre | None = None) -> int:
    """Encrypt in place the personal fields of events stored in clear; return how many events (one transaction).

    A person without a key gets one; a person already erased gets a key destroyed at once, so her
    fields stored in clear become unreadable as if she had been erased after encryption.
    """
    le_coffre = le_coffre or coffre.coffre_par_defaut()
    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute(coffre.SQL_TABLE_CLES)
        lignes = list(_lignes_en_clair(conn))
        personnes_des_parcours = {
            UUID(str(flux)): UUID(orjson.loads(bytes(etat))["personne_id"])
            for flux, etat in conn.execute(
                f"SELECT originator_id, state FROM {TABLE_EVENEMENTS} "
                "WHERE originator_version = 1 AND topic LIKE '%%:ParcoursOuvert'"
            ).fetchall()
        }
        effacees = {
            UUID(str(flux))
            for (flux,) in conn.execute(
                f"SELECT originator_id FROM {TABLE_EVENEMENTS} WHERE topic LIKE '%%:IdentiteEffacee'"
            ).fetchall()
        }
        with conn.cursor(row_factory=dict_row) as curs:
            cles = coffre.cles_sync(curs, set(personnes_des_parcours.values()), le_coffre)
        reecrits: set[str] = set()
        for ligne in lignes:
            flux_id, version = UUID(str(ligne["originator_id"])), int(ligne["originator_version"])
            nom = nom_evenement(ligne["topic"])
            personne = flux_id if nom.startswith("Identite") else personnes_des_parcours.get(flux_id)
            if personne is None:
                continue
            cle = cles.get(personne)
            if cle is None:
                cle, enveloppee = le_coffre.nouvelle_cle(personne)
                cles[personne] = cle
                if personne not in effacees:  # an erased person's key is never stored: shredded at once
                    conn.execute(
                        f"INSERT INTO public.{coffre.TABLE_CLES} (personne_id, cle_chiffree, kek_id) "
                        "VALUES (%s, %s, %s) ON CONFLICT (personne_id) DO NOTHING",
                        (personne, enveloppee.cle_chiffree, enveloppee.kek_id),
                    )
            etat = chiffrer_etat(
                nom, flux_id, version, orjson.loads(bytes(ligne["state"])), personne_id=personne, cle=cle
            )
            conn.execute(
                f"UPDATE {TABLE_EVENEMENTS} SET state = %s WHERE originator_id = %s AND originator_version = %s",
                (orjson.dumps(etat), flux_id, version),
            )
            reecrits.add(str(flux_id))
        # The rewritten rows' hashes, in the same transaction: the chain stays whole (take a new checkpoint).
        if reecrits:
            integrite.rechainer(conn, sorted(reecrits), table=TABLE_EVENEMENTS)
            # Snapshots are a cache of the events (``services.parcours.instantanes``): those of rewritten
            # streams go, and the next commands take them again from the encrypted events.
            if conn.execute("SELECT to_regclass(%s)", (TABLE_INSTANTANES,)).fetchone() != (None,):
                conn.execute(
                    f"DELETE FROM {TABLE_INSTANTANES} WHERE originator_id = ANY(%s::uuid[])", (sorted(reecrits),)
                )
    return len(lignes)
