"""Tamper evidence of the event store: a SHA-256 chain per stream, its verification, and Merkle roots.

Each row of the stored events table (``ase_events``) carries two columns:

* ``empreinte_precedente``: the ``empreinte`` of the previous row of its stream
  (greatest lower ``originator_version``), or the genesis value ``GENESE`` (32
  zero bytes) for the first row of a stream;
* ``empreinte = SHA-256(empreinte_precedente || u32(len(id)) || id || u64(version)
  || u32(len(topic)) || topic || u32(len(state)) || state)``, integers big-endian,
  ``id`` the stream id as text (a UUID's lowercase hyphenated form) and ``topic``
  in UTF-8, ``state`` the stored bytes exactly (a NULL topic or state hashes as
  empty). Encrypted fields are hashed as stored, so crypto-shredding (deleting a
  key) never changes what was hashed.

Both are computed by PostgreSQL itself, in a ``BEFORE INSERT`` trigger, in the
transaction that inserts the row, whatever path inserts it (the recorder's
``INSERT``, the library's database function): the hash is of the bytes the table
holds, after whatever the recorder did to them. Writers on one stream are
serialised by the (stream, version) primary key (and the recorder's table lock);
the trigger reads the previous hash in the inserting transaction. A table of
heads (``ase_integrite_tetes``: last version and hash per stream, kept by a
statement trigger) lets ``verifier`` see a truncated stream without a checkpoint.
A store created before the chain is chained once, in order, when the recorder
creates its tables (``instructions_chaine``).

The in-memory (POPO) recorder keeps no chain: it is PostgreSQL-only.

Merkle root of stream heads (``racine_merkle``): leaves are
``SHA-256(u32(len(id)) || id || u64(version) || head hash)`` sorted by the stream
id's UTF-8 bytes; each level hashes pairs ``SHA-256(left || right)``, and an odd
last node is promoted unchanged to the next level; the root of no leaf is
``SHA-256(b"")``. (RFC 6962's tree shape differs: it splits at the largest power
of two; this one is level by level.)
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import psycopg
from psycopg.sql import SQL, Composed, Identifier

GENESE = bytes(32)
"""``empreinte_precedente`` of the first event of every stream: 32 zero bytes."""

PREMIERE_VERSION = 1
"""Version of every stream's first event (the eventsourcing library's aggregates start there)."""

TABLE_TETES = "ase_integrite_tetes"
"""Last (version, empreinte) of every stream, beside the stored events table."""


class Rupture(StrEnum):
    """Kinds of break ``verifier`` reports, the first one per stream."""

    CONTENU_MODIFIE = "contenu_modifie"
    """A row's hash does not match its stored bytes (content, hash or link edited, or no hash)."""
    VERSION_MANQUANTE = "version_manquante"
    """A version is missing between two rows, or before the first one."""
    CHAINE_ROMPUE = "chaine_rompue"
    """A row's link is not the hash of the previous row (or the head table disagrees)."""
    TRONQUE = "tronque"
    """Fewer events than the head table or a checkpoint saw: the head is missing."""
    REECRIT = "reecrit"
    """A checkpoint's head is at its version, but with another hash: the history was rewritten."""


# -- hashes ----------------------------------------------------------------------


def empreinte(precedente: bytes, flux: str, version: int, topic: str | None, etat: bytes | None) -> bytes:
    """The 32-byte SHA-256 chaining one stored event to ``precedente`` (see the module's docstring)."""
    ident = flux.encode()
    sujet = (topic or "").encode()
    donnees = etat or b""
    return hashlib.sha256(
        b"".join(
            (
                precedente,
                struct.pack(">I", len(ident)),
                ident,
                struct.pack(">q", version),
                struct.pack(">I", len(sujet)),
                sujet,
                struct.pack(">I", len(donnees)),
                donnees,
            )
        )
    ).digest()


