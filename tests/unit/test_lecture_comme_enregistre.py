""" "As if recorded so" on the read side's fold (pure): a corrected stream reads as the stream recorded corrected.

DOMAIN.md, SaisieRectifiee: the stream replayed with the corrected value is
what every later rule, and every view, uses. The fold the dossier and the
audit read (``etat_parcours``) and the deadlines the dossier derives from it
(``droit.echeances``) must give the same for a stream with corrections and for
the same stream written directly with the corrected values.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.evenements import PAYLOADS
from droit.echeances import echeances
from droit.etat_parcours import (
    EVENEMENTS_REPLIES,
    EtatParcours,
    Fait,
    corriges,
    faits_echeances,
    jour_publie,
    replier,
)
from tests.flux_publies import (
    BASES,
    CORRECTIONS,
    Correction,
    Enregistrement,
    corrections_possibles,
    debut,
    naissance_corrigee,
    paire,
)

HORS_DU_REPLI = ("derniere_version", "evenements_pris_en_compte", "rectifications_appliquees")
"""What counts the stream's own events (a correction is one more), not the facts."""


def etat(enregistrements: list[Enregistrement]) -> EtatParcours:
    faits = []
    restreints: dict[int, dict[str, Any]] = {}
    for e in (r.evenement() for r in enregistrements):
        assert e.donnees is not None
        if e.restreint:
            restreints[e.version] = e.donnees["champs"]
        elif e.domaine == "parcours":
            donnees = {**e.donnees, **restreints.get(e.version, {})}
            jour = jour_publie(donnees)
            assert jour is not None
            faits.append(Fait(e.version, e.nom, jour, e.enregistre_le, donnees))
    return replier(corriges(faits))


def faits_montres(e: EtatParcours) -> dict[str, Any]:
    return {cle: valeur for cle, valeur in asdict(e).items() if cle not in HORS_DU_REPLI}


@settings(max_examples=300, deadline=None)
@given(nom=st.sampled_from(sorted(BASES)), data=st.data())
def test_a_stream_with_corrections_folds_as_the_stream_recorded_with_the_corrected_values(
    nom: str, data: st.DataObject
) -> None:
    complet = BASES[nom]()
    longueur = data.draw(st.integers(min_value=1, max_value=len(complet.evenements)), label="événements")
    base = debut(complet, longueur)
    possibles = corrections_possibles(nom, longueur)
    corrections = data.draw(st.lists(st.sampled_from(possibles), max_size=15) if possibles else st.just([]))
    rectifie, direct = paire(base, corrections)

    avec, sans = etat(rectifie), etat(direct)

    assert faits_montres(avec) == faits_montres(sans)
    naissance = naissance_corrigee(base, corrections)
    assert echeances(faits_echeances(avec, naissance)) == echeances(faits_echeances(sans, naissance))


def test_every_correction_at_once_folds_as_recorded_so_at_every_step_of_the_stream() -> None:
    for nom, fabrique in BASES.items():
        complet = fabrique()
        for longueur in range(1, len(complet.evenements) + 1):
            base = debut(complet, longueur)
            corrections = corrections_possibles(nom, longueur)
            rectifie, direct = paire(base, corrections)
            assert faits_montres(etat(rectifie)) == faits_montres(etat(direct)), (nom, longueur)
        assert faits_montres(etat(rectifie)) != faits_montres(etat(paire(complet, [])[0])), nom


def test_the_streams_cover_every_event_the_read_side_folds_and_corrections_touch_every_kind() -> None:
    noms = {e.nom for fabrique in BASES.values() for e in fabrique().evenements}
    assert noms == EVENEMENTS_REPLIES
    corriges_ = {
        BASES[nom]().evenements[version - 1].nom for nom, lignes in CORRECTIONS.items() for version, _, _ in lignes
    }
    # Majority is dated by the birth date (corrected there), never corrected itself.
    assert corriges_ == EVENEMENTS_REPLIES - {"MajoriteAtteinte"}
    champs = {(BASES[n]().evenements[v - 1].nom, c) for n, lignes in CORRECTIONS.items() for v, c, _ in lignes}
    for nom in corriges_:
        # Every field a version declares (the store holds them all), not the months standing for dates.
        publics = {c for p in PAYLOADS.values() if p.nom_evenement() == nom for c in p.model_fields}
        publics -= {"mois_effet", "mois_debut", "mois_fin", "parcours_id", "ip_id", "mesure_id", "lieu_id"}
        publics -= {"personne_id", "departement", "departement_origine", "departement_destination"}
        publics -= {"date_limite_hotel"}  # derived by the law from the lieu and the date, never corrected
        publics = {"date_naissance" if c == "mois_naissance" else c for c in publics}
        manquants = publics - {c for n, c in champs if n == nom}
        assert not manquants, (nom, manquants)


def test_a_correction_of_a_private_field_is_published_without_values_and_changes_nothing() -> None:
    base = BASES["judiciaire"]()
    (rectifie, _) = paire(base, [Correction(26, "motif", "reprise du suivi")])
    correction = rectifie[-2].evenement()  # the identity record comes last
    assert correction.donnees is not None
    assert (correction.donnees["ancienne_valeur"], correction.donnees["nouvelle_valeur"]) == (None, None)
    assert faits_montres(etat(rectifie)) == faits_montres(etat(paire(base, [])[0]))
