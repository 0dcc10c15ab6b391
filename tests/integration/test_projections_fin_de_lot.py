"""The end of a batch (``Projection.finir``) fails for one stream: that stream is dead-lettered, the rest commits.

Regression of "Two accepted corrections block the dossiers read model for
everyone, for good": a parcours whose OPP was corrected to start on 0001-01-01
and end on 0001-01-15 made every fold of the batch raise, for ever. The
offending corrections are written to the store directly, as the published log
would hold them had the write side accepted them (it now refuses them): the
read side must never depend on that.
"""

from __future__ import annotations

import calendar
import contextlib
import uuid
from collections.abc import AsyncIterator, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import asyncpg
import orjson
import pytest
from structlog.testing import capture_logs

import droit.echeances
from contracts.enveloppe import TOPIC_IDENTITES, TOPIC_PARCOURS
from services.projections.readmodels.dossiers import ProjectionDossiers
from services.projections.service import ServiceProjections, Sources
from services.runtime import coffre
from services.runtime.feeds import SOURCE_JOURNAL, FeedJournal, MessageLu
from services.runtime.http import REGISTRE
from services.runtime.moteur import LettreMorte, Moteur, creer_tables
from tests.integration.conftest import Api
from tests.integration.projections_outils import Registre, attendre
from tests.integration.schemas import schema_a_part

NE_LE = date(2012, 4, 3)
NOM = "Fautif"


