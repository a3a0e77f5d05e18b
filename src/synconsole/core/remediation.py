"""The remediation plan: for every current failure, what its category calls for, and who does it.

Automatic or human comes from :func:`synconsole.core.categories.disposition` (the single source of
truth; ``[remediation] auto_backfill_email`` turns ``missing_contact`` automatic). What the
automatic part runs is the existing machinery, audited as usual:

- ``auto_cleanup`` -> the cleanup job's :func:`synconsole.core.cleanup.plan` / ``apply``
  (cancel, or only flag with ``[jobs] cleanup_mode = "flag"``);
- ``auto_retry``   -> :meth:`synconsole.core.actions.Actions.preview` / ``apply`` of ``retry``;
- ``auto_fix``     -> the same for ``backfill_email`` (placeholder email, then back to the queue).

A failure whose start has passed is a past appointment whatever category it failed with (the
pre-flight checks the start first, and the cleanup job takes every failed appointment whose start
has passed), so it is planned as one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from synconsole.config import Settings
from synconsole.core import categories as cats
from synconsole.core import clock
from synconsole.core.classify import contact_problem, phone_bookings
from synconsole.core.db import Database
from synconsole.core.pii import mask_text
from synconsole.core.models import FAILED, SCHEDULED, Appointment, Customer, Staff
from synconsole.errors import ReadOnlyError

PAST = "past_appointment"
CLEANUP_CANCEL = "cleanup_cancel"
CLEANUP_FLAG = "cleanup_flag"
#: a person's actions: each category names its own (Category.human_action, Category.command)
RETRY = cats.RETRY
BACKFILL = cats.BACKFILL
ASSIGN_STAFF = cats.ASSIGN_STAFF
RESCHEDULE_OR_CANCEL = cats.RESCHEDULE_OR_CANCEL
CANCEL = cats.CANCEL
FIX_CONFIG = cats.FIX_CONFIG
INVESTIGATE = cats.INVESTIGATE

RETRY_REASON = "remediate: automatic retry (category disposition auto_retry)"
BACKFILL_REASON = "remediate: automatic placeholder email ([remediation] auto_backfill_email)"


@dataclass(frozen=True)
class PlanItem:
    id: str
    category: str
    action: str
    automatic: bool
    why: str
    start: datetime
    first_failed_at: datetime | None = None
    snoozed_until: datetime | None = None
    #: for a human: the command(s) that do it ("A, or B" for alternatives)
    command: str | None = None

    @property
    def who(self) -> str:
        return "automatic" if self.automatic else "human"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "category": self.category,
            "action": self.action,
            "automatic": self.automatic,
            "why": self.why,
            "command": self.command,
            "start": clock.iso(self.start),
            "first_failed_at": clock.iso(self.first_failed_at),
            "snoozed_until": clock.iso(self.snoozed_until),
        }


def plan(session: Session, settings: Settings, now: datetime | None = None, *,
         reveal: bool = False) -> list[PlanItem]:
    """One item per current failure (failed, scheduled), in start order; the reasons (which quote
    notes and contacts) masked unless ``reveal``."""
    now = now or clock.now()
    a = Appointment
    rows = session.execute(
        sa.select(a.id, a.category, a.start_at, a.first_failed_at, a.snoozed_until, a.note, a.staff_id,
                  a.customer_id, a.last_http_status, a.attempts, Customer, Staff)
        .select_from(a)
        .join(Customer, Customer.id == a.customer_id, isouter=True)
        .join(Staff, Staff.id == a.staff_id, isouter=True)
        .where(a.sync_state == FAILED, a.status == SCHEDULED)
        .order_by(a.start_at, a.id)
    ).all()
    mode = settings.jobs.cleanup_mode
    auto_backfill = bool(settings.remediation.auto_backfill_email)
    items = []
    for r in rows:
        category = r.category or cats.UNKNOWN
        past = r.start_at < now
        effective = PAST if past else category
        disposition = cats.disposition(effective, auto_backfill_email=auto_backfill)
        automatic = disposition != cats.MANUAL
        if past and mode == "flag" and category == PAST:
            automatic = False  # flagged already: in flag mode nothing cancels it automatically
        action = _automatic_action(disposition, mode) if automatic else cats.get(effective).human_action
        why, command = _why(r, category, effective, action, automatic, now, settings)
        if not reveal:
            why, command = mask_text(why) or "", mask_text(command)
        items.append(PlanItem(r.id, effective, action, automatic, why, r.start_at, r.first_failed_at,
                              r.snoozed_until if r.snoozed_until and r.snoozed_until > now else None, command))
    return items


def _automatic_action(disposition: str, mode: str) -> str:
    if disposition == cats.AUTO_CLEANUP:
        return CLEANUP_FLAG if mode == "flag" else CLEANUP_CANCEL
    if disposition == cats.AUTO_FIX:
        return BACKFILL
    if disposition == cats.AUTO_RETRY:
        return RETRY
    raise AssertionError(f"no automatic action for disposition {disposition!r}")  # pragma: no cover


def _why(r: Any, category: str, effective: str, action: str, automatic: bool, now: datetime,
         settings: Settings) -> tuple[str, str | None]:
    """(why, the command a human runs, or None when it is automatic)."""
    if effective == PAST:
        was = f" (failed as {category})" if category != PAST else ""
        fact = f"start {clock.iso(r.start_at)} has passed{was}: Cal.com cannot book it"
    elif effective == "missing_contact":
        problem = contact_problem(r.Customer, settings.categories.anonymous_phone_pattern,
                                  phone_ok=phone_bookings(r.Staff))
        fact = f"customer {r.customer_id}: {problem or 'contact looks usable now: retry it'}"
    elif effective == "missing_staff":
        fact = f"staff {r.staff_id} is inactive" if r.staff_id else "no staff assigned"
    elif effective == "no_event_type":
        fact = f"staff {r.staff_id} has no Cal.com event type or user mapped" if r.staff_id else "no event type"
    elif cats.reschedulable(effective):
        fact = cats.get(effective).title.lower() + f" at {clock.iso(r.start_at)}"
    elif cats.get(effective).retried:
        status = f"HTTP {r.last_http_status}" if r.last_http_status else "no answer"
        attempts = f"{r.attempts} attempt{'s' if r.attempts != 1 else ''}"
        fact = f"{cats.get(effective).title.lower()} ({status}) after {attempts}"
    elif effective == "auth":
        fact = "Cal.com refused the API key"
    else:
        status = f"HTTP {r.last_http_status}" if r.last_http_status else "no HTTP status"
        fact = f"{cats.get(effective).title.lower()} failure ({status})"
    if automatic:
        if action in (CLEANUP_CANCEL, CLEANUP_FLAG):
            how = ("the cleanup job cancels it" if action == CLEANUP_CANCEL
                   else 'the cleanup job flags it (cleanup_mode = "flag")')
        elif action == BACKFILL:
            how = "auto_backfill_email is on: placeholder email, then back to the queue"
        else:
            how = "retried automatically"
        return f"{fact}; {how}", None
    if effective == PAST:
        fact += '; cleanup_mode = "flag" only flags it'
    elif cats.get(effective).cured_by == cats.CURED_BY_CONTACT:
        fact += "; auto_backfill_email is off"
    if r.snoozed_until is not None and r.snoozed_until > now:
        fact += f" (snoozed until {clock.iso(r.snoozed_until)}" + (f": {r.note}" if r.note else "") + ")"
    command = cats.get(effective).command_for(r.id)
    return f"{fact}; {command}", command


# --- applying the automatic part -----------------------------------------------------------------


@dataclass
class Step:
    """One automatic action over a set of appointments: what it would change, what it did."""

    action: str
    ids: list[str]  # what the preview lists (would change)
    lines: list[str] = field(default_factory=list)  # the exact preview, one line per appointment
    changed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    message: str = ""
    event_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "ids": self.ids, "changes": self.lines, "changed": self.changed,
                "skipped": self.skipped, "message": self.message, "event_id": self.event_id}


@dataclass
class AutoPreview:
    """Exactly what :func:`apply_preview` would change; made by :func:`preview_automatic`."""

    at: datetime
    mode: str
    steps: list[Step]
    human: list[PlanItem]
    cleanup_items: list[Any] = field(default_factory=list, repr=False)
    action_previews: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def count(self) -> int:
        return sum(len(s.ids) for s in self.steps)


@dataclass
class ApplyResult:
    dry_run: bool
    steps: list[Step]
    human: list[PlanItem]

    @property
    def changed(self) -> int:
        return sum(len(s.changed) for s in self.steps)

    def to_json(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "steps": [s.to_json() for s in self.steps],
                "needs_human": [i.id for i in self.human]}


def preview_automatic(db: Database, settings: Settings, *, now: datetime | None = None) -> AutoPreview:
    """The automatic part of the plan, previewed by the machinery that will apply it."""
    from synconsole.core.actions import Actions, Target
    from synconsole.core import cleanup

    now = now or clock.now()
    with db.session() as session:
        items = plan(session, settings, now)
    mode = settings.jobs.cleanup_mode
    result = AutoPreview(at=now, mode=mode, steps=[], human=[i for i in items if not i.automatic])
    cleanup_items = cleanup.plan(db, mode=mode, now=now)
    if cleanup_items:
        action = CLEANUP_FLAG if mode == "flag" else CLEANUP_CANCEL
        result.steps.append(Step(action, [c.id for c in cleanup_items], [c.describe(mode) for c in cleanup_items]))
        result.cleanup_items = cleanup_items
    actions = Actions(db, settings)
    for action in (RETRY, BACKFILL):
        ids = tuple(i.id for i in items if i.automatic and i.action == action)
        if not ids:
            continue
        preview = actions.preview(action, Target(ids=ids))
        step = Step(action, list(preview.ids), skipped=dict(preview.skipped))
        if preview.ids:
            step.lines += preview.describe_changes(max_ids=len(preview.ids))
        step.lines += preview.describe_skipped(max_ids=len(preview.skipped) or 1)
        result.steps.append(step)
        result.action_previews[action] = preview
    return result


def apply_preview(db: Database, settings: Settings, preview: AutoPreview, *, actor: str) -> ApplyResult:
    """Apply what ``preview`` listed, each step audited under ``actor``; rows that changed since
    the preview are skipped (the machinery's version checks), never overwritten."""
    from synconsole.core.actions import Actions
    from synconsole.core import cleanup

    _refuse_if_read_only(settings)
    steps: list[Step] = []
    for step in preview.steps:
        done = Step(step.action, step.ids, step.lines, skipped=dict(step.skipped))
        if step.action in (CLEANUP_CANCEL, CLEANUP_FLAG):
            n = cleanup.apply(db, preview.cleanup_items, mode=preview.mode, actor=actor)
            changed = _changed_by_cleanup(db, preview.cleanup_items, preview.mode)
            done.changed = [i for i in step.ids if i in changed] if n else []
            verb = "flagged" if preview.mode == "flag" else "cancelled"
            left = len(step.ids) - n
            done.message = (f"{verb} {n} past appointment{'s' if n != 1 else ''}"
                            + (f" ({left} changed meanwhile, left alone)" if left else ""))
        else:
            action_preview = preview.action_previews[step.action]
            actions = Actions(db, settings, actor=actor)
            reason = RETRY_REASON if step.action == RETRY else BACKFILL_REASON
            result = actions.apply(action_preview, reason=reason)
            done.changed, done.skipped, done.message, done.event_id = (
                list(result.changed), dict(result.skipped), result.message, result.event_id)
        steps.append(done)
    return ApplyResult(False, steps, preview.human)


def apply_automatic(db: Database, settings: Settings, *, actor: str, dry_run: bool = False,
                    now: datetime | None = None) -> ApplyResult:
    """Run only the automatic part of the plan (``dry_run``: say exactly what would change)."""
    if not dry_run:
        _refuse_if_read_only(settings)
    preview = preview_automatic(db, settings, now=now)
    if dry_run:
        return ApplyResult(True, preview.steps, preview.human)
    return apply_preview(db, settings, preview, actor=actor)


def _changed_by_cleanup(db: Database, items: list[Any], mode: str) -> set[str]:
    """Which of the cleanup's items carry its change now (cleanup.apply returns only a count)."""
    ids = [i.id for i in items]
    if not ids:
        return set()
    a = Appointment
    versions = {i.id: i.version for i in items}
    with db.session() as session:
        rows = session.execute(sa.select(a.id, a.version, a.status, a.category).where(a.id.in_(ids))).all()
    if mode == "flag":
        return {r.id for r in rows if r.version > versions[r.id] and r.category == PAST}
    return {r.id for r in rows if r.version > versions[r.id] and r.status != SCHEDULED}


def _refuse_if_read_only(settings: Settings) -> None:
    if settings.read_only:
        raise ReadOnlyError("refused: remediate changes data and synconsole is read-only "
                            "(--read-only, SYNCONSOLE_READ_ONLY=1 or [ui] read_only)")


# --- text ---------------------------------------------------------------------------------------


def plan_text(items: list[PlanItem], *, now: datetime, width: int = 80) -> str:
    """The plan for a terminal: automatic first (what ``remediate --apply`` runs), then human; per
    failure its id, category and action, why (wrapped), and for a human the command(s) to run."""
    import textwrap

    auto = [i for i in items if i.automatic]
    human = [i for i in items if not i.automatic]
    if not items:
        return f"remediation plan at {clock.iso(now)}: no failures, nothing to do"
    lines = [f"remediation plan at {clock.iso(now)}: {len(items)} failure{'s' if len(items) != 1 else ''}, "
             f"{len(auto)} automatic, {len(human)} need{'s' if len(human) == 1 else ''} a human"]
    width_id = max(len(i.id) for i in items)
    indent = " " * (width_id + 4)
    for title, group in (("automatic (synconsole remediate --apply runs these):", auto), ("needs a human:", human)):
        if not group:
            continue
        lines += ["", title]
        for i in group:
            lines.append(f"  {i.id:<{width_id}}  {i.category} -> {i.action}")
            reason = i.why[: -len(i.command) - 2] if i.command else i.why
            lines += textwrap.wrap(reason, width=width, initial_indent=indent, subsequent_indent=indent,
                                   break_on_hyphens=False, break_long_words=False)
            if i.command:
                for n, alternative in enumerate(i.command.split(", or ")):
                    lines.append(f"{indent}{'next: ' if n == 0 else '  or: '}{alternative}")
    return "\n".join(lines)


def preview_text(preview: AutoPreview | ApplyResult) -> list[str]:
    lines: list[str] = []
    for step in preview.steps:
        n = len(step.ids)
        lines.append(f"{step.action}: {n} appointment{'s' if n != 1 else ''}")
        lines += [f"  {line}" for line in step.lines]
    return lines
