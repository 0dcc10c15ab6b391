"""One child's whole parcours through the real write side, with the deadline engine and the scheduler
beside it on the same clock: each alert on its day (never the day before), moved by a correction or a
renewal, closed when the awaited fact is recorded, escalated the day after a due date passed unmet.

Inès, born 20 January 2010: reported by her school at 13, placed by the parquet, entrusted to the
ASE by the juge des enfants, interviewed about autonomy at 16½, of age, supported as a young adult,
leaves care. After each step the engine catches up with the store and the scheduler ticks: the test
reads what the outbox received that day (event, deadline type, due date).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from services.notifications import sorties
from services.notifications.echeancier import SCHEMA_ECHEANCES
from tests.integration.api_parcours import a_la_date
from tests.integration.conftest import Api
from tests.integration.notifications_outils import Echeancier, echeancier_de

NEE_LE = date(2010, 1, 20)
REFERENTE = "referente-claire"
RELAIS = "referent-hugo"
CHEFFE = "encadrante-nadia"

LEVEE, ESCALADEE, CLOSE, REAFFECTEE = "alerte_levee", "alerte_escaladee", "alerte_close", "alerte_reaffectee"


class Recit:
    def __init__(self, api: Api, e: Echeancier) -> None:
        self.api = api
        self.e = e
        self.p = ""

    async def le(
        self, jour: date, chemin: str, corps: dict[str, Any], *, role: str = "referent", sub: str = REFERENTE
    ) -> dict[str, Any]:
        """Record a step on ``jour`` through the write side's API."""
        a_la_date(self.api, jour)
        reponse = await self.api.post(
            chemin.replace("{p}", f"/v1/parcours/{self.p}"), corps, **self.api.jeton(role=role, sub=sub)
        )
        assert reponse.status_code in (200, 201), reponse.text
        resultat: dict[str, Any] = reponse.json()
        return resultat


