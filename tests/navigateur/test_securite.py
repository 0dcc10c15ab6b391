"""The pages' defences, tested against the real ``ase serve``: sign-in required everywhere, CSRF, session end,
security headers, no open redirect, and a sessions table that opens nothing by itself.

The route lists are enumerated from :func:`services.pages.app.creer_pages`, so a page added later is covered
without touching this file. Time passes by moving ``vu_le`` / ``expire_le`` back in ``pages.sessions``.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import closing
from datetime import date
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import quote

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount

from services.pages.app import creer_pages
from services.pages.dependances import ComposantsPages
from services.pages.formulaires import COMMANDES
from services.pages.routes_connexion import COOKIE_CSRF_CONNEXION, poser_session
from services.pages.sessions import COOKIE, COOKIE_SECURISE, CookieSession, Session, _dechiffrer
from services.pages.settings import PagesSettings
from services.runtime.auth import Utilisateur
from tests.navigateur.outils import Serveur, ouvrir_parcours

DEPARTEMENT = "2A"
"""A département of these tests' own: nothing they create shows up in another test's lists."""
PARAMETRE = re.compile(r"\{(\w+)(?::\w+)?\}")
CONNEXION = "/pages/connexion"


# -- the routes of the pages -------------------------------------------------------------------------


def _routes(routes: Sequence[BaseRoute], prefixe: str = "/pages") -> Iterator[tuple[str, str]]:
    """``(method, path template)`` of every GET and POST route, mounts and included routers followed,
    static files left out."""
    for route in routes:
        if isinstance(route, Mount):
            if route.path != "/statique":
                yield from _routes(route.routes, prefixe + route.path)
            continue
        # FastAPI 0.165 keeps an included router as one route whose effective routes carry the full path.
        contextes = getattr(route, "effective_route_contexts", None)
        if contextes is not None:
            for contexte in contextes():
                for methode in sorted(getattr(contexte.original_route, "methods", None) or ()):
                    if methode in ("GET", "POST"):
                        yield methode, prefixe + contexte.path
            continue
        chemin = getattr(route, "path", "")
        for methode in sorted(getattr(route, "methods", None) or ()):
            if methode in ("GET", "POST"):
                yield methode, prefixe + chemin


def routes_protegees() -> list[tuple[str, str]]:
    """Every route that needs a session: all but the sign-in ones (sign-out included: it needs one)."""
    return [(m, c) for m, c in _routes(creer_pages().routes) if not c.startswith(CONNEXION)]


def remplir(modele: str, valeurs: dict[str, str] | None = None) -> str:
    """``modele`` with each ``{parametre}`` replaced by ``valeurs[parametre]``, or a fresh uuid."""
    valeurs = valeurs or {}
    return PARAMETRE.sub(lambda m: valeurs.get(m.group(1), str(uuid.uuid4())), modele)


def test_the_route_enumeration_sees_the_pages_and_leaves_out_sign_in_and_static_files() -> None:
    routes = routes_protegees()
    assert ("GET", "/pages/") in routes
    assert ("POST", "/pages/deconnexion") in routes
    assert not [c for _, c in routes if c.startswith(("/pages/connexion", "/pages/statique"))]


# -- signing in with httpx, and the session row underneath -------------------------------------------


def jeton_du_formulaire(html: str) -> str:
    trouve = re.search(r'name="csrf" value="([^"]+)"', html)
    assert trouve, html[:500]
    return trouve.group(1)


def connecter(serveur: Serveur, role: str = "referent", *, sub: str = "", retour: str = "/pages/") -> httpx.Client:
    """A client signed in through the dev sign-in form (its cookie, its form CSRF), as a browser would."""
    client = httpx.Client(base_url=serveur.url, timeout=30)
    formulaire = client.get(CONNEXION)
    reponse = client.post(
        CONNEXION,
        data={"role": role, "departements": DEPARTEMENT, "sub": sub, "retour": retour,
              "csrf": jeton_du_formulaire(formulaire.text)},
    )  # fmt: skip
    assert reponse.status_code == 303, reponse.text
    assert client.cookies.get(COOKIE)
    return client


def id_de_session(client: httpx.Client) -> str:
    """The session id the signed cookie carries (itsdangerous: ``id.timestamp.signature``)."""
    valeur = client.cookies.get(COOKIE)
    assert valeur
    return valeur.rsplit(".", 2)[0]


def cle(id_session: str) -> bytes:
    return hashlib.sha256(id_session.encode()).digest()


def ligne(serveur: Serveur, id_session: str) -> dict[str, Any] | None:
    with psycopg.connect(serveur.database_url, autocommit=True, row_factory=dict_row) as conn:
        return conn.execute("SELECT * FROM pages.sessions WHERE cle = %s", (cle(id_session),)).fetchone()


def modifier(serveur: Serveur, id_session: str, instruction: str) -> None:
    """``UPDATE pages.sessions SET <instruction>`` on this session's row (how a test makes time pass)."""
    with psycopg.connect(serveur.database_url, autocommit=True) as conn:
        resultat = conn.execute(f"UPDATE pages.sessions SET {instruction} WHERE cle = %s", (cle(id_session),))
        assert resultat.rowcount == 1


