"""Signing in to the pages through an OpenID Connect issuer (authorization code + PKCE), end to end.

The whole ``ase serve`` application (every API and the pages) runs under uvicorn on 127.0.0.1 with
``ASE_OIDC_ISSUER`` + ``ASE_PAGES_OIDC_CLIENT_ID`` (the pages sign in through the issuer) and
``ASE_OIDC_JWKS_URL`` / ``ASE_OIDC_ISSUER`` / ``ASE_OIDC_AUDIENCE`` (the APIs verify the same tokens),
against the test issuer of :mod:`tests.integration.emetteur_oidc`. httpx plays the browser.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import socket
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import httpx
import psycopg
import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from psycopg.rows import dict_row
from pydantic import ValidationError
from starlette.routing import Mount

from services.cli.serveur import application_embarquee
from services.pages.dependances import Comp, SessionCourante
from services.pages.sessions import COOKIE
from services.pages.settings import PagesSettings
from services.runtime.auth import FICHIER_CLE_DEV
from tests.integration.conftest import _url_de
from tests.integration.emetteur_oidc import (
    DUREE_S,
    EmetteurOIDC,
    Identite,
    emetteur_en_marche,
    prise_locale,
    servir,
)

CLIENT_ID = "pages-ase"
AUDIENCE = "parcours-ase"
VARIABLES_OIDC = ("ASE_OIDC_ISSUER", "ASE_OIDC_JWKS_URL", "ASE_OIDC_AUDIENCE", "ASE_PAGES_OIDC_CLIENT_ID")


# -- a page of the test's own, reading an API as every page does ------------------------------------------

essai = APIRouter()


@essai.get("/essai/evenements/{parcours_id}")
async def evenements_du_parcours(request: Request, comp: Comp, s: SessionCourante, parcours_id: UUID) -> Response:
    """The event types of a parcours, read through the command API with the session's own token."""
    reponse = await comp.api.lire("parcours", f"/v1/parcours/{parcours_id}/evenements", s.jeton)
    return PlainTextResponse(" ".join(str(e["type"]) for e in reponse.donnees))


def sous_application_pages(app: FastAPI) -> FastAPI:
    for route in app.routes:
        if isinstance(route, Mount) and route.path == "/pages" and isinstance(route.app, FastAPI):
            return route.app
    raise AssertionError("pages non montées")


# -- the stack ---------------------------------------------------------------------------------------------


@dataclass
class Pile:
    url: str
    emetteur: EmetteurOIDC
    database_url: str
    donnees: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def sessions(self) -> int:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            ligne = conn.execute("SELECT count(*) FROM pages.sessions").fetchone()
        assert ligne is not None
        return int(ligne[0])


@pytest.fixture(scope="module")
def pile(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pile]:
    nom = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{nom}"')
    base = _url_de(postgres_url, nom)
    try:
        with (
            emetteur_en_marche(client_id=CLIENT_ID, audience=AUDIENCE) as emetteur,
            pytest.MonkeyPatch.context() as env,
        ):
            env.setenv("DATABASE_URL", base)
            env.setenv("ASE_HORLOGE_MAJORITE", "false")
            env.setenv("ASE_OIDC_ISSUER", emetteur.url)
            env.setenv("ASE_OIDC_JWKS_URL", emetteur.url + "/jwks")
            env.setenv("ASE_OIDC_AUDIENCE", AUDIENCE)
            env.setenv("ASE_PAGES_OIDC_CLIENT_ID", CLIENT_ID)
            donnees = Path(tmp_path_factory.mktemp("donnees"))
            app = application_embarquee(donnees)
            sous_application_pages(app).include_router(essai)
            with servir(app, prise_locale()) as url:
                yield Pile(url=url, emetteur=emetteur, database_url=base, donnees=donnees)
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{nom}" WITH (FORCE)')


