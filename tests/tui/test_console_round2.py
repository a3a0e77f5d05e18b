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


def screen_lines(app) -> list[str]:
    """The text of the top screen as drawn now, one string per terminal line."""
    return ["".join(segment.text for segment in strip) for strip in app.screen._compositor.render_strips()]


def flat(app) -> str:
    """The screen's text as one line: borders out, runs of spaces as one (wrapped text reads on)."""
    text = " ".join(screen_lines(app))
    for ch in "▊▎▔▁▏█▀▄▌":
        text = text.replace(ch, " ")
    return " ".join(text.split())


def toasts(app) -> list[tuple[str, str]]:
    return [(n.title, n.message) for n in app._notifications]


# --- 2. every dialog names what it acts on -----------------------------------------------------------


async def test_the_categories_pane_on_all_failures_never_acts_on_the_queues_row(make_app, console_db):
    from synconsole.tui.widgets.categories import CategoryTree

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("tab")  # the categories pane, on "all failures"
        assert app.screen.query_one(CategoryTree).has_focus
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)  # no picker for 661, the queue's row behind the pane
        assert any("“all failures” is every category" in message for _, message in toasts(app))
    assert appt(console_db, "661").staff_id == "s-1"


async def test_dialog_titles_and_toasts_name_their_targets(make_app, console_db):
    from synconsole.tui.screens.dialogs import PreviewScreen, PromptScreen, StaffPicker

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one(QueueTable)
        table.move_cursor(row=row_ids(app).index("740"))
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, StaffPicker)
        assert "Assign staff to 740" in "\n".join(screen_lines(app))
        await pilot.press("escape")
        await settle(pilot)
        table.move_cursor(row=row_ids(app).index("748"))
        await pilot.press("space", "space", "r")
        await settle(pilot)
        assert isinstance(app.screen, PreviewScreen)
        assert "Retry 2 marked: 748, 749?" in "\n".join(screen_lines(app))
        await pilot.press("y")
        await settle(pilot)
        assert ("Retry 2 marked: 748, 749", "retried 2 appointments: back in the sync queue") in toasts(app)
        await pilot.press("shift+tab")  # the categories pane
        await pilot.press("down")  # past_appointment
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, PromptScreen)
        assert "Cancel category past_appointment (11)" in "\n".join(screen_lines(app))


# --- 3. an undo of more than one appointment is previewed -------------------------------------------


async def test_undoing_a_bulk_backfill_shows_the_preview_and_needs_y(make_app, console_db):
    from synconsole.core.models import Customer
    from synconsole.tui.screens.dialogs import PreviewScreen, UndoScreen

    with console_db.session() as s:
        factory.failed(s, "761", category="missing_contact", first_failed_at=NOW - timedelta(hours=1),
                       start=NOW + 6 * D, customer_id="1013", http_status=None, staff_id="s-2",
                       message="Customer 1013 has no usable contact: no email; phone is anonymous.")
        s.commit()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one(QueueTable)
        table.move_cursor(row=row_ids(app).index("760"))
        await pilot.press("space", "space", "e", "y")  # 760 and 761: one customer, two appointments
        await settle(pilot)
        with console_db.session() as s:
            assert s.get(Customer, "1013").email == "customer_1013@placeholder.invalid"
        await pilot.press("u")
        await settle(pilot)
        assert isinstance(app.screen, UndoScreen)
        await pilot.press("enter")  # the newest, highlighted
        await settle(pilot)
        assert isinstance(app.screen, PreviewScreen), "an undo of two appointments went through without a preview"
        text = "\n".join(screen_lines(app))
        assert "(backfill_email)" in text and "760" in text and "761" in text
        await pilot.press("n")
        await settle(pilot)
        with console_db.session() as s:
            assert s.get(Customer, "1013").email == "customer_1013@placeholder.invalid"  # nothing changed
        await pilot.press("u", "enter", "y")
        await settle(pilot)
        with console_db.session() as s:
            assert s.get(Customer, "1013").email is None


