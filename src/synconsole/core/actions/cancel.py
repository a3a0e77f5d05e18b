"""cancel: locally, and in Cal.com (through the sync) where the appointment is booked."""

from __future__ import annotations

from typing import Any

from synconsole.core.actions.base import (
    ActionSpec, Ask, Check, Summary, n_appointments, no_params, not_changeable, reason_params, sync_after,
)
from synconsole.core.models import OP_CANCEL, SCHEDULED, STATUS_CANCELLED
from synconsole.errors import UsageError


class Cancel(ActionSpec):
    name = "cancel"
    verb = "cancel"
    shown = ("status", "sync_state", "sync_op", "cancel_reason")
    changes_booking = True
    key, key_id, footer, in_footer = "c", "cancel", "Cancel", True
    help = "Cancel (asks for a reason; cancels in Cal.com when booked)"
    bulk = True
    title = "Cancel {}"
    ask = Ask("text", "reason", "Reason (required; sent to Cal.com as cancellationReason)", required=True)
    confirm_always = True
    cli_command = "cancel"

    def fits_row(self, row: Any) -> bool:
        return row.status == SCHEDULED

    def plan(self, ctx, session, now, params) -> Check:
        no_params("cancel", params, allowed=("reason",))
        reason = params.get("reason")
        if reason is not None and not str(reason).strip():
            raise UsageError("cancel needs a reason (--reason TEXT)")

        def row(r) -> Any:
            if r.status == STATUS_CANCELLED:
                return "already cancelled"
            if (busy := not_changeable(r)) is not None:
                return busy
            # booked (or possibly booked: settled first) -> the sync cancels it in Cal.com; else final
            values = {"status": STATUS_CANCELLED, **sync_after(r, now, status=STATUS_CANCELLED)}
            if reason is not None:
                values["cancel_reason"] = reason.strip()
            # the reason may come only with apply: always shown
            return self.shown_values(r, values, always={"cancel_reason": reason.strip() if reason else None})

        return Check(reason_params(params), row)

    def extra(self, preview, reason, note):
        if not reason:
            raise UsageError("cancel needs a reason (--reason TEXT)")
        return {"cancel_reason": reason}, reason

    def summary(self, preview, changed, values) -> Summary:
        n = len(changed)
        remote = sum(1 for i in changed if values[i].get("sync_op") == OP_CANCEL)
        tail = f" ({remote} queued to cancel in Cal.com)" if remote else ""
        return Summary(f"{n} cancelled{tail}", f"cancelled {n_appointments(n)}{tail}")


SPEC = Cancel()
