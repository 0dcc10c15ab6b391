"""The majority clock and the deadline engine together: a child turning 18 tonight is of age tomorrow
morning in the write side and in the alerts, once: no "record the majority" alert (the clock recorded it
first), one alert asking to offer an APJM, whatever runs again."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from services.notifications import sorties
from services.parcours.horloge_majorite import HorlogeMajorite
from services.runtime.horloge import FUSEAU
from tests.integration.conftest import Api
from tests.integration.notifications_outils import echeancier_de

NE_LE = date(2008, 12, 2)
"""18 on 2026-12-02."""
VEILLE = datetime(2026, 12, 1, 23, 30, tzinfo=FUSEAU)
LENDEMAIN_MATIN = datetime(2026, 12, 2, 0, 5, tzinfo=FUSEAU)


async def test_a_child_turning_18_tonight_is_of_age_tomorrow_morning_in_the_write_side_and_the_alerts_once(
    api: Api, base_url: str, tmp_path: Path
) -> None:
    api.horloge.regler(datetime(2026, 11, 30, 10, tzinfo=FUSEAU))
    ouvert = await api.post(
        "/v1/parcours",
        {
            "personne": {"nom": "Lefebvre", "prenoms": "Inès", "date_naissance": NE_LE.isoformat(), "sexe": "F"},
            "departement": "59",
            "date_effet": "2026-11-30",
            "referent_id": "referente-59",
        },
    )
    assert ouvert.status_code == 201, ouvert.text
    parcours_id = ouvert.json()["id"]
    horloge_majorite = HorlogeMajorite(api.application, base_url)
    async with echeancier_de(api, base_url, tmp_path / "cles") as e:
        # The eve, 23:30 in Paris: a minor; the deadline of majority is known, not yet due.
        api.horloge.regler(VEILLE)
        assert (await horloge_majorite.executer()).enregistrees == []
        await e.rattraper()
        await e.tick()
        assert await e.nouvelles() == []
        assert "majorite" in await e.minuteries()

        # 00:05: the clock records the majority before the scheduler's first tick of the day.
        api.horloge.regler(LENDEMAIN_MATIN)
        assert [str(p) for p in (await horloge_majorite.executer()).enregistrees] == [parcours_id]
        await e.rattraper()
        await e.tick()
        assert await e.nouvelles() == [("alerte_levee", "proposition_accompagnement_jeune_majeur", "2026-12-02")]
        dossier = api.application.parcours(ouvert.json()["id"], frozenset({"59"}))
        assert dossier.majorite_atteinte_le == NE_LE.replace(year=2026)

        # Everything runs again (a restart, a second instance): nothing new.
        assert (await horloge_majorite.executer()).enregistrees == []
        await e.rattraper()
        await e.tick()
        await e.tick()
        assert await e.nouvelles() == []
        async with e.comp.pool.acquire() as conn:
            levees = await conn.fetchval(
                f"SELECT count(*) FROM {sorties.SCHEMA}.sorties WHERE parcours_id = $1 AND evenement = 'alerte_levee'",
                ouvert.json()["id"],
            )
        assert levees == 1
        boite = (await e.get("/v1/alertes", referent_id="referente-59")).json()["alertes"]
        assert [(a["type"], a["due_le"], a["mois_du"]) for a in boite] == [
            ("proposition_accompagnement_jeune_majeur", None, "2026-12")
        ]
