"""What every action shares: :class:`ActionSpec` and its helpers (the values it passes are in
:mod:`values`, re-exported here).

Imports no action module and no registry (they import this), so the package has no import circle.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import sqlalchemy as sa

from synconsole.core import audit, categories, changes, clock, filters
from synconsole.core.categories import CATEGORIES
from synconsole.core.models import FAILED, IN_FLIGHT, PENDING, SCHEDULED, Appointment, Customer, Staff
from synconsole.errors import UsageError

from synconsole.core.actions.values import Ask, Check, Preview, Result, Summary, Target  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    from synconsole.core.actions.facade import Actions

ACKNOWLEDGE = timedelta(hours=24)  # snooze without an end: acknowledge for a day
CHUNK = 400  # ids per IN (...) list

# why an id is not eligible (the console may compare against these)
REASON_NOT_FOUND = "not found"
REASON_NOT_MATCHED = "not matched by the filter"
REASON_IN_FLIGHT = "in flight: being synced right now"
REASON_HAS_EMAIL = "customer has a usable email"
REASON_CHANGED = "changed meanwhile"
REASON_CHANGED_SINCE = "changed since"

QUEUED_NOW = "__queued_now__"  # placeholder: the time of apply, not of preview

T = Appointment.__table__
C = T.c
CT = Customer.__table__
_COLUMNS = (C.id, C.version, C.status, C.sync_state, C.sync_op, C.category, C.booking_uid, C.needs_lookup,
            C.staff_id, C.customer_id, C.start_at, C.end_at, C.snoozed_until, C.note, C.cancel_reason,
            C.booked, C.service, C.time_zone)


class ActionSpec:
    """One operator action, whole: which rows it takes, its preview, its apply and summary, its undo,
    and how each face offers it (binding id and key, palette and help text, CLI command).

    The shared preview and apply live here; an action module overrides the hooks it needs."""

    name: str
    verb: str  # "nothing to <verb>"
    #: fields shown in before/after (the audit log and the preview)
    shown: tuple[str, ...] = ()
    #: rows read with their customer's email
    with_email: bool = False
    #: one appointment at a time (the console asks for one, the core refuses more)
    one_at_a_time: bool = False
    #: changes what Cal.com should hold (the sync then decides the calls): the row's revision moves
    changes_booking: bool = False
    undoable: bool = False
    #: what an undo restores
    undo_fields: tuple[str, ...] = ()

    # --- the faces ------------------------------------------------------------------------------
    #: works on a target (ids, a filter, a category); False: on its own (undo)
    targeted: bool = True
    key: str = ""
    key_id: str = ""
    footer: str = ""  # the binding's description
    in_footer: bool = False
    #: the palette's words; the help screen's too for a targeted action (else it shows ``footer``)
    help: str | None = None
    #: a standalone action's palette entry (targeted ones are "<Label>: <target>")
    palette: str = ""
    #: offered on the whole filter or category in the palette
    bulk: bool = False
    #: a fix for some categories only: it takes the failures of those whose ``Category.fixes`` name
    #: it (else any); the preview decides in the end, this keeps the palette from offering what
    #: cannot apply at all
    category_fix: bool = False
    title: str = ""  # a dialog's title, "{}" names the target
    ask: Ask | None = None
    #: the console shows the preview even for one appointment
    confirm_always: bool = False
    cli_command: str = ""

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")

    @property
    def binding_action(self) -> str:
        return f"act('{self.name}')" if self.targeted else self.name

    def takes_category(self, category: str) -> bool:
        return not self.category_fix or self.name in categories.get(category).fixes

    def fits_row(self, row: Any) -> bool:
        """The palette's guess from a queue row (status, sync_state, category, booking_uid); the
        preview decides."""
        return True

    # --- preview --------------------------------------------------------------------------------

    def plan(self, ctx: Actions, session, now: datetime, params: dict) -> Check:
        """Validate the params; return how to judge one row."""
        raise NotImplementedError

    def expand(self, ctx: Actions, session, rows: list[Any]) -> list[Any]:
        """The rows to judge: the target's, and any it reaches (marked ``sibling``)."""
        return rows

    def on_eligible(self, preview: Preview, row: Any, before: dict, after: dict) -> None:
        pass

    def headline(self, preview: Preview, noun: str) -> str:
        return f"{self.name} {noun}"

    def preview(self, ctx: Actions, target: Target, params: dict[str, Any]) -> Preview:
        now = clock.now()
        preview = Preview(action=self.name, ids=[], skipped={}, changes={}, params={}, target=target, at=now)
        with ctx.db.session() as session:
            check = self.plan(ctx, session, now, params)
            preview.params = check.params
            rows, skipped_missing = select_rows(session, target, now, with_email=self.with_email)
            if self.one_at_a_time and len(rows) + len(skipped_missing) > 1:
                raise UsageError(f"{self.name} works on one appointment at a time")
            rows = self.expand(ctx, session, rows)
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
                self.on_eligible(preview, row, before, after)
        preview.skipped.update(skipped_missing)
        return preview

    def shown_values(self, r: Any, values: dict[str, Any],
                     always: dict[str, Any] | None = None) -> tuple[dict, dict, dict]:
        """(values, before, after): before/after hold the shown fields that change (and ``always``),
        as JSON."""
        before, after = {}, {}
        always = always or {}
        for f in self.shown:
            if f in always:
                before[f] = as_json(getattr(r, f))
                after[f] = as_json(always[f])
            elif f in values and getattr(r, f) != values[f]:
                before[f] = as_json(getattr(r, f))
                after[f] = as_json(values[f])
        return values, before, after

    # --- apply ----------------------------------------------------------------------------------

    def apply(self, ctx: Actions, preview: Preview, *, reason: str | None, **params: Any) -> Result:
        reason = (reason if reason is not None else preview.params.get("reason"))
        reason = reason.strip() if isinstance(reason, str) else reason
        note = params.pop("note", None)
        for key, value in params.items():
            if value is None:  # not given
                continue
            if key not in preview.params or preview.params[key] != value:
                raise UsageError(f"{key} differs from the preview: preview again")
        extra, reason = self.extra(preview, reason, note)
        if not preview.ids:
            return self.nothing(preview, preview.skipped)
        return self.write(ctx, preview, reason=reason, extra=extra, now=clock.now())

    def extra(self, preview: Preview, reason: str | None, note: Any) -> tuple[dict[str, Any], str | None]:
        """Values that come only with apply (written to every row), and the audit reason."""
        return {}, reason

    def guard(self) -> Any:
        """The condition a row must still meet when written (besides its version)."""
        return C.sync_state != IN_FLIGHT

    def write(self, ctx: Actions, preview: Preview, *, reason: str | None, extra: dict[str, Any],
              now: datetime) -> Result:
        values = {i: resolve_now({**preview.values[i], **extra}, now) for i in preview.ids}
        with ctx.db.write() as session:
            done = self.update_rows(session, preview, values, now)
            changed = [i for i in preview.ids if i in done]
            skipped = {**preview.skipped, **{i: REASON_CHANGED for i in preview.ids if i not in done}}
            if not changed:
                session.rollback()
                return self.nothing(preview, skipped)
            shown = {i: _with_extra(preview.changes[i], extra) for i in changed}
            summary = self.summary(preview, changed, values)
            event = audit.record(
                session, actor=ctx.actor, action=preview.action, targets=changed, reason=reason,
                before={i: shown[i]["before"] for i in changed}, after={i: shown[i]["after"] for i in changed},
                result=summary.result, at=now,
            )
            event_id = event.id
            session.commit()
        return Result(preview.action, changed, skipped, event_id, summary.message + skip_suffix(skipped),
                      preview=preview)

    def update_rows(self, session, preview: Preview, values: dict[str, dict], now: datetime) -> set[str]:
        """Version-checked UPDATEs, one per group of identical values and chunk of ids."""
        groups: dict[tuple, list[str]] = {}
        for i in preview.ids:
            if values[i]:
                groups.setdefault(tuple(sorted(values[i].items())), []).append(i)
        done: set[str] = set()
        guard = self.guard()
        for key, ids in groups.items():
            vals = dict(key)
            if self.changes_booking:
                vals["revision"] = C.revision + 1
            for chunk in chunks(ids, CHUNK):
                pairs = [(i, preview.versions[i]) for i in chunk]
                stmt = (sa.update(T).where(sa.tuple_(C.id, C.version).in_(pairs), guard)
                        .values(**vals, updated_at=now, version=C.version + 1).returning(C.id))
                done |= set(session.execute(stmt).scalars())
        return done

    def summary(self, preview: Preview, changed: list[str], values: dict[str, dict]) -> Summary:
        raise NotImplementedError

    def nothing(self, preview: Preview, skipped: dict[str, str], dry_run: bool = False) -> Result:
        if not skipped:
            detail = "the target matches no appointment"
        else:
            shown = list(skipped.items())[:3]
            detail = "; ".join(f"{i}: {why}" for i, why in shown)
            if len(skipped) > 3:
                detail += f"; … and {len(skipped) - 3} more"
        return Result(preview.action, [], dict(skipped), None, f"nothing to {self.verb}: {detail}",
                      dry_run=dry_run, preview=preview)

    # --- undo (of an event of this action) --------------------------------------------------------

    def undo_plan(self, session, event: Any, preview: Preview) -> None:
        """Fill ``preview`` with what undoing ``event`` restores: by default the ``undo_fields`` of
        each row that did not change since (``undo_check``)."""
        before_all, after_all = event.before or {}, event.after or {}
        targets = [str(i) for i in (event.targets or [])]
        rows: dict[str, Any] = {}
        for chunk in chunks(targets, CHUNK):
            rows.update({r.id: r for r in session.execute(columns(False).where(C.id.in_(chunk))).all()})
        fields = self.undo_fields
        for i in targets:
            r = rows.get(i)
            before, after = before_all.get(i) or {}, after_all.get(i) or {}
            if r is None:
                preview.skipped[i] = REASON_NOT_FOUND
                continue
            why = self.undo_check(r, after)
            if why is not None:
                preview.skipped[i] = why
                continue
            preview.ids.append(i)
            preview.versions[i] = r.version
            preview.changes[i] = {"before": {f: after.get(f) for f in fields},
                                  "after": {f: before.get(f) for f in fields}}
            preview.values[i] = {f: typed(f, before.get(f)) for f in fields}

    def undo_check(self, r: Any, after: dict[str, Any]) -> str | None:
        """Why the current row cannot be restored (None: it can)."""
        return f"cannot undo {self.name}"  # pragma: no cover

    def restore(self, session, preview: Preview, now: datetime) -> set[str]:
        done: set[str] = set()
        for i in preview.ids:
            guard = [C.id == i, C.version == preview.versions[i], C.sync_state != IN_FLIGHT]
            result = session.execute(sa.update(T).where(*guard)
                                     .values(**preview.values[i], updated_at=now, version=C.version + 1))
            if result.rowcount == 1:
                done.add(i)
        return done

    def undone(self, event_id: int, preview: Preview, changed: list[str]) -> Summary:
        """The undo event's result and message."""
        raise NotImplementedError