def csrf_de(serveur: Serveur, client: httpx.Client) -> str:
    session = ligne(serveur, id_de_session(client))
    assert session is not None
    return str(session["csrf"])


def va_a_la_connexion(reponse: httpx.Response) -> bool:
    if reponse.status_code == 303:
        return reponse.headers["location"].startswith(CONNEXION)
    return reponse.status_code == 204 and reponse.headers.get("hx-redirect", "").startswith(CONNEXION)


def formulaire_refuse(reponse: httpx.Response) -> bool:
    return reponse.status_code == 403 and "Formulaire refusé" in reponse.text


@pytest.fixture
def client(serveur: Serveur) -> Iterator[httpx.Client]:
    with closing(connecter(serveur)) as signe:
        yield signe


# -- no page without sign-in ---------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_no_page_answers_without_a_session_every_route_leads_to_sign_in(serveur: Serveur, htmx: bool) -> None:
    entetes = {"HX-Request": "true"} if htmx else {}
    refus: list[tuple[str, str, int, str]] = []
    with httpx.Client(base_url=serveur.url, timeout=30) as anonyme:
        for methode, modele in routes_protegees():
            chemin = remplir(modele)
            reponse = anonyme.request(methode, chemin, headers=entetes, data={} if methode == "POST" else None)
            if not va_a_la_connexion(reponse):
                refus.append((methode, chemin, reponse.status_code, reponse.headers.get("location", "")))
            elif methode == "GET" and not htmx:
                # The page asked is where the sign-in leads back.
                assert reponse.headers["location"] == f"{CONNEXION}?retour={quote(chemin, safe='')}"
    assert not refus, refus


def test_a_stale_or_foreign_cookie_opens_nothing(serveur: Serveur) -> None:
    with httpx.Client(base_url=serveur.url, timeout=30, cookies={COOKIE: "faux.cookie.signe"}) as client:
        assert va_a_la_connexion(client.get("/pages/"))


# -- CSRF ------------------------------------------------------------------------------------------------


def version(client: httpx.Client, parcours_id: str) -> int:
    reponse = client.get(f"/v1/parcours/{parcours_id}/evenements")
    assert reponse.status_code == 200, reponse.text
    return max(int(e["version"]) for e in reponse.json())


