"""An e-mail's link opens the dossier on the read API, for those allowed to read it; the e-mail names no one."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import date
from uuid import UUID

import asyncpg
import pytest

from contracts.alertes import EvenementAlerte, identifiant_alerte, lien_dossier
from services.notifications import courriels
from services.notifications.settings import NotificationsSettings
from services.runtime.horloge import HorlogeFixe
from tests.integration.api_parcours import NE_LE, NOM, PRENOMS, ouvrir
from tests.integration.conftest import AUJOURD_HUI, Lecture
from tests.integration.smtp_local import ServeurSmtp, alerte, creer_tables, destinataire, publier

LIEN_BASE = "http://lecture.test"
"""The read API's base as the test's client knows it."""


@pytest.fixture
async def pool(base_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(base_url, min_size=1, max_size=4)
    await creer_tables(pool)
    yield pool
    await pool.close()


async def test_the_link_of_an_urgent_email_opens_the_dossier_and_the_email_holds_no_name_nor_birth_date(
    lecture: Lecture, pool: asyncpg.Pool
) -> None:
    parcours_id = UUID((await ouvrir(lecture.api, date(2026, 11, 2)))["id"])
    await lecture.a_jour()
    due_le = date(2026, 12, 1)
    urgente = alerte(urgente=True, due_le=due_le).model_copy(
        update={
            "parcours_id": parcours_id,
            "alerte_id": identifiant_alerte(parcours_id, "ppe", "", due_le),
            "lien": lien_dossier(parcours_id),
        }
    )
    serveur = ServeurSmtp()
    serveur.demarrer()
    try:
        await destinataire(pool, "ref-1", "referente@ase59.example.fr")
        await publier(pool, EvenementAlerte.LEVEE, urgente)
        reglages = NotificationsSettings.model_validate(
            {"smtp_hote": "127.0.0.1", "smtp_port": serveur.port, "smtp_securite": "aucune", "lien_base": LIEN_BASE}
        )
        await courriels.un_tour(pool, reglages, HorlogeFixe(AUJOURD_HUI))
        (recu,) = serveur.boite.tous()
    finally:
        serveur.arreter()

    brut = recu.message.as_string()
    texte = recu.partie("plain") + recu.partie("html") + str(recu.message["Subject"])
    for personnel in (NOM, PRENOMS, NE_LE.isoformat(), NE_LE.strftime("%d/%m/%Y"), "3 mai 2012"):
        assert personnel not in texte
        assert personnel not in brut
    (lien,) = set(re.findall(rf"{re.escape(LIEN_BASE)}/v1/dossiers/[0-9a-f-]+", texte))
    assert lien == f"{LIEN_BASE}/v1/dossiers/{parcours_id}"

    dossier = await lecture.get(lien.removeprefix(LIEN_BASE), role="referent")
    assert dossier.status_code == 200, dossier.text
    assert dossier.json()["parcours_id"] == str(parcours_id)
    assert NOM in dossier.text  # the identity is behind the link, for those allowed to read it
    ailleurs = await lecture.get(lien.removeprefix(LIEN_BASE), role="referent", departements=("62",))
    assert ailleurs.status_code == 404
