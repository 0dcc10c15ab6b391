"""How events are stored: readable JSON through pydantic, personal fields encrypted with
the person's key (``services/runtime/coffre.py``), and idempotency keys and data keys
recorded in the same transaction as the events they go with."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final
from uuid import UUID

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    Mapper,
    OperationalError,
    StoredEvent,
    Transcoder,
)
from eventsourcing.popo import POPOAggregateRecorder, POPOApplicationRecorder
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder
from eventsourcing.utils import get_topic, resolve_topic, retry
from psycopg import Cursor
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier, Literal
from pydantic import TypeAdapter

from services.parcours import integrite
from services.parcours.domain.identite import DATE_NAISSANCE_EFFACEE
from services.parcours.instantanes import Instantane
from services.runtime import coffre, journal_acces
from services.runtime.errors import RegleMetierError

_CHAMPS_DU_FLUX = {"originator_id", "originator_version"}

_CHAMPS_IDENTITE: Final = ("nom", "prenoms", "date_naissance", "lieu_naissance")
_CHAMPS_TEXTE_LIBRE: Final = ("date_naissance", "motif", "reference_decision")
"""The corrected fields whose old and new values are personal: the exact birth date, free text, a court's
reference."""

CHAMPS_PERSONNELS: Final[dict[str, tuple[str, ...]]] = {
    "IdentiteEnregistree": _CHAMPS_IDENTITE,
    "IdentiteRectifiee": _CHAMPS_IDENTITE,
    "ParcoursOuvert": ("date_naissance",),
    "ParcoursRouvert": ("motif",),
    "MesureDecidee": ("reference_decision",),
    "MesureRenouvelee": ("reference_decision",),
    "SaisieRectifiee": ("motif", "ancienne_valeur", "nouvelle_valeur"),
}
"""The fields of each event encrypted at rest with the person's data key (README, "Chiffrement et effacement"):
every personal field of the identity, the exact birth date of a parcours, the free text a caseworker typed,
the court's reference of a measure (it leads back to the person)."""

DATE_EFFACEE: Final = DATE_NAISSANCE_EFFACEE.isoformat()
"""What an erased birth date reads as in the write side's domain (``Parcours.identite_effacee`` then holds);
routes show it as null."""


def champs_personnels(nom: str, etat: Mapping[str, Any]) -> tuple[str, ...]:
    """The fields of the event ``nom`` (its stored state ``etat``) encrypted at rest."""
    champs = CHAMPS_PERSONNELS.get(nom, ())
    if nom == "SaisieRectifiee" and etat.get("champ") not in _CHAMPS_TEXTE_LIBRE:
        return ("motif",)
    return champs


def _valeur_effacee(nom: str, champ: str, etat: Mapping[str, Any]) -> Any:
    """An erased field as the domain reads it: a marker date, empty text, None for a court's reference;
    never a validation error."""
    if champ in ("lieu_naissance", "reference_decision"):
        return None
    if champ.endswith("_valeur") and etat.get("champ") == "reference_decision":
        return None
    if champ == "date_naissance" or (champ.endswith("_valeur") and etat.get("champ") == "date_naissance"):
        return DATE_EFFACEE
    return ""


@dataclass
class Trousseau:
    """The data keys a save needs: the person of each stream, and her clear key."""

    personnes: dict[UUID, UUID] = field(default_factory=dict)
    cles: dict[UUID, bytes] = field(default_factory=dict)


class ChiffrementImpossibleError(RuntimeError):
    """A personal field to store with no key of its person: it is never stored in clear."""


_TROUSSEAU: ContextVar[Trousseau | None] = ContextVar("trousseau", default=None)


@contextmanager
def trousseau_actif(trousseau: Trousseau) -> Iterator[None]:
    """The keys the mapper encrypts with while saving (set by ``ParcoursApplication.save``)."""
    jeton = _TROUSSEAU.set(trousseau)
    try:
        yield
    finally:
        _TROUSSEAU.reset(jeton)


@cache
def _adaptateur(classe: type[Any]) -> TypeAdapter[Any]:
    return TypeAdapter(classe)