def feuille(flux: str, version: int, tete: bytes) -> bytes:
    """A Merkle leaf: ``SHA-256(u32(len(id)) || id || u64(version) || head hash)``."""
    ident = flux.encode()
    return hashlib.sha256(struct.pack(">I", len(ident)) + ident + struct.pack(">q", version) + tete).digest()


def _paire(gauche: bytes, droite: bytes) -> bytes:
    return hashlib.sha256(gauche + droite).digest()


class RacineMerkle:
    """The Merkle root of leaves given in order, in O(log n) memory (same root as level by level).

    A stack of complete subtrees (their height, their hash) merges like a binary
    counter; at the end, the subtrees left are folded from the smallest: each
    smaller one is the odd node promoted until it meets its partner.
    """

    def __init__(self) -> None:
        self._pile: list[tuple[int, bytes]] = []
        self.nombre = 0

    def ajouter(self, noeud: bytes) -> None:
        hauteur = 0
        while self._pile and self._pile[-1][0] == hauteur:
            _, gauche = self._pile.pop()
            noeud = _paire(gauche, noeud)
            hauteur += 1
        self._pile.append((hauteur, noeud))
        self.nombre += 1

    def racine(self) -> bytes:
        if not self._pile:
            return hashlib.sha256(b"").digest()
        _, noeud = self._pile[-1]
        for _, gauche in reversed(self._pile[:-1]):
            noeud = _paire(gauche, noeud)
        return noeud


def racine_merkle(feuilles: Iterable[bytes]) -> bytes:
    """The Merkle root of ``feuilles`` in the order given (see the module's docstring)."""
    calcul = RacineMerkle()
    for f in feuilles:
        calcul.ajouter(f)
    return calcul.racine()


def racine_des_tetes(tetes: Iterable[tuple[str, int, bytes]]) -> bytes:
    """The Merkle root of stream heads (id, version, hash), sorted here by the id's UTF-8 bytes."""
    return racine_merkle(feuille(f, v, e) for f, v, e in sorted(tetes, key=lambda t: t[0].encode()))


# -- schema ----------------------------------------------------------------------


