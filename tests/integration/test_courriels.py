"""E-mail of the alerts, to a real SMTP server (aiosmtpd on 127.0.0.1) over a real PostgreSQL.

Alerts are written to the outbox as the scheduler writes them (ids, dates, the rule),
the e-mail loop reads them as the consumer ``courriels``, and what the server
received is read back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

import asyncpg
import pytest
from structlog.testing import capture_logs

from contracts.alertes import EvenementAlerte, Niveau, StatutAlerte
from services.notifications import courriels
from services.notifications.settings import NotificationsSettings
from services.runtime.horloge import HorlogeFixe
from services.runtime.http import REGISTRE
from tests.integration.smtp_local import MAINTENANT, ServeurSmtp, alerte, creer_tables, destinataire, publier

LIEN_BASE = "https://lecture.ase.test"
REF = "referente@ase59.example.fr"

VEILLE_6H59_PARIS = datetime(2026, 11, 30, 5, 59, tzinfo=UTC)
"""06:59 in Paris (UTC+1 in winter): the digest is not due yet."""
SEPT_HEURES_PARIS = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
"""07:00 in Paris: the digest hour."""


@pytest.fixture
async def pool(base_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(base_url, min_size=1, max_size=6)
    await creer_tables(pool)
    yield pool
    await pool.close()


@pytest.fixture
def smtp() -> Iterator[ServeurSmtp]:
    serveur = ServeurSmtp()
    serveur.demarrer()
    yield serveur
    serveur.arreter()


def reglages(serveur: ServeurSmtp, **autres: object) -> NotificationsSettings:
    valeurs: dict[str, object] = {
        "smtp_hote": "127.0.0.1",
        "smtp_port": serveur.port,
        "smtp_securite": "aucune",
        "lien_base": LIEN_BASE,
        "digest_heure": 7,
        "smtp_timeout_s": 5.0,
        "courriels_intervalle_s": 0.02,
        **autres,
    }
    return NotificationsSettings.model_validate(valeurs)


def envoyes(nature: str) -> float:
    return REGISTRE.get_sample_value("ase_courriels_envoyes_total", {"nature": nature}) or 0.0


async def etats(pool: asyncpg.Pool) -> list[tuple[str, str, int]]:
    lignes = await pool.fetch("SELECT nature, etat, tentatives FROM notifications.courriels ORDER BY id")
    return [(ligne["nature"], ligne["etat"], ligne["tentatives"]) for ligne in lignes]


async def test_an_urgent_alert_is_mailed_at_once_saying_what_by_when_why_and_the_link_and_nothing_else(
    pool: asyncpg.Pool, smtp: ServeurSmtp
) -> None:
    await destinataire(pool, "ref-1", REF)
    urgente = alerte(
        urgente=True,
        due_le=date(2026, 12, 3),
        type_="rapport_juge",
        attendu="Transmettre le rapport au juge des enfants",
        article="CPC 1199-1",
    )
    await publier(pool, EvenementAlerte.LEVEE, urgente)
    envoyes_avant = envoyes("urgent")

    with capture_logs() as journal:
        bilan = await courriels.un_tour(pool, reglages(smtp), HorlogeFixe(MAINTENANT))

    assert (bilan.changements, bilan.envoyes) == (1, 1)
    (recu,) = smtp.boite.tous()
    assert recu.destinataires == [REF]
    assert recu.expediteur == "notifications@parcours-ase.invalid"
    lien = f"{LIEN_BASE}/v1/dossiers/{urgente.parcours_id}"
    assert recu.message["Subject"] == (
        "[Parcours ASE] Urgent : Transmettre le rapport au juge des enfants, au plus tard le jeudi 3 décembre 2026"
    )
    assert recu.message["To"] == REF
    assert recu.message["Auto-Submitted"] == "auto-generated"
    assert recu.message["Message-ID"].endswith("@parcours-ase.invalid>")
    # The whole text part, line by line: what is due, by when, why, the link, the alert's id; nothing else.
    assert recu.partie("plain").splitlines() == [
        "Échéance urgente : elle se compte en jours.",
        "",
        "- À faire : Transmettre le rapport au juge des enfants",
        "  Au plus tard le : jeudi 3 décembre 2026 (dans 3 jours)",
        "  Pourquoi : CPC 1199-1 (échéance « rapport_juge »)",
        f"  Dossier : {lien}",
        f"  Alerte : {urgente.alerte_id}",
        "",
        "--",
        "Message automatique de Parcours ASE : ne pas répondre.",
        "Le dossier se consulte par son lien, après connexion ; ce message ne contient aucune donnée nominative.",
    ]
    html = recu.partie("html")
    assert f'<a href="{lien}">' in html
    assert "jeudi 3 décembre 2026" in html
    assert "CPC 1199-1" in html
    assert await etats(pool) == [("urgent", "envoye", 1)]
    assert envoyes("urgent") == envoyes_avant + 1
    (ligne,) = [ligne for ligne in journal if ligne["event"] == "courriel_envoye"]
    assert ligne["alertes"] == [str(urgente.alerte_id)]
    assert "@" not in repr(journal)  # no address in any log line

    again = await courriels.un_tour(pool, reglages(smtp), HorlogeFixe(MAINTENANT + timedelta(days=1)))
    assert (again.changements, again.envoyes) == (0, 0)
    assert len(smtp.boite.tous()) == 1


async def test_the_digest_arrives_once_at_the_configured_hour_not_before_listing_the_alerts_soonest_first(
    pool: asyncpg.Pool, smtp: ServeurSmtp
) -> None:
    await destinataire(pool, "ref-1", REF)
    tard = alerte(due_le=date(2027, 1, 15), attendu="Préparer l'entretien d'autonomie", article="CASF L222-5-1")
    tot = alerte(due_le=date(2026, 12, 10), attendu="Établir le projet pour l'enfant (PPE)")
    milieu = alerte(due_le=date(2026, 12, 20), attendu="Renouveler la mesure", article="C. civ. 375")
    await publier(pool, EvenementAlerte.LEVEE, tard, tot, milieu)
    horloge = HorlogeFixe(VEILLE_6H59_PARIS)

    avant = await courriels.un_tour(pool, reglages(smtp), horloge)
    assert (avant.changements, avant.digests, avant.envoyes) == (3, 0, 0)
    assert smtp.boite.tous() == []

    horloge.regler(SEPT_HEURES_PARIS)
    a_l_heure = await courriels.un_tour(pool, reglages(smtp), horloge)
    assert (a_l_heure.digests, a_l_heure.envoyes) == (1, 1)
    (digest,) = smtp.boite.pour(REF)
    assert digest.message["Subject"] == "[Parcours ASE] 3 échéance(s) à suivre, synthèse du lundi 30 novembre 2026"
    texte = digest.partie("plain")
    positions = [texte.index(str(a.alerte_id)) for a in (tot, milieu, tard)]
    assert positions == sorted(positions)
    for a in (tot, milieu, tard):
        assert f"{LIEN_BASE}/v1/dossiers/{a.parcours_id}" in texte
    assert "jeudi 10 décembre 2026 (dans 10 jours)" in texte

    # Later the same day: no second digest, even with a new alert (it waits for tomorrow's).
    nouvelle = alerte(due_le=date(2026, 12, 31), attendu="Renouveler la mesure", article="C. civ. 375")
    await publier(pool, EvenementAlerte.LEVEE, nouvelle)
    horloge.regler(SEPT_HEURES_PARIS + timedelta(hours=10))
    await courriels.un_tour(pool, reglages(smtp), horloge)
    assert len(smtp.boite.pour(REF)) == 1

    horloge.regler(SEPT_HEURES_PARIS + timedelta(days=1))
    await courriels.un_tour(pool, reglages(smtp), horloge)
    premier, second = smtp.boite.pour(REF)
    assert premier is digest
    assert str(nouvelle.alerte_id) in second.partie("plain")
    assert str(tot.alerte_id) not in second.partie("plain")
    assert second.message["Message-ID"] != premier.message["Message-ID"]


async def test_two_loops_running_together_send_each_email_once(pool: asyncpg.Pool, smtp: ServeurSmtp) -> None:
    adresses = {f"ref-{n}": f"referent{n}@ase59.example.fr" for n in range(6)}
    for referent_id, email in adresses.items():
        await destinataire(pool, referent_id, email)
    for referent_id in adresses:
        await publier(
            pool,
            EvenementAlerte.LEVEE,
            alerte(referent=referent_id, due_le=date(2026, 12, 9)),
            alerte(referent=referent_id, due_le=date(2026, 12, 1), urgente=True),
        )
    horloge = HorlogeFixe(SEPT_HEURES_PARIS)
    arret = asyncio.Event()
    boucles = [asyncio.create_task(courriels.tourner(pool, reglages(smtp), horloge, arret)) for _ in range(2)]
    try:
        fin = time.monotonic() + 30
        while len(smtp.boite.tous()) < 2 * len(adresses):
            assert time.monotonic() < fin, f"{len(smtp.boite.tous())} e-mails received"
            await asyncio.sleep(0.02)
        # And a few rounds more of both loops, side by side, plus two at once here.
        await asyncio.gather(*(courriels.un_tour(pool, reglages(smtp), horloge) for _ in range(2)))
    finally:
        arret.set()
        await asyncio.gather(*boucles)

    for email in adresses.values():
        recus = smtp.boite.pour(email)
        sujets = sorted(r.message["Subject"] for r in recus)
        assert [s.split(" ")[2] for s in sujets] == ["1", "Urgent"]  # one digest, one urgent e-mail
    assert len(smtp.boite.tous()) == 2 * len(adresses)
    assert {etat for _, etat, _ in await etats(pool)} == {"envoye"}


async def test_an_escalation_is_mailed_to_the_referent_and_every_encadrant_of_its_departement_only(
    pool: asyncpg.Pool, smtp: ServeurSmtp
) -> None:
    await destinataire(pool, "ref-1", REF)
    await destinataire(pool, "enc-1", "encadrant1@ase59.example.fr", encadrant=True)
    await destinataire(pool, "enc-2", "encadrante2@ase59.example.fr", encadrant=True)
    await destinataire(pool, "enc-62", "encadrant@ase62.example.fr", departement="62", encadrant=True)
    await destinataire(pool, "ref-2", "autre.referent@ase59.example.fr")
    levee = alerte(due_le=date(2026, 11, 27))
    await publier(pool, EvenementAlerte.LEVEE, levee)
    escaladee = levee.model_copy(update={"niveau": Niveau.ENCADRANT})
    await publier(pool, EvenementAlerte.ESCALADEE, escaladee)

    await courriels.un_tour(pool, reglages(smtp), HorlogeFixe(SEPT_HEURES_PARIS))

    recus = smtp.boite.tous()
    assert sorted(a for r in recus for a in r.destinataires) == sorted(
        [REF, "encadrant1@ase59.example.fr", "encadrante2@ase59.example.fr"]
    )
    for recu in recus:
        assert len(recu.destinataires) == 1
        assert recu.message["To"] == recu.destinataires[0]  # nobody sees the others' addresses
        assert recu.message["Subject"].startswith("[Parcours ASE] Échéance dépassée : Établir le projet pour l'enfant")
        assert "dépassée depuis 3 jours" in recu.partie("plain")
        assert "encadrants du département 59" in recu.partie("plain")
    # Escalated: the digest line of the raised alert was dropped, no digest repeats it.
    assert [nature for nature, _, _ in await etats(pool)] == ["urgent"] * 3


async def test_an_email_is_sent_once_later_when_the_smtp_server_was_down_then_comes_up(pool: asyncpg.Pool) -> None:
    serveur = ServeurSmtp()  # not started: connections are refused
    await destinataire(pool, "ref-1", REF)
    await publier(pool, EvenementAlerte.LEVEE, alerte(urgente=True))
    horloge = HorlogeFixe(MAINTENANT)
    try:
        await courriels.un_tour(pool, reglages(serveur), horloge)
        assert await etats(pool) == [("urgent", "a_envoyer", 1)]

        serveur.demarrer()
        horloge.regler(MAINTENANT + timedelta(seconds=10))
        await courriels.un_tour(pool, reglages(serveur), horloge)
        assert serveur.boite.tous() == []  # the backoff has not elapsed
        assert await etats(pool) == [("urgent", "a_envoyer", 1)]
        assert REGISTRE.get_sample_value("ase_courriels_attente_secondes") == 10

        horloge.regler(MAINTENANT + timedelta(seconds=reglages(serveur).smtp_delai_initial_s))
        await courriels.un_tour(pool, reglages(serveur), horloge)
        await courriels.un_tour(pool, reglages(serveur), horloge)
        assert len(serveur.boite.pour(REF)) == 1
        assert await etats(pool) == [("urgent", "envoye", 2)]
        assert REGISTRE.get_sample_value("ase_courriels_attente_secondes") == 0
    finally:
        serveur.arreter()


async def test_an_email_is_given_up_after_the_configured_number_of_tries(pool: asyncpg.Pool) -> None:
    serveur = ServeurSmtp()  # never started
    await destinataire(pool, "ref-1", REF)
    await publier(pool, EvenementAlerte.LEVEE, alerte(urgente=True))
    settings = reglages(serveur, smtp_tentatives_max=3)
    horloge = HorlogeFixe(MAINTENANT)
    for n in range(5):
        horloge.regler(MAINTENANT + timedelta(seconds=n * settings.smtp_delai_max_s))
        await courriels.un_tour(pool, settings, horloge)
    assert await etats(pool) == [("urgent", "echec", 3)]


async def test_an_email_claimed_by_a_sender_that_crashed_is_sent_when_its_lease_ends(
    pool: asyncpg.Pool, smtp: ServeurSmtp
) -> None:
    await destinataire(pool, "ref-1", REF)
    await publier(pool, EvenementAlerte.LEVEE, alerte(urgente=True))
    settings = reglages(smtp)
    horloge = HorlogeFixe(MAINTENANT)
    await courriels.planifier(pool, settings, horloge)
    assert await courriels._reclamer(pool, settings, MAINTENANT) is not None  # then the process dies

    await courriels.un_tour(pool, settings, horloge)
    assert smtp.boite.tous() == []  # held by the lease

    horloge.regler(MAINTENANT + timedelta(seconds=courriels.bail_s(settings)))
    await courriels.un_tour(pool, settings, horloge)
    assert len(smtp.boite.pour(REF)) == 1
    assert await etats(pool) == [("urgent", "envoye", 2)]


async def test_a_closed_or_acknowledged_alert_leaves_the_digest(pool: asyncpg.Pool, smtp: ServeurSmtp) -> None:
    await destinataire(pool, "ref-1", REF)
    close, acquittee, restante = alerte(), alerte(), alerte(due_le=date(2026, 12, 24))
    await publier(pool, EvenementAlerte.LEVEE, close, acquittee, restante)
    await publier(pool, EvenementAlerte.CLOSE, close)
    await publier(pool, EvenementAlerte.ACQUITTEE, acquittee)

    await courriels.un_tour(pool, reglages(smtp), HorlogeFixe(SEPT_HEURES_PARIS))

    (digest,) = smtp.boite.pour(REF)
    texte = digest.partie("plain")
    assert str(restante.alerte_id) in texte
    assert str(close.alerte_id) not in texte
    assert str(acquittee.alerte_id) not in texte


async def test_alerts_of_a_referent_without_an_address_are_mailed_to_nobody(
    pool: asyncpg.Pool, smtp: ServeurSmtp
) -> None:
    await publier(pool, EvenementAlerte.LEVEE, alerte(urgente=True, referent="ref-sans-adresse"), alerte(referent=None))
    bilan = await courriels.un_tour(pool, reglages(smtp), HorlogeFixe(SEPT_HEURES_PARIS))
    assert bilan.changements == 2
    assert await etats(pool) == []
    assert smtp.boite.tous() == []


async def test_without_an_smtp_server_set_the_outbox_is_read_and_nothing_is_queued(pool: asyncpg.Pool) -> None:
    await destinataire(pool, "ref-1", REF)
    await publier(pool, EvenementAlerte.LEVEE, alerte(urgente=True), alerte())
    settings = NotificationsSettings.model_validate({"smtp_hote": None, "lien_base": LIEN_BASE})

    bilan = await courriels.un_tour(pool, settings, HorlogeFixe(SEPT_HEURES_PARIS))

    assert (bilan.changements, bilan.digests, bilan.envoyes) == (2, 0, 0)
    assert await etats(pool) == []
    assert await pool.fetchval("SELECT count(*) FROM notifications.lignes_digest") == 0
    assert await pool.fetchval("SELECT position FROM notifications.curseurs WHERE consommateur = 'courriels'") == 2


async def test_an_urgent_email_not_sent_yet_is_cancelled_when_its_alert_closes(pool: asyncpg.Pool) -> None:
    serveur = ServeurSmtp()  # down while the alert is raised
    await destinataire(pool, "ref-1", REF)
    urgente = alerte(urgente=True)
    await publier(pool, EvenementAlerte.LEVEE, urgente)
    horloge = HorlogeFixe(MAINTENANT)
    await courriels.un_tour(pool, reglages(serveur), horloge)
    await publier(pool, EvenementAlerte.CLOSE, urgente.model_copy(update={"statut": StatutAlerte.CLOSE}))
    serveur.demarrer()
    try:
        horloge.regler(MAINTENANT + timedelta(days=1))
        await courriels.un_tour(pool, reglages(serveur), horloge)
        assert serveur.boite.tous() == []
        assert await etats(pool) == [("urgent", "annule", 1)]
    finally:
        serveur.arreter()


async def test_an_email_refused_for_good_by_the_server_is_not_retried(pool: asyncpg.Pool, smtp: ServeurSmtp) -> None:
    smtp.boite.refusees.add(REF)
    await destinataire(pool, "ref-1", REF)
    await publier(pool, EvenementAlerte.LEVEE, alerte(urgente=True))
    horloge = HorlogeFixe(MAINTENANT)
    rejetes_avant = REGISTRE.get_sample_value("ase_courriels_echecs_total", {"nature": "urgent", "issue": "rejete"})

    await courriels.un_tour(pool, reglages(smtp), horloge)
    horloge.regler(MAINTENANT + timedelta(days=1))
    await courriels.un_tour(pool, reglages(smtp), horloge)

    assert await etats(pool) == [("urgent", "rejete", 1)]
    assert smtp.boite.tous() == []
    rejetes = REGISTRE.get_sample_value("ase_courriels_echecs_total", {"nature": "urgent", "issue": "rejete"})
    assert (rejetes or 0) == (rejetes_avant or 0) + 1


@pytest.mark.parametrize("securite", ["starttls", "tls"])
async def test_an_email_goes_over_tls_to_a_server_whose_certificate_is_verified(
    pool: asyncpg.Pool, tmp_path: Path, securite: Literal["starttls", "tls"]
) -> None:
    serveur = ServeurSmtp(securite, tmp_path / "tls")
    serveur.demarrer()
    try:
        await destinataire(pool, "ref-1", REF)
        await publier(pool, EvenementAlerte.LEVEE, alerte(urgente=True))
        horloge = HorlogeFixe(MAINTENANT)

        # Without its authority the server's certificate is refused: nothing leaves in clear, it is retried.
        await courriels.un_tour(pool, reglages(serveur, smtp_securite=securite), horloge)
        assert serveur.boite.tous() == []
        assert await etats(pool) == [("urgent", "a_envoyer", 1)]

        horloge.regler(MAINTENANT + timedelta(hours=1))
        await courriels.un_tour(pool, reglages(serveur, smtp_securite=securite, smtp_ca_fichier=serveur.ca), horloge)
        assert len(serveur.boite.pour(REF)) == 1
        assert await etats(pool) == [("urgent", "envoye", 2)]
    finally:
        serveur.arreter()


async def test_a_59_alert_of_ref59new_is_not_mailed_to_spy_cd62_set_by_an_encadrant_of_62(
    pool: asyncpg.Pool, smtp: ServeurSmtp
) -> None:
    """Reviewer's example: recipients were keyed by referent_id alone, so 62's record caught 59's e-mails."""
    await destinataire(pool, "ref59new", "spy@cd62.fr", departement="62")
    urgente, digeree = alerte(urgente=True, referent="ref59new"), alerte(referent="ref59new")
    await publier(pool, EvenementAlerte.LEVEE, urgente, digeree)

    await courriels.un_tour(pool, reglages(smtp), HorlogeFixe(SEPT_HEURES_PARIS))
    assert smtp.boite.tous() == []  # 59 keeps no address for ref59new yet: nobody
    assert await etats(pool) == []

    await destinataire(pool, "ref59new", "ref59new@ase59.example.fr")
    autres = alerte(urgente=True, referent="ref59new"), alerte(referent="ref59new")
    await publier(pool, EvenementAlerte.LEVEE, *autres)
    await courriels.un_tour(pool, reglages(smtp), HorlogeFixe(SEPT_HEURES_PARIS + timedelta(minutes=1)))

    assert smtp.boite.pour("spy@cd62.fr") == []
    assert len(smtp.boite.tous()) == 2
    recus = smtp.boite.pour("ref59new@ase59.example.fr")
    (urgent,) = [r for r in recus if r.message["Subject"].startswith("[Parcours ASE] Urgent")]
    assert str(autres[0].alerte_id) in urgent.partie("plain")
    (digest,) = [r for r in recus if r is not urgent]
    assert str(autres[1].alerte_id) in digest.partie("plain")
    assert sorted(await etats(pool)) == [("digest", "envoye", 1), ("urgent", "envoye", 1)]