async def test_each_deadline_of_ines_raises_moves_closes_and_escalates_on_its_day(
    api: Api, base_url: str, tmp_path: Path
) -> None:
    async with echeancier_de(api, base_url, tmp_path / "cles") as e:
        r = Recit(api, e)

        # -- January 2024: the school reports; three months to assess it ---------------------------------
        ouvert = await r.le(
            date(2024, 1, 8),
            "/v1/parcours",
            {
                "personne": {
                    "nom": "Benali",
                    "prenoms": "Inès Sarah",
                    "date_naissance": NEE_LE.isoformat(),
                    "sexe": "F",
                },
                "departement": "59",
                "date_effet": "2024-01-08",
                "referent_id": REFERENTE,
            },
        )
        r.p = ouvert["id"]
        ip = await r.le(
            date(2024, 1, 8),
            "{p}/informations-preoccupantes",
            {"origine": "education_nationale", "dangers": ["violences_physiques"], "date_effet": "2024-01-08"},
        )
        assert await e.au(date(2024, 1, 8)) == []
        assert await e.minuteries() == {
            "evaluation_ip": ("2024-03-08", "2024-04-08"),
            "majorite": ("2028-01-20", "2028-01-20"),  # the birth date came from the identity topic
        }

        # -- the parquet places her: seize the judge within 8 days, a ruling within 15 (urgent, at once) -------
        mecs = (
            await r.le(
                date(2024, 1, 10),
                "/v1/lieux",
                {"nom": "MECS Les Peupliers", "type": "mecs", "departement": "59", "capacite": 24},
                role="encadrant",
                sub=CHEFFE,
            )
        )["id"]
        opp = (
            await r.le(
                date(2024, 1, 10),
                "{p}/mesures",
                {
                    "cadre": "judiciaire",
                    "nature": "opp",
                    "autorite": "parquet",
                    "reference_decision": "PARQUET-2024-0113",
                    "date_debut": "2024-01-10",
                    "date_effet": "2024-01-10",
                },
            )
        )["mesure_id"]
        await r.le(date(2024, 1, 10), "{p}/accueil", {"mesure_id": opp, "lieu_id": mecs, "date_effet": "2024-01-10"})
        assert await e.au(date(2024, 1, 10)) == [
            (LEVEE, "decision_juge_des_enfants", "2024-01-25"),
            (LEVEE, "saisine_juge_des_enfants", "2024-01-18"),
        ]
        assert await e.au(date(2024, 1, 18)) == [], "due today: not escalated yet"
        assert await e.au(date(2024, 1, 19)) == [(ESCALADEE, "saisine_juge_des_enfants", "2024-01-18")]

        # -- the juge des enfants entrusts her to the ASE: the OPP's deadlines close ---------------------------
        confiage = await r.le(
            date(2024, 1, 24),
            "{p}/mesures",
            {
                "cadre": "judiciaire",
                "nature": "confiage_ase",
                "autorite": "juge_des_enfants",
                "reference_decision": "JE-2024-0057",
                "date_debut": "2024-01-24",
                "date_echeance": "2026-01-23",
                "date_effet": "2024-01-24",
            },
        )
        await r.le(date(2024, 1, 24), f"{{p}}/mesures/{opp}/levee", {"motif": "mainlevee", "date_effet": "2024-01-24"})
        assert (await e.au(date(2024, 1, 24))) == [
            (CLOSE, "decision_juge_des_enfants", "2024-01-25"),
            (CLOSE, "saisine_juge_des_enfants", "2024-01-18"),
        ]

        # -- the IP's assessment and the PPE: raised a month ahead, on the day --------------------------------
        assert await e.au(date(2024, 3, 7)) == []
        assert await e.au(date(2024, 3, 8)) == [(LEVEE, "evaluation_ip", "2024-04-08")]
        assert await e.au(date(2024, 3, 9)) == []
        assert await e.au(date(2024, 3, 10)) == [(LEVEE, "ppe", "2024-04-10")]
        await r.le(date(2024, 3, 20), "{p}/ppe", {"date_effet": "2024-03-20"})
        assert await e.au(date(2024, 3, 20)) == [(CLOSE, "ppe", "2024-04-10")]
        assert await e.au(date(2024, 4, 8)) == []
        assert await e.au(date(2024, 4, 9)) == [(ESCALADEE, "evaluation_ip", "2024-04-08")]
        await r.le(
            date(2024, 4, 10),
            "{p}/evaluations",
            {"ip_id": ip["ip_id"], "suite": "saisine_judiciaire", "date_effet": "2024-04-10"},
        )
        assert await e.au(date(2024, 4, 10)) == [(CLOSE, "evaluation_ip", "2024-04-08")]

        # -- the yearly report, counted from the confiage ---------------------------------------------------
        assert await e.au(date(2024, 12, 23)) == []
        assert await e.au(date(2024, 12, 24)) == [(LEVEE, "rapport_situation", "2025-01-24")]
        await r.le(date(2025, 1, 20), "{p}/rapports", {"transmis_au_juge": True, "date_effet": "2025-01-20"})
        assert await e.au(date(2025, 1, 20)) == [(CLOSE, "rapport_situation", "2025-01-24")]

        # -- the measure's échéance: raised two months ahead, moved by a correction, then by a renewal --------
        assert await e.au(date(2025, 11, 22)) == []
        assert await e.au(date(2025, 11, 23)) == [(LEVEE, "echeance_mesure", "2026-01-23")]
        await r.le(
            date(2025, 11, 25),
            "{p}/rectifications",
            {
                "version_rectifiee": confiage["version"],
                "champ": "date_echeance",
                "nouvelle_valeur": "2025-12-23",
                "motif": "erreur de saisie",
            },
        )
        assert await e.au(date(2025, 11, 25)) == [
            (CLOSE, "echeance_mesure", "2026-01-23"),
            (LEVEE, "echeance_mesure", "2025-12-23"),  # its alert date (23 October) has passed: at once
        ]
        await r.le(
            date(2025, 12, 10),
            f"{{p}}/mesures/{confiage['mesure_id']}/renouvellement",
            {"nouvelle_echeance": "2027-12-23", "reference_decision": "JE-2025-0042", "date_effet": "2025-12-10"},
        )
        assert await e.au(date(2025, 12, 10)) == [(CLOSE, "echeance_mesure", "2025-12-23")]
        assert (await e.minuteries())["echeance_mesure"] == ("2027-10-23", "2027-12-23")

        assert await e.au(date(2025, 12, 20)) == [(LEVEE, "rapport_situation", "2026-01-20")]
        await r.le(date(2026, 1, 15), "{p}/rapports", {"transmis_au_juge": True, "date_effet": "2026-01-15"})
        assert await e.au(date(2026, 1, 15)) == [(CLOSE, "rapport_situation", "2026-01-20")]

        # -- at 16½ the entretien d'autonomie ---------------------------------------------------------------
        assert await e.au(date(2026, 7, 19)) == []
        assert await e.au(date(2026, 7, 20)) == [(LEVEE, "entretien_autonomie", "2027-01-20")]
        await r.le(date(2026, 7, 21), "{p}/entretien-autonomie", {"date_effet": "2026-07-21"})
        assert await e.au(date(2026, 7, 21)) == [(CLOSE, "entretien_autonomie", "2027-01-20")]

        # -- a new référent: the open alert follows the dossier ----------------------------------------------
        assert await e.au(date(2026, 12, 15)) == [(LEVEE, "rapport_situation", "2027-01-15")]
        await r.le(
            date(2027, 1, 11),
            "{p}/referent",
            {"referent_id": RELAIS, "date_effet": "2027-01-11"},
            role="encadrant",
            sub=CHEFFE,
        )
        assert await e.au(date(2027, 1, 11)) == [(REAFFECTEE, "rapport_situation", "2027-01-15")]
        a_hugo = (await e.get("/v1/alertes", sub=RELAIS, referent_id=RELAIS)).json()["alertes"]
        assert [(a["type"], a["referent_id"]) for a in a_hugo] == [("rapport_situation", RELAIS)]
        assert (await e.get("/v1/alertes", sub=REFERENTE, referent_id=REFERENTE)).json()["alertes"] == []
        await r.le(
            date(2027, 1, 14), "{p}/rapports", {"transmis_au_juge": True, "date_effet": "2027-01-14"}, sub=RELAIS
        )
        assert await e.au(date(2027, 1, 14)) == [(CLOSE, "rapport_situation", "2027-01-15")]

        # -- at 17½ prepare majority; the renewed échéance; a report left overdue -----------------------------
        assert await e.au(date(2027, 7, 19)) == []
        assert await e.au(date(2027, 7, 20)) == [(LEVEE, "preparation_majorite", "2028-01-20")]
        assert await e.au(date(2027, 10, 22)) == []
        assert await e.au(date(2027, 10, 23)) == [(LEVEE, "echeance_mesure", "2027-12-23")]
        assert await e.au(date(2027, 12, 14)) == [(LEVEE, "rapport_situation", "2028-01-14")]
        await r.le(
            date(2027, 12, 20),
            f"{{p}}/mesures/{confiage['mesure_id']}/renouvellement",
            {"nouvelle_echeance": "2028-06-30", "reference_decision": "JE-2027-0099", "date_effet": "2027-12-20"},
            sub=RELAIS,
        )
        assert await e.au(date(2027, 12, 20)) == [(CLOSE, "echeance_mesure", "2027-12-23")]
        assert await e.au(date(2028, 1, 14)) == []
        assert await e.au(date(2028, 1, 15)) == [(ESCALADEE, "rapport_situation", "2028-01-14")]

        # -- 20 January 2028: majority; recorded two days late, it closes what it ends -------------------------
        assert await e.au(date(2028, 1, 19)) == []
        assert await e.au(date(2028, 1, 20)) == [(LEVEE, "majorite", "2028-01-20")]
        assert (await e.au(date(2028, 1, 21))) == [
            (ESCALADEE, "majorite", "2028-01-20"),
            (ESCALADEE, "preparation_majorite", "2028-01-20"),
        ]
        await r.le(date(2028, 1, 22), "{p}/majorite", {}, sub=RELAIS)
        assert (await e.au(date(2028, 1, 22))) == [
            (CLOSE, "majorite", "2028-01-20"),
            (CLOSE, "preparation_majorite", "2028-01-20"),
            (CLOSE, "rapport_situation", "2028-01-14"),
            (ESCALADEE, "proposition_accompagnement_jeune_majeur", "2028-01-20"),
            (LEVEE, "proposition_accompagnement_jeune_majeur", "2028-01-20"),
        ], "of age: the measure ends with the placement; an APJM was to be offered on the birthday"
        closes = (await e.get("/v1/alertes", statut="close", sub=RELAIS)).json()["alertes"]
        (majorite,) = [a for a in closes if a["type"] == "majorite"]
        assert (majorite["due_le"], majorite["mois_du"]) == (None, "2028-01")
        assert majorite["close_le"] == majorite["escaladee_le"] == "2028-01-01T00:00:00Z", "no day of the birthday"
        assert await e.minuteries() == {"proposition_accompagnement_jeune_majeur": ("2028-01-20", "2028-01-20")}

        # -- the contrat jeune majeur: its end alerted two months ahead, moved by a renewal --------------------
        # Its dates are dated by the 18th birthday: the public topic carries their month only, and the engine
        # reads no restricted topic, so the end is due on the first day of its month (never later than the
        # real end: the alert comes early, never late).
        await r.le(
            date(2028, 1, 25),
            "{p}/accompagnement-jeune-majeur",
            {"date_debut": "2028-01-20", "date_fin": "2029-01-19", "date_effet": "2028-01-25"},
            sub=RELAIS,
        )
        assert await e.au(date(2028, 1, 25)) == [(CLOSE, "proposition_accompagnement_jeune_majeur", "2028-01-20")]
        assert await e.au(date(2028, 10, 31)) == []
        assert await e.au(date(2028, 11, 1)) == [(LEVEE, "fin_accompagnement_jeune_majeur", "2029-01-01")]
        await r.le(
            date(2028, 12, 10),
            "{p}/accompagnement-jeune-majeur/renouvellement",
            {"date_fin": "2030-01-19", "date_effet": "2028-12-10"},
            sub=RELAIS,
        )
        assert await e.au(date(2028, 12, 10)) == [(CLOSE, "fin_accompagnement_jeune_majeur", "2029-01-01")]
        assert await e.au(date(2029, 10, 31)) == []
        assert await e.au(date(2029, 11, 1)) == [(LEVEE, "fin_accompagnement_jeune_majeur", "2030-01-01")]
        assert await e.au(date(2030, 1, 1)) == []
        assert await e.au(date(2030, 1, 2)) == [(ESCALADEE, "fin_accompagnement_jeune_majeur", "2030-01-01")]
        await r.le(
            date(2030, 1, 19),
            "{p}/accompagnement-jeune-majeur/fin",
            {"motif": "terme", "date_effet": "2030-01-19"},
            sub=RELAIS,
        )
        # -- she leaves care: three years of priority for social housing, to know, never escalated -------------
        await r.le(
            date(2030, 1, 19),
            "{p}/sortie",
            {
                "motif": "fin_accompagnement_jeune_majeur",
                "situation_logement": "logement_social",
                "date_effet": "2030-01-19",
            },
            sub=RELAIS,
        )
        assert await e.au(date(2030, 1, 19)) == [
            (CLOSE, "fin_accompagnement_jeune_majeur", "2030-01-01"),
            (LEVEE, "priorite_logement_social", "2033-01-19"),
        ]
        logement = (await e.get("/v1/alertes", sub=RELAIS)).json()["alertes"]
        assert [(a["type"], a["informative"], a["urgente"]) for a in logement] == [
            ("priorite_logement_social", True, False)
        ]
        assert await e.au(date(2033, 1, 19)) == []
        assert len((await e.get("/v1/alertes", sub=RELAIS)).json()["alertes"]) == 1, "its window's last day"
        assert await e.au(date(2033, 1, 20)) == [], "informative: never escalated"
        assert (await e.get("/v1/alertes", sub=RELAIS)).json()["alertes"] == [], "the window has ended"

        # -- every alert raised once; no name nor birth date went out; nothing dead-lettered ------------------
        async with e.comp.pool.acquire() as conn:
            levees = await conn.fetch(
                f"SELECT alerte_id, count(*) AS n FROM {sorties.SCHEMA}.sorties WHERE evenement = $1 GROUP BY alerte_id",
                LEVEE,
            )
            corps = await conn.fetch(f"SELECT alerte::text AS a FROM {sorties.SCHEMA}.sorties")
            lettres = await conn.fetchval(f"SELECT count(*) FROM {SCHEMA_ECHEANCES}.lettres_mortes")
            ouvertes = await conn.fetch(
                f"SELECT type, statut, niveau FROM {sorties.SCHEMA}.alertes WHERE statut <> 'close'"
            )
        assert len(levees) == 18
        assert all(ligne["n"] == 1 for ligne in levees)
        assert not any("Benali" in c["a"] or "Inès" in c["a"] or NEE_LE.isoformat() in c["a"] for c in corps)
        assert lettres == 0
        assert [tuple(o) for o in ouvertes] == [("priorite_logement_social", "ouverte", "referent")]


