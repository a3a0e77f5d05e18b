"""The console driven the way a user drives it: keys in, screen and database checked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select
from textual.widgets import Input, OptionList, TextArea

from synconsole.core.models import Appointment, AuditEvent, Customer, JobState, SyncAttempt
from synconsole.tui.screens.detail import DetailScreen
from synconsole.tui.screens.dialogs import PreviewScreen, PromptScreen, SlotPicker, StaffPicker, UndoScreen
from synconsole.tui.screens.help import HelpScreen
from synconsole.tui.screens.jobs import JobsScreen
from synconsole.tui.screens.main import MainScreen
from synconsole.tui.widgets.categories import CategoryTree
from synconsole.tui.widgets.queue import QueueTable

from tests.conftest import NOW
from tests.tui.conftest import settle

SIZE = (120, 36)


def plain(widget) -> str:
    """What a Static shows, as plain text (Rich tables and texts alike)."""
    from rich.console import Console

    console = Console(width=160, record=True, file=open("/dev/null", "w"))
    console.print(widget.content)
    return console.export_text()


def row_ids(app) -> list[str]:
    return list(app.screen.query_one(QueueTable).rows_by_key)


async def goto(pilot, appt_id: str) -> None:
    table = pilot.app.screen.query_one(QueueTable)
    table.move_cursor(row=row_ids(pilot.app).index(appt_id))
    await pilot.pause()


def appt(db, appt_id: str) -> Appointment:
    with db.session() as s:
        return s.get(Appointment, appt_id)


def events(db) -> list[AuditEvent]:
    with db.session() as s:
        return list(s.exec(select(AuditEvent).order_by(AuditEvent.id)))


async def test_opens_on_open_work_with_failures_first(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        ids = row_ids(app)
        assert ids[:11] == ["661", "662", "663", "664", "667", "673", "676", "700", "703", "705", "708"]
        assert set(ids) == {"661", "662", "663", "664", "667", "673", "676", "700", "703", "705", "708",
                            "748", "750", "751", "749", "760", "740", "800", "801", "802"}
        info = plain(app.screen.query_one("#queue-info"))
        assert info.startswith("1-20 of 20  open work · sort attention")
        tree = app.screen.query_one(CategoryTree)
        assert [c.data[0] for c in tree.root.children] == ["__all__", "past_appointment", "host_conflict",
                                                           "missing_contact", "missing_staff", "unknown"]


async def test_single_retry_on_the_current_row(make_app, console_db):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await goto(pilot, "748")
        await pilot.press("r")
        await settle(pilot)
        assert not isinstance(app.screen, PreviewScreen)  # one row: no preview needed
    a = appt(console_db, "748")
    assert (a.sync_state, a.category) == ("pending", None)
    (event,) = [e for e in events(console_db) if e.action == "retry"]
    assert event.targets == ["748"] and event.actor.count("@") == 1


async def test_marked_rows_open_a_preview_and_need_y(make_app, console_db):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await goto(pilot, "748")
        await pilot.press("space", "space")  # marks 748 and the next row
        marked = sorted(app.screen.query_one(QueueTable).marked)
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, PreviewScreen)
        assert app.screen.preview.ids == marked and app.screen.preview.count == 2
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert all(appt(console_db, i).sync_state == "failed" for i in marked)
        await pilot.press("r")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert all(appt(console_db, i).sync_state == "pending" for i in marked)
        assert app.screen.query_one(QueueTable).marked == set()


async def test_a_whole_category_from_the_category_pane(make_app, console_db):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        tree = app.screen.query_one(CategoryTree)
        tree.focus()
        node = next(n for n in tree.root.children if n.data[0] == "past_appointment")
        tree.move_cursor(node)
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, PromptScreen)
        await pilot.press(*"event is over", "enter")
        await settle(pilot)
        assert isinstance(app.screen, PreviewScreen) and app.screen.preview.count == 11
        await pilot.press("y")
        await settle(pilot)
    with console_db.session() as s:
        cancelled = [a.id for a in s.exec(select(Appointment).where(Appointment.status == "cancelled"))]
    assert len(cancelled) == 11
    event = [e for e in events(console_db) if e.action == "cancel"][0]
    assert event.reason == "event is over" and len(event.targets) == 11


async def test_selecting_a_category_filters_the_queue(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        tree = app.screen.query_one(CategoryTree)
        tree.focus()
        tree.move_cursor(next(n for n in tree.root.children if n.data[0] == "host_conflict"))
        await pilot.press("enter")
        await settle(pilot)
        assert sorted(row_ids(app)) == ["748", "750", "751"]
        await pilot.press("escape")
        await settle(pilot)
        assert len(row_ids(app)) == 20


@pytest.mark.parametrize("text, expected", [
    ("category:missing_contact", ["760"]),
    ("state:pending", ["800", "801", "802"]),
    ("staff:s-1b", ["751"]),
    ("age:>24h category:host_conflict", ["750", "751"]),
    ("booking core", ["749"]),
])
async def test_filter_syntax(make_app, text, expected):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        assert app.screen.query_one("#filter", Input).has_focus
        await pilot.press(*text, "enter")
        await settle(pilot)
        assert sorted(row_ids(app)) == expected


async def test_a_bad_filter_says_why_and_keeps_the_view(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"category:nope", "enter")
        await settle(pilot)
        assert len(row_ids(app)) == 20
        assert any("nope" in n.message for n in app._notifications)


async def test_detail_shows_everything_and_the_full_error(make_app, console_db):
    big = '{"statusCode":400,"message":"' + "x" * 200_000 + '"}'
    from tests import factory

    with console_db.session() as s:
        factory.attempt(s, "749", at=NOW - timedelta(minutes=5), outcome="failed", status=400, message="big",
                        body=big)
        s.commit()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await goto(pilot, "749")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen)
        area = app.screen.query_one("#detail-error", TextArea)
        assert "x" * 200_000 in area.text  # untruncated
        fields = plain(app.screen.query_one("#detail-fields"))
        assert "Fabian Spitzer" in fields and "event type 101" in fields
        audit = plain(app.screen.query_one("#detail-audit"))
        assert "snooze" in audit and "waiting for Cal.com support" in audit
        remedy = plain(app.screen.query_one("#detail-remedy"))
        assert "suggested:" in remedy
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_backfill_email_and_undo(make_app, console_db):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await goto(pilot, "760")
        await pilot.press("e")
        await settle(pilot)
        with console_db.session() as s:
            assert s.get(Customer, "1013").email == "customer_1013@placeholder.invalid"
        assert appt(console_db, "760").sync_state == "pending"
        await pilot.press("u")
        await settle(pilot)
        assert isinstance(app.screen, UndoScreen)
        await pilot.press("enter")
        await settle(pilot)
    with console_db.session() as s:
        assert s.get(Customer, "1013").email is None
    assert [e.action for e in events(console_db)][-2:] == ["backfill_email", "undo"]


async def test_snooze_with_a_note(make_app, console_db):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await goto(pilot, "750")
        await pilot.press("z")
        await settle(pilot)
        prompt = app.screen.query_one("#prompt-input", Input)
        prompt.value = ""
        await pilot.press(*"customer calls back monday", "enter")
        await settle(pilot)
    a = appt(console_db, "750")
    assert a.snoozed_until == NOW + timedelta(hours=24) and a.note == "customer calls back monday"


async def test_assign_staff_with_the_picker(make_app, console_db):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await goto(pilot, "740")
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, StaffPicker)
        options = app.screen.query_one(OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert ids == ["s-1", "s-1b", "s-2"]
        options.highlighted = 2
        await pilot.press("enter")
        await settle(pilot)
    a = appt(console_db, "740")
    assert (a.staff_id, a.sync_state) == ("s-2", "pending")


async def test_reschedule_typed_by_hand_when_calcom_is_unreachable(make_app, console_db):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await goto(pilot, "748")
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, SlotPicker)
        status = plain(app.screen.query_one("#slot-status"))
        assert status.startswith("no slots from Cal.com")
        await pilot.press(*"2025-11-28T09:00:00+00:00", "enter")
        await settle(pilot)
    a = appt(console_db, "748")
    assert a.start_at.isoformat() == "2025-11-28T09:00:00+00:00" and a.sync_state == "pending"


@pytest.mark.parametrize("key", ["r", "c", "e", "s", "a", "z", "u"])
async def test_read_only_refuses_every_mutation_visibly(make_app, console_db, key):
    app = make_app(ui={"read_only": True})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await goto(pilot, "748")
        before = appt(console_db, "748")
        await pilot.press(key)
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert any("read-only" in n.message for n in app._notifications)
        assert "READ-ONLY" in plain(app.screen.query_one("#health"))
    assert appt(console_db, "748") == before
    assert all(e.action == "snooze" for e in events(console_db))  # only the fixture's


async def test_jobs_screen_pause_and_resume(make_app, console_db):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("j")
        await settle(pilot)
        assert isinstance(app.screen, JobsScreen)
        jobs = app.screen.query_one(OptionList)
        assert [jobs.get_option_at_index(i).id for i in range(jobs.option_count)] == [
            "sync", "cleanup", "alerts", "snapshot", "reconcile"]
        assert jobs.highlighted == 0
        await pilot.press("p")
        await settle(pilot)
        with console_db.session() as s:
            assert s.get(JobState, "sync").paused
        await pilot.press("p")
        await settle(pilot)
        with console_db.session() as s:
            assert not s.get(JobState, "sync").paused
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
    assert [e.action for e in events(console_db)][-2:] == ["pause_job", "resume_job"]


async def test_keys_are_remappable_and_help_shows_them(make_app, console_db):
    app = make_app(ui={"keymap": {"retry": "x"}})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await goto(pilot, "748")
        await pilot.press("r")
        await settle(pilot)
        assert appt(console_db, "748").sync_state == "failed"
        await pilot.press("x")
        await settle(pilot)
        assert appt(console_db, "748").sync_state == "pending"
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one("#help-table").content
        keys = list(table.columns[0]._cells)
        ids = list(table.columns[2]._cells)
        assert keys[ids.index("retry")] == "x" and "r" not in keys


async def test_pii_is_masked_until_revealed(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one(QueueTable)
        assert table.rows_by_key["748"].customer == "a***@example.com"
        await pilot.press("v")
        await settle(pilot)
        assert table.rows_by_key["748"].customer == "anna.beispiel@example.com"


async def test_paging_reads_only_one_page(make_app, console_db):
    from tests import factory

    with console_db.session() as s:
        for i in range(250):
            factory.appointment(s, f"q{i:03d}", start=NOW + timedelta(days=20, minutes=i), staff_id="s-2")
        s.commit()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one(QueueTable)
        assert table.row_count == 100
        assert plain(app.screen.query_one("#queue-info")).startswith("1-100 of 270")
        table.move_cursor(row=99)
        await pilot.press("down")
        await settle(pilot)
        assert plain(app.screen.query_one("#queue-info")).startswith("101-200 of 270")
        assert table.cursor_row == 0
        await pilot.press("up")
        await settle(pilot)
        assert plain(app.screen.query_one("#queue-info")).startswith("1-100 of 270")
        assert table.cursor_row == 99


async def test_other_consoles_changes_show_up_by_row_key(make_app, console_db):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one(QueueTable)
        await goto(pilot, "749")
        before_cursor = table.cursor_row
        with console_db.session() as s:  # another console retries 748 meanwhile
            a = s.get(Appointment, "748")
            a.attempts = 5
            s.add(a)
            s.commit()
        app.screen.load()
        await settle(pilot)
        assert table.rows_by_key["748"].attempts == 5
        assert table.cursor_row == before_cursor  # no rebuild, no jump
        assert " 5   s-1 " in shown_line(table, "748")  # and the row on screen says so


def shown_line(table: QueueTable, appt_id: str) -> str:
    """The text of the row as the queue draws it now."""
    y = list(table.rows_by_key).index(appt_id) - int(table.scroll_y) + 1
    return "".join(segment.text for segment in table.render_line(y))


def test_queue_columns_fit_the_width_error_first():
    from synconsole.tui.widgets.queue import ERROR_MIN, ERROR_SHARE, fit_columns

    def keys(width):
        return [c.key for c, _ in fit_columns(width)]

    def error(width):
        return dict((c.key, size) for c, size in fit_columns(width))["error"]

    everything = ["mark", "id", "state", "start", "age", "attempts", "staff", "customer", "error"]
    assert keys(160) == everything
    # 120 columns wide, the categories beside it: the customer gives way, the error gets twice
    # the 19 cells it had
    assert keys(96) == [k for k in everything if k != "customer"] and error(96) == 38
    assert keys(56) == ["mark", "id", "state", "age", "error"] and error(56) == 22  # 80 columns wide
    for width in range(2 + 8 + 19 + ERROR_MIN, 200):  # narrower: only mark, id and state are left
        columns = fit_columns(width)
        assert sum(size + 1 for _, size in columns) == width + 1  # exactly the width, no sideways scrolling
        assert error(width) >= max(ERROR_MIN, int(width * ERROR_SHARE)) or keys(width)[:3] == ["mark", "id", "state"]


async def test_clicking_a_row_selects_it_and_clicking_it_again_opens_it(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one(QueueTable)
        row = row_ids(app).index("749")
        await pilot.click(QueueTable, offset=(12, row + 1))  # line 0 is the header
        assert table.current.id == "749"
        assert isinstance(app.screen, MainScreen)
        await pilot.click(QueueTable, offset=(12, row + 1))
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen) and app.screen.appointment_id == "749"


async def test_an_empty_queue_says_why(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"zzz-nothing", "enter")
        await settle(pilot)
        table = app.screen.query_one(QueueTable)
        assert table.row_count == 0
        assert "nothing matches · esc clears the filter" in "".join(
            segment.text for segment in table.render_line(1))
        assert table.has_focus  # the filter line handed the keys back to the queue


async def test_command_palette_offers_the_actions_for_the_focus(make_app):
    from synconsole.tui.commands import ConsoleCommands

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await goto(pilot, "748")
        provider = ConsoleCommands(app.screen)
        names = [name for name, _, _ in provider._commands()]
        assert "Retry: 748" in names and "Cancel: 748" in names and "Jobs" in names
        await pilot.press("slash", *"category:host_conflict", "enter")
        await settle(pilot)
        names = [name for name, _, _ in ConsoleCommands(app.screen)._commands()]
        assert "Retry: everything matching “category:host_conflict” (3)" in names


async def test_incident_report_and_remediation_plan_from_the_console(make_app, console_db, tmp_path, monkeypatch):
    from synconsole.tui.screens.dialogs import ConfirmScreen
    from synconsole.tui.screens.documents import PlanScreen, ReportScreen

    monkeypatch.chdir(tmp_path)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        assert isinstance(app.screen, ReportScreen)
        text = app.screen.query_one(TextArea).text
        assert "host_conflict" in text and "748" in text and "anna.beispiel" not in text
        await pilot.press("w")
        await settle(pilot)
        app.screen.query_one("#prompt-input", Input).value = "report.md"
        await pilot.press("enter")
        await settle(pilot)
        # a bare name lands in the data directory, as `synconsole report` would write it
        from synconsole.config import user_data_dir
        from synconsole.core.report import report_text

        written = (user_data_dir() / "reports" / "report.md").read_text()
        assert written == report_text(console_db, app.settings, NOW - timedelta(hours=24))
        assert not (tmp_path / "report.md").exists()
        await pilot.press("escape")
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.screen, PlanScreen)
        plan = app.screen.query_one(TextArea).text
        assert "needs a human:" in plan and "past_appointment" in plan
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
    with console_db.session() as s:
        cancelled = [a.id for a in s.exec(select(Appointment).where(Appointment.status == "cancelled"))]
    assert len(cancelled) == 11  # the past appointments, cancelled by the automatic part


async def test_pii_in_the_error_and_the_note_is_masked_in_the_detail_until_revealed(make_app, console_db):
    with console_db.session() as s:
        row = s.get(Appointment, "748")
        row.last_error = "Attendee anna.beispiel@example.com (mobile 0151-1234-5678) cannot be booked"
        row.note = "rang 030 1234567"
        s.add(row)
        last = s.exec(select(SyncAttempt).where(SyncAttempt.appointment_id == "748")
                      .order_by(SyncAttempt.id.desc())).first()
        last.error_body = '{"message": "Attendee anna.beispiel@example.com (mobile 0151-1234-5678) cannot be booked"}'
        s.add(last)
        s.commit()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one(QueueTable)
        assert "0151-1234-5678" not in table.rows_by_key["748"].last_error
        await goto(pilot, "748")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen)
        text = app.screen.query_one("#detail-error", TextArea).text
        assert "015***78" in text and "0151-1234-5678" not in text and "anna.beispiel" not in text
        await pilot.press("v")
        await settle(pilot)
        text = app.screen.query_one("#detail-error", TextArea).text
        assert "0151-1234-5678" in text and "anna.beispiel@example.com" in text
