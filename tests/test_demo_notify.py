"""The demo's outage visibly notifies someone: its built-in receiver gets one fired and one
resolved message through the real jobs, simulator and apprise."""

from __future__ import annotations

import asyncio
import time

import pytest

from synconsole import demo as scenario
from synconsole.jobs.host import JobHost

pytestmark = pytest.mark.slow

TIMELINE = scenario.Timeline(outage_after_s=8.0, outage_for_s=12.0, cleanup_interval_s=3600.0,
                             trickle_every_s=(0.5, 1.0))


async def test_the_demo_outage_notifies_the_demo_oncall(tmp_path):
    demo = scenario.start(tmp_path / "demo", timeline=TIMELINE)
    try:
        assert "[[notify]]" in demo.config_path.read_text()
        host = JobHost(demo.db, demo.settings)
        host.start()
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                titles = [m["title"] for m in demo.inbox.received]
                if any(t.startswith("[synconsole] RESOLVED outage") for t in titles):
                    break
                await asyncio.sleep(0.5)
        finally:
            await host.shutdown()
        outage = [t for t in titles if " outage" in t]
        assert [t.split(" outage")[0] for t in outage] == ["[synconsole] CRITICAL", "[synconsole] RESOLVED"], titles
        log = (demo.folder / "notifications.log").read_text()
        assert "RESOLVED outage after" in log and "look: synconsole list" in log
    finally:
        demo.close()
