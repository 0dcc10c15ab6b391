"""The caseworker read model: one dossier per parcours, its measures, IPs, identity and open deadlines.

Fed by both topics: parcours and lieu events (``ase.parcours.evenements.v1``)
and identities (``ase.identites.v1``, where a tombstone erases a person).

Each parcours event is checked against its contract and kept, as published,
in ``journal``. At the end of a batch every parcours it touched is folded
again from its journal, corrections in place (:mod:`etat_parcours`, the fold
the audit reads too), and its rows (``dossiers``, ``mesures``, ``ips``,
``echeances``) are replaced in one statement per table: a correction of any
field of any event shows "as if recorded so", with what the law derives from
it (the measure carrying the accueil, a stay's 2-month limit, the deadlines)
derived again. The rows are a function of the journal and the identities
alone, so any batching, feed or rebuild gives the same tables.

The two topics are not ordered with each other, so an identity may come
before or after its parcours: its deadlines are recomputed on either side.

A parcours whose fold or rows fail (a history the law's arithmetic or a table
refuses) is dead-lettered by the engine at the end of the batch, its journal
kept and its rows left as they were; its next event folds it again.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg
import orjson
from pydantic import TypeAdapter, ValidationError

from contracts.enveloppe import TOPIC_IDENTITES, TOPIC_PARCOURS, TOPIC_RESTREINT
from contracts.evenements import PAYLOADS
from droit.echeances import Echeance, echeances
from droit.etat_parcours import (
    RECTIFICATION,
    EtatParcours,
    Fait,
    corriger,
    corriges,
    faits_echeances,
    jour_publie,
    replier,
)
from services.projections.readmodels import restreints
from services.projections.readmodels.recherche import normaliser
from services.runtime.evenement import EvenementPublie
from services.runtime.moteur import Projection

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
    "apjm_fin_annee_engagee boolean NOT NULL DEFAULT false, "
    "sorti_le date, motif_sortie text, situation_logement text, rouvert_le date)",
    "CREATE INDEX IF NOT EXISTS dossiers_departement ON dossiers (departement, statut)",
    "CREATE INDEX IF NOT EXISTS dossiers_referent ON dossiers (referent_id)",
    "CREATE INDEX IF NOT EXISTS dossiers_lieu ON dossiers (lieu_id)",
    "CREATE INDEX IF NOT EXISTS dossiers_personne ON dossiers (personne_id)",
    "CREATE TABLE IF NOT EXISTS mesures (mesure_id uuid PRIMARY KEY, parcours_id uuid NOT NULL, cadre text NOT NULL, "
    "nature text NOT NULL, autorite text NOT NULL, reference_decision text NOT NULL, date_debut date NOT NULL, "
    "date_echeance date, decidee_le date NOT NULL, duree_derogatoire boolean NOT NULL DEFAULT false, "
    "renouvellements integer NOT NULL DEFAULT 0, renouvelee_le date, "
    "active boolean NOT NULL, levee_le date, motif_levee text, version_decision integer NOT NULL)",
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
    # Each parcours' public events as published (corrections are rows of their own): what the fold reads.
    "CREATE TABLE IF NOT EXISTS journal (parcours_id uuid NOT NULL, version integer NOT NULL, type text NOT NULL, "
    "nom text NOT NULL, enregistre_le timestamptz NOT NULL, donnees jsonb NOT NULL, "
    "PRIMARY KEY (parcours_id, version))",
    restreints.DDL_RESTREINTS,
    *restreints.DDL_EFFACEMENTS,
]

COLONNES_DOSSIERS = (
    "parcours_id",
    "personne_id",
    "departement",
    "referent_id",
    "sexe",
    "mois_naissance",
    "ouvert_le",
    "statut",
    "version",
    "derniere_date_effet",
    "majorite_atteinte_le",
    "mesure_accueil_id",
    "lieu_id",
    "type_lieu",
    "accueil_debut",
    "lieu_depuis",
    "date_limite_hotel",
    "fugue_depuis",
    "lieux_successifs",
    "ppe_etabli_le",
    "ppe_actualise_le",
    "dernier_rapport_le",
    "dernier_rapport_transmis",
    "entretien_autonomie_le",
    "apjm_debut",
    "apjm_fin",
    "apjm_renouvellements",
    "apjm_accorde_le",
    "apjm_fin_annee_engagee",
    "sorti_le",
    "motif_sortie",
    "situation_logement",
    "rouvert_le",
)
COLONNES_MESURES = (
    "mesure_id",
    "parcours_id",
    "cadre",
    "nature",
    "autorite",
    "reference_decision",
    "date_debut",
    "date_echeance",
    "decidee_le",
    "duree_derogatoire",
    "renouvellements",
    "renouvelee_le",
    "active",
    "levee_le",
    "motif_levee",
    "version_decision",
)
COLONNES_IPS = ("ip_id", "parcours_id", "recue_le", "origine", "dangers", "suite", "evaluee_le")
COLONNES_ECHEANCES = (
    "parcours_id",
    "type",
    "cle",
    "due_le",
    "alerte_le",
    "departement",
    "referent_id",
    "informatif",
    "details",
)


class DossierInconnuError(LookupError):
    """A parcours event came before its ParcoursOuvert: a dead letter, never a silent skip."""


class EvenementInvalideError(ValueError):
    """An event (or an event as a correction would make it) that its contract refuses: a dead letter."""


@dataclass
class _Lot:
    """What a batch touched: the parcours to fold again, the persons whose identity changed."""

    parcours: set[UUID]
    personnes: set[UUID]


class ProjectionDossiers(Projection):
    """Dossiers, measures, IPs, identities, lieux and the deadline worklist."""

    nom = "dossiers"
    sujets = (TOPIC_PARCOURS, TOPIC_IDENTITES, TOPIC_RESTREINT)
    index_a_la_fin = True  # handlers look rows up by primary key; only the end of batch reads by parcours_id

    def ddl(self) -> list[str]:
        return list(DDL)

    def __init__(self) -> None:
        # What each batch touched, per connection (a batch is one transaction on one
        # connection). A batch that fails leaves extra entries behind: folding a
        # parcours again changes nothing, so they are harmless.
        self._lots: dict[int, _Lot] = {}

    def _lot(self, conn: asyncpg.Connection) -> _Lot:
        return self._lots.setdefault(id(conn), _Lot(set(), set()))

    async def appliquer(self, conn: asyncpg.Connection, evenement: EvenementPublie) -> None:
        if evenement.restreint:
            await self._appliquer_restreint(conn, evenement)
            return
        if evenement.domaine == "identites":
            if evenement.donnees is None:  # erased: her parcours' restricted facts are forgotten
                await self._remettre(conn, await restreints.effacer(conn, evenement.flux_id))
            self._lot(conn).personnes.add(await appliquer_identite(conn, evenement))
            return
        evenement = await restreints.completer(conn, evenement)
        if evenement.domaine == "lieux":
            await appliquer_lieu(conn, evenement)
        else:
            await journaliser(conn, evenement)
            await self._remettre(conn, await restreints.connaitre(conn, evenement))
            self._lot(conn).parcours.add(evenement.flux_id)

    async def appliquer_lot(self, conn: asyncpg.Connection, evenements: Sequence[EvenementPublie]) -> None:
        """The batch's identities, lieux and restricted facts one by one, in order; then its public parcours
        events at once (:func:`journaliser_lot`): one query for their kept facts, one validation per event
        type, one ``INSERT`` into ``journal``, two statements for the openings.

        Taking the parcours events last is the same as in order: the two topics are not ordered with each
        other and each side merges either way round (see :mod:`restreints`), an identity only moves
        deadlines recomputed at the end of the batch, and a lieu is no parcours' row. Raises when any
        event would be refused alone (the engine then applies them one by one).
        """
        publics: list[EvenementPublie] = []
        faits: list[EvenementPublie] = []
        identites: list[EvenementPublie] = []  # not erasures: written together, before the next erasure
        for ev in evenements:
            if ev.restreint and ev.domaine != "lieux":
                faits.append(ev)
            elif ev.domaine == "identites" and not ev.restreint and ev.donnees is not None:
                identites.append(ev)
            elif ev.restreint or ev.domaine in ("identites", "lieux"):
                if identites and ev.domaine == "identites":
                    self._lot(conn).personnes.update(await appliquer_identites(conn, identites))
                    identites = []
                await self.appliquer(conn, ev)
            else:
                publics.append(ev)
        if identites:
            self._lot(conn).personnes.update(await appliquer_identites(conn, identites))
        if faits:
            await self._appliquer_restreints(conn, faits)
        if publics:
            oublis = await journaliser_lot(conn, await restreints.completer_lot(conn, publics))
            await self._remettre(conn, oublis)
            self._lot(conn).parcours.update(ev.flux_id for ev in publics)

    async def _remettre(self, conn: asyncpg.Connection, oublis: Iterable[restreints.Oubli]) -> None:
        """Put back in the journal the public values of forgotten facts (the parcours are folded again)."""
        for oubli in oublis:
            donnees = await conn.fetchval(
                "SELECT donnees FROM journal WHERE parcours_id = $1 AND version = $2", oubli.flux_id, oubli.version
            )
            if donnees is not None:
                publiques = restreints.publier_a_nouveau(oubli.evenement, orjson.loads(donnees), oubli.cles)
                await conn.execute(
                    "UPDATE journal SET donnees = $3::jsonb, enregistre_le = CASE WHEN $4 THEN "
                    f"{restreints.DEBUT_DU_MOIS_SQL} ELSE enregistre_le END WHERE parcours_id = $1 AND version = $2",
                    oubli.flux_id,
                    oubli.version,
                    orjson.dumps(publiques).decode(),
                    restreints.HEURE in oubli.cles,
                )
            self._lot(conn).parcours.add(oubli.flux_id)

    async def _appliquer_restreint(self, conn: asyncpg.Connection, ev: EvenementPublie) -> None:
        """Keep an event's restricted facts, and complete what its public event wrote if it came first."""
        faits = await restreints.garder_faits(conn, ev)
        if faits is None:
            return  # the facts of an erased person's parcours: forgotten
        champs = faits.champs
        if ev.domaine == "lieux":
            if "nom" in champs:
                await conn.execute("UPDATE lieux SET nom = $2 WHERE lieu_id = $1", ev.flux_id, champs["nom"])
            return
        modifie = await conn.fetchval(
            "UPDATE journal SET donnees = donnees || $3::jsonb, enregistre_le = coalesce($4, enregistre_le) "
            "WHERE parcours_id = $1 AND version = $2 RETURNING true",
            ev.flux_id,
            ev.version,
            orjson.dumps(champs).decode(),
            faits.enregistre_le,
        )
        if modifie:
            self._lot(conn).parcours.add(ev.flux_id)

    async def _appliquer_restreints(self, conn: asyncpg.Connection, evenements: list[EvenementPublie]) -> None:
        """:meth:`_appliquer_restreint` for many parcours' restricted records: three statements."""
        gardes = await restreints.garder_faits_lot(conn, evenements)
        if not gardes:
            return
        cles = list(gardes)
        modifies = await conn.fetch(
            "UPDATE journal j SET donnees = j.donnees || u.c::jsonb, enregistre_le = coalesce(u.h, j.enregistre_le) "
            "FROM unnest($1::uuid[], $2::int[], $3::text[], $4::timestamptz[]) AS u(f, v, c, h) "
            "WHERE j.parcours_id = u.f AND j.version = u.v RETURNING j.parcours_id",
            [f for f, _ in cles],
            [v for _, v in cles],
            [orjson.dumps(gardes[c].champs).decode() for c in cles],
            [gardes[c].enregistre_le for c in cles],
        )
        self._lot(conn).parcours.update(ligne["parcours_id"] for ligne in modifies)

    async def a_finir(self, conn: asyncpg.Connection) -> dict[UUID, UUID]:
        """The parcours the batch touched (each its own cause), and those of the persons whose identity changed."""
        lot = self._lots.pop(id(conn), None)
        if lot is None:
            return {}
        parcours: dict[UUID, UUID] = {}
        if lot.personnes:
            lignes = await conn.fetch(
                "SELECT parcours_id, personne_id FROM dossiers WHERE personne_id = ANY($1::uuid[])",
                list(lot.personnes),
            )
            parcours.update((ligne["parcours_id"], ligne["personne_id"]) for ligne in lignes)
        parcours.update((pid, pid) for pid in lot.parcours)
        return parcours

    async def finir(self, conn: asyncpg.Connection, flux: Sequence[UUID]) -> None:
        await reconstruire_dossiers(conn, flux)


