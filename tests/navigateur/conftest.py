"""Browser tests: Playwright (the Python package) driving Debian's Chromium, launched by path.

One real ``ase serve`` per test process (its own PostgreSQL, embedded, in a temporary folder, reached
with ``DATABASE_URL`` so the tests can also read it), and one Chromium. Each test gets a fresh browser
context (no cookie shared). ``make test`` installs Chromium (``make chromium``); no browser is downloaded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from services.runtime.postgres import demarrer_postgres_embarque
from tests.e2e.lanceur import port_libre
from tests.navigateur.outils import Serveur, lancer

CHROMIUM = os.environ.get("ASE_CHROMIUM", "/usr/bin/chromium")
"""Debian's Chromium (``apt-get install chromium``); ``make chromium`` installs it."""
ARGUMENTS_CHROMIUM = [
    "--headless=new",
    "--no-sandbox",  # the test command runs as root on CI machines
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # the machine has no Internet: no call home
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def serveur() -> Iterator[Serveur]:
    """``ase serve`` on a free port, its PostgreSQL embedded in a temporary folder."""
    racine = Path(tempfile.mkdtemp(prefix="ase-nav-"))
    url_base = demarrer_postgres_embarque(racine / "pg", effacer_a_la_fin=True)
    donnees = racine / "donnees"
    port = port_libre()
    processus = lancer(donnees, port, url_base)
    try:
        yield Serveur(url=f"http://127.0.0.1:{port}", database_url=url_base, donnees=donnees)
    finally:
        processus.terminate()
        try:
            processus.wait(timeout=30)
        except subprocess.TimeoutExpired:
            processus.kill()
        shutil.rmtree(donnees, ignore_errors=True)


@pytest.fixture(scope="module")
def navigateur() -> Iterator[Browser]:
    """Chromium, for one test module: Playwright's sync API runs an event loop on this thread while it is
    open, so it is closed before the next module (an asyncio test of another file may follow on this worker)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium absent ({CHROMIUM}): `make chromium` l'installe (apt-get install chromium)")
    with sync_playwright() as p:
        navigateur = p.chromium.launch(executable_path=CHROMIUM, args=ARGUMENTS_CHROMIUM)
        yield navigateur
        navigateur.close()


@pytest.fixture
def page(navigateur: Browser, serveur: Serveur) -> Iterator[Page]:
    """A fresh context (no cookie), French, on the server's address."""
    contexte = navigateur.new_context(base_url=serveur.url, locale="fr-FR", viewport={"width": 1280, "height": 900})
    contexte.set_default_timeout(30_000)  # two test processes, each with its server and browser, on 2 cores
    onglet = contexte.new_page()
    yield onglet
    contexte.close()
