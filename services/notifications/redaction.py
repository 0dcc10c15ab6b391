"""The words of an e-mail: subject, text and HTML parts, from alerts only.

Templates under ``modeles/`` (Jinja2; HTML autoescaped, ``select_autoescape``).
What they are given is built here from :class:`contracts.alertes.Alerte` fields
and nothing else: what is due (``attendu``, ``type``), by when (``due_le``), why
(``article``), the alert's id and the dossier's link (``lien_base`` + ``lien``).
No name, birth date or free text can reach an e-mail, as no alert holds one.

The message (:class:`email.message.EmailMessage`, policy ``default``: it refuses
CR or LF in a header value) has a text part and an HTML alternative, a
``Message-ID`` derived from the e-mail's key on the sender's domain (the same on a
resend, RFC 5322 § 3.6.4) and ``Auto-Submitted: auto-generated`` (RFC 3834 § 5).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from contracts.alertes import Alerte, Niveau, au_plus_tard
from services.notifications.settings import NotificationsSettings
from services.runtime.horloge import date_civile

ESPACE_MESSAGES: Final = uuid.UUID("5d3c8a41-2f7e-4b96-a0c1-7e98b4d2f613")
"""uuid5 namespace of the ``Message-ID`` of an e-mail key."""

SUJET_MAX: Final = 200
"""Characters of a subject at most."""

_MOIS: Final = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
_JOURS: Final = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")

_MODELES: Final = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "modeles"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True, default=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Courriel:
    """A message ready to send, and its parts (tests read them)."""

    message: EmailMessage
    sujet: str
    texte: str
    html: str


def date_en_toutes_lettres(jour: date) -> str:
    """``lundi 7 décembre 2026``."""
    premier = "1er" if jour.day == 1 else str(jour.day)
    return f"{_JOURS[jour.weekday()]} {premier} {_MOIS[jour.month - 1]} {jour.year}"


def _quand(alerte: Alerte) -> str:
    """``lundi 7 décembre 2026``, or ``courant janvier 2028`` when only the month leaves the service
    (a deadline that follows from the birth date: :func:`contracts.alertes.par_anniversaire`)."""
    if alerte.due_le is not None:
        return date_en_toutes_lettres(alerte.due_le)
    jour = au_plus_tard(alerte)
    return f"courant {_MOIS[jour.month - 1]} {jour.year}"


def _relatif(alerte: Alerte, aujourd_hui: date) -> str:
    if alerte.due_le is None:
        jour = au_plus_tard(alerte)
        mois = (jour.year - aujourd_hui.year) * 12 + jour.month - aujourd_hui.month
        if mois == 0:
            return "ce mois-ci, la date est dans le dossier"
        return f"dans {mois} mois" if mois > 0 else "dépassée"
    ecart = (alerte.due_le - aujourd_hui).days
    if ecart == 0:
        return "aujourd'hui"
    if ecart == 1:
        return "demain"
    if ecart > 1:
        return f"dans {ecart} jours"
    return "dépassée depuis hier" if ecart == -1 else f"dépassée depuis {-ecart} jours"


def _une_ligne(texte: str) -> str:
    """``texte`` on one line, without any control character (a header value)."""
    return " ".join("".join(c if c.isprintable() else " " for c in texte).split())


def lien(settings: NotificationsSettings, alerte: Alerte) -> str:
    """The dossier's address: the read API's base and the alert's path."""
    return settings.lien_base.rstrip("/") + alerte.lien


def _vue(settings: NotificationsSettings, alerte: Alerte, aujourd_hui: date) -> dict[str, Any]:
    return {
        "alerte_id": str(alerte.alerte_id),
        "attendu": alerte.attendu,
        "type": alerte.type,
        "article": alerte.article,
        "due_le": _quand(alerte),
        "mois_seul": alerte.due_le is None,
        "relatif": _relatif(alerte, aujourd_hui),
        "informative": alerte.informative,
        "lien": lien(settings, alerte),
    }


def message_id(cle: str, expediteur: str) -> str:
    """``<uuid5(cle)@domaine de l'expéditeur>``: the same e-mail always has the same id."""
    return f"<{uuid.uuid5(ESPACE_MESSAGES, cle)}@{expediteur.rsplit('@', 1)[1]}>"


def rediger(
    settings: NotificationsSettings,
    cle: str,
    nature: str,
    alertes: Sequence[Alerte],
    *,
    adresse: str,
    maintenant: datetime,
) -> Courriel:
    """The e-mail ``cle`` to ``adresse``: ``urgent`` (one alert) or ``digest`` (soonest due first)."""
    aujourd_hui = date_civile(maintenant)
    ordonnees = sorted(alertes, key=lambda a: (au_plus_tard(a), str(a.alerte_id)))
    vues = [_vue(settings, a, aujourd_hui) for a in ordonnees]
    if nature == "digest":
        sujet = f"[Parcours ASE] {len(vues)} échéance(s) à suivre, synthèse du {date_en_toutes_lettres(aujourd_hui)}"
        contexte: dict[str, Any] = {"jour": date_en_toutes_lettres(aujourd_hui)}
    else:
        premiere = ordonnees[0]
        escaladee = cle.startswith("alerte_escaladee:") or premiere.niveau is Niveau.ENCADRANT
        quand = _quand(premiere)
        sujet = (
            f"[Parcours ASE] Échéance dépassée : {premiere.attendu} (due le {quand})"
            if escaladee
            else f"[Parcours ASE] Urgent : {premiere.attendu}, au plus tard le {quand}"
        )
        contexte = {"escaladee": escaladee, "departement": premiere.departement}
    sujet = _une_ligne(sujet)[:SUJET_MAX]
    modele = "digest" if nature == "digest" else "urgent"
    contexte |= {"sujet": sujet, "alertes": vues}
    texte = _MODELES.get_template(f"{modele}.txt").render(contexte)
    html = _MODELES.get_template(f"{modele}.html").render(contexte)

    message = EmailMessage()
    message["Subject"] = sujet
    message["From"] = f"Parcours ASE <{settings.smtp_expediteur}>"
    message["To"] = adresse
    message["Date"] = format_datetime(maintenant)
    message["Message-ID"] = message_id(cle, settings.smtp_expediteur)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(texte)
    message.add_alternative(html, subtype="html")
    return Courriel(message=message, sujet=sujet, texte=texte, html=html)
