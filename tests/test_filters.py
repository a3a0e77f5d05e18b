"""The `/` filter language (core/filters.py): parsing, errors, and the rows its SQL finds, on both backends."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from synconsole.core import filters
from synconsole.core.filters import FilterError, parse
from synconsole.core.models import Appointment
from synconsole.errors import EXIT_USAGE, UsageError

from tests import factory
from tests.conftest import NOW

ALL = ["748", "750", "751", "760", "761", "762", "763", "770", "a_b", "axb"]


def scene(db) -> None:
    """One row per interesting case; every time is set so ages are exact."""
    h = timedelta(hours=1)
    with db.session() as s:
        factory.staff(s, "s-1")
        factory.staff(s, "s-2", username="maria")
        factory.customer(s, "c1")
        factory.customer(s, "C-9", email=None)
        old = NOW - timedelta(days=10)
        factory.failed(s, "748", category="host_conflict", first_failed_at=NOW - 2 * h, start=NOW + timedelta(days=2),
                       staff_id="s-1", message="User either already has booking at this time or is not available",
                       queued_at=old)
        factory.failed(s, "750", category="missing_contact", first_failed_at=NOW - timedelta(days=3),
                       start=NOW + timedelta(days=1), staff_id="s-2", customer_id="C-9",
                       message="Customer C-9 has no usable contact: no email; phone is empty.", queued_at=old)
        factory.failed(s, "751", category="missing_staff", first_failed_at=NOW - timedelta(minutes=30),
                       start=NOW + timedelta(days=3), staff_id=None, message="No staff assigned",
                       snoozed_until=NOW + h, note="waiting for the salon", queued_at=old)
        factory.appointment(s, "760", start=NOW + timedelta(days=1, hours=1), staff_id="s-1",
                            queued_at=NOW - timedelta(minutes=10), created_at=old)
        factory.appointment(s, "761", start=NOW + timedelta(days=4), staff_id="s-1", sync_state="synced",
                            booking_uid="uid-761", drift="cancelled in Cal.com", queued_at=NOW - timedelta(days=2))
        factory.appointment(s, "762", start=NOW + timedelta(days=6), staff_id="s-2", sync_state="retry_scheduled",
                            category="transient", first_failed_at=NOW - 5 * h, next_retry_at=NOW + h,
                            last_error="Internal server error", queued_at=old)
        factory.appointment(s, "763", start=NOW - timedelta(days=2), staff_id="s-1", status="cancelled",
                            sync_state="cancelled", queued_at=NOW - timedelta(days=4))
        factory.appointment(s, "770", start=NOW + timedelta(days=7), staff_id="s-2", sync_state="in_flight",
                            claimed_by="w", lease_until=NOW + h, queued_at=NOW - 3 * h)
        factory.appointment(s, "a_b", start=NOW + timedelta(days=8), staff_id="s-1", queued_at=NOW - 3 * h)
        factory.appointment(s, "axb", start=NOW + timedelta(days=8), staff_id="s-1", queued_at=NOW - 3 * h)
        s.commit()


@pytest.fixture
def rows(db):
    scene(db)
    return db


def ids(db, text: str) -> list[str]:
    with db.session() as s:
        stmt = sa.select(Appointment.id).where(parse(text).condition(NOW)).order_by(Appointment.id)
        return list(s.execute(stmt).scalars())


@pytest.mark.parametrize("text, expected", [
    ("", ALL),
    ("   ", ALL),
    ("category:host_conflict", ["748"]),
    ("category:host_conflict category:missing_contact", ["748", "750"]),
    ("category:host_conflict,missing_contact", ["748", "750"]),
    ("-category:host_conflict", [i for i in ALL if i != "748"]),  # rows without a category too
    ("state:failed", ["748", "750", "751"]),
    ("state:queued", ["760", "762", "770", "a_b", "axb"]),
    ("state:failed state:synced", ["748", "750", "751", "761"]),
    ("state:FAILED", ["748", "750", "751"]),
    ("staff:s-1", ["748", "760", "761", "763", "a_b", "axb"]),
    ("staff:s-1 staff:s-2", ["748", "750", "760", "761", "762", "763", "770", "a_b", "axb"]),
    ("staff:none", ["751"]),
    ("-staff:s-1", ["750", "751", "762", "770"]),  # no staff is "not s-1"
    ("status:cancelled", ["763"]),
    ("-status:scheduled", ["763"]),
    # age = now - coalesce(first_failed_at, queued_at, created_at)
    ("age:>24h", ["750", "761", "763"]),
    ("age:<1h", ["751", "760"]),
    ("age:>=5h", ["750", "761", "762", "763"]),  # 762 failed exactly 5 h ago
    ("age:>5h", ["750", "761", "763"]),
    ("age:<=30m", ["751", "760"]),
    ("age:>2d", ["750", "763"]),
    ("age:>90m age:<3h", ["748"]),
    # start: a date is a whole UTC day
    ("start:<2025-11-26", ["750", "760", "763"]),
    ("start:2025-11-26", ["748"]),
    ("start:<=2025-11-26", ["748", "750", "760", "763"]),
    ("start:>2025-11-30", ["770", "a_b", "axb"]),
    ("start:>=2025-11-30", ["762", "770", "a_b", "axb"]),
    ("start:<today", ["763"]),
    ("start:today", []),
    ("start:tomorrow", ["750", "760"]),
    ("start:>=2025-11-26T17:00:00Z", ["748", "751", "761", "762", "770", "a_b", "axb"]),
    ("start:>2025-11-26T18:00:00+01:00", ["751", "761", "762", "770", "a_b", "axb"]),  # 17:00Z exactly: not after
    ("start:<now", ["763"]),
    ("drift:yes", ["761"]),
    ("drift:no", [i for i in ALL if i != "761"]),
    ("-drift:yes", [i for i in ALL if i != "761"]),
    ("snoozed:yes", ["751"]),
    ("snoozed:no state:failed", ["748", "750"]),
    # free text: id, customer id, staff id, last error; case-insensitive; LIKE wildcards are literal
    ("booking", ["748"]),
    ("BOOKING", ["748"]),
    ("c-9", ["750"]),
    ("s-2", ["750", "762", "770"]),
    ("76", ["760", "761", "762", "763"]),
    ("a_b", ["a_b"]),
    ("%", []),
    ('"no usable contact"', ["750"]),
    ('"server error"', ["762"]),
    ("-booking state:failed", ["750", "751"]),
    ('-"no usable" state:failed', ["748", "751"]),
    ("error internal", ["762"]),  # every term must hold
    ('staff:"s-1" state:failed', ["748"]),
    # combinations
    ("state:failed age:>1h -category:missing_contact", ["748"]),
    ("category:missing_contact category:missing_staff -snoozed:yes", ["750"]),
    ("state:queued staff:s-2 age:<4h", ["770"]),
])
def test_the_sql_finds_exactly_the_expected_rows(rows, text, expected):
    assert ids(rows, text) == expected


def test_condition_of_an_empty_filter_is_true():
    f = parse("")
    assert f.is_empty and f.describe() == "everything" and str(f) == ""
    assert not parse("state:failed").is_empty


def test_describe_and_round_trip():
    f = parse('category:host_conflict category:missing_staff state:failed age:>24h -staff:s-1 "no usable" '
              "drift:yes start:<2025-11-26 -snoozed:yes boom")
    assert f.describe() == ('category host_conflict or missing_staff, state failed, age > 24h, not staff s-1, '
                            'text "no usable", drift yes, start < 2025-11-26, snoozed no, text "boom"')
    assert str(f) == ('category:host_conflict category:missing_staff state:failed age:>24h -staff:s-1 "no usable" '
                      "drift:yes start:<2025-11-26 -snoozed:yes boom")
    assert parse(str(f)).terms == f.terms
    assert f.categories == ("host_conflict", "missing_staff")
    assert parse("start:2025-11-26").describe() == "start on 2025-11-26"
    assert parse("state:queued staff:none").describe() == "state queued, staff none"


@pytest.mark.parametrize("text, message", [
    ("category:nope", "filter: unknown category 'nope': expected one of past_appointment, host_conflict, "
                      "outside_booking_window, missing_contact, missing_staff, no_event_type, auth, rate_limited, "
                      "transient, booking_gone, validation, unknown"),
    ("state:broken", "filter: unknown state 'broken': expected one of pending, in_flight, retry_scheduled, synced, "
                     "failed, cancelled, skipped, queued"),
    ("status:gone", "filter: unknown status 'gone': expected one of scheduled, cancelled, completed"),
    ("categroy:host_conflict", "filter: unknown term 'categroy:host_conflict': expected one of category:, state:, "
                               "staff:, status:, age:, start:, drift:, snoozed:, account: or free text (quote it to search for "
                               'a colon: "categroy:host_conflict")'),
    ("age:24h", "filter: age: expected >, <, >= or <= and a number with a unit m, h or d (e.g. age:>24h), "
                "got '24h'"),
    ("age:>24x", "filter: age: expected >, <, >= or <= and a number with a unit m, h or d (e.g. age:>24h), "
                 "got '>24x'"),
    ("start:<soon", "filter: start: expected a date (2025-11-26), an ISO time with offset, today, tomorrow, "
                    "yesterday or now; got 'soon'"),
    ("start:2025-13-01", "filter: start: not a date: '2025-13-01'"),
    ("start:>2025-11-26T10:00", "filter: start: '2025-11-26T10:00' has no UTC offset (add Z or +01:00)"),
    ("drift:maybe", "filter: drift: expected yes or no, got 'maybe'"),
    ("state:", "filter: state: needs a value, e.g. state:failed"),
    ('"unclosed words', "filter: unclosed quote in '\"unclosed words'"),
    ('staff:"s 1', "filter: unclosed quote in 'staff:\"s 1'"),
    ('""', 'filter: empty quotes ""'),
])
def test_bad_terms_give_one_line_usage_errors(text, message):
    with pytest.raises(FilterError) as info:
        parse(text)
    assert str(info.value) == message
    assert "\n" not in str(info.value)
    assert isinstance(info.value, UsageError) and info.value.exit_code == EXIT_USAGE


def test_quoted_text_may_hold_a_colon(rows):
    assert parse('"categroy:x"').terms == (filters.Term("text", "categroy:x"),)
    assert ids(rows, '"either already"') == ["748"]


def test_conditions_use_the_indexed_columns_directly():
    """Set-based and index friendly: plain comparisons on the columns, one statement."""
    sql = str(sa.select(Appointment.id).where(parse("state:queued category:host_conflict staff:s-1").condition(NOW))
              .compile(compile_kwargs={"literal_binds": True}))
    assert "appointments.sync_state IN ('pending', 'in_flight', 'retry_scheduled')" in sql
    assert "appointments.category = 'host_conflict'" in sql
    assert "appointments.staff_id = 's-1'" in sql


def test_list_filter_command(db_url, run_cli, frozen):
    from synconsole.core.db import open_database

    database = open_database(db_url)
    scene(database)
    database.dispose()
    env = {"SYNCONSOLE_DATABASE_URL": db_url}

    def listed(*args):
        code, out, err = run_cli("list", "--json", *args, env=env)
        assert code == 0, err
        return [i["id"] for i in json.loads(out)]

    assert listed("--filter", "state:failed age:>1h") == ["750", "748"]  # by start time
    assert listed("--filter", "staff:s-1", "--state", "queued") == ["760", "a_b", "axb"]
    assert listed("--filter", "staff:s-1", "--state", "queued", "--limit", "1") == ["760"]
    assert listed("--filter", '"no usable"', "--category", "missing_contact") == ["750"]
    assert listed("--filter", "") == listed("--limit", "50")
    code, out, err = run_cli("list", "--filter", "category:nope", env=env)
    assert code == 2 and out == ""
    assert err.startswith("synconsole: error: filter: unknown category 'nope': expected one of past_appointment")
    assert err.count("\n") == 1
    code, out, err = run_cli("list", "--filter", "state:failed", "--state", "bogus", env=env)
    assert code == 2 and err.startswith("synconsole: error: --state: expected one of pending")
    code, out, _ = run_cli("list", "--filter", "drift:yes", env=env)
    assert code == 0 and [ln.split()[0] for ln in out.splitlines()] == ["id", "761"]


@pytest.mark.parametrize("text, expected", [
    ("account:acme", ["750", "762", "770"]),
    ("account:default", ["748", "751", "760", "761", "763", "a_b", "axb"]),  # no staff (751): the default
    ("account:default,acme", ALL),
    ("-account:acme state:failed", ["748", "751"]),
    ("account:nowhere", []),
])
def test_account_is_the_cal_com_account_of_the_staff(rows, text, expected):
    with rows.session() as s:
        s.execute(sa.text("UPDATE staff SET calcom_account = 'acme' WHERE id = 's-2'"))
        s.commit()
    assert ids(rows, text) == expected
    assert "account" in parse(text).describe()
