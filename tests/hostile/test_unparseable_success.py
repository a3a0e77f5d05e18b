"""A 2xx Cal.com answer we cannot read (not JSON, or no ``data.uid``) is an unknown outcome: the
booking may exist. The sync looks it up, adopts what it finds, and never creates a second booking;
a cancel answered that way is checked by uid, never taken as "still booked"."""

from __future__ import annotations

import json

import pytest

from tests.hostile.server import Answer, envelope
from tests.processes.support import DbView, import_rows, run_cli, scenario, write_config


class Calcom:
    """Creates really happen (kept here), but each create or cancel answer is unreadable."""

    def __init__(self, create_answer: bytes, cancel_answer: bytes) -> None:
        self.create_answer = create_answer
        self.cancel_answer = cancel_answer
        self.bookings: dict[str, dict] = {}
        self.creates = 0

    def __call__(self, method: str, path: str, body: bytes = b""):
        route = path.split("?")[0]
        if method == "POST" and route == "/v2/bookings":
            sent = json.loads(body)
            self.creates += 1
            uid = f"uid{self.creates:04d}"
            self.bookings[uid] = {"id": self.creates, "uid": uid, "status": "accepted", "start": sent["start"],
                                  "end": sent["start"], "metadata": sent.get("metadata") or {},
                                  "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"}
            return Answer(201, self.create_answer)
        if method == "GET" and route == "/v2/bookings":
            data = [b for b in self.bookings.values() if b["status"] == "accepted"]
            return Answer(200, json.dumps({"status": "success", "data": data,
                                           "pagination": {"hasNextPage": False, "totalItems": len(data)}}).encode())
        if route.startswith("/v2/bookings/"):
            uid = route.split("/")[3]
            if uid not in self.bookings:
                return Answer(404, b'{"status":"error","error":{"code":"NotFoundException","message":"not found"}}')
            if method == "POST" and route.endswith("/cancel"):
                self.bookings[uid]["status"] = "cancelled"
                return Answer(200, self.cancel_answer)
            return Answer(200, envelope(self.bookings[uid]))
        return Answer(500, b'{"statusCode":500,"message":"unexpected"}')


UNREADABLE = [b"<html>Created</html>", envelope({"id": 7}), b""]


@pytest.mark.parametrize("unreadable", UNREADABLE, ids=["not-json", "no-uid", "empty"])
def test_an_unreadable_create_answer_is_looked_up_and_adopted_never_booked_twice(tmp_path, hostile, unreadable):
    calcom = Calcom(unreadable, unreadable)
    server = hostile(calcom)
    db_url = f"sqlite:///{tmp_path / 'sync.db'}"
    config = write_config(tmp_path / "c.toml", db_url=db_url, sim_url=server.url, log_path=tmp_path / "s.log",
                          sync={"max_attempts": 3})
    import_rows(config, scenario(2), tmp_path)
    for _ in range(2):  # a second run must not create again either
        result = run_cli("sync", "--once", "--config", str(config), cwd=tmp_path)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr + result.stdout
    assert calcom.creates == 2, f"{calcom.creates} creates for 2 appointments"
    view = DbView(db_url)
    try:
        appts = view.appointments()
        assert {a.sync_state for a in appts.values()} == {"synced"}, appts
        assert sorted(a.booking_uid for a in appts.values()) == ["uid0001", "uid0002"]
    finally:
        view.close()


@pytest.mark.parametrize("unreadable", UNREADABLE, ids=["not-json", "no-uid", "empty"])
def test_an_unreadable_cancel_answer_is_checked_by_uid(tmp_path, hostile, unreadable):
    calcom = Calcom(json.dumps({"status": "success", "data": {}}).encode(), unreadable)
    calcom.create_answer = None  # set per call below: creates answer properly
    server = hostile(lambda m, p, b: _readable_creates(calcom, m, p, b))
    db_url = f"sqlite:///{tmp_path / 'sync.db'}"
    config = write_config(tmp_path / "c.toml", db_url=db_url, sim_url=server.url, log_path=tmp_path / "s.log",
                          sync={"max_attempts": 3})
    rows = scenario(1)
    import_rows(config, rows, tmp_path)
    assert run_cli("sync", "--once", "--config", str(config), cwd=tmp_path).returncode == 0
    rows[-1] = {**rows[-1], "status": "cancelled"}
    import_rows(config, rows, tmp_path)
    result = run_cli("sync", "--once", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr + result.stdout
    view = DbView(db_url)
    try:
        (appt,) = view.appointments().values()
        assert appt.sync_state == "cancelled", appt
    finally:
        view.close()
    assert [b["status"] for b in calcom.bookings.values()] == ["cancelled"]


def _readable_creates(calcom: Calcom, method: str, path: str, body: bytes):
    answer = calcom(method, path, body)
    if method == "POST" and path.split("?")[0] == "/v2/bookings":
        uid = f"uid{calcom.creates:04d}"
        return Answer(201, envelope(calcom.bookings[uid]))
    return answer
