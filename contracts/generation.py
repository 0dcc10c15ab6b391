"""Generates the published contract files from the pydantic models, and refuses breaking changes.

    python -m contracts.generation           # write contracts/schemas/*.json and contracts/asyncapi.json
    python -m contracts.generation --check   # only compare; exit 1 when a file is missing or stale

Generated: one JSON Schema per event type and version (``schemas/<ce type>.json``,
what is on the wire: the model's serialisation schema), the schema of the
CloudEvents Kafka headers (``schemas/enveloppe.json``) and the AsyncAPI 3.0
document of the topics (``asyncapi.json``). Output is deterministic (sorted
keys, two-space indent, trailing newline) so it is committed and reviewed.

A committed schema is a promise to every consumer: generation refuses to
overwrite one with a breaking change (``contracts.compatibilite``) or to drop
one whose model disappeared. Publish the change as a new version instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from uuid import UUID

from pydantic import TypeAdapter

from contracts.alertes import (
    Alerte,
    EvenementAlerte,
    Niveau,
    StatutAlerte,
    entetes_alerte,
    type_cloudevents,
)
from contracts.compatibilite import Schema, changements_cassants
from contracts.enveloppe import (
    CONTENT_TYPE,
    SCHEMAS_BASE,
    SPECVERSION,
    TOPIC_ALERTES,
    TOPIC_IDENTITES,
    TOPIC_PARCOURS,
    TOPIC_RESTREINT,
    TOPIC_STATISTIQUES,
    Enveloppe,
    url_schema,
)
from contracts.evenements import (
    PAYLOADS,
    TYPE_EFFACEMENT_IDENTITE,
    CodeDepartement,
    Payload,
    PayloadIdentite,
    PayloadLieu,
    PayloadParcours,
)
from contracts.restreint import NOM_FAITS_RESTREINTS, TYPE_FAITS_RESTREINTS, FaitsRestreints

DOSSIER_CONTRATS: Final = Path(__file__).resolve().parent
SOUS_DOSSIER_SCHEMAS: Final = "schemas"
FICHIER_ENVELOPPE: Final = f"{SOUS_DOSSIER_SCHEMAS}/enveloppe.json"
FICHIER_ENVELOPPE_ALERTES: Final = f"{SOUS_DOSSIER_SCHEMAS}/enveloppe_alertes.json"
FICHIER_ASYNCAPI: Final = "asyncapi.json"
DIALECTE: Final = "https://json-schema.org/draft/2020-12/schema"
MODE_SCHEMA: Final = "serialization"
"""What the producer writes (``model_dump_json``): the wire format consumers read."""

_BINDING_KAFKA: Final = "0.5.0"
_RETENTION_UN_AN_MS: Final = 365 * 24 * 3600 * 1000


class GenerationRefusee(Exception):
    """Generating would break a published contract; each reason is one line."""

    def __init__(self, raisons: Sequence[str]) -> None:
        super().__init__("\n".join(raisons))
        self.raisons = list(raisons)


# -- which topic, which key ---------------------------------------------------------------


@dataclass(frozen=True)
class _Famille:
    base: type[Payload]
    canal: str
    topic: str
    cle: str
    description_cle: str


_FAMILLES: Final = (
    _Famille(PayloadParcours, "parcours", TOPIC_PARCOURS, "parcours_id", "the parcours id (the stream id)"),
    _Famille(PayloadLieu, "parcours", TOPIC_PARCOURS, "lieu_id", "the lieu d'accueil id (the stream id)"),
    _Famille(PayloadIdentite, "identites", TOPIC_IDENTITES, "personne_id", "the personne id (the stream id)"),
)


def _famille(payload: type[Payload]) -> _Famille:
    for famille in _FAMILLES:
        if issubclass(payload, famille.base):
            return famille
    raise TypeError(f"{payload.__name__} belongs to no published family (parcours, lieu, identite)")


# -- event schemas --------------------------------------------------------------------------


def successeur(payload: type[Payload], payloads: Mapping[str, type[Payload]] = PAYLOADS) -> str | None:
    """The CloudEvents type of the latest version that supersedes ``payload``, if any."""
    suivantes = [
        p
        for p in payloads.values()
        if p.domaine == payload.domaine and p.nom_evenement() == payload.nom_evenement() and p.version > payload.version
    ]
    return max(suivantes, key=lambda p: p.version).type_cloudevents() if suivantes else None


def _remplacement(remplace_par: str) -> str:
    return (
        f"Deprecated: superseded by {remplace_par}, no longer published. Events already on the topic keep "
        "this type and this schema for ever."
    )


def schema_evenement(payload: type[Payload], *, remplace_par: str | None = None) -> Schema:
    """The JSON Schema of one event type and version, as published under ``url_schema(type)``.

    ``remplace_par``: the type of a later version; the schema is then marked ``deprecated``.
    """
    type_ce = payload.type_cloudevents()
    famille = _famille(payload)
    schema = payload.model_json_schema(mode=MODE_SCHEMA)
    presentation = (
        f"Body of the CloudEvents type {type_ce}, published on Kafka topic {famille.topic} with key {famille.cle}."
    )
    paragraphes = [schema.get("description"), presentation]
    if remplace_par:
        paragraphes.append(_remplacement(remplace_par))
        schema["deprecated"] = True
    return {
        "$schema": DIALECTE,
        "$id": url_schema(type_ce),
        **schema,
        "title": payload.nom_evenement(),
        "description": "\n\n".join(p for p in paragraphes if p),
    }


def schema_effacement() -> Schema:
    """The erasure tombstone: no body at all, so consumers delete the person (compaction does the rest)."""
    return {
        "$schema": DIALECTE,
        "$id": url_schema(TYPE_EFFACEMENT_IDENTITE),
        "title": "IdentiteEffacee",
        "description": (
            f"Tombstone of CloudEvents type {TYPE_EFFACEMENT_IDENTITE} on Kafka topic {TOPIC_IDENTITES}, "
            "key personne_id: the Kafka value is null. Forget everything known of that person."
        ),
        "type": "null",
    }


def schema_faits_restreints() -> Schema:
    """The restricted record beside a public one (``contracts/restreint.py``)."""
    schema = FaitsRestreints.model_json_schema(mode=MODE_SCHEMA)
    return {
        "$schema": DIALECTE,
        "$id": url_schema(TYPE_FAITS_RESTREINTS),
        **schema,
        "title": NOM_FAITS_RESTREINTS,
        "description": "\n\n".join(
            [
                str(schema.get("description", "")),
                f"Body of the CloudEvents type {TYPE_FAITS_RESTREINTS}, published on the restricted Kafka topic "
                f"{TOPIC_RESTREINT} with key the stream id, beside the public record of the same ce_subject and "
                "ce_sequence. Merging champs into the public body gives the event as recorded.",
            ]
        ),
    }


# -- the alerts (contracts/alertes.py) ------------------------------------------------------


def nom_evenement_alerte(evenement: EvenementAlerte) -> str:
    """``alerte_levee`` -> ``AlerteLevee`` (the schema's and the message's title)."""
    return "".join(mot.capitalize() for mot in evenement.value.split("_"))


def _doc_evenement_alerte(evenement: EvenementAlerte) -> str:
    """The member's docstring in ``contracts/alertes.py`` (one sentence or two)."""
    return {
        EvenementAlerte.LEVEE: "its alert date came, the référent is told.",
        EvenementAlerte.ESCALADEE: "its due date passed unmet, the département's encadrants are told.",
        EvenementAlerte.ACQUITTEE: "someone acknowledged it; it stays open until the awaited fact is recorded.",
        EvenementAlerte.CLOSE: "the awaited fact was recorded, or the deadline moved or ended: nothing left to do.",
        EvenementAlerte.REAFFECTEE: "the parcours changed référent or département: the open alert follows it.",
    }[evenement]


