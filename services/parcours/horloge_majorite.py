"""The majority clock of the write side: ``MajoriteAtteinte`` recorded on the 18th birthday, by the system.

Each run records, through :class:`~services.parcours.application.ParcoursApplication` (the same rules,
the same hash chain, the same outbox as ``POST /v1/parcours/{id}/majorite``), ``MajoriteAtteinte`` and
the ends it implies (the accueil, the minors' measures: ``Parcours.atteindre_majorite``) as author
:data:`AUTEUR`, for every **open** parcours (not ``sorti``, or reopened since) whose 18th birthday
(``droit.calendrier.anniversaire``: born a 29 February, the 28th in a common year) is on or before
today's civil date in Europe/Paris (``services.runtime.horloge.aujourd_hui`` of the application's
clock) and that has no ``MajoriteAtteinte`` yet. A missed day, a restart, a parcours opened for
someone already of age: the next run catches them up (issue 10, item 6; DOMAIN.md, "MajoriteAtteinte:
its date_effet is the 18th birthday whenever it is recorded").

**Idempotent.** Each parcours' command carries the ``Idempotency-Key`` :func:`cle_idempotence` (a
UUIDv5 of the parcours id): the application stores its answer with the events (``ase_idempotence``),
so a retry, or a second runner racing the first, records nothing more. A second run finds no
candidate: the parcours now has its ``MajoriteAtteinte``.

**One runner at a time.** A run holds the session advisory lock :data:`CLE_VERROU` (``pg_try_advisory_lock``,
on a connection of its own, outside the pool); a process that does not get it skips its run (another
one is doing it). :func:`tourner` runs at start-up, then every day at :data:`HEURE` (Europe/Paris).

**Finding the candidates without decrypting every identity.** The exact birth date is personal data,
encrypted with the person's key in the ``ParcoursOuvert`` of the parcours (and in its identity stream).
No new table holds it, nor the majority date (which would reveal it): the store's log already keeps,
in clear, what a pre-selection needs (``persistence.JsonMapper``): the ``mois_naissance`` (year-month,
the month the public topic carries) of each ``ParcoursOuvert``, and the topics of
``MajoriteAtteinte``, ``SortieDispositif``, ``ParcoursRouvert`` and of a ``SaisieRectifiee`` whose
``champ`` is ``date_naissance`` (its values are encrypted). The candidates are the parcours whose
latest ``SortieDispositif`` (if any) is followed by a ``ParcoursRouvert``, without ``MajoriteAtteinte``,
and born in a month at most 18 years before the current one, or whose birth date was rectified (the
month in clear may be stale then). Only those parcours are loaded (decrypted with their person's key),
and the domain decides with the exact date: a candidate born later in the current month is left for
its day. On PostgreSQL the pre-selection is one aggregate query over the events of those five types
(a sequential read of the log, once a day, in the background; no index names persons); on the
in-memory store (unit tests), the same fold in Python over ``select_notifications``.

A parcours whose command is refused (an erased identity: ``identite_effacee``; any rule of the domain;
a concurrent writer) is logged by its id and the rule's code only (no name, no date) and skipped; the
run goes on. Metrics (``services.runtime.http.REGISTRE``): ``ase_horloge_majorite_executions_total``
by outcome, ``ase_horloge_majorite_enregistrees_total``, ``ase_horloge_majorite_refusees_total``.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Final
from uuid import UUID

import anyio
import orjson
import psycopg
import structlog
from anyio import CapacityLimiter, to_thread
from eventsourcing.persistence import ApplicationRecorder
from prometheus_client import Counter
from psycopg.sql import SQL, Identifier

from droit.calendrier import anniversaire
from services.parcours import instantanes
from services.parcours.application import Demande, ParcoursApplication, empreinte_de
from services.parcours.domain.contexte import Contexte
from services.parcours.domain.parcours import Parcours
from services.runtime.errors import ConflitDeVersionError, IntrouvableError, RegleMetierError
from services.runtime.horloge import FUSEAU, Horloge, aujourd_hui
from services.runtime.http import REGISTRE

log = structlog.get_logger(__name__)

AUTEUR: Final = "systeme:horloge-majorite"
"""The author (``metadonnees.auteur``) of what the clock records, and the ``sub`` of its idempotency keys."""

ESPACE_CLES: Final = UUID("6d616a6f-7269-5465-8000-415345484d41")
"""The UUIDv5 namespace of the clock's idempotency keys (fixed: a key must be the same at every run)."""

