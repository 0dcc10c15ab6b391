"""Webhooks: subscriptions, deliveries planned from the alerts' outbox, sent signed, retried, dead-lettered.

Standard Webhooks (https://www.standardwebhooks.com, ``standardwebhooks``
package): each delivery is a POST of::

    {"type": "fr.ase.alertes.<evenement>.v1", "timestamp": "<the change's time, RFC 3339>",
     "data": <the Alerte, contracts.alertes>}

with ``content-type: application/json``, ``webhook-id`` (``msg_<32 hex>``, the
same for every try of one delivery: receivers deduplicate on it),
``webhook-timestamp`` (seconds since 1970, when the try is sent: the machine's
clock, since receivers compare it with theirs) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``, keyed by the
subscription's ``whsec_`` secret).

Subscriptions and their tables: :mod:`services.notifications.abonnements`.

Planning (:func:`planifier`): in ONE transaction, the outbox is read from the
cursor ``webhooks`` (:mod:`services.notifications.sorties`), one delivery is
created per active subscription of the alert's département whose ``types``
hold the alert's type or ``*``, and the cursor moves: nothing lost, nothing
planned twice.

Sending (:func:`livrer`, :func:`reclamer`): for each active subscription
whose queue's head is due, the run of up to :data:`FILE_MAX` due deliveries
from the head on is claimed in a short transaction (the subscription row
locked ``FOR UPDATE SKIP LOCKED``, then the deliveries leased: their try
counted, ``prochaine_tentative`` moved to the lease's end, ``webhooks_timeout_s``
times (:data:`BAIL_FACTEUR` + run - 1)); the transaction commits and the POSTs
go out without a transaction open, the subscriptions concurrently, each run
one delivery after the other, stopping at the first failure; the outcomes are
recorded after, each only if its lease is still ours (the deliveries behind a
failure are released, their try not counted). Two instances never send one
delivery at once; a crash mid-send retries it when the lease ends. A
subscription's deliveries go out in the outbox's order: a delivery waits while
an earlier one of its subscription is pending (its retries hold the queue; a
dead letter frees it; a replayed one goes out of order, being late).

Outcomes: 2xx → ``livree``. 410 Gone → the subscription is ``desactive`` and
its pending deliveries (this one too) ``annulee``. Anything else (another
status, a redirect, a timeout: the whole try, answer included, is bounded by
``webhooks_timeout_s``, a refused connection, an address refused by
:mod:`services.notifications.adresses`, any other error while preparing,
resolving or sending: that delivery's failure, never the others') → retried after
``random.uniform(0, min(webhooks_delai_max_s, webhooks_delai_initial_s * 2**(k-1)))``
seconds after the k-th try (AWS "full jitter"): with the defaults the bounds
are 30 s, 1 min, 2 min, 4 min, 8 min, 16 min, 32 min (then 6 h at most), and the
8th failed try (``webhooks_tentatives_max``) makes it a ``lettre_morte``,
listed and replayable by an encadrant of the département.

Metrics: ``ase_webhooks_livraisons_total{resultat}`` (livree, echec,
lettre_morte, desactivee), ``ase_webhooks_livraison_plus_ancienne_s`` (age of
the oldest pending delivery). Logs name ids, statuses and error classes,
never a URL, a secret or a body.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, TypeAlias, cast
from uuid import UUID

import asyncpg
import httpx
import orjson
import structlog
from prometheus_client import Counter, Gauge
from standardwebhooks import Webhook

from contracts.alertes import type_cloudevents
from services.notifications import adresses, sorties
from services.notifications.abonnements import (
    ACTIF,
    ANNULEE,
    DESACTIVE,
    EN_ATTENTE,
    LETTRE_MORTE,
    LIVREE,
    SCHEMA,
    TOUS,
    _arreter_abonnement,
)
from services.notifications.settings import NotificationsSettings
from services.runtime.coffre import CleEnveloppee, Coffre, CoffreError, coffre_par_defaut
from services.runtime.horloge import Horloge, HorlogeSysteme
from services.runtime.http import REGISTRE

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connexion: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

log = structlog.get_logger(__name__)

CONSOMMATEUR: Final = "webhooks"
"""This module's cursor in the alerts' outbox."""
ESPACE_MESSAGES: Final = UUID("5d0c1f7e-2b8a-4c39-9e61-0f4a7b3c2d18")
BAIL_FACTEUR: Final = 2.0
"""A claimed delivery is leased for this many times ``webhooks_timeout_s``."""
REPONSE_MAX: Final = 64 * 1024
"""Bytes of a receiver's answer read (then dropped); beyond, the connection is closed."""
FILE_MAX: Final = 20
"""Deliveries of one subscription claimed at once and sent one after the other (in order)."""
NON_ENVOYEE: Final = "non_envoyee"
ADRESSES_MAX: Final = 3
"""Checked addresses of a host tried in turn when one refuses the connection."""


