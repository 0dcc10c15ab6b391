"""``ase up``'s supervisord configuration, read back by supervisor itself, and the states ``ase status`` prints."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from supervisor.datatypes import RestartUnconditionally
from supervisor.options import ServerOptions

from services.cli.pile import PARTIES, PRINCIPAL_DE, Pile, programmes
from services.cli.supervision import EtatProgramme, chemin_de_prise, configuration


def _pile(data_dir: Path) -> Pile:
    ports = {"parcours": 18000, "projections": 18001, "notifications": 18002, "relay": 18003, "pages": 18004}
    ports["kafka"] = 19092
    return Pile(data_dir=str(data_dir), ports={**ports, "kafka_controleur": 19093})


def test_supervisord_reads_back_each_part_as_ase_up_writes_it(tmp_path: Path) -> None:
    dossier = tmp_path / "un dossier" / "pile"  # a space: commands and paths are quoted
    (dossier / "logs").mkdir(parents=True)
    pile = _pile(dossier.parent)
    attendus = programmes(pile)
    conf = dossier / "supervisord.conf"
    conf.write_text(configuration(attendus, prise=chemin_de_prise(dossier), dossier=dossier, repertoire=tmp_path))

    options = ServerOptions()
    options.realize(args=["-c", str(conf)])
    lus = {groupe.name: groupe for groupe in options.process_group_configs}
    assert sorted(lus, key=lambda nom: lus[nom].priority) == list(PARTIES)  # started in this order, stopped reversed
    for programme in attendus:
        (lu,) = lus[programme.nom].process_configs
        assert shlex.split(lu.command) == programme.commande
        assert lu.autostart is False  # `ase up` starts each when what it needs is ready
        assert lu.autorestart is RestartUnconditionally  # and supervisord restarts it whenever it dies
        assert lu.stopasgroup
        assert lu.killasgroup
        assert lu.stopwaitsecs == programme.arret_s
        assert lu.stdout_logfile == str(pile.journaux / f"{programme.nom}.log")
        assert lu.redirect_stderr
        assert (lu.environment or {}) == programme.env  # its own Kafka principal, nothing else
    (serveur,) = options.server_configs
    assert serveur["file"] == str(chemin_de_prise(dossier))  # in the folder when its path fits a UNIX socket
    assert serveur["chmod"] == 0o700  # only this user controls the stack
    relais = next(p for p in attendus if p.nom == "relay")
    assert relais.commande[-4:] == ["--port", "18003", "--host", "127.0.0.1"]
    principaux = {p.nom: p.env.get("KAFKA_SASL_USERNAME") for p in attendus}
    assert principaux == {
        "kafka": None,
        "parcours": None,
        "relay": "relais",
        "projections": "projections",
        "notifications": "notifications",
        "pages": None,
    }
    assert all(p.env["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT" for p in attendus if p.nom in PRINCIPAL_DE)
    pages = next(p for p in attendus if p.nom == "pages")
    assert pages.commande[-8:-1] == ["serve", "pages", "--port", "18004", "--host", "127.0.0.1", "--data-dir"]
    assert pages.env == {
        "ASE_PAGES_API_PARCOURS": "http://127.0.0.1:18000",
        "ASE_PAGES_API_PROJECTIONS": "http://127.0.0.1:18001",
        "ASE_PAGES_API_NOTIFICATIONS": "http://127.0.0.1:18002",
    }  # the pages reach the APIs at their ports, with no Kafka principal


def test_a_data_folder_too_deep_for_a_unix_socket_gets_a_short_one(tmp_path: Path) -> None:
    profond = tmp_path / ("d" * 120) / "pile"
    prise = chemin_de_prise(profond)
    assert len(str(prise).encode()) <= 100
    assert prise == chemin_de_prise(profond)  # the same folder, the same socket
    assert chemin_de_prise(tmp_path / "pile") == tmp_path / "pile" / "supervisord.sock"


def test_a_percent_sign_in_a_path_is_refused_rather_than_mangled(tmp_path: Path) -> None:
    dossier = tmp_path / "100%" / "pile"
    with pytest.raises(ValueError, match="%"):
        configuration(programmes(_pile(dossier.parent)), prise=dossier / "s.sock", dossier=dossier, repertoire=tmp_path)


@pytest.mark.parametrize(
    ("etat", "fin", "libelle"),
    [
        ("RUNNING", 0.0, "en marche"),
        ("STARTING", 0.0, "démarrage"),
        ("STARTING", 1000.0, "redémarrage"),  # it ran, died, and is starting again
        ("BACKOFF", 1000.0, "redémarrage"),
        ("STOPPED", 0.0, "arrêté"),
        ("EXITED", 1000.0, "arrêté"),
        ("FATAL", 1000.0, "abandonné"),
    ],
)
def test_ase_status_names_each_supervisord_state(etat: str, fin: float, libelle: str) -> None:
    info = {"name": "relay", "statename": etat, "pid": 42, "start": 900.0, "stop": fin, "now": 1010.0, "exitstatus": 0}
    programme = EtatProgramme.depuis(info)
    assert programme.libelle == libelle
    assert programme.duree_s == (110.0 if etat == "RUNNING" else 0.0)