async def test_undoing_one_appointment_needs_no_preview(make_app, console_db):
    from synconsole.tui.screens.dialogs import PreviewScreen

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one(QueueTable).move_cursor(row=row_ids(app).index("750"))
        await pilot.press("z", *"calls back", "enter")
        await settle(pilot)
        assert appt(console_db, "750").note == "calls back"  # typing replaced the suggested note
        await pilot.press("u", "enter")
        await settle(pilot)
        assert not isinstance(app.screen, PreviewScreen)
        assert appt(console_db, "750").snoozed_until is None


# --- 4. every list opens with its first row highlighted ---------------------------------------------


async def test_the_staff_picker_opens_on_its_first_row(make_app, console_db):
    from textual.widgets import OptionList

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one(QueueTable).move_cursor(row=row_ids(app).index("740"))
        await pilot.press("a")
        await settle(pilot)
        assert app.screen.query_one(OptionList).highlighted == 0
        await pilot.press("enter")  # enter does what it says: assigns the highlighted one
        await settle(pilot)
    assert appt(console_db, "740").staff_id == "s-1"


async def test_the_slot_picker_opens_on_the_first_free_slot(make_app, console_db):
    from textual.widgets import OptionList

    from synconsole.simulator import SimulatorServer
    from synconsole.tui.screens.dialogs import SlotPicker

    with SimulatorServer(clock=lambda: NOW.timestamp()) as sim:
        app = make_app(calcom={"base_url": sim.url})
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            app.screen.query_one(QueueTable).move_cursor(row=row_ids(app).index("748"))
            await pilot.press("s")
            await settle(pilot)
            for _ in range(50):  # Cal.com (the simulator) answers over HTTP
                box = app.screen.query_one(OptionList)
                if box.option_count:
                    break
                await pilot.pause(0.05)
            assert isinstance(app.screen, SlotPicker) and box.highlighted == 0
            first = box.get_option_at_index(0).id
            await pilot.press("enter")
            await settle(pilot)
    assert appt(console_db, "748").start_at.isoformat() == first


async def test_the_undo_picker_opens_on_the_newest(make_app, console_db):
    from textual.widgets import OptionList

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("u")
        await settle(pilot)
        assert app.screen.query_one(OptionList).highlighted == 0


async def test_keys_typed_before_the_staff_are_loaded_wait_for_them(make_app, console_db, monkeypatch):
    from synconsole.tui.screens import dialogs

    show = dialogs.StaffPicker._show

    def late(self, options):  # the options arrive late (a slow database)
        self.set_timer(0.4, lambda: show(self, options))

    monkeypatch.setattr(dialogs.StaffPicker, "_show", late)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one(QueueTable).move_cursor(row=row_ids(app).index("740"))
        await pilot.press("a", "down", "enter")  # typed at once
        await pilot.pause(0.6)
        await settle(pilot)
    assert appt(console_db, "740").staff_id == "s-1b"  # the second staff: ↓ and ⏎ were kept for the list


# --- 6. the detail screen shows the whole error --------------------------------------------------------

HTML_ERROR = (
    "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n<center><h1>502 Bad Gateway</h1></center>\n"
    "<p>upstream sent invalid header while reading response header from upstream, client: 10.0.3.7, "
    "server: api.cal.com, request: \"POST /v2/bookings HTTP/1.1\", upstream: "
    "\"http://10.0.8.12:3003/v2/bookings\", host: \"api.cal.com\"</p>\n"
    "<p>trace: 7f3a9c1e-2b4d-4e8f-9a6b-1c2d3e4f5a6b; retry-after: none; edge: fra1; the upstream booking core "
    "answered with a header line longer than the proxy accepts (large_client_header_buffers 4 8k)</p>\n"
    "<hr><center>nginx</center>\n</body>\n</html>\n<!-- the end of the error page -->")


