"""Modal dialogs: the bulk preview (y/n), a text prompt, the staff and slot pickers, undo."""

from __future__ import annotations

from datetime import datetime

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
from synconsole.tui.format import local, utc
from synconsole.core.text import printable


class PreviewScreen(ModalScreen[bool]):
    """Exactly what a bulk action will change: the count and every id. ``y`` applies, ``n`` not."""

    BINDINGS = [Binding("y", "answer(True)", "Yes, apply", id="confirm_yes"),
                Binding("n,escape", "answer(False)", "No", id="confirm_no")]

    def __init__(self, preview: Preview, *, reason: str | None = None) -> None:
        super().__init__()
        self.preview = preview
        self.reason = reason

    def compose(self) -> ComposeResult:
        p = self.preview
        with Vertical(classes="dialog"):
            yield Label(Text(p.headline() + "?", "bold"), classes="dialog-title")
            if self.reason:
                yield Static(Text(f"reason: {self.reason}", "italic"))
            with VerticalScroll(classes="dialog-body"):
                yield Static(Text(printable(", ".join(p.ids))), id="preview-ids")
                changes = Text("\nwhat changes:\n", "bold")
                for line in p.describe_changes(max_ids=200):
                    changes.append(f"  {printable(line, single_line=True)}\n", "")
                yield Static(changes, id="preview-changes")
                if p.skipped:
                    lines = Text("\nleft alone:\n", "dim")
                    for line in p.describe_skipped(max_ids=200):
                        lines.append(f"  {printable(line, single_line=True)}\n", "dim")
                    yield Static(lines, id="preview-skipped")
            yield Static(Text.assemble(("y", "bold green"), " apply   ", ("n", "bold red"), " / esc  keep as is"),
                         classes="dialog-keys")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class ConfirmScreen(ModalScreen[bool]):
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
                yield Static(Text("\n".join(self.lines)))
            yield Static(Text.assemble(("y", "bold green"), " apply   ", ("n", "bold red"), " / esc  keep as is"),
                         classes="dialog-keys")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class PromptScreen(ModalScreen[str | None]):
    """One line of text (a cancel reason, a snooze note); enter accepts, escape gives up."""

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
            yield Input(value=self.value, id="prompt-input")
            yield Static("enter accept · esc back", classes="dialog-keys")

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if self.required and not text:
            self.notify("this cannot be empty", severity="error")
            return
        self.dismiss(text)

    def action_give_up(self) -> None:
        self.dismiss(None)


class StaffPicker(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "give_up", "Back", id="picker_cancel")]

    def __init__(self, db) -> None:
        super().__init__()
        self.db = db

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text("Assign staff", "bold"), classes="dialog-title")
            yield OptionList(id="staff-options")
            yield Static("enter assign · esc back", classes="dialog-keys")

    def on_mount(self) -> None:
        self._load()

    @work(thread=True)
    def _load(self) -> None:
        from sqlmodel import select

        from synconsole.core.models import Staff

        with self.db.session() as session:
            staff = list(session.exec(select(Staff).where(Staff.active.is_(True)).order_by(Staff.name, Staff.id)))
        options = [Option(f"{s.id:<10} {s.name}  ({s.calcom_username or s.calcom_user_id or 'no Cal.com user'}, "
                          f"event type {s.event_type_id or '-'})", id=s.id) for s in staff]
        self.app.call_from_thread(self._show, options)

    def _show(self, options: list[Option]) -> None:
        box = self.query_one(OptionList)
        box.add_options(options or [Option("no active staff", disabled=True)])
        box.focus()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_give_up(self) -> None:
        self.dismiss(None)


class SlotPicker(ModalScreen[datetime | None]):
    """Free slots from Cal.com for the appointment's event type, or a start typed by hand."""

    BINDINGS = [Binding("escape", "give_up", "Back", id="picker_cancel")]

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
        from synconsole.tui.slots import free_slots

        status = self.query_one("#slot-status", Static)
        try:
            slots, self.zone = await free_slots(self.console, self.appointment_id)
        except Exception as exc:  # Cal.com down, no key: the operator can still type a time
            status.update(Text(f"no slots from Cal.com: {exc}", "yellow"))
            self.query_one("#slot-input", Input).focus()
            return
        box = self.query_one(OptionList)
        if not slots:
            status.update(Text("Cal.com offers no free slot in the next 7 days", "yellow"))
            return
        status.update(Text(f"free slots ({self.zone}):", "dim"))
        box.add_options([Option(local(s, self.zone, with_zone=True), id=s.isoformat()) for s in slots])

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


class UndoScreen(ModalScreen[int | None]):
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
            yield Static("enter undo · esc back", classes="dialog-keys")

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id))

    def action_give_up(self) -> None:
        self.dismiss(None)