def schema_alerte(evenement: EvenementAlerte) -> Schema:
    """The body of one alert change type: the alert as it stands after the change (:class:`Alerte`).

    ``additionalProperties`` is opened on the wire, as for the events: the model
    refuses unknown fields when the service reads its own rows, but a later
    optional field must not break a consumer validating with this schema.
    """
    type_ce = type_cloudevents(evenement)
    schema = Alerte.model_json_schema(mode=MODE_SCHEMA)
    schema["additionalProperties"] = True
    return {
        "$schema": DIALECTE,
        "$id": url_schema(type_ce),
        **schema,
        "title": nom_evenement_alerte(evenement),
        "description": "\n\n".join(
            [
                str(schema.get("description", "")),
                f"{nom_evenement_alerte(evenement)}: {_doc_evenement_alerte(evenement)}",
                f"Body of the CloudEvents type {type_ce}, published on Kafka topic {TOPIC_ALERTES} with key "
                "parcours_id. Ids, types, dates, the rule and its article and a link to the dossier: never a "
                "name, a birth date, a court reference or free text.",
            ]
        ),
    }


# -- the CloudEvents envelope ---------------------------------------------------------------

_DEPARTEMENT = TypeAdapter(CodeDepartement).json_schema()["pattern"].removeprefix("^").removesuffix("$")

