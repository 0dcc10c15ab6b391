"""Webhooks end to end: real PostgreSQL, real HTTP receivers on 127.0.0.1, an injected clock for the retries."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
import structlog
from fastapi import FastAPI
from standardwebhooks import Webhook

from contracts.alertes import Alerte, EvenementAlerte, Niveau, StatutAlerte, identifiant_alerte, lien_dossier
from services.notifications import abonnements, sorties, webhooks
from services.notifications.api.routes_abonnements import ComposantsAbonnements, routeur
from services.notifications.settings import NotificationsSettings
from services.runtime import problemes
from services.runtime.auth import CleDeDeveloppement
from services.runtime.horloge import HorlogeFixe
from services.runtime.http import REGISTRE
from tests.integration.recepteur_webhooks import Recepteur, certificats

DEBUT = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


@pytest.fixture
async def pool(base_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await asyncpg.create_pool(base_url, min_size=1, max_size=6)
    async with p.acquire() as conn:
        await abonnements.creer_tables(conn)
    yield p
    await p.close()


def reglages(**kwargs: Any) -> NotificationsSettings:
    valeurs: dict[str, Any] = {"webhooks_loopback": True, "webhooks_tentatives_max": 4, "webhooks_timeout_s": 5.0}
    return NotificationsSettings(**{**valeurs, **kwargs})


def alerte(type_: str = "ppe", departement: str = "75", jour: int = 1) -> Alerte:
    parcours_id = uuid.uuid4()
    due = date(2026, 12, jour)
    return Alerte(
        alerte_id=identifiant_alerte(parcours_id, type_, "", due),
        parcours_id=parcours_id,
        departement=departement,
        referent_id="referent-1",
        type=type_,
        due_le=due,
        mois_du=due.isoformat()[:7],
        alerte_le=date(2026, 11, 28),
        attendu="Établir le projet pour l'enfant",
        article="CASF L223-1-1",
        urgente=False,
        niveau=Niveau.REFERENT,
        statut=StatutAlerte.OUVERTE,
        lien=lien_dossier(parcours_id),
        levee_le=DEBUT,
        modifiee_le=DEBUT,
    )


async def publier(pool: asyncpg.Pool, *alertes: Alerte) -> None:
    """What the scheduler does: one outbox row per alert change, in its transaction."""
    async with pool.acquire() as conn, conn.transaction():
        for a in alertes:
            await sorties.ajouter(conn, EvenementAlerte.LEVEE, a)


async def abonner(
    pool: asyncpg.Pool, url: str, types: Sequence[str] = ("*",), departement: str = "75"
) -> tuple[abonnements.Abonnement, str]:
    async with pool.acquire() as conn:
        return await abonnements.creer_abonnement(
            conn, departement=departement, url=url, types=types, cree_par="encadrant-1", maintenant=DEBUT
        )


async def planifier(pool: asyncpg.Pool, horloge: HorlogeFixe) -> int | None:
    async with pool.acquire() as conn:
        return await webhooks.planifier(conn, horloge.maintenant())


async def livraisons(pool: asyncpg.Pool, abonnement_id: uuid.UUID) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return await conn.fetch(
            "SELECT * FROM notifications.livraisons WHERE abonnement_id = $1 ORDER BY position", abonnement_id
        )


def borne(tentatives: int, settings: NotificationsSettings) -> float:
    return min(settings.webhooks_delai_max_s, settings.webhooks_delai_initial_s * 2 ** (tentatives - 1))


def compte(resultat: str) -> float:
    """``ase_webhooks_livraisons_total{resultat}`` now."""
    return REGISTRE.get_sample_value("ase_webhooks_livraisons_total", {"resultat": resultat}) or 0.0


@pytest.fixture
def horloge() -> HorlogeFixe:
    return HorlogeFixe(DEBUT)


async def test_a_receiver_failing_the_first_tries_gets_the_delivery_once_signed_at_the_schedule_s_times(
    pool: asyncpg.Pool, horloge: HorlogeFixe
) -> None:
    settings = reglages(webhooks_tentatives_max=6)
    async with Recepteur(reponses=lambda rang: 500 if rang <= 3 else 204) as recepteur:
        abonnement, secret = await abonner(pool, recepteur.url)
        recepteur.secret = secret
        a = alerte()
        await publier(pool, a)
        assert await planifier(pool, horloge) == 1
        facteur = webhooks.Facteur(settings)
        avant = {r: compte(r) for r in ("echec", "livree")}
        with structlog.testing.capture_logs() as journal:
            for tentative in range(1, 5):
                assert await webhooks.livrer(pool, facteur, horloge) == 1
                (ligne,) = await livraisons(pool, abonnement.abonnement_id)
                assert ligne["tentatives"] == tentative
                if tentative <= 3:
                    assert ligne["etat"] == "en_attente"
                    assert ligne["dernier_statut"] == 500
                    delai = (ligne["prochaine_tentative"] - horloge.maintenant()).total_seconds()
                    assert 0 <= delai <= borne(tentative, settings)
                    # Not a moment before its time.
                    horloge.regler(ligne["prochaine_tentative"] - timedelta(milliseconds=1))
                    assert await webhooks.livrer(pool, facteur, horloge) == 0
                    horloge.regler(ligne["prochaine_tentative"])
            assert ligne["etat"] == "livree"
            assert ligne["dernier_statut"] == 204
            horloge.regler(horloge.maintenant() + timedelta(days=1))
            assert await webhooks.livrer(pool, facteur, horloge) == 0
        await facteur.fermer()
    assert len(recepteur.recues) == 4
    assert [r.erreur_verification for r in recepteur.recues] == [None] * 4
    assert len({r.entetes["webhook-id"] for r in recepteur.recues}) == 1
    assert recepteur.recues[0].entetes["webhook-id"] == webhooks.message_id(abonnement.abonnement_id, 1)
    assert len({r.corps for r in recepteur.recues}) == 1
    assert recepteur.recues[0].entetes["content-type"] == "application/json"
    assert recepteur.recues[0].chemin == "/crochet?jeton=ne-pas-journaliser"
    charge = recepteur.recues[-1].verifiee
    assert charge["type"] == "fr.ase.alertes.alerte_levee.v1"
    assert charge["timestamp"] == "2026-11-28T09:00:00Z"
    assert Alerte.model_validate(charge["data"]) == a
    # Ids and outcomes in the logs; never the URL's query, the secret, the body.
    texte = repr(journal)
    assert "ne-pas-journaliser" not in texte
    assert secret not in texte
    assert "CASF" not in texte
    assert [e["resultat"] for e in journal if e["event"] == "webhook_livraison"] == ["echec"] * 3 + ["livree"]
    assert {r: compte(r) - n for r, n in avant.items()} == {"echec": 3, "livree": 1}


async def test_a_receiver_that_always_fails_leaves_a_dead_letter_that_an_encadrant_sees_and_replays(
    pool: asyncpg.Pool, horloge: HorlogeFixe, tmp_path: Path
) -> None:
    settings = reglages(webhooks_tentatives_max=3)
    reponses = {"statut": 503}
    async with Recepteur(reponses=lambda rang: reponses["statut"]) as recepteur:
        abonnement, secret = await abonner(pool, recepteur.url)
        await publier(pool, alerte())
        await planifier(pool, horloge)
        facteur = webhooks.Facteur(settings)
        for _ in range(3):
            assert await webhooks.livrer(pool, facteur, horloge) == 1
            (ligne,) = await livraisons(pool, abonnement.abonnement_id)
            horloge.regler(max(horloge.maintenant(), ligne["prochaine_tentative"]))
        assert ligne["etat"] == "lettre_morte"
        assert (ligne["tentatives"], ligne["dernier_statut"], ligne["derniere_erreur"]) == (3, 503, "statut_http")
        horloge.regler(horloge.maintenant() + timedelta(days=2))
        assert await webhooks.livrer(pool, facteur, horloge) == 0
        assert len(recepteur.recues) == 3

        async with api(pool, settings, tmp_path, horloge) as (client, cle):
            entetes = jeton(cle, "encadrant", "75")
            mortes = (await client.get("/v1/abonnements/livraisons?etat=lettre_morte", headers=entetes)).json()
            (morte,) = mortes["livraisons"]
            assert morte["livraison_id"] == str(ligne["livraison_id"])
            assert (morte["tentatives"], morte["dernier_statut"], morte["etat"]) == (3, 503, "lettre_morte")
            ailleurs = await client.get("/v1/abonnements/livraisons", headers=jeton(cle, "encadrant", "13"))
            assert ailleurs.json()["livraisons"] == []
            referent = await client.post(
                f"/v1/abonnements/livraisons/{morte['livraison_id']}/rejeu", headers=jeton(cle, "referent", "75")
            )
            assert referent.status_code == 403
            ailleurs_rejeu = await client.post(
                f"/v1/abonnements/livraisons/{morte['livraison_id']}/rejeu", headers=jeton(cle, "encadrant", "13")
            )
            assert ailleurs_rejeu.status_code == 404
            rejeu = await client.post(f"/v1/abonnements/livraisons/{morte['livraison_id']}/rejeu", headers=entetes)
            assert rejeu.status_code == 200, rejeu.text
            assert (rejeu.json()["etat"], rejeu.json()["tentatives"]) == ("en_attente", 0)
            encore = await client.post(f"/v1/abonnements/livraisons/{morte['livraison_id']}/rejeu", headers=entetes)
            assert encore.status_code == 409
            assert encore.headers["content-type"] == "application/problem+json"

        reponses["statut"] = 200
        recepteur.secret = secret
        assert await webhooks.livrer(pool, facteur, horloge) == 1
        await facteur.fermer()
    (ligne,) = await livraisons(pool, abonnement.abonnement_id)
    assert (ligne["etat"], ligne["tentatives"]) == ("livree", 1)
    assert recepteur.recues[-1].erreur_verification is None
    assert len({r.entetes["webhook-id"] for r in recepteur.recues}) == 1


async def test_a_410_gone_disables_the_subscription_and_cancels_its_pending_deliveries(
    pool: asyncpg.Pool, horloge: HorlogeFixe, tmp_path: Path
) -> None:
    settings = reglages()
    async with Recepteur(reponses=lambda rang: 410) as recepteur:
        abonnement, _ = await abonner(pool, recepteur.url)
        await publier(pool, alerte(jour=1), alerte(jour=2))
        await planifier(pool, horloge)
        facteur = webhooks.Facteur(settings)
        assert await webhooks.livrer(pool, facteur, horloge) == 1
        assert [ligne["etat"] for ligne in await livraisons(pool, abonnement.abonnement_id)] == ["annulee"] * 2
        await publier(pool, alerte(jour=3))
        assert await planifier(pool, horloge) == 1
        assert len(await livraisons(pool, abonnement.abonnement_id)) == 2
        horloge.regler(horloge.maintenant() + timedelta(days=1))
        assert await webhooks.livrer(pool, facteur, horloge) == 0
        await facteur.fermer()
    assert len(recepteur.recues) == 1
    async with api(pool, settings, tmp_path, horloge) as (client, cle):
        lu = await client.get(f"/v1/abonnements/{abonnement.abonnement_id}", headers=jeton(cle, "encadrant", "75"))
        assert lu.json()["etat"] == "desactive"


async def test_deliveries_to_one_subscription_keep_the_outbox_order_while_others_go_on(
    pool: asyncpg.Pool, horloge: HorlogeFixe
) -> None:
    settings = reglages()
    async with (
        Recepteur(reponses=lambda rang: 500 if rang == 1 else 204) as lent,
        Recepteur() as rapide,
    ):
        ab_lent, _ = await abonner(pool, lent.url)
        ab_rapide, _ = await abonner(pool, rapide.url)
        alertes = [alerte(jour=j) for j in (1, 2, 3)]
        await publier(pool, *alertes)
        await planifier(pool, horloge)
        facteur = webhooks.Facteur(settings)
        while await webhooks.livrer(pool, facteur, horloge):
            pass
        # The first delivery to `lent` failed: the two behind it wait; `rapide` got all three.
        assert len(lent.recues) == 1
        assert [orjson.loads(r.corps)["data"]["alerte_id"] for r in rapide.recues] == [
            str(a.alerte_id) for a in alertes
        ]
        assert [ligne["etat"] for ligne in await livraisons(pool, ab_lent.abonnement_id)] == ["en_attente"] * 3
        horloge.regler(horloge.maintenant() + timedelta(hours=1))
        while await webhooks.livrer(pool, facteur, horloge):
            pass
        await facteur.fermer()
    ordre = [orjson.loads(r.corps)["data"]["alerte_id"] for r in lent.recues]
    assert ordre == [str(alertes[0].alerte_id)] + [str(a.alerte_id) for a in alertes]
    assert [ligne["etat"] for ligne in await livraisons(pool, ab_lent.abonnement_id)] == ["livree"] * 3
    assert [ligne["etat"] for ligne in await livraisons(pool, ab_rapide.abonnement_id)] == ["livree"] * 3


async def test_a_run_stops_at_its_first_failure_and_the_deliveries_behind_it_wait_uncounted(
    pool: asyncpg.Pool, horloge: HorlogeFixe
) -> None:
    async with Recepteur(reponses=lambda rang: 500 if rang == 3 else 204) as recepteur:
        abonnement, _ = await abonner(pool, recepteur.url)
        alertes = [alerte(jour=j) for j in range(1, 6)]
        await publier(pool, *alertes)
        await planifier(pool, horloge)
        facteur = webhooks.Facteur(reglages())
        assert await webhooks.livrer(pool, facteur, horloge) == 3
        lignes = await livraisons(pool, abonnement.abonnement_id)
        assert [(ligne["etat"], ligne["tentatives"]) for ligne in lignes] == [
            ("livree", 1),
            ("livree", 1),
            ("en_attente", 1),
            ("en_attente", 0),
            ("en_attente", 0),
        ]
        assert await webhooks.livrer(pool, facteur, horloge) == 0
        horloge.regler(lignes[2]["prochaine_tentative"])
        assert await webhooks.livrer(pool, facteur, horloge) == 3
        await facteur.fermer()
    ordre = [orjson.loads(r.corps)["data"]["alerte_id"] for r in recepteur.recues]
    attendu = [str(a.alerte_id) for a in alertes]
    assert ordre == attendu[:3] + attendu[2:]


async def test_two_instances_deliver_a_long_queue_once_each_in_order(pool: asyncpg.Pool, horloge: HorlogeFixe) -> None:
    async with Recepteur() as recepteur:
        abonnement, _ = await abonner(pool, recepteur.url)
        alertes = [alerte(jour=1 + j % 28) for j in range(60)]
        await publier(pool, *alertes)
        await planifier(pool, horloge)
        facteurs = [webhooks.Facteur(reglages()), webhooks.Facteur(reglages())]

        async def instance(f: webhooks.Facteur) -> int:
            envoyees = 0
            for _ in range(100):
                envoyees += await webhooks.livrer(pool, f, horloge, par_abonnement=7)
                if len(recepteur.recues) >= len(alertes):
                    break
            return envoyees

        assert sum(await asyncio.gather(*(instance(f) for f in facteurs))) == len(alertes)
        for f in facteurs:
            await f.fermer()
    assert [orjson.loads(r.corps)["data"]["alerte_id"] for r in recepteur.recues] == [str(a.alerte_id) for a in alertes]
    assert {ligne["etat"] for ligne in await livraisons(pool, abonnement.abonnement_id)} == {"livree"}


async def test_deliveries_are_planned_per_type_and_departement_once(pool: asyncpg.Pool, horloge: HorlogeFixe) -> None:
    tous, _ = await abonner(pool, "http://127.0.0.1:9/a", ("*",))
    ppe, _ = await abonner(pool, "http://127.0.0.1:9/b", ("ppe", "majorite"))
    rapport, _ = await abonner(pool, "http://127.0.0.1:9/c", ("rapport_situation",))
    autre, _ = await abonner(pool, "http://127.0.0.1:9/d", ("*",), departement="13")
    await publier(pool, alerte("ppe"), alerte("majorite"), alerte("limite_hotel"))
    assert await planifier(pool, horloge) == 3
    assert await planifier(pool, horloge) == 0
    nombres = [len(await livraisons(pool, a.abonnement_id)) for a in (tous, ppe, rapport, autre)]
    assert nombres == [3, 2, 0, 0]


async def test_after_a_transfer_from_59_to_62_the_subscribers_of_59_are_told_the_alert_left(
    pool: asyncpg.Pool, horloge: HorlogeFixe
) -> None:
    de_59, _ = await abonner(pool, "http://127.0.0.1:9/a", ("*",), departement="59")
    de_62, _ = await abonner(pool, "http://127.0.0.1:9/b", ("*",), departement="62")
    de_13, _ = await abonner(pool, "http://127.0.0.1:9/c", ("*",), departement="13")
    partie = alerte(departement="62").model_copy(update={"departement_precedent": "59"})
    async with pool.acquire() as conn, conn.transaction():
        await sorties.ajouter(conn, EvenementAlerte.REAFFECTEE, partie)
    assert await planifier(pool, horloge) == 1
    nombres = [len(await livraisons(pool, a.abonnement_id)) for a in (de_59, de_62, de_13)]
    assert nombres == [1, 1, 0]
    (pour_59,) = await livraisons(pool, de_59.abonnement_id)
    corps = orjson.loads(pour_59["corps"])
    assert corps["type"] == "fr.ase.alertes.alerte_reaffectee.v1"
    assert (corps["data"]["departement"], corps["data"]["departement_precedent"]) == ("62", "59")


async def test_a_claimed_delivery_is_sent_by_one_instance_and_retried_with_the_same_id_after_a_crash(
    pool: asyncpg.Pool, horloge: HorlogeFixe
) -> None:
    settings = reglages(webhooks_timeout_s=5.0)
    async with Recepteur() as recepteur:
        abonnement, _ = await abonner(pool, recepteur.url)
        await publier(pool, alerte())
        await planifier(pool, horloge)
        # An instance claims it and dies before recording anything.
        async with pool.acquire() as conn:
            (perdue,) = await webhooks.reclamer(conn, horloge.maintenant(), 10.0, 10)
            assert await webhooks.reclamer(conn, horloge.maintenant(), 10.0, 10) == []
        facteurs = [webhooks.Facteur(settings), webhooks.Facteur(settings)]
        assert await webhooks.livrer(pool, facteurs[0], horloge) == 0
        horloge.regler(horloge.maintenant() + timedelta(seconds=10))
        # Its lease over, another instance claims it again; the dead one's late record is then ignored.
        async with pool.acquire() as conn:
            (reprise,) = await webhooks.reclamer(conn, horloge.maintenant(), 10.0, 10)
            assert (reprise.message_id, reprise.tentatives) == (perdue.message_id, 2)
            tardif = await webhooks.enregistrer(
                conn, perdue, issue=webhooks.Issue(204, None), maintenant=horloge.maintenant(), settings=settings
            )
        assert tardif is None
        (ligne,) = await livraisons(pool, abonnement.abonnement_id)
        assert (ligne["etat"], ligne["tentatives"]) == ("en_attente", 2)
        horloge.regler(horloge.maintenant() + timedelta(seconds=10))
        # Two instances at once: one sends it.
        essais = await asyncio.gather(*(webhooks.livrer(pool, f, horloge) for f in facteurs))
        assert sorted(essais) == [0, 1]
        for f in facteurs:
            await f.fermer()
    assert len(recepteur.recues) == 1
    assert recepteur.recues[0].entetes["webhook-id"] == perdue.message_id
    (ligne,) = await livraisons(pool, abonnement.abonnement_id)
    assert (ligne["etat"], ligne["tentatives"]) == ("livree", 3)


async def test_an_address_refused_at_delivery_is_never_contacted_and_ends_a_dead_letter(
    pool: asyncpg.Pool, horloge: HorlogeFixe
) -> None:
    """Subscribed while loopback was allowed; at delivery it is not: nothing is sent, ever."""
    settings = reglages(webhooks_loopback=False, webhooks_tentatives_max=2)
    async with Recepteur() as recepteur:
        abonnement, _ = await abonner(pool, recepteur.url)
        await publier(pool, alerte())
        await planifier(pool, horloge)
        facteur = webhooks.Facteur(settings)
        for _ in range(2):
            assert await webhooks.livrer(pool, facteur, horloge) == 1
            (ligne,) = await livraisons(pool, abonnement.abonnement_id)
            assert ligne["derniere_erreur"] == "adresse_refusee"
            horloge.regler(ligne["prochaine_tentative"])
        await facteur.fermer()
    assert recepteur.recues == []
    assert ligne["etat"] == "lettre_morte"


async def test_a_name_that_resolves_to_a_private_address_at_delivery_is_refused(
    pool: asyncpg.Pool, horloge: HorlogeFixe
) -> None:
    async def rebinding(hote: str, port: int) -> Sequence[str]:
        return ["10.0.0.1"]

    async with Recepteur() as recepteur:
        abonnement, _ = await abonner(pool, f"http://recepteur.test:{recepteur.port}/crochet")
        await publier(pool, alerte())
        await planifier(pool, horloge)
        facteur = webhooks.Facteur(reglages(), resolveur=rebinding)
        assert await webhooks.livrer(pool, facteur, horloge) == 1
        await facteur.fermer()
    (ligne,) = await livraisons(pool, abonnement.abonnement_id)
    assert (ligne["etat"], ligne["derniere_erreur"]) == ("en_attente", "adresse_refusee")
    assert recepteur.recues == []


async def test_the_connection_goes_to_the_checked_address_not_a_second_resolution(
    pool: asyncpg.Pool, horloge: HorlogeFixe
) -> None:
    """``recepteur.test`` resolves (once, by the injected resolver) to 127.0.0.1; the system would not resolve it."""
    resolutions: list[str] = []

    async def resolveur(hote: str, port: int) -> Sequence[str]:
        resolutions.append(hote)
        return ["127.0.0.1"]

    async with Recepteur() as recepteur:
        abonnement, secret = await abonner(pool, f"http://recepteur.test:{recepteur.port}/crochet")
        recepteur.secret = secret
        await publier(pool, alerte())
        await planifier(pool, horloge)
        facteur = webhooks.Facteur(reglages(), resolveur=resolveur)
        assert await webhooks.livrer(pool, facteur, horloge) == 1
        await facteur.fermer()
    assert resolutions == ["recepteur.test"]
    (recue,) = recepteur.recues
    assert recue.entetes["host"] == f"recepteur.test:{recepteur.port}"
    assert recue.erreur_verification is None
    (ligne,) = await livraisons(pool, abonnement.abonnement_id)
    assert ligne["etat"] == "livree"


@pytest.mark.parametrize(("nom_du_certificat", "livree"), [("recepteur.test", True), ("autre.test", False)])
async def test_https_goes_to_the_checked_address_and_verifies_the_certificate_against_the_url_s_name(
    pool: asyncpg.Pool, horloge: HorlogeFixe, nom_du_certificat: str, livree: bool
) -> None:
    async def resolveur(hote: str, port: int) -> Sequence[str]:
        return ["127.0.0.1"]

    serveur, client_tls = certificats(nom_du_certificat)
    async with Recepteur(tls=serveur) as recepteur:
        abonnement, secret = await abonner(pool, f"https://recepteur.test:{recepteur.port}/crochet")
        recepteur.secret = secret
        await publier(pool, alerte())
        await planifier(pool, horloge)
        client = httpx.AsyncClient(verify=client_tls, trust_env=False, follow_redirects=False)
        facteur = webhooks.Facteur(reglages(), resolveur=resolveur, client=client)
        assert await webhooks.livrer(pool, facteur, horloge) == 1
        await facteur.fermer()
    (ligne,) = await livraisons(pool, abonnement.abonnement_id)
    if livree:
        assert ligne["etat"] == "livree"
        (recue,) = recepteur.recues
        assert recue.entetes["host"] == f"recepteur.test:{recepteur.port}"
        assert recue.erreur_verification is None
    else:
        # A certificate for another name: the TLS handshake fails, nothing is sent, it is retried.
        assert (ligne["etat"], ligne["derniere_erreur"]) == ("en_attente", "connexion")
        assert recepteur.recues == []


async def test_an_address_that_refuses_the_connection_gives_way_to_the_next_checked_one(
    pool: asyncpg.Pool, horloge: HorlogeFixe
) -> None:
    """Nothing listens on 127.0.0.2 (the receiver is bound to 127.0.0.1 only)."""
    reponses = {"recepteur.test": ["127.0.0.2", "127.0.0.1"], "ferme.test": ["127.0.0.2"]}

    async def resolveur(hote: str, port: int) -> Sequence[str]:
        return reponses[hote]

    async with Recepteur() as recepteur:
        deux, _ = await abonner(pool, f"http://recepteur.test:{recepteur.port}/a")
        ferme, _ = await abonner(pool, f"http://ferme.test:{recepteur.port}/b")
        await publier(pool, alerte())
        await planifier(pool, horloge)
        facteur = webhooks.Facteur(reglages(), resolveur=resolveur)
        assert await webhooks.livrer(pool, facteur, horloge) == 2
        await facteur.fermer()
    assert [r.chemin for r in recepteur.recues] == ["/a"]
    assert [ligne["etat"] for ligne in await livraisons(pool, deux.abonnement_id)] == ["livree"]
    (ligne,) = await livraisons(pool, ferme.abonnement_id)
    assert (ligne["etat"], ligne["derniere_erreur"]) == ("en_attente", "connexion")


async def test_a_redirect_is_not_followed_and_counts_as_a_failure(pool: asyncpg.Pool, horloge: HorlogeFixe) -> None:
    async with Recepteur(reponses=lambda rang: 302) as recepteur:
        abonnement, _ = await abonner(pool, recepteur.url)
        await publier(pool, alerte())
        await planifier(pool, horloge)
        facteur = webhooks.Facteur(reglages())
        assert await webhooks.livrer(pool, facteur, horloge) == 1
        await facteur.fermer()
    (ligne,) = await livraisons(pool, abonnement.abonnement_id)
    assert (ligne["etat"], ligne["dernier_statut"], ligne["derniere_erreur"]) == ("en_attente", 302, "redirection")
    assert len(recepteur.recues) == 1


async def test_the_loop_plans_and_delivers_until_it_is_stopped(pool: asyncpg.Pool) -> None:
    async with Recepteur() as recepteur:
        abonnement, secret = await abonner(pool, recepteur.url)
        recepteur.secret = secret
        arret, reveil = asyncio.Event(), asyncio.Event()
        boucle = asyncio.create_task(webhooks.tourner(pool, reglages(), arret, reveil=reveil, intervalle_s=30.0))
        await publier(pool, alerte(), alerte(jour=2))
        reveil.set()
        recues = await recepteur.attendre(2)
        arret.set()
        await asyncio.wait_for(boucle, 10)
    assert [r.erreur_verification for r in recues] == [None, None]
    assert [ligne["etat"] for ligne in await livraisons(pool, abonnement.abonnement_id)] == ["livree"] * 2
    assert webhooks.PLUS_ANCIENNE._value.get() >= 0


# -- the API ----------------------------------------------------------------------------------


class api:
    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: NotificationsSettings,
        dossier: Path,
        horloge: HorlogeFixe | None = None,
        resolveur: Any = None,
    ) -> None:
        self.app = FastAPI()
        problemes.installer(self.app)
        self.app.include_router(routeur)
        self.cle = CleDeDeveloppement.dans(dossier)
        self.app.state.abonnements = ComposantsAbonnements(pool, self.cle, settings, horloge, resolveur)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://notifications")

    async def __aenter__(self) -> tuple[httpx.AsyncClient, CleDeDeveloppement]:
        return self.client, self.cle

    async def __aexit__(self, *_: object) -> None:
        await self.client.aclose()


def jeton(cle: CleDeDeveloppement, role: str, *departements: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + cle.signer(sub=f"{role}-1", roles=[role], departements=list(departements))}


async def test_an_encadrant_subscribes_sees_the_secret_once_lists_reads_and_deletes(
    pool: asyncpg.Pool, tmp_path: Path, horloge: HorlogeFixe
) -> None:
    async with Recepteur() as recepteur, api(pool, reglages(), tmp_path) as (client, cle):
        entetes = jeton(cle, "encadrant", "75")
        cree = await client.post("/v1/abonnements", json={"url": recepteur.url, "types": ["ppe", "*"]}, headers=entetes)
        assert cree.status_code == 201, cree.text
        corps = cree.json()
        assert corps["secret"].startswith("whsec_")
        assert 24 <= len(Webhook(corps["secret"])._whsecret) <= 32
        assert (corps["url"], corps["types"], corps["departement"], corps["etat"]) == (
            recepteur.url,
            ["ppe", "*"],
            "75",
            "actif",
        )
        async with pool.acquire() as conn:
            stocke = await conn.fetchval("SELECT secret_chiffre FROM notifications.abonnements")
        assert corps["secret"].removeprefix("whsec_").encode() not in bytes(stocke)
        liste = (await client.get("/v1/abonnements", headers=entetes)).json()["abonnements"]
        assert [a["abonnement_id"] for a in liste] == [corps["abonnement_id"]]
        assert "secret" not in liste[0]
        lu = await client.get(f"/v1/abonnements/{corps['abonnement_id']}", headers=entetes)
        assert lu.status_code == 200
        assert "secret" not in lu.json()
        autre = await client.get(f"/v1/abonnements/{corps['abonnement_id']}", headers=jeton(cle, "encadrant", "13"))
        assert autre.status_code == 404
        assert (await client.get("/v1/abonnements", headers=jeton(cle, "encadrant", "13"))).json()["abonnements"] == []

        await publier(pool, alerte())
        await planifier(pool, horloge)
        supprime = await client.delete(f"/v1/abonnements/{corps['abonnement_id']}", headers=entetes)
        assert supprime.status_code == 204
        assert [ligne["etat"] for ligne in await livraisons(pool, uuid.UUID(corps["abonnement_id"]))] == ["annulee"]
        assert (await client.get(f"/v1/abonnements/{corps['abonnement_id']}", headers=entetes)).status_code == 404
        assert (await client.delete(f"/v1/abonnements/{corps['abonnement_id']}", headers=entetes)).status_code == 404
        assert (await client.get("/v1/abonnements", headers=entetes)).json()["abonnements"] == []


async def test_only_an_encadrant_of_the_departement_subscribes(pool: asyncpg.Pool, tmp_path: Path) -> None:
    corps = {"url": "http://127.0.0.1:9/x", "types": ["*"]}
    async with api(pool, reglages(), tmp_path) as (client, cle):
        assert (await client.post("/v1/abonnements", json=corps)).status_code == 401
        referent = await client.post("/v1/abonnements", json=corps, headers=jeton(cle, "referent", "75"))
        assert referent.status_code == 403
        assert referent.headers["content-type"] == "application/problem+json"
        deux = jeton(cle, "encadrant", "75", "13")
        assert (await client.post("/v1/abonnements", json=corps, headers=deux)).status_code == 403
        choisi = await client.post("/v1/abonnements", json={**corps, "departement": "13"}, headers=deux)
        assert (choisi.status_code, choisi.json()["departement"]) == (201, "13")
        hors = await client.post("/v1/abonnements", json={**corps, "departement": "69"}, headers=deux)
        assert hors.status_code == 403


@pytest.mark.parametrize(
    "corps",
    [
        {"url": "http://127.0.0.1:9/x", "types": ["inconnu"]},
        {"url": "http://127.0.0.1:9/x", "types": []},
        {"url": "http://127.0.0.1:9/x", "types": ["ppe"] * 40},
        {"url": "http://127.0.0.1:9/" + "a" * 2048, "types": ["ppe"]},
        {"url": "ftp://127.0.0.1/x", "types": ["ppe"]},
        {"url": "http://127.0.0.1:9/x", "types": ["ppe"], "secret": "whsec_AAAA"},
        {"types": ["ppe"]},
    ],
    ids=["type inconnu", "aucun type", "trop de types", "URL trop longue", "schéma ftp", "champ inconnu", "sans URL"],
)
async def test_a_malformed_subscription_is_a_422_problem(
    pool: asyncpg.Pool, tmp_path: Path, corps: dict[str, Any]
) -> None:
    async with api(pool, reglages(), tmp_path) as (client, cle):
        reponse = await client.post("/v1/abonnements", json=corps, headers=jeton(cle, "encadrant", "75"))
    assert reponse.status_code == 422, reponse.text
    assert reponse.headers["content-type"] == "application/problem+json"
    assert reponse.json()["code"] == "validation"


URLS_REFUSEES = {
    "loopback sans le réglage": "http://127.0.0.1:8080/x",
    "loopback v6 sans le réglage": "http://[::1]:8080/x",
    "décimal 2130706433": "http://2130706433/x",
    "octal 0177.0.0.1": "http://0177.0.0.1/x",
    "hexadécimal 0x7f000001": "http://0x7f000001/x",
    "privée 10/8": "http://10.0.0.1/x",
    "privée 192.168/16": "http://192.168.1.10/x",
    "privée 172.16/12": "http://172.16.0.1/x",
    "ULA": "http://[fd00::1]/x",
    "métadonnées": "http://169.254.169.254/latest/meta-data/",
    "lien local v6": "http://[fe80::1]/x",
    "CGNAT": "http://100.64.0.1/x",
    "0.0.0.0": "http://0.0.0.0/x",
    "multicast": "http://224.0.0.1/x",
    "IPv4 mappée": "http://[::ffff:127.0.0.1]/x",
    "IPv4 mappée privée": "http://[::ffff:10.0.0.1]/x",
    "IPv4 compatible": "http://[::10.0.0.1]/x",
    "NAT64": "http://[64:ff9b::a9fe:a9fe]/x",
    "6to4": "http://[2002:a00:1::1]/x",
    "Teredo": "http://[2001:0:808:808::f5ff:fffe]/x",
    "documentation": "http://192.0.2.1/x",
    "nom résolu en privée": "http://interne.test/x",
    "nom introuvable": "http://introuvable.test/x",
}


@pytest.mark.parametrize("url", URLS_REFUSEES.values(), ids=URLS_REFUSEES.keys())
async def test_a_url_that_resolves_to_a_non_public_address_is_refused_at_subscription(
    pool: asyncpg.Pool, tmp_path: Path, url: str
) -> None:
    async def resolveur(hote: str, port: int) -> Sequence[str]:
        if hote == "interne.test":
            return ["93.184.216.34", "192.168.0.4"]
        if hote == "introuvable.test":
            raise OSError("Name or service not known")
        return await webhooks.adresses.resolveur_systeme(hote, port)

    async with api(pool, reglages(webhooks_loopback=False), tmp_path, resolveur=resolveur) as (client, cle):
        reponse = await client.post(
            "/v1/abonnements", json={"url": url, "types": ["*"]}, headers=jeton(cle, "encadrant", "75")
        )
    assert reponse.status_code == 422, reponse.text
    assert reponse.headers["content-type"] == "application/problem+json"
    (erreur,) = reponse.json()["errors"]
    assert (erreur["champ"], erreur["type"]) == ("url", "adresse_refusee")
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM notifications.abonnements") == 0


# -- one subscription's trouble is its own ------------------------------------------------------


URLS_UNICODE = {
    "chiffres cerclés": "http://①②⑦.0.0.1/",
    "chiffres pleine chasse": "http://１２７.０.０.１:8751/",
    "pleine chasse publique en https": "https://８.８.８.８/",
}


@pytest.mark.parametrize("url", URLS_UNICODE.values(), ids=URLS_UNICODE.keys())
async def test_a_url_with_unicode_digits_is_refused_at_subscription(
    pool: asyncpg.Pool, tmp_path: Path, url: str
) -> None:
    """urlsplit takes these hosts and getaddrinfo maps them to an address; httpx.URL, the delivery's parser, does not."""
    async with api(pool, reglages(), tmp_path) as (client, cle):
        reponse = await client.post(
            "/v1/abonnements",
            json={"url": url, "types": ["*"], "departement": "59"},
            headers=jeton(cle, "encadrant", "59"),
        )
    assert reponse.status_code == 422, reponse.text
    assert reponse.headers["content-type"] == "application/problem+json"
    (erreur,) = reponse.json()["errors"]
    assert (erreur["champ"], erreur["type"]) == ("url", "adresse_refusee")
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM notifications.abonnements") == 0


