"""The console against hostile input: a 100 KB paste into the filter line, the command palette
and page keys in a tiny terminal, escape sequences in imported data, the database file deleted
under it. Each through Textual's pilot, as a user would do it."""

from __future__ import annotations

import time
from pathlib import Path

from textual import events
from textual.command import CommandPalette
from textual.widgets import Input

from synconsole.core.models import Appointment
from synconsole.tui.screens.main import MainScreen
from synconsole.tui.widgets.queue import QueueTable

from tests.tui.conftest import settle
from tests.tui.test_console_flows import SIZE, plain


def screen_text(app) -> str:
    """Every character the terminal would receive as text, line by line."""
    update = app.screen._compositor.render_full_update()
    return "\n".join("".join(seg.text for strip in line for seg in strip) for line in update.strips)


def controls(text: str) -> set[str]:
    return {f"U+{ord(c):04X}" for c in text if c != "\n" and (ord(c) < 32 or 127 <= ord(c) < 160)}


async def test_palette_and_page_keys_in_a_tiny_terminal_do_not_crash(make_app):
    app = make_app()
    async with app.run_test(size=(60, 3)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await settle(pilot)
        assert isinstance(app.screen, CommandPalette)
        await pilot.press("pageup", "pagedown", "pageup", "down", "pagedown")
        await settle(pilot)
        assert app.is_running and isinstance(app.screen, CommandPalette)
        await pilot.resize_terminal(120, 36)
        await pilot.press("pagedown", "pageup")
        await settle(pilot)
        assert app.is_running
    assert app.return_code in (None, 0) and app._exception is None


async def test_a_100_kb_paste_into_the_filter_is_cut_and_stays_fast(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        box = app.screen.query_one("#filter", Input)
        started = time.monotonic()
        box.post_message(events.Paste("748 " * 25_000))
        await settle(pilot)
        assert len(box.value) == 1000
        await pilot.press("x", "backspace", "enter")
        await settle(pilot)
        elapsed = time.monotonic() - started
        assert app.is_running and elapsed < 20, elapsed  # a freeze, not a timing: base needed minutes
        notes = " ".join(str(n.message) for n in app._notifications)
        assert "at most 1000 characters: the paste was cut" in notes
        assert "more than 32 terms" in notes  # 250 free-text terms are not a filter: refused, not run


async def test_escape_sequences_in_data_are_shown_not_obeyed(make_app, console_db):
    with console_db.session() as s:
        a = s.get(Appointment, "748")
        a.last_error = "busy \x1b]52;c;SGVsbG8=\x07 \x9b2J \x1b[31mred"
        s.add(a)
        s.commit()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not controls(screen_text(app))
        assert "busy \\x1b" in screen_text(app)
        table = app.screen.query_one(QueueTable)
        table.move_cursor(row=list(table.rows_by_key).index("748"))
        await pilot.press("enter")
        await settle(pilot)
        assert not controls(screen_text(app)), controls(screen_text(app))
        for key in ("i", "p"):  # the incident report and the remediation plan quote the error too
            await pilot.press("escape")
            await settle(pilot)
            await pilot.press(key)
            await settle(pilot)
            assert not controls(screen_text(app)), (key, controls(screen_text(app)))


async def test_the_database_deleted_under_the_console_is_said(make_app, console_db):
    app = make_app()
    db_file = Path(console_db.url.removeprefix("sqlite:///"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
        await pilot.press("ctrl+r")
        await settle(pilot)
        header = plain(app.screen.query_one("#health"))
        assert "was deleted while synconsole was running" in header, header
        table = app.screen.query_one(QueueTable)
        table.move_cursor(row=list(table.rows_by_key).index("748"))
        await pilot.press("r")
        await settle(pilot)
        notes = " ".join(str(n.message) for n in app._notifications)
        assert "was deleted while synconsole was running" in notes
        assert isinstance(app.screen, MainScreen) and app.is_running
    assert not db_file.exists()  # nothing recreated it behind the operator's back
