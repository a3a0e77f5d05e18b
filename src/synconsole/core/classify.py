"""How a failure is classified: the one place that decides a category.

Two sources of failures:
- pre-flight checks, run before anything is sent (past start, no staff, no event type mapping, no
  usable contact, a local overlap of one Cal.com host);
- Cal.com's answer (status, error code, message, from either error body shape), matched against
  rules that are data: ``[[categories.rules]]`` from the config first, then the built-in ones
  below; first match wins.

Every failure also gets a fingerprint (category + status + normalized message) so identical
failures group together.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Collection, Iterable, Sequence

import sqlalchemy as sa
from sqlmodel import Session, select

from synconsole.config import CategoryRule, Settings
from synconsole.core import categories as cats
from synconsole.core.models import (
    FAILED,
    IN_FLIGHT,
    PENDING,
    RETRY_SCHEDULED,
    SCHEDULED,
    SYNCED,
    Appointment,
    Customer,
    Staff,
)

MAX_DURATION = timedelta(days=1)  # import refuses longer appointments; bounds the overlap search
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Failure:
    category: str
    message: str
    http_status: int | None = None
    code: str | None = None
    preflight: bool = False

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.category, self.http_status, self.message)


# --- Cal.com responses --------------------------------------------------------------------------

#: Built-in rules for Cal.com answers (API-NOTES.md), tried after the config's rules.
BUILTIN_RULES: tuple[CategoryRule, ...] = (
    CategoryRule("rate_limited", status=(429,), name="429 rate limit"),
    CategoryRule("auth", status=(401, 403), name="401/403 key refused"),
    CategoryRule("past_appointment", message=r"Attempting to book a meeting in the past", name="start in the past"),
    CategoryRule("host_conflict", message=r"already has booking at this time or is not available",
                 name="host busy or unavailable"),
    CategoryRule("host_conflict", status=(409,), message=r"booking_conflict_error", name="concurrent duplicate"),
    CategoryRule("outside_booking_window", message=r"can.t be booked at the .start. time provided",
                 name="too soon or outside the booking window"),
    CategoryRule("no_event_type", status=(404,), message=r"Event type with id \S* ?not found",
                 name="event type unknown"),
    CategoryRule("missing_contact", message=r"(?i)attendee must have at least one contact method",
                 name="no contact"),
    # the booking core's zod errors on the event type's booking fields (``responses - …``)
    CategoryRule("missing_contact", status=(400,), message=r"\{email\}error_required_field",
                 name="event type requires an email (phone-only attendee)"),
    CategoryRule("missing_contact", status=(400,), message=r"\bemail_validation_error\b", name="email invalid"),
    CategoryRule("missing_contact", status=(400,),
                 message=r"\{attendeePhoneNumber\}(invalid_number|error_required_field)",
                 name="phone invalid or required"),
    CategoryRule("booking_gone", status=(400,),
                 message=r"^Can't cancel booking with uid=\S+ because it has been cancelled already",
                 name="cancelled already"),
    CategoryRule("booking_gone", status=(404,), message=r"^Booking with uid=\S+ (was )?not found",
                 name="booking uid unknown"),
    CategoryRule("past_appointment", status=(400,), message=r"^Cannot cancel a booking that has already ended",
                 name="booking has ended"),
    CategoryRule("transient", status=tuple(range(500, 600)), name="5xx"),
    CategoryRule("validation", status=(400, 422), name="other 400"),
)


#: rules' regexes see at most this much of a message: ``.*gateway`` over 10 MB would take hours (a
#: pattern with nested or repeated ``.*`` is still polynomial in this excerpt: keep rules simple)
RULE_EXCERPT = 1000


def _matches(rule: CategoryRule, status: int | None, code: str | None, message: str) -> bool:
    if rule.status and status not in rule.status:
        return False
    if rule.code is not None and rule.code != code:
        return False
    if rule.message is not None and not re.search(rule.message, (message or "")[:RULE_EXCERPT]):
        return False
    return True


def classify_response(
    status: int | None,
    code: str | None,
    message: str,
    rules: Sequence[CategoryRule] = (),
) -> str:
    """The category of a Cal.com failure. ``status`` None means no answer (timeout, connection)."""
    for rule in (*rules, *BUILTIN_RULES):
        if _matches(rule, status, code, message):
            return rule.category
    if status is None:
        return "transient"
    return cats.UNKNOWN


def failure_from_response(
    status: int | None, code: str | None, message: str, rules: Sequence[CategoryRule] = ()
) -> Failure:
    return Failure(classify_response(status, code, message, rules), message, status, code)


# --- fingerprints -------------------------------------------------------------------------------

_NORMALIZERS = (
    (re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"), "<email>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?"), "<time>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{12,}\b"), "<hex>"),
    (re.compile(r"uid=[^\s,;]+"), "uid=<uid>"),
    (re.compile(r"\+?\d+"), "<n>"),
    (re.compile(r"\s+"), " "),
)


def normalize_message(message: str) -> str:
    text = (message or "")[:2000]
    for pattern, replacement in _NORMALIZERS:
        text = pattern.sub(replacement, text)
    return text.strip()[:300]


def fingerprint(category: str, status: int | None, message: str) -> str:
    key = f"{category}|{status if status is not None else '-'}|{normalize_message(message)}"
    return hashlib.sha1(key.encode()).hexdigest()[:16]


# --- contact and mapping checks -----------------------------------------------------------------


def usable_email(email: str | None) -> bool:
    return bool(email) and bool(EMAIL.match(email.strip()))


def phone_problem(phone: str | None, anonymous_pattern: str) -> str | None:
    """Why a phone cannot be used as the Cal.com attendee contact, or None if it can."""
    if not phone or not phone.strip():
        return "phone is empty"
    phone = phone.strip()
    if re.search(anonymous_pattern, phone):
        return "phone is anonymous"
    if not E164.match(phone):
        return "phone is not E.164"
    return None


def contact_problem(customer: Customer | None, anonymous_pattern: str, *, phone_ok: bool = True) -> str | None:
    """Why the customer cannot be the attendee, or None. ``phone_ok``: the event type takes phone-only
    attendees (``Staff.phone_bookings``); Cal.com's default booking fields require an email, and
    refuse a phone-only attendee whatever the phone."""
    if customer is None:
        return "customer record is missing"
    if usable_email(customer.email):
        return None
    why_email = "no email" if not (customer.email or "").strip() else "email is not valid"
    why_phone = phone_problem(customer.phone, anonymous_pattern)
    if why_phone is not None:
        return f"{why_email}; {why_phone}"
    if not phone_ok:
        return (f"{why_email}; a phone alone is not enough: the staff member's Cal.com event type "
                "requires an email (staff phone_bookings is off)")
    return None


def phone_bookings(staff: Staff | None) -> bool:
    """Whether the staff member's event types take phone-only attendees (see ``Staff.phone_bookings``)."""
    return bool(staff is not None and getattr(staff, "phone_bookings", False))


