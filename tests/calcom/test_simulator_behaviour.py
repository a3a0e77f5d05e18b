"""Simulator behaviour beyond the error table, on a fixed clock (in-process ASGI, deterministic).

"Now" is Monday 2030-01-07 08:00 UTC (09:00 in Berlin) unless a test moves it.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from synconsole.calcom.client import CalcomClient
from synconsole.calcom.errors import CalcomError
from synconsole.simulator import DEMO_EVENT_TYPES, Faults, create_app

NOW = datetime(2030, 1, 7, 8, 0, tzinfo=timezone.utc)
KEY = "cal_test_behaviour"
BOOKINGS = {"cal-api-version": "2024-08-13", "Authorization": f"Bearer {KEY}"}
SLOTS = {"cal-api-version": "2024-09-04", "Authorization": f"Bearer {KEY}"}
EVENT_TYPES = {
    "101": {"host": "fabian", "length": 30},
    "201": {
        "host": "lena",
        "length": 60,
        "lengthOptions": [30, 60],
        "timeZone": "Europe/Berlin",
        "workingHours": {"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "12:00"},
        "minimumBookingNotice": 60,
    },
    "301": {"hosts": ["fabian", "lena"], "length": 30},
}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now.timestamp()


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def app(clock):
    return create_app(api_key=KEY, event_types=EVENT_TYPES, clock=clock)


@pytest.fixture
async def http(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim", headers=BOOKINGS) as client:
        yield client


@pytest.fixture
async def calcom(app):
    async with CalcomClient("http://sim", KEY, transport=httpx.ASGITransport(app=app)) as client:
        yield client


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def book(http, start: datetime, event_type_id: int = 101, email: str = "anna@example.com", **extra) -> dict:
    body = {"start": iso(start), "eventTypeId": event_type_id, "attendee": {"name": "Anna", "timeZone": "Europe/Berlin", "email": email}, **extra}
    response = await http.post("/v2/bookings", json=body)
    assert response.status_code == 201, response.text
    return response.json()["data"]


# -- bookings ---------------------------------------------------------------------------------------
async def test_created_booking_fields(http):
    data = await book(http, NOW + timedelta(days=1), metadata={"synconsole_appointment_id": "748"})
    assert data["status"] == "accepted" and data["duration"] == 30
    assert data["start"] == "2030-01-08T08:00:00.000Z" and data["end"] == "2030-01-08T08:30:00.000Z"
    assert data["eventTypeId"] == 101 and data["eventType"] == {"id": 101, "slug": "event-101"}
    assert data["hosts"][0]["username"] == "fabian"
    assert data["attendees"][0]["email"] == "anna@example.com" and data["attendees"][0]["absent"] is False
    assert data["metadata"] == {"synconsole_appointment_id": "748"}
    assert data["createdAt"] == "2030-01-07T08:00:00.000Z"
    assert len(data["uid"]) == 22
    fetched = (await http.get(f"/v2/bookings/{data['uid']}")).json()
    assert fetched == {"status": "success", "data": data}


async def test_phone_only_attendee_gets_a_placeholder_email_where_the_event_type_takes_phones(clock):
    types = {**EVENT_TYPES, "102": {"host": "fabian", "length": 30,
                                    "bookingFields": {"email": "optional", "attendeePhoneNumber": "required"}}}
    app = create_app(api_key=KEY, event_types=types, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim", headers=BOOKINGS) as http:
        body = {"start": iso(NOW + timedelta(days=1)), "eventTypeId": 102, "attendee": {"name": "B", "timeZone": "UTC", "phoneNumber": "+4915112345678"}}
        data = (await http.post("/v2/bookings", json=body)).json()["data"]
        assert data["attendees"][0]["phoneNumber"] == "+4915112345678"
        assert data["attendees"][0]["email"] == "4915112345678@sms.cal.com"
        # the default event type (email required) refuses the same attendee
        refused = await http.post("/v2/bookings", json={**body, "eventTypeId": 101})
        assert refused.status_code == 400
        assert refused.json()["error"] == {"code": "BAD_REQUEST", "message": "responses - {email}error_required_field, "}


def test_booking_fields_and_recurring_event_settings_are_validated():
    from synconsole.simulator.events import normalize_event_types

    for bad in ({"bookingFields": {"email": "hidden"}}, {"bookingFields": {"email": "optional"}},
                {"bookingFields": {"sms": "required"}}, {"recurringEvent": {"freq": "weekly", "count": 1}},
                {"recurringEvent": {"freq": "hourly", "count": 3}}):
        with pytest.raises(ValueError):
            normalize_event_types({"1": {"host": "a", "length": 30, **bad}})


async def test_recurring_event_type_answers_the_series_as_an_array(clock):
    types = {**EVENT_TYPES, "501": {"host": "fabian", "length": 30,
                                    "recurringEvent": {"freq": "weekly", "count": 3, "interval": 1}}}
    app = create_app(api_key=KEY, event_types=types, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim", headers=BOOKINGS) as http:
        start = NOW + timedelta(days=1)
        response = await http.post("/v2/bookings", json={"start": iso(start), "eventTypeId": 501, "attendee": {"name": "A", "timeZone": "UTC", "email": "a@example.com"}, "metadata": {"synconsole_appointment_id": "9"}})
        assert response.status_code == 201
        series = response.json()["data"]
        assert isinstance(series, list) and len(series) == 3
        assert [b["start"] for b in series] == [iso_ms(start + timedelta(weeks=k)) for k in range(3)]
        assert len({b["recurringBookingUid"] for b in series}) == 1
        assert all(b["metadata"] == {"synconsole_appointment_id": "9"} for b in series)
        listed = (await http.get("/v2/bookings", params={"status": "recurring"})).json()["data"]
        assert sorted(b["uid"] for b in listed) == sorted(b["uid"] for b in series)


def iso_ms(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


async def test_list_shows_only_what_the_keys_owner_may_see(clock):
    """Own bookings, and team bookings only with read rights; by uid every booking is found."""
    async def seen(app) -> tuple[set, list]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim", headers=BOOKINGS) as http:
            uids = []
            for n, et in enumerate((101, 201, 301)):
                start = datetime(2030, 1, 8, 9 + n, 0, tzinfo=timezone.utc)  # Tuesday, inside lena's hours
                uids.append((await book(http, start, et))["uid"])
            listed = {b["uid"] for b in (await http.get("/v2/bookings")).json()["data"]}
            by_uid = [(await http.get(f"/v2/bookings/{u}")).status_code for u in uids]
            return listed, uids, by_uid

    listed, (fabian, lena, team), by_uid = await seen(create_app(api_key=KEY, event_types=EVENT_TYPES, clock=clock, key_owner="fabian", team_read=False))
    assert listed == {fabian} and by_uid == [200, 200, 200]
    listed, (fabian, lena, team), _ = await seen(create_app(api_key=KEY, event_types=EVENT_TYPES, clock=clock, key_owner="fabian"))
    assert listed == {fabian, team}
    listed, uids, _ = await seen(create_app(api_key=KEY, event_types=EVENT_TYPES, clock=clock))
    assert listed == set(uids)


async def test_length_in_minutes_rules(http):
    response = await http.post(
        "/v2/bookings",
        json={"start": iso(NOW + timedelta(days=1)), "eventTypeId": 101, "lengthInMinutes": 60, "attendee": {"name": "A", "timeZone": "UTC", "email": "a@example.com"}},
    )
    assert response.status_code == 400 and "does not have multiple possible lengths" in response.json()["error"]["message"]
    tuesday_10_berlin = datetime(2030, 1, 8, 9, 0, tzinfo=timezone.utc)
    response = await http.post(
        "/v2/bookings",
        json={"start": iso(tuesday_10_berlin), "eventTypeId": 201, "lengthInMinutes": 45, "attendee": {"name": "A", "timeZone": "UTC", "email": "a@example.com"}},
    )
    assert response.status_code == 400 and "The possible lengths are: 30, 60" in response.json()["error"]["message"]
    data = await book(http, tuesday_10_berlin, 201, lengthInMinutes=30)
    assert data["duration"] == 30


async def test_working_hours_and_busy_blocks_make_the_host_unavailable(clock):
    busy = [{"host": "lena", "start": "2030-01-08T10:00:00Z", "end": "2030-01-08T10:30:00Z"}]
    app = create_app(api_key=KEY, event_types=EVENT_TYPES, busy=busy, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim", headers=BOOKINGS) as http:
        outside = {"start": "2030-01-08T12:00:00Z", "eventTypeId": 201, "attendee": {"name": "A", "timeZone": "UTC", "email": "a@example.com"}}
        response = await http.post("/v2/bookings", json=outside)  # 13:00 in Berlin: after hours
        assert response.json()["error"]["message"] == "User either already has booking at this time or is not available"
        blocked = {**outside, "start": "2030-01-08T09:30:00Z"}  # 09:30-10:30 UTC overlaps the busy 10:00-10:30
        assert (await http.post("/v2/bookings", json=blocked)).status_code == 400
        free = {**outside, "start": "2030-01-08T08:00:00Z"}  # 09:00-10:00 Berlin
        assert (await http.post("/v2/bookings", json=free)).status_code == 201
        team = {**outside, "eventTypeId": 301, "start": "2030-01-08T10:00:00Z"}  # lena's busy block
        assert (await http.post("/v2/bookings", json=team)).json()["error"]["message"] == (
            "One of the hosts either already has booking at this time or is not available"
        )


async def test_cancel_and_reschedule(http):
    first = await book(http, NOW + timedelta(days=1), metadata={"synconsole_appointment_id": "7"})
    moved = await http.post(f"/v2/bookings/{first['uid']}/reschedule", json={"start": iso(NOW + timedelta(days=1, minutes=15)), "reschedulingReason": "later"})
    assert moved.status_code == 201
    new = moved.json()["data"]
    assert new["uid"] != first["uid"] and new["rescheduledFromUid"] == first["uid"]
    assert new["metadata"] == {"synconsole_appointment_id": "7"} and new["reschedulingReason"] == "later"
    assert new["start"] == "2030-01-08T08:15:00.000Z"  # overlapping its own old time is fine
    old = (await http.get(f"/v2/bookings/{first['uid']}")).json()["data"]
    assert old["status"] == "cancelled" and old["rescheduledToUid"] == new["uid"]
    cancelled = await http.post(f"/v2/bookings/{new['uid']}/cancel", json={"cancellationReason": "no show"})
    assert cancelled.status_code == 200
    assert cancelled.json()["data"]["status"] == "cancelled" and cancelled.json()["data"]["cancellationReason"] == "no show"
    # The slot is free again.
    await book(http, NOW + timedelta(days=1, minutes=15))


async def test_unknown_booking_uid(http):
    response = await http.get("/v2/bookings/nope")
    assert response.status_code == 404 and response.json()["error"]["message"] == "Booking with uid=nope not found"
    response = await http.post("/v2/bookings/nope/cancel", json={"cancellationReason": "x"})
    assert response.status_code == 404


# -- list --------------------------------------------------------------------------------------------
async def test_list_filters_and_pagination(http, clock, calcom):
    for n in range(7):
        await book(http, NOW + timedelta(days=1, hours=n), email="anna@example.com" if n % 2 == 0 else "bert@example.com")
    await book(http, NOW + timedelta(days=2), 301, email="team@example.com")
    gone = await book(http, NOW + timedelta(days=3))
    await http.post(f"/v2/bookings/{gone['uid']}/cancel", json={"cancellationReason": "x"})

    async def page(**params):
        response = await http.get("/v2/bookings", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    everything = await page()
    assert everything["pagination"]["totalItems"] == 9 and everything["pagination"]["itemsPerPage"] == 100
    starts = [b["start"] for b in everything["data"]]
    assert starts == sorted(starts)
    # attendeeEmail is compared exactly, case included (API-NOTES, Corrections)
    assert [b["attendees"][0]["email"] for b in (await page(attendeeEmail="anna@example.com"))["data"]] == ["anna@example.com"] * 5
    assert (await page(attendeeEmail="ANNA@example.com"))["data"] == []
    window = await page(afterStart=iso(NOW + timedelta(days=1, hours=2)), beforeEnd=iso(NOW + timedelta(days=1, hours=4, minutes=30)))
    assert [b["start"][11:16] for b in window["data"]] == ["10:00", "11:00", "12:00"]
    assert (await page(eventTypeId="301"))["pagination"]["totalItems"] == 1
    assert [b["uid"] for b in (await page(status="cancelled"))["data"]] == [gone["uid"]]
    assert (await page(status="upcoming"))["pagination"]["totalItems"] == 8
    clock.now = NOW + timedelta(days=30)
    assert (await page(status="past"))["pagination"]["totalItems"] == 8
    assert (await page(status="upcoming,cancelled"))["pagination"]["totalItems"] == 1

    second = await page(take="3", skip="3")
    assert second["pagination"] == {
        "totalItems": 9,
        "remainingItems": 3,
        "returnedItems": 3,
        "itemsPerPage": 3,
        "currentPage": 2,
        "totalPages": 3,
        "hasNextPage": True,
        "hasPreviousPage": True,
    }
    last = await page(take="3", skip="6")
    assert last["pagination"]["hasNextPage"] is False and last["pagination"]["remainingItems"] == 0
    assert [b["id"] for b in everything["data"]] == [b["id"] async for b in calcom.iter_bookings(take=2)]


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"take": "0"}, "take must not be less than 1"),
        ({"take": "251"}, "take must not be greater than 250"),
        ({"take": "ten"}, "take must be a number"),
        ({"skip": "-1"}, "skip must not be less than 0"),
        ({"status": "accepted"}, "status must be one of"),
        ({"afterStart": "yesterday"}, "afterStart must be a valid ISO 8601 date string"),
    ],
)
async def test_list_rejects_bad_parameters(http, params, needle):
    response = await http.get("/v2/bookings", params=params)
    assert response.status_code == 400 and needle in response.json()["error"]["message"]


async def test_list_and_slots_silently_drop_unknown_parameters(http):
    """Cal.com's global pipe only whitelists query parameters: a typo filters nothing (API-NOTES, Corrections)."""
    await book(http, NOW + timedelta(days=1), email="anna@example.com")
    await book(http, NOW + timedelta(days=1, hours=1), email="bert@example.com")
    typo = await http.get("/v2/bookings", params={"attendeeEmial": "anna@example.com", "attendeePhone": "+49"})
    assert typo.status_code == 200 and len(typo.json()["data"]) == 2
    exact = await http.get("/v2/bookings", params={"attendeeEmail": " anna@example.com "})
    assert [b["attendees"][0]["email"] for b in exact.json()["data"]] == ["anna@example.com"]
    assert (await http.get("/v2/bookings", params={"attendeeEmail": "Anna@Example.com"})).json()["data"] == []
    slots = await http.get("/v2/slots", params={"eventTypeId": "101", "start": "2030-01-09", "end": "2030-01-09", "colour": "red"}, headers=SLOTS)
    assert slots.status_code == 200 and slots.json()["data"]


