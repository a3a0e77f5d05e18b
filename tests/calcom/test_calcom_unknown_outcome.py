"""Creates whose outcome is unknown (answer lost after commit, hang, 5xx) and the lookup that adopts them.

Over real HTTP: the simulator commits the booking, then cuts the connection, answers a 500 with no
body, or never answers. The client reports ``outcome_unknown``; ``find_booking`` finds the booking
by its ``metadata.synconsole_appointment_id``, so the sync engine adopts it instead of creating a
second one (which Cal.com would refuse as host-busy anyway).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest

from synconsole.calcom.client import CalcomClient
from synconsole.calcom.errors import KIND_CONNECTION, KIND_HTTP, KIND_TIMEOUT, CalcomError
from synconsole.simulator import SimulatorServer

KEY = "cal_test_unknown"
EVENT_TYPES = {"101": {"host": "fabian", "length": 30}, "102": {"host": "mia", "length": 30},
               "103": {"host": "fabian", "length": 30,  # takes phone-only attendees
                       "bookingFields": {"email": "optional", "attendeePhoneNumber": "required"}}}
BASE = (datetime.now(timezone.utc) + timedelta(days=4)).replace(minute=0, second=0, microsecond=0)


@pytest.fixture(scope="module")
def server():
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES) as running:
        yield running


@pytest.fixture(autouse=True)
def no_faults(server):
    server.state.faults.update({"reset": True}, 0)
    yield
    server.state.faults.update({"reset": True}, 0)


def appointment(hour: int, appointment_id: str, **overrides) -> dict:
    args = dict(
        start=BASE + timedelta(hours=hour),
        event_type_id=101,
        attendee_name="Anna Beispiel",
        attendee_time_zone="Europe/Berlin",
        attendee_email=f"customer_{appointment_id}@example.com",
        metadata={"synconsole_appointment_id": appointment_id},
    )
    args.update(overrides)
    return args


async def lookup(client: CalcomClient, args: dict):
    return await client.find_booking(
        appointment_id=args["metadata"]["synconsole_appointment_id"],
        start=args["start"],
        end=args["start"] + timedelta(minutes=30),
        attendee_email=args.get("attendee_email"),
        attendee_phone=args.get("attendee_phone"),
        event_type_id=args["event_type_id"],
    )


def committed(server, appointment_id: str) -> int:
    with httpx.Client(base_url=server.url) as admin:
        return admin.get("/_sim/bookings").json()["by_appointment_id"].get(appointment_id, 0)


async def test_connection_dropped_after_commit_then_found(server):
    server.state.faults.drop_after_commit_rate = 1.0
    args = appointment(0, "748")
    async with CalcomClient(server.url, KEY) as client:
        with pytest.raises(CalcomError) as caught:
            await client.create_booking(**args)
        assert caught.value.kind == KIND_CONNECTION and caught.value.outcome_unknown
        server.state.faults.drop_after_commit_rate = 0.0
        found = await lookup(client, args)
        assert found is not None and found["metadata"]["synconsole_appointment_id"] == "748"
        assert found["status"] == "accepted"
        # What a blind retry would have got: Cal.com does not hand the first booking back.
        with pytest.raises(CalcomError) as retry:
            await client.create_booking(**args)
        assert retry.value.status == 400 and "already has booking" in retry.value.message
    assert committed(server, "748") == 1
    assert server.state.faults_injected["drop_after_commit"] == 1


async def test_empty_500_after_commit_then_found(server):
    server.state.faults.update({"drop_after_commit_rate": 1.0, "drop_mode": "empty_500"}, 0)
    args = appointment(1, "749")
    async with CalcomClient(server.url, KEY) as client:
        with pytest.raises(CalcomError) as caught:
            await client.create_booking(**args)
        err = caught.value
        assert (err.kind, err.status, err.body, err.outcome_unknown) == (KIND_HTTP, 500, "", True)
        server.state.faults.drop_after_commit_rate = 0.0
        assert (await lookup(client, args))["uid"]
    assert committed(server, "749") == 1


async def test_hang_after_commit_is_a_timeout_then_found(server):
    server.state.faults.update({"timeout_rate": 1.0, "timeout_after_commit": True, "hang_s": 5}, 0)
    args = appointment(2, "750")
    async with CalcomClient(server.url, KEY, timeout_s=0.3) as client:
        with pytest.raises(CalcomError) as caught:
            await client.create_booking(**args)
        assert caught.value.kind == KIND_TIMEOUT and caught.value.status is None and caught.value.outcome_unknown
        server.state.faults.timeout_rate = 0.0
        assert (await lookup(client, args)) is not None
    assert committed(server, "750") == 1


async def test_5xx_before_commit_is_unknown_and_lookup_finds_nothing(server):
    server.state.faults.error_rate_5xx = 1.0
    args = appointment(3, "751")
    async with CalcomClient(server.url, KEY) as client:
        with pytest.raises(CalcomError) as caught:
            await client.create_booking(**args)
        assert caught.value.status == 500 and caught.value.message == "Internal server error"
        assert caught.value.outcome_unknown
        server.state.faults.error_rate_5xx = 0.0
        assert await lookup(client, args) is None  # so creating now is safe
        assert (await client.create_booking(**args))["uid"]
    assert committed(server, "751") == 1


async def test_phone_only_attendee_found_by_time_window_and_event_type(server):
    server.state.faults.drop_after_commit_rate = 1.0
    args = appointment(4, "752", attendee_email=None, attendee_phone="+4915112345678", event_type_id=103)
    async with CalcomClient(server.url, KEY) as client:
        with pytest.raises(CalcomError):
            await client.create_booking(**args)
        server.state.faults.drop_after_commit_rate = 0.0
        # Another appointment in the same window, other host: must not be mistaken for ours.
        await client.create_booking(**appointment(4, "999", event_type_id=102))
        found = await lookup(client, args)
        assert found is not None and found["metadata"]["synconsole_appointment_id"] == "752"
        assert found["attendees"][0]["phoneNumber"] == "+4915112345678"


async def test_lookup_prefers_the_active_booking_over_a_cancelled_one(server):
    args = appointment(5, "753")
    async with CalcomClient(server.url, KEY) as client:
        first = await client.create_booking(**args)
        await client.cancel_booking(first["uid"], "customer called")
        cancelled_only = await lookup(client, args)
        assert cancelled_only["uid"] == first["uid"] and cancelled_only["status"] == "cancelled"
        second = await client.create_booking(**args)
        assert (await lookup(client, args))["uid"] == second["uid"]


async def test_pages_and_lookup_in_a_crowded_window(server):
    async with CalcomClient(server.url, KEY) as client:
        start = BASE + timedelta(hours=6)
        for n in range(6):  # six back-to-back bookings of one host
            await client.create_booking(**appointment(6, f"p{n}", start=start + timedelta(minutes=30 * n)))
        items, pagination = await client.list_bookings(after_start=start, before_end=start + timedelta(hours=3), take=2)
        assert len(items) == 2 and pagination["totalItems"] == 6 and pagination["hasNextPage"]
        found = await client.find_booking(appointment_id="p5", start=start, end=start + timedelta(hours=3))
        assert found is not None and found["metadata"]["synconsole_appointment_id"] == "p5"
