"""Corrections under the law: a stream replayed with its corrected values, through the same rules.

A ``SaisieRectifiee`` never rewrites the event it corrects. The stream's state
is the fold of its events with every correction in place ("as if recorded
so"), and a new correction is accepted only if that corrected stream passes,
event by event, the guards each event passed when it was recorded
(``Parcours.verifier``), each on the day it was recorded (DOMAIN.md,
SaisieRectifiee: "Every rule holds after it").
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import TYPE_CHECKING, Any, Final

import orjson
from pydantic import JsonValue, TypeAdapter, ValidationError

from droit.calendrier import anniversaire
from services.parcours.domain import parcours_evenements as ev
from services.parcours.domain.flux import Evenement, verifier_pas_dans_le_futur
from services.parcours.domain.regles_mesures import check_ouverture
from services.runtime.errors import RegleMetierError, SaisieInvalideError
from services.runtime.horloge import date_civile

if TYPE_CHECKING:
    from services.parcours.domain.parcours import Parcours

NON_RECTIFIABLES = frozenset(
    {
        # Technical fields.
        "originator_id",
        "originator_version",
        "timestamp",
        "originator_topic",
        "metadonnees",
        # What ties an event to its stream or to another entity: what a correction points at.
        "personne_id",
        "ip_id",
        "mesure_id",
        "lieu_id",
        # The stream's département: it changes only by a transfer (DossierTransfere).
        "departement",
        "departement_origine",
        "departement_destination",
        # Facts of the lieu's own stream, and values the law derives from other fields.
        "type_lieu",
        "date_limite_hotel",
    }
)
"""Fields no correction touches (README, "Corrections"); every other data field of a parcours event may be corrected."""


@dataclass(frozen=True)
class Correction:
    """What a correction records, once its value is read and compared."""

    version_rectifiee: int
    champ: str
    evenement_rectifie: str
    ancienne_valeur: JsonValue
    nouvelle_valeur: JsonValue
    date_effet: date
    """The corrected event's date of effect (the corrected one when that is the field)."""


def champs_rectifiables(evenement: Evenement) -> dict[str, Any]:
    """The data fields of ``evenement`` a correction may change, with their types."""
    if isinstance(evenement, ev.SaisieRectifiee | ev.MajoriteAtteinte):
        # A correction is corrected by another correction of the original event;
        # majority is dated by the birth date, which is what to correct.
        return {}
    types = _types(type(evenement))
    return {f.name: types[f.name] for f in dataclasses.fields(evenement) if f.name not in NON_RECTIFIABLES}


REQUIS_A_LA_SAISIE: Final = frozenset({"reference_decision"})
"""Fields an event types ``X | None`` only so that an erased person's value reads as None: a correction
(like the command that records them) still requires a value."""


def preparer(historique: Sequence[Evenement], version: int, champ: str, valeur: Any) -> Correction:
    """Read ``valeur`` as a new value of ``champ`` of the event at ``version``, against its current value.

    Raises ``RegleMetierError``: ``version_inconnue``, ``rectification_de_rectification``,
    ``champ_non_rectifiable``, ``valeur_invalide``, ``rectification_sans_effet``.
    """
    if not 1 <= version <= len(historique):
        raise RegleMetierError("version_inconnue", f"le dossier n'a pas de version {version}")
    courant = historique_rectifie(historique)[version - 1]
    if isinstance(courant, ev.SaisieRectifiee):
        raise RegleMetierError(
            "rectification_de_rectification",
            "une rectification se corrige par une autre rectification de l'événement d'origine",
        )
    rectifiables = champs_rectifiables(courant)
    nom = type(courant).__name__
    if champ not in rectifiables:
        raise RegleMetierError(
            "champ_non_rectifiable",
            f"{nom} n'a pas de champ rectifiable {champ!r}; champs: {', '.join(sorted(rectifiables)) or 'aucun'}",
        )
    adaptateur = _adaptateur(type(courant), champ)
    try:
        # Strict JSON reading: a date is an ISO string, never a number of seconds.
        lue = adaptateur.validate_json(orjson.dumps(valeur), strict=True)
    except (ValidationError, TypeError):
        raise SaisieInvalideError("nouvelle_valeur", f"valeur invalide pour {champ}") from None
    if lue is None and champ in REQUIS_A_LA_SAISIE:
        raise SaisieInvalideError("nouvelle_valeur", f"{champ} est requis")
    nouvelle = adaptateur.dump_python(lue, mode="json")
    ancienne = adaptateur.dump_python(getattr(courant, champ), mode="json")
    if nouvelle == ancienne:
        raise RegleMetierError("rectification_sans_effet", "la nouvelle valeur est celle déjà enregistrée")
    date_effet = lue if champ == "date_effet" else courant.date_effet
    return Correction(version, champ, nom, ancienne, nouvelle, date_effet)