async def test_rate_limit_headers_carry_the_limits_name(clock):
    app = create_app(api_key=KEY, event_types=EVENT_TYPES, clock=clock, rate_limit=5, rate_limit_name="Raised")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim", headers=BOOKINGS) as http:
        response = await http.get("/v2/bookings")
    assert response.headers["X-RateLimit-Remaining-Raised"] == "4"
    assert response.headers["X-RateLimit-Limit-Raised"] == "5" and "X-RateLimit-Reset-Raised" in response.headers
    assert "X-RateLimit-Remaining-Default" not in response.headers


# -- slots -------------------------------------------------------------------------------------------
async def test_slots_follow_working_hours_bookings_and_notice(http, calcom):
    # Monday 2030-01-07, now 09:00 Berlin: with one hour notice the first free slot is 10:00.
    booked = await book(http, datetime(2030, 1, 8, 9, 0, tzinfo=timezone.utc), 201)  # Tuesday 10:00 Berlin
    slots = await calcom.get_slots(201, "2030-01-07", "2030-01-13", "Europe/Berlin")
    assert sorted(slots) == ["2030-01-07", "2030-01-08", "2030-01-09", "2030-01-10", "2030-01-11"]  # no weekend
    assert [s["start"] for s in slots["2030-01-07"]] == ["2030-01-07T10:00:00.000+01:00", "2030-01-07T11:00:00.000+01:00"]
    assert [s["start"][11:16] for s in slots["2030-01-08"]] == ["09:00", "11:00"]  # 10:00 is booked
    ranged = await calcom.get_slots(201, "2030-01-09", "2030-01-09", "Europe/Berlin", duration=30, range_format=True)
    assert ranged["2030-01-09"][0] == {"start": "2030-01-09T09:00:00.000+01:00", "end": "2030-01-09T09:30:00.000+01:00"}
    assert len(ranged["2030-01-09"]) == 6
    in_utc = await calcom.get_slots(201, "2030-01-09", "2030-01-09", "UTC")
    assert [s["start"] for s in in_utc["2030-01-09"]] == ["2030-01-09T08:00:00.000Z", "2030-01-09T09:00:00.000Z", "2030-01-09T10:00:00.000Z"]
    response = await http.get(
        "/v2/slots",
        params={"eventTypeId": "201", "start": "2030-01-08", "end": "2030-01-08", "timeZone": "Europe/Berlin", "bookingUidToReschedule": booked["uid"]},
        headers=SLOTS,
    )
    assert [s["start"][11:16] for s in response.json()["data"]["2030-01-08"]] == ["09:00", "10:00", "11:00"]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"eventTypeId": "999", "start": "2030-01-08", "end": "2030-01-09"}, 404),
        ({"eventTypeId": "201", "start": "soon", "end": "2030-01-09"}, 400),
        ({"eventTypeId": "201", "start": "2030-01-08", "end": "2030-01-09", "timeZone": "Berlin"}, 400),
        ({"eventTypeId": "201", "start": "2030-01-08", "end": "2030-01-09", "duration": "45"}, 400),
        ({"eventTypeId": "201", "start": "2030-01-09", "end": "2030-01-08T00:00:00Z"}, 400),
        ({"start": "2030-01-08", "end": "2030-01-09"}, 400),
    ],
)
async def test_slots_errors(http, params, status):
    response = await http.get("/v2/slots", params=params, headers=SLOTS)
    assert response.status_code == status and response.json()["status"] == "error"


