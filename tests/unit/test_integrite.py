"""The hash chain's and the checkpoints' constructions, without a database."""

from __future__ import annotations

import base64
import hashlib
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.parcours import point_de_controle as pc
from services.parcours.integrite import GENESE, empreinte, feuille, racine_des_tetes, racine_merkle


def h(donnees: bytes) -> bytes:
    return hashlib.sha256(donnees).digest()


def racine_niveau_par_niveau(feuilles: list[bytes]) -> bytes:
    """The documented construction, written the plain way: pairs per level, an odd last node promoted."""
    if not feuilles:
        return h(b"")
    niveau = feuilles
    while len(niveau) > 1:
        suivant = [h(niveau[i] + niveau[i + 1]) for i in range(0, len(niveau) - 1, 2)]
        if len(niveau) % 2:
            suivant.append(niveau[-1])
        niveau = suivant
    return niveau[0]


@pytest.mark.parametrize("nombre", range(70))
def test_the_streaming_merkle_root_equals_the_level_by_level_one(nombre: int) -> None:
    feuilles = [h(str(i).encode()) for i in range(nombre)]

    assert racine_merkle(feuilles) == racine_niveau_par_niveau(feuilles)


def test_the_merkle_root_of_three_leaves_promotes_the_third() -> None:
    a, b, c = h(b"a"), h(b"b"), h(b"c")

    assert racine_merkle([a]) == a
    assert racine_merkle([a, b, c]) == h(h(a + b) + c)
    assert racine_merkle([a, b, c, a, b]) == h(h(h(a + b) + h(c + a)) + b)


def test_a_leaf_hashes_the_stream_id_its_version_and_its_head() -> None:
    tete = h(b"tete")

    assert feuille("p1", 7, tete) == h(struct.pack(">I", 2) + b"p1" + struct.pack(">q", 7) + tete)


def test_the_root_of_heads_does_not_depend_on_the_order_they_come_in() -> None:
    tetes = [(f"flux-{i}", i + 1, h(bytes([i]))) for i in range(9)]

    assert racine_des_tetes(tetes) == racine_des_tetes(list(reversed(tetes)))
    assert racine_des_tetes(tetes) != racine_des_tetes([*tetes[:-1], ("flux-8", 10, tetes[-1][2])])


def test_an_event_hash_chains_on_the_previous_one_and_covers_every_stored_field() -> None:
    base = empreinte(GENESE, "flux", 1, "module:Evenement", b'{"a":1}')

    assert base == h(
        GENESE
        + struct.pack(">I", 4)
        + b"flux"
        + struct.pack(">q", 1)
        + struct.pack(">I", 16)
        + b"module:Evenement"
        + struct.pack(">I", 7)
        + b'{"a":1}'
    )
    variantes = {
        empreinte(h(b"autre"), "flux", 1, "module:Evenement", b'{"a":1}'),
        empreinte(GENESE, "flux2", 1, "module:Evenement", b'{"a":1}'),
        empreinte(GENESE, "flux", 2, "module:Evenement", b'{"a":1}'),
        empreinte(GENESE, "flux", 1, "module:Autre", b'{"a":1}'),
        empreinte(GENESE, "flux", 1, "module:Evenement", b'{"a":2}'),
    }
    assert base not in variantes
    assert len(variantes) == 5


def test_lengths_keep_two_fields_from_trading_bytes() -> None:
    assert empreinte(GENESE, "ab", 1, "c", b"") != empreinte(GENESE, "a", 1, "bc", b"")
    assert empreinte(GENESE, "f", 1, "t", b"x") != empreinte(GENESE, "f", 1, "tx", b"")


def test_the_signed_message_is_the_canonical_json_of_the_signed_fields_only() -> None:
    document = {
        "format": pc.FORMAT,
        "table": "public.ase_events",
        "cree_le": "2026-11-29T16:00:00+00:00",
        "flux": 1,
        "evenements": 2,
        "racine_merkle": "ab",
        "cle_publique": "cle",
        "empreinte_cle": "non signée",
        "tetes": [],
    }

    assert pc.message_signe(document) == (
        b'{"cle_publique":"cle","cree_le":"2026-11-29T16:00:00+00:00","evenements":2,"flux":1,'
        b'"format":"ase-point-de-controle/1","racine_merkle":"ab","table":"public.ase_events"}'
    )


def test_a_signature_over_the_message_verifies_with_the_public_key_alone() -> None:
    cle = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    message = b"point de controle"
    signature = cle.sign(message)

    Ed25519PublicKey.from_public_bytes(pc.publique_brute(cle)).verify(signature, message)
    assert pc.empreinte_cle(pc.publique_brute(cle)) == "sha256:" + h(pc.publique_brute(cle)).hex()


def test_the_dev_signing_key_is_made_once_and_refused_in_production(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dossier = tmp_path
    monkeypatch.delenv(pc.ENV_CLE, raising=False)

    premiere, avertissement = pc.cle_de_signature(dossier, None, production=False)
    seconde, _ = pc.cle_de_signature(dossier, None, production=False)

    assert avertissement is not None
    assert pc.publique_brute(premiere) == pc.publique_brute(seconde)
    assert (dossier / pc.FICHIER_CLE_DEV).stat().st_mode & 0o077 == 0
    with pytest.raises(pc.CleInvalide):
        pc.cle_de_signature(dossier, None, production=True)
    monkeypatch.setenv(pc.ENV_CLE, base64.b64encode(bytes(range(32))).decode())
    cle, aucun = pc.cle_de_signature(dossier, None, production=True)
    assert aucun is None
    assert pc.publique_brute(cle) == pc.publique_brute(Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
    monkeypatch.setenv(pc.ENV_CLE, base64.b64encode(b"trop court").decode())
    with pytest.raises(pc.CleInvalide):
        pc.cle_de_signature(dossier, None, production=True)