# -- parcours ------------------------------------------------------------------------------


def valider(type_ce: str, donnees: dict[str, Any]) -> None:
    """Refuse a payload its contract (strict JSON reading) does not accept."""
    contrat = PAYLOADS.get(type_ce)
    if contrat is None:
        raise EvenementInvalideError(f"événement de parcours inattendu: {type_ce}")
    try:
        contrat.model_validate_json(orjson.dumps(donnees), strict=True)
    except ValidationError as exc:
        raise EvenementInvalideError(f"{type_ce}: {exc.errors()[0]['loc']} {exc.errors()[0]['msg']}") from None


async def journaliser(conn: asyncpg.Connection, ev: EvenementPublie) -> None:
    """Keep a parcours event as published, once its contract accepts it (a correction: its target as corrected)."""
    if ev.donnees is None:
        raise EvenementInvalideError(f"événement de parcours sans corps: {ev.type}")
    valider(ev.type, ev.donnees)
    if ev.nom == RECTIFICATION:
        await _valider_cible_corrigee(conn, ev)
    inseree = await conn.fetchval(
        "INSERT INTO journal (parcours_id, version, type, nom, enregistre_le, donnees) "
        "SELECT $1, $2, $3, $4, $5, $6::jsonb "
        "WHERE $4 = 'ParcoursOuvert' OR EXISTS (SELECT 1 FROM journal WHERE parcours_id = $1 AND nom = 'ParcoursOuvert') "
        "RETURNING true",
        ev.flux_id,
        ev.version,
        ev.type,
        ev.nom,
        ev.enregistre_le,
        orjson.dumps(ev.donnees).decode(),
    )
    if not inseree:
        raise DossierInconnuError(f"parcours {ev.flux_id}: {ev.nom} avant ParcoursOuvert")


