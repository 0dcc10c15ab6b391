"""Parcours streams written directly as published records, with corrections, for the read side's tests.

"As if recorded so" (DOMAIN.md, SaisieRectifiee): a stream with corrections
must read exactly like the same stream recorded with the corrected values.
This module builds both from a base stream and a list of corrections:

- :func:`avec_rectifications`: the base stream, then one ``SaisieRectifiee``
  per correction, published as the write side publishes it (its ``date_effet``
  is that of the event it corrects, a birth date travels as its month, the
  values of a private field as null);
- :func:`comme_enregistre`: the base stream with the corrected values written
  in, no correction.

Two base streams cover every event the read side handles: a judicial story
(IP, OPP then confiage, placement, fugue, majority, APJM, transfer, exit,
reopening) and an administrative one (accueil de 72 heures in a hotel before
the ban, accueil d'urgence, accueil provisoire, AED). :data:`CORRECTIONS`
lists, per stream, corrections of every rectifiable public field (and of a
private one), each with candidate values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import orjson

from contracts.enveloppe import Enveloppe, identifiant_evenement, identifiant_restreint, url_schema
from contracts.evenements import PAYLOADS, PAYLOADS_COURANTS
from contracts.publication import corps_public, faits_restreints
from contracts.restreint import TYPE_FAITS_RESTREINTS, FaitsRestreints
from droit.regles import limite_hebergement
from services.runtime.evenement import EvenementPublie

ENREGISTRE_LE = datetime(2027, 12, 1, 9, tzinfo=UTC)
"""When the base events are recorded (corrections come after, a minute apart)."""

LIEU_A = "7a1c0000-0000-4000-8000-00000000000a"
LIEU_B = "7a1c0000-0000-4000-8000-00000000000b"
LIEU_C = "7a1c0000-0000-4000-8000-00000000000c"


@dataclass(frozen=True)
class Evenement:
    """One event of a stream as published: its name and public payload (its version is its rank)."""

    nom: str
    donnees: dict[str, Any]


@dataclass(frozen=True)
class Correction:
    """A correction of ``champ`` of the event at ``version`` to ``valeur`` (in its published JSON form)."""

    version: int
    champ: str
    valeur: Any


@dataclass(frozen=True)
class Parcours:
    """A base stream and the person it is about."""

    parcours_id: UUID
    personne_id: UUID
    date_naissance: date
    evenements: tuple[Evenement, ...]


def debut(base: Parcours, evenements: int) -> Parcours:
    """The stream as it stood after its first ``evenements`` events (corrections of later ones make no sense)."""
    return Parcours(base.parcours_id, base.personne_id, base.date_naissance, base.evenements[:evenements])


def _ids(graine: int) -> tuple[UUID, UUID, dict[str, str]]:
    def uid(n: int) -> str:
        return str(UUID(int=(graine << 64) + n))

    return UUID(uid(1)), UUID(uid(2)), {"m1": uid(11), "m2": uid(12), "m3": uid(13), "ip": uid(21)}


def parcours_judiciaire(graine: int = 1) -> Parcours:
    """Born 15 March 2008: an IP, an OPP then a confiage, placements, majority, APJM, exit and reopening."""
    pid, personne, i = _ids(graine)
    e = [
        (
            "ParcoursOuvert",
            "2024-01-08",
            {
                "personne_id": str(personne),
                "mois_naissance": "2008-03",
                "sexe": "F",
                "departement": "59",
                "referent_id": "ref-1",
            },
        ),
        (
            "InformationPreoccupanteRecue",
            "2024-01-10",
            {"ip_id": i["ip"], "origine": "education_nationale", "dangers": ["negligences"]},
        ),
        ("EvaluationConclue", "2024-02-01", {"ip_id": i["ip"], "suite": "saisine_judiciaire"}),
        (
            "MesureDecidee",
            "2024-02-02",
            {
                "mesure_id": i["m1"],
                "cadre": "judiciaire",
                "nature": "opp",
                "autorite": "parquet",
                "reference_decision": "PQ-1",
                "date_debut": "2024-02-02",
                "date_echeance": "2024-08-01",
                "duree_derogatoire": False,
            },
        ),
        (
            "AccueilDebute",
            "2024-02-02",
            {"mesure_id": i["m1"], "lieu_id": LIEU_A, "type_lieu": "foyer_enfance", "date_limite_hotel": None},
        ),
        (
            "MesureDecidee",
            "2024-02-15",
            {
                "mesure_id": i["m2"],
                "cadre": "judiciaire",
                "nature": "confiage_ase",
                "autorite": "juge_des_enfants",
                "reference_decision": "JE-1",
                "date_debut": "2024-02-15",
                "date_echeance": "2026-02-14",
                "duree_derogatoire": False,
            },
        ),
        ("MesureLevee", "2024-02-16", {"mesure_id": i["m1"], "motif": "mainlevee"}),
        ("PPEEtabli", "2024-04-01", {}),
        (
            "LieuAccueilChange",
            "2024-05-02",
            {
                "lieu_id": LIEU_B,
                "type_lieu": "hebergement_derogatoire",
                "motif": "besoin_enfant",
                "date_limite_hotel": "2024-07-02",
            },
        ),
        ("FugueDeclaree", "2024-06-01", {}),
        ("FugueTerminee", "2024-06-03", {}),
        ("RapportSituationProduit", "2024-06-20", {"transmis_au_juge": True}),
        (
            "LieuAccueilChange",
            "2024-06-28",
            {"lieu_id": LIEU_C, "type_lieu": "mecs", "motif": "fin_agrement", "date_limite_hotel": None},
        ),
        ("EntretienAutonomieRealise", "2024-09-02", {}),
        (
            "MesureRenouvelee",
            "2026-01-10",
            {"mesure_id": i["m2"], "nouvelle_echeance": "2026-09-14", "reference_decision": "JE-2"},
        ),
        ("PPEActualise", "2026-02-01", {}),
        ("ReferentDesigne", "2026-02-10", {"referent_id": "ref-2"}),
        ("MajoriteAtteinte", "2026-03-15", {}),
        ("AccueilTermine", "2026-03-15", {"motif": "majorite"}),
        ("MesureLevee", "2026-03-15", {"mesure_id": i["m2"], "motif": "majorite"}),
        (
            "AccompagnementJeuneMajeurAccorde",
            "2026-03-20",
            {"date_debut": "2026-03-20", "date_fin": "2027-03-14", "fin_annee_engagee": False},
        ),
        ("AccompagnementJeuneMajeurRenouvele", "2027-01-10", {"date_fin": "2028-03-14", "fin_annee_engagee": False}),
        ("DossierTransfere", "2027-02-01", {"departement_origine": "59", "departement_destination": "62"}),
        ("AccompagnementJeuneMajeurTermine", "2027-06-01", {"motif": "demande_du_jeune"}),
        (
            "SortieDispositif",
            "2027-06-01",
            {"motif": "fin_accompagnement_jeune_majeur", "situation_logement": "logement_social"},
        ),
        ("ParcoursRouvert", "2027-09-01", {}),
        (
            "AccompagnementJeuneMajeurAccorde",
            "2027-09-02",
            {"date_debut": "2027-09-02", "date_fin": "2028-09-01", "fin_annee_engagee": True},
        ),
    ]
    return Parcours(pid, personne, date(2008, 3, 15), _evenements(pid, e))


def parcours_administratif(graine: int = 2) -> Parcours:
    """Born 3 May 2012: an accueil de 72 heures in a hotel (before the ban), an accueil d'urgence, an AED."""
    pid, personne, i = _ids(graine)
    e = [
        (
            "ParcoursOuvert",
            "2023-10-02",
            {
                "personne_id": str(personne),
                "mois_naissance": "2012-05",
                "sexe": "M",
                "departement": "59",
                "referent_id": None,
            },
        ),
        (
            "MesureDecidee",
            "2023-10-02",
            {
                "mesure_id": i["m1"],
                "cadre": "administratif",
                "nature": "accueil_72h",
                "autorite": "president_cd",
                "reference_decision": "PCD-1",
                "date_debut": "2023-10-02",
                "date_echeance": "2023-10-05",
                "duree_derogatoire": False,
            },
        ),
        (
            "AccueilDebute",
            "2023-10-02",
            {"mesure_id": i["m1"], "lieu_id": LIEU_A, "type_lieu": "hotel", "date_limite_hotel": "2023-12-02"},
        ),
        (
            "MesureDecidee",
            "2023-10-05",
            {
                "mesure_id": i["m2"],
                "cadre": "administratif",
                "nature": "accueil_urgence",
                "autorite": "president_cd",
                "reference_decision": "PCD-2",
                "date_debut": "2023-10-05",
                "date_echeance": "2024-10-04",
                "duree_derogatoire": False,
            },
        ),
        ("MesureLevee", "2023-10-05", {"mesure_id": i["m1"], "motif": "echeance"}),
        (
            "MesureDecidee",
            "2023-10-09",
            {
                "mesure_id": i["m3"],
                "cadre": "administratif",
                "nature": "accueil_provisoire",
                "autorite": "president_cd",
                "reference_decision": "PCD-3",
                "date_debut": "2023-10-09",
                "date_echeance": "2024-10-08",
                "duree_derogatoire": False,
            },
        ),
        ("MesureLevee", "2023-10-10", {"mesure_id": i["m2"], "motif": "autre"}),
        (
            "LieuAccueilChange",
            "2023-10-20",
            {"lieu_id": LIEU_B, "type_lieu": "assistant_familial", "motif": "besoin_enfant", "date_limite_hotel": None},
        ),
        ("PPEEtabli", "2023-12-01", {}),
        ("AccueilTermine", "2024-03-15", {"motif": "retour_en_famille"}),
        ("RapportSituationProduit", "2024-06-01", {"transmis_au_juge": False}),
    ]
    return Parcours(pid, personne, date(2012, 5, 3), _evenements(pid, e))


