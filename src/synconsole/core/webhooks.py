"""Cal.com's webhooks, after the receiver checked the signature: record a delivery once, then
process it against the appointment it is about.

- A delivery is recorded under the SHA-256 of its raw body (:func:`record`): a redelivery of the
  same event finds its row and changes nothing.
- :func:`process_pending` matches each event to an appointment by ``metadata.synconsole_appointment_id``,
  else by booking uid (``uid``, or ``rescheduleUid`` for a move), and turns it into the booking
  shape the drift rule reads (:func:`synconsole.core.drift.compare`, the reconcile job's rule).
- Our own calls, echoed back, are recognised: the booking Cal.com reports is what synconsole
  sent or already knows (a cancel of a cancelled appointment, a move to the start we asked for, the
  create we made), or it is a booking the appointment no longer has (the old one of a rebook).
- A cancel made in Cal.com is drift; ``[server] on_calcom_cancel`` decides what follows: ``flag``
  (a human decides), ``rebook`` (the appointment is queued to be booked again) or
  ``cancel_locally`` (the appointment is cancelled here too). A move is always only flagged.
- A booking made in Cal.com by someone else (``BOOKING_CREATED`` without our metadata) is kept as a
  busy block of its host (``CalcomBusyBlock``), which pre-flight and ``/v1/check`` read; its cancel
  removes it, its move moves it.
- Other events for bookings synconsole does not know are counted (outcome ``unknown``) and ignored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from synconsole.core import audit, busy, changes, clock, drift
from synconsole.core.classify import host_key
from synconsole.core.db import Database
from synconsole.core.models import (
    OP_CANCEL,
    OP_CREATE,
    OP_RESCHEDULE,
    SCHEDULED,
    STATUS_CANCELLED,
    Appointment,
    WebhookEvent,
)

ACTOR = "calcom:webhook"
METADATA_KEY = "synconsole_appointment_id"
CANCELLED = "BOOKING_CANCELLED"
RESCHEDULED = "BOOKING_RESCHEDULED"
CREATED = "BOOKING_CREATED"
REJECTED = "BOOKING_REJECTED"
TRIGGERS = (CANCELLED, RESCHEDULED, CREATED, REJECTED)
ON_CANCEL = ("flag", "rebook", "cancel_locally")
#: what an event ended as (``pending`` until processed)
OUTCOMES = ("pending", "drift", "echo", "unknown", "ignored", "rebooked", "cancelled_locally", "busy",
            "busy_cleared")


class BadEvent(ValueError):
    """The body is not a Cal.com webhook event (the message says why)."""


def delivery_key(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _text(value: Any, limit: int = 255) -> str | None:
    if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()[:limit]
    return None


def summarize(event: Any) -> dict[str, Any]:
    """What processing needs of a parsed webhook body, and nothing of the attendee (no contact).
    Raises :class:`BadEvent` when it is not ``{triggerEvent, payload: {...}}``."""
    if not isinstance(event, dict):
        raise BadEvent("expected a JSON object {triggerEvent, createdAt, payload}")
    trigger = event.get("triggerEvent")
    if not isinstance(trigger, str) or not trigger.strip():
        raise BadEvent("triggerEvent: expected a string such as BOOKING_CANCELLED")
    payload = event.get("payload")
    if not isinstance(payload, dict):
        raise BadEvent("payload: expected an object")
    metadata = payload.get("metadata") if isinstance(payload.get("metadata"), dict) else {}
    organizer = payload.get("organizer") if isinstance(payload.get("organizer"), dict) else {}
    status = payload.get("status")
    return {
        "trigger": trigger.strip()[:64],
        "created_at": _text(event.get("createdAt"), 64),
        "uid": _text(payload.get("uid")),
        "reschedule_uid": _text(payload.get("rescheduleUid") or payload.get("fromReschedule")),
        "status": status.lower()[:32] if isinstance(status, str) else None,
        "start": _text(payload.get("startTime"), 64),
        "end": _text(payload.get("endTime"), 64),
        "reason": _text(payload.get("cancellationReason") or payload.get("rejectionReason"), 500),
        "appointment_id": _text(metadata.get(METADATA_KEY), 191),
        "host": _text(organizer.get("username"), 191),
        "event_type_id": payload.get("eventTypeId") if isinstance(payload.get("eventTypeId"), int) else None,
    }


@dataclass
class Recorded:
    id: int
    duplicate: bool


def record(db: Database, body: bytes, data: dict[str, Any], *, now: datetime | None = None) -> Recorded:
    """Record one delivery (pending); a second delivery of the same body is reported as duplicate."""
    key = delivery_key(body)
    now = now or clock.now()
    row = WebhookEvent(delivery_key=key, trigger=data["trigger"], booking_uid=data.get("uid"),
                       appointment_id=data.get("appointment_id"), received_at=now, data=data)
    try:
        with db.write() as session:
            session.add(row)
            session.commit()
            return Recorded(int(row.id), False)
    except IntegrityError:
        with db.session() as session:
            found = session.execute(sa.select(WebhookEvent.id).where(WebhookEvent.delivery_key == key)).scalar_one()
        return Recorded(int(found), True)


def process_pending(db: Database, *, on_cancel: str = "flag", limit: int = 500,
                    now: datetime | None = None) -> dict[str, int]:
    """Process the pending events in arrival order; returns outcome -> count. Each event is
    claimed and processed in one transaction, so two processes never process one event twice and a
    crash leaves it pending."""
    with db.session() as session:
        ids = list(session.execute(sa.select(WebhookEvent.id).where(WebhookEvent.outcome == "pending")
                                   .order_by(WebhookEvent.id).limit(limit)).scalars())
    counts: dict[str, int] = {}
    for event_id in ids:
        outcome = process_one(db, event_id, on_cancel=on_cancel, now=now or clock.now())
        if outcome is not None:
            counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def process_one(db: Database, event_id: int, *, on_cancel: str, now: datetime) -> str | None:
    t = WebhookEvent.__table__
    with db.write() as session:
        claimed = session.execute(sa.update(t).where(t.c.id == event_id, t.c.outcome == "pending")
                                  .values(outcome="processing"))
        if claimed.rowcount != 1:
            session.rollback()
            return None
        event = session.get(WebhookEvent, event_id)
        data = event.data or {}
        appt = _match(session, data)
        outcome, detail = _decide(session, appt, data, on_cancel=on_cancel, now=now)
        session.execute(sa.update(t).where(t.c.id == event_id).values(
            outcome=outcome, detail=detail, processed_at=now, appointment_id=appt.id if appt else None))
        session.commit()
    return outcome


def _match(session, data: dict[str, Any]) -> Appointment | None:
    if data.get("appointment_id"):
        appt = session.get(Appointment, data["appointment_id"])
        if appt is not None:
            return appt
    uids = [u for u in (data.get("uid"), data.get("reschedule_uid")) if u]
    if not uids:
        return None
    return session.execute(sa.select(Appointment).where(Appointment.booking_uid.in_(uids))
                           .order_by(Appointment.id).limit(1)).scalars().first()


def _booking_view(appt: Appointment, data: dict[str, Any]) -> dict[str, Any] | None:
    """The appointment's current booking as this event reports it (API v2 shape, as reconcile
    reads it), or None when the event is not about the appointment's current booking."""
    trigger, uid, old = data.get("trigger"), data.get("uid"), data.get("reschedule_uid")
    current = appt.booking_uid
    if trigger == RESCHEDULED and current and old == current and uid != current:
        return {"status": "cancelled", "rescheduledToUid": uid}  # moved there: a new booking took its place
    if not current or uid != current:
        return None
    if trigger == CANCELLED:
        return {"status": "cancelled", "cancellationReason": data.get("reason")}
    if trigger == REJECTED:
        return {"status": "rejected"}
    return {"status": data.get("status") or "accepted", "start": data.get("start")}


