"""The majority clock on a real PostgreSQL: of age the morning after the 18th birthday, once, whoever runs it."""

from __future__ import annotations

import asyncio
import time as chrono
from datetime import date, datetime
from pathlib import Path
from uuid import UUID

import httpx
import psycopg
from anyio import CapacityLimiter
from asgi_lifespan import LifespanManager

from services.parcours import commandes as c
from services.parcours import integrite
from services.parcours.api.app import creer_app
from services.parcours.api.dependances import Composants
from services.parcours.application import Demande, ParcoursApplication
from services.parcours.domain.flux import Evenement
from services.parcours.domain.vocabulaire import MotifSortie, SituationLogement
from services.parcours.horloge_majorite import (
    AUTEUR,
    CLE_VERROU,
    HorlogeMajorite,
    candidats_du_journal,
    candidats_postgres,
    en_fond,
)
from services.runtime.auth import CleDeDeveloppement
from services.runtime.horloge import FUSEAU, HorlogeFixe
from tests.integration.api_parcours import ouvrir
from tests.integration.conftest import Api, Lecture, nouvelle_application

NE_LE = date(2008, 11, 29)
"""18 on 2026-11-29."""
VEILLE = datetime(2026, 11, 28, 23, 30, tzinfo=FUSEAU)
LENDEMAIN_MATIN = datetime(2026, 11, 29, 0, 5, tzinfo=FUSEAU)


def _demande(sub: str = "alice") -> Demande:
    return Demande(sub=sub, departements=frozenset({"59"}), correlation_id="c", causation_id="r")


def _ouvrir(app: ParcoursApplication, ne_le: date = NE_LE, ouvert_le: date = date(2025, 9, 1)) -> UUID:
    cmd = c.OuvrirParcours.model_validate(
        {
            "personne": {"nom": "Lefebvre", "prenoms": "Inès", "date_naissance": ne_le.isoformat(), "sexe": "F"},
            "departement": "59",
            "date_effet": ouvert_le.isoformat(),
        }
    )
    return UUID(app.ouvrir_parcours(cmd, _demande()).corps["id"])


def _majorites(app: ParcoursApplication, parcours_id: UUID) -> list[Evenement]:
    return [e for e in app.evenements(parcours_id, frozenset({"59"})) if type(e).__name__ == "MajoriteAtteinte"]


async def test_un_enfant_qui_a_18_ans_cette_nuit_est_majeur_demain_matin_une_fois(base_url: str) -> None:
    horloge = HorlogeFixe(VEILLE)
    app = nouvelle_application(base_url, horloge)
    autre_horloge = HorlogeFixe(VEILLE)
    autre_app = nouvelle_application(base_url, autre_horloge)  # a second process: its own pool, its own lock session
    try:
        parcours_id = _ouvrir(app)
        horloge_majorite = HorlogeMajorite(app, base_url)

        # The eve, 23:30 in Paris (22:30 UTC): still a minor, nothing recorded.
        veille = await horloge_majorite.executer()
        assert veille.executee
        assert veille.enregistrees == []
        assert _majorites(app, parcours_id) == []

        # 00:05 the next morning: of age in the write side, the majority dated on the birthday, by the clock.
        horloge.regler(LENDEMAIN_MATIN)
        autre_horloge.regler(LENDEMAIN_MATIN)
        matin = await horloge_majorite.executer()
        assert matin.enregistrees == [parcours_id]
        parcours = app.parcours(parcours_id, frozenset({"59"}))
        assert parcours.majorite_atteinte_le == date(2026, 11, 29)
        (majorite,) = _majorites(app, parcours_id)
        assert majorite.metadonnees.auteur == AUTEUR
        assert majorite.date_effet == date(2026, 11, 29)

        # A second run, then two runners at once (two processes racing the lock): still once.
        assert (await horloge_majorite.executer()).enregistrees == []
        deux = await asyncio.gather(
            HorlogeMajorite(app, base_url).executer(), HorlogeMajorite(autre_app, base_url).executer()
        )
        assert [b.enregistrees for b in deux] == [[], []]
        assert len(_majorites(autre_app, parcours_id)) == 1

        # Recorded as a command is: the hash chain of the stream holds.
        with psycopg.connect(base_url) as conn:
            assert integrite.verifier(conn, flux=str(parcours_id)).intacte
    finally:
        app.close()
        autre_app.close()


