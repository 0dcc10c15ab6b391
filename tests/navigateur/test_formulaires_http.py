"""The forms' POST handlers without a browser: httpx against the running server, signed in through the page."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import date, timedelta

import httpx
import pytest

from tests.navigateur.donnees_formulaires import DEPARTEMENT, client, enfant_sous_mesure, types
from tests.navigateur.outils import Serveur, commande, referencer_lieu

CHAMP_CACHE = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


def champs_caches(corps: str) -> dict[str, str]:
    return {nom: html.unescape(valeur) for nom, valeur in CHAMP_CACHE.findall(corps)}


def connecte(serveur: Serveur, role: str = "referent") -> httpx.Client:
    """A client holding a session of ``role`` in :data:`DEPARTEMENT`, signed in through the dev sign-in page."""
    navigateur = httpx.Client(base_url=serveur.url, timeout=30)
    formulaire = champs_caches(navigateur.get("/pages/connexion").text)
    reponse = navigateur.post(
        "/pages/connexion",
        data={"csrf": formulaire["csrf"], "role": role, "departements": DEPARTEMENT, "retour": "/pages/"},
    )
    assert reponse.status_code == 303, reponse.text
    return navigateur


@pytest.fixture
def navigateur_http(serveur: Serveur) -> Iterator[httpx.Client]:
    navigateur = connecte(serveur)
    yield navigateur
    navigateur.close()


def formulaire(navigateur: httpx.Client, parcours_id: str, slug: str) -> tuple[str, dict[str, str]]:
    """The form's address and its hidden fields (csrf, version, cle_idempotence)."""
    adresse = f"/pages/dossiers/{parcours_id}/actions/{slug}"
    reponse = navigateur.get(adresse)
    assert reponse.status_code == 200, reponse.text
    return adresse, champs_caches(reponse.text)


def test_a_recorded_command_redirects_to_the_dossier_with_a_confirmation_flag(
    serveur: Serveur, navigateur_http: httpx.Client
) -> None:
    enfant = enfant_sous_mesure(client(serveur))
    adresse, caches = formulaire(navigateur_http, enfant.parcours_id, "ppe")

    reponse = navigateur_http.post(adresse, data={**caches, "date_effet": date.today().isoformat()})

    assert reponse.status_code == 303, reponse.text
    assert reponse.headers["location"] == f"/pages/dossiers/{enfant.parcours_id}?enregistre=ppe"
    assert types(client(serveur), enfant.parcours_id)[-1] == "PPEEtabli"


def test_a_post_without_the_csrf_token_is_refused_and_records_nothing(
    serveur: Serveur, navigateur_http: httpx.Client
) -> None:
    enfant = enfant_sous_mesure(client(serveur))
    adresse, caches = formulaire(navigateur_http, enfant.parcours_id, "ppe")

    reponse = navigateur_http.post(adresse, data={**caches, "csrf": "faux", "date_effet": date.today().isoformat()})

    assert reponse.status_code == 403
    assert "PPEEtabli" not in types(client(serveur), enfant.parcours_id)


def test_a_date_in_the_future_is_a_409_shown_next_to_the_date(serveur: Serveur, navigateur_http: httpx.Client) -> None:
    enfant = enfant_sous_mesure(client(serveur))
    adresse, caches = formulaire(navigateur_http, enfant.parcours_id, "ppe")

    demain = (date.today() + timedelta(days=1)).isoformat()
    reponse = navigateur_http.post(adresse, data={**caches, "date_effet": demain})

    assert reponse.status_code == 409
    texte = html.unescape(reponse.text)
    assert '<p id="champ-date-effet-erreur" class="champ__erreur">Cette date est dans le futur' in texte
    assert re.search(
        rf'<input type="date" id="champ-date-effet" name="date_effet" value="{demain}" required aria-invalid="true" '
        r'aria-describedby="champ-date-effet-erreur champ-date-effet-aide">',
        texte,
    ), texte
    assert champs_caches(reponse.text)["cle_idempotence"] != caches["cle_idempotence"], "a new attempt, a new key"


