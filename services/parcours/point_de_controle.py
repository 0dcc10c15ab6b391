"""Signed checkpoints of the event store: every stream's head under one Merkle root, signed with Ed25519.

A checkpoint is a JSON document (``FORMAT``), kept outside the database::

    {
      "format": "ase-point-de-controle/1",
      "table": "public.ase_events",
      "cree_le": "2026-11-29T16:00:00+00:00",
      "flux": 2,                      # streams
      "evenements": 9,                # events (rows) at that time
      "racine_merkle": "<hex>",       # services.parcours.integrite.racine_des_tetes
      "cle_publique": "<base64 of the raw 32-byte Ed25519 public key>",
      "empreinte_cle": "sha256:<hex of SHA-256 of the raw public key>",
      "tetes": [{"flux": "<id>", "version": 4, "empreinte": "<hex>"}, ...],   # sorted by id bytes
      "signature": "<base64 of the 64-byte Ed25519 signature>"
    }

The signature covers ``message_signe(document)``: the canonical JSON (keys
sorted, no spaces, UTF-8) of ``format``, ``table``, ``cree_le``, ``flux``,
``evenements``, ``racine_merkle`` and ``cle_publique``; the heads are bound to it
through the Merkle root, recomputed from them at verification.

Signing key: env ``ASE_CLE_SIGNATURE_AUDIT`` (base64 of the raw 32-byte private
key), or a file holding the same; in dev only, a key generated once into the
data folder (``audit/cle_signature_dev``), with a warning.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PrivateFormat, PublicFormat

from services.parcours.integrite import (
    Cassure,
    RacineMerkle,
    Rupture,
    feuille,
    racine_des_tetes,
    tetes,
    tetes_presentes,
)

FORMAT = "ase-point-de-controle/1"
ENV_CLE = "ASE_CLE_SIGNATURE_AUDIT"
"""Base64 of the raw 32-byte Ed25519 private key that signs checkpoints."""
FICHIER_CLE_DEV = Path("audit") / "cle_signature_dev"
"""Under the data folder: the dev signing key, made on first use (refused when ``ASE_MODE=production``)."""
_CHAMPS_SIGNES = ("format", "table", "cree_le", "flux", "evenements", "racine_merkle", "cle_publique")


class CleInvalide(ValueError):
    """A key that is not base64 of 32 bytes (or a missing file)."""


class DocumentInvalide(ValueError):
    """A checkpoint file that is not of ``FORMAT``."""


def empreinte_cle(publique: bytes) -> str:
    """The fingerprint an operator writes down: ``sha256:<hex of SHA-256 of the raw 32-byte public key>``."""
    return "sha256:" + hashlib.sha256(publique).hexdigest()


def _brute(texte: str, quoi: str) -> bytes:
    try:
        octets = base64.b64decode(texte.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise CleInvalide(f"{quoi}: pas du base64") from None
    if len(octets) != 32:
        raise CleInvalide(f"{quoi}: {len(octets)} octets, 32 attendus")
    return octets


def cle_de_signature(data_dir: Path, fichier: Path | None, *, production: bool) -> tuple[Ed25519PrivateKey, str | None]:
    """The signing key and, for the dev key, a warning to print.

    Order: ``fichier`` (base64 of the raw key), then ``ASE_CLE_SIGNATURE_AUDIT``,
    then (not in production) the dev key under ``data_dir``, made if missing.
    Raises ``CleInvalide``.
    """
    if fichier is not None:
        try:
            texte = fichier.read_text()
        except OSError as exc:
            raise CleInvalide(f"{fichier}: {exc.strerror}") from None
        return Ed25519PrivateKey.from_private_bytes(_brute(texte, str(fichier))), None
    env = os.environ.get(ENV_CLE)
    if env:
        return Ed25519PrivateKey.from_private_bytes(_brute(env, ENV_CLE)), None
    if production:
        raise CleInvalide(f"production: {ENV_CLE} ou --cle-privee est requis (pas de clé de développement)")
    chemin = data_dir / FICHIER_CLE_DEV
    if not chemin.exists():
        chemin.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        brute = Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, _sans_chiffrement())
        descripteur = os.open(chemin, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descripteur, "w") as sortie:
            sortie.write(base64.b64encode(brute).decode() + "\n")
    cle = Ed25519PrivateKey.from_private_bytes(_brute(chemin.read_text(), str(chemin)))
    return cle, (
        f"attention: clé de signature de développement ({chemin.resolve()}); en production, "
        f"{ENV_CLE} vient d'un secret et la clé publique est gardée hors de la base"
    )


def _sans_chiffrement() -> Any:
    from cryptography.hazmat.primitives.serialization import NoEncryption

    return NoEncryption()


def publique_brute(cle: Ed25519PrivateKey) -> bytes:
    return cle.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def message_signe(document: dict[str, Any]) -> bytes:
    """The bytes signed: canonical JSON of the signed fields (sorted keys, no spaces, UTF-8)."""
    return json.dumps(
        {k: document[k] for k in _CHAMPS_SIGNES}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


def prendre(
    conn: psycopg.Connection[Any],
    cle: Ed25519PrivateKey,
    maintenant: datetime,
    *,
    schema: str = "public",
    table: str = "ase_events",
) -> dict[str, Any]:
    """A signed checkpoint of every stream head, read in one REPEATABLE READ snapshot.

    The heads stream from the database (the root is computed as they come);
    the document holds them all, as it must to be verified later.
    """
    racine = RacineMerkle()
    liste: list[dict[str, Any]] = []
    evenements = 0
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        for ident, version, hachage, nombre in tetes(conn, schema=schema, table=table):
            if hachage is None:
                raise ValueError(f"flux {ident}: tête sans empreinte (chaîne incomplète)")
            racine.ajouter(feuille(ident, version, hachage))
            liste.append({"flux": ident, "version": version, "empreinte": hachage.hex()})
            evenements += nombre
    publique = publique_brute(cle)
    document: dict[str, Any] = {
        "format": FORMAT,
        "table": f"{schema}.{table}",
        "cree_le": maintenant.isoformat(timespec="seconds"),
        "flux": racine.nombre,
        "evenements": evenements,
        "racine_merkle": racine.racine().hex(),
        "cle_publique": base64.b64encode(publique).decode(),
        "empreinte_cle": empreinte_cle(publique),
    }
    document["tetes"] = liste
    document["signature"] = base64.b64encode(cle.sign(message_signe(document))).decode()
    return document


@dataclass
class Controle:
    """What a checkpoint proves about the store."""

    empreinte_cle: str
    signature_valide: bool
    racine_valide: bool
    cle_attendue: bool | None
    """Whether the checkpoint's key is the one given (None: none given, the embedded key was trusted)."""
    cassures: list[Cassure] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return self.signature_valide and self.racine_valide and self.cle_attendue is not False and not self.cassures

    def en_json(self) -> dict[str, Any]:
        return {
            "empreinte_cle": self.empreinte_cle,
            "signature_valide": self.signature_valide,
            "racine_valide": self.racine_valide,
            "cle_attendue": self.cle_attendue,
            "cassures": [c.en_json() for c in self.cassures],
        }


