"""The alert history: when each alert fired, when it resolved, who acknowledged it.

The alerts job (and the event alerts, like ``log_fallback``) write one row per transition into
``alert_events``; a person acknowledges an active alert with a note. Nothing here is computed from
the current data: an outage that fired and cleared while nobody looked is still on record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from synconsole.core import audit, clock
from synconsole.core.db import Database
from synconsole.core.models import AlertEvent, AlertState
from synconsole.errors import NotFoundError, UsageError

FIRED = "fired"
RESOLVED = "resolved"
ACKNOWLEDGED = "acknowledged"


def accounts_of(event: AlertEvent | None) -> tuple[str, ...]:
    """The Cal.com accounts an alert event is about (none: it is about every account)."""
    return tuple(a for a in (event.accounts or "").split(",") if a) if event is not None else ()


def record(session: Session, alert_id: str, kind: str, *, severity: str, count: int = 0, message: str = "",
           actor: str | None = None, note: str | None = None, at: datetime | None = None,
           accounts: tuple[str, ...] = ()) -> AlertEvent:
    event = AlertEvent(alert_id=alert_id, kind=kind, severity=severity, count=count, message=message or "",
                       actor=actor, note=note, at=at or clock.now(), accounts=",".join(accounts) or None)
    session.add(event)
    return event


@dataclass(frozen=True)
class Episode:
    """One alert from firing to resolving (``resolved_at`` None: still active)."""

    alert_id: str
    severity: str
    fired_at: datetime
    resolved_at: datetime | None
    message: str
    count: int
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    note: str | None = None

    @property
    def active(self) -> bool:
        return self.resolved_at is None

    def to_json(self) -> dict[str, Any]:
        return {"alert": self.alert_id, "severity": self.severity, "fired_at": clock.iso(self.fired_at),
                "resolved_at": clock.iso(self.resolved_at), "active": self.active, "message": self.message,
                "count": self.count, "acknowledged_by": self.acknowledged_by,
                "acknowledged_at": clock.iso(self.acknowledged_at), "note": self.note}


def episodes(session: Session, *, limit: int = 100) -> list[Episode]:
    """The newest ``limit`` episodes, newest first: each fired event with its resolution and its
    latest acknowledgement."""
    newest = select(AlertEvent).order_by(AlertEvent.id.desc()).limit(limit * 3 + 50)  # transitions are few
    events = list(session.exec(newest))[::-1]
    open_: dict[str, dict[str, Any]] = {}
    done: list[dict[str, Any]] = []
    for e in events:
        if e.kind == FIRED:
            if e.alert_id in open_:  # fired twice without a resolution in between: close the first
                done.append(open_.pop(e.alert_id))
            open_[e.alert_id] = {"alert_id": e.alert_id, "severity": e.severity, "fired_at": e.at, "resolved_at": None,
                                 "message": e.message, "count": e.count}
        elif e.kind == RESOLVED and e.alert_id in open_:
            episode = open_.pop(e.alert_id)
            episode["resolved_at"] = e.at
            done.append(episode)
        elif e.kind == ACKNOWLEDGED and e.alert_id in open_:
            open_[e.alert_id].update(acknowledged_by=e.actor, acknowledged_at=e.at, note=e.note)
    done.extend(open_.values())
    done.sort(key=lambda d: d["fired_at"], reverse=True)
    return [Episode(**d) for d in done[:limit]]


def acknowledgements(session: Session) -> dict[str, Episode]:
    """Active alerts that someone acknowledged: alert id -> its episode."""
    return {e.alert_id: e for e in episodes(session, limit=1000) if e.active and e.acknowledged_by}


def acknowledge(db: Database, alert_id: str, *, actor: str, note: str) -> str:
    """A person has seen an active alert; audited. The alert stays active until its cause goes."""
    note = (note or "").strip()
    if not note:
        raise UsageError("acknowledging an alert needs a note (what you are doing about it)")
    with db.write() as session:
        state = session.get(AlertState, alert_id)
        if state is None or not state.active:
            raise NotFoundError(f"alert {alert_id!r} is not active: nothing to acknowledge")
        record(session, alert_id, ACKNOWLEDGED, severity=state.severity, count=state.count, message=state.message,
               actor=actor, note=note)
        audit.record(session, actor=actor, action="acknowledge_alert", reason=note,
                     before={"alert": alert_id, "acknowledged": False}, after={"alert": alert_id, "acknowledged": True},
                     result=f"{alert_id} acknowledged")
        session.commit()
    return f"{alert_id} acknowledged by {actor}: {note}"
