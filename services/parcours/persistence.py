"""How events are stored: readable JSON through pydantic, and idempotency keys
recorded in the same transaction as the events they answered with."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

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
from eventsourcing.popo import POPOApplicationRecorder
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import get_topic, resolve_topic, retry
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier
from pydantic import TypeAdapter

from services.parcours import integrite

_CHAMPS_DU_FLUX = {"originator_id", "originator_version"}


@cache
def _adaptateur(classe: type[Any]) -> TypeAdapter[Any]:
    return TypeAdapter(classe)


class JsonMapper(Mapper[Any]):
    """Stores an event's fields as plain JSON (dates ISO, enums by value).

    Stream id and version live in their own columns. ``class_version`` is kept
    when above 1, and stored events of older versions are upcast on read by the
    event class's ``upcast_vN_vN+1`` static methods.
    """

    def __init__(self) -> None:
        super().__init__(transcoder=_SansTranscodage())

    def to_stored_event(self, domain_event: DomainEventProtocol[Any]) -> StoredEvent:
        classe = type(domain_event)
        etat = _adaptateur(classe).dump_python(domain_event, mode="json", exclude=_CHAMPS_DU_FLUX)
        version_de_classe = getattr(classe, "class_version", 1)
        if version_de_classe > 1:
            etat["class_version"] = version_de_classe
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=get_topic(classe),
            state=orjson.dumps(etat),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[Any]:
        classe = resolve_topic(stored_event.topic)
        etat: dict[str, Any] = orjson.loads(stored_event.state)
        version_lue = etat.pop("class_version", 1)
        version_de_classe = getattr(classe, "class_version", 1)
        while version_lue < version_de_classe:
            getattr(classe, f"upcast_v{version_lue}_v{version_lue + 1}")(etat)
            version_lue += 1
        etat["originator_id"] = stored_event.originator_id
        etat["originator_version"] = stored_event.originator_version
        evenement: DomainEventProtocol[Any] = _adaptateur(classe).validate_python(etat)
        return evenement


class _SansTranscodage(Transcoder):
    """The mapper serialises itself; the library still wants a transcoder."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


@dataclass(frozen=True)
class ReponseIdempotente:
    """The first answer to a request sent with an ``Idempotency-Key``."""

    sub: str
    cle: str
    empreinte: str
    statut: int
    corps: dict[str, Any]


class RecorderIdempotent:
    """What the application asks of a recorder that keeps idempotency keys."""

    def lire_reponse(self, sub: str, cle: str) -> ReponseIdempotente | None:
        raise NotImplementedError


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
        self._select_idempotence = SQL(
            "SELECT sub, cle, empreinte, statut, corps FROM {schema}.{table} WHERE sub = %s AND cle = %s"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.table_idempotence))
        if self.chaine_integrite:  # hash chain of every row, by PostgreSQL in the inserting transaction
            self.sql_create_statements += integrite.instructions_chaine(
                self.datastore.schema, events_table_name, self.datastore.originator_id_type
            )

    def _insert_events(self, curs: Cursor[DictRow], stored_events: Any, **kwargs: Any) -> None:
        reponse: ReponseIdempotente | None = kwargs.get("idempotence")
        if reponse is not None:
            curs.execute(
                self._insert_idempotence,
                (reponse.sub, reponse.cle, reponse.empreinte, reponse.statut, orjson.dumps(reponse.corps).decode()),
            )
        super()._insert_events(curs, stored_events, **kwargs)

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
        return ids

    def lire_reponse(self, sub: str, cle: str) -> ReponseIdempotente | None:
        with self._database_lock:
            return self._reponses.get((sub, cle))
