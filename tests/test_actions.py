"""Remediation actions (core/actions.py) on SQLite and PostgreSQL: previews, version-checked applies,
the audit trail, read-only refusal, undo, and the sync engine carrying cancels and backfills to Cal.com."""

from __future__ import annotations

from datetime import timedelta, timezone

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import select

from synconsole.config import parse_settings
from synconsole.core import actions as act
from synconsole.core import metrics
from synconsole.core.actions import Actions, Preview, Target
from synconsole.core.filters import FilterError
from synconsole.core.changes import Booking
from synconsole.core.models import Appointment, AuditEvent, AuditTarget, Customer
from synconsole.errors import NotFoundError, ReadOnlyError, UsageError, UserError

from tests import factory
from tests.conftest import NOW

ME = "ops@box"
H = timedelta(hours=1)
D = timedelta(days=1)
M = timedelta(minutes=1)


def scene(db) -> None:
    with db.session() as s:
        factory.staff(s, "s1")
        factory.staff(s, "s2", username="maria")
        factory.staff(s, "s-off", username="gone", active=False)
        factory.customer(s, "c1")
        factory.customer(s, "c-anon", email=None, phone="anonymous_1732456789_ab12cd")
        factory.customer(s, "c-bad", email="not-an-email", phone=None)
        factory.failed(s, "748", category="host_conflict", first_failed_at=NOW - 2 * H, start=NOW + 2 * D,
                       message="User either already has booking at this time or is not available")
        factory.failed(s, "750", category="missing_contact", first_failed_at=NOW - 3 * D, start=NOW + D,
                       customer_id="c-anon", message="no usable contact")
        factory.failed(s, "751", category="missing_contact", first_failed_at=NOW - 3 * D, start=NOW + 3 * D,
                       customer_id="c-anon", message="no usable contact")
        factory.failed(s, "752", category="missing_staff", first_failed_at=NOW - 5 * H, start=NOW + 2 * D + H,
                       staff_id=None, message="No staff assigned")
        factory.failed(s, "754", category="missing_contact", first_failed_at=NOW - H, start=NOW + 4 * D,
                       customer_id="c-bad", message="email is not valid")
        factory.appointment(s, "753", start=NOW + 5 * D, customer_id="c-anon")  # pending, no usable email
        factory.appointment(s, "760", start=NOW + D + H)
        factory.appointment(s, "761", start=NOW + 4 * D + H, sync_state="synced", booking_uid="uid-761")
        factory.appointment(s, "762", start=NOW + 6 * D, sync_state="retry_scheduled", category="transient",
                            first_failed_at=NOW - H, next_retry_at=NOW + 10 * timedelta(minutes=1))
        factory.appointment(s, "763", start=NOW - 2 * D, status="cancelled", sync_state="cancelled")
        factory.appointment(s, "770", start=NOW + 7 * D, sync_state="in_flight", claimed_by="w1",
                            lease_until=NOW + timedelta(minutes=2))
        # a booked appointment whose move failed in Cal.com: it should start a day later than it is booked
        factory.failed(s, "771", category="host_conflict", first_failed_at=NOW - H, start=NOW + 9 * D,
                       booking_uid="uid-771", sync_op="reschedule",
                       booked=Booking(uid="uid-771", start=NOW + 8 * D).to_json())
        # an earlier create whose outcome is unknown
        factory.failed(s, "772", category="transient", first_failed_at=NOW - H, start=NOW + 8 * D + H,
                       needs_lookup=True, http_status=None)
        s.commit()


@pytest.fixture
def acts(db, settings, frozen) -> Actions:
    scene(db)
    return Actions(db, settings, actor=ME)


def row(db, id: str) -> Appointment:
    with db.session() as s:
        return s.get(Appointment, id)


def events(db) -> list[AuditEvent]:
    with db.session() as s:
        return list(s.exec(select(AuditEvent).order_by(AuditEvent.id)))


def audit_targets(db, event_id: int) -> list[str]:
    with db.session() as s:
        return sorted(s.exec(select(AuditTarget.appointment_id).where(AuditTarget.event_id == event_id)))


def email(db, customer_id: str) -> str | None:
    with db.session() as s:
        return s.get(Customer, customer_id).email


def bump(db, id: str, **values) -> None:
    """Someone else changes a row (as the sync engine or another console would): version + 1."""
    t = Appointment.__table__
    with db.session() as s:
        s.execute(sa.update(t).where(t.c.id == id).values(version=t.c.version + 1, **values))
        s.commit()


# --- targets ------------------------------------------------------------------------------------


def test_resolve_ids_filter_category_and_limit(acts):
    assert acts.resolve(Target(ids=("761", "748", "999", "748"))) == ["748", "761"]
    assert acts.resolve(Target(category="missing_contact")) == ["750", "751", "754"]
    assert acts.resolve(Target(filter="state:failed staff:s1 age:<2h")) == ["754", "772", "771"]
    assert acts.resolve(Target(filter="state:failed"), limit=2) == ["750", "748"]
    # given together they narrow each other
    assert acts.resolve(Target(ids=("748", "750", "760"), category="missing_contact")) == ["750"]
    assert len(acts.resolve(Target(filter=""))) == 13  # the empty filter is everything


