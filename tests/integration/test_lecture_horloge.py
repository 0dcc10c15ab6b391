"""The read API's "today" is the civil date in Europe/Paris from the injected clock (DOMAIN.md, date paragraph).

At 23:30 UTC on the eve (winter: UTC+1) it is already 00:30 the next day in
Paris: ages, overdue flags, the audit's default date and the indicators' year
all turn with Paris, not with UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from tests.integration.api_parcours import decider_mesure, ouvrir
from tests.integration.conftest import Api, Lecture

NE_LE = date(2008, 12, 3)
DIX_HUIT_ANS = date(2026, 12, 3)
VEILLE_23H30_UTC = datetime(2026, 12, 2, 23, 30, tzinfo=UTC)
"""00:30 in Paris on 3 December 2026, the 18th birthday."""
VEILLE_22H59_UTC = datetime(2026, 12, 2, 22, 59, tzinfo=UTC)
"""23:59 in Paris on 2 December 2026."""
SAINT_SYLVESTRE_23H30_UTC = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
"""00:30 in Paris on 1 January 2027."""


async def lire(lecture: Lecture, chemin: str, **parametres: Any) -> Any:
    reponse = await lecture.get(chemin, **parametres)
    assert reponse.status_code == 200, reponse.text
    return reponse.json()


async def test_at_00_30_paris_on_the_18th_birthday_the_dossier_and_the_list_say_18(api: Api, lecture: Lecture) -> None:
    """Regression, named after the fault: the dossier and GET /v1/parcours disagreed on the age at 00:30 Paris."""
    pid = (await ouvrir(api, date(2026, 11, 2), date_naissance=NE_LE))["id"]
    await lecture.a_jour()

    api.horloge.regler(VEILLE_22H59_UTC)
    assert (await lire(lecture, f"/v1/dossiers/{pid}"))["age"] == 17
    api.horloge.regler(VEILLE_23H30_UTC)
    dossier = await lire(lecture, f"/v1/dossiers/{pid}")
    (resume,) = (await lire(lecture, "/v1/dossiers"))["dossiers"]
    ecrit = (await api.get(f"/v1/parcours/{pid}")).json()

    assert dossier["age"] == resume["age"] == ecrit["age"] == 18
    (majorite,) = [e for e in dossier["echeances"] if e["type"] == "majorite"]
    assert (majorite["due_le"], majorite["en_alerte"], majorite["en_retard"]) == (DIX_HUIT_ANS.isoformat(), True, False)


async def test_a_measure_due_on_the_eve_is_overdue_from_00_30_paris_not_from_midnight_utc(
    api: Api, lecture: Lecture
) -> None:
    pid = (await ouvrir(api, date(2026, 11, 2), date_naissance=date(2014, 4, 1)))["id"]
    await decider_mesure(api, pid, date_debut=date(2026, 11, 2), date_echeance=date(2026, 12, 2))
    await lecture.a_jour()

    api.horloge.regler(VEILLE_22H59_UTC)
    (mesure,) = (await lire(lecture, f"/v1/dossiers/{pid}"))["mesures_actives"]
    assert mesure["echue"] is False
    api.horloge.regler(VEILLE_23H30_UTC)
    vu = await lire(lecture, f"/v1/dossiers/{pid}")
    (echeance,) = [e for e in vu["echeances"] if e["type"] == "echeance_mesure"]
    assert (vu["mesures_actives"][0]["echue"], echeance["en_retard"]) == (True, True)
    (travail,) = [t for t in (await lire(lecture, "/v1/echeances"))["echeances"] if t["type"] == "echeance_mesure"]
    assert travail["en_retard"] is True


async def test_the_audit_state_is_for_today_in_paris_by_default(api: Api, lecture: Lecture) -> None:
    pid = (await ouvrir(api, date(2026, 11, 2)))["id"]
    api.horloge.regler(VEILLE_23H30_UTC)
    reponse = await api.post(f"/v1/parcours/{pid}/ppe", {"date_effet": "2026-12-03"})
    assert reponse.status_code == 200, reponse.text
    await lecture.a_jour()

    etat = await lire(lecture, f"/v1/audit/parcours/{pid}/etat", role="auditeur")

    assert (etat["date_effet"], etat["etat"]["ppe_etabli_le"]) == ("2026-12-03", "2026-12-03")


async def test_on_1_january_at_00_30_paris_the_indicators_are_computed_for_the_new_year(
    api: Api, lecture: Lecture
) -> None:
    """Regression, named after the fault: on 1 January at 00:30 Paris, ?annee= of the new year was refused."""
    await ouvrir(api, date(2026, 11, 2))
    await lecture.a_jour()
    api.horloge.regler(SAINT_SYLVESTRE_23H30_UTC)

    par_defaut = await lire(lecture, "/v1/pilotage/indicateurs")
    assert (par_defaut["annee"], par_defaut["calcule_le"]) == (2027, "2027-01-01")
    assert (await lire(lecture, "/v1/pilotage/indicateurs", annee=2027))["annee"] == 2027
    extrait = await lecture.get("/v1/statistiques/olinpe", role="observatoire", annee=2027)
    assert extrait.status_code == 200, extrait.text
    assert (await lecture.get("/v1/pilotage/indicateurs", annee=2028)).status_code == 422
