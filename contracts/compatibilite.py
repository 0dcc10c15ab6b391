"""Breaking changes between two JSON Schemas of one published event type and version.

Events stay on their topic for ever, and both sides of a version must hold:

- a consumer of the new schema reads every event already published (nothing
  becomes required, nothing is narrowed or retyped);
- a consumer of today's schema reads every new message: a consumer may validate
  with the published schema, so nothing it checks may loosen either. A new
  enumeration value, a dropped or changed pattern or format, a looser bound or a
  new ``null`` would each be refused by such a reader.

So within a version a schema may only gain optional properties (where the object
allows additional ones) and change its titles and descriptions. Anything else
needs a new version (``version = 2``) beside the old one.

The comparison follows ``$ref`` into ``$defs`` and looks through ``anyOf`` /
``oneOf`` wrappers (``date | None`` is a nullable date, not a new type), so a
change is reported where a reader would meet it: ``'nature': ...``.
"""

from __future__ import annotations

import operator
from typing import Any

Schema = dict[str, Any]

_TOUT: frozenset[str] = frozenset({"any JSON value"})
"""The type set of a schema with no type constraint (``{}``, pydantic's ``JsonValue``)."""

_TYPES_JSON: dict[type, str] = {
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
    list: "array",
    dict: "object",
}
_MINIMA = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_MAXIMA = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")


def changements_cassants(ancien: Schema, nouveau: Schema) -> list[str]:
    """What in ``nouveau`` breaks a producer or a consumer relying on ``ancien``, one sentence each."""
    comparaison = _Comparaison(ancien, nouveau)
    comparaison.noeud(ancien, nouveau, "")
    return comparaison.cassants