def _our_call(appt: Appointment, data: dict[str, Any]) -> bool:
    """The event echoes the call written down before it was sent (its answer may not be back yet)."""
    sent = appt.sent or {}
    op, trigger = sent.get("op"), data.get("trigger")
    if op == OP_CREATE and trigger == CREATED:
        return True
    if op == OP_CANCEL and trigger == CANCELLED and sent.get("uid") in (data.get("uid"), None):
        return True
    if op == OP_RESCHEDULE and trigger == RESCHEDULED and sent.get("uid") in (data.get("reschedule_uid"),
                                                                              data.get("uid")):
        asked = changes.Booking.from_json(sent.get("booking"))
        start = drift.parse_time(data.get("start"))
        return asked is None or start is None or asked.start == start
    return False


def _decide(session, appt: Appointment | None, data: dict[str, Any], *, on_cancel: str,
            now: datetime) -> tuple[str, str | None]:
    trigger = data.get("trigger")
    if trigger not in TRIGGERS:
        return "ignored", f"trigger {trigger} is not handled"
    if appt is None:
        return _foreign(session, data)
    if _our_call(appt, data):
        return "echo", "our own call, echoed back"
    booking = _booking_view(appt, data)
    if booking is None:
        if trigger == CREATED:
            return "echo", "a booking made for this appointment"
        return "ignored", "not the appointment's current booking"
    finding = drift.compare(appt, booking)
    if finding is None:
        return "echo", "Cal.com holds what synconsole knows"
    drift.store(session, [appt], {appt.id: finding}, {}, actor=ACTOR, now=now, source="webhook")
    cancelled_there = trigger in (CANCELLED, REJECTED) and appt.status == SCHEDULED
    if not cancelled_there or on_cancel == "flag":
        return "drift", finding
    return _follow_cancel(session, appt, on_cancel, finding, now), finding