def long_html_error(db) -> None:
    with db.session() as s:
        factory.attempt(s, "749", at=NOW - timedelta(minutes=1), outcome="failed", status=422, category="unknown",
                        message="Unexpected response from booking core", body=HTML_ERROR)
        s.commit()


async def test_the_detail_shows_the_whole_html_error_at_80_and_120_columns(make_app, console_db):
    from textual.widgets import TextArea

    long_html_error(console_db)
    for size in ((80, 24), (120, 36)):
        app = make_app()
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            app.screen.query_one(QueueTable).move_cursor(row=row_ids(app).index("749"))
            await pilot.press("enter")
            await settle(pilot)
            area = app.screen.query_one("#detail-error", TextArea)
            assert area.text == HTML_ERROR
            wrapped = area.wrapped_document.height
            assert wrapped > HTML_ERROR.count("\n") + 1  # long lines wrap...
            assert area.max_scroll_y == 0, f"{size}: the box hides {area.max_scroll_y} wrapped lines"
            for _ in range(30):  # the user scrolls the page down to the rest of it
                if "<!-- the end of the error page -->" in "\n".join(screen_lines(app)):
                    break
                await pilot.press("down")
            text = "\n".join(screen_lines(app))
            assert "<!-- the end of the error page -->" in text and "<title>502 Bad Gateway</title>" in text


# --- 7. 80x24 loses nothing that matters ---------------------------------------------------------------


