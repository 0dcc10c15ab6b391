"""The synchronous application off the event loop: a slot first, for a bounded time.

Commands and reads of a stream each have their own slots (and as many pooled
connections): a command blocked by the database never delays a read, and the
readiness probe uses neither. A request that gets no slot within the bound, or
that the database does not answer in time, is a 503 ``indisponible`` with
``Retry-After`` rather than a wait in a queue or a 500.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

import anyio
from anyio import CapacityLimiter, to_thread
from eventsourcing.persistence import InterfaceError, OperationalError

from services.parcours.api.dependances import Composants
from services.runtime.errors import IndisponibleError

T = TypeVar("T")


async def hors_boucle(comp: Composants, creneaux: CapacityLimiter, appel: Callable[[], T]) -> T:
    """Run ``appel`` in a worker thread once ``creneaux`` grants a slot, within ``comp.delai_s``."""
    reessayer = math.ceil(comp.delai_s)
    # Fair admission: slots are granted first come first served (anyio's limiter is FIFO), and the queue
    # is bounded: beyond it a request is answered at once instead of adding to every queued one's wait.
    file_max = comp.file_max if comp.file_max is not None else 4 * int(creneaux.total_tokens)
    if creneaux.available_tokens == 0 and creneaux.statistics().tasks_waiting >= file_max:
        raise IndisponibleError(f"{file_max} requêtes attendent déjà un créneau", 1)
    try:
        with anyio.fail_after(comp.delai_s):
            await creneaux.acquire()
    except TimeoutError:
        raise IndisponibleError(
            f"aucun créneau libre en {comp.delai_s:g} s: la base de données est saturée", reessayer
        ) from None
    try:
        # The datastore bounds each wait the server enforces (lock, statement); a server
        # that stops answering at all (frozen, a network black hole) enforces nothing, so
        # the answer is bounded here too: the thread is abandoned, not cancelled, and ends
        # when the server comes back (a command's Idempotency-Key makes the retry safe).
        with anyio.fail_after(2 * comp.delai_s):
            return await to_thread.run_sync(appel, limiter=comp.fils, abandon_on_cancel=True)
    except TimeoutError:
        raise IndisponibleError(f"PostgreSQL ne répond pas en {2 * comp.delai_s:g} s", reessayer) from None
    except (OperationalError, InterfaceError) as exc:
        # What the library's retries could not overcome (the server down or restarting).
        raise IndisponibleError(f"PostgreSQL injoignable ({type(exc).__name__})", reessayer) from exc
    finally:
        creneaux.release()