def test_bad_targets_are_usage_errors(acts):
    with pytest.raises(UsageError, match="^nothing selected: give appointment ids, a filter or a category$"):
        acts.preview("retry", Target())
    with pytest.raises(UsageError, match="^unknown category 'nope': expected one of past_appointment, "):
        acts.preview("retry", Target(category="nope"))
    with pytest.raises(FilterError, match="^filter: unknown state 'x'"):
        acts.preview("retry", Target(filter="state:x"))
    with pytest.raises(UsageError, match="^unknown action 'explode'"):
        acts.preview("explode", Target(ids=("748",)))
    with pytest.raises(UsageError, match="^retry: unknown parameter 'staff_id'"):
        acts.preview("retry", Target(ids=("748",)), staff_id="s1")


def test_ids_outside_the_filter_are_skipped_with_the_reason(acts):
    p = acts.preview("retry", Target(ids=("748", "750", "999"), filter="category:missing_contact"))
    assert p.ids == ["750"]
    assert p.skipped == {"748": "not matched by the filter", "999": "not found"}


# --- retry --------------------------------------------------------------------------------------


def test_retry_one_appointment(acts, db):
    p = acts.preview("retry", Target(ids=("748",)))
    assert (p.action, p.ids, p.skipped, p.count) == ("retry", ["748"], {}, 1)
    assert p.changes == {"748": {"before": {"sync_state": "failed", "category": "host_conflict"},
                                 "after": {"sync_state": "pending", "category": None}}}
    assert p.describe() == "retry 1 appointment: 748"
    assert row(db, "748").sync_state == "failed"  # a preview changes nothing
    assert events(db) == []

    result = acts.apply(p, reason="Cal.com host freed the slot")
    assert (result.action, result.changed, result.skipped, result.dry_run) == ("retry", ["748"], {}, False)
    assert result.message == "retried 1 appointment: back in the sync queue"
    a = row(db, "748")
    assert (a.sync_state, a.category, a.fingerprint, a.next_retry_at, a.queued_at, a.version) == \
        ("pending", None, None, None, NOW, 2)
    assert a.first_failed_at == NOW - 2 * H and a.last_error.startswith("User either")  # history stays
    (event,) = events(db)
    assert result.event_id == event.id
    assert (event.actor, event.action, event.targets, event.reason, event.result, event.at) == \
        (ME, "retry", ["748"], "Cal.com host freed the slot", "1 retried", NOW)
    assert event.before == {"748": {"sync_state": "failed", "category": "host_conflict"}}
    assert event.after == {"748": {"sync_state": "pending", "category": None}}
    assert audit_targets(db, event.id) == ["748"]


def test_retry_several_ids_previews_exactly_what_is_eligible(acts, db):
    p = acts.preview("retry", Target(ids=("762", "760", "748", "770", "763", "999", "761")))
    assert p.ids == ["748", "762"]  # by start, then id
    assert p.skipped == {"760": "not failed (pending)", "761": "not failed (synced)",
                         "770": "in flight: being synced right now", "763": "not failed (cancelled)",
                         "999": "not found"}
    assert list(p.skipped)[-1] == "999"
    assert p.changes["762"] == {"before": {"sync_state": "retry_scheduled", "category": "transient"},
                                "after": {"sync_state": "pending", "category": None}}
    assert p.describe_skipped() == [
        "skipped 763: not failed (cancelled)", "skipped 760: not failed (pending)", "skipped 761: not failed (synced)",
        "skipped 770: in flight: being synced right now", "skipped 999: not found",
    ]
    result = acts.apply(p)
    assert result.changed == ["748", "762"]
    assert result.message == "retried 2 appointments: back in the sync queue; 5 skipped"
    assert row(db, "762").next_retry_at is None and row(db, "762").sync_state == "pending"
    assert row(db, "770").sync_state == "in_flight" and row(db, "770").version == 1
    (event,) = events(db)
    assert event.targets == ["748", "762"] and event.reason is None and event.result == "2 retried"


def test_retry_a_category_and_a_filter(acts, db):
    result = acts.retry(Target(category="missing_contact"))
    assert result.changed == ["750", "751", "754"]
    result = acts.retry(Target(filter="state:failed -category:transient"))
    assert result.changed == ["748", "752", "771"]
    assert [e.targets for e in events(db)] == [["750", "751", "754"], ["748", "752", "771"]]


def test_retry_of_a_failed_reschedule_keeps_its_operation_and_clears_a_snooze(acts, db):
    acts.snooze(Target(ids=("771",)), note="looking into it")
    acts.retry(Target(ids=("771",)))
    a = row(db, "771")
    assert (a.sync_state, a.sync_op, a.start_at, a.snoozed_until) == ("pending", "reschedule", NOW + 9 * D, None)
    assert a.booked["start"] == "2025-12-02T17:00:00Z"  # still booked at the old start until the sync moves it
    assert events(db)[-1].before == {"771": {"sync_state": "failed", "category": "host_conflict",
                                             "snoozed_until": "2025-11-25T17:00:00Z"}}


