"""The simulator's bookings and the availability rules Cal.com applies to them.

Pure data and functions, no HTTP: :mod:`synconsole.calcom.simulator` turns them into responses.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from .sim_events import EventType, Host

UTC = timezone.utc
ACTIVE = ("accepted", "pending")
MAX_SLOT_RANGE_DAYS = 100


@dataclass
class Booking:
    id: int
    uid: str
    event_type: EventType
    hosts: tuple[str, ...]
    start: datetime
    end: datetime
    attendee: dict[str, Any]
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    status: str = "accepted"
    cancellation_reason: str | None = None
    rescheduled_from_uid: str | None = None
    rescheduled_to_uid: str | None = None
    rescheduling_reason: str | None = None
    guests: list[str] = field(default_factory=list)
    booking_fields_responses: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)

    def to_api(self, hosts: dict[str, Host]) -> dict[str, Any]:
        """The booking as Cal.com's 2024-08-13 output (``BookingOutput_2024_08_13``)."""
        attendee = {
            "name": self.attendee["name"],
            "email": self.attendee["email"],
            "timeZone": self.attendee["timeZone"],
            "language": self.attendee.get("language", "en"),
            "absent": False,
        }
        if self.attendee.get("phoneNumber"):
            attendee["phoneNumber"] = self.attendee["phoneNumber"]
        host_names = " and ".join(hosts[h].name for h in self.hosts)
        out: dict[str, Any] = {
            "id": self.id,
            "uid": self.uid,
            "title": f"{self.event_type.title} between {host_names} and {self.attendee['name']}",
            "description": "",
            "hosts": [hosts[h].to_api() for h in self.hosts],
            "status": self.status,
            "start": iso_ms(self.start),
            "end": iso_ms(self.end),
            "duration": self.duration,
            "eventTypeId": self.event_type.id,
            "eventType": {"id": self.event_type.id, "slug": self.event_type.slug},
            "location": "",
            "absentHost": False,
            "createdAt": iso_ms(self.created_at),
            "updatedAt": iso_ms(self.updated_at),
            "attendees": [attendee],
            "guests": list(self.guests),
            "bookingFieldsResponses": dict(self.booking_fields_responses),
            "metadata": dict(self.metadata),
        }
        for key, value in (
            ("cancellationReason", self.cancellation_reason),
            ("rescheduledFromUid", self.rescheduled_from_uid),
            ("rescheduledToUid", self.rescheduled_to_uid),
            ("reschedulingReason", self.rescheduling_reason),
        ):
            if value is not None:
                out[key] = value
        return out


@dataclass
class BusyBlock:
    host: str
    start: datetime
    end: datetime


class Store:
    """All bookings, in creation order, plus the hosts' busy blocks."""

    def __init__(self, busy: list[BusyBlock], seed: int = 0) -> None:
        self.bookings: dict[str, Booking] = {}
        self.busy = busy
        self._next_id = 1
        self._uid_rng = random.Random(seed)

    def new_uid(self) -> str:
        alphabet = string.ascii_letters + string.digits
        while True:
            uid = "".join(self._uid_rng.choice(alphabet) for _ in range(22))
            if uid not in self.bookings:
                return uid

    def add(self, booking_kwargs: dict[str, Any]) -> Booking:
        booking = Booking(id=self._next_id, uid=self.new_uid(), **booking_kwargs)
        self._next_id += 1
        self.bookings[booking.uid] = booking
        return booking

    def clear(self) -> None:
        self.bookings.clear()
        self._next_id = 1

    def host_free(
        self, host: str, start: datetime, end: datetime, *, ignore_uid: str | None = None
    ) -> bool:
        """No active booking of this host (any event type) and no busy block overlaps [start, end)."""
        for booking in self.bookings.values():
            if booking.uid == ignore_uid or booking.status not in ACTIVE or host not in booking.hosts:
                continue
            if booking.start < end and start < booking.end:
                return False
        return not any(b.host == host and b.start < end and start < b.end for b in self.busy)

    def available(
        self, et: EventType, start: datetime, end: datetime, *, ignore_uid: str | None = None
    ) -> bool:
        """Inside the event type's working hours and every host free (collective team events)."""
        return within_working_hours(et, start, end) and all(
            self.host_free(h, start, end, ignore_uid=ignore_uid) for h in et.hosts
        )


