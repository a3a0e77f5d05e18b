"""The remediation commands as an operator types them: exact human output, --dry-run, --yes, refusal
without a terminal, read-only (exit 3), unknown ids, bad times, undo; on SQLite and PostgreSQL."""

from __future__ import annotations

import sys
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlmodel import select

from synconsole import cli as cli_module
from synconsole.core import audit
from synconsole.core.db import open_database
from synconsole.core.models import Appointment, AuditEvent, Customer

from tests import factory
from tests.conftest import NOW, write

H = timedelta(hours=1)
D = timedelta(days=1)
NO_TTY = ("synconsole: error: refusing to change anything without --yes: there is no terminal to ask on "
          "(use --dry-run to preview)\n")
READ_ONLY = ("synconsole: error: refused: {} changes data and synconsole is read-only "
             "(--read-only, SYNCONSOLE_READ_ONLY=1 or [ui] read_only)\n")


@pytest.fixture
def env(db_url, frozen):
    db = open_database(db_url)
    with db.session() as s:
        factory.staff(s, "s1")
        factory.staff(s, "s2", username="maria")
        factory.staff(s, "s-off", username="gone", active=False)
        factory.customer(s, "c1")
        factory.customer(s, "c-anon", email=None, phone="anonymous_1732456789_ab12cd")
        factory.failed(s, "748", category="host_conflict", first_failed_at=NOW - 2 * H, start=NOW + 2 * D)
        factory.failed(s, "750", category="missing_contact", first_failed_at=NOW - 3 * D, start=NOW + D,
                       customer_id="c-anon")
        factory.failed(s, "751", category="missing_contact", first_failed_at=NOW - 3 * D, start=NOW + 3 * D,
                       customer_id="c-anon")
        factory.failed(s, "752", category="missing_staff", first_failed_at=NOW - 5 * H, start=NOW + 2 * D + H,
                       staff_id=None)
        factory.appointment(s, "760", start=NOW + D + H)
        factory.appointment(s, "761", start=NOW + 4 * D, sync_state="synced", booking_uid="uid-761")
        s.commit()
    db.dispose()
    return {"SYNCONSOLE_DATABASE_URL": db_url}


def state(env) -> dict[str, tuple]:
    db = open_database(env["SYNCONSOLE_DATABASE_URL"])
    try:
        with db.session() as s:
            return {a.id: (a.status, a.sync_state, a.staff_id, a.version) for a in s.exec(select(Appointment))}
    finally:
        db.dispose()


def audit_log(env) -> list[AuditEvent]:
    db = open_database(env["SYNCONSOLE_DATABASE_URL"])
    try:
        with db.session() as s:
            return list(s.exec(select(AuditEvent).order_by(AuditEvent.id)))
    finally:
        db.dispose()


def lines(text: str) -> list[str]:
    return text.splitlines()


# --- retry (and what every command shares) ------------------------------------------------------


def test_retry_dry_run_prints_the_exact_preview(env, run_cli):
    before = state(env)
    code, out, err = run_cli("retry", "748", "760", "999", "--dry-run", env=env)
    assert (code, err) == (0, "")
    assert lines(out) == [
        "retry 1 appointment: 748",
        "  748: sync_state failed -> pending, category host_conflict -> -",
        "skipped 760: not failed (pending)",
        "skipped 999: not found",
        "dry run: nothing changed",
    ]
    assert state(env) == before and audit_log(env) == []


def test_retry_without_yes_and_without_a_terminal_refuses(env, run_cli):
    before = state(env)
    code, out, err = run_cli("retry", "748", env=env)
    assert code == 2 and err == NO_TTY
    assert lines(out) == ["retry 1 appointment: 748", "  748: sync_state failed -> pending, category host_conflict -> -"]
    assert state(env) == before and audit_log(env) == []


