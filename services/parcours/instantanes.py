"""Snapshots of streams (eventsourcing's snapshotting): a cache of a stream's state at one version.

A command reads the latest snapshot of its stream and the events after it, instead of the
whole stream: its cost no longer grows with the stream. A snapshot is **never authoritative**:
the events are (the hash chain of ``services.parcours.integrite`` covers events only, never the
``ase_snapshots`` table). Whatever is wrong with a snapshot (undecryptable, altered, of an older
shape of the aggregate, of an erased person) makes the read fall back to replaying the events;
deleting every snapshot is always correct (``ase cles migrer`` does).

Privacy: a parcours' state holds personal data (the exact birth date, courts' references,
corrected free text). A snapshot of a stream with a person stores its **whole state encrypted**
with her data key (``services.runtime.coffre``, bound to the stream id and version), so erasing
her key shreds her snapshots too; the erasure's transaction also deletes them
(``PostgresRecorderIdempotent``). Identity streams are never snapshotted (short, and all personal),
nor places (a few events each). The encryption (AES-GCM, bound to the stream and version) is also what
authenticates a snapshot: one stored in clear is refused, so writing the table cannot forge a state.
A snapshot is of one shape of the aggregate and of one version of the code that folds it (the domain's
and the law's modules): after an upgrade that changes either, older snapshots are ignored.

A parcours keeps its events in memory (``historique``, for corrections): a snapshot leaves them
out, and a parcours restored from one reads them from the store only when a correction needs
them (:class:`HistoriqueDiffere`).
"""

from __future__ import annotations

import hashlib
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Final, SupportsIndex, overload
from uuid import UUID

import orjson
import structlog
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import EventStore, InterfaceError, OperationalError
from eventsourcing.utils import get_topic, resolve_topic
from pydantic import TypeAdapter

from services.parcours.domain.flux import Flux

log = structlog.get_logger(__name__)

INTERVALLE: Final = 25
"""A snapshot every ``INTERVALLE`` versions of a stream. Measured on PostgreSQL (2 cores, loaded): taking one
costs about 9 ms (a key read, the encryption, an insert, after the command's commit), reading and restoring
one about 5 ms (a select and a key read, also paid without snapshots when the stream holds personal fields),
replaying one event 0.09 ms. Per command on a long stream: 9 / N + 0.09 x N / 2 ms, least near N = 15-25
(1.3-1.4 ms); 25 leaves streams under 25 events (most of them) without any snapshot to read or take."""

_HORS_ETAT: Final = frozenset({"_id", "_version", "_pending_events", "historique"})
"""Attributes a snapshot does not hold: the stream's id and version are its own, pending events are
nobody's, and the history is read again from the store when needed."""

_TYPES_INTERNES: Final[dict[str, Any]] = {"_created_on": datetime, "_modified_on": datetime}

SCHEMA: Final = "_schema"
"""Key of a snapshot's state naming the shape of its aggregate class: a snapshot of another shape is ignored."""


class InstantaneImpossibleError(RuntimeError):
    """An aggregate whose state a snapshot cannot hold (an attribute without a type): none is taken."""


class InstantaneInvalideError(RuntimeError):
    """A stored snapshot that cannot be restored: the stream is replayed from its events instead."""


@cache
def _types(classe: type[Flux]) -> dict[str, Any]:
    return {**typing.get_type_hints(classe), **_TYPES_INTERNES}


@cache
def _adaptateur(classe: type[Flux], nom: str) -> TypeAdapter[Any]:
    return TypeAdapter(_types(classe)[nom])


@cache
def _code_du_repli() -> str:
    """A digest of the source of the modules that fold a stream (the domain's and the law's)."""
    import droit
    import services.parcours.domain as domaine

    empreinte = hashlib.sha256()
    for paquet in (domaine, droit):
        for fichier in sorted(Path(next(iter(paquet.__path__))).rglob("*.py")):
            empreinte.update(fichier.name.encode())
            empreinte.update(fichier.read_bytes())
    return empreinte.hexdigest()


@cache
def schema(classe: type[Flux]) -> str:
    """A digest of the attributes and types of ``classe`` and of the code that folds it: a snapshot of
    another shape, or taken by another version of the domain or the law, is ignored."""
    forme = sorted((nom, repr(t)) for nom, t in _types(classe).items())
    return hashlib.sha256(repr((get_topic(classe), forme, _code_du_repli())).encode()).hexdigest()[:16]


