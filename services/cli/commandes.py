"""``ase``: the embedded default, one service at a time, and dev tokens."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from services.parcours.domain.vocabulaire import Role, est_departement

app = typer.Typer(help="Parcours ASE: suivi des parcours en protection de l'enfance.", no_args_is_help=True)

TOUS_LES_DEPARTEMENTS = [
    *(f"{n:02d}" for n in range(1, 96) if n != 20), "2A", "2B", *(str(n) for n in range(971, 977))
]


class Service(StrEnum):
    PARCOURS = "parcours"
    PROJECTIONS = "projections"
    NOTIFICATIONS = "notifications"


@app.command()
def serve(
    service: Annotated[Service | None, typer.Argument(help="un seul service (mode distribué); absent: tout, embarqué")] = None,
    port: Annotated[int, typer.Option(help="port HTTP")] = 8000,
    host: Annotated[str, typer.Option(help="adresse d'écoute")] = "127.0.0.1",
    data_dir: Annotated[Path, typer.Option("--data-dir", help="données de PostgreSQL embarqué et clé de dev")] = Path(".data"),
) -> None:
    """Serve the API: every service on one port with an embedded PostgreSQL, or one service."""
    import uvicorn

    from services.cli.serveur import application_embarquee, application_service
    from services.runtime import logs

    os.environ.setdefault("ASE_DATA_DIR", str(data_dir))
    logs.configurer(os.environ.get("ASE_LOG_LEVEL", "INFO"))
    asgi = application_embarquee(data_dir) if service is None else application_service(service.value)
    if service is None:
        from services.runtime.auth import CleDeDeveloppement

        jeton = CleDeDeveloppement.dans(data_dir).signer(
            sub="dev", roles=[Role.REFERENT, Role.ENCADRANT], departements=TOUS_LES_DEPARTEMENTS
        )
        typer.echo(f"Parcours ASE sur http://{host}:{port}  (documentation: http://{host}:{port}/docs)")
        typer.echo(f"Jeton de développement (référent et encadrant, tous départements, 12 h):\n{jeton}")
    uvicorn.run(asgi, host=host, port=port, log_config=None, access_log=False)


@app.command()
def token(
    role: Annotated[list[Role], typer.Option("--role", help="rôle (répétable)")],
    departement: Annotated[list[str], typer.Option("--departement", help="code INSEE (répétable)")],
    sub: Annotated[str, typer.Option(help="identifiant de l'utilisateur")] = "dev",
    data_dir: Annotated[Path, typer.Option("--data-dir", help="dossier de la clé de dev")] = Path(".data"),
) -> None:
    """Print a dev JWT signed with the key that ``ase serve --data-dir DIR`` accepts."""
    from services.runtime.auth import CleDeDeveloppement

    if os.environ.get("ASE_MODE", "dev") == "production":
        typer.echo("refusé: pas de jeton de développement en production", err=True)
        raise typer.Exit(2)
    inconnus = [d for d in departement if not est_departement(d)]
    if inconnus:
        typer.echo(f"départements inconnus: {', '.join(inconnus)}", err=True)
        raise typer.Exit(2)
    typer.echo(CleDeDeveloppement.dans(data_dir).signer(
        sub=sub, roles=[r.value for r in role], departements=departement))


def main() -> None:
    app()