_ENTETES: Final[dict[str, Schema]] = {
    "ce_specversion": {"const": SPECVERSION, "description": "CloudEvents specification version."},
    "ce_id": {
        "format": "uuid",
        "description": (
            "Event id, deterministic (UUIDv5 of the stream id and version): a republished event keeps its id, "
            "consumers deduplicate on it."
        ),
    },
    "ce_source": {
        "pattern": f"^/ase/(({_DEPARTEMENT})/(parcours|lieux)|identites)$",
        "description": (
            "Who produced it: /ase/{departement}/parcours, /ase/{departement}/lieux, or /ase/identites "
            "on the identities topic."
        ),
    },
    "ce_type": {
        "pattern": r"^fr\.ase\.[a-z]+\.[a-z0-9_]+\.v[1-9][0-9]*$",
        "description": "Event type and version, fr.ase.<domaine>.<event_snake_name>.v<version>: selects the body's schema.",
    },
    "ce_subject": {
        "format": "uuid",
        "description": "The stream id: parcours_id, lieu_id or personne_id. Equal to the Kafka key.",
    },
    "ce_time": {
        "format": "date-time",
        "description": "When the event was recorded (RFC 3339), not its date of effect (date_effet, in the body).",
    },
    "ce_dataschema": {
        "format": "uri",
        "pattern": "^" + SCHEMAS_BASE.replace(".", r"\.") + r".+\.json$",
        "description": "URL of the body's JSON Schema; the file of the same name in contracts/schemas/.",
    },
    "content-type": {"const": CONTENT_TYPE, "description": "The body is JSON (CloudEvents binary content mode)."},
    "ce_sequence": {
        "pattern": "^[0-9]+$",
        "description": (
            "The event's version in its stream, in decimal: consecutive per stream, so a consumer detects "
            "a gap or a replay."
        ),
    },
    "ce_partitionkey": {
        "description": "CloudEvents partitioning extension: the stream id, the Kafka key (stream order is kept).",
    },
    "ce_correlationid": {
        "description": "Correlation id of the request that led to the event (X-Correlation-Id, or the request id).",
    },
    "ce_causationid": {"description": "Id of the request that recorded the event."},
    "traceparent": {
        "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
        "description": "W3C trace context: one trace per correlation id, one span per event.",
    },
    "ce_auteur": {
        "description": (
            "Extension beyond API.md: the `sub` of the authenticated user who recorded the event, "
            "so that an audit trail built from Kafka says who recorded what (never a child's data)."
        ),
    },
}


def _noms_entetes() -> list[str]:
    """The header names ``Enveloppe.entetes()`` writes, in its order."""
    exemple = Enveloppe(
        id="",
        source="",
        type="",
        subject="",
        time=datetime(2000, 1, 1, tzinfo=UTC),
        dataschema="",
        sequence=1,
        partitionkey="",
        correlationid="",
        causationid="",
        traceparent="",
        auteur="",
    )
    return [nom for nom, _ in exemple.entetes()]


def schema_enveloppe() -> Schema:
    """The Kafka headers of every message: the CloudEvents attributes in binary content mode."""
    noms = _noms_entetes()
    if set(noms) != set(_ENTETES):
        raise ValueError(
            f"Enveloppe.entetes() and the documented headers differ: {sorted(set(noms) ^ set(_ENTETES))}; "
            "document every header in contracts/generation.py"
        )
    return {
        "$schema": DIALECTE,
        "$id": f"{SCHEMAS_BASE}enveloppe.json",
        "title": "Enveloppe",
        "description": (
            "CloudEvents 1.0 attributes as Kafka headers (binary content mode): each value is the UTF-8 "
            "string shown here. Other headers may appear and are to be ignored."
        ),
        "type": "object",
        "properties": {nom: {"type": "string", **_ENTETES[nom]} for nom in noms},
        "required": noms,
        "additionalProperties": True,
    }


