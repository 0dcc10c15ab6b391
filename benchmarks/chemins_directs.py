"""The write side without HTTP, on threads as the API runs it.

* ``application``: ``ParcoursApplication`` called directly, as a route calls it:
  load the parcours, call ``produire_rapport``, save (one command = one commit).
* ``application_en_clair``: the same without encryption of personal fields (its cost, by ratio).
* ``bibliotheque``: the eventsourcing library alone: a plain ``Application``
  with the same JSON mapper saves the event of an aggregate kept in memory, so
  nothing is loaded; what is left is mapping and the recorder's transaction.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import Application
from eventsourcing.persistence import Mapper

from benchmarks import scenario as s
from contracts.vocabulaire import Sexe
from services.parcours import commandes as c
from services.parcours.application import Demande, ParcoursApplication, empreinte_de
from services.parcours.domain.parcours import Parcours
from services.parcours.persistence import JsonMapper
from services.runtime.postgres import env_eventsourcing

_COMMANDE_OUVERTURE = c.OuvrirParcours.model_validate_json(s.CORPS_OUVERTURE)
_COMMANDE_RAPPORT = c.ProduireRapport.model_validate_json(s.CORPS_RAPPORT)


def _demande(chemin: str, corps: bytes) -> Demande:
    request_id = uuid4().hex
    return Demande(
        sub=s.AUTEUR,
        departements=frozenset({s.DEPARTEMENT}),
        correlation_id=request_id,
        causation_id=request_id,
        empreinte=empreinte_de("POST", chemin, corps),
    )


class CheminApplication:
    """``ParcoursApplication.commander`` without HTTP: load, decide, save."""

    nom = "application"

    def __init__(self, url: str) -> None:
        self.application = ParcoursApplication(
            env=env_eventsourcing(url, taille_pool=s.TAILLE_POOL), horloge=s.horloge()
        )

    def ouvrir(self, nombre: int) -> list[UUID]:
        ids = []
        for _ in range(nombre):
            reponse = self.application.ouvrir_parcours(_COMMANDE_OUVERTURE, _demande("/v1/parcours", s.CORPS_OUVERTURE))
            ids.append(UUID(reponse.corps["id"]))
        return ids

    def commande(self, parcours_id: UUID) -> None:
        cmd = _COMMANDE_RAPPORT
        demande = _demande(f"/v1/parcours/{parcours_id}/rapports", s.CORPS_RAPPORT)
        self.application.commander(
            parcours_id,
            demande,
            lambda p, ctx: p.produire_rapport(ctx, transmis_au_juge=cmd.transmis_au_juge, date_effet=cmd.date_effet),
        )

    def fermer(self) -> None:
        self.application.close()


class CheminApplicationEnClair(CheminApplication):
    """``CheminApplication`` with personal fields stored in clear: the cost of encryption, side by side.

    Its parcours' ``ParcoursOuvert`` then holds no ciphertext, so loading one reads no key
    (``ase_cles_personnes``) and decrypts nothing: all that encryption adds to a command.
    """

    nom = "application_en_clair"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        mapper = self.application.mapper
        assert isinstance(mapper, JsonMapper)
        mapper.chiffrer = False


class _BibliothequeNue(Application[UUID]):
    """The library's own PostgreSQL recorder, the project's mapper, the same table."""

    name = "ASE"

    def construct_mapper(self) -> Mapper[UUID]:
        mapper: Mapper[Any] = JsonMapper()
        return mapper


class CheminBibliotheque:
    """``Application.save`` of an event built on an aggregate held in memory."""

    nom = "bibliotheque"

    def __init__(self, url: str) -> None:
        self.application = _BibliothequeNue(env=env_eventsourcing(url, taille_pool=s.TAILLE_POOL))

    def ouvrir(self, nombre: int) -> list[Parcours]:
        parcours = []
        for _ in range(nombre):
            p = Parcours.ouvrir(
                s.contexte(),
                personne_id=uuid4(),
                date_naissance=s.DATE_NAISSANCE,
                sexe=Sexe.F,
                departement=s.DEPARTEMENT,
                date_effet=s.DATE_OUVERTURE,
            )
            self.application.save(p)
            parcours.append(p)
        return parcours

    def commande(self, parcours: Parcours) -> None:
        # Each client owns its aggregates: no other thread touches this one.
        parcours.produire_rapport(s.contexte(), transmis_au_juge=True, date_effet=s.DATE_RAPPORT)
        self.application.save(parcours)

    def fermer(self) -> None:
        self.application.close()
