"""The everyday commands a caseworker records from a dossier's page (to be built).

``COMMANDES``: the slug of each form (its URL: ``/pages/dossiers/{parcours_id}/actions/{slug}``) and its label.
"""

from __future__ import annotations

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