def test_a_rule_with_no_field_of_its_own_goes_to_the_summary(serveur: Serveur, navigateur_http: httpx.Client) -> None:
    enfant = enfant_sous_mesure(client(serveur))
    adresse, caches = formulaire(navigateur_http, enfant.parcours_id, "fin-accueil")

    reponse = navigateur_http.post(
        adresse, data={**caches, "motif": "retour_en_famille", "date_effet": date.today().isoformat()}
    )

    assert reponse.status_code == 409
    resume = html.unescape(reponse.text).split('id="resume-erreurs"', 1)[1].split("</div>", 1)[0]
    assert "Aucun accueil n'est en cours dans ce dossier." in resume
    assert 'aria-invalid="true"' not in reponse.text


def test_a_measure_left_unchosen_or_unknown_is_shown_next_to_the_measure(
    serveur: Serveur, navigateur_http: httpx.Client
) -> None:
    enfant = enfant_sous_mesure(client(serveur))
    adresse, caches = formulaire(navigateur_http, enfant.parcours_id, "levee")
    corps = {**caches, "motif": "mainlevee", "date_effet": date.today().isoformat()}

    sans_mesure = navigateur_http.post(adresse, data={**corps, "mesure_id": ""})
    mesure_invalide = navigateur_http.post(adresse, data={**corps, "mesure_id": "pas-une-mesure"})

    for reponse in (sans_mesure, mesure_invalide):
        assert reponse.status_code == 422
        assert 'id="champ-mesure-id-erreur"' in reponse.text
        assert 'value="mainlevee" selected' in reponse.text, "the values entered are kept"
    assert "MesureLevee" not in types(client(serveur), enfant.parcours_id)


def test_a_stale_version_is_a_409_asking_to_reload_and_an_encadrant_records_too(serveur: Serveur) -> None:
    api = client(serveur)
    enfant = enfant_sous_mesure(api)
    encadrant = connecte(serveur, "encadrant")
    adresse, caches = formulaire(encadrant, enfant.parcours_id, "rapport")
    commande(api, f"/v1/parcours/{enfant.parcours_id}/ppe", {"date_effet": date.today().isoformat()})

    perimee = encadrant.post(adresse, data={**caches, "date_effet": date.today().isoformat()})
    _, a_jour = formulaire(encadrant, enfant.parcours_id, "rapport")
    rechargee = encadrant.post(adresse, data={**a_jour, "date_effet": date.today().isoformat()})
    encadrant.close()

    assert perimee.status_code == 409
    assert "Quelqu'un a modifié ce dossier entre-temps : rechargez la page." in html.unescape(perimee.text)
    assert f'href="{adresse}"' in perimee.text
    assert rechargee.status_code == 303
    assert types(api, enfant.parcours_id).count("RapportSituationProduit") == 1


def test_lifting_the_measure_an_accueil_rests_on_asks_for_the_end_of_the_accueil_then_records_both(
    serveur: Serveur, navigateur_http: httpx.Client
) -> None:
    api = client(serveur)
    enfant = enfant_sous_mesure(api)
    lieu = referencer_lieu(api, "MECS du Phare", "mecs", 6, DEPARTEMENT)
    commande(
        api,
        f"/v1/parcours/{enfant.parcours_id}/accueil",
        {"mesure_id": enfant.mesure_id, "lieu_id": lieu, "date_effet": date.today().isoformat()},
    )
    adresse, caches = formulaire(navigateur_http, enfant.parcours_id, "levee")
    corps = {**caches, "mesure_id": enfant.mesure_id, "motif": "mainlevee", "date_effet": date.today().isoformat()}

    refusee = navigateur_http.post(adresse, data=corps)
    acceptee = navigateur_http.post(adresse, data={**corps, "motif_fin_accueil": "retour_en_famille"})

    assert refusee.status_code == 409
    assert (
        "choisissez ici le motif de la fin de l'accueil"
        in html.unescape(refusee.text).split('id="champ-motif-fin-accueil-erreur"', 1)[1].split("</p>", 1)[0]
    )
    assert acceptee.status_code == 303, acceptee.text
    assert types(api, enfant.parcours_id)[-2:] == ["AccueilTermine", "MesureLevee"]
