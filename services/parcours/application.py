"""The write side's application: load a stream, call the domain, save in one commit.

Every method is synchronous (the eventsourcing library is); the API runs them
off the event loop.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar
from uuid import UUID

import orjson
import structlog
from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import ApplicationRecorder, EventStore, IntegrityError, Mapper
from eventsourcing.popo import POPOAggregateRecorder
from eventsourcing.utils import get_topic

from services.parcours import commandes as c
from services.parcours import instantanes
from services.parcours.domain.contexte import Contexte
from services.parcours.domain.flux import Evenement, Flux
from services.parcours.domain.identite import Identite, IdentiteEffacee, IdentiteEnregistree
from services.parcours.domain.lieu import LieuAccueil
from services.parcours.domain.parcours import LieuPropose, Parcours
from services.parcours.persistence import (
    CHAMPS_PERSONNELS,
    JsonMapper,
    POPORecorderIdempotent,
    PostgresRecorderIdempotent,
    RecorderIdempotent,
    ReponseIdempotente,
    Trousseau,
    empreinte_cle_idempotence,
    identite_effacee,
    trousseau_actif,
)
from services.runtime import coffre
from services.runtime.errors import (
    CleIdempotenceReutiliseeError,
    ConflitDeVersionError,
    HorsPerimetreError,
    IntrouvableError,
)
from services.runtime.horloge import Horloge, HorlogeSysteme

A = TypeVar("A", bound=Flux)

log = structlog.get_logger(__name__)

AVEC = "_avec"
"""Key of an action's result listing other streams its command writes in the same commit."""


@dataclass(frozen=True)
class Demande:
    """Who asks, from where, and under which conditions (If-Match, Idempotency-Key)."""

    sub: str
    departements: frozenset[str]
    correlation_id: str
    causation_id: str
    version_attendue: int | None = None
    cle_idempotence: str | None = None
    empreinte: str = ""

    def contexte(self, horloge: Horloge) -> Contexte:
        return Contexte(
            auteur=self.sub,
            maintenant=horloge.maintenant(),
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
        )


@dataclass(frozen=True)
class Reponse:
    """What a command answers: an HTTP status and its JSON body."""

    statut: int
    corps: dict[str, Any] = field(default_factory=dict)


def empreinte_de(methode: str, chemin: str, corps: bytes) -> str:
    """A fingerprint of a request, to recognise the retry of an idempotent one."""
    return hashlib.sha256(methode.encode() + b" " + chemin.encode() + b"\n" + corps).hexdigest()


