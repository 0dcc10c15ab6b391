"""E-mail of the alerts: urgent ones at once, the others in one daily digest per recipient.

Three steps, each its own short transaction, run by :func:`tourner` (and once by :func:`un_tour`):

1. **Planning** (:func:`planifier`): the consumer ``courriels`` of the alerts' outbox
   (:mod:`services.notifications.sorties`) reads the changes after its cursor, plans
   what they ask, and moves its cursor in the same transaction:

   - ``alerte_levee`` of an urgent alert (``Alerte.urgente``: a deadline counted in
     days) → one e-mail now to the référent;
   - ``alerte_escaladee`` (or an alert raised already escalated) → one e-mail now to
     the référent and to every recipient marked ``encadrant`` of its département; its
     digest line, if any, is dropped;
   - any other ``alerte_levee`` → one line in the référent's digest queue
     (``notifications.lignes_digest``);
   - ``alerte_close``, ``alerte_acquittee`` → the alert's digest lines are dropped
     (nothing left to tell), and an urgent e-mail of it not sent yet is cancelled (``annule``);
   - ``alerte_reaffectee`` (a transfer or a new référent; the alert carries the NEW
     département and référent) → the e-mails follow the dossier: the alert's digest
     lines and its urgent e-mails not sent yet to anyone else are dropped, and, unless
     the alert is closed, it is planned for the new référent as a new alert would be
     (so an alert raised while the dossier had no référent reaches the first one named).

   A recipient is a (département, ``referent_id``) pair, the département being the
   alert's (:mod:`services.notifications.destinataires`): a référent of the same id in
   another département never gets it. Only recipients known when the change is read
   get e-mails (``PUT /v1/destinataires``); their address is read when the e-mail is
   sent, so a corrected address is used.
2. **Digests** (:func:`composer_digests`): from ``digest_heure`` (Europe/Paris) on each
   day, each recipient with waiting lines gets one e-mail listing them, soonest due
   first (at most :data:`LIGNES_DIGEST_MAX`, the rest the next day). Its row's key is
   ``digest:<département>:<recipient>:<day>`` (unique): whatever the number of instances or rounds,
   one digest per recipient per day, and the lines it took are deleted in the same
   transaction.
3. **Sending** (:func:`envoyer_dus`): an e-mail of ``notifications.courriels`` is
   claimed like a job of a queue (``FOR UPDATE SKIP LOCKED``, a lease: its next try
   moved :func:`bail_s` ahead, its tries counted), sent with ``aiosmtplib``, and
   recorded ``envoye`` right after the server accepted its DATA. A crash between the
   two sends it again when the lease ends: at least once, a duplicate window of one
   message per crash (it bears the same ``Message-ID``, so clients can fold it).
   A failure is retried with exponential backoff (half of each delay random), up to
   ``smtp_tentatives_max`` tries (then ``echec``); a permanent refusal (5xx) is not
   retried (``rejete``).

Without ``smtp_hote`` nothing is sent and nothing queued: the outbox is still read and
its cursor moved (so switching SMTP on later does not send a backlog of old alerts).

What an e-mail says: what is due and by when, why (the rule and its article), and the
dossier's link (``lien_base`` + ``Alerte.lien``); never a name, a birth date or free
text, as :class:`contracts.alertes.Alerte` holds none (see
:mod:`services.notifications.redaction`). Logs name e-mail and alert ids only, never an
address nor the SMTP server's answer (it may echo the address).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final, Literal, cast

import aiosmtplib
import asyncpg
import orjson
import structlog
from prometheus_client import Counter, Gauge

from contracts.alertes import Alerte, EvenementAlerte, Niveau, StatutAlerte, au_plus_tard
from services.notifications import destinataires, redaction, sorties
from services.notifications.settings import NotificationsSettings
from services.notifications.sorties import SCHEMA
from services.runtime.horloge import FUSEAU, Horloge
from services.runtime.http import REGISTRE

if TYPE_CHECKING:
    from typing import TypeAlias

    from asyncpg.pool import PoolConnectionProxy

    Connexion: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

log = structlog.get_logger(__name__)

CONSOMMATEUR: Final = "courriels"
"""This consumer's name on the alerts' outbox."""

LIGNES_DIGEST_MAX: Final = 200
"""Alerts in one digest at most; the others wait for the next day's."""

