"""Every remediation action, for the console and the CLI alike.

An action is two steps: :meth:`Actions.preview` says exactly what would change (eligible ids in
start order, skipped ids with the reason, before/after of the changed fields) and changes nothing;
:meth:`Actions.apply` writes it in one transaction (``BEGIN IMMEDIATE`` on SQLite), each row only
if it did not change since the preview (its version), and records ONE audit event. Rows that
changed meanwhile are reported as skipped, never overwritten. Read-only settings refuse every
write before anything is written.

The sync engine does the Cal.com side: a cancel or reschedule of a booked appointment is a queue
entry (``sync_op``), written here in the same transaction as the local change.

Reversible: ``backfill_email``, ``assign_staff``, ``snooze`` (see :meth:`Actions.undo`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Sequence

import sqlalchemy as sa
from sqlmodel import select

from synconsole.config import Settings
from synconsole.core import audit, changes, clock, filters
from synconsole.core.categories import CATEGORIES
from synconsole.core.classify import usable_email
from synconsole.core.db import Database
from synconsole.core.models import (
    CANCELLED,
    FAILED,
    IN_FLIGHT,
    OP_CANCEL,
    OP_REBOOK,
    OP_RESCHEDULE,
    PENDING,
    RETRY_SCHEDULED,
    SCHEDULED,
    STATUS_CANCELLED,
    Appointment,
    AuditEvent,
    Customer,
    Staff,
)
from synconsole.errors import NotFoundError, ReadOnlyError, UsageError, UserError

ACTIONS = ("retry", "cancel", "backfill_email", "assign_staff", "reschedule", "snooze")
UNDOABLE = ("backfill_email", "assign_staff", "snooze")
ACKNOWLEDGE = timedelta(hours=24)  # snooze without an end: acknowledge for a day
CHUNK = 400  # ids per IN (...) list

# why an id is not eligible (the console may compare against these)
REASON_NOT_FOUND = "not found"
REASON_NOT_MATCHED = "not matched by the filter"
REASON_IN_FLIGHT = "in flight: being synced right now"
REASON_HAS_EMAIL = "customer has a usable email"
REASON_CHANGED = "changed meanwhile"
REASON_CHANGED_SINCE = "changed since"

_VERBS = {
    "retry": ("retry", "retried"),
    "cancel": ("cancel", "cancelled"),
    "backfill_email": ("backfill", "backfilled"),
    "assign_staff": ("assign", "assigned"),
    "reschedule": ("reschedule", "rescheduled"),
    "snooze": ("snooze", "snoozed"),
    "undo": ("undo", "undone"),
}
#: fields shown in before/after (the audit log and the preview), per action
_SHOWN = {
    "retry": ("sync_state", "category", "snoozed_until"),
    "cancel": ("status", "sync_state", "sync_op", "cancel_reason"),
    "assign_staff": ("staff_id", "sync_state", "sync_op", "category"),
    "reschedule": ("start_at", "sync_op", "sync_state", "category"),
    "snooze": ("snoozed_until", "note"),
}
_QUEUED_NOW = "__queued_now__"  # placeholder: the time of apply, not of preview

T = Appointment.__table__
C = T.c
CT = Customer.__table__
_COLUMNS = (C.id, C.version, C.status, C.sync_state, C.sync_op, C.category, C.booking_uid, C.needs_lookup,
            C.staff_id, C.customer_id, C.start_at, C.end_at, C.snoozed_until, C.note, C.cancel_reason,
            C.booked, C.service, C.time_zone)
#: actions that change what Cal.com should hold (the sync then decides the calls)
_CHANGES_BOOKING = ("cancel", "assign_staff", "reschedule")


@dataclass(frozen=True)
class Target:
    """What an action works on. Given together, ids, filter and category narrow each other.

    ``filter=""`` is the empty filter (everything); ``None`` means not given. A target with none of
    the three is refused (UsageError)."""

    ids: tuple[str, ...] = ()
    filter: str | None = None
    category: str | None = None

    @property
    def is_empty(self) -> bool:
        return not self.ids and self.filter is None and self.category is None

    def describe(self) -> str:
        parts = []
        if self.ids:
            parts.append(_id_list(list(self.ids), 5))
        if self.category is not None:
            parts.append(f"category {self.category}")
        if self.filter is not None:
            parts.append(f"filter {self.filter!r}")
        return ", ".join(parts) or "nothing"


@dataclass
class Preview:
    """Exactly what an apply would change."""

    action: str
    ids: list[str]
    skipped: dict[str, str]
    changes: dict[str, dict]
    #: additions: what apply needs to re-check and write
    versions: dict[str, int] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    target: Target | None = None
    at: datetime | None = None
    values: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    #: backfill_email: customer id -> (email before, placeholder)
    customers: dict[str, tuple[str | None, str]] = field(default_factory=dict, repr=False)

    @property
    def count(self) -> int:
        return len(self.ids)

    def headline(self) -> str:
        """'retry 3 appointments' (no ids)."""
        return self.describe(max_ids=0)

    def describe(self, max_ids: int = 20) -> str:
        """'retry 3 appointments: 748, 750, 751' (+ '… and N more')."""
        n = self.count
        if n == 0:
            extra = f" ({len(self.skipped)} skipped)" if self.skipped else ""
            label = "undo" if self.action == "undo" else self.action.replace("_", " ")
            return f"{label}: nothing eligible{extra}"
        noun = f"{n} appointment{'s' if n != 1 else ''}"
        p = self.params
        if self.action == "backfill_email":
            k = len(self.customers)
            head = f"backfill placeholder emails for {noun} ({k} customer{'s' if k != 1 else ''})"
        elif self.action == "assign_staff":
            head = f"assign staff {p.get('staff_id')} to {noun}"
        elif self.action == "reschedule":
            head = f"reschedule {noun} to {clock.iso(p.get('start'))}"
        elif self.action == "snooze":
            head = f"snooze {noun} until {clock.iso(p.get('until'))}"
        elif self.action == "undo":
            head = f"undo event {p.get('event_id')} ({p.get('undoes_action')}) on {noun}"
        else:
            head = f"{self.action} {noun}"
        if max_ids <= 0:
            return head
        return f"{head}: {_id_list(self.ids, max_ids)}"

    def describe_skipped(self, max_ids: int = 20) -> list[str]:
        """One line per reason: 'skipped 760, 761: not failed (pending)'."""
        by_reason: dict[str, list[str]] = {}
        for i, why in self.skipped.items():
            by_reason.setdefault(why, []).append(i)
        return [f"skipped {_id_list(ids, max_ids)}: {why}" for why, ids in by_reason.items()]

    def describe_changes(self, max_ids: int = 20) -> list[str]:
        """'748: sync_state failed -> pending, category host_conflict -> None' per id."""
        lines = []
        for i in self.ids[:max_ids]:
            ch = self.changes.get(i, {})
            before, after = ch.get("before", {}), ch.get("after", {})
            parts = [f"{k} {_show(before.get(k))} -> {_show(after.get(k))}" for k in after
                     if before.get(k) != after.get(k)]
            lines.append(f"{i}: {', '.join(parts) if parts else 'no field changes'}")
        if len(self.ids) > max_ids:
            lines.append(f"… and {len(self.ids) - max_ids} more")
        return lines


@dataclass
class Result:
    action: str
    changed: list[str]  # with dry_run: the ids that would change
    skipped: dict[str, str]
    event_id: int | None
    message: str
    dry_run: bool = False
    preview: Preview | None = None

    @property
    def ok(self) -> bool:
        return bool(self.changed)


class Actions:
    def __init__(self, db: Database, settings: Settings, *, actor: str | None = None) -> None:
        self.db = db
        self.settings = settings
        self.actor = actor or audit.os_actor()

    # --- targets --------------------------------------------------------------------------------

    def resolve(self, target: Target, *, limit: int | None = None) -> list[str]:
        """The ids a target matches (existing appointments, start order), eligible or not."""
        with self.db.session() as session:
            rows, _ = self._rows(session, target, clock.now(), limit=limit)
        return [r.id for r in rows]

    def _condition(self, target: Target, now: datetime) -> Any | None:
        conds = []
        if target.filter is not None:
            conds.append(filters.parse(target.filter).condition(now))
        if target.category is not None:
            if target.category not in CATEGORIES:
                raise UsageError(f"unknown category {target.category!r}: expected one of {', '.join(CATEGORIES)}")
            conds.append(sa.and_(C.sync_state == FAILED, C.category == target.category))
        return sa.and_(*conds) if conds else None

    def _select(self, with_email: bool):
        if with_email:
            return sa.select(*_COLUMNS, CT.c.email.label("customer_email")).select_from(
                T.join(CT, CT.c.id == C.customer_id))
        return sa.select(*_COLUMNS)

    def _rows(self, session, target: Target, now: datetime, *, with_email: bool = False,
              limit: int | None = None) -> tuple[list[Any], dict[str, str]]:
        """Rows the target matches, in (start, id) order, and the explicit ids it does not."""
        if target.is_empty:
            raise UsageError("nothing selected: give appointment ids, a filter or a category")
        cond = self._condition(target, now)
        skipped: dict[str, str] = {}
        if not target.ids:
            stmt = self._select(with_email).where(cond).order_by(C.start_at, C.id)
            if limit is not None:
                stmt = stmt.limit(limit)
            return list(session.execute(stmt).all()), skipped
        ids = list(dict.fromkeys(str(i) for i in target.ids))
        rows: list[Any] = []
        for chunk in _chunks(ids, CHUNK):
            rows += session.execute(self._select(with_email).where(C.id.in_(chunk))).all()
        found = {r.id for r in rows}
        if cond is not None:
            matching: set[str] = set()
            for chunk in _chunks(sorted(found), CHUNK):
                matching |= set(session.execute(sa.select(C.id).where(C.id.in_(chunk), cond)).scalars())
            for r in rows:
                if r.id not in matching:
                    skipped[r.id] = REASON_NOT_MATCHED
            rows = [r for r in rows if r.id in matching]
        rows.sort(key=lambda r: (r.start_at, r.id))
        if limit is not None:
            rows = rows[:limit]
        for i in ids:
            if i not in found:
                skipped[i] = REASON_NOT_FOUND
        return rows, skipped

    # --- preview --------------------------------------------------------------------------------

    def preview(self, action: str, target: Target, **params: Any) -> Preview:
        """What ``action`` would change on ``target``; changes nothing (allowed when read-only).

        params: assign_staff ``staff_id``; reschedule ``start``; snooze ``until``, ``note``;
        cancel ``reason`` (optional here, required by apply)."""
        if action not in ACTIONS:
            raise UsageError(f"unknown action {action!r}: expected one of {', '.join(ACTIONS)}")
        now = clock.now()
        planner = getattr(self, f"_plan_{action}")
        preview = Preview(action=action, ids=[], skipped={}, changes={}, params={}, target=target, at=now)
        with self.db.session() as session:
            check = planner(session, now, params)
            preview.params = check.params
            rows, skipped_missing = self._rows(session, target, now, with_email=(action == "backfill_email"))
            if action == "reschedule" and len(rows) + len(skipped_missing) > 1:
                raise UsageError("reschedule works on one appointment at a time")
            if action == "backfill_email":
                rows = self._with_cured_siblings(session, rows, {r.id for r in rows})
            for row in rows:
                outcome = check.row(row)
                if isinstance(outcome, str):
                    if not getattr(row, "sibling", False):  # a sibling that needs nothing is left out
                        preview.skipped[row.id] = outcome
                    continue
                values, before, after = outcome
                preview.ids.append(row.id)
                preview.versions[row.id] = row.version
                preview.values[row.id] = values
                preview.changes[row.id] = {"before": before, "after": after}
                if action == "backfill_email":
                    preview.customers.setdefault(row.customer_id, (row.customer_email, after["email"]))
        preview.skipped.update(skipped_missing)
        return preview

    def _with_cured_siblings(self, session, rows: list[Any], targeted: set[str]) -> list[Any]:
        """A backfill cures every contact failure of the customers it fixes: the target rows, then
        those customers' other contact failures (marked ``sibling``), in start order."""
        customers = sorted({r.customer_id for r in rows})
        found: list[Any] = []
        for chunk in _chunks(customers, CHUNK):
            found += session.execute(self._select(True).where(
                C.customer_id.in_(chunk), C.sync_state.in_((FAILED, RETRY_SCHEDULED)),
                C.category.in_(changes.CONTACT_CATEGORIES), C.id.not_in(targeted)).order_by(C.start_at, C.id)).all()
        return sorted([*rows, *(_Sibling(r) for r in found)], key=lambda r: (r.start_at, r.id))

    # each planner validates the params and returns how to judge one row

    def _plan_retry(self, session, now: datetime, params: dict) -> "_Check":
        _no_params("retry", params, allowed=("reason",))

        def row(r) -> Any:
            if r.sync_state == IN_FLIGHT:
                return REASON_IN_FLIGHT
            if r.sync_state not in (FAILED, RETRY_SCHEDULED):
                return f"not failed ({r.sync_state})"
            if r.status != SCHEDULED and r.sync_op != OP_CANCEL:
                return f"status {r.status}"
            return _shown("retry", r, _requeue())

        return _Check(_reason_params(params), row)

    def _plan_cancel(self, session, now: datetime, params: dict) -> "_Check":
        _no_params("cancel", params, allowed=("reason",))
        reason = params.get("reason")
        if reason is not None and not str(reason).strip():
            raise UsageError("cancel needs a reason (--reason TEXT)")

        def row(r) -> Any:
            if r.status == STATUS_CANCELLED:
                return "already cancelled"
            if (busy := _not_changeable(r)) is not None:
                return busy
            # booked (or possibly booked: settled first) -> the sync cancels it in Cal.com; else final
            values = {"status": STATUS_CANCELLED, **_sync_after(r, now, status=STATUS_CANCELLED)}
            if reason is not None:
                values["cancel_reason"] = reason.strip()
            # the reason may come only with apply: always shown
            return _shown("cancel", r, values, always={"cancel_reason": reason.strip() if reason else None})

        return _Check(_reason_params(params), row)

    def _plan_backfill_email(self, session, now: datetime, params: dict) -> "_Check":
        _no_params("backfill_email", params, allowed=("reason",))
        template = self.settings.remediation.placeholder_email_template

        def row(r) -> Any:
            if r.status != SCHEDULED:
                return f"status {r.status}"
            if usable_email(r.customer_email):
                return REASON_HAS_EMAIL
            placeholder = template.format(id=r.customer_id)
            values: dict[str, Any] = {}
            before: dict[str, Any] = {"customer_id": r.customer_id, "email": r.customer_email}
            after: dict[str, Any] = {"customer_id": r.customer_id, "email": placeholder}
            if r.sync_state in (FAILED, RETRY_SCHEDULED) and r.category in changes.CONTACT_CATEGORIES:
                values = _requeue()
                before.update(sync_state=r.sync_state, category=r.category)
                after.update(sync_state=PENDING, category=None)
            return values, before, after

        return _Check(_reason_params(params), row)

    def _plan_assign_staff(self, session, now: datetime, params: dict) -> "_Check":
        _no_params("assign_staff", params, allowed=("staff_id", "reason"))
        staff_id = str(params.get("staff_id") or "").strip()
        if not staff_id:
            raise UsageError("assign_staff needs a staff id")
        staff = session.get(Staff, staff_id)
        if staff is None:
            raise NotFoundError(f"staff {staff_id!r} not found")
        if not staff.active:
            raise UsageError(f"staff {staff_id!r} is inactive: assign an active staff member")

        def row(r) -> Any:
            if (busy := _not_changeable(r)) is not None:
                return busy
            if r.staff_id == staff_id:
                return f"already assigned to {staff_id}"
            # booked for another host -> the sync cancels that booking and creates one for the new host
            values = {"staff_id": staff_id, **_sync_after(r, now, staff=staff, staff_id=staff_id)}
            return _shown("assign_staff", r, values)

        return _Check({**_reason_params(params), "staff_id": staff_id}, row)

    def _plan_reschedule(self, session, now: datetime, params: dict) -> "_Check":
        _no_params("reschedule", params, allowed=("start", "reason"))
        start = params.get("start")
        if not isinstance(start, datetime):
            raise UsageError("reschedule needs a start time")
        if start.tzinfo is None:
            raise UsageError("start: a time zone or UTC offset is required (e.g. 2025-11-27T10:00:00+01:00)")
        start = clock.to_utc(start)
        if start <= now:
            raise UsageError(f"start {clock.iso(start)} is not in the future (now {clock.iso(now)})")

        def row(r) -> Any:
            if (busy := _not_changeable(r)) is not None:
                return busy
            if r.start_at == start:
                return f"already starts at {clock.iso(start)}"
            moved = {"start_at": start, "end_at": start + (r.end_at - r.start_at)}
            staff = session.get(Staff, r.staff_id) if r.staff_id else None
            values = {**moved, **_sync_after(r, now, staff=staff, **moved)}
            return _shown("reschedule", r, values)

        return _Check({**_reason_params(params), "start": start}, row)

    def _plan_snooze(self, session, now: datetime, params: dict) -> "_Check":
        _no_params("snooze", params, allowed=("until", "note", "reason"))
        until = params.get("until")
        if until is None:
            until = now + ACKNOWLEDGE
        if not isinstance(until, datetime) or until.tzinfo is None:
            raise UsageError("until: an aware time is required (with a time zone or UTC offset)")
        until = clock.to_utc(until)
        if until <= now:
            raise UsageError(f"until {clock.iso(until)} is not in the future (now {clock.iso(now)})")
        note = params.get("note")
        if note is not None and not str(note).strip():
            raise UsageError("snooze needs a note (--note TEXT)")

        def row(r) -> Any:
            if r.sync_state != FAILED:
                return f"not failed ({r.sync_state})"
            values: dict[str, Any] = {"snoozed_until": until}
            if note is not None:
                values["note"] = note.strip()
            # both always recorded: undo restores them as a pair
            return _shown("snooze", r, values,
                          always={"snoozed_until": until, "note": note.strip() if note is not None else None})

        out = {**_reason_params(params), "until": until}
        if note is not None:
            out["note"] = note.strip()
        return _Check(out, row)

    # --- apply ----------------------------------------------------------------------------------

    def apply(self, preview: Preview, *, reason: str | None = None, **params: Any) -> Result:
        """Write what ``preview`` listed: each row only if unchanged since (version), one audit event.

        ``reason``: cancel's reason (required unless given to preview), the audit reason otherwise.
        ``note`` for snooze, if not given to preview. Other params must equal the preview's."""
        self.refuse_if_read_only(preview.action)
        if preview.action == "undo":
            return self._apply_undo(preview, reason=reason)
        if preview.action not in ACTIONS:
            raise UsageError(f"unknown action {preview.action!r}")
        reason = (reason if reason is not None else preview.params.get("reason"))
        reason = reason.strip() if isinstance(reason, str) else reason
        note = params.pop("note", None)
        for key, value in params.items():
            if value is None:  # not given
                continue
            if key not in preview.params or preview.params[key] != value:
                raise UsageError(f"{key} differs from the preview: preview again")
        extra: dict[str, Any] = {}
        if preview.action == "cancel":
            if not reason:
                raise UsageError("cancel needs a reason (--reason TEXT)")
            extra["cancel_reason"] = reason
        if preview.action == "snooze":
            note = note if note is not None else preview.params.get("note")
            if note is None or not str(note).strip():
                raise UsageError("snooze needs a note (--note TEXT)")
            extra["note"] = str(note).strip()
            reason = reason or extra["note"]
        if not preview.ids:
            return self._nothing(preview, preview.skipped)
        now = clock.now()
        if preview.action == "backfill_email":
            return self._apply_backfill(preview, reason=reason, now=now)

        values = {i: _resolve_now({**preview.values[i], **extra}, now) for i in preview.ids}
        with self.db.write() as session:
            done = self._update_rows(session, preview, values, now)
            changed = [i for i in preview.ids if i in done]
            skipped = {**preview.skipped, **{i: REASON_CHANGED for i in preview.ids if i not in done}}
            if not changed:
                session.rollback()
                return self._nothing(preview, skipped)
            changes = {i: _with_extra(preview.changes[i], extra) for i in changed}
            summary = self._summary(preview, changed, values)
            event = audit.record(
                session, actor=self.actor, action=preview.action, targets=changed, reason=reason,
                before={i: changes[i]["before"] for i in changed}, after={i: changes[i]["after"] for i in changed},
                result=summary.result, at=now,
            )
            event_id = event.id
            session.commit()
        return Result(preview.action, changed, skipped, event_id, summary.message + _skip_suffix(skipped),
                      preview=preview)

    def _update_rows(self, session, preview: Preview, values: dict[str, dict], now: datetime) -> set[str]:
        """Version-checked UPDATEs, one per group of identical values and chunk of ids."""
        groups: dict[tuple, list[str]] = {}
        for i in preview.ids:
            if values[i]:
                groups.setdefault(_key(values[i]), []).append(i)
        done: set[str] = set()
        guard = C.sync_state != IN_FLIGHT
        if preview.action == "snooze":
            guard = C.sync_state == FAILED
        for key, ids in groups.items():
            vals = dict(key)
            if preview.action in _CHANGES_BOOKING:
                vals["revision"] = C.revision + 1
            for chunk in _chunks(ids, CHUNK):
                pairs = [(i, preview.versions[i]) for i in chunk]
                stmt = (sa.update(T).where(sa.tuple_(C.id, C.version).in_(pairs), guard)
                        .values(**vals, updated_at=now, version=C.version + 1).returning(C.id))
                done |= set(session.execute(stmt).scalars())
        return done

    def _apply_backfill(self, preview: Preview, *, reason: str | None, now: datetime) -> Result:
        with self.db.write() as session:
            fresh = self._fresh(session, preview)
            by_customer: dict[str, list[str]] = {}
            for i in preview.ids:
                by_customer.setdefault(preview.changes[i]["before"]["customer_id"], []).append(i)
            updated: list[str] = []
            for cid, ids in by_customer.items():
                if not any(i in fresh for i in ids):
                    continue
                old, new = preview.customers[cid]
                result = session.execute(sa.update(CT).where(CT.c.id == cid, _is(CT.c.email, old))
                                         .values(email=new, updated_at=now))
                if result.rowcount == 1:
                    updated.append(cid)
            ok = {i for cid in updated for i in by_customer[cid] if i in fresh}
            requeue = {i: _resolve_now(preview.values[i], now) for i in preview.ids if i in ok and preview.values[i]}
            sub = Preview(preview.action, [i for i in preview.ids if i in requeue], {}, {},
                          versions=preview.versions)
            self._update_rows(session, sub, requeue, now)  # rows are fresh and locked: all succeed
            changed = [i for i in preview.ids if i in ok]
            skipped = {**preview.skipped, **{i: REASON_CHANGED for i in preview.ids if i not in ok}}
            if not changed:
                session.rollback()
                return self._nothing(preview, skipped)
            n_cust, n_req = len(updated), len(requeue)
            result_text = (f"{n_cust} customer{'s' if n_cust != 1 else ''} backfilled, "
                           f"{len(changed)} appointment{'s' if len(changed) != 1 else ''}, {n_req} back to pending")
            event = audit.record(
                session, actor=self.actor, action="backfill_email", targets=changed, reason=reason,
                before={i: preview.changes[i]["before"] for i in changed},
                after={i: preview.changes[i]["after"] for i in changed}, result=result_text, at=now,
            )
            event_id = event.id
            session.commit()
        message = (f"backfilled placeholder emails for {n_cust} customer{'s' if n_cust != 1 else ''} "
                   f"({_n(len(changed))}, {n_req} back in the sync queue)")
        return Result("backfill_email", changed, skipped, event_id, message + _skip_suffix(skipped), preview=preview)

    def _fresh(self, session, preview: Preview) -> set[str]:
        """Ids whose version is still the preview's, locked for this transaction on PostgreSQL."""
        fresh: set[str] = set()
        for chunk in _chunks(preview.ids, CHUNK):
            pairs = [(i, preview.versions[i]) for i in chunk]
            stmt = sa.select(C.id).where(sa.tuple_(C.id, C.version).in_(pairs))
            if self.db.is_postgres:
                stmt = stmt.with_for_update()
            fresh |= set(session.execute(stmt).scalars())
        return fresh

    def _summary(self, preview: Preview, changed: list[str], values: dict[str, dict]) -> "_Summary":
        n = len(changed)
        p = preview.params
        if preview.action == "retry":
            return _Summary(f"{n} retried", f"retried {_n(n)}: back in the sync queue")
        if preview.action == "cancel":
            remote = sum(1 for i in changed if values[i].get("sync_op") == OP_CANCEL)
            tail = f" ({remote} queued to cancel in Cal.com)" if remote else ""
            return _Summary(f"{n} cancelled{tail}", f"cancelled {_n(n)}{tail}")
        if preview.action == "assign_staff":
            back = sum(1 for i in changed if preview.changes[i]["after"].get("sync_state") == PENDING)
            rebook = sum(1 for i in changed if values[i].get("sync_op") == OP_REBOOK)
            tail = f", {back} back in the sync queue" if back else ""
            if rebook:
                tail += f" ({rebook} to rebook in Cal.com for the new host)"
            return _Summary(f"{n} assigned to {p['staff_id']}", f"assigned staff {p['staff_id']} to {_n(n)}{tail}")
        if preview.action == "reschedule":
            (i,) = changed
            when = clock.iso(p["start"])
            if values[i].get("sync_op") == OP_RESCHEDULE:
                how = "queued to move the booking in Cal.com"
            else:
                how = "not booked yet: the sync books the new time"
            return _Summary(f"1 rescheduled to {when}", f"rescheduled {i} to {when} ({how})")
        if preview.action == "snooze":
            when = clock.iso(p["until"])
            return _Summary(f"{n} snoozed until {when}", f"snoozed {_n(n)} until {when}")
        raise AssertionError(preview.action)  # pragma: no cover

    def _nothing(self, preview: Preview, skipped: dict[str, str], dry_run: bool = False) -> Result:
        verb = _VERBS[preview.action][0]
        if not skipped:
            detail = "the target matches no appointment"
        else:
            shown = list(skipped.items())[:3]
            detail = "; ".join(f"{i}: {why}" for i, why in shown)
            if len(skipped) > 3:
                detail += f"; … and {len(skipped) - 3} more"
        return Result(preview.action, [], dict(skipped), None, f"nothing to {verb}: {detail}", dry_run=dry_run,
                      preview=preview)

    def dry_run(self, preview: Preview) -> Result:
        """A Result for a preview that is not applied: nothing changed, no audit event."""
        if not preview.ids:
            return self._nothing(preview, preview.skipped, dry_run=True)
        message = f"would {preview.describe()} (dry run)"
        return Result(preview.action, list(preview.ids), dict(preview.skipped), None, message, dry_run=True,
                      preview=preview)

    def refuse_if_read_only(self, action: str) -> None:
        if self.settings.read_only:
            raise ReadOnlyError(f"refused: {action.replace('_', '-')} changes data and synconsole is read-only "
                                "(--read-only, SYNCONSOLE_READ_ONLY=1 or [ui] read_only)")

    # --- convenience: preview + apply -------------------------------------------------------------

    def _run(self, action: str, target: Target, dry_run: bool, apply_kw: dict, **params: Any) -> Result:
        if not dry_run:
            self.refuse_if_read_only(action)
        preview = self.preview(action, target, **params)
        if dry_run:
            return self.dry_run(preview)
        return self.apply(preview, **apply_kw)

    def retry(self, target: Target, *, reason: str | None = None, dry_run: bool = False) -> Result:
        return self._run("retry", target, dry_run, {"reason": reason})

    def cancel(self, target: Target, *, reason: str, dry_run: bool = False) -> Result:
        if not (reason or "").strip():
            raise UsageError("cancel needs a reason (--reason TEXT)")
        return self._run("cancel", target, dry_run, {}, reason=reason)

    def backfill_email(self, target: Target, *, reason: str | None = None, dry_run: bool = False) -> Result:
        return self._run("backfill_email", target, dry_run, {"reason": reason})

    def assign_staff(self, target: Target, staff_id: str, *, reason: str | None = None,
                     dry_run: bool = False) -> Result:
        return self._run("assign_staff", target, dry_run, {"reason": reason}, staff_id=staff_id)

    def reschedule(self, appointment_id: str, start: datetime, *, reason: str | None = None,
                   dry_run: bool = False) -> Result:
        return self._run("reschedule", Target(ids=(appointment_id,)), dry_run, {"reason": reason}, start=start)

    def snooze(self, target: Target, *, until: datetime | None = None, note: str, dry_run: bool = False) -> Result:
        if not (note or "").strip():
            raise UsageError("snooze needs a note (--note TEXT)")
        return self._run("snooze", target, dry_run, {}, until=until, note=note)

    # --- undo -----------------------------------------------------------------------------------

    def undoable(self, limit: int = 20, *, actor: str | None = None) -> list[AuditEvent]:
        """Reversible events not yet undone, newest first (``actor``: only that actor's)."""
        undone = sa.select(AuditEvent.undoes).where(AuditEvent.undoes.is_not(None))
        stmt = (select(AuditEvent).where(AuditEvent.action.in_(UNDOABLE), AuditEvent.id.not_in(undone))
                .order_by(AuditEvent.id.desc()).limit(limit))
        if actor is not None:
            stmt = stmt.where(AuditEvent.actor == actor)
        with self.db.session() as session:
            return list(session.exec(stmt))

    def preview_undo(self, event_id: int | None = None) -> Preview:
        """What undoing ``event_id`` (default: this actor's latest undoable event) would restore."""
        now = clock.now()
        with self.db.session() as session:
            event = self._undo_event(session, event_id)
            preview = Preview("undo", [], {}, {}, params={"event_id": event.id, "undoes_action": event.action},
                              target=Target(ids=tuple(event.targets or ())), at=now)
            before_all, after_all = event.before or {}, event.after or {}
            targets = [str(i) for i in (event.targets or [])]
            rows: dict[str, Any] = {}
            for chunk in _chunks(targets, CHUNK):
                rows.update({r.id: r for r in session.execute(self._select(False).where(C.id.in_(chunk))).all()})
            emails: dict[str, str | None] = {}
            if event.action == "backfill_email":  # the customer the event changed, whatever the row says now
                cids = sorted({str((before_all.get(i) or {}).get("customer_id")) for i in targets})
                for chunk in _chunks(cids, CHUNK):
                    emails.update(dict(session.execute(sa.select(CT.c.id, CT.c.email).where(CT.c.id.in_(chunk)))
                                       .all()))
            fields = _UNDO_FIELDS[event.action]
            for i in targets:
                r = rows.get(i)
                before, after = before_all.get(i) or {}, after_all.get(i) or {}
                if event.action == "backfill_email":
                    cid = before.get("customer_id")
                    if cid not in emails:
                        preview.skipped[i] = "customer not found"
                    elif emails[cid] != after.get("email"):
                        preview.skipped[i] = REASON_CHANGED_SINCE
                    else:
                        preview.ids.append(i)
                        preview.changes[i] = {"before": {"customer_id": cid, "email": after.get("email")},
                                              "after": {"customer_id": cid, "email": before.get("email")}}
                        preview.customers.setdefault(cid, (after.get("email"), before.get("email")))
                    continue
                if r is None:
                    preview.skipped[i] = REASON_NOT_FOUND
                    continue
                why = _undo_check(event.action, r, after)
                if why is not None:
                    preview.skipped[i] = why
                    continue
                preview.ids.append(i)
                preview.versions[i] = r.version
                preview.changes[i] = {"before": {f: after.get(f) for f in fields},
                                      "after": {f: before.get(f) for f in fields}}
                preview.values[i] = {f: _typed(f, before.get(f)) for f in fields}
        return preview

    def undo(self, event_id: int | None = None, *, reason: str | None = None, dry_run: bool = False) -> Result:
        if not dry_run:
            self.refuse_if_read_only("undo")
        preview = self.preview_undo(event_id)
        if dry_run:
            return self.dry_run(preview)
        return self.apply(preview, reason=reason)

    def _undo_event(self, session, event_id: int | None) -> AuditEvent:
        if event_id is None:
            undone = sa.select(AuditEvent.undoes).where(AuditEvent.undoes.is_not(None))
            event = session.exec(
                select(AuditEvent).where(AuditEvent.actor == self.actor, AuditEvent.action.in_(UNDOABLE),
                                         AuditEvent.id.not_in(undone)).order_by(AuditEvent.id.desc()).limit(1)
            ).first()
            if event is None:
                raise NotFoundError(f"nothing to undo: {self.actor} has no undoable event "
                                    f"({', '.join(UNDOABLE)}) that is not undone yet")
            return event
        event = session.get(AuditEvent, event_id)
        if event is None:
            raise NotFoundError(f"audit event {event_id} not found")
        if event.action not in UNDOABLE:
            raise UsageError(f"audit event {event_id} is {event.action}: only {', '.join(UNDOABLE)} can be undone")
        _refuse_if_undone(session, event.id)
        return event

    def _apply_undo(self, preview: Preview, *, reason: str | None) -> Result:
        event_id = preview.params["event_id"]
        action = preview.params["undoes_action"]
        now = clock.now()
        with self.db.write() as session:
            lock = sa.select(AuditEvent.id).where(AuditEvent.id == event_id)
            if self.db.is_postgres:
                lock = lock.with_for_update()  # two concurrent undos of one event: the second waits
            session.execute(lock)
            _refuse_if_undone(session, event_id)
            if not preview.ids:
                session.rollback()
                return self._nothing(preview, preview.skipped)
            done = self._restore(session, action, preview, now)
            changed = [i for i in preview.ids if i in done]
            skipped = {**preview.skipped, **{i: REASON_CHANGED for i in preview.ids if i not in done}}
            if not changed:
                session.rollback()
                return self._nothing(preview, skipped)
            if action == "backfill_email":
                k = len({preview.changes[i]["before"]["customer_id"] for i in changed})
                result_text = f"{k} customer email{'s' if k != 1 else ''} restored ({_n(len(changed))})"
                message = (f"undid event {event_id} (backfill_email): restored the previous email of {k} "
                           f"customer{'s' if k != 1 else ''} ({_n(len(changed))}); appointment sync states are "
                           "left as they are")
            elif action == "assign_staff":
                result_text = f"{len(changed)} restored"
                message = (f"undid event {event_id} (assign_staff): restored the previous staff of "
                           f"{_n(len(changed))}; the sync books them for that host again where needed")
            else:
                result_text = f"{len(changed)} restored"
                message = f"undid event {event_id} (snooze): {_n(len(changed))} no longer snoozed"
            new = audit.record(
                session, actor=self.actor, action="undo", targets=changed,
                reason=reason or f"undo of event {event_id} ({action})",
                before={i: preview.changes[i]["before"] for i in changed},
                after={i: preview.changes[i]["after"] for i in changed},
                result=result_text, undoes=event_id, at=now,
            )
            new_id = new.id
            session.commit()
        return Result("undo", changed, skipped, new_id, message + _skip_suffix(skipped), preview=preview)

    def _restore(self, session, action: str, preview: Preview, now: datetime) -> set[str]:
        done: set[str] = set()
        if action == "backfill_email":
            by_customer: dict[str, list[str]] = {}
            for i in preview.ids:
                by_customer.setdefault(preview.changes[i]["before"]["customer_id"], []).append(i)
            for cid, ids in by_customer.items():
                placeholder, old = preview.customers[cid]
                result = session.execute(sa.update(CT).where(CT.c.id == cid, _is(CT.c.email, placeholder))
                                         .values(email=old, updated_at=now))
                if result.rowcount == 1:
                    done |= set(ids)
            return done
        for i in preview.ids:
            guard = [C.id == i, C.version == preview.versions[i], C.sync_state != IN_FLIGHT]
            result = session.execute(sa.update(T).where(*guard)
                                     .values(**preview.values[i], updated_at=now, version=C.version + 1))
            if result.rowcount == 1:
                done.add(i)
        if action == "assign_staff":  # the old host again: the sync settles, cancels and books as needed
            changes.requeue(session.connection(), sorted(done), now=now)
        return done


