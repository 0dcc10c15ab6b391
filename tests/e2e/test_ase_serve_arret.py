"""``ase serve`` stops its embedded PostgreSQL when it stops, and adopts one a killed run left behind."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from services.runtime.auth import CleDeDeveloppement
from services.runtime.postgres import processus_postgres
from tests.e2e.lanceur import lancer_ase_serve, port_libre

DEMARRAGE_S = 90.0
ARRET_S = 60.0


def _lancer(donnees: Path) -> tuple[subprocess.Popen[str], str]:
    """Start ``ase serve`` and wait for its startup line; return it and its URL."""
    port = port_libre()
    processus, _ = lancer_ase_serve(donnees, port, delai_s=DEMARRAGE_S)
    return processus, f"http://127.0.0.1:{port}"


def _postmaster(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().split()[0])


def _attendre_qu_aucun_postgres_ne_reste(pgdata: Path) -> None:
    fin = time.monotonic() + ARRET_S
    while processus_postgres(pgdata):
        if time.monotonic() > fin:
            restants = [(p.pid, p.info["cmdline"]) for p in processus_postgres(pgdata)]
            raise AssertionError(f"PostgreSQL still running on {pgdata} after {ARRET_S} s: {restants}")
        time.sleep(0.1)  # polling interval, bounded by the deadline
    assert not (pgdata / "postmaster.pid").exists()


@pytest.mark.parametrize("signal_d_arret", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_ase_serve_stopped_by_a_signal_left_its_postgresql_running_for_good(
    donnees: Path, signal_d_arret: signal.Signals
) -> None:
    """Regression: stopped with SIGTERM (or an interrupted ``make run``), ``ase serve`` left its
    embedded PostgreSQL running, and later clean stops no longer stopped it either."""
    pgdata = donnees / "postgres"
    serveur, url = _lancer(donnees)
    try:
        assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
        assert processus_postgres(pgdata), "the embedded PostgreSQL should run while ase serve does"
        serveur.send_signal(signal_d_arret)
        serveur.wait(timeout=ARRET_S)
    finally:
        serveur.kill()
    _attendre_qu_aucun_postgres_ne_reste(pgdata)


def test_a_postgresql_left_by_a_killed_ase_serve_ran_for_good(donnees: Path) -> None:
    """Regression: after ``kill -9`` of ``ase serve``, its PostgreSQL ran for good, and the next
    ``ase serve`` joined it without ever stopping it. Now the next one adopts it, then stops it."""
    pgdata = donnees / "postgres"
    tue, url = _lancer(donnees)
    jeton = CleDeDeveloppement.dans(donnees).signer(sub="dev", roles=["referent"], departements=["59"])
    ouverture = httpx.post(
        f"{url}/v1/parcours",
        json={
            "personne": {"nom": "Martin", "prenoms": "Léa", "date_naissance": "2012-04-03", "sexe": "F"},
            "departement": "59",
            "date_effet": "2025-01-06",
        },
        headers={"Authorization": f"Bearer {jeton}"},
        timeout=10,
    )
    assert ouverture.status_code == 201, ouverture.text
    tue.kill()
    tue.wait(timeout=ARRET_S)
    assert processus_postgres(pgdata), "kill -9 gives ase serve no chance to stop its PostgreSQL"
    laisse = _postmaster(pgdata)

    serveur, url = _lancer(donnees)
    try:
        etat = httpx.get(
            f"{url}/v1/parcours/{ouverture.json()['id']}", headers={"Authorization": f"Bearer {jeton}"}, timeout=10
        )
        assert etat.status_code == 200, etat.text
        assert _postmaster(pgdata) == laisse, "the server left running is adopted, not replaced"
        serveur.send_signal(signal.SIGTERM)
        serveur.wait(timeout=ARRET_S)
    finally:
        serveur.kill()
    _attendre_qu_aucun_postgres_ne_reste(pgdata)