_ENTETES_ALERTES: Final[dict[str, Schema]] = {
    "ce_specversion": _ENTETES["ce_specversion"],
    "ce_id": {
        "format": "uuid",
        "description": (
            "Message id, deterministic (UUIDv5 of the alert id and the change's position in the service's "
            "outbox): a message sent again after a crash keeps its id, consumers deduplicate on it."
        ),
    },
    "ce_source": {
        "pattern": f"^/ase/({_DEPARTEMENT})/notifications$",
        "description": "Who produced it: /ase/{departement}/notifications, the alert's département.",
    },
    "ce_type": {
        "pattern": r"^fr\.ase\.alertes\.[a-z0-9_]+\.v[1-9][0-9]*$",
        "description": "What happened to the alert, fr.ase.alertes.<change>.v<version>: selects the body's schema.",
    },
    "ce_subject": {"format": "uuid", "description": "The alert id (alerte_id in the body)."},
    "ce_time": {
        "format": "date-time",
        "description": "When the alert last changed (modifiee_le in the body, RFC 3339, UTC).",
    },
    "ce_dataschema": _ENTETES["ce_dataschema"],
    "content-type": _ENTETES["content-type"],
    "ce_partitionkey": {
        "format": "uuid",
        "description": "CloudEvents partitioning extension: the parcours id, the Kafka key (an alert's changes in order).",
    },
}


def _noms_entetes_alertes() -> list[str]:
    """The header names ``contracts.alertes.entetes_alerte`` writes, in its order."""
    instant = datetime(2000, 1, 1, tzinfo=UTC)
    exemple = Alerte(
        alerte_id=UUID(int=0),
        parcours_id=UUID(int=0),
        departement="59",
        type="ppe",
        due_le=instant.date(),
        mois_du="2000-01",
        alerte_le=instant.date(),
        attendu="",
        article="",
        urgente=False,
        niveau=Niveau.REFERENT,
        statut=StatutAlerte.OUVERTE,
        lien="",
        levee_le=instant,
        modifiee_le=instant,
    )
    return [nom for nom, _ in entetes_alerte(EvenementAlerte.LEVEE, exemple, 1)]


def schema_enveloppe_alertes() -> Schema:
    """The Kafka headers of the alerts topic's messages (CloudEvents binary content mode)."""
    noms = _noms_entetes_alertes()
    if set(noms) != set(_ENTETES_ALERTES):
        raise ValueError(
            f"entetes_alerte() and the documented headers differ: {sorted(set(noms) ^ set(_ENTETES_ALERTES))}; "
            "document every header in contracts/generation.py"
        )
    return {
        "$schema": DIALECTE,
        "$id": f"{SCHEMAS_BASE}enveloppe_alertes.json",
        "title": "EnveloppeAlertes",
        "description": (
            f"CloudEvents 1.0 attributes as Kafka headers (binary content mode) of the messages of {TOPIC_ALERTES}: "
            "each value is the UTF-8 string shown here. Other headers may appear and are to be ignored."
        ),
        "type": "object",
        "properties": {nom: {"type": "string", **_ENTETES_ALERTES[nom]} for nom in noms},
        "required": noms,
        "additionalProperties": True,
    }


# -- the AsyncAPI document ------------------------------------------------------------------


def _fichier_schema(type_ce: str) -> str:
    return f"{SOUS_DOSSIER_SCHEMAS}/{type_ce}.json"


