"""``/v1/destinataires/{referent_id}``: the addresses e-mails go to, kept by the encadrants of a département."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from services.notifications.api.routes_destinataires import routeur
from services.runtime import problemes
from services.runtime.auth import CleDeDeveloppement, Verificateur
from tests.integration.smtp_local import creer_tables


@dataclass
class Composants:
    pool: asyncpg.Pool
    verificateur: Verificateur


@dataclass
class Client:
    http: httpx.AsyncClient
    cle: CleDeDeveloppement

    def jeton(self, role: str = "encadrant", departements: tuple[str, ...] = ("59",), sub: str = "chef") -> str:
        return "Bearer " + self.cle.signer(sub=sub, roles=[role], departements=list(departements))

    async def put(self, referent_id: str, corps: Any, **jeton: Any) -> httpx.Response:
        return await self.http.put(
            f"/v1/destinataires/{referent_id}", json=corps, headers={"Authorization": self.jeton(**jeton)}
        )

    async def get(self, referent_id: str, *, departement: str | None = None, **jeton: Any) -> httpx.Response:
        return await self.http.get(
            f"/v1/destinataires/{referent_id}",
            params={} if departement is None else {"departement": departement},
            headers={"Authorization": self.jeton(**jeton)},
        )

    async def delete(self, referent_id: str, *, departement: str | None = None, **jeton: Any) -> httpx.Response:
        return await self.http.delete(
            f"/v1/destinataires/{referent_id}",
            params={} if departement is None else {"departement": departement},
            headers={"Authorization": self.jeton(**jeton)},
        )


@pytest.fixture
async def client(base_url: str, tmp_path: Path) -> AsyncIterator[Client]:
    pool = await asyncpg.create_pool(base_url, min_size=1, max_size=4)
    await creer_tables(pool)
    cle = CleDeDeveloppement.dans(tmp_path / "cles")
    app = FastAPI()
    problemes.installer(app)
    app.include_router(routeur)
    app.state.courriels = Composants(pool=pool, verificateur=cle)
    try:
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notifications.test") as http,
        ):
            yield Client(http, cle)
    finally:
        await pool.close()


def probleme(reponse: httpx.Response, statut: int) -> dict[str, Any]:
    assert reponse.status_code == statut, reponse.text
    assert reponse.headers["content-type"] == "application/problem+json"
    corps: dict[str, Any] = reponse.json()
    return corps


async def test_an_encadrant_keeps_reads_and_forgets_the_address_of_a_referent_of_its_departement(
    client: Client,
) -> None:
    mise = await client.put("ref-1", {"email": "Referente@ASE59.Example.fr"})
    assert mise.status_code == 200, mise.text
    garde = mise.json()
    assert {k: garde[k] for k in ("referent_id", "departement", "email", "encadrant")} == {
        "referent_id": "ref-1",
        "departement": "59",
        "email": "Referente@ase59.example.fr",
        "encadrant": False,
    }
    assert (await client.get("ref-1")).json() == garde

    changee = await client.put("ref-1", {"email": "referente@ase59.example.fr", "encadrant": True})
    assert changee.json()["encadrant"] is True
    assert (await client.delete("ref-1")).status_code == 204
    probleme(await client.get("ref-1"), 404)


async def test_a_referent_may_not_set_an_address_403(client: Client) -> None:
    corps = probleme(await client.put("ref-1", {"email": "moi@ase59.example.fr"}, role="referent"), 403)
    assert corps["code"] == "interdit"
    probleme(await client.get("ref-1", role="referent"), 403)


@pytest.mark.parametrize(
    "email",
    [
        "a@ase59.example.fr\r\nBcc: tous@ailleurs.example",
        "a@ase59.example.fr\nSubject: piege",
        "a@ase59.example.fr\r",
        "a@ase59.example.fr, b@ailleurs.example",
        "Nom <a@ase59.example.fr>",
        '"a\r\nb"@ase59.example.fr',
        "a@ase59.example.fr\x00",
        "a@ase59.example.fr\u2028",
        "a\t@ase59.example.fr",
        "a@@ase59.example.fr",
        "a@localhost",
        "",
        "a" * 250 + "@b.fr",
        "é@ase59.example.fr",
    ],
)
async def test_an_address_that_could_add_a_header_or_is_malformed_is_refused_422(client: Client, email: str) -> None:
    corps = probleme(await client.put("ref-1", {"email": email}), 422)
    assert corps["errors"][0]["champ"] == "email"
    probleme(await client.get("ref-1"), 404)


async def test_a_recipient_of_another_departement_is_neither_shown_nor_taken_over(client: Client) -> None:
    assert (await client.put("ref-62", {"email": "ref@ase62.example.fr"}, departements=("62",))).status_code == 200

    probleme(await client.get("ref-62"), 404)
    probleme(await client.delete("ref-62"), 404)
    probleme(await client.get("ref-62", departement="62"), 403)
    probleme(await client.delete("ref-62", departement="62"), 403)
    probleme(await client.put("ref-1", {"email": "ref@ase59.example.fr", "departement": "62"}), 403)
    # The same id in 59 is 59's own recipient: created, 62's left as it was.
    mien = await client.put("ref-62", {"email": "moi@ase59.example.fr"})
    assert mien.status_code == 200, mien.text
    assert mien.json()["departement"] == "59"
    assert (await client.get("ref-62", departements=("62",))).json()["email"] == "ref@ase62.example.fr"


async def test_an_encadrant_of_62_cannot_take_over_the_address_of_59s_referent_ref59new(client: Client) -> None:
    """Reviewer's example: PUT ref59new by 62 made 59's e-mails go to spy@cd62.fr and locked 59 out of its record."""
    espion = await client.put("ref59new", {"email": "spy@cd62.fr"}, departements=("62",), sub="chef62")
    assert espion.status_code == 200, espion.text
    assert espion.json()["departement"] == "62"

    # 59's encadrant still reads nothing of 62's record, then keeps its own, then reads, changes and forgets it.
    probleme(await client.get("ref59new"), 404)
    probleme(await client.delete("ref59new"), 404)
    mise = await client.put("ref59new", {"email": "ref59new@ase59.example.fr"})
    assert mise.status_code == 200, mise.text
    assert (mise.json()["departement"], mise.json()["email"]) == ("59", "ref59new@ase59.example.fr")
    assert (await client.get("ref59new")).json()["email"] == "ref59new@ase59.example.fr"

    # 62 rewriting "its" ref59new touches only 62's record, and learns nothing of 59's.
    encore = await client.put("ref59new", {"email": "spy2@cd62.fr"}, departements=("62",), sub="chef62")
    assert encore.status_code == 200, encore.text
    assert (encore.json()["departement"], encore.json()["email"]) == ("62", "spy2@cd62.fr")
    assert (await client.get("ref59new")).json()["email"] == "ref59new@ase59.example.fr"
    assert (await client.delete("ref59new", departements=("62",))).status_code == 204
    assert (await client.get("ref59new")).json()["email"] == "ref59new@ase59.example.fr"
    assert (await client.delete("ref59new")).status_code == 204
    probleme(await client.get("ref59new"), 404)


async def test_an_encadrant_of_several_departements_names_the_recipients_departement(client: Client) -> None:
    deux = ("59", "62")
    corps = probleme(await client.put("ref-1", {"email": "ref@ase.example.fr"}, departements=deux), 422)
    assert corps["errors"][0]["champ"] == "departement"
    nomme = await client.put("ref-1", {"email": "ref@ase.example.fr", "departement": "62"}, departements=deux)
    assert nomme.json()["departement"] == "62"
    probleme(await client.get("ref-1", departements=deux), 422)
    probleme(await client.get("ref-1", departement="59", departements=deux), 404)
    assert (await client.get("ref-1", departement="62", departements=deux)).json()["email"] == "ref@ase.example.fr"
    assert (await client.delete("ref-1", departement="62", departements=deux)).status_code == 204


async def test_a_body_or_a_referent_id_out_of_bounds_is_refused_422(client: Client) -> None:
    probleme(await client.put("ref-1", {"email": "a@b.fr", "nom": "Dupont"}), 422)
    probleme(await client.put("ref-1", {"email": "a@b.fr", "departement": "99"}), 422)
    probleme(await client.put("ref%07", {"email": "a@b.fr"}), 422)
    probleme(await client.put("r" * 201, {"email": "a@b.fr"}), 422)
    probleme(await client.put("ref-1", ["a@b.fr"]), 422)


async def test_without_a_token_401_and_the_schema_states_the_address_pattern(client: Client) -> None:
    probleme(await client.http.put("/v1/destinataires/ref-1", json={"email": "a@b.fr"}), 401)
    document = (await client.http.get("/openapi.json")).json()
    schema = document["components"]["schemas"]["DestinataireSaisi"]["properties"]["email"]
    assert schema["pattern"].startswith("^(?=.{1,64}@)")
    assert schema["maxLength"] == 254
