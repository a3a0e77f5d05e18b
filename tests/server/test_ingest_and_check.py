"""`POST /v1/appointments` (ingest) and `POST /v1/check` (the pre-booking check) over real HTTP."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import httpx
import pytest
from sqlmodel import select

from synconsole.simulator import Faults, SimulatorServer
from synconsole.core.models import Appointment, Customer

from tests.engine.helpers import EVENT_TYPES, KEY, appointment, load, people, soon
from tests.server.conftest import TOKEN, server_settings

AUTH = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def sim():
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES) as server:
        yield server


def with_calcom(db_url: str, sim, **server):
    return server_settings(db_url, calcom={"base_url": sim.url, "api_key": KEY}, **server)


def ndjson(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def test_ingest_reaches_calcom(db, sim, serve, run_cli):
    served = serve(with_calcom(db.url, sim), db)
    t = soon(days=3, hour=9)
    rows = [r for r in people() if r["id"] in ("s-2", "c-1")] + [
        appointment("in-1", t), appointment("in-bad", t, customer="c-nobody"),
        {"kind": "appointment", "id": "in-nostart", "customer_id": "c-1"}]
    answer = served.http.post("/v1/appointments", content=ndjson(rows),
                              headers={**AUTH, "content-type": "application/x-ndjson"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["accepted"], body["rejected"]) == (3, 2)
    by_id = {r["id"]: r for r in body["rows"]}
    assert by_id["in-1"] == {"line": 3, "kind": "appointment", "id": "in-1", "accepted": True, "problems": []}
    assert by_id["in-bad"]["accepted"] is False and "customer 'c-nobody' not found" in \
        by_id["in-bad"]["problems"][0]["message"]
    assert by_id["in-nostart"]["problems"][0]["code"] == "invalid" and "start" in \
        by_id["in-nostart"]["problems"][0]["message"]
    env = {"SYNCONSOLE_DATABASE_URL": db.url, "SYNCONSOLE_CALCOM_BASE_URL": sim.url, "SYNCONSOLE_CALCOM_API_KEY": KEY}
    code, out, err = run_cli("sync", "--once", env=env)
    assert code == 0, err
    held = httpx.get(f"{sim.url}/_sim/bookings", params={"appointment_id": "in-1"}).json()["bookings"]
    assert len(held) == 1 and held[0]["status"] == "accepted" and held[0]["start"].startswith(
        t.strftime("%Y-%m-%dT%H:%M"))
    with db.session() as s:
        assert s.get(Appointment, "in-1").booking_uid == held[0]["uid"]
        assert s.get(Appointment, "in-bad") is None


def test_ingest_takes_a_json_array_and_an_object(db, serve):
    served = serve(server_settings(db.url), db)
    rows = [r for r in people() if r["id"] in ("s-2", "c-1")]
    assert served.http.post("/v1/appointments", json=rows, headers=AUTH).json()["accepted"] == 2
    one = served.http.post("/v1/appointments", json=appointment("j-1", soon()), headers=AUTH).json()
    assert one["accepted"] == 1 and one["rows"][0]["id"] == "j-1"


def test_ingest_needs_the_token_and_never_echoes_it(db, serve):
    served = serve(server_settings(db.url), db)
    row = {"kind": "customer", "id": "c-9", "name": "X"}
    for headers in ({}, {"authorization": "Bearer wrong-token"}, {"authorization": TOKEN}):
        answer = served.http.post("/v1/appointments", json=row, headers=headers)
        assert answer.status_code == 401 and answer.json()["code"] == "unauthorized"
        assert TOKEN not in answer.text
    with db.session() as s:
        assert s.get(Customer, "c-9") is None


def test_read_only_refuses_the_ingest(db, serve):
    served = serve(server_settings(db.url).with_read_only(), db)
    answer = served.http.post("/v1/appointments", json={"kind": "customer", "id": "c-9", "name": "X"}, headers=AUTH)
    assert answer.status_code == 403 and answer.json()["code"] == "read_only"
    with db.session() as s:
        assert s.get(Customer, "c-9") is None


def check(served, appointment_row: dict, **extra) -> dict:
    answer = served.http.post("/v1/check", json={"appointment": appointment_row, **extra}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_check_answers_the_seeds_cases(db, serve, tmp_path):
    t = soon(days=2, hour=10)
    load(db, tmp_path, people() + [appointment("booked", t, staff="s-1")])
    served = serve(server_settings(db.url), db)
    assert check(served, appointment("new-ok", t + timedelta(hours=3))) == {"ok": True, "problems": [],
                                                                          "category": None}
    cases = {
        "past_appointment": appointment("new-past", t - timedelta(days=10)),
        "missing_staff": appointment("new-nostaff", t, staff=None),
        "missing_contact": appointment("new-anon", t + timedelta(hours=4), customer="c-anon"),
        # s-1b is the same Cal.com host as s-1, already booked at that time
        "host_conflict": appointment("new-busy", t + timedelta(minutes=15), staff="s-1b"),
    }
    for code, row in cases.items():
        answer = check(served, row)
        assert answer["ok"] is False and answer["category"] == code, (code, answer)
        assert answer["problems"][0]["code"] == code and answer["problems"][0]["message"]
    # a new caller, not in the database yet: sent along as a related row
    new_caller = {"kind": "customer", "id": "c-new", "name": "New", "email": "new@example.com"}
    assert check(served, appointment("new-caller", t + timedelta(hours=5), customer="c-new"),
                 related=[new_caller])["ok"] is True
    assert check(served, {"id": "x"})["category"] == "invalid"


def test_check_with_availability_asks_the_simulator(db, tmp_path, serve):
    t = soon(days=2, hour=10)
    busy = [{"host": "maria", "start": t.isoformat(), "end": (t + timedelta(hours=1)).isoformat()}]
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES, busy=busy) as sim:
        load(db, tmp_path, people())
        served = serve(with_calcom(db.url, sim), db)
        answer = check(served, appointment("av-busy", t), availability=True)
        assert answer["ok"] is False and answer["category"] == "unavailable", answer
        assert check(served, appointment("av-free", t + timedelta(hours=2)), availability=True)["ok"] is True
        assert check(served, appointment("av-local", t))["ok"] is True  # without availability: local rules only


def test_check_with_availability_asks_the_account_the_staff_books_through(db, tmp_path, serve):
    """Staff of a second Cal.com account: its slots come from that account's key, not the default's."""
    t = soon(days=2, hour=10)
    busy = [{"host": "maria", "start": t.isoformat(), "end": (t + timedelta(hours=1)).isoformat()}]
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES) as default, \
            SimulatorServer(api_key="cal_acme_key", event_types=EVENT_TYPES, busy=busy) as acme:
        rows = people() + [{"kind": "staff", "id": "s-acme", "name": "Maria at Acme", "calcom_username": "maria",
                            "event_type_id": 102, "calcom_account": "acme"}]
        load(db, tmp_path, rows)
        settings = server_settings(db.url, calcom={"base_url": default.url, "api_key": KEY, "accounts": [
            {"id": "acme", "base_url": acme.url, "api_key": "cal_acme_key"}]})
        served = serve(settings, db)
        answer = check(served, appointment("av-acme", t, staff="s-acme"), availability=True)
        assert answer["ok"] is False and answer["category"] == "unavailable", answer
        assert check(served, appointment("av-default", t), availability=True)["ok"] is True  # default: host free
    from synconsole.core import budget

    # each key's slot queries took their tokens from that key's budget, shared with the workers
    assert {"default", "acme"} <= set(budget.states(db)), budget.states(db)


def test_check_availability_is_bounded_by_its_timeout(db, tmp_path, serve):
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES, faults=Faults(latency_s=5)) as sim:
        load(db, tmp_path, people())
        served = serve(with_calcom(db.url, sim), db)
        started = time.monotonic()
        answer = check(served, appointment("slow", soon(days=2, hour=11)), availability=True, timeout=0.5)
        assert time.monotonic() - started < 2.5
    assert answer["ok"] is False and answer["category"] == "not_checked", answer


def test_check_refuses_bad_bodies_with_a_code(db, serve):
    served = serve(server_settings(db.url), db)
    for body in ([], {"appointment": 3}, {"appointment": {}, "timeout": -1}, {"appointment": {}, "extra": 1},
                 {"appointment": {}, "availability": "yes"}):
        answer = served.http.post("/v1/check", json=body, headers=AUTH)
        assert answer.status_code == 400 and answer.json()["code"] == "bad_body", body
    assert served.http.post("/v1/check", json={"appointment": {}}).status_code == 401
