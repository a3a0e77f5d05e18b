"""The pre-booking check (`synconsole check FILE`, precheck.check_rows / check_appointment): every
problem kind with its line number, on SQLite and PostgreSQL; availability against the Cal.com
simulator over 127.0.0.1."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from synconsole.simulator import SimulatorServer
from synconsole.core import clock
from synconsole.core import precheck
from synconsole.core.db import open_database

from tests import factory
from tests.conftest import NOW, write

H = timedelta(hours=1)
D = timedelta(days=1)
DAY2 = (NOW + 2 * D).replace(hour=10)  # 2025-11-26T10:00:00Z


def at(base, hours=0.0):
    return clock.iso(base + timedelta(hours=hours))


def appt(id, start, *, staff="s2", customer="c1", **kw):
    return {"kind": "appointment", "id": id, "customer_id": customer, "staff_id": staff, "start": start,
            "duration_minutes": kw.pop("minutes", 30), **kw}


def seed(db) -> None:
    with db.session() as s:
        factory.staff(s, "s1", name="Fabian Spitzer")  # Cal.com user fabian
        factory.staff(s, "s2", username="maria", event_type_id=102)
        factory.staff(s, "s-off", username="paul", active=False)
        factory.staff(s, "s-noet", username="lena", event_type_id=None)
        factory.customer(s, "c1")
        factory.customer(s, "c-anon", email=None, phone="anonymous_1732456789_ab12cd")
        factory.appointment(s, "booked", start=DAY2, staff_id="s1", sync_state="synced", booking_uid="u1")
        factory.appointment(s, "failed-one", start=DAY2 + 2 * H, staff_id="s1", sync_state="failed",
                            category="host_conflict")
        factory.appointment(s, "moved", start=DAY2 + 4 * H, staff_id="s1", sync_state="synced", booking_uid="u2")
        s.commit()


LINES = [  # line number: row
    {"kind": "staff", "id": "s1b", "name": "Fabian (2nd record)", "calcom_username": "Fabian", "event_type_id": 101},
    {"kind": "customer", "id": "c-new", "name": "Neu", "email": "neu@example.com"},
    appt("ok1", at(NOW + 3 * D)),                                        # 3: fine
    appt("past", at(NOW, -1)),                                           # 4
    appt("nostaff", at(NOW + 3 * D), staff=None),                        # 5
    appt("inactive", at(NOW + 3 * D), staff="s-off"),                    # 6
    appt("noet", at(NOW + 3 * D), staff="s-noet"),                       # 7
    appt("anon", at(NOW + 3 * D, 1), customer="c-anon"),                 # 8
    appt("dbclash", at(DAY2, 10 / 60), staff="s1b", customer="c-new"),   # 9: the database's "booked", same user
    appt("f1", at(NOW + 4 * D), staff="s1"),                             # 10
    appt("f2", at(NOW + 4 * D, 0.25), staff="s1b"),                      # 11: overlaps f1 (line 10)
    "this is not json",                                                  # 12
    appt("nocust", at(NOW + 3 * D), customer="c-nope"),                  # 13
    appt("badtime", "tomorrow"),                                         # 14
    appt("after-failed", at(DAY2, 2), staff="s1"),                       # 15: a failed one does not block
    appt("gone", at(NOW + 4 * D), staff="s1", status="cancelled"),       # 16: not checked, blocks nothing
    appt("b-file", at(NOW + 5 * D), staff="s1", booking_uid="u-file"),   # 17: booked already
    appt("f3", at(NOW + 5 * D, 0.25), staff="s1b"),                      # 18: overlaps the booked row 17
    appt("moved", at(DAY2, 6), staff="s1"),                              # 19: the file moves "moved" away...
    appt("into-old-slot", at(DAY2, 4), staff="s1"),                      # 20: ...so its old time is free
]

EXPECTED = [
    "line 4: appointment past: past_appointment: Start 2025-11-24T16:00:00Z is in the past.",
    "line 5: appointment nostaff: missing_staff: No staff assigned: there is no Cal.com host or event type to book.",
    "line 6: appointment inactive: missing_staff: Staff s-off is inactive: assign an active staff member.",
    "line 7: appointment noet: no_event_type: Staff s-noet has no Cal.com event type mapped.",
    "line 8: appointment anon: missing_contact: Customer c-anon has no usable contact: no email; phone is anonymous.",
    "line 9: appointment dbclash: host_conflict: Overlaps appointment booked of the same Cal.com host (fabian) at "
    "2025-11-26T10:00:00Z (in the database, synced).",
    "line 11: appointment f2: host_conflict: Overlaps appointment f1 of the same Cal.com host (fabian) at "
    "2025-11-28T17:00:00Z (line 10 of this file).",
    "line 12: not valid JSON (Expecting value at column 1)",
    "line 13: appointment nocust: customer_id: customer 'c-nope' not found (not in this file, not in the database)",
    "line 14: appointment badtime: start: expected an ISO 8601 time like 2025-11-26T14:00:00Z, got 'tomorrow'",
    "line 18: appointment f3: host_conflict: Overlaps appointment b-file of the same Cal.com host (fabian) at "
    "2025-11-29T17:00:00Z (line 17 of this file).",
]


def ndjson(rows) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


@pytest.fixture
def env(db_url, frozen, tmp_path):
    db = open_database(db_url)
    seed(db)
    db.dispose()
    return {"SYNCONSOLE_DATABASE_URL": db_url}


def test_check_rows_every_problem_kind(db, frozen, settings):
    seed(db)
    with db.session() as s:
        problems = precheck.check_rows([(i + 1, r if isinstance(r, dict) else precheck.RowError("not valid JSON "
                                        "(Expecting value at column 1)")) for i, r in enumerate(LINES)],
                                       s, settings, now=NOW)
    assert [str(p) for p in problems] == EXPECTED
    assert [p.category for p in problems] == ["past_appointment", "missing_staff", "missing_staff", "no_event_type",
                                             "missing_contact", "host_conflict", "host_conflict", "invalid",
                                             "invalid", "invalid", "host_conflict"]
    with db.session() as s:  # nothing was written
        from synconsole.core.models import Appointment, Staff

        assert s.get(Staff, "s1b") is None and s.get(Appointment, "ok1") is None
        assert s.get(Appointment, "moved").start_at == DAY2 + 4 * H


def test_check_command(env, run_cli, tmp_path):
    path = write(tmp_path / "new.ndjson", ndjson(LINES))
    code, out, err = run_cli("check", str(path), env=env)
    assert (code, err) == (1, "")
    assert out.splitlines() == [f"{path}: {line}" for line in EXPECTED] + ["checked 17 appointments: 11 problems"]
    code, out, err = run_cli("check", str(path), "--json", env=env)
    assert (code, err) == (1, "")
    doc = json.loads(out)
    assert (doc["ok"], doc["appointments"]) == (False, 17)
    assert doc["problems"][0] == {"line": 4, "id": "past", "category": "past_appointment", "kind": "appointment",
                                  "problem": "past_appointment: Start 2025-11-24T16:00:00Z is in the past."}
    assert [p["line"] for p in doc["problems"]] == [4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 18]
    # a clean file exits 0
    clean = write(tmp_path / "clean.ndjson", ndjson([LINES[0], LINES[1], LINES[2], LINES[9]]))
    code, out, err = run_cli("check", str(clean), env=env)
    assert (code, out, err) == (0, "checked 2 appointments: no problems\n", "")


def test_check_csv_line_numbers(env, run_cli, tmp_path):
    csv = write(tmp_path / "new.csv", "\n".join([
        "kind,id,name,email,phone,customer_id,staff_id,start,duration_minutes,calcom_username,event_type_id",
        "customer,c-csv,Anon,,anonymous_1_ab,,,,,,",
        f"appointment,a1,,,,c-csv,s2,{at(NOW + 3 * D)},30,,",
        f"appointment,a2,,,,c1,s1,{at(DAY2)},30,,",
        "appointment,a3,,,,c1,s2,not-a-time,30,,",
        "staff,s9,Nine,,,,,,,nine,",
        f"appointment,a4,,,,c1,s9,{at(NOW + 3 * D)},30,,",
        f"appointment,a5,,,,c1,s2,{at(NOW + 6 * D)},30,,",
    ]) + "\n")
    code, out, _ = run_cli("check", str(csv), env=env)
    assert code == 1
    assert out.splitlines() == [
        f"{csv}: line 3: appointment a1: missing_contact: Customer c-csv has no usable contact: no email; "
        "phone is anonymous.",
        f"{csv}: line 4: appointment a2: host_conflict: Overlaps appointment booked of the same Cal.com host "
        "(fabian) at 2025-11-26T10:00:00Z (in the database, synced).",
        f"{csv}: line 5: appointment a3: start: expected an ISO 8601 time like 2025-11-26T14:00:00Z, got 'not-a-time'",
        f"{csv}: line 7: appointment a4: no_event_type: Staff s9 has no Cal.com event type mapped.",
        "checked 5 appointments: 4 problems",
    ]


def test_check_usage_errors(env, run_cli, tmp_path):
    code, out, err = run_cli("check", str(tmp_path / "missing.ndjson"), env=env)
    assert (code, out) == (2, "") and err == f"synconsole: error: {tmp_path / 'missing.ndjson'}: file not found\n"
    nokind = write(tmp_path / "nokind.csv", "id,name\n1,x\n")
    code, out, err = run_cli("check", str(nokind), env=env)
    assert (code, out, err) == (2, "", "synconsole: error: CSV import needs a header row with a 'kind' column\n")
    code, _, err = run_cli("check", env=env)
    assert code == 2 and "Missing argument 'FILE'" in err
    ok = write(tmp_path / "ok.ndjson", ndjson([LINES[2]]))
    code, out, err = run_cli("check", str(ok), "--availability", env=env)
    assert (code, out) == (2, "")
    assert err == ("synconsole: error: --availability needs a Cal.com API key: set [calcom] api_key, api_key_env "
                   "or SYNCONSOLE_CALCOM_API_KEY\n")


def test_check_appointment_for_the_booking_platform(db, frozen, settings):
    seed(db)
    with db.session() as s:
        assert precheck.check_appointment(
            {"id": "new-1", "customer_id": "c1", "staff_id": "s2", "start": at(NOW + 3 * D)}, s, settings) == []
        (problem,) = precheck.check_appointment(
            {"id": "new-2", "customer_id": "caller-7", "staff_id": "s1", "start": at(NOW + 3 * D)}, s, settings,
            related=[{"kind": "customer", "id": "caller-7", "phone": "anonymous_1732456789_ab12cd"}])
        assert (problem.line, problem.id, problem.category) == (1, "new-2", "missing_contact")
        (problem,) = precheck.check_appointment(
            {"id": "new-3", "customer_id": "c1", "staff_id": "s1", "start": at(DAY2, 0.25)}, s, settings)
        assert str(problem) == ("line 1: appointment new-3: host_conflict: Overlaps appointment booked of the same "
                                "Cal.com host (fabian) at 2025-11-26T10:00:00Z (in the database, synced).")
        # back to back is fine (10:30 after 10:00-10:30)
        assert precheck.check_appointment(
            {"id": "new-4", "customer_id": "c1", "staff_id": "s1", "start": at(DAY2, 0.5)}, s, settings) == []


# --- availability: Cal.com's slots, one call per event type and day ----------------------------------


@pytest.fixture
def calcom():
    busy = [{"host": "fabian", "start": at(DAY2, 1), "end": at(DAY2, 2)}]  # 11:00-12:00 on day 2
    with SimulatorServer(event_types={"101": {"host": "fabian", "length": 30}}, busy=busy,
                         clock=lambda: NOW.timestamp()) as sim:
        yield sim


def test_check_availability_against_the_simulator(db_url, frozen, run_cli, tmp_path, calcom):
    cfg = write(tmp_path / "cfg.toml", f'[database]\nurl = "{db_url}"\n'
                                       f'[calcom]\nbase_url = "{calcom.url}"\napi_key = "cal_test_precheck"\n')
    rows = [
        {"kind": "staff", "id": "s1", "name": "Fabian", "calcom_username": "fabian", "event_type_id": 101},
        {"kind": "customer", "id": "c1", "name": "Anna", "email": "anna@example.com"},
        appt("free", at(DAY2), staff="s1"),
        appt("busy", at(DAY2, 1), staff="s1"),
        appt("next-day", at(DAY2 + D), staff="s1"),
        appt("same-day", at(DAY2, 5), staff="s1"),
    ]
    path = write(tmp_path / "rows.ndjson", ndjson(rows))
    code, out, err = run_cli("check", str(path), "--availability", "--config", str(cfg))
    assert (code, err) == (1, "")
    assert out.splitlines() == [
        f"{path}: line 4: appointment busy: unavailable: 2025-11-26T11:00:00Z is not among the free slots Cal.com "
        "offers for event type 101 that day (host busy, outside working hours or the booking window)",
        "checked 4 appointments (2 Cal.com slot queries): 1 problem",
    ]
    # without --availability nothing is asked and nothing is wrong locally
    code, out, _ = run_cli("check", str(path), "--config", str(cfg))
    assert (code, out) == (0, "checked 4 appointments: no problems\n")


def test_availability_queries_draw_from_the_keys_shared_budget(db_url, frozen, run_cli, tmp_path, calcom):
    """Cal.com counts every request of a key, whoever sends it: the check's slot queries take their
    tokens from the budget the workers share, or a busy check could get the key blocked."""
    from synconsole.core import budget
    from synconsole.core.db import open_database

    cfg = write(tmp_path / "cfg.toml", f'[database]\nurl = "{db_url}"\n'
                                       f'[calcom]\nbase_url = "{calcom.url}"\napi_key = "cal_test_precheck"\n')
    rows = [
        {"kind": "staff", "id": "s1", "name": "Fabian", "calcom_username": "fabian", "event_type_id": 101},
        {"kind": "customer", "id": "c1", "name": "Anna", "email": "anna@example.com"},
        appt("free", at(DAY2), staff="s1"),
        appt("next-day", at(DAY2 + D), staff="s1"),
    ]
    code, out, err = run_cli("check", str(write(tmp_path / "rows.ndjson", ndjson(rows))), "--availability",
                             "--config", str(cfg))
    assert (code, err, out.splitlines()[-1]) == (0, "", "checked 2 appointments (2 Cal.com slot queries): no problems")
    db = open_database(db_url)
    try:
        states = budget.states(db)
    finally:
        db.dispose()
    assert "default" in states and states["default"].reservations >= 1, states


def test_availability_errors_are_problems_and_never_show_the_key(db, frozen, settings, tmp_path):
    with SimulatorServer(api_key="cal_the_right_one", event_types={"101": {"host": "fabian", "length": 30}},
                         clock=lambda: NOW.timestamp()) as sim:
        rows = [{"kind": "staff", "id": "s1", "calcom_username": "fabian", "event_type_id": 101},
                {"kind": "customer", "id": "c1", "email": "anna@example.com"},
                appt("a", at(DAY2), staff="s1"), appt("b", at(DAY2, 1), staff="s1")]
        with precheck.SlotsAvailability(sim.url, "cal_WRONG_secret_key") as slots, db.session() as s:
            problems = precheck.check_rows(rows, s, settings, now=NOW, availability=slots)
            assert slots.calls == 1  # the answer is cached for the day, errors too
    assert [(p.id, p.category) for p in problems] == [("a", "not_checked"), ("b", "not_checked")]
    assert problems[0].problem.startswith(
        "availability not checked: Cal.com slots for event type 101 on 2025-11-26: HTTP 401")
    assert all("cal_WRONG_secret_key" not in p.problem for p in problems)
