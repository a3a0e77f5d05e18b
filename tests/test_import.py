"""Import: NDJSON and CSV, upsert by (kind, id), bad rows with line numbers, dry run, streaming."""

from __future__ import annotations

import json
import tracemalloc
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import func, select

from synconsole.core.db import open_database
from synconsole.core.importer import import_file
from synconsole.core.models import Appointment, Customer, Staff

from tests.conftest import NOW, write

GOOD = [
    {"kind": "staff", "id": "s-1", "name": "Fabian Spitzer", "calcom_username": "fabian", "event_type_id": 101,
     "time_zone": "Europe/Berlin"},
    {"kind": "customer", "id": "1013", "name": "Anna Beispiel", "email": None,
     "phone": "anonymous_1732456789_ab12cd", "time_zone": "Europe/Berlin"},
    {"kind": "appointment", "id": "748", "customer_id": "1013", "staff_id": "s-1", "start": "2025-11-26T14:00:00Z",
     "duration_minutes": 30, "status": "scheduled"},
]


def ndjson(rows: list[dict | str]) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


def count(db, model) -> int:
    with db.session() as s:
        return s.exec(select(func.count()).select_from(model)).one()


def test_contract_example_imports(db, tmp_path, frozen):
    result = import_file(db, write(tmp_path / "x.ndjson", ndjson(GOOD)))
    assert result.ok and result.summary() == (
        "imported 1 staff (1 new, 0 updated), 1 customer (1 new, 0 updated), 1 appointment (1 new, 0 updated)")
    with db.session() as s:
        appt = s.get(Appointment, "748")
        assert (appt.sync_state, appt.sync_op, appt.status, appt.customer_id, appt.staff_id) == \
            ("pending", "create", "scheduled", "1013", "s-1")
        assert appt.start_at.isoformat() == "2025-11-26T14:00:00+00:00"
        assert appt.end_at - appt.start_at == timedelta(minutes=30)
        assert appt.queued_at == NOW
        staff = s.get(Staff, "s-1")
        assert (staff.host_key, staff.event_type_id, staff.time_zone) == ("fabian", 101, "Europe/Berlin")
        assert s.get(Customer, "1013").email is None


BAD_ROWS = [
    *GOOD,
    '{"kind": "appointment", "id": "749"',                                                             # 5
    {"kind": "appointment", "id": "750", "customer_id": "1013", "start": "tomorrow"},                 # 6
    {"kind": "appointment", "id": "751", "customer_id": "404", "start": "2025-11-26T15:00:00Z"},      # 7
    {"kind": "appointment", "id": "752", "customer_id": "1013", "staff_id": "s-9",
     "start": "2025-11-26T15:00:00Z"},                                                                 # 8
    {"kind": "robot", "id": "1"},                                                                       # 9
    {"kind": "customer", "name": "no id"},                                                             # 10
    {"kind": "customer", "id": "1014", "time_zone": "Mars/Olympus"},                                   # 11
    {"kind": "appointment", "id": "753", "customer_id": "1013", "start": "2025-11-26T15:00:00",
     "duration_minutes": 30},                                                                          # 12
    {"kind": "appointment", "id": "754", "customer_id": "1013", "start": "2025-11-26T15:00:00Z",
     "duration_minutes": 0},                                                                           # 13
    {"kind": "appointment", "id": "755", "customer_id": "1013", "start": "2025-11-26T15:00:00Z",
     "status": "booked"},                                                                              # 14
    {"kind": "staff", "id": "s-2", "calcom_username": "maria", "event_type_id": "x101"},              # 15
    {"kind": "staff", "id": "s-3", "calcom_username": "otto", "colour": "red"},                       # 16
    "[1, 2]",                                                                                           # 17
    {"kind": "appointment", "id": "756", "customer_id": "1013", "start": "2025-11-26T15:00:00",
     "time_zone": "Europe/Berlin"},                                                                    # 18 good
]