CLE_VERROU: Final = 0x415345_4D414A4F
"""``"ASE" "MAJO"``: the session advisory lock a run holds (one bigint, apart from the relay's and the DDL's)."""

HEURE: Final = time(0, 5)
"""The daily run, Europe/Paris civil time (and one at start-up)."""

ATTENTE_MAX_S: Final = 300.0
"""The longest sleep between two looks at the clock: a clock moved (suspend, NTP, a test) is seen within it."""

DELAI_CONNEXION_S: Final = 10
"""Seconds to connect the run's own session (the lock's and the pre-selection's)."""

DELAI_REQUETE_S: Final = 120.0
"""The bound of the pre-selection query (PostgreSQL's ``statement_timeout`` on the run's session)."""

REESSAI_S: Final = 300.0
"""After a failed run (the database unreachable), the next try comes this many seconds later."""

_TYPES: Final = ("ParcoursOuvert", "MajoriteAtteinte", "SortieDispositif", "ParcoursRouvert", "SaisieRectifiee")

EXECUTIONS = Counter(
    "ase_horloge_majorite_executions_total",
    "Runs of the majority clock, by outcome (faite, verrou_pris, echec)",
    ["issue"],
    registry=REGISTRE,
)
ENREGISTREES = Counter(
    "ase_horloge_majorite_enregistrees_total", "Majorities the clock recorded (MajoriteAtteinte)", registry=REGISTRE
)
REFUSEES = Counter(
    "ase_horloge_majorite_refusees_total",
    "Due majorities whose command was refused, by rule",
    ["regle"],
    registry=REGISTRE,
)


def cle_idempotence(parcours_id: UUID) -> str:
    """The ``Idempotency-Key`` of the clock's command on ``parcours_id``: ``str(uuid5(ESPACE_CLES, id))``."""
    return str(uuid.uuid5(ESPACE_CLES, str(parcours_id)))


def mois_limite(jour: date) -> str:
    """The latest ``mois_naissance`` (``YYYY-MM``) of someone who may be 18 on ``jour``: 18 years before its month."""
    return f"{jour.year - 18:04d}-{jour.month:02d}"


# -- the pre-selection ---------------------------------------------------------------------------


@dataclass
class _Tete:
    """What the log says in clear of one parcours stream, folded in the log's order."""

    mois: str | None = None
    majeur: bool = False
    ouvert: bool = True
    rectifiee: bool = False


def _nom(topic: str) -> str:
    return topic.rsplit(":", 1)[-1]


def candidats_du_journal(evenements: Iterable[Any], jour: date) -> list[UUID]:
    """The parcours that may be due on ``jour``, from stored events in the log's order (``topic``,
    ``state`` as stored, ``originator_id``): see the module's docstring. Sorted by id."""
    tetes: dict[UUID, _Tete] = {}
    for e in evenements:
        nom = _nom(e.topic)
        if nom not in _TYPES:
            continue
        tete = tetes.setdefault(UUID(str(e.originator_id)), _Tete())
        if nom == "ParcoursOuvert":
            etat = orjson.loads(e.state)
            mois = etat.get("mois_naissance") or str(etat.get("date_naissance") or "")[:7]
            tete.mois = mois or None
        elif nom == "MajoriteAtteinte":
            tete.majeur = True
        elif nom == "SortieDispositif":
            tete.ouvert = False
        elif nom == "ParcoursRouvert":
            tete.ouvert = True
        elif orjson.loads(e.state).get("champ") == "date_naissance":
            tete.rectifiee = True
    limite = mois_limite(jour)
    return sorted(
        pid
        for pid, t in tetes.items()
        if t.mois is not None and not t.majeur and t.ouvert and (t.mois <= limite or t.rectifiee)
    )


