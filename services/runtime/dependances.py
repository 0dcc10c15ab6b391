"""The FastAPI dependencies of authentication, shared by the read services: who calls, and with which role.

No ``from __future__ import annotations`` here: FastAPI reads the dependencies'
annotations at runtime, and they name the closures' own functions.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.runtime.auth import Utilisateur, Verificateur, authentifier
from services.runtime.limites import limites_de
from services.runtime.problemes import InterditError

_bearer = HTTPBearer(auto_error=False)

Utilisateurs = Callable[..., Awaitable[Utilisateur]]


def authentification(
    verificateur_de: Callable[[Request], Verificateur],
) -> tuple[Utilisateurs, Callable[..., Utilisateurs]]:
    """``(utilisateur, exiger)``: the dependency giving the caller (401 without a valid token, verified by
    ``verificateur_de(request)``), and ``exiger(*roles)``, one admitting only callers holding one of ``roles``
    (403 otherwise)."""

    async def utilisateur(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Utilisateur:
        return await authentifier(
            verificateur_de(request),
            credentials.credentials if credentials else None,
            jeton_max=limites_de(request.app).jeton_max,
        )

    def exiger(*roles: str) -> Utilisateurs:
        attendus = frozenset(roles)

        async def verifier(u: Annotated[Utilisateur, Depends(utilisateur)]) -> Utilisateur:
            if not u.roles & attendus:
                raise InterditError(f"rôle requis: {', '.join(sorted(attendus))}")
            return u

        return verifier

    return utilisateur, exiger