class _Comparaison:
    """One walk over two schemas side by side, collecting what breaks."""

    def __init__(self, racine_ancienne: Schema, racine_nouvelle: Schema) -> None:
        self.racine_ancienne = racine_ancienne
        self.racine_nouvelle = racine_nouvelle
        self.cassants: list[str] = []
        # The $ref pairs being compared up the stack: a recursive model must not recurse for ever.
        self._en_cours: set[tuple[tuple[str, ...], tuple[str, ...]]] = set()

    def noeud(self, ancien: Schema, nouveau: Schema, chemin: str) -> None:
        a, refs_a = _deplier(ancien, self.racine_ancienne)
        n, refs_n = _deplier(nouveau, self.racine_nouvelle)
        cle = (refs_a, refs_n)
        if (refs_a or refs_n) and cle in self._en_cours:
            return
        self._en_cours.add(cle)
        try:
            self._comparer(a, n, chemin)
        finally:
            self._en_cours.discard(cle)

    def _comparer(self, a: Schema, n: Schema, chemin: str) -> None:
        branches_a = _branches(a, self.racine_ancienne)
        branches_n = _branches(n, self.racine_nouvelle)
        types_a, types_n = _types(branches_a), _types(branches_n)
        if types_a - {"null"} != types_n - {"null"}:
            self.cassants.append(f"{_nom(chemin)} retyped: {_decrire(types_a)} -> {_decrire(types_n)}")
            return
        if "null" in types_a and "null" not in types_n:
            self.cassants.append(f"{_nom(chemin)} no longer accepts null (published events may hold null)")
        elif "null" in types_n and "null" not in types_a:
            self.cassants.append(f"{_nom(chemin)} became nullable (consumers expect a value)")

        non_nulles_a = [b for b in branches_a if _types_branche(b) != {"null"}]
        non_nulles_n = [b for b in branches_n if _types_branche(b) != {"null"}]
        if len(non_nulles_a) == 1 and len(non_nulles_n) == 1:
            self._contraintes(non_nulles_a[0], non_nulles_n[0], chemin)
            return
        # Several alternatives: pair them by type where each type has one alternative.
        par_type_a = _par_type(non_nulles_a)
        par_type_n = _par_type(non_nulles_n)
        for signature, branche_a in par_type_a.items():
            branche_n = par_type_n.get(signature)
            if branche_a is not None and branche_n is not None:
                self._contraintes(branche_a, branche_n, chemin)

    def _contraintes(self, a: Schema, n: Schema, chemin: str) -> None:
        """The constraints of one alternative: enumeration, format, pattern, bounds, then nested members."""
        nom = _nom(chemin)
        self._enumeration(a, n, nom)
        self._format_et_motif(a, n, nom)
        self._bornes(a, n, nom)

        types = _types_branche(a)
        if "object" in types:
            self._objet(a, n, chemin)
        if "array" in types and isinstance(a.get("items"), dict) and isinstance(n.get("items"), dict):
            self.noeud(a["items"], n["items"], f"{chemin}[]")

    def _enumeration(self, a: Schema, n: Schema, nom: str) -> None:
        """Narrowed breaks old events; widened breaks consumers validating the published enumeration."""
        valeurs_a, valeurs_n = _valeurs(a), _valeurs(n)
        if valeurs_a is None:
            if valeurs_n is not None:
                self.cassants.append(f"{nom} restricted to an enumeration: {_liste(valeurs_n)}")
            return
        if valeurs_n is None:
            self.cassants.append(
                f"{nom} no longer restricted to its enumeration (consumers validating it reject other values)"
            )
            return
        retirees = [v for v in valeurs_a if v not in valeurs_n]
        if retirees:
            self.cassants.append(f"{nom} enumeration narrowed, values removed: {_liste(retirees)}")
        ajoutees = [v for v in valeurs_n if v not in valeurs_a]
        if ajoutees:
            self.cassants.append(
                f"{nom} enumeration widened, values added: {_liste(ajoutees)} "
                "(consumers validating the published enumeration reject them)"
            )

    def _format_et_motif(self, a: Schema, n: Schema, nom: str) -> None:
        if a.get("format") != n.get("format"):
            self.cassants.append(f"{nom} format changed: {a.get('format', '(none)')} -> {n.get('format', '(none)')}")
        if "pattern" in n and a.get("pattern") != n["pattern"]:
            self.cassants.append(f"{nom} pattern changed: {a.get('pattern', '(none)')} -> {n['pattern']}")
        elif "pattern" in a and "pattern" not in n:
            self.cassants.append(f"{nom} pattern dropped: {a['pattern']} (consumers validating it reject other values)")

    def _bornes(self, a: Schema, n: Schema, nom: str) -> None:
        """A tighter bound breaks old events; a looser one, consumers validating the published bound."""
        for mots, plus_strict in ((_MINIMA, operator.gt), (_MAXIMA, operator.lt)):
            for mot in mots:
                if mot in n and (mot not in a or plus_strict(n[mot], a[mot])):
                    self.cassants.append(f"{nom} {mot} tightened: {a.get(mot, '(none)')} -> {n[mot]}")
                elif mot in a and (mot not in n or plus_strict(a[mot], n[mot])):
                    self.cassants.append(f"{nom} {mot} loosened: {a[mot]} -> {n.get(mot, '(none)')}")

    def _objet(self, a: Schema, n: Schema, chemin: str) -> None:
        proprietes_a: Schema = a.get("properties", {})
        proprietes_n: Schema = n.get("properties", {})
        requises_a, requises_n = set(a.get("required", [])), set(n.get("required", []))
        for nom, sous_schema in proprietes_a.items():
            sous_chemin = f"{chemin}.{nom}" if chemin else nom
            if nom not in proprietes_n:
                self.cassants.append(f"{_nom(sous_chemin)} removed")
                continue
            if nom in requises_n and nom not in requises_a:
                self.cassants.append(f"{_nom(sous_chemin)} became required (published events may lack it)")
            elif nom in requises_a and nom not in requises_n:
                self.cassants.append(f"{_nom(sous_chemin)} no longer required (consumers rely on it)")
            self.noeud(sous_schema, proprietes_n[nom], sous_chemin)
        for nom in sorted(requises_n - proprietes_a.keys()):
            sous_chemin = f"{chemin}.{nom}" if chemin else nom
            self.cassants.append(f"{_nom(sous_chemin)} added as a required property (published events lack it)")
        if a.get("additionalProperties", True) is False:
            for nom in sorted(proprietes_n.keys() - proprietes_a.keys()):
                sous_chemin = f"{chemin}.{nom}" if chemin else nom
                self.cassants.append(
                    f"{_nom(sous_chemin)} added to an object closed to additional properties (consumers reject it)"
                )
        if a.get("additionalProperties", True) is not False and n.get("additionalProperties", True) is False:
            self.cassants.append(f"{_nom(chemin)} no longer accepts additional properties")


