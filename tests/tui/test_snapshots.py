"""Snapshots of every screen at fixed sizes, frozen clock, deterministic data, no jobs.

Review the report (snapshot_report.html) before running with --snapshot-update.
"""

from __future__ import annotations

import pytest

from synconsole.core.db import open_database
from synconsole.tui.app import SynconsoleApp
from synconsole.tui.widgets.categories import CategoryTree
from synconsole.tui.widgets.queue import QueueTable

from tests.tui.conftest import settle

WIDE = (120, 36)
NARROW = (80, 24)


def at_row(appt_id: str, *keys: str):
    async def run_before(pilot) -> None:
        await settle(pilot)
        table = pilot.app.screen.query_one(QueueTable)
        table.move_cursor(row=list(table.rows_by_key).index(appt_id))
        if keys:
            await pilot.press(*keys)
        await settle(pilot)

    return run_before


def test_main_wide(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=at_row("748"))


def test_main_80x24(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=NARROW, run_before=at_row("748"))


def test_main_all_appointments_sorted_by_start(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=at_row("661", "w"))


def test_detail_host_conflict(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=at_row("748", "enter"))


def test_detail_unknown_with_html_error(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=at_row("749", "enter"))


def test_detail_80x24(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=NARROW, run_before=at_row("760", "enter"))


def test_bulk_preview(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=at_row("748", "space", "space", "space", "r"))


def test_cancel_reason_prompt(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=at_row("751", "c"))


def test_category_selected(snap_compare, make_app):
    async def run_before(pilot) -> None:
        await settle(pilot)
        tree = pilot.app.screen.query_one(CategoryTree)
        tree.focus()
        node = next(n for n in tree.root.children if n.data[0] == "host_conflict")
        node.expand()
        tree.move_cursor(node)
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=WIDE, run_before=run_before)


def test_filter_line(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=at_row("748", "slash", *"age:>24h", "enter"))


def test_help(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=at_row("748", "question_mark"))


def test_jobs(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=at_row("748", "j"))


def test_alerts(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=at_row("748", "exclamation_mark"))


def test_read_only_refusal(snap_compare, make_app):
    assert snap_compare(make_app(ui={"read_only": True}), terminal_size=WIDE, run_before=at_row("748", "r"))


def test_staff_picker(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=at_row("740", "a"))


def test_pii_revealed(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=at_row("748", "v"))


def test_after_a_retry(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=at_row("748", "r"))


def test_empty_database(snap_compare, console_settings, tmp_path):
    from synconsole.core import clock
    from tests.conftest import NOW

    clock.freeze(NOW)
    db = open_database(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        app = SynconsoleApp(db, console_settings(), jobs=False)
        assert snap_compare(app, terminal_size=NARROW, run_before=settle)
    finally:
        db.dispose()
        clock.freeze(None)


def test_database_error_state(snap_compare, make_app, console_db):
    async def run_before(pilot) -> None:
        await settle(pilot)
        with console_db.engine.begin() as conn:  # the database loses its table under the console
            conn.exec_driver_sql("ALTER TABLE sync_attempts RENAME TO gone")
        pilot.app.screen.load()
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=WIDE, run_before=run_before)


def test_bad_filter_error(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=at_row("748", "slash", *"state:sleepy", "enter"))
