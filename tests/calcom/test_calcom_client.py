"""CalcomClient behaviour against scripted transports: headers, error mapping, retries, paging."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from synconsole.calcom.client import CalcomClient, iso_utc
from synconsole.calcom.errors import KIND_CONNECTION, KIND_HTTP, KIND_INVALID_RESPONSE, KIND_TIMEOUT, CalcomError

START = datetime(2030, 1, 7, 10, 0, tzinfo=timezone.utc)
BOOKING = {"id": 1, "uid": "abc", "status": "accepted", "start": "2030-01-07T10:00:00.000Z"}


def ok(data, status=200, **extra):
    return httpx.Response(status, json={"status": "success", "data": data, **extra})


def client_for(handler, api_key="cal_test_key", **kwargs) -> CalcomClient:
    return CalcomClient("http://calcom.test/api", api_key, transport=httpx.MockTransport(handler), **kwargs)


async def create(client: CalcomClient, **overrides):
    args = dict(
        start=START,
        event_type_id=101,
        attendee_name="Anna",
        attendee_time_zone="Europe/Berlin",
        attendee_email="anna@example.com",
        metadata={"synconsole_appointment_id": "748"},
    )
    args.update(overrides)
    return await client.create_booking(**args)


async def test_headers_paths_and_versions():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/v2/slots"):
            return ok({})
        if request.method == "GET" and request.url.path.endswith("/v2/bookings"):
            return ok([], pagination={"hasNextPage": False})
        return ok(BOOKING, 201)

    async with client_for(handler) as client:
        await create(client)
        await client.list_bookings(take=1)
        await client.get_slots(101, START, START + timedelta(days=1))
    assert [r.url.path for r in seen] == ["/api/v2/bookings", "/api/v2/bookings", "/api/v2/slots"]
    assert [r.headers["cal-api-version"] for r in seen] == ["2024-08-13", "2024-08-13", "2024-09-04"]
    assert all(r.headers["authorization"] == "Bearer cal_test_key" for r in seen)
    body = json.loads(seen[0].content)
    assert body == {
        "start": "2030-01-07T10:00:00Z",
        "eventTypeId": 101,
        "attendee": {"name": "Anna", "timeZone": "Europe/Berlin", "email": "anna@example.com"},
        "metadata": {"synconsole_appointment_id": "748"},
    }


async def test_create_sends_only_given_fields():
    bodies = []

    def handler(request):
        bodies.append(json.loads(request.content))
        return ok(BOOKING, 201)

    async with client_for(handler) as client:
        await create(client, attendee_email=None, attendee_phone="+4915112345678", metadata=None, length_in_minutes=60)
    assert bodies[0]["attendee"] == {"name": "Anna", "timeZone": "Europe/Berlin", "phoneNumber": "+4915112345678"}
    assert "metadata" not in bodies[0] and bodies[0]["lengthInMinutes"] == 60


def test_iso_utc_and_naive_datetimes_refused():
    assert iso_utc(datetime(2030, 1, 7, 11, 0, tzinfo=timezone(timedelta(hours=1)))) == "2030-01-07T10:00:00Z"
    assert iso_utc(datetime(2030, 1, 7, 10, 0, 0, 250000, tzinfo=timezone.utc)) == "2030-01-07T10:00:00.250Z"
    with pytest.raises(ValueError):
        iso_utc(datetime(2030, 1, 7, 10, 0))


@pytest.mark.parametrize(
    ("status", "body", "message", "code"),
    [
        (400, {"statusCode": 400, "message": "Attempting to book a meeting in the past."}, "Attempting to book a meeting in the past.", None),
        (
            404,
            {"status": "error", "timestamp": "t", "path": "/v2/bookings", "error": {"code": "NotFoundException", "message": "Event type with id 101 not found.", "details": {}}},
            "Event type with id 101 not found.",
            "NotFoundException",
        ),
        (502, "<html>Bad gateway</html>", "non-JSON error body: <html>Bad gateway</html>", None),
    ],
)
async def test_non_2xx_becomes_calcom_error(status, body, message, code):
    def handler(request):
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    async with client_for(handler) as client:
        with pytest.raises(CalcomError) as caught:
            await create(client)
    err = caught.value
    assert (err.status, err.message, err.code, err.kind) == (status, message, code, KIND_HTTP)
    assert err.outcome_unknown == (status >= 500)


async def test_huge_body_kept_whole_but_not_in_str():
    big = "x" * (10 * 1024 * 1024)

    def handler(request):
        return httpx.Response(500, text=big)

    async with client_for(handler) as client:
        with pytest.raises(CalcomError) as caught:
            await client.get_booking("abc")
    err = caught.value
    assert len(err.body) == len(big)
    assert len(str(err)) < 400 and len(repr(err.summary())) < 400


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(201, text="not json"),
        httpx.Response(201, json={"status": "error", "data": None}),
        httpx.Response(201, json={"status": "success", "data": {"no": "uid"}}),
        httpx.Response(201, json=[1, 2]),
    ],
)
async def test_unexpected_2xx_is_invalid_response(response):
    async with client_for(lambda request: response) as client:
        with pytest.raises(CalcomError) as caught:
            await create(client)
    assert caught.value.kind == KIND_INVALID_RESPONSE and caught.value.status == 201
    assert caught.value.body  # the raw body is kept for the attempt log


async def test_timeout_and_connection_errors_are_typed():
    def slow(request):
        raise httpx.ReadTimeout("timed out", request=request)

    def refused(request):
        raise httpx.ConnectError("connection refused", request=request)

    async with client_for(slow) as client:
        with pytest.raises(CalcomError) as caught:
            await create(client)
    assert caught.value.kind == KIND_TIMEOUT and caught.value.status is None and caught.value.outcome_unknown
    async with client_for(refused) as client:
        with pytest.raises(CalcomError) as caught:
            await client.get_booking("abc")
    assert caught.value.kind == KIND_CONNECTION and caught.value.outcome_unknown


async def test_create_is_never_retried_but_get_is_retried_once_on_connection_error():
    calls = {"POST": 0, "GET": 0}

    def dropped(request):
        calls[request.method] += 1
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    async with client_for(dropped) as client:
        with pytest.raises(CalcomError):
            await create(client)
        with pytest.raises(CalcomError):
            await client.get_booking("abc")
    assert calls == {"POST": 1, "GET": 2}


async def test_get_retry_succeeds_after_one_drop_and_timeouts_are_not_retried():
    calls = []

    def flaky(request):
        calls.append(request.url.path)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=request)
        return ok(BOOKING)

    async with client_for(flaky) as client:
        assert (await client.get_booking("abc"))["uid"] == "abc"
    assert len(calls) == 2

    timeouts = []

    def slow(request):
        timeouts.append(1)
        raise httpx.ReadTimeout("slow", request=request)

    async with client_for(slow) as client:
        with pytest.raises(CalcomError):
            await client.get_booking("abc")
    assert len(timeouts) == 1


async def test_cancel_requires_a_reason_and_always_sends_it():
    bodies = []

    def handler(request):
        bodies.append(json.loads(request.content))
        return ok({**BOOKING, "status": "cancelled"})

    async with client_for(handler) as client:
        for reason in ("", "   ", None):
            with pytest.raises(ValueError):
                await client.cancel_booking("abc", reason)
        assert bodies == []
        await client.cancel_booking("abc", "customer called")
    assert bodies == [{"cancellationReason": "customer called"}]


async def test_list_arguments_are_checked_and_mapped():
    seen = []

    def handler(request):
        seen.append(dict(request.url.params))
        return ok([], pagination={"hasNextPage": False})

    async with client_for(handler) as client:
        with pytest.raises(ValueError):
            await client.list_bookings(take=0)
        with pytest.raises(ValueError):
            await client.list_bookings(take=251)
        await client.list_bookings(
            attendee_email="a@example.com",
            attendee_name="Anna",
            after_start=START,
            before_end=START + timedelta(hours=1),
            status=["upcoming", "cancelled"],
            event_type_id=101,
            take=50,
            skip=10,
        )
    assert seen == [
        {
            "take": "50",
            "skip": "10",
            "attendeeEmail": "a@example.com",
            "attendeeName": "Anna",
            "afterStart": "2030-01-07T10:00:00Z",
            "beforeEnd": "2030-01-07T11:00:00Z",
            "status": "upcoming,cancelled",
            "eventTypeId": "101",
        }
    ]


async def test_iter_bookings_walks_every_page():
    items = [{"uid": f"u{i}", "id": i} for i in range(7)]

    def handler(request):
        take, skip = int(request.url.params["take"]), int(request.url.params["skip"])
        page = items[skip : skip + take]
        return ok(page, pagination={"hasNextPage": skip + len(page) < len(items)})

    async with client_for(handler) as client:
        got = [b["uid"] async for b in client.iter_bookings(take=3)]
    assert got == [f"u{i}" for i in range(7)]


async def test_find_booking_prefers_active_and_matches_metadata():
    bookings = [
        {"uid": "other", "id": 1, "status": "accepted", "metadata": {"synconsole_appointment_id": "999"}, "createdAt": "1", "updatedAt": "1"},
        {"uid": "old", "id": 2, "status": "cancelled", "metadata": {"synconsole_appointment_id": "748"}, "createdAt": "1", "updatedAt": "5"},
        {"uid": "live", "id": 3, "status": "accepted", "metadata": {"synconsole_appointment_id": "748"}, "createdAt": "2", "updatedAt": "2"},
        {"uid": "nometa", "id": 4, "status": "accepted", "createdAt": "3", "updatedAt": "3"},
    ]
    params_seen = []

    def handler(request):
        params_seen.append(dict(request.url.params))
        return ok(bookings, pagination={"hasNextPage": False})

    async with client_for(handler) as client:
        found = await client.find_booking(appointment_id="748", start=START, end=START + timedelta(minutes=30), attendee_email="a@example.com")
        assert found["uid"] == "live"
        bookings.pop(2)
        found = await client.find_booking(appointment_id="748", start=START, end=START + timedelta(minutes=30), event_type_id=101)
        assert found["uid"] == "old"  # only a cancelled one: shown so the caller can decide
        assert await client.find_booking(appointment_id="1", start=START, end=START + timedelta(minutes=30)) is None
    assert params_seen[0]["attendeeEmail"] == "a@example.com"
    assert params_seen[0]["afterStart"] == "2030-01-07T10:00:00Z" and params_seen[0]["beforeEnd"] == "2030-01-07T10:30:00Z"
    assert "attendeeEmail" not in params_seen[1] and params_seen[1]["eventTypeId"] == "101"


async def test_ping_reports_401_as_error():
    def handler(request):
        return httpx.Response(
            401,
            json={"status": "error", "timestamp": "t", "path": "/v2/bookings", "error": {"code": "UnauthorizedException", "message": "ApiAuthStrategy - api key - Your api key is not valid"}},
        )

    async with client_for(handler) as client:
        with pytest.raises(CalcomError) as caught:
            await client.ping()
    assert caught.value.status == 401 and caught.value.code == "UnauthorizedException"


async def test_concurrency_is_capped():
    import asyncio

    active = 0
    peak = 0

    async def handler(request):
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        active -= 1
        return httpx.Response(
            200,
            json={"status": "success", "data": BOOKING},
            headers={"X-RateLimit-Remaining-Default": "100", "X-RateLimit-Reset-Default": "60"},
        )

    async with client_for(handler, max_concurrency=2) as client:
        await asyncio.gather(*(client.get_booking("abc") for _ in range(8)))
    assert peak == 2


async def test_client_arguments_checked():
    with pytest.raises(ValueError):
        CalcomClient("http://x", "")
    with pytest.raises(ValueError):
        CalcomClient("http://x", "cal_k", max_concurrency=0)
    async with client_for(lambda r: ok(BOOKING)) as client:
        for bad in ("", "a/b", ".."):
            with pytest.raises(ValueError):
                await client.get_booking(bad)
