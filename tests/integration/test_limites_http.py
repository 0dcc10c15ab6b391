"""The edge limits against a real uvicorn on 127.0.0.1: where those faults lived, in the server.

Each test talks raw HTTP/1.1 over a socket, bounded in bytes and in time, and
stops by itself: a fault shows as an answer that never comes (the read times
out) or a connection that stays open to the end of the loop.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio
import uvicorn
from anyio import CapacityLimiter

from services.parcours.api.app import creer_app
from services.parcours.api.dependances import Composants
from services.runtime.auth import CleDeDeveloppement
from services.runtime.horloge import HorlogeFixe
from services.runtime.limites import LimitesHTTP, config_uvicorn
from tests.integration.conftest import AUJOURD_HUI, nouvelle_application

pytestmark = pytest.mark.asyncio(loop_scope="module")

LIMITES = LimitesHTTP(delai_requete=1.0, delai_inactivite=1)
"""The default sizes (1 MiB of body, 16 KiB of headers, 8 KiB of URL); short delays, to keep the tests short."""
ATTENTE_S = 10.0
"""How long a client waits for an answer before calling it a fault."""


@dataclass
class Serveur:
    port: int
    jeton: str

    async def connecter(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def serveur(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Serveur]:
    """The parcours service over a real PostgreSQL, served by uvicorn as ``ase serve`` serves it."""
    import psycopg

    from tests.integration.conftest import _url_de

    nom = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{nom}"')
    cle = CleDeDeveloppement.dans(tmp_path_factory.mktemp("cles"))
    application = nouvelle_application(_url_de(postgres_url, nom), HorlogeFixe(AUJOURD_HUI))
    app = creer_app(
        composants=Composants(application=application, verificateur=cle, limiteur=CapacityLimiter(4)),
        limites=LIMITES,
    )
    # Bound and listening before uvicorn starts: a client connecting early waits in the backlog.
    prise = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    prise.bind(("127.0.0.1", 0))
    prise.listen(128)
    serveur_http = uvicorn.Server(config_uvicorn(app, host="127.0.0.1", port=0, limites=LIMITES))
    tache = asyncio.create_task(serveur_http.serve(sockets=[prise]))
    try:
        yield Serveur(
            port=prise.getsockname()[1], jeton=cle.signer(sub="alice", roles=["referent"], departements=["59"])
        )
    finally:
        serveur_http.should_exit = True
        await asyncio.wait_for(tache, 30)
        prise.close()
        application.close()
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{nom}" WITH (FORCE)')


@dataclass
class Reponse:
    statut: int
    entetes: dict[str, str]
    corps: bytes

    def probleme(self) -> dict[str, Any]:
        assert self.entetes.get("content-type", "").startswith("application/problem+json"), self
        corps: dict[str, Any] = orjson.loads(self.corps)
        assert corps["status"] == self.statut
        return corps


async def lire_reponse(lecteur: asyncio.StreamReader, delai_s: float = ATTENTE_S) -> Reponse:
    """One HTTP/1.1 response (``Content-Length`` framed), or ``TimeoutError`` if none comes in time."""

    async def lire() -> Reponse:
        tete = await lecteur.readuntil(b"\r\n\r\n")
        ligne, *lignes = tete.decode("latin-1").split("\r\n")
        entetes = {}
        for entete in lignes:
            if entete:
                nom, _, valeur = entete.partition(":")
                entetes[nom.strip().lower()] = valeur.strip()
        corps = await lecteur.readexactly(int(entetes.get("content-length", "0")))
        return Reponse(int(ligne.split()[1]), entetes, corps)

    return await asyncio.wait_for(lire(), delai_s)


async def envoyer_tant_que_possible(ecrivain: asyncio.StreamWriter, morceau: bytes, fois: int) -> int:
    """Send ``morceau`` up to ``fois`` times; stop when the server has closed. Return how many went."""
    for envoyes in range(fois):
        if ecrivain.is_closing():
            return envoyes
        try:
            ecrivain.write(morceau)
            await ecrivain.drain()
        except ConnectionError:
            return envoyes
    return fois


# -- body size ------------------------------------------------------------------------------------


async def test_a_300_mb_body_without_a_token_is_read_whole_before_the_401(serveur: Serveur) -> None:
    """Regression: FastAPI read the whole body (the route's first step), then found no token.

    Only the headers are sent: the answer must come without a byte of the body.
    """
    lecteur, ecrivain = await serveur.connecter()
    ecrivain.write(
        b"POST /v1/parcours HTTP/1.1\r\nHost: parcours\r\nContent-Type: application/json\r\n"
        b"Content-Length: 314572800\r\n\r\n"
    )

    reponse = await lire_reponse(lecteur)

    assert reponse.statut == 413
    assert reponse.probleme()["code"] == "trop_volumineux"
    ecrivain.close()


async def test_a_chunked_body_is_counted_and_cut_with_a_413_at_the_limit(serveur: Serveur) -> None:
    """No length to check in advance: the bytes are counted as they come, the end never needed."""
    lecteur, ecrivain = await serveur.connecter()
    ecrivain.write(
        b"POST /v1/parcours HTTP/1.1\r\nHost: parcours\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + serveur.jeton.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    morceau = b"x" * 65_536
    for _ in range(LIMITES.corps_max // len(morceau) + 1):
        ecrivain.write(b"%x\r\n%s\r\n" % (len(morceau), morceau))
    await ecrivain.drain()
    # No terminating chunk: the server must not wait for the end of the body.

    reponse = await lire_reponse(lecteur)

    assert reponse.statut == 413
    assert reponse.probleme()["code"] == "trop_volumineux"
    ecrivain.close()


async def test_a_body_under_the_limit_still_reaches_the_command(serveur: Serveur) -> None:
    lecteur, ecrivain = await serveur.connecter()
    corps = orjson.dumps(
        {
            "personne": {"nom": "Martin", "prenoms": "Léa", "date_naissance": "2012-04-03", "sexe": "F"},
            "departement": "59",
            "date_effet": "2026-10-01",
            "referent_id": "r" * 200,
        }
    )
    ecrivain.write(
        b"POST /v1/parcours HTTP/1.1\r\nHost: parcours\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s" % (serveur.jeton.encode(), len(corps), corps)
    )

    reponse = await lire_reponse(lecteur)

    assert reponse.statut == 201, reponse
    ecrivain.close()


# -- request line and headers ---------------------------------------------------------------------


async def test_a_10_mb_authorization_header_is_parsed_whole_then_refused_as_a_bad_token(serveur: Serveur) -> None:
    """Regression: httptools has no header limit; the 10 MB reached the app, which answered 401.

    Now the server answers 431 once the headers pass 16 KiB, before the app, and stops reading.
    """
    lecteur, ecrivain = await serveur.connecter()
    ecrivain.write(b"GET /v1/parcours/" + str(uuid.uuid4()).encode() + b" HTTP/1.1\r\nHost: parcours\r\n")
    ecrivain.write(b"Authorization: Bearer ")

    envoyes = await envoyer_tant_que_possible(ecrivain, b"a" * 65_536, 10 * 16)
    if envoyes == 10 * 16:
        ecrivain.write(b"\r\n\r\n")
    reponse = await lire_reponse(lecteur)

    assert reponse.statut == 431
    assert reponse.probleme()["code"] == "entetes_trop_volumineux"
    ecrivain.close()


async def test_a_200_kb_query_string_gets_uvicorns_plain_text_400(serveur: Serveur) -> None:
    """Regression: httptools' URL parser refuses more than 64 KiB and uvicorn answered a plain-text 400.

    Now a URL over 8 KiB is a 414 problem+json.
    """
    lecteur, ecrivain = await serveur.connecter()
    ecrivain.write(b"GET /v1/parcours/" + str(uuid.uuid4()).encode() + b"?q=" + b"a" * 200_000)
    ecrivain.write(b" HTTP/1.1\r\nHost: parcours\r\n\r\n")

    reponse = await lire_reponse(lecteur)

    assert reponse.statut == 414
    assert reponse.probleme()["code"] == "uri_trop_longue"
    ecrivain.close()


async def test_a_request_the_parser_cannot_read_is_a_problem_too(serveur: Serveur) -> None:
    lecteur, ecrivain = await serveur.connecter()
    ecrivain.write(b"GET /healthz HTTP/1.1\r\nHost: parcours\r\nContent-Length: -1\r\n\r\n")

    reponse = await lire_reponse(lecteur)

    assert reponse.statut == 400
    assert reponse.probleme()["code"] == "requete_illisible"
    ecrivain.close()


# -- slow clients ---------------------------------------------------------------------------------


async def _goutte_a_goutte(serveur: Serveur, gouttes: int) -> tuple[bool, float]:
    """A client sending one header byte every 50 ms: whether the server closed on it, and when."""
    debut = time.monotonic()
    lecteur, ecrivain = await serveur.connecter()
    ecrivain.write(b"GET /healthz HTTP/1.1\r\nHost: parcours\r\nX-Goutte: ")
    ferme = False
    for _ in range(gouttes):
        if lecteur.at_eof():
            ferme = True
            break
        try:
            ecrivain.write(b"a")
            await ecrivain.drain()
        except ConnectionError:
            ferme = True
            break
        # The client's pace (what makes it slow), not a wait for the server.
        await asyncio.sleep(0.05)
    duree = time.monotonic() - debut
    if not ferme:
        try:
            ferme = await asyncio.wait_for(lecteur.read(), 0.5) == b""
        except TimeoutError:
            ferme = False
        except ConnectionError:
            ferme = True
    ecrivain.close()
    return ferme, duree


async def test_twenty_clients_dripping_their_headers_stay_connected_forever(serveur: Serveur) -> None:
    """Regression: uvicorn has no timeout while a request arrives; each byte kept the connection.

    Now each is closed once ``delai_requete`` (1 s here) has passed since its first byte; the
    drip lasts up to 6 s.
    """
    resultats = await asyncio.gather(*(_goutte_a_goutte(serveur, gouttes=120) for _ in range(20)))

    assert all(ferme for ferme, _ in resultats), resultats
    assert max(duree for _, duree in resultats) < 4, resultats
    lecteur, ecrivain = await serveur.connecter()
    ecrivain.write(b"GET /healthz HTTP/1.1\r\nHost: parcours\r\n\r\n")
    assert (await lire_reponse(lecteur)).statut == 200
    ecrivain.close()


async def test_a_client_that_connects_and_sends_nothing_is_disconnected(serveur: Serveur) -> None:
    lecteur, ecrivain = await serveur.connecter()

    fin = await asyncio.wait_for(lecteur.read(), ATTENTE_S)

    assert fin == b""
    ecrivain.close()


async def test_an_idle_keep_alive_connection_is_closed_after_the_keep_alive_delay(serveur: Serveur) -> None:
    lecteur, ecrivain = await serveur.connecter()
    ecrivain.write(b"GET /healthz HTTP/1.1\r\nHost: parcours\r\n\r\n")
    assert (await lire_reponse(lecteur)).statut == 200
    debut = time.monotonic()

    fin = await asyncio.wait_for(lecteur.read(), ATTENTE_S)

    assert fin == b""
    assert time.monotonic() - debut < LIMITES.delai_inactivite + 2
    ecrivain.close()


async def test_keep_alive_still_serves_several_requests_on_one_connection(serveur: Serveur) -> None:
    lecteur, ecrivain = await serveur.connecter()
    for _ in range(3):
        ecrivain.write(b"GET /healthz HTTP/1.1\r\nHost: parcours\r\n\r\n")
        assert (await lire_reponse(lecteur)).statut == 200
    ecrivain.close()


# -- configuration --------------------------------------------------------------------------------


async def test_every_limit_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    valeurs = {
        "ASE_HTTP_CORPS_MAX": "2048",
        "ASE_HTTP_ENTETES_MAX": "4096",
        "ASE_HTTP_URL_MAX": "1024",
        "ASE_HTTP_JETON_MAX": "512",
        "ASE_HTTP_DELAI_REQUETE": "2.5",
        "ASE_HTTP_DELAI_INACTIVITE": "3",
    }
    for nom, valeur in valeurs.items():
        monkeypatch.setenv(nom, valeur)

    limites = LimitesHTTP()
    config = config_uvicorn(creer_app(), host="127.0.0.1", port=0, limites=limites)

    assert (limites.corps_max, limites.entetes_max, limites.url_max, limites.jeton_max) == (2048, 4096, 1024, 512)
    assert limites.delai_requete == 2.5
    assert config.timeout_keep_alive == 3
    assert config.http.limites is limites  # type: ignore[union-attr]
