"""The demo tells one story: its bookings exist in Cal.com (the simulator), its free slots are free,
no warning appears that belongs to no story, and it leaves nothing behind in /tmp."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from synconsole import demo as scenario
from synconsole.core.models import Appointment
from synconsole.jobs.host import JobHost

pytestmark = pytest.mark.slow

QUIET = scenario.Timeline(outage_after_s=3600.0, outage_for_s=1.0, cleanup_interval_s=3600.0,
                          trickle_every_s=(3600.0, 3600.0))


async def test_the_seeds_bookings_exist_in_calcom_and_reconcile_finds_no_drift(tmp_path):
    from synconsole.tui.app import SynconsoleApp
    from synconsole.tui.screens.alerts import AlertsScreen
    from textual.widgets import OptionList

    from tests.tui.conftest import settle

    demo = scenario.start(tmp_path / "demo", timeline=QUIET)
    try:
        with demo.db.session() as s:
            booked = dict(s.execute(sa.select(Appointment.booking_uid, Appointment.id)
                                    .where(Appointment.booking_uid.is_not(None))).all())
        store = demo.simulator.state.store.bookings
        assert len(booked) == 120
        assert all(uid in store and store[uid].metadata["synconsole_appointment_id"] == appt
                   for uid, appt in booked.items())
        app = SynconsoleApp(demo.db, demo.settings, jobs=True)
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            await pilot.press("j", "down", "down", "down", "down", "n")  # the reconcile job, now
            def result() -> str | None:
                return next((n.message for n in app._notifications
                             if n.message.startswith("reconcile: ") and "running" not in n.message), None)

            for _ in range(100):
                if result():
                    break
                await pilot.pause(0.1)
            result = result()
            assert "booked appointments checked, 0 drifted" in result
            await pilot.press("escape", "exclamation_mark")
            await settle(pilot)
            assert isinstance(app.screen, AlertsScreen)
            active = app.screen.query_one(OptionList)
            assert "booking_drift" not in [active.get_option_at_index(i).id for i in range(active.option_count)]
            await pilot.press("escape", "q")
    finally:
        demo.close()


def test_the_free_slots_offered_for_the_host_conflict_are_free(tmp_path):
    from synconsole.core.actions import Actions
    from synconsole.core.slots import free_slots

    demo = scenario.start(tmp_path / "demo", timeline=QUIET)

    class Console:  # what free_slots needs of the console: the database and a Cal.com client
        db = demo.db
        client = None

    async def run() -> list:
        host = JobHost(demo.db, demo.settings)
        try:
            await host.run_now("sync")  # the first pass: 751 is refused (750 took its host's time)
            Console.client = host.client
            slots, _zone = await free_slots(Console.db, Console.client, "751")
            Actions(demo.db, demo.settings).reschedule("751", slots[0])
            await host.run_now("sync")
            return slots
        finally:
            await host.shutdown()

    try:
        slots = asyncio.run(run())
        with demo.db.session() as s:
            a751 = s.get(Appointment, "751")
            fabian = s.execute(sa.select(Appointment.start_at, Appointment.end_at).where(
                Appointment.staff_id.in_(("s-1", "s-1b")), Appointment.id != "751",
                Appointment.sync_state == "synced")).all()
        assert a751.sync_state == "synced" and a751.start_at == slots[0]  # booked at once, no host_conflict loop
        for slot in slots:  # none of the offered slots overlaps a booked appointment of that host
            assert not any(start < slot + timedelta(minutes=30) and slot < end for start, end in fabian)
    finally:
        demo.close()


def _demo_process(*args: str, tmp_path: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "HOME": str(tmp_path), "TMPDIR": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_STATE_HOME": str(tmp_path / "state")}
    proc = subprocess.Popen([sys.executable, "-m", "synconsole", "demo", "--no-tui", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    first = proc.stdout.readline()
    return proc, first


@pytest.mark.parametrize("keep", [False, True])
def test_the_demo_removes_its_temporary_folder_unless_kept(tmp_path, keep):
    proc, first = _demo_process(*(["--keep"] if keep else []), tmp_path=tmp_path)
    try:
        assert first.startswith("demo: simulator http://127.0.0.1:"), first
        folder = Path(first.rsplit(" in ", 1)[1].strip())
        assert folder.is_dir() and folder.parent == tmp_path
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert folder.exists() == keep
    assert ("stay in" in out) == keep and ("is removed (--keep keeps it)" in out) == (not keep)
