"""The conversion without the model (the relay's, issue 11) gives the very bytes the former one gave.

``contracts.publication`` builds the public body as a dict and the CloudEvents headers as a list, checking each
allow-listed field's normal form instead of validating through the contract's pydantic model, and falls back
to the model for anything not in normal form. Here, the current conversion and the former one
(``tests/unit/publication_avant.py``, verbatim) meet every stored event type, with private fields added and
fields altered out of normal form: same records, or both refuse.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import publication
from contracts.enveloppe import Enveloppe, identifiant_evenement, identifiant_restreint
from contracts.evenements import PAYLOADS_COURANTS
from tests.unit import publication_avant

_STOCKES_V1: list[dict[str, Any]] = json.loads((Path(__file__).parent / "stockes_v1.json").read_text())

_VALEURS_ALTEREES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.sampled_from(
        [
            "",
            "2024-02-30",
            "2024-2-3",
            "2024-02-03T00:00:00",
            "2024-02",
            "2024-13",
            "E9E4E9F4-A279-4E8C-954D-551D1D255BD0",
            "e9e4e9f4a2794e8c954d551d1d255bd0",
            "{e9e4e9f4-a279-4e8c-954d-551d1d255bd0}",
            "59",
            "2A",
            "975",
            "59\n",
            "２０２４-01",
            "true",
            "1",
            "F",
            "mecs",
            "assistant_familial",
            "majorite",
            "négligences",
            "\ud800",
            "Mme Claire Dupont née le 03/04/2007",
        ]
    ),
    st.text(max_size=12),
    st.lists(st.sampled_from(["negligences", "violences_physiques", "x"]), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _convertir(module: Any, stocke: dict[str, Any], etat: dict[str, Any]) -> Any:
    """The records, or the type of the error (both conversions must refuse alike)."""
    try:
        return [
            dataclasses.astuple(m)
            for m in module.messages_stockes(
                UUID(stocke["originator_id"]), stocke["originator_version"], stocke["topic"], orjson.dumps(etat)
            )
        ]
    except Exception as exc:  # the comparison is the point
        return type(exc).__name__


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stocke=st.sampled_from(_STOCKES_V1),
    alterations=st.dictionaries(st.text(min_size=1, max_size=2), _VALEURS_ALTEREES, max_size=3),
    champs_alteres=st.lists(st.integers(min_value=0, max_value=40), max_size=3),
    supprimes=st.lists(st.integers(min_value=0, max_value=40), max_size=2),
    correlation=st.sampled_from([None, "corr", str(uuid.UUID(int=7)), str(uuid.UUID(int=7)).upper(), 12]),
    meta=st.dictionaries(
        st.sampled_from(["enregistre_le", "auteur", "causation_id", "departement"]),
        st.sampled_from(
            [
                "2024-04-03T10:00:00+00:00",
                "2024-04-03T10:00:00Z",
                "2024-04-03T12:00:00.123456+02:00",
                "2024-03-31T22:30:00+00:00",
                "2024-04-03T10:00:00",
                "59",
                12,
                None,
            ]
        ),
        max_size=2,
    ),
)
def test_the_conversion_gives_the_former_records_byte_for_byte(  # noqa: PLR0917  (hypothesis's arguments)
    stocke: dict[str, Any],
    alterations: dict[str, Any],
    champs_alteres: list[int],
    supprimes: list[int],
    correlation: Any,
    meta: dict[str, Any],
) -> None:
    etat = dict(stocke["state"])
    cles = sorted(k for k in etat if k != "metadonnees")
    valeurs = list(alterations.values())
    for i, indice in enumerate(champs_alteres):
        if cles and valeurs:
            etat[cles[indice % len(cles)]] = valeurs[i % len(valeurs)]
    for indice in supprimes:
        if cles:
            etat.pop(cles[indice % len(cles)], None)
    etat.update({k: v for k, v in alterations.items() if k not in etat})
    etat["metadonnees"] = {**etat["metadonnees"], **meta}
    if correlation is not None:
        etat["metadonnees"] = {**etat["metadonnees"], "correlation_id": correlation}
    avant = _convertir(publication_avant, stocke, json.loads(json.dumps(etat)))
    apres = _convertir(publication, stocke, json.loads(json.dumps(etat)))
    assert apres == avant, _difference(apres, avant)


def _difference(apres: Any, avant: Any) -> str:
    if isinstance(apres, str) or isinstance(avant, str) or len(apres) != len(avant):
        return f"{apres!r} != {avant!r}"
    return "; ".join(f"{a} != {b}" for a, b in zip(apres, avant, strict=True) if a != b)


@settings(max_examples=300, deadline=None)
@given(stocke=st.sampled_from(_STOCKES_V1))
def test_every_stored_sample_converts_as_before(stocke: dict[str, Any]) -> None:
    avant = _convertir(publication_avant, stocke, stocke["state"])
    assert not isinstance(avant, str), avant
    assert _convertir(publication, stocke, stocke["state"]) == avant


def test_every_published_type_but_the_correction_skips_the_model() -> None:
    """The checks know every field type of the current contracts except ``JsonValue`` (a correction's values)."""
    sans = {nom for nom, classe in PAYLOADS_COURANTS.items() if publication._champs_verifies(classe) is None}
    assert sans == {"SaisieRectifiee"}


@given(nom=st.text(max_size=60))
def test_the_ids_and_traces_are_the_envelope_s(nom: str) -> None:
    flux_id = uuid.uuid4()
    assert publication._uuid5(f"{flux_id}:3") == identifiant_evenement(flux_id, 3)
    assert publication._uuid5(f"{flux_id}:3:restreint") == identifiant_restreint(flux_id, 3)
    assert publication.traceparent_de(nom, f"{flux_id}:3") == publication_avant.traceparent(nom, flux_id, 3)


def test_the_headers_read_back_as_the_envelope() -> None:
    stocke = next(s for s in _STOCKES_V1 if s["topic"].endswith(":MesureDecidee"))
    for message in publication.messages_stockes(
        UUID(stocke["originator_id"]), stocke["originator_version"], stocke["topic"], orjson.dumps(stocke["state"])
    ):
        assert Enveloppe.depuis_entetes(message.entetes).entetes() == message.entetes
