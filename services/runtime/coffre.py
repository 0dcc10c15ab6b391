"""Crypto-shredding: personal fields encrypted with a key per person, erased by deleting the key.

Three layers (NIST SP 800-57 key hierarchy, envelope encryption):

- The **key-encryption key** (KEK), 32 bytes, comes from a
  :class:`FournisseurCleMaitre`. The default, :class:`CleMaitreEnv`, reads the
  environment: ``ASE_CLE_MAITRE`` (base64 of 32 bytes), ``ASE_CLE_MAITRE_ID``
  (its id, default ``k1``) and ``ASE_CLES_MAITRES_ANCIENNES``
  (``id:base64,id:base64``: older KEKs still able to unwrap, during a rotation).
  Unset, a fixed dev key is used, with a warning; refused when ``ASE_ENV`` (or
  ``ASE_MODE``) is ``production``. **A KMS plugs in here**: implement
  :class:`FournisseurCleMaitre` (``cle_courante`` / ``cle``) over Vault transit,
  AWS/GCP KMS or an HSM and pass it to :class:`Coffre`.
- A **data key per person** (AES-256-GCM, 32 bytes), kept wrapped by the KEK in
  :data:`TABLE_CLES` (``personne_id uuid PK, cle_chiffree bytea, kek_id text,
  creee_le timestamptz``) of the write side's database. The wrapped form is
  ``nonce (12) || ciphertext+tag``, its AAD the person's id: a wrapped key copied
  onto another person's row does not unwrap.
- The **personal fields of an event state** (the JSON the store keeps) are taken
  out of it and replaced by one field :data:`CHAMP_CHIFFRE`::

      "_chiffre": {"v": 1, "personne_id": "<uuid>", "champs": ["nom", ...],
                   "donnees": "<base64 of nonce (12) || AES-GCM(JSON of the fields)>"}

  whose AAD is ``"<stream id>:<version>"``: a ciphertext moved to another event
  does not decrypt.

Erasing a person deletes her data key: from then on :func:`dechiffrer_etat`
gives every field of ``champs`` the value ``None`` and sets
:data:`CHAMP_EFFACE` (``"donnees_effacees": true``) in the state. That is the
documented erased form; it is never an error. A ciphertext that does not
authenticate with the key present is an error (:class:`DonneesAltereesError`):
tampering is not erasure.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeAlias
from uuid import UUID

import orjson
import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from contracts.enveloppe import TOPIC_IDENTITES
from contracts.publication import (
    NOM_EFFACEMENT_IDENTITE,
    Message,
    message,
    message_stocke,
    messages_stockes,
    nom_evenement,
    topic_de,
)

if TYPE_CHECKING:
    import asyncpg
    from asyncpg.pool import PoolConnectionProxy
    from psycopg import Cursor

    Connexion: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

log = structlog.get_logger(__name__)

TABLE_CLES: Final = "ase_cles_personnes"
"""The wrapped data keys, one row per person, in the write side's database (schema ``public``)."""

SQL_TABLE_CLES: Final = (
    f"CREATE TABLE IF NOT EXISTS public.{TABLE_CLES} (personne_id uuid PRIMARY KEY, cle_chiffree bytea NOT NULL, "
    "kek_id text NOT NULL, creee_le timestamptz NOT NULL DEFAULT now())"
)

CHAMP_CHIFFRE: Final = "_chiffre"
"""The field of a stored state holding its encrypted personal fields."""

CHAMP_EFFACE: Final = "donnees_effacees"
"""Set to ``true`` in a decrypted state whose person is erased (its personal fields are then ``None``)."""

_MARQUE: Final = b'"_chiffre"'

ENV_CLE: Final = "ASE_CLE_MAITRE"
ENV_ID: Final = "ASE_CLE_MAITRE_ID"
ENV_ANCIENNES: Final = "ASE_CLES_MAITRES_ANCIENNES"

CLE_MAITRE_DEV: Final = base64.b64encode(hashlib.sha256(b"parcours-ase: cle maitre de developpement").digest()).decode()
"""The dev KEK: public (it is in this file), so it protects nothing; refused in production."""

