"""The reconcile job: does Cal.com still hold what synconsole thinks it holds?

A booking cancelled or moved in Cal.com (by the host, the attendee, or an admin) is flagged as
drift on the appointment, audited and alerted; it is never overwritten from here, because the
change in Cal.com may be the right one. A booking that matches again clears its flag.

A cancelled appointment whose booking is still active in Cal.com (a cancellation that never got
there) is flagged too, and what synconsole knows of Cal.com is corrected: the booking is live, so
the sync cancels it there (``changes.requeue``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import select

from synconsole.calcom.client import CalcomClient
from synconsole.calcom.errors import CalcomError
from synconsole.core import busy, clock, drift, queue
from synconsole.core.changes import Booking
from synconsole.core.db import Database
from synconsole.core.logsetup import log
from synconsole.core.models import CANCELLED, SCHEDULED, STATUS_CANCELLED, SYNCED, Appointment

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


_parse = drift.parse_time
compare = drift.compare  # the one rule, in core (the webhook receiver uses it too)


async def reconcile(db: Database, client: CalcomClient, *, actor: str, now: datetime | None = None,
                    account: str | None = None) -> ReconcileReport:
    """``account``: only the appointments of that Cal.com account (``client`` is its client)."""
    now = now or clock.now()
    until = now + HORIZON
    import asyncio

    def load() -> tuple[list[Appointment], bool]:
        with db.session() as session:
            a = Appointment
            ahead = [a.start_at >= now, a.start_at < until]
            if account is not None:
                ahead.append(queue.account_condition(account))
            booked = sa.and_(a.status == SCHEDULED, a.sync_state == SYNCED)
            cancelled = sa.and_(a.status == STATUS_CANCELLED, a.sync_state == CANCELLED)
            appts = list(session.exec(select(a).where(sa.or_(booked, cancelled), a.booking_uid.is_not(None), *ahead)))
            # appointments still to be booked need their hosts' foreign bookings (busy blocks) too
            waiting = bool(appts) or session.execute(
                sa.select(a.id).where(a.status == SCHEDULED, *ahead).limit(1)).first() is not None
            return appts, waiting

    appts, waiting = await asyncio.to_thread(load)
    report = ReconcileReport(checked=len(appts))
    if not waiting:
        return report
    seen: dict[str, dict] = {}
    async for booking in client.iter_bookings(take=250, after_start=now - timedelta(days=1), before_end=until + timedelta(days=1)):
        seen[booking["uid"]] = booking
    lookups = 0
    findings: dict[str, str | None] = {}
    live: dict[str, Booking] = {}  # cancelled here, still active there
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
                if err.status not in (404, 500):  # an unknown uid: 404 (a bare 500 from proxies or old versions)
                    raise
                booking = None
        findings[appt.id] = compare(appt, booking)
        if appt.status == STATUS_CANCELLED and findings[appt.id]:
            live[appt.id] = Booking(uid=appt.booking_uid, start=_parse(booking.get("start")) or appt.start_at)
    await asyncio.to_thread(_store, db, appts, findings, live, report, actor, now, list(seen.values()))
    return report


def _store(db: Database, appts: list[Appointment], findings: dict[str, str | None], live: dict[str, Booking],
           report: ReconcileReport, actor: str, now: datetime, listed: list[dict] = ()) -> None:
    with db.write() as session:
        stored = drift.store(session, appts, findings, live, actor=actor, now=now)
        busy.from_listed(session, listed)  # bookings others made: busy blocks, for hosts without webhooks
        session.commit()
    report.drifted.update(stored.drifted)
    report.cleared.extend(stored.cleared)
    for appt_id, finding in report.drifted.items():
        log(logger, logging.WARNING, "booking drift", appointment=appt_id, drift=finding)