async def _valider_cible_corrigee(conn: asyncpg.Connection, ev: EvenementPublie) -> None:
    """A correction whose target, corrected, its contract would refuse is refused itself."""
    assert ev.donnees is not None
    cible = await conn.fetchrow(
        "SELECT version, type, nom, enregistre_le, donnees FROM journal WHERE parcours_id = $1 AND version = $2",
        ev.flux_id,
        int(ev.donnees["version_rectifiee"]),
    )
    if cible is None:
        return  # a correction of something this read model never kept: nothing to correct
    corrigee = corriger(_fait(cible), ev.donnees)
    valider(cible["type"], dict(corrigee.donnees))


@functools.cache
def _lecteur_de_liste(type_ce: str) -> TypeAdapter[list[Any]]:
    contrat = PAYLOADS[type_ce]
    return TypeAdapter(list[contrat])  # type: ignore[valid-type]


def valider_lot(evenements: Sequence[EvenementPublie]) -> None:
    """:func:`valider` for many events: one strict JSON reading per event type; raises as soon as one is refused."""
    par_type: dict[str, list[dict[str, Any]]] = {}
    for ev in evenements:
        if ev.donnees is None:
            raise EvenementInvalideError(f"événement de parcours sans corps: {ev.type}")
        if ev.type not in PAYLOADS:
            raise EvenementInvalideError(f"événement de parcours inattendu: {ev.type}")
        par_type.setdefault(ev.type, []).append(ev.donnees)
    for type_ce, donnees in par_type.items():
        try:
            _lecteur_de_liste(type_ce).validate_json(orjson.dumps(donnees), strict=True)
        except ValidationError as exc:
            raise EvenementInvalideError(f"{type_ce}: {exc.errors()[0]['loc']} {exc.errors()[0]['msg']}") from None