def _message(
    type_ce: str,
    *,
    nom: str,
    version: int,
    cle: str,
    description_cle: str,
    resume: str,
    enveloppe: str = FICHIER_ENVELOPPE,
) -> Schema:
    """One message: the event's headers (the envelope, with its ``ce_type``), body and Kafka key.

    The correlation id is the envelope's ``ce_correlationid``; the alerts' envelope has none.
    """
    message: Schema = {
        "name": nom,
        "title": f"{nom} v{version}",
        "summary": resume,
        "contentType": CONTENT_TYPE,
        "headers": {
            "allOf": [
                {"$ref": enveloppe},
                {
                    "type": "object",
                    "properties": {
                        "ce_type": {"const": type_ce},
                        "ce_dataschema": {"const": url_schema(type_ce)},
                    },
                },
            ]
        },
        "payload": {"$ref": _fichier_schema(type_ce)},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "format": "uuid", "description": f"{cle}: {description_cle}"},
                "bindingVersion": _BINDING_KAFKA,
            }
        },
    }
    if enveloppe == FICHIER_ENVELOPPE:
        message["correlationId"] = {"$ref": "#/components/correlationIds/correlation"}
    return message


def _canal(adresse: str, titre: str, description: str, nettoyage: str, retention_ms: int | None) -> Schema:
    configuration: Schema = {"cleanup.policy": [nettoyage]}
    if retention_ms is not None:
        configuration["retention.ms"] = retention_ms
    return {
        "address": adresse,
        "title": titre,
        "description": description,
        "bindings": {
            "kafka": {"topic": adresse, "topicConfiguration": configuration, "bindingVersion": _BINDING_KAFKA}
        },
    }