@pytest.mark.parametrize("panne", ["URL rendue illisible en base", "résolveur qui lève"])
async def test_a_delivery_whose_preparation_raises_fails_alone_and_ends_a_dead_letter_while_others_go_once(
    pool: asyncpg.Pool, horloge: HorlogeFixe, panne: str
) -> None:
    async def resolveur(hote: str, port: int) -> Sequence[str]:
        if hote == "casse.test":
            raise RuntimeError("bug du résolveur")
        return await webhooks.adresses.resolveur_systeme(hote, port)

    settings = reglages(webhooks_tentatives_max=2)
    async with Recepteur() as sain:
        bon, _ = await abonner(pool, sain.url)
        casse, _ = await abonner(pool, "http://casse.test/crochet")
        if panne == "URL rendue illisible en base":
            async with pool.acquire() as conn:
                await conn.execute(
                    "UPDATE notifications.abonnements SET url = $2 WHERE abonnement_id = $1",
                    casse.abonnement_id,
                    "http://①②⑦.0.0.1/",
                )
        await publier(pool, alerte())
        assert await planifier(pool, horloge) == 1
        facteur = webhooks.Facteur(settings, resolveur=resolveur)
        assert await webhooks.livrer(pool, facteur, horloge) == 2
        (ligne,) = await livraisons(pool, casse.abonnement_id)
        assert (ligne["etat"], ligne["tentatives"]) == ("en_attente", 1)
        assert ligne["derniere_erreur"] in ("adresse_refusee", "erreur:RuntimeError")
        horloge.regler(ligne["prochaine_tentative"])
        assert await webhooks.livrer(pool, facteur, horloge) == 1
        # Nothing left: the healthy one is not sent again when its lease would have ended.
        horloge.regler(horloge.maintenant() + timedelta(days=1))
        assert await webhooks.livrer(pool, facteur, horloge) == 0
        await facteur.fermer()
    (ligne,) = await livraisons(pool, casse.abonnement_id)
    assert (ligne["etat"], ligne["tentatives"]) == ("lettre_morte", 2)
    assert [ligne["etat"] for ligne in await livraisons(pool, bon.abonnement_id)] == ["livree"]
    assert len(sain.recues) == 1


