"""The API key never shows: not in reprs, str(), errors, tracebacks or log records (DEBUG)."""

from __future__ import annotations

import logging
import pickle
import socket
import traceback
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from synconsole.calcom.client import CalcomClient
from synconsole.calcom.errors import CalcomError
from synconsole.simulator import SimulatorServer, create_app

SECRET = "cal_live_SUPERSECRET_4f9a0c1d2e3b"
START = (datetime.now(timezone.utc) + timedelta(days=5)).replace(minute=0, second=0, microsecond=0)


def leaks(text: str) -> bool:
    return SECRET in text or "SUPERSECRET" in text


def error_texts(err: CalcomError) -> list[str]:
    return [str(err), repr(err), err.summary(), err.message, err.body, repr(err.headers), repr(err.details), "".join(traceback.format_exception(err))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_client_and_limiter_reprs():
    async with CalcomClient("http://127.0.0.1:9", SECRET) as client:
        for text in (repr(client), str(client), repr(client.limiter), repr(vars(client)), repr(client.limiter.stats())):
            assert not leaks(text), text
        with pytest.raises(TypeError):
            pickle.dumps(client._key)


async def test_errors_from_every_path_carry_no_key(caplog):
    caplog.set_level(logging.DEBUG)
    errors: list[CalcomError] = []
    with SimulatorServer(api_key="cal_other_key") as server:  # our key is refused: 401
        async with CalcomClient(server.url, SECRET, timeout_s=0.3) as client:
            with pytest.raises(CalcomError) as refused:
                await client.ping()
            errors.append(refused.value)
            with pytest.raises(CalcomError) as refused_create:
                await client.create_booking(
                    start=START, event_type_id=101, attendee_name="A", attendee_time_zone="UTC", attendee_email="a@example.com"
                )
            errors.append(refused_create.value)
    always_open = {"101": {"host": "fabian", "length": 30}}
    with SimulatorServer(api_key=SECRET, event_types=always_open) as server:  # accepted, then every fault
        async with CalcomClient(server.url, SECRET, timeout_s=0.3) as client:
            booking = await client.create_booking(
                start=START,
                event_type_id=101,
                attendee_name="A",
                attendee_time_zone="UTC",
                attendee_email="a@example.com",
                metadata={"synconsole_appointment_id": "1"},
            )
            await client.cancel_booking(booking["uid"], "test")
            await client.get_slots(101, START.date(), START.date())
            rounds = ({"timeout_rate": 1.0, "hang_s": 3}, {"drop_after_commit_rate": 1.0}, {"error_rate_5xx": 1.0}, {"outage_s": 30})
            for hour, faults in enumerate(rounds, start=1):
                server.state.faults.update({"reset": True, **faults}, server.state.clock())
                with pytest.raises(CalcomError) as caught:
                    await client.create_booking(
                        start=START + timedelta(hours=hour), event_type_id=101, attendee_name="A", attendee_time_zone="UTC", attendee_email="a@example.com"
                    )
                errors.append(caught.value)
    async with CalcomClient(f"http://127.0.0.1:{free_port()}", SECRET) as client:  # nothing listens
        with pytest.raises(CalcomError) as unreachable:
            await client.get_booking("abc")
        errors.append(unreachable.value)
    assert {e.status for e in errors} >= {401, 500, 503, None}
    for err in errors:
        for text in error_texts(err):
            assert not leaks(text), text
    records = caplog.records
    assert any(r.name.startswith("httpx") or r.name.startswith("synconsole") for r in records), "expected DEBUG logs"
    for record in records:
        rendered = record.getMessage() + repr(record.args) + (record.exc_text or "")
        if record.exc_info:
            rendered += "".join(traceback.format_exception(*record.exc_info))
        assert not leaks(rendered), f"{record.name}: {rendered[:300]}"


async def test_a_server_echoing_the_key_is_scrubbed():
    def echo(request: httpx.Request) -> httpx.Response:
        auth = request.headers["authorization"]
        if request.method == "POST":
            return httpx.Response(400, json={"statusCode": 400, "message": f"bad key {auth}"}, headers={"x-echo": auth})
        return httpx.Response(200, text=f"garbage {auth}")

    async with CalcomClient("http://calcom.test", SECRET, transport=httpx.MockTransport(echo)) as client:
        with pytest.raises(CalcomError) as http_error:
            await client.create_booking(start=START, event_type_id=1, attendee_name="A", attendee_time_zone="UTC", attendee_email="a@example.com")
        with pytest.raises(CalcomError) as invalid:
            await client.get_booking("abc")
    for err in (http_error.value, invalid.value):
        for text in error_texts(err):
            assert not leaks(text), text
    assert http_error.value.message == "bad key Bearer ***"


def test_simulator_state_does_not_hold_the_key():
    app = create_app(api_key=SECRET)
    state = app.state.sim
    assert not leaks(repr(state)) and not leaks(repr(vars(state)))
    assert state.accepts(f"Bearer {SECRET}") and not state.accepts("Bearer cal_nope")
