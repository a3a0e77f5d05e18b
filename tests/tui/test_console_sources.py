"""The console with a live source: the header says how the source is, the jobs screen lists the
rows it could not import (what to fix in the platform)."""

from __future__ import annotations

from datetime import timedelta

from synconsole.config import parse_settings
from synconsole.core.models import SourceBadRow, SourceState

from tests.conftest import NOW
from tests.tui.conftest import settle

SOURCE = {"name": "platform", "url": "mysql+pymysql://sync:pw@db.internal/platform",
          "queries": {"appointments": "SELECT * FROM appointments WHERE updated_at >= :since"}}


def _app(console_db, tmp_path):
    from synconsole.tui.app import SynconsoleApp

    settings = parse_settings({"calcom": {"base_url": "http://127.0.0.1:9", "api_key": "cal_console_test"},
                               "logging": {"path": str(tmp_path / "s.log")}, "ui": {"refresh_interval_s": 60.0},
                               "sources": [SOURCE]})
    return SynconsoleApp(console_db, settings, jobs=False)


def _plain(app) -> str:
    return str(app.screen.query_one("#health").render())


async def test_the_header_says_a_source_is_down_and_the_jobs_screen_lists_its_bad_rows(console_db, tmp_path):
    with console_db.write() as s:
        s.add(SourceState(id="platform", failures=3, down_since=NOW - timedelta(minutes=4),
                          last_error="source platform: connection refused", last_poll_at=NOW))
        s.add(SourceBadRow(source="platform", query="appointments", row_id="a-17",
                           reason="staff_id: staff 'no-such-staff' not found", first_seen=NOW, last_seen=NOW))
        s.commit()
    app = _app(console_db, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        header = _plain(app)
        assert "source platform down" in header and "source_down" in header  # named, and critical
        await pilot.press("j")
        await settle(pilot)
        text = " ".join(str(line) for line in app.screen.query_one("#jobs-list").render_lines(
            app.screen.query_one("#jobs-list").region))
        assert "ingest" in text and "bad row platform appointments a-17" in text and "no-such-staff" in text


async def test_a_healthy_source_is_said_where_there_is_room_and_never_cuts_the_header(console_db, tmp_path):
    with console_db.write() as s:
        s.add(SourceState(id="platform", failures=0, last_ok_at=NOW, last_poll_at=NOW))
        s.commit()
    for size, shown in (((150, 36), True), ((80, 24), False)):
        app = _app(console_db, tmp_path)
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            first = _plain(app).splitlines()[0]
            assert ("sources ok" in first) is shown and "…" not in first, first
