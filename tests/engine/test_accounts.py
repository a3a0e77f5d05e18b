"""Several Cal.com accounts on one database (JobHost): each appointment syncs through its staff's
account, a refused key pauses only that account (with a critical alert naming it), and a staff
member moved to another account has the old booking cancelled through the account that made it."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import httpx
from sqlmodel import select

from synconsole.simulator import SimulatorServer
from synconsole.core import accounts, budget, metrics
from synconsole.core.models import Appointment, AuditEvent
from synconsole.jobs import housekeeping, state
from synconsole.jobs.host import JobHost

from tests.engine.helpers import EVENT_TYPES, KEY, appointment, load, people, settings_for, soon

KEY_ACME = "cal_test_engine_acme"


def _settings(default_url: str, acme_url: str, db_url: str, acme_key: str = KEY_ACME):
    return settings_for(default_url, db_url, calcom={"accounts": [
        {"id": "acme", "base_url": acme_url, "api_key": acme_key, "rate_limit_per_minute": 60}]})


def _rows(acme_staff: str = "s-2"):
    rows = [{**r, "calcom_account": "acme"} if r.get("id") == acme_staff else r for r in people()]
    return rows + [appointment("a1", soon(), staff="s-1"), appointment("a2", soon(hour=11), staff="s-2"),
                   appointment("a3", soon(hour=12), staff="s-2")]


def _active(sim) -> dict[str, str]:
    found = httpx.get(f"{sim.url}/_sim/bookings", timeout=10).json()["bookings"]
    return {b["metadata"]["synconsole_appointment_id"]: b["uid"] for b in found if b["status"] == "accepted"}


async def test_each_appointment_syncs_through_its_staffs_account(db, tmp_path):
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES) as sim, \
            SimulatorServer(api_key=KEY_ACME, event_types=EVENT_TYPES) as acme:
        load(db, tmp_path, _rows())
        host = JobHost(db, _settings(sim.url, acme.url, db.url), worker="accounts")
        try:
            ok, result = await host.run_now("sync")
        finally:
            await host.shutdown()
        assert ok, result
        assert set(_active(sim)) == {"a1"} and set(_active(acme)) == {"a2", "a3"}
        assert result == "default: 1 claimed, 1 synced; acme: 2 claimed, 2 synced"
    used = budget.states(db)
    assert used["default"].granted >= 1 and used["acme"].granted >= 2  # each account its own budget


async def test_a_refused_key_pauses_only_its_account_and_a_probe_resumes_it(db, tmp_path):
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES) as sim, \
            SimulatorServer(api_key=KEY_ACME, event_types=EVENT_TYPES) as acme:
        acme.state._key_hash = hashlib.sha256(b"cal_revoked").digest()  # acme's key was revoked
        settings = _settings(sim.url, acme.url, db.url)
        load(db, tmp_path, _rows())
        host = JobHost(db, settings, worker="accounts")
        try:
            await host._tick("sync")
            paused = accounts.paused(db)
            assert list(paused) == ["acme"] and paused["acme"].reason.startswith("auth: Cal.com refused the API "
                                                                                 "key of account acme")
            assert not state.get(db, "sync").paused  # the job goes on for the other account
            assert set(_active(sim)) == {"a1"}
            housekeeping.evaluate_alerts(db, settings)
            with db.session() as s:
                m = metrics.compute(s, settings)
            (alert,) = [a for a in m.alerts if a.id == "auth_failure"]
            assert alert.severity == "critical" and "account acme" in alert.message and KEY_ACME not in alert.message
            shown = {a.account: a for a in m.accounts}
            assert shown["acme"].paused and not shown["default"].paused
            assert KEY_ACME not in str(m.to_json())

            load(db, tmp_path, [appointment("a4", soon(hour=13), staff="s-1")])
            await host._tick("sync")  # acme paused (its probe waits a minute); default syncs on
            assert set(_active(sim)) == {"a1", "a4"}
            acme.state._key_hash = hashlib.sha256(KEY_ACME.encode()).digest()  # the key works again
            host._account_probes["acme"] -= timedelta(minutes=2)
            await host._tick("sync")  # the probe resumes acme
            assert accounts.paused(db) == {}
            await host._tick("sync")
        finally:
            await host.shutdown()
        assert set(_active(acme)) == {"a2", "a3"}
    with db.session() as s:
        actions = [(e.actor, e.action) for e in s.exec(select(AuditEvent)) if "account" in e.action]
    assert actions == [("job:sync", "pause_account"), ("job:sync", "resume_account")]


async def test_a_staff_member_moved_to_another_account_is_rebooked_there(db, tmp_path):
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES) as sim, \
            SimulatorServer(api_key=KEY_ACME, event_types=EVENT_TYPES) as acme:
        settings = _settings(sim.url, acme.url, db.url)
        load(db, tmp_path, people() + [appointment("a1", soon(), staff="s-1")])
        host = JobHost(db, settings, worker="accounts")
        try:
            await host.run_now("sync")
            old = _active(sim)["a1"]
            load(db, tmp_path, [{**r, "calcom_account": "acme"} for r in people() if r["id"] == "s-1"])
            ok, result = await host.run_now("sync")
        finally:
            await host.shutdown()
        assert ok and "acme: 1 claimed, 1 synced, 1 rebooked" in result, result
        assert _active(sim) == {}  # the old booking cancelled with the key that made it
        cancelled = httpx.get(f"{sim.url}/_sim/bookings", timeout=10).json()["bookings"]
        assert [b["status"] for b in cancelled if b["uid"] == old] == ["cancelled"]
        new = _active(acme)
        assert list(new) == ["a1"]
    with db.session() as s:
        row = s.get(Appointment, "a1")
        assert row.sync_state == "synced" and row.booking_uid == new["a1"]