class RecepteurLent:
    """Answers ``200`` with ``Content-Length: 1000000``, then drips one byte every 0.2 s until the client hangs up."""

    def __init__(self) -> None:
        self.goutte = asyncio.Event()
        self.raccroche = asyncio.Event()
        self.port = 0
        self._serveur: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/lent"

    async def __aenter__(self) -> RecepteurLent:
        self._serveur = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._serveur.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._serveur is not None
        self._serveur.close()
        await self._serveur.wait_closed()

    async def _client(self, lecteur: asyncio.StreamReader, ecrivain: asyncio.StreamWriter) -> None:
        entetes: dict[str, str] = {}
        await lecteur.readline()
        while (ligne := await lecteur.readline()) not in (b"\r\n", b"\n", b""):
            nom, _, valeur = ligne.decode("latin-1").partition(":")
            entetes[nom.strip().lower()] = valeur.strip()
        await lecteur.readexactly(int(entetes.get("content-length", "0")))
        ecrivain.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")

        async def goutter() -> None:
            while True:
                ecrivain.write(b"x")
                await ecrivain.drain()
                self.goutte.set()
                await asyncio.sleep(0.2)  # the drip itself, not a synchronisation

        tache = asyncio.create_task(goutter())
        try:
            await lecteur.read()  # b"" when the client hangs up
        except ConnectionError:
            pass
        finally:
            tache.cancel()
            await asyncio.gather(tache, return_exceptions=True)
            self.raccroche.set()
            ecrivain.close()


