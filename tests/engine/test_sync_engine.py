"""The sync engine against the simulator over real HTTP: outcomes, adoption, backoff, circuit, auth."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from sqlmodel import select

from synconsole.simulator import Faults, SimulatorServer
from synconsole.core import metrics, queue
from synconsole.core.models import Appointment, SyncAttempt
from synconsole.jobs.sync import SyncEngine

from tests.engine.helpers import (EVENT_TYPES, KEY, PHONE_STAFF, appointment, client_for, load, people, settings_for,
                                  soon)


@pytest.fixture
def sim():
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES) as server:
        yield server


def bookings_by_appointment(sim, *, active_only: bool = False) -> dict[str, int]:
    """Bookings Cal.com holds per appointment id: all ever created, or only the active ones."""
    answer = httpx.get(f"{sim.url}/_sim/bookings").json()
    return answer["active_by_appointment_id" if active_only else "by_appointment_id"]


def states(db) -> dict[str, tuple]:
    with db.session() as s:
        return {a.id: (a.sync_state, a.category) for a in s.exec(select(Appointment))}


async def run(db, settings, **kw):
    async with client_for(settings) as client:
        engine = SyncEngine(db, settings, client, worker="test-worker", **kw)
        return engine, await engine.drain()


async def test_every_kind_of_outcome_in_one_pass(db, sim, tmp_path):
    settings = settings_for(sim.url, db.url)
    t = soon()
    load(db, tmp_path, people() + [
        PHONE_STAFF,
        appointment("ok-email", t),
        appointment("ok-phone", t + timedelta(hours=1), customer="c-2", staff="s-3"),
        appointment("past", t - timedelta(days=30)),
        appointment("no-staff", t, staff=None),
        appointment("anon", t + timedelta(hours=2), customer="c-anon"),
        appointment("750", t + timedelta(days=1), staff="s-1"),
        appointment("751", t + timedelta(days=1), staff="s-1b"),  # same Cal.com host, same time
    ])
    engine, report = await run(db, settings)
    assert report.synced == 3 and report.preflight == 4, report.summary()
    assert states(db) == {
        "ok-email": ("synced", None), "ok-phone": ("synced", None), "750": ("synced", None),
        "past": ("failed", "past_appointment"), "no-staff": ("failed", "missing_staff"),
        "anon": ("failed", "missing_contact"), "751": ("failed", "host_conflict"),
    }
    assert bookings_by_appointment(sim) == {"ok-email": 1, "ok-phone": 1, "750": 1}
    with db.session() as s:
        ok = s.get(Appointment, "ok-email")
        assert ok.booking_uid and ok.attempts == 1 and ok.claimed_by is None and ok.lease_until is None
        (attempt,) = s.exec(select(SyncAttempt).where(SyncAttempt.appointment_id == "ok-email")).all()
        assert attempt.outcome == "success" and attempt.request_summary["attendee"]["email"] == "a***@example.com"
        refused = s.exec(select(SyncAttempt).where(SyncAttempt.appointment_id == "anon")).one()
        assert refused.outcome == "preflight" and refused.http_status is None
    # nothing is due any more
    _, again = await run(db, settings)
    assert again.claimed == 0


async def test_calcom_host_busy_is_a_host_conflict(db, tmp_path):
    t = soon()
    busy = [{"host": "maria", "start": t.isoformat(), "end": (t + timedelta(hours=1)).isoformat()}]
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES, busy=busy) as sim:
        settings = settings_for(sim.url, db.url)
        load(db, tmp_path, people() + [appointment("748", t)])
        _, report = await run(db, settings)
    assert report.failed == 1
    with db.session() as s:
        a = s.get(Appointment, "748")
        assert (a.sync_state, a.category, a.last_http_status) == ("failed", "host_conflict", 400)
        assert a.last_error == "User either already has booking at this time or is not available"
        attempt = s.exec(select(SyncAttempt).where(SyncAttempt.appointment_id == "748")).one()
        body = json.loads(attempt.error_body)  # the core's error, mapped to an envelope (API-NOTES, Corrections)
        assert body["error"]["code"] == "BadRequestException"
        assert body["error"]["message"] == "User either already has booking at this time or is not available"


async def test_dropped_answers_are_adopted_never_booked_twice(db, tmp_path):
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES, faults=Faults(drop_after_commit_rate=1.0)) as sim:
        settings = settings_for(sim.url, db.url)
        t = soon()
        load(db, tmp_path, people() + [appointment(f"a{i}", t + timedelta(hours=i)) for i in range(4)])
        _, report = await run(db, settings)
        assert report.adopted == 4 and report.synced == 0, report.summary()
        assert bookings_by_appointment(sim) == {f"a{i}": 1 for i in range(4)}
    with db.session() as s:
        assert all(a.sync_state == "synced" and a.booking_uid for a in s.exec(select(Appointment)))


async def test_unknown_outcome_with_failing_lookup_retries_with_lookup_first(db, tmp_path):
    faults = Faults(drop_after_commit_rate=1.0)
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES, faults=faults) as sim:
        settings = settings_for(sim.url, db.url)
        load(db, tmp_path, people() + [appointment("a1", soon())])
        async with client_for(settings) as client:
            engine = SyncEngine(db, settings, client, worker="w")
            original = client.find_bookings

            async def broken(**kw):
                raise __import__("synconsole.calcom.errors", fromlist=["CalcomError"]).CalcomError(
                    status=503, message="Service Unavailable")

            client.find_bookings = broken
            report = await engine.run_once()
            assert report.retry == 1
            with db.session() as s:
                a = s.get(Appointment, "a1")
                assert (a.sync_state, a.needs_lookup, a.category) == ("retry_scheduled", True, "transient")
                a.next_retry_at = a.last_attempt_at  # due now
                s.add(a)
                s.commit()
            client.find_bookings = original
            faults.drop_after_commit_rate = 0.0
            report = await engine.run_once()
            assert report.adopted == 1
        assert bookings_by_appointment(sim) == {"a1": 1}


async def test_transient_failures_back_off_then_fail_after_max_attempts_and_open_the_circuit(db, tmp_path):
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES, faults=Faults(error_rate_5xx=1.0)) as sim:
        settings = settings_for(sim.url, db.url, sync={"max_attempts": 2},
                                alerts={"outage_consecutive_failures": 3})
        t = soon()
        load(db, tmp_path, people() + [appointment(f"a{i}", t + timedelta(hours=i)) for i in range(5)])
        async with client_for(settings) as client:
            engine = SyncEngine(db, settings, client, worker="w", backoff=queue.Backoff(10, 10))
            report = await engine.run_once()
            assert report.retry == 5 and engine.circuit.open
            with db.session() as s:
                a = s.get(Appointment, "a0")
                assert a.sync_state == "retry_scheduled" and a.category == "transient"
                delay = (a.next_retry_at - a.last_attempt_at).total_seconds()
                assert 5 <= delay <= 10  # equal jitter: half fixed, half random
                assert metrics.compute(s, settings).alerts[0].id == "outage"
            # circuit open: nothing is claimed until the probe is due
            assert (await engine.run_once()).skipped.startswith("circuit open")
            with db.session() as s:
                for a in s.exec(select(Appointment)):
                    a.next_retry_at = a.last_attempt_at
                    s.add(a)
                s.commit()
            engine.circuit.last_probe = engine.circuit.opened_at - timedelta(minutes=5)
            probe = await engine.run_once()
            assert probe.claimed == 1 and probe.failed == 1  # second attempt: max_attempts reached
            with db.session() as s:
                failed = [a for a in s.exec(select(Appointment)) if a.sync_state == "failed"]
                assert [(a.category, a.attempts) for a in failed] == [("transient", 2)]


async def test_circuit_closes_when_calcom_recovers(db, tmp_path):
    faults = Faults(error_rate_5xx=1.0)
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES, faults=faults) as sim:
        settings = settings_for(sim.url, db.url, alerts={"outage_consecutive_failures": 2})
        load(db, tmp_path, people() + [appointment(f"a{i}", soon(hour=8 + i)) for i in range(3)])
        async with client_for(settings) as client:
            engine = SyncEngine(db, settings, client, worker="w", backoff=queue.Backoff(0, 0))
            await engine.run_once()
            assert engine.circuit.open
            faults.error_rate_5xx = 0.0
            engine.circuit.last_probe = engine.circuit.opened_at - timedelta(minutes=5)
            report = await engine.drain()
            assert not engine.circuit.open and report.synced == 3
        assert bookings_by_appointment(sim) == {"a0": 1, "a1": 1, "a2": 1}
    with db.session() as s:
        assert "outage" not in {a.id for a in metrics.compute(s, settings).alerts}


async def test_refused_key_stops_the_batch_and_raises_auth_failure(db, sim, tmp_path):
    settings = settings_for(sim.url, db.url, calcom={"api_key": "cal_wrong"})
    load(db, tmp_path, people() + [appointment(f"a{i}", soon(hour=8 + i)) for i in range(3)])
    engine, report = await run(db, settings)
    assert engine.auth_error is not None and engine.auth_error.status == 401
    assert report.skipped.startswith("Cal.com refused the API key")
    with db.session() as s:
        rows = list(s.exec(select(Appointment)))
        assert all(a.sync_state in ("retry_scheduled", "pending") for a in rows)
        assert all(a.claimed_by is None for a in rows)
        m = metrics.compute(s, settings)
        assert [a.id for a in m.alerts if a.severity == "critical"] == ["auth_failure"]
    assert bookings_by_appointment(sim) == {}


async def test_cancel_and_reschedule_go_through_the_queue(db, sim, tmp_path):
    settings = settings_for(sim.url, db.url)
    t = soon()
    load(db, tmp_path, people() + [appointment("keep", t), appointment("gone", t + timedelta(hours=1)),
                                   appointment("move", t + timedelta(hours=2))])
    await run(db, settings)
    with db.session() as s:
        gone = s.get(Appointment, "gone")
        gone.status, gone.sync_state, gone.cancel_reason = "cancelled", "pending", "customer called"
        move = s.get(Appointment, "move")
        old_uid = move.booking_uid
        move.sync_state, move.start_at, move.end_at = "pending", t + timedelta(hours=4), t + timedelta(hours=4, minutes=30)
        s.add(gone)
        s.add(move)
        s.commit()
    _, report = await run(db, settings)
    assert (report.cancelled, report.rescheduled) == (1, 1), report.summary()
    with db.session() as s:
        gone, move = s.get(Appointment, "gone"), s.get(Appointment, "move")
        assert gone.sync_state == "cancelled"
        assert move.sync_state == "synced" and move.booking_uid != old_uid
        assert move.start_at == t + timedelta(hours=4) and move.end_at == t + timedelta(hours=4, minutes=30)
    old = httpx.get(f"{sim.url}/v2/bookings/{old_uid}", headers={"Authorization": f"Bearer {KEY}",
                                                                "cal-api-version": "2024-08-13"}).json()["data"]
    assert old["status"] == "cancelled" and old["rescheduledToUid"] == move.booking_uid
    assert bookings_by_appointment(sim, active_only=True) == {"keep": 1, "move": 1}


async def test_an_expired_lease_is_reclaimed_and_the_old_outcome_refused(db, sim, tmp_path):
    settings = settings_for(sim.url, db.url)
    load(db, tmp_path, people() + [appointment("a1", soon())])
    (claimed,) = queue.claim(db, "dead-worker", limit=10, lease_s=5)
    later = claimed.lease_until + timedelta(seconds=1)
    (again,) = queue.claim(db, "live-worker", limit=10, lease_s=5, now=later)
    # nothing was written down as sent: the dead worker died before any call
    assert again.needs_lookup is False and again.version == claimed.version + 1
    assert queue.note(db, again, {"sent": {"op": "create"}}) is True  # about to send, then it dies too
    (third,) = queue.claim(db, "third-worker", limit=10, lease_s=5, now=again.lease_until + timedelta(seconds=1))
    assert third.needs_lookup is True and third.sent == {"op": "create"}
    assert queue.record(db, claimed, {"sync_state": "synced"}) is False
    assert queue.record(db, again, {"sync_state": "synced"}) is False
    assert queue.record(db, third, {"sync_state": "failed"}) is True


class HoldFirstCreate(httpx.AsyncBaseTransport):
    """Real HTTP to the simulator, except that the first booking request waits until released."""

    def __init__(self) -> None:
        import asyncio

        self.inner = httpx.AsyncHTTPTransport()
        self.release = asyncio.Event()
        self.held: str | None = None
        self.booked_while_held: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import json

        creating = request.method == "POST" and request.url.path == "/v2/bookings"
        appt = json.loads(request.content)["metadata"]["synconsole_appointment_id"] if creating else None
        if creating and self.held is None:
            self.held = appt
            await self.release.wait()
        response = await self.inner.handle_async_request(request)
        if creating and appt != self.held and not self.release.is_set():
            self.booked_while_held.append(appt)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_batches_overlap_so_one_slow_call_does_not_idle_the_other_places(db, sim, tmp_path):
    """Batches of 3, 2 places. The first booking request hangs. One batch after the other would
    book only the other 2 of its batch meanwhile; overlapping, the next batches go on."""
    import asyncio

    settings = settings_for(sim.url, db.url, sync={"batch_size": 3}, calcom={"max_concurrency": 2})
    load(db, tmp_path, people() + [appointment(f"a{i}", soon(hour=8 + i)) for i in range(8)])
    transport = HoldFirstCreate()
    async with client_for(settings, transport=transport) as client:
        await client.ping()  # the rate limiter sends one request at a time until it knows the budget
        engine = SyncEngine(db, settings, client, worker="w")
        drain = asyncio.ensure_future(engine.drain())
        for _ in range(200):
            if len(transport.booked_while_held) == 7:
                break
            await asyncio.sleep(0.05)
        booked_meanwhile = list(transport.booked_while_held)
        transport.release.set()
        report = await drain
    assert len(booked_meanwhile) == 7, booked_meanwhile
    assert report.synced == 8 and report.claimed == 8, report.summary()
    assert bookings_by_appointment(sim) == {f"a{i}": 1 for i in range(8)}