LIVRAISONS = Counter(
    "ase_webhooks_livraisons_total",
    "Webhook delivery tries by outcome (livree, echec, lettre_morte, desactivee)",
    ["resultat"],
    registry=REGISTRE,
)
PLUS_ANCIENNE = Gauge(
    "ase_webhooks_livraison_plus_ancienne_s",
    "Age in seconds of the oldest pending webhook delivery (0 when none)",
    registry=REGISTRE,
)


# -- planning from the outbox ---------------------------------------------------------------


def message_id(abonnement_id: UUID, position: int) -> str:
    """``msg_<32 hex>``: the same for every try of the delivery of outbox ``position`` to a subscription."""
    return "msg_" + uuid.uuid5(ESPACE_MESSAGES, f"{abonnement_id}:{position}").hex


def corps(sortie: sorties.Sortie) -> str:
    """The JSON body of a delivery (Standard Webhooks' payload shape: type, timestamp, data)."""
    return orjson.dumps(
        {
            "type": type_cloudevents(sortie.evenement),
            "timestamp": sortie.alerte.modifiee_le.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "data": sortie.alerte.model_dump(mode="json"),
        }
    ).decode()


def _departements(sortie: sorties.Sortie) -> list[str]:
    """Whose subscribers get a change: its alert's département, and the one it left after a transfer."""
    alerte = sortie.alerte
    if alerte.departement_precedent is not None and alerte.departement_precedent != alerte.departement:
        return [alerte.departement, alerte.departement_precedent]
    return [alerte.departement]


async def planifier(conn: Connexion, maintenant: datetime, *, limite: int = 500) -> int | None:
    """Plan the deliveries of the next ``limite`` outbox changes, in one transaction.

    Returns how many outbox changes were read (0: none left), or None when another
    instance holds the cursor.
    """
    async with conn.transaction():
        lu = await sorties.lire(cast("asyncpg.Connection[asyncpg.Record]", conn), CONSOMMATEUR, limite)
        if lu is None:
            return None
        _, changements = lu
        if not changements:
            return 0
        departements = sorted({d for s in changements for d in _departements(s)})
        abonnes: dict[str, list[tuple[UUID, frozenset[str]]]] = {}
        for ligne in await conn.fetch(
            f"SELECT abonnement_id, departement, types FROM {SCHEMA}.abonnements "
            f"WHERE etat = '{ACTIF}' AND departement = ANY($1) ORDER BY abonnement_id",
            departements,
        ):
            abonnes.setdefault(ligne["departement"], []).append((ligne["abonnement_id"], frozenset(ligne["types"])))
        lignes = []
        for sortie in changements:
            texte: str | None = None
            for abonnement_id, types in [a for d in _departements(sortie) for a in abonnes.get(d, ())]:
                if TOUS not in types and sortie.alerte.type not in types:
                    continue
                texte = texte or corps(sortie)
                lignes.append(
                    (
                        uuid.uuid4(),
                        abonnement_id,
                        sortie.position,
                        message_id(abonnement_id, sortie.position),
                        sortie.evenement.value,
                        sortie.alerte.alerte_id,
                        texte,
                        maintenant,
                    )
                )
        if lignes:
            await conn.executemany(
                f"INSERT INTO {SCHEMA}.livraisons (livraison_id, abonnement_id, position, message_id, evenement, "
                "alerte_id, corps, prochaine_tentative, creee_le, modifiee_le) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8) ON CONFLICT (abonnement_id, position) DO NOTHING",
                lignes,
            )
        await sorties.avancer(cast("asyncpg.Connection[asyncpg.Record]", conn), CONSOMMATEUR, changements[-1].position)
    return len(changements)