def test_retry_with_yes(env, run_cli):
    code, out, err = run_cli("retry", "748", "--yes", "--reason", "host is free again", env=env)
    assert (code, err) == (0, "")
    assert lines(out) == [
        "retry 1 appointment: 748",
        "  748: sync_state failed -> pending, category host_conflict -> -",
        "retried 1 appointment: back in the sync queue",
    ]
    assert state(env)["748"] == ("scheduled", "pending", "s1", 2)
    (event,) = audit_log(env)
    assert (event.actor, event.action, event.targets, event.reason, event.result) == \
        (audit.os_actor(), "retry", ["748"], "host is free again", "1 retried")


def test_retry_a_category_or_a_filter(env, run_cli):
    code, out, _ = run_cli("retry", "--category", "missing_contact", "--yes", env=env)
    assert code == 0 and lines(out)[0] == "retry 2 appointments: 750, 751"
    assert lines(out)[-1] == "retried 2 appointments: back in the sync queue"
    code, out, _ = run_cli("retry", "--filter", "state:failed staff:none", "--dry-run", env=env)
    assert code == 0 and lines(out)[0] == "retry 1 appointment: 752"
    code, _, err = run_cli("retry", "--filter", "state:nope", env=env)
    assert code == 2 and err.startswith("synconsole: error: filter: unknown state 'nope'") and err.count("\n") == 1


def test_retry_of_unknown_ids_changes_nothing_and_exits_1(env, run_cli):
    code, out, err = run_cli("retry", "999", "--yes", env=env)
    assert (code, err) == (1, "")
    assert lines(out) == ["retry: nothing eligible (1 skipped)", "skipped 999: not found", "nothing changed"]
    code, out, _ = run_cli("retry", "999", "--dry-run", env=env)
    assert code == 1 and lines(out)[-1] == "nothing changed"


def test_retry_usage_errors(env, run_cli):
    code, out, err = run_cli("retry", env=env)
    assert (code, out) == (2, "")
    assert err == "synconsole: error: retry: give appointment ids, --category or --filter (got nothing)\n"
    code, _, err = run_cli("retry", "748", "--category", "host_conflict", env=env)
    assert code == 2 and err == ("synconsole: error: retry: give appointment ids, --category or --filter "
                                 "(got more than one of them)\n")
    code, _, err = run_cli("retry", "--category", "nope", "--yes", env=env)
    assert code == 2 and err.startswith("synconsole: error: unknown category 'nope': expected one of ")


def test_read_only_refuses_with_exit_3_before_anything(env, run_cli):
    before = state(env)
    for args, name in [
        (("retry", "748", "--yes", "--read-only"), "retry"),
        (("--read-only", "cancel", "748", "--reason", "x", "--yes"), "cancel"),
        (("backfill-email", "--category", "missing_contact", "--yes", "--read-only"), "backfill-email"),
        (("assign-staff", "752", "s2", "--yes", "--read-only"), "assign-staff"),
        (("reschedule", "748", "2025-11-27T10:00:00Z", "--yes", "--read-only"), "reschedule"),
        (("snooze", "748", "--note", "x", "--yes", "--read-only"), "snooze"),
        (("undo", "--yes", "--read-only"), "undo"),
    ]:
        code, out, err = run_cli(*args, env=env)
        assert (code, out, err) == (3, "", READ_ONLY.format(name)), args
    code, out, err = run_cli("retry", "748", "--yes", env={**env, "SYNCONSOLE_READ_ONLY": "1"})
    assert (code, out, err) == (3, "", READ_ONLY.format("retry"))
    assert state(env) == before and audit_log(env) == []
    # a dry run only reads: allowed
    code, out, _ = run_cli("retry", "748", "--dry-run", "--read-only", env=env)
    assert code == 0 and lines(out)[-1] == "dry run: nothing changed"


def test_on_a_terminal_it_asks(env, run_cli, monkeypatch):
    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(cli_module, "sys", SimpleNamespace(stdin=Tty(), exit=sys.exit))
    code, out, err = run_cli("retry", "748", env=env, input="n\n")
    assert code == 1 and "Retry 1 appointment? [y/N]: " in err
    assert lines(out)[-1] == "nothing changed" and audit_log(env) == []
    code, out, err = run_cli("retry", "748", env=env, input="y\n")
    assert code == 0 and lines(out)[-1] == "retried 1 appointment: back in the sync queue"