async def journaliser_lot(conn: asyncpg.Connection, evenements: Sequence[EvenementPublie]) -> list[restreints.Oubli]:
    """:func:`journaliser` then :func:`restreints.connaitre` for a batch's parcours events (completed), in order,
    with one ``INSERT`` into ``journal``; raises when any of them would be refused alone.

    Returns the restricted facts forgotten (openings of parcours of erased persons).
    """
    valider_lot(evenements)
    du_lot: dict[tuple[UUID, int], EvenementPublie] = {}
    ouverts: set[UUID] = set()
    a_verifier: set[UUID] = set()
    for ev in evenements:
        assert ev.donnees is not None
        if ev.nom == RECTIFICATION:
            cible = du_lot.get((ev.flux_id, int(ev.donnees["version_rectifiee"])))
            if cible is None:
                await _valider_cible_corrigee(conn, ev)
            else:
                assert cible.donnees is not None
                jour = jour_publie(cible.donnees)
                if jour is None:
                    raise EvenementInvalideError(f"{cible.nom} sans date_effet ni mois_effet")
                fait = Fait(cible.version, cible.nom, jour, cible.enregistre_le, cible.donnees)
                valider(cible.type, dict(corriger(fait, ev.donnees).donnees))
        if ev.nom == "ParcoursOuvert":
            ouverts.add(ev.flux_id)
        elif ev.flux_id not in ouverts:
            a_verifier.add(ev.flux_id)
        du_lot[(ev.flux_id, ev.version)] = ev
    if a_verifier:
        connus = {
            ligne["parcours_id"]
            for ligne in await conn.fetch(
                "SELECT parcours_id FROM journal WHERE parcours_id = ANY($1::uuid[]) AND nom = 'ParcoursOuvert'",
                list(a_verifier),
            )
        }
        if inconnus := a_verifier - connus:
            raise DossierInconnuError(f"parcours {min(inconnus)}: événement avant ParcoursOuvert")
    await conn.execute(
        "INSERT INTO journal (parcours_id, version, type, nom, enregistre_le, donnees) "
        "SELECT p, v, t, n, e, d::jsonb FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], "
        "$5::timestamptz[], $6::text[]) AS u(p, v, t, n, e, d)",
        [ev.flux_id for ev in evenements],
        [ev.version for ev in evenements],
        [ev.type for ev in evenements],
        [ev.nom for ev in evenements],
        [ev.enregistre_le for ev in evenements],
        [orjson.dumps(ev.donnees).decode() for ev in evenements],
    )
    ouvertures = {
        ev.flux_id: UUID(str(ev.donnees["personne_id"]))
        for ev in evenements
        if ev.nom == "ParcoursOuvert" and ev.donnees is not None and ev.donnees.get("personne_id") is not None
    }
    return await restreints.connaitre_lot(conn, ouvertures)