@pytest.fixture
def emetteur(pile: Pile) -> Iterator[EmetteurOIDC]:
    pile.emetteur.identite = Identite()
    pile.emetteur.nonce_impose = None
    pile.emetteur.refus.clear()
    pile.emetteur.avec_actualisation = True
    pile.emetteur.refuser_actualisation = False
    pile.emetteur.actualisations_servies = 0
    yield pile.emetteur
    pile.emetteur.nonce_impose = None


def ouvrir_parcours(pile: Pile, jeton: str) -> str:
    corps = {
        "personne": {"nom": "Oidc", "prenoms": "Lou", "date_naissance": "2013-04-02", "sexe": "F"},
        "departement": "59",
        "date_effet": date.today().isoformat(),
    }
    with pile.client() as api:
        reponse = api.post("/v1/parcours", json=corps, headers={"Authorization": f"Bearer {jeton}"})
    assert reponse.status_code == 201, reponse.text
    return str(reponse.json()["id"])


def vers_l_emetteur(client: httpx.Client, retour: str = "/pages/") -> httpx.Response:
    """The sign-in button: the pages answer with the issuer's authorization URL."""
    reponse = client.get("/pages/connexion/oidc", params={"retour": retour})
    assert reponse.status_code == 303, reponse.text
    return reponse


# -- the sign-in ---------------------------------------------------------------------------------------------


def test_signing_in_through_the_issuer_opens_a_session_whose_pages_read_the_apis(
    pile: Pile, emetteur: EmetteurOIDC
) -> None:
    emetteur.identite = Identite(sub="agent-lille", roles=["referent"], departements=["59"])
    parcours_id = ouvrir_parcours(pile, emetteur.jeton())  # the APIs accept the issuer's tokens
    avant = pile.sessions()
    with pile.client() as client:
        arrivee = client.get("/pages/connexion/oidc", params={"retour": "/pages/"}, follow_redirects=True)
        etapes = [str(r.url) for r in arrivee.history]
        assert etapes[1].startswith(emetteur.url + "/authorize?")
        assert urlsplit(etapes[2]).path == "/pages/connexion/retour"
        assert arrivee.url.path == "/pages/travail"  # a référent's home
        assert client.cookies.get(COOKIE)
        page = client.get(f"/pages/essai/evenements/{parcours_id}")
    assert page.status_code == 200, page.text
    assert "ParcoursOuvert" in page.text
    assert pile.sessions() == avant + 1
    assert not emetteur.refus
    demande = emetteur.autorisations[-1]
    assert demande["code_challenge_method"] == "S256"
    assert len(demande["code_challenge"]) == 43  # BASE64URL(SHA-256), no padding
    assert demande["nonce"]
    assert demande["state"]
    assert demande["redirect_uri"] == pile.url + "/pages/connexion/retour"


def test_the_issuer_redeems_a_code_only_with_the_pkce_verifier_of_its_challenge(
    pile: Pile, emetteur: EmetteurOIDC
) -> None:
    with pile.client() as client:
        for verificateur in (None, "v" * 64):
            autorisation = client.get(vers_l_emetteur(client).headers["location"])
            assert autorisation.status_code == 302
            code = parse_qs(urlsplit(autorisation.headers["location"]).query)["code"][0]
            corps = {"grant_type": "authorization_code", "code": code, "client_id": CLIENT_ID,
                     "redirect_uri": pile.url + "/pages/connexion/retour"}  # fmt: skip
            if verificateur:
                corps["code_verifier"] = verificateur
            refus = client.post(emetteur.url + "/token", data=corps)
            assert refus.status_code == 400
            assert refus.json()["error"] == "invalid_grant"
    assert emetteur.refus == ["code_verifier absent", "code_verifier ne correspond pas au code_challenge"]