async def test_after_a_transfer_to_62_then_referent_ref62_the_digest_goes_to_ref62_not_ref59(
    pool: asyncpg.Pool, smtp: ServeurSmtp
) -> None:
    """Reviewer's example: the digest followed the référent at raise time, not the dossier."""
    await destinataire(pool, "ref59", "ref59@ase59.example.fr")
    await destinataire(pool, "ref62", "ref62@ase62.example.fr", departement="62")
    levee = alerte(referent="ref59")
    await publier(pool, EvenementAlerte.LEVEE, levee)
    await courriels.un_tour(pool, reglages(smtp), HorlogeFixe(VEILLE_6H59_PARIS))

    transferee = levee.model_copy(update={"departement": "62"})  # the référent of 59 kept until 62 names one
    await publier(pool, EvenementAlerte.REAFFECTEE, transferee)
    await publier(pool, EvenementAlerte.REAFFECTEE, transferee.model_copy(update={"referent_id": "ref62"}))
    await courriels.un_tour(pool, reglages(smtp), HorlogeFixe(SEPT_HEURES_PARIS))

    assert smtp.boite.pour("ref59@ase59.example.fr") == []
    (digest,) = smtp.boite.tous()
    assert digest.destinataires == ["ref62@ase62.example.fr"]
    assert str(levee.alerte_id) in digest.partie("plain")
    assert await etats(pool) == [("digest", "envoye", 1)]
    assert await pool.fetchval("SELECT count(*) FROM notifications.lignes_digest") == 0


