"""One test per row of API-NOTES' error table, against the simulator over real HTTP (127.0.0.1).

Each checks the status, the body shape (envelope or bare) and the exact message. The messages
are written out here, not imported from the simulator, so a drift in either place fails.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from synconsole.calcom.client import CalcomClient
from synconsole.calcom.errors import CalcomError
from synconsole.calcom.errors import parse_error_body
from synconsole.simulator import SimulatorServer
from synconsole.core.classify import classify_response

KEY = "cal_test_errors_key"
EVENT_TYPES = {
    "101": {"host": "fabian", "length": 30},
    "102": {"host": "anna", "length": 30, "minimumBookingNotice": 120, "periodDays": 30},
    "301": {"hosts": ["fabian", "mia"], "length": 30},
}
BOOKINGS = {"cal-api-version": "2024-08-13", "Authorization": f"Bearer {KEY}"}
# Each test books its own hour so tests sharing the server never collide.
BASE = (datetime.now(timezone.utc) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)


def at(hour: int) -> str:
    return (BASE + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:%M:%SZ")


def create_body(hour: int, event_type_id: int = 101, **attendee) -> dict:
    person = {"name": "Anna Beispiel", "timeZone": "Europe/Berlin", "email": "anna@example.com"}
    person.update(attendee)
    return {"start": at(hour), "eventTypeId": event_type_id, "attendee": {k: v for k, v in person.items() if v is not None}}


@pytest.fixture(scope="module")
def server():
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES) as running:
        yield running


@pytest.fixture
async def http(server):
    async with httpx.AsyncClient(base_url=server.url, headers=BOOKINGS, timeout=10) as client:
        yield client


def assert_category(response: httpx.Response, expected: str) -> None:
    """What the classifier makes of this answer, parsed the way the client parses it."""
    err = parse_error_body(response.status_code, response.content)
    assert classify_response(err.status, err.code, err.message) == expected, err.message


def assert_bare(response: httpx.Response, status: int, message: str) -> None:
    assert response.status_code == status, response.text
    assert response.json() == {"statusCode": status, "message": message}


def assert_envelope(response: httpx.Response, status: int, code: str, message: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"status", "timestamp", "path", "error"}
    assert body["status"] == "error"
    assert body["path"].startswith(response.request.url.path)
    datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    if message is not None:
        assert body["error"]["message"] == message
    return body["error"]


async def test_start_in_the_past(http):
    past = dict(create_body(0), start=(datetime.now(timezone.utc) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    response = await http.post("/v2/bookings", json=past)
    # the core's error, mapped by the API to an envelope (API-NOTES, Corrections)
    assert_envelope(response, 400, "BadRequestException", "Attempting to book a meeting in the past.")
    assert_category(response, "past_appointment")


async def test_host_busy_individual_event(http):
    first = await http.post("/v2/bookings", json=create_body(1))
    assert first.status_code == 201, first.text
    # Same host, overlapping time, different attendee: Cal.com refuses.
    again = await http.post("/v2/bookings", json=create_body(1, email="other@example.com"))
    assert_envelope(again, 400, "BadRequestException", "User either already has booking at this time or is not available")
    assert_category(again, "host_conflict")


async def test_host_busy_team_event(http):
    assert (await http.post("/v2/bookings", json=create_body(2))).status_code == 201  # fabian is busy
    team = await http.post("/v2/bookings", json=create_body(2, event_type_id=301))
    assert_envelope(team, 400, "BadRequestException", "One of the hosts either already has booking at this time or is not available")
    assert_category(team, "host_conflict")


WINDOW_PREFIX = (
    "The event type can't be booked at the \"start\" time provided. This could be because it's too soon "
    "(violating the minimum booking notice) or too far in the future (outside the event's scheduling window). "
)


@pytest.mark.parametrize("offset", [timedelta(minutes=30), timedelta(days=45)], ids=["too_soon", "outside_window"])
async def test_too_soon_or_outside_booking_window(http, offset):
    start = (datetime.now(timezone.utc) + offset).replace(second=0, microsecond=0)
    body = dict(create_body(0, event_type_id=102), start=start.strftime("%Y-%m-%dT%H:%M:%SZ"))
    response = await http.post("/v2/bookings", json=body)
    error = assert_envelope(response, 400, "BadRequestException")
    assert error["message"].startswith(WINDOW_PREFIX)
    assert_category(response, "outside_booking_window")


async def test_event_type_unknown(http):
    response = await http.post("/v2/bookings", json=create_body(3, event_type_id=999))
    assert_envelope(response, 404, "NotFoundException", "Event type with id 999 not found.")
    assert_category(response, "no_event_type")


async def test_body_validation_missing_attendee(http):
    body = create_body(4)
    del body["attendee"]
    response = await http.post("/v2/bookings", json=body)
    assert_envelope(response, 400, "BadRequestException", "attendee property is wrong,attendee should not be null or undefined ")
    assert_category(response, "validation")


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"attendee": {"name": "A", "timeZone": "Mars/Olympus", "email": "a@example.com"}}, "timeZone"),
        ({"end": "2030-01-01T10:30:00Z"}, "property end should not exist"),
        ({"attendee": {"name": "A", "timeZone": "UTC", "email": "a@example.com", "phone": "1"}}, "should not exist"),
        ({"start": "next tuesday"}, "start must be a valid ISO 8601 date string"),
        ({"metadata": {f"k{i}": "v" for i in range(51)}}, "Metadata must have at most 50 keys"),
        ({"metadata": {"k" * 41: "v"}}, "each key up to 40 characters"),
        ({"metadata": {"k": "v" * 501}}, "values up to 500 characters"),
    ],
    ids=["bad_time_zone", "unknown_field", "unknown_attendee_field", "bad_start", "metadata_keys", "metadata_key_len", "metadata_value_len"],
)
async def test_body_validation_other(http, change, needle):
    body = {**create_body(5), **change}
    response = await http.post("/v2/bookings", json=body)
    error = assert_envelope(response, 400, "BadRequestException")
    assert needle in error["message"]
    assert_category(response, "validation")


async def test_metadata_at_the_limits_is_accepted(http):
    metadata = {f"{i:02d}" + "k" * 38: "v" * 500 for i in range(50)}
    assert all(len(k) == 40 for k in metadata)
    response = await http.post("/v2/bookings", json={**create_body(6), "metadata": metadata})
    assert response.status_code == 201, response.text


def assert_zod(response: httpx.Response, message: str) -> None:
    """The booking core's zod error through the API's ZodExceptionFilter: code BAD_REQUEST, no details."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"status", "timestamp", "path", "error"} and body["status"] == "error"
    assert body["error"] == {"code": "BAD_REQUEST", "message": message}


