"""Two writers on one stream at the same moment: exactly one wins, the other is told, nothing is lost.

The writers are two services (two applications, two connection pools) on the
same PostgreSQL, as two processes of a deployment would be. A barrier inside
the domain holds each command until both have read the stream, so every round
is a real race decided by the store, not by who happened to run first.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any
from uuid import UUID

import pytest

from services.parcours.application import Demande, ParcoursApplication, Reponse
from services.parcours.domain.parcours import Parcours
from services.runtime.errors import ConflitDeVersionError
from tests.integration.api_parcours import autre_instance, evenements, ouvrir, probleme
from tests.integration.conftest import Api, nouvelle_application

TOURS = 20
OUVERT_LE = date(2026, 10, 1)
ATTENTE_MAX_S = 20
"""How long a writer waits for its rival at the barrier before the round is declared broken."""


@pytest.fixture
def barriere(monkeypatch: pytest.MonkeyPatch) -> threading.Barrier:
    """Hold ``Parcours.produire_rapport`` until two commands have both loaded the stream."""
    rendez_vous = threading.Barrier(2, timeout=ATTENTE_MAX_S)
    original = Parcours.produire_rapport

    def produire_apres_le_rival(self: Parcours, *args: Any, **kwargs: Any) -> None:
        rendez_vous.wait()
        original(self, *args, **kwargs)

    monkeypatch.setattr(Parcours, "produire_rapport", produire_apres_le_rival)
    return rendez_vous


def _rapport(tour: int) -> dict[str, Any]:
    return {"transmis_au_juge": tour % 2 == 0, "date_effet": "2026-10-02"}


async def test_two_services_writing_on_the_same_version_let_exactly_one_win_every_round(
    api: Api, base_url: str, barriere: threading.Barrier
) -> None:
    pid = (await ouvrir(api, OUVERT_LE))["id"]
    async with autre_instance(base_url, api) as rivale:
        for tour in range(TOURS):
            version = len(await evenements(api, pid))

            reponses = await asyncio.gather(
                api.post(f"/v1/parcours/{pid}/rapports", _rapport(tour), If_Match=f'"{version}"'),
                rivale.post(f"/v1/parcours/{pid}/rapports", _rapport(tour), If_Match=f'"{version}"'),
            )

            statuts = sorted(r.status_code for r in reponses)
            assert statuts == [200, 409], (tour, [r.text for r in reponses])
            gagnante = next(r for r in reponses if r.status_code == 200)
            perdante = next(r for r in reponses if r.status_code == 409)
            assert gagnante.json()["version"] == version + 1
            probleme(perdante, 409, "conflit_de_version")
            flux = await evenements(api, pid)
            assert len(flux) == version + 1, f"tour {tour}: exactly one new event"
            assert flux[-1]["type"] == "RapportSituationProduit"
            assert await evenements(rivale, pid) == flux, "both services read the same stream"
    assert not barriere.broken


async def test_without_if_match_the_loser_of_a_race_is_refused_rather_than_overwriting(
    api: Api, base_url: str, barriere: threading.Barrier
) -> None:
    pid = (await ouvrir(api, OUVERT_LE))["id"]
    async with autre_instance(base_url, api) as rivale:
        for tour in range(5):
            version = len(await evenements(api, pid))

            reponses = await asyncio.gather(
                api.post(f"/v1/parcours/{pid}/rapports", _rapport(tour)),
                rivale.post(f"/v1/parcours/{pid}/rapports", _rapport(tour)),
            )

            assert sorted(r.status_code for r in reponses) == [200, 409], [r.text for r in reponses]
            probleme(next(r for r in reponses if r.status_code == 409), 409, "conflit_de_version")
            assert len(await evenements(api, pid)) == version + 1


# -- the same race, two applications in two threads, nothing held ------------------------------


@pytest.fixture
def deux_applications(base_url: str, api: Api) -> Iterator[tuple[ParcoursApplication, ParcoursApplication]]:
    premiere = nouvelle_application(base_url, api.horloge)
    seconde = nouvelle_application(base_url, api.horloge)
    yield premiere, seconde
    premiere.close()
    seconde.close()


def _demande(version: int, sub: str) -> Demande:
    return Demande(
        sub=sub, departements=frozenset({"59"}), correlation_id=sub, causation_id=sub, version_attendue=version
    )


def _en_parallele(depart: threading.Barrier, ecritures: list[Callable[[], object]]) -> list[object]:
    """Run each write in its own thread, all released together; a version conflict is a result."""
    resultats: list[object] = [None] * len(ecritures)

    def coureur(rang: int) -> None:
        depart.wait()
        try:
            resultats[rang] = ecritures[rang]()
        except ConflitDeVersionError as refus:
            resultats[rang] = refus

    fils = [threading.Thread(target=coureur, args=(rang,)) for rang in range(len(ecritures))]
    for f in fils:
        f.start()
    for f in fils:
        f.join(ATTENTE_MAX_S)
    return resultats


def _rapport_par(app: ParcoursApplication, pid: UUID, version: int, rang: int) -> Callable[[], object]:
    return lambda: app.commander(
        pid,
        _demande(version, f"ecrivain-{rang}"),
        lambda p, ctx: p.produire_rapport(ctx, transmis_au_juge=bool(rang), date_effet=OUVERT_LE),
    )


async def test_two_applications_started_together_in_threads_record_one_event_per_round(
    api: Api, deux_applications: tuple[ParcoursApplication, ParcoursApplication]
) -> None:
    pid = UUID((await ouvrir(api, OUVERT_LE))["id"])
    premiere, seconde = deux_applications
    depart = threading.Barrier(2, timeout=ATTENTE_MAX_S)

    for tour in range(TOURS):
        version = len(list(premiere.repository.event_store.get(pid)))

        resultats = await asyncio.to_thread(
            _en_parallele, depart, [_rapport_par(premiere, pid, version, 0), _rapport_par(seconde, pid, version, 1)]
        )

        refus = [r for r in resultats if isinstance(r, ConflitDeVersionError)]
        succes = [r for r in resultats if isinstance(r, Reponse)]
        assert (len(succes), len(refus)) == (1, 1), (tour, resultats)
        assert succes[0].corps["version"] == version + 1
        flux = list(seconde.repository.event_store.get(pid))
        assert len(flux) == version + 1, f"tour {tour}: exactly one new event"
    vu = await api.get(f"/v1/parcours/{pid}")
    assert vu.json()["version"] == 1 + TOURS


async def test_commands_on_different_parcours_at_the_same_time_all_succeed(api: Api, base_url: str) -> None:
    dossiers = [(await ouvrir(api, OUVERT_LE))["id"] for _ in range(8)]
    async with autre_instance(base_url, api) as rivale:
        reponses = await asyncio.gather(
            *[
                (api if rang % 2 else rivale).post(
                    f"/v1/parcours/{pid}/ppe", {"date_effet": "2026-10-02"}, If_Match='"1"'
                )
                for rang, pid in enumerate(dossiers)
            ]
        )

    assert [r.status_code for r in reponses] == [200] * len(dossiers), [r.text for r in reponses]
    for pid in dossiers:
        assert [e["type"] for e in await evenements(api, pid)] == ["ParcoursOuvert", "PPEEtabli"]
