"""Metrics and alerts with numbers computed by hand, on SQLite and PostgreSQL, and `status`."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from synconsole.config import parse_settings
from synconsole.core import metrics
from synconsole.core.db import Database

from tests import factory
from tests.conftest import NOW

H = timedelta(hours=1)
D = timedelta(days=1)
FUTURE = NOW + 3 * D


def build_incident(db: Database) -> None:
    """The seed's afternoon, in numbers small enough to count by hand (see the comments)."""
    with db.session() as s:
        factory.staff(s, "s1")
        factory.customer(s, "c1")
        f = factory.failed
        # 11 past appointments: 4 failed >7 d ago, 4 three days ago, 3 thirty hours ago (all ancient)
        for i in range(1, 12):
            age = 10 * D if i <= 4 else 3 * D if i <= 8 else 30 * H
            f(s, f"p{i}", category="past_appointment", first_failed_at=NOW - age, start=NOW - 12 * D,
              message="Attempting to book a meeting in the past.")
        # 3 host conflicts: 2 h, 30 min and 26 h old
        f(s, "h1", category="host_conflict", first_failed_at=NOW - 2 * H, start=FUTURE)
        f(s, "h2", category="host_conflict", first_failed_at=NOW - H / 2, start=FUTURE + H)
        f(s, "h3", category="host_conflict", first_failed_at=NOW - 26 * H, start=FUTURE + 2 * H)
        # 749: unknown, 5 h old, snoozed for another hour: not manual review
        f(s, "749", category="unknown", first_failed_at=NOW - 5 * H, start=FUTURE + 3 * H, snoozed_until=NOW + H)
        # missing contact, 48 h old, its snooze ran out an hour ago: manual review again
        f(s, "mc", category="missing_contact", first_failed_at=NOW - 2 * D, start=FUTURE + 4 * H,
          snoozed_until=NOW - H)
        # cancelled appointments never count as failures
        f(s, "x", category="host_conflict", first_failed_at=NOW - 2 * D, start=FUTURE, status="cancelled")

        a = factory.appointment
        # queue: 3 stuck (pending 2 h, never attempted), 1 fresh, 1 retrying, 1 in flight, 1 attempted since queued
        for i in range(1, 4):
            a(s, f"stuck{i}", start=FUTURE, queued_at=NOW - 2 * H)
        a(s, "fresh", start=FUTURE, queued_at=NOW - timedelta(minutes=5))
        a(s, "retrying", start=FUTURE, sync_state="retry_scheduled", queued_at=NOW - 3 * H,
          last_attempt_at=NOW - timedelta(minutes=5))
        a(s, "flying", start=FUTURE, sync_state="in_flight", queued_at=NOW - 3 * H)
        a(s, "again", start=FUTURE, queued_at=NOW - 3 * H, last_attempt_at=NOW - H)

        # attempts in the last 24 h: 9 synced, 1 failed then synced, 1 synced then failed,
        # h1, h2, 749 failed, the 429 of "retrying": 10 of 15 succeeded -> 0.6667
        t = factory.attempt
        for i in range(1, 10):
            a(s, f"ok{i}", start=FUTURE, sync_state="synced", booking_uid=f"u{i}")
            t(s, f"ok{i}", at=NOW - 6 * H, outcome="success", status=201)
        a(s, "recovered", start=FUTURE, sync_state="synced", booking_uid="ur")
        t(s, "recovered", at=NOW - 20 * H, outcome="retry", status=500, category="transient")
        t(s, "recovered", at=NOW - H, outcome="success", status=201)
        t(s, "again", at=NOW - 23 * H, outcome="success", status=201)
        t(s, "again", at=NOW - H, outcome="retry", status=503, category="transient")
        t(s, "h1", at=NOW - 2 * H, outcome="failed", status=400, category="host_conflict")
        t(s, "h2", at=NOW - H / 2, outcome="failed", status=400, category="host_conflict")
        t(s, "749", at=NOW - 5 * H, outcome="failed", status=400, category="unknown")
        t(s, "p1", at=NOW - 25 * H, outcome="failed", status=400, category="past_appointment")  # outside 24 h
        t(s, "retrying", at=NOW - timedelta(minutes=5), outcome="retry", status=429, category="rate_limited")
        metrics.raise_event_alert(s, "log_fallback", "cannot write /var/log/synconsole/synconsole.log; "
                                  "logging to ~/.local/state/synconsole/log/synconsole.log", now=NOW - H)
        s.commit()


