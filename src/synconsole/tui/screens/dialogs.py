"""Modal dialogs: the bulk preview (y/n), a text prompt, the staff and slot pickers, undo."""

from __future__ import annotations

from datetime import datetime

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from synconsole.core import clock
from synconsole.core.actions import Preview
from synconsole.core.text import printable
from synconsole.tui.format import local, utc


KEYS_YN = Text.assemble(("y", "bold green"), " apply · ", ("n", "bold red"), "/esc keep as is")


def _by_id(lines: list[str]) -> Table:
    """'748: sync_state failed -> pending, …' as two columns, a long change wrapping under itself."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, style="bold")
    grid.add_column()
    for line in lines:
        appt_id, _, change = line.partition(": ")
        grid.add_row(appt_id, change) if change else grid.add_row("", appt_id)
    return grid


def _steps(lines: list[str]) -> Group:
    """Headers as they are; their indented '661: …' lines as :func:`_by_id` columns."""
    parts: list = []
    block: list[str] = []
    for line in [*lines, None]:
        if line is not None and line.startswith("  "):
            block.append(line.strip())
            continue
        if block:
            parts.append(_by_id(block))
            block = []
        if line is not None:
            parts.append(Text(line, "bold"))
    return Group(*parts)


class Dialog(ModalScreen):
    """A dialog of an action's flow: once it can take keys, the keys typed ahead are its. (Textual
    runs this ``on_mount`` after a subclass's own.)"""

    #: False: the dialog calls :meth:`ready` itself, once its options are there
    ready_on_mount = True

    def on_mount(self) -> None:
        if self.ready_on_mount:
            self.ready()

    def on_resize(self, event) -> None:
        """The body scrolls within half the screen, a list within two fifths, so the title and
        the keys line always fit. (Set here: Textual sizes an auto-height dialog wrongly from a
        max-height given in vh.)"""
        for body in self.query(".dialog-body"):
            body.styles.max_height = max(4, event.size.height // 2)
        for options in self.query(OptionList):
            options.styles.max_height = max(4, event.size.height * 2 // 5)

    def ready(self) -> None:
        self.app.typeahead.release("action")


class PreviewScreen(Dialog):
    """Exactly what a bulk action will change: the count and every id. ``y`` applies, ``n`` not.
    The title names the target as the user chose it (``2 marked: 740, 741``); the keys line is
    docked at the bottom, so no preview is too long to show it."""

    BINDINGS = [Binding("y", "answer(True)", "Yes, apply", id="confirm_yes"),
                Binding("n,escape", "answer(False)", "No", id="confirm_no")]

    def __init__(self, preview: Preview, *, title: str | None = None, reason: str | None = None) -> None:
        super().__init__()
        self.preview = preview
        self.title_text = title
        self.reason = reason

    def compose(self) -> ComposeResult:
        p = self.preview
        with Vertical(classes="dialog"):
            yield Label(Text((self.title_text or p.headline()) + "?", "bold"), classes="dialog-title")
            if self.title_text:
                yield Static(Text(p.headline(), "dim"))
            if self.reason:
                yield Static(Text(f"reason: {self.reason}", "italic"))
            with VerticalScroll(classes="dialog-body"):
                yield Static(Text(printable(", ".join(p.ids))), id="preview-ids")
                yield Static(Text("what changes:", "bold"), classes="dialog-section")
                yield Static(_by_id([printable(line, single_line=True) for line in p.describe_changes(max_ids=200)]),
                             id="preview-changes")
                if p.skipped:
                    yield Static(Text("left alone:", "bold"), classes="dialog-section")
                    yield Static(Text("\n".join(printable(line, single_line=True) for line in
                                                 p.describe_skipped(max_ids=200)), "dim"), id="preview-skipped")
            yield Static(KEYS_YN, classes="dialog-keys")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class ConfirmScreen(Dialog):
    """A title and the exact lines of what will change; ``y`` applies, ``n`` not."""

    BINDINGS = [Binding("y", "answer(True)", "Yes, apply", id="confirm_yes"),
                Binding("n,escape", "answer(False)", "No", id="confirm_no")]

    def __init__(self, title: str, lines: list[str]) -> None:
        super().__init__()
        self.title_text = title
        self.lines = lines

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(self.title_text, "bold"), classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(_steps(self.lines))
            yield Static(KEYS_YN, classes="dialog-keys")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class PromptScreen(Dialog):
    """One line of text (a cancel reason, a snooze note); enter accepts, escape gives up. A
    suggested value is selected, so typing replaces it."""

    BINDINGS = [Binding("escape", "give_up", "Back", id="prompt_cancel")]

    def __init__(self, title: str, label: str, *, required: bool = False, value: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.label = label
        self.required = required
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(self.title_text, "bold"), classes="dialog-title")
            yield Label(self.label)
            yield Input(value=self.value, id="prompt-input", select_on_focus=True)
            yield Static("enter accept · esc back", classes="dialog-keys")

    def on_mount(self) -> None:
        box = self.query_one(Input)
        box.focus()
        box.select_all()

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if self.required and not text:
            self.notify("this cannot be empty", severity="error")
            return
        self.dismiss(text)

    def action_give_up(self) -> None:
        self.dismiss(None)


class StaffPicker(Dialog):
    """Active staff, first row highlighted; the title names the appointments it is for."""

    BINDINGS = [Binding("escape", "give_up", "Back", id="picker_cancel")]
    ready_on_mount = False  # ready once the options are there

    def __init__(self, db, title: str = "Assign staff") -> None:
        super().__init__()
        self.db = db
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(self.title_text, "bold"), classes="dialog-title")
            yield OptionList(id="staff-options")
            yield Static("enter assign · ↑↓ choose · esc back", classes="dialog-keys")

    def on_mount(self) -> None:
        self._load()

    @work(thread=True, exit_on_error=False)
    def _load(self) -> None:
        from synconsole.core.queries import active_staff

        with self.db.session() as session:
            staff = active_staff(session)
        options = [Option(f"{s.id:<10} {s.name}  ({s.calcom_username or s.calcom_user_id or 'no Cal.com user'}, "
                          f"event type {s.event_type_id or '-'})", id=s.id) for s in staff]
        self.app.call_from_thread(self._show, options)

    def _show(self, options: list[Option]) -> None:
        box = self.query_one(OptionList)
        box.add_options(options or [Option("no active staff", disabled=True)])
        if options:
            box.highlighted = 0
        box.focus()
        self.ready()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_give_up(self) -> None:
        self.dismiss(None)


class SlotPicker(Dialog):
    """Free slots from Cal.com for the appointment's event type (the first highlighted), or a start
    typed by hand."""

    BINDINGS = [Binding("escape", "give_up", "Back", id="picker_cancel")]
    ready_on_mount = False  # ready once Cal.com has answered (or could not)

    def __init__(self, app, appointment_id: str) -> None:
        super().__init__()
        self.console = app
        self.appointment_id = appointment_id
        self.zone = "UTC"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(f"Reschedule {self.appointment_id}", "bold"), classes="dialog-title")
            yield Static("asking Cal.com for free slots…", id="slot-status")
            yield OptionList(id="slot-options")
            yield Input(placeholder="or type a start: 2025-11-27T10:00:00+01:00", id="slot-input")
            yield Static("enter pick · tab type a time · esc back", classes="dialog-keys")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self._load()

    @work(exit_on_error=False)
    async def _load(self) -> None:
        from synconsole.core.slots import free_slots

        status = self.query_one("#slot-status", Static)
        try:
            try:
                slots, self.zone = await free_slots(self.console.db, self.console.client, self.appointment_id)
            except Exception as exc:  # Cal.com down, no key: the operator can still type a time
                status.update(Text(f"no slots from Cal.com: {exc}", "yellow"))
                self.query_one("#slot-input", Input).focus()
                return
            box = self.query_one(OptionList)
            if not slots:
                status.update(Text("Cal.com offers no free slot in the next 7 days: type a start below", "yellow"))
                self.query_one("#slot-input", Input).focus()
                return
            status.update(Text(f"free slots ({self.zone}):", "dim"))
            box.add_options([Option(local(s, self.zone, with_zone=True), id=s.isoformat()) for s in slots])
            box.highlighted = 0
        finally:
            self.ready()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(datetime.fromisoformat(event.option.id))

    @on(Input.Submitted, "#slot-input")
    def _typed(self, event: Input.Submitted) -> None:
        try:
            start = clock.parse_utc(event.value)
        except ValueError:
            self.notify("expected an ISO 8601 time with an offset, like 2025-11-27T10:00:00+01:00",
                        severity="error")
            return
        self.dismiss(start)

    def action_give_up(self) -> None:
        self.dismiss(None)


class UndoScreen(Dialog):
    """The reversible actions not undone yet, newest first (highlighted). Choosing one shows what
    undoing it restores; more than one appointment needs ``y``."""

    BINDINGS = [Binding("escape", "give_up", "Back", id="picker_cancel")]

    def __init__(self, events) -> None:
        super().__init__()
        self.events = events

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text("Undo which action?", "bold"), classes="dialog-title")
            options = []
            for e in self.events:
                targets = e.targets or []
                what = ", ".join(targets[:4]) + (f" +{len(targets) - 4}" if len(targets) > 4 else "")
                options.append(Option(f"{utc(e.at)}  {e.action:<15} {what}  by {e.actor}", id=str(e.id)))
            yield OptionList(*options, id="undo-options")
            yield Static("enter undo (a preview first when it touches more than one) · esc back",
                         classes="dialog-keys")

    def on_mount(self) -> None:
        box = self.query_one(OptionList)
        box.highlighted = 0
        box.focus()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id))

    def action_give_up(self) -> None:
        self.dismiss(None)
