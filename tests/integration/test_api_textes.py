"""Names and free text are printable text (DOMAIN.md), on every command that takes some.

Control, zero-width and bidirectional-override characters are refused with a 422
naming the field, and text is stored NFC-normalised: the same name typed on two
keyboards is the same name, and what an auditor reads is what was recorded.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

import pytest
import pytest_asyncio

from tests.integration.api_parcours import (
    api_sur_une_base_neuve,
    champs_en_erreur,
    decider_mesure,
    evenements,
    ouvrir,
)
from tests.integration.conftest import Api

OUVERT_LE = date(2026, 10, 1)
JOUR = "2026-10-02"
PERSONNE = {"nom": "Martin", "prenoms": "Léa", "date_naissance": "2012-05-03", "sexe": "F"}

# Refused input changes nothing: the module shares one service and database,
# and each test aims at a parcours of its own.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    async with api_sur_une_base_neuve(postgres_url, tmp_path_factory.mktemp("cles")) as partagee:
        yield partagee


@pytest_asyncio.fixture(loop_scope="module")
async def parcours_id(api: Api) -> str:
    return str((await ouvrir(api, OUVERT_LE))["id"])


# -- every free-text field of every command body ----------------------------------------------


@dataclass(frozen=True)
class Texte:
    """A free-text field: where it is sent, and the body around a value."""

    nom: str
    chemin: Callable[[str], str]
    corps: Callable[[Any], dict[str, Any]]
    champ: str


def _ouverture(**champs: Any) -> dict[str, Any]:
    return {"personne": PERSONNE, "departement": "59", "date_effet": JOUR, **champs}


def _rectification(valeur: Any, motif: str = "erreur de saisie") -> dict[str, Any]:
    return {"version_rectifiee": 1, "champ": "referent_id", "nouvelle_valeur": valeur, "motif": motif}


TEXTES = [
    Texte("nom", lambda _: "/v1/parcours", lambda v: _ouverture(personne={**PERSONNE, "nom": v}), "personne.nom"),
    Texte(
        "prenoms",
        lambda _: "/v1/parcours",
        lambda v: _ouverture(personne={**PERSONNE, "prenoms": v}),
        "personne.prenoms",
    ),
    Texte("referent_a_l_ouverture", lambda _: "/v1/parcours", lambda v: _ouverture(referent_id=v), "referent_id"),
    Texte(
        "nom_du_lieu",
        lambda _: "/v1/lieux",
        lambda v: {"nom": v, "type": "mecs", "departement": "59", "capacite": 3},
        "nom",
    ),
    Texte(
        "reference_de_decision",
        lambda p: f"/v1/parcours/{p}/mesures",
        lambda v: {
            "cadre": "judiciaire",
            "nature": "opp",
            "autorite": "parquet",
            "reference_decision": v,
            "date_debut": JOUR,
            "date_effet": JOUR,
        },
        "reference_decision",
    ),
    Texte(
        "reference_de_renouvellement",
        lambda p: f"/v1/parcours/{p}/mesures/{uuid.UUID(int=7)}/renouvellement",
        lambda v: {"nouvelle_echeance": "2027-10-01", "reference_decision": v, "date_effet": JOUR},
        "reference_decision",
    ),
    Texte(
        "motif_de_reouverture",
        lambda p: f"/v1/parcours/{p}/reouverture",
        lambda v: {"motif": v, "date_effet": JOUR},
        "motif",
    ),
    Texte(
        "referent",
        lambda p: f"/v1/parcours/{p}/referent",
        lambda v: {"referent_id": v, "date_effet": JOUR},
        "referent_id",
    ),
    Texte(
        "motif_de_rectification",
        lambda p: f"/v1/parcours/{p}/rectifications",
        lambda v: _rectification("ref-9", motif=v),
        "motif",
    ),
    Texte(
        "valeur_rectifiee",
        lambda p: f"/v1/parcours/{p}/rectifications",
        _rectification,
        "nouvelle_valeur",
    ),
    Texte(
        "texte_dans_une_liste_rectifiee",
        lambda p: f"/v1/parcours/{p}/rectifications",
        lambda v: _rectification(["ref-9", v]),
        "nouvelle_valeur",
    ),
    Texte(
        "cle_d_un_objet_rectifie",
        lambda p: f"/v1/parcours/{p}/rectifications",
        lambda v: _rectification({v: "ref-9"}),
        "nouvelle_valeur",
    ),
]

NON_IMPRIMABLES = {
    "espace_de_largeur_nulle_seul": "\u200b",
    "espace_de_largeur_nulle_dedans": "Ma\u200brtin",
    "antiliant_de_largeur_nulle": "Ma\u200crtin",
    "liant_de_largeur_nulle": "Ma\u200drtin",
    "gluon_de_mots": "Ma\u2060rtin",
    "indicateur_d_ordre_des_octets": "\ufeffMartin",
    "cesure_conditionnelle": "Mar\u00adtin",
    "echappement_ansi": "Du\x1b[31mpont",
    "csi_c1": "Du\x9b31mpont",
    "suppression": "Martin\x7f",
    "nul": "Martin\x00",
    "saut_de_ligne": "Martin\nDupont",
    "tabulation": "Martin\tDupont",
    "retour_chariot_final": "Martin\r",
    "marque_gauche_a_droite": "\u200eMartin",
    "marque_droite_a_gauche": "Martin\u200f",
    "forcage_droite_a_gauche": "Martin\u202eesiuoL",
    "enchassement_gauche_a_droite": "\u202aMartin\u202c",
    "isolat_droite_a_gauche": "Martin\u2067x\u2069",
    "marque_de_lettre_arabe": "Martin\u061c",
    "separateur_de_ligne": "Martin\u2028Dupont",
    "separateur_de_paragraphe": "Martin\u2029",
    "etiquette_unicode": "Martin\U000e0041",
    "remplissage_hangul_seul": "\u3164",
    "braille_vide_seul": "\u2800",
    "accent_combinant_seul": "\u0301",
    "espaces_seulement": "   ",
    "espace_insecable_seule": "\u00a0",
    "vide": "",
}


@pytest.mark.parametrize("texte", TEXTES, ids=lambda t: t.nom)
async def test_a_text_that_does_not_print_is_a_422_naming_its_field_on_every_command(
    api: Api, parcours_id: str, texte: Texte
) -> None:
    avant = await evenements(api, parcours_id)
    notifications = api.application.recorder.max_notification_id()

    for nom, valeur in NON_IMPRIMABLES.items():
        reponse = await api.post(texte.chemin(parcours_id), texte.corps(valeur))

        assert champs_en_erreur(reponse) == [texte.champ], (nom, reponse.text)

    assert await evenements(api, parcours_id) == avant
    assert api.application.recorder.max_notification_id() == notifications, "nothing recorded anywhere"


async def test_each_bad_text_of_a_body_gets_its_own_entry(api: Api) -> None:
    reponse = await api.post(
        "/v1/parcours",
        _ouverture(personne={**PERSONNE, "nom": "\u200b", "prenoms": "L\u202eéa"}, referent_id="r\x1b"),
    )

    assert sorted(champs_en_erreur(reponse)) == ["personne.nom", "personne.prenoms", "referent_id"]


async def test_the_refusal_names_the_character_without_echoing_it(api: Api) -> None:
    reponse = await api.post("/v1/parcours", _ouverture(personne={**PERSONNE, "nom": "Du\x1b[2Jpont"}))

    (erreur,) = reponse.json()["errors"]
    assert erreur["champ"] == "personne.nom"
    assert "U+001B" in erreur["message"]
    assert "Dupont" not in reponse.text
    assert "\\u001b" not in reponse.text.lower()


# -- the faults seen, through the API ----------------------------------------------------------


async def _nom_refuse(api: Api, nom: str) -> None:
    notifications = api.application.recorder.max_notification_id()

    reponse = await api.post("/v1/parcours", _ouverture(personne={**PERSONNE, "nom": nom}))

    assert champs_en_erreur(reponse) == ["personne.nom"]
    assert api.application.recorder.max_notification_id() == notifications, "no identity, no parcours recorded"


async def test_a_name_made_only_of_a_zero_width_space_is_refused(api: Api) -> None:
    """Fault seen: a name made only of a zero-width space is accepted (a child recorded without a name)."""
    await _nom_refuse(api, "\u200b")


async def test_a_name_holding_an_ansi_escape_is_refused(api: Api) -> None:
    """Fault seen: a name holding an ANSI escape is accepted (it rewrites the terminal of whoever tails a log
    or prints an export)."""
    await _nom_refuse(api, "Dupont\x1b[2J\x1b[H")


async def test_a_name_holding_a_right_to_left_override_is_refused(api: Api) -> None:
    """Fault seen: a name holding a right-to-left override is accepted (it displays reversed: what a caseworker
    reads is not what was recorded)."""
    await _nom_refuse(api, "Martin\u202eesiuoL")


async def test_a_name_sent_decomposed_is_stored_composed(api: Api) -> None:
    """The same name typed on two keyboards (é as one character, or e + U+0301) is one name."""
    decompose = unicodedata.normalize("NFD", "Hélène Lefèvre-Noël")
    assert decompose != "Hélène Lefèvre-Noël"

    corps = await ouvrir(api, OUVERT_LE, personne={**PERSONNE, "nom": "Lefe\u0300vre", "prenoms": decompose})

    (identite,) = api.application.repository.event_store.get(UUID(corps["personne_id"]))
    assert (identite.nom, identite.prenoms) == ("Lefèvre", "Hélène Lefèvre-Noël")
    assert unicodedata.is_normalized("NFC", identite.prenoms)
    assert len(identite.prenoms) < len(decompose)


async def test_every_free_text_is_stored_nfc_normalised_and_stripped(api: Api) -> None:
    pid = str((await ouvrir(api, OUVERT_LE, referent_id="  re\u0301f-1 "))["id"])
    lieu = await api.post(
        "/v1/lieux",
        {"nom": "  Foyer Sainte-Gene\u0300ve ", "type": "foyer_enfance", "departement": "59", "capacite": 3},
    )
    assert lieu.status_code == 201, lieu.text
    mesure_id = await decider_mesure(
        api,
        pid,
        cadre="judiciaire",
        nature="opp",
        autorite="parquet",
        date_debut=date(2026, 10, 2),
        reference="Ordonnance n\u00b0 12 du parquet de Lille, ge\u0301ne\u0301rale",
    )
    rectification = await api.post(
        f"/v1/parcours/{pid}/rectifications",
        {
            "version_rectifiee": 2,
            "champ": "reference_decision",
            "nouvelle_valeur": "OPP-de\u0301cembre",
            "motif": "Erreur ",
        },
    )
    assert rectification.status_code == 200, rectification.text

    ouverture, decision, correction = [e["donnees"] for e in await evenements(api, pid)]
    assert ouverture["referent_id"] == "réf-1"
    assert decision["mesure_id"] == mesure_id
    assert decision["reference_decision"] == "Ordonnance n° 12 du parquet de Lille, générale"
    assert (correction["nouvelle_valeur"], correction["motif"]) == ("OPP-décembre", "Erreur")
    (reference,) = api.application.repository.event_store.get(UUID(lieu.json()["id"]))
    assert reference.nom == "Foyer Sainte-Genève"


@pytest.mark.parametrize(
    "nom",
    [
        "Nguyễn Thị Ánh",
        "محمد بن علي",
        "Ben-David אברהם",
        "李小龍",
        "O'Brien-Dupré",
        "N'Diaye",
        "Marie\u00a0Claire",
        "Zoé 🙂",
        "Ἀλέξανδρος",
    ],
)
async def test_a_printable_name_in_any_script_is_recorded_as_sent(api: Api, nom: str) -> None:
    corps = await ouvrir(api, OUVERT_LE, personne={**PERSONNE, "nom": nom})

    (identite,) = api.application.repository.event_store.get(UUID(corps["personne_id"]))
    assert identite.nom == unicodedata.normalize("NFC", nom)
