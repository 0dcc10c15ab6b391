"""Tamper evidence on a real PostgreSQL: ``ase audit verify`` finds every kind of break made by hand in SQL,
and a checkpoint taken before an alteration proves what a re-chained store hides."""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.utils import get_topic
from typer.testing import CliRunner

from services.cli.commandes import app
from services.parcours.persistence import PostgresRecorderIdempotent
from services.parcours.point_de_controle import FICHIER_CLE_DEV, empreinte_cle, publique_brute
from services.runtime.horloge import HorlogeFixe
from services.runtime.postgres import env_eventsourcing
from tests.integration.api_parcours import autre_instance, ouvrir
from tests.integration.conftest import AUJOURD_HUI, Api

OUVERT_LE = date(2026, 10, 1)
RAPPORTS = 3
"""Per parcours: versions 1 (opened) to 4."""


@dataclass
class Audit:
    code: int
    rapport: dict[str, Any]
    sortie: str


def audit(url: str, *arguments: str, env: dict[str, str] | None = None) -> Audit:
    """``ase audit verify --json …`` on the database at ``url``, in process."""
    resultat = CliRunner().invoke(
        app, ["audit", "verify", "--json", *arguments], env={"DATABASE_URL": url, **(env or {})}
    )
    try:
        rapport = json.loads(resultat.stdout)
    except ValueError:
        rapport = {}
    return Audit(resultat.exit_code, rapport, resultat.stdout + resultat.stderr)


def checkpoint(url: str, fichier: Path, cle: str) -> str:
    """``ase audit checkpoint --sortie FICHIER`` signed with ``cle``; returns its stderr (the fingerprint)."""
    resultat = CliRunner().invoke(
        app,
        ["audit", "checkpoint", "--sortie", str(fichier)],
        env={"DATABASE_URL": url, "ASE_CLE_SIGNATURE_AUDIT": cle},
    )
    assert resultat.exit_code == 0, resultat.stdout + resultat.stderr
    return resultat.stderr


CLE = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
"""A fixed Ed25519 private key (bytes 0..31, base64)."""

EMPREINTE = empreinte_cle(publique_brute(Ed25519PrivateKey.from_private_bytes(bytes(range(32)))))
"""The fingerprint of :data:`CLE`'s public key: what the operator keeps outside the database."""

AUTRE_CLE = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
"""Another Ed25519 private key (bytes 32..63): the forger's."""


def sql(url: str, requete: str, *parametres: Any) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(requete, parametres)


async def remplir(api: Api, parcours: int = 2) -> list[str]:
    """``parcours`` parcours, each at version 1 + RAPPORTS; their ids."""
    ids = []
    for _ in range(parcours):
        pid = (await ouvrir(api, OUVERT_LE))["id"]
        for _ in range(RAPPORTS):
            reponse = await api.post(
                f"/v1/parcours/{pid}/rapports", {"transmis_au_juge": False, "date_effet": "2026-10-02"}
            )
            assert reponse.status_code in (200, 201), reponse.text
        ids.append(pid)
    return ids


def seule_cassure(resultat: Audit, flux: str) -> dict[str, Any]:
    assert resultat.code == 1, resultat.sortie
    assert resultat.rapport["intacte"] is False
    cassures = resultat.rapport["cassures"]
    assert [c["flux"] for c in cassures] == [flux], cassures
    cassure: dict[str, Any] = cassures[0]
    return cassure


RECHAINER = """
WITH RECURSIVE chaine AS (
    SELECT originator_id, originator_version, empreinte_precedente AS precedente, empreinte AS h
    FROM ase_events WHERE originator_id = %(flux)s AND originator_version = 1
  UNION ALL
    SELECT e.originator_id, e.originator_version, c.h,
           ase_events_empreinte(c.h, e.originator_id::text, e.originator_version, e.topic, e.state)
    FROM ase_events e JOIN chaine c ON e.originator_id = c.originator_id AND e.originator_version = c.originator_version + 1
)
UPDATE ase_events e SET empreinte_precedente = c.precedente, empreinte = c.h
FROM chaine c WHERE e.originator_id = c.originator_id AND e.originator_version = c.originator_version;
--
UPDATE ase_integrite_tetes t SET originator_version = e.originator_version, empreinte = e.empreinte
FROM (SELECT DISTINCT ON (originator_id) originator_id, originator_version, empreinte FROM ase_events
      WHERE originator_id = %(flux)s ORDER BY originator_id, originator_version DESC) e
WHERE t.originator_id = e.originator_id;
"""
"""What an attacker with SQL access and this code does after an edit: recompute the stream's chain and head."""


