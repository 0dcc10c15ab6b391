"""The OLINPE key at start, and the statistics records' shape (no I/O)."""

from __future__ import annotations

from datetime import date

import orjson
import pytest
import structlog

from services.projections import statistiques
from services.projections.readmodels.olinpe import CLE_DE_DEVELOPPEMENT, COLONNES


@pytest.mark.parametrize("variable", ["ASE_ENV", "ASE_MODE"])
def test_production_refuses_to_start_with_the_development_olinpe_key(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.delenv("ASE_MODE", raising=False)
    monkeypatch.delenv("ASE_ENV", raising=False)
    monkeypatch.setenv(variable, "production")
    monkeypatch.delenv("ASE_OLINPE_CLE", raising=False)

    with pytest.raises(statistiques.CleOlinpeRefuseeError, match="ASE_OLINPE_CLE") as refus:
        statistiques.verifier_cle_olinpe()
    assert CLE_DE_DEVELOPPEMENT not in str(refus.value), "no key material in the message"

    monkeypatch.setenv("ASE_OLINPE_CLE", CLE_DE_DEVELOPPEMENT)
    with pytest.raises(statistiques.CleOlinpeRefuseeError):
        statistiques.verifier_cle_olinpe()
    monkeypatch.setenv("ASE_OLINPE_CLE", "une-vraie-cle-de-production")
    assert not statistiques.verifier_cle_olinpe().cle_de_developpement


def test_the_development_olinpe_key_is_loudly_flagged_in_dev_without_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASE_MODE", raising=False)
    monkeypatch.delenv("ASE_ENV", raising=False)
    monkeypatch.delenv("ASE_OLINPE_CLE", raising=False)

    with structlog.testing.capture_logs() as journaux:
        statistiques.verifier_cle_olinpe()

    (alerte,) = [j for j in journaux if j["event"] == "cle_olinpe_de_developpement"]
    assert alerte["log_level"] == "warning"
    assert CLE_DE_DEVELOPPEMENT not in repr(journaux)
    assert statistiques.CLE_DE_DEVELOPPEMENT._value.get() == 1

    monkeypatch.setenv("ASE_OLINPE_CLE", "une-vraie-cle")
    with structlog.testing.capture_logs() as journaux:
        statistiques.verifier_cle_olinpe()
    assert journaux == []
    assert statistiques.CLE_DE_DEVELOPPEMENT._value.get() == 0


LIGNE = {
    "pseudonyme": "ab" * 32,
    "rang_mesure": 1,
    "evenement": "debut",
    "date_evenement": date(2026, 3, 2),
    "departement": "59",
    "annee_naissance": 2012,
    "mois_naissance": 5,
    "sexe": "F",
    "cadre": "judiciaire",
    "nature": "placement",
    "autorite": "juge_des_enfants",
    "date_decision": date(2026, 3, 1),
    "date_debut": date(2026, 3, 2),
    "date_echeance": date(2027, 3, 1),
    "motif_fin": None,
    "ordre": 4,
}


def test_a_statistics_record_holds_the_extract_columns_and_a_deterministic_id_only() -> None:
    valeur = orjson.loads(statistiques.corps(LIGNE))
    corrige = orjson.loads(statistiques.corps({**LIGNE, "date_echeance": date(2027, 6, 1)}))
    autre = statistiques.identifiant({**LIGNE, "evenement": "fin"})

    assert set(valeur) == {"id", "type", "version", *COLONNES}
    assert valeur["id"] == corrige["id"] == str(statistiques.identifiant(LIGNE)), "a republish keeps its id"
    assert valeur["id"] != str(autre)
    assert valeur["date_debut"] == "2026-03-02"
