"""The pilotage read model: places of care, who is placed where, and the facts behind the indicators.

Tables (in the projection's schema):

- ``lieux``: every lieu d'accueil, its capacity and closing date;
- ``presences``: one row per child placed right now (removed at ``AccueilTermine``);
- ``parcours``: per child, what the statistics need and nothing more: the
  département (current), month of birth, sexe, opening date, and the OLINPE
  pseudonym (never the ``personne_id``);
- ``faits``: the dated facts the indicators and the OLINPE extract are computed
  from (measures, accueils, PPE, entretien, majority, APJM, exits, transfers),
  one row per event, reduced to the fields they use, corrected in place by a
  ``SaisieRectifiee`` (the stream keeps both; a statistic counts what is now
  known to be true), the presence following a corrected accueil fact;
- ``olinpe`` (a view): the pseudonymised measure and APJM events (start, renewal, end).

Handlers only touch rows of the event's own stream (a parcours' rows, or a
lieu's): streams arrive in any interleaving across Kafka partitions, and the
joins between lieux and presences happen at query time. So any rebuild, from
Kafka or from the store, gives the same tables (given the same OLINPE key).
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from contracts.enveloppe import TOPIC_IDENTITES, TOPIC_PARCOURS, TOPIC_RESTREINT
from droit.etat_parcours import jour_publie
from services.projections.readmodels import restreints
from services.projections.readmodels.olinpe import DDL_VUE_OLINPE, pseudonyme, reglages_olinpe
from services.runtime.evenement import EvenementPublie
from services.runtime.moteur import Projection

FAITS: dict[str, tuple[str, ...]] = {
    "ParcoursOuvert": ("departement",),
    "DossierTransfere": ("departement_origine", "departement_destination"),
    "MesureDecidee": ("cadre", "nature", "autorite", "date_debut", "date_echeance", "duree_derogatoire"),
    "MesureRenouvelee": ("nouvelle_echeance",),
    "MesureLevee": ("motif",),
    "AccueilDebute": ("type_lieu", "lieu_id"),
    "LieuAccueilChange": ("type_lieu", "motif", "lieu_id"),
    "AccueilTermine": ("motif",),
    "PPEEtabli": (),
    "PPEActualise": (),
    "EntretienAutonomieRealise": (),
    "MajoriteAtteinte": (),
    "AccompagnementJeuneMajeurAccorde": ("date_debut", "date_fin", "fin_annee_engagee"),
    "AccompagnementJeuneMajeurRenouvele": ("date_fin", "fin_annee_engagee"),
    "AccompagnementJeuneMajeurTermine": ("motif",),
    "SortieDispositif": ("motif", "situation_logement"),
    "ParcoursRouvert": (),
}
"""The parcours events kept as facts, with the fields of theirs that are kept (and may be corrected)."""

DEFAUTS: dict[str, Any] = {"duree_derogatoire": False, "fin_annee_engagee": False}
"""Optional fields added to the contracts later: what an event published before them means."""

ACCUEIL = ("AccueilDebute", "LieuAccueilChange", "AccueilTermine")
"""The facts the current presence of a child follows from."""

DEBUTS = ("MesureDecidee", "AccompagnementJeuneMajeurAccorde")
"""What opens an OLINPE measure (a measure, or a young adult's accompagnement): each gets a rank."""

DDL = [
    "CREATE TABLE IF NOT EXISTS lieux (lieu_id uuid PRIMARY KEY, nom text, type text NOT NULL, "
    "departement text NOT NULL, capacite integer NOT NULL, finess text, reference_le date NOT NULL, ferme_le date)",
    "CREATE INDEX IF NOT EXISTS lieux_departement ON lieux (departement, type)",
    "CREATE TABLE IF NOT EXISTS parcours (parcours_id uuid PRIMARY KEY, pseudonyme text NOT NULL, "
    "departement text NOT NULL, mois_naissance text NOT NULL, sexe text NOT NULL, ouvert_le date NOT NULL)",
    "CREATE INDEX IF NOT EXISTS parcours_naissance ON parcours (mois_naissance)",
    "CREATE INDEX IF NOT EXISTS parcours_pseudonyme ON parcours (pseudonyme)",
    "CREATE TABLE IF NOT EXISTS presences (parcours_id uuid PRIMARY KEY, lieu_id uuid NOT NULL, "
    "type_lieu text NOT NULL, depuis date NOT NULL)",
    "CREATE INDEX IF NOT EXISTS presences_lieu ON presences (lieu_id)",
    "CREATE TABLE IF NOT EXISTS faits (parcours_id uuid NOT NULL, version integer NOT NULL, nom text NOT NULL, "
    "date_effet date NOT NULL, departement text NOT NULL, mesure_id uuid, donnees jsonb NOT NULL, "
    "PRIMARY KEY (parcours_id, version))",
    "CREATE INDEX IF NOT EXISTS faits_departement ON faits (departement, nom, date_effet)",
    "CREATE INDEX IF NOT EXISTS faits_parcours_nom ON faits (parcours_id, nom, date_effet)",
    "CREATE INDEX IF NOT EXISTS faits_mesure ON faits (mesure_id) WHERE mesure_id IS NOT NULL",
    DDL_VUE_OLINPE,
    restreints.DDL_RESTREINTS,
    *restreints.DDL_EFFACEMENTS,
    # The public corrections, so their restricted facts, when they come after, complete them.
    "CREATE TABLE IF NOT EXISTS rectifications (parcours_id uuid NOT NULL, version integer NOT NULL, "
    "donnees jsonb NOT NULL, PRIMARY KEY (parcours_id, version))",
]


class ProjectionPilotage(Projection):
    """Occupancy of the lieux d'accueil, steering indicators and the OLINPE extract."""

    nom = "pilotage"
    sujets = (TOPIC_PARCOURS, TOPIC_RESTREINT, TOPIC_IDENTITES)
    """Identities for their tombstones only: an erased person's restricted facts are forgotten."""

    def __init__(self, cle_olinpe: bytes | None = None) -> None:
        """``cle_olinpe`` keys the pseudonyms; default: ``ASE_OLINPE_CLE`` (see ``olinpe.ReglagesOlinpe``)."""
        self.cle_olinpe = cle_olinpe if cle_olinpe is not None else reglages_olinpe().cle_octets()

    def ddl(self) -> list[str]:
        return list(DDL)

    async def appliquer(self, conn: asyncpg.Connection, evenement: EvenementPublie) -> None:
        donnees = evenement.donnees
        if evenement.domaine == "identites":
            if donnees is None:  # an erasure: her parcours' restricted facts are forgotten
                await _remettre(conn, await restreints.effacer(conn, evenement.flux_id))
            return  # names: this read model never needs them
        if donnees is None:
            return
        if evenement.restreint:
            await _appliquer_restreint(conn, evenement)
            return
        await _remettre(conn, await restreints.connaitre(conn, evenement))
        evenement = await restreints.completer(conn, evenement)
        donnees = evenement.donnees or donnees
        if evenement.domaine == "lieux":
            await _appliquer_lieu(conn, evenement, donnees)
        else:
            await self._appliquer_parcours(conn, evenement, donnees)

    async def _appliquer_parcours(self, conn: asyncpg.Connection, ev: EvenementPublie, d: dict[str, Any]) -> None:
        parcours_id = ev.flux_id
        if ev.nom == "ParcoursOuvert":
            await conn.execute(
                "INSERT INTO parcours (parcours_id, pseudonyme, departement, mois_naissance, sexe, ouvert_le) "
                "VALUES ($1, $2, $3, $4, $5, $6)",
                parcours_id,
                pseudonyme(self.cle_olinpe, str(d["personne_id"])),
                d["departement"],
                d["mois_naissance"],
                d["sexe"],
                _jour(d),
            )
        elif ev.nom == "AccueilDebute":
            await conn.execute(
                "INSERT INTO presences (parcours_id, lieu_id, type_lieu, depuis) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (parcours_id) DO UPDATE SET lieu_id = excluded.lieu_id, "
                "type_lieu = excluded.type_lieu, depuis = excluded.depuis",
                parcours_id,
                _uuid(d["lieu_id"]),
                d["type_lieu"],
                _jour(d),
            )
        elif ev.nom == "LieuAccueilChange":
            await conn.execute(
                "UPDATE presences SET lieu_id = $2, type_lieu = $3, depuis = $4 WHERE parcours_id = $1",
                parcours_id,
                _uuid(d["lieu_id"]),
                d["type_lieu"],
                _jour(d),
            )
        elif ev.nom == "AccueilTermine":
            await conn.execute("DELETE FROM presences WHERE parcours_id = $1", parcours_id)
        elif ev.nom == "DossierTransfere":
            await conn.execute(
                "UPDATE parcours SET departement = $2 WHERE parcours_id = $1", parcours_id, d["departement_destination"]
            )
        elif ev.nom == "SaisieRectifiee":
            # Kept: its restricted facts (the values of a re-dating) may come after it.
            await conn.execute(
                "INSERT INTO rectifications (parcours_id, version, donnees) VALUES ($1, $2, $3::jsonb) "
                "ON CONFLICT DO NOTHING",
                parcours_id,
                ev.version,
                orjson.dumps(d).decode(),
            )
            await _rectifier(conn, ev, d)
        champs = FAITS.get(ev.nom)
        if champs is not None:
            fait = {champ: d.get(champ, DEFAUTS.get(champ)) for champ in champs}
            if ev.nom in DEBUTS:
                # The measure's (or APJM's) rank in the child's parcours: how OLINPE rows of one
                # measure are linked without its id. Counted within the stream, so deterministic.
                fait["rang"] = 1 + await conn.fetchval(
                    "SELECT count(*) FROM faits WHERE parcours_id = $1 AND nom = ANY($2::text[])",
                    parcours_id,
                    list(DEBUTS),
                )
            await conn.execute(
                "INSERT INTO faits (parcours_id, version, nom, date_effet, departement, mesure_id, donnees) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)",
                parcours_id,
                ev.version,
                ev.nom,
                _jour(d),
                ev.departement,
                _uuid(d["mesure_id"]) if "mesure_id" in d else None,
                orjson.dumps(fait).decode(),
            )


async def _appliquer_lieu(conn: asyncpg.Connection, ev: EvenementPublie, d: dict[str, Any]) -> None:
    if ev.nom == "LieuAccueilReference":
        await conn.execute(
            "INSERT INTO lieux (lieu_id, nom, type, departement, capacite, finess, reference_le) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
            ev.flux_id,
            d.get("nom"),
            d["type"],
            d["departement"],
            d["capacite"],
            d.get("finess"),
            _date(d["date_effet"]),
        )
    elif ev.nom == "CapaciteModifiee":
        await conn.execute("UPDATE lieux SET capacite = $2 WHERE lieu_id = $1", ev.flux_id, d["capacite"])
    elif ev.nom == "LieuAccueilFerme":
        await conn.execute("UPDATE lieux SET ferme_le = $2 WHERE lieu_id = $1", ev.flux_id, _date(d["date_effet"]))


async def _appliquer_restreint(conn: asyncpg.Connection, ev: EvenementPublie) -> None:
    """Keep an event's restricted facts; complete what its public event wrote if it came first.

    Only what this read model keeps of them: a private lieu's name (its occupancy page)
    and the exact dates of the facts it counts; a court's reference is in no fact.
    """
    champs = await restreints.garder(conn, ev)
    if not champs:
        return  # an erased person's: forgotten
    if ev.domaine == "lieux":
        if "nom" in champs:
            await conn.execute("UPDATE lieux SET nom = $2 WHERE lieu_id = $1", ev.flux_id, champs["nom"])
        return
    nom = str((ev.donnees or {}).get("evenement", ""))
    gardes = {cle: valeur for cle, valeur in champs.items() if cle in FAITS.get(nom, ())}
    await conn.execute(
        "UPDATE faits SET donnees = donnees || $3::jsonb, date_effet = coalesce($4, date_effet) "
        "WHERE parcours_id = $1 AND version = $2",
        ev.flux_id,
        ev.version,
        orjson.dumps(gardes).decode(),
        jour_publie(champs),
    )
    if nom == "SaisieRectifiee":
        public = await conn.fetchval(
            "SELECT donnees FROM rectifications WHERE parcours_id = $1 AND version = $2", ev.flux_id, ev.version
        )
        if public is not None:
            await _rectifier(conn, ev, {**orjson.loads(public), **champs})


async def _remettre(conn: asyncpg.Connection, oublis: list[restreints.Oubli]) -> None:
    """Put back what forgotten facts had made exact: a fact's fields null, its date the first of its month.

    As before the facts came: a date of effect published as a month is the month's first day
    (``jour_publie``), an APJM's ``date_debut``/``date_fin`` (published as months) null.
    """
    for oubli in oublis:
        cles = sorted(oubli.cles & set(FAITS.get(oubli.evenement, ())))
        await conn.execute(
            "UPDATE faits SET donnees = donnees || (SELECT coalesce(jsonb_object_agg(c, null), '{}'::jsonb) "
            "FROM unnest($3::text[]) c), date_effet = CASE WHEN $4 THEN date_trunc('month', date_effet)::date "
            "ELSE date_effet END WHERE parcours_id = $1 AND version = $2",
            oubli.flux_id,
            oubli.version,
            cles,
            "date_effet" in oubli.cles,
        )
        if oubli.evenement == "SaisieRectifiee":
            await conn.execute(
                "UPDATE rectifications SET donnees = donnees || $3::jsonb WHERE parcours_id = $1 AND version = $2",
                oubli.flux_id,
                oubli.version,
                orjson.dumps(dict.fromkeys(oubli.cles)).decode(),
            )
            cible = await conn.fetchval(
                "SELECT (donnees->>'version_rectifiee')::int FROM rectifications "
                "WHERE parcours_id = $1 AND version = $2 AND donnees->>'champ' = 'date_effet'",
                oubli.flux_id,
                oubli.version,
            )
            if cible is not None:  # a re-dating it made exact: the month stands
                await conn.execute(
                    "UPDATE faits SET date_effet = date_trunc('month', date_effet)::date "
                    "WHERE parcours_id = $1 AND version = $2",
                    oubli.flux_id,
                    cible,
                )


async def _rectifier(conn: asyncpg.Connection, ev: EvenementPublie, d: dict[str, Any]) -> None:
    """Correct the fact (or the child's sexe / month of birth) the rectification targets, "as if recorded so".

    A field the public payload does not carry travels with null values: nothing here changes.
    """
    champ, valeur = str(d["champ"]), d["nouvelle_valeur"]
    if valeur is None and d.get("ancienne_valeur") is None:
        return
    if champ == "sexe":
        await conn.execute("UPDATE parcours SET sexe = $2 WHERE parcours_id = $1", ev.flux_id, str(valeur))
        return
    if champ == "date_naissance":  # published as a month (YYYY-MM), never the exact date
        await conn.execute(
            "UPDATE parcours SET mois_naissance = $2 WHERE parcours_id = $1", ev.flux_id, str(valeur)[:7]
        )
        return
    nom = await conn.fetchval(
        "SELECT nom FROM faits WHERE parcours_id = $1 AND version = $2", ev.flux_id, d["version_rectifiee"]
    )
    if nom is None:
        return  # an event this read model does not keep
    if champ == "date_effet":
        await conn.execute(
            "UPDATE faits SET date_effet = $3 WHERE parcours_id = $1 AND version = $2",
            ev.flux_id,
            d["version_rectifiee"],
            _date(valeur),
        )
        if nom == "ParcoursOuvert":
            await conn.execute("UPDATE parcours SET ouvert_le = $2 WHERE parcours_id = $1", ev.flux_id, _date(valeur))
    elif champ in FAITS[nom]:
        await conn.execute(
            "UPDATE faits SET donnees = jsonb_set(donnees, ARRAY[$3::text], $4::jsonb) "
            "WHERE parcours_id = $1 AND version = $2",
            ev.flux_id,
            d["version_rectifiee"],
            champ,
            orjson.dumps(valeur).decode(),
        )
    else:
        return
    if nom in ACCUEIL:
        await _presence_depuis_les_faits(conn, ev.flux_id)


async def _presence_depuis_les_faits(conn: asyncpg.Connection, parcours_id: UUID) -> None:
    """Where the child is now, from the (corrected) accueil facts: the last of them decides."""
    dernier = await conn.fetchrow(
        "SELECT nom, date_effet, donnees FROM faits WHERE parcours_id = $1 AND nom = ANY($2::text[]) "
        "ORDER BY version DESC LIMIT 1",
        parcours_id,
        list(ACCUEIL),
    )
    if dernier is None or dernier["nom"] == "AccueilTermine":
        await conn.execute("DELETE FROM presences WHERE parcours_id = $1", parcours_id)
        return
    donnees = orjson.loads(dernier["donnees"])
    await conn.execute(
        "INSERT INTO presences (parcours_id, lieu_id, type_lieu, depuis) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (parcours_id) DO UPDATE SET lieu_id = excluded.lieu_id, "
        "type_lieu = excluded.type_lieu, depuis = excluded.depuis",
        parcours_id,
        _uuid(donnees["lieu_id"]),
        donnees["type_lieu"],
        dernier["date_effet"],
    )


def _jour(d: dict[str, Any]) -> date:
    """The (exact, or until its restricted facts come, the month's first day) ``date_effet`` of a payload."""
    jour = jour_publie(d)
    if jour is None:
        raise ValueError("événement sans date_effet ni mois_effet")
    return jour


def _date(valeur: object) -> date:
    return date.fromisoformat(str(valeur))


def _uuid(valeur: object) -> UUID:
    return UUID(str(valeur))