def test_config_after_the_command_name(env, run_cli, tmp_path):
    config = write(tmp_path / "ops.toml", f'[database]\nurl = "{env["SYNCONSOLE_DATABASE_URL"]}"\n')
    code, out, err = run_cli("retry", "748", "--dry-run", "--config", str(config))
    assert (code, err) == (0, "") and lines(out)[0] == "retry 1 appointment: 748"


# --- cancel -------------------------------------------------------------------------------------


def test_cancel(env, run_cli):
    code, out, _ = run_cli("cancel", "761", "748", "--reason", "customer called", "--dry-run", env=env)
    assert code == 0
    assert lines(out) == [
        "cancel 2 appointments: 748, 761",
        "  748: status scheduled -> cancelled, sync_state failed -> cancelled, cancel_reason - -> customer called",
        "  761: status scheduled -> cancelled, sync_state synced -> pending, sync_op create -> cancel, "
        "cancel_reason - -> customer called",
        "dry run: nothing changed",
    ]
    code, out, err = run_cli("cancel", "761", "748", "763", "--reason", "customer called", "--yes", env=env)
    assert (code, err) == (0, "")
    assert lines(out)[-2:] == ["skipped 763: not found",
                               "cancelled 2 appointments (1 queued to cancel in Cal.com); 1 skipped"]
    st = state(env)
    assert st["748"][:2] == ("cancelled", "cancelled") and st["761"][:2] == ("cancelled", "pending")
    code, out, _ = run_cli("cancel", "748", "--reason", "again", "--yes", env=env)
    assert code == 1 and lines(out) == ["cancel: nothing eligible (1 skipped)", "skipped 748: already cancelled",
                                        "nothing changed"]


def test_cancel_needs_a_reason(env, run_cli):
    code, out, err = run_cli("cancel", "748", "--yes", env=env)
    assert code == 2 and out == "" and "Missing option '--reason'" in err and err.count("\n") == 1
    code, out, err = run_cli("cancel", "748", "--reason", "  ", "--yes", env=env)
    assert (code, out, err) == (2, "", "synconsole: error: cancel: --reason must not be empty\n")
    assert audit_log(env) == []


# --- backfill-email -----------------------------------------------------------------------------


def test_backfill_email(env, run_cli):
    code, out, err = run_cli("backfill-email", "--category", "missing_contact", "--yes", env=env)
    assert (code, err) == (0, "")
    assert lines(out) == [
        "backfill placeholder emails for 2 appointments (1 customer): 750, 751",
        "  750: email - -> customer_c-anon@placeholder.invalid, sync_state failed -> pending, "
        "category missing_contact -> -",
        "  751: email - -> customer_c-anon@placeholder.invalid, sync_state failed -> pending, "
        "category missing_contact -> -",
        "backfilled placeholder emails for 1 customer (2 appointments, 2 back in the sync queue)",
    ]
    db = open_database(env["SYNCONSOLE_DATABASE_URL"])
    with db.session() as s:
        assert s.get(Customer, "c-anon").email == "customer_c-anon@placeholder.invalid"
    db.dispose()
    code, out, _ = run_cli("backfill-email", "748", "--dry-run", env=env)
    assert code == 1 and lines(out)[1] == "skipped 748: customer has a usable email"


# --- assign-staff -------------------------------------------------------------------------------


def test_assign_staff(env, run_cli):
    code, out, err = run_cli("assign-staff", "752", "s2", "--yes", env=env)
    assert (code, err) == (0, "")
    assert lines(out) == [
        "assign staff s2 to 1 appointment: 752",
        "  752: staff_id - -> s2, sync_state failed -> pending, category missing_staff -> -",
        "assigned staff s2 to 1 appointment, 1 back in the sync queue",
    ]
    assert state(env)["752"] == ("scheduled", "pending", "s2", 2)


