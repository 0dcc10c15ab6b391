"""The alerts topic's contract (issue 10, item 3): one JSON Schema per alert change type, the headers'
schema, the ``ase.alertes.v1`` channel of the AsyncAPI document, and the compatibility checker on them.

The schema is the privacy promise of the topic too: its property set is pinned here, so a field that
could carry a name, a birth date or free text cannot join it unnoticed.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import jsonschema
import pytest

from contracts import generation
from contracts.alertes import (
    Alerte,
    EvenementAlerte,
    Niveau,
    StatutAlerte,
    entetes_alerte,
    identifiant_alerte,
    identifiant_message,
    lien_dossier,
    type_cloudevents,
)
from contracts.compatibilite import Schema, changements_cassants
from contracts.enveloppe import TOPIC_ALERTES, url_schema

CONTRATS = generation.DOSSIER_CONTRATS
TYPES = [type_cloudevents(e) for e in EvenementAlerte]

PROPRIETES: frozenset[str] = frozenset(
    {
        "alerte_id",
        "parcours_id",
        "departement",
        "departement_precedent",
        "referent_id",
        "type",
        "cle",
        "due_le",
        "mois_du",
        "alerte_le",
        "attendu",
        "article",
        "urgente",
        "informative",
        "niveau",
        "statut",
        "lien",
        "levee_le",
        "modifiee_le",
    }
)
"""Ids, types, dates, the rule and its article, a link: reviewed for privacy. Adding one means reviewing it."""

INTERDITS = ("nom", "prenom", "naissance", "date_naissance", "reference", "commentaire", "texte", "details", "motif")
"""Fragments of field names that would carry personal data."""


def engage(nom: str) -> Schema:
    contenu: Schema = json.loads((CONTRATS / generation.SOUS_DOSSIER_SCHEMAS / f"{nom}.json").read_text("utf-8"))
    return contenu


def exemple(**changements: Any) -> Alerte:
    parcours = UUID("7d3c5a2e-1f4b-4c8e-9a6d-2b1e0f9c8a7d")
    due = date(2026, 3, 1)
    valeurs: dict[str, Any] = {
        "alerte_id": identifiant_alerte(parcours, "ppe", "", due),
        "parcours_id": parcours,
        "departement": "2A",
        "referent_id": "referent-42",
        "type": "ppe",
        "due_le": due,
        "mois_du": due.isoformat()[:7],
        "alerte_le": date(2026, 2, 1),
        "attendu": "Établir le projet pour l'enfant",
        "article": "CASF L223-1-1",
        "urgente": False,
        "niveau": Niveau.REFERENT,
        "statut": StatutAlerte.OUVERTE,
        "lien": lien_dossier(parcours),
        "levee_le": datetime(2026, 2, 1, 6, 0, tzinfo=UTC),
        "modifiee_le": datetime(2026, 2, 1, 6, 0, tzinfo=UTC),
    }
    return Alerte(**{**valeurs, **changements})


def valider(schema: Schema, valeur: Any) -> list[str]:
    validateur = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return [e.message for e in validateur.iter_errors(valeur)]


# -- the files ----------------------------------------------------------------------------------


def test_the_alert_schemas_are_generated_and_current() -> None:
    attendus = generation.fichiers_attendus()
    for type_ce in TYPES:
        chemin = f"{generation.SOUS_DOSSIER_SCHEMAS}/{type_ce}.json"
        assert chemin in attendus, chemin
        assert (CONTRATS / chemin).read_text("utf-8") == attendus[chemin], f"{chemin} is stale"
    assert (CONTRATS / generation.FICHIER_ENVELOPPE_ALERTES).read_text("utf-8") == attendus[
        generation.FICHIER_ENVELOPPE_ALERTES
    ]
    assert generation.ecarts() == []
    assert generation.cassants() == []


@pytest.mark.parametrize("evenement", list(EvenementAlerte))
def test_each_alert_type_has_its_schema_the_alert_body_with_no_field_that_could_carry_a_name(
    evenement: EvenementAlerte,
) -> None:
    type_ce = type_cloudevents(evenement)
    schema = engage(type_ce)
    assert schema["$id"] == url_schema(type_ce)
    assert schema["title"] == generation.nom_evenement_alerte(evenement)
    assert set(schema["properties"]) == PROPRIETES == set(Alerte.model_fields)
    assert not [p for p in schema["properties"] if any(mot in p for mot in INTERDITS)]
    assert schema["additionalProperties"] is True  # a later optional field must not break readers
    # Every free string is bounded; the only unbounded strings are typed (uuid, date, date-time).
    for nom, propriete in schema["properties"].items():
        branches = propriete.get("anyOf", [propriete])
        for branche in branches:
            if branche.get("type") == "string":
                assert "maxLength" in branche or "format" in branche or "pattern" in branche, nom


@pytest.mark.parametrize("evenement", list(EvenementAlerte))
def test_an_alert_as_the_service_writes_it_validates_against_the_committed_schema(evenement: EvenementAlerte) -> None:
    schema = engage(type_cloudevents(evenement))
    for alerte in (exemple(), exemple(referent_id=None, cle="ip-1", urgente=True, niveau=Niveau.ENCADRANT)):
        assert valider(schema, json.loads(alerte.model_dump_json())) == []
    corps = json.loads(exemple().model_dump_json())
    for nom, mauvais in [("statut", "perdue"), ("departement", "20"), ("due_le", "le 1er mars"), ("urgente", "oui")]:
        assert valider(schema, {**corps, nom: mauvais}), nom
    assert valider(schema, {k: v for k, v in corps.items() if k != "alerte_id"})


def test_the_headers_of_an_alert_validate_against_the_alerts_envelope_schema() -> None:
    alerte = exemple()
    entetes = {nom: valeur.decode() for nom, valeur in entetes_alerte(EvenementAlerte.ESCALADEE, alerte, 17)}
    schema = engage("enveloppe_alertes")
    assert valider(schema, entetes) == []
    assert list(schema["required"]) == list(entetes)
    assert entetes["ce_id"] == identifiant_message(alerte.alerte_id, 17)
    assert entetes["ce_source"] == "/ase/2A/notifications"
    assert entetes["ce_type"] == "fr.ase.alertes.alerte_escaladee.v1"
    assert entetes["ce_subject"] == str(alerte.alerte_id)
    assert entetes["ce_partitionkey"] == str(alerte.parcours_id)
    assert entetes["ce_time"] == "2026-02-01T06:00:00Z"
    assert entetes["ce_dataschema"] == url_schema("fr.ase.alertes.alerte_escaladee.v1")
    for nom, mauvais in [("ce_source", "/ase/59/parcours"), ("ce_type", "fr.ase.parcours.x.v1"), ("ce_id", "x")]:
        assert valider(schema, {**entetes, nom: mauvais}), nom


def test_a_message_id_is_stable_per_outbox_position_and_differs_between_positions() -> None:
    alerte = exemple()
    assert identifiant_message(alerte.alerte_id, 3) == identifiant_message(alerte.alerte_id, 3)
    assert identifiant_message(alerte.alerte_id, 3) != identifiant_message(alerte.alerte_id, 4)
    autre = identifiant_alerte(alerte.parcours_id, "ppe", "", date(2026, 3, 2))
    assert identifiant_message(alerte.alerte_id, 3) != identifiant_message(autre, 3)


# -- the AsyncAPI channel -------------------------------------------------------------------------


def test_the_asyncapi_document_has_the_alerts_topic_its_messages_key_headers_and_retention() -> None:
    document: Schema = json.loads((CONTRATS / generation.FICHIER_ASYNCAPI).read_text("utf-8"))
    canal = document["channels"]["alertes"]
    assert canal["address"] == TOPIC_ALERTES
    configuration = canal["bindings"]["kafka"]["topicConfiguration"]
    assert configuration == {"cleanup.policy": ["delete"], "retention.ms": 31_536_000_000}
    assert set(canal["messages"]) == set(TYPES)
    operation = document["operations"]["publier_alertes"]
    assert operation["channel"] == {"$ref": "#/channels/alertes"}
    assert {m["$ref"] for m in operation["messages"]} == {f"#/channels/alertes/messages/{t}" for t in TYPES}
    for type_ce in TYPES:
        message = document["components"]["messages"][type_ce]
        assert message["payload"] == {"$ref": f"schemas/{type_ce}.json"}
        assert message["bindings"]["kafka"]["key"]["description"].startswith("parcours_id")
        assert message["headers"]["allOf"][0] == {"$ref": generation.FICHIER_ENVELOPPE_ALERTES}
        assert message["headers"]["allOf"][1]["properties"]["ce_type"] == {"const": type_ce}
        assert "correlationId" not in message  # the alerts' headers have no ce_correlationid


# -- the compatibility checker on the alerts --------------------------------------------------------

Mutation = Callable[[Schema], None]


def _retirer(champ: str) -> Mutation:
    def muter(schema: Schema) -> None:
        del schema["properties"][champ]
        schema["required"] = [r for r in schema["required"] if r != champ]

    return muter


def _borner(champ: str, maximum: int) -> Mutation:
    def muter(schema: Schema) -> None:
        schema["properties"][champ]["maxLength"] = maximum

    return muter


def _statuts(*valeurs: str) -> Mutation:
    def muter(schema: Schema) -> None:
        schema["$defs"]["StatutAlerte"]["enum"] = list(valeurs)

    return muter


def _exiger(champ: str) -> Mutation:
    def muter(schema: Schema) -> None:
        schema["required"] = [*schema["required"], champ]

    return muter


def _retyper(champ: str, type_: str) -> Mutation:
    def muter(schema: Schema) -> None:
        schema["properties"][champ] = {"type": type_}

    return muter


@pytest.mark.parametrize(
    ("mutation", "attendu"),
    [
        (_retirer("article"), "'article' removed"),
        (_borner("attendu", 100), "'attendu' maxLength tightened: 200 -> 100"),
        (_statuts("ouverte", "close"), "'statut' enumeration narrowed, values removed: 'acquittee'"),
        (_statuts("ouverte", "acquittee", "close", "annulee"), "'statut' enumeration widened"),
        (_exiger("cle"), "'cle' became required"),
        (_retyper("urgente", "string"), "'urgente' retyped: boolean -> string"),
    ],
    ids=["field removed", "string narrowed", "status removed", "status added", "became required", "retyped"],
)
def test_the_checker_refuses_a_breaking_change_to_an_alert(mutation: Mutation, attendu: str) -> None:
    for type_ce in TYPES:
        publie = engage(type_ce)
        nouveau = copy.deepcopy(publie)
        mutation(nouveau)
        cassants = changements_cassants(publie, nouveau)
        assert any(c.startswith(attendu) for c in cassants), cassants


def test_the_checker_accepts_a_new_optional_field_on_an_alert() -> None:
    publie = engage(TYPES[0])
    nouveau = copy.deepcopy(publie)
    nouveau["properties"]["rappel_le"] = {"type": "string", "format": "date"}
    assert changements_cassants(publie, nouveau) == []


def test_generation_refuses_to_overwrite_a_published_alert_schema_with_a_field_removed(tmp_path: Any) -> None:
    assert generation.generer(tmp_path) != []
    chemin = tmp_path / generation.SOUS_DOSSIER_SCHEMAS / f"{TYPES[0]}.json"
    publie = json.loads(chemin.read_text("utf-8"))
    # As if the committed schema had a field the model no longer has: the model "lost" it.
    publie["properties"]["motif_retard"] = {"type": "string", "maxLength": 200}
    chemin.write_text(generation.en_json(publie), encoding="utf-8")
    with pytest.raises(generation.GenerationRefusee) as refus:
        generation.generer(tmp_path)
    assert any("'motif_retard' removed" in r for r in refus.value.raisons)
    assert generation.cassants(tmp_path)  # what `--check` reports
