"""undo: restore what one reversible event (an action whose spec is ``undoable``) changed; the
undone action's spec says what to restore and how. An event is undone at most once."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import select

from synconsole.core import audit, clock
from synconsole.core.actions.base import REASON_CHANGED, ActionSpec, Preview, Result, Target, skip_suffix
from synconsole.core.models import AuditEvent
from synconsole.errors import NotFoundError, UsageError, UserError


def _undoable() -> tuple[str, ...]:
    # the registry imports this module: looked up when called, not when imported
    from synconsole.core.actions.registry import UNDOABLE

    return UNDOABLE


def _spec(name: str) -> ActionSpec:
    from synconsole.core.actions.registry import BY_NAME

    return BY_NAME[name]


class Undo(ActionSpec):
    name = "undo"
    verb = "undo"
    targeted = False
    key, key_id, footer = "u", "undo", "Undo"
    palette = "Undo a reversible action"
    help = "backfill, assign staff, snooze"
    cli_command = "undo"

    def headline(self, preview, noun) -> str:
        p = preview.params
        return f"undo event {p.get('event_id')} ({p.get('undoes_action')}) on {noun}"

    def events(self, ctx, limit: int, actor: str | None) -> list[AuditEvent]:
        undone = sa.select(AuditEvent.undoes).where(AuditEvent.undoes.is_not(None))
        stmt = (select(AuditEvent).where(AuditEvent.action.in_(_undoable()), AuditEvent.id.not_in(undone))
                .order_by(AuditEvent.id.desc()).limit(limit))
        if actor is not None:
            stmt = stmt.where(AuditEvent.actor == actor)
        with ctx.db.session() as session:
            return list(session.exec(stmt))

    def preview_event(self, ctx, event_id: int | None) -> Preview:
        now = clock.now()
        with ctx.db.session() as session:
            event = self._event(ctx, session, event_id)
            preview = Preview("undo", [], {}, {}, params={"event_id": event.id, "undoes_action": event.action},
                              target=Target(ids=tuple(event.targets or ())), at=now)
            _spec(event.action).undo_plan(session, event, preview)
        return preview

    def _event(self, ctx, session, event_id: int | None) -> AuditEvent:
        undoable = _undoable()
        if event_id is None:
            undone = sa.select(AuditEvent.undoes).where(AuditEvent.undoes.is_not(None))
            event = session.exec(
                select(AuditEvent).where(AuditEvent.actor == ctx.actor, AuditEvent.action.in_(undoable),
                                         AuditEvent.id.not_in(undone)).order_by(AuditEvent.id.desc()).limit(1)
            ).first()
            if event is None:
                raise NotFoundError(f"nothing to undo: {ctx.actor} has no undoable event "
                                    f"({', '.join(undoable)}) that is not undone yet")
            return event
        event = session.get(AuditEvent, event_id)
        if event is None:
            raise NotFoundError(f"audit event {event_id} not found")
        if event.action not in undoable:
            raise UsageError(f"audit event {event_id} is {event.action}: only {', '.join(undoable)} can be undone")
        _refuse_if_undone(session, event.id)
        return event

    def apply(self, ctx, preview, *, reason, **params) -> Result:
        event_id = preview.params["event_id"]
        action = preview.params["undoes_action"]
        undone_spec = _spec(action)
        now = clock.now()
        with ctx.db.write() as session:
            lock = sa.select(AuditEvent.id).where(AuditEvent.id == event_id)
            if ctx.db.is_postgres:
                lock = lock.with_for_update()  # two concurrent undos of one event: the second waits
            session.execute(lock)
            _refuse_if_undone(session, event_id)
            if not preview.ids:
                session.rollback()
                return self.nothing(preview, preview.skipped)
            done = undone_spec.restore(session, preview, now)
            changed = [i for i in preview.ids if i in done]
            skipped = {**preview.skipped, **{i: REASON_CHANGED for i in preview.ids if i not in done}}
            if not changed:
                session.rollback()
                return self.nothing(preview, skipped)
            summary = undone_spec.undone(event_id, preview, changed)
            new = audit.record(
                session, actor=ctx.actor, action="undo", targets=changed,
                reason=reason or f"undo of event {event_id} ({action})",
                before={i: preview.changes[i]["before"] for i in changed},
                after={i: preview.changes[i]["after"] for i in changed},
                result=summary.result, undoes=event_id, at=now,
            )
            new_id = new.id
            session.commit()
        return Result("undo", changed, skipped, new_id, summary.message + skip_suffix(skipped), preview=preview)


def _refuse_if_undone(session, event_id: int) -> None:
    undo = session.exec(select(AuditEvent.id).where(AuditEvent.undoes == event_id).limit(1)).first()
    if undo is not None:
        raise UserError(f"audit event {event_id} was already undone (by event {undo})")


SPEC = Undo()