def test_every_form_sent_without_the_csrf_token_is_refused_and_changes_nothing(
    serveur: Serveur, client: httpx.Client
) -> None:
    api = serveur.api("referent", (DEPARTEMENT,))
    parcours = ouvrir_parcours(api, nom="Csrf", departement=DEPARTEMENT)
    avant = version(api, parcours["id"])
    envois = 0
    acceptes: list[tuple[str, int]] = []
    for methode, modele in routes_protegees():
        if methode != "POST":
            continue
        # Command forms get a real dossier and each slug, so a form that slipped through would record.
        slugs = list(COMMANDES) if "{slug}" in modele else [""]
        for slug in slugs:
            chemin = remplir(modele, {"parcours_id": parcours["id"], "id": parcours["id"], "slug": slug})
            corps = {"date_effet": date.today().isoformat(), "motif": "test", "cle_idempotence": str(uuid.uuid4())}
            for entetes in ({}, {"HX-Request": "true"}):
                reponse = client.post(chemin, data=corps, headers=entetes)
                envois += 1
                if not formulaire_refuse(reponse):
                    acceptes.append((chemin, reponse.status_code))
    assert envois >= 2
    assert not acceptes, acceptes
    assert version(api, parcours["id"]) == avant
    assert ligne(serveur, id_de_session(client)) is not None, "the refused sign-out must not end the session"


def test_a_csrf_token_of_another_session_is_refused(serveur: Serveur, client: httpx.Client) -> None:
    with closing(connecter(serveur, sub="autre-agent")) as autre:
        reponse = client.post("/pages/deconnexion", data={"csrf": csrf_de(serveur, autre)})
        entete = client.post("/pages/deconnexion", headers={"X-CSRF-Token": csrf_de(serveur, autre)})
    assert formulaire_refuse(reponse)
    assert formulaire_refuse(entete)
    assert ligne(serveur, id_de_session(client)) is not None