def instructions_chaine(schema: str, table: str, type_id: str) -> list[Composed]:
    """SQL run by the recorder's ``create_table``: columns, functions, triggers, head table, chaining of old rows.

    Idempotent, and cheap when all is there (each step first looks in the catalog,
    so no table lock is taken at every start). ``type_id`` is the column type of
    ``originator_id`` (``uuid`` or ``text``).
    """
    noms = {
        "schema": Identifier(schema),
        "table": Identifier(table),
        "tetes": Identifier(TABLE_TETES),
        "type_id": Identifier(type_id),
        "f_empreinte": Identifier(f"{table}_empreinte"),
        "f_chainer": Identifier(f"{table}_chainer"),
        "f_tetes": Identifier(f"{table}_tetes"),
        "t_chainer": Identifier(f"{table}_chainer"),
        "t_tetes": Identifier(f"{table}_tetes"),
        "i_sans": Identifier(f"{table}_sans_empreinte_idx"),
    }
    qualifiee = f"{schema}.{table}"
    genese = SQL("decode(repeat('00', 32), 'hex')")
    return [
        SQL(
            "DO $$ BEGIN "
            "IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = {reg}::regclass "
            "AND attname = 'empreinte' AND NOT attisdropped) THEN "
            "ALTER TABLE {schema}.{table} ADD COLUMN IF NOT EXISTS empreinte_precedente bytea, "
            "ADD COLUMN IF NOT EXISTS empreinte bytea; "
            # Rows without a hash, found at once at each start: only those written before the chain.
            "CREATE INDEX IF NOT EXISTS {i_sans} ON {schema}.{table} (originator_id) WHERE empreinte IS NULL; "
            "END IF; END $$"
        ).format(reg=_litteral(qualifiee), **noms),
        SQL(
            "CREATE TABLE IF NOT EXISTS {schema}.{tetes} ("
            "originator_id {type_id} PRIMARY KEY, originator_version bigint NOT NULL, empreinte bytea NOT NULL)"
        ).format(**noms),
        SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{f_empreinte}"
            "(precedente bytea, flux text, version bigint, topic text, etat bytea) "
            "RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT sha256("
            "precedente || int4send(octet_length(convert_to(flux, 'UTF8'))) || convert_to(flux, 'UTF8') "
            "|| int8send(version) "
            "|| int4send(octet_length(convert_to(coalesce(topic, ''), 'UTF8'))) || convert_to(coalesce(topic, ''), 'UTF8') "
            "|| int4send(octet_length(coalesce(etat, ''::bytea))) || coalesce(etat, ''::bytea)) $$"
        ).format(**noms),
        SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{f_chainer}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "DECLARE precedente bytea; "
            "BEGIN "
            "SELECT e.empreinte INTO precedente FROM {schema}.{table} e "
            "WHERE e.originator_id = NEW.originator_id AND e.originator_version < NEW.originator_version "
            "ORDER BY e.originator_version DESC LIMIT 1; "
            "NEW.empreinte_precedente := coalesce(precedente, {genese}); "
            "NEW.empreinte := {schema}.{f_empreinte}(NEW.empreinte_precedente, NEW.originator_id::text, "
            "NEW.originator_version, NEW.topic, NEW.state); "
            "RETURN NEW; "
            "END $$"
        ).format(genese=genese, **noms),
        SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{f_tetes}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN "
            "INSERT INTO {schema}.{tetes} AS t (originator_id, originator_version, empreinte) "
            "SELECT DISTINCT ON (originator_id) originator_id, originator_version, empreinte FROM nouvelles "
            "ORDER BY originator_id, originator_version DESC "
            "ON CONFLICT (originator_id) DO UPDATE SET originator_version = EXCLUDED.originator_version, "
            "empreinte = EXCLUDED.empreinte WHERE t.originator_version < EXCLUDED.originator_version; "
            "RETURN NULL; "
            "END $$"
        ).format(**noms),
        # Rows written before the chain existed: chained once, stream by stream, in version order.
        SQL(
            "DO $$ DECLARE r record; precedente bytea; courant text; h bytea; "
            "BEGIN "
            "IF EXISTS (SELECT 1 FROM {schema}.{table} WHERE empreinte IS NULL) THEN "
            "LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
            "FOR r IN SELECT originator_id, originator_version, topic, state, empreinte FROM {schema}.{table} "
            "WHERE originator_id IN (SELECT originator_id FROM {schema}.{table} WHERE empreinte IS NULL) "
            "ORDER BY originator_id, originator_version LOOP "
            "IF courant IS DISTINCT FROM r.originator_id::text THEN "
            "courant := r.originator_id::text; precedente := {genese}; END IF; "
            "IF r.empreinte IS NULL THEN "
            "h := {schema}.{f_empreinte}(precedente, courant, r.originator_version, r.topic, r.state); "
            "UPDATE {schema}.{table} SET empreinte_precedente = precedente, empreinte = h "
            "WHERE originator_id = r.originator_id AND originator_version = r.originator_version; "
            "precedente := h; "
            "ELSE precedente := r.empreinte; END IF; "
            "END LOOP; "
            "INSERT INTO {schema}.{tetes} AS t (originator_id, originator_version, empreinte) "
            "SELECT DISTINCT ON (originator_id) originator_id, originator_version, empreinte FROM {schema}.{table} "
            "ORDER BY originator_id, originator_version DESC "
            "ON CONFLICT (originator_id) DO UPDATE SET originator_version = EXCLUDED.originator_version, "
            "empreinte = EXCLUDED.empreinte; "
            "END IF; END $$"
        ).format(genese=genese, **noms),
        SQL(
            "DO $$ BEGIN "
            "IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = {reg}::regclass AND tgname = {n_chainer}) THEN "
            "CREATE TRIGGER {t_chainer} BEFORE INSERT ON {schema}.{table} "
            "FOR EACH ROW EXECUTE FUNCTION {schema}.{f_chainer}(); "
            "END IF; "
            "IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = {reg}::regclass AND tgname = {n_tetes}) THEN "
            "CREATE TRIGGER {t_tetes} AFTER INSERT ON {schema}.{table} REFERENCING NEW TABLE AS nouvelles "
            "FOR EACH STATEMENT EXECUTE FUNCTION {schema}.{f_tetes}(); "
            "END IF; END $$"
        ).format(
            reg=_litteral(qualifiee),
            n_chainer=_litteral(f"{table}_chainer"),
            n_tetes=_litteral(f"{table}_tetes"),
            **noms,
        ),
    ]