# -- sending ----------------------------------------------------------------------------------


def delai_avant_nouvel_essai(
    tentatives: int, settings: NotificationsSettings, tirage: Callable[[float, float], float] = random.uniform
) -> float:
    """Seconds before the next try after the ``tentatives``-th failed one (full jitter).

    ``uniform(0, min(max, initial * 2**(tentatives-1)))``: bounds 30 s, 60 s, 120 s... 6 h with the defaults.
    """
    borne = min(settings.webhooks_delai_max_s, settings.webhooks_delai_initial_s * 2.0 ** max(tentatives - 1, 0))
    return tirage(0.0, borne)


@dataclass(frozen=True)
class Reclamee:
    """A delivery claimed for one try."""

    livraison_id: UUID
    abonnement_id: UUID
    message_id: str
    corps: str
    tentatives: int
    """Including this one."""
    url: str
    secret_chiffre: bytes
    kek_id: str
    position: int = 0
    """In the outbox: the order of the subscription's deliveries."""


@dataclass(frozen=True)
class Issue:
    """What one try gave: a status, or an error class."""

    statut: int | None
    erreur: str | None

    @property
    def reussie(self) -> bool:
        return self.statut is not None and 200 <= self.statut < 300


async def reclamer(
    conn: Connexion, maintenant: datetime, bail_s: float, limite: int, *, par_abonnement: int = 1
) -> list[Reclamee]:
    """Claim, for at most ``limite`` active subscriptions whose queue's head is due, the run of
    up to ``par_abonnement`` deliveries from the head on that are all due; leased ``bail_s``.

    One short transaction: the subscriptions are locked first (``FOR UPDATE SKIP
    LOCKED``: one claimer per subscription at a time), then a second statement, whose
    snapshot is taken after the locks so it sees every earlier claim committed, takes
    the runs and leases them (its try counted, ``prochaine_tentative`` moved to the
    lease's end). A claimed head makes its queue not due: no other instance takes
    anything behind it. Returned in (subscription, position) order.
    """
    async with conn.transaction():
        abonnes = await conn.fetch(
            f"WITH candidats AS (SELECT a.abonnement_id, t.prochaine_tentative FROM {SCHEMA}.abonnements a "
            "CROSS JOIN LATERAL ("
            f"    SELECT prochaine_tentative FROM {SCHEMA}.livraisons l "
            f"    WHERE l.abonnement_id = a.abonnement_id AND l.etat = '{EN_ATTENTE}' ORDER BY l.position LIMIT 1) t "
            f"  WHERE a.etat = '{ACTIF}' AND t.prochaine_tentative <= $1 ORDER BY t.prochaine_tentative LIMIT $2) "
            f"SELECT abonnement_id FROM {SCHEMA}.abonnements "
            "WHERE abonnement_id IN (SELECT abonnement_id FROM candidats) "
            f"AND etat = '{ACTIF}' ORDER BY abonnement_id FOR UPDATE SKIP LOCKED",
            maintenant,
            limite,
        )
        if not abonnes:
            return []
        lignes = await conn.fetch(
            "WITH files AS (SELECT t.livraison_id, t.abonnement_id, t.position, "
            "  bool_and(t.prochaine_tentative <= $2) OVER (PARTITION BY t.abonnement_id ORDER BY t.position) AS due "
            "  FROM unnest($1::uuid[]) AS a(abonnement_id) CROSS JOIN LATERAL ("
            f"    SELECT livraison_id, abonnement_id, position, prochaine_tentative FROM {SCHEMA}.livraisons l "
            f"    WHERE l.abonnement_id = a.abonnement_id AND l.etat = '{EN_ATTENTE}' ORDER BY l.position LIMIT $3) t) "
            f"UPDATE {SCHEMA}.livraisons l SET tentatives = l.tentatives + 1, prochaine_tentative = $4, modifiee_le = $2 "
            f"FROM files, {SCHEMA}.abonnements a WHERE l.livraison_id = files.livraison_id AND files.due "
            "AND a.abonnement_id = l.abonnement_id "
            "RETURNING l.livraison_id, l.abonnement_id, l.position, l.message_id, l.corps, l.tentatives, a.url, "
            "a.secret_chiffre, a.kek_id",
            [ligne["abonnement_id"] for ligne in abonnes],
            maintenant,
            par_abonnement,
            maintenant + timedelta(seconds=bail_s),
        )
    return sorted(
        (
            Reclamee(
                ligne["livraison_id"],
                ligne["abonnement_id"],
                ligne["message_id"],
                ligne["corps"],
                ligne["tentatives"],
                ligne["url"],
                bytes(ligne["secret_chiffre"]),
                ligne["kek_id"],
                ligne["position"],
            )
            for ligne in lignes
        ),
        key=lambda r: (r.abonnement_id, r.position),
    )