def test_the_pages_send_the_verifier_kept_at_the_start_of_the_sign_in(pile: Pile, emetteur: EmetteurOIDC) -> None:
    """With the kept ``code_verifier`` changed underneath, the issuer refuses the code: the pages do send it."""
    avant = pile.sessions()
    with pile.client() as client:
        vers = vers_l_emetteur(client).headers["location"]
        etat = parse_qs(urlsplit(vers).query)["state"][0]
        with psycopg.connect(pile.database_url, autocommit=True) as conn:
            change = conn.execute("UPDATE pages.connexions SET verificateur = %s WHERE etat = %s", ("w" * 64, etat))
            assert change.rowcount == 1
        retour = client.get(vers).headers["location"]
        refus = client.get(retour)
        assert refus.status_code == 401
        assert "Connexion refusée" in refus.text
        assert COOKIE not in client.cookies
    assert emetteur.refus == ["code_verifier ne correspond pas au code_challenge"]
    assert pile.sessions() == avant


def test_a_replayed_state_opens_no_second_session(pile: Pile, emetteur: EmetteurOIDC) -> None:
    with pile.client() as client:
        arrivee = client.get("/pages/connexion/oidc", follow_redirects=True)
        retour = next(str(r.url) for r in arrivee.history if urlsplit(str(r.url)).path == "/pages/connexion/retour")
    apres = pile.sessions()
    with pile.client() as rejoue:
        reponse = rejoue.get(retour)
        assert reponse.status_code == 400
        assert "Connexion interrompue" in reponse.text
        assert COOKIE not in rejoue.cookies
    assert pile.sessions() == apres


def test_an_id_token_with_another_nonce_is_refused(pile: Pile, emetteur: EmetteurOIDC) -> None:
    emetteur.nonce_impose = "un-autre-nonce"
    avant = pile.sessions()
    with pile.client() as client:
        arrivee = client.get("/pages/connexion/oidc", follow_redirects=True)
        assert arrivee.status_code == 401
        assert "Connexion refusée" in arrivee.text
        assert COOKIE not in client.cookies
    assert pile.sessions() == avant
    assert not emetteur.refus  # the issuer gave the tokens: the pages refused them


def test_a_token_for_another_audience_opens_no_session(pile: Pile, emetteur: EmetteurOIDC) -> None:
    emetteur.audience = "une-autre-api"
    avant = pile.sessions()
    try:
        with pile.client() as client:
            arrivee = client.get("/pages/connexion/oidc", follow_redirects=True)
    finally:
        emetteur.audience = AUDIENCE
    assert arrivee.status_code == 401
    assert pile.sessions() == avant


def test_the_dev_sign_in_does_not_exist_when_an_issuer_is_configured(pile: Pile) -> None:
    assert not (pile.donnees / FICHIER_CLE_DEV).exists()  # no dev signing key is even created
    with pile.client() as client:
        formulaire = client.get("/pages/connexion")
        assert formulaire.status_code == 200
        assert 'href="/pages/connexion/oidc?retour=' in formulaire.text
        assert 'name="role"' not in formulaire.text
        envoi = client.post("/pages/connexion", data={"role": "dpo", "departements": "59", "csrf": "x"})
        assert envoi.status_code == 404
        assert COOKIE not in client.cookies


# -- the access token's end: renewed with the refresh token, or the session ends ------------------------------


def session_de(pile: Pile, client: httpx.Client) -> dict[str, Any] | None:
    valeur = client.cookies.get(COOKIE)
    assert valeur
    cle = hashlib.sha256(valeur.rsplit(".", 2)[0].encode()).digest()
    with psycopg.connect(pile.database_url, autocommit=True, row_factory=dict_row) as conn:
        return conn.execute("SELECT * FROM pages.sessions WHERE cle = %s", (cle,)).fetchone()


def rapprocher_la_fin_du_jeton(pile: Pile, client: httpx.Client) -> None:
    """As if the access token had 30 seconds left (within the minute the pages renew it in)."""
    session = session_de(pile, client)
    assert session is not None
    with psycopg.connect(pile.database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE pages.sessions SET jeton_expire_le = now() + interval '30 seconds' WHERE cle = %s",
            (session["cle"],),
        )