Nature = Literal["urgent", "digest"]

DDL: Final = [
    *destinataires.DDL,
    f"CREATE TABLE IF NOT EXISTS {SCHEMA}.lignes_digest ("
    "departement text NOT NULL, destinataire text NOT NULL, alerte_id uuid NOT NULL, due_le date NOT NULL, "
    "alerte jsonb NOT NULL, PRIMARY KEY (departement, destinataire, alerte_id))",
    f"CREATE INDEX IF NOT EXISTS lignes_digest_alerte ON {SCHEMA}.lignes_digest (alerte_id)",
    f"CREATE TABLE IF NOT EXISTS {SCHEMA}.courriels ("
    "id bigserial PRIMARY KEY, cle text NOT NULL UNIQUE, departement text NOT NULL, destinataire text NOT NULL, "
    "nature text NOT NULL CHECK (nature IN ('urgent', 'digest')), alertes jsonb NOT NULL, "
    "alerte_ids uuid[] NOT NULL, "
    "etat text NOT NULL DEFAULT 'a_envoyer' "
    "CHECK (etat IN ('a_envoyer', 'envoye', 'echec', 'rejete', 'sans_destinataire', 'annule')), "
    "tentatives integer NOT NULL DEFAULT 0, prochaine_tentative timestamptz NOT NULL, "
    "cree_le timestamptz NOT NULL, envoye_le timestamptz)",
    f"CREATE INDEX IF NOT EXISTS courriels_a_envoyer ON {SCHEMA}.courriels (prochaine_tentative) "
    "WHERE etat = 'a_envoyer'",
]

ENVOYES = Counter("ase_courriels_envoyes_total", "E-mails accepted by the SMTP server", ["nature"], registry=REGISTRE)
ECHECS = Counter(
    "ase_courriels_echecs_total",
    "E-mails not accepted: retried later (reessai), given up (echec), refused for good (rejete)",
    ["nature", "issue"],
    registry=REGISTRE,
)
NON_PLANIFIES = Counter(
    "ase_courriels_non_planifies_total",
    "Alert changes that asked for an e-mail to nobody: no recipient kept (sans_destinataire) or no SMTP server set",
    ["raison"],
    registry=REGISTRE,
)

ATTENTE = Gauge(
    "ase_courriels_attente_secondes",
    "Age of the oldest e-mail still to send (0: none), as of the last round of the e-mail loop",
    registry=REGISTRE,
)


async def creer_tables(conn: Connexion) -> None:
    """The recipients, the digest lines and the e-mail queue (idempotent)."""
    for ddl in DDL:
        await conn.execute(ddl)


# -- 1. planning ---------------------------------------------------------------------------------


async def _mettre_en_file(
    conn: Connexion,
    cle: str,
    departement: str,
    destinataire: str,
    nature: Nature,
    *,
    alertes: Sequence[Alerte],
    le: datetime,
) -> bool:
    corps = orjson.dumps([orjson.loads(a.model_dump_json()) for a in alertes]).decode()
    insere = await conn.fetchval(
        f"INSERT INTO {SCHEMA}.courriels (cle, departement, destinataire, nature, alertes, alerte_ids, "
        "prochaine_tentative, cree_le) "
        "VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $7) ON CONFLICT (cle) DO NOTHING RETURNING id",
        cle,
        departement,
        destinataire,
        nature,
        corps,
        [a.alerte_id for a in alertes],
        le,
    )
    return insere is not None


def _sans_destinataire(alerte: Alerte, evenement: EvenementAlerte) -> None:
    NON_PLANIFIES.labels("sans_destinataire").inc()
    log.info("courriel_sans_destinataire", alerte_id=str(alerte.alerte_id), evenement=evenement.value)


