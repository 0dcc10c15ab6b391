"""Sessions of the pages: a signed cookie naming a row of ``pages.sessions`` in PostgreSQL.

The cookie carries a random 256-bit session id, signed with the service's secret and its time of
issue (itsdangerous' ``TimestampSigner``): a forged or stale cookie is refused before any lookup.
The row is keyed by the SHA-256 of the id, and the access token it holds is encrypted (AES-GCM)
with a key derived from the id (HKDF-SHA256): a copy of the table alone opens no session and
yields no token. A session ends at its absolute end (``duree_s`` after sign-in), after
``inactivite_s`` without a page, at sign-out, or when the APIs refuse its token; the row is then
deleted (expired rows of others are swept at each sign-in).

CSRF (OWASP's synchronizer token pattern): each session has its own random token, put in every
form and in htmx's headers, and compared in constant time on every request that changes anything.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from itsdangerous import BadSignature, TimestampSigner

from services.runtime.auth import Utilisateur
from services.runtime.horloge import Horloge

SCHEMA = "pages"
Renouvellement = Callable[[str], Awaitable[tuple[str, datetime | None, str | None, Utilisateur] | None]]
"""Renews an access token from a refresh token: ``(token, expiry, new refresh token, person)``, or None."""
DDL = (
    "CREATE SCHEMA IF NOT EXISTS pages",
    "CREATE TABLE IF NOT EXISTS pages.sessions (cle bytea PRIMARY KEY, sub text NOT NULL, roles text[] NOT NULL, "
    "departements text[] NOT NULL, personne_id uuid, jeton bytea NOT NULL, jeton_expire_le timestamptz, "
    "csrf text NOT NULL, cree_le timestamptz NOT NULL, vu_le timestamptz NOT NULL, expire_le timestamptz NOT NULL)",
    "ALTER TABLE pages.sessions ADD COLUMN IF NOT EXISTS actualisation bytea",
    "CREATE INDEX IF NOT EXISTS sessions_expire_le ON pages.sessions (expire_le)",
    "CREATE TABLE IF NOT EXISTS pages.connexions (etat text PRIMARY KEY, verificateur text NOT NULL, "
    "nonce text NOT NULL, retour text NOT NULL, expire_le timestamptz NOT NULL)",
    "ALTER TABLE pages.connexions ADD COLUMN IF NOT EXISTS navigateur bytea",
    "ALTER TABLE pages.sessions ADD COLUMN IF NOT EXISTS renouvellement_jusqu_a timestamptz",
)
CONNEXION_EN_COURS = timedelta(minutes=10)
"""How long a sign-in started at the issuer may take to come back."""
COOKIE = "ase_session"
COOKIE_SECURISE = "__Host-ase_session"
"""RFC 6265bis: a ``__Host-`` cookie is Secure, has no Domain and Path=/, so no sibling host can set it."""


async def preparer(pool: asyncpg.Pool) -> None:
    """Create the schema and its tables (idempotent; one process at a time)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('ase.pages.schema'))")
        for instruction in DDL:
            await conn.execute(instruction)


class RenouvellementReporteError(Exception):
    """The issuer could not be asked (unreachable, too slow): not a refusal, the session goes on."""


@dataclass(frozen=True)
class Session:
    """A signed-in person: who (as the token verified at sign-in says), their token, their CSRF token."""

    id: str
    utilisateur: Utilisateur
    jeton: str
    csrf: str
    expire_le: datetime
    jeton_expire_le: datetime | None = None
    actualisation: str | None = None
    """The issuer's refresh token (OIDC), which renews ``jeton`` before it expires; None in dev."""

    def csrf_valide(self, recu: str | None) -> bool:
        return recu is not None and hmac.compare_digest(recu.encode(), self.csrf.encode())


def _cle(id_session: str) -> bytes:
    return hashlib.sha256(id_session.encode()).digest()


def _chiffreur(id_session: str) -> AESGCM:
    cle = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"ase.pages.jeton").derive(id_session.encode())
    return AESGCM(cle)


def _chiffrer(id_session: str, texte: str) -> bytes:
    nonce = secrets.token_bytes(12)
    return nonce + _chiffreur(id_session).encrypt(nonce, texte.encode(), _cle(id_session))


def _dechiffrer(id_session: str, donnees: bytes) -> str:
    return _chiffreur(id_session).decrypt(donnees[:12], donnees[12:], _cle(id_session)).decode()