@pytest.fixture
async def pool(api: Api, base_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(base_url, min_size=1, max_size=6)
    yield pool
    await pool.close()


def lettres_mortes_comptees(projection: str) -> float:
    return REGISTRE.get_sample_value("ase_projection_lettres_mortes_total", {"projection": projection}) or 0.0


async def _ok(api: Api, chemin: str, corps: dict[str, Any]) -> dict[str, Any]:
    reponse = await api.post(chemin, corps)
    assert reponse.status_code in (200, 201), (chemin, reponse.text)
    resultat: dict[str, Any] = reponse.json()
    return resultat


async def _ouvrir(api: Api, nom: str = "Sain") -> str:
    personne = {"nom": nom, "prenoms": "Léa", "date_naissance": NE_LE.isoformat(), "sexe": "F"}
    corps = {"personne": personne, "departement": "59", "date_effet": "2026-11-02", "referent_id": "ref-avant"}
    return str((await _ok(api, "/v1/parcours", corps))["id"])


async def _decider_une_opp(api: Api, parcours_id: str) -> int:
    """An OPP of the parquet on 20 November 2026; returns the version of its MesureDecidee."""
    mesure = await _ok(
        api,
        f"/v1/parcours/{parcours_id}/mesures",
        {
            "cadre": "judiciaire",
            "nature": "opp",
            "autorite": "parquet",
            "reference_decision": "PARQUET-2026-1",
            "date_debut": "2026-11-20",
            "date_effet": "2026-11-20",
        },
    )
    return int(mesure["version"])


async def _rectifier_directement(pool: asyncpg.Pool, parcours_id: str, corrections: Sequence[dict[str, Any]]) -> None:
    """Append ``corrections`` (SaisieRectifiee fields) to the stream, bypassing the write side's guards.

    Each is a copy of the stream's last correction the write side accepted, with
    its fields replaced: the very record the store would publish.
    """
    flux = uuid.UUID(parcours_id)
    async with pool.acquire() as conn, conn.transaction():
        modele = await conn.fetchrow(
            "SELECT topic, state FROM ase_events WHERE originator_id = $1 AND topic LIKE '%SaisieRectifiee' "
            "ORDER BY originator_version DESC LIMIT 1",
            flux,
        )
        assert modele is not None, "a correction accepted by the write side first"
        version = await conn.fetchval("SELECT max(originator_version) FROM ase_events WHERE originator_id = $1", flux)
        for correction in corrections:
            version += 1
            # Its free text in clear: the model's ciphertext is bound to the model's own version.
            etat = {**orjson.loads(modele["state"]), "motif": "m", **correction}
            etat.pop(coffre.CHAMP_CHIFFRE, None)
            await conn.execute(
                "INSERT INTO ase_events (originator_id, originator_version, topic, state) VALUES ($1, $2, $3, $4)",
                flux,
                version,
                modele["topic"],
                orjson.dumps(etat),
            )


async def _mesure(pool: asyncpg.Pool, schema: str, parcours_id: str) -> asyncpg.Record:
    async with pool.acquire() as conn:
        ligne = await conn.fetchrow(
            f'SELECT date_debut, date_echeance FROM "{schema}".mesures WHERE parcours_id = $1', uuid.UUID(parcours_id)
        )
    assert ligne is not None
    return ligne


@dataclass
class Faute:
    """The reviewer's scenario, played through the real service: who is who, and what was logged."""

    service: ServiceProjections
    schema: str
    fautif: str
    version_opp: int
    journaux: list[MutableMapping[str, Any]]
    lettres_mortes_avant: float

    async def a_jour(self) -> bool:
        return (await self.service.mesurer_retards())["dossiers"] == 0


@contextlib.asynccontextmanager
async def faute_jouee(api: Api, base_url: str, pool: asyncpg.Pool) -> AsyncIterator[Faute]:
    """A parcours whose OPP is corrected to 0001-01-01 → 0001-01-15, then others' parcours keep moving.

    Yields once the others' changes are in the read model and the lag is back to 0
    (fails after 30 s otherwise: the fault blocked everyone).
    """
    service = ServiceProjections(pool, Sources(base_url), [ProjectionDossiers()], surveillance_s=0.2)
    await service.demarrer()
    try:
        fautif = await _ouvrir(api, NOM)
        version_opp = await _decider_une_opp(api, fautif)
        await _ok(
            api,
            f"/v1/parcours/{fautif}/rectifications",
            {"version_rectifiee": version_opp, "champ": "date_debut", "nouvelle_valeur": "2026-11-19", "motif": "m"},
        )
        sain = await _ouvrir(api)
        faute = Faute(service, service.moteurs["dossiers"].schema, fautif, version_opp, [], 0.0)
        await attendre(faute.a_jour, delai_s=30, quoi="the dossiers read model is up to date")
        faute.lettres_mortes_avant = lettres_mortes_comptees("dossiers")

        with capture_logs() as journaux:
            await _rectifier_directement(
                pool,
                fautif,
                [
                    {"version_rectifiee": version_opp, "champ": "date_debut", "ancienne_valeur": "2026-11-19"}
                    | {"nouvelle_valeur": "0001-01-01"},
                    {"version_rectifiee": version_opp, "champ": "date_echeance", "ancienne_valeur": None}
                    | {"nouvelle_valeur": "0001-01-15"},
                ],
            )
            # Everyone else's parcours keeps moving: a change of référent, a new parcours.
            await _ok(api, f"/v1/parcours/{sain}/referent", {"referent_id": "ref-apres", "date_effet": "2026-11-28"})
            nouveau = await _ouvrir(api, "Nouveau")

            async def les_autres_suivent() -> bool:
                async with pool.acquire() as conn:
                    referent = await conn.fetchval(
                        f'SELECT referent_id FROM "{faute.schema}".dossiers WHERE parcours_id = $1', uuid.UUID(sain)
                    )
                    ouvert = await conn.fetchval(
                        f'SELECT count(*) FROM "{faute.schema}".dossiers WHERE parcours_id = $1', uuid.UUID(nouveau)
                    )
                return referent == "ref-apres" and ouvert == 1 and await faute.a_jour()

            await attendre(les_autres_suivent, delai_s=30, quoi="other parcours updated, the lag back to 0")
        faute.journaux = journaux
        yield faute
    finally:
        await service.arreter()


async def test_two_accepted_corrections_to_year_one_no_longer_block_the_dossiers_read_model_for_everyone(
    api: Api, base_url: str, pool: asyncpg.Pool
) -> None:
    async with faute_jouee(api, base_url, pool) as faute:
        # The law no longer raises at the calendar's edge: the parcours is folded, its deadlines clamped.
        mesure = await _mesure(pool, faute.schema, faute.fautif)
        assert (mesure["date_debut"], mesure["date_echeance"]) == (date(1, 1, 1), date(1, 1, 15))
        async with pool.acquire() as conn:
            echeance = await conn.fetchrow(
                f'SELECT due_le, alerte_le FROM "{faute.schema}".echeances '
                "WHERE parcours_id = $1 AND type = 'echeance_mesure'",
                uuid.UUID(faute.fautif),
            )
            assert await conn.fetchval(f'SELECT count(*) FROM "{faute.schema}".lettres_mortes') == 0
        assert echeance is not None
        assert (echeance["due_le"], echeance["alerte_le"]) == (date(1, 1, 15), date(1, 1, 1))


def _ajouter_sans_bornes(jour: date, *, annees: int = 0, mois: int = 0, jours: int = 0) -> date:
    """``droit.calendrier.ajouter`` as it was when the fault was found: it raised out of years 1-9999."""
    annee, index = divmod(jour.year * 12 + jour.month - 1 + annees * 12 + mois, 12)
    return date(annee, index + 1, min(jour.day, calendar.monthrange(annee, index + 1)[1])) + timedelta(days=jours)


async def test_two_accepted_corrections_block_no_one_when_the_law_cannot_fold_them_the_parcours_is_dead_lettered(
    api: Api, base_url: str, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The law as it was ("year 0 is out of range"): what any fold that still fails must do to the others.
    monkeypatch.setattr(droit.echeances, "ajouter", _ajouter_sans_bornes)
    async with faute_jouee(api, base_url, pool) as faute:
        schema, fautif = faute.schema, faute.fautif
        async with pool.acquire() as conn:
            lettres = await conn.fetch(
                f'SELECT source, position, ce_type, flux_id, version, erreur, trace FROM "{schema}".lettres_mortes'
            )
            derniere = await conn.fetchval(
                "SELECT max(notification_id) FROM ase_events WHERE originator_id = $1", uuid.UUID(fautif)
            )
        # The parcours' rows stay as they were before the corrections: stale, never half-written.
        assert (await _mesure(pool, schema, fautif))["date_debut"] == date(2026, 11, 19)
        assert [
            (ligne["source"], ligne["position"], ligne["ce_type"], ligne["flux_id"], ligne["version"], ligne["erreur"])
            for ligne in lettres
        ] == [
            (
                SOURCE_JOURNAL,
                derniere,
                "fr.ase.parcours.saisie_rectifiee.v2",
                uuid.UUID(fautif),
                faute.version_opp + 3,
                "ValueError: fin de lot, flux non recalculé",
            )
        ]
        for personnel in (NOM, NE_LE.isoformat(), "0001-01", "year 0"):
            assert personnel not in lettres[0]["trace"]
        assert lettres_mortes_comptees("dossiers") == faute.lettres_mortes_avant + 1
        (journal,) = [j for j in faute.journaux if j["event"] == "projection_lettre_morte_fin_de_lot"]
        assert (journal["flux_id"], journal["erreur"]) == (fautif, "ValueError")
        assert NOM not in repr(faute.journaux)
        assert NE_LE.isoformat() not in repr(faute.journaux)

        # A later event of that parcours tries again: once the history is sound, the rows follow.
        await _rectifier_directement(
            pool,
            fautif,
            [
                {"version_rectifiee": faute.version_opp, "champ": "date_debut", "ancienne_valeur": "0001-01-01"}
                | {"nouvelle_valeur": "2026-11-21"},
                {"version_rectifiee": faute.version_opp, "champ": "date_echeance", "ancienne_valeur": "0001-01-15"}
                | {"nouvelle_valeur": None},
            ],
        )

        async def gueri() -> bool:
            return (await _mesure(pool, schema, fautif))["date_debut"] == date(2026, 11, 21) and await faute.a_jour()

        await attendre(gueri, delai_s=30, quoi="the dead-lettered parcours folded again")
        async with pool.acquire() as conn:
            assert await conn.fetchval(f'SELECT count(*) FROM "{schema}".lettres_mortes') == 1
            saisine = await conn.fetchval(
                f'SELECT due_le FROM "{schema}".echeances WHERE parcours_id = $1 '
                "AND type = 'saisine_juge_des_enfants'",
                uuid.UUID(fautif),
            )
        assert saisine == date(2026, 11, 29)


class RegistreAvecFin(Registre):
    """A test read model that also counts, at the end of each batch, the events of each stream it saw."""

    def __init__(self, nom: str, *, echoue_pour: set[uuid.UUID]) -> None:
        super().__init__(nom, (TOPIC_PARCOURS, TOPIC_IDENTITES))
        self.echoue_pour = echoue_pour
        self.a_recalculer: dict[int, dict[uuid.UUID, uuid.UUID]] = {}

    def ddl(self) -> list[str]:
        return [*super().ddl(), "CREATE TABLE IF NOT EXISTS totaux (flux_id uuid PRIMARY KEY, n integer NOT NULL)"]

    async def appliquer(self, conn: asyncpg.Connection, evenement: Any) -> None:
        await super().appliquer(conn, evenement)
        self.a_recalculer.setdefault(id(conn), {})[evenement.flux_id] = evenement.flux_id

    async def a_finir(self, conn: asyncpg.Connection) -> dict[uuid.UUID, uuid.UUID]:
        return self.a_recalculer.pop(id(conn), {})

    async def finir(self, conn: asyncpg.Connection, flux: Sequence[uuid.UUID]) -> None:
        if self.echoue_pour & set(flux):
            raise KeyError("refus de test")
        await conn.execute(
            "INSERT INTO totaux SELECT flux_id, count(*) FROM vus WHERE flux_id = ANY($1::uuid[]) GROUP BY flux_id "
            "ON CONFLICT (flux_id) DO UPDATE SET n = excluded.n",
            list(flux),
        )


async def test_a_stream_whose_end_of_batch_fails_is_dead_lettered_alone_and_the_batch_commits(
    api: Api, base_url: str, pool: asyncpg.Pool
) -> None:
    from tests.integration.test_projections_moteur import _evenement

    fautif, sains = uuid.uuid4(), [uuid.uuid4(), uuid.uuid4()]
    projection = RegistreAvecFin(f"fin_{uuid.uuid4().hex[:8]}", echoue_pour={fautif})
    envoyees: list[LettreMorte] = []

    async def envoyer(lettre: LettreMorte) -> None:  # the ``<groupe>.dlq`` topic, as when on Kafka
        envoyees.append(lettre)

    moteur = Moteur(projection, schema_a_part(projection.nom), pool, FeedJournal(base_url), lettres_mortes=envoyer)
    async with pool.acquire() as conn:
        await creer_tables(conn, moteur.schema, projection)
    lot = [
        MessageLu(("t", 0), 0, _evenement(sains[0], 1)),
        MessageLu(("t", 0), 1, _evenement(fautif, 1)),
        MessageLu(("t", 0), 2, _evenement(sains[1], 1)),
        MessageLu(("t", 0), 3, _evenement(fautif, 2)),
        MessageLu(("t", 0), 4, _evenement(sains[0], 2)),
    ]
    avant = lettres_mortes_comptees(projection.nom)

    await moteur.appliquer_lot(lot)

    async with pool.acquire() as conn:
        totaux = {
            ligne["flux_id"]: ligne["n"]
            for ligne in await conn.fetch(f'SELECT flux_id, n FROM "{moteur.schema}".totaux')
        }
        vus = await conn.fetchval(f'SELECT count(*) FROM "{moteur.schema}".vus')
        lettres = await conn.fetch(
            f'SELECT position, flux_id, version, erreur, publiee FROM "{moteur.schema}".lettres_mortes'
        )
        positions = await conn.fetch(f'SELECT source, partition, position FROM "{moteur.schema}".positions')
    assert totaux == {sains[0]: 2, sains[1]: 1}
    assert vus == 5  # the events themselves were applied: only the end of batch is refused
    assert [tuple(ligne) for ligne in lettres] == [(3, fautif, 2, "KeyError: fin de lot, flux non recalculé", True)]
    assert [(e.flux_id, e.version, e.position, e.erreur) for e in envoyees] == [
        (fautif, 2, 3, "KeyError: fin de lot, flux non recalculé")
    ]
    assert [tuple(ligne) for ligne in positions] == [("t", 0, 4)]
    assert lettres_mortes_comptees(projection.nom) == avant + 1

    # The next batch with an event of that stream tries it again.
    projection.echoue_pour.clear()
    await moteur.appliquer_lot([MessageLu(("t", 0), 5, _evenement(fautif, 3))])
    async with pool.acquire() as conn:
        assert await conn.fetchval(f'SELECT n FROM "{moteur.schema}".totaux WHERE flux_id = $1', fautif) == 3


async def test_a_stored_row_whose_ciphertext_does_not_decrypt_is_dead_lettered_alone_and_the_store_feed_goes_on(
    api: Api, base_url: str, pool: asyncpg.Pool
) -> None:
    # The fault: a correction's encrypted free text copied to another version (its ciphertext is
    # bound to its own stream and version) failed the decryption of the whole batch, for ever.
    service = ServiceProjections(pool, Sources(base_url), [ProjectionDossiers()], surveillance_s=0.2)
    await service.demarrer()
    try:
        fautif = await _ouvrir(api, NOM)
        version_opp = await _decider_une_opp(api, fautif)
        await _ok(
            api,
            f"/v1/parcours/{fautif}/rectifications",
            {"version_rectifiee": version_opp, "champ": "date_debut", "nouvelle_valeur": "2026-11-19", "motif": "m"},
        )
        schema = service.moteurs["dossiers"].schema
        flux = uuid.UUID(fautif)
        async with pool.acquire() as conn, conn.transaction():
            modele = await conn.fetchrow(
                "SELECT topic, state, originator_version FROM ase_events WHERE originator_id = $1 "
                "ORDER BY originator_version DESC LIMIT 1",
                flux,
            )
            assert modele is not None
            assert coffre.CHAMP_CHIFFRE.encode() in bytes(modele["state"])
            await conn.execute(
                "INSERT INTO ase_events (originator_id, originator_version, topic, state) VALUES ($1, $2, $3, $4)",
                flux,
                modele["originator_version"] + 1,
                modele["topic"],
                bytes(modele["state"]),
            )
        apres = await _ouvrir(api, "Apres")

        async def les_autres_suivent() -> bool:
            async with pool.acquire() as conn:
                ouvert = await conn.fetchval(
                    f'SELECT count(*) FROM "{schema}".dossiers WHERE parcours_id = $1', uuid.UUID(apres)
                )
            return ouvert == 1 and (await service.mesurer_retards())["dossiers"] == 0

        await attendre(les_autres_suivent, delai_s=30, quoi="the next parcours read, the lag back to 0")
        async with pool.acquire() as conn:
            lettres = await conn.fetch(f'SELECT flux_id, version, erreur FROM "{schema}".lettres_mortes')
        assert [(ligne["flux_id"], ligne["version"]) for ligne in lettres] == [(flux, modele["originator_version"] + 1)]
        assert "Donnees" in lettres[0]["erreur"] or "chiffr" in lettres[0]["erreur"].lower(), lettres[0]["erreur"]
    finally:
        await service.arreter()