async def _annuler_urgents(conn: Connexion, alerte: Alerte, sauf: Sequence[str] = ()) -> None:
    """Cancel the alert's urgent e-mails not sent yet, but those to ``sauf`` (recipients of the alert's département)."""
    await conn.execute(
        f"UPDATE {SCHEMA}.courriels SET etat = 'annule' WHERE etat = 'a_envoyer' AND nature = 'urgent' "
        "AND alerte_ids = ARRAY[$1::uuid] AND NOT (departement = $2 AND destinataire = ANY($3::text[]))",
        alerte.alerte_id,
        alerte.departement,
        list(sauf),
    )


async def _planifier_un(conn: Connexion, sortie: sorties.Sortie, le: datetime) -> None:
    alerte, evenement = sortie.alerte, sortie.evenement
    if evenement in (EvenementAlerte.CLOSE, EvenementAlerte.ACQUITTEE) or (
        evenement is EvenementAlerte.REAFFECTEE and alerte.statut is StatutAlerte.CLOSE
    ):
        await conn.execute(f"DELETE FROM {SCHEMA}.lignes_digest WHERE alerte_id = $1", alerte.alerte_id)
        # An urgent e-mail still waiting (the SMTP server was down) would tell what is done or taken in hand.
        await _annuler_urgents(conn, alerte)
        return
    departement = alerte.departement
    referent = (
        alerte.referent_id
        if alerte.referent_id and await destinataires.existe(conn, departement, alerte.referent_id)
        else None
    )
    escaladee = evenement is EvenementAlerte.ESCALADEE or alerte.niveau is Niveau.ENCADRANT
    reaffectee = evenement is EvenementAlerte.REAFFECTEE
    if reaffectee:
        # The e-mails follow the dossier: what waits for its former référent (or département) is not theirs any more.
        await conn.execute(
            f"DELETE FROM {SCHEMA}.lignes_digest WHERE alerte_id = $1 AND NOT (departement = $2 AND destinataire = $3)",
            alerte.alerte_id,
            departement,
            referent or "",
        )
    if escaladee or alerte.urgente:
        vers = [referent] if referent else []
        if escaladee:
            await conn.execute(f"DELETE FROM {SCHEMA}.lignes_digest WHERE alerte_id = $1", alerte.alerte_id)
            vers += [e for e in await destinataires.encadrants(conn, departement) if e not in vers]
        if reaffectee:
            await _annuler_urgents(conn, alerte, sauf=vers)
            # One waiting already (the same recipient kept through the move) is enough.
            attendent = await conn.fetch(
                f"SELECT destinataire FROM {SCHEMA}.courriels WHERE etat = 'a_envoyer' AND nature = 'urgent' "
                "AND alerte_ids = ARRAY[$1::uuid] AND departement = $2",
                alerte.alerte_id,
                departement,
            )
            deja = {ligne["destinataire"] for ligne in attendent}
            prefixe = f"{evenement.value}:{sortie.position}"
        else:
            deja, prefixe = set(), evenement.value
        for destinataire in vers:
            if destinataire not in deja:
                cle = f"{prefixe}:{alerte.alerte_id}:{departement}:{destinataire}"
                await _mettre_en_file(conn, cle, departement, destinataire, "urgent", alertes=[alerte], le=le)
        if not vers:
            _sans_destinataire(alerte, evenement)
        return
    if reaffectee:
        await _annuler_urgents(conn, alerte)
    if referent is None:
        _sans_destinataire(alerte, evenement)
        return
    await conn.execute(
        f"INSERT INTO {SCHEMA}.lignes_digest (departement, destinataire, alerte_id, due_le, alerte) "
        "VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (departement, destinataire, alerte_id) "
        "DO UPDATE SET due_le = EXCLUDED.due_le, alerte = EXCLUDED.alerte",
        departement,
        referent,
        alerte.alerte_id,
        au_plus_tard(alerte),
        alerte.model_dump_json(),
    )


