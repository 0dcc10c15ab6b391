"""The conversion as it was before the relay was pipelined (commit 9fd94a9), kept verbatim as the reference
``test_publication_rapide.py`` compares the current one with, byte for byte. Not used by the service."""

# ruff: noqa
from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from uuid import UUID
from zoneinfo import ZoneInfo

import orjson

from contracts import evenements as contrat
from contracts.enveloppe import (
    TOPIC_IDENTITES,
    TOPIC_PARCOURS,
    TOPIC_RESTREINT,
    Enveloppe,
    identifiant_evenement,
    identifiant_restreint,
    url_schema,
)
from contracts.evenements import TYPE_EFFACEMENT_IDENTITE, Payload
from contracts.restreint import TYPE_FAITS_RESTREINTS, FaitsRestreints
from contracts.vocabulaire import TypeLieu

_ESPACE_CORRELATIONS: Final = UUID("0b7c3f5e-8d2a-5c61-a4e9-3f1d2b6c7a80")

_PARIS: Final = ZoneInfo("Europe/Paris")
"""The civil time of the départements' records (DOMAIN.md: dates are Paris civil dates)."""

NOM_EFFACEMENT_IDENTITE: Final = "IdentiteEffacee"
"""The stored event erasing a person: published as a tombstone (null body) on ``ase.identites.v1``."""

_COURANTS: Final[dict[str, type[Payload]]] = contrat.PAYLOADS_COURANTS
"""The version published now, by event name (a superseded version is only read, never written)."""

_LIEUX_PERSONNES_PRIVEES: Final = {TypeLieu.ASSISTANT_FAMILIAL.value, TypeLieu.TIERS_DIGNE_DE_CONFIANCE.value}

CHAMPS_RESTREINTS: Final = frozenset({"reference_decision", "nom", "date_effet", "date_debut", "date_fin"})
"""The facts that travel only on the restricted topic when the public record withholds or reduces them:
a court's reference, a private person's name, the exact dates of the events dated by the 18th birthday."""


@dataclass(frozen=True)
class Message:
    """One Kafka record, ready to send."""

    topic: str
    cle: bytes
    valeur: bytes | None
    entetes: list[tuple[str, bytes]]
    flux_id: UUID
    version: int


class EvenementNonPublie(LookupError):
    """A stored event no contract publishes."""


@dataclass(frozen=True)
class _Route:
    topic: str
    flux: str
    """The last segment of ``ce_source``: ``parcours``, ``lieux`` or ``identites``."""
    payload: type[Payload] | None
    """None: a tombstone."""


def _route(payload: type[Payload]) -> _Route:
    if issubclass(payload, contrat.PayloadIdentite):
        return _Route(TOPIC_IDENTITES, "identites", payload)
    if issubclass(payload, contrat.PayloadLieu):
        return _Route(TOPIC_PARCOURS, "lieux", payload)
    return _Route(TOPIC_PARCOURS, "parcours", payload)


_ROUTES: Final[dict[str, _Route]] = {
    **{nom: _route(payload) for nom, payload in _COURANTS.items()},
    NOM_EFFACEMENT_IDENTITE: _Route(TOPIC_IDENTITES, "identites", None),
}


def nom_evenement(classe: str) -> str:
    """``services.parcours.domain.lieu:LieuAccueilReference`` -> ``LieuAccueilReference``."""
    return classe.rpartition(":")[2].rpartition(".")[2]


def topic_de(nom: str) -> str:
    """The Kafka topic an event named ``nom`` is published on."""
    return _route_de(nom).topic


def message_stocke(flux_id: UUID, version: int, classe: str, etat: bytes) -> Message:
    """The Kafka record publishing one stored event on its public (or identities) topic.

    ``classe`` is the store's ``topic`` column (``module:Classe``), ``etat`` its
    ``state`` column (the JSON the write side's mapper stored).
    """
    return message(nom_evenement(classe), flux_id, version, orjson.loads(etat))


def messages_stockes(flux_id: UUID, version: int, classe: str, etat: bytes) -> list[Message]:
    """Every Kafka record publishing one stored event: its restricted record first when it has one
    (``ase.parcours.restreint.v1``, :mod:`contracts.restreint`), then its public record.

    What the relay sends for a row of the store, and what a projection following
    the store reads (the facts before the event they complete).
    """
    public, restreint = _publier(nom_evenement(classe), flux_id, version, orjson.loads(etat))
    return [public] if restreint is None else [restreint, public]


def message(nom: str, flux_id: UUID, version: int, etat: dict[str, Any]) -> Message:
    """The public Kafka record publishing the event ``nom`` of stream ``flux_id`` at ``version``.

    ``etat`` is its stored JSON, decoded; it is modified in place.
    """
    return _publier(nom, flux_id, version, etat)[0]


