"""The request ids drawn in batches: still random version-4 UUIDs, never repeated."""

from __future__ import annotations

import uuid

from services.runtime.http import _IdsAleatoires


def test_ids_version_4_distincts_au_dela_d_un_lot() -> None:
    ids = _IdsAleatoires()
    tires = [ids.suivant() for _ in range(3 * _IdsAleatoires.LOT + 5)]  # three refills and a bit
    assert len(set(tires)) == len(tires)
    assert {i.version for i in tires} == {4}
    assert {i.variant for i in tires} == {uuid.RFC_4122}


def test_un_enfant_forke_ne_reprend_pas_les_octets_du_parent() -> None:
    ids = _IdsAleatoires()
    ids.suivant()
    ids._oublier()  # what os.register_at_fork runs in the child
    assert ids._position == 0
    assert ids._octets == b""
    ids.suivant()
    assert ids._position == 16