class Sessions:
    """The sessions table, on the injected clock (tests move it to expire a session)."""

    def __init__(self, pool: asyncpg.Pool, horloge: Horloge, *, duree_s: int, inactivite_s: int) -> None:
        self._pool = pool
        self._horloge = horloge
        self.duree = timedelta(seconds=duree_s)
        self.inactivite = timedelta(seconds=inactivite_s)

    async def ouvrir(
        self,
        utilisateur: Utilisateur,
        jeton: str,
        jeton_expire_le: datetime | None,
        actualisation: str | None = None,
    ) -> Session:
        """A new session for ``utilisateur``. It ends at the session's end, or at the token's when there is no
        refresh token to renew it, whichever is first."""
        maintenant = self._horloge.maintenant()
        fin = maintenant + self.duree
        if jeton_expire_le is not None and actualisation is None:
            fin = min(fin, jeton_expire_le)
        id_session = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        async with self._pool.acquire() as conn:
            await conn.execute("DELETE FROM pages.sessions WHERE expire_le <= $1", maintenant)
            await conn.execute(
                "INSERT INTO pages.sessions (cle, sub, roles, departements, personne_id, jeton, jeton_expire_le, "
                "csrf, cree_le, vu_le, expire_le, actualisation) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11)",
                _cle(id_session),
                utilisateur.sub,
                sorted(utilisateur.roles),
                sorted(utilisateur.departements),
                utilisateur.personne_id,
                _chiffrer(id_session, jeton),
                jeton_expire_le,
                csrf,
                maintenant,
                fin,
                _chiffrer(id_session, actualisation) if actualisation else None,
            )
        return Session(
            id=id_session,
            utilisateur=utilisateur,
            jeton=jeton,
            csrf=csrf,
            expire_le=fin,
            jeton_expire_le=jeton_expire_le,
            actualisation=actualisation,
        )

    async def renouveler(
        self, session: Session, avant: datetime, renouveler: Renouvellement, delai: timedelta
    ) -> Session | None:
        """The session with a token valid beyond ``avant``, renewed once for all the requests that find it due.

        The first request claims the renewal for ``delai`` (a column, in a statement of its own) and calls
        ``renouveler(refresh_token)`` holding no connection nor lock: the issuer may be slow, other sessions
        and the other requests of this one go on meanwhile, with the token they have (still valid: it is
        renewed in its last minute). ``renouveler`` returns the new token, its expiry, the new refresh token
        and the person it names; None when the issuer refuses (the session ends: None, the row deleted);
        it raises ``RenouvellementReporteError`` when the issuer could not be asked (the claim is released,
        the session goes on while its token lasts).
        """
        cle = _cle(session.id)
        maintenant = self._horloge.maintenant()
        async with self._pool.acquire() as conn:
            ligne = await conn.fetchrow(
                "UPDATE pages.sessions SET renouvellement_jusqu_a = $3 WHERE cle = $1 AND jeton_expire_le <= $2 "
                "AND (renouvellement_jusqu_a IS NULL OR renouvellement_jusqu_a < $4) RETURNING actualisation",
                cle,
                avant,
                maintenant + delai,
                maintenant,
            )
        if ligne is None:
            # Another request is renewing it (or just did): this one uses the token it has while it is valid,
            # and waits for the renewed one (connection-free) only when it has expired.
            if session.jeton_expire_le is None or session.jeton_expire_le > maintenant:
                return session
            return await self._attendre_le_renouvellement(session, delai)
        actuelle = _dechiffrer(session.id, ligne["actualisation"]) if ligne["actualisation"] else None
        try:
            nouveau = await renouveler(actuelle) if actuelle is not None else None
        except RenouvellementReporteError:
            async with self._pool.acquire() as conn:
                await conn.execute("UPDATE pages.sessions SET renouvellement_jusqu_a = NULL WHERE cle = $1", cle)
            return session if session.jeton_expire_le is None or session.jeton_expire_le > maintenant else None
        async with self._pool.acquire() as conn:
            if nouveau is None:
                await conn.execute("DELETE FROM pages.sessions WHERE cle = $1", cle)
                return None
            jeton, expire, actualisation, utilisateur = nouveau
            actualisation = actualisation or actuelle
            await conn.execute(
                "UPDATE pages.sessions SET jeton = $2, jeton_expire_le = $3, actualisation = $4, roles = $5, "
                "departements = $6, personne_id = $7, renouvellement_jusqu_a = NULL WHERE cle = $1",
                cle,
                _chiffrer(session.id, jeton),
                expire,
                _chiffrer(session.id, actualisation) if actualisation else None,
                sorted(utilisateur.roles),
                sorted(utilisateur.departements),
                utilisateur.personne_id,
            )
        # The roles and départements as the renewed token says (a role withdrawn at the issuer goes now).
        return dataclasses.replace(
            session, utilisateur=utilisateur, jeton=jeton, jeton_expire_le=expire, actualisation=actualisation
        )

    async def _attendre_le_renouvellement(self, session: Session, delai: timedelta) -> Session | None:
        fin = time.monotonic() + delai.total_seconds()
        while time.monotonic() < fin:
            await asyncio.sleep(0.2)  # another request is asking the issuer: nothing to be told, only to look
            relue = await self.lire(session.id)
            if relue is None or relue.jeton_expire_le != session.jeton_expire_le:
                return relue
        return None

    async def lire(self, id_session: str) -> Session | None:
        """The live session of ``id_session``, its last use set to now; None (and the row deleted) if it ended."""
        maintenant = self._horloge.maintenant()
        async with self._pool.acquire() as conn:
            ligne = await conn.fetchrow(
                "UPDATE pages.sessions SET vu_le = $2 WHERE cle = $1 AND expire_le > $2 AND vu_le > $3 "
                "RETURNING sub, roles, departements, personne_id, jeton, csrf, expire_le, jeton_expire_le, actualisation",
                _cle(id_session),
                maintenant,
                maintenant - self.inactivite,
            )
            if ligne is None:
                await conn.execute("DELETE FROM pages.sessions WHERE cle = $1", _cle(id_session))
                return None
        utilisateur = Utilisateur(
            sub=ligne["sub"],
            roles=frozenset(ligne["roles"]),
            departements=frozenset(ligne["departements"]),
            personne_id=ligne["personne_id"],
        )
        return Session(
            id=id_session,
            utilisateur=utilisateur,
            jeton=_dechiffrer(id_session, ligne["jeton"]),
            csrf=ligne["csrf"],
            expire_le=ligne["expire_le"],
            jeton_expire_le=ligne["jeton_expire_le"],
            actualisation=_dechiffrer(id_session, ligne["actualisation"]) if ligne["actualisation"] else None,
        )

    async def fermer(self, id_session: str) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute("DELETE FROM pages.sessions WHERE cle = $1", _cle(id_session))

    async def commencer_connexion(self, etat: str, verificateur: str, nonce: str, retour: str, navigateur: str) -> None:
        """Keep a sign-in started at the issuer: its ``state``, PKCE ``code_verifier`` and ``nonce``, bound to
        the browser that started it (``navigateur``, the random value of its sign-in cookie, kept hashed)."""
        maintenant = self._horloge.maintenant()
        async with self._pool.acquire() as conn:
            await conn.execute("DELETE FROM pages.connexions WHERE expire_le <= $1", maintenant)
            await conn.execute(
                "INSERT INTO pages.connexions (etat, verificateur, nonce, retour, expire_le, navigateur) "
                "VALUES ($1, $2, $3, $4, $5, $6)",
                etat,
                verificateur,
                nonce,
                retour,
                maintenant + CONNEXION_EN_COURS,
                _cle(navigateur),
            )

    async def terminer_connexion(self, etat: str, navigateur: str) -> tuple[str, str, str] | None:
        """``(code_verifier, nonce, retour)`` of the sign-in ``etat`` names, once, and only in the browser that
        started it (RFC 9700, 4.7.1: a callback URL replayed elsewhere opens nothing); None otherwise."""
        async with self._pool.acquire() as conn:
            ligne = await conn.fetchrow(
                "DELETE FROM pages.connexions WHERE etat = $1 AND expire_le > $2 AND navigateur = $3 "
                "RETURNING verificateur, nonce, retour",
                etat,
                self._horloge.maintenant(),
                _cle(navigateur),
            )
        return None if ligne is None else (ligne["verificateur"], ligne["nonce"], ligne["retour"])

    async def abandonner_connexion(self, etat: str, navigateur: str) -> None:
        """Forget a sign-in the issuer refused or the person cancelled (its ``state`` serves no more)."""
        async with self._pool.acquire() as conn:
            await conn.execute(
                "DELETE FROM pages.connexions WHERE etat = $1 AND navigateur = $2", etat, _cle(navigateur)
            )


@dataclass(frozen=True)
class CookieSession:
    """The session cookie: HttpOnly, SameSite=Lax, Secure and ``__Host-`` over HTTPS, signed with a timestamp."""

    secret: bytes
    securise: bool
    duree_s: int

    @property
    def nom(self) -> str:
        return COOKIE_SECURISE if self.securise else COOKIE

    def _signataire(self) -> TimestampSigner:
        return TimestampSigner(self.secret, salt="ase.pages.session")

    def valeur(self, id_session: str) -> str:
        return self._signataire().sign(id_session).decode()

    def id_de(self, valeur: str | None) -> str | None:
        """The session id a cookie carries, if its signature holds and it is younger than a session."""
        if not valeur or len(valeur) > 200:
            return None
        try:
            return self._signataire().unsign(valeur, max_age=self.duree_s).decode()
        except BadSignature:
            return None


def personne_de(valeur: object) -> UUID | None:
    """A ``personne_id`` claim as a UUID, None if absent or malformed."""
    if isinstance(valeur, UUID):
        return valeur
    if isinstance(valeur, str):
        try:
            return UUID(valeur)
        except ValueError:
            return None
    return None