def rechainer(url: str, flux: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for requete in RECHAINER.split("--"):
            conn.execute(requete, {"flux": flux})


# -- a clean store -----------------------------------------------------------------


async def test_an_untouched_store_verifies_with_exit_0_and_counts_every_stream(api: Api, base_url: str) -> None:
    await remplir(api)

    resultat = audit(base_url)

    assert resultat.code == 0, resultat.sortie
    # Two parcours and the two identities they registered.
    assert resultat.rapport == {
        "intacte": True,
        "portee": "base",
        "flux": 4,
        "evenements": 2 * (1 + RAPPORTS) + 2,
        "cassures": [],
    }


async def test_the_chain_is_written_with_each_event_and_starts_from_the_genesis(api: Api, base_url: str) -> None:
    pid = (await remplir(api, 1))[0]

    with psycopg.connect(base_url) as conn:
        lignes = conn.execute(
            "SELECT originator_version, empreinte_precedente, empreinte FROM ase_events "
            "WHERE originator_id = %s ORDER BY originator_version",
            (pid,),
        ).fetchall()
        tete = conn.execute(
            "SELECT originator_version, empreinte FROM ase_integrite_tetes WHERE originator_id = %s", (pid,)
        ).fetchone()

    assert [v for v, _, _ in lignes] == [1, 2, 3, 4]
    assert lignes[0][1] == bytes(32)
    assert all(lignes[i][1] == lignes[i - 1][2] for i in range(1, 4))
    assert tete == (4, lignes[-1][2])


# -- one test per kind of break ------------------------------------------------------


async def test_an_event_whose_stored_bytes_were_edited_is_reported_as_contenu_modifie(api: Api, base_url: str) -> None:
    pid, autre = await remplir(api)
    sql(
        base_url,
        "UPDATE ase_events SET state = state || ' '::bytea WHERE originator_id = %s AND originator_version = 2",
        pid,
    )

    resultat = audit(base_url)

    assert seule_cassure(resultat, pid) | {"detail": ""} == {
        "flux": pid,
        "version": 2,
        "nature": "contenu_modifie",
        "detail": "",
    }
    assert audit(base_url, "--parcours", autre).code == 0
    texte = CliRunner().invoke(app, ["audit", "verify"], env={"DATABASE_URL": base_url})
    assert texte.exit_code == 1
    assert f"contenu_modifie    flux {pid} version 2:" in texte.stdout


def test_an_unreachable_database_is_unusable_input_not_a_break() -> None:
    resultat = audit("postgresql://postgres@127.0.0.1:1/absente?connect_timeout=2")

    assert resultat.code == 2, resultat.sortie
    assert "PostgreSQL injoignable" in resultat.sortie


async def test_a_deleted_middle_event_is_reported_as_version_manquante(api: Api, base_url: str) -> None:
    pid, _ = await remplir(api)
    sql(base_url, "DELETE FROM ase_events WHERE originator_id = %s AND originator_version = 2", pid)

    cassure = seule_cassure(audit(base_url), pid)

    assert (cassure["nature"], cassure["version"]) == ("version_manquante", 2)


async def test_a_deleted_first_event_is_reported_as_version_manquante_even_when_the_next_one_was_rechained(
    api: Api, base_url: str
) -> None:
    pid, autre = await remplir(api)
    sql(base_url, "DELETE FROM ase_events WHERE originator_id = %s AND originator_version = 1", pid)
    sql(base_url, "DELETE FROM ase_events WHERE originator_id = %s AND originator_version = 1", autre)
    # On the other stream, version 2 is made to look first: linked to the genesis, its hash recomputed.
    sql(
        base_url,
        "UPDATE ase_events SET empreinte_precedente = decode(repeat('00', 32), 'hex'), "
        "empreinte = ase_events_empreinte(decode(repeat('00', 32), 'hex'), originator_id::text, originator_version, "
        "topic, state) WHERE originator_id = %s AND originator_version = 2",
        autre,
    )

    resultat = audit(base_url)

    assert resultat.code == 1, resultat.sortie
    assert sorted((c["flux"], c["version"], c["nature"]) for c in resultat.rapport["cassures"]) == sorted(
        [(pid, 1, "version_manquante"), (autre, 1, "version_manquante")]
    )


async def test_an_edited_event_whose_own_hash_was_recomputed_breaks_the_link_of_the_next_one(
    api: Api, base_url: str
) -> None:
    pid, _ = await remplir(api)
    sql(
        base_url,
        "UPDATE ase_events SET state = state || ' '::bytea, "
        "empreinte = ase_events_empreinte(empreinte_precedente, originator_id::text, originator_version, topic, "
        "state || ' '::bytea) WHERE originator_id = %s AND originator_version = 2",
        pid,
    )

    cassure = seule_cassure(audit(base_url), pid)

    assert (cassure["nature"], cassure["version"]) == ("chaine_rompue", 3)


async def test_a_stream_whose_last_events_were_deleted_is_reported_as_tronque(api: Api, base_url: str) -> None:
    pid, _ = await remplir(api)
    sql(base_url, "DELETE FROM ase_events WHERE originator_id = %s AND originator_version >= 3", pid)

    cassure = seule_cassure(audit(base_url), pid)

    assert (cassure["nature"], cassure["version"]) == ("tronque", 3)


async def test_a_stream_with_every_event_deleted_is_reported_as_tronque(api: Api, base_url: str) -> None:
    pid, _ = await remplir(api)
    sql(base_url, "DELETE FROM ase_events WHERE originator_id = %s", pid)

    cassure = seule_cassure(audit(base_url), pid)

    assert (cassure["nature"], cassure["version"]) == ("tronque", 1)


async def test_verify_of_one_parcours_reads_only_that_stream(api: Api, base_url: str) -> None:
    pid, autre = await remplir(api)
    sql(base_url, "DELETE FROM ase_events WHERE originator_id = %s AND originator_version = 2", pid)

    seul = audit(base_url, "--parcours", autre)
    casse = audit(base_url, "--parcours", pid)

    assert (seul.code, seul.rapport["flux"], seul.rapport["evenements"]) == (0, 1, 1 + RAPPORTS)
    assert casse.code == 1
    assert [(c["flux"], c["nature"]) for c in casse.rapport["cassures"]] == [(pid, "version_manquante")]


async def test_the_verification_reads_the_table_in_batches_and_finds_the_same_breaks_whatever_their_size(
    api: Api, base_url: str
) -> None:
    from services.parcours.integrite import verifier

    pid, _ = await remplir(api)
    sql(base_url, "DELETE FROM ase_events WHERE originator_id = %s AND originator_version = 3", pid)

    with psycopg.connect(base_url, autocommit=True) as conn:
        rapports = [verifier(conn, taille_lot=taille) for taille in (1, 3, 10_000)]

    assert all(r == rapports[0] for r in rapports)
    assert [(c.flux, c.version, c.nature.value) for c in rapports[0].cassures] == [(pid, 3, "version_manquante")]


# -- checkpoints ---------------------------------------------------------------------


async def test_a_checkpoint_proves_a_truncation_the_chain_alone_no_longer_shows(
    api: Api, base_url: str, tmp_path: Path
) -> None:
    pid, _ = await remplir(api)
    fichier = tmp_path / "point.json"
    messages = checkpoint(base_url, fichier, CLE)
    empreinte = json.loads(fichier.read_text())["empreinte_cle"]
    assert empreinte in messages
    # The attacker deletes the last event and moves the head back: the chain is consistent again.
    sql(base_url, "DELETE FROM ase_events WHERE originator_id = %s AND originator_version = 4", pid)
    rechainer(base_url, pid)
    assert audit(base_url).code == 0

    resultat = audit(base_url, "--checkpoint", str(fichier), "--cle-publique", empreinte)

    assert resultat.code == 1, resultat.sortie
    controle = resultat.rapport["point_de_controle"]
    assert (controle["signature_valide"], controle["racine_valide"], controle["cle_attendue"]) == (True, True, True)
    assert [(c["flux"], c["version"], c["nature"]) for c in controle["cassures"]] == [(pid, 4, "tronque")]


async def test_a_checkpoint_proves_a_history_rewritten_and_rechained(api: Api, base_url: str, tmp_path: Path) -> None:
    pid, _ = await remplir(api)
    fichier = tmp_path / "point.json"
    checkpoint(base_url, fichier, CLE)
    sql(
        base_url,
        "UPDATE ase_events SET state = state || ' '::bytea WHERE originator_id = %s AND originator_version = 2",
        pid,
    )
    rechainer(base_url, pid)
    assert audit(base_url).code == 0

    resultat = audit(base_url, "--checkpoint", str(fichier), "--cle-publique", EMPREINTE)

    assert resultat.code == 1, resultat.sortie
    cassures = resultat.rapport["point_de_controle"]["cassures"]
    assert [(c["flux"], c["version"], c["nature"]) for c in cassures] == [(pid, 4, "reecrit")]


async def test_a_store_that_only_grew_since_the_checkpoint_satisfies_it(
    api: Api, base_url: str, tmp_path: Path
) -> None:
    pid, _ = await remplir(api)
    fichier = tmp_path / "point.json"
    checkpoint(base_url, fichier, CLE)
    reponse = await api.post(f"/v1/parcours/{pid}/rapports", {"transmis_au_juge": True, "date_effet": "2026-10-03"})
    assert reponse.status_code in (200, 201), reponse.text
    await remplir(api, 1)

    resultat = audit(base_url, "--checkpoint", str(fichier), "--cle-publique", str(fichier.parent / "absent"), env={})

    # An unreadable key is refused as input (2), not mistaken for a break.
    assert resultat.code == 2
    document = json.loads(fichier.read_text())
    resultat = audit(base_url, "--checkpoint", str(fichier), "--cle-publique", document["cle_publique"])
    assert resultat.code == 0, resultat.sortie
    assert resultat.rapport["point_de_controle"]["cassures"] == []


async def test_a_checkpoint_edited_after_signing_fails_its_signature(api: Api, base_url: str, tmp_path: Path) -> None:
    await remplir(api)
    fichier = tmp_path / "point.json"
    checkpoint(base_url, fichier, CLE)
    document = json.loads(fichier.read_text())
    document["evenements"] += 1
    fichier.write_text(json.dumps(document))

    resultat = audit(base_url, "--checkpoint", str(fichier), "--cle-publique", EMPREINTE)

    assert resultat.code == 1, resultat.sortie
    assert resultat.rapport["point_de_controle"]["signature_valide"] is False


async def test_a_checkpoint_whose_heads_were_edited_no_longer_matches_its_signed_root(
    api: Api, base_url: str, tmp_path: Path
) -> None:
    pid, _ = await remplir(api)
    fichier = tmp_path / "point.json"
    checkpoint(base_url, fichier, CLE)
    # Forged to fit a truncated store: the head of pid moved back to version 3.
    sql(base_url, "DELETE FROM ase_events WHERE originator_id = %s AND originator_version = 4", pid)
    rechainer(base_url, pid)
    document = json.loads(fichier.read_text())
    with psycopg.connect(base_url) as conn:
        ligne = conn.execute(
            "SELECT empreinte FROM ase_events WHERE originator_id = %s AND originator_version = 3", (pid,)
        ).fetchone()
    assert ligne is not None
    for tete in document["tetes"]:
        if tete["flux"] == pid:
            tete["version"], tete["empreinte"] = 3, ligne[0].hex()
    fichier.write_text(json.dumps(document))

    resultat = audit(base_url, "--checkpoint", str(fichier), "--cle-publique", EMPREINTE)

    assert resultat.code == 1, resultat.sortie
    controle = resultat.rapport["point_de_controle"]
    assert (controle["signature_valide"], controle["racine_valide"]) == (True, False)


async def test_a_checkpoint_signed_by_another_key_than_the_one_kept_outside_is_refused(
    api: Api, base_url: str, tmp_path: Path
) -> None:
    await remplir(api)
    fichier = tmp_path / "point.json"
    checkpoint(base_url, fichier, CLE)
    attendue = "sha256:" + hashlib.sha256(b"une autre clef").hexdigest()

    resultat = audit(base_url, "--checkpoint", str(fichier), "--cle-publique", attendue)

    assert resultat.code == 1, resultat.sortie
    controle = resultat.rapport["point_de_controle"]
    assert (controle["signature_valide"], controle["cle_attendue"]) == (True, False)


async def test_no_checkpoint_is_signed_over_a_broken_chain(api: Api, base_url: str, tmp_path: Path) -> None:
    pid, _ = await remplir(api)
    sql(base_url, "DELETE FROM ase_events WHERE originator_id = %s AND originator_version = 2", pid)

    resultat = CliRunner().invoke(
        app,
        ["audit", "checkpoint", "--sortie", str(tmp_path / "point.json")],
        env={"DATABASE_URL": base_url, "ASE_CLE_SIGNATURE_AUDIT": CLE},
    )

    assert resultat.exit_code == 1
    assert not (tmp_path / "point.json").exists()


async def test_a_re_signed_forged_checkpoint_no_longer_passes_without_the_kept_public_key(
    api: Api, base_url: str, tmp_path: Path
) -> None:
    pid, _ = await remplir(api)
    vrai = tmp_path / "vrai.json"
    checkpoint(base_url, vrai, CLE)
    # The attacker truncates the stream, re-chains it, and signs a new checkpoint of the altered store
    # with a key of her own, which the file then carries.
    sql(base_url, "DELETE FROM ase_events WHERE originator_id = %s AND originator_version = 4", pid)
    rechainer(base_url, pid)
    faux = tmp_path / "point.json"
    checkpoint(base_url, faux, AUTRE_CLE)

    sans_cle = audit(base_url, "--checkpoint", str(faux))
    avec_la_cle_gardee = audit(base_url, "--checkpoint", str(faux), "--cle-publique", EMPREINTE)
    cle_du_fichier = audit(base_url, "--checkpoint", str(faux), "--cle-du-fichier")

    assert sans_cle.code == 2, sans_cle.sortie
    assert "--cle-publique est requise" in sans_cle.sortie
    assert avec_la_cle_gardee.code == 1, avec_la_cle_gardee.sortie
    assert avec_la_cle_gardee.rapport["point_de_controle"]["cle_attendue"] is False
    # Only an explicit choice of the operator trusts the file's key, and it is said aloud.
    assert cle_du_fichier.code == 0, cle_du_fichier.sortie
    assert "crue sur parole" in cle_du_fichier.sortie
    assert audit(base_url, "--checkpoint", str(vrai), "--cle-publique", EMPREINTE).code == 1


async def test_verify_of_one_parcours_against_a_checkpoint_says_the_proof_covers_that_stream_only(
    api: Api, base_url: str, tmp_path: Path
) -> None:
    pid, autre = await remplir(api)
    fichier = tmp_path / "point.json"
    checkpoint(base_url, fichier, CLE)
    sql(base_url, "DELETE FROM ase_events WHERE originator_id = %s AND originator_version = 4", autre)
    rechainer(base_url, autre)

    resultat = audit(base_url, "--parcours", pid, "--checkpoint", str(fichier), "--cle-publique", EMPREINTE)
    texte = CliRunner().invoke(
        app,
        ["audit", "verify", "--parcours", pid, "--checkpoint", str(fichier), "--cle-publique", EMPREINTE],
        env={"DATABASE_URL": base_url},
    )

    assert resultat.code == 0, resultat.sortie
    assert resultat.rapport["portee"] == f"flux {pid}"
    assert texte.exit_code == 0, texte.stdout + texte.stderr
    assert "la base contient tout" not in texte.stdout
    assert f"le flux {pid} contient tout ce que le point de contrôle en a vu" in texte.stdout
    assert "preuve limitée à ce flux" in texte.stdout


async def test_the_checkpoints_dev_key_lands_in_ase_data_dir_not_in_the_working_directory(
    api: Api, base_url: str, tmp_path: Path, monkeypatch: Any
) -> None:
    await remplir(api, 1)
    monkeypatch.chdir(tmp_path)
    donnees = tmp_path / "donnees"

    resultat = CliRunner().invoke(
        app,
        ["audit", "checkpoint", "--sortie", str(tmp_path / "point.json")],
        env={"DATABASE_URL": base_url, "ASE_DATA_DIR": str(donnees), "ASE_CLE_SIGNATURE_AUDIT": None},
    )

    assert resultat.exit_code == 0, resultat.stdout + resultat.stderr
    assert (donnees / FICHIER_CLE_DEV).is_file()
    assert not (tmp_path / ".data").exists()


def test_a_deliberate_rewrite_rechained_by_its_migration_verifies_again(base_url: str) -> None:
    from services.parcours.application import ParcoursApplication
    from services.parcours.integrite import rechainer

    ParcoursApplication(env=env_eventsourcing(base_url), horloge=HorlogeFixe(AUJOURD_HUI)).close()
    flux = "00000000-0000-4000-8000-000000000002"
    sql(
        base_url,
        "INSERT INTO ase_events (originator_id, originator_version, topic, state) VALUES "
        "(%s, 1, 'a:B', '{}'::bytea), (%s, 2, 'a:C', '{\"nom\":\"X\"}'::bytea), (%s, 3, 'a:D', '{}'::bytea)",
        flux,
        flux,
        flux,
    )
    sql(base_url, 'UPDATE ase_events SET state = \'{"nom":"chiffre"}\'::bytea WHERE originator_version = 2')
    assert audit(base_url).code == 1

    with psycopg.connect(base_url) as conn:
        modifies = rechainer(conn, [flux])

    assert modifies == 2
    resultat = audit(base_url)
    assert resultat.code == 0, resultat.sortie


# -- concurrency and migration --------------------------------------------------------


async def test_two_services_writing_at_once_on_the_same_streams_keep_every_chain_valid(api: Api, base_url: str) -> None:
    ids = await remplir(api, 3)
    async with autre_instance(base_url, api) as rivale:
        corps = {"transmis_au_juge": False, "date_effet": "2026-10-02"}
        reponses = await asyncio.gather(
            *(
                client.post(f"/v1/parcours/{pid}/rapports", corps)
                for _ in range(8)
                for pid in ids
                for client in (api, rivale)
            )
        )
    acceptees = sum(r.status_code in (200, 201) for r in reponses)
    assert acceptees > 0
    assert all(r.status_code in (200, 201, 409, 503) for r in reponses), [r.status_code for r in reponses]

    resultat = audit(base_url)

    assert resultat.code == 0, resultat.sortie
    assert resultat.rapport["evenements"] == 3 * (1 + RAPPORTS) + 3 + acceptees


class RecorderSansChaine(PostgresRecorderIdempotent):
    chaine_integrite = False


def test_a_store_written_before_the_chain_is_chained_when_the_service_opens_it(base_url: str) -> None:
    from services.parcours.application import ParcoursApplication

    horloge = HorlogeFixe(AUJOURD_HUI)
    ancienne = ParcoursApplication(
        env={**env_eventsourcing(base_url), "APPLICATION_RECORDER_TOPIC": get_topic(RecorderSansChaine)},
        horloge=horloge,
    )
    ancienne.close()
    sql(
        base_url,
        "INSERT INTO ase_events (originator_id, originator_version, topic, state) VALUES "
        "('00000000-0000-4000-8000-000000000001', 1, 'a:B', '{}'::bytea), "
        "('00000000-0000-4000-8000-000000000001', 2, 'a:C', '{\"x\":1}'::bytea)",
    )
    assert audit(base_url).code == 2  # no chain yet: said so, not reported as broken

    ParcoursApplication(env=env_eventsourcing(base_url), horloge=horloge).close()

    resultat = audit(base_url)
    assert resultat.code == 0, resultat.sortie
    assert (resultat.rapport["flux"], resultat.rapport["evenements"]) == (1, 2)