def majorite_redatee(historique: Sequence[Evenement], date_naissance: date) -> list[Correction]:
    """The corrections that date a recorded majority, and the ends it implied, on the 18th birthday of
    ``date_naissance``: a corrected birth date moves them too, as if it had been recorded so
    (DOMAIN.md, MajoriteAtteinte: "its date_effet is the 18th birthday whenever it is recorded").

    The ends are the events of the majority's own commit (same request), dated on the old birthday.
    """
    evenements = historique_rectifie(historique)
    majorite = next((e for e in evenements if isinstance(e, ev.MajoriteAtteinte)), None)
    if majorite is None:
        return []
    nouvelle = anniversaire(date_naissance, 18)
    if nouvelle == majorite.date_effet:
        return []
    meme_commit = [
        e
        for e in evenements
        if e.metadonnees.causation_id == majorite.metadonnees.causation_id
        and e.metadonnees.enregistre_le == majorite.metadonnees.enregistre_le
        and e.date_effet == majorite.date_effet
        and not isinstance(e, ev.SaisieRectifiee)
    ]
    return [
        Correction(
            e.originator_version,
            "date_effet",
            type(e).__name__,
            e.date_effet.isoformat(),
            nouvelle.isoformat(),
            nouvelle,
        )
        for e in meme_commit
    ]


def historique_rectifie(historique: Sequence[Evenement]) -> list[Evenement]:
    """The events as if every correction among them had been recorded so; the corrections stay in place."""
    corrections: dict[int, dict[str, Any]] = {}
    for evenement in historique:
        if isinstance(evenement, ev.SaisieRectifiee):
            corrections.setdefault(evenement.version_rectifiee, {})[evenement.champ] = evenement.nouvelle_valeur
    if not corrections:
        return list(historique)
    resultat: list[Evenement] = []
    for evenement in historique:
        champs = corrections.get(evenement.originator_version)
        if champs and not isinstance(evenement, ev.SaisieRectifiee):
            classe = type(evenement)
            valeurs = {c: _adaptateur(classe, c).validate_python(v) for c, v in champs.items()}
            resultat.append(dataclasses.replace(evenement, **valeurs))
        else:
            resultat.append(evenement)
    return resultat


def rejouer(historique: Sequence[Evenement], *, verifier_depuis: int | None = None) -> Parcours:
    """Fold ``historique`` with its corrections in place into a new parcours.

    With ``verifier_depuis``, every event from that version on first passes the
    rules it passed when recorded, on the day it was recorded; raises the first
    ``RegleMetierError`` (or ``IntrouvableError``) met.
    """
    evenements = historique_rectifie(historique)
    premier = evenements[0]
    assert isinstance(premier, ev.ParcoursOuvert)
    if verifier_depuis is not None and verifier_depuis <= 1:
        verifier_pas_dans_le_futur(premier.date_effet, date_civile(premier.metadonnees.enregistre_le))
        check_ouverture(premier.departement, premier.date_naissance, premier.date_effet)
    parcours = premier.mutate(None)
    assert parcours is not None
    parcours.en_rejeu = True
    for evenement in evenements[1:]:
        a_verifier = verifier_depuis is not None and evenement.originator_version >= verifier_depuis
        if a_verifier and not isinstance(evenement, ev.SaisieRectifiee):
            parcours.verifier(evenement, date_civile(evenement.metadonnees.enregistre_le))
        evenement.mutate(parcours)
    parcours.en_rejeu = False
    return parcours


def check_rejeu(historique: Sequence[Evenement], corrections: Sequence[ev.SaisieRectifiee]) -> None:
    """Refuse ``corrections`` (recorded together) when the stream they correct would break a rule, naming it."""
    rejouer([*historique, *corrections], verifier_depuis=min(c.version_rectifiee for c in corrections))


def etat_rectifie(parcours: Parcours) -> None:
    """Give ``parcours`` the state of its own history replayed with every correction in place."""
    originaux = parcours.historique
    etat = rejouer(originaux)
    for nom, valeur in vars(etat).items():
        if nom not in _INTERNES:
            setattr(parcours, nom, valeur)
    parcours.historique = originaux


_INTERNES = frozenset({"_id", "_version", "_created_on", "_modified_on", "_pending_events", "historique"})
"""The aggregate's own bookkeeping, which a replay does not replace."""


@cache
def _types(classe: type[Evenement]) -> dict[str, Any]:
    return typing.get_type_hints(classe)


@cache
def _adaptateur(classe: type[Evenement], champ: str) -> TypeAdapter[Any]:
    return TypeAdapter(_types(classe)[champ])
