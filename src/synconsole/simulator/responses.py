"""Response bodies of the simulator: Cal.com's exact messages and its two error shapes.

1. The HttpException envelope: ``{"status": "error", "timestamp", "path", "error": {code, message, details}}``.
2. The bare body of the booking core and of every 500: ``{"statusCode": 400, "message": "…"}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .state import iso_ms

if TYPE_CHECKING:
    from .state import SimState

BOOKINGS_VERSION = "2024-08-13"
SLOTS_VERSION = "2024-09-04"

# Exact messages (API-NOTES.md).
MSG_PAST = "Attempting to book a meeting in the past."
MSG_HOST_BUSY = "User either already has booking at this time or is not available"
MSG_TEAM_BUSY = "One of the hosts either already has booking at this time or is not available"
MSG_WINDOW = (
    "The event type can't be booked at the \"start\" time provided. This could be because it's too "
    "soon (violating the minimum booking notice) or too far in the future (outside the event's "
    "scheduling window). Try fetching available slots first using the GET /v2/slots endpoint and "
    "then make a booking with \"start\" time equal to one of the available slots."
)
MSG_NO_CONTACT = "Attendee must have at least one contact method (email or phone number)"
MSG_MISSING_ATTENDEE = "attendee property is wrong,attendee should not be null or undefined "
MSG_CONFLICT = "booking_conflict_error"
MSG_ENDED = "Cannot cancel a booking that has already ended"
MSG_REASON_REQUIRED = "Cancellation reason is required when you are the host"
MSG_INTERNAL = "Internal server error"
MSG_AUTH = "ApiAuthStrategy - api key - Your api key is not valid"
#: an unknown ``cal_`` key: the throttler guard looks the key up first (API-NOTES, Corrections)
MSG_UNKNOWN_KEY = "CustomThrottlerGuard - Invalid API Key"
MSG_THROTTLED = "CustomThrottlerGuard - Too many requests. Please try again later."
MSG_METADATA = (
    "Metadata must have at most 50 keys, each key up to 40 characters, "
    "and values up to 500 characters."
)


def msg_already_cancelled(uid: str) -> str:
    return (f"Can't cancel booking with uid={uid} because it has been cancelled already. "
            "Please provide uid of a booking that is not cancelled.")


def msg_cancel_not_found(uid: str) -> str:
    return f"Booking with uid={uid} not found"


def msg_reschedule_not_found(uid: str) -> str:
    return f"Booking with uid={uid} was not found in the database"


OUTAGE_BODY = b"<html><head><title>503 Service Temporarily Unavailable</title></head><body><h1>503 Service Temporarily Unavailable</h1></body></html>"


def envelope_body(status: int, code: str, message: str, *, path: str, timestamp: str) -> dict[str, Any]:
    """Cal.com's HttpException body."""
    return {
        "status": "error",
        "timestamp": timestamp,
        "path": path,
        "error": {
            "code": code,
            "message": message,
            "details": {"message": message, "error": HTTPStatus(status).phrase, "statusCode": status},
        },
    }


def bare_body(status: int, message: str) -> dict[str, Any]:
    """The booking core's (and every 500's) body."""
    return {"statusCode": status, "message": message}


def envelope(request: Request, status: int, code: str, message: str) -> Response:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    timestamp = iso_ms(request.app.state.sim.now())
    return JSONResponse(envelope_body(status, code, message, path=path, timestamp=timestamp), status_code=status)


def bare(status: int, message: str) -> Response:
    return JSONResponse(bare_body(status, message), status_code=status)


def bad_request(request: Request, message: str) -> Response:
    return envelope(request, 400, "BadRequestException", message)


def zod_error(request: Request, issues: list[tuple[str, str]]) -> Response:
    """The booking core's zod error as the API's ZodExceptionFilter answers it: an envelope with
    code ``BAD_REQUEST``, no details, the issues as ``path - message, `` (the last issue first)."""
    message = ""
    for path, text in issues:
        message = f"{path} - {text}, {message}"
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    body = {"status": "error", "timestamp": iso_ms(request.app.state.sim.now()), "path": path,
            "error": {"code": "BAD_REQUEST", "message": message}}
    return JSONResponse(body, status_code=400)


def success(status: int, data: Any, **extra: Any) -> Response:
    return JSONResponse({"status": "success", "data": data, **extra}, status_code=status)


def wrong(prop: str, message: str) -> str:
    """class-validator message as Cal.com formats it (``attendee property is wrong,… ``)."""
    return f"{prop} property is wrong,{message} "


async def json_object(request: Request) -> tuple[dict[str, Any] | None, Response | None]:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        return None, bad_request(request, "Unexpected token in JSON body")
    if not isinstance(body, dict):
        return None, bad_request(request, "Request body must be a JSON object")
    return body, None


def api_endpoint(version: str, other_version: Callable[[Request], Response]):
    """Auth (401 envelope), then the ``cal-api-version`` routing, then the handler."""

    def wrap(handler):
        async def endpoint(request: Request) -> Response:
            sim: SimState = request.app.state.sim
            authorization = request.headers.get("authorization")
            if not sim.accepts(authorization):
                scheme, _, token = (authorization or "").partition(" ")
                unknown_key = scheme.lower() == "bearer" and token.strip().startswith("cal_")
                message = MSG_UNKNOWN_KEY if unknown_key else MSG_AUTH
                return envelope(request, 401, "UnauthorizedException", message)
            if request.headers.get("cal-api-version") != version:
                return other_version(request)
            return await handler(request, sim)

        endpoint.__name__ = handler.__name__
        return endpoint

    return wrap


def old_bookings_controller(request: Request) -> Response:
    """Without ``cal-api-version: 2024-08-13`` Cal.com routes to the 2024-04-15 controller."""
    if request.method == "POST" and request.url.path.rstrip("/") == "/v2/bookings":
        return bad_request(
            request,
            "property attendee should not exist,end must be a valid ISO 8601 date string,"
            "timeZone must be a string,language must be a string,responses should not be null or undefined",
        )
    return bare(500, MSG_INTERNAL)


def old_slots_controller(request: Request) -> Response:
    return bad_request(
        request, "startTime must be a valid ISO 8601 date string,endTime must be a valid ISO 8601 date string"
    )


async def not_found(request: Request, exc: Exception) -> Response:
    return envelope(request, 404, "NotFoundException", f"Cannot {request.method} {request.url.path}")