ID_CLE_MAITRE_DEV: Final = "dev"


class CoffreError(RuntimeError):
    """Root of the vault's errors."""


class CleMaitreInvalideError(CoffreError):
    """A KEK setting is not base64 of 32 bytes, or the dev key is asked in production."""


class CleMaitreInconnueError(CoffreError):
    """A data key is wrapped by a KEK id the provider does not hold (dropped too early in a rotation)."""


class DonneesAltereesError(CoffreError):
    """A ciphertext (or a wrapped key) does not authenticate: altered, moved, or the wrong KEK."""


class FournisseurCleMaitre(Protocol):
    """Where the key-encryption keys come from: the environment by default, a KMS in production."""

    def cle_courante(self) -> tuple[str, bytes]:
        """The KEK new data keys are wrapped with: ``(kek_id, 32 bytes)``."""
        ...

    def cle(self, kek_id: str) -> bytes:
        """The KEK ``kek_id`` (current or older); raises :class:`CleMaitreInconnueError`."""
        ...


def _decoder_cle(valeur: str, nom: str) -> bytes:
    try:
        cle = base64.b64decode(valeur.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise CleMaitreInvalideError(f"{nom}: base64 invalide") from None
    if len(cle) != 32:
        raise CleMaitreInvalideError(f"{nom}: 32 octets attendus (AES-256), {len(cle)} lus")
    return cle


def en_production(env: Mapping[str, str]) -> bool:
    """``ASE_ENV`` or ``ASE_MODE`` is ``production``."""
    return "production" in (env.get("ASE_ENV", "").lower(), env.get("ASE_MODE", "").lower())


class CleMaitreEnv:
    """The KEKs from the environment (see the module's docstring); the default provider."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        valeur = env.get(ENV_CLE, "").strip()
        if not valeur:
            if en_production(env):
                raise CleMaitreInvalideError(f"production needs {ENV_CLE}: the dev key-encryption key is refused")
            # Loud, once per process: the dev key is in this file, so it protects nothing.
            log.warning(
                "cle_maitre_de_developpement", variable=ENV_CLE, effet="données chiffrées avec une clé publique"
            )
            valeur = CLE_MAITRE_DEV
        elif valeur == CLE_MAITRE_DEV and en_production(env):
            raise CleMaitreInvalideError(f"{ENV_CLE} is the dev key-encryption key: refused in production")
        self.kek_id = env.get(ENV_ID, "").strip() or ("k1" if valeur != CLE_MAITRE_DEV else ID_CLE_MAITRE_DEV)
        self._cles: dict[str, bytes] = {self.kek_id: _decoder_cle(valeur, ENV_CLE)}
        for element in filter(None, (e.strip() for e in env.get(ENV_ANCIENNES, "").split(","))):
            ident, sep, ancienne = element.partition(":")
            if not sep or not ident:
                raise CleMaitreInvalideError(f"{ENV_ANCIENNES}: 'id:base64' attendu")
            self._cles.setdefault(ident, _decoder_cle(ancienne, f"{ENV_ANCIENNES} {ident}"))
        if self.kek_id != ID_CLE_MAITRE_DEV and ID_CLE_MAITRE_DEV not in self._cles and not en_production(env):
            # Data keys wrapped in dev before a KEK was set stay readable outside production.
            self._cles[ID_CLE_MAITRE_DEV] = _decoder_cle(CLE_MAITRE_DEV, "dev")

    def cle_courante(self) -> tuple[str, bytes]:
        return self.kek_id, self._cles[self.kek_id]

    def cle(self, kek_id: str) -> bytes:
        try:
            return self._cles[kek_id]
        except KeyError:
            raise CleMaitreInconnueError(f"clé maître {kek_id!r} inconnue") from None


def verifier_cle_maitre_de_production(env: Mapping[str, str] | None = None) -> None:
    """Raise :class:`ValueError` unless ``env`` (default ``os.environ``) holds a KEK fit for production.

    Called by the settings of every process that encrypts or decrypts personal data (the write
    side, the relay, the projections) when ``ASE_MODE`` is ``production``, so a missing, dev or
    malformed ``ASE_CLE_MAITRE`` (or ``ASE_CLES_MAITRES_ANCIENNES``) stops the start, not the
    first request. The message names the variable, never its value.
    """
    env = os.environ if env is None else env
    try:
        CleMaitreEnv({**env, "ASE_MODE": "production"})
    except CleMaitreInvalideError as exc:
        raise ValueError(str(exc)) from None


@dataclass(frozen=True)
class CleEnveloppee:
    """A data key as stored: wrapped by the KEK ``kek_id``."""

    personne_id: UUID
    cle_chiffree: bytes
    kek_id: str


class Coffre:
    """Wraps and unwraps data keys with the KEKs of ``fournisseur`` (default: :class:`CleMaitreEnv`)."""

    def __init__(self, fournisseur: FournisseurCleMaitre | None = None) -> None:
        self.fournisseur: FournisseurCleMaitre = fournisseur if fournisseur is not None else CleMaitreEnv()

    def nouvelle_cle(self, personne_id: UUID) -> tuple[bytes, CleEnveloppee]:
        """A fresh data key for ``personne_id``, clear and wrapped."""
        cle = AESGCM.generate_key(bit_length=256)
        return cle, self.envelopper(personne_id, cle)

    def envelopper(self, personne_id: UUID, cle: bytes) -> CleEnveloppee:
        """``cle`` wrapped with the current KEK, bound to ``personne_id``."""
        kek_id, kek = self.fournisseur.cle_courante()
        nonce = os.urandom(12)
        return CleEnveloppee(personne_id, nonce + AESGCM(kek).encrypt(nonce, cle, personne_id.bytes), kek_id)

    def desenvelopper(self, enveloppee: CleEnveloppee) -> bytes:
        """The clear data key; raises :class:`CleMaitreInconnueError`, :class:`DonneesAltereesError`."""
        kek = self.fournisseur.cle(enveloppee.kek_id)
        brut = bytes(enveloppee.cle_chiffree)
        try:
            return AESGCM(kek).decrypt(brut[:12], brut[12:], enveloppee.personne_id.bytes)
        except InvalidTag:
            raise DonneesAltereesError(f"clé de la personne {enveloppee.personne_id} illisible") from None

    def reenvelopper(self, enveloppee: CleEnveloppee) -> CleEnveloppee:
        """The same data key wrapped with the current KEK (a rotation: no event is rewritten)."""
        return self.envelopper(enveloppee.personne_id, self.desenvelopper(enveloppee))


_COFFRE: Coffre | None = None


def coffre_par_defaut() -> Coffre:
    """The process's vault over the environment's KEKs, built on first use."""
    global _COFFRE  # noqa: PLW0603 - one provider per process, read from the environment once
    if _COFFRE is None:
        _COFFRE = Coffre()
    return _COFFRE


def reinitialiser_coffre_par_defaut() -> None:
    """Read the environment again on next use (tests, ``ase cles rotation`` after changing the env)."""
    global _COFFRE  # noqa: PLW0603
    _COFFRE = None


# -- event states -----------------------------------------------------------------------------


def _aad(flux_id: UUID, version: int) -> bytes:
    return f"{flux_id}:{version}".encode()


def chiffrer_champs(
    etat: dict[str, Any], champs: Iterable[str], *, personne_id: UUID, cle: bytes, flux_id: UUID, version: int
) -> dict[str, Any]:
    """Move ``champs`` of ``etat`` (those present) into :data:`CHAMP_CHIFFRE`, encrypted with ``cle``.

    ``etat`` is modified in place and returned; with no field present it is left as is.
    """
    presents = [c for c in champs if c in etat]
    if not presents:
        return etat
    clair = orjson.dumps({c: etat.pop(c) for c in presents})
    nonce = os.urandom(12)
    chiffre = nonce + AESGCM(cle).encrypt(nonce, clair, _aad(flux_id, version))
    etat[CHAMP_CHIFFRE] = {
        "v": 1,
        "personne_id": str(personne_id),
        "champs": presents,
        "donnees": base64.b64encode(chiffre).decode(),
    }
    return etat


def personne_chiffree(etat: Mapping[str, Any]) -> UUID | None:
    """The person whose key encrypts ``etat``, None for a state without encrypted fields."""
    bloc = etat.get(CHAMP_CHIFFRE)
    return UUID(bloc["personne_id"]) if isinstance(bloc, dict) else None


def dechiffrer_etat(etat: dict[str, Any], cles: Mapping[UUID, bytes], *, flux_id: UUID, version: int) -> dict[str, Any]:
    """``etat`` with its encrypted fields back in clear, from the person's key in ``cles``.

    Without the key (erased person), each field is ``None`` and :data:`CHAMP_EFFACE` is ``true``.
    ``etat`` is modified in place and returned. Raises :class:`DonneesAltereesError` when the
    ciphertext does not authenticate with the key present (altered, or moved to another event).
    """
    bloc = etat.pop(CHAMP_CHIFFRE, None)
    if not isinstance(bloc, dict):
        return etat
    personne_id = UUID(bloc["personne_id"])
    cle = cles.get(personne_id)
    if cle is None:
        for champ in bloc["champs"]:
            etat[champ] = None
        etat[CHAMP_EFFACE] = True
        return etat
    brut = base64.b64decode(bloc["donnees"])
    try:
        clair = AESGCM(cle).decrypt(brut[:12], brut[12:], _aad(flux_id, version))
    except InvalidTag:
        raise DonneesAltereesError(f"événement {flux_id}:{version} illisible avec la clé de sa personne") from None
    champs = orjson.loads(clair)
    if sorted(champs) != sorted(bloc["champs"]) or any(c in etat for c in champs):
        # The list beside the ciphertext is not authenticated: it must say what the ciphertext holds,
        # and no field it holds may also stand in clear (a value put beside a copied block).
        raise DonneesAltereesError(f"événement {flux_id}:{version}: champs chiffrés et en clair mêlés")
    etat.update(champs)
    return etat


def est_chiffre(etat: bytes) -> bool:
    """Whether a stored state (bytes) holds encrypted fields: a cheap test before parsing."""
    return _MARQUE in etat


def personnes_des_etats(etats: Iterable[bytes]) -> set[UUID]:
    """The persons whose keys decrypt these stored states."""
    personnes: set[UUID] = set()
    for etat in etats:
        if est_chiffre(etat):
            personne = personne_chiffree(orjson.loads(etat))
            if personne is not None:
                personnes.add(personne)
    return personnes


def dechiffrer_stocke(etat: bytes | memoryview, cles: Mapping[UUID, bytes], *, flux_id: UUID, version: int) -> bytes:
    """A stored state (bytes) decrypted as :func:`dechiffrer_etat` does; unchanged when it holds no ciphertext."""
    brut = bytes(etat)
    if not est_chiffre(brut):
        return brut
    return orjson.dumps(dechiffrer_etat(orjson.loads(brut), cles, flux_id=flux_id, version=version))


def est_efface(etat: bytes) -> bool:
    """Whether a decrypted stored state is the erased form."""
    return b'"donnees_effacees":true' in etat


# -- reading the keys ---------------------------------------------------------------------------

SQL_CLES_SYNC: Final = (
    f"SELECT personne_id, cle_chiffree, kek_id FROM public.{TABLE_CLES} WHERE personne_id = ANY(%s::uuid[])"
)
SQL_CLES_ASYNC: Final = (
    f"SELECT personne_id, cle_chiffree, kek_id FROM public.{TABLE_CLES} WHERE personne_id = ANY($1::uuid[])"
)


def _desenvelopper_lignes(coffre: Coffre, lignes: Iterable[tuple[Any, Any, Any]]) -> dict[UUID, bytes]:
    cles: dict[UUID, bytes] = {}
    for personne, chiffree, kek_id in lignes:
        ident = personne if isinstance(personne, UUID) else UUID(str(personne))
        cles[ident] = coffre.desenvelopper(CleEnveloppee(ident, bytes(chiffree), str(kek_id)))
    return cles


def cles_sync(curs: Cursor[Any], personnes: Iterable[UUID], coffre: Coffre | None = None) -> dict[UUID, bytes]:
    """The clear data keys of ``personnes`` that still have one, in one query (psycopg)."""
    ids = list(set(personnes))
    if not ids:
        return {}
    curs.execute(SQL_CLES_SYNC, (ids,))
    lignes = [
        (r["personne_id"], r["cle_chiffree"], r["kek_id"]) if isinstance(r, Mapping) else tuple(r)
        for r in curs.fetchall()
    ]
    return _desenvelopper_lignes(coffre or coffre_par_defaut(), lignes)


async def cles_async(conn: Connexion, personnes: Iterable[UUID], coffre: Coffre | None = None) -> dict[UUID, bytes]:
    """The clear data keys of ``personnes`` that still have one, in one query (asyncpg).

    A database without the keys' table (a read side fed only by Kafka) has no key: every
    encrypted field then reads as erased.
    """
    ids = list(set(personnes))
    if not ids:
        return {}
    existe = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"public.{TABLE_CLES}")
    if not existe:
        return {}
    lignes = await conn.fetch(SQL_CLES_ASYNC, ids)
    return _desenvelopper_lignes(
        coffre or coffre_par_defaut(), ((r["personne_id"], r["cle_chiffree"], r["kek_id"]) for r in lignes)
    )


async def dechiffrer_lignes_async(
    conn: Connexion, lignes: Iterable[Any], coffre: Coffre | None = None
) -> dict[tuple[UUID, int], bytes]:
    """The decrypted states of stored rows (``originator_id``, ``originator_version``, ``state``),
    keyed by (stream id, version), with one key query for the lot."""
    lignes = list(lignes)
    cles = await cles_async(conn, personnes_des_etats(bytes(ligne["state"]) for ligne in lignes), coffre)
    return {
        (ligne["originator_id"], ligne["originator_version"]): dechiffrer_stocke(
            ligne["state"], cles, flux_id=ligne["originator_id"], version=ligne["originator_version"]
        )
        for ligne in lignes
    }


async def messages_des_lignes(conn: Connexion, lignes: Iterable[Any], coffre: Coffre | None = None) -> list[Message]:
    """Every Kafka record publishing stored rows (``originator_id``, ``originator_version``, ``topic``,
    ``state``), decrypted first (one key query for the lot), in the rows' order: what the relay sends."""
    lignes = list(lignes)
    etats = await dechiffrer_lignes_async(conn, lignes, coffre)
    return [
        message
        for ligne in lignes
        for message in messages_dechiffres(
            ligne["originator_id"],
            ligne["originator_version"],
            ligne["topic"],
            etats[(ligne["originator_id"], ligne["originator_version"])],
        )
    ]


def message_dechiffre(flux_id: UUID, version: int, classe: str, etat: bytes) -> Message:
    """The Kafka record of a stored row whose state :func:`dechiffrer_stocke` already decrypted.

    An identity event whose person is erased becomes a tombstone on ``ase.identites.v1``
    (its name is gone: there is nothing else to publish); anything else goes through
    :func:`contracts.publication.message_stocke` unchanged.
    """
    nom = nom_evenement(classe)
    if est_efface(etat) and nom != NOM_EFFACEMENT_IDENTITE and topic_de(nom) == TOPIC_IDENTITES:
        return message(NOM_EFFACEMENT_IDENTITE, flux_id, version, orjson.loads(etat))
    return message_stocke(flux_id, version, classe, etat)


def messages_dechiffres(flux_id: UUID, version: int, classe: str, etat: bytes) -> list[Message]:
    """Every Kafka record of a stored row whose state :func:`dechiffrer_stocke` already decrypted.

    As :func:`contracts.publication.messages_stockes` (the restricted record first, then
    the public one), except that an identity event whose person is erased is only its
    tombstone (see :func:`message_dechiffre`).
    """
    nom = nom_evenement(classe)
    if est_efface(etat) and nom != NOM_EFFACEMENT_IDENTITE and topic_de(nom) == TOPIC_IDENTITES:
        return [message(NOM_EFFACEMENT_IDENTITE, flux_id, version, orjson.loads(etat))]
    return messages_stockes(flux_id, version, classe, etat)