def test_retry_dry_run_changes_nothing(acts, db):
    result = acts.retry(Target(category="missing_contact"), dry_run=True)
    assert (result.dry_run, result.changed, result.event_id) == (True, ["750", "751", "754"], None)
    assert result.message == "would retry 3 appointments: 750, 751, 754 (dry run)"
    assert result.preview is not None and result.preview.count == 3
    assert row(db, "750").sync_state == "failed" and events(db) == []


def test_nothing_eligible_is_a_result_without_an_event(acts, db):
    result = acts.retry(Target(ids=("760", "999")))
    assert (result.changed, result.event_id, result.ok) == ([], None, False)
    assert result.skipped == {"760": "not failed (pending)", "999": "not found"}
    assert result.message == "nothing to retry: 760: not failed (pending); 999: not found"
    assert acts.preview("retry", Target(ids=("999",))).describe() == "retry: nothing eligible (1 skipped)"
    assert events(db) == []


def test_describe_lists_at_most_max_ids():
    p = Preview("retry", [str(i) for i in range(25)], {}, {})
    assert p.describe() == "retry 25 appointments: " + ", ".join(str(i) for i in range(20)) + " … and 5 more"
    assert p.describe(max_ids=2) == "retry 25 appointments: 0, 1 … and 23 more"
    assert p.headline() == "retry 25 appointments"



def test_apply_takes_the_previews_params_and_refuses_different_ones(acts, db):
    p = acts.preview("assign_staff", Target(ids=("752",)), staff_id="s2")
    with pytest.raises(UsageError, match="^staff_id differs from the preview: preview again$"):
        acts.apply(p, staff_id="s1")
    assert events(db) == []
    assert acts.apply(p, staff_id="s2", reason=None).changed == ["752"]  # the same, or None: fine
    p = acts.preview("reschedule", Target(ids=("748",)), start=NOW + 3 * D)
    same_instant = (NOW + 3 * D).astimezone(timezone(timedelta(hours=-5)))
    assert acts.apply(p, start=same_instant).changed == ["748"]

# --- version check ------------------------------------------------------------------------------


def test_rows_changed_between_preview_and_apply_are_skipped(acts, db):
    p = acts.preview("retry", Target(category="missing_contact"))
    bump(db, "751", sync_state="in_flight", claimed_by="w2")  # the sync engine claimed it meanwhile
    result = acts.apply(p)
    assert result.changed == ["750", "754"]
    assert result.skipped == {"751": "changed meanwhile"}
    assert result.message == "retried 2 appointments: back in the sync queue; 1 skipped, 1 changed meanwhile"
    assert row(db, "751").sync_state == "in_flight"
    (event,) = events(db)
    assert event.targets == ["750", "754"] and set(event.before) == {"750", "754"}


def test_when_every_row_changed_meanwhile_nothing_is_written(acts, db):
    p = acts.preview("snooze", Target(ids=("748",)), note="x")
    bump(db, "748")
    result = acts.apply(p)
    assert (result.changed, result.skipped, result.event_id) == ([], {"748": "changed meanwhile"}, None)
    assert result.message == "nothing to snooze: 748: changed meanwhile"
    assert events(db) == [] and row(db, "748").snoozed_until is None


def test_large_category_targets_are_resolved_and_applied_in_sql_chunks(db, settings, frozen):
    with db.session() as s:
        factory.staff(s, "s1")
        factory.customer(s, "c1")
        s.commit()
    t = Appointment.__table__
    with db.session() as s:
        s.execute(sa.insert(t), [dict(
            id=f"b{i:04d}", customer_id="c1", staff_id="s1", start_at=NOW + D + timedelta(minutes=i),
            end_at=NOW + D + timedelta(minutes=i + 30), duration_minutes=30, status="scheduled",
            sync_state="failed", sync_op="create", category="transient", attempts=10, version=1,
            needs_lookup=False, first_failed_at=NOW - H, queued_at=NOW - D, created_at=NOW - D, updated_at=NOW - D,
        ) for i in range(1000)])
        s.commit()
    a = Actions(db, settings, actor=ME)
    p = a.preview("retry", Target(category="transient"))
    assert p.count == 1000 and p.ids[0] == "b0000" and p.ids[-1] == "b0999"
    bump(db, "b0500")
    result = a.apply(p)
    assert len(result.changed) == 999 and result.skipped == {"b0500": "changed meanwhile"}
    with db.session() as s:
        states = dict(s.execute(sa.select(t.c.sync_state, sa.func.count()).group_by(t.c.sync_state)).all())
    assert states == {"pending": 999, "failed": 1}
    (event,) = events(db)
    assert len(event.targets) == 999 and len(audit_targets(db, event.id)) == 999


