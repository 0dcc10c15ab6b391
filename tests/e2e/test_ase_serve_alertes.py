"""``ase serve`` as a real process answers the alerts' inbox: a deadline whose alert date has passed is
raised by the embedded deadline engine and scheduler, and listed by ``GET /v1/alertes``."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import httpx

from tests.e2e.attente import attendre
from tests.e2e.test_ase_serve import ase_serve, port_libre


def test_ase_serve_raises_an_overdue_assessment_and_lists_it_in_the_inbox(tmp_path: Path) -> None:
    recue_le = (date.today() - timedelta(days=75)).isoformat()
    with ase_serve(tmp_path / "donnees", port_libre()) as (url, jeton):
        entetes = {"Authorization": f"Bearer {jeton}"}
        assert httpx.get(f"{url}/v1/alertes", headers=entetes).json() == {
            "total": 0,
            "page": 1,
            "taille": 50,
            "alertes": [],
        }
        ouvert = httpx.post(
            f"{url}/v1/parcours",
            json={
                "personne": {"nom": "Martin", "prenoms": "Léa", "date_naissance": "2012-04-03", "sexe": "F"},
                "departement": "59",
                "date_effet": recue_le,
            },
            headers=entetes,
        )
        assert ouvert.status_code == 201, ouvert.text
        ip = httpx.post(
            f"{url}/v1/parcours/{ouvert.json()['id']}/informations-preoccupantes",
            json={"origine": "education_nationale", "dangers": ["negligences"], "date_effet": recue_le},
            headers=entetes,
        )
        assert ip.status_code == 200, ip.text
        alertes = attendre(
            lambda: httpx.get(f"{url}/v1/alertes", headers=entetes).json()["alertes"],
            delai_s=60,
            quoi="the overdue assessment in the inbox",
            contexte=lambda: "",
        )
        assert [(a["type"], a["parcours_id"], a["statut"]) for a in alertes] == [
            ("evaluation_ip", ouvert.json()["id"], "ouverte")
        ]
        assert httpx.get(f"{url}/readyz").json()["dependances"]["echeancier"] == "ok"
