"""The restricted record: what the public record of an event withholds, for the département's caseworkers.

Topic ``ase.parcours.restreint.v1`` (``TOPIC_RESTREINT``), key = the stream id,
retention for ever, readable by the projections' principal only. For each
stored event whose public record withholds or reduces a fact, the relay
publishes one record here, beside the public one and in the same batch. Its
headers are the public record's envelope (same ``ce_subject``, ``ce_sequence``,
``ce_source``, ``ce_time``, correlation and author), with
``ce_type = fr.ase.parcours.faits_restreints.v1`` and an id of its own.

Its body names the public event (``evenement``, ``type_public``) and gives
``champs``: each public field the public record withholds (null or absent) or
reduces (a date published as its month), with its exact value. Reading both,
``{**public_body, **champs}`` is the event as recorded. The fields that may
appear in ``champs``:

- ``reference_decision``: the court's reference of a ``MesureDecidee`` /
  ``MesureRenouvelee`` (absent from their public v2);
- ``nom``: the name of a lieu that is a private person (``assistant_familial``,
  ``tiers_digne_de_confiance``) on ``LieuAccueilReference`` (null in public);
- ``ancienne_valeur``, ``nouvelle_valeur``: the values of a ``SaisieRectifiee``
  of such a field (null in public);
- ``date_effet``, ``date_debut``, and the values of a correction re-dating them:
  the exact dates of the events dated by the 18th birthday, which the public
  topic carries as a month (``mois_effet``, ``mois_debut``).

Beside ``champs``, ``enregistre_le`` is the exact recording time (ISO 8601, UTC) of
an event dated by the 18th birthday (:func:`contracts.publication.date_par_anniversaire`):
the ``ce_time`` of its public record is that time reduced to the first instant of
its month (UTC), since a majority recorded on the birthday would reveal the day.
Null for any other event (its public ``ce_time`` is exact). The restricted
record's own ``ce_time`` is always exact too.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Final

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from contracts.enveloppe import TOPIC_RESTREINT

TYPE_FAITS_RESTREINTS: Final = "fr.ase.parcours.faits_restreints.v1"
NOM_FAITS_RESTREINTS: Final = "FaitsRestreints"


class FaitsRestreints(BaseModel):
    """The facts one public record withholds, with their exact values (restricted topic)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    topic: ClassVar[str] = TOPIC_RESTREINT

    evenement: str = Field(description="Name of the public event these facts complete, e.g. MesureDecidee.")
    type_public: str = Field(description="CloudEvents type of the public record (its ce_type).")
    champs: dict[str, JsonValue] = Field(
        description=(
            "Public field name -> exact value, for each field the public record withholds or reduces: "
            "reference_decision, nom, ancienne_valeur, nouvelle_valeur, date_effet, date_debut."
        )
    )
    enregistre_le: datetime | None = Field(
        default=None,
        description=(
            "Exact recording time (UTC) of an event dated by the 18th birthday, whose public ce_time is reduced "
            "to the first instant of its month (UTC); null when the public ce_time is exact."
        ),
    )
