"""A dossier's page beside the API calls it makes, in one run: what the pages layer costs.

Setup: an embedded PostgreSQL (fresh database) and ``ase serve`` in its own process on 127.0.0.1 (every API
and the pages, as ``make run``), ``DOSSIERS`` dossiers (``ASE_BENCH_PAGES``, default 50) of one département,
each with a measure, an accueil and a change of lieu, recorded through the command API, then the read model
waited for.

- ``page``: ``GET /pages/dossiers/{id}`` with a session cookie (signed in through the dev page): the session
  read, the four API calls the page makes in-process (the stream's state, its events, the dossier, its alerts),
  the timeline built and the template rendered.
- ``api``: the same four calls, made by an ``httpx`` client over HTTP with the bearer token: what a client
  of the APIs (a single-page application, another system) would ask to show the same dossier.

After a warm-up, the two alternate ``TOURS`` times over every dossier, sequentially; medians are compared.
The ratio ``api/page`` is the share of the bare API calls' throughput the page keeps (1.0: the page costs
nothing more; the access log is written on both paths alike).
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from benchmarks.postgres_jetable import postgres_jetable
from services.runtime.auth import CleDeDeveloppement

NOM = "pages"
DOSSIERS = int(os.environ.get("ASE_BENCH_PAGES", "50"))
TOURS = 5
DEPARTEMENT = "59"
PRET = "Application startup complete"


def _lancer(port: int, donnees: Path, url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DATABASE_URL": url, "ASE_LOG_LEVEL": "WARNING", "ASE_HORLOGE_MAJORITE": "false"}
    processus = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.cli",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(donnees),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    fin = time.monotonic() + 90
    while time.monotonic() < fin:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return processus
        except httpx.HTTPError:
            pass
        if processus.poll() is not None:
            break
        time.sleep(0.2)  # a process starting up gives no signal to wait on
    processus.kill()
    raise RuntimeError("ase serve did not start")


def _semer(api: httpx.Client) -> list[str]:
    """``DOSSIERS`` children, each placed then moved, through the command API."""

    def ok(reponse: httpx.Response) -> dict[str, Any]:
        assert reponse.status_code in (200, 201), reponse.text
        donnees: dict[str, Any] = reponse.json()
        return donnees

    lieux = [
        ok(
            api.post(
                "/v1/lieux", json={"nom": f"MECS {n}", "type": "mecs", "departement": DEPARTEMENT, "capacite": 500}
            )
        )["id"]
        for n in range(2)
    ]
    debut = date.today() - timedelta(days=60)
    ids = []
    for n in range(DOSSIERS):
        personne = {"nom": f"Banc{n}", "prenoms": "Essai", "date_naissance": "2012-03-04", "sexe": "F"}
        pid = ok(api.post("/v1/parcours", json={"personne": personne, "departement": DEPARTEMENT,
                                                "date_effet": debut.isoformat(), "referent_id": "banc"}))["id"]  # fmt: skip
        mesure = ok(api.post(f"/v1/parcours/{pid}/mesures", json={
            "cadre": "administratif", "nature": "accueil_provisoire", "autorite": "president_cd",
            "reference_decision": f"B-{n}", "date_debut": debut.isoformat(),
            "date_echeance": (debut + timedelta(days=300)).isoformat(), "date_effet": debut.isoformat()}))  # fmt: skip
        ok(api.post(f"/v1/parcours/{pid}/accueil", json={"mesure_id": mesure["mesure_id"], "lieu_id": lieux[0],
                                                         "date_effet": debut.isoformat()}))  # fmt: skip
        ok(api.post(f"/v1/parcours/{pid}/accueil/changement", json={
            "lieu_id": lieux[1], "motif": "besoin_enfant", "date_effet": (debut + timedelta(days=10)).isoformat()}))  # fmt: skip
        ids.append(str(pid))
    fin = time.monotonic() + 120
    while any(api.get(f"/v1/dossiers/{i}").status_code != 200 for i in ids[-1:]):
        assert time.monotonic() < fin, "the read model did not catch up"
        time.sleep(0.2)  # the read model follows the store's log a moment later
    return ids


def _session(client: httpx.Client) -> None:
    formulaire = client.get("/pages/connexion").text
    jeton = re.search(r'name="csrf" value="([^"]+)"', formulaire)
    assert jeton is not None
    reponse = client.post("/pages/connexion", data={"role": "referent", "departements": DEPARTEMENT,
                                                    "sub": "banc", "csrf": jeton.group(1)})  # fmt: skip
    assert reponse.status_code == 303, reponse.text


def _tour_page(client: httpx.Client, ids: list[str]) -> float:
    debut = time.perf_counter()
    for i in ids:
        reponse = client.get(f"/pages/dossiers/{i}")
        assert reponse.status_code == 200, reponse.status_code
        assert "Dossier de" in reponse.text
    return time.perf_counter() - debut


def _tour_api(api: httpx.Client, ids: list[str]) -> float:
    debut = time.perf_counter()
    for i in ids:
        appels: list[tuple[str, dict[str, str]]] = [
            (f"/v1/parcours/{i}", {}),
            (f"/v1/parcours/{i}/evenements", {}),
            (f"/v1/dossiers/{i}", {}),
            ("/v1/alertes", {"parcours_id": i, "taille": "200"}),
        ]
        for chemin, params in appels:
            assert api.get(chemin, params=params).status_code == 200
    return time.perf_counter() - debut


def executer() -> dict[str, Any]:
    with postgres_jetable() as pg, tempfile.TemporaryDirectory(prefix="ase-bench-pages-") as dossier:
        donnees = Path(dossier)
        port = 8090
        processus = _lancer(port, donnees, pg.nouvelle_base("bench_pages"))
        try:
            jeton = CleDeDeveloppement.dans(donnees).signer(sub="banc", roles=["referent"], departements=[DEPARTEMENT])
            base = f"http://127.0.0.1:{port}"
            with (
                httpx.Client(base_url=base, headers={"Authorization": f"Bearer {jeton}"}, timeout=30) as api,
                httpx.Client(base_url=base, timeout=30) as navigateur,
            ):
                ids = _semer(api)
                _session(navigateur)
                _tour_page(navigateur, ids[:10])
                _tour_api(api, ids[:10])
                pages, appels = [], []
                for _ in range(TOURS):
                    pages.append(_tour_page(navigateur, ids))
                    appels.append(_tour_api(api, ids))
        finally:
            processus.terminate()
            processus.wait(timeout=30)
    page_ms = statistics.median(pages) / len(ids) * 1000
    api_ms = statistics.median(appels) / len(ids) * 1000
    return {
        "dossiers": len(ids),
        "tours": TOURS,
        "page_ms": round(page_ms, 2),
        "api_ms": round(api_ms, 2),
        "ratio_api_sur_page": round(api_ms / page_ms, 3),
    }


def rapport(resultat: dict[str, Any]) -> str:
    return (
        f"Pages: une page de dossier {resultat['page_ms']} ms (médiane sur {resultat['tours']} tours de "
        f"{resultat['dossiers']} dossiers), ses 4 appels d'API par HTTP {resultat['api_ms']} ms; "
        f"ratio api/page {resultat['ratio_api_sur_page']}x"
    )