def test_bad_rows_are_reported_with_line_and_reason_and_good_rows_land(db_url, tmp_path, run_cli, frozen):
    path = write(tmp_path / "rows.ndjson", ndjson(BAD_ROWS))
    code, out, err = run_cli("import", str(path), env={"SYNCONSOLE_DATABASE_URL": db_url})
    assert code == 1
    assert out.strip() == ("imported 1 staff (1 new, 0 updated), 1 customer (1 new, 0 updated), "
                           "2 appointments (2 new, 0 updated); 13 bad rows skipped")
    lines = sorted(err.splitlines(), key=lambda ln: int(ln.split(":")[1].split()[1]))
    assert lines == [f"{path}: {x}" for x in [
        "line 4: not valid JSON (Expecting ',' delimiter at column 36)",
        "line 5: appointment 750: start: expected an ISO 8601 time like 2025-11-26T14:00:00Z, got 'tomorrow'",
        "line 6: appointment 751: customer_id: customer '404' not found",
        "line 7: appointment 752: staff_id: staff 's-9' not found",
        "line 8: kind: expected one of staff, customer, appointment, got 'robot'",
        "line 9: customer: id: required",
        "line 10: customer 1014: time_zone: unknown IANA time zone 'Mars/Olympus'",
        "line 11: appointment 753: start: '2025-11-26T15:00:00' has no UTC offset and the row has no time_zone",
        "line 12: appointment 754: duration_minutes: expected an integer from 1 to 1440, got 0",
        "line 13: appointment 755: status: expected one of scheduled, cancelled, completed, got 'booked'",
        "line 14: staff s-2: event_type_id: expected an integer, got 'x101'",
        "line 15: staff s-3: unknown key 'colour' for kind 'staff'",
        "line 16: expected a JSON object",
    ]]
    db = open_database(db_url)
    with db.session() as s:
        assert s.get(Appointment, "756").start_at.isoformat() == "2025-11-26T14:00:00+00:00"  # 15:00 Berlin
        assert s.get(Appointment, "748") is not None
    assert count(db, Appointment) == 2
    db.dispose()


def test_line_numbers_count_blank_lines(db, tmp_path):
    bad = []
    import_file(db, write(tmp_path / "x.ndjson", "\n" + ndjson(GOOD[:1]) + "\n\n" + "oops\n"), report=bad.append)
    assert [str(b) for b in bad] == ["line 5: not valid JSON (Expecting value at column 1)"]


def test_csv_with_kind_column(db, tmp_path, frozen):
    text = (
        "kind,id,name,calcom_username,event_type_id,email,phone,time_zone,customer_id,staff_id,start,duration_minutes,status\n"
        "staff,s-1,Fabian Spitzer,fabian,101,,,Europe/Berlin,,,,,\n"
        "customer,1013,Anna Beispiel,,,,anonymous_1732456789_ab12cd,Europe/Berlin,,,,,\n"
        "appointment,748,,,,,,,1013,s-1,2025-11-26T14:00:00Z,30,scheduled\n"
        "appointment,749,,,,,,,1013,,2025-11-27T14:00:00Z,45,\n"
        "appointment,750,,,,,,,1013,s-1,2025-11-27T14:00:00Z,abc,\n"
        "appointment,751,,,\n"
    )
    bad = []
    result = import_file(db, write(tmp_path / "rows.csv", text), report=bad.append)
    assert [str(b) for b in bad] == [
        "line 6: appointment 750: duration_minutes: expected an integer, got 'abc'",
        "line 7: expected 13 columns, got 5",
    ]
    assert result.counts["appointment"].inserted == 2
    with db.session() as s:
        a = s.get(Appointment, "749")
        assert (a.staff_id, a.duration_minutes, a.status, a.sync_state) == (None, 45, "scheduled", "pending")
        assert s.get(Customer, "1013").phone == "anonymous_1732456789_ab12cd"


def test_upsert_updates_and_requeues_changed_failures(db, tmp_path, frozen):
    rows = GOOD + [
        {"kind": "appointment", "id": "760", "customer_id": "1013", "start": "2025-12-01T10:00:00Z"},
        {"kind": "appointment", "id": "761", "customer_id": "1013", "staff_id": "s-1", "start": "2025-12-01T11:00:00Z"},
    ]
    import_file(db, write(tmp_path / "a.ndjson", ndjson(rows)))
    with db.session() as s:
        for appt_id, category in (("760", "missing_staff"), ("761", "host_conflict")):
            a = s.get(Appointment, appt_id)
            a.sync_state, a.category, a.fingerprint = "failed", category, "f"
            a.first_failed_at = NOW - timedelta(hours=5)
            s.add(a)
        s.commit()
    later = NOW + timedelta(hours=1)
    rows[3] = {**rows[3], "staff_id": "s-1"}  # 760 gets its staff: back to the queue
    rows[0] = {**rows[0], "name": "Fabian S.", "event_type_id": 102}
    result = import_file(db, write(tmp_path / "b.ndjson", ndjson(rows)), now=later)
    assert result.summary() == ("imported 1 staff (0 new, 1 updated), 1 customer (0 new, 1 updated), "
                                "3 appointments (0 new, 3 updated)")
    with db.session() as s:
        fixed = s.get(Appointment, "760")
        assert (fixed.staff_id, fixed.sync_state, fixed.category, fixed.queued_at, fixed.version) == \
            ("s-1", "pending", None, later, 2)
        unchanged = s.get(Appointment, "761")
        # its staff record changed, but a new event type does not cure a host conflict: it stays
        assert (unchanged.sync_state, unchanged.category, unchanged.version) == ("failed", "host_conflict", 1)
        assert (s.get(Staff, "s-1").name, s.get(Staff, "s-1").event_type_id) == ("Fabian S.", 102)


