"""Snapshots of every screen at fixed sizes, frozen clock, deterministic data, no jobs.

Review the report (snapshot_report.html) before running with --snapshot-update.
"""

from __future__ import annotations

from datetime import timedelta

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



def test_detail_80x24(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=NARROW, run_before=at_row("760", "enter"))



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


# --- issue 13: both sizes for the screens that lost information at 80x24 ------------------------------

SIZES = {"80x24": NARROW, "120x36": WIDE}


def on_category(category: str, *keys: str):
    """The categories pane, on ``category``, then ``keys``."""
    async def run_before(pilot) -> None:
        await settle(pilot)
        tree = pilot.app.screen.query_one(CategoryTree)
        tree.focus()
        tree.move_cursor(next(n for n in tree.root.children if n.data[0] == category))
        await pilot.press(*keys)
        await settle(pilot)

    return run_before


def _second_caller(db) -> None:
    from tests import factory
    from tests.conftest import NOW

    with db.session() as s:
        factory.failed(s, "761", category="missing_contact", first_failed_at=NOW, start=NOW + timedelta(days=6),
                       customer_id="1013", http_status=None, staff_id="s-2",
                       message="Customer 1013 has no usable contact: no email; phone is anonymous.")
        s.commit()


@pytest.mark.parametrize("size", SIZES)
def test_detail_long_html_error(snap_compare, make_app, console_db, size):
    from tests.tui.test_console_round2 import long_html_error

    long_html_error(console_db)
    assert snap_compare(make_app(), terminal_size=SIZES[size], run_before=at_row("749", "enter"))


@pytest.mark.parametrize("size", SIZES)
def test_detail_long_html_error_scrolled_to_its_end(snap_compare, make_app, console_db, size):
    from tests.tui.test_console_round2 import long_html_error

    long_html_error(console_db)
    keys = ("enter",) + ("down",) * 12
    assert snap_compare(make_app(), terminal_size=SIZES[size], run_before=at_row("749", *keys))


@pytest.mark.parametrize("size", SIZES)
def test_preview_retry_marked(snap_compare, make_app, size):
    assert snap_compare(make_app(), terminal_size=SIZES[size], run_before=at_row("748", "space", "space", "r"))


@pytest.mark.parametrize("size", SIZES)
def test_preview_cancel_category(snap_compare, make_app, size):
    assert snap_compare(make_app(), terminal_size=SIZES[size],
                        run_before=on_category("past_appointment", "c", *"the event is over", "enter"))


@pytest.mark.parametrize("size", SIZES)
def test_preview_backfill_marked(snap_compare, make_app, console_db, size):
    _second_caller(console_db)
    assert snap_compare(make_app(), terminal_size=SIZES[size], run_before=at_row("760", "space", "space", "e"))


@pytest.mark.parametrize("size", SIZES)
def test_preview_assign_staff_marked(snap_compare, make_app, size):
    assert snap_compare(make_app(), terminal_size=SIZES[size],
                        run_before=at_row("749", "space", "space", "a", "down", "down", "enter"))


@pytest.mark.parametrize("size", SIZES)
def test_preview_snooze_category(snap_compare, make_app, size):
    assert snap_compare(make_app(), terminal_size=SIZES[size],
                        run_before=on_category("host_conflict", "z", *"customers call back", "enter"))


@pytest.mark.parametrize("size", SIZES)
def test_preview_undo_of_two(snap_compare, make_app, console_db, size):
    from synconsole.core.actions import Actions, Target

    _second_caller(console_db)
    app = make_app()
    Actions(console_db, app.settings, actor="ops@box").backfill_email(Target(ids=("760", "761")))
    assert snap_compare(app, terminal_size=SIZES[size], run_before=at_row("748", "u", "enter"))


@pytest.mark.parametrize("size", SIZES)
def test_preview_remediation_plan_apply(snap_compare, make_app, size):
    assert snap_compare(make_app(), terminal_size=SIZES[size], run_before=at_row("748", "p", "a"))


@pytest.mark.parametrize("size", SIZES)
def test_jobs_screen(snap_compare, make_app, console_db, size):
    from synconsole.jobs import state
    from tests.conftest import NOW

    state.record_run(console_db, "cleanup", started=NOW - timedelta(minutes=3), finished=NOW - timedelta(minutes=3),
                     ok=True, result="11 past-appointment failures cancelled; backfilled placeholder emails for 7 "
                                     "customers (8 appointments, 8 back in the sync queue)", worker="w")
    state.record_run(console_db, "reconcile", started=NOW - timedelta(minutes=9), finished=NOW - timedelta(minutes=9),
                     ok=False, result="Cal.com: 503 Service Unavailable (the simulator's outage)", worker="w")
    assert snap_compare(make_app(), terminal_size=SIZES[size], run_before=at_row("748", "j"))


@pytest.mark.parametrize("size", SIZES)
def test_alerts_with_history(snap_compare, make_app, console_db, console_settings, size):
    from synconsole.core import alerthistory, metrics
    from synconsole.jobs import housekeeping
    from tests.conftest import NOW

    settings = console_settings()
    with console_db.write() as s:  # an outage an hour ago, fired and resolved by the alerts job
        alerthistory.record(s, "outage", alerthistory.FIRED, severity=metrics.CRITICAL, count=7,
                            message="the last 7 Cal.com calls failed transiently", actor="job:alerts",
                            at=NOW - timedelta(minutes=62))
        alerthistory.record(s, "outage", alerthistory.RESOLVED, severity=metrics.CRITICAL, count=7,
                            message="the last 7 Cal.com calls failed transiently", actor="job:alerts",
                            at=NOW - timedelta(minutes=41))
        s.commit()
    housekeeping.evaluate_alerts(console_db, settings, NOW)
    alerthistory.acknowledge(console_db, "ancient_actionable", actor="ops@box", note="749 and 750: on it")
    assert snap_compare(make_app(), terminal_size=SIZES[size], run_before=at_row("748", "exclamation_mark"))