class JsonMapper(Mapper[Any]):
    """Stores an event's fields as plain JSON (dates ISO, enums by value).

    Stream id and version live in their own columns. ``class_version`` is kept
    when above 1, and stored events of older versions are upcast on read by the
    event class's ``upcast_vN_vN+1`` static methods.

    With ``chiffrer``, the fields :func:`champs_personnels` names are encrypted with
    the key of the stream's person, from the active :class:`Trousseau`; a
    ``ParcoursOuvert`` keeps its ``mois_naissance`` in clear (the month the public
    topic carries). Reading, a state the recorder decrypted in its erased form
    gets the domain's markers (:data:`DATE_EFFACEE`, empty text).
    """

    def __init__(self, *, chiffrer: bool = False) -> None:
        super().__init__(transcoder=_SansTranscodage())
        self.chiffrer = chiffrer

    def to_stored_event(self, domain_event: DomainEventProtocol[Any]) -> StoredEvent:
        classe = type(domain_event)
        etat = _adaptateur(classe).dump_python(domain_event, mode="json", exclude=_CHAMPS_DU_FLUX)
        version_de_classe = getattr(classe, "class_version", 1)
        if version_de_classe > 1:
            etat["class_version"] = version_de_classe
        if self.chiffrer:
            if isinstance(domain_event, Instantane):
                self._chiffrer_instantane(domain_event.originator_id, domain_event.originator_version, etat)
            else:
                self._chiffrer(classe.__name__, domain_event.originator_id, domain_event.originator_version, etat)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=get_topic(classe),
            state=orjson.dumps(etat),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[Any]:
        classe = resolve_topic(stored_event.topic)
        etat: dict[str, Any] = orjson.loads(stored_event.state)
        if coffre.CHAMP_CHIFFRE in etat:
            raise ChiffrementImpossibleError("état lu sans déchiffrement: lire par le recorder du service")
        nom = classe.__name__
        if etat.pop(coffre.CHAMP_EFFACE, False):
            for champ in champs_personnels(nom, etat):
                if etat.get(champ) is None:
                    etat[champ] = _valeur_effacee(nom, champ, etat)
        if nom == "ParcoursOuvert":
            etat.pop("mois_naissance", None)
        version_lue = etat.pop("class_version", 1)
        version_de_classe = getattr(classe, "class_version", 1)
        while version_lue < version_de_classe:
            getattr(classe, f"upcast_v{version_lue}_v{version_lue + 1}")(etat)
            version_lue += 1
        etat["originator_id"] = stored_event.originator_id
        etat["originator_version"] = stored_event.originator_version
        evenement: DomainEventProtocol[Any] = _adaptateur(classe).validate_python(etat)
        return evenement

    def _chiffrer_instantane(self, flux_id: UUID, version: int, etat: dict[str, Any]) -> None:
        """A snapshot of a stream with a person: its whole state encrypted with her key (``instantanes``)."""
        personne = etat["state"].get("personne_id")
        if personne is None:
            # Never a snapshot in clear: the encryption is what authenticates it (see ``instantanes``).
            raise ChiffrementImpossibleError("Instantane: un flux sans personne n'a pas d'instantané")
        trousseau = _TROUSSEAU.get()
        cle = trousseau.cles.get(UUID(str(personne))) if trousseau is not None else None
        if cle is None:
            raise ChiffrementImpossibleError("Instantane: aucune clé pour chiffrer l'état du flux")
        coffre.chiffrer_champs(
            etat, ("state",), personne_id=UUID(str(personne)), cle=cle, flux_id=flux_id, version=version
        )

    def _chiffrer(self, nom: str, flux_id: UUID, version: int, etat: dict[str, Any]) -> None:
        champs = champs_personnels(nom, etat)
        if not champs:
            return
        trousseau = _TROUSSEAU.get()
        personne = trousseau.personnes.get(flux_id) if trousseau is not None else None
        cle = trousseau.cles.get(personne) if trousseau is not None and personne is not None else None
        if personne is None or cle is None:
            raise ChiffrementImpossibleError(f"{nom}: aucune clé pour chiffrer les données personnelles du flux")
        chiffrer_etat(nom, flux_id, version, etat, personne_id=personne, cle=cle)


def chiffrer_etat(
    nom: str, flux_id: UUID, version: int, etat: dict[str, Any], *, personne_id: UUID, cle: bytes
) -> dict[str, Any]:
    """The stored state of the event ``nom`` with its personal fields encrypted by ``cle`` (in place).

    What the mapper stores, and what ``ase cles migrer`` makes of a state stored in clear before.
    """
    champs = champs_personnels(nom, etat)
    if not champs or coffre.CHAMP_CHIFFRE in etat:
        return etat
    if nom == "ParcoursOuvert" and etat.get("date_naissance") is not None:
        etat["mois_naissance"] = str(etat["date_naissance"])[:7]
    return coffre.chiffrer_champs(etat, champs, personne_id=personne_id, cle=cle, flux_id=flux_id, version=version)


