"""One clock, one time zone: every "today" is the civil date in Europe/Paris (DOMAIN.md, date paragraph).

The same parcours is read at 23:30 UTC on the eve of an 18th birthday and of
1 January, when it is already 00:30 the next day in Paris: the write side's
state, the dossier, the worklist, the indicators and the OLINPE extract must all
agree that the new day (and the new year) has begun.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from tests.integration.api_parcours import ouvrir
from tests.integration.conftest import Api, Lecture

NE_LE = date(2008, 11, 29)
DIX_HUIT_ANS = date(2026, 11, 29)
VEILLE_23H30_UTC = datetime(2026, 11, 28, 23, 30, tzinfo=UTC)
"""00:30 in Paris on the 18th birthday."""
SAINT_SYLVESTRE_23H30_UTC = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
"""00:30 in Paris on 1 January 2027."""


async def test_at_00_30_paris_on_the_18th_birthday_every_view_says_18(api: Api, lecture: Lecture) -> None:
    """Regression, named after the fault: GET /v1/parcours said age 17 beside majorite_atteinte_le
    while the dossier said 18."""
    ouvert = await ouvrir(api, date(2026, 11, 2), date_naissance=NE_LE)
    parcours_id = ouvert["id"]
    api.horloge.regler(VEILLE_23H30_UTC)

    majorite = await api.post(f"/v1/parcours/{parcours_id}/majorite", {})
    assert majorite.status_code == 200, majorite.text

    etat = (await api.get(f"/v1/parcours/{parcours_id}")).json()
    assert (etat["age"], etat["majorite_atteinte_le"]) == (18, DIX_HUIT_ANS.isoformat())

    await lecture.a_jour()
    dossier = await lecture.get(f"/v1/dossiers/{parcours_id}")
    assert dossier.status_code == 200, dossier.text
    assert dossier.json()["age"] == 18


async def test_on_1_january_at_00_30_paris_the_new_year_is_accepted_by_indicators_and_olinpe(
    api: Api, lecture: Lecture
) -> None:
    """Regression, named after the fault: on 1 January at 00:30 Paris, ?annee= of the new year was refused."""
    await ouvrir(api, date(2026, 11, 2))
    await lecture.a_jour()
    api.horloge.regler(SAINT_SYLVESTRE_23H30_UTC)

    indicateurs = await lecture.get("/v1/pilotage/indicateurs", departement="59", annee=2027)
    assert indicateurs.status_code == 200, indicateurs.text
    par_defaut = await lecture.get("/v1/pilotage/indicateurs", departement="59")
    assert par_defaut.status_code == 200, par_defaut.text
    assert par_defaut.json()["annee"] == 2027

    extrait = await lecture.get("/v1/statistiques/olinpe", role="observatoire", annee=2027, format="jsonl")
    assert extrait.status_code == 200, extrait.text
    trop_tot = await lecture.get("/v1/statistiques/olinpe", role="observatoire", annee=2028, format="jsonl")
    assert trop_tot.status_code == 422, trop_tot.text