def _fait(ligne: asyncpg.Record) -> Fait:
    donnees = orjson.loads(ligne["donnees"])
    jour = jour_publie(donnees)
    if jour is None:
        raise EvenementInvalideError(f"{ligne['nom']} sans date_effet ni mois_effet")
    return Fait(ligne["version"], ligne["nom"], jour, ligne["enregistre_le"], donnees)


async def reconstruire_dossiers(conn: asyncpg.Connection, parcours: Sequence[UUID]) -> None:
    """Fold each parcours again from its journal and replace its rows (one statement per table)."""
    lignes = await conn.fetch(
        "SELECT parcours_id, version, nom, enregistre_le, donnees FROM journal "
        "WHERE parcours_id = ANY($1::uuid[]) ORDER BY parcours_id, version",
        list(parcours),
    )
    journaux: dict[UUID, list[Fait]] = {}
    for ligne in lignes:
        journaux.setdefault(ligne["parcours_id"], []).append(_fait(ligne))
    etats = {pid: (replier(corriges(faits)), faits[-1].version) for pid, faits in journaux.items()}
    personnes = [UUID(etat.personne_id) for etat, _ in etats.values() if etat.personne_id is not None]
    naissances: dict[UUID, date | None] = {
        ligne["personne_id"]: ligne["date_naissance"]
        for ligne in await conn.fetch(
            "SELECT personne_id, date_naissance FROM identites WHERE personne_id = ANY($1::uuid[])", personnes
        )
    }
    for table in ("dossiers", "mesures", "ips", "echeances"):
        await conn.execute(f"DELETE FROM {table} WHERE parcours_id = ANY($1::uuid[])", list(parcours))
    dossiers, mesures, ips, ouvertes = [], [], [], []
    for pid, (etat, version) in etats.items():
        naissance = naissances.get(UUID(etat.personne_id)) if etat.personne_id else None
        dossiers.append(ligne_dossier(pid, etat, version))
        mesures += lignes_mesures(pid, etat)
        ips += lignes_ips(pid, etat)
        ouvertes += lignes_echeances(pid, etat, echeances(faits_echeances(etat, naissance)))
    for table, colonnes, valeurs in (
        ("dossiers", COLONNES_DOSSIERS, dossiers),
        ("mesures", COLONNES_MESURES, mesures),
        ("ips", COLONNES_IPS, ips),
        ("echeances", COLONNES_ECHEANCES, ouvertes),
    ):
        if valeurs:
            await conn.copy_records_to_table(table, records=valeurs, columns=colonnes)


