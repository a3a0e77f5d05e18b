"""The audit log: append-only events with who, what, on which appointments, before/after, result."""

from __future__ import annotations

import getpass
import socket
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable

import sqlalchemy as sa
from sqlmodel import Session, select

from synconsole.core import clock
from synconsole.core.models import AuditEvent, AuditTarget
from synconsole.core.pii import mask_doc
from synconsole.core.scrub import remove_secrets, scrub_text, settings_secrets

if TYPE_CHECKING:
    from synconsole.config import Settings


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


# --- browsing ----------------------------------------------------------------------------------


def audit_events(session: Session, *, since: datetime | None = None, actor: str | None = None,
                 action: str | None = None, limit: int | None = None) -> tuple[list[AuditEvent], int]:
    """The newest ``limit`` matching events, oldest first, and how many match in all."""
    e = AuditEvent
    conds = []
    if since is not None:
        conds.append(e.at >= since)
    if actor is not None:
        conds.append(e.actor == actor)
    if action is not None:
        conds.append(e.action == action)
    total = int(session.execute(sa.select(sa.func.count()).select_from(e).where(*conds)).scalar_one())
    stmt = select(e).where(*conds).order_by(e.id.desc())
    if limit is not None:
        stmt = stmt.limit(limit)
    events = list(session.exec(stmt))
    events.reverse()
    return events, total


def audit_json(event: AuditEvent, settings: Settings, *, reveal: bool = False) -> dict[str, Any]:
    """One event for ``audit --json``: emails and phones masked unless ``reveal``; never a secret."""
    doc = to_json(event)
    secrets = settings_secrets(settings)
    if not reveal:
        for key in ("reason", "result"):
            doc[key] = scrub_text(doc[key], secrets)
        doc["before"] = mask_doc(doc["before"])
        doc["after"] = mask_doc(doc["after"])
    return remove_secrets(doc, secrets)


def audit_line(doc: dict[str, Any], *, max_ids: int = 8) -> str:
    """One event as a line: id, time, actor, action, targets, result, reason."""
    targets = [str(t) for t in doc.get("targets") or []]
    shown = ", ".join(targets[:max_ids]) + (f" … +{len(targets) - max_ids}" if len(targets) > max_ids else "")
    parts = [f"{doc['id']:>5}", doc["at"], doc["actor"], doc["action"]]
    if targets:
        parts.append(f"[{shown}]")
    elif isinstance(doc.get("after"), dict) and doc["after"].get("job"):
        parts.append(f"[job {doc['after']['job']}]")
    if doc.get("result"):
        parts.append(str(doc["result"]))
    line = "  ".join(parts)
    if doc.get("undoes") is not None:
        line += f"  (undoes {doc['undoes']})"
    if doc.get("reason"):
        line += f"  reason: {doc['reason']}"
    return line