_SQL_CANDIDATS = """
SELECT originator_id FROM (
    SELECT originator_id,
        max(CASE WHEN topic LIKE %(ouvert)s THEN coalesce(
            convert_from(state, 'UTF8')::jsonb ->> 'mois_naissance',
            left(convert_from(state, 'UTF8')::jsonb ->> 'date_naissance', 7)) END) AS mois,
        bool_or(topic LIKE %(majorite)s) AS majeur,
        max(notification_id) FILTER (WHERE topic LIKE %(sortie)s) AS sortie,
        max(notification_id) FILTER (WHERE topic LIKE %(reouverture)s) AS reouverture,
        bool_or(CASE WHEN topic LIKE %(rectification)s
            THEN convert_from(state, 'UTF8')::jsonb ->> 'champ' = 'date_naissance' ELSE false END) AS rectifiee
    FROM {schema}.{table}
    WHERE topic LIKE ANY(%(types)s)
    GROUP BY originator_id
) AS tetes
WHERE mois IS NOT NULL AND NOT majeur AND (sortie IS NULL OR reouverture > sortie)
    AND (mois <= %(limite)s OR rectifiee)
ORDER BY originator_id
"""


def candidats_postgres(conn: psycopg.Connection[Any], schema: str, table: str, jour: date) -> list[UUID]:
    """:func:`candidats_du_journal` as one query on the events table ``schema.table``."""
    motifs = {
        "ouvert": "%:ParcoursOuvert",
        "majorite": "%:MajoriteAtteinte",
        "sortie": "%:SortieDispositif",
        "reouverture": "%:ParcoursRouvert",
        "rectification": "%:SaisieRectifiee",
    }
    requete = SQL(_SQL_CANDIDATS).format(schema=Identifier(schema), table=Identifier(table))
    lignes = conn.execute(requete, {**motifs, "types": list(motifs.values()), "limite": mois_limite(jour)}).fetchall()
    return [UUID(str(ligne[0])) for ligne in lignes]


# -- one run -------------------------------------------------------------------------------------


@dataclass
class Bilan:
    """What one run did: whether it ran (it had the lock), and the parcours by outcome (ids only)."""

    executee: bool
    enregistrees: list[UUID] = field(default_factory=list)
    refusees: dict[UUID, str] = field(default_factory=dict)
    """Parcours id -> the rule's code (``identite_effacee``, ``conflit_de_version``...)."""


def _atteindre(p: Parcours, ctx: Contexte) -> None:
    p.atteindre_majorite(ctx)


