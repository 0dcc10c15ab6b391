"""``ase retention``, ``ase cles rotation`` and ``ase cles migrer`` on a real PostgreSQL."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from datetime import date
from uuid import UUID

import psycopg
import pytest
from typer.testing import CliRunner

from services.cli.commandes import app as cli
from services.parcours import integrite
from services.parcours.persistence import JsonMapper
from services.runtime.coffre import TABLE_CLES, CleMaitreInconnueError, reinitialiser_coffre_par_defaut
from tests.integration.api_parcours import NE_LE, NOM, etat, ouvrir
from tests.integration.conftest import Api


@pytest.fixture
def cle_maitre(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """A KEK of the test's own (``k1``); the environment and the process's vault restored after."""
    monkeypatch.setenv("ASE_CLE_MAITRE", base64.b64encode(os.urandom(32)).decode())
    monkeypatch.setenv("ASE_CLE_MAITRE_ID", "k1")
    monkeypatch.delenv("ASE_CLES_MAITRES_ANCIENNES", raising=False)
    reinitialiser_coffre_par_defaut()
    yield monkeypatch
    reinitialiser_coffre_par_defaut()


def _ase(base_url: str, *args: str) -> str:
    resultat = CliRunner().invoke(cli, list(args), env={"DATABASE_URL": base_url}, catch_exceptions=False)
    assert resultat.exit_code == 0, resultat.output
    return resultat.output


def _stocke(base_url: str) -> bytes:
    with psycopg.connect(base_url) as conn:
        return b"".join(bytes(s) for (s,) in conn.execute("SELECT state FROM ase_events").fetchall())


async def test_retention_lists_pseudonymous_ids_then_erases_the_identities_out_for_longer_than_n_years(
    api: Api, base_url: str
) -> None:
    ancien = await ouvrir(api, date(2019, 1, 7))
    sortie = await api.post(
        f"/v1/parcours/{ancien['id']}/sortie",
        {"motif": "retour_en_famille", "situation_logement": "famille", "date_effet": "2020-02-03"},
    )
    assert sortie.status_code == 200, sortie.text
    recent = await ouvrir(api, date(2019, 1, 7))
    sortie = await api.post(
        f"/v1/parcours/{recent['id']}/sortie",
        {"motif": "retour_en_famille", "situation_logement": "famille", "date_effet": "2025-02-03"},
    )
    assert sortie.status_code == 200, sortie.text
    en_cours = await ouvrir(api, date(2019, 1, 7))

    liste = _ase(base_url, "retention", "--apres-annees", "5")
    assert ancien["personne_id"] in liste
    assert recent["personne_id"] not in liste
    assert en_cours["personne_id"] not in liste
    assert NOM not in liste, "ids only, never a name"
    assert (await etat(api, ancien["id"]))["age"] is not None, "listing erases nothing"

    _ase(base_url, "retention", "--apres-annees", "5", "--appliquer")
    assert (await etat(api, ancien["id"]))["identite_effacee"] is True
    assert (await etat(api, recent["id"]))["identite_effacee"] is False
    assert ancien["personne_id"] not in _ase(base_url, "retention", "--apres-annees", "5"), "erased once"


async def test_rotation_rewraps_the_keys_so_that_the_new_kek_alone_reads_everything(
    api: Api, base_url: str, cle_maitre: pytest.MonkeyPatch
) -> None:
    p = await ouvrir(api, date(2025, 1, 7))
    ancienne = os.environ["ASE_CLE_MAITRE"]
    nouvelle = base64.b64encode(os.urandom(32)).decode()

    # The new KEK alone, before the rotation: the keys wrapped by the old one are unreadable.
    cle_maitre.setenv("ASE_CLE_MAITRE", nouvelle)
    cle_maitre.setenv("ASE_CLE_MAITRE_ID", "k2")
    reinitialiser_coffre_par_defaut()
    with pytest.raises(CleMaitreInconnueError):
        api.application.parcours(UUID(p["id"]), frozenset({"59"}))

    cle_maitre.setenv("ASE_CLES_MAITRES_ANCIENNES", f"k1:{ancienne}")
    reinitialiser_coffre_par_defaut()
    assert "1 clé(s)" in _ase(base_url, "cles", "rotation")

    cle_maitre.delenv("ASE_CLES_MAITRES_ANCIENNES")
    reinitialiser_coffre_par_defaut()
    assert (await etat(api, p["id"]))["age"] == 14
    with psycopg.connect(base_url) as conn:
        assert conn.execute(f"SELECT DISTINCT kek_id FROM public.{TABLE_CLES}").fetchall() == [("k2",)]


async def test_the_migration_encrypts_the_events_stored_in_clear_and_they_read_the_same(
    api: Api, base_url: str
) -> None:
    # The write side as it was before encryption: personal fields stored in clear, no key kept.
    mapper = api.application.mapper
    assert isinstance(mapper, JsonMapper)
    mapper.chiffrer = False
    try:
        p = await ouvrir(api, date(2025, 1, 7))
    finally:
        mapper.chiffrer = True
    with psycopg.connect(base_url) as conn:
        conn.execute(f"DELETE FROM public.{TABLE_CLES}")
    assert NOM.encode() in _stocke(base_url), "stored in clear, as before encryption"
    avant = await etat(api, p["id"])

    assert "2 événement(s)" in _ase(base_url, "cles", "migrer")
    stocke = _stocke(base_url)
    assert NOM.encode() not in stocke
    assert NE_LE.isoformat().encode() not in stocke
    assert await etat(api, p["id"]) == avant
    with psycopg.connect(base_url) as conn:
        assert integrite.verifier(conn).intacte, "the migration re-chained the rows it rewrote"
    assert "0 événement(s)" in _ase(base_url, "cles", "migrer"), "a second run finds nothing left in clear"
