"""What a stored event becomes on Kafka: topic, key, CloudEvents headers, public body.

The one function from the event store's record to the published record. The
write side's relay publishes with it; a projection following the store instead
of Kafka (``FeedJournal``) reads with it, so both see the very same records
without importing the write side.

It reads the stored record as the store keeps it: the stream id and version
(their own columns), the event's class (``module:Classe``, the store's
``topic`` column) and its state, readable JSON (the event's fields, dates ISO,
enums by value, its ``metadonnees``, ``class_version`` when above 1). Only the
fields a contract declares are published: a field the domain adds is private
until a contract version says otherwise.

An event stored by an older class version is published as stored, never
upcast: a field its class gained since is absent, so the contract's default
stands for it, and a contract only ever gains fields with a default within a
version (``compatibilite.py`` refuses a new required one). The same stored
record therefore always makes the same published record, byte for byte, as
its deterministic ``ce_id`` promises. A field the contract requires and the
stored state lacks is a validation error, never a guessed value.
"""

from __future__ import annotations

import hashlib
import re
import types
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from functools import cache, lru_cache
from typing import Any, Final, Union, get_args, get_origin
from uuid import UUID
from zoneinfo import ZoneInfo

import orjson
from pydantic import JsonValue

from contracts import evenements as contrat
from contracts.enveloppe import _ESPACE_IDS as ESPACE_IDS
from contracts.enveloppe import (
    CONTENT_TYPE,
    SPECVERSION,
    TOPIC_IDENTITES,
    TOPIC_PARCOURS,
    TOPIC_RESTREINT,
    Enveloppe,
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

_UUID_CANONIQUE: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
"""A UUID as ``str(UUID(...))`` writes it: anything else is parsed and rewritten."""

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
    """Where and as what an event is published: computed once per event name, not per event."""

    topic: str
    flux: str
    """The last segment of ``ce_source``: ``parcours``, ``lieux`` or ``identites``."""
    payload: type[Payload] | None
    """None: a tombstone."""
    type_ce: str
    """``ce_type`` (the payload's CloudEvents type, or the erasure's)."""
    dataschema: bytes
    """``ce_dataschema``, encoded."""


def _route(payload: type[Payload] | None) -> _Route:
    if payload is None:
        topic, flux, type_ce = TOPIC_IDENTITES, "identites", TYPE_EFFACEMENT_IDENTITE
    else:
        type_ce = payload.type_cloudevents()
        if issubclass(payload, contrat.PayloadIdentite):
            topic, flux = TOPIC_IDENTITES, "identites"
        elif issubclass(payload, contrat.PayloadLieu):
            topic, flux = TOPIC_PARCOURS, "lieux"
        else:
            topic, flux = TOPIC_PARCOURS, "parcours"
    return _Route(topic, flux, payload, type_ce, url_schema(type_ce).encode())


_ROUTES: Final[dict[str, _Route]] = {
    **{nom: _route(payload) for nom, payload in _COURANTS.items()},
    NOM_EFFACEMENT_IDENTITE: _route(None),
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
    exacte, ce_time_exact = _instant_stocke(meta["enregistre_le"])
    par_anniversaire = (
        route.payload is not None and route.topic == TOPIC_PARCOURS and date_par_anniversaire(nom, stocke)
    )
    sujet = str(flux_id)
    public_dict: dict[str, Any] | None = None
    if route.payload is None:
        valeur = None
    else:
        public_dict, valeur = _corps(route.payload, sujet, etat)
    source = "/ase/identites" if route.flux == "identites" else f"/ase/{meta.get('departement')}/{route.flux}"
    correlation = correlation_publiee(meta)
    nom_ce = f"{sujet}:{version}"
    commun = _Commun(source, sujet, version, correlation, meta["causation_id"], meta["auteur"])
    public = Message(
        topic=route.topic,
        cle=sujet.encode(),
        valeur=valeur,
        entetes=_entetes(
            commun,
            ce_id=_uuid5(nom_ce),
            type_ce=route.type_ce,
            dataschema=route.dataschema,
            instant=debut_du_mois(exacte) if par_anniversaire else exacte,
            ce_time=None if par_anniversaire else ce_time_exact,
            partitionkey=sujet,
            trace=traceparent_de(correlation, nom_ce),
        ),
        flux_id=flux_id,
        version=version,
    )
    if valeur is None or route.topic != TOPIC_PARCOURS:
        return public, None
    champs = faits_restreints(nom, stocke, public_dict if public_dict is not None else orjson.loads(valeur))
    if not champs and not par_anniversaire:
        return public, None
    faits = FaitsRestreints(
        evenement=nom, type_public=route.type_ce, champs=champs, enregistre_le=exacte if par_anniversaire else None
    )
    cle = cle_restreinte(flux_id, version)
    restreint = Message(
        topic=TOPIC_RESTREINT,
        cle=cle,
        valeur=faits.model_dump_json().encode(),
        entetes=_entetes(
            commun,
            ce_id=_uuid5(f"{nom_ce}:restreint"),
            type_ce=TYPE_FAITS_RESTREINTS,
            dataschema=_SCHEMA_RESTREINT,
            instant=exacte,
            ce_time=ce_time_exact,
            partitionkey=cle.decode(),
            trace=traceparent_de(correlation, nom_ce),
        ),
        flux_id=flux_id,
        version=version,
    )
    return public, restreint


_SCHEMA_RESTREINT: Final = url_schema(TYPE_FAITS_RESTREINTS).encode()
_ESPACE_IDS_OCTETS: Final = ESPACE_IDS.bytes
_SPECVERSION: Final = ("ce_specversion", SPECVERSION.encode())
_CONTENT_TYPE: Final = ("content-type", CONTENT_TYPE.encode())


@dataclass(frozen=True, slots=True)
class _Commun:
    """The envelope's fields the public record and its restricted record share (``Enveloppe``'s)."""

    source: str
    sujet: str
    sequence: int
    correlation: str
    causation: Any
    auteur: Any


def _entetes(
    commun: _Commun,
    *,
    ce_id: str,
    type_ce: str,
    dataschema: bytes,
    instant: datetime,
    ce_time: bytes | None,
    partitionkey: str,
    trace: str,
) -> list[tuple[str, bytes]]:
    """The Kafka headers ``Enveloppe(...).entetes()`` gives for these fields, in API.md's order, built
    without the model (its validation is only that each field is a string, the sequence an int)."""
    if not (type(commun.causation) is str and type(commun.auteur) is str and type(commun.sequence) is int):
        # What the model would refuse (or coerce): let it say so, as it always did.
        return Enveloppe(
            id=ce_id,
            source=commun.source,
            type=type_ce,
            subject=commun.sujet,
            time=instant,
            dataschema=dataschema.decode(),
            sequence=commun.sequence,
            partitionkey=partitionkey,
            correlationid=commun.correlation,
            causationid=commun.causation,
            traceparent=trace,
            auteur=commun.auteur,
        ).entetes()
    return [
        _SPECVERSION,
        ("ce_id", ce_id.encode()),
        ("ce_source", commun.source.encode()),
        ("ce_type", type_ce.encode()),
        ("ce_subject", commun.sujet.encode()),
        ("ce_time", _ce_time(instant) if ce_time is None else ce_time),
        ("ce_dataschema", dataschema),
        _CONTENT_TYPE,
        ("ce_sequence", str(commun.sequence).encode()),
        ("ce_partitionkey", partitionkey.encode()),
        ("ce_correlationid", commun.correlation.encode()),
        ("ce_causationid", commun.causation.encode()),
        ("traceparent", trace.encode()),
        ("ce_auteur", commun.auteur.encode()),
    ]


def _ce_time(instant: datetime) -> bytes:
    """``ce_time`` as ``Enveloppe.entetes`` writes it."""
    return instant.isoformat().replace("+00:00", "Z").encode()


@lru_cache(maxsize=4096)
def _instant_stocke(enregistre_le: str) -> tuple[datetime, bytes]:
    """A stored ``enregistre_le``, parsed, and its ``ce_time`` (the events of one command share it, hence
    the cache; by the stored text: two equal instants in different offsets are not the same ``ce_time``)."""
    instant = datetime.fromisoformat(enregistre_le)
    return instant, _ce_time(instant)


def _uuid5(nom: str) -> str:
    """``str(uuid.uuid5(ESPACE_IDS, nom))`` (``contracts.enveloppe.identifiant_evenement``), without the
    ``UUID`` object: SHA-1 of namespace + name, version 5, RFC 4122 variant, formatted 8-4-4-4-12."""
    octets = bytearray(hashlib.sha1(_ESPACE_IDS_OCTETS + nom.encode(), usedforsecurity=False).digest()[:16])
    octets[6] = (octets[6] & 0x0F) | 0x50
    octets[8] = (octets[8] & 0x3F) | 0x80
    h = octets.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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
    if _UUID_CANONIQUE.fullmatch(correlation):
        return correlation  # already what str(UUID(...)) gives
    return _correlation_derivee(correlation, str(meta.get("causation_id", "")))


@lru_cache(maxsize=4096)
def _correlation_derivee(correlation: str, causation: str) -> str:
    """:func:`correlation_publiee` of a correlation id not written as ``str(UUID(...))`` writes one
    (the same for every event of one request, hence the cache)."""
    try:
        return str(UUID(correlation))
    except ValueError:
        return str(uuid.uuid5(_ESPACE_CORRELATIONS, causation))


def corps_public(classe: type[Payload], flux_id: UUID, etat: dict[str, Any]) -> bytes:
    """The stored state reduced to what the contract ``classe`` declares, validated by it.

    ``etat`` is modified in place.
    """
    return _corps(classe, str(flux_id), etat)[1]


def _corps(classe: type[Payload], identifiant: str, etat: dict[str, Any]) -> tuple[dict[str, Any] | None, bytes]:
    """:func:`corps_public`, and the body as a dict when the checks of :func:`_champs_verifies` made it
    (None when the model did)."""
    forme = _forme(classe)
    # The stream id names the stream's own entity only: an accueil's ``lieu_id`` is
    # the lieu where the child is placed, not the parcours.
    if forme.lieu:
        etat["lieu_id"] = identifiant
    else:
        etat["parcours_id"] = identifiant
    if forme.identite:
        etat["personne_id"] = identifiant
    # An erased person's birth date is null: the month stored beside it stands.
    if forme.mois_naissance and etat.get("date_naissance") is not None:
        etat["mois_naissance"] = str(etat["date_naissance"])[:7]
    for mois, champ in forme.mois:
        if etat.get(champ) is not None:
            etat[mois] = str(etat[champ])[:7]
    if forme.mois_effet and date_par_anniversaire(forme.nom, etat):
        etat["date_effet"] = None
    if forme.nom == "SaisieRectifiee":
        _reduire_rectification(etat)
    # By name: every version of the event names a private person's home the same way.
    if forme.nom == "LieuAccueilReference" and etat.get("type") in _LIEUX_PERSONNES_PRIVEES:
        etat["nom"] = None
    corps = None if forme.verifies is None else _corps_verifie(forme.verifies, etat)
    if corps is not None:
        try:
            return corps, orjson.dumps(corps)
        except orjson.JSONEncodeError:  # e.g. a lone surrogate: the model says what it makes of it
            pass
    publics = classe.champs_publics()
    declares = {cle: etat[cle] for cle in publics if cle in etat}
    return None, classe.model_validate(declares).model_dump_json(include=set(publics)).encode()


# -- the body without the model, where that provably gives the model's bytes --------------------------------
#
# ``model_validate(...).model_dump_json(include=allow-list)`` of a stored state returns each declared field,
# in the model's order, normalised (a UUID lower-case and hyphenated, a date ``YYYY-MM-DD``, an enum by
# value) or a validation error. A stored state written by the domain's mapper already holds every field in
# that normal form, so the model's output is the input itself: what ``_champs_verifies`` checks field by
# field (type, normal form, enum value, pattern), at a fraction of the model's cost. Any field not in normal
# form (or of a type these checks do not know, e.g. ``JsonValue``) sends the whole body through the model,
# which then normalises it or refuses it exactly as before. Only allow-listed fields are ever read: the
# privacy guarantee (``Payload.champs_publics``) is the same on both paths.
# ``tests/unit/test_publication_rapide.py`` compares both paths, and the former conversion, byte for byte.

_REQUIS: Final = object()


@dataclass(frozen=True)
class _Forme:
    """What :func:`_corps` asks of a payload class, asked once."""

    nom: str
    lieu: bool
    identite: bool
    mois_naissance: bool
    mois: tuple[tuple[str, str], ...]
    """(month field, the date field it is the month of), for the months the class declares."""
    mois_effet: bool
    verifies: tuple[tuple[str, Callable[[Any], bool], Any], ...] | None


@cache
def _forme(classe: type[Payload]) -> _Forme:
    champs = classe.model_fields
    return _Forme(
        nom=classe.nom_evenement(),
        lieu=issubclass(classe, contrat.PayloadLieu),
        identite=issubclass(classe, contrat.PayloadIdentite),
        mois_naissance="mois_naissance" in champs,
        mois=tuple((mois, champ) for mois, champ in _MOIS.items() if mois in champs),
        mois_effet="mois_effet" in champs,
        verifies=_champs_verifies(classe),
    )


_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_ENTIER_MAX: Final = 2**63


def _corps_verifie(
    verifies: tuple[tuple[str, Callable[[Any], bool], Any], ...], etat: dict[str, Any]
) -> dict[str, Any] | None:
    """The body of the allow-listed fields of ``etat``, in the model's order, when each is in normal form
    (a missing one with a default takes it); None when one is not, or a required one is missing."""
    corps: dict[str, Any] = {}
    for champ, verifier, defaut in verifies:
        if champ in etat:
            valeur = etat[champ]
            if not verifier(valeur):
                return None
        elif defaut is _REQUIS:
            return None
        else:
            valeur = defaut
        corps[champ] = valeur
    return corps


def _est_date(v: Any) -> bool:
    if type(v) is not str or not _DATE.fullmatch(v):
        return False
    try:
        date.fromisoformat(v)
    except ValueError:
        return False
    return True


def _est_uuid(v: Any) -> bool:
    return type(v) is str and _UUID_CANONIQUE.fullmatch(v) is not None


def _est_entier(v: Any) -> bool:
    return type(v) is int and -_ENTIER_MAX <= v < _ENTIER_MAX


def _est_texte(v: Any) -> bool:
    return type(v) is str


def _verificateur(annotation: Any, metadonnees: list[Any]) -> Callable[[Any], bool] | None:
    """A check that ``v`` is already in the normal form the model would dump for ``annotation``; None for
    a type these checks do not know."""
    origine = get_origin(annotation)
    if origine in (Union, types.UnionType):
        membres = get_args(annotation)
        interne = (
            _verificateur(next(m for m in membres if m is not type(None)), metadonnees)
            if len(membres) == 2 and type(None) in membres
            else None
        )
        return None if interne is None else (lambda v: v is None or interne(v))
    if origine is list:
        (element,) = get_args(annotation)
        verifier_element = _verificateur(element, [])
        return None if verifier_element is None else (lambda v: type(v) is list and all(map(verifier_element, v)))
    if origine is not None or annotation is JsonValue:
        return None
    return _verificateur_simple(annotation, metadonnees)


def _verificateur_simple(annotation: Any, metadonnees: list[Any]) -> Callable[[Any], bool] | None:
    """:func:`_verificateur` of a type that is not a union nor a list."""
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        valeurs = frozenset(m.value for m in annotation)
        return (lambda v: type(v) is str and v in valeurs) if all(type(v) is str for v in valeurs) else None
    if annotation is str:
        return _verificateur_texte(metadonnees)
    if metadonnees:
        return None
    return {UUID: _est_uuid, date: _est_date, bool: _est_booleen, int: _est_entier}.get(annotation)


def _verificateur_texte(metadonnees: list[Any]) -> Callable[[Any], bool] | None:
    """A ``str`` field's check: a string, matching its pattern when it has one (ASCII only: the model's
    regex engine, Rust's, and Python's agree on these)."""
    motifs = [m for m in metadonnees if hasattr(m, "pattern")]
    if len(metadonnees) != len(motifs) or len(motifs) > 1 or any(_contraintes_autres(m) for m in motifs):
        return None
    if not motifs:
        return _est_texte
    motif = re.compile(motifs[0].pattern)
    return lambda v: type(v) is str and v.isascii() and motif.fullmatch(v) is not None


def _est_booleen(v: Any) -> bool:
    return type(v) is bool


def _contraintes_autres(contrainte: Any) -> bool:
    """Whether a ``StringConstraints`` constrains more than a pattern (which the checks do not mirror)."""
    return any(
        getattr(contrainte, nom, None) is not None
        for nom in ("strip_whitespace", "to_upper", "to_lower", "strict", "min_length", "max_length", "ascii_only")
    )


@cache
def _champs_verifies(classe: type[Payload]) -> tuple[tuple[str, Callable[[Any], bool], Any], ...] | None:
    """Per allow-listed field, in the model's order: its name, its normal-form check and its default
    (``_REQUIS`` when required); None when a field's type has no check (the model always serves it)."""
    if classe.model_config.get("extra") not in ("allow", "ignore", None) or classe.model_fields.keys() != (
        classe.champs_publics()
    ):
        return None
    champs = []
    for nom, info in classe.model_fields.items():
        if info.alias not in (None, nom) or info.validation_alias is not None or info.default_factory is not None:
            return None
        verifier = _verificateur(info.annotation, list(info.metadata))
        if verifier is None:
            return None
        if info.is_required():
            defaut = _REQUIS
        elif info.default is None or type(info.default) in (bool, int, str):
            defaut = info.default
        else:
            return None
        champs.append((nom, verifier, defaut))
    return tuple(champs)


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
    return traceparent_de(correlation_id, f"{flux_id}:{version}")


def traceparent_de(correlation_id: str, evenement: str) -> str:
    """:func:`traceparent` of the event ``evenement`` (``"<stream id>:<version>"``)."""
    span = hashlib.sha256(evenement.encode()).hexdigest()[:16]
    return f"00-{_trace(correlation_id)}-{span}-01"


@lru_cache(maxsize=4096)
def _trace(correlation_id: str) -> str:
    """The trace id of a correlation id: the same for every event of one request (hence the cache)."""
    return hashlib.sha256(correlation_id.encode()).hexdigest()[:32]


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
