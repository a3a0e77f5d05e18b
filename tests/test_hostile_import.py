"""Hostile import files through `synconsole import`: each bad row is one line with its line number,
and the good rows around it land (on SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import pytest
from sqlmodel import func, select

from synconsole.core.db import open_database
from synconsole.core.models import Appointment, Customer, Staff

from tests.conftest import write

GOOD_BEFORE = [
    {"kind": "staff", "id": "s-1", "calcom_username": "fabian", "event_type_id": 101},
    {"kind": "customer", "id": "c1", "email": "anna@example.com"},
]
GOOD_AFTER = [{"kind": "customer", "id": f"g{i}", "email": f"g{i}@example.com"} for i in range(5)]
NESTED = '{"kind": "customer", "id": "deep", "name": ' + "[" * 100_000 + "]" * 100_000 + "}"

BAD_ROWS = {
    "event_type_id 10^23": {"kind": "staff", "id": "s-big", "event_type_id": 10**23},
    "event_type_id 2^31": {"kind": "staff", "id": "s-int4", "event_type_id": 2**31},
    "calcom_user_id 2^63": {"kind": "staff", "id": "s-uid", "calcom_user_id": 2**63},
    "event_type_ids 10^30": {"kind": "staff", "id": "s-map", "event_type_ids": {"cut": 10**30}},
    "start in 9999": {"kind": "appointment", "id": "y9999", "customer_id": "c1", "start": "9999-12-31T23:59:00Z"},
    "start in 0001 with an offset": {"kind": "appointment", "id": "y0001", "customer_id": "c1",
                                     "start": "0001-01-01T00:00:00+01:00"},
    "created_at in 0001": {"kind": "appointment", "id": "c0001", "customer_id": "c1",
                           "start": "2025-11-26T14:00:00Z", "created_at": "0001-01-01T00:30:00+01:00"},
    "deeply nested JSON": NESTED,
    "a NUL character (PostgreSQL refuses it)": {"kind": "customer", "id": "nul", "name": "Anna\x00Beispiel"},
    "a lone surrogate (not UTF-8)": {"kind": "customer", "id": "sur", "name": "Anna \ud800"},
    "an id of 100000 digits": '{"kind": "customer", "id": ' + "9" * 100_000 + "}",
    "an integer string of 100000 digits": {"kind": "staff", "id": "s-digits", "event_type_id": "9" * 100_000},
    "a time zone name of 10000 characters": {"kind": "customer", "id": "tz", "time_zone": "Europe/" + "x" * 10_000},
    "booking uid of 10 KB": {"kind": "appointment", "id": "longuid", "customer_id": "c1",
                             "start": "2025-11-26T14:00:00Z", "booking_uid": "u" * 10_000},
}


def counts(url: str) -> dict[str, int]:
    db = open_database(url)
    with db.session() as s:
        found = {m.__tablename__: s.exec(select(func.count()).select_from(m)).one()
                 for m in (Staff, Customer, Appointment)}
    db.dispose()
    return found


def ndjson(rows) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


@pytest.mark.parametrize("what", list(BAD_ROWS))
def test_one_bad_row_is_one_line_and_the_good_rows_land(db_url, tmp_path, run_cli, what):
    path = write(tmp_path / "rows.ndjson", ndjson([*GOOD_BEFORE, BAD_ROWS[what], *GOOD_AFTER]))
    code, out, err = run_cli("import", str(path), env={"SYNCONSOLE_DATABASE_URL": db_url})
    assert "Traceback" not in out + err
    assert code == 1, (code, out, err)
    assert err.count("\n") == 1 and err.startswith(f"{path}: line 3: "), err
    assert "1 bad row skipped" in out
    assert counts(db_url) == {"staff": 1, "customers": 6, "appointments": 0}


def test_a_csv_field_over_128_kb_is_one_bad_row(db_url, tmp_path, run_cli):
    text = ("kind,id,name,email\n"
            "customer,c1,Anna,a@example.com\n"
            f"customer,c2,{'x' * 140_000},b@example.com\n"
            "customer,c3,Bob,c@example.com\n"
            'customer,c4,"quoted, with comma",d@example.com\n')
    path = write(tmp_path / "rows.csv", text)
    code, out, err = run_cli("import", str(path), env={"SYNCONSOLE_DATABASE_URL": db_url})
    assert "Traceback" not in out + err
    assert code == 1, (code, out, err)
    assert err.count("\n") == 1 and err.startswith(f"{path}: line 3: ") and "longer than" in err, err
    assert counts(db_url)["customers"] == 3


@pytest.mark.parametrize("suffix", [".ndjson", ".jsonl", ""])
def test_an_ndjson_file_with_a_bom_keeps_its_first_row(sqlite_url, tmp_path, run_cli, suffix):
    path = tmp_path / f"rows{suffix}"
    path.write_bytes(b"\xef\xbb\xbf" + ndjson([*GOOD_BEFORE, *GOOD_AFTER]).encode())
    code, out, err = run_cli("import", str(path), env={"SYNCONSOLE_DATABASE_URL": sqlite_url})
    assert (code, err) == (0, ""), (out, err)
    assert counts(sqlite_url) == {"staff": 1, "customers": 6, "appointments": 0}


def test_a_csv_file_with_a_bom_keeps_its_header(sqlite_url, tmp_path, run_cli):
    path = tmp_path / "rows.csv"
    path.write_bytes(b"\xef\xbb\xbfkind,id,email\ncustomer,c1,a@example.com\n")
    code, out, err = run_cli("import", str(path), env={"SYNCONSOLE_DATABASE_URL": sqlite_url})
    assert (code, err) == (0, ""), (out, err)


def test_a_line_of_50_mb_is_one_bad_row(sqlite_url, tmp_path, run_cli):
    path = tmp_path / "rows.ndjson"
    with path.open("w") as f:
        f.write(ndjson(GOOD_BEFORE))
        f.write('{"kind": "customer", "id": "huge", "name": "' + "x" * 50_000_000 + '"}\n')
        f.write(ndjson(GOOD_AFTER))
    code, out, err = run_cli("import", str(path), env={"SYNCONSOLE_DATABASE_URL": sqlite_url})
    assert code == 1 and err.startswith(f"{path}: line 3: ") and err.count("\n") == 1, err
    assert counts(sqlite_url)["customers"] == 6


def test_check_reports_the_same_bad_rows_without_a_traceback(sqlite_url, tmp_path, run_cli):
    rows = [*GOOD_BEFORE, *[r for r in BAD_ROWS.values()], *GOOD_AFTER]
    path = write(tmp_path / "rows.ndjson", ndjson(rows))
    code, out, err = run_cli("check", str(path), env={"SYNCONSOLE_DATABASE_URL": sqlite_url})
    assert "Traceback" not in out + err and code in (1, 2), (code, out, err)
