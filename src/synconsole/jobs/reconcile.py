"""The reconcile job: do our booked appointments still match Cal.com?

A booking cancelled or moved in Cal.com (by the host, the attendee, or an admin) is flagged as
drift on the appointment, audited and alerted; it is never overwritten from here, because the
change in Cal.com may be the right one. A booking that matches again clears its flag.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import select

from synconsole.calcom.client import CalcomClient
from synconsole.calcom.errors import CalcomError
from synconsole.core import audit, clock
from synconsole.core.db import Database
from synconsole.core.logsetup import log
from synconsole.core.models import SCHEDULED, SYNCED, Appointment

logger = logging.getLogger("synconsole.reconcile")
HORIZON = timedelta(days=90)
MAX_SINGLE_LOOKUPS = 200


@dataclass
class ReconcileReport:
    checked: int = 0
    drifted: dict[str, str] = field(default_factory=dict)
    cleared: list[str] = field(default_factory=list)
    unknown: int = 0

    def summary(self) -> str:
        text = f"{self.checked} booked appointments checked, {len(self.drifted)} drifted, {len(self.cleared)} cleared"
        return text + (f", {self.unknown} not checked (lookup limit)" if self.unknown else "")


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return clock.parse_utc(value)
    except ValueError:
        return None


def compare(appt: Appointment, booking: dict | None) -> str | None:
    """Why the booking no longer matches the appointment, or None if it does."""
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
    start = _parse(booking.get("start"))
    if start is not None and start != appt.start_at:
        return f"booking {appt.booking_uid} starts at {clock.iso(start)} in Cal.com, here at {clock.iso(appt.start_at)}"
    return None


async def reconcile(db: Database, client: CalcomClient, *, actor: str, now: datetime | None = None) -> ReconcileReport:
    now = now or clock.now()
    until = now + HORIZON
    import asyncio

    def load() -> list[Appointment]:
        with db.session() as session:
            a = Appointment
            return list(session.exec(select(a).where(
                a.status == SCHEDULED, a.sync_state == SYNCED, a.booking_uid.is_not(None),
                a.start_at >= now, a.start_at < until)))

    appts = await asyncio.to_thread(load)
    report = ReconcileReport(checked=len(appts))
    if not appts:
        return report
    seen: dict[str, dict] = {}
    async for booking in client.iter_bookings(take=250, after_start=now - timedelta(days=1), before_end=until + timedelta(days=1)):
        seen[booking["uid"]] = booking
    lookups = 0
    findings: dict[str, str | None] = {}
    for appt in appts:
        booking = seen.get(appt.booking_uid)
        if booking is None:
            if lookups >= MAX_SINGLE_LOOKUPS:
                report.unknown += 1
                continue
            lookups += 1
            try:
                booking = await client.get_booking(appt.booking_uid)
            except CalcomError as err:
                if err.status not in (404, 500):  # Cal.com answers an unknown uid with 404 or a bare 500
                    raise
                booking = None
        findings[appt.id] = compare(appt, booking)
    await asyncio.to_thread(_store, db, appts, findings, report, actor, now)
    return report


def _store(db: Database, appts: list[Appointment], findings: dict[str, str | None], report: ReconcileReport,
           actor: str, now: datetime) -> None:
    t = Appointment.__table__
    with db.write() as session:
        for appt in appts:
            if appt.id not in findings:
                continue
            finding = findings[appt.id]
            if finding == appt.drift:
                continue
            result = session.execute(sa.update(t).where(t.c.id == appt.id, t.c.version == appt.version)
                                     .values(drift=finding, updated_at=now, version=t.c.version + 1))
            if result.rowcount != 1:
                continue
            if finding is None:
                report.cleared.append(appt.id)
            else:
                report.drifted[appt.id] = finding
        if report.drifted:
            audit.record(session, actor=actor, action="reconcile_drift", targets=list(report.drifted),
                         reason="Cal.com no longer matches; left as it is there, for a human to decide",
                         after={k: {"drift": v} for k, v in report.drifted.items()},
                         result=f"{len(report.drifted)} drifted", at=now)
        if report.cleared:
            audit.record(session, actor=actor, action="reconcile_cleared", targets=report.cleared,
                         reason="Cal.com matches again", result=f"{len(report.cleared)} cleared", at=now)
        session.commit()
    for appt_id, finding in report.drifted.items():
        log(logger, logging.WARNING, "booking drift", appointment=appt_id, drift=finding)