def _evenements(pid: UUID, lignes: list[tuple[str, str, dict[str, Any]]]) -> tuple[Evenement, ...]:
    return tuple(Evenement(nom, {"parcours_id": str(pid), "date_effet": jour, **d}) for nom, jour, d in lignes)


CORRECTIONS: dict[str, list[tuple[int, str, tuple[Any, ...]]]] = {
    "judiciaire": [
        (1, "sexe", ("M", "X")),
        (1, "referent_id", ("ref-9", None)),
        (1, "date_naissance", ("2008-01-20", "2008-05-30")),
        (1, "date_effet", ("2024-01-05",)),
        (2, "origine", ("sante", "famille")),
        (2, "dangers", (["violences_physiques"], ["negligences", "conditions_education"])),
        (2, "date_effet", ("2024-01-09",)),
        (3, "suite", ("accompagnement_administratif",)),
        (3, "date_effet", ("2024-01-31",)),
        (4, "nature", ("confiage_ase",)),
        (4, "autorite", ("juge_des_enfants",)),
        (4, "date_debut", ("2024-02-01",)),
        (4, "date_echeance", ("2024-06-01", None)),
        (4, "reference_decision", ("PQ-1 bis",)),
        (5, "date_effet", ("2024-02-03",)),
        (5, "type_lieu", ("mecs", "hotel")),
        (6, "nature", ("tiers_digne_de_confiance", "aemo")),
        (6, "cadre", ("administratif",)),
        (6, "date_echeance", ("2026-01-14", "2027-02-14")),
        (6, "duree_derogatoire", (True,)),
        (6, "date_debut", ("2024-02-10",)),
        (6, "date_effet", ("2024-02-14",)),
        (7, "motif", ("autre",)),
        (7, "date_effet", ("2024-02-17",)),
        (8, "date_effet", ("2024-05-20",)),
        (9, "type_lieu", ("mecs",)),
        (9, "date_effet", ("2024-05-10",)),
        (9, "motif", ("rupture",)),
        (10, "date_effet", ("2024-06-02",)),
        (11, "date_effet", ("2024-06-04",)),
        (12, "transmis_au_juge", (False,)),
        (12, "date_effet", ("2024-06-25",)),
        (13, "type_lieu", ("hebergement_derogatoire",)),
        (13, "date_effet", ("2024-07-01",)),
        (14, "date_effet", ("2024-10-01",)),
        (15, "nouvelle_echeance", ("2026-12-14", "2026-06-14")),
        (15, "reference_decision", ("JE-2 bis",)),
        (15, "date_effet", ("2026-01-12",)),
        (16, "date_effet", ("2026-02-05",)),
        (17, "referent_id", ("ref-3",)),
        (17, "date_effet", ("2026-02-11",)),
        (19, "motif", ("autre",)),
        (20, "motif", ("autre",)),
        (21, "date_debut", ("2026-03-16",)),
        (21, "date_fin", ("2027-01-14",)),
        (21, "fin_annee_engagee", (True,)),
        (21, "date_effet", ("2026-03-18",)),
        (22, "date_fin", ("2028-01-14",)),
        (22, "fin_annee_engagee", (True,)),
        (22, "date_effet", ("2027-01-12",)),
        (23, "date_effet", ("2027-02-03",)),
        (24, "motif", ("rupture",)),
        (24, "date_effet", ("2027-05-30",)),
        (25, "situation_logement", ("sans_solution", "famille")),
        (25, "motif", ("autre",)),
        (25, "date_effet", ("2027-06-02",)),
        (26, "motif", ("reprise du suivi",)),  # private: published with null values
        (26, "date_effet", ("2027-08-30",)),
        (27, "date_fin", ("2029-03-14",)),
        (27, "fin_annee_engagee", (False,)),
    ],
    "administratif": [
        (1, "sexe", ("F",)),
        (1, "referent_id", ("ref-5",)),
        (1, "date_naissance", ("2011-02-01", "2021-06-30")),
        (2, "date_debut", ("2023-10-01",)),
        (2, "date_echeance", ("2023-10-04",)),
        (3, "type_lieu", ("foyer_enfance", "hebergement_derogatoire")),
        (3, "date_effet", ("2023-10-03",)),
        (4, "nature", ("accueil_provisoire", "aed")),
        (4, "date_debut", ("2023-10-04",)),
        (5, "motif", ("mainlevee",)),
        (5, "date_effet", ("2023-10-06",)),
        (6, "nature", ("accueil_urgence",)),
        (6, "date_echeance", ("2024-04-08",)),
        (7, "date_effet", ("2023-10-11",)),
        (8, "type_lieu", ("hotel",)),
        (9, "date_effet", ("2023-11-20",)),
        (10, "motif", ("autre", "fin_de_mesure")),
        (10, "date_effet", ("2023-10-08",)),
        (11, "transmis_au_juge", (True,)),
    ],
}
"""Per base stream: (version, field, candidate values) of corrections of every event type's fields."""