async def test_phone_only_attendee_refused_by_a_default_event_type(http):
    """The DTO takes a phone-only attendee; the core refuses it: email is a required booking field."""
    body = create_body(7, email=None, phoneNumber="+4915112345678")
    response = await http.post("/v2/bookings", json=body)
    assert_zod(response, "responses - {email}error_required_field, ")
    assert_category(response, "missing_contact")


async def test_phone_format_is_not_checked_when_the_phone_field_is_hidden(http):
    """Format checks of the DTO do nothing: with an email, any phone string is taken (and ignored)."""
    response = await http.post("/v2/bookings", json=create_body(18, phoneNumber="anonymous_1732456789_ab12cd"))
    assert response.status_code == 201, response.text


async def test_bad_email_is_refused_by_the_core(http):
    response = await http.post("/v2/bookings", json=create_body(19, email="not-an-email"))
    assert_zod(response, "responses - email_validation_error, ")
    assert_category(response, "missing_contact")


async def test_phone_checked_only_where_the_event_type_shows_it():
    types = {"401": {"host": "paula", "length": 30,
                     "bookingFields": {"email": "optional", "attendeePhoneNumber": "required"}}}
    with SimulatorServer(api_key=KEY, event_types=types) as phones:
        async with httpx.AsyncClient(base_url=phones.url, headers=BOOKINGS) as raw:
            ok = await raw.post("/v2/bookings", json=create_body(20, 401, email=None, phoneNumber="+4915112345678"))
            assert ok.status_code == 201, ok.text
            assert ok.json()["data"]["attendees"][0]["email"] == "4915112345678@sms.cal.com"
            # looks like E.164, and libphonenumber still says no (API-NOTES, Corrections)
            bad = await raw.post("/v2/bookings", json=create_body(21, 401, email=None, phoneNumber="+4912345678"))
            assert_zod(bad, "responses - {attendeePhoneNumber}invalid_number, ")
            assert_category(bad, "missing_contact")
            none = await raw.post("/v2/bookings", json=create_body(22, 401))
            assert_zod(none, "responses - {attendeePhoneNumber}error_required_field, ")


