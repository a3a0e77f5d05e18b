"""The simulator's ``/v2/bookings`` routes: create, get, list, cancel, reschedule.

Order of checks as on Cal.com: rate limit (in the fault layer), API key, ``cal-api-version``,
body validation, event type, then the booking rules (past, notice and window, host busy,
the concurrent-duplicate race).
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .events import EventType, is_time_zone
from .responses import (
    BOOKINGS_VERSION,
    MSG_CONFLICT,
    MSG_ENDED,
    MSG_HOST_BUSY,
    MSG_METADATA,
    MSG_MISSING_ATTENDEE,
    MSG_NO_CONTACT,
    MSG_PAST,
    MSG_REASON_REQUIRED,
    MSG_TEAM_BUSY,
    MSG_WINDOW,
    api_endpoint,
    bad_request,
    bare,
    envelope,
    json_object,
    msg_already_cancelled,
    msg_cancel_not_found,
    msg_reschedule_not_found,
    old_bookings_controller,
    success,
    wrong,
    zod_error,
)
from .state import ACTIVE, Booking, SimState, booking_window_ok, parse_iso

_CREATE_FIELDS = {
    "start", "attendee", "bookingFieldsResponses", "emailVerificationCode", "eventTypeId",
    "eventTypeSlug", "guests", "lengthInMinutes", "location", "meetingUrl", "metadata",
    "organizationSlug", "routing", "teamSlug", "username", "instant", "recurrenceCount",
}  # fmt: skip
_ATTENDEE_FIELDS = {"name", "email", "timeZone", "phoneNumber", "language"}
_CANCEL_FIELDS = {"cancellationReason", "cancelSubsequentBookings", "seatUid"}
_RESCHEDULE_FIELDS = {"start", "reschedulingReason", "rescheduledBy", "emailVerificationCode", "seatUid"}
_LIST_PARAMS = {
    "status", "attendeeEmail", "attendeeName", "bookingUid", "eventTypeIds", "eventTypeId",
    "teamsIds", "teamId", "afterStart", "beforeEnd", "afterCreatedAt", "beforeCreatedAt",
    "afterUpdatedAt", "beforeUpdatedAt", "sortStart", "sortEnd", "sortCreated", "sortUpdatedAt",
    "take", "skip",
}  # fmt: skip
_LIST_STATUSES = ("upcoming", "recurring", "past", "cancelled", "unconfirmed")
_LANGUAGES = {
    "ar", "ca", "de", "es", "eu", "he", "id", "ja", "lv", "pl", "ro", "sr", "th", "vi", "az", "cs",
    "el", "es-419", "fi", "hr", "it", "km", "nl", "pt", "ru", "sv", "tr", "zh-CN", "bg", "da", "en",
    "et", "fr", "hu", "iw", "ko", "no", "pt-BR", "sk", "ta", "uk", "zh-TW", "bn",
}  # fmt: skip
#: the shape of a phone the booking core may accept (it asks libphonenumber, see _valid_phone)
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _unknown(body: dict[str, Any], allowed: set[str]) -> list[str]:
    return [wrong(k, f"property {k} should not exist") for k in body if k not in allowed]


def _validate_create(body: dict[str, Any]) -> list[str]:
    problems = _unknown(body, _CREATE_FIELDS)
    start = body.get("start")
    if start is None:
        problems.append(wrong("start", "start should not be null or undefined"))
    elif parse_iso(start) is None:
        problems.append(wrong("start", "start must be a valid ISO 8601 date string"))
    attendee = body.get("attendee")
    if attendee is None:
        problems.append(MSG_MISSING_ATTENDEE)
    elif not isinstance(attendee, dict):
        problems.append(wrong("attendee", "nested property attendee must be either object or array"))
    else:
        problems += _validate_attendee(attendee)
    if "eventTypeId" in body:
        et_id = body["eventTypeId"]
        if not isinstance(et_id, (int, float)) or isinstance(et_id, bool) or et_id != int(et_id):
            problems.append(wrong("eventTypeId", "eventTypeId must be a number conforming to the specified constraints"))
    elif not body.get("eventTypeSlug"):
        problems.append(wrong("eventTypeId", "eventTypeId should not be null or undefined"))
    if "lengthInMinutes" in body and not _is_number(body["lengthInMinutes"]):
        problems.append(wrong("lengthInMinutes", "lengthInMinutes must be a number conforming to the specified constraints"))
    if "metadata" in body:
        problems += _validate_metadata(body["metadata"])
    if "guests" in body:
        guests = body["guests"]
        if not isinstance(guests, list) or not all(isinstance(g, str) and _EMAIL.match(g) for g in guests):
            problems.append(wrong("guests", "each value in guests must be an email"))
    if "bookingFieldsResponses" in body and not isinstance(body["bookingFieldsResponses"], dict):
        problems.append(wrong("bookingFieldsResponses", "bookingFieldsResponses must be an object"))
    return problems


def _validate_attendee(attendee: dict[str, Any]) -> list[str]:
    problems = [wrong("attendee", f"property attendee.{k} should not exist") for k in attendee if k not in _ATTENDEE_FIELDS]
    if not isinstance(attendee.get("name"), str) or not attendee["name"].strip():
        problems.append(wrong("attendee", "attendee.name must be a string"))
    tz = attendee.get("timeZone")
    if not isinstance(tz, str):
        problems.append(wrong("attendee", "attendee.timeZone must be a string"))
    elif not is_time_zone(tz):
        problems.append(wrong("attendee", "attendee.timeZone must be a valid IANA time zone"))
    # email and phone: format checks of the DTO do nothing in Cal.com's pinned class-validator;
    # the booking core checks them against the event type's booking fields (_core_responses)
    for key in ("email", "phoneNumber"):
        if key in attendee and not isinstance(attendee[key], str):
            problems.append(wrong("attendee", f"attendee.{key} must be a string"))
    language = attendee.get("language")
    if language is not None and language not in _LANGUAGES:
        problems.append(wrong("attendee", "attendee.language must be one of the supported languages"))
    return problems


def _validate_metadata(metadata: Any) -> list[str]:
    if not isinstance(metadata, dict):
        return [wrong("metadata", "metadata must be an object")]
    ok = len(metadata) <= 50 and all(
        len(k) <= 40
        and (
            (isinstance(v, str) and len(v) <= 500)
            or (isinstance(v, (int, float, bool)))
        )
        for k, v in metadata.items()
    )
    return [] if ok else [wrong("metadata", MSG_METADATA)]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def int_param(value: str | None) -> int | None:
    if value is None or not re.fullmatch(r"-?\d+", value.strip()):
        return None
    return int(value)


def event_type_for(sim: SimState, body_or_params: Any) -> tuple[EventType | None, str]:
    raw_id = body_or_params.get("eventTypeId")
    if raw_id is not None and raw_id != "":
        et_id = int(raw_id) if not isinstance(raw_id, str) else (int_param(raw_id) or 0)
        return sim.event_types.get(et_id), str(raw_id)
    slug = body_or_params.get("eventTypeSlug")
    for et in sim.event_types.values():
        if et.slug == slug:
            return et, str(slug)
    return None, str(slug)


def _core_responses(request: Request, et: EventType, attendee: dict[str, Any]) -> Response | None:
    """The booking core's check of the attendee against the event type's booking fields (zod)."""
    issues: list[tuple[str, str]] = []
    email, phone = attendee.get("email"), attendee.get("phoneNumber")
    if not email:
        if et.email_field == "required":
            issues.append(("responses", "{email}error_required_field"))
    elif not _EMAIL.match(email):
        issues.append(("responses", "email_validation_error"))
    if et.phone_field != "hidden":
        if not phone:
            if et.phone_field == "required":
                issues.append(("responses", "{attendeePhoneNumber}error_required_field"))
        elif not _valid_phone(phone):
            issues.append(("responses", "{attendeePhoneNumber}invalid_number"))
    return zod_error(request, issues) if issues else None


def _valid_phone(phone: str) -> bool:
    """E.164 shape, and for German numbers one libphonenumber rule more: a national number starting
    with 1 is a mobile (15, 16, 17), so ``+4912345678`` looks like E.164 and is still invalid."""
    if not _E164.match(phone):
        return False
    if phone.startswith("+49"):
        national = phone[3:]
        return not (national.startswith("1") and national[:2] not in ("15", "16", "17"))
    return True


def _availability_problem(
    request: Request, sim: SimState, et: EventType, start: datetime, end: datetime, ignore_uid: str | None = None
) -> Response | None:
    """Past, window and host busy: the core's errors, mapped by the API to BadRequestException envelopes."""
    now = sim.now()
    if start < now:
        return bad_request(request, MSG_PAST)
    if not booking_window_ok(et, start, now):
        return bad_request(request, MSG_WINDOW)
    if not sim.store.available(et, start, end, ignore_uid=ignore_uid):
        return bad_request(request, MSG_TEAM_BUSY if et.team else MSG_HOST_BUSY)
    return None