def lire_document(texte: str) -> dict[str, Any]:
    """A checkpoint parsed and its shape checked; raises ``DocumentInvalide``."""
    try:
        document = json.loads(texte)
    except ValueError:
        raise DocumentInvalide("pas du JSON") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise DocumentInvalide(f"format attendu: {FORMAT}")
    manquants = [k for k in (*_CHAMPS_SIGNES, "tetes", "signature") if k not in document]
    if manquants or not isinstance(document["tetes"], list):
        raise DocumentInvalide(f"champs manquants: {', '.join(manquants) or 'tetes'}")
    for t in document["tetes"]:
        if not (
            isinstance(t, dict)
            and isinstance(t.get("flux"), str)
            and isinstance(t.get("version"), int)
            and isinstance(t.get("empreinte"), str)
        ):
            raise DocumentInvalide("tête mal formée")
    return document


def cle_publique_donnee(valeur: str) -> bytes | str:
    """``--cle-publique``: a fingerprint ``sha256:…`` (returned as is), a file, or base64 of the raw 32 bytes."""
    if valeur.startswith("sha256:"):
        return valeur.lower()
    chemin = Path(valeur)
    if chemin.is_file():
        return _brute(chemin.read_text(), str(chemin))
    return _brute(valeur, "--cle-publique")


def controler(
    conn: psycopg.Connection[Any],
    document: dict[str, Any],
    attendue: bytes | str | None,
    *,
    flux: str | None = None,
    taille_lot: int = 1000,
) -> Controle:
    """Verify the signature, recompute the root from the heads, then find each head in the store.

    Each head must still be at its version with its hash (later events are the
    chain's business, checked by ``integrite.verifier``): absent, ``tronque``;
    another hash, ``reecrit``. ``flux`` limits the store check to one stream.
    """
    try:
        publique = _brute(str(document["cle_publique"]), "cle_publique")
        signature = base64.b64decode(str(document["signature"]), validate=True)
    except (CleInvalide, binascii.Error, ValueError):
        raise DocumentInvalide("clé publique ou signature illisible") from None
    empreinte = empreinte_cle(publique)
    cle_attendue: bool | None = None
    if isinstance(attendue, bytes):
        cle_attendue = attendue == publique
    elif isinstance(attendue, str):
        cle_attendue = attendue == empreinte
    try:
        Ed25519PublicKey.from_public_bytes(publique).verify(signature, message_signe(document))
        signature_valide = True
    except InvalidSignature:
        signature_valide = False
    tetes_doc = [(t["flux"], t["version"], bytes.fromhex(t["empreinte"])) for t in document["tetes"]]
    racine_valide = (
        racine_des_tetes(tetes_doc).hex() == document["racine_merkle"] and len(tetes_doc) == document["flux"]
    )
    controle = Controle(empreinte, signature_valide, racine_valide, cle_attendue)
    schema, _, table = str(document["table"]).partition(".")
    choisies = [t for t in tetes_doc if flux is None or t[0] == flux]
    for lot in _lots(choisies, taille_lot):
        presentes = tetes_presentes(conn, [(f, v) for f, v, _ in lot], schema=schema, table=table)
        for ident, version, hachage in lot:
            actuelle = presentes.get((ident, version))
            if actuelle is None:
                controle.cassures.append(
                    Cassure(ident, version, Rupture.TRONQUE, "la tête du point de contrôle n'est plus dans la base")
                )
            elif actuelle != hachage:
                controle.cassures.append(
                    Cassure(ident, version, Rupture.REECRIT, "la tête du point de contrôle a une autre empreinte")
                )
    return controle


def _lots(elements: list[Any], taille: int) -> Iterator[list[Any]]:
    for debut in range(0, len(elements), taille):
        yield elements[debut : debut + taille]
