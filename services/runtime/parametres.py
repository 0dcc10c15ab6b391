"""Strict types for what a request carries outside a command's body: query, path and header values.

Shared by every service, and by the command bodies where they take the same
words: a text is printable (DOMAIN.md), a day is ``AAAA-MM-JJ`` between 1900
and 2100, an instant is RFC 3339 with its zone, a département an INSEE code.
Their JSON Schema says exactly that (``pattern``, ``enum``), so the OpenAPI
document tells a client what is refused, and a generator of valid requests
(schemathesis) makes only requests the service accepts.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Annotated, Any, Final
from uuid import UUID

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    GetJsonSchemaHandler,
    StringConstraints,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue

from contracts.vocabulaire import Departement as _Departement
from contracts.vocabulaire import est_departement, texte_imprimable

JOUR: Final = r"^(19[0-9]{2}|20[0-9]{2}|2100)-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
"""A calendar day as API.md writes it (ISO 8601 ``AAAA-MM-JJ``), in the plausible years 1900-2100."""

INSTANT: Final = (
    r"^(19[0-9]{2}|20[0-9]{2}|2100)-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
"""An instant as API.md writes it: RFC 3339 with its zone (``Z`` or ``±hh:mm``), to the microsecond."""

UUID_CANONIQUE: Final = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
"""An id as this API writes it (RFC 9562's hyphenated form): one spelling per id."""

DEPARTEMENTS: Final = sorted(
    {f"{n:02d}" for n in range(1, 96) if n != 20} | {"2A", "2B"} | {str(n) for n in range(971, 977)}
)

_INVISIBLES: Final = frozenset({0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800})


def _intervalles(garder: Any) -> str:
    """A regular-expression class body of the code points ``garder`` keeps (surrogates never)."""
    morceaux: list[str] = []
    debut: int | None = None
    for point in range(0x110001):
        if point <= 0x10FFFF and not 0xD800 <= point <= 0xDFFF and garder(point):
            debut = point if debut is None else debut
        elif debut is not None:
            fin = point - 1
            morceaux.append(_point(debut) if fin == debut else f"{_point(debut)}-{_point(fin)}")
            debut = None
    return "".join(morceaux)


def _point(code: int) -> str:
    # BMP code points escaped (``\uXXXX`` reads the same in ECMA, Python and Rust patterns);
    # the others literally (ECMA has no 8-digit escape).
    return f"\\u{code:04x}" if code <= 0xFFFF else chr(code)


def _interdit(point: int) -> bool:
    return unicodedata.category(chr(point)) in {"Cc", "Cf", "Zl", "Zp"} or point in _INVISIBLES


def _visible(point: int) -> bool:
    return unicodedata.category(chr(point))[0] in "LNPS" and point not in _INVISIBLES


@cache
def _classe(garder: Any) -> str:
    return _intervalles(garder)


@cache
def motif_imprimable() -> str:
    """The pattern of ``texte_imprimable``: no forbidden character, and at least one that prints.

    Built from the same Unicode database as the check itself, so the two agree.
    """
    return f"^[^{_classe(_interdit)}]*[{_classe(_visible)}][^{_classe(_interdit)}]*$"


@dataclass(frozen=True)
class _SchemaTexte:
    """The JSON Schema of a printable text, built when a document is (the pattern takes a second)."""

    longueur_max: int

    def __get_pydantic_json_schema__(self, _schema: Any, _handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {"type": "string", "minLength": 1, "maxLength": self.longueur_max, "pattern": motif_imprimable()}


def _jour(valeur: object) -> object:
    if isinstance(valeur, date) and not isinstance(valeur, datetime):
        valeur = valeur.isoformat()
    if not isinstance(valeur, str) or not re.match(JOUR, valeur):
        raise ValueError("date attendue au format ISO 8601 AAAA-MM-JJ, de 1900 à 2100")
    return valeur


def _instant(valeur: object) -> object:
    if isinstance(valeur, datetime) and valeur.tzinfo is not None:
        return valeur
    if not isinstance(valeur, str) or not re.match(INSTANT, valeur):
        raise ValueError("instant attendu au format RFC 3339 avec fuseau, par exemple 2026-01-31T10:00:00Z")
    return valeur


def _uuid(valeur: object) -> object:
    if isinstance(valeur, UUID):
        return valeur
    if not isinstance(valeur, str) or not re.match(UUID_CANONIQUE, valeur):
        raise ValueError(
            "identifiant attendu au format UUID 8-4-4-4-12, par exemple 3f1c2b9e-6d1a-4c1e-9b7a-2e4f5a6b7c8d"
        )
    return valeur


def _departement(valeur: object) -> object:
    if not isinstance(valeur, str) or not est_departement(valeur):
        raise ValueError("code INSEE de département attendu: 01 à 95 (sans 20), 2A, 2B, 971 à 976")
    return valeur


Texte = Annotated[
    str, StringConstraints(min_length=1, max_length=500), AfterValidator(texte_imprimable), _SchemaTexte(500)
]
"""A free text: printable, NFC-normalised, stripped, 1 to 500 characters (``contracts.vocabulaire.Texte``)."""

Identifiant = Annotated[
    str, StringConstraints(min_length=1, max_length=200), AfterValidator(texte_imprimable), _SchemaTexte(200)
]
"""A reference or an id typed by a person or a system, a search text: printable, at most 200 characters."""

Jour = Annotated[date, BeforeValidator(_jour), WithJsonSchema({"type": "string", "format": "date", "pattern": JOUR})]
"""A day, ``AAAA-MM-JJ`` only (no timestamp, no other calendar format), 1900 to 2100."""

Instant = Annotated[
    AwareDatetime,
    BeforeValidator(_instant),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": INSTANT}),
]
"""An instant, RFC 3339 with its zone only (``0``, a Unix time, or a local time are refused)."""

Id = Annotated[
    UUID, BeforeValidator(_uuid), WithJsonSchema({"type": "string", "format": "uuid", "pattern": UUID_CANONIQUE})
]
"""An id in a path or a query: the hyphenated form only (pydantic also reads 32 hex digits, braces, ``urn:uuid:``:
four spellings of one dossier in the access log)."""

Departement = Annotated[
    _Departement, BeforeValidator(_departement), WithJsonSchema({"type": "string", "enum": DEPARTEMENTS})
]
"""An INSEE département code; its schema lists them."""


_CONNUS: dict[int, frozenset[str]] = {}


def _parametres_de_requete(dependant: Dependant) -> set[str]:
    noms = {champ.alias for champ in dependant.query_params}
    for sous in dependant.dependencies:
        noms |= _parametres_de_requete(sous)
    return noms


async def refuser_parametres_inconnus(request: Request) -> None:
    """A query parameter the route does not declare is a 422: a misspelt filter is not silently dropped.

    Declared once per router (``include_router(..., dependencies=[...])``): ``?departemnt=59`` would
    otherwise answer for every département.
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    connus = _CONNUS.get(id(route))
    if connus is None:
        connus = frozenset(_parametres_de_requete(route.dependant))
        _CONNUS[id(route)] = connus
    inconnus = sorted({nom for nom in request.query_params if nom not in connus})
    if inconnus:
        raise RequestValidationError(
            [{"loc": ("query", nom), "msg": "paramètre inconnu", "type": "extra_forbidden"} for nom in inconnus]
        )