# --- read-only ----------------------------------------------------------------------------------


def test_read_only_refuses_every_mutation_before_writing(db, settings, frozen, monkeypatch):
    scene(db)
    writes = []
    real_write = db.write
    monkeypatch.setattr(db, "write", lambda: writes.append(1) or real_write())
    ro = Actions(db, settings.with_read_only(), actor=ME)
    refused = [
        lambda: ro.retry(Target(ids=("748",))),
        lambda: ro.cancel(Target(ids=("748",)), reason="x"),
        lambda: ro.backfill_email(Target(category="missing_contact")),
        lambda: ro.assign_staff(Target(ids=("752",)), "s2"),
        lambda: ro.reschedule("748", NOW + 3 * D),
        lambda: ro.snooze(Target(ids=("748",)), note="x"),
        lambda: ro.undo(),
        lambda: ro.apply(ro.preview("retry", Target(ids=("748",)))),
    ]
    for call in refused:
        with pytest.raises(ReadOnlyError, match="^refused: .* changes data and synconsole is read-only"):
            call()
    assert writes == [] and events(db) == []
    assert row(db, "748").sync_state == "failed" and row(db, "748").version == 1
    # previews and dry runs are reads: allowed
    assert ro.retry(Target(ids=("748",)), dry_run=True).changed == ["748"]
    assert ro.preview("cancel", Target(ids=("748",))).ids == ["748"]
    assert writes == []
    with pytest.raises(ReadOnlyError) as info:
        ro.retry(Target(ids=("748",)))
    assert info.value.exit_code == 3


# --- cancel -------------------------------------------------------------------------------------


def test_cancel_locally_or_through_calcom(acts, db):
    p = acts.preview("cancel", Target(ids=("761", "748", "770", "763", "772")))
    assert p.ids == ["748", "761", "772"]  # 772 may be booked: the sync looks it up, then cancels it there
    assert p.skipped == {"763": "already cancelled", "770": "in flight: being synced right now"}
    result = acts.apply(p, reason="customer called to cancel")
    assert result.changed == ["748", "761", "772"]
    assert result.message == "cancelled 3 appointments (2 queued to cancel in Cal.com); 2 skipped"
    local, booked = row(db, "748"), row(db, "761")
    assert (local.status, local.sync_state, local.cancel_reason) == \
        ("cancelled", "cancelled", "customer called to cancel")
    assert (booked.status, booked.sync_state, booked.sync_op, booked.cancel_reason, booked.queued_at) == \
        ("cancelled", "pending", "cancel", "customer called to cancel", NOW)
    (event,) = events(db)
    assert (event.action, event.reason, event.result) == \
        ("cancel", "customer called to cancel", "3 cancelled (2 queued to cancel in Cal.com)")
    assert event.before == {
        "748": {"status": "scheduled", "sync_state": "failed", "cancel_reason": None},
        "761": {"status": "scheduled", "sync_state": "synced", "sync_op": "create", "cancel_reason": None},
        "772": {"status": "scheduled", "sync_state": "failed", "sync_op": "create", "cancel_reason": None},
    }
    assert event.after == {
        "748": {"status": "cancelled", "sync_state": "cancelled", "cancel_reason": "customer called to cancel"},
        "761": {"status": "cancelled", "sync_state": "pending", "sync_op": "cancel",
                "cancel_reason": "customer called to cancel"},
        "772": {"status": "cancelled", "sync_state": "pending", "sync_op": "cancel",
                "cancel_reason": "customer called to cancel"},
    }
    # cancelled appointments never count as failures: 771 is the host conflict left
    with db.session() as s:
        assert metrics.compute(s, acts.settings).by_category["host_conflict"] == 1


def test_cancel_requires_a_reason(acts, db):
    for reason in ("", "   "):
        with pytest.raises(UsageError, match=r"^cancel needs a reason \(--reason TEXT\)$"):
            acts.cancel(Target(ids=("748",)), reason=reason)
    p = acts.preview("cancel", Target(ids=("748",)))  # the console asks for the reason after the preview
    with pytest.raises(UsageError, match="^cancel needs a reason"):
        acts.apply(p)
    assert row(db, "748").status == "scheduled" and events(db) == []
    assert acts.apply(p, reason="duplicate").changed == ["748"]
    assert row(db, "748").cancel_reason == "duplicate"


def test_cancel_of_a_pending_reschedule_replaces_it(acts, db):
    bump(db, "761", sync_state="pending", sync_op="reschedule", start_at=NOW + 9 * D, end_at=NOW + 9 * D + 30 * M)
    result = acts.cancel(Target(ids=("761",)), reason="closed that day")
    assert result.changed == ["761"]
    a = row(db, "761")
    assert (a.sync_op, a.sync_state, a.booked["uid"]) == ("cancel", "pending", "uid-761")