class Instantane(Snapshot):
    """A stream's state at one version, as plain JSON (each attribute through its declared type)."""

    @classmethod
    def take(cls, aggregate: Any) -> Instantane:
        """The snapshot of ``aggregate`` (a :class:`Flux`) at its current version."""
        classe: type[Flux] = type(aggregate)
        types = _types(classe)
        etat: dict[str, Any] = {SCHEMA: schema(classe)}
        for nom, valeur in vars(aggregate).items():
            if nom in _HORS_ETAT:
                continue
            if nom not in types:
                raise InstantaneImpossibleError(f"{classe.__name__}.{nom}: attribut sans type déclaré")
            etat[nom] = _adaptateur(classe, nom).dump_python(valeur, mode="json")
        return cls(
            originator_id=aggregate.id,
            originator_version=aggregate.version,
            timestamp=cls.create_timestamp(),
            topic=get_topic(classe),
            state=etat,
        )

    def mutate(self, _: Any) -> Any:
        """The aggregate restored, each attribute validated by its type (:class:`InstantaneInvalideError` otherwise)."""
        classe = resolve_topic(self.topic)
        if not (isinstance(classe, type) and issubclass(classe, Flux)):
            raise InstantaneInvalideError(f"{self.topic}: pas un flux")
        etat = dict(self.state)
        if etat.pop(SCHEMA, None) != schema(classe):
            raise InstantaneInvalideError(f"{classe.__name__}: instantané d'une autre forme de l'agrégat")
        try:
            restaure = {nom: _adaptateur(classe, nom).validate_python(valeur) for nom, valeur in etat.items()}
        except (KeyError, ValueError) as exc:  # an unknown attribute, a value its type refuses
            raise InstantaneInvalideError(f"{classe.__name__}: {type(exc).__name__}") from None
        restaure["_id"] = self.originator_id
        restaure["_version"] = self.originator_version
        restaure["_pending_events"] = []
        agregat = object.__new__(classe)
        object.__setattr__(agregat, "__dict__", restaure)
        return agregat


class HistoriqueDiffere(list[Any]):
    """A stream's history whose events up to a snapshot are read from the store on first use.

    Events applied after the snapshot are appended at once; any read of the history (iteration,
    length, index, slice) first reads the earlier ones (``charger``) and puts them in front.
    """

    def __init__(self, charger: Callable[[], Iterable[Any]]) -> None:
        super().__init__()
        self._charger: Callable[[], Iterable[Any]] | None = charger

    @property
    def charge(self) -> bool:
        """Whether the events before the snapshot have been read."""
        return self._charger is None

    def _complet(self) -> None:
        if self._charger is not None:
            charger, self._charger = self._charger, None
            list.__setitem__(self, slice(0, 0), list(charger()))

    def __iter__(self) -> Iterator[Any]:
        self._complet()
        return super().__iter__()

    def __reversed__(self) -> Iterator[Any]:
        self._complet()
        return super().__reversed__()

    def __len__(self) -> int:
        self._complet()
        return super().__len__()

    def __contains__(self, valeur: object) -> bool:
        self._complet()
        return super().__contains__(valeur)

    @overload
    def __getitem__(self, i: SupportsIndex) -> Any: ...
    @overload
    def __getitem__(self, i: slice) -> list[Any]: ...
    def __getitem__(self, i: SupportsIndex | slice) -> Any:
        self._complet()
        return super().__getitem__(i)

    def __setitem__(self, i: Any, valeur: Any) -> None:
        self._complet()
        super().__setitem__(i, valeur)

    def __delitem__(self, i: SupportsIndex | slice) -> None:
        self._complet()
        super().__delitem__(i)

    def __eq__(self, autre: object) -> bool:
        self._complet()
        return super().__eq__(autre)

    __hash__ = None

    def insert(self, i: SupportsIndex, valeur: Any) -> None:
        self._complet()
        super().insert(i, valeur)

    def pop(self, i: SupportsIndex = -1) -> Any:
        self._complet()
        return super().pop(i)

    def remove(self, valeur: Any) -> None:
        self._complet()
        super().remove(valeur)

    def index(self, valeur: Any, *args: Any) -> int:
        self._complet()
        return super().index(valeur, *args)

    def count(self, valeur: Any) -> int:
        self._complet()
        return super().count(valeur)

    def copy(self) -> list[Any]:
        self._complet()
        return super().copy()

    def sort(self, *args: Any, **kwargs: Any) -> None:
        self._complet()
        super().sort(*args, **kwargs)

    def reverse(self) -> None:
        self._complet()
        super().reverse()