@pytest.mark.parametrize(
    "entetes",
    [{"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}],
    ids=["origin", "sec-fetch-site-cross", "sec-fetch-site-same-site"],
)
def test_a_form_sent_from_another_site_is_refused_even_with_the_right_token(
    serveur: Serveur, client: httpx.Client, entetes: dict[str, str]
) -> None:
    jeton = csrf_de(serveur, client)
    reponse = client.post("/pages/deconnexion", data={"csrf": jeton}, headers=entetes)
    assert formulaire_refuse(reponse)
    assert ligne(serveur, id_de_session(client)) is not None


def test_the_same_form_from_the_same_site_is_accepted(serveur: Serveur, client: httpx.Client) -> None:
    """The control of the refusals above: the right token, from the pages' own origin, signs out."""
    entetes = {"Origin": serveur.url, "Sec-Fetch-Site": "same-origin"}
    reponse = client.post("/pages/deconnexion", data={"csrf": csrf_de(serveur, client)}, headers=entetes)
    assert reponse.status_code == 303
    assert reponse.headers["location"] == CONNEXION


def test_behind_an_ingress_ending_tls_the_https_origin_of_the_same_host_is_accepted(
    serveur: Serveur, client: httpx.Client
) -> None:
    """The browser says ``Origin: https://host``; the process, behind the TLS-ending ingress, sees http."""
    hote = httpx.URL(serveur.url).netloc.decode()
    id_session = id_de_session(client)
    entetes = {"Origin": f"https://{hote}", "Sec-Fetch-Site": "same-origin"}
    reponse = client.post("/pages/deconnexion", data={"csrf": csrf_de(serveur, client)}, headers=entetes)
    assert reponse.status_code == 303
    assert ligne(serveur, id_session) is None


@pytest.mark.parametrize("origine", ["https://evil.example", "null", "http://127.0.0.1.evil.example"])
def test_an_origin_naming_another_host_is_refused(serveur: Serveur, client: httpx.Client, origine: str) -> None:
    reponse = client.post("/pages/deconnexion", data={"csrf": csrf_de(serveur, client)}, headers={"Origin": origine})
    assert formulaire_refuse(reponse)
    assert ligne(serveur, id_de_session(client)) is not None


@pytest.mark.parametrize("cas", ["sans-cookie", "sans-champ", "autre-valeur", "autre-site"])
def test_the_sign_in_form_is_refused_without_its_own_csrf_token(serveur: Serveur, cas: str) -> None:
    with httpx.Client(base_url=serveur.url, timeout=30) as client:
        jeton = jeton_du_formulaire(client.get(CONNEXION).text)
        assert client.cookies.get(COOKIE_CSRF_CONNEXION) == jeton
        corps = {"role": "referent", "departements": DEPARTEMENT, "csrf": jeton}
        entetes: dict[str, str] = {}
        if cas == "sans-cookie":
            client.cookies.clear()
        elif cas == "sans-champ":
            del corps["csrf"]
        elif cas == "autre-valeur":
            corps["csrf"] = jeton[::-1]
        else:
            entetes["Origin"] = "http://evil.example"
        reponse = client.post(CONNEXION, data=corps, headers=entetes)
        assert formulaire_refuse(reponse)
        assert COOKIE not in client.cookies


# -- the session's end -------------------------------------------------------------------------------------


def test_a_session_left_idle_ends_and_its_row_is_deleted(serveur: Serveur, client: httpx.Client) -> None:
    id_session = id_de_session(client)
    assert not va_a_la_connexion(client.get("/pages/"))
    modifier(serveur, id_session, "vu_le = now() - interval '31 minutes'")
    reponse = client.get("/pages/")
    assert va_a_la_connexion(reponse)
    assert ligne(serveur, id_session) is None


def test_a_session_past_its_absolute_end_ends_even_when_used(serveur: Serveur, client: httpx.Client) -> None:
    id_session = id_de_session(client)
    modifier(serveur, id_session, "expire_le = now() - interval '1 second', vu_le = now()")
    assert va_a_la_connexion(client.get("/pages/", headers={"HX-Request": "true"}))
    assert ligne(serveur, id_session) is None


def test_signing_out_deletes_the_session_and_the_old_cookie_opens_nothing(
    serveur: Serveur, client: httpx.Client
) -> None:
    id_session = id_de_session(client)
    ancien = client.cookies.get(COOKIE)
    reponse = client.post("/pages/deconnexion", data={"csrf": csrf_de(serveur, client)})
    assert reponse.status_code == 303
    assert f'{COOKIE}=""' in reponse.headers["set-cookie"] or "Max-Age=0" in reponse.headers["set-cookie"]
    assert ligne(serveur, id_session) is None
    with httpx.Client(base_url=serveur.url, timeout=30, cookies={COOKIE: ancien or ""}) as rejoue:
        assert va_a_la_connexion(rejoue.get("/pages/"))


def test_a_cookie_whose_signature_was_changed_leads_to_sign_in(serveur: Serveur, client: httpx.Client) -> None:
    valeur = client.cookies.get(COOKIE)
    assert valeur
    # The signature's first character: its last one may only carry base64 padding bits, which decoding drops.
    debut, signature = valeur.rsplit(".", 1)
    falsifie = f"{debut}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    with httpx.Client(base_url=serveur.url, timeout=30, cookies={COOKIE: falsifie}) as autre:
        assert va_a_la_connexion(autre.get("/pages/"))
    # The same id with a signature of another key (as made by someone who read the table and the code).
    faux = CookieSession(secret=b"x" * 48, securise=False, duree_s=3600).valeur(id_de_session(client))
    with httpx.Client(base_url=serveur.url, timeout=30, cookies={COOKIE: faux}) as autre:
        assert va_a_la_connexion(autre.get("/pages/"))
    assert not va_a_la_connexion(client.get("/pages/"))


def test_the_session_cookie_is_httponly_samesite_lax_on_every_path(serveur: Serveur) -> None:
    with httpx.Client(base_url=serveur.url, timeout=30) as client:
        jeton = jeton_du_formulaire(client.get(CONNEXION).text)
        reponse = client.post(CONNEXION, data={"role": "referent", "departements": DEPARTEMENT, "csrf": jeton})
    cookies = reponse.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith(COOKIE + "="))
    attributs = {a.strip().split("=")[0].lower(): a.strip() for a in session.split(";")[1:]}
    assert "httponly" in attributs
    assert attributs["samesite"].lower() == "samesite=lax"
    assert attributs["path"] == "Path=/"
    assert "domain" not in attributs
    assert "secure" not in attributs  # plain HTTP in dev: a Secure cookie would never come back


def test_over_https_the_cookie_is_secure_and_host_prefixed() -> None:
    assert PagesSettings(pages_cookie_securise=True).cookie_securise
    assert not PagesSettings().cookie_securise
    production = PagesSettings(
        mode="production", oidc_issuer="https://idp.example", pages_oidc_client_id="pages",
        pages_oidc_redirect_uri="https://ase.example/pages/connexion/retour",
        pages_secret="s" * 40, database_url="postgresql://ase@db/ase",
    )  # fmt: skip
    assert production.cookie_securise
    cookie = CookieSession(secret=b"k" * 40, securise=True, duree_s=3600)
    assert cookie.nom == COOKIE_SECURISE == "__Host-ase_session"
    comp = cast(ComposantsPages, SimpleNamespace(cookie=cookie, settings=production))
    utilisateur = Utilisateur(sub="a", roles=frozenset({"referent"}), departements=frozenset({"59"}))
    session = Session(id="id", utilisateur=utilisateur, jeton="j", csrf="c", expire_le=None)  # type: ignore[arg-type]
    reponse = Response()
    poser_session(comp, reponse, session)
    entete = reponse.headers["set-cookie"]
    assert entete.startswith("__Host-ase_session=")
    assert "Secure" in entete
    assert "HttpOnly" in entete
    assert "Path=/" in entete
    assert "Domain" not in entete


# -- headers and redirects ---------------------------------------------------------------------------------


@pytest.mark.parametrize("chemin", ["/pages/connexion", "/pages/", "/pages/nexiste-pas"])
def test_pages_forbid_inline_scripts_framing_and_caching(serveur: Serveur, client: httpx.Client, chemin: str) -> None:
    reponse = client.get(chemin)
    csp = reponse.headers["content-security-policy"]
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert reponse.headers["x-frame-options"] == "DENY"
    assert reponse.headers["cache-control"] == "no-store"
    assert reponse.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("ailleurs", ["https://evil.example", "//evil.example", "/\\evil.example", "/pages/\\\\evil"])
def test_sign_in_never_sends_the_browser_to_another_site(serveur: Serveur, ailleurs: str) -> None:
    with httpx.Client(base_url=serveur.url, timeout=30) as client:
        formulaire = client.get(CONNEXION, params={"retour": ailleurs})
        assert 'name="retour" value="/pages/"' in formulaire.text
        corps = {"role": "referent", "departements": DEPARTEMENT, "retour": ailleurs,
                 "csrf": jeton_du_formulaire(formulaire.text)}  # fmt: skip
        reponse = client.post(CONNEXION, data=corps)
    assert reponse.status_code == 303
    assert reponse.headers["location"] == "/pages/"


# -- what the table holds ------------------------------------------------------------------------------------


def test_the_sessions_table_holds_neither_the_token_nor_the_cookie_id(serveur: Serveur) -> None:
    sub = f"securite-{uuid.uuid4()}"
    with closing(connecter(serveur, sub=sub)) as client:
        id_session = id_de_session(client)
        session = ligne(serveur, id_session)
    assert session is not None
    chiffre = bytes(session["jeton"])
    jeton = _dechiffrer(id_session, chiffre)  # the cookie's id is the key: with it, the token comes back
    assert jeton.startswith("eyJ")
    assert jeton.count(".") == 2
    for morceau in jeton.split("."):
        assert morceau.encode() not in chiffre
    assert b"eyJ" not in chiffre
    assert sub.encode() not in chiffre
    assert bytes(session["cle"]) != id_session.encode()
    assert id_session.encode() not in bytes(session["cle"])
    assert all(id_session not in str(valeur) for valeur in session.values())