def test_cancel_is_not_undoable(acts, db):
    result = acts.cancel(Target(ids=("748",)), reason="x")
    with pytest.raises(UsageError, match=f"^audit event {result.event_id} is cancel: only backfill_email, "
                                         "assign_staff, snooze can be undone$"):
        acts.undo(result.event_id)
    assert acts.undoable() == []


# --- backfill email -----------------------------------------------------------------------------


def test_backfill_a_category_updates_each_customer_once(acts, db):
    p = acts.preview("backfill_email", Target(category="missing_contact"))
    assert p.ids == ["750", "751", "754"]
    assert p.customers == {"c-anon": (None, "customer_c-anon@placeholder.invalid"),
                           "c-bad": ("not-an-email", "customer_c-bad@placeholder.invalid")}
    assert p.describe() == "backfill placeholder emails for 3 appointments (2 customers): 750, 751, 754"
    assert p.changes["750"] == {
        "before": {"customer_id": "c-anon", "email": None, "sync_state": "failed", "category": "missing_contact"},
        "after": {"customer_id": "c-anon", "email": "customer_c-anon@placeholder.invalid", "sync_state": "pending",
                  "category": None},
    }
    result = acts.apply(p)
    assert result.changed == ["750", "751", "754"]
    assert result.message == "backfilled placeholder emails for 2 customers (3 appointments, 3 back in the sync queue)"
    assert email(db, "c-anon") == "customer_c-anon@placeholder.invalid"
    assert email(db, "c-bad") == "customer_c-bad@placeholder.invalid"
    assert [row(db, i).sync_state for i in ("750", "751", "754", "753")] == ["pending"] * 4
    (event,) = events(db)
    assert (event.action, event.targets, event.result) == \
        ("backfill_email", ["750", "751", "754"], "2 customers backfilled, 3 appointments, 3 back to pending")


def test_backfill_by_ids_and_what_it_skips(acts, db):
    p = acts.preview("backfill_email", Target(ids=("748", "753", "763", "752")))
    # 753 is pending: its email is fixed, its state left alone; 750 and 751 are the same customer's
    # contact failures, which the new email cures: they go back to the queue too
    assert p.ids == ["750", "751", "753"]
    assert p.skipped == {"748": "customer has a usable email", "752": "customer has a usable email",
                         "763": "status cancelled"}
    assert p.changes["753"] == {"before": {"customer_id": "c-anon", "email": None},
                                "after": {"customer_id": "c-anon", "email": "customer_c-anon@placeholder.invalid"}}
    assert p.changes["750"]["after"]["sync_state"] == "pending"
    acts.apply(p)
    assert row(db, "753").version == 1 and row(db, "753").sync_state == "pending"
    assert row(db, "750").sync_state == "pending" and row(db, "751").sync_state == "pending"


def test_backfill_uses_the_configured_template(db, frozen):
    scene(db)
    settings = parse_settings({"remediation": {"placeholder_email_template": "noreply+{id}@example.org"}})
    Actions(db, settings, actor=ME).backfill_email(Target(ids=("750",)))
    assert email(db, "c-anon") == "noreply+c-anon@example.org"


def test_backfill_version_checks_appointments_and_the_customer(acts, db):
    p = acts.preview("backfill_email", Target(category="missing_contact"))
    bump(db, "750")
    with db.session() as s:  # someone fixed c-bad by hand meanwhile
        s.get(Customer, "c-bad").email = "real@example.com"
        s.commit()
    result = acts.apply(p)
    assert result.changed == ["751"]
    assert result.skipped == {"750": "changed meanwhile", "754": "changed meanwhile"}
    assert email(db, "c-anon") == "customer_c-anon@placeholder.invalid" and email(db, "c-bad") == "real@example.com"
    assert row(db, "750").sync_state == "failed" and row(db, "751").sync_state == "pending"


def test_undo_backfill_restores_emails_not_states(acts, db):
    done = acts.backfill_email(Target(category="missing_contact"))
    with db.session() as s:  # c-bad got a real email since: leave it
        s.get(Customer, "c-bad").email = "real@example.com"
        s.commit()
    p = acts.preview_undo(done.event_id)
    assert p.ids == ["750", "751"] and p.skipped == {"754": "changed since"}
    assert p.describe() == f"undo event {done.event_id} (backfill_email) on 2 appointments: 750, 751"
    result = acts.undo(done.event_id)
    assert result.changed == ["750", "751"]
    assert result.message == (f"undid event {done.event_id} (backfill_email): restored the previous email of 1 "
                              "customer (2 appointments); appointment sync states are left as they are; 1 skipped")
    assert email(db, "c-anon") is None and email(db, "c-bad") == "real@example.com"
    assert row(db, "750").sync_state == "pending"
    undo_event = events(db)[-1]
    assert (undo_event.action, undo_event.undoes, undo_event.actor, undo_event.targets) == \
        ("undo", done.event_id, ME, ["750", "751"])
    assert undo_event.before["750"] == {"customer_id": "c-anon", "email": "customer_c-anon@placeholder.invalid"}
    assert undo_event.after["750"] == {"customer_id": "c-anon", "email": None}


