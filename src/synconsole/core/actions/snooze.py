"""snooze: acknowledge failures with a note, out of manual review until a time (default a day).
Undo restores the previous snooze and note."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from synconsole.core import clock
from synconsole.core.actions.base import (
    ACKNOWLEDGE, REASON_CHANGED_SINCE, REASON_IN_FLIGHT, ActionSpec, Ask, C, Check, Summary, as_json,
    n_appointments, no_params, reason_params,
)
from synconsole.core.models import FAILED, IN_FLIGHT
from synconsole.errors import UsageError


class Snooze(ActionSpec):
    name = "snooze"
    verb = "snooze"
    shown = ("snoozed_until", "note")
    undoable = True
    undo_fields = ("snoozed_until", "note")
    key, key_id, footer = "z", "snooze", "Snooze"
    help = "Snooze / acknowledge with a note"
    bulk = True
    title = "Snooze {}"
    ask = Ask("text", "note", "Note (why it can wait; snoozed for 24 h)", required=True, value="acknowledged")
    cli_command = "snooze"

    def fits_row(self, row: Any) -> bool:
        return row.sync_state == FAILED

    def plan(self, ctx, session, now, params) -> Check:
        no_params("snooze", params, allowed=("until", "note", "reason"))
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
            always = {"snoozed_until": until, "note": note.strip() if note is not None else None}
            return self.shown_values(r, values, always=always)

        out = {**reason_params(params), "until": until}
        if note is not None:
            out["note"] = note.strip()
        return Check(out, row)

    def headline(self, preview, noun) -> str:
        return f"snooze {noun} until {clock.iso(preview.params.get('until'))}"

    def extra(self, preview, reason, note):
        note = note if note is not None else preview.params.get("note")
        if note is None or not str(note).strip():
            raise UsageError("snooze needs a note (--note TEXT)")
        note = str(note).strip()
        return {"note": note}, reason or note

    def guard(self) -> Any:
        return C.sync_state == FAILED

    def summary(self, preview, changed, values) -> Summary:
        n = len(changed)
        when = clock.iso(preview.params["until"])
        return Summary(f"{n} snoozed until {when}", f"snoozed {n_appointments(n)} until {when}")

    def undo_check(self, r, after) -> str | None:
        if as_json(r.snoozed_until) != after.get("snoozed_until") or ("note" in after and r.note != after.get("note")):
            return REASON_CHANGED_SINCE
        if r.sync_state == IN_FLIGHT:
            return REASON_IN_FLIGHT
        return None

    def undone(self, event_id, preview, changed) -> Summary:
        return Summary(f"{len(changed)} restored",
                       f"undid event {event_id} (snooze): {n_appointments(len(changed))} no longer snoozed")


SPEC = Snooze()