def test_a_session_whose_access_token_nears_its_end_renews_it_with_the_refresh_token(
    pile: Pile, emetteur: EmetteurOIDC
) -> None:
    parcours_id = ouvrir_parcours(pile, emetteur.jeton())
    with pile.client() as client:
        client.get("/pages/connexion/oidc", follow_redirects=True)
        avant = session_de(pile, client)
        assert avant is not None
        assert avant["actualisation"] is not None  # kept, encrypted as the token is
        rapprocher_la_fin_du_jeton(pile, client)
        page = client.get(f"/pages/essai/evenements/{parcours_id}")
        apres = session_de(pile, client)
    assert page.status_code == 200, page.text
    assert "ParcoursOuvert" in page.text
    assert emetteur.actualisations_servies == 1
    assert apres is not None
    assert apres["jeton"] != avant["jeton"]
    assert apres["jeton_expire_le"] > datetime.now(UTC) + timedelta(minutes=5)


def test_a_refresh_refused_by_the_issuer_ends_the_session(pile: Pile, emetteur: EmetteurOIDC) -> None:
    with pile.client() as client:
        client.get("/pages/connexion/oidc", follow_redirects=True)
        session = session_de(pile, client)
        assert session is not None
        rapprocher_la_fin_du_jeton(pile, client)
        emetteur.refuser_actualisation = True
        reponse = client.get("/pages/")
        assert reponse.status_code == 303
        assert reponse.headers["location"].startswith("/pages/connexion")
    assert emetteur.refus == ["refresh_token refusé"]
    with psycopg.connect(pile.database_url, autocommit=True) as conn:
        assert conn.execute("SELECT 1 FROM pages.sessions WHERE cle = %s", (session["cle"],)).fetchone() is None


def test_without_a_refresh_token_the_session_ends_with_the_access_token(pile: Pile, emetteur: EmetteurOIDC) -> None:
    emetteur.avec_actualisation = False
    with pile.client() as client:
        client.get("/pages/connexion/oidc", follow_redirects=True)
        session = session_de(pile, client)
    assert session is not None
    assert session["actualisation"] is None
    assert session["expire_le"] <= datetime.now(UTC) + timedelta(seconds=DUREE_S)


# -- production settings ---------------------------------------------------------------------------------------


def _production(**champs: object) -> PagesSettings:
    reglages: dict[str, object] = {
        "mode": "production", "oidc_issuer": "https://idp.example", "pages_oidc_client_id": "pages",
        "pages_secret": "s" * 32, "database_url": "postgresql://ase@db/ase",
        "pages_oidc_redirect_uri": "https://ase.example/pages/connexion/retour",
    }  # fmt: skip
    reglages.update(champs)
    return PagesSettings(**reglages)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("champs", "message"),
    [
        ({"oidc_issuer": None}, "ASE_OIDC_ISSUER"),
        ({"pages_oidc_client_id": None}, "ASE_PAGES_OIDC_CLIENT_ID"),
        ({"pages_secret": None}, "ASE_PAGES_SECRET"),
        ({"pages_secret": "s" * 31}, "ASE_PAGES_SECRET"),
        ({"database_url": None}, "DATABASE_URL"),
        ({"pages_cookie_securise": False}, "HTTPS"),
        ({"pages_secret": " " * 40}, "ASE_PAGES_SECRET"),
        ({"oidc_issuer": "http://idp.example"}, "https:// ASE_OIDC_ISSUER"),
        ({"pages_oidc_redirect_uri": "http://ase.example/pages/connexion/retour"}, "https:// ASE_PAGES_OIDC_REDIRECT"),
        ({"pages_oidc_redirect_uri": None}, "needs ASE_PAGES_OIDC_REDIRECT_URI"),
    ],
    ids=[
        "sans-emetteur",
        "sans-client",
        "sans-secret",
        "secret-court",
        "sans-base",
        "cookie-en-clair",
        "secret-blanc",
        "emetteur-http",
        "retour-http",
        "sans-retour",
    ],
)
def test_production_settings_refuse_what_would_weaken_sign_in(
    monkeypatch: pytest.MonkeyPatch, champs: dict[str, object], message: str
) -> None:
    for variable in (*VARIABLES_OIDC, "DATABASE_URL", "ASE_DATABASE_URL", "ASE_PAGES_SECRET"):
        monkeypatch.delenv(variable, raising=False)
    assert _production().oidc
    with pytest.raises(ValidationError, match=message):
        _production(**champs)