async def test_an_alert_raised_while_the_referent_was_null_is_mailed_once_a_referent_is_assigned(
    pool: asyncpg.Pool, smtp: ServeurSmtp
) -> None:
    await destinataire(pool, "ref-1", REF)
    urgente, digeree = alerte(urgente=True, referent=None), alerte(referent=None)
    await publier(pool, EvenementAlerte.LEVEE, urgente, digeree)
    await courriels.un_tour(pool, reglages(smtp), HorlogeFixe(VEILLE_6H59_PARIS))
    assert smtp.boite.tous() == []

    await publier(
        pool,
        EvenementAlerte.REAFFECTEE,
        urgente.model_copy(update={"referent_id": "ref-1"}),
        digeree.model_copy(update={"referent_id": "ref-1"}),
    )
    await courriels.un_tour(pool, reglages(smtp), HorlogeFixe(SEPT_HEURES_PARIS))

    recus = smtp.boite.pour(REF)
    assert len(recus) == 2
    (urgent,) = [r for r in recus if r.message["Subject"].startswith("[Parcours ASE] Urgent")]
    assert str(urgente.alerte_id) in urgent.partie("plain")
    (digest,) = [r for r in recus if r is not urgent]
    assert str(digeree.alerte_id) in digest.partie("plain")
    assert sorted(await etats(pool)) == [("digest", "envoye", 1), ("urgent", "envoye", 1)]


