"""Webhook deliveries per second through the service's loop, beside a bare ``httpx`` loop, in one run.

Setup: an embedded PostgreSQL (fresh database), a receiver in its own process
(uvicorn, an ASGI app reading the body and answering 204) on 127.0.0.1,
``ABONNEMENTS`` subscriptions (``*``, ``webhooks_loopback``) and
``LIVRAISONS / ABONNEMENTS`` alerts in the outbox, so ``LIVRAISONS``
deliveries (``ASE_BENCH_WEBHOOKS``, default 2,000).

- ``service``: the steps of :func:`services.notifications.webhooks.tourner`,
  in this process: plan the whole outbox (:func:`planifier`, timed apart too),
  then claim, check the address, sign, send and record (:func:`livrer`) until
  nothing is due. Deliveries of one subscription go in order, the
  subscriptions concurrently, as in the service.
- ``httpx``: one ``httpx.AsyncClient``, one task per subscription posting the
  same bodies in the same order, sequentially: the same shape of concurrency,
  without the database, the SSRF check or the signature.

After a warm-up of each, the two alternate ``TOURS`` times (the deliveries
emptied and the outbox cursor put back to 0 between two service rounds);
medians are compared. The ratio ``service/httpx`` is the share of the bare
client's throughput the service keeps (target :data:`CIBLE_RATIO`).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import platform
import socket
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import httpx

from benchmarks.postgres_jetable import postgres_jetable
from contracts.alertes import Alerte, EvenementAlerte, Niveau, StatutAlerte, identifiant_alerte, lien_dossier
from services.notifications import abonnements, sorties, webhooks
from services.notifications.settings import NotificationsSettings
from services.runtime.horloge import HorlogeSysteme

NOM = "webhooks"
LIVRAISONS = int(os.environ.get("ASE_BENCH_WEBHOOKS", "2000"))
"""Deliveries per round; ``ASE_BENCH_WEBHOOKS`` for a short development run."""
ABONNEMENTS = int(os.environ.get("ASE_BENCH_WEBHOOKS_ABONNEMENTS", "10"))
"""Subscriptions (each gets every alert): the concurrency of both paths."""
TOURS = 5
CIBLE_RATIO = 0.5
"""The service keeps at least half the bare client's deliveries/s (it adds two transactions per delivery)."""


async def _lire_tout(recevoir: Any) -> None:
    while True:
        message = await recevoir()
        if not message.get("more_body"):
            return


