"""What every projection reads: a published event, whichever feed brought it.

Both feeds deliver exactly what is (or would be) on Kafka: the CloudEvents
headers and the public body. Projections therefore see the same thing whether
they follow Kafka or the event store, and rebuild to the same tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from contracts.restreint import TYPE_FAITS_RESTREINTS


@dataclass(frozen=True)
class EvenementPublie:
    """One published event: its envelope (who, when, which stream) and its public data."""

    id: str
    type: str
    nom: str
    flux_id: UUID
    version: int
    source: str
    enregistre_le: datetime
    auteur: str
    correlation_id: str
    donnees: dict[str, Any] | None
    """None for a tombstone (an erased identity)."""

    @property
    def departement(self) -> str | None:
        """The département in ``ce_source`` (``/ase/59/parcours``), none for identities."""
        morceaux = self.source.strip("/").split("/")
        return morceaux[1] if len(morceaux) == 3 else None

    @property
    def restreint(self) -> bool:
        """A restricted record (``ase.parcours.restreint.v1``): the facts its public event withholds.

        Its ``flux_id`` and ``version`` are those of the public event it completes; it has
        no version of its own in the stream (see ``readmodels/restreints.py``).
        """
        return self.type == TYPE_FAITS_RESTREINTS

    @property
    def domaine(self) -> str:
        """``parcours``, ``lieux`` or ``identites``: the kind of stream it comes from."""
        return self.source.strip("/").split("/")[-1]

    @classmethod
    def depuis(cls, entetes: dict[str, str], valeur: bytes | None) -> EvenementPublie:
        """Read an event from a Kafka record's headers and value."""
        type_ce = entetes["ce_type"]
        return cls(
            id=entetes["ce_id"],
            type=type_ce,
            nom=_nom_evenement(type_ce),
            flux_id=UUID(entetes["ce_subject"]),
            version=int(entetes["ce_sequence"]),
            source=entetes["ce_source"],
            enregistre_le=datetime.fromisoformat(entetes["ce_time"]),
            auteur=entetes.get("ce_auteur", ""),
            correlation_id=entetes.get("ce_correlationid", ""),
            donnees=orjson.loads(valeur) if valeur is not None else None,
        )


def _nom_evenement(type_ce: str) -> str:
    """``fr.ase.parcours.mesure_decidee.v1`` -> ``MesureDecidee`` (``ppe_etabli`` -> ``PPEEtabli``)."""
    serpent = type_ce.split(".")[-2]
    return "".join(_MOTS.get(mot, mot.capitalize()) for mot in serpent.split("_"))


_MOTS = {"ppe": "PPE"}