def event_type_for(staff: Staff, service: str | None) -> int | None:
    if service and staff.event_type_ids and service in staff.event_type_ids:
        return staff.event_type_ids[service]
    return staff.event_type_id


def host_key(calcom_username: str | None, calcom_user_id: int | None) -> str | None:
    """One key per Cal.com user, however many staff records point at it."""
    if calcom_username and calcom_username.strip():
        return calcom_username.strip().lower()
    if calcom_user_id is not None:
        return f"#{calcom_user_id}"
    return None


# --- pre-flight ---------------------------------------------------------------------------------


def check_row(
    appt: Appointment,
    customer: Customer | None,
    staff: Staff | None,
    *,
    now: datetime,
    settings: Settings,
) -> Failure | None:
    """The checks that need only this appointment's own rows, in order of precedence."""
    if (past := _past(appt, now)) is not None:
        return past
    if not appt.staff_id or staff is None:
        return Failure("missing_staff", "No staff assigned: there is no Cal.com host or event type to book.",
                       preflight=True)
    if not staff.active:
        return Failure("missing_staff", f"Staff {staff.id} is inactive: assign an active staff member.",
                       preflight=True)
    if event_type_for(staff, appt.service) is None:
        service = f" for service {appt.service!r}" if appt.service else ""
        return Failure("no_event_type", f"Staff {staff.id} has no Cal.com event type mapped{service}.",
                       preflight=True)
    if staff.host_key is None:
        return Failure("no_event_type", f"Staff {staff.id} has no Cal.com user (calcom_username) mapped.",
                       preflight=True)
    problem = contact_problem(customer, settings.categories.anonymous_phone_pattern, phone_ok=phone_bookings(staff))
    if problem is not None:
        return Failure("missing_contact",
                       f"Customer {appt.customer_id} has no usable contact: {problem}.", preflight=True)
    return None


def _past(appt: Appointment, now: datetime) -> Failure | None:
    if appt.start_at < now:
        return Failure("past_appointment",
                       f"Start {_iso(appt.start_at)} is in the past (checked before sending).", preflight=True)
    return None


def check_before_sending(session: Session, appt: Appointment, customer: Customer | None, staff: Staff | None, *,
                         now: datetime, settings: Settings, move: bool = False) -> Failure | None:
    """Pre-flight for one appointment about to be booked, or (``move``) moved to its new start: a
    move keeps host and attendee, so only the start is checked (not past, no local overlap)."""
    failure = _past(appt, now) if move else check_row(appt, customer, staff, now=now, settings=settings)
    if failure is None and staff is not None and staff.host_key:
        failure = host_conflict(session, appt, staff.host_key)
    return failure


def _blocking_states(appt: Appointment):
    """Another appointment blocks this one if it is booked or being booked by someone else, or if
    it waits in the queue (or in this worker's own batch) and came first; failed ones do not
    block (they are not in Cal.com)."""
    a = Appointment
    earlier = sa.or_(
        a.created_at < appt.created_at,
        sa.and_(a.created_at == appt.created_at, a.id < appt.id),
    )
    mine = a.claimed_by == appt.claimed_by if appt.claimed_by else sa.false()
    return sa.or_(
        a.sync_state == SYNCED,
        sa.and_(a.sync_state == IN_FLIGHT, sa.not_(mine)),
        sa.and_(sa.or_(a.sync_state.in_((PENDING, RETRY_SCHEDULED)), sa.and_(a.sync_state == IN_FLIGHT, mine)),
                earlier),
    )