def _uuid(valeur: str | None) -> UUID | None:
    return UUID(valeur) if valeur is not None else None


def ligne_dossier(pid: UUID, e: EtatParcours, version: int) -> tuple[Any, ...]:
    """The ``dossiers`` row of a parcours' state (``version``: the stream's, corrections included)."""
    assert e.ouvert_le is not None
    assert e.personne_id is not None
    accueil, apjm, sortie = e.accueil, e.accompagnement_jeune_majeur, e.sortie
    valeurs = {
        "parcours_id": pid,
        "personne_id": UUID(e.personne_id),
        "departement": e.departement,
        "referent_id": e.referent_id,
        "sexe": e.sexe,
        "mois_naissance": e.mois_naissance,
        "ouvert_le": e.ouvert_le,
        "statut": "sorti" if sortie is not None else "ouvert",
        "version": version,
        "derniere_date_effet": e.derniere_date_effet,
        "majorite_atteinte_le": e.majorite_atteinte_le,
        "mesure_accueil_id": _uuid(accueil.mesure_id) if accueil else None,
        "lieu_id": UUID(accueil.lieu_id) if accueil else None,
        "type_lieu": accueil.type_lieu if accueil else None,
        "accueil_debut": accueil.debut_accueil if accueil else None,
        "lieu_depuis": accueil.depuis if accueil else None,
        "date_limite_hotel": accueil.date_limite_hotel if accueil else None,
        "fugue_depuis": e.fugue_depuis,
        "lieux_successifs": e.lieux_successifs,
        "ppe_etabli_le": e.ppe_etabli_le,
        "ppe_actualise_le": e.ppe_actualise_le,
        "dernier_rapport_le": e.dernier_rapport_le,
        "dernier_rapport_transmis": e.dernier_rapport_transmis_au_juge,
        "entretien_autonomie_le": e.entretien_autonomie_le,
        "apjm_debut": apjm.date_debut if apjm else None,
        "apjm_fin": apjm.date_fin if apjm else None,
        "apjm_renouvellements": apjm.renouvellements if apjm else 0,
        "apjm_accorde_le": apjm.accorde_le if apjm else None,
        "apjm_fin_annee_engagee": apjm.fin_annee_engagee if apjm else False,
        "sorti_le": sortie.le if sortie else None,
        "motif_sortie": sortie.motif if sortie else None,
        "situation_logement": sortie.situation_logement if sortie else None,
        "rouvert_le": e.rouvert_le,
    }
    return tuple(valeurs[c] for c in COLONNES_DOSSIERS)


