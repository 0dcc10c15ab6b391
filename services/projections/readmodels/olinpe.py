"""The OLINPE extract: the pseudonymised start, renewal and end of each measure (décret 2016-1966),
the young adults' accompagnements (APJM) included.

Values are the facts as now known to be true: a correction (SaisieRectifiee)
of a date, a nature, a sexe or a month of birth shows in the extract.

What a row holds: a pseudonym of the person, the measure's rank in their
parcours (rows of one measure share it), the kind of event and its date, the
département that recorded it, the year and month of birth, the sexe, the
measure's cadre, nature, autorité, decision date, start and échéance, and the
reason it ended. Never a name, an exact birth date, a ``parcours_id``, a
``personne_id``, a decision reference (a court number leads back to a person)
or free text.

The pseudonym is ``HMAC-SHA256(ASE_OLINPE_CLE, personne_id)``: stable across
years and rebuilds (the observatory follows one person over time), and only as
secret as the key. Whoever holds the key and a ``personne_id`` can recompute
it, so the key is a production secret, kept apart from the data; changing it
breaks the link with earlier transmissions and needs a rebuild of this read
model. The development default is public and refused in production. The
quasi-identifiers OLINPE requires (month of birth, sexe, département, dates)
make the extract pseudonymised, not anonymous: it is personal data under the
GDPR and travels as such.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import asyncpg

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connexion: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
import orjson
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

CLE_DE_DEVELOPPEMENT = "ase-olinpe-cle-de-developpement-publique"


class ReglagesOlinpe(BaseSettings):
    """The OLINPE pseudonym key (``ASE_OLINPE_CLE``)."""

    model_config = SettingsConfigDict(env_prefix="ASE_OLINPE_", extra="ignore")

    cle: SecretStr = SecretStr(CLE_DE_DEVELOPPEMENT)
    """HMAC key of the pseudonyms; the pseudonyms are only as secret as it is."""

    mode: Literal["dev", "production"] = Field(default="dev", validation_alias="ASE_MODE")
    """``production`` refuses the development key."""

    env: str | None = Field(default=None, validation_alias="ASE_ENV")
    """``production`` refuses the development key too (the name the deployment sets)."""

    @property
    def production(self) -> bool:
        return self.mode == "production" or self.env == "production"

    @property
    def cle_de_developpement(self) -> bool:
        """The public development key is in use (flagged at start in dev, refused in production)."""
        return self.cle.get_secret_value() == CLE_DE_DEVELOPPEMENT

    @model_validator(mode="after")
    def _production_sans_cle_de_dev(self) -> ReglagesOlinpe:
        if self.production and self.cle_de_developpement:
            raise ValueError(
                "production needs ASE_OLINPE_CLE: the development OLINPE key is public, and anyone "
                "holding it recomputes the pseudonyms from the personne_id of the public topic"
            )
        return self

    def cle_octets(self) -> bytes:
        return self.cle.get_secret_value().encode()


def reglages_olinpe() -> ReglagesOlinpe:
    return ReglagesOlinpe()


def pseudonyme(cle: bytes, personne_id: str) -> str:
    """The person's OLINPE pseudonym: HMAC-SHA256 of their ``personne_id`` under ``cle``, in hex."""
    return hmac.new(cle, personne_id.encode(), hashlib.sha256).hexdigest()