EXPECTED_STATUS = {
    "failed": 16,
    "pending": 7,
    "manual_review": 4,
    "ancient_failures": 13,
    "success_rate_24h": 0.6667,
    "critical_alerts": 2,
    "alerts": [
        {"id": "stuck_pending", "severity": "critical", "count": 3,
         "message": "3 appointments pending for more than 15 min without an attempt: is the sync job running?"},
        {"id": "ancient_actionable", "severity": "critical", "count": 2,
         "message": "2 failures needing a human are older than 24 h"},
        {"id": "low_success_rate", "severity": "warning", "count": 15,
         "message": "success rate 66.7% over 24 h (15 appointments), below 80%"},
        {"id": "log_fallback", "severity": "warning", "count": 1,
         "message": "cannot write /var/log/synconsole/synconsole.log; "
                    "logging to ~/.local/state/synconsole/log/synconsole.log"},
        {"id": "rate_limit_pressure", "severity": "warning", "count": 1,
         "message": "1 rate-limit answer (429) in the last 15 min"},
    ],
    "by_category": {"past_appointment": 11, "host_conflict": 3, "missing_contact": 1, "unknown": 1},
    "generated_at": "2025-11-24T17:00:00Z",
    "by_age": {"<1h": 1, "1-24h": 2, "1-7d": 9, ">7d": 4},
    "by_kind": {"legitimate": 11, "business": 3, "data": 1, "config": 0, "transient": 0, "technical": 1},
    "success_rate_appointments": 15,
    "oldest_failure_by_category": {
        "past_appointment": "2025-11-14T17:00:00Z", "host_conflict": "2025-11-23T15:00:00Z",
        "missing_contact": "2025-11-22T17:00:00Z", "unknown": "2025-11-24T12:00:00Z",
    },
    # issue 15: each Cal.com account's budget (one, the default, untouched here)
    "accounts": [{"account": "default", "blocked_for_s": 0.0, "burst": 4, "granted": 0, "limit_per_minute": 120,
                  "paused": False, "paused_reason": None, "requests_429": 0, "reservations": 0, "tokens": 4.0,
                  "use": 0.0, "used_this_minute": 0}],
}


def test_incident_metrics_by_hand(db, settings):
    build_incident(db)
    with db.session() as s:
        m = metrics.compute(s, settings, NOW)
    assert m.to_json() == EXPECTED_STATUS
    assert m.stuck_pending == 3
    assert m.check_exit_code() == 2


def test_status_json_and_check(db_url, run_cli, frozen):
    from synconsole.core.db import open_database

    db = open_database(db_url)
    build_incident(db)
    db.dispose()
    env = {"SYNCONSOLE_DATABASE_URL": db_url}
    code, out, err = run_cli("status", "--json", env=env)
    assert code == 0 and err == ""
    assert json.loads(out) == EXPECTED_STATUS
    code, out, _ = run_cli("status", "--json", "--check", env=env)
    assert code == 2 and json.loads(out)["critical_alerts"] == 2
    code, out, _ = run_cli("status", env=env)
    assert code == 0
    assert "failed                 16      manual review           4" in out
    assert "success rate 24h    66.7%      critical alerts         2" in out
    assert "  past_appointment             11  legitimate auto_cleanup 2025-11-14T17:00:00Z" in out
    assert "CRITICAL stuck_pending (3): 3 appointments pending for more than 15 min" in out


def test_auto_backfill_takes_missing_contact_out_of_manual_review(db):
    build_incident(db)
    with db.session() as s:
        m = metrics.compute(s, parse_settings({"remediation": {"auto_backfill_email": True}}), NOW)
    assert m.manual_review == 3
    assert next(a for a in m.alerts if a.id == "ancient_actionable").count == 1