# --- helpers ------------------------------------------------------------------------------------


class _Sibling:
    """A row an action reaches through another (a backfill's other failures of one customer)."""

    sibling = True

    def __init__(self, row: Any) -> None:
        self._row = row

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, name)


@dataclass(frozen=True)
class _Check:
    params: dict[str, Any]
    row: Callable[[Any], Any]


@dataclass(frozen=True)
class _Summary:
    result: str
    message: str


_UNDO_FIELDS = {
    "snooze": ("snoozed_until", "note"),
    "assign_staff": ("staff_id",),
    "backfill_email": ("email",),
}


def _undo_check(action: str, r: Any, after: dict[str, Any]) -> str | None:
    """Why the current row cannot be restored (None: it can)."""
    if action == "assign_staff":
        if r.staff_id != after.get("staff_id"):
            return REASON_CHANGED_SINCE
        if r.sync_state == IN_FLIGHT:
            return REASON_IN_FLIGHT
        return None
    if action == "snooze":
        if _j(r.snoozed_until) != after.get("snoozed_until") or ("note" in after and r.note != after.get("note")):
            return REASON_CHANGED_SINCE
        if r.sync_state == IN_FLIGHT:
            return REASON_IN_FLIGHT
        return None
    return f"cannot undo {action}"  # pragma: no cover