async def test_no_contact(http):
    body = create_body(8, email=None)
    response = await http.post("/v2/bookings", json=body)
    assert_envelope(response, 400, "BadRequestException", "Attendee must have at least one contact method (email or phone number)")
    assert_category(response, "missing_contact")


async def test_concurrent_duplicate(server, http):
    server.state.faults.commit_delay_s = 0.3  # both requests pass the availability check, one loses the race
    try:
        first, second = await asyncio.gather(
            http.post("/v2/bookings", json=create_body(9)),
            http.post("/v2/bookings", json=create_body(9)),
        )
    finally:
        server.state.faults.commit_delay_s = 0.0
    statuses = sorted([first.status_code, second.status_code])
    assert statuses == [201, 409], (first.text, second.text)
    loser = first if first.status_code == 409 else second
    assert_bare(loser, 409, "booking_conflict_error")
    assert_category(loser, "host_conflict")


async def test_same_create_twice_in_a_row_is_host_busy_not_the_first_booking(http):
    assert (await http.post("/v2/bookings", json=create_body(10))).status_code == 201
    assert_envelope(await http.post("/v2/bookings", json=create_body(10)), 400, "BadRequestException",
                    "User either already has booking at this time or is not available")


async def _booking(http, hour: int) -> str:
    response = await http.post("/v2/bookings", json=create_body(hour))
    assert response.status_code == 201, response.text
    return response.json()["data"]["uid"]


async def test_cancel_already_cancelled(http):
    uid = await _booking(http, 11)
    assert (await http.post(f"/v2/bookings/{uid}/cancel", json={"cancellationReason": "first"})).status_code == 200
    again = await http.post(f"/v2/bookings/{uid}/cancel", json={"cancellationReason": "second"})
    assert_envelope(again, 400, "BadRequestException",
                    f"Can't cancel booking with uid={uid} because it has been cancelled already. "
                    "Please provide uid of a booking that is not cancelled.")
    assert_category(again, "booking_gone")


async def test_cancel_a_booking_that_has_ended():
    now = [BASE.timestamp()]
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES, clock=lambda: now[0]) as timed:
        async with httpx.AsyncClient(base_url=timed.url, headers=BOOKINGS) as raw:
            booked = await raw.post("/v2/bookings", json=create_body(1))
            uid = booked.json()["data"]["uid"]
            now[0] = (BASE + timedelta(hours=1, minutes=31)).timestamp()  # it ran 1:00-1:30
            response = await raw.post(f"/v2/bookings/{uid}/cancel", json={"cancellationReason": "past"})
            assert_bare(response, 400, "Cannot cancel a booking that has already ended")
            assert_category(response, "past_appointment")
            assert (await raw.get(f"/v2/bookings/{uid}")).json()["data"]["status"] == "accepted"


async def test_cancel_unknown_uid(http):
    response = await http.post("/v2/bookings/doesnotexist123/cancel", json={"cancellationReason": "x"})
    assert_envelope(response, 404, "NotFoundException", "Booking with uid=doesnotexist123 not found")
    assert_category(response, "booking_gone")