async def test_two_runners_racing_for_a_due_majority_record_it_once(base_url: str) -> None:
    horloge = HorlogeFixe(LENDEMAIN_MATIN)
    apps = [nouvelle_application(base_url, horloge) for _ in range(2)]
    try:
        dus = [_ouvrir(apps[0]) for _ in range(3)]
        bilans = await asyncio.gather(*(HorlogeMajorite(a, base_url).executer() for a in apps))
        assert sorted(p for b in bilans for p in b.enregistrees) == sorted(dus)
        for parcours_id in dus:
            assert len(_majorites(apps[1], parcours_id)) == 1
    finally:
        for a in apps:
            a.close()


async def test_a_run_while_another_session_holds_the_lock_records_nothing(base_url: str) -> None:
    horloge = HorlogeFixe(LENDEMAIN_MATIN)
    app = nouvelle_application(base_url, horloge)
    try:
        parcours_id = _ouvrir(app)
        with psycopg.connect(base_url, autocommit=True) as autre:
            autre.execute("SELECT pg_advisory_lock(%s)", (CLE_VERROU,))
            bilan = await HorlogeMajorite(app, base_url).executer()
            assert not bilan.executee
            assert _majorites(app, parcours_id) == []
            autre.execute("SELECT pg_advisory_unlock(%s)", (CLE_VERROU,))
        assert (await HorlogeMajorite(app, base_url).executer()).enregistrees == [parcours_id]
    finally:
        app.close()


async def test_the_postgresql_preselection_finds_what_the_log_says(base_url: str) -> None:
    horloge = HorlogeFixe(LENDEMAIN_MATIN)
    app = nouvelle_application(base_url, horloge)
    try:
        du = _ouvrir(app)
        demain = _ouvrir(app, date(2008, 11, 30))  # this month: a candidate, the exact date decides
        mineur = _ouvrir(app, date(2012, 5, 3))
        deja = _ouvrir(app, date(2008, 10, 1))
        app.commander(deja, _demande(), lambda p, ctx: p.atteindre_majorite(ctx))
        sorti = _ouvrir(app, date(2008, 9, 1))
        sortie = {
            "motif": MotifSortie.RETOUR_EN_FAMILLE,
            "situation_logement": SituationLogement.FAMILLE,
            "date_effet": date(2025, 10, 1),
        }
        app.commander(sorti, _demande(), lambda p, ctx: p.sortir(ctx, **sortie))
        rouvert = _ouvrir(app, date(2008, 8, 1))
        app.commander(rouvert, _demande(), lambda p, ctx: p.sortir(ctx, **sortie))
        app.commander(
            rouvert, _demande(), lambda p, ctx: p.rouvrir(ctx, motif="nouvelle demande", date_effet=date(2025, 11, 1))
        )
        rectifie = _ouvrir(app, date(2009, 1, 2))
        cmd = c.Rectifier(
            version_rectifiee=1, champ="date_naissance", nouvelle_valeur="2008-11-02", motif="erreur de saisie"
        )
        app.rectifier(rectifie, cmd, _demande())

        with psycopg.connect(base_url) as conn:
            en_sql = candidats_postgres(conn, "public", "ase_events", date(2026, 11, 29))
        du_journal = candidats_du_journal(app.recorder.select_notifications(None, 10_000), date(2026, 11, 29))
        assert en_sql == du_journal == sorted([du, demain, rouvert, rectifie])
        assert mineur not in en_sql
        # Nothing in the log in clear names the birth dates the selection needed.
        with psycopg.connect(base_url) as conn:
            etats = b"".join(bytes(ligne[0]) for ligne in conn.execute("SELECT state FROM ase_events"))
        assert b"2008-11-29" not in etats
        assert b"2008-11-02" not in etats
    finally:
        app.close()