def _refuse_if_undone(session, event_id: int) -> None:
    undo = session.exec(select(AuditEvent.id).where(AuditEvent.undoes == event_id).limit(1)).first()
    if undo is not None:
        raise UserError(f"audit event {event_id} was already undone (by event {undo})")


def _not_changeable(r: Any) -> str | None:
    """Why a row cannot be changed by an action now: not scheduled, or being synced right now."""
    if r.status != SCHEDULED:
        return f"status {r.status}"
    if r.sync_state == IN_FLIGHT:
        return REASON_IN_FLIGHT
    return None


def _sync_after(r: Any, now: datetime, *, staff: Staff | None = None, **changed: Any) -> dict[str, Any]:
    """The sync fields after ``changed`` (changes.sync_after), queued at the time of apply."""
    values = changes.sync_after(r, now=now, staff=staff, **changed)
    if "queued_at" in values:
        values["queued_at"] = _QUEUED_NOW
    return values


def _requeue() -> dict[str, Any]:
    """Back to the queue: pending now, the failure's category and fingerprint and any snooze cleared
    (the attempts keep the history; first_failed_at stays, so the failure's age is not reset)."""
    return dict(sync_state=PENDING, queued_at=_QUEUED_NOW, next_retry_at=None, category=None, fingerprint=None,
                snoozed_until=None)


