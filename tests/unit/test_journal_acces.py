"""The access log's writer on the write side, over the in-memory event store (no database)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import httpx
import pytest
from anyio import CapacityLimiter
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives.asymmetric import ec

from services.parcours.api.app import creer_app
from services.parcours.api.dependances import Composants
from services.parcours.application import ParcoursApplication
from services.projections.readmodels.audit import Responsabilite, Vue, vue_de_l_auditeur
from services.runtime.auth import CleDeDeveloppement
from services.runtime.horloge import HorlogeFixe
from services.runtime.journal_acces import JournalAccesMemoire, Lecture, ParcoursLu, journal_de_magasin

OUVERTURE = {
    "personne": {"nom": "Lemaire", "prenoms": "Zoé", "date_naissance": "2012-05-03", "sexe": "F"},
    "departement": "59",
    "date_effet": "2026-11-01",
}


@dataclass
class Ecriture:
    client: httpx.AsyncClient
    cle: CleDeDeveloppement
    journal: JournalAccesMemoire

    def jeton(self, role: str = "referent", sub: str = "referente-alice") -> dict[str, str]:
        return {"Authorization": "Bearer " + self.cle.signer(sub=sub, roles=[role], departements=["59"])}


@pytest.fixture
async def ecriture() -> AsyncIterator[Ecriture]:
    application = ParcoursApplication(horloge=HorlogeFixe(datetime(2026, 11, 28, 10, tzinfo=UTC)))
    cle = CleDeDeveloppement(ec.generate_private_key(ec.SECP256R1()))
    comp = Composants(application=application, verificateur=cle, limiteur=CapacityLimiter(2))
    assert isinstance(comp.journal, JournalAccesMemoire), "an in-memory store gets an in-memory access log"
    app = creer_app(composants=comp)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parcours.test") as client,
    ):
        yield Ecriture(client, cle, comp.journal)


async def ouvrir(e: Ecriture) -> str:
    reponse = await e.client.post("/v1/parcours", json=OUVERTURE, headers=e.jeton())
    assert reponse.status_code == 201, reponse.text
    return str(reponse.json()["id"])


async def test_get_parcours_and_its_evenements_name_the_dossier_in_the_access_log(ecriture: Ecriture) -> None:
    pid = await ouvrir(ecriture)
    assert ecriture.journal.lectures == [], "a command echoes no personal data: nothing to record"

    etat = await ecriture.client.get(f"/v1/parcours/{pid}", headers=ecriture.jeton())
    flux = await ecriture.client.get(f"/v1/parcours/{pid}/evenements", headers=ecriture.jeton(sub="encadrant-b"))

    assert etat.status_code == flux.status_code == 200
    assert [(x.sub, x.service, x.methode, x.route, x.chemin, x.parcours) for x in ecriture.journal.lectures] == [
        (
            "referente-alice",
            "parcours",
            "GET",
            "/v1/parcours/{parcours_id}",
            f"/v1/parcours/{pid}",
            (ParcoursLu(UUID(pid), "59"),),
        ),
        (
            "encadrant-b",
            "parcours",
            "GET",
            "/v1/parcours/{parcours_id}/evenements",
            f"/v1/parcours/{pid}/evenements",
            (ParcoursLu(UUID(pid), "59"),),
        ),
    ]


async def test_a_write_side_read_whose_access_line_cannot_be_written_is_a_503_without_the_data(
    ecriture: Ecriture,
) -> None:
    pid = await ouvrir(ecriture)
    ecriture.journal.en_panne = True

    for chemin in (f"/v1/parcours/{pid}", f"/v1/parcours/{pid}/evenements"):
        reponse = await ecriture.client.get(chemin, headers=ecriture.jeton())
        assert reponse.status_code == 503, reponse.text
        assert reponse.headers["content-type"].startswith("application/problem+json")
        assert reponse.json()["code"] == "indisponible"
        assert "2012" not in reponse.text
        assert "Lemaire" not in reponse.text


async def test_a_read_refused_as_unknown_is_not_recorded(ecriture: Ecriture) -> None:
    reponse = await ecriture.client.get("/v1/parcours/00000000-0000-4000-8000-000000000000", headers=ecriture.jeton())

    assert reponse.status_code == 404
    assert ecriture.journal.lectures == []


def test_a_read_that_returned_nobody_is_one_line_without_a_parcours() -> None:
    vide = Lecture("s", "projections", "GET", "/v1/dossiers", "/v1/dossiers?q=x", {"q": ["x"]}, ("59",))
    deux = Lecture(
        "s",
        "projections",
        "GET",
        "/v1/dossiers",
        "/v1/dossiers",
        {},
        ("59", "62"),
        (ParcoursLu(UUID(int=1), "59"), ParcoursLu(UUID(int=2), "62")),
    )

    assert vide.arguments()[-2:] == ([None], [None])
    assert vide.arguments()[6] == '{"q": ["x"]}'
    assert deux.arguments()[-3:] == (2, [UUID(int=1), UUID(int=2)], ["59", "62"])


def test_a_store_without_a_database_gets_the_in_memory_log_and_a_postgres_one_its_pool() -> None:
    class Datastore:
        def get_connection(self) -> None:
            raise AssertionError("not called")

    class Enregistreur:
        datastore = Datastore()

    assert isinstance(journal_de_magasin(object()), JournalAccesMemoire)
    assert type(journal_de_magasin(Enregistreur())).__name__ == "JournalAccesPsycopg"


def _periode(departement: str, depuis: int, jusqu_a: int | None) -> Responsabilite:
    return Responsabilite(departement, depuis, jusqu_a, datetime(2026, 1, depuis, tzinfo=UTC), None)


def test_each_departement_that_was_responsible_sees_its_period_and_the_current_one_everything() -> None:
    aller_retour = [_periode("59", 1, 3), _periode("62", 3, 5), _periode("59", 5, None)]
    en_chaine = [_periode("59", 1, 3), _periode("62", 3, 5), _periode("75", 5, None)]

    assert vue_de_l_auditeur(aller_retour, frozenset({"59"})) == Vue("59", None)
    assert vue_de_l_auditeur(aller_retour, frozenset({"62"})) == Vue("62", 5)
    assert vue_de_l_auditeur(en_chaine, frozenset({"59"})) == Vue("59", 3)
    assert vue_de_l_auditeur(en_chaine, frozenset({"62", "59"})) == Vue("62", 5)
    assert vue_de_l_auditeur(en_chaine, frozenset({"75"})) == Vue("75", None)
    assert vue_de_l_auditeur(en_chaine, frozenset({"13"})) is None
    assert vue_de_l_auditeur([], frozenset({"59"})) is None
