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

from .events import EventType
from .responses import (
    BOOKINGS_VERSION,
    MSG_CONFLICT,
    MSG_ENDED,
    MSG_HOST_BUSY,
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
)
from .state import ACTIVE, Booking, SimState, booking_window_ok, parse_iso
from .validation import (
    CANCEL_FIELDS,
    LIST_PARAMS,
    LIST_STATUSES,
    RESCHEDULE_FIELDS,
    core_responses,
    is_number,
    unknown_fields,
    validate_create,
)

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
    if is_number(asked) and 1 <= int(asked) <= count:
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
    problems = validate_create(body)
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
    problem = core_responses(request, et, attendee)
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
    params = {k: v for k, v in request.query_params.items() if k in LIST_PARAMS}
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
    if any(s not in LIST_STATUSES for s in statuses):
        problems.append(f"each value in status must be one of the following values: {', '.join(LIST_STATUSES)}")
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
    problems = unknown_fields(body, CANCEL_FIELDS)
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
    problems = unknown_fields(body, RESCHEDULE_FIELDS)
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