# -- headers and versions ------------------------------------------------------------------------------
@pytest.mark.parametrize("version", [None, "2024-04-15", "2099-01-01"])
async def test_missing_or_unknown_api_version_is_never_a_success(app, version):
    headers = {"Authorization": f"Bearer {KEY}"}
    if version:
        headers["cal-api-version"] = version
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim", headers=headers) as raw:
        create = await raw.post("/v2/bookings", json={"start": iso(NOW + timedelta(days=1)), "eventTypeId": 101, "attendee": {"name": "A", "timeZone": "UTC", "email": "a@example.com"}})
        listing = await raw.get("/v2/bookings")
        slots = await raw.get("/v2/slots", params={"eventTypeId": "101", "start": "2030-01-08", "end": "2030-01-09"})
    assert create.status_code == 400 and create.json()["error"]["code"] == "BadRequestException"
    assert listing.status_code == 500 and listing.json() == {"statusCode": 500, "message": "Internal server error"}
    assert slots.status_code == 400
    assert app.state.sim.store.bookings == {}


async def test_rate_limit_headers_on_every_response(http):
    for response in (
        await http.get("/v2/bookings"),
        await http.get("/v2/bookings/nope"),
        await http.post("/v2/bookings", json={}),
        await http.get("/v2/bookings", headers={"Authorization": "Bearer cal_wrong"}),
        await http.get("/v2/nothing-here"),
    ):
        assert {"x-ratelimit-limit-default", "x-ratelimit-remaining-default", "x-ratelimit-reset-default"} <= set(response.headers), response.url
    assert response.status_code == 404 and response.json()["error"]["code"] == "NotFoundException"