async def attendre_ligne(pool: asyncpg.Pool, abonnement_id: uuid.UUID, condition: Any, delai_s: float = 30.0) -> Any:
    """Poll the subscription's only delivery until ``condition(row)``, or fail after ``delai_s``."""
    async with asyncio.timeout(delai_s):
        while True:
            lignes = await livraisons(pool, abonnement_id)
            if lignes and condition(lignes[0]):
                return lignes[0]
            await asyncio.sleep(0.05)


async def test_a_slow_receiver_does_not_stall_the_other_departements_deliveries(pool: asyncpg.Pool) -> None:
    settings = reglages(webhooks_timeout_s=5.0)
    async with RecepteurLent() as lent, Recepteur() as sain:
        lente, _ = await abonner(pool, lent.url, departement="59")
        saine, _ = await abonner(pool, sain.url, departement="75")
        arret, reveil = asyncio.Event(), asyncio.Event()
        boucle = asyncio.create_task(webhooks.tourner(pool, settings, arret, reveil=reveil, intervalle_s=30.0))
        try:
            await publier(pool, alerte(departement="59"))
            reveil.set()
            await asyncio.wait_for(lent.goutte.wait(), 10)
            # Planned and delivered while the slow receiver is still dripping its answer.
            await publier(pool, alerte(departement="75"))
            reveil.set()
            await sain.attendre(1)
            await attendre_ligne(pool, saine.abonnement_id, lambda ligne: ligne["etat"] == "livree")
            assert not lent.raccroche.is_set()
            # The slow one's try is cut by the overall deadline: a failure, retried later.
            ligne = await attendre_ligne(pool, lente.abonnement_id, lambda ligne: ligne["derniere_erreur"] is not None)
            assert (ligne["etat"], ligne["derniere_erreur"], ligne["tentatives"]) == ("en_attente", "delai_depasse", 1)
            await asyncio.wait_for(lent.raccroche.wait(), 10)
        finally:
            arret.set()
            await asyncio.wait_for(boucle, 20)
    assert len(sain.recues) == 1