def _litteral(texte: str) -> SQL:
    """A string literal inside a ``DO $$ … $$`` body (no parameters there); names are ours, not a caller's."""
    if "'" in texte or "$" in texte:
        raise ValueError(f"nom inattendu: {texte!r}")
    return SQL(f"'{texte}'")


# -- verification ----------------------------------------------------------------


@dataclass(frozen=True)
class Cassure:
    """The first break of one stream: where and of which kind."""

    flux: str
    version: int
    nature: Rupture
    detail: str

    def en_json(self) -> dict[str, Any]:
        return {"flux": self.flux, "version": self.version, "nature": self.nature.value, "detail": self.detail}


@dataclass
class Verification:
    """What ``verifier`` saw: streams and events read, and the first break of each broken stream."""

    flux: int = 0
    evenements: int = 0
    cassures: list[Cassure] = field(default_factory=list)

    @property
    def intacte(self) -> bool:
        return not self.cassures


class ChaineAbsente(RuntimeError):
    """The stored events table has no chain yet (no service with the chain has opened it)."""


@dataclass
class _Flux:
    ident: str
    tete: tuple[int, bytes] | None
    derniere: tuple[int, bytes] | None = None
    cassee: bool = False


def verifier(
    conn: psycopg.Connection[Any],
    *,
    schema: str = "public",
    table: str = "ase_events",
    flux: str | None = None,
    taille_lot: int = 2000,
) -> Verification:
    """Recompute every chain (or the one of stream ``flux``) and report the first break per stream.

    Streams the table through a server-side cursor, ``taille_lot`` rows at a
    time, in one read-only REPEATABLE READ transaction (the heads and the rows
    are of one snapshot); memory holds one stream's position and the breaks.
    Raises ``ChaineAbsente`` when the table has no chain columns.
    """
    rapport = Verification()
    noms = {"schema": Identifier(schema), "table": Identifier(table), "tetes": Identifier(TABLE_TETES)}
    filtre = SQL(" WHERE e.originator_id = %s") if flux is not None else SQL("")
    parametres = (flux,) if flux is not None else ()
    _exiger_chaine(conn, schema, table)
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        with conn.cursor(name="ase_audit_chaine") as curseur:
            curseur.itersize = taille_lot
            curseur.execute(
                SQL(
                    "SELECT e.originator_id::text, e.originator_version, e.topic, e.state, "
                    "e.empreinte_precedente, e.empreinte, t.originator_version, t.empreinte "
                    "FROM {schema}.{table} e LEFT JOIN {schema}.{tetes} t ON t.originator_id = e.originator_id"
                ).format(**noms)
                + filtre
                + SQL(" ORDER BY e.originator_id, e.originator_version"),
                parametres,
            )
            courant: _Flux | None = None
            for ident, version, topic, etat, precedente, hachage, tete_v, tete_e in curseur:
                if courant is None or courant.ident != ident:
                    if courant is not None:
                        _terminer(courant, rapport)
                    courant = _Flux(ident, (tete_v, bytes(tete_e)) if tete_v is not None else None)
                    rapport.flux += 1
                rapport.evenements += 1
                if not courant.cassee:
                    _examiner(courant, (version, topic, _octets(etat), _octets(precedente), _octets(hachage)), rapport)
            if courant is not None:
                _terminer(courant, rapport)
        # Streams whose every event is gone, though their head remains.
        orphelins = conn.execute(
            SQL(
                "SELECT t.originator_id::text, t.originator_version FROM {schema}.{tetes} t "
                "WHERE NOT EXISTS (SELECT 1 FROM {schema}.{table} e WHERE e.originator_id = t.originator_id)"
            ).format(**noms)
            + (SQL(" AND t.originator_id = %s") if flux is not None else SQL("")),
            parametres,
        )
        for ident, tete_v in orphelins:
            rapport.flux += 1
            rapport.cassures.append(
                Cassure(ident, 1, Rupture.TRONQUE, f"aucun événement, la table des têtes en voit {tete_v}")
            )
    return rapport