# -- after the review (a fresh reviewer's findings, each a test named after it) ------------------------------


def test_a_callback_url_opened_in_another_browser_opens_no_session(pile: Pile, emetteur: EmetteurOIDC) -> None:
    """Login CSRF (RFC 9700, 4.7.1): the attacker's own callback URL, opened in the victim's browser, must not
    sign the victim in as the attacker; nor a victim's leaked callback URL sign an attacker in."""
    with pile.client() as attaquant:
        vers_emetteur = attaquant.get("/pages/connexion/oidc").headers["location"]
        retour = attaquant.get(vers_emetteur).headers["location"]  # the issuer's redirect, not followed
    with pile.client() as victime:
        reponse = victime.get(retour)
        assert reponse.status_code == 400, reponse.text
        assert victime.cookies.get(COOKIE) is None


def test_an_issuer_error_at_the_callback_says_the_sign_in_was_cancelled(pile: Pile, emetteur: EmetteurOIDC) -> None:
    with pile.client() as client:
        vers_emetteur = client.get("/pages/connexion/oidc").headers["location"]
        etat = parse_qs(urlsplit(vers_emetteur).query)["state"][0]
        reponse = client.get("/pages/connexion/retour", params={"error": "access_denied", "state": etat})
    assert reponse.status_code == 401
    assert "annulée" in reponse.text
    with psycopg.connect(pile.database_url, autocommit=True) as conn:
        assert conn.execute("SELECT 1 FROM pages.connexions WHERE etat = %s", (etat,)).fetchone() is None


def test_requests_arriving_together_at_refresh_time_keep_the_session(pile: Pile, emetteur: EmetteurOIDC) -> None:
    """Two tabs in the token's last minute: one renewal for all (a rotated refresh token serves once)."""
    with pile.client() as client:
        client.get("/pages/connexion/oidc", follow_redirects=True)
        rapprocher_la_fin_du_jeton(pile, client)
        cookies = dict(client.cookies)

        def une_page(_: int) -> str:
            with pile.client() as onglet:
                onglet.cookies.update(cookies)
                return onglet.get("/pages/").headers.get("location", "")

        with ThreadPoolExecutor(4) as onglets:
            destinations = list(onglets.map(une_page, range(4)))
        assert all(not d.startswith("/pages/connexion") for d in destinations), destinations
        assert session_de(pile, client) is not None
    assert emetteur.actualisations_servies == 1
    assert emetteur.refus == []


def test_a_role_withdrawn_at_the_issuer_goes_at_the_next_refresh(pile: Pile, emetteur: EmetteurOIDC) -> None:
    emetteur.identite = Identite(sub="chef", roles=["encadrant"], departements=["59"])
    with pile.client() as client:
        client.get("/pages/connexion/oidc", follow_redirects=True)
        emetteur.identite = Identite(sub="chef", roles=["referent"], departements=["59"])
        for identite in emetteur._actualisations.values():  # the issuer's record of the grant
            identite.roles = ["referent"]
        rapprocher_la_fin_du_jeton(pile, client)
        client.get("/pages/")
        session = session_de(pile, client)
    assert session is not None
    assert session["roles"] == ["referent"]


# -- after the second review: the renewal against a slow issuer, two tabs signing in ----------------------------