async def planifier(pool: asyncpg.Pool, settings: NotificationsSettings, horloge: Horloge, limite: int = 500) -> int:
    """Plan the e-mails of the outbox's next changes (at most ``limite``); the number of changes read.

    0 when there is nothing new or another instance holds the cursor. Without
    ``smtp_hote`` the changes are read and the cursor moved, nothing planned.
    """
    async with pool.acquire() as conn, conn.transaction():
        lu = await sorties.lire(cast(asyncpg.Connection, conn), CONSOMMATEUR, limite)
        if lu is None or not lu[1]:
            return 0
        _, changements = lu
        le = horloge.maintenant()
        for sortie in changements:
            if settings.smtp_hote is None:
                NON_PLANIFIES.labels("non_configure").inc()
            else:
                await _planifier_un(conn, sortie, le)
        await sorties.avancer(cast(asyncpg.Connection, conn), CONSOMMATEUR, changements[-1].position)
        return len(changements)


# -- 2. digests ------------------------------------------------------------------------------------


def jour_du_digest(settings: NotificationsSettings, maintenant: datetime) -> str | None:
    """The day (``AAAA-MM-JJ``, Europe/Paris) whose digest is due at ``maintenant``, or None before the hour."""
    local = maintenant.astimezone(FUSEAU)
    return local.date().isoformat() if local.hour >= settings.digest_heure else None


async def composer_digests(pool: asyncpg.Pool, settings: NotificationsSettings, horloge: Horloge) -> int:
    """Queue today's digest of each recipient with waiting lines, if the hour has come; the number queued."""
    maintenant = horloge.maintenant()
    jour = jour_du_digest(settings, maintenant)
    if jour is None or settings.smtp_hote is None:
        return 0
    async with pool.acquire() as conn:
        qui = await conn.fetch(
            f"SELECT DISTINCT l.departement, l.destinataire FROM {SCHEMA}.lignes_digest l WHERE NOT EXISTS "
            f"(SELECT 1 FROM {SCHEMA}.courriels c "
            "WHERE c.cle = 'digest:' || l.departement || ':' || l.destinataire || ':' || $1::text)",
            jour,
        )
    composes = 0
    for qui_ in qui:
        departement: str = qui_["departement"]
        destinataire: str = qui_["destinataire"]
        async with pool.acquire() as conn, conn.transaction():
            lignes = await conn.fetch(
                f"SELECT alerte_id, alerte FROM {SCHEMA}.lignes_digest WHERE departement = $1 AND destinataire = $2 "
                "ORDER BY due_le, alerte_id LIMIT $3 FOR UPDATE SKIP LOCKED",
                departement,
                destinataire,
                LIGNES_DIGEST_MAX,
            )
            if not lignes:
                continue
            alertes = [Alerte.model_validate(orjson.loads(ligne["alerte"])) for ligne in lignes]
            cle = f"digest:{departement}:{destinataire}:{jour}"
            if await _mettre_en_file(conn, cle, departement, destinataire, "digest", alertes=alertes, le=maintenant):
                await conn.execute(
                    f"DELETE FROM {SCHEMA}.lignes_digest WHERE departement = $1 AND destinataire = $2 "
                    "AND alerte_id = ANY($3::uuid[])",
                    departement,
                    destinataire,
                    [ligne["alerte_id"] for ligne in lignes],
                )
                composes += 1
    return composes


# -- 3. sending --------------------------------------------------------------------------------------


def bail_s(settings: NotificationsSettings) -> float:
    """How long a claimed e-mail is held by its sender before another may take it (seconds)."""
    return max(120.0, 4 * settings.smtp_timeout_s)


def delai_reessai_s(settings: NotificationsSettings, tentatives: int, tirage: float | None = None) -> float:
    """Seconds before try ``tentatives + 1``: ``initial × 2^(tentatives-1)`` capped at the max, half of it random."""
    plein = min(settings.smtp_delai_max_s, settings.smtp_delai_initial_s * 2 ** max(0, tentatives - 1))
    part: float = random.random() if tirage is None else tirage  # noqa: S311 (a jitter, not a secret)
    return float(plein / 2 + plein / 2 * part)


