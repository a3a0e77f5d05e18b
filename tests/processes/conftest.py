"""Fixtures for tests that run synconsole as real OS processes."""

from __future__ import annotations

import pytest

from synconsole.simulator import Faults, SimulatorServer

from tests.engine.helpers import KEY
from tests.processes.support import EVENT_TYPES, NO_LIMIT, DbView, Procs


@pytest.fixture
def procs(tmp_path):
    """Start subprocesses through this; any still running at the end is killed (by its own pid)."""
    group = Procs(tmp_path)
    yield group
    group.cleanup()


@pytest.fixture
def make_sim():
    """A real Cal.com simulator on 127.0.0.1 (uvicorn thread in this process); faults are
    changed through its HTTP admin endpoint like any other client would."""
    servers: list[SimulatorServer] = []

    def make(faults: Faults | None = None, **kwargs) -> SimulatorServer:
        kwargs.setdefault("rate_limit", NO_LIMIT)
        kwargs.setdefault("api_key", KEY)
        server = SimulatorServer(event_types=EVENT_TYPES, faults=faults or Faults(), **kwargs)
        servers.append(server.start())
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def view_of():
    views: list[DbView] = []

    def make(url: str) -> DbView:
        views.append(DbView(url))
        return views[-1]

    yield make
    for v in views:
        v.close()
