"""The incident report with numbers computed by hand (SQLite and PostgreSQL): a snapshot at NOW-3h,
remediation by a job and a person, the report at NOW; PII and the API key never in it; `audit`."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from synconsole.config import parse_settings
from synconsole.core import audit, metrics
from synconsole.core import report as rep
from synconsole.core.actions import Actions, Target
from synconsole.core.db import Database
from synconsole.core.models import Appointment, MetricSnapshot
from synconsole.core import cleanup

from tests import factory
from tests.conftest import NOW, write

H = timedelta(hours=1)
D = timedelta(days=1)
T0 = NOW - 3 * H  # the snapshot: "before"
KEY = "cal_live_ZX9qv7SECRETb4c2d1e0"
EMAIL = "anna.beispiel@example.com"
PHONE = "+4915112345678"
ANON = "anonymous_1732456789_ab12cd"
HUMAN = "ops@console-1"


def build_before(db: Database) -> None:
    """The state at T0 = NOW - 3 h (every number below is counted by hand in the comments)."""
    with db.session() as s:
        factory.staff(s, "s1", name="Fabian Spitzer")
        factory.staff(s, "s1b", name="Fabian Spitzer (old record)")  # same Cal.com user "fabian"
        factory.staff(s, "s2", username="maria", event_type_id=102, name="Maria Krause")
        factory.customer(s, "c1", email=EMAIL)
        factory.customer(s, "c-phone", email=None, phone=PHONE)
        factory.customer(s, "c-anon1", email=None, phone=ANON)
        factory.customer(s, "c-anon2", email=None, phone=None)
        f = factory.failed
        # 5 past appointments: failed 8 d and 2 d ago (all ancient at T0)
        for i in range(1, 6):
            f(s, f"p{i}", category="past_appointment", first_failed_at=NOW - (8 * D if i <= 2 else 2 * D),
              start=NOW - (10 - i) * D, staff_id="s2", message="Attempting to book a meeting in the past.")
        # 3 host conflicts of the one Cal.com user fabian (two staff records); 750 and 751 at the same time
        f(s, "748", category="host_conflict", first_failed_at=NOW - 26 * H, start=NOW + 2 * D, staff_id="s1",
          message="User either already has booking at this time or is not available")
        f(s, "750", category="host_conflict", first_failed_at=NOW - 5 * H, start=NOW + 12 * D, staff_id="s1",
          message="User either already has booking at this time or is not available")
        f(s, "751", category="host_conflict", first_failed_at=NOW - 5 * H, start=NOW + 12 * D, staff_id="s1b",
          message="User either already has booking at this time or is not available")
        # 3 without contact: two of c-anon1 (30 h: ancient), one of c-anon2 (4 h)
        f(s, "m1", category="missing_contact", first_failed_at=NOW - 30 * H, start=NOW + 3 * D, customer_id="c-anon1",
          http_status=None, message="Customer c-anon1 has no usable contact: no email; phone is anonymous.")
        f(s, "m2", category="missing_contact", first_failed_at=NOW - 30 * H, start=NOW + 4 * D, customer_id="c-anon1",
          http_status=None, message="Customer c-anon1 has no usable contact: no email; phone is anonymous.")
        f(s, "m3", category="missing_contact", first_failed_at=NOW - 4 * H, start=NOW + 5 * D, customer_id="c-anon2",
          http_status=None, message="Customer c-anon2 has no usable contact: no email; phone is empty.")
        # 2 without staff, 2 d old (ancient)
        f(s, "740", category="missing_staff", first_failed_at=NOW - 2 * D, start=NOW + 6 * D, staff_id=None,
          http_status=None, message="No staff assigned: there is no Cal.com host or event type to book.")
        f(s, "741", category="missing_staff", first_failed_at=NOW - 2 * D, start=NOW + 6 * D + H, staff_id=None,
          http_status=None, message="No staff assigned: there is no Cal.com host or event type to book.")
        # 1 unknown, 4 h old; its error body carries PII and the API key (never to be reported)
        f(s, "749", category="unknown", first_failed_at=NOW - 4 * H, start=NOW + 3 * D + 2 * H, staff_id="s2",
          http_status=418, message=f"teapot: attendee {EMAIL} / {PHONE} / {ANON} refused; Authorization: "
                                   f"Bearer {KEY} (key {KEY})")
        # 2 stuck in pending since NOW-5h, never attempted (stuck_pending at T0)
        a = factory.appointment
        a(s, "q1", start=NOW + 7 * D, customer_id="c-phone", queued_at=NOW - 5 * H)
        a(s, "q2", start=NOW + 7 * D + H, customer_id="c-phone", queued_at=NOW - 5 * H, staff_id="s2")
        # attempts: 6 booked 10 h ago; 750, 751 failed 5 h ago; 749 4 h ago
        t = factory.attempt
        for i in range(1, 7):
            a(s, f"ok{i}", start=NOW + 8 * D + i * H, sync_state="synced", booking_uid=f"u{i}", staff_id="s2")
            t(s, f"ok{i}", at=NOW - 10 * H, outcome="success", status=201)
        t(s, "750", at=NOW - 5 * H, outcome="failed", status=400, category="host_conflict")
        t(s, "751", at=NOW - 5 * H, outcome="failed", status=400, category="host_conflict")
        t(s, "749", at=NOW - 4 * H, outcome="failed", status=418, category="unknown",
          message=f"Bearer {KEY}", body=f'{{"message": "key {KEY} for {EMAIL}"}}')
        # before the period: an auth pause two days ago (not in the report, in `audit`)
        audit.record(s, actor="job:sync", action="pause_job", reason="Cal.com refused the API key (HTTP 401)",
                     before={"job": "sync", "paused": False}, after={"job": "sync", "paused": True}, at=NOW - 2 * D)
        s.commit()
    with db.write() as s:
        metrics.store_snapshot(s, metrics.compute(s, parse_settings({}), T0))
        s.commit()


#: at T0: failed 5+3+3+2+1 = 14; pending q1, q2 = 2; manual review 3+3+2+1 = 9 (past is automatic);
#: ancient (first failure before T0-24h = NOW-27h): p1-p5, m1, m2, 740, 741 = 9 (748 is 26 h old);
#: success 24 h: ok1-6 succeeded, 750, 751, 749 failed -> 6/9 = 0.6667;
#: critical: stuck_pending (q1, q2) and ancient_actionable (m1, m2, 740, 741) = 2
BEFORE = {"failed": 14, "pending": 2, "manual_review": 9, "ancient_failures": 9, "success_rate_24h": 0.6667,
          "critical_alerts": 2}


def remediate(db: Database) -> None:
    """Between T0 and NOW: the sync catches up, job:cleanup cancels the past ones, a person fixes the rest."""
    with db.write() as s:  # the sync job books q1 and q2 two hours ago
        for i in ("q1", "q2"):
            s.execute(sa.update(Appointment).where(Appointment.id == i)
                      .values(sync_state="synced", booking_uid=f"u-{i}"))
            factory.attempt(s, i, at=NOW - 2 * H, outcome="success", status=201)
        s.commit()
    assert cleanup.apply(db, cleanup.plan(db, mode="cancel"), mode="cancel", actor="job:cleanup") == 5
    settings = parse_settings({})
    person = Actions(db, settings, actor=HUMAN)
    assert person.backfill_email(Target(category="missing_contact")).changed == ["m1", "m2", "m3"]
    cancelled = person.cancel(Target(ids=("740", "741")), reason=f"No staff assigned; caller {EMAIL}")
    assert cancelled.changed == ["740", "741"]
    assert person.snooze(Target(ids=("749",)), note="investigating the teapot").changed == ["749"]


#: at NOW: failed 748, 750, 751, 749 = 4; pending m1, m2, m3 = 3 (queued now: not stuck);
#: manual review 748, 750, 751 = 3 (749 snoozed); ancient: 748 only (26 h) = 1;
#: success 24 h: ok1-6, q1, q2 succeeded, 750, 751, 749 failed -> 8/11 = 0.7273;
#: critical: ancient_actionable (748) = 1; warning low_success_rate (11 appointments, 72.7 %)
AFTER = {"failed": 4, "pending": 3, "manual_review": 3, "ancient_failures": 1, "success_rate_24h": 0.7273,
         "critical_alerts": 1}


@pytest.fixture
def scenario(db, frozen):
    build_before(db)
    remediate(db)
    return db


def settings_with_key():
    return parse_settings({"calcom": {"api_key": KEY}})


def report_of(db, settings=None, since=T0):
    with db.session() as s:
        return rep.build_report(s, settings or settings_with_key(), since=since, now=NOW)


def test_the_report_by_hand(scenario):
    r = report_of(scenario)
    assert r["period"] == {"since": "2025-11-24T14:00:00Z", "until": "2025-11-24T17:00:00Z", "length": "3 h"}
    assert r["before"]["snapshot_at"] == "2025-11-24T14:00:00Z"
    assert {k: (v["before"], v["after"]) for k, v in r["metrics"].items()} == {
        k: (BEFORE[k], AFTER[k]) for k in BEFORE}
    assert {k: (v["change"], v["change_pct"]) for k, v in r["metrics"].items()} == {
        "failed": (-10, -71.4), "pending": (1, 50.0), "manual_review": (-6, -66.7), "ancient_failures": (-8, -88.9),
        "success_rate_24h": (0.0606, 9.1), "critical_alerts": (-1, -50.0)}
    assert [v["text"] for v in r["metrics"].values()] == [
        "14 → 4 (-10, -71%)", "2 → 3 (+1, +50%)", "9 → 3 (-6, -67%)", "9 → 1 (-8, -89%)",
        "66.7% → 72.7% (+6.1 pp, +9%)", "2 → 1 (-1, -50%)"]
    assert {k: v["text"] for k, v in r["by_category"].items()} == {
        "past_appointment": "5 → 0 (-5, -100%)", "host_conflict": "3 → 3 (no change)",
        "missing_contact": "3 → 0 (-3, -100%)", "missing_staff": "2 → 0 (-2, -100%)",
        "unknown": "1 → 1 (no change)"}

    # fixes: the audit log of the period, grouped by (actor, action), people and jobs apart
    fixes = r["fixes"]
    assert fixes["events"] == 4  # the pause two days ago is before the period
    assert [(g["actor"], g["action"], g["ids"], g["results"]) for g in fixes["people"]] == [
        (HUMAN, "backfill_email", ["m1", "m2", "m3"], ["2 customers backfilled, 3 appointments, 3 back to pending"]),
        (HUMAN, "cancel", ["740", "741"], ["2 cancelled"]),
        (HUMAN, "snooze", ["749"], ["1 snoozed until 2025-11-25T17:00:00Z"]),
    ]
    assert [(g["summary"], g["events"], g["ids"], g["results"]) for g in fixes["jobs"]] == [
        ("job:cleanup cancelled 5 past appointments", 1, ["p1", "p2", "p3", "p4", "p5"], ["5 cancelled"])]
    assert fixes["people"][1]["reasons"] == ["No staff assigned; caller a***@example.com"]
    assert fixes["sync"] == {"calls": 2, "refused_before_sending": 0, "appointments": 2, "booked": 2, "failed": 0,
                             "to_retry": 0,
                             "summary": "the sync job tried 2 appointments: 2 now booked; 2 Cal.com calls"}

    # what remains, by category: every id, cause and recommendation from categories.py
    remaining = r["remaining"]
    assert remaining["total"] == 4
    assert [(c["category"], c["count"], c["ids"], c["oldest_age"], c["snoozed"], c["needs_human"])
            for c in remaining["categories"]] == [
        ("host_conflict", 3, ["748", "750", "751"], "26 h", [], 3),
        ("unknown", 1, ["749"], "4 h", ["749"], 1),
    ]
    from synconsole.core.categories import CATEGORIES

    host = remaining["categories"][0]
    assert (host["cause"], host["recommendation"]) == (CATEGORIES["host_conflict"].cause,
                                                       CATEGORIES["host_conflict"].recommendation)
    assert host["oldest_failed_at"] == "2025-11-23T15:00:00Z"
    assert host["next_steps"] == [{"action": "reschedule_or_cancel", "automatic": False, "count": 3}]

    # root causes of every category seen in the period, with the data
    causes = {c["category"]: c for c in r["root_causes"]}
    assert list(causes) == ["past_appointment", "host_conflict", "missing_contact", "missing_staff", "unknown"]
    assert {k: (c["appointments"], c["still_failing"], c["resolved"]) for k, c in causes.items()} == {
        "past_appointment": (5, 0, {"cancelled": 5}), "host_conflict": (3, 3, {}),
        "missing_contact": (3, 0, {"pending": 3}), "missing_staff": (2, 0, {"cancelled": 2}), "unknown": (1, 1, {})}
    (fabian,) = causes["host_conflict"]["details"]["hosts"]
    assert fabian["host"] == "fabian" and fabian["appointments"] == ["748", "750", "751"]
    assert fabian["shared_by_staff_records"] is True
    assert [s["id"] for s in fabian["staff"]] == ["s1", "s1b"]
    assert fabian["overlapping_pairs"] == [["750", "751", "2025-12-06T17:00:00Z"]]
    contact = causes["missing_contact"]["details"]
    assert contact == {"customers": 2, "customer_ids": ["c-anon1", "c-anon2"],
                       "phones": {"phone is anonymous": 1, "phone is empty": 1},
                       "usable_now": ["c-anon1", "c-anon2"], "still_without": []}
    assert causes["missing_staff"]["details"] == {"without_staff": ["740", "741"], "inactive_staff": []}
    (message,) = causes["unknown"]["details"]["messages"]
    assert message["ids"] == ["749"] and message["http_status"] == 418

    # legitimate vs technical: of the 4 left, 3 business (host unavailable), 1 technical
    split = r["split"]
    assert {k: (v["count"], v["share"]) for k, v in split["kinds"].items() if v["count"]} == {
        "business": (3, 0.75), "technical": (1, 0.25)}
    assert split["text"].startswith("3/4 business, 1/4 technical. Technical failures (validation, unknown): 1/4 (25%)")

    assert [(a["id"], a["severity"], a["count"]) for a in r["alerts"]["active"]] == [
        ("ancient_actionable", "critical", 1), ("low_success_rate", "warning", 11)]
    assert r["alerts"]["cleared"] == ["stuck_pending"]


def test_the_markdown(scenario):
    md = rep.render_markdown(report_of(scenario))
    lines = md.splitlines()
    flat = " ".join(line.strip() for line in lines)  # wrapped paragraphs and list items, unwrapped
    assert lines[0] == "# Appointment sync report"
    for line in [
        "- Period: 2025-11-24T14:00:00Z to 2025-11-24T17:00:00Z (3 h)",
        "- Failed syncs: 14 → 4 (-10, -71%)",
        "- Manual review: 9 → 3 (-6, -67%)",
        "- Critical alerts: 2 → 1 (-1, -50%)",
        "| metric                   | before | after | change       |",
        "|--------------------------|-------:|------:|--------------|",
        "| failed syncs             |     14 |     4 | -10, -71%    |",
        "| pending                  |      2 |     3 | +1, +50%     |",
        "| manual review            |      9 |     3 | -6, -67%     |",
        "| ancient failures (>24 h) |      9 |     1 | -8, -89%     |",
        "| success rate (24 h)      |  66.7% | 72.7% | +6.1 pp, +9% |",
        "| critical alerts          |      2 |     1 | -1, -50%     |",
        "| past_appointment |      5 |     0 | -5, -100% |",
        "| host_conflict    |      3 |     3 | no change |",
        "| missing_contact  |      3 |     0 | -3, -100% |",
        "| missing_staff    |      2 |     0 | -2, -100% |",
        "| unknown          |      1 |     1 | no change |",
        "### By people",
        "- ops@console-1 backfilled placeholder emails for 3 appointments (1 action):",
        "  m1, m2, m3",
        "  - result: 2 customers backfilled, 3 appointments, 3 back to pending",
        "- ops@console-1 cancelled 2 appointments (1 action): 740, 741",
        "  - result: 2 cancelled",
        "  - reason: `No staff assigned; caller a***@example.com`",
        "- ops@console-1 snoozed 1 appointment (1 action): 749",
        "### What the jobs did automatically",
        "- job:cleanup cancelled 5 past appointments (1 run): p1, p2, p3, p4, p5",
        "  - result: 5 cancelled",
        "- The sync job tried 2 appointments: 2 now booked; 2 Cal.com calls.",
        "## Remaining failures (4)",
        "### host_conflict: 3 (business, manual)",
        "- IDs: 748, 750, 751",
        "- Oldest failure: 2025-11-23T15:00:00Z (26 h ago)",
        "- Next: reschedule_or_cancel by a human (3)",
        "### unknown: 1 (technical, manual)",
        "- IDs: 749",
        "- Snoozed (1): 749",
        "- Next: investigate by a human (1)",
        "### Host conflict (host_conflict)",
        "| legitimate |        0 |    0% |",
        "| business   |        3 |   75% |",
        "| technical  |        1 |   25% |",
        "Cleared since the snapshot: stuck_pending.",
    ]:
        assert line in lines, line
    for text in [
        "- Before: snapshot of 2025-11-24T14:00:00Z (the latest at or before 2025-11-24T14:00:00Z)",
        "- Remaining: 4 failures, 4 needing a human (1 of them snoozed). 3/4 business, 1/4 technical.",
        "- Cause: The Cal.com host already has a booking at this time or is not available (also two staff "
        "records mapped to one Cal.com user).",
        "- Recommendation: Reschedule to one of the free slots Cal.com offers, assign another staff member, "
        "or cancel.",
        "5 appointments had it during the period; 0 still failing, 5 resolved (5 cancelled).",
        "Cal.com user fabian: 748 at 2025-11-26T17:00:00Z (staff s1), 750 at 2025-12-06T17:00:00Z (staff s1), "
        "751 at 2025-12-06T17:00:00Z (staff s1b); staff records s1 (Fabian Spitzer) and s1b (Fabian Spitzer "
        "(old record)) both map to this one Cal.com user",
        "overlapping each other: 750 and 751 at 2025-12-06T17:00:00Z.",
        "2 distinct customers (c-anon1, c-anon2) had no usable contact: 1 phone is anonymous, 1 phone is empty.",
        "3/4 business, 1/4 technical. Technical failures (validation, unknown): 1/4 (25%)",
        "- CRITICAL ancient_actionable (1): 1 failure needing a human is older than 24 h",
        "- WARNING low_success_rate (11): success rate 72.7% over 24 h (11 appointments), below 80%",
    ]:
        assert text in flat, text
    assert max(len(line) for line in lines) <= 80  # reads in a terminal of 80 columns
    # headings, one table separator per table (GitHub renders them)
    assert [line for line in lines if line.startswith("## ")] == [
        "## Summary", "## Metrics before and after", "## Fixes applied", "## Remaining failures (4)",
        "## Root causes seen", "## Legitimate vs technical", "## Active alerts"]


def test_without_an_older_snapshot_the_report_starts_from_the_first_in_the_period(scenario):
    r = report_of(scenario, since=NOW - 3 * D)  # the only snapshot is at NOW-3h, inside the period
    assert r["before"]["snapshot_at"] == "2025-11-24T14:00:00Z"
    assert r["before"]["note"] == ("snapshot of 2025-11-24T14:00:00Z (none at or before 2025-11-21T17:00:00Z: "
                                   "the first one in the period)")
    assert {k: v["before"] for k, v in r["metrics"].items()} == BEFORE
    assert r["metrics"]["failed"]["text"].startswith("14 → 4")
    # the fixes are the period's: the pause of two days ago is inside it, by a job
    assert [g["summary"] for g in r["fixes"]["jobs"]] == ["job:sync paused job sync",
                                                         "job:cleanup cancelled 5 past appointments"]


def test_no_snapshot_in_or_before_the_period_means_before_is_unknown(scenario):
    with scenario.write() as s:  # the only snapshot is gone (a database that never took one)
        s.execute(sa.delete(MetricSnapshot))
        s.commit()
    r = report_of(scenario, since=NOW - 3 * D)
    assert r["before"] == {"snapshot_at": None, "snapshot_id": None,
                           "note": "no snapshot at or before 2025-11-21T17:00:00Z, before values unknown"}
    assert {k: (v["before"], v["change"], v["change_pct"]) for k, v in r["metrics"].items()} == {
        k: (None, None, None) for k in BEFORE}
    assert r["metrics"]["failed"]["text"] == "unknown → 4"
    assert r["metrics"]["success_rate_24h"]["text"] == "unknown → 72.7%"
    assert r["by_category"]["host_conflict"]["text"] == "unknown → 3"
    md = rep.render_markdown(r)
    assert "- Before: no snapshot at or before 2025-11-21T17:00:00Z, before values unknown" in md.replace("\n  ", " ")
    assert "| failed syncs             | unknown |     4 | -      |" in md
    assert "Cleared since the snapshot" not in md


def test_an_empty_database(db, frozen):
    r = report_of(db, parse_settings({}), since=NOW - D)
    assert r["remaining"] == {"total": 0, "categories": []} and r["root_causes"] == []
    md = rep.render_markdown(r)
    assert "None: every appointment is synced, queued or cancelled." in md
    assert "- none in the period" in md and "No failures remain." in md and "\nNone.\n" in md


def test_change_texts():
    assert rep.change(23, 15)["text"] == "23 → 15 (-8, -35%)"
    assert rep.change(3, 0)["text"] == "3 → 0 (-3, -100%)"
    assert rep.change(0, 3) == {"before": 0, "after": 3, "change": 3, "change_pct": None, "text": "0 → 3 (+3)"}
    assert rep.change(None, 0.75, rate=True)["text"] == "n/a → 75.0%"
    assert rep.change(0.5, 0.5, rate=True)["text"] == "50.0% → 50.0% (no change)"
    assert rep.change(None, 4, known=False)["text"] == "unknown → 4"


def test_parse_when():
    assert rep.parse_when("24h", NOW) == NOW - D
    assert rep.parse_when("7d", NOW) == NOW - 7 * D
    assert rep.parse_when("90m", NOW) == NOW - timedelta(minutes=90)
    assert rep.parse_when("2025-11-24T15:00:00+01:00", NOW) == NOW - 3 * H
    assert rep.parse_when("2025-11-24", NOW) == NOW - 17 * H
    from synconsole.errors import UsageError

    for bad, why in [("yesterday", "expected ISO 8601"), ("2025-11-24T14:00", "has no UTC offset"),
                     ("2025-11-25T00:00:00Z", "is in the future")]:
        with pytest.raises(UsageError, match=why):
            rep.parse_when(bad, NOW)


# --- the command ---------------------------------------------------------------------------------


def config_file(tmp_path, db_url) -> str:
    return str(write(tmp_path / "with-key.toml", f'[database]\nurl = "{db_url}"\n[calcom]\napi_key = "{KEY}"\n'))


def test_report_command_md_json_and_out(scenario, run_cli, tmp_path):
    cfg = config_file(tmp_path, scenario.url)
    code, md, err = run_cli("report", "--since", "3h", "--config", cfg)
    assert (code, err) == (0, "")
    assert md == rep.render_markdown(report_of(scenario))
    code, out, err = run_cli("report", "--since", "2025-11-24T14:00:00Z", "--format", "json", "--config", cfg)
    assert (code, err) == (0, "")
    assert json.loads(out) == report_of(scenario)
    target = tmp_path / "incident.md"
    code, out, err = run_cli("report", "--since", "3h", "--out", str(target), "--config", cfg)
    assert (code, out, err) == (0, "", f"report written to {target}\n")
    assert target.read_text(encoding="utf-8") == md
    # the default period is the last 24 h; it starts from the first snapshot in it (none is older)
    code, out, _ = run_cli("report", "--config", cfg)
    assert code == 0
    assert ("- Before: snapshot of 2025-11-24T14:00:00Z (none at or before 2025-11-23T17:00:00Z: the first one in "
            "the period)") in out.replace("\n  ", " ")
    assert "| failed syncs             |     14 |     4 |" in out


def test_report_command_errors(scenario, run_cli, tmp_path):
    cfg = config_file(tmp_path, scenario.url)
    code, out, err = run_cli("report", "--out", str(tmp_path / "no-such-dir" / "r.md"), "--config", cfg)
    assert (code, out) == (1, "")
    assert err == (f"synconsole: error: cannot write the report to {tmp_path / 'no-such-dir' / 'r.md'}: "
                   "No such file or directory\n")
    code, out, err = run_cli("report", "--out", str(tmp_path), "--config", cfg)
    assert (code, out, err) == (1, "", f"synconsole: error: cannot write the report to {tmp_path}: Is a directory\n")
    code, _, err = run_cli("report", "--since", "soon", "--config", cfg)
    assert code == 2 and err.startswith("synconsole: error: --since: expected ISO 8601")
    code, _, err = run_cli("report", "--format", "html", "--config", cfg)
    assert code == 2 and "html" in err


def test_the_api_key_and_pii_never_appear(scenario, run_cli, tmp_path):
    cfg = config_file(tmp_path, scenario.url)
    placeholders = ["customer_c-anon1@placeholder.invalid", "customer_c-anon2@placeholder.invalid"]
    outputs = []
    for args in (["report", "--since", "3h"], ["report", "--since", "3h", "--format", "json"],
                 ["report", "--since", "7d"], ["audit"], ["audit", "--json"]):
        code, out, err = run_cli(*args, "--config", cfg)
        assert code == 0, err
        outputs.append(out + err)
    for text in outputs:
        for secret in (KEY, KEY[4:], EMAIL, PHONE, ANON, *placeholders):
            assert secret not in text
    assert "a***@example.com" in outputs[0] and "Bearer ***" in outputs[0] and "+49***78" in outputs[0]
    assert "c***@placeholder.invalid" in outputs[4]
    # --reveal-pii shows the emails of the audit trail, never the key
    code, out, _ = run_cli("audit", "--json", "--reveal-pii", "--config", cfg)
    assert code == 0 and placeholders[0] in out and KEY not in out


# --- audit ---------------------------------------------------------------------------------------


def test_audit_command(scenario, run_cli, tmp_path):
    cfg = config_file(tmp_path, scenario.url)
    code, out, err = run_cli("audit", "--config", cfg)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "    1  2025-11-22T17:00:00Z  job:sync  pause_job  [job sync]  ok  reason: Cal.com refused the API key "
        "(HTTP 401)",
        "    2  2025-11-24T17:00:00Z  job:cleanup  cleanup_cancel  [p1, p2, p3, p4, p5]  5 cancelled  "
        "reason: Appointment start has passed: it cannot be booked in Cal.com (synconsole cleanup)",
        "    3  2025-11-24T17:00:00Z  ops@console-1  backfill_email  [m1, m2, m3]  "
        "2 customers backfilled, 3 appointments, 3 back to pending",
        "    4  2025-11-24T17:00:00Z  ops@console-1  cancel  [740, 741]  2 cancelled  "
        "reason: No staff assigned; caller a***@example.com",
        "    5  2025-11-24T17:00:00Z  ops@console-1  snooze  [749]  1 snoozed until 2025-11-25T17:00:00Z  "
        "reason: investigating the teapot",
    ]
    code, out, _ = run_cli("audit", "--actor", "ops@console-1", "--action", "cancel", "--json", "--config", cfg)
    (event,) = json.loads(out)
    assert code == 0 and event["targets"] == ["740", "741"] and event["actor"] == HUMAN
    assert event["after"]["740"]["cancel_reason"] == "No staff assigned; caller a***@example.com"
    code, out, _ = run_cli("audit", "--since", "1d", "--json", "--config", cfg)
    assert [e["id"] for e in json.loads(out)] == [2, 3, 4, 5]
    code, out, err = run_cli("audit", "--limit", "2", "--config", cfg)
    assert [line.split()[0] for line in out.splitlines()] == ["4", "5"]  # the newest two, newest last
    assert err == "synconsole: showing the newest 2 of 5 events (--limit)\n"
    code, out, _ = run_cli("audit", "--actor", "nobody", "--config", cfg)
    assert (code, out) == (0, "no audit events match\n")
    backfill = json.loads(run_cli("audit", "--action", "backfill_email", "--json", "--config", cfg)[1])[0]
    assert backfill["after"]["m1"] == {"customer_id": "c-anon1", "email": "c***@placeholder.invalid",
                                       "sync_state": "pending", "category": None}


def test_scrub_text_masks_pii_and_anything_key_shaped():
    text = (f"configured {KEY}; old cal_live_0123456789abcdef0123456789abcdef; Authorization: Bearer abc.def; "
            f"{EMAIL} {PHONE} {ANON}; cal_test_engine and 2025-11-24T14:00:00+01:00 stay")
    assert rep.scrub_text(text, [KEY]) == (
        "configured ***; old cal_***; Authorization: Bearer ***; a***@example.com +49***78 anonymous_***; "
        "cal_test_engine and 2025-11-24T14:00:00+01:00 stay")
