"""``ase``: the embedded default, one service at a time, and dev tokens."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from uuid import UUID

import typer

from contracts.vocabulaire import Role, est_departement
from services.cli.options import DATA_DIR, ENV_DATA_DIR, OptionDataDir

app = typer.Typer(help="Parcours ASE: suivi des parcours en protection de l'enfance.", no_args_is_help=True)

TOUS_LES_DEPARTEMENTS = [*(f"{n:02d}" for n in range(1, 96) if n != 20), "2A", "2B", *(str(n) for n in range(971, 977))]


class Service(StrEnum):
    PARCOURS = "parcours"
    PROJECTIONS = "projections"
    NOTIFICATIONS = "notifications"
    PAGES = "pages"


@app.command()
def serve(
    service: Annotated[
        Service | None, typer.Argument(help="un seul service (mode distribué); absent: tout, embarqué")
    ] = None,
    port: Annotated[int, typer.Option(help="port HTTP")] = 8000,
    host: Annotated[str, typer.Option(help="adresse d'écoute")] = "127.0.0.1",
    data_dir: OptionDataDir = DATA_DIR,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="processus de l'API (défaut: les cœurs disponibles; 1 pour projections et notifications, "
            "dont les moteurs ne se multiplient pas)",
        ),
    ] = None,
) -> None:
    """Serve the API: every service on one port with an embedded PostgreSQL, or one service.

    ``--workers N`` runs the API in N processes on one socket (``services.cli.travailleurs``).
    """
    import uvicorn

    from services.cli.serveur import application_embarquee, application_service
    from services.cli.travailleurs import coeurs_disponibles, superviser
    from services.runtime import logs
    from services.runtime.limites import config_uvicorn

    os.environ[ENV_DATA_DIR] = str(data_dir)  # the services' settings read the same folder
    logs.configurer(os.environ.get("ASE_LOG_LEVEL", "INFO"))
    multipliable = service in (None, Service.PARCOURS)
    if workers is None:
        workers = coeurs_disponibles() if multipliable else 1
    elif workers > 1 and not multipliable:
        raise typer.BadParameter("seuls le service parcours et le mode embarqué se multiplient", param_hint="--workers")
    if service is None:
        from services.runtime.auth import CleDeDeveloppement

        # The alerts' links lead to this server's read API; a webhook receiver on this machine is allowed
        # (the embedded default is for development: ASE_MODE=production refuses loopback webhooks).
        os.environ.setdefault("ASE_LIEN_BASE", f"http://{host}:{port}")
        if os.environ.get("ASE_MODE", "dev") != "production":
            os.environ.setdefault("ASE_WEBHOOKS_LOOPBACK", "true")

        jeton = CleDeDeveloppement.dans(data_dir).signer(
            sub="dev", roles=[Role.REFERENT, Role.ENCADRANT], departements=TOUS_LES_DEPARTEMENTS
        )
        typer.echo(f"Parcours ASE sur http://{host}:{port}  (documentation: http://{host}:{port}/docs)")
        typer.echo(f"Pages (connexion de développement): http://{host}:{port}/pages/")
        typer.echo(f"Jeton de développement (référent et encadrant, tous départements, 12 h):\n{jeton}")
    if workers > 1:
        typer.echo(f"{workers} processus")
        raise typer.Exit(
            superviser(service.value if service else None, host=host, port=port, data_dir=data_dir, workers=workers)
        )
    asgi = application_embarquee(data_dir) if service is None else application_service(service.value)
    uvicorn.Server(config_uvicorn(asgi, host=host, port=port)).run()


def _personne(personne_id: str | None, *, jeune: bool) -> UUID | None:
    """The ``--personne-id`` as a UUID; a ``jeune`` token cannot go without one (the APIs would refuse it)."""
    if personne_id is None:
        if jeune:
            typer.echo("refusé: le rôle jeune demande --personne-id (l'identifiant de la personne)", err=True)
            raise typer.Exit(2)
        return None
    try:
        return UUID(personne_id)
    except ValueError:
        typer.echo("refusé: --personne-id attend un UUID", err=True)
        raise typer.Exit(2) from None


@app.command()
def token(
    role: Annotated[list[Role], typer.Option("--role", help="rôle (répétable)")],
    departement: Annotated[list[str], typer.Option("--departement", help="code INSEE (répétable)")],
    sub: Annotated[str, typer.Option(help="identifiant de l'utilisateur")] = "dev",
    personne_id: Annotated[
        str | None, typer.Option("--personne-id", help="rôle jeune : l'identifiant (UUID) de la personne elle-même")
    ] = None,
    data_dir: OptionDataDir = DATA_DIR,
) -> None:
    """Print a dev JWT signed with the key that ``ase serve --data-dir DIR`` accepts.

    ``--role jeune`` requires ``--personne-id`` (the token's ``personne_id`` claim: the young person reads
    only their own parcours); exit code 2 without it or with something that is not a UUID.
    Warns on stderr when ``DIR`` had no key yet: the one it creates is unknown to any server already running.
    """
    from services.runtime.auth import FICHIER_CLE_DEV, CleDeDeveloppement

    if os.environ.get("ASE_MODE", "dev") == "production":
        typer.echo("refusé: pas de jeton de développement en production", err=True)
        raise typer.Exit(2)
    inconnus = [d for d in departement if not est_departement(d)]
    if inconnus:
        typer.echo(f"départements inconnus: {', '.join(inconnus)}", err=True)
        raise typer.Exit(2)
    personne = _personne(personne_id, jeune=Role.JEUNE in role)
    nouvelle_cle = not (data_dir / FICHIER_CLE_DEV).exists()
    jeton = CleDeDeveloppement.dans(data_dir).signer(
        sub=sub, roles=[r.value for r in role], departements=departement, personne_id=personne
    )
    if nouvelle_cle:
        typer.echo(
            f"attention: {data_dir.resolve()} n'avait pas de clé de développement; celle qui vient d'y être créée "
            "n'est connue d'aucun serveur déjà démarré. Utilisez le jeton qu'affiche `ase serve` (`make run`), "
            "ou passez à `ase token` le --data-dir du serveur.",
            err=True,
        )
    typer.echo(jeton)


@app.command()
def relay(
    port: Annotated[
        int | None,
        typer.Option("--port", envvar="ASE_RELAY_PORT", help="port de /healthz, /readyz et /metrics (absent: aucun)"),
    ] = None,
    host: Annotated[str, typer.Option(help="adresse d'écoute de ce port")] = "127.0.0.1",
) -> None:
    """Publish the event store's notification log to Kafka (DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS).

    With ``--port``, also serve ``/healthz``, ``/readyz`` (publishing, or standing by on the
    lock) and ``/metrics`` (``ase_relais_*``) there.
    """
    import asyncio
    import contextlib
    import signal
    import socket
    from collections.abc import Iterator

    import uvicorn
    from pydantic import ValidationError

    from services.parcours.relay import ReglagesRelais, Relais, application_http
    from services.parcours.settings import ParcoursSettings
    from services.runtime import logs

    try:
        reglages = ParcoursSettings()
    except ValidationError as exc:
        # In production without a valid ASE_CLE_MAITRE (it decrypts what it publishes), among others;
        # the settings' values (a database password) are not printed.
        raisons = "; ".join(str(e["msg"]) for e in exc.errors(include_input=False, include_url=False))
        typer.echo(f"ase relay: réglages refusés: {raisons}", err=True)
        raise typer.Exit(2) from None
    logs.configurer(reglages.log_level)
    if not reglages.database_url or not reglages.kafka_bootstrap_servers:
        typer.echo("ase relay a besoin de DATABASE_URL et KAFKA_BOOTSTRAP_SERVERS", err=True)
        raise typer.Exit(2)
    relais = Relais(
        ReglagesRelais(
            database_url=reglages.database_url,
            kafka_bootstrap_servers=reglages.kafka_bootstrap_servers,
            partitions=reglages.kafka_partitions,
            replication=reglages.kafka_replication,
            attente_acquittement_max_s=reglages.attente_relais_max_s,
        )
    )

    prise: socket.socket | None = None
    if port is not None:  # bound now, so a port in use fails at once, before anything runs
        prise = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        prise.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            prise.bind((host, port))
        except OSError as exc:
            typer.echo(f"ase relay: impossible d'écouter sur {host}:{port} ({exc.strerror})", err=True)
            raise typer.Exit(2) from None

    class ServeurSansSignaux(uvicorn.Server):
        """The relay's loop handles SIGINT and SIGTERM, then stops this server itself."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    async def principal() -> None:
        arret = asyncio.Event()
        boucle = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            boucle.add_signal_handler(sig, arret.set)
        if prise is None:
            await relais.executer(arret)
            return
        serveur = ServeurSansSignaux(
            uvicorn.Config(application_http(relais), log_config=None, access_log=False, lifespan="off")
        )
        service = asyncio.create_task(serveur.serve(sockets=[prise]))
        service.add_done_callback(lambda _: arret.set())  # no endpoint, no relay: its supervisor restarts both
        try:
            await relais.executer(arret)
        finally:
            serveur.should_exit = True
            await service

    asyncio.run(principal())


