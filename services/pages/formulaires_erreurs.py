"""Where a form shows the command API's refusal: each error next to the field it concerns, in plain French.

A 422 names its fields (``errors[].champ``, ``personne.nom`` for a nested one, ``path.mesure_id`` for a
path's): each goes to the input of that name (or of its first part, ``dangers.0`` → ``dangers``). A 409
``regle_metier`` names its rule (``regle``, :class:`services.runtime.errors.RegleMetierError`): :data:`REGLES`
says which field each rule of the domain concerns and, where the domain's message speaks to a developer
(a field name, a code), what to tell a caseworker instead. Anything else goes to the form's summary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from services.pages.appels import ProblemeAPI
from services.pages.formulaires import Champ, Formulaire
from services.pages.formulaires_libelles import libeller
from services.pages.rendu import date_fr

CONFLIT_DE_VERSION = "Quelqu'un a modifié ce dossier entre-temps : rechargez la page."


@dataclass(frozen=True)
class Regle:
    """The fields a rule concerns, the first present in the form wins (none: the summary), and a plain
    message replacing the domain's (None: the domain's own, its codes and dates made readable)."""

    champs: tuple[str, ...] = ()
    message: str | None = None


REGLES: Final[dict[str, Regle]] = {
    # -- opening a dossier, referencing a lieu (services.pages.routes_creation) --
    "date_naissance_invalide": Regle(
        ("personne.date_naissance",),
        "La date de naissance ne peut pas suivre la date d'ouverture (un nouveau-né est pris en charge le jour même).",
    ),
    "age_limite_depasse": Regle(
        ("personne.date_naissance", "date_effet"),
        "Un parcours ne s'ouvre que pour une personne de moins de 21 ans à la date d'ouverture.",
    ),
    "departement_inconnu": Regle(("departement",)),
    "capacite_invalide": Regle(("capacite",)),
    # -- dates (services.parcours.domain.flux) --
    "date_effet_future": Regle(
        ("date_effet",), "Cette date est dans le futur : on enregistre ce qui s'est déjà passé."
    ),
    "date_effet_anterieure": Regle(
        ("date_effet",),
        "Cette date précède le dernier fait enregistré dans le dossier ({date}). "
        "Une date passée se corrige par une rectification du dossier.",
    ),
    # -- the parcours (services.parcours.domain.parcours_regles) --
    "parcours_sorti": Regle(
        (), "Ce jeune est sorti du dispositif : rouvrez son parcours avant d'enregistrer autre chose."
    ),
    "identite_effacee": Regle((), "L'identité de cette personne est effacée : ce dossier ne peut plus être modifié."),
    "dangers_requis": Regle(("dangers",), "Cochez au moins un danger."),
    "dangers_en_double": Regle(("dangers",), "Chaque danger ne se coche qu'une fois."),
    "ip_deja_evaluee": Regle(("ip_id",), "Cette information préoccupante est déjà évaluée."),
    "mesure_avant_naissance": Regle(("date_debut",), "Une mesure ne peut pas débuter avant la naissance."),
    "mesure_de_mineur": Regle(
        ("date_debut",),
        "Une mesure de protection de l'enfance débute avant les 18 ans ; après, c'est un accompagnement jeune majeur.",
    ),
    "mesure_non_renouvelable": Regle(
        ("mesure_id",),
        "Un accueil de 72 heures ne se renouvelle pas : à son terme, l'enfant rentre chez lui, "
        "ou une admission ou une saisine du juge suit (article L223-2 du CASF).",
    ),
    "echeance_invalide": Regle(("nouvelle_echeance", "date_echeance")),
    "echeance_requise": Regle(("date_echeance",), "Cette mesure a une échéance fixée par la loi : indiquez-la."),
    "duree_maximale_depassee": Regle(
        ("nouvelle_echeance", "date_echeance"), "Cette échéance dépasse la durée permise par la loi : {detail}."
    ),
    "duree_derogatoire_invalide": Regle(("duree_derogatoire",)),
    "nature_hors_cadre": Regle(("nature",)),
    "autorite_invalide": Regle(("autorite",)),
    "mesure_inactive": Regle(("mesure_id",), "Cette mesure est déjà levée."),
    "accueil_sans_mesure": Regle(
        ("motif_fin_accueil", "mesure_id"),
        "Lever cette mesure laisserait l'accueil en cours sans mesure qui le permette : "
        "choisissez ici le motif de la fin de l'accueil pour le terminer en même temps, ou terminez-le d'abord.",
    ),
    "mesure_sans_accueil": Regle(
        ("mesure_id",),
        "Cette mesure accompagne l'enfant chez lui (AED, AEMO) : elle ne permet pas d'accueil. "
        "Choisissez une mesure de placement.",
    ),
    "accueil_deja_en_cours": Regle(
        (), "Un accueil est déjà en cours : enregistrez plutôt un changement de lieu, ou terminez l'accueil."
    ),
    "accueil_avant_la_mesure": Regle(("date_effet",), "L'accueil ne peut pas débuter avant la mesure qui le permet."),
    "accueil_apres_majorite": Regle(
        ("date_effet",), "Un accueil au titre d'une mesure de protection de l'enfance prend fin à la majorité."
    ),
    "meme_lieu": Regle(("lieu_id",), "L'enfant est déjà accueilli dans ce lieu : choisissez-en un autre."),
    "lieu_ferme": Regle(("lieu_id",), "Ce lieu d'accueil est fermé : choisissez-en un autre."),
    "hotel_interdit": Regle(
        ("lieu_id",),
        "Aucun enfant ne peut être accueilli à l'hôtel depuis le 1er février 2024, quel que soit son âge "
        "(article L221-2-3 du CASF). De 16 à 21 ans, un hébergement dérogatoire est possible pour deux mois au plus.",
    ),
    "hebergement_derogatoire_hors_age": Regle(
        ("lieu_id",), "Un hébergement dérogatoire n'accueille que les jeunes de 16 à 21 ans (article L221-2-3 du CASF)."
    ),
    "aucun_accueil": Regle((), "Aucun accueil n'est en cours dans ce dossier."),
    "fugue_deja_en_cours": Regle((), "Une fugue est déjà déclarée et n'est pas terminée."),
    "aucune_fugue": Regle((), "Aucune fugue n'est en cours dans ce dossier."),
    "ppe_deja_etabli": Regle((), "Le PPE est déjà établi : il s'actualise."),
    "ppe_absent": Regle((), "Aucun PPE n'est encore établi."),
    "entretien_avant_16_ans": Regle(("date_effet",), "L'entretien d'autonomie se tient à partir de 16 ans."),
    "majorite_pas_encore_atteinte": Regle(
        ("date_effet", "date_debut"), "La majorité n'est pas encore atteinte : elle se constate à partir des 18 ans."
    ),
    "apjm_avant_majorite": Regle(
        ("date_debut",),
        "Un accompagnement jeune majeur débute à 18 ans au plus tôt (il peut être décidé avant, pour débuter ce jour-là).",
    ),
    "apjm_au_dela_de_21_ans": Regle(
        ("date_fin",),
        "Un accompagnement jeune majeur finit avant les 21 ans, sauf pour terminer l'année scolaire ou "
        "universitaire engagée (cochez alors la case correspondante).",
    ),
    "apjm_au_dela_de_l_annee_engagee": Regle(
        ("date_fin",), "Pour terminer l'année engagée, l'accompagnement finit au plus un an après les 21 ans."
    ),
    "apjm_dates_invalides": Regle(("date_fin",), "La fin de l'accompagnement doit suivre son début."),
    "apjm_deja_en_cours": Regle((), "Un accompagnement jeune majeur est déjà en cours."),
    "aucun_apjm": Regle((), "Aucun accompagnement jeune majeur n'est en cours."),
    "sortie_avec_prise_en_charge_active": Regle(
        ("clore_en_cours",),
        "Une mesure, un accueil ou un accompagnement est encore en cours : clôturez-les d'abord, "
        "ou cochez cette case pour les clore en même temps que la sortie.",
    ),
}

_DATE_ISO: Final = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
_MESSAGES_422: Final[dict[str, str]] = {
    "missing": "Renseignez ce champ.",
    "enum": "Choisissez une valeur dans la liste.",
    "uuid_parsing": "Choisissez une valeur dans la liste.",
    "uuid_type": "Choisissez une valeur dans la liste.",
    "too_short": "Choisissez au moins une valeur.",
    "date_from_datetime_parsing": "Saisissez une date complète (jour, mois, année).",
    "date_parsing": "Saisissez une date complète (jour, mois, année).",
    "date_type": "Saisissez une date complète (jour, mois, année).",
    "string_too_long": "Ce texte est trop long.",
    "string_too_short": "Renseignez ce champ.",
}


@dataclass
class Erreurs:
    """A refusal as the form shows it: by input name, and the summary's messages not tied to a field."""

    par_champ: dict[str, str] = field(default_factory=dict)
    generales: list[str] = field(default_factory=list)
    conflit: bool = False
    """A version conflict: the page shows the reload message and link."""

    def __bool__(self) -> bool:
        return bool(self.par_champ or self.generales or self.conflit)