BASES = {"judiciaire": parcours_judiciaire, "administratif": parcours_administratif}


def corrections_possibles(nom: str, jusqu_a: int | None = None) -> list[Correction]:
    """Every correction :data:`CORRECTIONS` offers for base stream ``nom`` (of its first ``jusqu_a`` events)."""
    return [
        Correction(v, champ, valeur)
        for v, champ, valeurs in CORRECTIONS[nom]
        for valeur in valeurs
        if jusqu_a is None or v <= jusqu_a
    ]


_PUBLICS: dict[str, frozenset[str]] = {}
for _payload in PAYLOADS.values():
    _PUBLICS[_payload.nom_evenement()] = _PUBLICS.get(_payload.nom_evenement(), frozenset()) | frozenset(
        _payload.model_fields
    )
"""The fields each event's payload declares in any version: what the store holds and a correction changes
(the publication contract then withholds some of them from the public topic)."""


def _cle_publique(nom: str, champ: str) -> str | None:
    """The payload key a corrected field shows under, or None when the field is not public."""
    cle = "mois_naissance" if champ == "date_naissance" else champ
    return cle if cle in _PUBLICS[nom] else None


def _publiee(champ: str, valeur: Any) -> Any:
    return str(valeur)[:7] if champ == "date_naissance" and valeur is not None else valeur


