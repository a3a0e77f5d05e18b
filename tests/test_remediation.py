"""The remediation plan and `remediate --plan/--apply` (exact outputs, dry run and real), on SQLite and
PostgreSQL with the clock frozen at NOW."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import select

from synconsole.config import parse_settings
from synconsole.core import categories as cats
from synconsole.core import remediation as rem
from synconsole.core.db import open_database
from synconsole.core.models import Appointment, AuditEvent, Customer

from tests import factory
from tests.conftest import NOW

H = timedelta(hours=1)
D = timedelta(days=1)
NO_TTY = ("synconsole: error: refusing to change anything without --yes: there is no terminal to ask on "
          "(use --dry-run to preview)\n")


def build(db) -> None:
    with db.session() as s:
        factory.staff(s, "s1")
        factory.staff(s, "s-noet", username="lena", event_type_id=None)
        factory.staff(s, "s-off", username="paul", active=False)
        factory.customer(s, "c1")
        factory.customer(s, "c-anon", email=None, phone="anonymous_1732456789_ab12cd")
        factory.customer(s, "c-empty", email=None, phone=None)
        f = factory.failed
        f(s, "p1", category="past_appointment", first_failed_at=NOW - 2 * D, start=NOW - 2 * D)
        f(s, "p2", category="host_conflict", first_failed_at=NOW - 2 * H, start=NOW - H)  # its start has passed
        f(s, "p3", category="past_appointment", first_failed_at=NOW - 3 * D, start=NOW - 3 * D, booking_uid="uid-p3")
        f(s, "h1", category="host_conflict", first_failed_at=NOW - 5 * H, start=NOW + 2 * D)
        f(s, "w1", category="outside_booking_window", first_failed_at=NOW - 5 * H, start=NOW + 40 * D)
        f(s, "m1", category="missing_contact", first_failed_at=NOW - H, start=NOW + D, customer_id="c-anon",
          http_status=None)
        f(s, "m2", category="missing_contact", first_failed_at=NOW - H, start=NOW + D + H, customer_id="c-empty",
          http_status=None)
        f(s, "ns", category="missing_staff", first_failed_at=NOW - H, start=NOW + 3 * D, staff_id=None,
          http_status=None)
        f(s, "off", category="missing_staff", first_failed_at=NOW - H, start=NOW + 3 * D + H, staff_id="s-off",
          http_status=None)
        f(s, "e1", category="no_event_type", first_failed_at=NOW - H, start=NOW + 4 * D, staff_id="s-noet",
          http_status=None)
        f(s, "a1", category="auth", first_failed_at=NOW - H, start=NOW + 5 * D, http_status=401)
        f(s, "t1", category="transient", first_failed_at=NOW - 6 * H, start=NOW + 6 * D, http_status=503,
          attempts=10)
        f(s, "r1", category="rate_limited", first_failed_at=NOW - 6 * H, start=NOW + 6 * D + H, http_status=429,
          attempts=10)
        f(s, "v1", category="validation", first_failed_at=NOW - H, start=NOW + 7 * D, http_status=400)
        f(s, "u1", category="unknown", first_failed_at=NOW - H, start=NOW + 7 * D + H, http_status=418,
          snoozed_until=NOW + 5 * H, note="asked Cal.com support")
        # not failures: cancelled, synced, pending
        f(s, "gone", category="host_conflict", first_failed_at=NOW - D, start=NOW + D, status="cancelled")
        factory.appointment(s, "ok", start=NOW + D, sync_state="synced", booking_uid="uid-ok")
        factory.appointment(s, "queued", start=NOW + D, queued_at=NOW - H)
        s.commit()


@pytest.fixture
def env(db_url, frozen):
    db = open_database(db_url)
    build(db)
    db.dispose()
    return {"SYNCONSOLE_DATABASE_URL": db_url}


def state(env) -> dict[str, tuple]:
    db = open_database(env["SYNCONSOLE_DATABASE_URL"])
    try:
        with db.session() as s:
            return {a.id: (a.status, a.sync_state, a.sync_op, a.category)
                    for a in s.exec(select(Appointment).order_by(Appointment.id))}
    finally:
        db.dispose()


def events(env) -> list[AuditEvent]:
    db = open_database(env["SYNCONSOLE_DATABASE_URL"])
    try:
        with db.session() as s:
            return list(s.exec(select(AuditEvent).order_by(AuditEvent.id)))
    finally:
        db.dispose()


EXPECTED_PLAN = {  # id -> (category, action, automatic), in start order
    "p3": ("past_appointment", "cleanup_cancel", True),
    "p1": ("past_appointment", "cleanup_cancel", True),
    "p2": ("past_appointment", "cleanup_cancel", True),  # failed as host_conflict; its start has passed
    "m1": ("missing_contact", "backfill_email", False),
    "m2": ("missing_contact", "backfill_email", False),
    "h1": ("host_conflict", "reschedule_or_cancel", False),
    "ns": ("missing_staff", "assign_staff", False),
    "off": ("missing_staff", "assign_staff", False),
    "e1": ("no_event_type", "fix_config", False),
    "a1": ("auth", "fix_config", False),
    "t1": ("transient", "retry", True),
    "r1": ("rate_limited", "retry", True),
    "v1": ("validation", "investigate", False),
    "u1": ("unknown", "investigate", False),
    "w1": ("outside_booking_window", "reschedule_or_cancel", False),
}


def plan_of(db, **sections):
    with db.session() as s:
        return rem.plan(s, parse_settings(sections), NOW)


def test_the_plan_follows_each_categorys_disposition(db, frozen):
    build(db)
    items = plan_of(db)
    assert {i.id: (i.category, i.action, i.automatic) for i in items} == EXPECTED_PLAN
    assert [i.id for i in items] == list(EXPECTED_PLAN)
    for i in items:  # automatic or human: categories.disposition decides
        assert i.automatic == (cats.disposition(i.category) != cats.MANUAL)
    u1 = next(i for i in items if i.id == "u1")
    assert u1.snoozed_until == NOW + 5 * H
    assert "(snoozed until 2025-11-24T22:00:00Z: asked Cal.com support)" in u1.why
    assert next(i for i in items if i.id == "m1").why == (
        "customer c-anon: no email; phone is anonymous; auto_backfill_email is off; synconsole backfill-email m1")

    # auto_backfill_email makes missing_contact automatic (auto_fix)
    auto = {i.id: (i.action, i.automatic) for i in plan_of(db, remediation={"auto_backfill_email": True})}
    assert auto["m1"] == auto["m2"] == ("backfill_email", True)
    # cleanup_mode = "flag": the cleanup flags what is not flagged yet; flagged ones need a human to cancel
    flag = {i.id: (i.action, i.automatic) for i in plan_of(db, jobs={"cleanup_mode": "flag"})}
    assert (flag["p1"], flag["p2"], flag["p3"]) == (("cancel", False), ("cleanup_flag", True), ("cancel", False))


def test_remediate_plan(env, run_cli):
    code, out, err = run_cli("remediate", "--plan", env=env)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "remediation plan at 2025-11-24T17:00:00Z: 15 failures, 5 automatic, 10 need a human",
        "",
        "automatic (synconsole remediate --apply runs these):",
        "  p3   past_appointment -> cleanup_cancel",
        "       start 2025-11-21T17:00:00Z has passed: Cal.com cannot book it; the",
        "       cleanup job cancels it",
        "  p1   past_appointment -> cleanup_cancel",
        "       start 2025-11-22T17:00:00Z has passed: Cal.com cannot book it; the",
        "       cleanup job cancels it",
        "  p2   past_appointment -> cleanup_cancel",
        "       start 2025-11-24T16:00:00Z has passed (failed as host_conflict): Cal.com",
        "       cannot book it; the cleanup job cancels it",
        "  t1   transient -> retry",
        "       transient (HTTP 503) after 10 attempts; retried automatically",
        "  r1   rate_limited -> retry",
        "       rate limited (HTTP 429) after 10 attempts; retried automatically",
        "",
        "needs a human:",
        "  m1   missing_contact -> backfill_email",
        "       customer c-anon: no email; phone is anonymous; auto_backfill_email is off",
        "       next: synconsole backfill-email m1",
        "  m2   missing_contact -> backfill_email",
        "       customer c-empty: no email; phone is empty; auto_backfill_email is off",
        "       next: synconsole backfill-email m2",
        "  h1   host_conflict -> reschedule_or_cancel",
        "       host conflict at 2025-11-26T17:00:00Z",
        "       next: synconsole reschedule h1 START",
        "         or: synconsole cancel h1 --reason TEXT",
        "  ns   missing_staff -> assign_staff",
        "       no staff assigned",
        "       next: synconsole assign-staff ns STAFF_ID",
        "         or: synconsole cancel ns --reason TEXT",
        "  off  missing_staff -> assign_staff",
        "       staff s-off is inactive",
        "       next: synconsole assign-staff off STAFF_ID",
        "         or: synconsole cancel off --reason TEXT",
        "  e1   no_event_type -> fix_config",
        "       staff s-noet has no Cal.com event type or user mapped",
        "       next: import the staff row with event_type_id, then synconsole retry e1",
        "  a1   auth -> fix_config",
        "       Cal.com refused the API key",
        "       next: fix [calcom] api_key (synconsole doctor), then synconsole retry a1",
        "  v1   validation -> investigate",
        "       validation failure (HTTP 400)",
        "       next: read the full error with synconsole show v1, then fix and retry",
        "         or: cancel",
        "  u1   unknown -> investigate",
        "       unknown failure (HTTP 418) (snoozed until 2025-11-24T22:00:00Z: asked",
        "       Cal.com support)",
        "       next: read the full error with synconsole show u1, then fix and retry",
        "         or: cancel",
        "  w1   outside_booking_window -> reschedule_or_cancel",
        "       outside booking window at 2026-01-03T17:00:00Z",
        "       next: synconsole reschedule w1 START",
        "         or: synconsole cancel w1 --reason TEXT",
    ]
    assert max(len(line) for line in out.splitlines()) <= 85

    code, out, err = run_cli("remediate", "--plan", "--json", env=env)
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert (doc["at"], doc["automatic"], doc["needs_human"]) == ("2025-11-24T17:00:00Z", 5, 10)
    assert {i["id"]: (i["category"], i["action"], i["automatic"]) for i in doc["items"]} == EXPECTED_PLAN
    assert doc["items"][0] == {
        "id": "p3", "category": "past_appointment", "action": "cleanup_cancel", "automatic": True,
        "why": "start 2025-11-21T17:00:00Z has passed: Cal.com cannot book it; the cleanup job cancels it",
        "command": None, "start": "2025-11-21T17:00:00Z", "first_failed_at": "2025-11-21T17:00:00Z",
        "snoozed_until": None}
    h1 = next(i for i in doc["items"] if i["id"] == "h1")
    assert (h1["why"], h1["command"]) == (
        "host conflict at 2025-11-26T17:00:00Z; synconsole reschedule h1 START, or synconsole cancel h1 --reason TEXT",
        "synconsole reschedule h1 START, or synconsole cancel h1 --reason TEXT")


APPLY_PREVIEW = [
    "cleanup_cancel: 3 appointments",
    "  p3: start 2025-11-21T17:00:00Z, past_appointment -> cancel locally and in Cal.com",
    "  p1: start 2025-11-22T17:00:00Z, past_appointment -> cancel locally",
    "  p2: start 2025-11-24T16:00:00Z, host_conflict -> cancel locally",
    "retry: 2 appointments",
    "  t1: sync_state failed -> pending, category transient -> -",
    "  r1: sync_state failed -> pending, category rate_limited -> -",
]


def test_remediate_apply_dry_run_changes_nothing(env, run_cli):
    before = state(env)
    code, out, err = run_cli("remediate", "--apply", "--dry-run", env=env)
    assert (code, err) == (0, "")
    assert out.splitlines() == APPLY_PREVIEW + [
        "dry run: would change 5 appointments, nothing changed; 10 need a human (synconsole remediate --plan)"]
    assert state(env) == before and events(env) == []
    # read-only may look
    code, out2, _ = run_cli("remediate", "--apply", "--dry-run", "--read-only", env=env)
    assert (code, out2) == (0, out)


def test_remediate_apply(env, run_cli):
    from synconsole.core import audit

    code, out, err = run_cli("remediate", "--apply", "--yes", env=env)
    assert (code, err) == (0, "")
    assert out.splitlines() == APPLY_PREVIEW + [
        "cleanup_cancel: cancelled 3 past appointments",
        "retry: retried 2 appointments: back in the sync queue",
        "changed 5 appointments; 10 need a human (synconsole remediate --plan)",
    ]
    after = state(env)
    assert after["p1"] == ("cancelled", "cancelled", "create", "past_appointment")
    assert after["p2"] == ("cancelled", "cancelled", "create", "host_conflict")
    assert after["p3"] == ("cancelled", "pending", "cancel", "past_appointment")  # the sync cancels the booking
    assert after["t1"] == after["r1"] == ("scheduled", "pending", "create", None)
    assert all(after[i][1] == "failed" for i in ("m1", "m2", "h1", "ns", "off", "e1", "a1", "v1", "u1", "w1"))
    log = events(env)
    assert [(e.actor, e.action, e.targets, e.result) for e in log] == [
        (audit.os_actor(), "cleanup_cancel", ["p3", "p1", "p2"], "3 cancelled"),
        (audit.os_actor(), "retry", ["t1", "r1"], "2 retried"),
    ]
    assert log[1].reason == rem.RETRY_REASON
    # again: nothing automatic is left
    code, out, err = run_cli("remediate", "--apply", "--yes", env=env)
    assert (code, out, err) == (0, "nothing to do automatically; 10 need a human (synconsole remediate --plan)\n", "")


def test_remediate_refusals(env, run_cli):
    before = state(env)
    code, out, err = run_cli("remediate", "--apply", env=env)  # no terminal, no --yes
    assert (code, err) == (2, NO_TTY)
    assert out.splitlines() == APPLY_PREVIEW
    code, out, err = run_cli("remediate", "--apply", "--yes", "--read-only", env=env)
    assert (code, out) == (3, "")
    assert err == ("synconsole: error: refused: remediate changes data and synconsole is read-only "
                   "(--read-only, SYNCONSOLE_READ_ONLY=1 or [ui] read_only)\n")
    code, _, err = run_cli("remediate", "--apply", "--yes", env={**env, "SYNCONSOLE_READ_ONLY": "1"})
    assert code == 3
    for args, message in [((), "remediate: give --plan or --apply"),
                          (("--plan", "--apply"), "remediate: give --plan or --apply"),
                          (("--apply", "--json"), "remediate: --json goes with --plan"),
                          (("--plan", "--yes"),
                           "remediate --plan changes nothing: --yes and --dry-run go with --apply")]:
        code, out, err = run_cli("remediate", *args, env=env)
        assert (code, out, err) == (2, "", f"synconsole: error: {message}\n")
    assert state(env) == before and events(env) == []
    # the plan is read-only work
    code, _, _ = run_cli("remediate", "--plan", "--read-only", env=env)
    assert code == 0


def test_apply_automatic_backfill_as_a_job(db, frozen):
    build(db)
    settings = parse_settings({"remediation": {"auto_backfill_email": True}})
    dry = rem.apply_automatic(db, settings, actor="job:remediate", dry_run=True)
    assert [(s.action, s.ids) for s in dry.steps] == [
        ("cleanup_cancel", ["p3", "p1", "p2"]), ("retry", ["t1", "r1"]), ("backfill_email", ["m1", "m2"])]
    assert dry.steps[2].lines == [
        "m1: email - -> customer_c-anon@placeholder.invalid, sync_state failed -> pending, "
        "category missing_contact -> -",
        "m2: email - -> customer_c-empty@placeholder.invalid, sync_state failed -> pending, "
        "category missing_contact -> -",
    ]
    assert dry.changed == 0
    with db.session() as s:
        assert s.get(Customer, "c-anon").email is None

    done = rem.apply_automatic(db, settings, actor="job:remediate")
    assert [(s.action, s.changed) for s in done.steps] == [
        ("cleanup_cancel", ["p3", "p1", "p2"]), ("retry", ["t1", "r1"]), ("backfill_email", ["m1", "m2"])]
    assert done.changed == 7 and sorted(i.id for i in done.human) == ["a1", "e1", "h1", "ns", "off", "u1", "v1", "w1"]
    with db.session() as s:
        assert s.get(Customer, "c-anon").email == "customer_c-anon@placeholder.invalid"
        assert s.get(Appointment, "m1").sync_state == "pending"
        log = list(s.exec(select(AuditEvent).order_by(AuditEvent.id)))
    assert [(e.actor, e.action) for e in log] == [("job:remediate", "cleanup_cancel"), ("job:remediate", "retry"),
                                                 ("job:remediate", "backfill_email")]
    assert log[2].reason == rem.BACKFILL_REASON
    # read-only refuses before anything is written
    from synconsole.errors import ReadOnlyError

    with pytest.raises(ReadOnlyError):
        rem.apply_automatic(db, settings.with_read_only(), actor="job:remediate")


def test_flag_mode_flags_only(db, frozen):
    build(db)
    settings = parse_settings({"jobs": {"cleanup_mode": "flag"}})
    done = rem.apply_automatic(db, settings, actor="ops@test")
    assert [(s.action, s.changed, s.message) for s in done.steps] == [
        ("cleanup_flag", ["p2"], "flagged 1 past appointment"),
        ("retry", ["t1", "r1"], "retried 2 appointments: back in the sync queue")]
    with db.session() as s:
        p2 = s.get(Appointment, "p2")
        assert (p2.status, p2.sync_state, p2.category) == ("scheduled", "failed", "past_appointment")
    assert {i.id for i in done.human} >= {"p1", "p3"}  # flagged already: a human cancels them
