"""The life of an appointment after its first sync: the one place that decides what a change
needs in Cal.com.

Every appointment has the booking it should have in Cal.com (:func:`wanted`: at its start, with its
staff's Cal.com host and event type, for its customer as attendee; or none at all when it is
cancelled), and Cal.com's booking as far as synconsole knows it (``Appointment.booked``: what was
sent and confirmed). :func:`next_step` names the one Cal.com call that closes the difference; the
sync engine makes it, records the new ``booked``, and asks again until nothing is left:

- nothing booked, scheduled: create;
- booked, cancelled: cancel;
- booked at another start: reschedule;
- booked for another host, event type or attendee: rebook (cancel, then create).

A call whose answer never came (``Appointment.sent``, ``needs_lookup``) is settled first, by
looking up what was *sent* (see ``jobs/sync_calls.py``); only then is the next step decided.

:func:`requeue` is what every face calls after it changed appointments, customers or staff (the
import, the console's actions and undo, live sources, the ingest API): the rows whose Cal.com
booking no longer matches go back to the queue with their next step, rows that need no call reach
their final state at once, and rows in flight get a new revision, so the outcome their worker
writes sends them round again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from synconsole.core import categories as cats
from synconsole.core import clock
from synconsole.core.classify import contact_problem, event_type_for, phone_bookings, usable_email
from synconsole.core.models import (
    CANCELLED,
    COMPLETED,
    FAILED,
    IN_FLIGHT,
    OP_CANCEL,
    OP_CREATE,
    OP_REBOOK,
    OP_RESCHEDULE,
    PENDING,
    RETRY_SCHEDULED,
    SCHEDULED,
    SKIPPED,
    STATUS_CANCELLED,
    SYNCED,
    Appointment,
    Customer,
    Staff,
)

T = Appointment.__table__
C = T.c
#: appointment fields whose change may change what Cal.com should hold
BOOKING_FIELDS = ("customer_id", "staff_id", "service", "start_at", "end_at", "status")
#: failures a changed contact may cure, and a changed staff record
CONTACT_CATEGORIES = cats.cured_by(cats.CURED_BY_CONTACT)
STAFF_CATEGORIES = cats.cured_by(cats.CURED_BY_STAFF)
CHUNK = 500


@dataclass(frozen=True)
class Booking:
    """A booking in Cal.com as synconsole asked for it. ``uid`` is None until Cal.com gave one.

    Fields synconsole did not record (bookings imported with a uid, or made by an older version)
    are None and count as unchanged."""

    uid: str | None
    start: datetime
    event_type_id: int | None = None
    host: str | None = None
    staff_id: str | None = None
    customer_id: str | None = None
    email: str | None = None
    phone: str | None = None
    name: str | None = None
    time_zone: str | None = None
    account: str | None = None  # the Cal.com account it was made in

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["start"] = clock.iso_precise(self.start)
        return {k: v for k, v in data.items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Booking | None:
        if not data or not data.get("start"):
            return None
        fields = {k: data.get(k) for k in cls.__dataclass_fields__ if k != "start"}
        return cls(start=clock.parse_utc(data["start"]), **fields)

    def with_uid(self, uid: str) -> Booking:
        return replace(self, uid=uid)


def booked_of(appt: Any) -> Booking | None:
    return Booking.from_json(appt.booked)


def wanted(appt: Any, customer: Customer | None, staff: Staff | None) -> Booking | None:
    """The booking Cal.com should hold for ``appt`` (its start, host and attendee), as the create
    request sends it; None when there is no host or event type to book with."""
    if staff is None or staff.host_key is None:
        return None
    event_type = event_type_for(staff, appt.service)
    if event_type is None:
        return None
    email = customer.email.strip() if customer is not None and usable_email(customer.email) else None
    phone = None  # a phone alone only where the event type takes phone-only attendees
    if email is None and phone_bookings(staff) and customer is not None and customer.phone and customer.phone.strip():
        phone = customer.phone.strip()
    name = (customer.name if customer is not None else "") or f"Customer {appt.customer_id}"
    zone = appt.time_zone or (customer.time_zone if customer is not None else None) or staff.time_zone or "UTC"
    return Booking(uid=None, start=appt.start_at, event_type_id=event_type, host=staff.host_key,
                   staff_id=staff.id, customer_id=appt.customer_id, email=email, phone=phone, name=name,
                   time_zone=zone, account=staff.calcom_account)


def next_step(appt: Any, known: Booking | None, want: Booking | None, now: datetime) -> str:
    """The next Cal.com call (``create``, ``cancel``, ``reschedule``, ``rebook``) or, when none is
    needed, the final sync state (``synced``, ``cancelled``, ``skipped``).

    ``known`` is the live booking (None: none); ``want`` is :func:`wanted` for the same row. A
    booked appointment whose start and booking both lie in the past is history: nothing is moved."""
    if appt.status == STATUS_CANCELLED:
        return OP_CANCEL if known is not None else CANCELLED
    if appt.status == COMPLETED:
        return SYNCED if known is not None else SKIPPED
    if known is None:
        return OP_CREATE
    if appt.start_at < now and known.start < now:
        return SYNCED
    if _new_host(known, want) or _new_attendee(known, want, appt):
        return OP_REBOOK
    if known.start != appt.start_at:
        return OP_RESCHEDULE
    return SYNCED


def is_call(step: str) -> bool:
    return step in (OP_CREATE, OP_CANCEL, OP_RESCHEDULE, OP_REBOOK)


def _new_host(known: Booking, want: Booking | None) -> bool:
    if want is None:  # no host to book with any more: the old host's booking is wrong
        return True
    if known.account is not None and known.account != want.account:  # another Cal.com altogether
        return True
    if known.host is None:  # booked before hosts were recorded: another staff member may be another host
        return known.staff_id is not None and known.staff_id != want.staff_id
    return known.host != want.host or (known.event_type_id is not None and known.event_type_id != want.event_type_id)


def _new_attendee(known: Booking, want: Booking | None, appt: Any) -> bool:
    """Another customer, or a usable email other than the one booked. A contact that became
    unusable is not a new attendee: the booking made with the old one stands."""
    if known.customer_id is not None and known.customer_id != appt.customer_id:
        return True
    new_email = want.email if want is not None else None
    return bool(known.email and new_email and known.email.lower() != new_email.lower())


# --- the one function every face calls after a change ------------------------------------------


def requeue(conn: sa.Connection, ids: Iterable[str], *, now: datetime,
            only_if_changed: bool = False) -> dict[str, str]:
    """Re-decide the sync of these appointments after a change of them, their customer or their
    staff; returns id -> the sync state they now have (``pending`` when a call is needed).

    Runs in the caller's transaction. Rows in flight keep their claim and get a new revision.
    ``only_if_changed``: leave rows whose decision is what they already show (no write)."""
    ids = list(dict.fromkeys(ids))
    decided: dict[str, str] = {}
    for chunk in _chunks(ids):
        select = sa.select(T).where(C.id.in_(chunk))
        if conn.dialect.name == "postgresql":  # a worker's outcome waits for this decision, not the reverse
            select = select.with_for_update()
        rows = conn.execute(select).mappings().all()
        customers = _by_id(conn, Customer, {r["customer_id"] for r in rows})
        staff = _by_id(conn, Staff, {r["staff_id"] for r in rows if r["staff_id"]})
        groups: dict[tuple, list[str]] = {}
        for r in rows:
            row = _Row(r)
            if row.sync_state == IN_FLIGHT:
                decided[row.id] = IN_FLIGHT
                groups.setdefault((("revision", None),), []).append(row.id)
                continue
            values = _state_for(row, decide(row, customers.get(row.customer_id), staff.get(row.staff_id), now), now)
            decided[row.id] = values["sync_state"]
            if only_if_changed and all(getattr(row, k) == v for k, v in values.items() if k != "queued_at"):
                continue
            groups.setdefault(tuple(sorted(values.items(), key=lambda kv: kv[0])), []).append(row.id)
        for key, group in groups.items():
            values = {k: v for k, v in key if k != "revision"}
            conn.execute(sa.update(T).where(C.id.in_(group), C.sync_state != IN_FLIGHT if values else sa.true())
                         .values(**values, revision=C.revision + 1, version=C.version + 1, updated_at=now))
    return decided


def sync_after(row: Any, *, now: datetime, customer: Customer | None = None, staff: Staff | None = None,
               **changed: Any) -> dict[str, Any]:
    """The sync fields ``row`` gets when ``changed`` (new desired fields, e.g. ``status``,
    ``start_at``, ``staff_id``) is written to it: what an action previews and writes. ``staff``
    is the row's staff after the change (needed to tell a new host from a move); ``customer``
    matters only when the attendee changes."""
    patched = _Patched(row, changed)
    return _state_for(patched, decide(patched, customer, staff, now), now)


class _Patched:
    """A row read with some fields replaced (the row as it will be after a change)."""

    __slots__ = ("_row", "_changed")

    def __init__(self, row: Any, changed: dict[str, Any]) -> None:
        self._row = row
        self._changed = changed

    def __getattr__(self, name: str) -> Any:
        return self._changed[name] if name in self._changed else getattr(self._row, name)


def decide(row: Any, customer: Customer | None, staff: Staff | None, now: datetime) -> str:
    """:func:`next_step` for a row as stored (an outcome in doubt is settled by the sync first; until
    then the step is decided from what is known)."""
    return next_step(row, booked_of(row), wanted(row, customer, staff), now)


def _state_for(row: Any, step: str, now: datetime) -> dict[str, Any]:
    """The sync fields of a row whose next step is ``step``. An outcome in doubt keeps it queued
    whatever the step: the sync settles it first."""
    if is_call(step) or row.needs_lookup:
        op = step if is_call(step) else (OP_CANCEL if row.status == STATUS_CANCELLED else OP_CREATE)
        values: dict[str, Any] = dict(sync_state=PENDING, sync_op=op, next_retry_at=None, snoozed_until=None)
        if row.status == SCHEDULED:  # no longer a failure; a cancelled one keeps why it failed, for the report
            values.update(category=None, fingerprint=None)
        if row.sync_state != PENDING:
            values["queued_at"] = now
        return values
    if step == SYNCED:
        return dict(sync_state=SYNCED, sync_op=OP_CREATE, next_retry_at=None, category=None, fingerprint=None,
                    snoozed_until=None, first_failed_at=None, last_error=None, last_http_status=None)
    return dict(sync_state=step, next_retry_at=None, snoozed_until=None)


def initial_state(status: str, booking_uid: str | None, start: datetime, now: datetime, *,
                  staff_id: str | None = None, customer_id: str | None = None) -> dict[str, Any]:
    """The sync fields of a newly imported appointment (a uid means the platform booked it)."""
    known = Booking(uid=booking_uid, start=start, staff_id=staff_id, customer_id=customer_id) if booking_uid else None
    step = next_step(_Probe(status=status, start_at=start), known, None, now)
    booked = known.to_json() if known is not None else None
    if is_call(step):
        return {"sync_state": PENDING, "sync_op": step, "booked": booked}
    return {"sync_state": step, "sync_op": OP_CREATE, "booked": booked}


def customers_changed(conn: sa.Connection, customer_ids: Sequence[str], *, now: datetime,
                      anonymous_pattern: str) -> dict[str, str]:
    """After customers' contact or name changed: requeue their failures the new contact cures,
    and re-decide their future bookings (a new email rebooks for the new attendee)."""
    cured = [c.id for c in _by_id(conn, Customer, set(customer_ids)).values()
             if contact_problem(c, anonymous_pattern) is None]
    return requeue(conn, _affected(conn, C.customer_id, customer_ids, cured, CONTACT_CATEGORIES, now), now=now,
                   only_if_changed=True)


def staff_changed(conn: sa.Connection, staff_ids: Sequence[str], *, now: datetime) -> dict[str, str]:
    """After staff records changed (Cal.com user, event types, active): requeue the failures that
    may be cured, and re-decide their future bookings (a new host rebooks)."""
    cures = STAFF_CATEGORIES + CONTACT_CATEGORIES  # phone_bookings turned on cures phone-only customers
    return requeue(conn, _affected(conn, C.staff_id, staff_ids, staff_ids, cures, now), now=now,
                   only_if_changed=True)


def _affected(conn: sa.Connection, column, owners: Sequence[str], cured: Sequence[str], categories: Sequence[str],
              now: datetime) -> list[str]:
    ids: list[str] = []
    for chunk in _chunks(list(owners)):
        cures = sa.and_(column.in_([o for o in chunk if o in set(cured)]),
                        C.sync_state.in_((FAILED, RETRY_SCHEDULED)), C.category.in_(categories))
        future = sa.and_(C.booked.is_not(None), C.start_at > now, C.status == SCHEDULED)
        stmt = sa.select(C.id).where(column.in_(chunk), sa.or_(cures, future, C.sync_state == IN_FLIGHT))
        ids += list(conn.execute(stmt).scalars())
    return ids


class _Row:
    """A stored appointment as a mapping, read like an Appointment."""

    __slots__ = ("_r",)

    def __init__(self, r) -> None:
        self._r = r

    def __getattr__(self, name: str) -> Any:
        return self._r[name]


@dataclass(frozen=True)
class _Probe:
    status: str
    start_at: datetime
    customer_id: str | None = None


def _by_id(conn: sa.Connection, model, ids: set) -> dict[str, Any]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    table = model.__table__
    out: dict[str, Any] = {}
    for chunk in _chunks(sorted(ids)):
        for r in conn.execute(sa.select(table).where(table.c.id.in_(chunk))).mappings():
            out[r["id"]] = model.model_validate(dict(r))
    return out


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]