def _octets(valeur: Any) -> bytes | None:
    return None if valeur is None else bytes(valeur)


def _examiner(
    f: _Flux, ligne: tuple[int, str | None, bytes | None, bytes | None, bytes | None], rapport: Verification
) -> None:
    """One row (version, topic, state, link, hash) of stream ``f``, after the previous ones."""
    version, topic, etat, precedente, hachage = ligne

    def casser(v: int, nature: Rupture, detail: str) -> None:
        f.cassee = True
        rapport.cassures.append(Cassure(f.ident, v, nature, detail))

    if precedente is None or hachage is None:
        casser(version, Rupture.CONTENU_MODIFIE, "événement sans empreinte")
    elif empreinte(precedente, f.ident, version, topic, etat) != hachage:
        casser(version, Rupture.CONTENU_MODIFIE, "l'empreinte ne correspond pas aux octets stockés")
    elif f.derniere is not None and version != f.derniere[0] + 1:
        casser(f.derniere[0] + 1, Rupture.VERSION_MANQUANTE, f"après la version {f.derniere[0]} vient la {version}")
    elif f.derniere is None and version != PREMIERE_VERSION:
        casser(PREMIERE_VERSION, Rupture.VERSION_MANQUANTE, f"le flux commence à la version {version}")
    elif f.derniere is None and precedente != GENESE:
        casser(version, Rupture.CHAINE_ROMPUE, "le premier événement ne part pas de la genèse")
    elif f.derniere is not None and precedente != f.derniere[1]:
        casser(version, Rupture.CHAINE_ROMPUE, "le lien ne correspond pas à l'empreinte de la version précédente")
    if not f.cassee:
        assert hachage is not None
        f.derniere = (version, hachage)


def _terminer(f: _Flux, rapport: Verification) -> None:
    if f.cassee or f.derniere is None:
        return
    version, hachage = f.derniere
    if f.tete is None:
        rapport.cassures.append(Cassure(f.ident, version, Rupture.CHAINE_ROMPUE, "flux absent de la table des têtes"))
    elif version < f.tete[0]:
        rapport.cassures.append(
            Cassure(f.ident, version + 1, Rupture.TRONQUE, f"le flux finit à {version}, sa tête était à {f.tete[0]}")
        )
    elif version > f.tete[0] or hachage != f.tete[1]:
        rapport.cassures.append(
            Cassure(f.ident, version, Rupture.CHAINE_ROMPUE, "la tête enregistrée ne correspond pas au flux")
        )


def _exiger_chaine(conn: psycopg.Connection[Any], schema: str, table: str) -> None:
    with conn.transaction():
        ligne = conn.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
            "AND column_name IN ('empreinte', 'empreinte_precedente')",
            (schema, table),
        ).fetchone()
        tetes = conn.execute("SELECT to_regclass(%s)", (f"{schema}.{TABLE_TETES}",)).fetchone()
    if ligne is None or ligne[0] != 2 or tetes is None or tetes[0] is None:
        raise ChaineAbsente(
            f"{schema}.{table} n'a pas de chaîne d'intégrité: démarrer une fois le service parcours (il la crée)"
        )


