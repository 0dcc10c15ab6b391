"""Fair admission of commands: slots granted first come first served, a bounded queue, and one request more
answered 503 ``indisponible`` with ``Retry-After`` at once rather than queued."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import anyio
import pytest
from anyio import CapacityLimiter
from cryptography.hazmat.primitives.asymmetric import ec

from services.parcours.api.dependances import Composants
from services.parcours.api.execution import hors_boucle
from services.parcours.application import ParcoursApplication
from services.runtime.auth import CleDeDeveloppement
from services.runtime.errors import IndisponibleError
from services.runtime.horloge import HorlogeFixe


async def _attendre(comp: Composants, en_attente: int) -> None:
    """Until the slot is taken and ``en_attente`` requests wait for it (polling, bounded by a deadline)."""
    with anyio.fail_after(5):
        while True:
            if not comp.limiteur.available_tokens and comp.limiteur.statistics().tasks_waiting >= en_attente:
                return
            await anyio.sleep(0.01)


def _composants(file_max: int | None) -> Composants:
    application = ParcoursApplication(horloge=HorlogeFixe(datetime(2026, 11, 28, 10, tzinfo=UTC)))
    cle = CleDeDeveloppement(ec.generate_private_key(ec.SECP256R1()))
    return Composants(application=application, verificateur=cle, limiteur=CapacityLimiter(1), file_max=file_max)


async def test_au_dela_de_la_file_une_requete_est_refusee_aussitot_et_les_autres_passent_dans_l_ordre() -> None:
    comp = _composants(file_max=2)
    liberer = threading.Event()
    ordre: list[int] = []

    def appel(n: int) -> int:
        if n == 0:
            liberer.wait(10)
        ordre.append(n)
        return n

    async with anyio.create_task_group() as groupe:
        groupe.start_soon(hors_boucle, comp, comp.limiteur, lambda: appel(0))
        for n in (1, 2):
            await _attendre(comp, n - 1)
            groupe.start_soon(hors_boucle, comp, comp.limiteur, lambda n=n: appel(n))  # type: ignore[misc]
        await _attendre(comp, 2)
        with pytest.raises(IndisponibleError) as refus:
            await hors_boucle(comp, comp.limiteur, lambda: appel(3))
        assert refus.value.reessayer_dans_s == 1
        liberer.set()
    assert ordre == [0, 1, 2]


async def test_la_file_vaut_par_defaut_quatre_fois_les_creneaux() -> None:
    comp = _composants(file_max=None)
    liberer = threading.Event()
    async with anyio.create_task_group() as groupe:
        for _ in range(5):  # one in the slot, four waiting
            groupe.start_soon(hors_boucle, comp, comp.limiteur, lambda: liberer.wait(10))
        await _attendre(comp, 4)
        with pytest.raises(IndisponibleError):
            await hors_boucle(comp, comp.limiteur, lambda: True)
        liberer.set()
