"""The listening sockets of ``ase serve --workers``: one per worker, and a port taken is refused."""

from __future__ import annotations

import errno

import pytest

from services.cli.travailleurs import prises_d_ecoute


def test_a_second_server_on_the_same_port_is_refused_instead_of_sharing_its_connections() -> None:
    """Found by the verifier: a second ``ase serve --workers 2`` on the port of a first one started, and
    requests landed in either server's database (both sockets had ``SO_REUSEPORT``)."""
    premieres = prises_d_ecoute("127.0.0.1", 0, 2)
    try:
        port = premieres[0].getsockname()[1]
        assert {p.getsockname()[1] for p in premieres} == {port}
        assert len({p.fileno() for p in premieres}) == 2  # one socket per worker
        with pytest.raises(OSError, match="in use") as refus:
            prises_d_ecoute("127.0.0.1", port, 2)
        assert refus.value.errno == errno.EADDRINUSE
    finally:
        for prise in premieres:
            prise.close()
