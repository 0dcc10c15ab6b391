"""The CloudEvents 1.0 envelope in Kafka binary content mode (API.md)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Final
from uuid import UUID

from pydantic import BaseModel, ConfigDict

SPECVERSION: Final = "1.0"
CONTENT_TYPE: Final = "application/json"
SCHEMAS_BASE: Final = "https://schemas.parcours-ase.fr/"

TOPIC_PARCOURS: Final = "ase.parcours.evenements.v1"
TOPIC_IDENTITES: Final = "ase.identites.v1"
TOPIC_STATISTIQUES: Final = "ase.statistiques.v1"
TOPIC_ALERTES: Final = "ase.alertes.v1"
TOPIC_RESTREINT: Final = "ase.parcours.restreint.v1"
"""Restricted: court references, exact dates and private lieux' names (``contracts/restreint.py``)."""

_ESPACE_IDS: Final = UUID("6f1c2a9e-2b3e-5d8a-9c41-a5e0b7d3f210")


def identifiant_evenement(flux_id: UUID, version: int) -> str:
    """The deterministic ``ce_id``: the same stored event always gets the same id."""
    return str(uuid.uuid5(_ESPACE_IDS, f"{flux_id}:{version}"))


def identifiant_restreint(flux_id: UUID, version: int) -> str:
    """The deterministic ``ce_id`` of the restricted record beside the event ``(flux_id, version)``."""
    return str(uuid.uuid5(_ESPACE_IDS, f"{flux_id}:{version}:restreint"))


def url_schema(type_cloudevents: str) -> str:
    return f"{SCHEMAS_BASE}{type_cloudevents}.json"


class Enveloppe(BaseModel):
    """The ``ce_*`` headers of one message, and how they are written as Kafka headers."""

    model_config = ConfigDict(frozen=True)

    id: str
    source: str
    type: str
    subject: str
    time: datetime
    dataschema: str
    sequence: int
    partitionkey: str
    correlationid: str
    causationid: str
    traceparent: str
    auteur: str
    """Extension ``ce_auteur``: the ``sub`` of the user who recorded the event (audit trails)."""

    def entetes(self) -> list[tuple[str, bytes]]:
        """Kafka headers, in the order of API.md."""
        valeurs = [
            ("ce_specversion", SPECVERSION),
            ("ce_id", self.id),
            ("ce_source", self.source),
            ("ce_type", self.type),
            ("ce_subject", self.subject),
            ("ce_time", self.time.isoformat().replace("+00:00", "Z")),
            ("ce_dataschema", self.dataschema),
            ("content-type", CONTENT_TYPE),
            ("ce_sequence", str(self.sequence)),
            ("ce_partitionkey", self.partitionkey),
            ("ce_correlationid", self.correlationid),
            ("ce_causationid", self.causationid),
            ("traceparent", self.traceparent),
            ("ce_auteur", self.auteur),
        ]
        return [(cle, valeur.encode()) for cle, valeur in valeurs]

    @classmethod
    def depuis_entetes(cls, entetes: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...]) -> Enveloppe:
        """Read an envelope back from a consumed message's headers."""
        lues = {cle: valeur.decode() for cle, valeur in entetes}
        return cls(
            id=lues["ce_id"],
            source=lues["ce_source"],
            type=lues["ce_type"],
            subject=lues["ce_subject"],
            time=datetime.fromisoformat(lues["ce_time"]),
            dataschema=lues["ce_dataschema"],
            sequence=int(lues["ce_sequence"]),
            partitionkey=lues["ce_partitionkey"],
            correlationid=lues["ce_correlationid"],
            causationid=lues["ce_causationid"],
            traceparent=lues["traceparent"],
            auteur=lues.get("ce_auteur", ""),
        )
