"""The words of the pilotage and audit pages: types of lieu, indicators in plain French, erasure motifs.

The APIs name things by code (``foyer_enfance``, ``ppe_dans_les_3_mois``); these pages say them in
French. An indicator's plain definition says what is counted, over whom, and the article of law it
follows; the API's own, exact definition is shown beside it (the figure's reference).
"""

from __future__ import annotations

from dataclasses import dataclass

TYPES_LIEU: dict[str, str] = {
    "assistant_familial": "Assistant familial",
    "mecs": "Maison d'enfants à caractère social (MECS)",
    "foyer_enfance": "Foyer de l'enfance",
    "pouponniere": "Pouponnière",
    "lieu_de_vie": "Lieu de vie et d'accueil",
    "village_enfants": "Village d'enfants",
    "tiers_digne_de_confiance": "Tiers digne de confiance",
    "placement_domicile": "Placement à domicile",
    "logement_autonome": "Logement autonome",
    "hotel": "Hôtel",
    "hebergement_derogatoire": "Hébergement dérogatoire (16-21 ans)",
}
"""``contracts.vocabulaire.TypeLieu``, in words."""


TYPES_LIEU_COURTS: dict[str, str] = {
    "mecs": "MECS",
    "lieu_de_vie": "Lieu de vie (LVA)",
    "hebergement_derogatoire": "Hébergement dérogatoire",
}
"""Where the chart's left margin is too narrow for the full words (the table below says them in full)."""


def libelle_court_type_lieu(code: str) -> str:
    """A type of lieu in a few words, for the chart's labels."""
    return TYPES_LIEU_COURTS.get(code) or libelle_type_lieu(code)


def libelle_type_lieu(code: str) -> str:
    """A type of lieu in words (the code itself for a type these pages do not know yet)."""
    return TYPES_LIEU.get(code, code)


def valeur_indicateur(unite: str, valeur: float | None) -> str:
    """A share as a percentage (``42,5 %``), a mean with two decimals (``2,25``), in French; "non calculable"
    when nobody is counted."""
    if valeur is None:
        return "non calculable"
    if unite == "part":
        return f"{valeur * 100:.1f} %".replace(".", ",")
    return f"{valeur:.2f}".replace(".", ",")


@dataclass(frozen=True)
class Definition:
    """An indicator in plain words: what is counted, over whom, and the law it follows (if any)."""

    compte: str
    population: str
    loi: str | None = None


DEFINITIONS_INDICATEURS: dict[str, Definition] = {
    "lieux_successifs": Definition(
        compte="Le nombre de lieux d'accueil qu'a connus chaque enfant depuis l'ouverture de son parcours : "
        "chaque arrivée dans un lieu et chaque changement de lieu compte pour un. La valeur est la moyenne.",
        population="Les enfants placés au 31 décembre de l'année (cette année : à ce jour) dans le département.",
    ),
    "ppe_dans_les_3_mois": Definition(
        compte="La part des mesures pour lesquelles un projet pour l'enfant (PPE) a été établi ou actualisé "
        "dans les 3 mois qui suivent leur début.",
        population="Les mesures administratives et judiciaires commencées dans l'année, décidées par le département. "
        "Une mesure levée avant 3 mois sans PPE n'est pas comptée ; une mesure dont les 3 mois ne sont pas "
        "écoulés est « en attente ».",
        loi="Le PPE est établi dans les trois mois du début de la mesure (CASF L223-1-1).",
    ),
    "entretien_autonomie_a_17_ans": Definition(
        compte="La part des jeunes dont l'entretien d'autonomie a eu lieu au plus tard à la fin du mois de leurs "
        "17 ans.",
        population="Les jeunes placés qui ont 17 ans dans l'année (placés au 1er jour du mois de leurs 17 ans). "
        "Ceux sortis avant sans entretien ne sont pas comptés ; ceux dont le mois n'est pas fini sont « en "
        "attente ».",
        loi="L'entretien est dû aux mineurs placés, un an avant leur majorité (CASF L222-5-1).",
    ),
    "apjm_a_18_ans": Definition(
        compte="La part des jeunes à qui un accompagnement jeune majeur (contrat jeune majeur) a été accordé, "
        "commençant au plus tard 3 mois après leurs 18 ans.",
        population="Les jeunes devenus majeurs dans l'année et suivis par le département à leur majorité. Ceux "
        "dont les 3 mois ne sont pas écoulés sont « en attente ».",
        loi="L'accompagnement des jeunes majeurs jusqu'à 21 ans (CASF L222-5).",
    ),
    "sorties_sans_logement": Definition(
        compte="La part des sorties du dispositif sans solution de logement, ou dont la situation de logement "
        "n'est pas connue.",
        population="Les sorties du dispositif de l'année enregistrées par le département (hors décès). Une "
        "personne sortie deux fois compte deux sorties.",
        loi=None,
    ),
    "hotel_au_plus_2_mois": Definition(
        compte="La part des séjours à l'hôtel ou en hébergement dérogatoire terminés au plus tard 2 mois après "
        "leur début. Un séjour en cours depuis plus de 2 mois est hors délai.",
        population="Les séjours de ce type commencés dans l'année, enregistrés par le département.",
        loi="L'hôtel est interdit depuis le 1er février 2024 (CASF L221-2-3) ; l'hébergement dérogatoire des "
        "16-21 ans est limité à 2 mois (décret 2024-119).",
    ),
}
"""By the API's indicator ``code`` (``services.projections.readmodels.indicateurs``)."""

MOTIFS_EFFACEMENT: dict[str, str] = {
    "erreur_de_saisie": "Erreur de saisie (la personne n'aurait pas dû être enregistrée)",
    "fin_de_conservation": "Fin de la durée de conservation",
    "decision_cnil": "Décision de la CNIL",
    "autre": "Autre motif",
}
"""The motifs of ``POST /v1/personnes/{personne_id}/effacement`` (API.md), in words."""

EVENEMENTS: dict[str, str] = {
    "ParcoursOuvert": "Parcours ouvert",
    "ParcoursRouvert": "Parcours rouvert",
    "InformationPreoccupanteRecue": "Information préoccupante reçue",
    "EvaluationConclue": "Évaluation conclue",
    "MesureDecidee": "Mesure décidée",
    "MesureRenouvelee": "Mesure renouvelée",
    "MesureLevee": "Mesure levée",
    "AccueilDebute": "Accueil commencé",
    "LieuAccueilChange": "Changement de lieu d'accueil",
    "AccueilTermine": "Accueil terminé",
    "FugueDeclaree": "Fugue déclarée",
    "FugueTerminee": "Fin de fugue",
    "PPEEtabli": "PPE établi",
    "PPEActualise": "PPE actualisé",
    "RapportSituationProduit": "Rapport de situation produit",
    "EntretienAutonomieRealise": "Entretien d'autonomie réalisé",
    "MajoriteAtteinte": "Majorité atteinte",
    "AccompagnementJeuneMajeurAccorde": "Accompagnement jeune majeur accordé",
    "AccompagnementJeuneMajeurRenouvele": "Accompagnement jeune majeur renouvelé",
    "AccompagnementJeuneMajeurTermine": "Accompagnement jeune majeur terminé",
    "SortieDispositif": "Sortie du dispositif",
    "DossierTransfere": "Dossier transféré",
    "ReferentDesigne": "Référent désigné",
    "SaisieRectifiee": "Correction d'une saisie",
    "IdentiteEffacee": "Identité effacée",
}
"""The events of a parcours (DOMAIN.md), in words; the chronology shows the code beside them."""