async def test_an_urgent_email_not_sent_yet_follows_its_alert_to_the_new_referent(pool: asyncpg.Pool) -> None:
    serveur = ServeurSmtp()  # down while the alert is raised
    await destinataire(pool, "ref-1", REF)
    await destinataire(pool, "ref-2", "ref2@ase59.example.fr")
    urgente = alerte(urgente=True)
    await publier(pool, EvenementAlerte.LEVEE, urgente)
    horloge = HorlogeFixe(MAINTENANT)
    await courriels.un_tour(pool, reglages(serveur), horloge)
    await publier(pool, EvenementAlerte.REAFFECTEE, urgente.model_copy(update={"referent_id": "ref-2"}))
    serveur.demarrer()
    try:
        horloge.regler(MAINTENANT + timedelta(hours=1))
        await courriels.un_tour(pool, reglages(serveur), horloge)
        (recu,) = serveur.boite.tous()
        assert recu.destinataires == ["ref2@ase59.example.fr"]
        assert sorted(await etats(pool)) == [("urgent", "annule", 1), ("urgent", "envoye", 1)]
    finally:
        serveur.arreter()


async def test_a_reassignment_keeping_the_recipient_does_not_mail_the_urgent_alert_twice(pool: asyncpg.Pool) -> None:
    serveur = ServeurSmtp()  # down: the first e-mail is still waiting when the change is read
    await destinataire(pool, "ref-1", REF)
    urgente = alerte(urgente=True)
    await publier(pool, EvenementAlerte.LEVEE, urgente)
    horloge = HorlogeFixe(MAINTENANT)
    await courriels.un_tour(pool, reglages(serveur), horloge)
    await publier(pool, EvenementAlerte.REAFFECTEE, urgente)
    serveur.demarrer()
    try:
        horloge.regler(MAINTENANT + timedelta(hours=1))
        await courriels.un_tour(pool, reglages(serveur), horloge)
        assert [r.destinataires for r in serveur.boite.tous()] == [[REF]]
        assert await etats(pool) == [("urgent", "envoye", 2)]
    finally:
        serveur.arreter()