def _deplier(schema: Schema, racine: Schema) -> tuple[Schema, tuple[str, ...]]:
    """``schema`` with its local ``$ref`` chain and any ``allOf`` merged in; the refs followed."""
    refs: list[str] = []
    courant = schema
    while isinstance(courant.get("$ref"), str) and courant["$ref"] not in refs:
        ref: str = courant["$ref"]
        refs.append(ref)
        cible = _pointer(racine, ref)
        courant = {**cible, **{k: v for k, v in courant.items() if k != "$ref"}}
    if "allOf" in courant:
        fusion = {k: v for k, v in courant.items() if k != "allOf"}
        for partie in courant["allOf"]:
            depliee, refs_partie = _deplier(partie, racine)
            refs.extend(refs_partie)
            for cle, valeur in depliee.items():
                if cle == "properties":
                    fusion["properties"] = {**fusion.get("properties", {}), **valeur}
                elif cle == "required":
                    fusion["required"] = [*fusion.get("required", []), *valeur]
                else:
                    fusion.setdefault(cle, valeur)
        courant = fusion
    return courant, tuple(refs)


def _pointer(racine: Schema, ref: str) -> Schema:
    """Resolve a local JSON pointer (``#/$defs/Nature``)."""
    if not ref.startswith("#"):
        raise ValueError(f"only local $ref are compared, not {ref!r}")
    cible: Any = racine
    for morceau in ref[1:].split("/")[1:]:
        cible = cible[morceau.replace("~1", "/").replace("~0", "~")]
    if not isinstance(cible, dict):
        raise ValueError(f"$ref {ref!r} does not point to a schema")
    return cible


def _branches(schema: Schema, racine: Schema) -> list[Schema]:
    """The alternatives of ``schema``, ``anyOf`` / ``oneOf`` flattened, each one unfolded."""
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if not alternatives:
        return [schema]
    resultat: list[Schema] = []
    for alternative in alternatives:
        depliee, _ = _deplier(alternative, racine)
        resultat.extend(_branches(depliee, racine))
    return resultat


def _types_branche(schema: Schema) -> frozenset[str]:
    declare = schema.get("type")
    if isinstance(declare, str):
        return frozenset({declare})
    if isinstance(declare, list):
        return frozenset(declare)
    valeurs = _valeurs(schema)
    if valeurs is not None:
        return frozenset(_TYPES_JSON.get(type(v), "object") for v in valeurs)
    if "properties" in schema:
        return frozenset({"object"})
    if "items" in schema:
        return frozenset({"array"})
    return _TOUT


def _types(branches: list[Schema]) -> frozenset[str]:
    types = [_types_branche(b) for b in branches]
    if any(t == _TOUT for t in types):
        return _TOUT
    return frozenset().union(*types)


def _par_type(branches: list[Schema]) -> dict[frozenset[str], Schema | None]:
    """Alternatives keyed by their type set; ``None`` where two alternatives share one (not paired)."""
    resultat: dict[frozenset[str], Schema | None] = {}
    for branche in branches:
        signature = _types_branche(branche)
        resultat[signature] = None if signature in resultat else branche
    return resultat


def _valeurs(schema: Schema) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    enumeration = schema.get("enum")
    return list(enumeration) if isinstance(enumeration, list) else None


def _nom(chemin: str) -> str:
    return f"'{chemin}'" if chemin else "the payload"


def _decrire(types: frozenset[str]) -> str:
    return " | ".join(sorted(types))


def _liste(valeurs: list[Any]) -> str:
    return ", ".join(repr(v) for v in valeurs)