# --- rows ---------------------------------------------------------------------------------------


class Sibling:
    """A row an action reaches through another (a backfill's other failures of one customer)."""

    sibling = True

    def __init__(self, row: Any) -> None:
        self._row = row

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, name)


def columns(with_email: bool):
    """The SELECT of the appointment fields the actions judge (and the customer's email)."""
    if with_email:
        return sa.select(*_COLUMNS, CT.c.email.label("customer_email")).select_from(
            T.join(CT, CT.c.id == C.customer_id))
    return sa.select(*_COLUMNS)


def _condition(target: Target, now: datetime) -> Any | None:
    conds = []
    if target.filter is not None:
        conds.append(filters.parse(target.filter).condition(now))
    if target.category is not None:
        if target.category not in CATEGORIES:
            raise UsageError(f"unknown category {target.category!r}: expected one of {', '.join(CATEGORIES)}")
        conds.append(sa.and_(C.sync_state == FAILED, C.category == target.category))
    return sa.and_(*conds) if conds else None


def select_rows(session, target: Target, now: datetime, *, with_email: bool = False,
                limit: int | None = None) -> tuple[list[Any], dict[str, str]]:
    """Rows the target matches, in (start, id) order, and the explicit ids it does not."""
    if target.is_empty:
        raise UsageError("nothing selected: give appointment ids, a filter or a category")
    cond = _condition(target, now)
    skipped: dict[str, str] = {}
    if not target.ids:
        stmt = columns(with_email).where(cond).order_by(C.start_at, C.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        return list(session.execute(stmt).all()), skipped
    ids = list(dict.fromkeys(str(i) for i in target.ids))
    rows: list[Any] = []
    for chunk in chunks(ids, CHUNK):
        rows += session.execute(columns(with_email).where(C.id.in_(chunk))).all()
    found = {r.id for r in rows}
    if cond is not None:
        matching: set[str] = set()
        for chunk in chunks(sorted(found), CHUNK):
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


# --- helpers ------------------------------------------------------------------------------------


def not_changeable(r: Any) -> str | None:
    """Why a row cannot be changed by an action now: not scheduled, or being synced right now."""
    if r.status != SCHEDULED:
        return f"status {r.status}"
    if r.sync_state == IN_FLIGHT:
        return REASON_IN_FLIGHT
    return None


def sync_after(r: Any, now: datetime, *, staff: Staff | None = None, **changed: Any) -> dict[str, Any]:
    """The sync fields after ``changed`` (changes.sync_after), queued at the time of apply."""
    values = changes.sync_after(r, now=now, staff=staff, **changed)
    if "queued_at" in values:
        values["queued_at"] = QUEUED_NOW
    return values


def requeue() -> dict[str, Any]:
    """Back to the queue: pending now, the failure's category and fingerprint and any snooze cleared
    (the attempts keep the history; first_failed_at stays, so the failure's age is not reset)."""
    return dict(sync_state=PENDING, queued_at=QUEUED_NOW, next_retry_at=None, category=None, fingerprint=None,
                snoozed_until=None)


def _with_extra(change: dict, extra: dict[str, Any]) -> dict:
    if not extra:
        return change
    return {"before": change["before"], "after": {**change["after"], **{k: as_json(v) for k, v in extra.items()}}}


def resolve_now(values: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {k: (now if v == QUEUED_NOW else v) for k, v in values.items()}


def typed(field_name: str, value: Any) -> Any:
    if field_name == "snoozed_until" and isinstance(value, str):
        return clock.parse_utc(value)
    return value


def as_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return clock.iso(value)
    return value


def is_(column, value):
    return column.is_(None) if value is None else column == value


def n_appointments(n: int) -> str:
    return f"{n} appointment{'s' if n != 1 else ''}"


def skip_suffix(skipped: dict[str, str]) -> str:
    if not skipped:
        return ""
    meanwhile = sum(1 for why in skipped.values() if why == REASON_CHANGED)
    tail = f", {meanwhile} changed meanwhile" if meanwhile else ""
    return f"; {len(skipped)} skipped{tail}"


def chunks(items: Sequence[str], size: int) -> Iterable[list[str]]:
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start:start + size]


def no_params(action: str, params: dict, *, allowed: tuple[str, ...]) -> None:
    unknown = [k for k in params if k not in allowed]
    if unknown:
        raise UsageError(f"{action}: unknown parameter {unknown[0]!r} (expected {', '.join(allowed)})")


def reason_params(params: dict) -> dict[str, Any]:
    reason = params.get("reason")
    return {"reason": reason.strip()} if isinstance(reason, str) and reason.strip() else {}