def test_thresholds_come_from_config(db):
    build_incident(db)
    cfg = parse_settings({"alerts": {"stuck_pending_minutes": 180, "low_success_rate": 0.5,
                                     "rate_limit_pressure_count": 2, "ancient_hours": 72}})
    with db.session() as s:
        m = metrics.compute(s, cfg, NOW)
    assert [a.id for a in m.alerts] == ["log_fallback"]
    assert m.ancient_failures == 13  # the metric's 24 h is the contract, not a threshold
    assert m.check_exit_code() == 1


def test_empty_database_is_healthy(db, settings, run_cli):
    with db.session() as s:
        m = metrics.compute(s, settings, NOW)
    assert (m.failed, m.pending, m.manual_review, m.ancient_failures, m.success_rate_24h, m.critical_alerts) == \
        (0, 0, 0, 0, None, 0)
    assert m.alerts == [] and m.by_category == {} and m.check_exit_code() == 0


def _calls(db, outcomes):
    with db.session() as s:
        factory.staff(s, "s1")
        factory.customer(s, "c1")
        factory.appointment(s, "a", start=FUTURE, sync_state="retry_scheduled")
        for i, (status, category, outcome) in enumerate(outcomes):
            factory.attempt(s, "a", at=NOW - timedelta(minutes=len(outcomes) - i), outcome=outcome, status=status,
                            category=category)
        s.commit()


def test_outage_after_consecutive_transient_failures(db, settings):
    _calls(db, [(201, None, "success")] + [(None, "transient", "retry")] * 2 + [(502, "transient", "retry")] * 3)
    with db.session() as s:
        alerts = {a.id: a for a in metrics.compute(s, settings, NOW).alerts}
    assert alerts["outage"].severity == "critical" and alerts["outage"].count == 5
    with db.session() as s:
        factory.attempt(s, "a", at=NOW, outcome="success", status=201)
        s.commit()
        assert "outage" not in {a.id for a in metrics.compute(s, settings, NOW).alerts}


def test_four_transient_failures_are_not_an_outage(db, settings):
    _calls(db, [(201, None, "success")] + [(503, "transient", "retry")] * 4)
    with db.session() as s:
        assert "outage" not in {a.id for a in metrics.compute(s, settings, NOW).alerts}


def test_auth_failure_until_a_call_succeeds(db, settings):
    _calls(db, [(201, None, "success"), (401, "auth", "failed")])
    with db.session() as s:
        m = metrics.compute(s, settings, NOW)
        (alert,) = [a for a in m.alerts if a.id == "auth_failure"]
        assert alert.severity == "critical" and "HTTP 401" in alert.message
        assert m.check_exit_code() == 2
        factory.attempt(s, "a", at=NOW, outcome="preflight", category="missing_staff")  # not a call
        s.commit()
        assert "auth_failure" in {a.id for a in metrics.compute(s, settings, NOW).alerts}
        factory.attempt(s, "a", at=NOW, outcome="success", status=201)
        s.commit()
        assert "auth_failure" not in {a.id for a in metrics.compute(s, settings, NOW).alerts}


def test_event_alert_raise_and_clear(db, settings):
    with db.session() as s:
        assert metrics.raise_event_alert(s, "log_fallback", "first", now=NOW) is True
        assert metrics.raise_event_alert(s, "log_fallback", "again", now=NOW) is False
        s.commit()
        (alert,) = metrics.compute(s, settings, NOW).alerts
        assert (alert.id, alert.count, alert.message) == ("log_fallback", 2, "again")
        assert metrics.compute(s, settings, NOW).check_exit_code() == 1
        assert metrics.clear_event_alert(s, "log_fallback", now=NOW) is True
        s.commit()
        assert metrics.compute(s, settings, NOW).alerts == []


def test_snapshot_stores_the_metrics(db, settings):
    build_incident(db)
    with db.session() as s:
        snap = metrics.store_snapshot(s, metrics.compute(s, settings, NOW))
        s.commit()
        assert (snap.failed, snap.manual_review, snap.success_rate_24h) == (16, 4, 0.6667)
        assert snap.data == EXPECTED_STATUS
