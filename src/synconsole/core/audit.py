"""The audit log: append-only events with who, what, on which appointments, before/after, result."""

from __future__ import annotations

import getpass
import socket
from datetime import datetime
from typing import Any, Iterable

import sqlalchemy as sa
from sqlmodel import Session, select

from synconsole.core import clock
from synconsole.core.models import AuditEvent, AuditTarget


def os_actor() -> str:
    """``user@host`` of whoever runs this process."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def job_actor(job: str) -> str:
    return f"job:{job}"


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    targets: Iterable[str] = (),
    reason: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    result: str = "ok",
    undoes: int | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    ids = list(dict.fromkeys(targets))
    event = AuditEvent(
        at=at or clock.now(), actor=actor, action=action, targets=ids, reason=reason,
        before=before, after=after, result=result, undoes=undoes,
    )
    session.add(event)
    session.flush()
    if ids:
        session.execute(
            sa.insert(AuditTarget), [{"event_id": event.id, "appointment_id": i} for i in ids]
        )
    return event


def for_appointment(session: Session, appointment_id: str) -> list[AuditEvent]:
    stmt = (
        select(AuditEvent)
        .join(AuditTarget, AuditTarget.event_id == AuditEvent.id)
        .where(AuditTarget.appointment_id == appointment_id)
        .order_by(AuditEvent.id)
    )
    return list(session.exec(stmt))


def to_json(event: AuditEvent, *, appointment_id: str | None = None) -> dict[str, Any]:
    """One event as JSON; with ``appointment_id``, before/after narrowed to that appointment."""
    before, after = event.before, event.after
    if appointment_id is not None:
        before = _narrow(before, appointment_id)
        after = _narrow(after, appointment_id)
    return {
        "id": event.id,
        "at": clock.iso(event.at),
        "actor": event.actor,
        "action": event.action,
        "targets": event.targets or [],
        "reason": event.reason,
        "before": before,
        "after": after,
        "result": event.result,
        "undoes": event.undoes,
    }


def _narrow(value: dict[str, Any] | None, appointment_id: str) -> Any:
    if isinstance(value, dict) and appointment_id in value and isinstance(value[appointment_id], dict):
        return value[appointment_id]
    return value