def blocks_in_memory(other: Appointment, appt: Appointment) -> bool:
    """The Python twin of :func:`_blocking_states` for appointments not in the database (rows of
    a file being checked before import): does ``other`` block ``appt``? Keep the two in step."""
    if other.status != SCHEDULED:
        return False
    if other.sync_state == SYNCED:
        return True
    if other.sync_state == IN_FLIGHT and not (appt.claimed_by and other.claimed_by == appt.claimed_by):
        return True
    if other.sync_state in (PENDING, RETRY_SCHEDULED, IN_FLIGHT):
        return (other.created_at, other.id) < (appt.created_at, appt.id)
    return False


def intervals_overlap(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    """Half-open intervals: back-to-back appointments do not overlap (same test as find_overlap)."""
    return a_start < b_end and a_end > b_start


def find_overlap(
    session: Session, appt: Appointment, host: str, *, exclude: Collection[str] = ()
) -> Appointment | None:
    """An appointment of the same Cal.com host overlapping ``appt`` that blocks it.

    ``exclude``: appointment ids not to consider (a pre-booking check passes the ids its file
    replaces; a set, looked up in Python)."""
    a = Appointment
    same_host = select(Staff.id).where(Staff.host_key == host)
    stmt = (
        select(a)
        .where(
            a.staff_id.in_(same_host),
            a.id != appt.id,
            a.status == SCHEDULED,
            a.start_at > appt.start_at - MAX_DURATION,
            a.start_at < appt.end_at,
            a.end_at > appt.start_at,
            _blocking_states(appt),
        )
        .order_by(a.start_at, a.id)
    )
    if not exclude:
        return session.exec(stmt.limit(1)).first()
    # the candidates overlap one host's interval: few rows; filtering here keeps the query small
    return next((other for other in session.exec(stmt) if other.id not in exclude), None)


def find_busy_block(session: Session, appt: Appointment, host: str):
    """A booking someone else made in Cal.com for this host (``CalcomBusyBlock``, from webhooks)
    overlapping ``appt``, or None."""
    from synconsole.core.models import CalcomBusyBlock as B

    stmt = (select(B).where(B.host_key == host, B.start_at > appt.start_at - MAX_DURATION, B.start_at < appt.end_at,
                            B.end_at > appt.start_at).order_by(B.start_at).limit(1))
    return session.exec(stmt).first()


def busy_failure(block, host: str) -> Failure:
    return Failure(
        "host_conflict",
        f"The Cal.com host ({host}) is busy from {_iso(block.start_at)} to {_iso(block.end_at)}: booking "
        f"{block.booking_uid} was made in Cal.com by someone else (checked before sending).",
        preflight=True,
    )


def host_conflict(session: Session, appt: Appointment, host: str, *, exclude: Collection[str] = (),
                  where: str = "checked before sending") -> Failure | None:
    """The host_conflict of ``appt``: an appointment of ours that blocks it (:func:`find_overlap`),
    else a booking someone else made in Cal.com (:func:`find_busy_block`)."""
    other = find_overlap(session, appt, host, exclude=exclude)
    if other is not None:
        return overlap_failure(other, host, where=where)
    block = find_busy_block(session, appt, host)
    return busy_failure(block, host) if block is not None else None


def overlap_failure(other: Appointment, host: str, *, where: str = "checked before sending") -> Failure:
    """The host_conflict failure of an appointment blocked by ``other`` (same Cal.com host)."""
    return Failure(
        "host_conflict",
        f"Overlaps appointment {other.id} of the same Cal.com host ({host}) at {_iso(other.start_at)} ({where}).",
        preflight=True,
    )


def preflight(
    session: Session, appointments: Iterable[Appointment], *, now: datetime, settings: Settings
) -> dict[str, Failure]:
    """Check a batch before sending: appointment id -> failure, for those that must not be sent."""
    appts = list(appointments)
    if not appts:
        return {}
    customer_ids = {x.customer_id for x in appts}
    staff_ids = {x.staff_id for x in appts if x.staff_id}
    customers = {c.id: c for c in session.exec(select(Customer).where(Customer.id.in_(customer_ids)))}
    staff = {s.id: s for s in session.exec(select(Staff).where(Staff.id.in_(staff_ids)))} if staff_ids else {}
    result: dict[str, Failure] = {}
    for appt in appts:
        member = staff.get(appt.staff_id) if appt.staff_id else None
        failure = check_before_sending(session, appt, customers.get(appt.customer_id), member, now=now,
                                       settings=settings)
        if failure is not None:
            result[appt.id] = failure
    return result


def _iso(value: datetime) -> str:
    from synconsole.core.clock import iso

    return iso(value) or ""
