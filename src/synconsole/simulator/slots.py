"""The simulator's ``/v2/slots`` route (``cal-api-version: 2024-09-04``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .bookings import event_type_for, int_param
from .events import is_time_zone
from .responses import SLOTS_VERSION, api_endpoint, bad_request, envelope, old_slots_controller, success
from .state import MAX_SLOT_RANGE_DAYS, UTC, SimState, compute_slots, parse_iso

_SLOTS_PARAMS = {
    "bookingUidToReschedule", "start", "end", "organizationSlug", "teamSlug", "username",
    "eventTypeSlug", "eventTypeId", "usernames", "format", "duration", "timeZone",
}  # fmt: skip


@api_endpoint(SLOTS_VERSION, old_slots_controller)
async def get_slots(request: Request, sim: SimState) -> Response:
    # unknown query parameters are silently dropped (Cal.com's global pipe only whitelists)
    params = {k: v for k, v in request.query_params.items() if k in _SLOTS_PARAMS}
    problems: list[str] = []
    tz = params.get("timeZone", "UTC")
    if not is_time_zone(tz):
        problems.append("timeZone must be a valid IANA time zone")
        tz = "UTC"
    bounds = {}
    for name in ("start", "end"):
        value = params.get(name)
        parsed = parse_iso(value)
        if parsed is None:
            problems.append(f"{name} must be a valid ISO 8601 date string")
        elif len(value.strip()) == 10:  # a date: local midnight in timeZone; `end` covers the whole day
            local = datetime.fromisoformat(value.strip()).replace(tzinfo=ZoneInfo(tz))
            bounds[name] = (local + timedelta(days=1 if name == "end" else 0)).astimezone(UTC)
        else:
            bounds[name] = parsed
    fmt = params.get("format", "time")
    if fmt not in ("time", "range"):
        problems.append("format must be one of the following values: time, range")
    duration = None
    if "duration" in params:
        duration = int_param(params["duration"])
        if duration is None or duration < 1:
            problems.append("duration must be a positive number")
    if not params.get("eventTypeId") and not params.get("eventTypeSlug"):
        problems.append("eventTypeId or eventTypeSlug is required")
    elif params.get("eventTypeId") and int_param(params["eventTypeId"]) is None:
        problems.append("eventTypeId must be a number conforming to the specified constraints")
    if not problems and bounds["end"] <= bounds["start"]:
        problems.append("end must be after start")
    if not problems and bounds["end"] - bounds["start"] > timedelta(days=MAX_SLOT_RANGE_DAYS):
        problems.append(f"The range between start and end must not exceed {MAX_SLOT_RANGE_DAYS} days")
    if problems:
        return bad_request(request, ",".join(problems))
    et, asked = event_type_for(sim, params)
    if et is None:
        return envelope(request, 404, "NotFoundException", f"Event type with id {asked} not found.")
    allowed = et.length_options or (et.length,)
    if duration is not None and duration not in allowed:
        return bad_request(
            request, f"Requested duration {duration} is not one of the event type's lengths: {', '.join(map(str, allowed))}"
        )
    slots = compute_slots(
        sim.store,
        et,
        start=bounds["start"],
        end=bounds["end"],
        out_tz=tz,
        duration=duration or et.length,
        now=sim.now(),
        ignore_uid=params.get("bookingUidToReschedule"),
        range_format=fmt == "range",
    )
    return success(200, slots)


ROUTES = [Route("/v2/slots", get_slots, methods=["GET"])]
