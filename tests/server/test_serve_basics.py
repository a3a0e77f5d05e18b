"""`synconsole serve`: health and readiness, JSON errors, bounded bodies, [server] config, SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from synconsole.config import load_settings
from synconsole.core import clock
from synconsole.core.db import _alembic_config
from synconsole.core.models import JobState
from synconsole.errors import ConfigError

from tests.conftest import write
from tests.server.conftest import SECRET, TOKEN, server_settings


def test_healthz_and_readyz(db, serve):
    served = serve(server_settings(db.url), db)
    assert served.http.get("/healthz").json() == {"ok": True}
    ready = served.http.get("/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["ok"] is True and body["checks"]["migrations"]["current"] == body["checks"]["migrations"]["head"]


def test_readyz_reports_a_stuck_job(db, serve):
    with db.write() as session:  # the sync job ran, then stopped running an hour ago
        then = clock.now() - timedelta(hours=1)
        session.add(JobState(id="sync", last_run_at=then, last_finished_at=then, last_ok=True, runs=3))
        session.commit()
    served = serve(server_settings(db.url), db)
    ready = served.http.get("/readyz")
    assert ready.status_code == 503
    body = ready.json()
    assert body["code"] == "not_ready" and "jobs" in body["message"]
    assert [s["job"] for s in body["checks"]["jobs"]["stuck"]] == ["sync"]


def test_readyz_reports_an_outdated_schema(db, serve):
    from alembic import command

    served = serve(server_settings(db.url), db)
    with db.engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0008")
    ready = served.http.get("/readyz")
    from synconsole.core.db import head_revision

    assert ready.status_code == 503 and ready.json()["checks"]["migrations"] == {
        "ok": False, "current": "0008", "head": head_revision()}


def test_errors_are_json_with_a_stable_code(db, serve):
    served = serve(server_settings(db.url), db)
    missing = served.http.get("/nothing-here")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    wrong = served.http.get("/webhooks/calcom")
    assert wrong.status_code == 405 and wrong.json()["code"] == "method_not_allowed"
    bad = served.http.post("/v1/check", content=b"{not json", headers={"authorization": f"Bearer {TOKEN}"})
    assert bad.status_code == 400 and bad.json()["code"] == "bad_body"


def test_bodies_over_the_limit_get_413(db, serve):
    served = serve(server_settings(db.url, max_body_bytes=2048), db)
    big = b"x" * 5000
    answer = served.http.post("/v1/appointments", content=big, headers={"authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 413 and answer.json()["code"] == "too_large"

    def chunks():  # no Content-Length: counted while it streams
        for _ in range(5):
            yield b"y" * 1000

    streamed = served.http.post("/v1/appointments", content=chunks(), headers={"authorization": f"Bearer {TOKEN}"})
    assert streamed.status_code == 413 and streamed.json()["code"] == "too_large"


def test_server_config_section(tmp_path):
    path = write(tmp_path / "c.toml", '[server]\nwebhook_secret_env = "MY_HOOK_SECRET"\non_calcom_cancel = "rebook"\n'
                                      'max_body_bytes = 4096\n')
    settings = load_settings(path, env={})
    assert settings.server.on_calcom_cancel == "rebook" and settings.server.max_body_bytes == 4096
    assert settings.server.allow_unsigned is False
    assert settings.server.resolve("webhook_secret", {"MY_HOOK_SECRET": "s3cr3t"}).reveal() == "s3cr3t"
    with pytest.raises(ConfigError, match="MY_HOOK_SECRET is not set"):
        settings.server.resolve("webhook_secret", {})
    bad = write(tmp_path / "bad.toml", '[server]\non_calcom_cancel = "delete"\n')
    with pytest.raises(ConfigError, match=r'on_calcom_cancel: expected one of "flag", "rebook", "cancel_locally"'):
        load_settings(bad, env={})
    unknown = write(tmp_path / "unknown.toml", '[server]\nport = 1\n')
    with pytest.raises(ConfigError, match=r"\[server\] port: unknown key"):
        load_settings(unknown, env={})
    secret = write(tmp_path / "secret.toml", '[server]\ningest_token = 12345678\n')
    with pytest.raises(ConfigError) as exc:
        load_settings(secret, env={})
    assert "12345678" not in str(exc.value)
    assert SECRET not in repr(load_settings(write(tmp_path / "ok.toml", f'[server]\nwebhook_secret = "{SECRET}"\n'),
                                            env={}))


def _serve_process(tmp_path, *extra_env):
    config = write(tmp_path / "serve.toml", f'[database]\nurl = "sqlite:///{tmp_path / "db.sqlite"}"\n'
                   f'[logging]\npath = "{tmp_path / "serve.log"}"\n'
                   f'[server]\nwebhook_secret = "{SECRET}"\ningest_token_env = "MY_INGEST_TOKEN"\n')
    env = {**os.environ, "MY_INGEST_TOKEN": TOKEN}
    proc = subprocess.Popen([sys.executable, "-m", "synconsole", "serve", "--config", str(config), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    url = proc.stdout.readline().strip()
    return proc, url


def test_serve_stops_cleanly_on_sigterm(tmp_path):
    import httpx

    proc, url = _serve_process(tmp_path)
    try:
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read()
        assert httpx.get(f"{url}/healthz", timeout=10).json() == {"ok": True}
        denied = httpx.post(f"{url}/v1/check", json={}, headers={"authorization": "Bearer wrong"}, timeout=10)
        assert denied.status_code == 401
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = proc.wait(timeout=10)
        assert time.monotonic() - started < 5
        err = proc.stderr.read()
        assert code == 0, err
        assert "Traceback" not in err and "stopped" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = (tmp_path / "serve.log").read_text() if (tmp_path / "serve.log").exists() else ""
    assert SECRET not in log + err and TOKEN not in log + err


def test_serve_refuses_a_missing_token_variable_in_one_line(tmp_path, run_cli):
    config = write(tmp_path / "c.toml", f'[database]\nurl = "sqlite:///{tmp_path / "db.sqlite"}"\n'
                   '[server]\ningest_token_env = "NOT_SET_ANYWHERE"\n')
    code, out, err = run_cli("serve", "--config", str(config), "--port", "0")
    assert code == 2 and err.count("\n") == 1 and "NOT_SET_ANYWHERE is not set" in err, (code, out, err)


def test_worker_serves_in_process_and_stops_on_sigterm(tmp_path):
    import httpx

    config = write(tmp_path / "w.toml", f'[database]\nurl = "sqlite:///{tmp_path / "db.sqlite"}"\n'
                   f'[logging]\npath = "{tmp_path / "w.log"}"\n[calcom]\napi_key = "cal_test_worker"\n'
                   'base_url = "http://127.0.0.1:9"\n'
                   f'[server]\nwebhook_secret = "{SECRET}"\n')
    proc = subprocess.Popen([sys.executable, "-m", "synconsole", "worker", "--serve", "--serve-port", "0",
                             "--config", str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        deadline = time.monotonic() + 20
        lines = []
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "serving on " in line:
                url = line.rsplit("serving on ", 1)[1].strip()
        assert url, "".join(lines)
        assert httpx.get(f"{url}/healthz", timeout=10).json() == {"ok": True}
        assert httpx.get(f"{url}/metrics", timeout=10).status_code == 200
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = proc.wait(timeout=15)
        err = "".join(lines) + proc.stderr.read()
        assert code == 0 and time.monotonic() - started < 10, err
        assert "Traceback" not in err and "stopped" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_concurrency_is_bounded(db, serve, tmp_path):
    import threading

    import httpx

    from synconsole.simulator import Faults, SimulatorServer

    from tests.engine.helpers import EVENT_TYPES, KEY, appointment, load, people, soon

    load(db, tmp_path, people())
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES, faults=Faults(latency_s=1.5)) as sim:
        settings = server_settings(db.url, max_concurrency=1, calcom={"base_url": sim.url, "api_key": KEY})
        served = serve(settings, db)
        slow: list[httpx.Response] = []
        body = {"appointment": appointment("slow", soon()), "availability": True}
        worker = threading.Thread(target=lambda: slow.append(httpx.post(
            f"{served.url}/v1/check", json=body, headers={"authorization": f"Bearer {TOKEN}"}, timeout=10)))
        worker.start()
        time.sleep(0.5)  # the slow check holds the only slot
        busy = served.http.get("/readyz")
        alive = served.http.get("/healthz")  # liveness is never refused
        worker.join()
    assert busy.status_code == 503 and busy.json()["code"] == "busy"
    assert alive.status_code == 200
    assert slow[0].status_code == 200
