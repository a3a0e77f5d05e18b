"""The CLI's data commands as a script would use them: JSON shapes, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from synconsole.core import audit
from synconsole.core.db import open_database

from tests import factory
from tests.conftest import NOW, write

LIST_KEYS = {"id", "status", "sync_state", "category", "customer_id", "staff_id", "start", "booking_uid",
             "attempts", "last_error"}


@pytest.fixture
def populated(db_url):
    db = open_database(db_url)
    with db.session() as s:
        factory.staff(s, "s1")
        factory.customer(s, "c1", email="anna.beispiel@example.com", phone="+4915112345678")
        factory.failed(s, "748", category="host_conflict", first_failed_at=NOW - timedelta(hours=2),
                       start=NOW + timedelta(days=2), message="User either already has booking at this time or is "
                                                              "not available", attempts=2)
        factory.attempt(s, "748", at=NOW - timedelta(hours=3), outcome="retry", status=500, category="transient",
                        message="Internal server error", body='{"statusCode":500,"message":"Internal server error"}')
        factory.attempt(s, "748", at=NOW - timedelta(hours=2), outcome="failed", status=400, category="host_conflict",
                        message="User either already has booking at this time or is not available",
                        body="x" * 5000)
        factory.appointment(s, "760", start=NOW + timedelta(days=1))
        factory.appointment(s, "761", start=NOW + timedelta(days=4), sync_state="synced", booking_uid="uid-761")
        audit.record(s, actor="ops@box", action="snooze", targets=["748"], reason="customer called back",
                     before={"748": {"snoozed_until": None}}, after={"748": {"snoozed_until": "2025-11-25T17:00:00Z"}},
                     at=NOW - timedelta(hours=1))
        s.commit()
    db.dispose()
    return {"SYNCONSOLE_DATABASE_URL": db_url}


def test_list_json(populated, run_cli):
    code, out, err = run_cli("list", "--json", env=populated)
    assert code == 0 and err == ""
    items = json.loads(out)
    assert [i["id"] for i in items] == ["760", "748", "761"]
    assert all(LIST_KEYS <= set(i) for i in items)
    first_failed = items[1]
    assert {k: first_failed[k] for k in LIST_KEYS} == {
        "id": "748", "status": "scheduled", "sync_state": "failed", "category": "host_conflict",
        "customer_id": "c1", "staff_id": "s1", "start": "2025-11-26T17:00:00Z", "booking_uid": None,
        "attempts": 2, "last_error": "User either already has booking at this time or is not available",
    }


def test_list_filters(populated, run_cli):
    ids = lambda *a: [i["id"] for i in json.loads(run_cli("list", "--json", *a, env=populated)[1])]  # noqa: E731
    assert ids("--state", "failed") == ["748"]
    assert ids("--state", "queued") == ["760"]
    assert ids("--category", "host_conflict") == ["748"]
    assert ids("--staff", "s1", "--limit", "1") == ["760"]
    code, out, err = run_cli("list", "--state", "broken", env=populated)
    assert code == 2 and out == "" and err.count("\n") == 1 and "--state: expected one of pending" in err
    code, _, err = run_cli("list", "--limit", "0", env=populated)
    assert code == 2 and err.startswith("synconsole: error: Invalid value for '--limit'")


def test_show_json(populated, run_cli):
    code, out, _ = run_cli("show", "748", "--json", env=populated)
    assert code == 0
    doc = json.loads(out)
    assert LIST_KEYS <= set(doc)
    assert [(a["at"], a["http_status"], a["outcome"]) for a in doc["attempts_detail"]] == [
        ("2025-11-24T14:00:00Z", 500, "retry"), ("2025-11-24T15:00:00Z", 400, "failed")]
    assert doc["attempts_detail"][0]["error"] == '{"statusCode":500,"message":"Internal server error"}'
    assert doc["attempts_detail"][1]["error"] == "x" * 5000  # full, untruncated
    (event,) = doc["audit"]
    assert (event["actor"], event["action"], event["reason"]) == ("ops@box", "snooze", "customer called back")
    assert event["after"] == {"snoozed_until": "2025-11-25T17:00:00Z"}
    assert doc["customer"]["email"] == "a***@example.com" and doc["customer"]["phone"] == "+49***78"
    assert doc["remediation"].startswith("Reschedule to one of the free slots")
    revealed = json.loads(run_cli("show", "748", "--json", "--reveal-pii", env=populated)[1])
    assert revealed["customer"]["email"] == "anna.beispiel@example.com"


def test_show_text_masks_pii_and_shows_full_errors(populated, run_cli):
    code, out, _ = run_cli("show", "748", env=populated)
    assert code == 0
    assert "anna.beispiel" not in out and "a***@example.com" in out
    assert "x" * 5000 in out
    assert "suggested: Reschedule" in out


def test_show_unknown_id(populated, run_cli):
    code, out, err = run_cli("show", "999", env=populated)
    assert code == 1 and out == "" and err == "synconsole: error: appointment '999' not found\n"


def test_json_output_is_only_json_even_with_bad_rows_elsewhere(populated, run_cli):
    code, out, _ = run_cli("status", "--json", env=populated)
    json.loads(out)


def test_unknown_command_and_option_are_usage_errors(run_cli):
    code, out, err = run_cli("frobnicate")
    assert code == 2 and err.count("\n") == 1 and "No such command 'frobnicate'" in err
    code, _, err = run_cli("status", "--frobnicate")
    assert code == 2 and err == "synconsole: error: No such option '--frobnicate'. (see: synconsole status --help)\n"


def test_doctor_never_prints_the_key(tmp_path, run_cli, sqlite_url):
    key = "cal_live_0123456789abcdef"
    cfg = write(tmp_path / "c.toml", f'[database]\nurl = "{sqlite_url}"\n[calcom]\napi_key = "{key}"\n'
                                     f'base_url = "http://127.0.0.1:9"\n[logging]\npath = "{tmp_path}/logs/s.log"\n')
    code, out, err = run_cli("doctor", "--config", str(cfg))
    assert key not in out + err and "0123456789" not in out + err
    assert code == 1 and "[fail] cal.com: http://127.0.0.1:9 not usable" in out
    assert f"[ ok ] config: {cfg}" in out
    assert "[ ok ] cal.com key: present (cal_live_ key)" in out
    assert f"[ ok ] log path: {tmp_path}/logs/s.log is writable" in out


def test_doctor_reports_a_log_path_that_cannot_exist(tmp_path, run_cli, sqlite_url):
    blocker = write(tmp_path / "not-a-dir", "")
    cfg = write(tmp_path / "c.toml", f'[database]\nurl = "{sqlite_url}"\n[logging]\npath = "{blocker}/s.log"\n')
    code, out, _ = run_cli("doctor", "--config", str(cfg))
    assert f"[warn] log path: cannot create folder {blocker}" in out
    assert "logs will fall back to the user log dir or stderr" in out
    assert "[ ok ] database:" in out


def test_doctor_reports_a_permission_denied_log_path(tmp_path, run_cli, sqlite_url):
    locked = tmp_path / "locked"
    locked.mkdir()
    target = locked / "s.log"
    target.write_text("")
    target.chmod(0o444)
    locked.chmod(0o555)
    cfg = write(tmp_path / "c.toml", f'[database]\nurl = "{sqlite_url}"\n[logging]\npath = "{target}"\n')
    try:
        code, out, _ = run_cli("doctor", "--config", str(cfg))
    finally:
        locked.chmod(0o755)
    if "is writable" in out:
        pytest.skip("running as a user that ignores file permissions")
    assert f"[warn] log path: cannot write {target} (permission denied)" in out
    assert "[fail] cal.com key: no API key" in out and code == 1


def test_core_and_calcom_import_without_textual():
    src = Path(__file__).resolve().parent.parent / "src" / "synconsole"
    modules = sorted(
        "synconsole." + ".".join(p.relative_to(src).with_suffix("").parts)
        for package in ("core", "calcom") for p in (src / package).rglob("*.py")
    )
    modules = [m.removesuffix(".__init__") for m in modules]
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules)
            + "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
            + "print(','.join(bad))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"textual imported by the core: {result.stdout}"
    assert len(modules) >= 10


def test_python_dash_m_entry_point(tmp_path):
    result = subprocess.run([sys.executable, "-m", "synconsole", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("synconsole, version ")


def test_doctor_checks_calcom_reachability_and_key(tmp_path, run_cli, sqlite_url):
    from synconsole.simulator import SimulatorServer

    with SimulatorServer(api_key="cal_good_key") as sim:
        for key, expected in (("cal_good_key", "[ ok ] cal.com: {url} reachable, key accepted ("),
                              ("cal_wrong_key", "[fail] cal.com: {url} refused the key (HTTP 401)")):
            cfg = write(tmp_path / "c.toml", f'[database]\nurl = "{sqlite_url}"\n[calcom]\nbase_url = "{sim.url}"\n'
                                             f'api_key = "{key}"\n[logging]\npath = "{tmp_path}/s.log"\n')
            code, out, err = run_cli("doctor", "--config", str(cfg))
            assert expected.format(url=sim.url) in out
            assert key not in out + err
            assert code == (0 if key == "cal_good_key" else 1)
    code, out, _ = run_cli("doctor", "--config", str(cfg))  # the simulator is gone now
    assert f"[fail] cal.com: {sim.url} not usable: connection" in out and code == 1


def test_simulator_command_prints_its_url_first(tmp_path):
    import signal

    import httpx

    proc = subprocess.Popen([sys.executable, "-m", "synconsole", "simulator", "--port", "0", "--api-key", "cal_k"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        answer = httpx.get(f"{url}/v2/bookings", headers={"Authorization": "Bearer cal_k",
                                                           "cal-api-version": "2024-08-13"})
        assert answer.status_code == 200 and answer.json()["status"] == "success"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    assert proc.returncode == 0
    bad = write(tmp_path / "et.json", "{not json")
    result = subprocess.run([sys.executable, "-m", "synconsole", "simulator", "--event-types", str(bad)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "et.json" in result.stderr