DDL_VUE_OLINPE = """
CREATE OR REPLACE VIEW olinpe AS
SELECT p.pseudonyme,
       (m.donnees->>'rang')::integer AS rang_mesure,
       CASE e.nom WHEN 'MesureDecidee' THEN 'debut' WHEN 'MesureRenouvelee' THEN 'renouvellement' ELSE 'fin' END
           AS evenement,
       CASE e.nom WHEN 'MesureDecidee' THEN (m.donnees->>'date_debut')::date ELSE e.date_effet END AS date_evenement,
       e.departement,
       substr(p.mois_naissance, 1, 4)::integer AS annee_naissance,
       substr(p.mois_naissance, 6, 2)::integer AS mois_naissance,
       p.sexe,
       m.donnees->>'cadre' AS cadre,
       m.donnees->>'nature' AS nature,
       m.donnees->>'autorite' AS autorite,
       m.date_effet AS date_decision,
       (m.donnees->>'date_debut')::date AS date_debut,
       CASE e.nom WHEN 'MesureDecidee' THEN (m.donnees->>'date_echeance')::date
                  WHEN 'MesureRenouvelee' THEN (e.donnees->>'nouvelle_echeance')::date END AS date_echeance,
       CASE e.nom WHEN 'MesureLevee' THEN e.donnees->>'motif' END AS motif_fin,
       e.version AS ordre
  FROM faits e
  JOIN faits m ON m.parcours_id = e.parcours_id AND m.mesure_id = e.mesure_id AND m.nom = 'MesureDecidee'
  JOIN parcours p ON p.parcours_id = e.parcours_id
 WHERE e.nom IN ('MesureDecidee', 'MesureRenouvelee', 'MesureLevee')
UNION ALL
SELECT p.pseudonyme,
       (a.donnees->>'rang')::integer,
       CASE e.nom WHEN 'AccompagnementJeuneMajeurAccorde' THEN 'debut'
                  WHEN 'AccompagnementJeuneMajeurRenouvele' THEN 'renouvellement' ELSE 'fin' END,
       CASE e.nom WHEN 'AccompagnementJeuneMajeurAccorde' THEN (a.donnees->>'date_debut')::date
                  ELSE e.date_effet END,
       e.departement,
       substr(p.mois_naissance, 1, 4)::integer,
       substr(p.mois_naissance, 6, 2)::integer,
       p.sexe,
       'administratif',
       'accompagnement_jeune_majeur',
       'president_cd',
       a.date_effet,
       (a.donnees->>'date_debut')::date,
       CASE e.nom WHEN 'AccompagnementJeuneMajeurTermine' THEN NULL ELSE (e.donnees->>'date_fin')::date END,
       CASE e.nom WHEN 'AccompagnementJeuneMajeurTermine' THEN e.donnees->>'motif' END,
       e.version
  FROM faits e
  JOIN LATERAL (SELECT g.donnees, g.date_effet FROM faits g
                 WHERE g.parcours_id = e.parcours_id AND g.nom = 'AccompagnementJeuneMajeurAccorde'
                   AND g.version <= e.version
                 ORDER BY g.version DESC LIMIT 1) a ON true
  JOIN parcours p ON p.parcours_id = e.parcours_id
 WHERE e.nom IN ('AccompagnementJeuneMajeurAccorde', 'AccompagnementJeuneMajeurRenouvele',
                 'AccompagnementJeuneMajeurTermine')
"""
"""The pseudonymised rows, as a view of the projection's schema: no column leads back to a parcours.

A young adult's accompagnement (APJM, CASF L222-5) is a measure of the extract
like the others: ``cadre`` administratif, ``nature`` accompagnement_jeune_majeur,
``autorite`` president_cd; its échéance is its planned end (``date_fin``), and
its renewals and end refer to the grant before them in the stream.
"""

COLONNES: tuple[str, ...] = (
    "pseudonyme",
    "rang_mesure",
    "evenement",
    "date_evenement",
    "departement",
    "annee_naissance",
    "mois_naissance",
    "sexe",
    "cadre",
    "nature",
    "autorite",
    "date_decision",
    "date_debut",
    "date_echeance",
    "motif_fin",
)
"""The extract's columns, in order (CSV header and JSON keys)."""


async def lignes_olinpe(conn: Connexion, schema: str, annee: int, departements: Sequence[str]) -> list[dict[str, Any]]:
    """The year's rows (event date in ``annee``) of ``departements``, in a stable order."""
    lignes = await conn.fetch(
        f'SELECT {", ".join(COLONNES)} FROM "{schema}".olinpe '
        "WHERE date_evenement BETWEEN $1 AND $2 AND departement = ANY($3::text[]) "
        "ORDER BY date_evenement, pseudonyme, rang_mesure, ordre",
        date(annee, 1, 1),
        date(annee, 12, 31),
        list(departements),
    )
    return [dict(ligne) for ligne in lignes]


def en_jsonl(lignes: Iterable[Mapping[str, Any]]) -> bytes:
    """One JSON object per line (``application/x-ndjson``), keys in ``COLONNES`` order."""
    return b"".join(orjson.dumps({c: ligne[c] for c in COLONNES}) + b"\n" for ligne in lignes)


def en_csv(lignes: Iterable[Mapping[str, Any]]) -> bytes:
    """RFC 4180 CSV with a header row; an absent value is an empty field, a date is ISO 8601."""
    tampon = io.StringIO()
    ecrivain = csv.writer(tampon)
    ecrivain.writerow(COLONNES)
    for ligne in lignes:
        ecrivain.writerow(["" if ligne[c] is None else _texte(ligne[c]) for c in COLONNES])
    return tampon.getvalue().encode()


def _texte(valeur: object) -> str:
    return valeur.isoformat() if isinstance(valeur, date) else str(valeur)