def test_same_id_twice_in_one_file_last_row_wins(db, tmp_path):
    rows = GOOD + [{**GOOD[2], "duration_minutes": 60}]
    result = import_file(db, write(tmp_path / "x.ndjson", ndjson(rows)))
    assert result.ok
    with db.session() as s:
        assert s.get(Appointment, "748").duration_minutes == 60


def test_cancelled_and_completed_rows(db, tmp_path):
    base = {"kind": "appointment", "customer_id": "1013", "start": "2025-12-01T10:00:00Z"}
    rows = GOOD + [
        {**base, "id": "c-booked", "status": "cancelled", "booking_uid": "uid-1"},
        {**base, "id": "c-plain", "status": "cancelled"},
        {**base, "id": "done", "status": "completed"},
        {**base, "id": "booked", "booking_uid": "uid-2"},
    ]
    import_file(db, write(tmp_path / "x.ndjson", ndjson(rows)))
    with db.session() as s:
        got = {i: (s.get(Appointment, i).sync_state, s.get(Appointment, i).sync_op)
               for i in ("c-booked", "c-plain", "done", "booked")}
    assert got == {"c-booked": ("pending", "cancel"), "c-plain": ("cancelled", "create"),
                   "done": ("skipped", "create"), "booked": ("synced", "create")}


def test_dry_run_changes_nothing(db_url, tmp_path, run_cli):
    path = write(tmp_path / "x.ndjson", ndjson(GOOD))
    env = {"SYNCONSOLE_DATABASE_URL": db_url}
    code, out, _ = run_cli("import", str(path), "--dry-run", env=env)
    assert code == 0
    assert out.strip() == ("would import 1 staff (1 new, 0 updated), 1 customer (1 new, 0 updated), "
                           "1 appointment (1 new, 0 updated)")
    db = open_database(db_url)
    assert count(db, Appointment) == count(db, Customer) == count(db, Staff) == 0
    db.dispose()


def test_read_only_refuses_import_but_allows_dry_run(sqlite_url, tmp_path, run_cli):
    open_database(sqlite_url).dispose()  # read-only needs an existing database (a missing one is refused)
    path = write(tmp_path / "x.ndjson", ndjson(GOOD))
    env = {"SYNCONSOLE_DATABASE_URL": sqlite_url, "SYNCONSOLE_READ_ONLY": "1"}
    code, out, err = run_cli("import", str(path), env=env)
    assert code == 3 and out == "" and err.startswith("synconsole: error: refused: import changes data")
    code, _, _ = run_cli("import", str(path), "--dry-run", env=env)
    assert code == 0


def test_missing_and_unreadable_files(sqlite_url, tmp_path, run_cli):
    env = {"SYNCONSOLE_DATABASE_URL": sqlite_url}
    code, _, err = run_cli("import", str(tmp_path / "nope.ndjson"), env=env)
    assert code == 2 and err.strip() == f"synconsole: error: {tmp_path / 'nope.ndjson'}: file not found"
    binary = tmp_path / "bin.ndjson"
    binary.write_bytes(b'{"kind": "staff", "id": "\xff"}\n')
    code, _, err = run_cli("import", str(binary), env=env)
    assert code == 1 and "not UTF-8 text" in err and err.count("\n") == 1


def _big_file(path: Path, n: int) -> Path:
    with path.open("w") as fh:
        fh.write(json.dumps(GOOD[0]) + "\n" + json.dumps(GOOD[1]) + "\n")
        for i in range(n):
            start = (NOW + timedelta(minutes=30 * i)).isoformat()
            fh.write(json.dumps({"kind": "appointment", "id": f"a{i}", "customer_id": "1013", "staff_id": "s-1",
                                 "start": start}) + "\n")
    return path


def test_import_streams_instead_of_loading_the_file(sqlite_url, tmp_path):
    """Memory stays flat: importing 4x the rows must not need anywhere near 4x the memory."""
    db = open_database(sqlite_url)
    peaks = []
    for n in (5_000, 20_000):
        path = _big_file(tmp_path / f"big{n}.ndjson", n)
        tracemalloc.start()
        result = import_file(db, path)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert result.ok
    db.dispose()
    assert peaks[1] < peaks[0] * 1.5, peaks
    assert count(db, Appointment) == 20_000
