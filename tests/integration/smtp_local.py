"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps every message it accepts, and the alerts' test fixtures."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Literal

import asyncpg
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from contracts.alertes import Alerte, EvenementAlerte, Niveau, StatutAlerte, identifiant_alerte, lien_dossier
from services.notifications import courriels, destinataires, sorties


@dataclass
class Recu:
    """One message as the server accepted it: the envelope and the parsed message."""

    expediteur: str
    destinataires: list[str]
    message: EmailMessage

    def partie(self, sous_type: str) -> str:
        corps = self.message.get_body(preferencelist=(sous_type,))
        assert corps is not None, f"no text/{sous_type} part"
        contenu = corps.get_content()  # type: ignore[attr-defined]
        assert isinstance(contenu, str)
        return contenu


@dataclass
class Boite:
    """aiosmtpd handler: accepts every message and keeps it."""

    recus: list[Recu] = field(default_factory=list)
    refusees: set[str] = field(default_factory=set)
    """Addresses answered ``550`` at ``RCPT TO`` (a mailbox that does not exist)."""
    _verrou: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if address in self.refusees:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = BytesParser(policy=policy.default).parsebytes(envelope.content)
        assert isinstance(message, EmailMessage)
        with self._verrou:
            self.recus.append(Recu(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def pour(self, adresse: str) -> list[Recu]:
        with self._verrou:
            return [r for r in self.recus if adresse in r.destinataires]

    def tous(self) -> list[Recu]:
        with self._verrou:
            return list(self.recus)


def port_libre() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def certificat_local(dossier: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own authority): (certificate PEM, key PEM)."""
    cle = ec.generate_private_key(ec.SECP256R1())
    nom = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp de test")])
    maintenant = datetime.now(UTC)
    certificat = (
        x509.CertificateBuilder()
        .subject_name(nom)
        .issuer_name(nom)
        .public_key(cle.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(maintenant - timedelta(minutes=5))
        .not_valid_after(maintenant + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(cle, hashes.SHA256())
    )
    dossier.mkdir(parents=True, exist_ok=True)
    chemin_certificat, chemin_cle = dossier / "smtp.pem", dossier / "smtp.key"
    chemin_certificat.write_bytes(certificat.public_bytes(serialization.Encoding.PEM))
    chemin_cle.write_bytes(
        cle.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return chemin_certificat, chemin_cle


class ServeurSmtp:
    """An aiosmtpd server on a port chosen now, started (and stopped) when the test says.

    ``securite``: ``starttls`` (STARTTLS required before MAIL), ``tls`` (implicit TLS), None (plain);
    the certificate's authority is then :attr:`ca`.
    """

    def __init__(self, securite: Literal["starttls", "tls"] | None = None, dossier: Path | None = None) -> None:
        self.port = port_libre()
        self.boite = Boite()
        self.securite = securite
        self.ca: Path | None = None
        self._contexte: ssl.SSLContext | None = None
        if securite is not None:
            assert dossier is not None
            self.ca, cle = certificat_local(dossier)
            self._contexte = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._contexte.load_cert_chain(self.ca, cle)
        self._controleur: Controller | None = None

    def demarrer(self) -> None:
        if self.securite == "starttls":
            self._controleur = Controller(
                self.boite, hostname="127.0.0.1", port=self.port, tls_context=self._contexte, require_starttls=True
            )
        elif self.securite == "tls":
            self._controleur = Controller(self.boite, hostname="127.0.0.1", port=self.port, ssl_context=self._contexte)
        else:
            self._controleur = Controller(self.boite, hostname="127.0.0.1", port=self.port)
        self._controleur.start()

    def arreter(self) -> None:
        if self._controleur is not None:
            self._controleur.stop()
            self._controleur = None


MAINTENANT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
"""10:00 in Paris, a Monday."""


def alerte(
    *,
    urgente: bool = False,
    due_le: date = date(2026, 12, 4),
    referent: str | None = "ref-1",
    departement: str = "59",
    niveau: Niveau = Niveau.REFERENT,
    type_: str = "ppe",
    attendu: str = "Établir le projet pour l'enfant (PPE)",
    article: str = "CASF L223-1-1",
) -> Alerte:
    """An alert built from ids, dates and the rule only (like the engine's)."""
    parcours_id = uuid.uuid4()
    return Alerte(
        alerte_id=identifiant_alerte(parcours_id, type_, "", due_le),
        parcours_id=parcours_id,
        departement=departement,
        referent_id=referent,
        type=type_,
        due_le=due_le,
        mois_du=due_le.isoformat()[:7],
        alerte_le=MAINTENANT.date(),
        attendu=attendu,
        article=article,
        urgente=urgente,
        niveau=niveau,
        statut=StatutAlerte.OUVERTE,
        lien=lien_dossier(parcours_id),
        levee_le=MAINTENANT,
        modifiee_le=MAINTENANT,
    )


async def publier(pool: asyncpg.Pool, evenement: EvenementAlerte, *alertes: Alerte) -> None:
    """Write alert changes to the outbox, as the scheduler does."""
    async with pool.acquire() as conn, conn.transaction():
        for a in alertes:
            await sorties.ajouter(conn, evenement, a)


async def destinataire(
    pool: asyncpg.Pool, referent_id: str, email: str, *, departement: str = "59", encadrant: bool = False
) -> None:
    async with pool.acquire() as conn:
        await destinataires.enregistrer(
            conn, referent_id, departement, email, encadrant=encadrant, par="test", le=MAINTENANT
        )


async def creer_tables(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await sorties.creer_tables(conn)
        await courriels.creer_tables(conn)
