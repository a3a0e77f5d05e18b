"""`POST /webhooks/calcom` over real HTTP: Cal.com's changes become drift, refusals are counted,
echoes of our own calls and redeliveries change nothing, unknown bookings are counted."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import select

from synconsole.simulator import webhooks as sim_webhooks
from synconsole.simulator import SimulatorServer
from synconsole.core import metrics
from synconsole.core.models import Appointment, AuditEvent, WebhookEvent
from synconsole.jobs.sync import SyncEngine

from tests.conftest import write
from tests.engine.helpers import EVENT_TYPES, KEY, appointment, client_for, load, people, settings_for, soon
from tests.server.conftest import SECRET, server_settings, sign

API = {"Authorization": f"Bearer {KEY}", "cal-api-version": "2024-08-13"}


@pytest.fixture
def sim():
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES) as server:
        yield server


async def synced(db, sim, tmp_path, *ids: str) -> dict[str, str]:
    """Appointments booked in the simulator by the sync; id -> booking uid."""
    t = soon()
    load(db, tmp_path, people() + [appointment(i, t + timedelta(hours=n)) for n, i in enumerate(ids)])
    await drain(db, sim)
    with db.session() as s:
        uids = {a.id: a.booking_uid for a in s.exec(select(Appointment).where(Appointment.id.in_(ids)))}
    assert all(uids.values()), uids
    return uids


async def drain(db, sim) -> None:
    settings = settings_for(sim.url, db.url)
    async with client_for(settings) as client:
        await SyncEngine(db, settings, client, worker="test").drain()


def body_for(sim, trigger: str, uid: str) -> bytes:
    state = sim.state
    return json.dumps(sim_webhooks.event(trigger, state.store.bookings[uid], state.hosts)).encode()


def deliver(served, body: bytes, signature: str | None = "sign") -> httpx.Response:
    headers = {"content-type": "application/json"}
    if signature == "sign":
        headers["x-cal-signature-256"] = sign(body)
    elif signature is not None:
        headers["x-cal-signature-256"] = signature
    return served.http.post("/webhooks/calcom", content=body, headers=headers)


def appt(db, appointment_id: str) -> Appointment:
    with db.session() as s:
        return s.get(Appointment, appointment_id)


def wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.01)


def requests_counted(served) -> dict[str, float]:
    text = served.http.get("/metrics").text
    out = {}
    for family in text_string_to_metric_families(text):
        if family.name == "synconsole_webhook_requests":
            out = {s.labels["result"]: s.value for s in family.samples if s.name.endswith("_total")}
    return out


def events(db) -> list[WebhookEvent]:
    with db.session() as s:
        return list(s.exec(select(WebhookEvent).order_by(WebhookEvent.id)))


async def test_a_cancel_in_calcom_becomes_drift_within_a_second(db, sim, serve, tmp_path):
    uids = await synced(db, sim, tmp_path, "a1")
    httpx.post(f"{sim.url}/v2/bookings/{uids['a1']}/cancel", json={"cancellationReason": "host is ill"},
               headers=API).raise_for_status()  # the host cancels in Cal.com
    served = serve(server_settings(db.url), db)
    started = time.monotonic()
    answer = deliver(served, body_for(sim, sim_webhooks.CANCELLED, uids["a1"]))
    assert answer.status_code == 202 and answer.json()["status"] == "accepted"
    drifted = wait_for(lambda: appt(db, "a1").drift)
    took = time.monotonic() - started
    assert drifted == f"booking {uids['a1']} was cancelled in Cal.com (host is ill)"
    (event,) = events(db)
    # within a second of its arrival, by the server's own clock (the test's polling and a loaded
    # machine's scheduling stay out of it); the whole round trip seen from here is bounded loosely
    assert (event.processed_at - event.received_at).total_seconds() < 1.0, (event.received_at, event.processed_at)
    assert took < 5.0, took
    with db.session() as s:
        (audit,) = s.exec(select(AuditEvent).where(AuditEvent.action == "webhook_drift")).all()
        assert audit.actor == "calcom:webhook" and audit.targets == ["a1"]
        alerts = {a.id: a for a in metrics.compute(s, server_settings(db.url)).alerts}
    assert alerts["booking_drift"].count == 1
    assert appt(db, "a1").status == "scheduled"  # flag (the default): a human decides
    assert [e.outcome for e in events(db)] == ["drift"]


async def test_a_move_in_calcom_becomes_drift(db, sim, serve, tmp_path):
    uids = await synced(db, sim, tmp_path, "m1")
    later = soon(days=4, hour=9)
    answer = httpx.post(f"{sim.url}/v2/bookings/{uids['m1']}/reschedule", json={"start": later.isoformat()},
                        headers=API)
    answer.raise_for_status()
    new_uid = answer.json()["data"]["uid"]
    served = serve(server_settings(db.url), db)
    assert deliver(served, body_for(sim, sim_webhooks.RESCHEDULED, new_uid)).status_code == 202
    assert wait_for(lambda: appt(db, "m1").drift) == f"booking {uids['m1']} was rescheduled in Cal.com to booking {new_uid}"


def test_refusals_are_counted_and_never_processed(db, sim, serve, tmp_path):
    served = serve(server_settings(db.url, max_body_bytes=4096), db)
    body = json.dumps({"triggerEvent": "BOOKING_CANCELLED", "createdAt": "2026-01-01T00:00:00Z",
                       "payload": {"uid": "x", "metadata": {"synconsole_appointment_id": "a1"}}}).encode()
    other = body.replace(b'"x"', b'"y"')
    refused = {
        "missing_signature": deliver(served, body, signature=None),
        "bad_signature": deliver(served, body, signature="0" * 64),
        "unsigned": deliver(served, body, signature="no-secret-provided"),
        # a signature seen on one delivery, replayed with another body
        "replayed": deliver(served, other, signature=sign(body)),
        "wrong_secret": deliver(served, body, signature=sign(body, "not-the-secret")),
    }
    for name, answer in refused.items():
        assert answer.status_code == 401, (name, answer.text)
        assert answer.json()["code"] in ("missing_signature", "bad_signature", "unsigned"), name
    big = json.dumps({"triggerEvent": "BOOKING_CREATED", "payload": {"uid": "z" * 8000}}).encode()
    oversized = deliver(served, big)
    assert oversized.status_code == 413 and oversized.json()["code"] == "too_large"
    assert events(db) == []
    assert requests_counted(served) == {"missing_signature": 1, "bad_signature": 3, "unsigned": 1, "too_large": 1}
    for answer in (*refused.values(), oversized):
        assert SECRET not in answer.text


def test_unsigned_deliveries_only_when_allowed(db, serve):
    settings = server_settings(db.url, allow_unsigned=True, webhook_secret="")
    served = serve(settings, db)
    body = json.dumps({"triggerEvent": "BOOKING_CANCELLED", "payload": {"uid": "nobody-has-it"}}).encode()
    assert deliver(served, body, signature="no-secret-provided").status_code == 202
    assert wait_for(lambda: [e.outcome for e in events(db)] == ["unknown"])


async def test_an_echo_of_our_own_cancel_is_ignored(db, sim, serve, tmp_path, run_cli):
    uids = await synced(db, sim, tmp_path, "e1")
    config = write(tmp_path / "c.toml", f'[database]\nurl = "{db.url}"\n')
    run_cli("cancel", "e1", "--reason", "customer called", "--yes", "--config", str(config))
    await drain(db, sim)  # our cancel reaches Cal.com
    assert sim.state.store.bookings[uids["e1"]].status == "cancelled"
    served = serve(server_settings(db.url), db)
    assert deliver(served, body_for(sim, sim_webhooks.CANCELLED, uids["e1"])).status_code == 202
    assert wait_for(lambda: [e.outcome for e in events(db)] == ["echo"])
    row = appt(db, "e1")
    assert row.drift is None and row.sync_state == "cancelled"


async def test_an_echo_of_our_own_reschedule_is_ignored(db, sim, serve, tmp_path, run_cli):
    uids = await synced(db, sim, tmp_path, "r1")
    config = write(tmp_path / "c.toml", f'[database]\nurl = "{db.url}"\n')
    later = soon(days=3, hour=8)
    run_cli("reschedule", "r1", later.isoformat(), "--yes", "--config", str(config))
    await drain(db, sim)
    row = appt(db, "r1")
    assert row.booking_uid != uids["r1"] and row.sync_state == "synced"
    served = serve(server_settings(db.url), db)
    assert deliver(served, body_for(sim, sim_webhooks.RESCHEDULED, row.booking_uid)).status_code == 202
    # the old booking's cancel, echoed too
    assert deliver(served, body_for(sim, sim_webhooks.CANCELLED, uids["r1"])).status_code == 202
    assert wait_for(lambda: [e.outcome for e in events(db)] == ["echo", "ignored"]), [e.outcome for e in events(db)]
    assert appt(db, "r1").drift is None


async def test_a_redelivery_is_a_no_op(db, sim, serve, tmp_path):
    uids = await synced(db, sim, tmp_path, "d1")
    httpx.post(f"{sim.url}/v2/bookings/{uids['d1']}/cancel", json={"cancellationReason": "x"},
               headers=API).raise_for_status()
    served = serve(server_settings(db.url), db)
    body = body_for(sim, sim_webhooks.CANCELLED, uids["d1"])
    assert deliver(served, body).status_code == 202
    assert wait_for(lambda: appt(db, "d1").drift)
    before = appt(db, "d1")
    again = deliver(served, body)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    time.sleep(0.2)
    after = appt(db, "d1")
    assert (after.version, after.drift) == (before.version, before.drift)
    assert len(events(db)) == 1
    with db.session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(AuditEvent)
                         .where(AuditEvent.action == "webhook_drift")).scalar_one() == 1
    assert requests_counted(served) == {"accepted": 1, "duplicate": 1}


def test_unknown_bookings_are_counted_and_ignored(db, serve):
    served = serve(server_settings(db.url), db)
    body = json.dumps({"triggerEvent": "BOOKING_CANCELLED", "createdAt": "2026-01-01T00:00:00Z",
                       "payload": {"uid": "not-ours", "status": "CANCELLED"}}).encode()
    assert deliver(served, body).status_code == 202
    assert wait_for(lambda: [e.outcome for e in events(db)] == ["unknown"])
    text = served.http.get("/metrics").text
    assert 'synconsole_webhook_events_total{outcome="unknown",trigger="BOOKING_CANCELLED"} 1.0' in text


@pytest.mark.parametrize("mode", ["cancel_locally", "rebook"])
async def test_on_calcom_cancel_decides_what_follows(db, sim, serve, tmp_path, mode):
    uids = await synced(db, sim, tmp_path, "c1")
    httpx.post(f"{sim.url}/v2/bookings/{uids['c1']}/cancel", json={"cancellationReason": "host left"},
               headers=API).raise_for_status()
    served = serve(server_settings(db.url, on_calcom_cancel=mode), db)
    assert deliver(served, body_for(sim, sim_webhooks.CANCELLED, uids["c1"])).status_code == 202
    outcome = "cancelled_locally" if mode == "cancel_locally" else "rebooked"
    assert wait_for(lambda: [e.outcome for e in events(db)] == [outcome]), [e.outcome for e in events(db)]
    row = appt(db, "c1")
    assert row.drift
    if mode == "cancel_locally":
        assert (row.status, row.sync_state) == ("cancelled", "cancelled")
    else:
        assert (row.status, row.sync_state, row.sync_op) == ("scheduled", "pending", "create")
        await drain(db, sim)
        active = [b for b in sim.state.store.bookings.values()
                  if b.metadata.get("synconsole_appointment_id") == "c1" and b.status == "accepted"]
        assert len(active) == 1 and active[0].uid != uids["c1"]


def test_bad_bodies_are_refused_with_a_code(db, serve):
    served = serve(server_settings(db.url), db)
    for body in (b"not json", b"[]", b'{"payload": {}}', b'{"triggerEvent": "BOOKING_CREATED"}'):
        answer = deliver(served, body)
        assert answer.status_code == 400 and answer.json()["code"] == "bad_body", body
    assert events(db) == []


async def test_a_rejection_in_calcom_becomes_drift(db, sim, serve, tmp_path):
    uids = await synced(db, sim, tmp_path, "j1")
    sim.state.store.bookings[uids["j1"]].status = "rejected"  # the host declined it in Cal.com
    served = serve(server_settings(db.url), db)
    assert deliver(served, body_for(sim, sim_webhooks.REJECTED, uids["j1"])).status_code == 202
    assert wait_for(lambda: appt(db, "j1").drift) == f"booking {uids['j1']} was rejected in Cal.com"


async def test_matching_by_uid_without_metadata(db, sim, serve, tmp_path):
    uids = await synced(db, sim, tmp_path, "u1")
    httpx.post(f"{sim.url}/v2/bookings/{uids['u1']}/cancel", json={"cancellationReason": "gone"},
               headers=API).raise_for_status()
    event = json.loads(body_for(sim, sim_webhooks.CANCELLED, uids["u1"]))
    event["payload"]["metadata"] = {}  # some Cal.com paths drop the metadata: the uid still matches
    served = serve(server_settings(db.url), db)
    assert deliver(served, json.dumps(event).encode()).status_code == 202
    assert wait_for(lambda: appt(db, "u1").drift) == f"booking {uids['u1']} was cancelled in Cal.com (gone)"


def test_read_only_refuses_webhooks(db, serve):
    served = serve(server_settings(db.url).with_read_only(), db)
    body = json.dumps({"triggerEvent": "BOOKING_CANCELLED", "payload": {"uid": "x"}}).encode()
    answer = deliver(served, body)
    assert answer.status_code == 403 and answer.json()["code"] == "read_only"
    assert events(db) == [] and requests_counted(served) == {"read_only": 1}