def dechiffrer(stored_events: Sequence[StoredEvent], cles: Mapping[UUID, bytes]) -> list[StoredEvent]:
    """``stored_events`` with their states decrypted by ``cles`` (erased form where a key is gone)."""
    return [
        StoredEvent(
            originator_id=e.originator_id,
            originator_version=e.originator_version,
            topic=e.topic,
            state=coffre.dechiffrer_stocke(
                e.state, cles, flux_id=UUID(str(e.originator_id)), version=e.originator_version
            ),
        )
        if coffre.est_chiffre(e.state)
        else e
        for e in stored_events
    ]


class _SansTranscodage(Transcoder):
    """The mapper serialises itself; the library still wants a transcoder."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


def empreinte_cle_idempotence(sub: str, cle: str) -> str:
    """What ``ase_idempotence.cle`` holds for the ``Idempotency-Key`` ``cle`` of ``sub``: a SHA-256 hex digest.

    A caller chooses the key and may put a name in it: only this digest is stored, never the key.
    The pair is hashed as a JSON array, so no two (sub, key) pairs share an input. Keys stored
    before this digest (in clear) are not found again: a retry across that upgrade is a new command.
    """
    return hashlib.sha256(orjson.dumps([sub, cle])).hexdigest()


@dataclass(frozen=True)
class ReponseIdempotente:
    """The first answer to a request sent with an ``Idempotency-Key``."""

    sub: str
    cle: str
    """The digest of the key (:func:`empreinte_cle_idempotence`), never the caller's key."""
    empreinte: str
    statut: int
    corps: dict[str, Any]


class RecorderIdempotent:
    """What the application asks of a recorder that keeps idempotency keys and data keys.

    A save may pass ``cles_nouvelles`` (wrapped keys of new persons, inserted) and
    ``cles_effacees`` (persons erased: their keys deleted), in the events' transaction.
    Reads decrypt the events they return (one key query per read).
    """

    def lire_reponse(self, sub: str, cle: str) -> ReponseIdempotente | None:
        """The answer stored for ``sub`` under ``cle``, the digest of :func:`empreinte_cle_idempotence`."""
        raise NotImplementedError

    def cles_personnes(self, personnes: Sequence[UUID]) -> dict[UUID, bytes]:
        """The clear data keys of ``personnes`` that have one (an erased person has none)."""
        raise NotImplementedError

    def parcours_de_personne(self, personne_id: UUID) -> UUID | None:
        """The parcours whose ``ParcoursOuvert`` names ``personne_id`` (kept in clear), None if none."""
        raise NotImplementedError


def _aiguille_personne(personne_id: UUID) -> bytes:
    return b'"personne_id":"' + str(personne_id).encode() + b'"'


def identite_effacee(personne_id: UUID) -> RegleMetierError:
    """The error of a command that would write personal data of an erased person."""
    return RegleMetierError("identite_effacee", f"l'identité de la personne {personne_id} est effacée")


VERROU_DDL = 0x415345_444444
"""The advisory lock (one bigint) taken around the write side's table creation."""