async def test_rate_limit_window_block_and_reset(clock):
    app = create_app(api_key=KEY, event_types=EVENT_TYPES, rate_limit=2, rate_window_s=10, block_s=5, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim", headers=BOOKINGS) as http:
        first = await http.get("/v2/bookings")
        assert [first.headers[h] for h in ("x-ratelimit-limit-default", "x-ratelimit-remaining-default", "x-ratelimit-reset-default")] == ["2", "1", "10"]
        clock.now += timedelta(seconds=3)
        assert (await http.get("/v2/bookings")).headers["x-ratelimit-reset-default"] == "7"
        blocked = await http.get("/v2/bookings")
        assert blocked.status_code == 429 and blocked.headers["x-ratelimit-reset-default"] == "5"
        clock.now += timedelta(seconds=2)
        during = await http.get("/v2/bookings")
        assert during.status_code == 429 and during.headers["x-ratelimit-reset-default"] == "3"
        clock.now += timedelta(seconds=3)
        after = await http.get("/v2/bookings")
        assert after.status_code == 200 and after.headers["x-ratelimit-remaining-default"] == "1"
        admin = (await http.get("/_sim/stats")).json()["throttle"]
    assert admin["throttled_429"] == 2 and admin["received_while_blocked"] == 1 and admin["requests"] == 5


# -- faults --------------------------------------------------------------------------------------------
async def test_fault_admin_endpoint_and_outage(http, calcom, clock):
    assert (await http.post("/_sim/faults", json={"error_rate_5xx": 1.0})).json()["error_rate_5xx"] == 1.0
    response = await http.get("/v2/bookings")
    assert response.status_code == 500 and response.json() == {"statusCode": 500, "message": "Internal server error"}
    assert (await http.post("/_sim/faults", json={"reset": True, "outage_s": 60})).status_code == 200
    with pytest.raises(CalcomError) as caught:
        await calcom.get_booking("abc")
    assert caught.value.status == 503 and caught.value.message.startswith("non-JSON error body")
    clock.now += timedelta(seconds=61)
    assert (await http.get("/v2/bookings")).status_code == 200
    assert (await http.post("/_sim/faults", json={"bogus": 1})).status_code == 400
    assert (await http.post("/_sim/faults", json={"error_rate_5xx": 2})).status_code == 400
    assert (await http.get("/_sim/faults")).json()["error_rate_5xx"] == 0.0  # a bad update changes nothing
    stats = (await http.get("/_sim/stats")).json()
    assert stats["faults_injected"] == {"error_5xx": 1, "outage": 1}


async def test_seeded_faults_are_repeatable(clock):
    outcomes = []
    for _ in range(2):
        app = create_app(api_key=KEY, event_types=EVENT_TYPES, faults=Faults(error_rate_5xx=0.5, seed=42), clock=clock)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim", headers=BOOKINGS) as http:
            outcomes.append([(await http.get("/v2/bookings")).status_code for _ in range(20)])
    assert outcomes[0] == outcomes[1] and set(outcomes[0]) == {200, 500}


async def test_admin_bookings_counts_per_appointment(http):
    await book(http, NOW + timedelta(days=1), metadata={"synconsole_appointment_id": "1"})
    gone = await book(http, NOW + timedelta(days=2), metadata={"synconsole_appointment_id": "1"})
    await http.post(f"/v2/bookings/{gone['uid']}/cancel", json={"cancellationReason": "x"})
    await book(http, NOW + timedelta(days=3), metadata={"synconsole_appointment_id": "2"})
    state = (await http.get("/_sim/bookings")).json()
    assert state["by_appointment_id"] == {"1": 2, "2": 1} and state["active_by_appointment_id"] == {"1": 1, "2": 1}
    only = (await http.get("/_sim/bookings", params={"appointment_id": "2"})).json()
    assert only["count"] == 1
    assert (await http.post("/_sim/busy", json={"host": "fabian", "start": "2030-02-01T10:00:00Z", "end": "2030-02-01T11:00:00Z"})).status_code == 200
    assert (await http.post("/_sim/busy", json={"host": "nobody", "start": "2030-02-01T10:00:00Z", "end": "2030-02-01T11:00:00Z"})).status_code == 400
    await http.post("/_sim/reset")
    assert (await http.get("/_sim/bookings")).json()["count"] == 0


def test_any_cal_key_accepted_without_a_configured_key():
    state = create_app().state.sim
    assert state.accepts("Bearer cal_anything") and state.accepts("bearer cal_live_x")
    assert not state.accepts("Bearer sk_other") and not state.accepts("Bearer cal_") and not state.accepts(None)


def test_demo_event_types_are_valid_and_documented():
    app = create_app()
    types = app.state.sim.event_types
    assert set(types) == {int(k) for k in DEMO_EVENT_TYPES}
    assert any(et.team for et in types.values())
    assert len({h for et in types.values() for h in et.hosts}) >= 2
    json.dumps(DEMO_EVENT_TYPES)  # the same format as the --event-types file