@app.command()
def up(
    data_dir: OptionDataDir = DATA_DIR,
    delai: Annotated[float, typer.Option("--timeout", help="secondes pour que tout réponde")] = 120.0,
) -> None:
    """Start the distributed stack: PostgreSQL, then Kafka, each service and the relay under supervisord.

    A part that dies is restarted; `ase status` shows each one. Ports: ASE_PARCOURS_PORT (8000),
    ASE_PROJECTIONS_PORT (8001), ASE_NOTIFICATIONS_PORT (8002), ASE_RELAY_PORT (8003, the relay's metrics),
    ASE_PAGES_PORT (8004, the web pages), ASE_KAFKA_PORT (9092).
    """
    from services.cli.pile import ErreurPile, demarrer
    from services.runtime.auth import CleDeDeveloppement

    if os.environ.get("ASE_MODE", "dev") == "production":
        typer.echo("refusé: `ase up` est la pile de développement (PostgreSQL embarqué, clé de dev)", err=True)
        raise typer.Exit(2)
    typer.echo(f"Démarrage de la pile distribuée (données: {data_dir.resolve()})")
    try:
        pile, deja = demarrer(data_dir, delai_s=delai, ecrire=typer.echo)
    except ErreurPile as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    if deja:
        typer.echo(f"La pile tourne déjà ({data_dir.resolve() / 'pile' / 'processus.json'}).")
    jeton = CleDeDeveloppement.dans(data_dir).signer(
        sub="dev", roles=[Role.REFERENT, Role.ENCADRANT], departements=TOUS_LES_DEPARTEMENTS
    )
    typer.echo(f"parcours       {pile.url('parcours')}  (documentation: {pile.url('parcours')}/docs)")
    typer.echo(f"projections    {pile.url('projections')}")
    typer.echo(f"notifications  {pile.url('notifications')}")
    typer.echo(f"relay          {pile.url('relay')}/metrics")
    typer.echo(f"pages          {pile.url('pages')}/pages/  (connexion de développement)")
    typer.echo(f"kafka          KAFKA_BOOTSTRAP_SERVERS={pile.kafka_bootstrap}")
    typer.echo(
        f"kafka clients  {pile.dossier_kafka / 'clients'}  (<principal>.properties et .env, SASL/SCRAM; "
        "lecteur: lecture seule du sujet public)"
    )
    if pile.postgres is not None:
        typer.echo(f"postgres       DATABASE_URL={pile.postgres.url}")
    typer.echo(f"journaux       {pile.journaux}/")
    typer.echo(f"Jeton de développement (référent et encadrant, tous départements, 12 h):\n{jeton}")
    option = "" if data_dir == DATA_DIR else f" --data-dir {data_dir}"
    typer.echo(f"État: ase status{option}    Arrêt: ase down{option}")


