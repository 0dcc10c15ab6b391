"""A real HTTP/1.1 receiver of webhooks on 127.0.0.1 (asyncio streams), for the webhooks tests.

It answers each POST with the status its ``reponses`` policy gives for the
request's rank (1, 2, ...), records every request (headers, body) and, given
the subscription's secret, verifies each signature with ``standardwebhooks``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError

RAISONS = {200: "OK", 204: "No Content", 302: "Found", 410: "Gone", 500: "Internal Server Error", 503: "Unavailable"}


@dataclass
class Recue:
    """One request as the receiver read it."""

    chemin: str
    entetes: dict[str, str]
    corps: bytes
    statut: int
    """What the receiver answered."""
    verifiee: Any = None
    """The payload ``standardwebhooks`` returned after verifying it (None: not verified, or failed)."""
    erreur_verification: str | None = None


@dataclass
class Recepteur:
    reponses: Callable[[int], int] = lambda rang: 204
    secret: str | None = None
    recues: list[Recue] = field(default_factory=list)
    port: int = 0
    tls: ssl.SSLContext | None = None
    """Serve HTTPS with this context."""
    _serveur: asyncio.Server | None = None
    _nouvelle: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/crochet?jeton=ne-pas-journaliser"

    async def __aenter__(self) -> Recepteur:
        self._serveur = await asyncio.start_server(self._client, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._serveur.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._serveur is not None
        self._serveur.close()
        await self._serveur.wait_closed()

    async def attendre(self, n: int, delai_s: float = 10.0) -> list[Recue]:
        """Wait until ``n`` requests have come (or fail after ``delai_s``)."""
        async with asyncio.timeout(delai_s), self._nouvelle:
            await self._nouvelle.wait_for(lambda: len(self.recues) >= n)
        return self.recues

    async def _client(self, lecteur: asyncio.StreamReader, ecrivain: asyncio.StreamWriter) -> None:
        try:
            while True:
                ligne = await lecteur.readline()
                if not ligne:
                    return
                _, chemin, _ = ligne.decode("latin-1").split(" ", 2)
                entetes: dict[str, str] = {}
                while (ligne := await lecteur.readline()) not in (b"\r\n", b"\n", b""):
                    nom, _, valeur = ligne.decode("latin-1").partition(":")
                    entetes[nom.strip().lower()] = valeur.strip()
                corps = await lecteur.readexactly(int(entetes.get("content-length", "0")))
                statut = self.reponses(len(self.recues) + 1)
                recue = Recue(chemin, entetes, corps, statut)
                if self.secret is not None:
                    try:
                        recue.verifiee = Webhook(self.secret).verify(corps, entetes)
                    except WebhookVerificationError as exc:
                        recue.erreur_verification = str(exc)
                async with self._nouvelle:
                    self.recues.append(recue)
                    self._nouvelle.notify_all()
                supplement = "Location: http://10.0.0.1/\r\n" if statut == 302 else ""
                contenu = "" if statut == 204 else "ok"
                ecrivain.write(
                    f"HTTP/1.1 {statut} {RAISONS.get(statut, 'Status')}\r\n{supplement}"
                    f"Content-Length: {len(contenu)}\r\n\r\n{contenu}".encode()
                )
                await ecrivain.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            return
        finally:
            ecrivain.close()


def certificats(nom: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A throw-away CA and a certificate for ``nom`` signed by it: (the server's context, a client's trusting the CA)."""
    import datetime as dt
    import tempfile
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    maintenant = dt.datetime.now(dt.UTC)
    cle_ac, cle = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    nom_ac = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AC de test")])
    ac = (
        x509.CertificateBuilder()
        .subject_name(nom_ac)
        .issuer_name(nom_ac)
        .public_key(cle_ac.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(maintenant - dt.timedelta(hours=1))
        .not_valid_after(maintenant + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(cle_ac.public_key()), critical=False)
        .sign(cle_ac, hashes.SHA256())
    )
    feuille = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, nom)]))
        .issuer_name(nom_ac)
        .public_key(cle.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(maintenant - dt.timedelta(hours=1))
        .not_valid_after(maintenant + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(nom)]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(cle_ac.public_key()), critical=False)
        .sign(cle_ac, hashes.SHA256())
    )
    with tempfile.TemporaryDirectory() as dossier:
        chaine, privee = Path(dossier) / "cert.pem", Path(dossier) / "cle.pem"
        chaine.write_bytes(feuille.public_bytes(serialization.Encoding.PEM))
        privee.write_bytes(
            cle.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        serveur = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        serveur.load_cert_chain(chaine, privee)
    client = ssl.create_default_context(cadata=ac.public_bytes(serialization.Encoding.PEM).decode())
    return serveur, client
