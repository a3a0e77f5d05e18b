"""Broken databases through the real commands: a damaged page, a schema from a newer synconsole, a
lock held by another process, a database deleted under a running process, a log that cannot be
written. Each is one line and a sensible exit code, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from synconsole.core.db import open_database

from tests.conftest import write
from tests.test_hostile_config import one_line_error


def rows(n: int) -> str:
    out = [{"kind": "staff", "id": "s-1", "calcom_username": "fabian", "event_type_id": 101},
           {"kind": "customer", "id": "c1", "email": "anna@example.com"}]
    out += [{"kind": "appointment", "id": f"a{i:05d}", "customer_id": "c1", "staff_id": "s-1",
             "start": f"2025-12-{1 + i % 28:02d}T{8 + i % 10:02d}:00:00Z"} for i in range(n)]
    return "".join(json.dumps(r) + "\n" for r in out)


@pytest.fixture
def filled(sqlite_url, tmp_path, run_cli, frozen):
    path = write(tmp_path / "rows.ndjson", rows(3000))
    code, _, err = run_cli("import", str(path), env={"SYNCONSOLE_DATABASE_URL": sqlite_url})
    assert code == 0, err
    return {"SYNCONSOLE_DATABASE_URL": sqlite_url}, Path(sqlite_url.removeprefix("sqlite:///")), path


def damage(db_file: Path) -> None:
    """Random bytes over the last three quarters of the pages: the data, not the schema."""
    import sqlite3

    conn = sqlite3.connect(db_file)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size, pages = conn.execute("PRAGMA page_size").fetchone()[0], conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    rnd = __import__("random").Random(12)
    with db_file.open("r+b") as f:
        for page in range(pages // 4, pages):
            f.seek(page * page_size)
            f.write(bytes(rnd.getrandbits(8) for _ in range(page_size)))


def test_a_damaged_page_fails_doctor_and_is_one_line_everywhere(filled, run_cli, tmp_path):
    env, db_file, import_path = filled
    code, out, err = run_cli("doctor", env=env)
    assert "[ ok ] database:" in out and "integrity check ok" in out
    damage(db_file)
    code, out, err = run_cli("doctor", env=env)
    assert code == 1 and "Traceback" not in out + err
    line = next(ln for ln in out.splitlines() if "database" in ln)
    assert line.startswith("[fail] database: ") and "damaged (SQLite integrity check:" in line, out
    for args in (["list"], ["list", "--filter", "nomatch"], ["status"], ["import", str(import_path)],
                 ["snapshot"], ["report"]):
        code, out, err = run_cli(*args, env=env)
        err = one_line_error(code, out, err, expected_code=1)
        assert "damaged (database disk image is malformed)" in err and "synconsole doctor" in err, args


def test_sync_on_a_damaged_database_is_one_line(filled, run_cli, tmp_path):
    env, db_file, _ = filled
    damage(db_file)
    code, out, err = run_cli("sync", "--once", env={**env, "SYNCONSOLE_CALCOM_API_KEY": "cal_x",
                                                    "SYNCONSOLE_CALCOM_BASE_URL": "http://127.0.0.1:9"})
    one_line_error(code, out, err, expected_code=1)


def test_a_schema_from_a_newer_synconsole_says_upgrade_synconsole(sqlite_url, run_cli):
    env = {"SYNCONSOLE_DATABASE_URL": sqlite_url}
    assert run_cli("list", env=env)[0] == 0
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0099'")
    engine.dispose()
    for args in (["list"], ["db", "upgrade"], ["doctor"]):
        code, out, err = run_cli(*args, env=env)
        assert "Traceback" not in out + err
        text = err if args != ["doctor"] else out
        assert "schema 0099" in text and "newer synconsole" in text and "Upgrade synconsole" in text, (args, text)
        assert "run `synconsole db upgrade`" not in text
        assert code == 1


# --- a lock held by another process ---------------------------------------------------------------

HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


@pytest.fixture
def hold_lock(tmp_path):
    """Another process holding SQLite's write lock (BEGIN EXCLUSIVE) until it is killed."""
    started: list[subprocess.Popen] = []

    def hold(db_file: Path, seconds: float = 60.0) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(db_file), str(seconds)], stdout=subprocess.PIPE,
                                text=True)
        started.append(proc)
        assert proc.stdout.readline().strip() == "locked"
        return proc

    yield hold
    for proc in started:
        proc.kill()
        proc.wait(timeout=10)


@pytest.mark.parametrize("args", [["import", "ROWS"], ["snapshot"], ["sync", "--once"], ["cancel", "a00001", "--reason", "x", "--yes"],
                                  ["jobs", "pause", "sync"]])
