"""The demo wires the simulator's webhooks to its own HTTP face: a host cancelling in Cal.com shows
up as drift (and the booking_drift alert) without any reconcile."""

from __future__ import annotations

import time

import sqlalchemy as sa

from synconsole import demo as scenario
from synconsole.core import metrics
from synconsole.core.models import Appointment

QUIET = scenario.Timeline(outage_after_s=3600.0, outage_for_s=1.0, cleanup_interval_s=3600.0,
                          trickle_every_s=(3600.0, 3600.0), host_cancel_after_s=1.0)


def test_a_host_cancel_in_calcom_shows_up_as_drift_in_the_demo(tmp_path):
    demo = scenario.start(tmp_path / "demo", timeline=QUIET)
    try:
        deadline = time.monotonic() + 15
        drifted = []
        while time.monotonic() < deadline and not drifted:
            with demo.db.session() as s:
                drifted = list(s.execute(sa.select(Appointment.id, Appointment.drift)
                                         .where(Appointment.drift.is_not(None))))
            time.sleep(0.1)
        assert len(drifted) == 1, drifted
        assert "was cancelled in Cal.com (the host is ill)" in drifted[0][1]
        with demo.db.session() as s:
            assert "booking_drift" in [a.id for a in metrics.compute(s, demo.settings).alerts]
        assert demo.simulator.state.subscriber.failed == 0
    finally:
        demo.close(keep=False)
