"""The alerts of the deadline engine: one shape for the inbox, the topic, the webhooks and the e-mails.

Topic ``ase.alertes.v1`` (``TOPIC_ALERTES``), key = the parcours id, retention
1 year (ARCHITECTURE.md). Every change of an alert is one CloudEvent whose
``ce_type`` names the change (:class:`EvenementAlerte`:
``fr.ase.alertes.alerte_levee.v1``, ...) and whose body is the alert as it
stands after it (:class:`Alerte`).

An alert carries what is due, by when and why (the rule of DOMAIN.md's table
and its article, :data:`droit.echeances.REGLES`), and a link to the dossier;
never a name, a birth date, a court reference or free text: the dossier link
carries the identity to those allowed to read it. The deadline's ``details``
(which can reveal a birth date: "17 years old on ...") stay inside the service.

A deadline whose dates follow from the exact birth date (16½, 17, 17½, 18, 21
years: :data:`droit.echeances.TYPES_PAR_ANNIVERSAIRE`) would reveal it by its
due date, its alert date or the time it was raised: its alert gives the month
only (:func:`par_anniversaire`: ``due_le`` null, ``mois_du`` the month, the
alert date the first of its month, times the first instant of their month),
as the public topic does for the events dated by the 18th birthday.

An alert's id is derived from (parcours, deadline type, key, due date)
(:func:`identifiant_alerte`): a restart, a replay or a rebuild raises the same
alert under the same id, so never twice; a deadline moved to another date is
another alert.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Final
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from contracts.enveloppe import CONTENT_TYPE, SPECVERSION, url_schema
from contracts.evenements import CodeDepartement
from droit.echeances import TYPES_PAR_ANNIVERSAIRE

ESPACE_ALERTES: Final = UUID("0b7e9c2d-41f6-5a3e-8d1b-6c2f4e9a7b35")
TYPE_PREFIXE: Final = "fr.ase.alertes."


class EvenementAlerte(StrEnum):
    """What happened to an alert: the ``ce_type`` of its message is ``fr.ase.alertes.<value>.v1``."""

    LEVEE = "alerte_levee"
    """Its alert date came: the référent is told."""
    ESCALADEE = "alerte_escaladee"
    """Its due date passed unmet: the département's encadrants are told."""
    ACQUITTEE = "alerte_acquittee"
    """Someone acknowledged it (it stays open until the awaited fact is recorded)."""
    CLOSE = "alerte_close"
    """The awaited fact was recorded, the deadline moved or ended with the parcours: nothing left to do."""
    REAFFECTEE = "alerte_reaffectee"
    """The parcours changed référent or département (a transfer): the open alert follows it."""


class StatutAlerte(StrEnum):
    OUVERTE = "ouverte"
    ACQUITTEE = "acquittee"
    CLOSE = "close"


class Niveau(StrEnum):
    """Who the alert is for: the référent, or (escalated: the due date passed) the encadrants too."""

    REFERENT = "referent"
    ENCADRANT = "encadrant"


class Alerte(BaseModel):
    """One alert as it stands (the body of every message about it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alerte_id: UUID
    """:func:`identifiant_alerte` of (parcours, type, cle, due_le)."""
    parcours_id: UUID
    departement: CodeDepartement
    departement_precedent: CodeDepartement | None = None
    """On ``alerte_reaffectee`` after a transfer: the département the alert left (its subscribers are told too)."""
    referent_id: str | None = Field(default=None, max_length=200)
    """The ``sub`` of the parcours' référent when one is known."""
    type: str = Field(max_length=64)
    """The deadline's type (``droit.echeances.TypeEcheance`` value, e.g. ``ppe``)."""
    cle: str = Field(default="", max_length=64)
    """What the deadline is about when a parcours may have several: an IP or a measure id, else empty."""
    due_le: date | None
    """The day the awaited fact is due by (Europe/Paris civil date); null when that day follows from
    the birth date (then ``mois_du`` only)."""
    mois_du: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    """The month of the due date (``YYYY-MM``), always given."""
    alerte_le: date
    """The day the alert is raised (Europe/Paris civil date); the first of its month for a deadline
    that follows from the birth date."""
    attendu: str = Field(max_length=200)
    """What is awaited, in plain French (the rule of DOMAIN.md's table)."""
    article: str = Field(max_length=200)
    """The article of law the deadline follows (e.g. ``CASF L223-1-1``)."""
    urgente: bool
    """A deadline counted in days: sent at once, never only in a digest."""
    informative: bool = False
    """Nothing to do, something to know (the social-housing priority window)."""
    niveau: Niveau
    statut: StatutAlerte
    lien: str = Field(max_length=200)
    """The dossier's path on the read API (``/v1/dossiers/{parcours_id}``)."""
    levee_le: datetime
    """When it was raised (UTC)."""
    modifiee_le: datetime
    """When it last changed (UTC): the time of the message."""