def _shown(action: str, r: Any, values: dict[str, Any],
           always: dict[str, Any] | None = None) -> tuple[dict, dict, dict]:
    """(values, before, after): before/after hold the shown fields that change (and ``always``), as JSON."""
    before, after = {}, {}
    always = always or {}
    for f in _SHOWN[action]:
        if f in always:
            before[f] = _j(getattr(r, f))
            after[f] = _j(always[f])
        elif f in values and getattr(r, f) != values[f]:
            before[f] = _j(getattr(r, f))
            after[f] = _j(values[f])
    return values, before, after


def _with_extra(change: dict, extra: dict[str, Any]) -> dict:
    if not extra:
        return change
    return {"before": change["before"], "after": {**change["after"], **{k: _j(v) for k, v in extra.items()}}}


def _resolve_now(values: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {k: (now if v == _QUEUED_NOW else v) for k, v in values.items()}


def _key(values: dict[str, Any]) -> tuple:
    return tuple(sorted(values.items()))


def _typed(field_name: str, value: Any) -> Any:
    if field_name == "snoozed_until" and isinstance(value, str):
        return clock.parse_utc(value)
    return value


def _j(value: Any) -> Any:
    if isinstance(value, datetime):
        return clock.iso(value)
    return value


def _is(column, value):
    return column.is_(None) if value is None else column == value


def _show(value: Any) -> str:
    return "-" if value is None else str(value)


def _n(n: int) -> str:
    return f"{n} appointment{'s' if n != 1 else ''}"


def _id_list(ids: Sequence[str], max_ids: int) -> str:
    shown = ", ".join(ids[:max_ids])
    if len(ids) > max_ids:
        shown += f" … and {len(ids) - max_ids} more"
    return shown


def _skip_suffix(skipped: dict[str, str]) -> str:
    if not skipped:
        return ""
    meanwhile = sum(1 for why in skipped.values() if why == REASON_CHANGED)
    tail = f", {meanwhile} changed meanwhile" if meanwhile else ""
    return f"; {len(skipped)} skipped{tail}"


def _chunks(items: Sequence[str], size: int) -> Iterable[list[str]]:
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _no_params(action: str, params: dict, *, allowed: tuple[str, ...]) -> None:
    unknown = [k for k in params if k not in allowed]
    if unknown:
        raise UsageError(f"{action}: unknown parameter {unknown[0]!r} (expected {', '.join(allowed)})")


def _reason_params(params: dict) -> dict[str, Any]:
    reason = params.get("reason")
    return {"reason": reason.strip()} if isinstance(reason, str) and reason.strip() else {}
