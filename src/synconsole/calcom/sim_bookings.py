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

from .sim_events import EventType, is_time_zone
from .sim_responses import (
    BOOKINGS_VERSION,
    MSG_ALREADY_CANCELLED,
    MSG_CONFLICT,
    MSG_HOST_BUSY,
    MSG_INTERNAL,
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
    old_bookings_controller,
    success,
    wrong,
)
from .sim_state import ACTIVE, Booking, SimState, booking_window_ok, parse_iso

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
    email = attendee.get("email")
    if email is not None and not (isinstance(email, str) and _EMAIL.match(email)):
        problems.append(wrong("attendee", "attendee.email must be an email"))
    phone = attendee.get("phoneNumber")
    if phone is not None and not (isinstance(phone, str) and _E164.match(phone)):
        problems.append(wrong("attendee", "attendee.phoneNumber must be a valid phone number in E.164 format"))
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


def _availability_problem(
    request: Request, sim: SimState, et: EventType, start: datetime, end: datetime, ignore_uid: str | None = None
) -> Response | None:
    now = sim.now()
    if start < now:
        return bare(400, MSG_PAST)
    if not booking_window_ok(et, start, now):
        return bad_request(request, MSG_WINDOW)
    if not sim.store.available(et, start, end, ignore_uid=ignore_uid):
        return bare(400, MSG_TEAM_BUSY if et.team else MSG_HOST_BUSY)
    return None


async def _commit(sim: SimState, et: EventType, start: datetime, end: datetime, make: Callable[[], Booking]) -> Booking | None:
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
    start = parse_iso(body["start"])
    end = start + timedelta(minutes=length)
    problem = _availability_problem(request, sim, et, start, end)
    if problem:
        return problem
    now = sim.now()
    email = attendee.get("email") or f"{attendee['phoneNumber'].lstrip('+')}@sms.cal.com"
    stored_attendee = {**attendee, "email": email}
    responses = {"name": attendee["name"], "email": email}
    if attendee.get("phoneNumber"):
        responses["attendeePhoneNumber"] = attendee["phoneNumber"]
    responses.update(body.get("bookingFieldsResponses") or {})
    booking = await _commit(
        sim,
        et,
        start,
        end,
        lambda: sim.store.add(
            dict(
                event_type=et,
                hosts=et.hosts,
                start=start,
                end=end,
                attendee=stored_attendee,
                metadata=dict(body.get("metadata") or {}),
                created_at=now,
                updated_at=now,
                guests=list(body.get("guests") or []),
                booking_fields_responses=responses,
            )
        ),
    )
    if booking is None:
        return bare(409, MSG_CONFLICT)
    return success(201, booking.to_api(sim.hosts))


@api_endpoint(BOOKINGS_VERSION, old_bookings_controller)
async def get_booking(request: Request, sim: SimState) -> Response:
    uid = request.path_params["uid"]
    booking = sim.store.bookings.get(uid)
    if booking is None:
        return envelope(request, 404, "NotFoundException", f"Booking with uid={uid} not found")
    return success(200, booking.to_api(sim.hosts))


@api_endpoint(BOOKINGS_VERSION, old_bookings_controller)
async def list_bookings(request: Request, sim: SimState) -> Response:
    params = request.query_params
    problems = [f"property {k} should not exist" for k in params if k not in _LIST_PARAMS]
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
        (b for b in sim.store.bookings.values() if keep(b)),
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
    return False  # recurring: the simulator makes no recurring bookings


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
        return envelope(request, 404, "NotFoundException", f"Booking with uid={uid} not found")
    if "seatUid" in body:
        return bad_request(request, f"Booking with uid={uid} is not a seated booking")
    if booking.status == "cancelled":
        return bare(400, MSG_ALREADY_CANCELLED)
    if not reason or not reason.strip():
        return bare(400, MSG_REASON_REQUIRED)
    booking.status = "cancelled"
    booking.cancellation_reason = reason
    booking.updated_at = sim.now()
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
        return bare(500, MSG_INTERNAL)  # yes, Cal.com answers an unknown uid with a bare 500
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
    return success(201, booking.to_api(sim.hosts))


ROUTES = [
    Route("/v2/bookings", create_booking, methods=["POST"]),
    Route("/v2/bookings", list_bookings, methods=["GET"]),
    Route("/v2/bookings/{uid}", get_booking, methods=["GET"]),
    Route("/v2/bookings/{uid}/cancel", cancel_booking, methods=["POST"]),
    Route("/v2/bookings/{uid}/reschedule", reschedule_booking, methods=["POST"]),
]