class PostgresRecorderIdempotent(PostgresApplicationRecorder, RecorderIdempotent):
    """The PostgreSQL recorder, plus a table of idempotency keys written with the events."""

    chaine_integrite = True
    """Whether its tables carry the hash chain of ``services.parcours.integrite`` (off: benchmark baseline)."""

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.table_idempotence = f"{events_table_name.rsplit('_', 1)[0]}_idempotence"
        self.check_identifier_length(self.table_idempotence)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {schema}.{table} ("
                "sub text NOT NULL, cle text NOT NULL, empreinte text NOT NULL, "
                "statut integer NOT NULL, corps jsonb NOT NULL, "
                "enregistre_le timestamptz NOT NULL DEFAULT now(), "
                "PRIMARY KEY (sub, cle))"
            ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.table_idempotence))
        )
        self._insert_idempotence = SQL(
            "INSERT INTO {schema}.{table} (sub, cle, empreinte, statut, corps) VALUES (%s, %s, %s, %s, %s)"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.table_idempotence))
        self.sql_create_statements.append(SQL(coffre.SQL_TABLE_CLES))  # type: ignore[arg-type]
        # The snapshots (``instantanes``): created here too, so that an erasure deletes a person's in its own
        # transaction whichever recorder created its tables first.
        self.table_instantanes = f"{events_table_name.rsplit('_', 1)[0]}_snapshots"
        self.sql_create_statements += PostgresAggregateRecorder(
            datastore, events_table_name=self.table_instantanes
        ).sql_create_statements
        self._effacer_instantanes = SQL("DELETE FROM {schema}.{table} WHERE originator_id = ANY(%s::uuid[])").format(
            schema=Identifier(self.datastore.schema), table=Identifier(self.table_instantanes)
        )
        self._insert_cle = SQL(
            "INSERT INTO public.ase_cles_personnes (personne_id, cle_chiffree, kek_id) VALUES (%s, %s, %s)"
        )
        self._effacer_cles = SQL("DELETE FROM public.ase_cles_personnes WHERE personne_id = ANY(%s::uuid[])")
        self._select_idempotence = SQL(
            "SELECT sub, cle, empreinte, statut, corps FROM {schema}.{table} WHERE sub = %s AND cle = %s"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.table_idempotence))
        if self.chaine_integrite:  # hash chain of every row, by PostgreSQL in the inserting transaction
            self.sql_create_statements += integrite.instructions_chaine(
                self.datastore.schema, events_table_name, self.datastore.originator_id_type
            )

    def create_table(self) -> None:
        """As the library's, under an advisory lock (:data:`VERROU_DDL`), held by a connection of its own.

        Every process of the write side (``ase serve --workers``) creates the tables at start: two at once
        fail, on the composite types ("duplicate key value violates pg_type_typname_nsp_index") or on the
        hash chain's ``CREATE OR REPLACE FUNCTION`` ("tuple concurrently updated").
        """
        if getattr(self.datastore.pool, "max_size", 2) < 2:  # the lock's connection and one more
            super().create_table()  # one connection only: nothing to hold the lock with (not a server's setting)
            return
        with self.datastore.get_connection() as conn:
            conn.autocommit = True
            conn.execute(SQL("SELECT pg_advisory_lock({})").format(Literal(VERROU_DDL)))
            try:
                super().create_table()
            finally:
                conn.execute(SQL("SELECT pg_advisory_unlock({})").format(Literal(VERROU_DDL)))
                conn.autocommit = False

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """As the library's, in **one round trip**: the ``COMMIT`` is sent in the same pipeline as the table's lock
        and the inserts, so the lock is held while the server runs them only.

        The library syncs after the inserts, then commits: the exclusive lock every append takes was held over
        a second round trip, and over this process' wait for the GIL between the two (other threads of a busy
        API hold it up to ``sys.getswitchinterval()``): every writer of the store queued behind that wait.
        A unique violation (a concurrent writer took the version, an idempotency key already used) is still an
        ``IntegrityError``, raised by the sync; the aborted transaction is rolled back before it leaves.
        """
        if not stored_events:
            ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return ids
        with self.datastore.get_connection() as conn:
            try:
                with conn.pipeline() as pipeline:
                    with conn.transaction():
                        with conn.cursor() as curs:
                            self._insert_events(curs, stored_events, **kwargs)
                        inserts = conn.cursor()
                        self._insert_stored_events(inserts, stored_events, **kwargs)
                    pipeline.sync()
                return self._fetch_ids_after_insert_events(inserts, stored_events, **kwargs)
            except Exception:
                if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
                    conn.rollback()
                raise

    def _insert_events(self, curs: Cursor[DictRow], stored_events: Any, **kwargs: Any) -> None:
        reponse: ReponseIdempotente | None = kwargs.get("idempotence")
        if reponse is not None:
            curs.execute(
                self._insert_idempotence,
                (reponse.sub, reponse.cle, reponse.empreinte, reponse.statut, orjson.dumps(reponse.corps).decode()),
            )
        # Crypto-shredding: a new person's key with her first event, an erasure with the key's deletion.
        for cle in kwargs.get("cles_nouvelles") or ():
            curs.execute(self._insert_cle, (cle.personne_id, cle.cle_chiffree, cle.kek_id))
        if kwargs.get("cles_effacees"):
            curs.execute(self._effacer_cles, (list(kwargs["cles_effacees"]),))
            # The access log keeps who read her parcours, not the terms they searched her by.
            parcours = [p for personne in kwargs["cles_effacees"] for p in self._parcours_de(curs, personne)]
            journal_acces.effacer_termes_sync(curs, parcours)
            # Her snapshots are encrypted with the key just deleted: deleted as well, not left as ciphertext.
            curs.execute(self._effacer_instantanes, ([*parcours, *kwargs["cles_effacees"]],))
        super()._insert_events(curs, stored_events, **kwargs)

    def select_events(self, originator_id: UUID | str, **kwargs: Any) -> Sequence[StoredEvent]:
        evenements = super().select_events(originator_id, **kwargs)
        personnes = coffre.personnes_des_etats(e.state for e in evenements)
        return dechiffrer(evenements, self.cles_personnes(list(personnes))) if personnes else evenements

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def cles_personnes(self, personnes: Sequence[UUID]) -> dict[UUID, bytes]:
        if not personnes:
            return {}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            return coffre.cles_sync(curs, personnes, coffre.coffre_par_defaut())

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def parcours_de_personne(self, personne_id: UUID) -> UUID | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            trouves = self._parcours_de(curs, personne_id)
        return trouves[0] if trouves else None

    def _parcours_de(self, curs: Cursor[DictRow], personne_id: UUID) -> list[UUID]:
        """Every parcours opened for ``personne_id``, oldest first."""
        # A scan of the streams' first events: an erasure is rare, and no index names persons.
        requete = SQL(
            "SELECT originator_id FROM {schema}.{table} WHERE originator_version = 1 "
            "AND topic LIKE '%%:ParcoursOuvert' AND position(%s::bytea in state) > 0 ORDER BY notification_id"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))
        curs.execute(requete, (_aiguille_personne(personne_id),))
        return [UUID(str(ligne["originator_id"])) for ligne in curs.fetchall()]

    # As the library's own reads: a connection lost (the server restarted) is tried again.
    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def lire_reponse(self, sub: str, cle: str) -> ReponseIdempotente | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_idempotence, (sub, cle))
            ligne = curs.fetchone()
        if ligne is None:
            return None
        corps = ligne["corps"]
        return ReponseIdempotente(
            sub=ligne["sub"],
            cle=ligne["cle"],
            empreinte=ligne["empreinte"],
            statut=ligne["statut"],
            corps=corps if isinstance(corps, dict) else orjson.loads(corps),
        )


