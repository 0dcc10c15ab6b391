"""The enumerations of API.md, exactly: every listed value is accepted, anything else is a 422 naming its field."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
import pytest_asyncio

from tests.integration.api_parcours import (
    DEPARTEMENTS,
    api_sur_une_base_neuve,
    champs_en_erreur,
    decider_mesure,
    evenements,
    ouvrir,
    referencer_lieu,
)
from tests.integration.conftest import Api

SEXES = ["F", "M", "X"]
TYPES_LIEU = [
    "assistant_familial",
    "mecs",
    "foyer_enfance",
    "pouponniere",
    "lieu_de_vie",
    "village_enfants",
    "tiers_digne_de_confiance",
    "placement_domicile",
    "logement_autonome",
    "hotel",
    "hebergement_derogatoire",
]
ORIGINES = [
    "education_nationale",
    "sante",
    "police_gendarmerie",
    "service_social",
    "famille",
    "mineur",
    "appel_119",
    "anonyme",
    "autre",
]
DANGERS = [
    "violences_physiques",
    "violences_psychologiques",
    "violences_sexuelles",
    "negligences",
    "conditions_education",
    "autre",
]
SUITES = ["classement", "accompagnement_administratif", "saisine_judiciaire"]
MOTIFS_LEVEE = ["mainlevee", "echeance", "majorite", "autre"]
MOTIFS_FIN_ACCUEIL = ["retour_en_famille", "fin_de_mesure", "majorite", "autre"]
MOTIFS_CHANGEMENT = ["besoin_enfant", "rupture", "fin_agrement", "rapprochement_familial", "autre"]
MOTIFS_SORTIE = [
    "majorite_sans_accompagnement",
    "fin_accompagnement_jeune_majeur",
    "retour_en_famille",
    "adoption",
    "demenagement",
    "deces",
    "autre",
]
SITUATIONS_LOGEMENT = [
    "logement_autonome",
    "logement_social",
    "famille",
    "foyer_jeunes_travailleurs",
    "heberge_tiers",
    "sans_solution",
    "inconnue",
]
MOTIFS_FIN_APJM = ["terme", "demande_du_jeune", "rupture", "autre"]

# Each test works on parcours of its own: the module shares one service and database.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    async with api_sur_une_base_neuve(postgres_url, tmp_path_factory.mktemp("cles")) as partagee:
        yield partagee


OUVERT_LE = date(2026, 10, 1)
JOUR = "2026-10-02"
UN_ID = str(uuid.UUID(int=1))

# -- 422 for anything outside an enumeration ----------------------------------------------------


@dataclass(frozen=True)
class Champ:
    """An enumerated field: where it is sent, a body valid but for it, the values it must refuse."""

    nom: str
    chemin: str
    corps: dict[str, Any]
    cle: tuple[str, ...]
    refusees: tuple[Any, ...]
    champ: str = ""

    @property
    def nomme(self) -> str:
        return self.champ or ".".join(self.cle)


def _sans(valeur_valide: str) -> tuple[Any, ...]:
    """Values a careless client sends: unknown, wrong case, padded, empty, null, not a string."""
    return ("inconnu", valeur_valide.upper(), f" {valeur_valide}", "", None, 1, [valeur_valide])


PERSONNE = {"nom": "Test", "prenoms": "Enum", "date_naissance": "2012-05-03", "sexe": "F"}
MESURE = {
    "cadre": "judiciaire",
    "nature": "opp",
    "autorite": "parquet",
    "reference_decision": "R",
    "date_debut": JOUR,
    "date_effet": JOUR,
}

CHAMPS = [
    Champ(
        "sexe",
        "/v1/parcours",
        {"personne": PERSONNE, "departement": "59", "date_effet": JOUR},
        ("personne", "sexe"),
        ("f", "m", "H", "U", "", None, 0, "FEMININ"),
    ),
    Champ(
        "departement_parcours",
        "/v1/parcours",
        {"personne": PERSONNE, "departement": "59", "date_effet": JOUR},
        ("departement",),
        ("20", "2a", "2b", "2C", "1", "00", "96", "99", "970", "977", "59 ", "", None, 59),
    ),
    Champ(
        "departement_lieu",
        "/v1/lieux",
        {"nom": "L", "type": "mecs", "departement": "59", "capacite": 3},
        ("departement",),
        ("20", "2a", "0", "100", "975A", "", None),
    ),
    Champ(
        "type_lieu",
        "/v1/lieux",
        {"nom": "L", "type": "mecs", "departement": "59", "capacite": 3},
        ("type",),
        (*_sans("mecs"), "MECS", "famille_d_accueil"),
    ),
    Champ(
        "origine",
        "/informations-preoccupantes",
        {"origine": "sante", "dangers": ["autre"], "date_effet": JOUR},
        ("origine",),
        (*_sans("sante"), "119"),
    ),
    Champ(
        "dangers",
        "/informations-preoccupantes",
        {"origine": "sante", "dangers": ["autre"], "date_effet": JOUR},
        ("dangers",),
        (
            [],
            ["maltraitance"],
            ["negligences", "inconnu"],
            ["NEGLIGENCES"],
            "negligences",
            None,
            ["negligences", "negligences"],
            [*DANGERS, "autre"],
        ),
    ),
    Champ(
        "suite",
        "/evaluations",
        {"ip_id": UN_ID, "suite": "classement", "date_effet": JOUR},
        ("suite",),
        (*_sans("classement"), "mesure_administrative"),
    ),
    Champ("cadre", "/mesures", MESURE, ("cadre",), _sans("judiciaire")),
    Champ("nature", "/mesures", MESURE, ("nature",), (*_sans("opp"), "apjm", "placement")),
    Champ("autorite", "/mesures", MESURE, ("autorite",), (*_sans("parquet"), "juge", "prefet")),
    Champ(
        "motif_levee",
        f"/mesures/{UN_ID}/levee",
        {"motif": "mainlevee", "date_effet": JOUR},
        ("motif",),
        _sans("mainlevee"),
    ),
    Champ(
        "motif_fin_accueil",
        "/accueil/fin",
        {"motif": "autre", "date_effet": JOUR},
        ("motif",),
        (*_sans("retour_en_famille"), "fugue"),
    ),
    Champ(
        "motif_changement",
        "/accueil/changement",
        {"lieu_id": UN_ID, "motif": "rupture", "date_effet": JOUR},
        ("motif",),
        _sans("rupture"),
    ),
    Champ(
        "motif_sortie",
        "/sortie",
        {"motif": "autre", "situation_logement": "famille", "date_effet": JOUR},
        ("motif",),
        (*_sans("adoption"), "majorite"),
    ),
    Champ(
        "situation_logement",
        "/sortie",
        {"motif": "autre", "situation_logement": "famille", "date_effet": JOUR},
        ("situation_logement",),
        (*_sans("famille"), "rue"),
    ),
    Champ(
        "motif_fin_apjm",
        "/accompagnement-jeune-majeur/fin",
        {"motif": "terme", "date_effet": JOUR},
        ("motif",),
        (*_sans("terme"), "majorite"),
    ),
    Champ(
        "departement_destination",
        "/transfert",
        {"departement_destination": "62", "date_effet": JOUR},
        ("departement_destination",),
        ("20", "2a", "96", "977", "", None, 62),
    ),
]


def _avec(corps: dict[str, Any], cle: tuple[str, ...], valeur: Any) -> dict[str, Any]:
    copie = {**corps}
    if len(cle) == 1:
        copie[cle[0]] = valeur
    else:
        copie[cle[0]] = _avec(corps[cle[0]], cle[1:], valeur)
    return copie


@pytest.mark.parametrize("champ", CHAMPS, ids=lambda c: c.nom)
async def test_a_value_outside_the_enumeration_is_a_422_naming_its_field(api: Api, champ: Champ) -> None:
    pid = (await ouvrir(api, OUVERT_LE))["id"]
    chemin = champ.chemin if champ.chemin.startswith("/v1/") else f"/v1/parcours/{pid}{champ.chemin}"
    avant = await evenements(api, pid)
    notifications = api.application.recorder.max_notification_id()

    for valeur in champ.refusees:
        reponse = await api.post(chemin, _avec(champ.corps, champ.cle, valeur))

        champs = champs_en_erreur(reponse)
        assert champs, (valeur, reponse.text)
        assert all(c == champ.nomme or c.startswith(champ.nomme + ".") for c in champs), (valeur, champs)

    assert await evenements(api, pid) == avant
    assert api.application.recorder.max_notification_id() == notifications, "nothing recorded anywhere"


# -- every value listed is accepted ----------------------------------------------------------------


async def test_every_sexe_is_accepted(api: Api) -> None:
    for sexe in SEXES:
        reponse = await api.post(
            "/v1/parcours", {"personne": {**PERSONNE, "sexe": sexe}, "departement": "59", "date_effet": JOUR}
        )
        assert reponse.status_code == 201, (sexe, reponse.text)


async def test_every_departement_code_is_accepted_and_corsica_and_overseas_open_parcours(api: Api) -> None:
    partout = api.jeton(departements=tuple(DEPARTEMENTS))
    for code in DEPARTEMENTS:
        reponse = await api.post(
            "/v1/lieux", {"nom": "L", "type": "mecs", "departement": code, "capacite": 1}, **partout
        )
        assert reponse.status_code == 201, (code, reponse.text)
    for code in ("2A", "2B", "971", "976"):
        reponse = await api.post(
            "/v1/parcours", {"personne": PERSONNE, "departement": code, "date_effet": JOUR}, **partout
        )
        assert reponse.status_code == 201, (code, reponse.text)
        vu = await api.client.get(f"/v1/parcours/{reponse.json()['id']}", headers=partout)
        assert vu.json()["departement"] == code


async def test_a_dossier_may_be_transferred_to_corsica(api: Api) -> None:
    pid = (await ouvrir(api, OUVERT_LE))["id"]

    reponse = await api.post(f"/v1/parcours/{pid}/transfert", {"departement_destination": "2A", "date_effet": JOUR})

    assert reponse.status_code == 200, reponse.text


async def test_every_type_of_lieu_is_accepted(api: Api) -> None:
    for type_lieu in TYPES_LIEU:
        reponse = await api.post("/v1/lieux", {"nom": "L", "type": type_lieu, "departement": "59", "capacite": 2})
        assert reponse.status_code == 201, (type_lieu, reponse.text)


async def test_every_origine_danger_and_suite_is_accepted(api: Api) -> None:
    pid = (await ouvrir(api, OUVERT_LE))["id"]
    ips = []
    for origine in ORIGINES:
        reponse = await api.post(
            f"/v1/parcours/{pid}/informations-preoccupantes",
            {"origine": origine, "dangers": DANGERS, "date_effet": JOUR},
        )
        assert reponse.status_code == 200, (origine, reponse.text)
        ips.append(reponse.json()["ip_id"])
    for ip_id, suite in zip(ips, SUITES, strict=False):
        reponse = await api.post(
            f"/v1/parcours/{pid}/evaluations", {"ip_id": ip_id, "suite": suite, "date_effet": JOUR}
        )
        assert reponse.status_code == 200, (suite, reponse.text)
    donnees = [e["donnees"] for e in await evenements(api, pid) if e["type"] == "InformationPreoccupanteRecue"]
    assert [d["origine"] for d in donnees] == ORIGINES
    assert {tuple(d["dangers"]) for d in donnees} == {tuple(DANGERS)}


async def test_dangers_may_not_repeat_a_value(api: Api) -> None:
    """Fault seen: dangers may repeat a value (the domain silently kept one, the caller never knew)."""
    pid = (await ouvrir(api, OUVERT_LE))["id"]
    avant = await evenements(api, pid)

    reponse = await api.post(
        f"/v1/parcours/{pid}/informations-preoccupantes",
        {"origine": "sante", "dangers": ["negligences", "autre", "negligences"], "date_effet": JOUR},
    )

    assert champs_en_erreur(reponse) == ["dangers"]
    assert "negligences" in reponse.json()["errors"][0]["message"]
    assert await evenements(api, pid) == avant


async def test_every_nature_is_accepted_in_its_cadre_from_its_autorite(api: Api) -> None:
    pid = (await ouvrir(api, OUVERT_LE))["id"]
    debut = date(2026, 10, 2)
    mesures = [
        ("administratif", "accueil_provisoire", "president_cd", date(2027, 4, 1)),
        ("administratif", "aed", "president_cd", date(2027, 4, 1)),
        ("administratif", "accueil_urgence", "president_cd", date(2026, 10, 20)),
        ("administratif", "accueil_72h", "president_cd", date(2026, 10, 5)),
        ("judiciaire", "opp", "parquet", None),
        ("judiciaire", "confiage_ase", "juge_des_enfants", date(2028, 10, 1)),
        ("judiciaire", "aemo", "juge_des_enfants", date(2028, 10, 1)),
        ("judiciaire", "aemo_renforcee", "juge_des_enfants", date(2027, 10, 1)),
        ("judiciaire", "tiers_digne_de_confiance", "juge_aux_affaires_familiales", date(2028, 10, 1)),
        ("judiciaire", "dap", "juge_des_enfants", None),
        ("judiciaire", "tutelle", "juge_des_tutelles", None),
    ]
    for cadre, nature, autorite, echeance in mesures:
        await decider_mesure(
            api, pid, cadre=cadre, nature=nature, autorite=autorite, date_debut=debut, date_echeance=echeance
        )
    vu = (await api.get(f"/v1/parcours/{pid}")).json()
    assert [(m["cadre"], m["nature"], m["autorite"]) for m in vu["mesures"]] == [m[:3] for m in mesures]


async def test_every_motif_of_levee_is_accepted(api: Api) -> None:
    pid = (await ouvrir(api, OUVERT_LE))["id"]
    for motif in MOTIFS_LEVEE:
        mesure_id = await decider_mesure(
            api, pid, nature="aed", date_debut=date(2026, 10, 2), date_echeance=date(2027, 4, 1)
        )
        reponse = await api.post(f"/v1/parcours/{pid}/mesures/{mesure_id}/levee", {"motif": motif, "date_effet": JOUR})
        if motif == "majorite":
            # The value is read; the rule then says a minor's measure does not end "for majority".
            assert (reponse.status_code, reponse.json().get("regle")) == (409, "majorite_pas_encore_atteinte")
            await api.post(f"/v1/parcours/{pid}/mesures/{mesure_id}/levee", {"motif": "autre", "date_effet": JOUR})
            continue
        assert reponse.status_code == 200, (motif, reponse.text)


async def test_every_motif_of_fin_d_accueil_and_of_changement_is_accepted(api: Api) -> None:
    pid = (await ouvrir(api, OUVERT_LE))["id"]
    mesure_id = await decider_mesure(api, pid, date_debut=date(2026, 10, 2), date_echeance=date(2027, 4, 1))
    lieux = [await referencer_lieu(api, "mecs"), await referencer_lieu(api, "assistant_familial")]
    for motif in MOTIFS_FIN_ACCUEIL:
        debut = await api.post(
            f"/v1/parcours/{pid}/accueil", {"mesure_id": mesure_id, "lieu_id": lieux[0], "date_effet": JOUR}
        )
        assert debut.status_code == 200, debut.text
        fin = await api.post(f"/v1/parcours/{pid}/accueil/fin", {"motif": motif, "date_effet": JOUR})
        if motif == "majorite":
            # The value is read; the rule then says a minor's accueil does not end "for majority".
            assert (fin.status_code, fin.json().get("regle")) == (409, "majorite_pas_encore_atteinte")
            fin = await api.post(f"/v1/parcours/{pid}/accueil/fin", {"motif": "autre", "date_effet": JOUR})
        assert fin.status_code == 200, (motif, fin.text)
    await api.post(f"/v1/parcours/{pid}/accueil", {"mesure_id": mesure_id, "lieu_id": lieux[0], "date_effet": JOUR})
    for rang, motif in enumerate(MOTIFS_CHANGEMENT, start=1):
        reponse = await api.post(
            f"/v1/parcours/{pid}/accueil/changement", {"lieu_id": lieux[rang % 2], "motif": motif, "date_effet": JOUR}
        )
        assert reponse.status_code == 200, (motif, reponse.text)


async def test_every_motif_of_sortie_and_situation_de_logement_is_accepted(api: Api) -> None:
    pid = (await ouvrir(api, OUVERT_LE))["id"]
    for motif, situation in zip(MOTIFS_SORTIE, SITUATIONS_LOGEMENT, strict=True):
        sortie = await api.post(
            f"/v1/parcours/{pid}/sortie", {"motif": motif, "situation_logement": situation, "date_effet": JOUR}
        )
        assert sortie.status_code == 200, (motif, situation, sortie.text)
        retour = await api.post(f"/v1/parcours/{pid}/reouverture", {"motif": "retour", "date_effet": JOUR})
        assert retour.status_code == 200, retour.text


async def test_every_motif_of_fin_d_apjm_is_accepted(api: Api) -> None:
    pid = (await ouvrir(api, date(2025, 10, 1), date_naissance=date(2008, 6, 15)))["id"]
    majorite = await api.post(f"/v1/parcours/{pid}/majorite", {})
    assert majorite.status_code == 200, majorite.text
    for motif in MOTIFS_FIN_APJM:
        accord = await api.post(
            f"/v1/parcours/{pid}/accompagnement-jeune-majeur",
            {"date_debut": "2026-11-01", "date_fin": "2027-10-31", "date_effet": "2026-11-02"},
        )
        assert accord.status_code == 200, accord.text
        fin = await api.post(
            f"/v1/parcours/{pid}/accompagnement-jeune-majeur/fin", {"motif": motif, "date_effet": "2026-11-02"}
        )
        assert fin.status_code == 200, (motif, fin.text)