async def test_80x24_keeps_the_header_the_category_names_and_the_footer(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        lines = screen_lines(app)
        assert "1 warn" in lines[0] and "jobs off" in lines[0]
        for name in ("past_appointment", "host_conflict", "missing_contact", "missing_staff", "unknown"):
            assert any(f" {name} " in line for line in lines[2:8]), name
        footer = lines[-1]
        assert "? Help" in footer and footer.rstrip().endswith("^p Commands")
        assert not any("…" in word for word in footer.split())


async def test_80x24_dialogs_keep_their_keys_line(make_app):
    from synconsole.tui.widgets.categories import CategoryTree

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        tree = app.screen.query_one(CategoryTree)
        await pilot.press("tab", "down")  # past_appointment: eleven rows to preview
        assert tree.cursor_node.data[0] == "past_appointment"
        await pilot.press("r")
        await settle(pilot)
        assert any("y apply · n/esc keep as is" in line for line in screen_lines(app))


async def test_80x24_jobs_screen_shows_states_and_every_last_result(make_app, console_db):
    from synconsole.jobs import state
    from synconsole.jobs.registry import job_ids

    long = "12 past-appointment failures cancelled; backfilled placeholder emails for 7 customers (8 appointments)"
    app = make_app()
    shown = job_ids(app.settings)  # ingest only with [[sources]]
    for job in shown:
        state.record_run(console_db, job, started=NOW, finished=NOW, ok=True, result=f"{job}: {long}", worker="w")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("j")
        await settle(pilot)
        text = flat(app)
        for job in shown:
            assert f"{job}: {long}" in text, job  # wrapped, not cut
        assert "active" in text


# --- 8. the header names critical alerts; the alert history ------------------------------------------


async def test_the_header_names_the_active_critical_alerts(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "1 CRITICAL  ancient_actionable" in screen_lines(app)[1]


async def test_alert_history_fired_resolved_and_acknowledged_in_the_console(make_app, console_db, console_settings):
    from synconsole.jobs import housekeeping
    from synconsole.tui.screens.alerts import AlertsScreen

    settings = console_settings()
    housekeeping.evaluate_alerts(console_db, settings, NOW)  # ancient_actionable fires
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("exclamation_mark")
        await settle(pilot)
        assert isinstance(app.screen, AlertsScreen)
        await pilot.press("a", *"looking at 749 and 750", "enter")
        await settle(pilot)
        text = "\n".join(screen_lines(app))
        assert "acknowledged by" in text and "looking at 749 and 750" in text
        await pilot.press("escape")
        await settle(pilot)
        # the old failures are snoozed: the alert resolves at the next evaluation
        for appt_id in ("749", "750", "751"):
            app.screen.query_one(QueueTable).move_cursor(row=row_ids(app).index(appt_id))
            await pilot.press("z", *"waiting", "enter")
            await settle(pilot)
        housekeeping.evaluate_alerts(console_db, settings, NOW)
        await pilot.press("exclamation_mark")
        await settle(pilot)
        from textual.widgets import OptionList

        active = app.screen.query_one(OptionList)
        assert "ancient_actionable" not in [active.get_option_at_index(i).id for i in range(active.option_count)]
        history = next(line for line in screen_lines(app) if "ancient_actionable" in line)
        assert "2025-11-24 17:00:00" in history and "after" in history and "looking at 749 and 750" in history


# --- 13. smaller things -------------------------------------------------------------------------------


async def test_help_shows_the_remap_line_whole(make_app):
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert any('[ui.keymap] id = "keys"' in line for line in screen_lines(app))


async def test_tab_into_the_categories_highlights_a_row_and_says_what_the_keys_do(make_app):
    from synconsole.tui.widgets.categories import CategoryTree

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert plain(app.screen.query_one("#category-info")).strip() == "tab: categories"
        await pilot.press("tab")
        tree = app.screen.query_one(CategoryTree)
        assert tree.has_focus and tree.cursor_line == 0
        assert plain(app.screen.query_one("#category-info")).strip() == "↓ pick · ⏎ filter"
        await pilot.press("down")
        assert plain(app.screen.query_one("#category-info")).strip() == "legitimate · cleanup job"


async def test_the_palette_offers_only_what_can_apply(make_app):
    from synconsole.tui.commands import ConsoleCommands

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one(QueueTable).move_cursor(row=row_ids(app).index("748"))  # its customer has an email
        names = [name for name, _, _ in ConsoleCommands(app.screen)._commands()]
        assert "Retry: 748" in names and not any(n.startswith("Backfill") for n in names)
        assert "Show category host_conflict (3)" in names
        assert not any(n.startswith("Show category auth") for n in names)  # no auth failures
        app.screen.query_one(QueueTable).move_cursor(row=row_ids(app).index("760"))
        names = [name for name, _, _ in ConsoleCommands(app.screen)._commands()]
        assert "Backfill email: 760" in names


async def test_the_detail_says_how_many_attempts_are_on_record(make_app, console_db):
    with console_db.session() as s:
        from synconsole.core.models import Appointment

        a = s.get(Appointment, "749")
        a.attempts = 3  # counted by the platform before, one on record here
        s.add(a)
        s.commit()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one(QueueTable).move_cursor(row=row_ids(app).index("749"))
        await pilot.press("enter")
        await settle(pilot)
        assert "attempts (1 of 3 on record)" in plain(app.screen.query_one("#detail-attempts"))


async def test_escape_never_waits_for_a_step_under_way(make_app, console_db, monkeypatch):
    from synconsole.tui.screens import dialogs

    show = dialogs.StaffPicker._show
    monkeypatch.setattr(dialogs.StaffPicker, "_show", lambda self, options: self.set_timer(3, lambda: show(self, options)))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a", "escape")  # the staff list would take 3 s
        await pilot.pause(0.2)
        assert isinstance(app.screen, MainScreen)
    assert appt(console_db, "661").staff_id == "s-1"


async def test_a_toast_shows_the_escapes_of_what_it_quotes(make_app, console_db):
    """A toast quotes data (an id, an error body): a terminal escape in it is shown, never sent."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.notify("booking \x1b[2J failed [remediation]")
        await pilot.pause()
        (toast,) = [n for n in app._notifications if "booking" in n.message]
        assert toast.message == "booking \\x1b[2J failed [remediation]" and toast.markup is False
