"""Drift: a booking in Cal.com that no longer matches its appointment (cancelled, moved, rejected
there, or still live there after a cancellation here). The one rule (:func:`compare`) and the one
way a finding is stored (:func:`store`), for the reconcile job (which polls Cal.com) and the
webhook receiver (which Cal.com pushes to).

A drifted booking is flagged, audited and alerted (``booking_drift``, computed from the flag); it
is never overwritten from here, because the change in Cal.com may be the right one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from synconsole.core import audit, changes, clock
from synconsole.core.changes import Booking
from synconsole.core.models import STATUS_CANCELLED, Appointment


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return clock.parse_utc(value)
    except ValueError:
        return None


def compare(appt: Appointment, booking: dict | None) -> str | None:
    """Why ``booking`` (Cal.com's API v2 shape: status, start, rescheduledToUid, cancellationReason)
    no longer matches the appointment, or None if it does."""
    if appt.status == STATUS_CANCELLED:
        if booking is not None and booking.get("status") in ("accepted", "pending"):
            return (f"booking {appt.booking_uid} is still active in Cal.com although the appointment is cancelled: "
                    "queued to cancel it there")
        return None
    if booking is None:
        return f"booking {appt.booking_uid} not found in Cal.com"
    status = booking.get("status")
    if status == "cancelled":
        moved_to = booking.get("rescheduledToUid")
        if moved_to:
            return f"booking {appt.booking_uid} was rescheduled in Cal.com to booking {moved_to}"
        reason = booking.get("cancellationReason")
        return f"booking {appt.booking_uid} was cancelled in Cal.com" + (f" ({reason})" if reason else "")
    if status == "rejected":
        return f"booking {appt.booking_uid} was rejected in Cal.com"
    start = parse_time(booking.get("start"))
    known = changes.booked_of(appt)
    expected = known.start if known is not None else appt.start_at
    if start is not None and start != expected:
        return f"booking {appt.booking_uid} starts at {clock.iso(start)} in Cal.com, here at {clock.iso(expected)}"
    return None


@dataclass
class Stored:
    drifted: dict[str, str] = field(default_factory=dict)
    cleared: list[str] = field(default_factory=list)


def store(session: Session, appts: list[Appointment], findings: dict[str, str | None], live: dict[str, Booking],
          *, actor: str, now: datetime, source: str = "reconcile") -> Stored:
    """Write the findings on ``session`` (the caller commits): each changed flag under the row's
    version (a row changed meanwhile is left for the next look), then one audit event for the
    drifted and one for the cleared. ``live``: cancelled here, still active there; its booking is
    recorded and the appointment queued to cancel it in Cal.com. ``source`` names the audit
    actions (``reconcile_drift``, ``webhook_drift``)."""
    t = Appointment.__table__
    out = Stored()
    for appt in appts:
        if appt.id not in findings:
            continue
        finding = findings[appt.id]
        if finding == appt.drift:
            continue
        values = dict(drift=finding, updated_at=now, version=t.c.version + 1)
        if appt.id in live:
            values["booked"] = live[appt.id].to_json()
        result = session.execute(sa.update(t).where(t.c.id == appt.id, t.c.version == appt.version)
                                 .values(**values))
        if result.rowcount != 1:
            continue
        if appt.id in live:
            changes.requeue(session.connection(), [appt.id], now=now)
        if finding is None:
            out.cleared.append(appt.id)
        else:
            out.drifted[appt.id] = finding
    if out.drifted:
        audit.record(session, actor=actor, action=f"{source}_drift", targets=list(out.drifted),
                     reason="Cal.com no longer matches; left as it is there, for a human to decide",
                     after={k: {"drift": v} for k, v in out.drifted.items()},
                     result=f"{len(out.drifted)} drifted", at=now)
    if out.cleared:
        audit.record(session, actor=actor, action=f"{source}_cleared", targets=out.cleared,
                     reason="Cal.com matches again", result=f"{len(out.cleared)} cleared", at=now)
    return out