async def test_a_webhook_url_s_query_string_is_in_no_log(
    pool: asyncpg.Pool, horloge: HorlogeFixe, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """httpx logs each request's URL at INFO; the service's logging configuration silences it."""
    from services.runtime.logs import configurer

    racine = logging.getLogger()
    handlers, niveau = racine.handlers[:], racine.level
    niveaux = {nom: logging.getLogger(nom).level for nom in ("httpx", "httpcore")}
    structlog_avant = structlog.get_config()
    try:
        configurer("INFO", json=True)
        racine.addHandler(caplog.handler)
        caplog.set_level(logging.INFO)
        async with Recepteur() as recepteur:
            abonnement, _ = await abonner(pool, f"http://127.0.0.1:{recepteur.port}/hook?x=secret123")
            await publier(pool, alerte())
            await planifier(pool, horloge)
            facteur = webhooks.Facteur(reglages())
            assert await webhooks.livrer(pool, facteur, horloge) == 1
            await facteur.fermer()
        assert [r.chemin for r in recepteur.recues] == ["/hook?x=secret123"]
        assert any(r.getMessage() == "webhook_livraison" or "webhook_livraison" in str(r.msg) for r in caplog.records)
        sortie = capfd.readouterr()
    finally:
        structlog.configure(**structlog_avant)
        racine.handlers[:] = handlers
        racine.setLevel(niveau)
        for nom, n in niveaux.items():
            logging.getLogger(nom).setLevel(n)
    assert "secret123" not in caplog.text
    assert "secret123" not in sortie.out + sortie.err
    assert [ligne["etat"] for ligne in await livraisons(pool, abonnement.abonnement_id)] == ["livree"]


async def test_the_oldest_pending_age_is_measured_even_when_planning_and_claiming_fail(
    pool: asyncpg.Pool, horloge: HorlogeFixe, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Recepteur() as recepteur:
        await abonner(pool, recepteur.url)
        await publier(pool, alerte())
        assert await planifier(pool, horloge) == 1

        async def en_panne(*_: Any, **__: Any) -> Any:
            raise RuntimeError("un tour qui échoue")

        monkeypatch.setattr(webhooks, "planifier", en_panne)
        monkeypatch.setattr(webhooks, "reclamer_files", en_panne)
        webhooks.PLUS_ANCIENNE.set(0)
        arret = asyncio.Event()
        plus_tard = HorlogeFixe(DEBUT + timedelta(minutes=15))
        boucle = asyncio.create_task(webhooks.tourner(pool, reglages(), arret, horloge=plus_tard, intervalle_s=30.0))
        try:
            async with asyncio.timeout(10):
                while True:  # polled with a deadline: the gauge has no event to await
                    if webhooks.PLUS_ANCIENNE._value.get() != 0:
                        break
                    await asyncio.sleep(0.05)
        finally:
            arret.set()
            await asyncio.wait_for(boucle, 10)
    assert webhooks.PLUS_ANCIENNE._value.get() == 15 * 60
    assert recepteur.recues == []
