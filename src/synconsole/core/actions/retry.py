"""retry: failed appointments back to the sync queue, pending now."""

from __future__ import annotations

from typing import Any

from synconsole.core.actions.base import (
    REASON_IN_FLIGHT, ActionSpec, Check, Summary, n_appointments, no_params, reason_params, requeue,
)
from synconsole.core.models import FAILED, IN_FLIGHT, OP_CANCEL, RETRY_SCHEDULED, SCHEDULED


class Retry(ActionSpec):
    name = "retry"
    verb = "retry"
    shown = ("sync_state", "category", "snoozed_until")
    key, key_id, footer, in_footer = "r", "retry", "Retry", True
    help = "Retry: back to the queue"
    bulk = True
    title = "Retry {}"
    cli_command = "retry"

    def fits_row(self, row: Any) -> bool:
        return row.sync_state in (FAILED, RETRY_SCHEDULED)

    def plan(self, ctx, session, now, params) -> Check:
        no_params("retry", params, allowed=("reason",))

        def row(r) -> Any:
            if r.sync_state == IN_FLIGHT:
                return REASON_IN_FLIGHT
            if r.sync_state not in (FAILED, RETRY_SCHEDULED):
                return f"not failed ({r.sync_state})"
            if r.status != SCHEDULED and r.sync_op != OP_CANCEL:
                return f"status {r.status}"
            return self.shown_values(r, requeue())

        return Check(reason_params(params), row)

    def summary(self, preview, changed, values) -> Summary:
        n = len(changed)
        return Summary(f"{n} retried", f"retried {n_appointments(n)}: back in the sync queue")


SPEC = Retry()