class ParcoursApplication(Application[UUID]):
    """The commands of API.md on the Parcours, LieuAccueil and Identite streams."""

    name = "ASE"
    env: ClassVar[dict[str, str]] = {
        "APPLICATION_RECORDER_TOPIC": get_topic(PostgresRecorderIdempotent),
    }
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {Parcours: instantanes.INTERVALLE}
    """Snapshots (``services.parcours.instantanes``, table ``ase_snapshots``): a cache, never authoritative.
    Parcours only, each encrypted (so authenticated) with its person's key: identity streams have none (short,
    and all personal), nor places (a few events each, and no person's key to authenticate a snapshot with)."""

    def __init__(self, env: dict[str, str] | None = None, horloge: Horloge | None = None) -> None:
        self.horloge: Horloge = horloge or HorlogeSysteme()
        super().__init__(env)

    def construct_mapper(self) -> Mapper[UUID]:
        return JsonMapper(chiffrer=True)

    def construct_recorder(self) -> ApplicationRecorder:
        if self.factory.__class__.__module__ == "eventsourcing.popo":
            return POPORecorderIdempotent()
        return super().construct_recorder()

    def construct_snapshot_store(self) -> EventStore[UUID]:
        recorder = self.factory.aggregate_recorder(purpose="snapshots")
        if isinstance(self.recorder, POPORecorderIdempotent) and isinstance(recorder, POPOAggregateRecorder):
            self.recorder.instantanes = recorder
        return instantanes.MagasinInstantanes(
            self.mapper, recorder, cles=self.idempotence.cles_personnes, evenements=self.events
        )

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """A snapshot of each saved stream whose new version is a multiple of its interval, from the aggregate
        in memory (the library reads the stream again for it). Never fails the command already committed."""
        for agregat in processing_event.aggregates.values():
            intervalle = self.snapshotting_intervals.get(type(agregat))
            if intervalle is None or not isinstance(agregat, Flux):
                continue
            avant = agregat.version - sum(1 for e in processing_event.events if e.originator_id == agregat.id)
            if agregat.version // intervalle > avant // intervalle:
                self._instantane(agregat)

    def take_snapshot(
        self, aggregate_id: UUID, version: int | None = None, projector_func: Any = instantanes.projeter
    ) -> None:
        """Store a snapshot of the stream ``aggregate_id`` at ``version`` (its latest by default)."""
        agregat = self.repository.get(aggregate_id, version=version, projector_func=projector_func)
        if not self._instantane(agregat):
            raise instantanes.InstantaneImpossibleError(f"aucun instantané du flux {aggregate_id}")

    def _instantane(self, agregat: Flux) -> bool:
        """Store a snapshot of ``agregat``, encrypted with its person's key; False (logged) when none can be."""
        if self.snapshots is None:
            return False
        trousseau = Trousseau()
        personne = getattr(agregat, "personne_id", None)
        try:
            if isinstance(personne, UUID):
                trousseau.cles.update(self.idempotence.cles_personnes([personne]))
                if personne not in trousseau.cles:
                    return False  # an erased person: no snapshot, ever
            with trousseau_actif(trousseau):
                self.snapshots.put([instantanes.Instantane.take(agregat)])
        except Exception as exc:
            log.warning("instantane_non_pris", flux_id=str(agregat.id), raison=type(exc).__name__)
            return False
        return True

    @property
    def idempotence(self) -> RecorderIdempotent:
        assert isinstance(self.recorder, RecorderIdempotent)
        return self.recorder

    # -- lieux d'accueil -------------------------------------------------------

    def referencer_lieu(self, cmd: c.ReferencerLieu, demande: Demande) -> Reponse:
        def action(ctx: Contexte) -> tuple[list[Flux], dict[str, Any]]:
            lieu = LieuAccueil.referencer(
                ctx,
                nom=cmd.nom,
                type=cmd.type,
                departement=cmd.departement,
                capacite=cmd.capacite,
                finess=cmd.finess,
            )
            return [lieu], {}

        return self._creer(cmd.departement, demande, action)

    def modifier_capacite(self, lieu_id: UUID, cmd: c.ModifierCapacite, demande: Demande) -> Reponse:
        return self._modifier(
            LieuAccueil,
            lieu_id,
            demande,
            lambda lieu, ctx: lieu.modifier_capacite(ctx, capacite=cmd.capacite, date_effet=cmd.date_effet),
        )

    def fermer_lieu(self, lieu_id: UUID, cmd: c.FermerLieu, demande: Demande) -> Reponse:
        return self._modifier(
            LieuAccueil, lieu_id, demande, lambda lieu, ctx: lieu.fermer(ctx, date_effet=cmd.date_effet)
        )

    # -- ouverture -------------------------------------------------------------

    def ouvrir_parcours(self, cmd: c.OuvrirParcours, demande: Demande) -> Reponse:
        def action(ctx: Contexte) -> tuple[list[Flux], dict[str, Any]]:
            identite = Identite.enregistrer(
                ctx,
                nom=cmd.personne.nom,
                prenoms=cmd.personne.prenoms,
                date_naissance=cmd.personne.date_naissance,
                sexe=cmd.personne.sexe,
                date_effet=cmd.date_effet,
            )
            parcours = Parcours.ouvrir(
                ctx,
                personne_id=identite.id,
                date_naissance=cmd.personne.date_naissance,
                sexe=cmd.personne.sexe,
                departement=cmd.departement,
                date_effet=cmd.date_effet,
                referent_id=cmd.referent_id,
            )
            # The parcours is the stream the caller writes next: it comes first.
            return [parcours, identite], {"personne_id": str(identite.id)}

        return self._creer(cmd.departement, demande, action)

    # -- commandes sur un parcours ----------------------------------------------

    def commander(
        self,
        parcours_id: UUID,
        demande: Demande,
        action: Callable[[Parcours, Contexte], dict[str, Any] | None],
    ) -> Reponse:
        """Run one command on a parcours: the router names it with a lambda."""
        return self._modifier(Parcours, parcours_id, demande, action)

    def debuter_accueil(self, parcours_id: UUID, cmd: c.DebuterAccueil, demande: Demande) -> Reponse:
        lieu = self.lieu_propose(cmd.lieu_id)
        return self.commander(
            parcours_id,
            demande,
            lambda p, ctx: p.debuter_accueil(ctx, mesure_id=cmd.mesure_id, lieu=lieu, date_effet=cmd.date_effet),
        )

    def changer_lieu(self, parcours_id: UUID, cmd: c.ChangerLieu, demande: Demande) -> Reponse:
        lieu = self.lieu_propose(cmd.lieu_id)
        return self.commander(
            parcours_id,
            demande,
            lambda p, ctx: p.changer_lieu(ctx, lieu=lieu, motif=cmd.motif, date_effet=cmd.date_effet),
        )

    def rectifier(self, parcours_id: UUID, cmd: c.Rectifier, demande: Demande) -> Reponse:
        # Read as the commands read it: a correction carries no value its command would refuse.
        valeur = c.saisie_rectifiee(cmd.champ, cmd.nouvelle_valeur)

        def action(p: Parcours, ctx: Contexte) -> dict[str, Any] | None:
            p.rectifier(
                ctx,
                version_rectifiee=cmd.version_rectifiee,
                champ=cmd.champ,
                nouvelle_valeur=valeur,
                motif=cmd.motif,
            )
            if cmd.champ in ("date_naissance", "sexe"):
                # The identity stream carries the same facts: it is corrected in the same commit.
                identite = self._lire(Identite, p.personne_id, "identité")
                if not identite.effacee:
                    identite.rectifier(
                        ctx,
                        nom=identite.nom,
                        prenoms=identite.prenoms,
                        date_naissance=p.date_naissance,
                        sexe=p.sexe,
                        lieu_naissance=identite.lieu_naissance,
                    )
                    return {AVEC: [identite]}
            return None

        return self.commander(parcours_id, demande, action)

    # -- effacement (crypto-shredding) -------------------------------------------

    def personne_parcours(self, personne_id: UUID) -> Parcours:
        """The parcours of ``personne_id`` (each ``ParcoursOuvert`` records a new person); 404 otherwise."""
        recorder = self.recorder
        trouve = recorder.parcours_de_personne(personne_id) if isinstance(recorder, RecorderIdempotent) else None
        if trouve is None:
            raise IntrouvableError("personne", personne_id)
        return self._lire(Parcours, trouve, "personne")

    def effacer_personne(self, personne_id: UUID, motif: str, demande: Demande) -> Reponse:
        """Erase a person's identity: ``IdentiteEffacee`` and the deletion of her data key, in one commit.

        The DPO of the département of her parcours only (404 otherwise); a second erasure is refused
        (rule ``identite_effacee``, a 409).
        """
        parcours = self.personne_parcours(personne_id)
        if parcours.departement not in demande.departements:
            raise IntrouvableError("personne", personne_id)
        deja = self._reponse_deja_donnee(demande)
        if deja is not None:
            return deja
        identite = self._lire(Identite, personne_id, "personne")
        identite.effacer(demande.contexte(self.horloge), motif=motif)
        return self._sauver(demande, [identite], {"personne_id": str(personne_id)}, 200)

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """Save as the library does, with the data keys the personal fields need (``persistence.Trousseau``):
        a new person's key created and passed to the recorder (same transaction), an erased person's deleted.

        Raises ``RegleMetierError`` ``identite_effacee`` when a personal field of an erased person would be written.
        """
        trousseau = Trousseau()
        nouvelles: list[coffre.CleEnveloppee] = []
        effacees: list[UUID] = []
        a_lire: set[UUID] = set()
        for objet in objs:
            personne = objet.id if isinstance(objet, Identite) else getattr(objet, "personne_id", None)
            if not isinstance(objet, Flux) or personne is None:
                continue
            trousseau.personnes[objet.id] = personne
            for evenement in objet.pending_events:
                if isinstance(evenement, IdentiteEnregistree):
                    cle, enveloppee = coffre.coffre_par_defaut().nouvelle_cle(personne)
                    trousseau.cles[personne] = cle
                    nouvelles.append(enveloppee)
                elif isinstance(evenement, IdentiteEffacee):
                    effacees.append(personne)
                elif type(evenement).__name__ in CHAMPS_PERSONNELS:
                    a_lire.add(personne)
        a_lire -= trousseau.cles.keys()
        if a_lire:
            trousseau.cles.update(self.idempotence.cles_personnes(sorted(a_lire)))
            for personne in a_lire - trousseau.cles.keys():
                raise identite_effacee(personne)
        if nouvelles:
            kwargs["cles_nouvelles"] = nouvelles
        if effacees:
            kwargs["cles_effacees"] = effacees
        with trousseau_actif(trousseau):
            return super().save(*objs, **kwargs)

    def lieu_propose(self, lieu_id: UUID) -> LieuPropose:
        lieu = self._lire(LieuAccueil, lieu_id, "lieu d'accueil")
        return LieuPropose(lieu_id=lieu.id, type_lieu=lieu.type, ferme=lieu.ferme)

    # -- lectures --------------------------------------------------------------

    def parcours(self, parcours_id: UUID, departements: frozenset[str]) -> Parcours:
        parcours = self._lire(Parcours, parcours_id, "parcours")
        if parcours.departement not in departements:
            raise IntrouvableError("parcours", parcours_id)
        return parcours

    def evenements(self, parcours_id: UUID, departements: frozenset[str]) -> list[Evenement]:
        self.parcours(parcours_id, departements)
        return [e for e in self.repository.event_store.get(parcours_id) if isinstance(e, Evenement)]

    # -- mécanique -------------------------------------------------------------

    def _lire(self, classe: type[A], ident: UUID, quoi: str) -> A:
        try:
            agregat: Flux = self.repository.get(ident, projector_func=instantanes.projeter)
        except AggregateNotFoundError:
            raise IntrouvableError(quoi, ident) from None
        if not isinstance(agregat, classe):
            raise IntrouvableError(quoi, ident)
        return agregat

    def _modifier(
        self,
        classe: type[A],
        ident: UUID,
        demande: Demande,
        action: Callable[[A, Contexte], Any],
    ) -> Reponse:
        # The caller's right to the stream comes first, for a retry too: a token that
        # no longer covers its département gets no stored answer either.
        agregat = self._lire(classe, ident, "parcours" if classe is Parcours else "lieu d'accueil")
        if getattr(agregat, "departement", None) not in demande.departements:
            raise IntrouvableError("parcours" if classe is Parcours else "lieu d'accueil", ident)
        deja = self._reponse_deja_donnee(demande)
        if deja is not None:
            return deja
        if isinstance(agregat, Parcours):
            agregat.check_identite_non_effacee()
        if demande.version_attendue is not None and demande.version_attendue != agregat.version:
            raise ConflitDeVersionError(demande.version_attendue, agregat.version)
        extra = dict(action(agregat, demande.contexte(self.horloge)) or {})
        return self._sauver(demande, [agregat, *extra.pop(AVEC, [])], extra, 200)

    def _creer(
        self,
        departement: str,
        demande: Demande,
        action: Callable[[Contexte], tuple[list[Flux], dict[str, Any]]],
    ) -> Reponse:
        # As in ``_modifier``: the same check as a fresh command, before any stored answer.
        _check_perimetre(departement, demande)
        deja = self._reponse_deja_donnee(demande)
        if deja is not None:
            return deja
        agregats, extra = action(demande.contexte(self.horloge))
        return self._sauver(demande, agregats, extra, 201)

    def _sauver(self, demande: Demande, agregats: list[Flux], extra: dict[str, Any], statut: int) -> Reponse:
        principal = agregats[0]
        noms = [type(e).__name__ for e in principal.pending_events]
        corps = {"id": str(principal.id), "version": principal.version, "evenements": noms, **extra}
        reponse = Reponse(statut, corps)
        idempotence = None
        if demande.cle_idempotence is not None:
            cle = empreinte_cle_idempotence(demande.sub, demande.cle_idempotence)
            idempotence = ReponseIdempotente(demande.sub, cle, demande.empreinte, statut, corps)
        try:
            self.save(*agregats, idempotence=idempotence)
        except IntegrityError:
            # Either a concurrent writer took the next version, or a concurrent
            # retry of the same idempotent request won the race.
            deja = self._reponse_deja_donnee(demande)
            if deja is not None:
                return deja
            raise ConflitDeVersionError(principal.version - len(noms), None) from None
        return reponse

    def _reponse_deja_donnee(self, demande: Demande) -> Reponse | None:
        """The answer already given to this ``Idempotency-Key``; only once the caller passed a fresh command's checks."""
        if demande.cle_idempotence is None:
            return None
        cle = empreinte_cle_idempotence(demande.sub, demande.cle_idempotence)
        trouvee = self.idempotence.lire_reponse(demande.sub, cle)
        if trouvee is None:
            return None
        if trouvee.empreinte != demande.empreinte:
            raise CleIdempotenceReutiliseeError
        return Reponse(trouvee.statut, trouvee.corps)


def _check_perimetre(departement: str, demande: Demande) -> None:
    if departement not in demande.departements:
        raise HorsPerimetreError(departement)


def noms_evenements(evenements: Iterable[Evenement]) -> list[str]:
    return [type(e).__name__ for e in evenements]


def corps_json(evenement: Evenement) -> dict[str, Any]:
    """An event's data as stored (readable JSON), without stream fields and metadata."""
    donnees: dict[str, Any] = orjson.loads(JsonMapper().to_stored_event(evenement).state)
    for technique in ("timestamp", "metadonnees", "originator_topic", "date_effet", "class_version"):
        donnees.pop(technique, None)
    return donnees