def test_assign_staff_refusals(env, run_cli):
    code, out, err = run_cli("assign-staff", "752", "nobody", "--yes", env=env)
    assert (code, out, err) == (1, "", "synconsole: error: staff 'nobody' not found\n")
    code, out, err = run_cli("assign-staff", "752", "s-off", "--yes", env=env)
    assert (code, out, err) == (2, "", "synconsole: error: staff 's-off' is inactive: assign an active staff member\n")
    code, out, _ = run_cli("assign-staff", "761", "s2", "--yes", env=env)  # booked: the sync rebooks it
    assert code == 0 and lines(out) == [
        "assign staff s2 to 1 appointment: 761",
        "  761: staff_id s1 -> s2, sync_state synced -> pending, sync_op create -> rebook",
        "assigned staff s2 to 1 appointment, 1 back in the sync queue (1 to rebook in Cal.com for the new host)",
    ]
    code, out, _ = run_cli("assign-staff", "999", "s2", "--yes", env=env)
    assert code == 1 and lines(out)[1] == "skipped 999: not found"
    code, _, err = run_cli("assign-staff", "752", env=env)
    assert code == 2 and "Missing argument 'STAFF_ID'" in err


# --- reschedule ---------------------------------------------------------------------------------


def test_reschedule(env, run_cli):
    code, out, err = run_cli("reschedule", "748", "2025-11-27T10:00:00+01:00", "--dry-run", env=env)
    assert (code, err) == (0, "")
    assert lines(out) == [
        "reschedule 1 appointment to 2025-11-27T09:00:00Z: 748",
        "  748: start_at 2025-11-26T17:00:00Z -> 2025-11-27T09:00:00Z, sync_state failed -> pending, "
        "category host_conflict -> -",
        "dry run: nothing changed",
    ]
    code, out, _ = run_cli("reschedule", "761", "2025-11-29T09:00:00Z", "--yes", env=env)
    assert code == 0 and lines(out)[-1] == \
        "rescheduled 761 to 2025-11-29T09:00:00Z (queued to move the booking in Cal.com)"


@pytest.mark.parametrize("start, message", [
    ("tomorrow", "START: expected an ISO 8601 time with a UTC offset (e.g. 2025-11-27T10:00:00+01:00), "
                 "got 'tomorrow'"),
    ("2025-11-27T10:00:00", "START: '2025-11-27T10:00:00' has no UTC offset (add Z or +01:00)"),
    ("2025-11-20T10:00:00Z", "start 2025-11-20T10:00:00Z is not in the future (now 2025-11-24T17:00:00Z)"),
])
def test_reschedule_bad_start(env, run_cli, start, message):
    code, out, err = run_cli("reschedule", "748", start, "--yes", env=env)
    assert (code, out, err) == (2, "", f"synconsole: error: {message}\n")
    assert audit_log(env) == []


def test_reschedule_unknown_id(env, run_cli):
    code, out, err = run_cli("reschedule", "999", "2025-11-27T10:00:00Z", "--yes", env=env)
    assert (code, err) == (1, "")
    assert lines(out) == ["reschedule: nothing eligible (1 skipped)", "skipped 999: not found", "nothing changed"]


# --- snooze and undo ----------------------------------------------------------------------------


