"""Several processes of the write side starting at once on one database (``ase serve --workers``)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from services.parcours.application import ParcoursApplication
from services.runtime.horloge import HorlogeFixe
from tests.integration.conftest import AUJOURD_HUI, nouvelle_application

DEMARRAGES = 6


def test_workers_starting_at_once_create_the_tables_without_tuple_concurrently_updated(base_url: str) -> None:
    """Found by the verifier: ``ase serve --workers 4`` on an existing data folder failed half the time, two
    workers replacing the hash chain's functions at once ("tuple concurrently updated")."""
    for _ in range(3):  # on fresh tables, then on existing ones (each replaced again)
        depart = threading.Barrier(DEMARRAGES)

        def demarrer(depart: threading.Barrier = depart) -> ParcoursApplication:
            depart.wait()
            return nouvelle_application(base_url, HorlogeFixe(AUJOURD_HUI), taille_pool=2)

        with ThreadPoolExecutor(DEMARRAGES) as executeur:
            applications = [f.result() for f in [executeur.submit(demarrer) for _ in range(DEMARRAGES)]]
        for application in applications:
            application.close()
        assert len(applications) == DEMARRAGES
