"""Logging the convention's way: stderr (systemd's journal, containers) and JSON lines that a log
shipper parses one at a time, with no secret or PII in them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

from synconsole.simulator import SimulatorServer
from synconsole.core.db import open_database
from tests import factory
from tests.conftest import write

KEY = "cal_live_PLANTEDs3cr3tKEY9"
EMAIL = "planted.person@example.org"
PHONE = "+49 170 5550199"


def _incident(url: str) -> None:
    start = datetime.now(timezone.utc).replace(hour=10, minute=0, second=0, microsecond=0) + timedelta(days=7)
    db = open_database(url)
    with db.session() as s:
        factory.staff(s, "s1")
        factory.customer(s, "c1", email=EMAIL, phone=PHONE)
        factory.customer(s, "c2", email=None, phone=PHONE)  # no usable contact: a logged failure
        factory.appointment(s, "a1", start=start, customer_id="c1")
        factory.appointment(s, "a2", start=start + timedelta(hours=2), customer_id="c2")
        s.commit()
    db.dispose()


def _run(*args: str, env: dict[str, str], cwd) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("SYNCONSOLE_") or k == "SYNCONSOLE_NOW"}
    full.update(env)
    return subprocess.run([sys.executable, "-m", "synconsole", *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, env=full, cwd=cwd, timeout=120)


def _sync(tmp_path, sqlite_url, logging_toml: str, *flags: str, key: str = KEY):
    with SimulatorServer(api_key=KEY) as sim:
        cfg = write(tmp_path / "c.toml", f'[database]\nurl = "{sqlite_url}"\n[calcom]\nbase_url = "{sim.url}"\n'
                                         f'{logging_toml}')
        return _run("sync", "--once", "--config", str(cfg), *flags,
                    env={"SYNCONSOLE_CALCOM_API_KEY": key}, cwd=tmp_path)


def _assert_clean(text: str) -> None:
    for planted in (KEY, EMAIL, "5550199", "planted.person"):
        assert planted not in text, planted


def test_json_lines_on_stderr_parse_and_hold_no_secret_or_pii(tmp_path, sqlite_url):
    _incident(sqlite_url)
    done = _sync(tmp_path, sqlite_url, '[logging]\npath = "-"\nformat = "json"\nlevel = "DEBUG"\n')
    assert done.returncode in (0, 1), done.stderr
    records = []
    for line in done.stderr.splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))  # every JSON-looking line parses on its own
    assert records, done.stderr
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys()
        assert record["logger"].startswith("synconsole")
    events = {(r["logger"], r["message"]) for r in records}
    assert ("synconsole.sync", "create done") in events, records  # a1 synced with the planted contact
    assert ("synconsole.sync", "refused before sending") in events, records
    assert not list(tmp_path.glob("**/*.log")), "path = '-' writes no log file"
    _assert_clean(done.stdout + done.stderr)


def test_refused_key_in_json_logs_is_not_quoted(tmp_path, sqlite_url):
    _incident(sqlite_url)
    wrong = "cal_live_WRONGs3cr3tKEY77"
    done = _sync(tmp_path, sqlite_url, '[logging]\npath = "-"\nformat = "json"\n', key=wrong)
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert lines, done.stderr
    assert wrong not in done.stdout + done.stderr
    _assert_clean(done.stdout + done.stderr)


def test_log_stderr_flag_overrides_the_file(tmp_path, sqlite_url):
    _incident(sqlite_url)
    log = tmp_path / "logs" / "s.log"
    done = _sync(tmp_path, sqlite_url, f'[logging]\npath = "{log}"\n', "--log-stderr")
    assert done.returncode in (0, 1), done.stderr
    text_lines = [line for line in done.stderr.splitlines() if " INFO synconsole." in line]
    assert text_lines, done.stderr
    assert not log.exists() or log.read_text() == ""
    _assert_clean(done.stdout + done.stderr)


def test_file_logging_in_json_too(tmp_path, sqlite_url):
    _incident(sqlite_url)
    log = tmp_path / "s.log"
    done = _sync(tmp_path, sqlite_url, f'[logging]\npath = "{log}"\nformat = "json"\n')
    assert done.returncode in (0, 1), done.stderr
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert records and all(r["level"] in ("DEBUG", "INFO", "WARNING", "ERROR") for r in records)
    _assert_clean(log.read_text())


def test_doctor_accepts_stderr_logging(tmp_path, run_cli, sqlite_url):
    cfg = write(tmp_path / "c.toml", f'[database]\nurl = "{sqlite_url}"\n[logging]\npath = "-"\n')
    _, out, _ = run_cli("doctor", "--config", str(cfg))
    assert '[ ok ] log path: logging to stderr ([logging] path = "-")' in out
    assert not (tmp_path / "-").exists()