def _foreign(session, data: dict[str, Any]) -> tuple[str, str | None]:
    """A booking no appointment has: a busy block of its host when someone else booked it."""
    trigger, uid, old = data.get("trigger"), data.get("uid"), data.get("reschedule_uid")
    blocks = busy.known(session, uid, old)
    if trigger in (CANCELLED, REJECTED) and uid in blocks:
        busy.drop(session, uid)
        return "busy_cleared", f"booking {uid} made in Cal.com was cancelled: its host is free again"
    foreign = not data.get("appointment_id")
    start, end = drift.parse_time(data.get("start")), drift.parse_time(data.get("end"))
    host = host_key(data.get("host"), None)
    moved = trigger == RESCHEDULED and old in blocks
    if foreign and uid and host and start and end and end > start and (trigger == CREATED or moved):
        if moved:
            busy.drop(session, old)
        busy.keep(session, uid, host, start, end)
        return "busy", f"booking {uid} made in Cal.com by someone else: {host} is busy then"
    return "unknown", "no appointment has this booking"


def _follow_cancel(session, appt: Appointment, on_cancel: str, finding: str, now: datetime) -> str:
    """``rebook``: forget the cancelled booking and queue a new one; ``cancel_locally``: the
    appointment is cancelled here too. Both through ``changes.requeue``, like every other change."""
    t = Appointment.__table__
    values: dict[str, Any] = {"booked": None, "sent": None, "updated_at": now}
    if on_cancel == "cancel_locally":
        values.update(status=STATUS_CANCELLED, cancel_reason=f"cancelled in Cal.com: {finding}"[:2000])
    session.execute(sa.update(t).where(t.c.id == appt.id).values(**values, version=t.c.version + 1))
    decided = changes.requeue(session.connection(), [appt.id], now=now)
    action = "webhook_rebook" if on_cancel == "rebook" else "webhook_cancel_locally"
    audit.record(session, actor=ACTOR, action=action, targets=[appt.id], reason=finding,
                 before={"status": appt.status, "sync_state": appt.sync_state, "booking_uid": appt.booking_uid},
                 after={"status": values.get("status", appt.status), "sync_state": decided.get(appt.id)},
                 result="ok", at=now)
    return "rebooked" if on_cancel == "rebook" else "cancelled_locally"


def counts_by_outcome(db: Database) -> dict[tuple[str, str], int]:
    """(trigger, outcome) -> events, for /metrics."""
    with db.session() as session:
        rows = session.execute(sa.select(WebhookEvent.trigger, WebhookEvent.outcome, sa.func.count())
                               .group_by(WebhookEvent.trigger, WebhookEvent.outcome))
        return {(trigger, outcome): int(n) for trigger, outcome, n in rows}
