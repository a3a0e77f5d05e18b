"""``status --check`` run the way a monitoring agent (Nagios, Icinga, Sensu) runs a plugin: a
subprocess with no terminal, reading exit code and the first line of stdout."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from synconsole.core.db import open_database
from tests.test_metrics import build_incident

PLUGIN_LINE = re.compile(r"^SYNCONSOLE (OK|WARNING|CRITICAL|UNKNOWN) - [^|\n]+( \| .+)?$")


def agent(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, list[str], str]:
    """Run the plugin like an agent: no tty, empty stdin, a bounded run time."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("SYNCONSOLE_") or k == "SYNCONSOLE_NOW"}
    full.update(env)
    done = subprocess.run([sys.executable, "-m", "synconsole", "status", "--check", *args],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, env=full, cwd=cwd, timeout=60)
    return done.returncode, done.stdout.splitlines(), done.stderr


def _one_plugin_line(lines: list[str]) -> str:
    assert len(lines) == 1, f"a plugin prints one line, got {lines}"
    assert PLUGIN_LINE.match(lines[0]), lines[0]
    return lines[0]


def test_broken_config_is_unknown(tmp_path):
    bad = tmp_path / "synconsole.toml"
    bad.write_text("[sync\nbatch_size = 'many'\n", encoding="utf-8")
    code, lines, _ = agent("--config", str(bad), env={}, cwd=tmp_path)
    assert code == 3
    assert _one_plugin_line(lines).startswith("SYNCONSOLE UNKNOWN - ")


def test_wrong_config_value_is_unknown(tmp_path):
    bad = tmp_path / "synconsole.toml"
    bad.write_text("[sync]\nbatch_size = 'many'\n", encoding="utf-8")
    code, lines, _ = agent("--config", str(bad), env={}, cwd=tmp_path)
    assert code == 3 and "batch_size" in _one_plugin_line(lines)


def test_missing_database_directory_is_unknown(tmp_path):
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'synconsole.db'}"
    code, lines, _ = agent(env={"SYNCONSOLE_DATABASE_URL": url}, cwd=tmp_path)
    assert code == 3
    assert _one_plugin_line(lines).startswith("SYNCONSOLE UNKNOWN - ")


def test_unreachable_database_is_unknown_and_keeps_the_password(tmp_path):
    url = "postgresql+psycopg://watcher:Hunter2Secret@127.0.0.1:9/synconsole?connect_timeout=2"
    code, lines, err = agent(env={"SYNCONSOLE_DATABASE_URL": url}, cwd=tmp_path)
    assert code == 3
    line = _one_plugin_line(lines)
    assert line.startswith("SYNCONSOLE UNKNOWN - ")
    assert "Hunter2Secret" not in line + err


def test_usage_error_is_unknown(tmp_path):
    code, lines, _ = agent("--no-such-option", env={}, cwd=tmp_path)
    assert code == 3
    assert _one_plugin_line(lines).startswith("SYNCONSOLE UNKNOWN - ")


def test_healthy_is_ok_with_perfdata(tmp_path):
    url = f"sqlite:///{tmp_path / 'synconsole.db'}"
    code, lines, err = agent(env={"SYNCONSOLE_DATABASE_URL": url}, cwd=tmp_path)
    assert code == 0, err
    line = _one_plugin_line(lines)
    assert line.startswith("SYNCONSOLE OK - no alerts, 0 failed | ")
    assert "failed=0" in line and "pending=0" in line


def test_incident_is_critical_in_one_line(db_url, frozen, tmp_path):
    db = open_database(db_url)
    build_incident(db)
    db.dispose()
    code, lines, err = agent(env={"SYNCONSOLE_DATABASE_URL": db_url}, cwd=tmp_path)
    assert code == 2, err
    line = _one_plugin_line(lines)
    status, perf = line.split(" | ")
    assert status == ("SYNCONSOLE CRITICAL - 2 critical (stuck_pending, ancient_actionable), "
                      "3 warning (low_success_rate, log_fallback, rate_limit_pressure), 16 failed")
    # perfdata: label=value[UOM];warn;crit;min;max, space separated (monitoring-plugin guidelines)
    fields = dict(p.split("=", 1) for p in perf.split(" "))
    assert fields["failed"] == "16;;;0"
    assert fields["pending"] == "7;;;0"
    assert fields["stuck_pending"] == "3;;0;0"
    assert fields["critical_alerts"] == "2;;0;0" and fields["warning_alerts"] == "3;0;;0"
    assert fields["success_rate_24h"] == "66.7%;80:;;0;100"


def test_verbose_keeps_the_table(db_url, frozen, tmp_path):
    db = open_database(db_url)
    build_incident(db)
    db.dispose()
    code, lines, _ = agent("--verbose", env={"SYNCONSOLE_DATABASE_URL": db_url}, cwd=tmp_path)
    assert code == 2
    assert PLUGIN_LINE.match(lines[0]) and lines[0].startswith("SYNCONSOLE CRITICAL - ")
    text = "\n".join(lines[1:])
    assert "failed                 16      manual review           4" in text
    assert "CRITICAL stuck_pending (3): 3 appointments pending for more than 15 min" in text
