"""assign_staff: another (active) staff member; a booking for the old host is rebooked by the sync.
Undo restores the previous staff."""

from __future__ import annotations

from typing import Any

from synconsole.core import changes
from synconsole.core.actions.base import (
    REASON_CHANGED_SINCE, REASON_IN_FLIGHT, ActionSpec, Ask, Check, Summary, n_appointments, no_params,
    not_changeable, reason_params, sync_after,
)
from synconsole.core.models import IN_FLIGHT, OP_REBOOK, PENDING, SCHEDULED, Staff
from synconsole.errors import NotFoundError, UsageError


class AssignStaff(ActionSpec):
    name = "assign_staff"
    verb = "assign"
    shown = ("staff_id", "sync_state", "sync_op", "category")
    changes_booking = True
    undoable = True
    undo_fields = ("staff_id",)
    key, key_id, footer = "a", "assign_staff", "Assign staff"
    help = "Assign a staff member"
    category_fix = True
    title = "Assign staff to {}"
    ask = Ask("staff", "staff_id")
    cli_command = "assign-staff"

    def fits_row(self, row: Any) -> bool:
        return row.status == SCHEDULED and not row.booking_uid and row.sync_state != IN_FLIGHT

    def plan(self, ctx, session, now, params) -> Check:
        no_params("assign_staff", params, allowed=("staff_id", "reason"))
        staff_id = str(params.get("staff_id") or "").strip()
        if not staff_id:
            raise UsageError("assign_staff needs a staff id")
        staff = session.get(Staff, staff_id)
        if staff is None:
            raise NotFoundError(f"staff {staff_id!r} not found")
        if not staff.active:
            raise UsageError(f"staff {staff_id!r} is inactive: assign an active staff member")

        def row(r) -> Any:
            if (busy := not_changeable(r)) is not None:
                return busy
            if r.staff_id == staff_id:
                return f"already assigned to {staff_id}"
            # booked for another host -> the sync cancels that booking and creates one for the new host
            values = {"staff_id": staff_id, **sync_after(r, now, staff=staff, staff_id=staff_id)}
            return self.shown_values(r, values)

        return Check({**reason_params(params), "staff_id": staff_id}, row)

    def headline(self, preview, noun) -> str:
        return f"assign staff {preview.params.get('staff_id')} to {noun}"

    def summary(self, preview, changed, values) -> Summary:
        n = len(changed)
        staff_id = preview.params["staff_id"]
        back = sum(1 for i in changed if preview.changes[i]["after"].get("sync_state") == PENDING)
        rebook = sum(1 for i in changed if values[i].get("sync_op") == OP_REBOOK)
        tail = f", {back} back in the sync queue" if back else ""
        if rebook:
            tail += f" ({rebook} to rebook in Cal.com for the new host)"
        return Summary(f"{n} assigned to {staff_id}", f"assigned staff {staff_id} to {n_appointments(n)}{tail}")

    def undo_check(self, r, after) -> str | None:
        if r.staff_id != after.get("staff_id"):
            return REASON_CHANGED_SINCE
        if r.sync_state == IN_FLIGHT:
            return REASON_IN_FLIGHT
        return None

    def restore(self, session, preview, now) -> set[str]:
        done = super().restore(session, preview, now)
        # the old host again: the sync settles, cancels and books as needed
        changes.requeue(session.connection(), sorted(done), now=now)
        return done

    def undone(self, event_id, preview, changed) -> Summary:
        return Summary(f"{len(changed)} restored",
                       f"undid event {event_id} (assign_staff): restored the previous staff of "
                       f"{n_appointments(len(changed))}; the sync books them for that host again where needed")


SPEC = AssignStaff()
