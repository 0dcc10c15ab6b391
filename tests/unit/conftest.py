"""Shared fixtures of the domain unit tests (builders live in ``fabrique``)."""

from __future__ import annotations

import pytest

from services.parcours.domain.parcours import Parcours
from tests.unit.fabrique import OUVERT_LE, open_parcours


@pytest.fixture
def parcours() -> Parcours:
    """A 12-year-old's parcours opened on OUVERT_LE, nothing else recorded."""
    return open_parcours(OUVERT_LE)