# --- assign staff -------------------------------------------------------------------------------


def test_assign_staff(acts, db):
    p = acts.preview("assign_staff", Target(ids=("752", "760", "761", "770", "748", "763", "772")), staff_id="s2")
    # 761 is booked with s1's Cal.com user: the sync cancels that booking and books s2; 772's create
    # may have gone through: the sync looks it up first
    assert p.ids == ["760", "748", "752", "761", "772"]
    assert p.skipped == {"770": "in flight: being synced right now", "763": "status cancelled"}
    assert p.changes["761"] == {"before": {"staff_id": "s1", "sync_state": "synced", "sync_op": "create"},
                                "after": {"staff_id": "s2", "sync_state": "pending", "sync_op": "rebook"}}
    assert p.changes["752"] == {"before": {"staff_id": None, "sync_state": "failed", "category": "missing_staff"},
                                "after": {"staff_id": "s2", "sync_state": "pending", "category": None}}
    assert p.changes["760"] == {"before": {"staff_id": "s1"}, "after": {"staff_id": "s2"}}
    result = acts.apply(p, reason="Fabian is on holiday")
    assert result.message == ("assigned staff s2 to 5 appointments, 4 back in the sync queue (1 to rebook in "
                              "Cal.com for the new host); 2 skipped")
    assert [(row(db, i).staff_id, row(db, i).sync_state) for i in ("752", "760", "748", "761")] == \
        [("s2", "pending"), ("s2", "pending"), ("s2", "pending"), ("s2", "pending")]
    event = events(db)[-1]
    assert (event.action, event.reason, event.result) == ("assign_staff", "Fabian is on holiday", "5 assigned to s2")
    again = acts.preview("assign_staff", Target(ids=("752",)), staff_id="s2")
    assert again.skipped == {"752": "already assigned to s2"}


def test_assign_staff_checks_the_staff_member(acts, db):
    with pytest.raises(NotFoundError, match="^staff 'nobody' not found$"):
        acts.assign_staff(Target(ids=("752",)), "nobody")
    with pytest.raises(UsageError, match="^staff 's-off' is inactive: assign an active staff member$"):
        acts.assign_staff(Target(ids=("752",)), "s-off")
    assert events(db) == []


def test_undo_assign_staff_once_and_only_what_did_not_change(acts, db):
    done = acts.assign_staff(Target(ids=("752", "760")), "s2")
    acts.assign_staff(Target(ids=("760",)), "s1")  # changed since by a later assignment
    p = acts.preview_undo(done.event_id)
    assert p.ids == ["752"] and p.skipped == {"760": "changed since"}
    assert p.changes == {"752": {"before": {"staff_id": "s2"}, "after": {"staff_id": None}}}
    result = acts.undo(done.event_id)
    assert result.changed == ["752"]
    assert result.message == (f"undid event {done.event_id} (assign_staff): restored the previous staff of 1 "
                              "appointment; the sync books them for that host again where needed; 1 skipped")
    assert row(db, "752").staff_id is None and row(db, "752").sync_state == "pending"
    assert row(db, "760").staff_id == "s1"
    with pytest.raises(UserError, match=f"^audit event {done.event_id} was already undone \\(by event "
                                        f"{result.event_id}\\)$"):
        acts.undo(done.event_id)


def test_undo_assign_staff_once_booked_takes_the_booking_back(acts, db):
    done = acts.assign_staff(Target(ids=("752",)), "s2")
    bump(db, "752", sync_state="synced", booking_uid="uid-752",
         booked=Booking(uid="uid-752", start=NOW + 2 * D + H, host="maria", event_type_id=101).to_json())
    result = acts.undo(done.event_id)
    assert result.changed == ["752"]
    a = row(db, "752")  # no staff again: the sync cancels s2's booking (and then has no host to book)
    assert (a.staff_id, a.sync_state, a.sync_op) == (None, "pending", "rebook")


# --- reschedule ---------------------------------------------------------------------------------


def test_reschedule_an_unbooked_appointment_moves_it_and_requeues_it(acts, db):
    start = (NOW + 3 * D).astimezone(timezone(timedelta(hours=1)))
    p = acts.preview("reschedule", Target(ids=("748",)), start=start)
    assert p.changes == {"748": {
        "before": {"start_at": "2025-11-26T17:00:00Z", "sync_state": "failed", "category": "host_conflict"},
        "after": {"start_at": "2025-11-27T17:00:00Z", "sync_state": "pending", "category": None}}}
    assert p.describe() == "reschedule 1 appointment to 2025-11-27T17:00:00Z: 748"
    result = acts.apply(p)
    assert result.message == "rescheduled 748 to 2025-11-27T17:00:00Z (not booked yet: the sync books the new time)"
    a = row(db, "748")
    assert (a.start_at, a.end_at, a.sync_state, a.sync_op) == (NOW + 3 * D, NOW + 3 * D + timedelta(minutes=30),
                                                                "pending", "create")
    assert events(db)[-1].result == "1 rescheduled to 2025-11-27T17:00:00Z"