def test_a_lock_held_past_busy_timeout_is_one_line(filled, run_cli, hold_lock, tmp_path, args):
    env, db_file, import_path = filled
    config = write(tmp_path / "c.toml", f'[database]\nurl = "sqlite:///{db_file}"\nbusy_timeout_ms = 300\n'
                                        '[calcom]\nbase_url = "http://127.0.0.1:9"\napi_key = "cal_x"\n'
                                        f'[logging]\npath = "{tmp_path / "s.log"}"\n')
    args = [str(import_path) if a == "ROWS" else a for a in args]
    hold_lock(db_file)
    started = time.monotonic()
    code, out, err = run_cli(*args, "--config", str(config), env={})
    assert time.monotonic() - started < 30
    assert code == 1 and "Traceback" not in out + err, (code, out, err)
    assert err.startswith("synconsole: error: ") and err.count("\n") == 1, err
    assert "locked by another process for longer than [database] busy_timeout_ms" in err


# --- the database deleted under a running process -------------------------------------------------


def test_a_database_deleted_under_an_open_database_is_detected(sqlite_url, tmp_path):
    db = open_database(sqlite_url)
    db_file = Path(sqlite_url.removeprefix("sqlite:///"))
    with db.session() as s:
        s.exec(sa.text("SELECT 1"))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_file}{suffix}").unlink(missing_ok=True)
    from synconsole.core.db import DatabaseGone

    with pytest.raises(DatabaseGone, match="was deleted while synconsole was running"):
        with db.session() as s:
            s.exec(sa.text("SELECT 1")).all()
    open_database(sqlite_url).dispose()  # a new database at the same path…
    with pytest.raises(DatabaseGone, match="was replaced by another file"):  # …is not the one this process opened
        with db.session() as s:
            s.exec(sa.text("SELECT 1")).all()
    db.dispose()


# --- a log file that opens but cannot be written --------------------------------------------------


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_doctor_says_a_full_log_device_is_not_writable(sqlite_url, run_cli, tmp_path):
    config = write(tmp_path / "c.toml", '[logging]\npath = "/dev/full"\n')
    code, out, err = run_cli("doctor", "--config", str(config), env={"SYNCONSOLE_DATABASE_URL": sqlite_url})
    line = next(ln for ln in out.splitlines() if "log path" in ln)
    assert line.startswith("[warn] log path: cannot write /dev/full (No space left on device)"), out


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", [["jobs", "run", "snapshot"], ["jobs", "run", "cleanup"]])
def test_a_full_log_device_falls_back_without_a_logging_error(sqlite_url, tmp_path, args):
    config = write(tmp_path / "c.toml", f'[database]\nurl = "{sqlite_url}"\n[logging]\npath = "/dev/full"\n'
                                        '[calcom]\nbase_url = "http://127.0.0.1:9"\napi_key = "cal_x"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCONSOLE_")}
    result = subprocess.run([sys.executable, "-m", "synconsole", *args, "--config", str(config)], capture_output=True,
                            text=True, timeout=60, env=env, cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert "Logging error" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    status = subprocess.run([sys.executable, "-m", "synconsole", "status", "--json", "--config", str(config)],
                            capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    alerts = {a["id"]: a for a in json.loads(status.stdout)["alerts"]}
    assert "log_fallback" in alerts and "/dev/full" in alerts["log_fallback"]["message"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_log_file_that_fills_up_later_falls_back_once(sqlite_url, tmp_path, capfd):
    import logging

    from synconsole.config import parse_settings
    from synconsole.core import logsetup, metrics

    settings = parse_settings({"logging": {"path": str(tmp_path / "s.log")}, "database": {"url": sqlite_url}})
    setup = logsetup.configure(settings)
    db = open_database(sqlite_url)
    logsetup.report_fallback(db, setup)
    handler = next(h for h in logging.getLogger(logsetup.LOGGER).handlers if getattr(h, "_synconsole", False))
    handler.stream = open("/dev/full", "w", encoding="utf-8")  # the disk is full from now on
    log = logging.getLogger("synconsole.test")
    for i in range(5):
        log.warning("line %d", i)
    err = capfd.readouterr().err
    assert "Logging error" not in err and "Traceback" not in err, err
    assert err.count("No space left on device") == 1 and "line 4" in err
    with db.session() as s:
        active = {a.id for a in metrics.compute(s, settings).alerts}
    assert "log_fallback" in active
    db.dispose()
    logsetup.configure(parse_settings({"logging": {"path": str(tmp_path / "t.log")}}))