@app.command()
def status(
    data_dir: OptionDataDir = DATA_DIR,
) -> None:
    """Each part of the stack `ase up` started: state, pid, uptime, readiness.

    Exit status: 0 when every part runs and answers, 1 otherwise, 3 when nothing runs.
    """
    from services.cli.pile import decrire_duree, etat_des_parties, lire_etat

    pile = lire_etat(data_dir)
    if pile is None:
        typer.echo(f"Rien ne tourne (pas de {data_dir.resolve() / 'pile' / 'processus.json'}).")
        raise typer.Exit(3)
    parties = etat_des_parties(pile)
    typer.echo(f"Pile distribuée ({pile.data_dir})" + ("" if pile.prete else ": démarrage interrompu ou en cours"))
    for partie in parties:
        pid = f"pid {partie.pid}" if partie.pid else ""
        duree = f"depuis {decrire_duree(partie.duree_s)}" if partie.duree_s is not None else ""
        pret = {None: "", True: "prêt", False: f"non prêt: {partie.raison}"}[partie.pret]
        typer.echo(f"  {partie.nom:<14} {partie.libelle:<14} {pid:<11} {duree:<18} {partie.adresse}  {pret}".rstrip())
    tout_va = pile.prete and all(p.en_marche and p.pret is not False for p in parties)
    raise typer.Exit(0 if tout_va else 1)


