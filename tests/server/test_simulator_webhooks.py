"""The simulator posts Cal.com's webhooks to `synconsole serve`: our own create is an echo, a host's
cancel in Cal.com is drift on the appointment within a second, end to end over real HTTP."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
from sqlmodel import select

from synconsole.simulator import SimulatorServer
from synconsole.core.models import Appointment, WebhookEvent
from synconsole.jobs.sync import SyncEngine

from tests.engine.helpers import EVENT_TYPES, KEY, appointment, client_for, load, people, settings_for, soon
from tests.server.conftest import SECRET, server_settings


def outcomes(db) -> list[tuple[str, str]]:
    with db.session() as s:
        return [(e.trigger, e.outcome) for e in s.exec(select(WebhookEvent).order_by(WebhookEvent.id))]


def wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()) and time.monotonic() < deadline:
        time.sleep(0.01)
    return value


async def test_the_simulator_posts_signed_webhooks_that_become_drift(db, serve, tmp_path):
    served = serve(server_settings(db.url), db)
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES, webhook_url=f"{served.url}/webhooks/calcom",
                         webhook_secret=SECRET) as sim:
        load(db, tmp_path, people() + [appointment("w1", soon())])
        settings = settings_for(sim.url, db.url)
        async with client_for(settings) as client:
            await SyncEngine(db, settings, client, worker="t").drain()
        assert wait_for(lambda: outcomes(db) == [("BOOKING_CREATED", "echo")]), outcomes(db)
        with db.session() as s:
            uid = s.get(Appointment, "w1").booking_uid
        started = time.monotonic()
        httpx.post(f"{sim.url}/_sim/bookings/{uid}/cancel", json={"reason": "host on holiday"}).raise_for_status()
        drift = wait_for(lambda: db.session().get(Appointment, "w1").drift)
        took = time.monotonic() - started
        assert drift == f"booking {uid} was cancelled in Cal.com (host on holiday)"
        with db.session() as s:
            cancel = s.exec(select(WebhookEvent).where(WebhookEvent.trigger == "BOOKING_CANCELLED")).one()
        # within a second by the server's own clock; the round trip seen from a loaded test process loosely
        assert (cancel.processed_at - cancel.received_at).total_seconds() < 1.0, (cancel.received_at, cancel.processed_at)
        assert took < 5.0, took
        subscription = httpx.get(f"{sim.url}/_sim/webhooks").json()
        assert subscription["sent"] == 2 and subscription["failed"] == 0 and SECRET not in str(subscription)


async def test_a_wrong_secret_at_the_simulator_is_refused(db, serve, tmp_path):
    served = serve(server_settings(db.url), db)
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES, webhook_url=f"{served.url}/webhooks/calcom",
                         webhook_secret="not-the-secret") as sim:
        start = soon() + timedelta(days=1)
        httpx.post(f"{sim.url}/_sim/bookings", json={"event_type_id": 102, "start": start.isoformat()}
                   ).raise_for_status()
        assert wait_for(lambda: httpx.get(f"{sim.url}/_sim/webhooks").json()["failed"] == 1)
    assert outcomes(db) == []
