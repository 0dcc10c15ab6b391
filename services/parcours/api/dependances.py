"""What routes receive through ``Depends``: the application, the caller, the request's terms."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated

from anyio import CapacityLimiter
from fastapi import Depends, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, WithJsonSchema

from services.parcours.application import Demande, ParcoursApplication, empreinte_de
from services.runtime import journal_acces
from services.runtime.auth import Utilisateur, Verificateur, authentifier
from services.runtime.limites import limites_de
from services.runtime.parametres import refuser_parametres_inconnus
from services.runtime.postgres import DELAI_S
from services.runtime.problemes import InterditError

ROLES_ECRITURE = frozenset({"referent", "encadrant"})
ROLES_LECTURE = ROLES_ECRITURE | {"auditeur"}
ROLES_EFFACEMENT = frozenset({"dpo"})
"""Erasure of an identity: the data-protection officer of the département (README, "Chiffrement et effacement")."""


@dataclass
class Composants:
    """The parcours service's composition root, built once in the lifespan."""

    application: ParcoursApplication
    verificateur: Verificateur
    limiteur: CapacityLimiter
    """Commands at once, each on a pooled connection of its own."""
    lectures: CapacityLimiter = field(default_factory=lambda: CapacityLimiter(4))
    """Reads of a stream at once, on pooled connections apart from the commands'."""
    delai_s: float = DELAI_S
    """The longest wait for a slot (the datastore bounds the database's own waits alike)."""
    url: str | None = None
    """The PostgreSQL ``/readyz`` connects to; None: the in-memory store of unit tests."""
    journal: journal_acces.JournalAccesSynchrone | None = None
    """Where reads are recorded: by default ``public.journal_acces`` through the event store's own
    pool (PostgreSQL), or in memory beside an in-memory store (unit tests)."""
    file_max: int | None = None
    """Requests of one kind that may wait for a slot (FIFO); beyond, a 503 at once. None: 4 x its slots."""
    fils: CapacityLimiter = field(init=False)
    """Worker threads: one per slot of either kind, so that no granted slot waits for a thread."""

    def __post_init__(self) -> None:
        self.fils = CapacityLimiter(int(self.limiteur.total_tokens + self.lectures.total_tokens))
        if self.journal is None:
            self.journal = journal_acces.journal_de_magasin(self.application.recorder)

    @property
    def journal_acces(self) -> journal_acces.JournalAccesSynchrone:
        """The access log's writer (set in ``__post_init__``)."""
        assert self.journal is not None
        return self.journal


async def composants(request: Request) -> Composants:
    resultat: Composants = request.app.state.parcours
    return resultat


_bearer = HTTPBearer(auto_error=False)


Jeton = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def utilisateur(request: Request, credentials: Jeton) -> Utilisateur:
    """The verified caller of ``request``: 401 without a valid bearer token."""
    # Dependencies are coroutines: a plain ``def`` would cost a thread hop each.
    comp: Composants = request.app.state.parcours
    return await authentifier(
        comp.verificateur, credentials.credentials if credentials else None, jeton_max=limites_de(request.app).jeton_max
    )


async def _appelant(
    request: Request, credentials: HTTPAuthorizationCredentials | None, roles: frozenset[str]
) -> Utilisateur:
    """The verified caller (401), holding one of ``roles`` (else 403)."""
    u = await utilisateur(request, credentials)
    if not u.roles & roles:
        raise InterditError(f"rôle requis: {', '.join(sorted(roles))}")
    return u


def _exiger(roles: frozenset[str]):  # type: ignore[no-untyped-def]
    async def verifier(request: Request, credentials: Jeton) -> Utilisateur:
        return await _appelant(request, credentials, roles)

    return verifier


Lecteur = Annotated[Utilisateur, Depends(_exiger(ROLES_LECTURE))]
Comp = Annotated[Composants, Depends(composants)]

_IF_MATCH = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')
_CLE = re.compile(r"^[\x21-\x7e]{1,255}$")


def _invalide(entete: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("header", entete), "msg": message, "type": "value_error"}])


@dataclass(frozen=True)
class Conditions:
    """The caller and the request's conditions, before the body is known."""

    utilisateur: Utilisateur
    methode: str
    chemin: str
    version_attendue: int | None
    cle_idempotence: str | None
    correlation_id: str
    request_id: str
    composants: Composants
    """The service's composition root (one dependency less per command)."""

    def demande(self, commande: BaseModel | None = None) -> Demande:
        # The fingerprint recognises the retry of an idempotent request: none to compute without a key.
        empreinte = ""
        if self.cle_idempotence is not None:
            corps = commande.model_dump_json().encode() if commande is not None else b""
            empreinte = empreinte_de(self.methode, self.chemin, corps)
        return Demande(
            sub=self.utilisateur.sub,
            departements=self.utilisateur.departements,
            correlation_id=self.correlation_id,
            causation_id=self.request_id,
            version_attendue=self.version_attendue,
            cle_idempotence=self.cle_idempotence,
            empreinte=empreinte,
        )


IfMatch = Annotated[str | None, Header(), WithJsonSchema({"type": "string", "pattern": _IF_MATCH.pattern})]
IdempotencyKey = Annotated[str | None, Header(), WithJsonSchema({"type": "string", "pattern": _CLE.pattern})]


# One dependency per command (unknown query parameters, the caller, its role, the headers, the
# components) rather than a tree of six: FastAPI solves each node on every request, and that was
# the largest part of its cost per command.
async def conditions(
    request: Request, credentials: Jeton, if_match: IfMatch = None, idempotency_key: IdempotencyKey = None
) -> Conditions:
    """The writer (``referent`` or ``encadrant``: 401, 403) and the request's ``If-Match`` and ``Idempotency-Key``.

    An unknown query parameter, a malformed ``If-Match`` or ``Idempotency-Key``: 422.
    """
    await refuser_parametres_inconnus(request)
    u = await _appelant(request, credentials, ROLES_ECRITURE)
    return _conditions(request, u, if_match, idempotency_key)


async def conditions_dpo(
    request: Request, credentials: Jeton, if_match: IfMatch = None, idempotency_key: IdempotencyKey = None
) -> Conditions:
    """As :func:`conditions`, for the DPO's erasure (role ``dpo``)."""
    await refuser_parametres_inconnus(request)
    u = await _appelant(request, credentials, ROLES_EFFACEMENT)
    return _conditions(request, u, if_match, idempotency_key)


def _conditions(request: Request, u: Utilisateur, if_match: str | None, idempotency_key: str | None) -> Conditions:
    version = None
    if if_match is not None:
        trouve = _IF_MATCH.match(if_match)
        if trouve is None:
            raise _invalide("If-Match", 'attendu: la version vue, entre guillemets, par exemple "3"')
        version = int(trouve.group(1))
    if idempotency_key is not None and not _CLE.match(idempotency_key):
        raise _invalide("Idempotency-Key", "attendu: 1 à 255 caractères ASCII visibles")
    return Conditions(
        utilisateur=u,
        methode=request.method,
        chemin=request.url.path,
        version_attendue=version,
        cle_idempotence=idempotency_key,
        correlation_id=request.state.correlation_id,
        request_id=request.state.request_id,
        composants=request.app.state.parcours,
    )


Cond = Annotated[Conditions, Depends(conditions)]
CondDpo = Annotated[Conditions, Depends(conditions_dpo)]
