"""Fixtures for live-source tests: a platform database (MariaDB, or PostgreSQL), synconsole's own
database, the simulator, and a config with a [[sources]] entry; commands run as a user runs them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from synconsole.simulator import SimulatorServer
from synconsole.core import clock

from tests.commands import Commands
from tests.lifecycle.conftest import EVENT_TYPES, KEY
from tests.processes.conftest import make_sim, procs  # noqa: F401  (process fixtures, shared)
from tests.sources.platform import Platform


def source_toml(name: str, url: str, queries: dict[str, str], **extra: Any) -> str:
    lines = ["[[sources]]", f'name = "{name}"', f'url = "{url}"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
    lines.append("[sources.queries]")
    lines += [f"{k} = '''{v}'''" for k, v in queries.items()]
    return "\n".join(lines) + "\n"


@dataclass
class Connected(Commands):
    platform: Platform | None = None

    def poll_and_sync(self) -> None:
        self.cli("sources", "poll", "platform")
        self.cli("sync", "--once")


def connect(platform_url: str, db_url: str, tmp_path: Path, invoke, sim, **source: Any) -> Connected:
    platform = Platform(platform_url).create_schema()
    config = tmp_path / "synconsole.toml"
    config.write_text(f'[logging]\npath = "{tmp_path / "synconsole.log"}"\n'
                      + source_toml("platform", platform_url, platform.queries, **source), encoding="utf-8")
    return Connected(db_url, sim, config, invoke, KEY, platform)


@pytest.fixture
def sim():
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES) as server:
        yield server


@pytest.fixture
def on_mariadb(mariadb_url, db_url, tmp_path, run_cli, sim):
    connected = connect(mariadb_url, db_url, tmp_path, run_cli, sim, overlap_s=5)
    yield connected
    connected.platform.dispose()


@pytest.fixture
def on_postgres(pg_url, sqlite_url, tmp_path, run_cli, sim):
    connected = connect(pg_url, sqlite_url, tmp_path, run_cli, sim, overlap_s=5)
    yield connected
    connected.platform.dispose()


@pytest.fixture(autouse=True)
def _real_clock():
    clock.freeze(None)
