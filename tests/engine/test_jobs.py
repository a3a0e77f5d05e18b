"""Jobs: cleanup (cancel, flag, dry run), alert transitions, snapshots, reconcile drift, the job host
(pause/resume/run now, auth pause and probe), and their commands."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from sqlmodel import select

from synconsole.simulator import SimulatorServer
from synconsole.core import audit
from synconsole.core.models import AlertState, Appointment, AuditEvent, MetricSnapshot
from synconsole.core import cleanup
from synconsole.jobs import housekeeping, state
from synconsole.jobs.host import JobHost
from synconsole.jobs.reconcile import reconcile

from tests import factory
from tests.conftest import NOW, write
from tests.engine.helpers import EVENT_TYPES, KEY, appointment, client_for, load, people, settings_for, soon


def past_failures(db):
    with db.session() as s:
        factory.staff(s, "s1")
        factory.customer(s, "c1")
        factory.failed(s, "661", category="past_appointment", first_failed_at=NOW - timedelta(days=3),
                       start=NOW - timedelta(days=12))
        factory.failed(s, "662", category="host_conflict", first_failed_at=NOW - timedelta(days=9),
                       start=NOW - timedelta(days=1))  # a conflict whose time has passed is past too
        factory.failed(s, "663", category="past_appointment", first_failed_at=NOW - timedelta(days=3),
                       start=NOW - timedelta(days=11), booking_uid="uid-663")
        factory.failed(s, "748", category="host_conflict", first_failed_at=NOW - timedelta(hours=3),
                       start=NOW + timedelta(days=2))  # future: left alone
        s.commit()


def test_cleanup_cancels_past_failures_and_queues_calcom_cancels(db, frozen):
    past_failures(db)
    items = cleanup.plan(db, mode="cancel")
    assert [i.describe("cancel") for i in items] == [
        "661: start 2025-11-12T17:00:00Z, past_appointment -> cancel locally",
        "663: start 2025-11-13T17:00:00Z, past_appointment -> cancel locally and in Cal.com",
        "662: start 2025-11-23T17:00:00Z, host_conflict -> cancel locally",
    ]
    assert cleanup.apply(db, items, mode="cancel", actor="job:cleanup") == 3
    with db.session() as s:
        got = {a.id: (a.status, a.sync_state, a.sync_op) for a in s.exec(select(Appointment))}
        (event,) = s.exec(select(AuditEvent)).all()
    assert got == {"661": ("cancelled", "cancelled", "create"), "662": ("cancelled", "cancelled", "create"),
                   "663": ("cancelled", "pending", "cancel"), "748": ("scheduled", "failed", "create")}
    assert (event.actor, event.action, event.targets, event.result) == \
        ("job:cleanup", "cleanup_cancel", ["661", "663", "662"], "3 cancelled")
    assert cleanup.plan(db, mode="cancel") == []


def test_cleanup_flag_mode_only_marks(db, frozen):
    past_failures(db)
    items = cleanup.plan(db, mode="flag")
    assert [i.id for i in items] == ["662"]  # the others are flagged already
    assert cleanup.apply(db, items, mode="flag", actor="job:cleanup") == 1
    with db.session() as s:
        a = s.get(Appointment, "662")
        assert (a.status, a.sync_state, a.category) == ("scheduled", "failed", "past_appointment")


def test_cleanup_skips_what_changed_meanwhile(db, frozen):
    past_failures(db)
    items = cleanup.plan(db, mode="cancel")
    with db.session() as s:
        a = s.get(Appointment, "661")
        a.version += 1
        s.add(a)
        s.commit()
    assert cleanup.apply(db, items, mode="cancel", actor="x") == 2


def test_cleanup_command(db_url, run_cli, frozen):
    from synconsole.core.db import open_database

    database = open_database(db_url)
    past_failures(database)
    database.dispose()
    env = {"SYNCONSOLE_DATABASE_URL": db_url}
    code, out, _ = run_cli("cleanup", "--dry-run", env=env)
    assert code == 0 and out.splitlines()[-1] == "would cancel 3 appointments (dry run)"
    code, _, err = run_cli("cleanup", env=env)
    assert code == 2 and "without --yes" in err
    code, _, err = run_cli("cleanup", "--yes", "--read-only", env=env)
    assert code == 3
    code, out, _ = run_cli("cleanup", "--yes", "--mode", "flag", env=env)
    assert out.splitlines()[-1] == "flagged 1 appointment"
    code, out, _ = run_cli("cleanup", "--yes", env=env)
    assert code == 0 and out.splitlines()[-1] == "cancelled 3 appointments"
    code, out, _ = run_cli("status", "--json", env=env)
    assert json.loads(out)["by_category"] == {"host_conflict": 1}


def test_alert_job_records_transitions(db, settings, frozen):
    with db.session() as s:
        factory.staff(s, "s1")
        factory.customer(s, "c1")
        factory.appointment(s, "stuck", start=NOW + timedelta(days=1), queued_at=NOW - timedelta(hours=1))
        s.commit()
    assert housekeeping.evaluate_alerts(db, settings, NOW) == "1 critical, 0 warning; raised stuck_pending"
    assert housekeeping.evaluate_alerts(db, settings, NOW) == "1 critical, 0 warning"
    with db.session() as s:
        a = s.get(Appointment, "stuck")
        a.sync_state = "synced"
        s.add(a)
        s.commit()
    later = NOW + timedelta(minutes=1)
    assert housekeeping.evaluate_alerts(db, settings, later) == "0 critical, 0 warning; resolved stuck_pending"
    with db.session() as s:
        st = s.get(AlertState, "stuck_pending")
        assert (st.active, st.first_seen, st.resolved_at, st.count) == (False, NOW, later, 1)


def test_snapshot_command(db_url, run_cli, frozen):
    code, out, _ = run_cli("snapshot", env={"SYNCONSOLE_DATABASE_URL": db_url})
    assert code == 0 and out.strip() == ("stored: failed 0, pending 0, manual review 0, ancient 0, "
                                         "success 24h n/a, critical alerts 0")
    code, _, err = run_cli("snapshot", "--read-only", env={"SYNCONSOLE_DATABASE_URL": db_url})
    assert code == 3
    from synconsole.core.db import open_database

    database = open_database(db_url)
    with database.session() as s:
        (snap,) = s.exec(select(MetricSnapshot)).all()
        assert snap.at == NOW and snap.data["failed"] == 0
    database.dispose()


CAL = {"cal-api-version": "2024-08-13", "Authorization": f"Bearer {KEY}"}


async def test_reconcile_flags_drift_without_overwriting(db, tmp_path):
    from synconsole.jobs.sync import SyncEngine

    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES) as sim:
        settings = settings_for(sim.url, db.url)
        t = soon()
        load(db, tmp_path, people() + [appointment(f"a{i}", t + timedelta(hours=i)) for i in range(3)])
        async with client_for(settings) as client:
            await SyncEngine(db, settings, client, worker="w").drain()
            with db.session() as s:
                uids = {a.id: a.booking_uid for a in s.exec(select(Appointment))}
            httpx.post(f"{sim.url}/v2/bookings/{uids['a0']}/cancel", headers=CAL,
                       json={"cancellationReason": "customer cancelled by phone"})
            moved = httpx.post(f"{sim.url}/v2/bookings/{uids['a1']}/reschedule", headers=CAL,
                               json={"start": (t + timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ")}).json()
            report = await reconcile(db, client, actor="job:reconcile")
            assert report.summary() == "3 booked appointments checked, 2 drifted, 0 cleared"
            again = await reconcile(db, client, actor="job:reconcile")
            assert again.drifted == {}
    with db.session() as s:
        rows = {a.id: a for a in s.exec(select(Appointment))}
        assert rows["a0"].drift == f"booking {uids['a0']} was cancelled in Cal.com (customer cancelled by phone)"
        assert rows["a1"].drift == (f"booking {uids['a1']} was rescheduled in Cal.com to booking "
                                    f"{moved['data']['uid']}")
        assert rows["a2"].drift is None
        assert rows["a0"].sync_state == "synced" and rows["a0"].booking_uid == uids["a0"]  # not overwritten
        events = [e.action for e in s.exec(select(AuditEvent))]
        assert events == ["reconcile_drift"]
        from synconsole.core import metrics

        drift_alert = [a for a in metrics.compute(s, settings).alerts if a.id == "booking_drift"]
        assert drift_alert and drift_alert[0].count == 2


async def test_job_host_pause_resume_run_now(db, tmp_path):
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES) as sim:
        settings = settings_for(sim.url, db.url)
        load(db, tmp_path, people() + [appointment("a1", soon())])
        host = JobHost(db, settings, worker="host-test")
        try:
            assert state.pause(db, "sync", actor="ops@box", reason="maintenance") is True
            assert state.pause(db, "sync", actor="ops@box") is False
            await host._tick("sync")  # paused: does nothing
            with db.session() as s:
                assert s.get(Appointment, "a1").sync_state == "pending"
            ok, result = await host.run_now("sync")  # run now works while paused
            assert ok and result == "1 claimed, 1 synced"
            views = {v.id: v for v in host.views()}
            assert views["sync"].paused and views["sync"].paused_by == "ops@box"
            assert views["sync"].last_result == "1 claimed, 1 synced" and views["sync"].runs == 1
            assert state.resume(db, "sync", actor="ops@box") is True
            ok, result = await host.run_now("snapshot")
            assert ok and result.startswith("stored: failed 0")
        finally:
            await host.shutdown()
        with db.session() as s:
            actions = [(e.actor, e.action) for e in s.exec(select(AuditEvent))]
        assert actions == [("ops@box", "pause_job"), ("ops@box", "resume_job")]


async def test_refused_key_pauses_sync_and_a_probe_resumes_it(db, tmp_path):
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES) as sim:
        settings = settings_for(sim.url, db.url, calcom={"api_key": "cal_wrong"})
        load(db, tmp_path, people() + [appointment("a1", soon())])
        host = JobHost(db, settings, worker="auth-test")
        try:
            await host._tick("sync")
            st = state.get(db, "sync")
            assert st.paused and st.paused_by == "job:sync" and st.paused_reason.startswith("auth: Cal.com refused")
            await host._tick("sync")  # paused; the probe waits a minute
            assert state.get(db, "sync").paused
            host.client._key = type(host.client._key)(KEY)  # the operator fixed the key
            host._last_auth_probe -= timedelta(minutes=2)
            await host._tick("sync")
            assert not state.get(db, "sync").paused
            await host._tick("sync")
        finally:
            await host.shutdown()
    with db.session() as s:
        assert s.get(Appointment, "a1").sync_state == "synced"
        actions = [(e.actor, e.action) for e in s.exec(select(AuditEvent))]
    assert actions == [("job:sync", "pause_job"), ("job:sync", "resume_job")]


def test_jobs_commands(db_url, run_cli):
    env = {"SYNCONSOLE_DATABASE_URL": db_url}
    assert run_cli("jobs", "pause", "cleanup", "--reason", "audit week", env=env)[1].strip() == "cleanup: paused"
    code, out, _ = run_cli("jobs", "--json", env=env)
    jobs = {j["id"]: j for j in json.loads(out)}
    assert list(jobs) == ["sync", "cleanup", "alerts", "snapshot", "reconcile"]
    assert jobs["cleanup"]["paused"] and jobs["cleanup"]["paused_reason"] == "audit week"
    assert jobs["sync"]["interval_s"] == 5.0
    code, out, _ = run_cli("jobs", "run", "alerts", env=env)
    assert code == 0 and out.strip() == "alerts: 0 critical, 0 warning"
    code, out, _ = run_cli("jobs", env=env)
    assert "cleanup    paused" in out and "paused by " in out and "audit week" in out
    code, _, err = run_cli("jobs", "pause", "nosuch", env=env)
    assert code == 2 and "unknown job 'nosuch'" in err
    code, _, err = run_cli("jobs", "run", "sync", env=env)
    assert code == 1 and "no Cal.com API key configured" in (_ + err)
    assert run_cli("jobs", "resume", "cleanup", env=env)[1].strip() == "cleanup: resumed"


def test_sync_once_command(db_url, tmp_path, run_cli):
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES) as sim:
        from synconsole.core.db import open_database

        database = open_database(db_url)
        load(database, tmp_path, people() + [appointment(f"a{i}", soon(hour=8 + i)) for i in range(3)]
             + [appointment("nostaff", soon(), staff=None)])
        database.dispose()
        cfg = write(tmp_path / "c.toml", f'[database]\nurl = "{db_url}"\n[calcom]\nbase_url = "{sim.url}"\n'
                                         f'api_key = "{KEY}"\n[logging]\npath = "{tmp_path}/s.log"\n')
        code, out, _ = run_cli("sync", "--once", "--limit", "2", "--config", str(cfg))
        assert code == 0 and out.strip() == "2 claimed, 2 synced"
        code, out, _ = run_cli("sync", "--once", "--config", str(cfg))
        assert code == 0 and out.strip() == "2 claimed, 1 synced, 1 refused before sending"
        code, _, err = run_cli("sync", "--once", "--read-only", "--config", str(cfg))
        assert code == 3
        bad = write(tmp_path / "bad.toml", f'[database]\nurl = "{db_url}"\n[calcom]\nbase_url = "{sim.url}"\n'
                                           f'api_key = "cal_nope"\n[logging]\npath = "{tmp_path}/s.log"\n')
        database = open_database(db_url)
        with database.session() as s:
            a = s.get(Appointment, "nostaff")
            a.staff_id, a.sync_state = "s-2", "pending"
            a.start_at, a.end_at = a.start_at + timedelta(hours=6), a.end_at + timedelta(hours=6)
            s.add(a)
            s.commit()
        database.dispose()
        code, out, err = run_cli("sync", "--once", "--config", str(bad))
        assert code == 1 and "Cal.com refused the API key (HTTP 401" in err and "cal_nope" not in out + err
    log = (tmp_path / "s.log").read_text()
    assert "create done" in log and KEY not in log