def test_reschedule_a_booked_appointment_goes_through_calcom(acts, db):
    result = acts.reschedule("761", NOW + 5 * D, reason="customer asked")
    assert result.changed == ["761"]
    assert result.message == "rescheduled 761 to 2025-11-29T17:00:00Z (queued to move the booking in Cal.com)"
    a = row(db, "761")
    assert (a.start_at, a.sync_op, a.sync_state, a.booking_uid) == (NOW + 5 * D, "reschedule", "pending", "uid-761")
    assert a.booked["start"] == "2025-11-28T18:00:00Z"  # booked there until the sync has moved it
    event = events(db)[-1]
    assert event.before == {"761": {"start_at": "2025-11-28T18:00:00Z", "sync_op": "create", "sync_state": "synced"}}
    assert event.after == {"761": {"start_at": "2025-11-29T17:00:00Z", "sync_op": "reschedule",
                                   "sync_state": "pending"}}
    assert event.reason == "customer asked"


def test_reschedule_refusals(acts, db):
    with pytest.raises(UsageError, match="^start: a time zone or UTC offset is required"):
        acts.reschedule("748", (NOW + D).replace(tzinfo=None))
    with pytest.raises(UsageError, match="^start 2025-11-24T16:00:00Z is not in the future "
                                         r"\(now 2025-11-24T17:00:00Z\)$"):
        acts.reschedule("748", NOW - H)
    with pytest.raises(UsageError, match="^reschedule works on one appointment at a time$"):
        acts.preview("reschedule", Target(ids=("748", "750")), start=NOW + D)
    assert acts.reschedule("770", NOW + 9 * D).skipped == {"770": "in flight: being synced right now"}
    assert acts.reschedule("999", NOW + 9 * D).skipped == {"999": "not found"}
    assert acts.reschedule("748", NOW + 2 * D).skipped == {"748": "already starts at 2025-11-26T17:00:00Z"}
    assert events(db) == []


# --- snooze -------------------------------------------------------------------------------------


def test_snooze_acknowledges_for_a_day_by_default(acts, db):
    with db.session() as s:
        before = metrics.compute(s, acts.settings).manual_review
    p = acts.preview("snooze", Target(ids=("748", "760")), note="waiting for the host")
    assert p.ids == ["748"] and p.skipped == {"760": "not failed (pending)"}
    assert p.changes == {"748": {"before": {"snoozed_until": None, "note": None},
                                 "after": {"snoozed_until": "2025-11-25T17:00:00Z", "note": "waiting for the host"}}}
    assert p.describe() == "snooze 1 appointment until 2025-11-25T17:00:00Z: 748"
    result = acts.apply(p)
    assert result.message == "snoozed 1 appointment until 2025-11-25T17:00:00Z; 1 skipped"
    a = row(db, "748")
    assert (a.snoozed_until, a.note) == (NOW + D, "waiting for the host")
    event = events(db)[-1]
    assert (event.reason, event.result) == ("waiting for the host", "1 snoozed until 2025-11-25T17:00:00Z")
    with db.session() as s:
        assert metrics.compute(s, acts.settings).manual_review == before - 1


def test_snooze_until_a_time_and_its_checks(acts, db):
    result = acts.snooze(Target(filter="category:missing_contact"), until=NOW + 3 * D, note="salon closed")
    assert result.changed == ["750", "751", "754"] and row(db, "751").snoozed_until == NOW + 3 * D
    with pytest.raises(UsageError, match=r"^snooze needs a note \(--note TEXT\)$"):
        acts.snooze(Target(ids=("748",)), note=" ")
    with pytest.raises(UsageError, match="^until 2025-11-24T16:00:00Z is not in the future"):
        acts.snooze(Target(ids=("748",)), until=NOW - H, note="x")
    p = acts.preview("snooze", Target(ids=("748",)))  # the console asks for the note after the preview
    with pytest.raises(UsageError, match="^snooze needs a note"):
        acts.apply(p)
    assert acts.apply(p, note="later").changed == ["748"] and row(db, "748").note == "later"
    assert events(db)[-1].after == {"748": {"snoozed_until": "2025-11-25T17:00:00Z", "note": "later"}}


def test_undo_snooze_and_refusals(acts, db):
    bump(db, "748", note="older note")
    first = acts.snooze(Target(ids=("748", "752")), note="ack")
    acts.retry(Target(ids=("752",)))  # clears 752's snooze: changed since
    assert [e.id for e in acts.undoable()] == [first.event_id]
    result = acts.undo()  # this actor's latest undoable event
    assert result.changed == ["748"] and result.skipped == {"752": "changed since"}
    assert result.message == f"undid event {first.event_id} (snooze): 1 appointment no longer snoozed; 1 skipped"
    a = row(db, "748")
    assert (a.snoozed_until, a.note) == (None, "older note")
    assert acts.undoable() == []
    with pytest.raises(NotFoundError, match=f"^nothing to undo: {ME} has no undoable event"):
        acts.undo()
    with pytest.raises(UserError, match="was already undone"):
        acts.undo(first.event_id)
    with pytest.raises(NotFoundError, match="^audit event 999 not found$"):
        acts.undo(999)
    undo_event = events(db)[-1]
    assert undo_event.before == {"748": {"snoozed_until": "2025-11-25T17:00:00Z", "note": "ack"}}
    assert undo_event.after == {"748": {"snoozed_until": None, "note": "older note"}}
    with pytest.raises(UsageError, match="is undo: only backfill_email"):
        acts.undo(undo_event.id)