def _issue_a_enregistrer(
    r: Reclamee,
    issue: Issue | None,
    maintenant: datetime,
    settings: NotificationsSettings,
    tirage: Callable[[float, float], float],
) -> tuple[str, str, datetime]:
    """(state, outcome, next try) of a try's outcome (None: claimed, not sent)."""
    if issue is None:
        return EN_ATTENTE, NON_ENVOYEE, maintenant
    if issue.reussie:
        return LIVREE, "livree", maintenant
    if issue.statut == 410:
        return ANNULEE, "desactivee", maintenant
    if r.tentatives >= settings.webhooks_tentatives_max:
        return LETTRE_MORTE, "lettre_morte", maintenant
    delai = delai_avant_nouvel_essai(r.tentatives, settings, tirage)
    return EN_ATTENTE, "echec", maintenant + timedelta(seconds=delai)


async def enregistrer_lot(
    conn: Connexion,
    lot: Sequence[tuple[Reclamee, Issue | None]],
    *,
    maintenant: datetime,
    settings: NotificationsSettings,
    tirage: Callable[[float, float], float] = random.uniform,
) -> list[str | None]:
    """Record the outcomes of tries, each only if its lease is still ours (one statement;
    one transaction when a 410 disables a subscription too).

    An issue None is a delivery claimed but not sent (an earlier one of its run failed):
    it is due again at once, its try not counted. Returns, for each, the outcome
    recorded (``livree``, ``echec``, ``lettre_morte``, ``desactivee``: a 410, the
    subscription disabled and its pending deliveries cancelled, :data:`NON_ENVOYEE`) or
    None (lease lost: another instance claimed it again, or it was cancelled).
    """
    decisions = [_issue_a_enregistrer(r, issue, maintenant, settings, tirage) for r, issue in lot]
    async with _transaction_si(conn, any(d[1] == "desactivee" for d in decisions)):
        a_nous = {
            ligne["livraison_id"]
            for ligne in await conn.fetch(
                f"UPDATE {SCHEMA}.livraisons l SET etat = v.etat, prochaine_tentative = v.prochaine, "
                "tentatives = CASE WHEN v.envoyee THEN l.tentatives ELSE l.tentatives - 1 END, "
                "dernier_statut = CASE WHEN v.envoyee THEN v.statut ELSE l.dernier_statut END, "
                "derniere_erreur = CASE WHEN v.envoyee THEN v.erreur ELSE l.derniere_erreur END, modifiee_le = $8 "
                "FROM unnest($1::uuid[], $2::int[], $3::text[], $4::timestamptz[], $5::int[], $6::text[], $7::bool[]) "
                "AS v(livraison_id, tentatives, etat, prochaine, statut, erreur, envoyee) "
                f"WHERE l.livraison_id = v.livraison_id AND l.tentatives = v.tentatives AND l.etat = '{EN_ATTENTE}' "
                "RETURNING l.livraison_id",
                [r.livraison_id for r, _ in lot],
                [r.tentatives for r, _ in lot],
                [d[0] for d in decisions],
                [d[2] for d in decisions],
                [issue.statut if issue else None for _, issue in lot],
                [issue.erreur if issue else None for _, issue in lot],
                [issue is not None for _, issue in lot],
                maintenant,
            )
        }
        for (r, _), (_, resultat, _) in zip(lot, decisions, strict=True):
            if resultat == "desactivee" and r.livraison_id in a_nous:
                await _arreter_abonnement(conn, r.abonnement_id, DESACTIVE, maintenant)
    resultats: list[str | None] = []
    for (r, issue), (_, resultat, _) in zip(lot, decisions, strict=True):
        if r.livraison_id not in a_nous:
            resultats.append(None)
            continue
        resultats.append(resultat)
        if issue is None:
            continue
        LIVRAISONS.labels(resultat).inc()
        log.info(
            "webhook_livraison",
            livraison_id=str(r.livraison_id),
            abonnement_id=str(r.abonnement_id),
            message_id=r.message_id,
            tentative=r.tentatives,
            resultat=resultat,
            statut=issue.statut,
            erreur=issue.erreur,
        )
    return resultats