@pytest.fixture
def emetteur_lent(pile: Pile, monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    """The pages' renewal calls reach the issuer only after ``delai["s"]`` seconds (a slow issuer)."""
    from services.pages import oidc

    delai = {"s": 0.0}
    actualiser = oidc.ClientOIDC.actualiser

    async def lentement(self: oidc.ClientOIDC, actualisation: str) -> tuple[str, float | None, str | None]:
        await asyncio.sleep(delai["s"])  # the issuer's slowness itself, what the test is about
        return await actualiser(self, actualisation)

    monkeypatch.setattr(oidc.ClientOIDC, "actualiser", lentement)
    return delai


def _une_page(pile: Pile, cookies: dict[str, str]) -> tuple[int, str, float]:
    with pile.client() as onglet:
        onglet.cookies.update(cookies)
        debut = time.monotonic()
        reponse = onglet.get("/pages/")
        return reponse.status_code, reponse.headers.get("location", ""), time.monotonic() - debut


def _connecte(pile: Pile) -> httpx.Client:
    client = pile.client()
    client.get("/pages/connexion/oidc", follow_redirects=True)
    assert session_de(pile, client) is not None
    return client


def test_a_renewal_at_a_slow_issuer_holds_up_no_other_session(
    pile: Pile, emetteur: EmetteurOIDC, emetteur_lent: dict[str, float]
) -> None:
    autre, due = _connecte(pile), _connecte(pile)
    try:
        rapprocher_la_fin_du_jeton(pile, due)
        emetteur_lent["s"] = 6.0
        with ThreadPoolExecutor(7) as onglets:
            renouvellements = [onglets.submit(_une_page, pile, dict(due.cookies)) for _ in range(6)]
            statut, destination, duree = _une_page(pile, dict(autre.cookies))
            pages_dues = [f.result() for f in renouvellements]
    finally:
        autre.close()
        due.close()
    assert statut == 303
    assert not destination.startswith("/pages/connexion")
    assert duree < 3.0, duree  # not the issuer's 6 s
    assert all(s == 303 and not d.startswith("/pages/connexion") for s, d, _ in pages_dues), pages_dues
    assert emetteur.actualisations_servies == 1


def test_an_issuer_that_cannot_be_reached_at_renewal_does_not_sign_the_person_out(
    pile: Pile, emetteur: EmetteurOIDC, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unreachable (a connection refused, a timeout) is not the issuer saying no: the session goes on while
    its token lasts, and the renewal is tried again at the next page."""
    from services.pages import oidc

    client = _connecte(pile)
    try:
        rapprocher_la_fin_du_jeton(pile, client)
        decouverte = oidc.ClientOIDC.decouverte

        async def injoignable(self: oidc.ClientOIDC) -> oidc.Decouverte:
            return dataclasses.replace(await decouverte(self), token_endpoint=f"http://127.0.0.1:{port_ferme()}/token")

        monkeypatch.setattr(oidc.ClientOIDC, "decouverte", injoignable)
        statut, destination, _ = _une_page(pile, dict(client.cookies))
        assert statut == 303
        assert not destination.startswith("/pages/connexion")
        session = session_de(pile, client)
        assert session is not None
        assert session["renouvellement_jusqu_a"] is None  # released: the next page tries again
    finally:
        client.close()
    assert emetteur.actualisations_servies == 0


def port_ferme() -> int:
    """A port of 127.0.0.1 nobody listens on (bound, then closed)."""
    with socket.socket() as prise:
        prise.bind(("127.0.0.1", 0))
        return int(prise.getsockname()[1])


def test_two_tabs_signing_in_at_once_both_come_back_signed_in(pile: Pile, emetteur: EmetteurOIDC) -> None:
    with pile.client() as navigateur:
        premier = navigateur.get(navigateur.get("/pages/connexion/oidc").headers["location"]).headers["location"]
        second = navigateur.get(navigateur.get("/pages/connexion/oidc").headers["location"]).headers["location"]
        assert navigateur.get(premier).status_code == 303
        assert navigateur.get(second).status_code == 303