def clair(detail: str) -> str:
    """A domain message made readable: codes as labels, ISO dates as ``1er mars 2026``."""
    return _DATE_ISO.sub(lambda m: date_fr(m.group(1)), libeller(detail))


def _champ_du_formulaire(formulaire: Formulaire, champ: str) -> str | None:
    """The input a 422's ``champ`` names: itself, or its first part (``dangers.0``), after ``path.``/``body.``."""
    for prefixe in ("body.", "path."):
        champ = champ.removeprefix(prefixe)
    if formulaire.champ(champ) is not None:
        return champ
    tete = champ.split(".", 1)[0]
    return tete if formulaire.champ(tete) is not None else None


_MANQUANT: Final[dict[str, str]] = {
    "date": "Indiquez une date.",
    "texte": "Renseignez ce champ.",
    "cases": "Cochez au moins une case.",
}
"""An empty field, by its kind; any select: :data:`CHOISIR`."""
CHOISIR: Final = "Choisissez une valeur dans la liste."


def _message_422(erreur: dict[str, object], champ: Champ | None) -> str:
    type_ = str(erreur.get("type", ""))
    if champ is not None and type_ in ("missing", "too_short", "string_too_short"):
        return _MANQUANT.get(champ.genre, CHOISIR)
    if type_ in _MESSAGES_422:
        return _MESSAGES_422[type_]
    message = str(erreur.get("message", "")).removeprefix("Value error, ")
    return clair(message[:1].upper() + message[1:]) if message else "Valeur invalide."