@pytest.mark.parametrize("body", [{}, {"cancellationReason": ""}], ids=["missing", "empty"])
async def test_host_cancels_without_reason(http, body):
    uid = await _booking(http, 12 if body else 13)
    response = await http.post(f"/v2/bookings/{uid}/cancel", json=body)
    assert_bare(response, 400, "Cancellation reason is required when you are the host")
    assert_category(response, "validation")


async def test_reschedule_cancelled_booking(http):
    uid = await _booking(http, 14)
    await http.post(f"/v2/bookings/{uid}/cancel", json={"cancellationReason": "gone"})
    response = await http.post(f"/v2/bookings/{uid}/reschedule", json={"start": at(15)})
    error = assert_envelope(response, 400, "BadRequestException")
    assert error["message"].startswith(f"Can't reschedule booking with uid={uid} because it has been cancelled. ")
    assert_category(response, "validation")


async def test_reschedule_unknown_uid(http):
    response = await http.post("/v2/bookings/doesnotexist123/reschedule", json={"start": at(16)})
    assert_envelope(response, 404, "NotFoundException", "Booking with uid=doesnotexist123 was not found in the database")
    assert_category(response, "booking_gone")


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer cal_wrong_key", "Bearer", "Basic Y2FsXzE=", f"Token {KEY}"],
    ids=["missing", "wrong", "empty", "basic", "scheme"],
)
async def test_bad_or_missing_key(server, authorization):
    headers = {"cal-api-version": "2024-08-13"}
    if authorization is not None:
        headers["Authorization"] = authorization
    async with httpx.AsyncClient(base_url=server.url, headers=headers) as raw:
        response = await raw.get("/v2/bookings")
    # an unknown cal_ key is refused by the throttler guard first (API-NOTES, Corrections)
    message = ("CustomThrottlerGuard - Invalid API Key" if authorization == "Bearer cal_wrong_key"
               else "ApiAuthStrategy - api key - Your api key is not valid")
    assert_envelope(response, 401, "UnauthorizedException", message)
    assert_category(response, "auth")


async def test_rate_limit_429_envelope():
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES, rate_limit=2, rate_window_s=30, block_s=30) as small:
        async with httpx.AsyncClient(base_url=small.url, headers=BOOKINGS) as raw:
            answers = [await raw.get("/v2/bookings") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert_envelope(answers[2], 429, "ThrottlerException", "CustomThrottlerGuard - Too many requests. Please try again later.")
    assert_category(answers[2], "rate_limited")
    assert answers[2].headers["X-RateLimit-Remaining-Default"] == "0"
    assert answers[2].headers["X-RateLimit-Reset-Default"] == "30"
    assert "retry-after" not in answers[2].headers


async def test_the_client_parses_both_shapes_from_the_wire(server):
    """The same rows seen through CalcomClient: message and code land in CalcomError."""
    now = [BASE.timestamp()]
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES, clock=lambda: now[0]) as timed:
        async with CalcomClient(timed.url, KEY) as client:
            booked = await client.create_booking(start=BASE + timedelta(hours=1), event_type_id=101, attendee_name="A",
                                                 attendee_time_zone="UTC", attendee_email="a@example.com")
            now[0] += 3 * 3600  # it has ended
            with pytest.raises(CalcomError) as bare:
                await client.cancel_booking(booked["uid"], "too late")
            with pytest.raises(CalcomError) as envelope:
                await client.create_booking(
                    start=BASE + timedelta(hours=17), event_type_id=999, attendee_name="A", attendee_time_zone="UTC", attendee_email="a@example.com"
                )
    assert (bare.value.status, bare.value.code, bare.value.message) == (400, None, "Cannot cancel a booking that has already ended")
    assert json.loads(bare.value.body) == {"statusCode": 400, "message": "Cannot cancel a booking that has already ended"}
    assert (envelope.value.status, envelope.value.code, envelope.value.message) == (404, "NotFoundException", "Event type with id 999 not found.")
    assert envelope.value.details["statusCode"] == 404
