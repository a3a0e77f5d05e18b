"""A booking uid that is not one (a slash, empty, absurdly long) already stored, and a Cal.com that
hands such uids out: `sync --once` finishes that appointment as failed with a readable error, the
rest of the batch goes on, nothing stays in flight, no traceback, and a second run does not pick
the poison row up again."""

from __future__ import annotations

import json

from tests.hostile.server import Answer, booking, envelope, empty_list
from tests.processes.support import DbView, import_rows, run_cli, scenario, write_config


def calcom(method: str, path: str, body: bytes = b""):
    route = path.split("?")[0]
    if method == "POST" and route == "/v2/bookings":
        sent = json.loads(body)
        return booking(f"good{sent['metadata']['synconsole_appointment_id']}", sent["start"])
    if method == "GET" and route == "/v2/bookings":
        return empty_list()
    if route.startswith("/v2/bookings/") and route.endswith("/cancel"):
        return Answer(200, envelope({"uid": route.split("/")[3], "status": "cancelled"}))
    if method == "GET" and route.startswith("/v2/bookings/"):
        return Answer(200, envelope({"uid": route.split("/")[3], "status": "accepted"}))
    return Answer(500, b'{"statusCode":500,"message":"unexpected"}')


def test_stored_invalid_uids_fail_their_own_appointment_and_the_batch_goes_on(tmp_path, hostile):
    server = hostile(calcom)
    db_url = f"sqlite:///{tmp_path / 'sync.db'}"
    config = write_config(tmp_path / "c.toml", db_url=db_url, sim_url=server.url, log_path=tmp_path / "s.log")
    rows = scenario(4)
    # a0000: booked under a uid with a slash, now cancelled; a0001: booked under "..", cancelled
    rows[-4] = {**rows[-4], "booking_uid": "abc/def", "status": "cancelled"}
    rows[-3] = {**rows[-3], "booking_uid": "..", "status": "cancelled"}
    import_rows(config, rows, tmp_path)
    for _ in range(2):
        result = run_cli("sync", "--once", "--config", str(config), cwd=tmp_path)
        assert "Traceback" not in result.stderr + result.stdout, result.stderr
        assert result.returncode == 0, result.stderr + result.stdout
    view = DbView(db_url)
    try:
        appts = view.appointments()
        assert appts["a0000"].sync_state == "failed" and "uid" in appts["a0000"].last_error, appts["a0000"]
        assert appts["a0001"].sync_state == "failed", appts["a0001"]
        assert appts["a0002"].sync_state == "synced" and appts["a0003"].sync_state == "synced", appts
        assert all(a.claimed_by is None for a in appts.values()), appts
        # the poison rows were tried once, not again on the second run
        assert view.scalar("SELECT count(*) FROM sync_attempts WHERE appointment_id = 'a0000'") == 1
    finally:
        view.close()
    assert not any("abc" in p for _, p in server.seen), server.seen
