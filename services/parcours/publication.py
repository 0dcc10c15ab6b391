"""What a stored event becomes on Kafka: topic, key, CloudEvents headers, public body.

Only the fields a contract declares are published: a field the domain adds is
private until a contract version says otherwise.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson

from contracts import evenements as contrat
from contracts.enveloppe import (
    TOPIC_IDENTITES,
    TOPIC_PARCOURS,
    Enveloppe,
    identifiant_evenement,
    url_schema,
)
from contracts.evenements import TYPE_EFFACEMENT_IDENTITE, Payload
from contracts.vocabulaire import TypeLieu
from services.parcours.domain.flux import Evenement
from services.parcours.domain.identite import IdentiteEffacee, IdentiteEnregistree, IdentiteRectifiee
from services.parcours.domain.lieu import EVENEMENTS_LIEU
from services.parcours.persistence import JsonMapper

_PAYLOADS_PAR_NOM: dict[str, type[Payload]] = {p.nom_evenement(): p for p in contrat.PAYLOADS.values()}
_LIEUX_PERSONNES_PRIVEES = {TypeLieu.ASSISTANT_FAMILIAL.value, TypeLieu.TIERS_DIGNE_DE_CONFIANCE.value}
_IDENTITE = (IdentiteEnregistree, IdentiteRectifiee, IdentiteEffacee)
_MAPPER = JsonMapper()


@dataclass(frozen=True)
class Message:
    """One Kafka record, ready to send."""

    topic: str
    cle: bytes
    valeur: bytes | None
    entetes: list[tuple[str, bytes]]
    flux_id: UUID
    version: int


def message(evenement: Evenement, *, etat: bytes | None = None) -> Message:
    """The Kafka record publishing ``evenement``; ``etat`` is its stored JSON when at hand."""
    nom = type(evenement).__name__
    meta = evenement.metadonnees
    flux_id: UUID = evenement.originator_id
    if isinstance(evenement, _IDENTITE):
        topic, source = TOPIC_IDENTITES, "/ase/identites"
    elif isinstance(evenement, EVENEMENTS_LIEU):
        topic, source = TOPIC_PARCOURS, f"/ase/{meta.departement}/lieux"
    else:
        topic, source = TOPIC_PARCOURS, f"/ase/{meta.departement}/parcours"

    if isinstance(evenement, IdentiteEffacee):
        type_ce, valeur = TYPE_EFFACEMENT_IDENTITE, None
    else:
        classe = _PAYLOADS_PAR_NOM[nom]
        type_ce = classe.type_cloudevents()
        valeur = corps_public(evenement, classe, etat)

    enveloppe = Enveloppe(
        id=identifiant_evenement(flux_id, evenement.originator_version),
        source=source,
        type=type_ce,
        subject=str(flux_id),
        time=meta.enregistre_le,
        dataschema=url_schema(type_ce),
        sequence=evenement.originator_version,
        partitionkey=str(flux_id),
        correlationid=meta.correlation_id,
        causationid=meta.causation_id,
        traceparent=traceparent(meta.correlation_id, flux_id, evenement.originator_version),
        auteur=meta.auteur,
    )
    return Message(
        topic=topic,
        cle=str(flux_id).encode(),
        valeur=valeur,
        entetes=enveloppe.entetes(),
        flux_id=flux_id,
        version=evenement.originator_version,
    )


def corps_public(evenement: Evenement, classe: type[Payload], etat: bytes | None = None) -> bytes:
    """The event's data reduced to what its contract declares, validated by it."""
    donnees: dict[str, Any] = orjson.loads(etat) if etat is not None else {}
    if donnees.get("class_version", 1) != getattr(type(evenement), "class_version", 1) or not donnees:
        # Stored by an older version of the event: publish the upcast form.
        donnees = orjson.loads(_MAPPER.to_stored_event(evenement).state)
    identifiant = str(evenement.originator_id)
    # The stream id names the stream's own entity only: an accueil's ``lieu_id`` is
    # the lieu where the child is placed, not the parcours.
    if issubclass(classe, contrat.PayloadLieu):
        donnees["lieu_id"] = identifiant
    else:
        donnees["parcours_id"] = identifiant
    if isinstance(evenement, _IDENTITE):
        donnees["personne_id"] = identifiant
    if "date_naissance" in donnees and "mois_naissance" in classe.model_fields:
        donnees["mois_naissance"] = str(donnees["date_naissance"])[:7]
    if classe is contrat.SaisieRectifiee:
        _reduire_rectification(donnees)
    if classe is contrat.LieuAccueilReference and donnees.get("type") in _LIEUX_PERSONNES_PRIVEES:
        donnees["nom"] = None
    declares = {cle: donnees[cle] for cle in classe.model_fields if cle in donnees}
    return classe.model_validate(declares).model_dump_json().encode()


def traceparent(correlation_id: str, flux_id: UUID, version: int) -> str:
    """A W3C trace context: one trace per correlation id, one span per event."""
    trace = hashlib.sha256(correlation_id.encode()).hexdigest()[:32]
    span = hashlib.sha256(f"{flux_id}:{version}".encode()).hexdigest()[:16]
    return f"00-{trace}-{span}-01"


def _reduire_rectification(donnees: dict[str, Any]) -> None:
    """Publish a correction only as far as the corrected field is itself public."""
    champ = donnees["champ"]
    if champ == "date_naissance":
        donnees["ancienne_valeur"] = str(donnees["ancienne_valeur"])[:7]
        donnees["nouvelle_valeur"] = str(donnees["nouvelle_valeur"])[:7]
        return
    cible = _PAYLOADS_PAR_NOM.get(donnees["evenement_rectifie"])
    if cible is None or champ not in cible.model_fields:
        donnees["ancienne_valeur"] = donnees["nouvelle_valeur"] = None
