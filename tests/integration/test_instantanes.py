"""Snapshots of streams (issue 11, "Commands without queues"): a command reads the latest snapshot and
the events after it; a snapshot holds no personal data in clear, is gone with its person's erasure,
and is only a cache (an altered one is ignored, the events are replayed)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any
from uuid import UUID

import orjson
import psycopg
import pytest

from services.parcours.application import ParcoursApplication
from services.parcours.domain.parcours import Parcours
from services.parcours.instantanes import INTERVALLE, HistoriqueDiffere, InstantaneImpossibleError, projeter
from services.runtime import coffre
from tests.integration.api_parcours import NE_LE, NOM, PRENOMS, a_la_date, decider_mesure, ouvrir
from tests.integration.conftest import Api

OUVERT_LE = date(2026, 1, 5)
RAPPORT_LE = date(2026, 11, 2)
REFERENCE = "TE-LILLE-2026-00417"
MOTIF = "Saisie de la voisine Josiane Quintrec-Ballardin"
SECRETS = (NOM.encode(), PRENOMS.encode(), NE_LE.isoformat().encode(), REFERENCE.encode(), MOTIF.encode())


@contextmanager
def evenements_lus(application: ParcoursApplication) -> Iterator[list[int]]:
    """How many stored events each read of the store returns, while the block runs (snapshots apart)."""
    lus: list[int] = []
    recorder: Any = application.recorder
    origine = recorder.select_events

    def compter(*args: Any, **kwargs: Any) -> Any:
        resultat = origine(*args, **kwargs)
        lus.append(len(resultat))
        return resultat

    recorder.select_events = compter
    try:
        yield lus
    finally:
        del recorder.select_events


async def _rapport(api: Api, parcours_id: str) -> None:
    reponse = await api.post(
        f"/v1/parcours/{parcours_id}/rapports", {"transmis_au_juge": True, "date_effet": RAPPORT_LE.isoformat()}
    )
    assert reponse.status_code == 200, reponse.text


async def _long_parcours(api: Api, rapports: int) -> tuple[str, str]:
    """A parcours with a court's reference and then ``rapports`` reports; its id and its person's."""
    a_la_date(api, date(2026, 11, 28))
    ouvert = await ouvrir(api, OUVERT_LE)
    await decider_mesure(api, ouvert["id"], date_debut=date(2026, 2, 1), reference=REFERENCE)
    for _ in range(rapports):
        await _rapport(api, ouvert["id"])
    return str(ouvert["id"]), str(ouvert["personne_id"])


def _instantanes(base_url: str, parcours_id: str) -> list[tuple[int, bytes]]:
    with psycopg.connect(base_url) as conn:
        lignes = conn.execute(
            "SELECT originator_version, state FROM ase_snapshots WHERE originator_id = %s ORDER BY originator_version",
            (parcours_id,),
        ).fetchall()
    return [(v, bytes(e)) for v, e in lignes]


def _etat(parcours: Parcours) -> dict[str, Any]:
    return {k: v for k, v in vars(parcours).items() if k not in ("historique", "_pending_events")}


async def test_une_commande_lit_l_instantane_et_la_fin_du_flux(api: Api, base_url: str) -> None:
    parcours_id, _ = await _long_parcours(api, 3 * INTERVALLE)
    versions = [v for v, _ in _instantanes(base_url, parcours_id)]
    assert versions == [INTERVALLE, 2 * INTERVALLE, 3 * INTERVALLE]

    with evenements_lus(api.application) as lus:
        await _rapport(api, parcours_id)
    # The snapshot at 3 x INTERVALLE, then the events after it: 2 of them (the parcours has 2 + 3 x INTERVALLE).
    assert lus == [2], lus

    # Restored from its snapshot, the parcours is the one its events build.
    ident = UUID(parcours_id)
    depuis_instantane = api.application.repository.get(ident, projector_func=projeter)
    assert isinstance(depuis_instantane.historique, HistoriqueDiffere)
    assert not depuis_instantane.historique.charge
    rejoue = api.application.repository.event_store.get(ident)
    complet = projeter(None, rejoue)
    assert _etat(depuis_instantane) == _etat(complet)
    # ... and its history, once needed, is the whole stream.
    assert [e.originator_version for e in depuis_instantane.historique] == list(range(1, complet.version + 1))


async def test_une_rectification_apres_l_instantane_relit_l_historique(api: Api, base_url: str) -> None:
    parcours_id, _ = await _long_parcours(api, INTERVALLE)
    assert _instantanes(base_url, parcours_id)
    reponse = await api.post(
        f"/v1/parcours/{parcours_id}/rectifications",
        {"version_rectifiee": 2, "champ": "reference_decision", "nouvelle_valeur": "TE-2026-9", "motif": MOTIF},
    )
    assert reponse.status_code == 200, reponse.text
    reponse = await api.get(f"/v1/parcours/{parcours_id}")
    assert reponse.status_code == 200, reponse.text
    assert "TE-2026-9" in reponse.text


async def test_un_instantane_ne_garde_rien_en_clair_et_part_avec_l_effacement(api: Api, base_url: str) -> None:
    parcours_id, personne_id = await _long_parcours(api, INTERVALLE)
    stockes = _instantanes(base_url, parcours_id)
    assert stockes
    for _, etat in stockes:
        assert b'"_chiffre"' in etat
        assert [s for s in SECRETS if s in etat] == []

    reponse = await api.client.post(
        f"/v1/personnes/{personne_id}/effacement",
        json={"motif": "fin_de_conservation"},
        headers=api.jeton("dpo", ("59",), sub="dpo-59"),
    )
    assert reponse.status_code == 200, reponse.text
    assert _instantanes(base_url, parcours_id) == []
    # Not taken again for an erased person, and her parcours still reads (from its events).
    with pytest.raises(InstantaneImpossibleError):
        api.application.take_snapshot(UUID(parcours_id))
    assert _instantanes(base_url, parcours_id) == []
    reponse = await api.get(f"/v1/parcours/{parcours_id}")
    assert reponse.status_code == 200, reponse.text


async def test_un_instantane_altere_est_ignore(api: Api, base_url: str) -> None:
    parcours_id, _ = await _long_parcours(api, INTERVALLE)
    (version, etat), *_ = _instantanes(base_url, parcours_id)
    altere = etat.replace(b'"donnees":"', b'"donnees":"AAAA')
    with psycopg.connect(base_url) as conn:
        conn.execute(
            "UPDATE ase_snapshots SET state = %s WHERE originator_id = %s AND originator_version = %s",
            (altere, parcours_id, version),
        )
    with evenements_lus(api.application) as lus:
        await _rapport(api, parcours_id)
    assert lus == [2 + INTERVALLE], lus  # the whole stream, replayed

    with psycopg.connect(base_url) as conn:
        conn.execute(
            "UPDATE ase_snapshots SET state = %s WHERE originator_id = %s", (b'{"pas":"un etat"}', parcours_id)
        )
    with evenements_lus(api.application) as lus:
        await _rapport(api, parcours_id)
    assert lus == [3 + INTERVALLE], lus


async def test_a_snapshot_forged_in_clear_that_made_a_14_year_old_of_age_is_refused_and_the_events_replayed(
    api: Api, base_url: str
) -> None:
    """Found by the verifier: a snapshot row written in clear (the state decrypted, the birth date moved back
    to 2001) was restored, and the API recorded a majority for a child of 14. Only the encrypted form is read."""
    parcours_id, personne_id = await _long_parcours(api, INTERVALLE)
    (version, etat), *_ = _instantanes(base_url, parcours_id)
    cles = api.application.recorder.cles_personnes([UUID(personne_id)])  # type: ignore[attr-defined]
    clair = orjson.loads(coffre.dechiffrer_stocke(etat, cles, flux_id=UUID(parcours_id), version=version))
    assert clair["state"]["date_naissance"] == NE_LE.isoformat()
    clair["state"]["date_naissance"] = "2001-01-01"
    with psycopg.connect(base_url) as conn:
        conn.execute(
            "UPDATE ase_snapshots SET state = %s WHERE originator_id = %s AND originator_version = %s",
            (orjson.dumps(clair), parcours_id, version),
        )
    with evenements_lus(api.application) as lus:
        await _rapport(api, parcours_id)
    assert lus == [2 + INTERVALLE], lus  # the whole stream, replayed: the forged state was not read
    reponse = await api.client.get(f"/v1/parcours/{parcours_id}", headers=api.jeton())
    assert reponse.status_code == 200, reponse.text
    assert reponse.json()["date_majorite"] == NE_LE.replace(year=NE_LE.year + 18).isoformat()
    refus = await api.post(f"/v1/parcours/{parcours_id}/majorite", {"date_effet": RAPPORT_LE.isoformat()})
    assert refus.status_code == 422, refus.text


def test_places_are_never_snapshotted() -> None:
    """A place has no person whose key would authenticate its snapshot: it has none (a few events each)."""
    assert set(ParcoursApplication.snapshotting_intervals) == {Parcours}


async def test_a_snapshot_made_of_an_events_encrypted_block_and_a_clear_state_is_refused(
    api: Api, base_url: str
) -> None:
    """Found by the second verifier: the encrypted block of the parcours' version-1 event (same key, same
    stream and version), copied beside a state in clear whose birth date said 2001, was restored."""
    parcours_id, personne_id = await _long_parcours(api, INTERVALLE)
    (version, etat), *_ = _instantanes(base_url, parcours_id)
    cles = api.application.recorder.cles_personnes([UUID(personne_id)])  # type: ignore[attr-defined]
    clair = orjson.loads(coffre.dechiffrer_stocke(etat, cles, flux_id=UUID(parcours_id), version=version))
    clair["state"]["date_naissance"] = "2001-01-01"
    with psycopg.connect(base_url) as conn:
        (ouverture,) = conn.execute(
            "SELECT state FROM ase_events WHERE originator_id = %s AND originator_version = 1", (parcours_id,)
        ).fetchone()
        clair[coffre.CHAMP_CHIFFRE] = orjson.loads(bytes(ouverture))[coffre.CHAMP_CHIFFRE]
        (sujet,) = conn.execute(
            "SELECT topic FROM ase_snapshots WHERE originator_id = %s LIMIT 1", (parcours_id,)
        ).fetchone()
        conn.execute("DELETE FROM ase_snapshots WHERE originator_id = %s", (parcours_id,))
        conn.execute(
            "INSERT INTO ase_snapshots (originator_id, originator_version, topic, state) VALUES (%s, 1, %s, %s)",
            (parcours_id, sujet, orjson.dumps(clair)),
        )
    with evenements_lus(api.application) as lus:
        await _rapport(api, parcours_id)
    assert lus == [2 + INTERVALLE], lus  # the whole stream, replayed
    reponse = await api.client.get(f"/v1/parcours/{parcours_id}", headers=api.jeton())
    assert reponse.json()["date_majorite"] == NE_LE.replace(year=NE_LE.year + 18).isoformat()