def test_snooze_and_undo(env, run_cli):
    code, out, _ = run_cli("undo", "--list", env=env)
    assert (code, out) == (0, "nothing to undo\n")
    code, out, err = run_cli("snooze", "748", "750", "760", "--for", "2h", "--note", "waiting for the salon",
                             "--yes", env=env)
    assert (code, err) == (0, "")
    assert lines(out) == [
        "snooze 2 appointments until 2025-11-24T19:00:00Z: 750, 748",
        "  750: snoozed_until - -> 2025-11-24T19:00:00Z, note - -> waiting for the salon",
        "  748: snoozed_until - -> 2025-11-24T19:00:00Z, note - -> waiting for the salon",
        "skipped 760: not failed (pending)",
        "snoozed 2 appointments until 2025-11-24T19:00:00Z; 1 skipped",
    ]
    code, out, _ = run_cli("undo", "--list", env=env)
    assert lines(out) == [f"     1  2025-11-24T17:00:00Z  {audit.os_actor()}  snooze  "
                          "2 snoozed until 2025-11-24T19:00:00Z  [750, 748]"]
    code, out, _ = run_cli("undo", "--dry-run", env=env)
    assert code == 0 and lines(out)[0] == "undo event 1 (snooze) on 2 appointments: 750, 748"
    code, out, err = run_cli("undo", "--yes", env=env)
    assert (code, err) == (0, "")
    assert lines(out) == [
        "undo event 1 (snooze) on 2 appointments: 750, 748",
        "  750: snoozed_until 2025-11-24T19:00:00Z -> -, note waiting for the salon -> -",
        "  748: snoozed_until 2025-11-24T19:00:00Z -> -, note waiting for the salon -> -",
        "undid event 1 (snooze): 2 appointments no longer snoozed",
    ]
    code, out, err = run_cli("undo", "1", "--yes", env=env)
    assert (code, out, err) == (1, "", "synconsole: error: audit event 1 was already undone (by event 2)\n")
    code, out, err = run_cli("undo", "--yes", env=env)
    assert code == 1 and err.startswith(f"synconsole: error: nothing to undo: {audit.os_actor()} has no undoable")
    assert [(e.action, e.undoes) for e in audit_log(env)] == [("snooze", None), ("undo", 1)]


def test_snooze_until_and_its_usage_errors(env, run_cli):
    code, out, _ = run_cli("snooze", "--category", "missing_contact", "--until", "2025-11-26T08:00:00Z",
                           "--note", "x", "--dry-run", env=env)
    assert code == 0 and lines(out)[0] == "snooze 2 appointments until 2025-11-26T08:00:00Z: 750, 751"
    for args, message in [
        (("--for", "2h", "--until", "2025-11-26T08:00:00Z"), "snooze: give --for or --until, not both"),
        (("--for", "2x"), "--for: expected a duration like 30m, 24h or 7d, got '2x'"),
        (("--until", "2025-11-26"), "--until: '2025-11-26' has no UTC offset (add Z or +01:00)"),
        (("--until", "2025-11-20T08:00:00Z"), "until 2025-11-20T08:00:00Z is not in the future "
                                               "(now 2025-11-24T17:00:00Z)"),
    ]:
        code, out, err = run_cli("snooze", "748", *args, "--note", "x", "--yes", env=env)
        assert (code, out, err) == (2, "", f"synconsole: error: {message}\n"), args
    code, _, err = run_cli("snooze", "748", "--yes", env=env)
    assert code == 2 and "Missing option '--note'" in err
    code, _, err = run_cli("snooze", "748", "--note", " ", "--yes", env=env)
    assert code == 2 and err == "synconsole: error: snooze: --note must not be empty\n"
    assert audit_log(env) == []


def test_undo_refuses_what_is_not_reversible(env, run_cli):
    run_cli("retry", "748", "--yes", env=env)
    code, out, err = run_cli("undo", "1", "--yes", env=env)
    assert (code, out) == (2, "")
    assert err == ("synconsole: error: audit event 1 is retry: only backfill_email, assign_staff, snooze can be "
                   "undone\n")
    code, out, err = run_cli("undo", "99", "--yes", env=env)
    assert (code, out, err) == (1, "", "synconsole: error: audit event 99 not found\n")


def test_undo_assign_staff_via_the_cli(env, run_cli):
    run_cli("assign-staff", "752", "s2", "--yes", env=env)
    code, out, _ = run_cli("undo", "1", "--yes", env=env)
    assert code == 0 and lines(out)[-1] == ("undid event 1 (assign_staff): restored the previous staff of 1 "
                                            "appointment; the sync books them for that host again where needed")
    assert state(env)["752"][1:3] == ("pending", None)


def test_help_lists_the_commands(run_cli):
    code, out, _ = run_cli("--help")
    assert code == 0
    for name in ("retry", "cancel", "backfill-email", "assign-staff", "reschedule", "snooze", "undo"):
        assert f"  {name} " in out
