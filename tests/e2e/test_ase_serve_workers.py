"""``ase serve --workers 2``: two API processes on one socket, both serving commands, one embedded PostgreSQL
and one token key; the workers stop with the parent, even a parent killed with ``kill -9``."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import orjson
import psutil

from services.runtime.auth import CleDeDeveloppement
from services.runtime.postgres import processus_postgres
from tests.e2e.lanceur import lancer_ase_serve, port_libre
from tests.e2e.test_ase_serve_arret import (
    ARRET_S,
    DEMARRAGE_S,
    _attendre_qu_aucun_postgres_ne_reste,
)

CONNEXIONS_MAX = 64


def _travailleurs(parent: int) -> list[psutil.Process]:
    return [p for p in psutil.Process(parent).children() if "services.cli.travailleurs" in " ".join(p.cmdline())]


def _ouvrir(port: int, jeton: str) -> socket.socket:
    """A new connection that has just answered ``POST /v1/parcours`` with 201 (kept open)."""
    corps = orjson.dumps(
        {
            "personne": {"nom": "Martin", "prenoms": "Léa", "date_naissance": "2012-04-03", "sexe": "F"},
            "departement": "59",
            "date_effet": "2025-01-06",
        }
    )
    connexion = socket.create_connection(("127.0.0.1", port), timeout=30)
    connexion.sendall(
        b"POST /v1/parcours HTTP/1.1\r\nHost: ase\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {jeton}\r\nContent-Length: {len(corps)}\r\n\r\n".encode()
        + corps
    )
    reponse = connexion.recv(65536)
    assert reponse.startswith(b"HTTP/1.1 201"), reponse[:500]
    return connexion


def _proprietaire(travailleurs: list[psutil.Process], connexion: socket.socket) -> int:
    """The worker whose accepted socket is the other end of ``connexion``."""
    local = connexion.getsockname()[1]
    for travailleur in travailleurs:
        if any(c.raddr and c.raddr.port == local for c in travailleur.net_connections(kind="tcp")):
            return travailleur.pid
    raise AssertionError(f"aucun travailleur ne tient la connexion du port {local}")


def test_deux_travailleurs_servent_des_commandes(donnees: Path) -> None:
    port = port_libre()
    parent, _ = lancer_ase_serve(donnees, port, delai_s=DEMARRAGE_S, options=("--workers", "2"))
    connexions: list[socket.socket] = []
    try:
        travailleurs = _travailleurs(parent.pid)
        assert len(travailleurs) == 2, travailleurs
        # One embedded PostgreSQL (the parent's), one signing key in the data folder for both.
        postgres = processus_postgres(donnees / "postgres")
        postmasters = [p for p in postgres if p.ppid() not in {q.pid for q in postgres}]
        assert len(postmasters) == 1, postmasters
        jeton = CleDeDeveloppement.dans(donnees).signer(sub="dev", roles=["referent"], departements=["59"])
        servis: set[int] = set()
        while servis != {t.pid for t in travailleurs}:
            # The kernel gives each new connection to one worker: new ones until both have answered one.
            assert len(connexions) < CONNEXIONS_MAX, f"un seul travailleur a répondu en {CONNEXIONS_MAX} connexions"
            connexions.append(_ouvrir(port, jeton))
            servis.add(_proprietaire(travailleurs, connexions[-1]))
        for connexion in connexions:
            connexion.close()
        parent.kill()  # kill -9: the workers see their standard input close
        parent.wait(timeout=ARRET_S)
        _, survivants = psutil.wait_procs(travailleurs, timeout=ARRET_S)
        assert not [t for t in survivants if t.status() != psutil.STATUS_ZOMBIE], "des travailleurs survivent"
    finally:
        parent.send_signal(signal.SIGKILL)
        for connexion in connexions:
            connexion.close()


def test_sigterm_arrete_les_travailleurs_puis_le_postgresql(donnees: Path) -> None:
    """SIGTERM to the parent: each worker ends its lifespan, then the parent stops the embedded PostgreSQL."""
    parent, _ = lancer_ase_serve(donnees, port_libre(), delai_s=DEMARRAGE_S, options=("--workers", "2"))
    try:
        travailleurs = _travailleurs(parent.pid)
        assert len(travailleurs) == 2, travailleurs
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=ARRET_S) == 0
        assert not any(t.is_running() and t.status() != psutil.STATUS_ZOMBIE for t in travailleurs)
    finally:
        parent.kill()
    _attendre_qu_aucun_postgres_ne_reste(donnees / "postgres")