def _transaction_si(conn: Connexion, necessaire: bool) -> AbstractAsyncContextManager[Any]:
    """A transaction when several statements must commit together; else the one statement's own."""
    return conn.transaction() if necessaire else nullcontext()


async def enregistrer(
    conn: Connexion,
    r: Reclamee,
    *,
    issue: Issue,
    maintenant: datetime,
    settings: NotificationsSettings,
    tirage: Callable[[float, float], float] = random.uniform,
) -> str | None:
    """:func:`enregistrer_lot` of one try."""
    (resultat,) = await enregistrer_lot(conn, [(r, issue)], maintenant=maintenant, settings=settings, tirage=tirage)
    return resultat


class Facteur:
    """Sends claimed deliveries: one HTTP client, the secrets unwrapped once per subscription."""

    def __init__(
        self,
        settings: NotificationsSettings,
        *,
        resolveur: adresses.Resolveur | None = None,
        coffre: Coffre | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings = settings
        self.resolveur = resolveur
        self.coffre = coffre
        self.client = client or httpx.AsyncClient(
            timeout=settings.webhooks_timeout_s,
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=50),
        )
        self._signataires: dict[UUID, Webhook] = {}

    async def fermer(self) -> None:
        await self.client.aclose()

    def _signataire(self, r: Reclamee) -> Webhook:
        signataire = self._signataires.get(r.abonnement_id)
        if signataire is None:
            brut = (self.coffre or coffre_par_defaut()).desenvelopper(
                CleEnveloppee(r.abonnement_id, r.secret_chiffre, r.kek_id)
            )
            signataire = self._signataires[r.abonnement_id] = Webhook(brut)
        return signataire

    async def envoyer(self, r: Reclamee) -> Issue:
        """One try: check the address again, POST the signed body to the checked address, read the status.

        Never raises (but for cancellation): the whole try (preparing, resolving,
        connecting, sending, reading the bounded answer) is bounded by
        ``webhooks_timeout_s`` seconds (``delai_depasse``: httpx's own timeout is per
        read, a receiver dripping its answer would hold the try for ever), and any
        other error is this delivery's failure (``erreur:<class>``), never the round's.
        """
        try:
            async with asyncio.timeout(self.settings.webhooks_timeout_s):
                return await self._envoyer(r)
        except TimeoutError:
            return Issue(None, "delai_depasse")
        except Exception as exc:  # one delivery's bug or odd input must not stop the others
            log.warning("webhook_erreur", livraison_id=str(r.livraison_id), erreur=type(exc).__name__)
            return Issue(None, f"erreur:{type(exc).__name__}")

    async def _envoyer(self, r: Reclamee) -> Issue:
        requetes = await self._preparer(r)
        if isinstance(requetes, Issue):
            return requetes
        *autres, derniere = requetes
        for requete in autres:
            # An address that refuses the connection: the next one checked (IPv6 then IPv4...).
            try:
                return await self._poster(requete)
            except httpx.ConnectError:
                continue
        try:
            return await self._poster(derniere)
        except httpx.ConnectError:
            return Issue(None, "connexion")

    async def _poster(self, requete: httpx.Request) -> Issue:
        """Send, read at most :data:`REPONSE_MAX` bytes of the answer, the status; raises ``httpx.ConnectError``."""
        try:
            reponse = await self.client.send(requete, stream=True)
            try:
                lu = 0
                async for morceau in reponse.aiter_raw():
                    lu += len(morceau)
                    if lu > REPONSE_MAX:
                        break
            finally:
                await reponse.aclose()
        except httpx.TimeoutException:
            return Issue(None, "delai_depasse")
        except httpx.ConnectError:
            raise
        except httpx.HTTPError as exc:
            return Issue(None, type(exc).__name__)
        statut = reponse.status_code
        return Issue(statut, None if 200 <= statut < 300 else "redirection" if 300 <= statut < 400 else "statut_http")

    async def _preparer(self, r: Reclamee) -> list[httpx.Request] | Issue:
        """The signed request to each checked address (at most :data:`ADRESSES_MAX`), or why there is none."""
        try:
            c = adresses.cible(r.url, http_permis=self.settings.mode != "production")
            ips = await adresses.resoudre_toutes(c, loopback=self.settings.webhooks_loopback, resolveur=self.resolveur)
        except adresses.AdresseRefuseeError:
            return Issue(None, "adresse_refusee")
        try:
            signataire = self._signataire(r)
        except CoffreError as exc:
            # A key-encryption key this process does not have (a rotation not rolled out): retried later.
            return Issue(None, f"secret_illisible:{type(exc).__name__}")
        horodatage = datetime.now(UTC)
        entetes = {
            "content-type": "application/json",
            "webhook-id": r.message_id,
            "webhook-timestamp": str(int(horodatage.timestamp())),
            "webhook-signature": signataire.sign(r.message_id, horodatage, r.corps),
            "user-agent": "parcours-ase-webhooks/1",
        }
        contenu = r.corps.encode()
        return [adresses.requete(self.client, c, ip, contenu, entetes) for ip in ips[:ADRESSES_MAX]]