@app.command()
def down(
    data_dir: OptionDataDir = DATA_DIR,
) -> None:
    """Stop every process `ase up` started (reverse order), then its PostgreSQL."""
    from services.cli.pile import arreter

    pile = arreter(data_dir, ecrire=typer.echo)
    if pile is None:
        typer.echo(f"Rien ne tourne (pas de {data_dir.resolve() / 'pile' / 'processus.json'}).")
        return
    typer.echo("Pile arrêtée.")


class SourceReconstruction(StrEnum):
    KAFKA = "kafka"
    STORE = "store"


@app.command()
def rebuild(
    projection: Annotated[str, typer.Argument(help="le modèle de lecture à reconstruire (dossiers, pilotage, audit…)")],
    depuis: Annotated[
        SourceReconstruction | None,
        typer.Option(
            "--from", help="kafka ou store (défaut: kafka si KAFKA_BOOTSTRAP_SERVERS est défini, sinon store)"
        ),
    ] = None,
    data_dir: OptionDataDir = DATA_DIR,
) -> None:
    """Rebuild a read model into a fresh schema from offset 0, then switch to it (DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS).

    The active schema keeps serving meanwhile; the running service follows the switch by itself.
    """
    import asyncio

    import asyncpg

    from services.projections.readmodels import catalogue_des_projections
    from services.projections.reconstruction import barre_de_progression, reconstruire
    from services.projections.service import Sources
    from services.projections.settings import ProjectionsSettings
    from services.runtime import logs
    from services.runtime.postgres import demarrer_postgres_embarque

    reglages = ProjectionsSettings()
    logs.configurer(os.environ.get("ASE_LOG_LEVEL", "WARNING"))
    connues = {p.nom: p for p in catalogue_des_projections()}
    if projection not in connues:
        typer.echo(f"projection inconnue: {projection} (connues: {', '.join(connues)})", err=True)
        raise typer.Exit(2)
    if depuis is SourceReconstruction.KAFKA and not reglages.kafka_bootstrap_servers:
        typer.echo("--from kafka a besoin de KAFKA_BOOTSTRAP_SERVERS", err=True)
        raise typer.Exit(2)
    url = reglages.database_url or demarrer_postgres_embarque(data_dir.resolve() / "postgres")
    sources = Sources(url, reglages.kafka_bootstrap_servers, reglages.taille_lot)

    async def principal() -> str:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
        try:
            with barre_de_progression(projection, ecrire=typer.echo) as progression:
                return await reconstruire(
                    connues[projection], sources, pool, depuis.value if depuis else None, progression
                )
        finally:
            await pool.close()

    schema = asyncio.run(principal())
    typer.echo(f"{projection}: schéma actif {schema}")