def avec_rectifications(base: Parcours, corrections: Sequence[Correction]) -> list[Evenement]:
    """The base stream followed by one published ``SaisieRectifiee`` per correction (no-op ones left out)."""
    courants = [dict(e.donnees) for e in base.evenements]
    naissance = base.date_naissance.isoformat()
    resultat = list(base.evenements)
    for c in corrections:
        cible = base.evenements[c.version - 1]
        cle = _cle_publique(cible.nom, c.champ)
        ancienne = naissance if c.champ == "date_naissance" else courants[c.version - 1].get(c.champ)
        if c.champ != "date_naissance" and cle is None:
            ancienne = "motif enregistré"  # a private value: what the store holds, never published
        if ancienne == c.valeur:
            continue  # the write side refuses a correction that changes nothing
        if c.champ == "date_naissance":
            naissance = str(c.valeur)
        if cle is not None:
            courants[c.version - 1][cle] = _publiee(c.champ, c.valeur)
        resultat.append(
            Evenement(
                "SaisieRectifiee",
                {
                    "parcours_id": str(base.parcours_id),
                    "date_effet": courants[c.version - 1]["date_effet"],
                    "version_rectifiee": c.version,
                    "evenement_rectifie": cible.nom,
                    "champ": c.champ,
                    "ancienne_valeur": _publiee(c.champ, ancienne) if cle is not None else None,
                    "nouvelle_valeur": _publiee(c.champ, c.valeur) if cle is not None else None,
                },
            )
        )
    return resultat