async def recepteur(scope: dict[str, Any], recevoir: Any, envoyer: Any) -> None:
    """The receiver: reads the body, answers 204."""
    if scope["type"] == "lifespan":
        while True:
            message = await recevoir()
            if message["type"] == "lifespan.startup":
                await envoyer({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await envoyer({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    await _lire_tout(recevoir)
    await envoyer({"type": "http.response.start", "status": 204, "headers": []})
    await envoyer({"type": "http.response.body", "body": b""})


def _servir(port: int) -> None:
    import uvicorn

    uvicorn.run(recepteur, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _port_libre() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _attendre_port(port: int, delai_s: float = 30.0) -> None:
    fin = time.monotonic() + delai_s
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > fin:
                raise
            time.sleep(0.05)


def _alerte(i: int) -> Alerte:
    parcours_id = uuid.uuid4()
    due = date(2026, 12, 1 + i % 28)
    instant = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    return Alerte(
        alerte_id=identifiant_alerte(parcours_id, "ppe", "", due),
        parcours_id=parcours_id,
        departement="75",
        referent_id=f"referent-{i % 50}",
        type="ppe",
        due_le=due,
        mois_du=due.isoformat()[:7],
        alerte_le=date(2026, 11, 28),
        attendu="Établir le projet pour l'enfant",
        article="CASF L223-1-1",
        urgente=False,
        niveau=Niveau.REFERENT,
        statut=StatutAlerte.OUVERTE,
        lien=lien_dossier(parcours_id),
        levee_le=instant,
        modifiee_le=instant,
    )


async def _preparer(pool: asyncpg.Pool, port: int) -> None:
    async with pool.acquire() as conn:
        await abonnements.creer_tables(conn)
        for k in range(ABONNEMENTS):
            await abonnements.creer_abonnement(
                conn,
                departement="75",
                url=f"http://127.0.0.1:{port}/abonne/{k}?cle=bench",
                types=["*"],
                cree_par="bench",
                maintenant=datetime.now(UTC),
            )
        async with conn.transaction():
            for i in range(max(LIVRAISONS // ABONNEMENTS, 1)):
                await sorties.ajouter(conn, EvenementAlerte.LEVEE, _alerte(i))


async def _tour_service(pool: asyncpg.Pool, settings: NotificationsSettings) -> dict[str, float]:
    async with pool.acquire() as conn:
        await conn.execute("TRUNCATE notifications.livraisons")
        await conn.execute("UPDATE notifications.curseurs SET position = 0 WHERE consommateur = $1", "webhooks")
    horloge = HorlogeSysteme()
    facteur = webhooks.Facteur(settings)
    try:
        debut = time.perf_counter()
        async with pool.acquire() as conn:
            while await webhooks.planifier(conn, horloge.maintenant()):
                pass
        planifie = time.perf_counter()
        envoyees = 0
        while n := await webhooks.livrer(pool, facteur, horloge):
            envoyees += n
        fin = time.perf_counter()
    finally:
        await facteur.fermer()
    async with pool.acquire() as conn:
        livrees = await conn.fetchval("SELECT count(*) FROM notifications.livraisons WHERE etat = 'livree'")
    if livrees != envoyees:
        raise AssertionError(f"{envoyees} envois, {livrees} livraisons réussies")
    return {"livraisons": livrees, "duree_s": fin - debut, "planification_s": planifie - debut}


async def _tour_httpx(pool: asyncpg.Pool, port: int) -> dict[str, float]:
    async with pool.acquire() as conn:
        lignes = await conn.fetch(
            "SELECT a.url, l.corps FROM notifications.livraisons l JOIN notifications.abonnements a "
            "USING (abonnement_id) ORDER BY l.abonnement_id, l.position"
        )
    files: dict[str, list[bytes]] = {}
    for ligne in lignes:
        files.setdefault(ligne["url"], []).append(ligne["corps"].encode())

    async with httpx.AsyncClient(trust_env=False, timeout=10.0) as client:

        async def poster(url: str, corps: list[bytes]) -> int:
            for contenu in corps:
                reponse = await client.post(url, content=contenu, headers={"content-type": "application/json"})
                reponse.raise_for_status()
            return len(corps)

        debut = time.perf_counter()
        n = sum(await asyncio.gather(*(poster(url, corps) for url, corps in files.items())))
        fin = time.perf_counter()
    return {"livraisons": n, "duree_s": fin - debut}


async def _mesurer(url: str, port: int) -> dict[str, Any]:
    settings = NotificationsSettings(webhooks_loopback=True, database_url=url)
    pool = await asyncpg.create_pool(url, min_size=2, max_size=4)
    try:
        await _preparer(pool, port)
        await _tour_service(pool, settings)  # warm-up, and the bodies the baseline posts
        await _tour_httpx(pool, port)
        tours: dict[str, list[dict[str, float]]] = {"service": [], "httpx": []}
        for tour in range(TOURS):
            ordre = ("service", "httpx") if tour % 2 == 0 else ("httpx", "service")
            for nom in ordre:
                if nom == "service":
                    tours[nom].append(await _tour_service(pool, settings))
                else:
                    tours[nom].append(await _tour_httpx(pool, port))
    finally:
        await pool.close()
    return tours


def executer() -> dict[str, Any]:
    """Start PostgreSQL and the receiver, measure both paths, return the figures and the ratio."""
    debut = time.perf_counter()
    port = _port_libre()
    processus = multiprocessing.get_context("spawn").Process(target=_servir, args=(port,), daemon=True)
    processus.start()
    try:
        _attendre_port(port)
        with postgres_jetable() as pg:
            reglages = pg.reglages()
            tours = asyncio.run(_mesurer(pg.nouvelle_base("webhooks"), port))
    finally:
        processus.terminate()
        processus.join(10)
    debits = {nom: [t["livraisons"] / t["duree_s"] for t in ts] for nom, ts in tours.items()}
    ratios = [s / b for s, b in zip(debits["service"], debits["httpx"], strict=True)]
    return {
        "benchmark": NOM,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "duree_totale_s": round(time.perf_counter() - debut, 1),
        "environnement": {
            "python": sys.version.split()[0],
            "plateforme": platform.platform(),
            "coeurs": os.cpu_count(),
            "postgres": reglages,
        },
        "parametres": {"livraisons": tours["service"][0]["livraisons"], "abonnements": ABONNEMENTS, "tours": TOURS},
        "chemins": {
            nom: {
                "livraisons_s": round(statistics.median(valeurs), 1),
                "par_tour": [round(v, 1) for v in valeurs],
            }
            for nom, valeurs in debits.items()
        },
        "planification_s": round(statistics.median(t["planification_s"] for t in tours["service"]), 3),
        "ratio_service_httpx": round(statistics.median(ratios), 3),
    }


def rapport(resultat: dict[str, Any]) -> str:
    """Deliveries/s of both paths, then the ratio against its target."""
    p = resultat["parametres"]
    lignes = [
        f"Webhooks: {p['livraisons']} livraisons vers {p['abonnements']} abonnements, {p['tours']} tours",
        "",
        f"{'chemin':<10}{'livraisons/s':>14}   tours",
    ]
    for nom, f in resultat["chemins"].items():
        lignes.append(f"{nom:<10}{f['livraisons_s']:>14.0f}   {', '.join(f'{v:.0f}' for v in f['par_tour'])}")
    ratio = resultat["ratio_service_httpx"]
    lignes += [
        "",
        f"planification (boîte d'envoi → livraisons, dans le temps du service): {resultat['planification_s']:.3f} s",
        f"service/httpx: {ratio:.2f}x (cible ≥ {CIBLE_RATIO:g}x) " + ("✓" if ratio >= CIBLE_RATIO else "✗"),
    ]
    return "\n".join(lignes)