def tetes(conn: psycopg.Connection[Any], *, schema: str = "public", table: str = "ase_events") -> Iterator[Any]:
    """Every stream's last (id, version, hash) and its event count, from the events table, sorted by id bytes.

    To be iterated inside a transaction (server-side cursor); rows are (id, version, hash, count).
    """
    _exiger_chaine(conn, schema, table)
    with conn.cursor(name="ase_audit_tetes") as curseur:
        curseur.itersize = 2000
        curseur.execute(
            SQL(
                'SELECT DISTINCT ON (originator_id::text COLLATE "C") originator_id::text, originator_version, '
                "empreinte, count(*) OVER (PARTITION BY originator_id) "
                'FROM {schema}.{table} ORDER BY originator_id::text COLLATE "C", originator_version DESC'
            ).format(schema=Identifier(schema), table=Identifier(table))
        )
        for ident, version, hachage, nombre in curseur:
            yield ident, version, _octets(hachage), nombre


def tetes_presentes(
    conn: psycopg.Connection[Any],
    lot: list[tuple[str, int]],
    *,
    schema: str = "public",
    table: str = "ase_events",
) -> dict[tuple[str, int], bytes | None]:
    """For each (stream id, version) of ``lot``, the hash the table holds at that version (None if absent)."""
    if not lot:
        return {}
    ligne = conn.execute(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = to_regclass(%s) "
        "AND attname = 'originator_id'",
        (f"{schema}.{table}",),
    ).fetchone()
    type_id = "uuid" if ligne is None or ligne[0] == "uuid" else "text"
    lignes = conn.execute(
        SQL(
            "SELECT c.flux, c.version, e.empreinte FROM unnest(%s::text[], %s::bigint[]) AS c(flux, version) "
            "LEFT JOIN {schema}.{table} e ON e.originator_id = c.flux::{type_id} AND e.originator_version = c.version"
        ).format(schema=Identifier(schema), table=Identifier(table), type_id=SQL(type_id)),
        ([f for f, _ in lot], [v for _, v in lot]),
    ).fetchall()
    return {(f, v): _octets(e) for f, v, e in lignes}


def rechainer(
    conn: psycopg.Connection[Any],
    flux: Iterable[str],
    *,
    schema: str = "public",
    table: str = "ase_events",
) -> int:
    """Recompute the chain of each stream of ``flux`` after a deliberate rewrite of its stored bytes.

    For a migration that rewrites events in place (plain fields encrypted, for
    instance): call it in the migration's transaction, after the rewrite, with
    the streams it touched; it updates the rows whose hash changed and the
    stream's head, and returns how many rows changed. Any checkpoint taken
    before then reports those streams as ``reecrit``: take a new one right
    after, and keep the migration's record beside the old one.
    """
    noms = {"schema": Identifier(schema), "table": Identifier(table), "tetes": Identifier(TABLE_TETES)}
    modifies = 0
    for ident in flux:
        lignes = conn.execute(
            SQL(
                "SELECT originator_version, topic, state, empreinte_precedente, empreinte FROM {schema}.{table} "
                "WHERE originator_id = %s ORDER BY originator_version FOR UPDATE"
            ).format(**noms),
            (ident,),
        ).fetchall()
        precedente = GENESE
        for version, topic, etat, lien, hachage in lignes:
            nouveau = empreinte(precedente, ident, version, topic, _octets(etat))
            if _octets(lien) != precedente or _octets(hachage) != nouveau:
                conn.execute(
                    SQL(
                        "UPDATE {schema}.{table} SET empreinte_precedente = %s, empreinte = %s "
                        "WHERE originator_id = %s AND originator_version = %s"
                    ).format(**noms),
                    (precedente, nouveau, ident, version),
                )
                modifies += 1
            precedente = nouveau
        if lignes:
            conn.execute(
                SQL(
                    "INSERT INTO {schema}.{tetes} AS t (originator_id, originator_version, empreinte) "
                    "VALUES (%s, %s, %s) ON CONFLICT (originator_id) DO UPDATE SET "
                    "originator_version = EXCLUDED.originator_version, empreinte = EXCLUDED.empreinte"
                ).format(**noms),
                (ident, lignes[-1][0], precedente),
            )
    return modifies
