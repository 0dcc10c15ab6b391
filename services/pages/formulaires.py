"""The everyday commands a caseworker records from a dossier's page: each form's fields and its command.

``COMMANDES``: the slug of each form (its URL: ``/pages/dossiers/{parcours_id}/actions/{slug}``) and its
label. ``FORMULAIRES``: for each slug, the fields (their ``nom`` is the command's field in API.md, so an
API error naming ``champ`` lands on its input) and the command's path. A form holds no rule: the command
API judges, and :mod:`services.pages.formulaires_erreurs` places its refusal next to the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from droit.regles import NATURES_PAR_CADRE
from services.pages import formulaires_libelles as lib

COMMANDES: dict[str, str] = {
    "information-preoccupante": "Information préoccupante",
    "evaluation": "Évaluation",
    "mesure": "Mesure",
    "renouvellement": "Renouvellement de mesure",
    "levee": "Levée de mesure",
    "accueil": "Début d'accueil",
    "changement-lieu": "Changement de lieu d'accueil",
    "fin-accueil": "Fin d'accueil",
    "fugue": "Fugue",
    "fin-fugue": "Fin de fugue",
    "ppe": "Projet pour l'enfant (PPE)",
    "rapport": "Rapport de situation",
    "entretien-autonomie": "Entretien d'autonomie",
    "apjm": "Accompagnement jeune majeur",
    "sortie": "Sortie du dispositif",
}

Genre = Literal["date", "liste", "cases", "texte", "case", "mesure", "lieu", "ip"]
"""How a field is entered: ``date`` (``<input type="date">``), ``liste`` (a select of ``choix``), ``cases``
(checkboxes of ``choix``, sent as a list), ``texte``, ``case`` (one checkbox, sent as a boolean), and the
selects filled from the dossier: ``mesure`` (its active measures), ``lieu`` (the département's open lieux),
``ip`` (its informations préoccupantes not yet assessed)."""

VALEUR_COCHEE = "oui"
"""What a checked ``case`` sends."""


@dataclass(frozen=True)
class Champ:
    nom: str
    """The command's field (API.md), the input's ``name``."""
    libelle: str
    genre: Genre
    choix: Mapping[str, str] = field(default_factory=dict)
    """Value sent → French label, for ``liste`` and ``cases``."""
    groupes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """A ``liste`` shown in groups (``<optgroup>``): group label → its choices (``choix`` holds them all)."""
    requis: bool = True
    aide: str = ""
    dans_le_chemin: bool = False
    """Sent in the command's path (``{mesure_id}``), not in its body."""

    @property
    def ident(self) -> str:
        """The input's ``id`` (and the prefix of its error's and help's ids)."""
        return "champ-" + self.nom.replace(".", "-").replace("_", "-")


@dataclass(frozen=True)
class Formulaire:
    slug: str
    titre: str
    chemin: str
    """The command's path in the command API, with ``{parcours_id}`` (and ``{mesure_id}``)."""
    champs: tuple[Champ, ...]
    bouton: str
    introduction: str = ""

    def champ(self, nom: str) -> Champ | None:
        return next((c for c in self.champs if c.nom == nom), None)

    @property
    def dynamiques(self) -> frozenset[Genre]:
        """The selects this form fills from the dossier or the read API."""
        return frozenset(c.genre for c in self.champs if c.genre in ("mesure", "lieu", "ip"))


DATE_EFFET = Champ("date_effet", "Date des faits", "date", aide="Le jour où cela s'est passé (pas dans le futur).")


def _date(nom: str, libelle: str, *, requis: bool = True, aide: str = "") -> Champ:
    return Champ(nom, libelle, "date", requis=requis, aide=aide)


def _liste(nom: str, libelle: str, choix: Mapping[str, str], aide: str = "") -> Champ:
    return Champ(nom, libelle, "liste", choix, aide=aide)


MESURE_ACTIVE = Champ("mesure_id", "Mesure", "mesure", dans_le_chemin=True, aide="Une mesure en cours du dossier.")

_FORMULAIRES = (
    Formulaire(
        "information-preoccupante",
        "Enregistrer une information préoccupante",
        "/v1/parcours/{parcours_id}/informations-preoccupantes",
        (
            _liste("origine", "Origine de l'information", lib.ORIGINES_IP),
            Champ("dangers", "Dangers signalés", "cases", lib.DANGERS, aide="Au moins un."),
            DATE_EFFET,
        ),
        "Enregistrer l'information préoccupante",
    ),
    Formulaire(
        "evaluation",
        "Conclure l'évaluation d'une information préoccupante",
        "/v1/parcours/{parcours_id}/evaluations",
        (
            Champ("ip_id", "Information préoccupante évaluée", "ip"),
            _liste("suite", "Suite donnée", lib.SUITES_EVALUATION),
            DATE_EFFET,
        ),
        "Enregistrer l'évaluation",
    ),
    Formulaire(
        "mesure",
        "Enregistrer une mesure",
        "/v1/parcours/{parcours_id}/mesures",
        (
            _liste("cadre", "Cadre", lib.CADRES),
            Champ(
                "nature",
                "Nature de la mesure",
                "liste",
                lib.NATURES,
                groupes={
                    lib.CADRES[cadre]: {n: lib.NATURES[n] for n in lib.NATURES if n in natures}
                    for cadre, natures in NATURES_PAR_CADRE.items()
                },
            ),
            _liste("autorite", "Autorité qui décide", lib.AUTORITES),
            Champ("reference_decision", "Référence de la décision", "texte", aide="Par exemple : JE-2026-0412."),
            _date("date_debut", "Début de la mesure"),
            _date(
                "date_echeance",
                "Échéance",
                requis=False,
                aide="Obligatoire pour une mesure administrative ou un confiage à un tiers digne de confiance.",
            ),
            Champ(
                "duree_derogatoire",
                "Durée dérogatoire : confiage à l'ASE de plus de deux ans (article 375 alinéa 4 du code civil)",
                "case",
                requis=False,
            ),
            _date("date_effet", "Date de la décision", aide="Le jour de la décision (pas dans le futur)."),
        ),
        "Enregistrer la mesure",
    ),
    Formulaire(
        "renouvellement",
        "Renouveler une mesure",
        "/v1/parcours/{parcours_id}/mesures/{mesure_id}/renouvellement",
        (
            MESURE_ACTIVE,
            _date("nouvelle_echeance", "Nouvelle échéance"),
            Champ("reference_decision", "Référence de la décision", "texte"),
            _date("date_effet", "Date de la décision", aide="Le jour de la décision (pas dans le futur)."),
        ),
        "Renouveler la mesure",
    ),
    Formulaire(
        "levee",
        "Lever une mesure",
        "/v1/parcours/{parcours_id}/mesures/{mesure_id}/levee",
        (
            MESURE_ACTIVE,
            _liste("motif", "Motif de la levée", lib.MOTIFS_LEVEE),
            Champ(
                "motif_fin_accueil",
                "Fin de l'accueil en même temps (si l'accueil en cours repose sur cette seule mesure)",
                "liste",
                lib.MOTIFS_FIN_ACCUEIL,
                requis=False,
                aide="Laisser vide si l'enfant n'est pas accueilli au titre de cette mesure.",
            ),
            DATE_EFFET,
        ),
        "Lever la mesure",
    ),
    Formulaire(
        "accueil",
        "Débuter un accueil",
        "/v1/parcours/{parcours_id}/accueil",
        (
            Champ("mesure_id", "Mesure qui permet l'accueil", "mesure"),
            Champ("lieu_id", "Lieu d'accueil", "lieu", aide="Un lieu complet reste possible : il sera signalé."),
            _date("date_effet", "Date d'arrivée", aide="Le jour où l'enfant est arrivé (pas dans le futur)."),
        ),
        "Enregistrer l'accueil",
    ),
    Formulaire(
        "changement-lieu",
        "Changer de lieu d'accueil",
        "/v1/parcours/{parcours_id}/accueil/changement",
        (
            Champ("lieu_id", "Nouveau lieu d'accueil", "lieu"),
            _liste("motif", "Motif du changement", lib.MOTIFS_CHANGEMENT_LIEU),
            _date("date_effet", "Date du changement", aide="Le jour où l'enfant a changé de lieu."),
        ),
        "Enregistrer le changement de lieu",
    ),
    Formulaire(
        "fin-accueil",
        "Terminer l'accueil",
        "/v1/parcours/{parcours_id}/accueil/fin",
        (_liste("motif", "Motif de la fin d'accueil", lib.MOTIFS_FIN_ACCUEIL), DATE_EFFET),
        "Terminer l'accueil",
    ),
    Formulaire("fugue", "Déclarer une fugue", "/v1/parcours/{parcours_id}/fugues", (DATE_EFFET,), "Déclarer la fugue"),
    Formulaire(
        "fin-fugue",
        "Déclarer la fin d'une fugue",
        "/v1/parcours/{parcours_id}/fugues/fin",
        (DATE_EFFET,),
        "Déclarer la fin de la fugue",
    ),
    Formulaire(
        "ppe",
        "Établir ou actualiser le projet pour l'enfant",
        "/v1/parcours/{parcours_id}/ppe",
        (_date("date_effet", "Date du PPE", aide="Le jour où le PPE a été établi ou actualisé."),),
        "Enregistrer le PPE",
        "Le premier PPE du dossier est établi ; les suivants l'actualisent.",
    ),
    Formulaire(
        "rapport",
        "Enregistrer un rapport de situation",
        "/v1/parcours/{parcours_id}/rapports",
        (Champ("transmis_au_juge", "Rapport transmis au juge", "case", requis=False), DATE_EFFET),
        "Enregistrer le rapport",
    ),
    Formulaire(
        "entretien-autonomie",
        "Enregistrer l'entretien d'autonomie",
        "/v1/parcours/{parcours_id}/entretien-autonomie",
        (_date("date_effet", "Date de l'entretien"),),
        "Enregistrer l'entretien",
    ),
    Formulaire(
        "apjm",
        "Accorder un accompagnement jeune majeur",
        "/v1/parcours/{parcours_id}/accompagnement-jeune-majeur",
        (
            _date("date_debut", "Début de l'accompagnement"),
            _date("date_fin", "Fin de l'accompagnement", aide="Avant les 21 ans."),
            Champ(
                "fin_annee_engagee",
                "Se poursuit après 21 ans pour terminer l'année scolaire ou universitaire engagée",
                "case",
                requis=False,
            ),
            _date("date_effet", "Date de la décision"),
        ),
        "Accorder l'accompagnement",
    ),
    Formulaire(
        "sortie",
        "Enregistrer la sortie du dispositif",
        "/v1/parcours/{parcours_id}/sortie",
        (
            _liste("motif", "Motif de la sortie", lib.MOTIFS_SORTIE),
            _liste("situation_logement", "Situation de logement à la sortie", lib.SITUATIONS_LOGEMENT),
            Champ(
                "clore_en_cours",
                "Clore en même temps l'accueil, les mesures et l'accompagnement encore en cours",
                "case",
                requis=False,
            ),
            _date("date_effet", "Date de sortie"),
        ),
        "Enregistrer la sortie",
    ),
)

FORMULAIRES: dict[str, Formulaire] = {f.slug: f for f in _FORMULAIRES}
assert FORMULAIRES.keys() == COMMANDES.keys()

Valeurs = Mapping[str, str | list[str]]
"""What the form sent, by input name: a text, or the list of a ``cases`` field's checked values."""


def valeurs_du_formulaire(formulaire: Formulaire, recu: Mapping[str, list[str]]) -> dict[str, str | list[str]]:
    """The values of ``formulaire``'s fields in what the browser sent (each input's values, in order):
    texts stripped, a ``cases`` field's checked values; to send, and to show again."""
    valeurs: dict[str, str | list[str]] = {}
    for champ in formulaire.champs:
        envoyees = recu.get(champ.nom, [])
        if champ.genre == "cases":
            valeurs[champ.nom] = [v for v in envoyees if v]
        else:
            valeurs[champ.nom] = envoyees[-1].strip() if envoyees else ""
    return valeurs


def corps_de(formulaire: Formulaire, valeurs: Valeurs) -> dict[str, object]:
    """The command's JSON body: an empty field is left out (the API says which one it needs), a checkbox
    is a boolean, a ``cases`` field a list; fields sent in the path are not in the body."""
    corps: dict[str, object] = {}
    for champ in formulaire.champs:
        if champ.dans_le_chemin:
            continue
        valeur = valeurs.get(champ.nom)
        if champ.genre == "case":
            corps[champ.nom] = valeur == VALEUR_COCHEE
        elif champ.genre == "cases":
            corps[champ.nom] = list(valeur) if isinstance(valeur, list) else []
        elif valeur:
            corps[champ.nom] = valeur
    return corps


def chemin_de(formulaire: Formulaire, parcours_id: str, valeurs: Valeurs) -> tuple[str | None, dict[str, str]]:
    """The command's path, or None with an error for each path field left empty (nothing to send then)."""
    manquants = {
        c.nom: "Choisissez une mesure dans la liste."
        for c in formulaire.champs
        if c.dans_le_chemin and not valeurs.get(c.nom)
    }
    if manquants:
        return None, manquants
    parametres = {c.nom: str(valeurs[c.nom]) for c in formulaire.champs if c.dans_le_chemin}
    return formulaire.chemin.format(parcours_id=parcours_id, **parametres), {}
