"""A deterministic incident for console tests: frozen clock, fixed data, no jobs, no network."""

from __future__ import annotations

from datetime import timedelta

import pytest

from synconsole.config import parse_settings
from synconsole.core import audit, clock
from synconsole.core.db import open_database

from tests import factory
from tests.conftest import NOW

H = timedelta(hours=1)
D = timedelta(days=1)


async def settle(pilot) -> None:
    """Let workers finish and messages land (the console reads in threads)."""
    for _ in range(3):
        # an action's worker waits for the user's answer in a dialog: never wait for it here
        waiting = [w for w in pilot.app.workers if w.group != "action" and not w.is_finished]
        if waiting:  # an empty list would mean "all of them"
            await pilot.app.workers.wait_for_complete(waiting)
        await pilot.pause()


def build(db) -> None:
    with db.session() as s:
        factory.staff(s, "s-1", username="fabian", name="Fabian Spitzer")
        factory.staff(s, "s-1b", username="fabian", name="Fabian Spitzer (2nd)")
        factory.staff(s, "s-2", username="mia", name="Mia Krause", event_type_id=201)
        factory.customer(s, "c1", email="anna.beispiel@example.com", name="Anna Beispiel")
        factory.customer(s, "1013", email=None, phone="anonymous_1732456789_ab12cd", name="Caller 1013")
        past = "Attempting to book a meeting in the past."
        for i, appt_id in enumerate(["661", "662", "663", "664", "667", "673", "676", "700", "703", "705", "708"]):
            factory.failed(s, appt_id, category="past_appointment", first_failed_at=NOW - (6 - i // 2) * D,
                           start=NOW - (12 - i // 2) * D, message=past, staff_id="s-1")
            factory.attempt(s, appt_id, at=NOW - (6 - i // 2) * D, outcome="failed", status=400,
                            category="past_appointment", message=past,
                            body='{"statusCode":400,"message":"Attempting to book a meeting in the past."}')
        busy = "User either already has booking at this time or is not available"
        factory.failed(s, "748", category="host_conflict", first_failed_at=NOW - 2 * H, start=NOW + 2 * D,
                       message=busy, staff_id="s-1")
        factory.attempt(s, "748", at=NOW - 2 * H, outcome="failed", status=400, category="host_conflict",
                        message=busy, body='{"statusCode":400,"message":"' + busy + '"}')
        factory.failed(s, "750", category="host_conflict", first_failed_at=NOW - 26 * H, start=NOW + 12 * D,
                       message=busy, staff_id="s-1")
        factory.failed(s, "751", category="host_conflict", first_failed_at=NOW - 26 * H, start=NOW + 12 * D,
                       message="Overlaps appointment 750 of the same Cal.com host (fabian) at 2025-12-06T14:00:00Z "
                               "(checked before sending).", http_status=None, staff_id="s-1b")
        factory.failed(s, "749", category="unknown", first_failed_at=NOW - 5 * H, start=NOW + 3 * D,
                       message="Unexpected response from booking core", http_status=422, staff_id="s-1")
        factory.attempt(s, "749", at=NOW - 5 * H, outcome="failed", status=422, category="unknown",
                        message="Unexpected response from booking core",
                        body="<html><body>upstream sent invalid header</body></html>")
        factory.failed(s, "760", category="missing_contact", first_failed_at=NOW - H, start=NOW + 4 * D,
                       customer_id="1013", http_status=None, staff_id="s-2",
                       message="Customer 1013 has no usable contact: no email; phone is anonymous.")
        factory.failed(s, "740", category="missing_staff", first_failed_at=NOW - 3 * H, start=NOW + 5 * D,
                       staff_id=None, http_status=None,
                       message="No staff assigned: there is no Cal.com host or event type to book.")
        for i in range(3):
            factory.appointment(s, f"80{i}", start=NOW + (6 + i) * D, staff_id="s-2", queued_at=NOW - 5 * timedelta(minutes=1))
        for i in range(10):
            factory.appointment(s, f"3{i:02d}", start=NOW + (1 + i) * D, staff_id="s-1", sync_state="synced",
                                booking_uid=f"uid{i:03d}")
            factory.attempt(s, f"3{i:02d}", at=NOW - (i + 1) * H, outcome="success", status=201)
        audit.record(s, actor="ops@box", action="snooze", targets=["749"], reason="waiting for Cal.com support",
                     at=NOW - 4 * H, before={"749": {"snoozed_until": None}}, after={"749": {"snoozed_until": None}},
                     result="1 snoozed")
        s.commit()


@pytest.fixture
def console_db(tmp_path):
    clock.freeze(NOW)
    db = open_database(f"sqlite:///{tmp_path / 'console.db'}")
    build(db)
    yield db
    db.dispose()
    clock.freeze(None)


@pytest.fixture
def console_settings(tmp_path):
    def make(**sections):
        data = {"calcom": {"base_url": "http://127.0.0.1:9", "api_key": "cal_console_test"},
                "logging": {"path": str(tmp_path / "s.log")}, "ui": {"refresh_interval_s": 60.0}}
        for name, values in sections.items():
            data.setdefault(name, {}).update(values)
        return parse_settings(data)

    return make


@pytest.fixture
def make_app(console_db, console_settings):
    from synconsole.tui.app import SynconsoleApp

    def make(**sections):
        return SynconsoleApp(console_db, console_settings(**sections), jobs=False)

    return make