@dataclass(frozen=True)
class CourrielReclame:
    """An e-mail claimed for sending."""

    id: int
    cle: str
    departement: str
    destinataire: str
    nature: Nature
    alertes: list[Alerte]
    tentatives: int


async def _reclamer(
    pool: asyncpg.Pool, settings: NotificationsSettings, maintenant: datetime
) -> CourrielReclame | None:
    async with pool.acquire() as conn:
        ligne = await conn.fetchrow(
            f"WITH c AS (SELECT id FROM {SCHEMA}.courriels WHERE etat = 'a_envoyer' AND prochaine_tentative <= $1 "
            "ORDER BY prochaine_tentative, id LIMIT 1 FOR UPDATE SKIP LOCKED) "
            f"UPDATE {SCHEMA}.courriels k SET tentatives = k.tentatives + 1, prochaine_tentative = $2 FROM c "
            "WHERE k.id = c.id RETURNING k.id, k.cle, k.departement, k.destinataire, k.nature, k.alertes, k.tentatives",
            maintenant,
            maintenant + timedelta(seconds=bail_s(settings)),
        )
    if ligne is None:
        return None
    return CourrielReclame(
        id=ligne["id"],
        cle=ligne["cle"],
        departement=ligne["departement"],
        destinataire=ligne["destinataire"],
        nature=ligne["nature"],
        alertes=[Alerte.model_validate(a) for a in orjson.loads(ligne["alertes"])],
        tentatives=ligne["tentatives"],
    )


async def _conclure(
    pool: asyncpg.Pool, courriel: CourrielReclame, etat: str, maintenant: datetime, prochaine: datetime | None = None
) -> None:
    # Fenced by the tries counted at the claim: a sender whose lease ran out does not overwrite the next one's
    # outcome; and a failure does not bring back an e-mail cancelled meanwhile (a success is recorded all the same).
    async with pool.acquire() as conn:
        await conn.execute(
            f"UPDATE {SCHEMA}.courriels SET etat = $3::text, envoye_le = CASE WHEN $3::text = 'envoye' THEN $4::timestamptz END, "
            "prochaine_tentative = COALESCE($5::timestamptz, prochaine_tentative) "
            "WHERE id = $1 AND tentatives = $2 AND (etat = 'a_envoyer' OR $3::text = 'envoye')",
            courriel.id,
            courriel.tentatives,
            etat,
            maintenant,
            prochaine,
        )


def _securite(settings: NotificationsSettings) -> tuple[bool, bool]:
    """(``use_tls``, ``start_tls``): ``aucune`` says no to both (aiosmtplib would try STARTTLS if offered)."""
    return settings.smtp_securite == "tls", settings.smtp_securite == "starttls"


