"""Free slots from Cal.com for an appointment (the detail pane and the reschedule picker)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from synconsole.core import clock
from synconsole.core.classify import event_type_for
from synconsole.core.models import Appointment, Customer, Staff

DAYS = 7
MAX_SLOTS = 12


def _context(db, appointment_id: str):
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


async def free_slots(app, appointment_id: str) -> tuple[list[datetime], str]:
    """Up to a dozen free starts in the next week, from the appointment's day (or now) on."""
    appt, event_type, zone = await asyncio.to_thread(_context, app.db, appointment_id)
    client = app.client
    if client is None:
        raise LookupError("no Cal.com API key configured")
    start = max(clock.now(), appt.start_at - timedelta(hours=12))
    days = await client.get_slots(event_type, start, start + timedelta(days=DAYS), time_zone=zone)
    found: list[datetime] = []
    for day in sorted(days):
        for slot in days[day]:
            value = slot.get("start") if isinstance(slot, dict) else slot
            try:
                found.append(clock.parse_utc(value))
            except (TypeError, ValueError):
                continue
    found = sorted(s for s in found if s > clock.now())
    return found[:MAX_SLOTS], zone