def erreurs_du_probleme(formulaire: Formulaire, probleme: ProblemeAPI) -> Erreurs:
    """Where ``formulaire`` shows ``probleme`` (a 422 or a 409 of the command API)."""
    erreurs = Erreurs()
    if probleme.code == "conflit_de_version":
        erreurs.conflit = True
        return erreurs
    if probleme.code == "regle_metier":
        regle = REGLES.get(str(probleme.extensions.get("regle", "")), Regle())
        date = _DATE_ISO.findall(probleme.detail)
        message = (
            regle.message.format(detail=clair(probleme.detail), date=date_fr(date[-1]) if date else "")
            if regle.message
            else clair(probleme.detail[:1].upper() + probleme.detail[1:]) + "."
        )
        cible = next((c for c in regle.champs if formulaire.champ(c) is not None), None)
        if cible is None:
            erreurs.generales.append(message)
        else:
            erreurs.par_champ[cible] = message
        return erreurs
    if probleme.statut == 422 and probleme.erreurs:
        for erreur in probleme.erreurs:
            nom = _champ_du_formulaire(formulaire, str(erreur.get("champ", "")))
            message = _message_422(erreur, formulaire.champ(nom) if nom else None)
            if nom is None:
                erreurs.generales.append(message)
            else:
                erreurs.par_champ.setdefault(nom, message)
        return erreurs
    erreurs.generales.append(clair(probleme.detail) or probleme.titre or "L'enregistrement a été refusé.")
    return erreurs