class HorlogeMajorite:
    """The runs of the majority clock on ``application``, with its clock (``application.horloge``).

    ``url``: the PostgreSQL of the store, for the advisory lock and the pre-selection (a connection of
    their own); None: the in-memory store (unit tests), one run at a time in this process.
    ``creneaux``: the commands' slots of the API (``Composants.limiteur``), one taken for each command,
    so the clock shares the pool with the API's commands instead of adding to them.
    """

    def __init__(
        self, application: ParcoursApplication, url: str | None = None, *, creneaux: CapacityLimiter | None = None
    ) -> None:
        self.application = application
        self.url = url
        self.creneaux = creneaux
        self._en_cours = anyio.Lock()
        self.executions = 0
        """Runs ended (done, or skipped for the lock), failures not counted."""
        self.derniere: Bilan | None = None
        """What the latest of them did."""

    @property
    def horloge(self) -> Horloge:
        return self.application.horloge

    async def executer(self) -> Bilan:
        """One run: every due majority recorded, or nothing when another runner holds the lock.

        Raises what the database raises when it cannot be reached (the run is then retried later).
        """
        if self._en_cours.locked():
            bilan = Bilan(executee=False)
        else:
            async with self._en_cours:
                try:
                    bilan = await self._executer()
                except Exception:
                    EXECUTIONS.labels("echec").inc()
                    raise
        EXECUTIONS.labels("faite" if bilan.executee else "verrou_pris").inc()
        self.derniere = bilan
        self.executions += 1
        return bilan

    async def _executer(self) -> Bilan:
        jour = aujourd_hui(self.horloge)
        conn = await to_thread.run_sync(self._prendre_verrou, abandon_on_cancel=True)
        if conn is None:
            log.info("horloge_majorite_verrou_pris")
            return Bilan(executee=False)
        try:
            candidats = await to_thread.run_sync(lambda: self._candidats(conn, jour), abandon_on_cancel=True)
            bilan = Bilan(executee=True)
            for parcours_id in candidats:
                if self.creneaux is not None:
                    async with self.creneaux:
                        await to_thread.run_sync(self._un, parcours_id, bilan, abandon_on_cancel=True)
                else:
                    await to_thread.run_sync(self._un, parcours_id, bilan, abandon_on_cancel=True)
        finally:
            if isinstance(conn, psycopg.Connection):
                # Closing the session lets the lock go, whatever state the connection is in.
                await to_thread.run_sync(conn.close, abandon_on_cancel=True)
        log.info(
            "horloge_majorite_executee",
            jour=jour.isoformat(),
            candidats=len(candidats),
            enregistrees=len(bilan.enregistrees),
            refusees=len(bilan.refusees),
        )
        return bilan

    def _prendre_verrou(self) -> psycopg.Connection[Any] | bool | None:
        """The run's lock: a connection of its own holding :data:`CLE_VERROU` (PostgreSQL; closing it lets the
        lock go), True (the in-memory store: ``executer`` runs one at a time), None when another session holds it.
        """
        if self.url is None:
            return True
        conn = psycopg.connect(
            self.url,
            autocommit=True,
            connect_timeout=DELAI_CONNEXION_S,
            options=f"-c statement_timeout={int(DELAI_REQUETE_S * 1000)}",
            # A server that stops answering (frozen, a network black hole) is seen dead, the lock with it.
            keepalives=1,
            keepalives_idle=30,
            keepalives_interval=10,
            keepalives_count=3,
        )
        try:
            ligne = conn.execute("SELECT pg_try_advisory_lock(%s)", (CLE_VERROU,)).fetchone()
        except BaseException:
            conn.close()
            raise
        if ligne and ligne[0]:
            return conn
        conn.close()
        return None

    def _candidats(self, tenu: psycopg.Connection[Any] | bool, jour: date) -> list[UUID]:
        recorder = self.application.recorder
        if isinstance(tenu, psycopg.Connection):
            datastore = recorder.datastore  # type: ignore[attr-defined]
            return candidats_postgres(tenu, datastore.schema, recorder.events_table_name, jour)  # type: ignore[attr-defined]
        assert isinstance(recorder, ApplicationRecorder)
        return candidats_du_journal(recorder.select_notifications(start=None, limit=2**62), jour)

    def _un(self, parcours_id: UUID, bilan: Bilan) -> None:
        """Record the majority of ``parcours_id`` if it is due today; a refusal is logged (id, rule) and kept."""
        parcours = self._du(parcours_id, bilan)
        if parcours is None:
            return
        cle = cle_idempotence(parcours_id)
        demande = Demande(
            sub=AUTEUR,
            departements=frozenset({parcours.departement}),
            correlation_id=cle,
            causation_id=cle,
            cle_idempotence=cle,
            empreinte=empreinte_de("POST", f"/v1/parcours/{parcours_id}/majorite", b""),
        )
        try:
            self.application.commander(parcours_id, demande, _atteindre)
        except RegleMetierError as exc:
            self._refus(parcours_id, exc.regle, bilan)
        except ConflitDeVersionError:
            self._refus(parcours_id, "conflit_de_version", bilan)
        except IntrouvableError:
            self._refus(parcours_id, "introuvable", bilan)
        else:
            bilan.enregistrees.append(parcours_id)
            ENREGISTREES.inc()
            log.info("majorite_enregistree", parcours_id=str(parcours_id), auteur=AUTEUR)

    def _du(self, parcours_id: UUID, bilan: Bilan) -> Parcours | None:
        """The candidate ``parcours_id`` if its majority is due today (by its exact birth date), else None."""
        try:
            parcours = self.application.repository.get(parcours_id, projector_func=instantanes.projeter)
        except Exception as exc:  # a stream that cannot be read: logged, the run goes on
            self._refus(parcours_id, type(exc).__name__, bilan)
            return None
        if not isinstance(parcours, Parcours):
            return None
        if parcours.identite_effacee:
            self._refus(parcours_id, "identite_effacee", bilan)
            return None
        # Recorded meanwhile (another writer) or closed: nothing due. Born later this month (the pre-selection
        # knows the month only), or a rectified birth date: not yet.
        du = (
            parcours.majorite_atteinte_le is None
            and parcours.sorti_le is None
            and anniversaire(parcours.date_naissance, 18) <= aujourd_hui(self.horloge)
        )
        return parcours if du else None

    @staticmethod
    def _refus(parcours_id: UUID, regle: str, bilan: Bilan) -> None:
        bilan.refusees[parcours_id] = regle
        REFUSEES.labels(regle).inc()
        log.warning("majorite_refusee", parcours_id=str(parcours_id), regle=regle)


