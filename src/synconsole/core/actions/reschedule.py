"""reschedule: one appointment to a new start; a booked one is moved in Cal.com by the sync."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from synconsole.core import clock
from synconsole.core.actions.base import (
    ActionSpec, Ask, Check, Summary, no_params, not_changeable, reason_params, sync_after,
)
from synconsole.core.models import IN_FLIGHT, OP_RESCHEDULE, SCHEDULED, Staff
from synconsole.errors import UsageError


class Reschedule(ActionSpec):
    name = "reschedule"
    verb = "reschedule"
    shown = ("start_at", "sync_op", "sync_state", "category")
    one_at_a_time = True
    changes_booking = True
    key, key_id, footer = "s", "reschedule", "Reschedule"
    help = "Reschedule to a free slot Cal.com offers"
    category_fix = True
    title = "Reschedule {}"
    ask = Ask("slot", "start")
    cli_command = "reschedule"

    def fits_row(self, row: Any) -> bool:
        return row.status == SCHEDULED and row.sync_state != IN_FLIGHT

    def plan(self, ctx, session, now, params) -> Check:
        no_params("reschedule", params, allowed=("start", "reason"))
        start = params.get("start")
        if not isinstance(start, datetime):
            raise UsageError("reschedule needs a start time")
        if start.tzinfo is None:
            raise UsageError("start: a time zone or UTC offset is required (e.g. 2025-11-27T10:00:00+01:00)")
        start = clock.to_utc(start)
        if start <= now:
            raise UsageError(f"start {clock.iso(start)} is not in the future (now {clock.iso(now)})")

        def row(r) -> Any:
            if (busy := not_changeable(r)) is not None:
                return busy
            if r.start_at == start:
                return f"already starts at {clock.iso(start)}"
            moved = {"start_at": start, "end_at": start + (r.end_at - r.start_at)}
            staff = session.get(Staff, r.staff_id) if r.staff_id else None
            values = {**moved, **sync_after(r, now, staff=staff, **moved)}
            return self.shown_values(r, values)

        return Check({**reason_params(params), "start": start}, row)

    def headline(self, preview, noun) -> str:
        return f"reschedule {noun} to {clock.iso(preview.params.get('start'))}"

    def summary(self, preview, changed, values) -> Summary:
        (i,) = changed
        when = clock.iso(preview.params["start"])
        if values[i].get("sync_op") == OP_RESCHEDULE:
            how = "queued to move the booking in Cal.com"
        else:
            how = "not booked yet: the sync books the new time"
        return Summary(f"1 rescheduled to {when}", f"rescheduled {i} to {when} ({how})")


SPEC = Reschedule()
