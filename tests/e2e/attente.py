"""Waiting for a process to get somewhere: a condition polled until a deadline (the e2e tests drive real
processes, whose progress they can only observe from outside)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def attendre(condition: Callable[[], T], *, delai_s: float, quoi: str, contexte: Callable[[], str]) -> T:
    """``condition()`` once it is truthy; AssertionError naming ``quoi`` (and ``contexte()``) after ``delai_s``."""
    fin = time.monotonic() + delai_s
    while True:
        valeur = condition()
        if valeur:
            return valeur
        if time.monotonic() > fin:
            raise AssertionError(f"{quoi}: not true after {delai_s}s\n{contexte()}")
        time.sleep(0.2)  # polling interval, bounded by the deadline: the process gives no signal to wait on
