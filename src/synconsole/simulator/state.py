"""The simulator's state: bookings, busy blocks, the availability rules Cal.com applies to them,
and :class:`SimState`, which bundles them with the rate limit and the faults (``app.state.sim``).

No HTTP here: the route modules turn this into responses.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from .events import EventType, Host, build_hosts

if TYPE_CHECKING:
    from .faults import Faults
    from .throttle import Throttle

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
    recurring_event_id: str | None = None

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
            ("recurringBookingUid", self.recurring_event_id),
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

    def add(self, booking_kwargs: dict[str, Any], *, uid: str | None = None) -> Booking:
        """A new booking; ``uid``: one made elsewhere (a scenario's existing bookings)."""
        if uid is not None and uid in self.bookings:
            raise ValueError(f"booking uid {uid!r} exists already")
        booking = Booking(id=self._next_id, uid=uid or self.new_uid(), **booking_kwargs)
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


class SimState:
    """Everything the simulator knows; reachable as ``app.state.sim``."""

    def __init__(
        self,
        *,
        api_key: str | None,
        event_types: dict[int, EventType],
        busy: list[BusyBlock],
        throttle: Throttle,
        faults: Faults,
        clock: Callable[[], float],
    ) -> None:
        # Only a hash of the key is kept, so no repr or dump of the state can show it.
        self._key_hash = hashlib.sha256(api_key.encode()).digest() if api_key else None
        self.event_types = event_types
        self.hosts = build_hosts(event_types)
        self.store = Store(busy)
        self.throttle = throttle
        self.faults = faults
        self.clock = clock
        self.fault_rng = random.Random(faults.seed)
        self.faults_injected: dict[str, int] = {}
        self._in_progress: set[tuple[str, datetime, datetime]] = set()
        #: the key's owner (a host username): the list shows only what the owner may see; None = all
        self.key_owner: str | None = None
        self.team_read = True
        #: a webhook subscription (webhooks.Subscriber): booking changes are posted to it
        self.subscriber = None

    def notify(self, trigger: str, booking: Booking) -> None:
        """Post Cal.com's webhook for a booking change, when a subscriber is configured."""
        if self.subscriber is not None:
            from .webhooks import event

            self.subscriber.post(event(trigger, booking, self.hosts))

    def __repr__(self) -> str:
        return f"SimState(bookings={len(self.store.bookings)}, event_types={sorted(self.event_types)})"

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def listed(self, booking: Booking) -> bool:
        """Whether the key's owner sees this booking in the list (Cal.com: own bookings; team
        bookings only with booking-read permission)."""
        if self.key_owner is None:
            return True
        if booking.event_type.team:
            return self.team_read and self.key_owner in booking.hosts
        return self.key_owner in booking.hosts

    def accepts(self, authorization: str | None) -> bool:
        if not authorization:
            return False
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return False
        if self._key_hash is None:
            return token.startswith("cal_") and len(token) > len("cal_")
        return hmac.compare_digest(hashlib.sha256(token.encode()).digest(), self._key_hash)

    def roll(self, rate: float) -> bool:
        return rate > 0 and self.fault_rng.random() < rate

    def count_fault(self, name: str) -> None:
        self.faults_injected[name] = self.faults_injected.get(name, 0) + 1

    def claim(self, et: EventType, start: datetime, end: datetime) -> list[tuple[str, datetime, datetime]] | None:
        """Reserve host+start+end while a booking is being written; None if another request has it."""
        keys = [(host, start, end) for host in et.hosts]
        if any(key in self._in_progress for key in keys):
            return None
        self._in_progress.update(keys)
        return keys

    def unclaim(self, keys: list[tuple[str, datetime, datetime]]) -> None:
        self._in_progress.difference_update(keys)

    def reset(self) -> None:
        self.store.clear()
        self.throttle.reset()
        self.faults.update({"reset": True}, self.clock())
        self.fault_rng = random.Random(self.faults.seed)
        self.faults_injected.clear()


def busy_block(item: Any, hosts: set[str]) -> BusyBlock:
    if not isinstance(item, dict) or set(item) - {"host", "start", "end"}:
        raise ValueError('busy blocks look like {"host": "fabian", "start": "2025-11-26T14:00:00Z", "end": "…"}')
    host = item.get("host")
    if host not in hosts:
        raise ValueError(f"busy block: unknown host {host!r}")
    start, end = (v if isinstance(v, datetime) else parse_iso(v) for v in (item.get("start"), item.get("end")))
    if start is None or end is None or start.tzinfo is None or end <= start:
        raise ValueError("busy block: start and end must be ISO timestamps with start < end")
    return BusyBlock(host=host, start=start.astimezone(UTC), end=end.astimezone(UTC))
