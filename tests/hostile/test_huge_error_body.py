"""A 10 MB error body, answered again on every retry: stored once (capped), repeats by reference;
`report`, `show` and `list` stay quick, `show` cuts it with a note; no planted email or phone in
the default output or the log; a `[[categories.rules]]` regex sees a bounded excerpt only."""

from __future__ import annotations

import json
import os
import time

from synconsole.core.errorbody import BODY_CAP, MESSAGE_CAP
from tests.hostile.server import Answer
from tests.processes.support import DbView, import_rows, run_cli, scenario, write_config

PLANTED_EMAIL = "planted.person@example.org"
PLANTED_PHONE = "+4915199988877"
ATTEMPTS = 4


def huge_body() -> bytes:
    message = (f"Bad gateway for {PLANTED_EMAIL} {PLANTED_PHONE} " + "x" * (10 * 1024 * 1024)
               + f" {PLANTED_EMAIL} end")
    return json.dumps({"status": "error", "error": {"code": "BadRequestException", "message": message}}).encode()


def test_a_10_mb_error_body_is_stored_once_and_read_quickly(tmp_path, hostile):
    body = huge_body()
    server = hostile(lambda method, path, b=b"": Answer(400, body))
    db_path = tmp_path / "sync.db"
    db_url = f"sqlite:///{db_path}"
    config = write_config(tmp_path / "c.toml", db_url=db_url, sim_url=server.url, log_path=tmp_path / "s.log",
                          calcom={"max_concurrency": 1})
    # a rule that would run for hours over the whole body: it sees an excerpt
    with config.open("a") as f:
        f.write('[[categories.rules]]\nmessage = ".*.*.*gateway"\ncategory = "transient"\n')
    import_rows(config, scenario(1), tmp_path)
    before = os.path.getsize(db_path)
    for _ in range(ATTEMPTS):  # transient by the rule: each run is one more attempt with the same body
        result = run_cli("sync", "--once", "--limit", "1", "--config", str(config), cwd=tmp_path, timeout=120)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
        view = DbView(db_url)
        try:
            with view.db.engine.begin() as conn:  # due again now
                conn.exec_driver_sql("UPDATE appointments SET next_retry_at = '2000-01-01 00:00:00'")
        finally:
            view.close()
    growth = os.path.getsize(db_path) - before
    print(f"MEASURE database growth for {ATTEMPTS} attempts with a {len(body)} byte body: {growth} bytes")
    view = DbView(db_url)
    try:
        rows = view.rows("SELECT id, length(error_body) AS n, error_body, length(error_message) AS m "
                         "FROM sync_attempts ORDER BY id")
        appt = view.rows("SELECT length(last_error) AS n, category FROM appointments")[0]
    finally:
        view.close()
    assert len(rows) == ATTEMPTS, rows
    assert rows[0].n <= BODY_CAP + 200 and rows[0].error_body.endswith('end"}}')
    assert all(r.error_body == f"[the same body as attempt #{rows[0].id}]" for r in rows[1:]), [r.n for r in rows]
    assert all(r.m <= MESSAGE_CAP + 100 for r in rows) and appt.n <= MESSAGE_CAP + 100
    assert appt.category == "transient"
    assert growth <= BODY_CAP + MESSAGE_CAP * 3 * ATTEMPTS + 128 * 1024, growth

    for args in (("report",), ("show", "a0000"), ("list",), ("list", "--json")):
        started = time.monotonic()
        result = run_cli(*args, "--config", str(config), cwd=tmp_path, timeout=120)
        took = time.monotonic() - started
        print(f"MEASURE synconsole {' '.join(args)} after a 10 MB body: {took:.2f} s, {len(result.stdout)} chars")
        assert result.returncode in (0, 1), f"{args}: {result.stderr}"
        assert "Traceback" not in result.stderr
        assert took < 30, f"{args} took {took:.1f} s"
        assert len(result.stdout) < 100_000, f"{args} printed {len(result.stdout)} characters"
        if "--json" not in args:
            assert PLANTED_EMAIL not in result.stdout and PLANTED_PHONE not in result.stdout, args
    show = run_cli("show", "a0000", "--config", str(config), cwd=tmp_path).stdout
    assert "cut here" in show
    log = (tmp_path / "s.log").read_text(errors="replace")
    assert PLANTED_EMAIL not in log and PLANTED_PHONE not in log