from services.cli.audit import app_audit  # noqa: E402  (ase audit verify | checkpoint)

app.add_typer(app_audit, name="audit")
# -- chiffrement et effacement (services/cli/chiffrement.py) ---------------------------------

cles = typer.Typer(help="Clés de chiffrement des données personnelles (DATABASE_URL, ASE_CLE_MAITRE).")
app.add_typer(cles, name="cles")


def _url_ecriture(data_dir: Path) -> str:
    """``DATABASE_URL``, or the embedded PostgreSQL of ``data_dir`` (``--data-dir``, ``ASE_DATA_DIR``, ``.data``)."""
    from services.parcours.settings import ParcoursSettings
    from services.runtime.postgres import demarrer_postgres_embarque

    reglages = ParcoursSettings()
    return reglages.database_url or demarrer_postgres_embarque(data_dir.resolve() / "postgres")


@app.command()
def retention(
    apres_annees: Annotated[int, typer.Option("--apres-annees", min=0, help="années écoulées depuis la sortie")],
    appliquer: Annotated[bool, typer.Option("--appliquer", help="effacer (sinon: lister seulement)")] = False,
    data_dir: OptionDataDir = DATA_DIR,
) -> None:
    """List (ids only, never a name) the identities whose parcours ended more than N years ago; erase them
    with --appliquer (IdentiteEffacee and destruction of the person's key, motif fin_de_conservation)."""
    from droit.calendrier import ajouter
    from services.cli.chiffrement import a_effacer, effacer
    from services.parcours.application import ParcoursApplication
    from services.runtime.horloge import HorlogeSysteme, aujourd_hui
    from services.runtime.postgres import env_eventsourcing

    url = _url_ecriture(data_dir)
    horloge = HorlogeSysteme()
    limite = ajouter(aujourd_hui(horloge), annees=-apres_annees)
    personnes = a_effacer(url, limite)
    for p in personnes:
        typer.echo(f"{p.personne_id}  parcours {p.parcours_id}  sorti le {p.sorti_le.isoformat()}")
    if not appliquer:
        typer.echo(f"{len(personnes)} identité(s) à effacer (sorties au plus tard le {limite}); --appliquer efface.")
        return
    application = ParcoursApplication(env=env_eventsourcing(url, taille_pool=2), horloge=horloge)
    try:
        n = effacer(application, personnes, frozenset(TOUS_LES_DEPARTEMENTS))
    finally:
        application.close()
    typer.echo(f"{n} identité(s) effacée(s).")


@cles.command("rotation")
def cles_rotation(data_dir: OptionDataDir = DATA_DIR) -> None:
    """Re-wrap every data key with the current KEK (ASE_CLE_MAITRE, ASE_CLE_MAITRE_ID); the old KEK must still
    be in ASE_CLES_MAITRES_ANCIENNES while this runs, and may be dropped after. No event is rewritten."""
    from services.cli.chiffrement import rotation

    typer.echo(f"{rotation(_url_ecriture(data_dir))} clé(s) réenveloppée(s) avec la clé maître courante.")


@cles.command("migrer")
def cles_migrer(data_dir: OptionDataDir = DATA_DIR) -> None:
    """Encrypt in place the personal fields of events stored in clear (a one-off migration, README).

    It rewrites stored bytes: run it before the hash chain is first written, or recompute the chain after.
    """
    from services.cli.chiffrement import migrer

    typer.echo(f"{migrer(_url_ecriture(data_dir))} événement(s) chiffré(s) en place.")


def main() -> None:
    app()
