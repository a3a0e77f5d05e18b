"""Issue 13, what a first-time on-call engineer hit: each item driven by keys, checked on screen.

Items 1 (hidden rows) and 5 (keys typed ahead) failed on the code before the fix.
"""

from __future__ import annotations

from datetime import timedelta

from synconsole.tui.screens.detail import DetailScreen
from synconsole.tui.screens.main import MainScreen
from synconsole.tui.widgets.queue import QueueTable

from tests import factory
from tests.conftest import NOW
from tests.tui.conftest import settle
from tests.tui.test_console_flows import SIZE, appt, plain, row_ids

D = timedelta(days=1)


def info(app) -> str:
    return plain(app.screen.query_one("#queue-info"))


# --- 1. the refreshed window never hides rows ------------------------------------------------------


async def test_a_row_that_sorts_above_the_window_is_not_hidden_after_an_action(make_app, console_db):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert row_ids(app)[0] == "661" and info(app).startswith("1-20 of 20")
        with console_db.session() as s:  # meanwhile the sync fails a new appointment: it sorts first
            factory.failed(s, "2001", category="host_conflict", first_failed_at=NOW, start=NOW + 9 * D,
                           staff_id="s-2", message="User either already has booking at this time or is not available")
            s.commit()
        await pilot.press("space", "space", "r")  # 661 and 662, the top of the attention sort
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert appt(console_db, "661").sync_state == "pending"
        ids = row_ids(app)
        assert "2001" in ids and ids[0] == "2001"
        assert info(app).startswith("1-21 of 21")  # every open row on screen, and the count agrees
        assert len(ids) == 21


async def test_the_first_page_is_read_from_the_top_when_rows_above_it_change(make_app, console_db):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("down", "down")
        with console_db.session() as s:
            factory.failed(s, "2002", category="unknown", first_failed_at=NOW, start=NOW + 9 * D, staff_id="s-1")
            s.commit()
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert row_ids(app)[0] == "2002" and info(app).startswith("1-21 of 21")
        assert app.screen.query_one(QueueTable).current.id == "663"  # the cursor stays on its row


async def test_rows_above_a_later_page_are_counted_and_reachable(make_app, console_db):
    with console_db.session() as s:
        for i in range(150):
            factory.appointment(s, f"q{i:03d}", start=NOW + timedelta(days=20, minutes=i), staff_id="s-2")
        s.commit()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one(QueueTable)
        table.move_cursor(row=99)
        await pilot.press("down")
        await settle(pilot)
        assert info(app).startswith("101-170 of 170")
        with console_db.session() as s:  # two rows appear above the page being looked at
            factory.failed(s, "2003", category="unknown", first_failed_at=NOW, start=NOW + 9 * D, staff_id="s-1")
            factory.failed(s, "2004", category="unknown", first_failed_at=NOW, start=NOW + 9 * D, staff_id="s-1")
            s.commit()
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert info(app).startswith("103-172 of 172")  # the window stays, its place is counted again
        await pilot.press("home", "up")  # the page before: 100 rows, up to the two new ones
        await settle(pilot)
        assert info(app).startswith("3-102 of 172")
        await pilot.press("home", "up")  # the top: a whole first page, the cursor on the row above
        await settle(pilot)
        assert info(app).startswith("1-100 of 172") and row_ids(app)[:2] == ["2003", "2004"]
        assert table.current.id == "2004"


# --- 5. keys typed ahead are never lost --------------------------------------------------------------


def slow_pages(monkeypatch, seconds: float = 0.4) -> None:
    """A database that takes its time (a million rows, jobs writing): pages arrive late."""
    import time

    from synconsole.core import browse

    page = browse.page

    def slow(*args, **kwargs):
        time.sleep(seconds)
        return page(*args, **kwargs)

    monkeypatch.setattr(browse, "page", slow)


async def test_filter_then_enter_typed_ahead_opens_the_first_match(make_app, monkeypatch):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        slow_pages(monkeypatch)
        # typed at a normal speed: the second enter comes while the filtered page is being read
        await pilot.press("slash", *"booking", "enter", "wait:100", "enter")
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen), "the second enter was lost"
        assert app.screen.appointment_id == "748"  # the first row the filter matches
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert app.screen.filter_text == "booking" and sorted(row_ids(app)) == ["748", "749", "750"]
