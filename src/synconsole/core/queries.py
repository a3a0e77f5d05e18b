"""Read models for ``list`` and ``show``: the JSON shapes of contract.md."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from synconsole.core import audit, clock
from synconsole.core.categories import CATEGORIES
from synconsole.core.pii import mask_email, mask_phone, mask_text, masked
from synconsole.core.models import QUEUED_STATES, SYNC_STATES, Appointment, Customer, Staff, SyncAttempt
from synconsole.errors import NotFoundError, UsageError

ERROR_EXCERPT = 300


def excerpt(text: str | None, limit: int = ERROR_EXCERPT, *, reveal: bool = False) -> str | None:
    """One line of at most ``limit`` characters, emails and phones masked unless ``reveal``.
    Only the head is read; the token cut at its end is dropped, so no half email escapes the mask."""
    if text is None:
        return None
    head = text[: limit * 8]
    if len(head) < len(text):
        head = head.rsplit(None, 1)[0] if len(head.split(None, 1)) > 1 else head
    one_line = " ".join(head.split())
    if not reveal:
        one_line = mask_text(one_line) or ""
    return one_line if len(one_line) <= limit and len(head) == len(text) else one_line[: limit - 1] + "…"


def appointment_json(a: Appointment, *, reveal: bool = False) -> dict[str, Any]:
    """An appointment for ``list``: free text (error excerpt, note) masked unless ``reveal``."""
    return {
        "id": a.id,
        "status": a.status,
        "sync_state": a.sync_state,
        "category": a.category,
        "customer_id": a.customer_id,
        "staff_id": a.staff_id,
        "start": clock.iso(a.start_at),
        "booking_uid": a.booking_uid,
        "attempts": a.attempts,
        "last_error": excerpt(a.last_error, reveal=reveal),
        "end": clock.iso(a.end_at),
        "duration_minutes": a.duration_minutes,
        "service": a.service,
        "time_zone": a.time_zone,
        "sync_op": a.sync_op,
        "fingerprint": a.fingerprint,
        "last_http_status": a.last_http_status,
        "first_failed_at": clock.iso(a.first_failed_at),
        "last_attempt_at": clock.iso(a.last_attempt_at),
        "next_retry_at": clock.iso(a.next_retry_at),
        "snoozed_until": clock.iso(a.snoozed_until),
        "note": a.note if reveal else mask_text(a.note),
        "created_at": clock.iso(a.created_at),
        "updated_at": clock.iso(a.updated_at),
        "version": a.version,
        "drift": a.drift,
        "needs_lookup": a.needs_lookup,
    }


def list_appointments(
    session: Session,
    *,
    state: str | None = None,
    category: str | None = None,
    staff_id: str | None = None,
    drift: bool = False,
    condition=None,
    limit: int = 50,
) -> list[Appointment]:
    """Appointments by start time; ``condition`` is an extra SQL filter (``list --filter``)."""
    a = Appointment
    stmt = select(a)
    if condition is not None:
        stmt = stmt.where(condition)
    if state:
        if state == "queued":
            stmt = stmt.where(a.sync_state.in_(QUEUED_STATES))
        elif state not in SYNC_STATES:
            raise UsageError(f"--state: expected one of {', '.join(SYNC_STATES)}, queued; got {state!r}")
        else:
            stmt = stmt.where(a.sync_state == state)
    if category:
        if category not in CATEGORIES:
            raise UsageError(f"--category: expected one of {', '.join(CATEGORIES)}; got {category!r}")
        stmt = stmt.where(a.category == category)
    if staff_id:
        stmt = stmt.where(a.staff_id == staff_id)
    if drift:
        stmt = stmt.where(a.drift.is_not(None))
    stmt = stmt.order_by(a.start_at, a.id).limit(limit)
    return list(session.exec(stmt))


def get_appointment(session: Session, appointment_id: str) -> Appointment:
    appt = session.get(Appointment, appointment_id)
    if appt is None:
        raise NotFoundError(f"appointment {appointment_id!r} not found")
    return appt


def attempts_of(session: Session, appointment_id: str) -> list[SyncAttempt]:
    stmt = select(SyncAttempt).where(SyncAttempt.appointment_id == appointment_id).order_by(SyncAttempt.id)
    return list(session.exec(stmt))


def attempt_json(s: SyncAttempt) -> dict[str, Any]:
    return {
        "at": clock.iso(s.at),
        "http_status": s.http_status,
        "outcome": s.outcome,
        "error": s.error_body if s.error_body is not None else s.error_message,
        "error_code": s.error_code,
        "message": s.error_message,
        "category": s.category,
        "operation": s.operation,
        "worker": s.worker,
        "duration_ms": s.duration_ms,
        "request": s.request_summary,
        "booking_uid": s.booking_uid,
    }


def customer_json(c: Customer | None, *, reveal: bool = False) -> dict[str, Any] | None:
    if c is None:
        return None
    return {
        "id": c.id,
        "name": c.name,
        "email": c.email if reveal else mask_email(c.email),
        "phone": c.phone if reveal else mask_phone(c.phone),
        "time_zone": c.time_zone,
    }


def calcom_booking_json(data: dict | None, *, reveal: bool = False) -> dict[str, Any] | None:
    """A booking as synconsole knows it (``Appointment.booked`` / ``sent``), attendee masked."""
    if not data:
        return None
    out = dict(data)
    if not reveal:
        out["email"], out["phone"] = mask_email(out.get("email")), mask_phone(out.get("phone"))
    return {k: v for k, v in out.items() if v is not None}


def staff_json(s: Staff | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {
        "id": s.id,
        "name": s.name,
        "calcom_username": s.calcom_username,
        "calcom_user_id": s.calcom_user_id,
        "event_type_id": s.event_type_id,
        "event_type_ids": s.event_type_ids,
        "active": s.active,
    }


def active_staff(session: Session) -> list[Staff]:
    """The staff an appointment can be assigned to, by name."""
    return list(session.exec(select(Staff).where(Staff.active.is_(True)).order_by(Staff.name, Staff.id)))


def show_appointment(session: Session, appointment_id: str, *, reveal: bool = False) -> dict[str, Any]:
    """One appointment for ``show`` and the console's detail: every text in it (the whole last error,
    each attempt's error body, audit reasons and notes) masked unless ``reveal``."""
    appt = get_appointment(session, appointment_id)
    doc = appointment_json(appt, reveal=True)
    doc["last_error"] = appt.last_error  # show: the whole thing
    doc["customer"] = customer_json(session.get(Customer, appt.customer_id), reveal=reveal)
    doc["staff"] = staff_json(session.get(Staff, appt.staff_id)) if appt.staff_id else None
    category = CATEGORIES.get(appt.category or "")
    doc["remediation"] = category.recommendation if category and appt.sync_state == "failed" else None
    doc["booked"] = calcom_booking_json(appt.booked, reveal=reveal)
    doc["in_doubt"] = None
    if appt.needs_lookup:
        sent = appt.sent or {}
        doc["in_doubt"] = {"op": sent.get("op", appt.sync_op), "uid": sent.get("uid"),
                           "booking": calcom_booking_json(sent.get("booking"), reveal=reveal)}
    doc["attempts_detail"] = [attempt_json(s) for s in attempts_of(session, appointment_id)]
    doc["audit"] = [audit.to_json(e, appointment_id=appointment_id) for e in audit.for_appointment(session, appointment_id)]
    return masked(doc, reveal=reveal)
