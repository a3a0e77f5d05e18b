"""`--read-only` against a database that is not there (a missing SQLite file, an empty PostgreSQL
database): one line, exit 3, and nothing created."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

COMMANDS = [("list",), ("status",), ("report",), ("show", "a0000")]


@pytest.mark.parametrize("args", COMMANDS)
def test_read_only_refuses_a_missing_sqlite_file(tmp_path, args):
    path = tmp_path / "missing.db"
    import os
    import subprocess
    import sys

    env = {**os.environ, "SYNCONSOLE_DATABASE_URL": f"sqlite:///{path}"}
    result = subprocess.run([sys.executable, "-m", "synconsole", "--read-only", *args], capture_output=True,
                            text=True, cwd=tmp_path, env=env, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "read-only" in result.stderr
    assert not path.exists()


@pytest.mark.postgres
def test_read_only_refuses_an_empty_postgres(tmp_path, pg_url):
    import os
    import subprocess
    import sys

    env = {**os.environ, "SYNCONSOLE_DATABASE_URL": pg_url}
    result = subprocess.run([sys.executable, "-m", "synconsole", "--read-only", "list"], capture_output=True,
                            text=True, cwd=tmp_path, env=env, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    engine = sa.create_engine(pg_url)
    try:
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