def _publier(nom: str, flux_id: UUID, version: int, etat: dict[str, Any]) -> tuple[Message, Message | None]:
    route = _route_de(nom)
    meta: dict[str, Any] = etat["metadonnees"]
    stocke = dict(etat)
    exacte = datetime.fromisoformat(meta["enregistre_le"])
    par_anniversaire = (
        route.payload is not None and route.topic == TOPIC_PARCOURS and date_par_anniversaire(nom, stocke)
    )
    if route.payload is None:
        type_ce, valeur = TYPE_EFFACEMENT_IDENTITE, None
    else:
        type_ce = route.payload.type_cloudevents()
        valeur = corps_public(route.payload, flux_id, etat)
    source = "/ase/identites" if route.flux == "identites" else f"/ase/{meta.get('departement')}/{route.flux}"
    correlation = correlation_publiee(meta)
    enveloppe = Enveloppe(
        id=identifiant_evenement(flux_id, version),
        source=source,
        type=type_ce,
        subject=str(flux_id),
        time=debut_du_mois(exacte) if par_anniversaire else exacte,
        dataschema=url_schema(type_ce),
        sequence=version,
        partitionkey=str(flux_id),
        correlationid=correlation,
        causationid=meta["causation_id"],
        traceparent=traceparent(correlation, flux_id, version),
        auteur=meta["auteur"],
    )
    public = Message(
        topic=route.topic,
        cle=str(flux_id).encode(),
        valeur=valeur,
        entetes=enveloppe.entetes(),
        flux_id=flux_id,
        version=version,
    )
    if valeur is None or route.topic != TOPIC_PARCOURS:
        return public, None
    champs = faits_restreints(nom, stocke, orjson.loads(valeur))
    if not champs and not par_anniversaire:
        return public, None
    faits = FaitsRestreints(
        evenement=nom, type_public=type_ce, champs=champs, enregistre_le=exacte if par_anniversaire else None
    )
    entete = enveloppe.model_copy(
        update={
            "id": identifiant_restreint(flux_id, version),
            "time": exacte,
            "type": TYPE_FAITS_RESTREINTS,
            "dataschema": url_schema(TYPE_FAITS_RESTREINTS),
            "partitionkey": cle_restreinte(flux_id, version).decode(),
        }
    )
    restreint = Message(
        topic=TOPIC_RESTREINT,
        cle=cle_restreinte(flux_id, version),
        valeur=faits.model_dump_json().encode(),
        entetes=entete.entetes(),
        flux_id=flux_id,
        version=version,
    )
    return public, restreint


def cle_restreinte(flux_id: UUID, version: int) -> bytes:
    """The key of the restricted record completing event ``version`` of stream ``flux_id``:
    ``<stream id>:<version>`` (UTF-8), one key per record, so that ``ase.parcours.restreint.v1``
    is compacted (``COMPACTION_RESTREINT``) and a tombstone (:func:`tombstone_restreint`)
    removes exactly that record. Consumers never order restricted records by key or partition
    (``services/projections/readmodels/restreints.py`` merges them in any order).
    """
    return f"{flux_id}:{version}".encode()


def tombstone_restreint(flux_id: UUID, version: int) -> Message:
    """The tombstone (null value, no header) that, once ``ase.parcours.restreint.v1`` is compacted,
    removes the restricted record of event ``version`` of stream ``flux_id``: what the relay sends
    for each restricted record of an erased person's parcours (issue 9)."""
    return Message(
        topic=TOPIC_RESTREINT,
        cle=cle_restreinte(flux_id, version),
        valeur=None,
        entetes=[],
        flux_id=flux_id,
        version=version,
    )


def debut_du_mois(instant: datetime) -> datetime:
    """The first instant (00:00 UTC) of the month of ``instant``'s civil date in Europe/Paris: the public
    ``ce_time`` of an event dated by the 18th birthday (:func:`date_par_anniversaire`), whose exact time
    travels on the restricted topic only (``FaitsRestreints.enregistre_le``). The month is the Paris one,
    as the event's ``mois_effet`` is: an event recorded just after midnight in Paris on the 1st is not
    given away by a ``ce_time`` in the previous month. A naive ``instant`` is taken as UTC."""
    aware = instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant
    jour = aware.astimezone(_PARIS).date()
    return datetime(jour.year, jour.month, 1, tzinfo=UTC)


def faits_restreints(nom: str, stocke: dict[str, Any], public: dict[str, Any]) -> dict[str, Any]:
    """The restricted facts of one event: each of :data:`CHAMPS_RESTREINTS` the stored state holds and the
    public body ``public`` withholds or reduces, with its stored value; for a correction of such a field,
    its old and new values.
    """
    champs = {
        cle: stocke[cle] for cle in CHAMPS_RESTREINTS if stocke.get(cle) is not None and public.get(cle) != stocke[cle]
    }
    if nom == "SaisieRectifiee" and stocke.get("champ") in CHAMPS_RESTREINTS:
        for cle in ("ancienne_valeur", "nouvelle_valeur"):
            if public.get(cle) != stocke.get(cle):
                champs[cle] = stocke.get(cle)
    return champs