def test_undo_defaults_to_this_actors_latest_and_lists_newest_first(acts, db):
    other = Actions(db, acts.settings, actor="someone@else")
    mine = acts.snooze(Target(ids=("748",)), note="mine")
    theirs = other.snooze(Target(ids=("750",)), note="theirs")
    acts.retry(Target(ids=("754",)))  # not reversible: never listed
    assert [e.id for e in acts.undoable()] == [theirs.event_id, mine.event_id]
    assert [e.id for e in acts.undoable(actor=ME)] == [mine.event_id]
    dry = acts.undo(dry_run=True)
    assert (dry.dry_run, dry.changed, dry.event_id) == (True, ["748"], None)
    assert dry.message == f"would undo event {mine.event_id} (snooze) on 1 appointment: 748 (dry run)"
    assert row(db, "748").snoozed_until == NOW + D
    assert acts.undo().changed == ["748"]
    assert row(db, "750").snoozed_until == NOW + D  # theirs stays


def test_an_undo_applied_twice_from_two_previews_is_refused(acts, db):
    done = acts.snooze(Target(ids=("748",)), note="x")
    p1 = acts.preview_undo(done.event_id)
    p2 = Actions(db, acts.settings, actor="other@box").preview_undo(done.event_id)
    acts.apply(p1)
    with pytest.raises(UserError, match="was already undone"):
        acts.apply(p2)
    assert [e.action for e in events(db)] == ["snooze", "undo"]


# --- with the sync engine and the Cal.com simulator --------------------------------------------


@pytest.fixture
def sim():
    from synconsole.simulator import SimulatorServer
    from tests.engine.helpers import EVENT_TYPES, KEY

    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES) as server:
        yield server


async def _drain(db, settings):
    from synconsole.jobs.sync import SyncEngine
    from tests.engine.helpers import client_for

    async with client_for(settings) as client:
        return await SyncEngine(db, settings, client, worker="test").drain()


def _sim_bookings(sim, appointment_id: str) -> list[dict]:
    return httpx.get(f"{sim.url}/_sim/bookings", params={"appointment_id": appointment_id}).json()["bookings"]


async def test_cancel_of_a_booked_appointment_is_pushed_to_calcom(db, sim, tmp_path):
    from tests.engine.helpers import appointment, load, people, settings_for, soon

    settings = settings_for(sim.url, db.url)
    load(db, tmp_path, people() + [appointment("748", soon())])
    assert (await _drain(db, settings)).synced == 1
    uid = row(db, "748").booking_uid
    result = Actions(db, settings, actor=ME).cancel(Target(ids=("748",)), reason="customer called to cancel")
    assert result.message == "cancelled 1 appointment (1 queued to cancel in Cal.com)"
    a = row(db, "748")
    assert (a.status, a.sync_state, a.sync_op) == ("cancelled", "pending", "cancel")
    assert _sim_bookings(sim, "748")[0]["status"] == "accepted"  # nothing sent yet
    report = await _drain(db, settings)
    assert report.cancelled == 1, report.summary()
    (booking,) = _sim_bookings(sim, "748")
    assert (booking["uid"], booking["status"], booking["cancellationReason"]) == \
        (uid, "cancelled", "customer called to cancel")
    a = row(db, "748")
    assert (a.status, a.sync_state) == ("cancelled", "cancelled")


async def test_backfill_then_the_engine_books_it(db, sim, tmp_path):
    from tests.engine.helpers import appointment, load, people, settings_for, soon

    settings = settings_for(sim.url, db.url)
    load(db, tmp_path, people() + [appointment("anon", soon(), customer="c-anon")])
    await _drain(db, settings)
    assert (row(db, "anon").sync_state, row(db, "anon").category) == ("failed", "missing_contact")
    assert _sim_bookings(sim, "anon") == []
    result = Actions(db, settings, actor=ME).backfill_email(Target(category="missing_contact"))
    assert result.changed == ["anon"] and row(db, "anon").sync_state == "pending"
    report = await _drain(db, settings)
    assert report.synced == 1, report.summary()
    (booking,) = _sim_bookings(sim, "anon")
    assert booking["status"] == "accepted"
    assert booking["attendees"][0]["email"] == "customer_c-anon@placeholder.invalid"
    assert row(db, "anon").booking_uid == booking["uid"]