class _Restaure:
    """A snapshot already restored and checked (by the store's read), for the repository's projector."""

    def __init__(self, originator_id: UUID, originator_version: int, agregat: Flux) -> None:
        self.originator_id = originator_id
        self.originator_version = originator_version
        self._agregat = agregat

    def mutate(self, _: Any) -> Flux:
        return self._agregat


def projeter(agregat: Any, evenements: Iterable[Any]) -> Any:
    """The library's ``project_aggregate`` without its ``assert isinstance(e, CanMutateProtocol)``.

    That assert checks a runtime-checkable ``Protocol`` (every attribute of the protocol looked up,
    per event): two thirds of a command's CPU on a 300-event stream. Every event this store holds
    is an ``Aggregate.Event`` (or a snapshot), which has ``mutate``: the check proves nothing here.
    """
    for evenement in evenements:
        agregat = evenement.mutate(agregat)
    return agregat


def _etat_tout_chiffre(stocke: bytes) -> bool:
    """Whether a stored snapshot holds its state only in its encrypted block, as it is written."""
    from services.runtime import coffre

    if not coffre.est_chiffre(stocke):
        return False
    etat = orjson.loads(stocke)
    return "state" not in etat and etat[coffre.CHAMP_CHIFFRE].get("champs") == ["state"]


class MagasinInstantanes(EventStore[UUID]):
    """The snapshot store: snapshots decrypted with their person's key, restored, or ignored.

    ``cles`` reads data keys (the application recorder's ``cles_personnes``); ``evenements`` is
    the event store a restored parcours reads its earlier history from, on demand.
    """

    def __init__(
        self,
        mapper: Any,
        recorder: Any,
        *,
        cles: Callable[[Sequence[UUID]], dict[UUID, bytes]],
        evenements: EventStore[UUID],
    ) -> None:
        super().__init__(mapper, recorder)
        self.cles = cles
        self.evenements = evenements

    def get(
        self,
        originator_id: UUID,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Iterator[Any]:
        """The latest snapshot asked for, restored; none when it cannot be (the events are replayed)."""
        from services.parcours.persistence import dechiffrer
        from services.runtime import coffre

        stockes = self.recorder.select_events(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
        restaures: list[_Restaure] = []
        try:
            if not all(_etat_tout_chiffre(e.state) for e in stockes):
                # Only ever written with its whole state encrypted, which authenticates it (AES-GCM, bound
                # to the stream and version): one in clear, or a clear state beside an encrypted block
                # (an event's, copied from the same stream and version), was written by someone else.
                raise InstantaneInvalideError("instantané en clair")
            personnes = coffre.personnes_des_etats(e.state for e in stockes)
            if personnes:
                cles = self.cles(sorted(personnes))
                if personnes - cles.keys():
                    # An erased person: her snapshots are shredded (her key is gone).
                    raise InstantaneInvalideError("clé de la personne effacée")
                stockes = dechiffrer(stockes, cles)
            for stocke in stockes:
                instantane = self.mapper.to_domain_event(stocke)
                if not isinstance(instantane, Instantane):
                    raise InstantaneInvalideError(f"{stocke.topic}: pas un instantané")
                agregat = instantane.mutate(None)
                self._historique_differe(agregat, stocke.originator_version)
                restaures.append(_Restaure(agregat.id, stocke.originator_version, agregat))
        except (InterfaceError, OperationalError):
            raise  # the database, not the snapshot: the read fails as the events' would
        except Exception as exc:
            log.warning("instantane_ignore", flux_id=str(originator_id), raison=type(exc).__name__)
            return iter(())
        return iter(restaures)

    def _historique_differe(self, agregat: Flux, version: int) -> None:
        if type(agregat).garde_historique:
            evenements = self.evenements
            flux_id = agregat.id

            def charger() -> list[Any]:
                return list(evenements.get(flux_id, lte=version))

            agregat.historique = HistoriqueDiffere(charger)