def correlation_publiee(meta: dict[str, Any]) -> str:
    """The ``ce_correlationid`` of a stored event: its correlation id when it is a UUID.

    Any other value (recorded before the API kept only UUIDs: a caller's free
    header may hold a name) is replaced by a UUID derived from the request id,
    the same for every event of one request.
    """
    correlation = str(meta.get("correlation_id", ""))
    try:
        return str(UUID(correlation))
    except ValueError:
        return str(uuid.uuid5(_ESPACE_CORRELATIONS, str(meta.get("causation_id", ""))))


def corps_public(classe: type[Payload], flux_id: UUID, etat: dict[str, Any]) -> bytes:
    """The stored state reduced to what the contract ``classe`` declares, validated by it.

    ``etat`` is modified in place.
    """
    identifiant = str(flux_id)
    # The stream id names the stream's own entity only: an accueil's ``lieu_id`` is
    # the lieu where the child is placed, not the parcours.
    if issubclass(classe, contrat.PayloadLieu):
        etat["lieu_id"] = identifiant
    else:
        etat["parcours_id"] = identifiant
    if issubclass(classe, contrat.PayloadIdentite):
        etat["personne_id"] = identifiant
    # An erased person's birth date is null: the month stored beside it stands.
    if etat.get("date_naissance") is not None and "mois_naissance" in classe.model_fields:
        etat["mois_naissance"] = str(etat["date_naissance"])[:7]
    for mois, champ in _MOIS.items():
        if mois in classe.model_fields and etat.get(champ) is not None:
            etat[mois] = str(etat[champ])[:7]
    if "mois_effet" in classe.model_fields and date_par_anniversaire(classe.nom_evenement(), etat):
        etat["date_effet"] = None
    if classe.nom_evenement() == "SaisieRectifiee":
        _reduire_rectification(etat)
    # By name: every version of the event names a private person's home the same way.
    if classe.nom_evenement() == "LieuAccueilReference" and etat.get("type") in _LIEUX_PERSONNES_PRIVEES:
        etat["nom"] = None
    publics = classe.champs_publics()
    declares = {cle: etat[cle] for cle in publics if cle in etat}
    return classe.model_validate(declares).model_dump_json(include=set(publics)).encode()


DATES_PAR_ANNIVERSAIRE: Final = frozenset(
    {
        "MajoriteAtteinte",
        "FugueTerminee",
        "MesureLevee",
        "AccueilTermine",
        "AccompagnementJeuneMajeurAccorde",
        "AccompagnementJeuneMajeurRenouvele",
    }
)
"""The events the write side may date by the 18th birthday (``Parcours.atteindre_majorite`` and what it
ends; an APJM decided before majority, which starts on that birthday and may take effect on it, and its
renewals): their public ``date_effet`` is null where it may be that birthday, ``mois_effet`` its month."""

_MOIS: Final = {"mois_effet": "date_effet", "mois_debut": "date_debut", "mois_fin": "date_fin"}


def date_par_anniversaire(nom: str, etat: dict[str, Any]) -> bool:
    """Whether the stored event ``nom`` may be dated by the 18th birthday (then its date is published as a month).

    Majority always; an APJM's grant and renewal always (decided before majority, it starts on the
    18th birthday, and nothing public tells when it was decided); a levée or an end of accueil ``because of majority``; the end
    of a fugue always (majority ends one, and the event does not say why); a
    correction of one of those events (it carries the date of the event it corrects).
    """
    if nom in (
        "MajoriteAtteinte",
        "FugueTerminee",
        "AccompagnementJeuneMajeurAccorde",
        "AccompagnementJeuneMajeurRenouvele",
    ):
        return True
    if nom in ("MesureLevee", "AccueilTermine"):
        return etat.get("motif") == "majorite"
    if nom == "SaisieRectifiee":
        return etat.get("evenement_rectifie") in DATES_PAR_ANNIVERSAIRE
    return False


def traceparent(correlation_id: str, flux_id: UUID, version: int) -> str:
    """A W3C trace context: one trace per correlation id, one span per event."""
    trace = hashlib.sha256(correlation_id.encode()).hexdigest()[:32]
    span = hashlib.sha256(f"{flux_id}:{version}".encode()).hexdigest()[:16]
    return f"00-{trace}-{span}-01"


def _route_de(nom: str) -> _Route:
    try:
        return _ROUTES[nom]
    except KeyError:
        raise EvenementNonPublie(f"no contract publishes {nom!r}") from None


def _reduire_rectification(etat: dict[str, Any]) -> None:
    """Publish a correction only as far as the corrected field is itself public."""
    champ = etat["champ"]
    if champ == "date_naissance":
        for cote in ("ancienne_valeur", "nouvelle_valeur"):
            etat[cote] = None if etat[cote] is None else str(etat[cote])[:7]
        return
    cible = _COURANTS.get(etat["evenement_rectifie"])
    redate = champ == "date_effet" and etat["evenement_rectifie"] in DATES_PAR_ANNIVERSAIRE
    if cible is None or champ not in cible.model_fields or redate:
        etat["ancienne_valeur"] = etat["nouvelle_valeur"] = None
