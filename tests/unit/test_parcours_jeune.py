"""The young person's stays and contrats jeune majeur, as the public events (corrections applied) tell them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

from droit.etat_parcours import RECTIFICATION, Fait, corriges
from services.projections.readmodels.parcours_jeune import Contrat, contrats_de, sejours_de

FAMILLE, MECS, FOYER = uuid4(), uuid4(), uuid4()


def fait(version: int, nom: str, le: date, **donnees: Any) -> Fait:
    return Fait(version, nom, le, datetime(2026, 1, 1, tzinfo=UTC), {"date_effet": le.isoformat(), **donnees})


def lieu(lieu_id: UUID, type_lieu: str) -> dict[str, str]:
    return {"lieu_id": str(lieu_id), "type_lieu": type_lieu}


def test_a_change_of_lieu_ends_one_stay_and_starts_the_next_until_the_end_of_the_accueil() -> None:
    faits = [
        fait(1, "ParcoursOuvert", date(2025, 3, 1)),
        fait(2, "AccueilDebute", date(2025, 3, 1), **lieu(FAMILLE, "assistant_familial")),
        fait(3, "LieuAccueilChange", date(2025, 6, 2), **lieu(MECS, "mecs")),
        fait(4, "AccueilTermine", date(2026, 1, 20)),
        fait(5, "LieuAccueilChange", date(2026, 2, 1), **lieu(FOYER, "foyer_enfance")),  # no accueil: nothing
        fait(6, "AccueilDebute", date(2026, 3, 1), **lieu(FOYER, "foyer_enfance")),
    ]

    assert [(s.lieu_id, s.type_lieu, s.du, s.au, s.nom) for s in sejours_de(faits)] == [
        (FAMILLE, "assistant_familial", date(2025, 3, 1), date(2025, 6, 2), None),
        (MECS, "mecs", date(2025, 6, 2), date(2026, 1, 20), None),
        (FOYER, "foyer_enfance", date(2026, 3, 1), None, None),
    ]


def test_a_corrected_date_of_change_moves_both_stays() -> None:
    faits = [
        fait(1, "AccueilDebute", date(2025, 3, 1), **lieu(FAMILLE, "assistant_familial")),
        fait(2, "LieuAccueilChange", date(2025, 6, 2), **lieu(MECS, "mecs")),
        fait(
            3,
            RECTIFICATION,
            date(2025, 6, 3),
            version_rectifiee=2,
            champ="date_effet",
            ancienne_valeur="2025-06-02",
            nouvelle_valeur="2025-05-28",
        ),
    ]

    sejours = sejours_de(corriges(faits).faits)

    assert [(s.du, s.au) for s in sejours] == [(date(2025, 3, 1), date(2025, 5, 28)), (date(2025, 5, 28), None)]


def test_a_contrat_jeune_majeur_takes_its_renewals_end_and_its_end() -> None:
    faits = [
        fait(1, "AccompagnementJeuneMajeurAccorde", date(2026, 1, 22), date_debut="2026-01-20", date_fin="2026-07-19"),
        fait(2, "AccompagnementJeuneMajeurRenouvele", date(2026, 7, 1), date_fin="2027-07-19", fin_annee_engagee=False),
        fait(3, "AccompagnementJeuneMajeurTermine", date(2027, 3, 1), motif="demande_du_jeune"),
    ]

    assert contrats_de(faits) == [Contrat(date(2026, 1, 20), date(2027, 7, 19), False, date(2027, 3, 1))]