def within_working_hours(et: EventType, start: datetime, end: datetime) -> bool:
    wh = et.working_hours
    if wh is None:
        return True
    tz = ZoneInfo(et.time_zone)
    local_start = start.astimezone(tz)
    for day in (local_start.date() - timedelta(days=1), local_start.date()):
        window = _day_window(et, day)
        if window and window[0] <= start and end <= window[1]:
            return True
    return False


def _day_window(et: EventType, day: date) -> tuple[datetime, datetime] | None:
    """The working interval of a local day, in UTC, or None when the host does not work that day."""
    wh = et.working_hours
    if wh is None or day.weekday() not in wh.days:
        return None
    tz = ZoneInfo(et.time_zone)
    begin = datetime.combine(day, wh.start, tzinfo=tz)
    if wh.end is None:
        finish = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    else:
        finish = datetime.combine(day, wh.end, tzinfo=tz)
    return begin.astimezone(UTC), finish.astimezone(UTC)


def booking_window_ok(et: EventType, start: datetime, now: datetime) -> bool:
    """Not too soon (minimum notice) and not too far ahead (scheduling window)."""
    if start < now + timedelta(minutes=et.minimum_notice_min):
        return False
    return et.period_days is None or start <= now + timedelta(days=et.period_days)


def compute_slots(
    store: Store,
    et: EventType,
    *,
    start: datetime,
    end: datetime,
    out_tz: str,
    duration: int,
    now: datetime,
    ignore_uid: str | None = None,
    range_format: bool = False,
) -> dict[str, list[dict[str, str]]]:
    """Free slot starts in [start, end), grouped by day in ``out_tz``; empty days left out."""
    step = timedelta(minutes=duration)
    zone = ZoneInfo(out_tz)
    result: dict[str, list[dict[str, str]]] = {}
    for slot in _candidates(et, start, end, step):
        slot_end = slot + step
        if slot < start or slot >= end or not booking_window_ok(et, slot, now):
            continue
        if not store.available(et, slot, slot_end, ignore_uid=ignore_uid):
            continue
        local = slot.astimezone(zone)
        item = {"start": iso_ms(local, zone_name=out_tz)}
        if range_format:
            item["end"] = iso_ms(slot_end.astimezone(zone), zone_name=out_tz)
        result.setdefault(local.date().isoformat(), []).append(item)
    return result


def _candidates(et: EventType, start: datetime, end: datetime, step: timedelta):
    if et.working_hours is None:
        # Always available: slots on a grid of `step` from midnight UTC of the first day.
        cursor = datetime.combine(start.astimezone(UTC).date(), datetime.min.time(), tzinfo=UTC)
        while cursor < start:
            cursor += step
        while cursor < end:
            yield cursor
            cursor += step
        return
    tz = ZoneInfo(et.time_zone)
    day = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date()
    while day <= last:
        window = _day_window(et, day)
        if window:
            cursor = window[0]
            while cursor + step <= window[1]:
                yield cursor
                cursor += step
        day += timedelta(days=1)


def parse_iso(value: Any) -> datetime | None:
    """A timestamp or a date (``2025-11-27``) as an aware UTC datetime; None when invalid.

    Naive timestamps are taken as UTC, like Cal.com does with its UTC-only ``start``.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            parsed = datetime.combine(date.fromisoformat(text), datetime.min.time())
        else:
            parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def iso_ms(moment: datetime, *, zone_name: str = "UTC") -> str:
    """``2025-11-27T09:00:00.000Z``, or with the offset (``+01:00``) outside UTC."""
    text = moment.isoformat(timespec="milliseconds")
    if zone_name in ("UTC", "Etc/UTC") and text.endswith("+00:00"):
        return text[: -len("+00:00")] + "Z"
    return text