async def test_a_derogatory_stay_alerts_its_two_month_limit_and_an_erasure_closes_the_deadlines_of_age(
    api: Api, base_url: str, tmp_path: Path
) -> None:
    async with echeancier_de(api, base_url, tmp_path / "cles") as e:
        r = Recit(api, e)
        ouvert = await r.le(
            date(2024, 6, 3),
            "/v1/parcours",
            {
                "personne": {"nom": "Morel", "prenoms": "Yanis", "date_naissance": "2008-03-15", "sexe": "M"},
                "departement": "59",
                "date_effet": "2024-06-03",
                "referent_id": REFERENTE,
            },
        )
        r.p = ouvert["id"]
        lieux = [
            (
                await r.le(
                    date(2024, 6, 3),
                    "/v1/lieux",
                    {"nom": nom, "type": type_, "departement": "59", "capacite": 10},
                    role="encadrant",
                    sub=CHEFFE,
                )
            )["id"]
            for nom, type_ in (("Résidence Jeunes", "hebergement_derogatoire"), ("MECS Les Saules", "mecs"))
        ]
        confiage = await r.le(
            date(2024, 6, 3),
            "{p}/mesures",
            {
                "cadre": "judiciaire",
                "nature": "confiage_ase",
                "autorite": "juge_des_enfants",
                "reference_decision": "JE-2024-0301",
                "date_debut": "2024-06-03",
                "date_echeance": "2025-06-02",
                "date_effet": "2024-06-03",
            },
        )
        await r.le(
            date(2024, 6, 3),
            "{p}/accueil",
            {"mesure_id": confiage["mesure_id"], "lieu_id": lieux[0], "date_effet": "2024-06-03"},
        )
        assert await e.au(date(2024, 6, 3)) == []
        assert (await e.minuteries())["limite_hebergement_derogatoire"] == ("2024-07-19", "2024-08-03")
        assert await e.au(date(2024, 7, 18)) == []
        assert await e.au(date(2024, 7, 19)) == [(LEVEE, "limite_hebergement_derogatoire", "2024-08-03")]
        await r.le(
            date(2024, 7, 25),
            "{p}/accueil/changement",
            {"lieu_id": lieux[1], "motif": "besoin_enfant", "date_effet": "2024-07-25"},
        )
        assert await e.au(date(2024, 7, 25)) == [(CLOSE, "limite_hebergement_derogatoire", "2024-08-03")]
        assert await e.au(date(2024, 8, 3)) == [(LEVEE, "ppe", "2024-09-03")]
        assert await e.au(date(2024, 9, 14)) == [(ESCALADEE, "ppe", "2024-09-03")], "no PPE yet"
        assert await e.au(date(2024, 9, 15)) == [(LEVEE, "entretien_autonomie", "2025-03-15")]

        # The DPO erases him: his birth date leaves the engine, and with it every deadline of age.
        a_la_date(api, date(2024, 9, 16))
        efface = await api.client.post(
            f"/v1/personnes/{ouvert['personne_id']}/effacement",
            json={"motif": "fin_de_conservation"},
            headers=api.jeton("dpo", ("59",), sub="dpo-59"),
        )
        assert efface.status_code == 200, efface.text
        assert await e.au(date(2024, 9, 16)) == [(CLOSE, "entretien_autonomie", "2025-03-15")]
        assert set(await e.minuteries()) == {"ppe", "rapport_situation", "echeance_mesure"}
        async with e.comp.pool.acquire() as conn:
            assert await conn.fetchval(f"SELECT count(*) FROM {SCHEMA_ECHEANCES}.naissances") == 0