async def test_the_parcours_service_runs_the_clock_at_start_up(base_url: str, tmp_path: Path) -> None:
    horloge = HorlogeFixe(LENDEMAIN_MATIN)
    app = nouvelle_application(base_url, horloge)
    parcours_id = _ouvrir(app)
    comp = Composants(
        application=app,
        verificateur=CleDeDeveloppement.dans(tmp_path / "cles"),
        limiteur=CapacityLimiter(4),
        url=base_url,
    )
    service = creer_app(composants=comp, demarrer_horloge_majorite=True)
    try:
        async with (
            LifespanManager(service),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=service), base_url="http://parcours.test"),
        ):
            fin = chrono.monotonic() + 30
            while not _majorites(app, parcours_id):
                assert chrono.monotonic() < fin, "the clock did not record the majority at start-up"
                await asyncio.sleep(0.05)
        assert [e.metadonnees.auteur for e in _majorites(app, parcours_id)] == [AUTEUR]
    finally:
        app.close()


async def test_the_dossier_shows_the_majority_the_clock_recorded_overnight(
    api: Api, lecture: Lecture, base_url: str
) -> None:
    api.horloge.regler(VEILLE)
    ouvert = await ouvrir(api, date(2025, 9, 1), date_naissance=NE_LE)
    horloge_majorite = HorlogeMajorite(api.application, base_url)
    assert (await horloge_majorite.executer()).enregistrees == []
    await lecture.a_jour()
    veille = await lecture.get(f"/v1/dossiers/{ouvert['id']}")
    assert veille.status_code == 200, veille.text
    assert veille.json()["majorite_atteinte_le"] is None
    assert "majorite" in {e["type"] for e in veille.json()["echeances"]}

    api.horloge.regler(LENDEMAIN_MATIN)
    assert (await horloge_majorite.executer()).enregistrees == [UUID(ouvert["id"])]
    await lecture.a_jour()
    matin = await lecture.get(f"/v1/dossiers/{ouvert['id']}")
    assert matin.status_code == 200, matin.text
    assert matin.json()["majorite_atteinte_le"] == "2026-11-29"
    assert "majorite" not in {e["type"] for e in matin.json()["echeances"]}


async def _executions(horloge_majorite: HorlogeMajorite, nombre: int, delai_s: float = 30.0) -> None:
    """Wait until the running clock has ended ``nombre`` runs."""
    fin = chrono.monotonic() + delai_s
    while horloge_majorite.executions < nombre:
        assert chrono.monotonic() < fin, f"{horloge_majorite.executions} runs after {delai_s}s, {nombre} awaited"
        await asyncio.sleep(0.02)


async def test_the_running_clock_wakes_at_00_05_and_records_the_night_s_majority(base_url: str) -> None:
    horloge = HorlogeFixe(VEILLE)
    app = nouvelle_application(base_url, horloge)
    try:
        parcours_id = _ouvrir(app)
        async with en_fond(app, base_url, attente_max_s=0.02) as horloge_majorite:
            await _executions(horloge_majorite, 1)  # at start-up, on the eve
            assert horloge_majorite.derniere is not None
            assert horloge_majorite.derniere.executee
            assert _majorites(app, parcours_id) == []

            horloge.regler(LENDEMAIN_MATIN)
            await _executions(horloge_majorite, 2)
            assert horloge_majorite.derniere is not None
            assert horloge_majorite.derniere.enregistrees == [parcours_id]
        assert [e.metadonnees.auteur for e in _majorites(app, parcours_id)] == [AUTEUR]
    finally:
        app.close()