def au_plus_tard(alerte: Alerte) -> date:
    """The due date, or when only its month is given, the first day of that month (the earliest it can be):
    what sorts alerts soonest first."""
    if alerte.due_le is not None:
        return alerte.due_le
    annee, mois = (int(x) for x in alerte.mois_du.split("-"))
    return date(annee, mois, 1)


def identifiant_alerte(parcours_id: UUID, type_: str, cle: str, due_le: date) -> UUID:
    """The alert's id: the same deadline on the same due date is always the same alert."""
    return uuid.uuid5(ESPACE_ALERTES, f"{parcours_id}:{type_}:{cle}:{due_le.isoformat()}")


def type_cloudevents(evenement: EvenementAlerte) -> str:
    """``fr.ase.alertes.<evenement>.v1``."""
    return f"{TYPE_PREFIXE}{evenement.value}.v1"


def par_anniversaire(alerte: Alerte) -> Alerte:
    """``alerte`` as it may leave the service: reduced to months when its dates follow from the birth date."""
    if alerte.type not in TYPES_PAR_ANNIVERSAIRE:
        return alerte
    return alerte.model_copy(
        update={
            "due_le": None,
            "alerte_le": alerte.alerte_le.replace(day=1),
            "levee_le": _debut_du_mois(alerte.levee_le),
            "modifiee_le": _debut_du_mois(alerte.modifiee_le),
        }
    )


def instant_publiable(alerte: Alerte, instant: datetime | None) -> datetime | None:
    """Another time of ``alerte`` (acknowledged, escalated, closed) as it may leave the service: the first
    instant of its month when the alert's dates follow from the birth date (a majority closes at 00:05 on
    the 18th birthday, an escalation comes the day after one), else as it is."""
    if instant is None or alerte.type not in TYPES_PAR_ANNIVERSAIRE:
        return instant
    return _debut_du_mois(instant)


def _debut_du_mois(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def lien_dossier(parcours_id: UUID) -> str:
    """The dossier's path on the projections service's read API."""
    return f"/v1/dossiers/{parcours_id}"


def source_alertes(departement: str) -> str:
    """The ``ce_source`` of an alert's messages: ``/ase/{departement}/notifications``."""
    return f"/ase/{departement}/notifications"


def identifiant_message(alerte_id: UUID, position: int) -> str:
    """The ``ce_id`` of the change at outbox ``position`` of alert ``alerte_id`` (UUIDv5).

    Deterministic: a message sent again after a crash (produced, acknowledged, the
    outbox cursor not yet moved) keeps its id, so consumers drop the repeat.
    """
    return str(uuid.uuid5(ESPACE_ALERTES, f"message:{alerte_id}:{position}"))


def entetes_alerte(evenement: EvenementAlerte, alerte: Alerte, position: int) -> list[tuple[str, bytes]]:
    """The Kafka headers of one change of an alert (CloudEvents 1.0, binary content mode).

    ``ce_subject`` is the alert's id; the Kafka key, and ``ce_partitionkey``, the
    parcours id (an alert's changes share a partition, in order). ``ce_time``
    is ``modifiee_le`` (RFC 3339, UTC). Documented in ``schemas/enveloppe_alertes.json``.
    """
    type_ce = type_cloudevents(evenement)
    valeurs = [
        ("ce_specversion", SPECVERSION),
        ("ce_id", identifiant_message(alerte.alerte_id, position)),
        ("ce_source", source_alertes(alerte.departement)),
        ("ce_type", type_ce),
        ("ce_subject", str(alerte.alerte_id)),
        ("ce_time", _rfc3339(alerte.modifiee_le)),
        ("ce_dataschema", url_schema(type_ce)),
        ("content-type", CONTENT_TYPE),
        ("ce_partitionkey", str(alerte.parcours_id)),
    ]
    return [(cle, valeur.encode()) for cle, valeur in valeurs]


def _rfc3339(instant: datetime) -> str:
    """UTC, ``Z``-suffixed; a naive datetime is taken as UTC (the service's clock is UTC)."""
    utc = instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)
    return utc.isoformat().replace("+00:00", "Z")
