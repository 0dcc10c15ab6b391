"""The caseworker's worklist: the deadlines of the read API and the open alerts of the notifications API,
merged into one list, soonest first.

An alert is raised for a deadline (same parcours, type and key): it is shown on that deadline's line,
with its acknowledgement, rather than as a second line saying the same thing. An alert whose deadline
is not in the deadlines read (another page of them, or the read model still catching up) keeps a line of
its own. Overdue: the read API says so for a deadline; for an alert alone, its due date passed, or (its
dates given as a month only, when they follow from the birth date) it was escalated, which happens the
day after its due date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from droit.echeances import REGLES, TypeEcheance


@dataclass
class LigneTravail:
    """One line of the worklist."""

    parcours_id: str
    nom: str | None
    prenoms: str | None
    departement: str
    referent_id: str | None
    type: str
    attendu: str
    article: str
    due_le: date | None
    mois_du: str | None
    """``YYYY-MM`` when only the month is known (an alert whose dates follow from the birth date)."""
    en_retard: bool
    alerte: dict[str, Any] | None
    """The open alert of this deadline, as ``GET /v1/alertes`` gives it (``AlerteBoite``), if any."""

    @property
    def au_plus_tard(self) -> date:
        """The due date, or the first day of its month: what sorts the list."""
        if self.due_le is not None:
            return self.due_le
        assert self.mois_du is not None
        annee, mois = (int(x) for x in self.mois_du.split("-"))
        return date(annee, mois, 1)


def regle(type_: str) -> tuple[str, str]:
    """(what is awaited, article) of a deadline type; the type itself for one this page does not know."""
    try:
        r = REGLES[TypeEcheance(type_)]
    except ValueError:
        return type_.replace("_", " "), ""
    return r.attendu, r.article


def _cle(parcours_id: Any, type_: Any, cle: Any) -> tuple[str, str, str]:
    return str(parcours_id), str(type_), str(cle or "")


def fusionner(echeances: list[dict[str, Any]], alertes: list[dict[str, Any]], aujourd_hui: date) -> list[LigneTravail]:
    """``echeances`` (``EcheanceTravail`` of ``GET /v1/echeances``) and ``alertes`` (``AlerteBoite`` of
    ``GET /v1/alertes``) as one list, soonest first (then by child, then by type)."""
    par_cle = {_cle(a["parcours_id"], a["type"], a.get("cle")): a for a in alertes}
    lignes: list[LigneTravail] = []
    for e in echeances:
        attendu, article = regle(str(e["type"]))
        lignes.append(
            LigneTravail(
                parcours_id=str(e["parcours_id"]),
                nom=e.get("nom"),
                prenoms=e.get("prenoms"),
                departement=str(e["departement"]),
                referent_id=e.get("referent_id"),
                type=str(e["type"]),
                attendu=attendu,
                article=article,
                due_le=date.fromisoformat(str(e["due_le"])),
                mois_du=None,
                en_retard=bool(e["en_retard"]),
                alerte=par_cle.pop(_cle(e["parcours_id"], e["type"], e.get("cle")), None),
            )
        )
    noms = {ligne.parcours_id: (ligne.nom, ligne.prenoms) for ligne in lignes}
    for a in par_cle.values():
        due_le = date.fromisoformat(str(a["due_le"])) if a.get("due_le") else None
        nom, prenoms = noms.get(str(a["parcours_id"]), (None, None))
        lignes.append(
            LigneTravail(
                parcours_id=str(a["parcours_id"]),
                nom=nom,
                prenoms=prenoms,
                departement=str(a["departement"]),
                referent_id=a.get("referent_id"),
                type=str(a["type"]),
                attendu=str(a["attendu"]),
                article=str(a["article"]),
                due_le=due_le,
                mois_du=None if due_le is not None else str(a["mois_du"]),
                en_retard=(due_le < aujourd_hui) if due_le is not None else a.get("niveau") == "encadrant",
                alerte=a,
            )
        )
    lignes.sort(key=lambda x: (x.au_plus_tard, x.nom or "", x.prenoms or "", x.parcours_id, x.type))
    return lignes
