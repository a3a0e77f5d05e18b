"""Every remediation action, for the console and the CLI alike.

An action is two steps: :meth:`Actions.preview` says exactly what would change (eligible ids in
start order, skipped ids with the reason, before/after of the changed fields) and changes nothing;
:meth:`Actions.apply` writes it in one transaction (``BEGIN IMMEDIATE`` on SQLite), each row only
if it did not change since the preview (its version), and records ONE audit event. Rows that
changed meanwhile are reported as skipped, never overwritten. Read-only settings refuse every
write before anything is written.

The sync engine does the Cal.com side: a cancel or reschedule of a booked appointment is a queue
entry (``sync_op``), written here in the same transaction as the local change.

Each action is an :class:`~synconsole.core.actions.base.ActionSpec` in its own module, listed in
``registry``; this facade only dispatches. Reversible: the specs marked ``undoable`` (see
:meth:`Actions.undo`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from synconsole.config import Settings
from synconsole.core import audit, clock
from synconsole.core.actions import registry
from synconsole.core.actions.base import Preview, Result, Target, select_rows
from synconsole.core.db import Database
from synconsole.core.models import AuditEvent
from synconsole.errors import ReadOnlyError, UsageError


class Actions:
    def __init__(self, db: Database, settings: Settings, *, actor: str | None = None) -> None:
        self.db = db
        self.settings = settings
        self.actor = actor or audit.os_actor()

    def resolve(self, target: Target, *, limit: int | None = None) -> list[str]:
        """The ids a target matches (existing appointments, start order), eligible or not."""
        with self.db.session() as session:
            rows, _ = select_rows(session, target, clock.now(), limit=limit)
        return [r.id for r in rows]

    def preview(self, action: str, target: Target, **params: Any) -> Preview:
        """What ``action`` would change on ``target``; changes nothing (allowed when read-only).

        params: assign_staff ``staff_id``; reschedule ``start``; snooze ``until``, ``note``;
        cancel ``reason`` (optional here, required by apply)."""
        if action not in registry.ACTIONS:
            raise UsageError(f"unknown action {action!r}: expected one of {', '.join(registry.ACTIONS)}")
        return registry.spec(action).preview(self, target, params)

    def apply(self, preview: Preview, *, reason: str | None = None, **params: Any) -> Result:
        """Write what ``preview`` listed: each row only if unchanged since (version), one audit event.

        ``reason``: cancel's reason (required unless given to preview), the audit reason otherwise.
        ``note`` for snooze, if not given to preview. Other params must equal the preview's."""
        self.refuse_if_read_only(preview.action)
        spec = registry.BY_NAME.get(preview.action)
        if spec is None:
            raise UsageError(f"unknown action {preview.action!r}")
        return spec.apply(self, preview, reason=reason, **params)

    def dry_run(self, preview: Preview) -> Result:
        """A Result for a preview that is not applied: nothing changed, no audit event."""
        if not preview.ids:
            return registry.spec(preview.action).nothing(preview, preview.skipped, dry_run=True)
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
        return registry.UNDO.events(self, limit, actor)

    def preview_undo(self, event_id: int | None = None) -> Preview:
        """What undoing ``event_id`` (default: this actor's latest undoable event) would restore."""
        return registry.UNDO.preview_event(self, event_id)

    def undo(self, event_id: int | None = None, *, reason: str | None = None, dry_run: bool = False) -> Result:
        if not dry_run:
            self.refuse_if_read_only("undo")
        preview = self.preview_undo(event_id)
        if dry_run:
            return self.dry_run(preview)
        return self.apply(preview, reason=reason)
