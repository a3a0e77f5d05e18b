"""Fixtures for the hostile-server tests: the server, and the process fixtures of tests/processes."""

from __future__ import annotations

import pytest

from tests.hostile.server import HostileServer
from tests.processes.conftest import procs  # noqa: F401  (re-exported fixture)


@pytest.fixture
def hostile():
    servers: list[HostileServer] = []

    def make(route=None) -> HostileServer:
        server = HostileServer(route) if route is not None else HostileServer()
        servers.append(server.start())
        return server

    yield make
    for server in servers:
        server.stop()