def _permanent(exc: Exception) -> bool:
    """A 5xx answer (RFC 5321 § 4.2.1): the same message would be refused again."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return all(r.code >= 500 for r in exc.recipients)
    return isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code >= 500


async def envoyer(settings: NotificationsSettings, adresse: str, message: redaction.Courriel) -> None:
    """Hand ``message`` to the SMTP server for ``adresse``; returns once its DATA is accepted, else raises."""
    assert settings.smtp_hote is not None
    tls, starttls = _securite(settings)
    mot_de_passe = settings.smtp_mot_de_passe.get_secret_value() if settings.smtp_mot_de_passe else None
    await aiosmtplib.send(
        message.message,
        sender=settings.smtp_expediteur,
        recipients=[adresse],
        hostname=settings.smtp_hote,
        port=settings.smtp_port,
        username=settings.smtp_utilisateur,
        password=mot_de_passe,
        timeout=settings.smtp_timeout_s,
        use_tls=tls,
        start_tls=starttls,
        validate_certs=True,
        cert_bundle=str(settings.smtp_ca_fichier) if settings.smtp_ca_fichier else None,
    )


async def envoyer_un(pool: asyncpg.Pool, settings: NotificationsSettings, horloge: Horloge) -> bool:
    """Claim the next e-mail due and send it; False when none is due."""
    maintenant = horloge.maintenant()
    courriel = await _reclamer(pool, settings, maintenant)
    if courriel is None:
        return False
    ids = {"courriel_id": courriel.id, "nature": courriel.nature, "tentative": courriel.tentatives}
    async with pool.acquire() as conn:
        adresse = await destinataires.adresse(conn, courriel.departement, courriel.destinataire)
    if adresse is None:
        await _conclure(pool, courriel, "sans_destinataire", maintenant)
        NON_PLANIFIES.labels("sans_destinataire").inc()
        log.info("courriel_sans_destinataire", **ids)
        return True
    message = redaction.rediger(
        settings, courriel.cle, courriel.nature, courriel.alertes, adresse=adresse, maintenant=maintenant
    )
    try:
        await envoyer(settings, adresse, message)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        apres = horloge.maintenant()
        if _permanent(exc):
            await _conclure(pool, courriel, "rejete", apres)
            ECHECS.labels(courriel.nature, "rejete").inc()
            log.warning("courriel_rejete", erreur=type(exc).__name__, **ids)
        elif courriel.tentatives >= settings.smtp_tentatives_max:
            await _conclure(pool, courriel, "echec", apres)
            ECHECS.labels(courriel.nature, "echec").inc()
            log.error("courriel_abandonne", erreur=type(exc).__name__, **ids)
        else:
            delai = delai_reessai_s(settings, courriel.tentatives)
            await _conclure(pool, courriel, "a_envoyer", apres, apres + timedelta(seconds=delai))
            ECHECS.labels(courriel.nature, "reessai").inc()
            log.warning("courriel_reessai", erreur=type(exc).__name__, dans_s=round(delai), **ids)
        return True
    await _conclure(pool, courriel, "envoye", horloge.maintenant())
    ENVOYES.labels(courriel.nature).inc()
    log.info("courriel_envoye", alertes=[str(a.alerte_id) for a in courriel.alertes], **ids)
    return True


async def envoyer_dus(pool: asyncpg.Pool, settings: NotificationsSettings, horloge: Horloge, maximum: int = 100) -> int:
    """Send the e-mails due, at most ``maximum`` (each claimed alone); the number handled."""
    if settings.smtp_hote is None:
        return 0
    traites = 0
    while traites < maximum and await envoyer_un(pool, settings, horloge):
        traites += 1
    return traites


# -- the loop ---------------------------------------------------------------------------------------


@dataclass
class Bilan:
    """What one round did."""

    changements: int = 0
    digests: int = 0
    envoyes: int = 0


async def un_tour(pool: asyncpg.Pool, settings: NotificationsSettings, horloge: Horloge) -> Bilan:
    """One round: the outbox read to its end, today's digests if due, the e-mails due sent."""
    bilan = Bilan()
    while n := await planifier(pool, settings, horloge):
        bilan.changements += n
    bilan.digests = await composer_digests(pool, settings, horloge)
    bilan.envoyes = await envoyer_dus(pool, settings, horloge)
    plus_ancien = await pool.fetchval(f"SELECT min(cree_le) FROM {SCHEMA}.courriels WHERE etat = 'a_envoyer'")
    ATTENTE.set(0.0 if plus_ancien is None else max(0.0, (horloge.maintenant() - plus_ancien).total_seconds()))
    return bilan


async def tourner(pool: asyncpg.Pool, settings: NotificationsSettings, horloge: Horloge, arret: asyncio.Event) -> None:
    """Run :func:`un_tour` every ``courriels_intervalle_s`` seconds until ``arret`` is set.

    A database or SMTP error ends the round (logged by class name), not the loop; several
    instances may run it at once (the outbox cursor, the digests' keys and the claims
    keep each e-mail to one sender).
    """
    if settings.smtp_hote is None:
        log.info("courriels_non_configures")
    while not arret.is_set():
        try:
            await un_tour(pool, settings, horloge)
        except Exception as exc:
            # The class only: a database error's text can quote the values of a row (an address).
            log.warning("courriels_tour_interrompu", erreur=type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arret.wait(), settings.courriels_intervalle_s)
