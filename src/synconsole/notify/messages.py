"""The words of a notification: what fired, how much, where to look, how to acknowledge.
PII (emails, phones) is masked: a message leaves the building."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select

from synconsole.core.models import Appointment
from synconsole.core.scrub import scrub_text

FIRED, ESCALATED, RESOLVED, TEST = "fired", "escalated", "resolved", "test"
TOP = 3
#: the exact command that shows what an alert is about
LOOK = {
    "stuck_pending": 'synconsole list --filter "state:pending"',
    "outage": 'synconsole list --filter "state:retry_scheduled"',
    "ancient_actionable": 'synconsole list --filter "state:failed age:>24h"',
    "low_success_rate": 'synconsole list --filter "state:failed age:<24h"',
    "booking_drift": 'synconsole list --filter "drift:yes"',
    "auth_failure": "synconsole doctor",
    "log_fallback": "synconsole doctor",
    "rate_limit_pressure": "synconsole jobs",
    "source_down": "synconsole doctor",
}


@dataclass(frozen=True)
class Message:
    title: str
    body: str


def top_categories(session: Session, limit: int = TOP) -> list[tuple[str, int, list[str]]]:
    """The failed appointments' biggest categories, each with up to three appointment ids."""
    counts = session.exec(
        select(Appointment.category, sa.func.count()).where(Appointment.sync_state == "failed")
        .group_by(Appointment.category).order_by(sa.func.count().desc(), Appointment.category).limit(limit)).all()
    out = []
    for category, count in counts:
        ids = session.exec(select(Appointment.id).where(Appointment.sync_state == "failed",
                                                        Appointment.category == category)
                           .order_by(Appointment.id).limit(3)).all()
        out.append((category or "unknown", int(count), list(ids)))
    return out


def compose(kind: str, *, alert_id: str, severity: str, count: int, message: str,
            categories: list[tuple[str, int, list[str]]], minutes: float | None = None) -> Message:
    """``minutes``: how long it has been active (escalated) or was active (resolved)."""
    level = severity.upper()
    if kind == RESOLVED:
        title = f"[synconsole] RESOLVED {alert_id} after {_minutes(minutes)}"
    elif kind == ESCALATED:
        title = f"[synconsole] {level} {alert_id} still active, unacknowledged for {_minutes(minutes)}"
    else:
        title = f"[synconsole] {level} {alert_id} ({count})"
    lines = [scrub_text(message), f"count: {count}"]
    if kind == RESOLVED:
        lines.append(f"resolved after {_minutes(minutes)}")
    if categories and kind != RESOLVED:
        lines.append("top categories of failed appointments: " + "; ".join(
            f"{c} {n} (e.g. {', '.join(ids)})" for c, n, ids in categories))
    if kind != RESOLVED:
        look = LOOK.get(alert_id) or (f'synconsole list --filter "category:{categories[0][0]}"' if categories
                                      else "synconsole status")
        lines.append(f"look: {look}")
    lines.append("alerts: synconsole alerts (console: !)")
    if kind != RESOLVED:
        lines.append(f'acknowledge (stops escalation): synconsole alerts ack {alert_id} --note "…"')
    return Message(title=scrub_text(title), body="\n".join(lines))


def _minutes(value: float | None) -> str:
    """``12 min``; under a minute in seconds (``after 0 min`` tells the on-call engineer nothing)."""
    minutes = max(0.0, value or 0.0)
    if minutes < 1:
        return f"{round(minutes * 60)} s"
    return f"{round(minutes)} min"
