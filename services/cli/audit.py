"""``ase audit``: verify the event store's hash chain, and take or check a signed checkpoint."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from services.cli.options import DATA_DIR, OptionDataDir

if TYPE_CHECKING:
    from services.parcours.integrite import Verification
    from services.parcours.point_de_controle import Controle

app_audit = typer.Typer(help="Preuve d'intégrité du journal d'événements (chaîne d'empreintes, points de contrôle).")


def _url(data_dir: Path) -> str:
    """``DATABASE_URL``, or the embedded PostgreSQL of ``data_dir`` as ``ase serve`` uses it."""
    from services.runtime.postgres import demarrer_postgres_embarque

    return os.environ.get("DATABASE_URL") or demarrer_postgres_embarque(data_dir.resolve() / "postgres")


def _table() -> tuple[str, str]:
    from services.runtime.relais import TABLE_EVENEMENTS

    return os.environ.get("POSTGRES_SCHEMA") or "public", TABLE_EVENEMENTS


@app_audit.command("verify")
def verifier(  # noqa: PLR0917  (typer options, passed by name)
    parcours: Annotated[str | None, typer.Option("--parcours", help="un seul flux (son identifiant)")] = None,
    en_json: Annotated[bool, typer.Option("--json", help="rapport lisible par une machine")] = False,
    point: Annotated[
        Path | None, typer.Option("--checkpoint", help="prouver aussi ce point de contrôle (ase audit checkpoint)")
    ] = None,
    cle_publique: Annotated[
        str | None,
        typer.Option(
            "--cle-publique",
            help="clé publique gardée hors de la base (requise avec --checkpoint): base64 des 32 octets, "
            "fichier, ou empreinte sha256:…",
        ),
    ] = None,
    cle_du_fichier: Annotated[
        bool,
        typer.Option(
            "--cle-du-fichier",
            help="sans --cle-publique, croire la clé incluse dans le point de contrôle (ne prouve rien contre "
            "qui peut réécrire le fichier)",
        ),
    ] = False,
    data_dir: OptionDataDir = DATA_DIR,
) -> None:
    """Recompute every stream's hash chain; report the first break of each stream and its kind.

    Kinds: contenu_modifie, version_manquante, chaine_rompue, tronque (and, against a
    checkpoint, tronque or reecrit). ``--checkpoint`` needs the public key kept outside
    the database (``--cle-publique``): a checkpoint carries its own key, so whoever can
    rewrite the database can re-sign a forged one; ``--cle-du-fichier`` trusts that key
    anyway, as the operator's explicit choice. With ``--parcours`` the proof covers that
    stream only. Exit status: 0 intact, 1 a break or a bad checkpoint signature, 2 unusable
    input (DATABASE_URL, file, key, a checkpoint without a kept key).
    """
    import psycopg

    from services.parcours import integrite
    from services.parcours import point_de_controle as pc

    if parcours is not None:
        try:
            parcours = str(uuid.UUID(parcours))
        except ValueError:
            typer.echo(f"--parcours: identifiant invalide: {parcours}", err=True)
            raise typer.Exit(2) from None
    if point is not None and cle_publique is None and not cle_du_fichier:
        typer.echo(
            "--checkpoint: --cle-publique est requise (la clé publique gardée hors de la base, ou son empreinte "
            "sha256:… affichée par `ase audit checkpoint`); la clé incluse dans le fichier ne prouve rien, qui "
            "peut réécrire la base peut aussi re-signer un point de contrôle. --cle-du-fichier la croit quand même.",
            err=True,
        )
        raise typer.Exit(2)
    document: dict[str, Any] | None = None
    attendue: bytes | str | None = None
    try:
        if point is not None:
            document = pc.lire_document(point.read_text())
        if cle_publique is not None:
            attendue = pc.cle_publique_donnee(cle_publique)
    except OSError as exc:
        typer.echo(f"{point}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    except (pc.DocumentInvalide, pc.CleInvalide) as exc:
        typer.echo(f"point de contrôle: {exc}", err=True)
        raise typer.Exit(2) from None
    schema, table = _table()
    try:
        with psycopg.connect(_url(data_dir), autocommit=True) as conn:
            rapport = integrite.verifier(conn, schema=schema, table=table, flux=parcours)
            controle = pc.controler(conn, document, attendue, flux=parcours) if document is not None else None
    except integrite.ChaineAbsente as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    except psycopg.OperationalError as exc:
        typer.echo(f"PostgreSQL injoignable: {type(exc).__name__}", err=True)
        raise typer.Exit(2) from None
    except pc.DocumentInvalide as exc:
        typer.echo(f"point de contrôle: {exc}", err=True)
        raise typer.Exit(2) from None
    intact = rapport.intacte and (controle is None or controle.intact)
    if controle is not None and controle.cle_attendue is None:
        typer.echo("attention: --cle-du-fichier: la clé incluse dans le fichier est crue sur parole", err=True)
    _ecrire(rapport, controle, point, intact=intact, en_json=en_json, parcours=parcours)
    raise typer.Exit(0 if intact else 1)


def _ecrire(
    rapport: Verification,
    controle: Controle | None,
    point: Path | None,
    *,
    intact: bool,
    en_json: bool,
    parcours: str | None = None,
) -> None:
    if en_json:
        sortie: dict[str, Any] = {
            "intacte": intact,
            "portee": "base" if parcours is None else f"flux {parcours}",
            "flux": rapport.flux,
            "evenements": rapport.evenements,
            "cassures": [c.en_json() for c in rapport.cassures],
        }
        if controle is not None:
            sortie["point_de_controle"] = {"fichier": str(point), **controle.en_json()}
        typer.echo(json.dumps(sortie, ensure_ascii=False, indent=2))
    else:
        for c in rapport.cassures:
            typer.echo(f"{c.nature.value:<18} flux {c.flux} version {c.version}: {c.detail}")
        typer.echo(
            f"{rapport.flux} flux, {rapport.evenements} événements: "
            + ("chaîne intacte" if rapport.intacte else f"{len(rapport.cassures)} flux rompus")
        )
        if controle is not None:
            _decrire_controle(controle, point, parcours)


def _decrire_controle(controle: Controle, point: Path | None, parcours: str | None) -> None:
    typer.echo(f"point de contrôle {point}: clé {controle.empreinte_cle}")
    if controle.cle_attendue is False:
        typer.echo("clé différente de --cle-publique: point de contrôle refusé")
    typer.echo("signature " + ("valide" if controle.signature_valide else "INVALIDE"))
    typer.echo("racine de Merkle " + ("recalculée à l'identique" if controle.racine_valide else "DIFFÉRENTE"))
    for c in controle.cassures:
        typer.echo(f"{c.nature.value:<18} flux {c.flux} version {c.version}: {c.detail}")
    if controle.intact and parcours is None:
        typer.echo("la base contient tout ce que le point de contrôle a vu")
    elif controle.intact:
        typer.echo(
            f"le flux {parcours} contient tout ce que le point de contrôle en a vu "
            "(preuve limitée à ce flux: les autres ne sont pas vérifiés)"
        )


@app_audit.command("checkpoint")
def point_de_controle(
    sortie: Annotated[Path | None, typer.Option("--sortie", help="fichier écrit (défaut: sortie standard)")] = None,
    cle_privee: Annotated[
        Path | None,
        typer.Option(
            "--cle-privee",
            envvar="ASE_CLE_SIGNATURE_AUDIT_FICHIER",
            help="fichier de la clé de signature (base64 des 32 octets); sinon ASE_CLE_SIGNATURE_AUDIT",
        ),
    ] = None,
    data_dir: OptionDataDir = DATA_DIR,
) -> None:
    """Write a signed checkpoint (Merkle root of every stream head, Ed25519) to keep outside the database.

    Refused (exit 1) when the chain is already broken. Prints the public key's
    fingerprint on stderr: write it down elsewhere, and give it to
    ``ase audit verify --checkpoint FILE --cle-publique sha256:…``.
    """
    import psycopg

    from services.parcours import integrite
    from services.parcours import point_de_controle as pc

    try:
        cle, avertissement = pc.cle_de_signature(
            data_dir, cle_privee, production=os.environ.get("ASE_MODE", "dev") == "production"
        )
    except pc.CleInvalide as exc:
        typer.echo(f"clé de signature: {exc}", err=True)
        raise typer.Exit(2) from None
    if avertissement:
        typer.echo(avertissement, err=True)
    schema, table = _table()
    try:
        with psycopg.connect(_url(data_dir), autocommit=True) as conn:
            rapport = integrite.verifier(conn, schema=schema, table=table)
            if not rapport.intacte:
                for c in rapport.cassures:
                    typer.echo(f"{c.nature.value:<18} flux {c.flux} version {c.version}: {c.detail}", err=True)
                typer.echo("chaîne rompue: pas de point de contrôle signé sur une base altérée", err=True)
                raise typer.Exit(1)
            document = pc.prendre(conn, cle, datetime.now(UTC), schema=schema, table=table)
    except integrite.ChaineAbsente as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    except psycopg.OperationalError as exc:
        typer.echo(f"PostgreSQL injoignable: {type(exc).__name__}", err=True)
        raise typer.Exit(2) from None
    texte = json.dumps(document, ensure_ascii=False, indent=1) + "\n"
    if sortie is None:
        typer.echo(texte, nl=False)
    else:
        sortie.write_text(texte)
        typer.echo(
            f"point de contrôle: {sortie} ({document['flux']} flux, {document['evenements']} événements)", err=True
        )
    typer.echo(f"empreinte de la clé publique (à garder hors de la base): {document['empreinte_cle']}", err=True)