async def livrer(
    pool: asyncpg.Pool,
    facteur: Facteur,
    horloge: Horloge,
    *,
    limite: int = 100,
    par_abonnement: int = FILE_MAX,
    tirage: Callable[[float, float], float] = random.uniform,
) -> int:
    """Claim the due deliveries, send them, record the outcomes; how many were sent.

    Up to ``limite`` subscriptions at once, concurrently, each by :func:`servir`
    (its run of up to ``par_abonnement`` due deliveries one after the other, in
    order, recorded as soon as that subscription is done: a slow receiver delays no
    other's record). Due and leased by ``horloge`` before the sends, outcomes (and
    retry delays) timed after them.
    """
    files = await reclamer_files(pool, facteur.settings, horloge, limite=limite, par_abonnement=par_abonnement)
    envoyees = await asyncio.gather(
        *(servir(pool, facteur, horloge, f, par_abonnement=par_abonnement, tirage=tirage) for f in files),
        return_exceptions=True,
    )
    return sum(n for n in envoyees if isinstance(n, int))


async def reclamer_files(
    pool: asyncpg.Pool,
    settings: NotificationsSettings,
    horloge: Horloge,
    *,
    limite: int,
    par_abonnement: int = FILE_MAX,
) -> list[list[Reclamee]]:
    """:func:`reclamer`'s claims, one list (a run, in order) per subscription."""
    bail_s = settings.webhooks_timeout_s * (BAIL_FACTEUR + par_abonnement - 1)
    async with pool.acquire() as conn:
        reclamees = await reclamer(conn, horloge.maintenant(), bail_s, limite, par_abonnement=par_abonnement)
    files: dict[UUID, list[Reclamee]] = {}
    for r in reclamees:
        files.setdefault(r.abonnement_id, []).append(r)
    return list(files.values())


async def servir(
    pool: asyncpg.Pool,
    facteur: Facteur,
    horloge: Horloge,
    file: Sequence[Reclamee],
    *,
    par_abonnement: int = FILE_MAX,
    tirage: Callable[[float, float], float] = random.uniform,
) -> int:
    """Send one subscription's claimed run in order, then record its outcomes; how many were sent.

    Stops at the first failure (those behind are released, their try not counted) or
    when the lease is about to end. Each try is bounded (:meth:`Facteur.envoyer`) and
    never raises: one subscription's trouble is its own. A failure to record (the
    database gone) is logged; the leases end and the deliveries are tried again.
    """
    settings = facteur.settings
    timeout = settings.webhooks_timeout_s
    bail_s = timeout * (BAIL_FACTEUR + par_abonnement - 1)
    debut = time.monotonic()
    lot: list[tuple[Reclamee, Issue | None]] = []
    for r in file:
        if lot and (not lot[-1][1] or not lot[-1][1].reussie or time.monotonic() - debut > bail_s - 2 * timeout):
            lot.append((r, None))
            continue
        lot.append((r, await facteur.envoyer(r)))
    try:
        async with pool.acquire() as conn:
            await enregistrer_lot(conn, lot, maintenant=horloge.maintenant(), settings=settings, tirage=tirage)
    except Exception as exc:  # the leases end, the deliveries are tried again
        log.warning(
            "webhooks_enregistrement_erreur", abonnement_id=str(file[0].abonnement_id), erreur=type(exc).__name__
        )
    return sum(1 for _, issue in lot if issue is not None)