def lignes_mesures(pid: UUID, e: EtatParcours) -> list[tuple[Any, ...]]:
    return [
        (
            UUID(m.mesure_id),
            pid,
            m.cadre,
            m.nature,
            m.autorite,
            m.reference_decision or "",
            m.date_debut or m.decidee_le,
            m.date_echeance,
            m.decidee_le,
            m.duree_derogatoire,
            m.renouvellements,
            m.renouvelee_le,
            m.levee_le is None,
            m.levee_le,
            m.motif_levee,
            m.version_decision,
        )
        for m in [*e.mesures_actives, *e.mesures_levees]
    ]


def lignes_ips(pid: UUID, e: EtatParcours) -> list[tuple[Any, ...]]:
    return [
        (UUID(ip.ip_id), pid, ip.recue_le, ip.origine, ip.dangers, ip.suite, ip.evaluee_le)
        for ip in e.informations_preoccupantes
    ]


def lignes_echeances(pid: UUID, e: EtatParcours, ouvertes: Iterable[Echeance]) -> list[tuple[Any, ...]]:
    return [
        (
            pid,
            o.type.value,
            o.cle,
            o.due_le,
            o.alerte_le,
            e.departement,
            e.referent_id,
            o.informatif,
            orjson.dumps(o.details).decode(),
        )
        for o in ouvertes
    ]


# -- identities and lieux ------------------------------------------------------------------


async def appliquer_identite(conn: asyncpg.Connection, ev: EvenementPublie) -> UUID:
    """Record (or erase) a person's identity; return the person, whose parcours' deadlines it moves.

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
    return personne_id


async def appliquer_identites(conn: asyncpg.Connection, evenements: list[EvenementPublie]) -> set[UUID]:
    """:func:`appliquer_identite` for many identities (no erasure among them), in one statement; the persons."""
    lignes: dict[UUID, tuple[Any, ...]] = {}
    for ev in evenements:
        d = ev.donnees
        if d is None or ev.nom not in ("IdentiteEnregistree", "IdentiteRectifiee"):
            raise ValueError(f"événement d'identité inattendu: {ev.type}")
        lignes[ev.flux_id] = (  # the last one of a person wins, as one by one
            ev.flux_id,
            d["nom"],
            d["prenoms"],
            date.fromisoformat(str(d["date_naissance"])),
            d["sexe"],
            normaliser(f"{d['nom']} {d['prenoms']}"),
        )
    colonnes = list(zip(*lignes.values(), strict=True))
    await conn.execute(
        "INSERT INTO identites (personne_id, nom, prenoms, date_naissance, sexe, recherche) "
        "SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::date[], $5::text[], $6::text[]) "
        "ON CONFLICT (personne_id) DO UPDATE SET nom = excluded.nom, "
        "prenoms = excluded.prenoms, date_naissance = excluded.date_naissance, sexe = excluded.sexe, "
        "recherche = excluded.recherche, effacee = false",
        *[list(c) for c in colonnes],
    )
    return set(lignes)


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
