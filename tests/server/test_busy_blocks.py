"""Bookings made in Cal.com by others: a BOOKING_CREATED without our metadata becomes a busy block
of its host; `/v1/check` and the sync's pre-flight see the conflict; its cancel frees the host."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import httpx
from sqlmodel import select

from synconsole.simulator import SimulatorServer
from synconsole.core.models import Appointment, CalcomBusyBlock, SyncAttempt
from synconsole.jobs.sync import SyncEngine

from tests.engine.helpers import EVENT_TYPES, KEY, appointment, client_for, load, people, settings_for, soon
from tests.server.conftest import SECRET, TOKEN, server_settings

AUTH = {"authorization": f"Bearer {TOKEN}"}


def wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()) and time.monotonic() < deadline:
        time.sleep(0.01)
    return value


def blocks(db) -> list[CalcomBusyBlock]:
    with db.session() as s:
        return list(s.exec(select(CalcomBusyBlock)))


async def test_a_foreign_booking_blocks_its_host_until_cancelled(db, serve, tmp_path):
    served = serve(server_settings(db.url), db)
    t = soon(days=2, hour=10)
    load(db, tmp_path, people())
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES, webhook_url=f"{served.url}/webhooks/calcom",
                         webhook_secret=SECRET) as sim:
        # a customer books maria (event type 102) directly in Cal.com
        foreign = httpx.post(f"{sim.url}/_sim/bookings", json={"event_type_id": 102, "start": t.isoformat()}).json()
        assert wait_for(lambda: blocks(db)), "no busy block"
        (block,) = blocks(db)
        assert (block.booking_uid, block.host_key, block.start_at) == (foreign["uid"], "maria", t)

        check = served.http.post("/v1/check", json={"appointment": appointment("p-1", t + timedelta(minutes=10))},
                                 headers=AUTH).json()
        assert check["ok"] is False and check["category"] == "host_conflict"
        assert foreign["uid"] in check["problems"][0]["message"]

        # the sync's pre-flight refuses it too, before sending anything
        load(db, tmp_path, [appointment("p-1", t + timedelta(minutes=10)), appointment("p-2", t + timedelta(hours=2))])
        settings = settings_for(sim.url, db.url)
        async with client_for(settings) as client:
            await SyncEngine(db, settings, client, worker="t").drain()
        with db.session() as s:
            refused = s.get(Appointment, "p-1")
            assert (refused.sync_state, refused.category) == ("failed", "host_conflict")
            (attempt,) = s.exec(select(SyncAttempt).where(SyncAttempt.appointment_id == "p-1")).all()
            assert attempt.outcome == "preflight"
            assert s.get(Appointment, "p-2").sync_state == "synced"
        assert [b["uid"] for b in httpx.get(f"{sim.url}/_sim/bookings").json()["bookings"]
                if b["metadata"].get("synconsole_appointment_id") == "p-1"] == []

        httpx.post(f"{sim.url}/_sim/bookings/{foreign['uid']}/cancel", json={"reason": "x"}).raise_for_status()
        assert wait_for(lambda: not blocks(db)), "the cancel did not free the host"
        again = served.http.post("/v1/check", json={"appointment": appointment("p-3", t + timedelta(minutes=10))},
                                 headers=AUTH).json()
        assert again["ok"] is True, again


def test_check_file_sees_busy_blocks(db, run_cli, tmp_path):
    t = soon(days=2, hour=10)
    load(db, tmp_path, people())
    with db.write() as s:
        s.add(CalcomBusyBlock(booking_uid="walk-in", host_key="maria", start_at=t, end_at=t + timedelta(minutes=30)))
        s.commit()
    rows = tmp_path / "new.ndjson"
    rows.write_text(json.dumps(appointment("n-1", t)) + "\n")
    config = tmp_path / "c.toml"
    config.write_text(f'[database]\nurl = "{db.url}"\n')
    code, out, err = run_cli("check", str(rows), "--json", "--config", str(config))
    assert code == 1, err
    (problem,) = json.loads(out)["problems"]
    assert problem["category"] == "host_conflict" and "walk-in" in problem["problem"]


async def test_reconcile_fills_busy_blocks_for_hosts_without_webhooks(db, tmp_path):
    from synconsole.jobs.reconcile import reconcile

    t = soon(days=2, hour=10)
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES) as sim:  # no webhook subscriber
        load(db, tmp_path, people() + [appointment("r-1", t + timedelta(hours=3))])
        settings = settings_for(sim.url, db.url)
        async with client_for(settings) as client:
            await SyncEngine(db, settings, client, worker="t").drain()
            foreign = httpx.post(f"{sim.url}/_sim/bookings", json={"event_type_id": 102, "start": t.isoformat()}).json()
            await reconcile(db, client, actor="job:reconcile")
            assert [(b.booking_uid, b.host_key) for b in blocks(db)] == [(foreign["uid"], "maria")]
            httpx.post(f"{sim.url}/_sim/bookings/{foreign['uid']}/cancel", json={}).raise_for_status()
            await reconcile(db, client, actor="job:reconcile")
            assert blocks(db) == []


async def test_reconcile_fills_busy_blocks_before_anything_is_booked(db, tmp_path):
    """Nothing synced yet, one appointment waiting: the host's foreign booking is still found, so the
    first create is refused in pre-flight instead of failing at Cal.com."""
    from synconsole.jobs.reconcile import reconcile

    t = soon(days=2, hour=10)
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES) as sim:
        load(db, tmp_path, people() + [appointment("p-1", t)])
        settings = settings_for(sim.url, db.url)
        async with client_for(settings) as client:
            foreign = httpx.post(f"{sim.url}/_sim/bookings", json={"event_type_id": 102, "start": t.isoformat()}).json()
            report = await reconcile(db, client, actor="job:reconcile")
            assert report.checked == 0
            assert [(b.booking_uid, b.host_key) for b in blocks(db)] == [(foreign["uid"], "maria")]


async def test_reconcile_asks_nothing_when_nothing_is_scheduled(db, tmp_path):
    from synconsole.jobs.reconcile import reconcile

    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES) as sim:
        load(db, tmp_path, people())
        settings = settings_for(sim.url, db.url)
        async with client_for(settings) as client:
            httpx.post(f"{sim.url}/_sim/bookings", json={"event_type_id": 102,
                                                         "start": soon(days=2, hour=10).isoformat()}).raise_for_status()
            await reconcile(db, client, actor="job:reconcile")
            assert client.limiter.stats().sent == 0 and blocks(db) == []