def document_asyncapi(payloads: Mapping[str, type[Payload]] = PAYLOADS) -> Schema:
    """The AsyncAPI 3.0 description of the topics, their messages, headers and keys."""
    canaux: dict[str, Schema] = {
        "parcours": _canal(
            TOPIC_PARCOURS,
            "Parcours and lieux d'accueil events",
            "Every Parcours and LieuAccueil event, in stream order (key = stream id). At-least-once: "
            "deduplicate on ce_id, detect gaps with ce_sequence. Never a name nor an exact birth date.",
            "delete",
            -1,
        ),
        "identites": _canal(
            TOPIC_IDENTITES,
            "Identities (restricted)",
            "Identity records (names, exact birth date), key personne_id, compacted: the latest record per "
            "person; a tombstone (null value) erases the person. Restricted: readable only by the services "
            "authorised to see names.",
            "compact",
            None,
        ),
        "statistiques": _canal(
            TOPIC_STATISTIQUES,
            "Pseudonymised statistics",
            "OLINPE-style pseudonymised events, key = pseudonym. Payloads are not contracted here yet.",
            "delete",
            -1,
        ),
        "restreint": _canal(
            TOPIC_RESTREINT,
            "Restricted facts of parcours and lieux events",
            "For each Parcours or LieuAccueil event whose public record withholds or reduces a fact (a court's "
            "reference, the name of a lieu that is a private person, the exact dates of the events dated by "
            "the 18th birthday), one record with those facts, key = stream id, same ce_subject and ce_sequence "
            "as the public record. Restricted: readable only by the projections, which show them to the "
            "département's caseworkers.",
            "delete",
            -1,
        ),
        "alertes": _canal(
            TOPIC_ALERTES,
            "Alerts",
            "Every change of an alert of the deadline engine (raised, escalated, acknowledged, closed), key = "
            "parcours id, retained one year. The body is the alert as it stands after the change: ids, types, "
            "dates, the rule and its article and a link to the dossier, never a name, a birth date, a court "
            "reference or free text. At-least-once: deduplicate on ce_id.",
            "delete",
            _RETENTION_UN_AN_MS,
        ),
    }
    messages: dict[str, Schema] = {}
    par_canal: dict[str, list[str]] = {"parcours": [], "identites": []}
    publies: set[str] = {TYPE_EFFACEMENT_IDENTITE}
    for type_ce in sorted(payloads):
        payload = payloads[type_ce]
        famille = _famille(payload)
        resume = f"{payload.nom_evenement()}, version {payload.version}, key {famille.cle}."
        remplace_par = successeur(payload, payloads)
        messages[type_ce] = _message(
            type_ce,
            nom=payload.nom_evenement(),
            version=payload.version,
            cle=famille.cle,
            description_cle=famille.description_cle,
            resume=f"{resume} {_remplacement(remplace_par)}" if remplace_par else resume,
        )
        # The channel lists every version a reader may meet; the relay sends only the latest.
        par_canal[famille.canal].append(type_ce)
        if remplace_par is None:
            publies.add(type_ce)
    messages[TYPE_EFFACEMENT_IDENTITE] = _message(
        TYPE_EFFACEMENT_IDENTITE,
        nom="IdentiteEffacee",
        version=1,
        cle="personne_id",
        description_cle="the person erased",
        resume="Erasure tombstone: null value, key personne_id.",
    )
    par_canal["identites"].append(TYPE_EFFACEMENT_IDENTITE)
    messages[TYPE_FAITS_RESTREINTS] = _message(
        TYPE_FAITS_RESTREINTS,
        nom=NOM_FAITS_RESTREINTS,
        version=1,
        cle="parcours_id or lieu_id",
        description_cle="the stream id of the public event it completes",
        resume="Restricted facts of one public event, key = its stream id.",
    )
    par_canal["restreint"] = [TYPE_FAITS_RESTREINTS]
    publies.add(TYPE_FAITS_RESTREINTS)

    alertes = [type_cloudevents(e) for e in EvenementAlerte]
    for evenement in EvenementAlerte:
        messages[type_cloudevents(evenement)] = _message(
            type_cloudevents(evenement),
            nom=nom_evenement_alerte(evenement),
            version=1,
            cle="parcours_id",
            description_cle="the parcours the alert is about",
            resume=f"{nom_evenement_alerte(evenement)}: {_doc_evenement_alerte(evenement)} Key parcours_id.",
            enveloppe=FICHIER_ENVELOPPE_ALERTES,
        )

    operations: dict[str, Schema] = {}
    for canal, types in par_canal.items():
        canaux[canal]["messages"] = {t: {"$ref": f"#/components/messages/{t}"} for t in types}
        operations[f"publier_{canal}"] = {
            "action": "send",
            "title": f"Publish on {canaux[canal]['address']}",
            "summary": "The parcours relay publishes each stored event once or more, in stream order.",
            "channel": {"$ref": f"#/channels/{canal}"},
            "messages": [{"$ref": f"#/channels/{canal}/messages/{t}"} for t in sorted(types) if t in publies],
        }
    canaux["alertes"]["messages"] = {t: {"$ref": f"#/components/messages/{t}"} for t in alertes}
    operations["publier_alertes"] = {
        "action": "send",
        "title": f"Publish on {TOPIC_ALERTES}",
        "summary": (
            "The notifications service publishes each change of an alert once or more, in the order of its "
            "outbox (services/notifications/publication.py)."
        ),
        "channel": {"$ref": "#/channels/alertes"},
        "messages": [{"$ref": f"#/channels/alertes/messages/{t}"} for t in sorted(alertes)],
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Parcours ASE: published events",
            "version": "1.2.0",
            "description": (
                "Events of the Parcours ASE case tracking (French child protection) on Kafka, as CloudEvents "
                "1.0 in binary content mode: ce_* headers, JSON body. Within a type's version a body only "
                "gains optional fields (never a new enumeration value): consumers ignore fields and headers "
                "they do not know. Any other change is a new version of the type; the superseded one stays "
                "documented, marked deprecated, since its events stay on the topic."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "channels": canaux,
        "operations": operations,
        "components": {
            "messages": messages,
            "correlationIds": {
                "correlation": {
                    "description": "Links the events of one request and its consequences.",
                    "location": "$message.header#/ce_correlationid",
                }
            },
        },
    }


# -- files ----------------------------------------------------------------------------------


def en_json(document: Any) -> str:
    """The committed form: sorted keys, two-space indent, UTF-8 text, trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def fichiers_attendus(payloads: Mapping[str, type[Payload]] = PAYLOADS) -> dict[str, str]:
    """Every generated file, by its path relative to ``contracts/``, with its content."""
    fichiers = {
        _fichier_schema(t): en_json(schema_evenement(p, remplace_par=successeur(p, payloads)))
        for t, p in payloads.items()
    }
    fichiers[_fichier_schema(TYPE_EFFACEMENT_IDENTITE)] = en_json(schema_effacement())
    fichiers[_fichier_schema(TYPE_FAITS_RESTREINTS)] = en_json(schema_faits_restreints())
    fichiers[FICHIER_ENVELOPPE] = en_json(schema_enveloppe())
    for evenement in EvenementAlerte:
        fichiers[_fichier_schema(type_cloudevents(evenement))] = en_json(schema_alerte(evenement))
    fichiers[FICHIER_ENVELOPPE_ALERTES] = en_json(schema_enveloppe_alertes())
    fichiers[FICHIER_ASYNCAPI] = en_json(document_asyncapi(payloads))
    return dict(sorted(fichiers.items()))


def _schemas_presents(dossier: Path) -> list[str]:
    return sorted(f"{SOUS_DOSSIER_SCHEMAS}/{p.name}" for p in (dossier / SOUS_DOSSIER_SCHEMAS).glob("*.json"))


def ecarts(dossier: Path = DOSSIER_CONTRATS, payloads: Mapping[str, type[Payload]] = PAYLOADS) -> list[str]:
    """How the files in ``dossier`` differ from what generation produces now (empty: up to date)."""
    attendus = fichiers_attendus(payloads)
    resultat: list[str] = []
    for chemin, contenu in attendus.items():
        fichier = dossier / chemin
        if not fichier.exists():
            resultat.append(f"{chemin}: missing")
        elif fichier.read_text(encoding="utf-8") != contenu:
            resultat.append(f"{chemin}: differs from the models")
    resultat.extend(
        f"{chemin}: no model produces it" for chemin in _schemas_presents(dossier) if chemin not in attendus
    )
    return resultat


def cassants(dossier: Path = DOSSIER_CONTRATS, payloads: Mapping[str, type[Payload]] = PAYLOADS) -> list[str]:
    """The breaking changes from each committed schema in ``dossier`` to the one generated now."""
    attendus = fichiers_attendus(payloads)
    resultat: list[str] = []
    for chemin in _schemas_presents(dossier):
        if chemin in attendus:
            engage = json.loads((dossier / chemin).read_text(encoding="utf-8"))
            resultat.extend(f"{chemin}: {c}" for c in changements_cassants(engage, json.loads(attendus[chemin])))
    return resultat


def refus(dossier: Path = DOSSIER_CONTRATS, payloads: Mapping[str, type[Payload]] = PAYLOADS) -> list[str]:
    """Why the committed schemas in ``dossier`` cannot be replaced by the generated ones (empty: they can)."""
    attendus = fichiers_attendus(payloads)
    disparus = [
        f"{chemin}: published, but no model produces it any more; keep its model (old events stay on the "
        "topic), or delete the file by hand if it was never published"
        for chemin in _schemas_presents(dossier)
        if chemin not in attendus
    ]
    return disparus + cassants(dossier, payloads)


def generer(dossier: Path = DOSSIER_CONTRATS, payloads: Mapping[str, type[Payload]] = PAYLOADS) -> list[str]:
    """Write the generated files that changed into ``dossier``; the paths written. All or nothing."""
    raisons = refus(dossier, payloads)
    if raisons:
        raise GenerationRefusee(raisons)
    ecrits: list[str] = []
    for chemin, contenu in fichiers_attendus(payloads).items():
        fichier = dossier / chemin
        if fichier.exists() and fichier.read_text(encoding="utf-8") == contenu:
            continue
        fichier.parent.mkdir(parents=True, exist_ok=True)
        fichier.write_text(contenu, encoding="utf-8", newline="\n")
        ecrits.append(chemin)
    return ecrits


def main(argv: Sequence[str] | None = None) -> int:
    parseur = argparse.ArgumentParser(
        prog="python -m contracts.generation", description="Generate the contract files from the pydantic models."
    )
    parseur.add_argument("--check", action="store_true", help="only compare; exit 1 when a file is stale")
    arguments = parseur.parse_args(argv)
    if arguments.check:
        differences = ecarts() + cassants()
        for ligne in differences:
            print(ligne, file=sys.stderr)
        if differences:
            print("contracts are stale: run `python -m contracts.generation`", file=sys.stderr)
            return 1
        print(f"contracts up to date ({len(fichiers_attendus())} files)")
        return 0
    try:
        ecrits = generer()
    except GenerationRefusee as refusee:
        for raison in refusee.raisons:
            print(raison, file=sys.stderr)
        print(
            "refused: these are breaking changes to published schemas. Publish a new version instead: a new "
            "model with `version: ClassVar[int] = 2` beside the old one (see contracts/README.md).",
            file=sys.stderr,
        )
        return 2
    for chemin in ecrits:
        print(f"written: contracts/{chemin}")
    print(f"{len(fichiers_attendus())} files, {len(ecrits)} written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
