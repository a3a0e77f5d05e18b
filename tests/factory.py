"""Build rows directly (for metric and classification tests whose numbers are computed by hand)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from synconsole.core.changes import Booking
from synconsole.core.classify import fingerprint, host_key
from synconsole.core.models import (
    FAILED,
    Appointment,
    Customer,
    Staff,
    SyncAttempt,
)


def staff(session: Session, id: str, *, username: str | None = "fabian", user_id: int | None = None,
          event_type_id: int | None = 101, active: bool = True, **kw: Any) -> Staff:
    s = Staff(id=id, name=kw.pop("name", f"Staff {id}"), calcom_username=username, calcom_user_id=user_id,
              host_key=host_key(username, user_id), event_type_id=event_type_id, active=active, **kw)
    session.add(s)
    session.flush()
    return s


def customer(session: Session, id: str, *, email: str | None = "a@example.com", phone: str | None = None,
             **kw: Any) -> Customer:
    c = Customer(id=id, name=kw.pop("name", f"Customer {id}"), email=email, phone=phone, **kw)
    session.add(c)
    session.flush()
    return c


def appointment(session: Session, id: str, *, start: datetime, customer_id: str = "c1",
                staff_id: str | None = "s1", minutes: int = 30, **kw: Any) -> Appointment:
    kw.setdefault("queued_at", kw.get("created_at", start - timedelta(days=3)))
    kw.setdefault("created_at", kw["queued_at"])
    if kw.get("booking_uid") and kw.get("sync_state") not in ("cancelled", "skipped"):
        # a booking as synconsole knows it (what the 0003 migration gives rows booked before it)
        kw.setdefault("booked", Booking(uid=kw["booking_uid"], start=start, staff_id=staff_id,
                                        customer_id=customer_id).to_json())
    a = Appointment(id=id, customer_id=customer_id, staff_id=staff_id, start_at=start,
                    end_at=start + timedelta(minutes=minutes), duration_minutes=minutes, **kw)
    session.add(a)
    session.flush()
    return a


def failed(session: Session, id: str, *, category: str, first_failed_at: datetime, start: datetime,
           message: str = "boom", http_status: int | None = 400, **kw: Any) -> Appointment:
    a = appointment(session, id, start=start, sync_state=FAILED, category=category,
                    fingerprint=fingerprint(category, http_status, message), first_failed_at=first_failed_at,
                    last_error=message, last_http_status=http_status, attempts=kw.pop("attempts", 1), **kw)
    return a


def attempt(session: Session, appointment_id: str, *, at: datetime, outcome: str, status: int | None = None,
            category: str | None = None, message: str | None = None, body: str | None = None,
            code: str | None = None) -> SyncAttempt:
    s = SyncAttempt(appointment_id=appointment_id, at=at, outcome=outcome, http_status=status, category=category,
                    error_message=message, error_body=body, error_code=code, worker="test")
    session.add(s)
    session.flush()
    return s