def _occurrences(et: EventType, start: datetime, asked: Any) -> list[datetime]:
    """The starts a create books: one, or a recurring event type's series."""
    if et.recurring is None:
        return [start]
    freq, count, interval = et.recurring
    if _is_number(asked) and 1 <= int(asked) <= count:
        count = int(asked)
    starts = []
    for k in range(count):
        if freq == "daily":
            starts.append(start + timedelta(days=k * interval))
        elif freq == "weekly":
            starts.append(start + timedelta(weeks=k * interval))
        else:
            month = start.month - 1 + k * interval
            starts.append(start.replace(year=start.year + month // 12, month=month % 12 + 1))
    return starts


async def _commit(sim: SimState, et: EventType, start: datetime, end: datetime, make: Callable[[], Any]) -> Any:
    """Write a booking unless another request is writing one for the same host+start+end (409)."""
    keys = sim.claim(et, start, end)
    if keys is None:
        return None
    try:
        await asyncio.sleep(sim.faults.commit_delay_s)
        return make()
    finally:
        sim.unclaim(keys)


@api_endpoint(BOOKINGS_VERSION, old_bookings_controller)
async def create_booking(request: Request, sim: SimState) -> Response:
    body, error = await json_object(request)
    if error:
        return error
    problems = _validate_create(body)
    if problems:
        return bad_request(request, ", ".join(problems))
    attendee = body["attendee"]
    if not attendee.get("email") and not attendee.get("phoneNumber"):
        return bad_request(request, MSG_NO_CONTACT)
    et, asked = event_type_for(sim, body)
    if et is None:
        return envelope(request, 404, "NotFoundException", f"Event type with id {asked} not found.")
    length = et.length
    if "lengthInMinutes" in body:
        wanted = body["lengthInMinutes"]
        if not et.length_options:
            return bad_request(
                request,
                "Can't specify 'lengthInMinutes' because event type does not have multiple possible lengths. "
                "Please remove the 'lengthInMinutes' field from the request.",
            )
        if wanted not in et.length_options:
            options = ", ".join(str(o) for o in et.length_options)
            return bad_request(
                request,
                f"Provided 'lengthInMinutes' is not one of the possible lengths for the event type. "
                f"The possible lengths are: {options}",
            )
        length = int(wanted)
    problem = _core_responses(request, et, attendee)
    if problem:
        return problem
    starts = _occurrences(et, parse_iso(body["start"]), body.get("recurrenceCount"))
    start = starts[0]
    end = start + timedelta(minutes=length)
    for occurrence in starts:
        problem = _availability_problem(request, sim, et, occurrence, occurrence + timedelta(minutes=length))
        if problem:
            return problem
    now = sim.now()
    email = attendee.get("email") or f"{attendee['phoneNumber'].lstrip('+')}@sms.cal.com"
    stored_attendee = {**attendee, "email": email}
    responses = {"name": attendee["name"], "email": email}
    if attendee.get("phoneNumber"):
        responses["attendeePhoneNumber"] = attendee["phoneNumber"]
    responses.update(body.get("bookingFieldsResponses") or {})
    series = sim.store.new_uid() if et.recurring is not None else None

    def make() -> list[Booking]:
        return [
            sim.store.add(
                dict(
                    event_type=et,
                    hosts=et.hosts,
                    start=occurrence,
                    end=occurrence + timedelta(minutes=length),
                    attendee=dict(stored_attendee),
                    metadata=dict(body.get("metadata") or {}),
                    created_at=now,
                    updated_at=now,
                    guests=list(body.get("guests") or []),
                    booking_fields_responses=dict(responses),
                    recurring_event_id=series,
                )
            )
            for occurrence in starts
        ]

    bookings = await _commit(sim, et, start, end, make)
    if bookings is None:
        return bare(409, MSG_CONFLICT)
    if series is not None:  # a recurring event type: the whole series, as an array
        for b in bookings:
            sim.notify("BOOKING_CREATED", b)
        return success(201, [b.to_api(sim.hosts) for b in bookings])
    sim.notify("BOOKING_CREATED", bookings[0])
    return success(201, bookings[0].to_api(sim.hosts))


@api_endpoint(BOOKINGS_VERSION, old_bookings_controller)
async def get_booking(request: Request, sim: SimState) -> Response:
    uid = request.path_params["uid"]
    booking = sim.store.bookings.get(uid)
    if booking is None:
        return envelope(request, 404, "NotFoundException", msg_cancel_not_found(uid))
    return success(200, booking.to_api(sim.hosts))


@api_endpoint(BOOKINGS_VERSION, old_bookings_controller)
async def list_bookings(request: Request, sim: SimState) -> Response:
    # unknown query parameters are silently dropped (Cal.com's global pipe only whitelists)
    params = {k: v for k, v in request.query_params.items() if k in _LIST_PARAMS}
    problems: list[str] = []
    take = int_param(params.get("take", "100"))
    skip = int_param(params.get("skip", "0"))
    if take is None:
        problems.append("take must be a number conforming to the specified constraints")
    elif take < 1:
        problems.append("take must not be less than 1")
    elif take > 250:
        problems.append("take must not be greater than 250")
    if skip is None:
        problems.append("skip must be a number conforming to the specified constraints")
    elif skip < 0:
        problems.append("skip must not be less than 0")
    statuses = [s for s in params.get("status", "").split(",") if s]
    if any(s not in _LIST_STATUSES for s in statuses):
        problems.append(f"each value in status must be one of the following values: {', '.join(_LIST_STATUSES)}")
    bounds: dict[str, datetime] = {}
    for name in ("afterStart", "beforeEnd", "afterCreatedAt", "beforeCreatedAt", "afterUpdatedAt", "beforeUpdatedAt"):
        if name in params:
            parsed = parse_iso(params[name])
            if parsed is None:
                problems.append(f"{name} must be a valid ISO 8601 date string")
            else:
                bounds[name] = parsed
    et_ids: set[int] = set()
    for name in ("eventTypeId", "eventTypeIds"):
        for part in (p for p in params.get(name, "").split(",") if p.strip()):
            value = int_param(part)
            if value is None:
                problems.append(f"{name} must be a number or a comma-separated list of numbers")
            else:
                et_ids.add(value)
    sort_key, descending = "start", False
    for name, key in (("sortStart", "start"), ("sortEnd", "end"), ("sortCreated", "created_at"), ("sortUpdatedAt", "updated_at")):
        if name in params:
            if params[name] not in ("asc", "desc"):
                problems.append(f"{name} must be one of the following values: asc, desc")
            else:
                sort_key, descending = key, params[name] == "desc"
                break
    if problems:
        return bad_request(request, ",".join(problems))

    now = sim.now()
    email = params.get("attendeeEmail", "").strip()  # exact, case included, as on Cal.com
    name = params.get("attendeeName", "").strip().lower()
    uid = params.get("bookingUid")

    def keep(b: Booking) -> bool:
        if email and b.attendee["email"] != email:
            return False
        if name and b.attendee["name"].strip().lower() != name:
            return False
        if uid and b.uid != uid:
            return False
        if et_ids and b.event_type.id not in et_ids:
            return False
        checks = (
            ("afterStart", lambda t: b.start >= t),
            ("beforeEnd", lambda t: b.end <= t),
            ("afterCreatedAt", lambda t: b.created_at >= t),
            ("beforeCreatedAt", lambda t: b.created_at <= t),
            ("afterUpdatedAt", lambda t: b.updated_at >= t),
            ("beforeUpdatedAt", lambda t: b.updated_at <= t),
        )
        if not all(check(bounds[key]) for key, check in checks if key in bounds):
            return False
        return not statuses or any(_has_list_status(b, s, now) for s in statuses)

    matches = sorted(
        (b for b in sim.store.bookings.values() if sim.listed(b) and keep(b)),
        key=lambda b: (getattr(b, sort_key), b.id),
        reverse=descending,
    )
    page = matches[skip : skip + take]
    total = len(matches)
    pagination = {
        "totalItems": total,
        "remainingItems": max(0, total - skip - len(page)),
        "returnedItems": len(page),
        "itemsPerPage": take,
        "currentPage": skip // take + 1,
        "totalPages": math.ceil(total / take),
        "hasNextPage": skip + len(page) < total,
        "hasPreviousPage": skip > 0,
    }
    return success(200, [b.to_api(sim.hosts) for b in page], pagination=pagination)


def _has_list_status(b: Booking, status: str, now: datetime) -> bool:
    if status == "cancelled":
        return b.status in ("cancelled", "rejected")
    if status == "upcoming":
        return b.status in ACTIVE and b.end >= now
    if status == "past":
        return b.status in ACTIVE and b.end <= now
    if status == "unconfirmed":
        return b.status == "pending" and b.end >= now
    if status == "recurring":
        return b.recurring_event_id is not None and b.status in ACTIVE and b.end >= now
    return False


@api_endpoint(BOOKINGS_VERSION, old_bookings_controller)
async def cancel_booking(request: Request, sim: SimState) -> Response:
    body, error = await json_object(request)
    if error:
        return error
    problems = _unknown(body, _CANCEL_FIELDS)
    reason = body.get("cancellationReason")
    if reason is not None and not isinstance(reason, str):
        problems.append(wrong("cancellationReason", "cancellationReason must be a string"))
    if problems:
        return bad_request(request, ", ".join(problems))
    uid = request.path_params["uid"]
    booking = sim.store.bookings.get(uid)
    if booking is None:
        return envelope(request, 404, "NotFoundException", msg_cancel_not_found(uid))
    if "seatUid" in body:
        return bad_request(request, f"Booking with uid={uid} is not a seated booking")
    if booking.status == "cancelled":
        return bad_request(request, msg_already_cancelled(uid))
    if booking.end < sim.now():  # the booking core's check: bare
        return bare(400, MSG_ENDED)
    if not reason or not reason.strip():
        return bare(400, MSG_REASON_REQUIRED)
    booking.status = "cancelled"
    booking.cancellation_reason = reason
    booking.updated_at = sim.now()
    sim.notify("BOOKING_CANCELLED", booking)
    return success(200, booking.to_api(sim.hosts))


@api_endpoint(BOOKINGS_VERSION, old_bookings_controller)
async def reschedule_booking(request: Request, sim: SimState) -> Response:
    body, error = await json_object(request)
    if error:
        return error
    problems = _unknown(body, _RESCHEDULE_FIELDS)
    if body.get("start") is None:
        problems.append(wrong("start", "start should not be null or undefined"))
    elif parse_iso(body["start"]) is None:
        problems.append(wrong("start", "start must be a valid ISO 8601 date string"))
    for name in ("reschedulingReason", "rescheduledBy"):
        if name in body and not isinstance(body[name], str):
            problems.append(wrong(name, f"{name} must be a string"))
    if problems:
        return bad_request(request, ", ".join(problems))
    uid = request.path_params["uid"]
    old = sim.store.bookings.get(uid)
    if old is None:
        return envelope(request, 404, "NotFoundException", msg_reschedule_not_found(uid))
    if old.status == "cancelled":
        return bad_request(
            request,
            f"Can't reschedule booking with uid={uid} because it has been cancelled. "
            "Please provide uid of a booking that is not cancelled.",
        )
    et = old.event_type
    start = parse_iso(body["start"])
    end = start + (old.end - old.start)
    problem = _availability_problem(request, sim, et, start, end, ignore_uid=uid)
    if problem:
        return problem
    now = sim.now()

    def make() -> Booking:
        new = sim.store.add(
            dict(
                event_type=et,
                hosts=old.hosts,
                start=start,
                end=end,
                attendee=dict(old.attendee),
                metadata=dict(old.metadata),
                created_at=now,
                updated_at=now,
                guests=list(old.guests),
                booking_fields_responses=dict(old.booking_fields_responses),
                rescheduled_from_uid=old.uid,
                rescheduling_reason=body.get("reschedulingReason"),
            )
        )
        old.status = "cancelled"
        old.rescheduled_to_uid = new.uid
        old.updated_at = now
        return new

    booking = await _commit(sim, et, start, end, make)
    if booking is None:
        return bare(409, MSG_CONFLICT)
    sim.notify("BOOKING_RESCHEDULED", booking)
    return success(201, booking.to_api(sim.hosts))


ROUTES = [
    Route("/v2/bookings", create_booking, methods=["POST"]),
    Route("/v2/bookings", list_bookings, methods=["GET"]),
    Route("/v2/bookings/{uid}", get_booking, methods=["GET"]),
    Route("/v2/bookings/{uid}/cancel", cancel_booking, methods=["POST"]),
    Route("/v2/bookings/{uid}/reschedule", reschedule_booking, methods=["POST"]),
]
