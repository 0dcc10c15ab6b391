"""``ase up`` / ``ase down`` as real commands: the distributed stack on one machine.

``ase up`` starts PostgreSQL, a Kafka broker, the three services and the relay
as detached processes and returns once they answer; a parcours opened through
the printed URL and token reaches Kafka (so the relay runs); ``ase down`` stops
every process it recorded and frees every port.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]
from aiokafka import AIOKafkaConsumer

from contracts.enveloppe import TOPIC_PARCOURS

SERVICES = ("parcours", "projections", "notifications")


def _port_libre() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_disponible(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _disparu(pid: int, cree_le: float) -> bool:
    """Gone, a zombie nobody reaped yet, or the pid now belongs to another process."""
    try:
        processus = psutil.Process(pid)
        return bool(abs(processus.create_time() - cree_le) >= 1.0 or processus.status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def _ase(*arguments: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *arguments],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


async def _attendre_sur_kafka(bootstrap: str, sujet: str, *, delai_s: float) -> dict[str, str]:
    """Read the parcours topic from the start until a message whose ``ce_subject`` is ``sujet``."""
    consommateur = AIOKafkaConsumer(
        TOPIC_PARCOURS,
        bootstrap_servers=bootstrap,
        group_id=f"test-ase-up-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consommateur.start()
    fin = time.monotonic() + delai_s
    try:
        while time.monotonic() < fin:
            lots = await consommateur.getmany(timeout_ms=500)
            for messages in lots.values():
                for message in messages:
                    entetes = {k: v.decode() for k, v in message.headers}
                    if entetes.get("ce_subject") == sujet:
                        return entetes
    finally:
        await consommateur.stop()
    raise AssertionError(f"no message with ce_subject={sujet} on {TOPIC_PARCOURS} within {delai_s}s")


def test_ase_up_runs_the_distributed_stack_and_ase_down_stops_it(tmp_path: Path) -> None:
    debut = time.monotonic()
    data_dir = tmp_path / "donnees"
    ports = {nom: _port_libre() for nom in (*SERVICES, "kafka")}
    env = {
        **os.environ,
        "ASE_PARCOURS_PORT": str(ports["parcours"]),
        "ASE_PROJECTIONS_PORT": str(ports["projections"]),
        "ASE_NOTIFICATIONS_PORT": str(ports["notifications"]),
        "ASE_KAFKA_PORT": str(ports["kafka"]),
        "ASE_LOG_LEVEL": "INFO",
    }
    for variable in ("DATABASE_URL", "ASE_DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "ASE_MODE"):
        env.pop(variable, None)
    etat = data_dir / "pile" / "processus.json"
    enregistres: list[tuple[str, int, float]] = []
    try:
        up = _ase("up", "--data-dir", str(data_dir), "--timeout", "70", env=env, timeout=85)
        assert up.returncode == 0, f"ase up failed:\n{up.stdout}\n{up.stderr}"
        sortie = up.stdout

        # What up recorded: every process with its start time, and the PostgreSQL it started.
        pile = json.loads(etat.read_text())
        for p in pile["processus"]:
            enregistres.append((p["nom"], p["pid"], p["cree_le"]))
            enregistres += [(f"{p['nom']} (enfant)", e["pid"], e["cree_le"]) for e in p["enfants"]]
        assert {nom for nom, _, _ in enregistres} >= {"kafka", "parcours", "relay", "projections", "notifications"}
        assert pile["postgres"]["demarre_par_up"] is True
        enregistres.append(("postgres", pile["postgres"]["pid"], pile["postgres"]["cree_le"]))
        assert not any(_disparu(pid, cree_le) for _, pid, cree_le in enregistres)

        # The printed URLs, Kafka bootstrap and token.
        urls = {nom: re.search(rf"^{nom}\s+(http://\S+)", sortie, re.MULTILINE) for nom in SERVICES}
        assert all(urls.values()), sortie
        url = {nom: trouve.group(1) for nom, trouve in urls.items() if trouve}
        for nom in SERVICES:
            assert url[nom] == f"http://127.0.0.1:{ports[nom]}"
            assert httpx.get(f"{url[nom]}/healthz").status_code == 200
            assert httpx.get(f"{url[nom]}/readyz").status_code == 200
        bootstrap = re.search(r"KAFKA_BOOTSTRAP_SERVERS=(\S+)", sortie)
        assert bootstrap is not None
        assert bootstrap.group(1) == f"127.0.0.1:{ports['kafka']}"
        lignes = sortie.splitlines()
        jeton = next(lignes[i + 1].strip() for i, ligne in enumerate(lignes) if ligne.startswith("Jeton"))

        # Up again: already running, nothing restarted.
        encore = _ase("up", "--data-dir", str(data_dir), env=env, timeout=30)
        assert encore.returncode == 0, encore.stderr
        assert "tourne déjà" in encore.stdout
        assert [p["pid"] for p in json.loads(etat.read_text())["processus"]] == [p["pid"] for p in pile["processus"]]

        # A parcours opened with the printed token reaches Kafka: the relay publishes.
        reponse = httpx.post(
            f"{url['parcours']}/v1/parcours",
            json={
                "personne": {"nom": "Martin", "prenoms": "Léa", "date_naissance": "2012-04-03", "sexe": "F"},
                "departement": "59",
                "date_effet": "2025-01-06",
            },
            headers={"Authorization": f"Bearer {jeton}"},
            timeout=10,
        )
        assert reponse.status_code == 201, reponse.text
        parcours_id = reponse.json()["id"]
        entetes = asyncio.run(_attendre_sur_kafka(bootstrap.group(1), parcours_id, delai_s=30))
        assert entetes["ce_type"].endswith("parcours_ouvert.v1")
        assert entetes["ce_source"] == "/ase/59/parcours"
    finally:
        down = _ase("down", "--data-dir", str(data_dir), env=env, timeout=120)
    assert down.returncode == 0, f"ase down failed:\n{down.stdout}\n{down.stderr}"
    assert "Pile arrêtée" in down.stdout

    encore_la = [(nom, pid) for nom, pid, cree_le in enregistres if not _disparu(pid, cree_le)]
    assert not encore_la, f"still running after ase down: {encore_la}"
    occupes = [nom for nom, port in ports.items() if not _port_disponible(port)]
    assert not occupes, f"ports still taken after ase down: {occupes}"
    assert not etat.exists()

    rien = _ase("down", "--data-dir", str(data_dir), env=env, timeout=30)
    assert rien.returncode == 0
    assert "Rien ne tourne" in rien.stdout
    assert time.monotonic() - debut < 90


def test_ase_up_names_a_port_already_taken_and_leaves_nothing_running(tmp_path: Path) -> None:
    data_dir = tmp_path / "donnees"
    env = dict(os.environ)
    for variable in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "ASE_MODE"):
        env.pop(variable, None)
    with socket.socket() as occupe:
        occupe.bind(("127.0.0.1", 0))
        occupe.listen()
        port = occupe.getsockname()[1]
        env.update(
            ASE_PARCOURS_PORT=str(port),
            ASE_PROJECTIONS_PORT=str(_port_libre()),
            ASE_NOTIFICATIONS_PORT=str(_port_libre()),
            ASE_KAFKA_PORT=str(_port_libre()),
        )
        up = _ase("up", "--data-dir", str(data_dir), env=env, timeout=60)
    assert up.returncode == 1
    assert f"parcours {port}" in up.stderr
    assert "ASE_PARCOURS_PORT" in up.stderr
    assert not (data_dir / "pile" / "processus.json").exists()
    assert "Rien ne tourne" in _ase("down", "--data-dir", str(data_dir), env=env, timeout=30).stdout
