"""Builders for the pilotage read tests: a référent of one département recording a population.

Each builder sends one command through the real write API and asserts it was
accepted, so a broken setup fails where it breaks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import httpx

from contracts.vocabulaire import Nature
from droit.calendrier import ajouter
from droit.regles import ECHEANCE_REQUISE
from tests.integration.api_parcours import NE_LE, NOM, PRENOMS
from tests.integration.conftest import AUJOURD_HUI, Api


@dataclass
class Referent:
    """A référent of ``departement`` writing through ``api``."""

    api: Api
    departement: str = "59"

    async def envoyer(self, chemin: str, corps: dict[str, Any]) -> dict[str, Any]:
        reponse = await self.api.client.post(
            chemin, json=corps, headers=self.api.jeton("referent", (self.departement,))
        )
        assert reponse.status_code in (200, 201), reponse.text
        resultat: dict[str, Any] = reponse.json()
        return resultat

    async def lieu(self, type_lieu: str = "mecs", capacite: int = 10, nom: str = "MECS Les Tilleuls") -> str:
        """A lieu referenced on 2025-01-02, before every placement of the tests."""
        self.api.horloge.regler(datetime.combine(date(2025, 1, 2), time(10), tzinfo=UTC))
        try:
            corps = await self.envoyer(
                "/v1/lieux", {"nom": nom, "type": type_lieu, "departement": self.departement, "capacite": capacite}
            )
        finally:
            self.api.horloge.regler(AUJOURD_HUI)
        return str(corps["id"])

    async def ouvrir(self, jour: date, ne_le: date = NE_LE, sexe: str = "F") -> dict[str, Any]:
        """Open a parcours; the body has ``id`` and ``personne_id``."""
        return await self.envoyer(
            "/v1/parcours",
            {
                "personne": {"nom": NOM, "prenoms": PRENOMS, "date_naissance": ne_le.isoformat(), "sexe": sexe},
                "departement": self.departement,
                "date_effet": jour.isoformat(),
            },
        )

    async def mesure(
        self,
        parcours_id: str,
        debut: date,
        *,
        cadre: str = "administratif",
        nature: str = "accueil_provisoire",
        autorite: str = "president_cd",
        echeance: date | None = None,
        reference: str = "DEC-2026-001",
    ) -> str:
        corps: dict[str, Any] = {
            "cadre": cadre,
            "nature": nature,
            "autorite": autorite,
            "reference_decision": reference,
            "date_debut": debut.isoformat(),
            "date_effet": debut.isoformat(),
        }
        if echeance is None and Nature(nature) in ECHEANCE_REQUISE:
            echeance = ajouter(debut, mois=6)  # the law asks for one (CASF L223-5 al. 1)
        if echeance is not None:
            corps["date_echeance"] = echeance.isoformat()
        return str((await self.envoyer(f"/v1/parcours/{parcours_id}/mesures", corps))["mesure_id"])

    async def placer(self, parcours_id: str, mesure_id: str, lieu_id: str, jour: date) -> None:
        await self.envoyer(
            f"/v1/parcours/{parcours_id}/accueil",
            {"mesure_id": mesure_id, "lieu_id": lieu_id, "date_effet": jour.isoformat()},
        )

    async def enfant_place(self, lieu_id: str, jour: date) -> str:
        """A child opened, under an accueil provisoire and placed in ``lieu_id`` on ``jour``."""
        parcours_id = str((await self.ouvrir(jour))["id"])
        await self.placer(parcours_id, await self.mesure(parcours_id, jour), lieu_id, jour)
        return parcours_id

    async def changer_lieu(self, parcours_id: str, lieu_id: str, jour: date) -> None:
        await self.envoyer(
            f"/v1/parcours/{parcours_id}/accueil/changement",
            {"lieu_id": lieu_id, "motif": "besoin_enfant", "date_effet": jour.isoformat()},
        )

    async def terminer_accueil(self, parcours_id: str, jour: date) -> None:
        await self.envoyer(
            f"/v1/parcours/{parcours_id}/accueil/fin", {"motif": "retour_en_famille", "date_effet": jour.isoformat()}
        )

    async def dater(self, parcours_id: str, quoi: str, jour: date) -> dict[str, Any]:
        """A command whose only datum is its date: ``ppe``, ``entretien-autonomie``..."""
        return await self.envoyer(f"/v1/parcours/{parcours_id}/{quoi}", {"date_effet": jour.isoformat()})

    async def lever(self, parcours_id: str, mesure_id: str, jour: date, motif: str = "mainlevee") -> None:
        await self.envoyer(
            f"/v1/parcours/{parcours_id}/mesures/{mesure_id}/levee", {"motif": motif, "date_effet": jour.isoformat()}
        )

    async def sortir(
        self, parcours_id: str, jour: date, situation: str, motif: str = "autre", *, clore_en_cours: bool = False
    ) -> int:
        """Leave care; return the stream version of the SortieDispositif."""
        corps = await self.envoyer(
            f"/v1/parcours/{parcours_id}/sortie",
            {
                "motif": motif,
                "situation_logement": situation,
                "date_effet": jour.isoformat(),
                "clore_en_cours": clore_en_cours,
            },
        )
        return int(corps["version"])

    async def majorite(self, parcours_id: str) -> None:
        await self.envoyer(f"/v1/parcours/{parcours_id}/majorite", {})

    async def apjm(self, parcours_id: str, debut: date, fin: date, jour: date) -> None:
        await self.envoyer(
            f"/v1/parcours/{parcours_id}/accompagnement-jeune-majeur",
            {"date_debut": debut.isoformat(), "date_fin": fin.isoformat(), "date_effet": jour.isoformat()},
        )

    async def transferer(self, parcours_id: str, destination: str, jour: date) -> None:
        await self.envoyer(
            f"/v1/parcours/{parcours_id}/transfert",
            {"departement_destination": destination, "date_effet": jour.isoformat()},
        )

    async def rectifier(self, parcours_id: str, version: int, champ: str, valeur: Any) -> None:
        await self.envoyer(
            f"/v1/parcours/{parcours_id}/rectifications",
            {"version_rectifiee": version, "champ": champ, "nouvelle_valeur": valeur, "motif": "erreur de saisie"},
        )


def statut(reponse: httpx.Response, attendu: int, code: str | None = None) -> None:
    """Assert the status (and the problem code of an error), and the position header on a success."""
    assert reponse.status_code == attendu, reponse.text
    if code is not None:
        assert reponse.json()["code"] == code, reponse.text
    if attendu == 200:
        assert reponse.headers["X-Projection-Position"].startswith("journal:0="), reponse.headers
