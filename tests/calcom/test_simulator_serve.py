"""Event types files, ``serve`` as a real process, and the package's import hygiene."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import synconsole.calcom
from synconsole.simulator import create_app, load_event_types, serve

CALCOM_DIR = Path(synconsole.calcom.__file__).resolve().parent
SRC_DIR = CALCOM_DIR.parents[1]


def write(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "event-types.json"
    path.write_text(content, encoding="utf-8")
    return path


def test_load_event_types_contract_example(tmp_path):
    types = load_event_types(write(tmp_path, '{"101": {"host": "fabian", "length": 30}}'))
    et = types[101]
    assert (et.hosts, et.length, et.team, et.working_hours) == (("fabian",), 30, False, None)


def test_load_event_types_all_options(tmp_path):
    content = {
        "7": {
            "hosts": ["a", "b"],
            "length": 45,
            "slug": "team",
            "title": "Team",
            "lengthOptions": [45, 90],
            "timeZone": "Europe/Berlin",
            "workingHours": {"days": [0, 1], "start": "09:00", "end": "24:00"},
            "minimumBookingNotice": 30,
            "periodDays": 10,
        }
    }
    et = load_event_types(write(tmp_path, json.dumps(content)))[7]
    assert et.team and et.length_options == (45, 90) and et.working_hours.end is None and et.period_days == 10


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "not valid JSON (line 1"),
        ("[]", "expected a non-empty JSON object"),
        ("{}", "expected a non-empty JSON object"),
        ('{"abc": {"host": "a", "length": 30}}', "key 'abc' is not a positive integer event type id"),
        ('{"101": {"length": 30}}', "event type 101: 'host' is missing"),
        ('{"101": {"host": "a"}}', "'length' must be a positive integer"),
        ('{"101": {"host": "a", "length": 30, "lenght": 3}}', "unknown key 'lenght'"),
        ('{"101": {"host": "a", "length": 30, "timeZone": "Mars/Base"}}', "'timeZone' 'Mars/Base' is not an IANA time zone"),
        ('{"101": {"host": "a", "length": 30, "workingHours": {"start": "18:00", "end": "09:00"}}}', "end must be after start"),
        ('{"101": {"host": "a", "length": 30, "lengthOptions": [60]}}', "must contain 'length'"),
    ],
)
def test_load_event_types_errors_are_one_clear_line(tmp_path, content, needle):
    path = write(tmp_path, content)
    with pytest.raises(ValueError) as caught:
        load_event_types(path)
    message = str(caught.value)
    assert needle in message and str(path) in message and "\n" not in message


def test_load_event_types_missing_file(tmp_path):
    with pytest.raises(ValueError, match="cannot be read"):
        load_event_types(tmp_path / "nope.json")


def test_serve_refuses_non_loopback_hosts():
    for host in ("0.0.0.0", "192.168.1.10", "example.com"):
        with pytest.raises(ValueError, match="loopback"):
            serve(host=host)


def test_create_app_rejects_bad_busy_blocks():
    with pytest.raises(ValueError, match="unknown host"):
        create_app(busy=[{"host": "ghost", "start": "2030-01-01T10:00:00Z", "end": "2030-01-01T11:00:00Z"}])


def test_serve_prints_its_url_first_and_serves(tmp_path):
    types = write(tmp_path, '{"555": {"host": "solo", "length": 20}}')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC_DIR), os.environ.get("PYTHONPATH")]))}
    code = f"from synconsole.simulator import serve; serve(port=0, api_key='cal_serve_key', event_types={str(types)!r})"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and int(url.rsplit(":", 1)[1]) > 0, url
        with httpx.Client(base_url=url, timeout=10) as client:
            for _ in range(100):  # the URL is printed just before uvicorn starts accepting
                try:
                    health = client.get("/_sim/health")
                    break
                except httpx.ConnectError:
                    import time

                    time.sleep(0.05)
            assert health.json() == {"ok": True}
            headers = {"cal-api-version": "2024-09-04", "Authorization": "Bearer cal_serve_key"}
            slots = client.get("/v2/slots", params={"eventTypeId": "555", "start": "2099-01-01", "end": "2099-01-01"}, headers=headers)
            assert slots.status_code == 200 and len(slots.json()["data"]["2099-01-01"]) == 72
            refused = client.get("/v2/bookings", headers={"cal-api-version": "2024-08-13", "Authorization": "Bearer cal_other"})
            assert refused.status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert out.strip() == "", "nothing but the URL on stdout"


def test_calcom_package_imports_no_textual_core_or_config():
    forbidden_roots = ("textual", "synconsole.core", "synconsole.config", "synconsole.cli", "synconsole.tui")
    for path in CALCOM_DIR.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [("." * node.level) + (node.module or "")]
                if node.level >= 2:
                    pytest.fail(f"{path.name}: reaches outside the calcom package: {names[0]}")
            for name in names:
                assert not name.startswith(forbidden_roots), f"{path.name} imports {name}"
    probe = (
        "import sys; import synconsole.calcom.client, synconsole.simulator, synconsole.calcom.ratelimit;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'textual' or m.startswith(('synconsole.core', 'synconsole.config')));"
        "print(bad)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC_DIR), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