# -- the schedule --------------------------------------------------------------------------------


def prochaine_execution(maintenant: datetime, heure: time = HEURE) -> datetime:
    """The first instant after ``maintenant`` that is ``heure`` in Europe/Paris (timezone-aware).

    A civil time that does not exist that day (a DST gap) is taken as the zone's rules resolve it.
    """
    local = maintenant.astimezone(FUSEAU)
    prochaine = datetime.combine(local.date(), heure, tzinfo=FUSEAU)
    if prochaine <= local:
        prochaine = datetime.combine(local.date() + timedelta(days=1), heure, tzinfo=FUSEAU)
    return prochaine


async def tourner(horloge_majorite: HorlogeMajorite, heure: time = HEURE, attente_max_s: float = ATTENTE_MAX_S) -> None:
    """Run at once, then every day at ``heure`` (Europe/Paris), until cancelled. A failed run is logged
    (its exception's type only) and tried again :data:`REESSAI_S` later. The clock is read again every
    ``attente_max_s`` seconds at most while waiting (:func:`attendre_jusqu_a`)."""
    horloge = horloge_majorite.horloge
    while True:
        try:
            await horloge_majorite.executer()
            echeance = prochaine_execution(horloge.maintenant(), heure)
        except Exception as exc:
            log.warning("horloge_majorite_echec", raison=type(exc).__name__)
            echeance = horloge.maintenant() + timedelta(seconds=REESSAI_S)
        await attendre_jusqu_a(horloge, echeance, attente_max_s)


async def attendre_jusqu_a(horloge: Horloge, echeance: datetime, attente_max_s: float = ATTENTE_MAX_S) -> None:
    """Sleep until ``horloge`` says ``echeance`` has come, looking at it again every ``attente_max_s`` at most."""
    while True:
        reste = (echeance - horloge.maintenant()).total_seconds()
        if reste <= 0:
            return
        await anyio.sleep(min(math.ceil(reste), attente_max_s))


@asynccontextmanager
async def en_fond(
    application: ParcoursApplication,
    url: str | None,
    *,
    creneaux: CapacityLimiter | None = None,
    attente_max_s: float = ATTENTE_MAX_S,
) -> AsyncIterator[HorlogeMajorite]:
    """The clock running (:func:`tourner`) for the duration of the block: a service's lifespan."""
    horloge_majorite = HorlogeMajorite(application, url, creneaux=creneaux)
    async with anyio.create_task_group() as taches:
        taches.start_soon(tourner, horloge_majorite, HEURE, attente_max_s)
        log.info("horloge_majorite_demarree", heure=HEURE.isoformat())
        try:
            yield horloge_majorite
        finally:
            taches.cancel_scope.cancel()