async def mesurer(pool: asyncpg.Pool, maintenant: datetime) -> float:
    """Set and return the age in seconds of the oldest pending delivery (0 when none)."""
    async with pool.acquire() as conn:
        plus_ancienne = await conn.fetchval(
            f"SELECT min(creee_le) FROM {SCHEMA}.livraisons WHERE etat = '{EN_ATTENTE}'"
        )
    age = max((maintenant - plus_ancienne).total_seconds(), 0.0) if plus_ancienne is not None else 0.0
    PLUS_ANCIENNE.set(age)
    return age


async def tourner(
    pool: asyncpg.Pool,
    settings: NotificationsSettings,
    arret: asyncio.Event,
    *,
    horloge: Horloge | None = None,
    reveil: asyncio.Event | None = None,
    intervalle_s: float = 1.0,
    resolveur: adresses.Resolveur | None = None,
    concurrence: int = 100,
) -> None:
    """The webhooks loop: plan from the outbox, send what is due, until ``arret`` is set.

    Each subscription's claimed run is sent by its own task (:func:`servir`, at most
    ``concurrence`` at once): the loop never waits for a delivery, so planning and
    the other subscriptions go on while a receiver is slow (each try is bounded by
    ``webhooks_timeout_s`` anyway). Works while there is work; otherwise waits
    ``intervalle_s`` seconds, or until ``reveil`` is set (the scheduler sets it after
    writing to the outbox) or a subscription's task ends. An error (the database
    gone) is logged and retried after the interval; the metric is measured whatever
    planning and claiming gave. When stopped, the tasks still running are given
    ``webhooks_timeout_s`` seconds, then cancelled (their leases end, they are retried).
    """
    horloge = horloge or HorlogeSysteme()
    facteur = Facteur(settings, resolveur=resolveur)
    derniere_mesure = 0.0
    en_vol: set[asyncio.Task[int]] = set()
    fini = asyncio.Event()

    def termine(tache: asyncio.Task[int]) -> None:
        en_vol.discard(tache)
        fini.set()

    try:
        while not arret.is_set():
            travail = 0
            try:
                async with pool.acquire() as conn:
                    travail += await planifier(conn, horloge.maintenant()) or 0
            except Exception as exc:  # the loop outlives a database outage or a bug in one round
                log.warning("webhooks_planification_erreur", erreur=type(exc).__name__)
            try:
                libres = concurrence - len(en_vol)
                files = await reclamer_files(pool, settings, horloge, limite=libres) if libres > 0 else []
                for file in files:
                    tache = asyncio.create_task(servir(pool, facteur, horloge, file))
                    en_vol.add(tache)
                    tache.add_done_callback(termine)
                travail += len(files)
            except Exception as exc:
                log.warning("webhooks_boucle_erreur", erreur=type(exc).__name__)
            if time.monotonic() - derniere_mesure >= intervalle_s:
                try:
                    await mesurer(pool, horloge.maintenant())
                    derniere_mesure = time.monotonic()
                except Exception as exc:
                    log.warning("webhooks_mesure_erreur", erreur=type(exc).__name__)
            if travail:
                continue
            await _attendre(arret, reveil, intervalle_s, fini)
    finally:
        if en_vol:
            await asyncio.wait(set(en_vol), timeout=settings.webhooks_timeout_s)
        for tache in list(en_vol):
            tache.cancel()
        await asyncio.gather(*en_vol, return_exceptions=True)
        await facteur.fermer()


async def _attendre(
    arret: asyncio.Event, reveil: asyncio.Event | None, delai_s: float, fini: asyncio.Event | None = None
) -> None:
    evenements: list[asyncio.Task[Any]] = [asyncio.create_task(arret.wait())]
    for evenement in (reveil, fini):
        if evenement is not None:
            evenements.append(asyncio.create_task(evenement.wait()))
    try:
        await asyncio.wait(evenements, timeout=delai_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for tache in evenements:
            tache.cancel()
    for evenement in (reveil, fini):
        if evenement is not None:
            evenement.clear()
