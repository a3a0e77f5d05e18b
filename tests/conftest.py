"""Shared fixtures: real SQLite files and a real PostgreSQL, a frozen clock, a CLI runner.

PostgreSQL: ``SYNCONSOLE_TEST_POSTGRES_URL`` (set by .ci/run) points at a running server;
without it, a throwaway cluster is started from the PostgreSQL binaries on this machine. When
neither works the PostgreSQL tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from synconsole.config import Settings, load_settings
from synconsole.core import clock
from synconsole.core.db import Database, open_database

from tests.pgserver import start_postgres

NOW = datetime.fromisoformat("2025-11-24T17:00:00+00:00")


def server_or_skip(start, what: str):
    """A throwaway server from ``start()``; without one the test skips and says why, except under
    CI=true (.ci/run provides every server), where it fails."""
    try:
        return start()
    except RuntimeError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{what} is required under CI=true: {exc}")
        pytest.skip(f"no {what}: {exc}")


@pytest.fixture(scope="session")
def postgres_server_url(tmp_path_factory):
    url = os.environ.get("SYNCONSOLE_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    server = server_or_skip(lambda: start_postgres(tmp_path_factory.mktemp("pg")), "PostgreSQL")
    try:
        yield server.url
    finally:
        server.stop()


def _fresh_pg_database(server_url: str) -> str:
    name = "t_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return sa.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def mariadb_server_url():
    """A MariaDB server for the live-source tests: ``SYNCONSOLE_TEST_MYSQL_URL`` (set by .ci/run),
    else a throwaway one from Debian's mariadb-server."""
    url = os.environ.get("SYNCONSOLE_TEST_MYSQL_URL")
    if url:
        yield url
        return
    from tests.mariadbserver import start_mariadb

    server = server_or_skip(start_mariadb, "MariaDB")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def mariadb_url(mariadb_server_url) -> str:
    """A fresh database on the MariaDB server, reached as a user with a password (a platform's)."""
    name = "p_" + uuid.uuid4().hex[:12]
    password = "pw-" + uuid.uuid4().hex[:8]
    admin = sa.create_engine(mariadb_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
        conn.exec_driver_sql(f"CREATE USER '{name}'@'127.0.0.1' IDENTIFIED BY '{password}'")
        conn.exec_driver_sql(f"GRANT ALL ON {name}.* TO '{name}'@'127.0.0.1'")
    admin.dispose()
    url = sa.engine.make_url(mariadb_server_url).set(database=name, username=name, password=password)
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    """A fresh, empty database on each backend: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'synconsole.db'}"
    return _fresh_pg_database(request.getfixturevalue("postgres_server_url"))


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'synconsole.db'}"


@pytest.fixture
def pg_url(postgres_server_url) -> str:
    return _fresh_pg_database(postgres_server_url)


@pytest.fixture
def db(db_url) -> Database:
    database = open_database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def frozen(monkeypatch) -> datetime:
    """Freeze the clock at NOW (in-process and for subprocesses via SYNCONSOLE_NOW)."""
    clock.freeze(NOW)
    monkeypatch.setenv("SYNCONSOLE_NOW", clock.iso(NOW))
    yield NOW
    clock.freeze(None)


@pytest.fixture
def settings() -> Settings:
    return load_settings(None, env={})


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No test reads the developer's config, database or logs."""
    for var in ("SYNCONSOLE_CONFIG", "SYNCONSOLE_DATABASE_URL", "SYNCONSOLE_CALCOM_BASE_URL",
                "SYNCONSOLE_CALCOM_API_KEY", "SYNCONSOLE_READ_ONLY", "SYNCONSOLE_NOW"):
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local/share"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local/state"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def run_cli():
    """Invoke the CLI in-process the way a user would; returns (exit code, stdout, stderr)."""
    from synconsole.cli import main

    def run(*args: str, env: dict[str, str] | None = None, input: str | None = None, color: bool = False):
        """``color=True``: output as a terminal gets it (click strips escape sequences otherwise)."""
        runner = CliRunner()
        result = runner.invoke(_Main(main), list(args), env=env, input=input, catch_exceptions=False, color=color)
        return result.exit_code, result.stdout, result.stderr

    return run


class _Main:
    """Adapter so CliRunner runs ``synconsole.cli.main`` (our error handling included)."""

    name = "synconsole"

    def __init__(self, fn):
        self.fn = fn

    def main(self, args=None, prog_name=None, **_kw):
        return self.fn(list(args or []))


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def pytest_collection_modifyitems(config, items):
    """``long_run`` tests (long fuzz runs) only when the marker expression names ``slow``."""
    if "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="long run: select it with -m slow")
    for item in items:
        if "long_run" in item.keywords:
            item.add_marker(skip)
