"""Every action, in the console's order (keys, footer, help, palette). A new action: its module,
and one line here."""

from __future__ import annotations

from synconsole.core.actions import (
    assign_staff, backfill_email, cancel, reschedule, retry, snooze, undo,
)
from synconsole.core.actions.base import ActionSpec

SPECS: tuple[ActionSpec, ...] = (
    retry.SPEC,
    cancel.SPEC,
    backfill_email.SPEC,
    reschedule.SPEC,
    assign_staff.SPEC,
    snooze.SPEC,
    undo.SPEC,
)

BY_NAME: dict[str, ActionSpec] = {s.name: s for s in SPECS}
#: the actions that work on a target (Actions.preview takes these)
ACTIONS: tuple[str, ...] = tuple(s.name for s in SPECS if s.targeted)
UNDOABLE: tuple[str, ...] = tuple(s.name for s in SPECS if s.undoable)


def spec(name: str) -> ActionSpec:
    return BY_NAME[name]


UNDO = undo.SPEC