def comme_enregistre(base: Parcours, corrections: Sequence[Correction]) -> list[Evenement]:
    """The base stream recorded directly with the corrected values (the last correction of a field wins).

    What the write side derives when it records is derived from the corrected values too: a stay's limit.
    """
    courants = [dict(e.donnees) for e in base.evenements]
    for c in corrections:
        cle = _cle_publique(base.evenements[c.version - 1].nom, c.champ)
        if cle is not None:
            courants[c.version - 1][cle] = _publiee(c.champ, c.valeur)
    for donnees in courants:
        if "date_limite_hotel" in donnees:
            limite = limite_hebergement(donnees["type_lieu"], date.fromisoformat(donnees["date_effet"]))
            donnees["date_limite_hotel"] = limite.isoformat() if limite else None
    return [Evenement(e.nom, d) for e, d in zip(base.evenements, courants, strict=True)]


def naissance_corrigee(base: Parcours, corrections: Sequence[Correction]) -> date:
    """The exact birth date once the corrections are applied (what the identity stream says last)."""
    dates = [c.valeur for c in corrections if c.champ == "date_naissance"]
    return date.fromisoformat(str(dates[-1])) if dates else base.date_naissance


# -- as records ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Enregistrement:
    """A Kafka record: headers and value (None for a tombstone)."""

    cle: bytes
    entetes: list[tuple[str, bytes]]
    valeur: bytes | None

    def evenement(self) -> EvenementPublie:
        return EvenementPublie.depuis({k: v.decode() for k, v in self.entetes}, self.valeur)


def _enveloppe(flux: UUID, version: int, type_ce: str, source: str) -> list[tuple[str, bytes]]:
    return Enveloppe(
        id=identifiant_evenement(flux, version),
        source=source,
        type=type_ce,
        subject=str(flux),
        time=ENREGISTRE_LE + timedelta(minutes=version),
        dataschema=url_schema(type_ce),
        sequence=version,
        partitionkey=str(flux),
        correlationid=f"test-{flux}",
        causationid=f"test-{flux}",
        traceparent="00-" + "0" * 31 + "1-" + "0" * 15 + "1-01",
        auteur="alice",
    ).entetes()


def enregistrements(
    base: Parcours, evenements: Sequence[Evenement], naissances: Sequence[date]
) -> list[Enregistrement]:
    """The stream's records (department 59, or the destination after a transfer) and the identity's.

    ``naissances``: the exact birth date the identity stream records, then each correction of it.
    """
    departement = "59"
    resultat = []
    for version, e in enumerate(evenements, start=1):
        classe = PAYLOADS_COURANTS[e.nom]
        type_ce = classe.type_cloudevents()
        source = f"/ase/{departement}/parcours"
        # As the relay publishes it: the public body, and first its restricted facts if it has any.
        public = corps_public(classe, base.parcours_id, dict(e.donnees))
        champs = faits_restreints(e.nom, dict(e.donnees), orjson.loads(public))
        if champs:
            entetes = _enveloppe(base.parcours_id, version, TYPE_FAITS_RESTREINTS, source)
            entetes = [
                (k, identifiant_restreint(base.parcours_id, version).encode() if k == "ce_id" else v)
                for k, v in entetes
            ]
            faits = FaitsRestreints(evenement=e.nom, type_public=type_ce, champs=champs)
            resultat.append(Enregistrement(str(base.parcours_id).encode(), entetes, faits.model_dump_json().encode()))
        resultat.append(
            Enregistrement(
                str(base.parcours_id).encode(),
                _enveloppe(base.parcours_id, version, type_ce, source),
                public,
            )
        )
        if e.nom == "DossierTransfere":
            departement = str(e.donnees["departement_destination"])
    for version, naissance in enumerate(naissances, start=1):
        nom = "IdentiteEnregistree" if version == 1 else "IdentiteRectifiee"
        identite = {
            "personne_id": str(base.personne_id),
            "nom": "Essai",
            "prenoms": "Camille",
            "date_naissance": naissance.isoformat(),
            "sexe": "F",
            "lieu_naissance": None,
            "date_effet": "2023-10-02",
        }
        type_ce = PAYLOADS_COURANTS[nom].type_cloudevents()
        resultat.append(
            Enregistrement(
                str(base.personne_id).encode(),
                _enveloppe(base.personne_id, version, type_ce, "/ase/identites"),
                orjson.dumps(identite),
            )
        )
    return resultat


def paire(base: Parcours, corrections: Sequence[Correction]) -> tuple[list[Enregistrement], list[Enregistrement]]:
    """The records of the stream with corrections, and of the same stream recorded with the corrected values."""
    naissance = naissance_corrigee(base, corrections)
    rectifie = avec_rectifications(base, corrections)
    naissances = [base.date_naissance, *([naissance] if naissance != base.date_naissance else [])]
    return (
        enregistrements(base, rectifie, naissances),
        enregistrements(base, comme_enregistre(base, corrections), [naissance]),
    )
