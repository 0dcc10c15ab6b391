"""The published contracts: generated files up to date, compatible, complete, and payloads that match them.

The committed files under ``contracts/`` are what other systems program against.
These tests fail when a model changes without regenerating, when a change would
break a published schema, and when the compatibility checker stops seeing one.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from types import UnionType
from typing import Any, ClassVar, Union, get_args, get_origin
from uuid import UUID

import jsonschema
import pytest

from contracts import generation
from contracts.alertes import EvenementAlerte, type_cloudevents
from contracts.compatibilite import Schema, changements_cassants
from contracts.enveloppe import TOPIC_IDENTITES, TOPIC_PARCOURS, Enveloppe, identifiant_evenement, url_schema
from contracts.evenements import (
    PAYLOADS,
    PAYLOADS_COURANTS,
    TYPE_EFFACEMENT_IDENTITE,
    AccueilDebute,
    AccueilDebuteV1,
    LieuAccueilChange,
    LieuAccueilChangeV1,
    LieuAccueilReference,
    LieuAccueilReferenceV1,
    MesureDecidee,
    MesureDecideeV1,
    Payload,
    PayloadIdentite,
    PayloadParcours,
)
from contracts.restreint import TYPE_FAITS_RESTREINTS
from contracts.vocabulaire import TypeLieu, TypeLieuV1

CONTRATS = generation.DOSSIER_CONTRATS
SCHEMAS = CONTRATS / generation.SOUS_DOSSIER_SCHEMAS
REGENERER = "run `python -m contracts.generation` and commit the result"


def schema_engage(type_ce: str) -> Schema:
    """The committed schema of one event type, as consumers download it."""
    contenu: Schema = json.loads((SCHEMAS / f"{type_ce}.json").read_text(encoding="utf-8"))
    return contenu


MESURE_DECIDEE = MesureDecidee.type_cloudevents()
MESURE_DECIDEE_V1 = MesureDecideeV1.type_cloudevents()
"""The mutations below change a schema holding every kind of constraint, reference_decision included."""


# -- (a) drift, (b) compatibility of what is committed -------------------------------------


def test_committed_contract_files_are_what_generation_produces_now() -> None:
    ecarts = generation.ecarts()
    assert not ecarts, "contracts/ is stale, " + REGENERER + ":\n" + "\n".join(ecarts)


def test_every_committed_schema_is_compatible_with_its_current_model() -> None:
    attendus = generation.fichiers_attendus()
    for fichier in sorted(SCHEMAS.glob("*.json")):
        chemin = f"{generation.SOUS_DOSSIER_SCHEMAS}/{fichier.name}"
        assert chemin in attendus, f"{chemin} has no model any more"
        cassants = changements_cassants(json.loads(fichier.read_text(encoding="utf-8")), json.loads(attendus[chemin]))
        assert not cassants, f"{chemin}: breaking changes, publish a new version instead:\n" + "\n".join(cassants)


def test_generation_is_deterministic_sorted_and_ends_with_a_newline() -> None:
    premiers, seconds = generation.fichiers_attendus(), generation.fichiers_attendus()
    assert premiers == seconds
    for chemin, contenu in premiers.items():
        assert contenu.endswith("}\n"), chemin
        assert contenu == json.dumps(json.loads(contenu), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# -- (c) the checker sees breaking changes, and only those ----------------------------------

Mutation = Callable[[Schema], None]


def _retirer_propriete(schema: Schema) -> None:
    del schema["properties"]["reference_decision"]
    schema["required"].remove("reference_decision")


def _retyper(schema: Schema) -> None:
    schema["properties"]["date_debut"] = {"type": "integer", "title": "Date Debut"}


def _retyper_sous_nullable(schema: Schema) -> None:
    schema["properties"]["date_echeance"]["anyOf"][0] = {"type": "integer"}


def _retyper_par_ref(schema: Schema) -> None:
    schema["$defs"]["Nature"] = {"type": "integer", "enum": [1, 2, 3]}


def _ajouter_requis(schema: Schema) -> None:
    schema["properties"]["lieu_id"] = {"type": "string", "format": "uuid"}
    schema["required"].append("lieu_id")


def _retrecir_enumeration(schema: Schema) -> None:
    schema["$defs"]["Nature"]["enum"].remove("tutelle")


def _changer_format(schema: Schema) -> None:
    schema["properties"]["date_debut"]["format"] = "date-time"


def _resserrer_motif(schema: Schema) -> None:
    schema["properties"]["reference_decision"]["pattern"] = "^[A-Z]{2}-[0-9]+$"


def _retirer_null(schema: Schema) -> None:
    schema["properties"]["date_echeance"] = {"type": "string", "format": "date"}


def _rendre_nullable(schema: Schema) -> None:
    schema["properties"]["date_debut"] = {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]}


def _fermer(schema: Schema) -> None:
    schema["additionalProperties"] = False


def _borner(schema: Schema) -> None:
    schema["properties"]["reference_decision"]["maxLength"] = 20


def _elargir_enumeration(schema: Schema) -> None:
    schema["$defs"]["Nature"]["enum"].append("mesure_nouvelle")


def _ouvrir_enumeration(schema: Schema) -> None:
    schema["$defs"]["Nature"] = {"type": "string", "title": "Nature"}


def _retirer_motif(schema: Schema) -> None:
    schema["properties"]["reference_decision"]["pattern"] = "^.+$"


def _relacher_borne(schema: Schema) -> None:
    schema["properties"]["reference_decision"]["maxLength"] = 20


@pytest.mark.parametrize(
    ("mutation", "attendu"),
    [
        pytest.param(_retirer_propriete, "'reference_decision' removed", id="removed property"),
        pytest.param(_retyper, "'date_debut' retyped: string -> integer", id="retyped property"),
        pytest.param(_retyper_sous_nullable, "'date_echeance' retyped", id="retyped under a nullable anyOf"),
        pytest.param(_retyper_par_ref, "'nature' retyped: string -> integer", id="retyped through $ref"),
        pytest.param(_ajouter_requis, "'lieu_id' added as a required property", id="new required property"),
        pytest.param(
            _retrecir_enumeration, "'nature' enumeration narrowed, values removed: 'tutelle'", id="narrowed enum"
        ),
        pytest.param(_changer_format, "'date_debut' format changed: date -> date-time", id="format change"),
        pytest.param(_resserrer_motif, "'reference_decision' pattern changed", id="new pattern"),
        pytest.param(_retirer_null, "'date_echeance' no longer accepts null", id="no longer nullable"),
        pytest.param(_rendre_nullable, "'date_debut' became nullable", id="became nullable"),
        pytest.param(_fermer, "the payload no longer accepts additional properties", id="closed object"),
        pytest.param(_borner, "'reference_decision' maxLength tightened", id="tighter bound"),
        pytest.param(
            _elargir_enumeration, "'nature' enumeration widened, values added: 'mesure_nouvelle'", id="widened enum"
        ),
        pytest.param(_ouvrir_enumeration, "'nature' no longer restricted to its enumeration", id="enum dropped"),
    ],
)
def test_the_checker_reports_a_breaking_change_to_mesure_decidee(mutation: Mutation, attendu: str) -> None:
    ancien = schema_engage(MESURE_DECIDEE_V1)
    nouveau = copy.deepcopy(ancien)
    mutation(nouveau)
    cassants = changements_cassants(ancien, nouveau)
    assert any(attendu in c for c in cassants), cassants


@pytest.mark.parametrize(
    ("mutation", "attendu"),
    [
        pytest.param(_retirer_motif, "'reference_decision' pattern dropped: ^.+$", id="pattern dropped"),
        pytest.param(_relacher_borne, "'reference_decision' maxLength loosened: 20 -> (none)", id="looser bound"),
    ],
)
def test_the_checker_reports_a_constraint_a_consumer_checks_being_loosened(mutation: Mutation, attendu: str) -> None:
    """A consumer validating with the published schema would refuse what the looser one lets through."""
    ancien = schema_engage(MESURE_DECIDEE_V1)
    mutation(ancien)
    assert any(attendu in c for c in changements_cassants(ancien, schema_engage(MESURE_DECIDEE_V1)))


def test_a_property_added_to_a_closed_object_is_breaking() -> None:
    ancien = schema_engage(MESURE_DECIDEE)
    ancien["additionalProperties"] = False
    nouveau = copy.deepcopy(ancien)
    nouveau["properties"]["commentaire_public"] = {"type": "string"}
    assert changements_cassants(ancien, nouveau) == [
        "'commentaire_public' added to an object closed to additional properties (consumers reject it)"
    ]


def test_an_optional_property_becoming_required_is_breaking() -> None:
    ancien = schema_engage(MESURE_DECIDEE)
    ancien["required"].remove("date_echeance")
    assert changements_cassants(ancien, schema_engage(MESURE_DECIDEE)) == [
        "'date_echeance' became required (published events may lack it)"
    ]
    assert changements_cassants(schema_engage(MESURE_DECIDEE), ancien) == [
        "'date_echeance' no longer required (consumers rely on it)"
    ]


def test_narrowing_an_enumeration_inside_a_list_is_breaking() -> None:
    ip = "fr.ase.parcours.information_preoccupante_recue.v1"
    ancien = schema_engage(ip)
    nouveau = copy.deepcopy(ancien)
    nouveau["$defs"]["Danger"]["enum"].remove("negligences")
    assert changements_cassants(ancien, nouveau) == ["'dangers[]' enumeration narrowed, values removed: 'negligences'"]


def test_tightening_the_departement_pattern_is_breaking() -> None:
    ouvert = "fr.ase.parcours.parcours_ouvert.v1"
    ancien = schema_engage(ouvert)
    nouveau = copy.deepcopy(ancien)
    nouveau["properties"]["departement"]["pattern"] = "^[0-9]{2}$"
    assert changements_cassants(ancien, nouveau) == [
        "'departement' pattern changed: ^(0[1-9]|1\\d|2[1-9AB]|[3-8]\\d|9[0-5]|97[1-6])$ -> ^[0-9]{2}$"
    ]


def _ajouter_optionnelle(schema: Schema) -> None:
    schema["properties"]["commentaire_public"] = {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}


def _reformuler(schema: Schema) -> None:
    schema["description"] = "Reworded."
    schema["properties"]["date_debut"]["title"] = "Début"


@pytest.mark.parametrize(
    ("type_ce", "mutation"),
    [
        pytest.param(MESURE_DECIDEE, _ajouter_optionnelle, id="new optional property"),
        pytest.param(MESURE_DECIDEE, _reformuler, id="titles and descriptions"),
    ],
)
def test_a_compatible_change_reports_nothing(type_ce: str, mutation: Mutation) -> None:
    ancien = schema_engage(type_ce)
    nouveau = copy.deepcopy(ancien)
    mutation(nouveau)
    assert changements_cassants(ancien, nouveau) == []


def test_every_committed_schema_is_compatible_with_itself() -> None:
    for fichier in sorted(SCHEMAS.glob("*.json")):
        schema = json.loads(fichier.read_text(encoding="utf-8"))
        assert changements_cassants(schema, copy.deepcopy(schema)) == [], fichier.name


class _MesureDecideeCommentee(MesureDecidee):
    """MesureDecidee v1 with one more optional field: what a compatible evolution looks like."""

    commentaire_public: str | None = None

    @classmethod
    def nom_evenement(cls) -> str:
        return "MesureDecidee"


class _MesureDecideeSansNull(PayloadParcours):
    """MesureDecidee v2 where the échéance became mandatory and a field appeared: a breaking edit."""

    version: ClassVar[int] = 2

    mesure_id: UUID
    cadre: str
    nature: str
    autorite: str
    date_debut: date
    date_echeance: date
    duree_derogatoire: bool = False
    juridiction: str

    @classmethod
    def nom_evenement(cls) -> str:
        return "MesureDecidee"


class _MesureDecideeV3(_MesureDecideeSansNull):
    """The same edit published the right way: as version 3, beside version 2."""

    version: ClassVar[int] = 3


def test_a_model_gaining_an_optional_field_stays_compatible() -> None:
    assert _MesureDecideeCommentee.type_cloudevents() == MESURE_DECIDEE
    nouveau = generation.schema_evenement(_MesureDecideeCommentee)
    assert changements_cassants(schema_engage(MESURE_DECIDEE), nouveau) == []


def test_a_model_edited_in_place_is_caught_field_by_field() -> None:
    nouveau = generation.schema_evenement(_MesureDecideeSansNull)
    ouverte = "no longer restricted to its enumeration (consumers validating it reject other values)"
    assert sorted(changements_cassants(schema_engage(MESURE_DECIDEE), nouveau)) == [
        f"'autorite' {ouverte}",
        f"'cadre' {ouverte}",
        "'date_echeance' no longer accepts null (published events may hold null)",
        "'juridiction' added as a required property (published events lack it)",
        f"'nature' {ouverte}",
    ]


# -- generation refuses to break what is published -----------------------------------------


def _copie_des_contrats(destination: Path) -> None:
    for chemin, contenu in generation.fichiers_attendus().items():
        (destination / chemin).parent.mkdir(parents=True, exist_ok=True)
        (destination / chemin).write_text(contenu, encoding="utf-8")


def _payloads_avec(*modeles: type[Payload]) -> dict[str, type[Payload]]:
    return {**PAYLOADS, **{m.type_cloudevents(): m for m in modeles}}


def test_generation_refuses_to_overwrite_a_published_schema_with_a_breaking_change(tmp_path: Path) -> None:
    _copie_des_contrats(tmp_path)
    fichier = tmp_path / generation.SOUS_DOSSIER_SCHEMAS / f"{MESURE_DECIDEE}.json"
    avant = fichier.read_text(encoding="utf-8")

    with pytest.raises(generation.GenerationRefusee) as refus:
        generation.generer(tmp_path, _payloads_avec(_MesureDecideeSansNull))

    assert f"schemas/{MESURE_DECIDEE}.json: 'juridiction' added as a required property" in str(refus.value)
    assert fichier.read_text(encoding="utf-8") == avant
    assert generation.ecarts(tmp_path) == []  # nothing at all was written


def test_a_breaking_change_published_as_version_2_is_generated_beside_version_1(tmp_path: Path) -> None:
    _copie_des_contrats(tmp_path)
    v2 = _MesureDecideeV3.type_cloudevents()
    assert v2 == "fr.ase.parcours.mesure_decidee.v3"

    ecrits = generation.generer(tmp_path, _payloads_avec(_MesureDecideeV3))

    # Version 1 names its latest successor too.
    assert ecrits == [
        generation.FICHIER_ASYNCAPI,
        f"schemas/{MESURE_DECIDEE_V1}.json",
        f"schemas/{MESURE_DECIDEE}.json",
        f"schemas/{v2}.json",
    ]
    assert json.loads((tmp_path / f"schemas/{v2}.json").read_text(encoding="utf-8"))["$id"] == url_schema(v2)
    # Version 1 only gains its deprecation notice: its events stay on the topic, readable as before.
    v1 = json.loads((tmp_path / f"schemas/{MESURE_DECIDEE}.json").read_text(encoding="utf-8"))
    assert v1["deprecated"] is True
    assert f"superseded by {v2}" in v1["description"]
    assert changements_cassants(schema_engage(MESURE_DECIDEE), v1) == []
    assert {k: v for k, v in v1.items() if k not in ("deprecated", "description")} == {
        k: v for k, v in schema_engage(MESURE_DECIDEE).items() if k != "description"
    }


def test_generation_accepts_a_compatible_change_and_rewrites_the_schema(tmp_path: Path) -> None:
    _copie_des_contrats(tmp_path)
    ecrits = generation.generer(tmp_path, _payloads_avec(_MesureDecideeCommentee))
    assert f"schemas/{MESURE_DECIDEE}.json" in ecrits
    assert "commentaire_public" in (tmp_path / f"schemas/{MESURE_DECIDEE}.json").read_text(encoding="utf-8")


def test_generation_refuses_to_drop_a_published_schema_whose_model_disappeared(tmp_path: Path) -> None:
    _copie_des_contrats(tmp_path)
    sans_mesure = {t: p for t, p in PAYLOADS.items() if t != MESURE_DECIDEE}
    with pytest.raises(generation.GenerationRefusee, match="no model produces it any more"):
        generation.generer(tmp_path, sans_mesure)


def test_the_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    _copie_des_contrats(tmp_path)
    (tmp_path / generation.FICHIER_ASYNCAPI).write_text("{}\n", encoding="utf-8")
    (tmp_path / generation.FICHIER_ENVELOPPE).unlink()
    assert generation.ecarts(tmp_path) == ["asyncapi.json: differs from the models", "schemas/enveloppe.json: missing"]


# -- (d) one schema per published type, no orphan ------------------------------------------


def test_every_published_type_has_a_schema_file_and_every_schema_file_a_published_type() -> None:
    fichiers = {f.name.removesuffix(".json") for f in SCHEMAS.glob("*.json")}
    publies = {*PAYLOADS, TYPE_EFFACEMENT_IDENTITE, TYPE_FAITS_RESTREINTS, *map(type_cloudevents, EvenementAlerte)}
    assert fichiers - {"enveloppe", "enveloppe_alertes"} == publies, (
        f"missing: {publies - fichiers}, orphans: {fichiers - publies}"
    )
    for type_ce in publies:
        schema = schema_engage(type_ce)
        assert schema["$id"] == url_schema(type_ce)
        assert schema["title"]
    assert len(PAYLOADS) == 41


def test_each_schema_names_its_model_and_describes_the_wire_format() -> None:
    for type_ce, modele in PAYLOADS.items():
        schema = schema_engage(type_ce)
        assert schema["title"] == modele.nom_evenement()
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["additionalProperties"] is True  # later minor additions must not break readers
        assert set(schema["required"]) == {n for n, c in modele.model_fields.items() if c.is_required()}


# -- (e) the AsyncAPI document --------------------------------------------------------------


def _asyncapi() -> Schema:
    document: Schema = json.loads((CONTRATS / generation.FICHIER_ASYNCAPI).read_text(encoding="utf-8"))
    return document


def _resoudre(document: Schema, ref: str) -> Any:
    cible: Any = document
    for morceau in ref.removeprefix("#/").split("/"):
        cible = cible[morceau]
    return cible


def test_the_asyncapi_document_is_asyncapi_3_and_lists_every_message() -> None:
    document = _asyncapi()
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"]
    assert document["info"]["version"]
    canaux = document["channels"]
    assert {c["address"] for c in canaux.values()} >= {TOPIC_PARCOURS, TOPIC_IDENTITES}

    messages = document["components"]["messages"]
    for type_ce, modele in PAYLOADS.items():
        canal = "identites" if issubclass(modele, PayloadIdentite) else "parcours"
        assert type_ce in messages, type_ce
        assert canaux[canal]["messages"][type_ce] == {"$ref": f"#/components/messages/{type_ce}"}
        operation = document["operations"][f"publier_{canal}"]
        envoye = {"$ref": f"#/channels/{canal}/messages/{type_ce}"} in operation["messages"]
        assert envoye == (PAYLOADS_COURANTS[modele.nom_evenement()] is modele), type_ce
        assert messages[type_ce]["payload"] == {"$ref": f"schemas/{type_ce}.json"}
        assert messages[type_ce]["name"] == modele.nom_evenement()
    assert TYPE_EFFACEMENT_IDENTITE in canaux["identites"]["messages"]


def test_the_asyncapi_topics_carry_their_kafka_keys_and_policies() -> None:
    document = _asyncapi()
    canaux, messages = document["channels"], document["components"]["messages"]
    assert canaux["identites"]["bindings"]["kafka"]["topicConfiguration"]["cleanup.policy"] == ["compact"]
    assert canaux["parcours"]["bindings"]["kafka"]["topicConfiguration"]["retention.ms"] == -1
    assert messages[MESURE_DECIDEE]["bindings"]["kafka"]["key"]["description"].startswith("parcours_id")
    assert messages["fr.ase.parcours.lieu_accueil_ferme.v1"]["bindings"]["kafka"]["key"]["description"].startswith(
        "lieu_id"
    )
    assert messages["fr.ase.identite.identite_enregistree.v1"]["bindings"]["kafka"]["key"]["description"].startswith(
        "personne_id"
    )
    entetes = messages[MESURE_DECIDEE]["headers"]["allOf"]
    assert entetes[0] == {"$ref": generation.FICHIER_ENVELOPPE}
    assert entetes[1]["properties"]["ce_type"] == {"const": MESURE_DECIDEE}


def test_every_reference_in_the_asyncapi_document_resolves() -> None:
    document = _asyncapi()
    references: list[str] = []

    def collecter(noeud: Any) -> None:
        if isinstance(noeud, dict):
            references.extend([noeud["$ref"]] if isinstance(noeud.get("$ref"), str) else [])
            for valeur in noeud.values():
                collecter(valeur)
        elif isinstance(noeud, list):
            for valeur in noeud:
                collecter(valeur)

    collecter(document)
    assert len(references) > 3 * len(PAYLOADS)
    for ref in references:
        if ref.startswith("#/"):
            assert isinstance(_resoudre(document, ref), dict), ref
        else:
            assert (CONTRATS / ref).is_file(), ref


# -- (f) sample payloads and headers validate against the committed schemas -----------------

_VALEURS_PAR_CHAMP: dict[str, Any] = {
    "mois_naissance": "2012-04",
    "mois_effet": "2030-04",
    "mois_debut": "2030-04",
    "mois_fin": "2033-04",
    "departement": "59",
    "departement_origine": "59",
    "departement_destination": "2A",
    "champ": "date_naissance",
    "ancienne_valeur": "2012-04",
    "nouvelle_valeur": "2012-05",
    "finess": "590000000",
}


def _valeur(annotation: Any, plein: bool) -> Any:
    """A JSON value for a field of that type; ``plein`` fills the optional ones, else they are null."""
    origine, arguments = get_origin(annotation), get_args(annotation)
    if origine in (Union, UnionType):
        presents = [a for a in arguments if a is not type(None)]
        return _valeur(presents[0], plein) if plein or len(presents) == len(arguments) else None
    if origine is list:
        return [_valeur(arguments[0], plein)]
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return list(annotation)[-1 if plein else 0].value
    exemples: dict[Any, Any] = {
        UUID: "7d3c5a2e-1f4b-4c8e-9a6d-2b1e0f9c8a7d",
        date: "2025-03-01",
        bool: True,
        int: 12,
        str: "ref-2025-0042",
    }
    return exemples[annotation]


def exemple(modele: type[Payload], *, plein: bool) -> Schema:
    """A sample body of ``modele`` as the relay would publish it (through the model's own serialisation)."""
    donnees = {
        nom: _VALEURS_PAR_CHAMP[nom] if nom in _VALEURS_PAR_CHAMP else _valeur(champ.annotation, plein)
        for nom, champ in modele.model_fields.items()
    }
    corps: Schema = json.loads(modele.model_validate_json(json.dumps(donnees)).model_dump_json())
    return corps


def valider(schema: Schema, valeur: Any) -> list[str]:
    """Errors of ``valeur`` against ``schema`` (JSON Schema 2020-12, formats checked)."""
    validateur = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return [e.message for e in validateur.iter_errors(valeur)]


@pytest.mark.parametrize("type_ce", sorted(PAYLOADS))
@pytest.mark.parametrize("plein", [True, False], ids=["optional fields set", "optional fields null"])
def test_a_sample_payload_validates_against_its_committed_schema(type_ce: str, plein: bool) -> None:
    modele = PAYLOADS[type_ce]
    corps = exemple(modele, plein=plein)
    assert valider(schema_engage(type_ce), corps) == []
    assert modele.model_validate_json(json.dumps(corps)) == modele.model_validate(corps)


def test_the_committed_schemas_reject_what_the_models_reject() -> None:
    ouvert = PAYLOADS["fr.ase.parcours.parcours_ouvert.v1"]
    schema = schema_engage(ouvert.type_cloudevents())
    for champ, mauvais in [("mois_naissance", "2012-13"), ("departement", "20"), ("sexe", "Z"), ("personne_id", 3)]:
        corps = {**exemple(ouvert, plein=True), champ: mauvais}
        assert valider(schema, corps), champ
        with pytest.raises(ValueError, match=champ):
            ouvert.model_validate(corps)
    sans_date = {k: v for k, v in exemple(ouvert, plein=True).items() if k != "date_effet"}
    assert valider(schema, sans_date)


def test_the_erasure_tombstone_schema_accepts_only_a_null_value() -> None:
    schema = schema_engage(TYPE_EFFACEMENT_IDENTITE)
    assert valider(schema, None) == []
    assert valider(schema, {}) != []


def test_the_headers_an_envelope_writes_validate_against_the_envelope_schema() -> None:
    flux = UUID("7d3c5a2e-1f4b-4c8e-9a6d-2b1e0f9c8a7d")
    enveloppe = Enveloppe(
        id=identifiant_evenement(flux, 3),
        source="/ase/59/parcours",
        type=MESURE_DECIDEE,
        subject=str(flux),
        time=datetime(2025, 3, 1, 9, 30, tzinfo=UTC),
        dataschema=url_schema(MESURE_DECIDEE),
        sequence=3,
        partitionkey=str(flux),
        correlationid="req-8f2a",
        causationid="req-8f2a",
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        auteur="referent-42",
    )
    entetes = {nom: valeur.decode() for nom, valeur in enveloppe.entetes()}
    schema = schema_engage("enveloppe")
    assert valider(schema, entetes) == []
    assert list(schema["required"]) == list(entetes)
    for source in ("/ase/2A/lieux", "/ase/identites"):
        assert valider(schema, {**entetes, "ce_source": source}) == []
    for nom, mauvais in [("ce_specversion", "0.3"), ("ce_type", "MesureDecidee"), ("ce_sequence", "trois")]:
        assert valider(schema, {**entetes, nom: mauvais}), nom


# -- (g) issue 7: two optional fields stay in version 1, a new lieu type makes version 2 ----

_NOUVEAUX_CHAMPS = [
    (MESURE_DECIDEE, "duree_derogatoire"),
    ("fr.ase.parcours.accompagnement_jeune_majeur_accorde.v1", "fin_annee_engagee"),
    ("fr.ase.parcours.accompagnement_jeune_majeur_renouvele.v1", "fin_annee_engagee"),
]
_PORTEURS_DU_TYPE_DE_LIEU = [
    (AccueilDebuteV1, AccueilDebute, "type_lieu"),
    (LieuAccueilChangeV1, LieuAccueilChange, "type_lieu"),
    (LieuAccueilReferenceV1, LieuAccueilReference, "type"),
]


def _sans(schema: Schema, champ: str) -> Schema:
    """``schema`` as committed before ``champ`` existed."""
    ancien = copy.deepcopy(schema)
    del ancien["properties"][champ]
    return ancien


@pytest.mark.parametrize(("type_ce", "champ"), _NOUVEAUX_CHAMPS)
def test_a_consumer_of_yesterdays_schema_reads_a_message_with_the_new_optional_field(type_ce: str, champ: str) -> None:
    hier = _sans(schema_engage(type_ce), champ)
    corps = {**exemple(PAYLOADS[type_ce], plein=True), champ: True}

    assert valider(hier, corps) == []
    assert changements_cassants(hier, schema_engage(type_ce)) == []
    assert PAYLOADS[type_ce].model_fields[champ].is_required() is False
    ancien_message = {k: v for k, v in corps.items() if k != champ}
    assert getattr(PAYLOADS[type_ce].model_validate(ancien_message), champ) is False


def test_hebergement_derogatoire_is_the_only_lieu_type_version_1_lacks() -> None:
    assert [t.value for t in TypeLieu if t.value not in set(TypeLieuV1)] == ["hebergement_derogatoire"]
    assert [t.value for t in TypeLieuV1] == [t.value for t in TypeLieu][:-1]


@pytest.mark.parametrize(("v1", "v2", "champ"), _PORTEURS_DU_TYPE_DE_LIEU)
def test_a_consumer_of_version_1_could_not_read_a_derogatory_placement_so_it_goes_out_as_version_2(
    v1: type[Payload], v2: type[Payload], champ: str
) -> None:
    corps = {**exemple(v2, plein=True), champ: "hebergement_derogatoire"}

    assert v2.version == 2
    assert v2.nom_evenement() == v1.nom_evenement()
    assert valider(schema_engage(v2.type_cloudevents()), corps) == []
    assert valider(schema_engage(v1.type_cloudevents()), corps) != []
    assert PAYLOADS_COURANTS[v2.nom_evenement()] is v2


def test_the_checker_refuses_a_lieu_type_added_to_version_1(tmp_path: Path) -> None:
    """Regression: ``hebergement_derogatoire`` was added to the enumeration of the v1 events."""
    _copie_des_contrats(tmp_path)

    class AccueilDebuteElargi(AccueilDebuteV1):
        """Version 1 as it was edited: today's ``TypeLieu``, no new version."""

        type_lieu: TypeLieu  # type: ignore[assignment]

        @classmethod
        def nom_evenement(cls) -> str:
            return "AccueilDebute"

    assert AccueilDebuteElargi.type_cloudevents() == AccueilDebuteV1.type_cloudevents()
    with pytest.raises(generation.GenerationRefusee) as refus:
        generation.generer(tmp_path, _payloads_avec(AccueilDebuteElargi))

    assert str(refus.value) == (
        f"schemas/{AccueilDebuteV1.type_cloudevents()}.json: 'type_lieu' enumeration widened, values added: "
        "'hebergement_derogatoire' (consumers validating the published enumeration reject them)"
    )


@pytest.mark.parametrize(("v1", "v2", "champ"), _PORTEURS_DU_TYPE_DE_LIEU)
def test_a_superseded_version_stays_documented_as_deprecated(v1: type[Payload], v2: type[Payload], champ: str) -> None:
    ancien, courant = schema_engage(v1.type_cloudevents()), schema_engage(v2.type_cloudevents())
    message = _asyncapi()["components"]["messages"][v1.type_cloudevents()]

    assert ancien["deprecated"] is True
    assert f"superseded by {v2.type_cloudevents()}" in ancien["description"]
    assert "deprecated" not in courant
    assert "Deprecated" in message["summary"]
    assert v1.model_validate(exemple(v1, plein=True))  # events already on the topic stay readable
    # Version 2 is version 1 with one more lieu type: nothing else moved.
    assert changements_cassants(ancien, courant) == [
        f"'{champ}' enumeration widened, values added: 'hebergement_derogatoire' "
        "(consumers validating the published enumeration reject them)"
    ]


def test_the_relay_publishes_one_version_per_event_the_latest() -> None:
    assert set(PAYLOADS_COURANTS) == {p.nom_evenement() for p in PAYLOADS.values()}
    for nom, modele in PAYLOADS_COURANTS.items():
        assert modele.version == max(p.version for p in PAYLOADS.values() if p.nom_evenement() == nom)
        assert generation.successeur(modele) is None
    assert {p.nom_evenement() for p in PAYLOADS.values() if p.version > 1} == {
        "AccueilDebute",
        "LieuAccueilChange",
        "LieuAccueilReference",
        "MesureDecidee",
        "MesureRenouvelee",
        # Dated by the 18th birthday: the month only on the public topic.
        "MajoriteAtteinte",
        "MesureLevee",
        "AccueilTermine",
        "FugueTerminee",
        "AccompagnementJeuneMajeurAccorde",
        "AccompagnementJeuneMajeurRenouvele",
        "SaisieRectifiee",
    }
