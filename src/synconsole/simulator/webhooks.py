"""The simulator's webhooks: Cal.com's payload shape for a booking, signed as Cal.com signs it
(``X-Cal-Signature-256``: hex HMAC-SHA256 of the raw body; ``no-secret-provided`` without a secret).

:func:`event` builds the body (tests build deliveries with it too); :class:`Subscriber` posts them
to a subscriber URL, in the background, when the simulator's bookings change."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from datetime import datetime, timezone
from typing import Any

CANCELLED = "BOOKING_CANCELLED"
RESCHEDULED = "BOOKING_RESCHEDULED"
CREATED = "BOOKING_CREATED"
REJECTED = "BOOKING_REJECTED"
UNSIGNED = "no-secret-provided"


def _iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def event(trigger: str, booking: Any, hosts: dict[str, Any], *, at: datetime | None = None) -> dict[str, Any]:
    """The webhook body for ``booking`` (a simulator booking), as Cal.com sends it:
    ``{triggerEvent, createdAt, payload}`` with the booking's uid, times, status, organizer,
    attendees, metadata, and for a move the uid it replaced (``rescheduleUid``)."""
    organizer = hosts[booking.hosts[0]]
    attendee = {"name": booking.attendee.get("name"), "email": booking.attendee.get("email"),
                "timeZone": booking.attendee.get("timeZone"), "language": {"locale": "en"}}
    payload: dict[str, Any] = {
        "type": booking.event_type.slug,
        "title": booking.event_type.title,
        "startTime": _iso(booking.start),
        "endTime": _iso(booking.end),
        "organizer": {"id": organizer.id, "name": organizer.name, "email": organizer.email,
                      "username": organizer.username, "timeZone": organizer.time_zone},
        "attendees": [attendee],
        "uid": booking.uid,
        "bookingId": booking.id,
        "eventTypeId": booking.event_type.id,
        "length": booking.duration,
        "status": booking.status.upper(),
        "metadata": dict(booking.metadata),
    }
    if booking.cancellation_reason:
        payload["cancellationReason"] = booking.cancellation_reason
    if trigger == RESCHEDULED and booking.rescheduled_from_uid:
        payload["rescheduleUid"] = booking.rescheduled_from_uid
    return {"triggerEvent": trigger, "createdAt": _iso(at or datetime.now(timezone.utc)), "payload": payload}


def signature(body: bytes, secret: str | None) -> str:
    if not secret:
        return UNSIGNED
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Subscriber:
    """One webhook subscription of the simulator: every booking change is posted to ``url``."""

    def __init__(self, url: str, secret: str | None) -> None:
        self.url = url
        self._secret = secret
        self.sent = 0
        self.failed = 0
        self._tasks: set[asyncio.Task] = set()

    def __repr__(self) -> str:  # never the secret
        return f"Subscriber(url={self.url!r}, sent={self.sent}, failed={self.failed})"

    def post(self, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        task = asyncio.ensure_future(self._send(raw))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, raw: bytes) -> None:
        import httpx

        headers = {"content-type": "application/json", "x-cal-signature-256": signature(raw, self._secret)}
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                answer = await client.post(self.url, content=raw, headers=headers)
            if answer.status_code < 300:
                self.sent += 1
            else:
                self.failed += 1
        except httpx.HTTPError:
            self.failed += 1