class POPORecorderIdempotent(POPOApplicationRecorder, RecorderIdempotent):
    """The in-memory recorder with the same idempotency guarantee (unit tests)."""

    def __init__(self) -> None:
        super().__init__()
        self._reponses: dict[tuple[str, str], ReponseIdempotente] = {}
        self.cles: dict[UUID, coffre.CleEnveloppee] = {}
        """The wrapped data keys (the PostgreSQL recorder's ``ase_cles_personnes``)."""
        self.instantanes: POPOAggregateRecorder | None = None
        """The snapshots' recorder (set by the application), whose erased persons' snapshots an erasure deletes."""

    def _assert_uniqueness(self, stored_events: Any, **kwargs: Any) -> None:
        super()._assert_uniqueness(stored_events, **kwargs)
        reponse: ReponseIdempotente | None = kwargs.get("idempotence")
        if reponse is not None and (reponse.sub, reponse.cle) in self._reponses:
            raise IntegrityError(f"idempotency key already used: {reponse.cle}")

    def _update_table(self, stored_events: Any, **kwargs: Any) -> Any:
        ids = super()._update_table(stored_events, **kwargs)
        reponse: ReponseIdempotente | None = kwargs.get("idempotence")
        if reponse is not None:
            self._reponses[(reponse.sub, reponse.cle)] = reponse
        for cle in kwargs.get("cles_nouvelles") or ():
            self.cles[cle.personne_id] = cle
        for personne in kwargs.get("cles_effacees") or ():
            self.cles.pop(personne, None)
            if self.instantanes is not None:
                parcours = self.parcours_de_personne(personne)
                with self.instantanes._database_lock:
                    for flux in (personne, parcours):
                        self.instantanes._stored_events_index.pop(str(flux), None)
        return ids

    def select_events(self, originator_id: UUID | str, **kwargs: Any) -> Sequence[StoredEvent]:
        evenements = super().select_events(originator_id, **kwargs)
        personnes = coffre.personnes_des_etats(e.state for e in evenements)
        return dechiffrer(evenements, self.cles_personnes(list(personnes))) if personnes else evenements

    def cles_personnes(self, personnes: Sequence[UUID]) -> dict[UUID, bytes]:
        with self._database_lock:
            trouvees = [self.cles[p] for p in personnes if p in self.cles]
        return {c.personne_id: coffre.coffre_par_defaut().desenvelopper(c) for c in trouvees}

    def parcours_de_personne(self, personne_id: UUID) -> UUID | None:
        aiguille = _aiguille_personne(personne_id)
        with self._database_lock:
            for e in self._stored_events:
                if e.originator_version == 1 and e.topic.endswith(":ParcoursOuvert") and aiguille in e.state:
                    return UUID(str(e.originator_id))
        return None

    def lire_reponse(self, sub: str, cle: str) -> ReponseIdempotente | None:
        with self._database_lock:
            return self._reponses.get((sub, cle))
