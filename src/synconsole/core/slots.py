"""Free slots from Cal.com: one reading of its slots answer, for the pre-flight availability check,
the console's detail pane and reschedule picker, and the HTTP pre-booking check."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from synconsole.core import clock
from synconsole.core.classify import event_type_for
from synconsole.core.db import Database
from synconsole.core.models import Appointment, Customer, Staff

DAYS = 7
MAX_SLOTS = 12


def slot_starts(by_day: dict[str, Any]) -> list[datetime]:
    """Every start in a slots answer (``{day: [{"start": …}, …]}``, or bare start strings), in order;
    a slot that is not a time is skipped."""
    found: list[datetime] = []
    for day in sorted(by_day):
        for slot in by_day[day] or ():
            value = slot.get("start") if isinstance(slot, dict) else slot
            try:
                found.append(clock.parse_utc(str(value)))
            except (TypeError, ValueError):
                continue
    return sorted(found)


def _context(db: Database, appointment_id: str):
    with db.session() as session:
        appt = session.get(Appointment, appointment_id)
        if appt is None:
            raise LookupError(f"appointment {appointment_id} not found")
        staff = session.get(Staff, appt.staff_id) if appt.staff_id else None
        customer = session.get(Customer, appt.customer_id)
    if staff is None:
        raise LookupError("no staff assigned: assign one first (a)")
    event_type = event_type_for(staff, appt.service)
    if event_type is None:
        raise LookupError(f"staff {staff.id} has no Cal.com event type")
    zone = appt.time_zone or (customer.time_zone if customer else None) or staff.time_zone or "UTC"
    return appt, event_type, zone


async def free_slots(db: Database, client, appointment_id: str) -> tuple[list[datetime], str]:
    """Up to a dozen free starts in the next week, from the appointment's day (or now) on, and the
    time zone to show them in."""
    import asyncio

    appt, event_type, zone = await asyncio.to_thread(_context, db, appointment_id)
    if client is None:
        raise LookupError("no Cal.com API key configured")
    start = max(clock.now(), appt.start_at - timedelta(hours=12))
    days = await client.get_slots(event_type, start, start + timedelta(days=DAYS), time_zone=zone)
    found = [s for s in slot_starts(days) if s > clock.now()]
    return found[:MAX_SLOTS], zone