async def test_an_escalated_alert_transferred_to_62_goes_to_62s_encadrants_and_a_closed_one_to_nobody(
    pool: asyncpg.Pool, smtp: ServeurSmtp
) -> None:
    await destinataire(pool, "enc-59", "encadrant@ase59.example.fr", encadrant=True)
    await destinataire(pool, "enc-62", "encadrant@ase62.example.fr", departement="62", encadrant=True)
    await destinataire(pool, "ref-1", "ref1@ase62.example.fr", departement="62")
    escaladee = alerte(due_le=date(2026, 11, 27), niveau=Niveau.ENCADRANT)
    close = alerte(referent=None)
    await publier(pool, EvenementAlerte.REAFFECTEE, escaladee.model_copy(update={"departement": "62"}))
    await publier(
        pool,
        EvenementAlerte.REAFFECTEE,
        close.model_copy(update={"departement": "62", "referent_id": "ref-1", "statut": StatutAlerte.CLOSE}),
    )

    await courriels.un_tour(pool, reglages(smtp), HorlogeFixe(SEPT_HEURES_PARIS))

    assert sorted(a for r in smtp.boite.tous() for a in r.destinataires) == [
        "encadrant@ase62.example.fr",
        "ref1@ase62.example.fr",
    ]
    for recu in smtp.boite.tous():
        assert str(escaladee.alerte_id) in recu.partie("plain")
        assert str(close.alerte_id) not in recu.partie("plain")
