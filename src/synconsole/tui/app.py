"""The console application: hosts the jobs (unless --no-jobs), runs actions through core."""

from __future__ import annotations

import asyncio
import gc
import signal

from textual import events, work
from textual.app import App

from synconsole.config import Settings
from synconsole.core.actions import Actions, Ask, Target, registry
from synconsole.core.db import Database
from synconsole.core.text import printable
from synconsole.errors import UserError
from synconsole.jobs.host import STOP_SIGNALS, JobHost, clear_signals, job_views, make_client, stop_on_signals
from synconsole.jobs.state import JobView
from synconsole.tui import keys, textual_fixes
from synconsole.tui.commands import ConsoleCommands
from synconsole.tui.typeahead import TypeAhead

QUIT_SIGNALS = (*STOP_SIGNALS, signal.SIGHUP)

textual_fixes.apply()


class SynconsoleApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "synconsole"
    BINDINGS = keys.APP
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    ENABLE_COMMAND_PALETTE = True

    def __init__(self, db: Database, settings: Settings, *, jobs: bool = True, client=None,
                 notice: str | None = None) -> None:
        super().__init__()
        self._notice = notice
        self.db = db
        self.settings = settings
        self.read_only = settings.read_only
        self.reveal_pii = not settings.ui.mask_pii
        self.actions = Actions(db, settings)
        self._want_jobs = jobs and not settings.read_only
        self._client = client
        self.host: JobHost | None = None
        self._frozen = False
        self._signal_task: asyncio.Future | None = None
        #: keys typed while a step is under way wait for it (see tui/typeahead.py)
        self.typeahead = TypeAhead(self)

    # --- lifecycle ------------------------------------------------------------------------------

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            if self.typeahead.take(event):
                return
            self.typeahead.forwarding(event, self.focused or self.screen)
        await super().on_event(event)

    def on_mount(self) -> None:
        from synconsole.tui.screens.main import MainScreen

        if self.settings.ui.theme in self.available_themes:
            self.theme = self.settings.ui.theme
        else:
            self.notify(f"[ui] theme: unknown theme {self.settings.ui.theme!r}, using the default",
                        severity="warning")
        if self.settings.ui.keymap:
            self.set_keymap(dict(self.settings.ui.keymap))
        if self._want_jobs:
            self.host = JobHost(self.db, self.settings, client=self._client)
            self.host.start()
        self.push_screen(MainScreen())
        if self._notice:
            self.notify(self._notice, timeout=15)
        self._quit_on_signals()

    def _quit_on_signals(self) -> None:
        """SIGTERM, SIGINT and SIGHUP (the SSH session dropped) quit as ``q`` does: the jobs finish
        their calls in flight and the terminal is given back as it was; a second signal does not wait."""
        try:
            stop = stop_on_signals(QUIT_SIGNALS)
        except (RuntimeError, ValueError):  # not the main thread (an embedding host): its signals
            return

        async def quit_when_signalled() -> None:
            await stop.wait()
            stop.clear()
            quitting = asyncio.ensure_future(self.action_quit())
            again = asyncio.ensure_future(stop.wait())
            await asyncio.wait({quitting, again}, return_when=asyncio.FIRST_COMPLETED)
            again.cancel()
            if not quitting.done():
                self.exit()

        # a plain task, not a worker: it waits for the whole life of the console, and workers are
        # what a caller waits for to see the console idle
        self._signal_task = asyncio.ensure_future(quit_when_signalled())

    def on_unmount(self) -> None:
        if self._signal_task is not None:
            self._signal_task.cancel()
            self._signal_task = None
            clear_signals(QUIT_SIGNALS)

    def notify(self, message: str, *, title: str = "", severity="information", timeout: float | None = None,
               markup: bool = True) -> None:
        """Every toast as plain text: it quotes ids, filters and config keys (``[remediation]``),
        which Textual's markup would eat, and data (an id, an error body), whose escapes are shown."""
        super().notify(printable(message) if isinstance(message, str) else message, title=title,
                       severity=severity, timeout=timeout, markup=False)

    def startup_done(self) -> None:
        """Called once the first page is on screen. Everything alive now (modules, the schema,
        the widgets) lives as long as the console: a full garbage collection walking all of it
        took 50-90 ms, a frame or more, at random moments. Frozen, collections walk only what
        came after."""
        if not self._frozen:
            self._frozen = True
            gc.collect()
            gc.freeze()

    async def action_quit(self) -> None:
        if self.host is not None:
            self.notify("stopping jobs (finishing calls in flight)…")
            host, self.host = self.host, None
            await host.shutdown()
        self.exit()

    @property
    def jobs_hosted(self) -> bool:
        return self.host is not None

    @property
    def client(self):
        if self.host is not None and self.host.client is not None:
            return self.host.client
        if self._client is None:
            self._client = make_client(self.settings, db=self.db)
        return self._client

    def job_views(self) -> list[JobView]:
        """Called from worker threads as well: reads the database, and the scheduler's next runs."""
        if self.host is not None:
            return self.host.views()
        return job_views(self.db, self.settings)

    # --- navigation -----------------------------------------------------------------------------

    def action_help(self) -> None:
        from synconsole.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen(self.screen))

    def action_jobs(self) -> None:
        from synconsole.tui.screens.jobs import JobsScreen

        if not isinstance(self.screen, JobsScreen):
            self.push_screen(JobsScreen())

    def action_alerts(self) -> None:
        from synconsole.tui.screens.alerts import AlertsScreen

        if not isinstance(self.screen, AlertsScreen):
            self.push_screen(AlertsScreen())

    def action_report(self) -> None:
        from synconsole.tui.screens.documents import ReportScreen

        if not isinstance(self.screen, ReportScreen):
            self.push_screen(ReportScreen())

    def action_plan(self) -> None:
        from synconsole.tui.screens.documents import PlanScreen

        if not isinstance(self.screen, PlanScreen):
            self.push_screen(PlanScreen())

    def action_toggle_pii(self) -> None:
        self.reveal_pii = not self.reveal_pii
        self.notify("emails and phones shown" if self.reveal_pii else "emails and phones masked")
        refresh = getattr(self.screen, "load", None)
        if refresh is not None:
            refresh()

    # --- actions --------------------------------------------------------------------------------

    def refuse_read_only(self, what: str) -> bool:
        if self.read_only:
            self.notify(f"{what} refused: this console is read-only", title="READ-ONLY", severity="error")
            return True
        return False

    def start_action(self, action: str, target: Target, label: str) -> None:
        """Run ``action`` on ``target``; ``label`` names the target in every dialog and toast
        ("661", "2 marked: 740, 741", "category missing_contact (8)")."""
        if self.refuse_read_only(action.replace("_", " ")):
            return
        self.typeahead.hold("action")
        self._action_flow(action, target, label)

    def start_undo(self) -> None:
        if self.refuse_read_only("undo"):
            return
        self.typeahead.hold("action")
        self._undo_flow()

    async def _ask(self, screen):
        """A dialog's answer. The dialog releases the held keys once it can take them; what
        follows the answer (a preview, an apply) holds them again."""
        try:
            return await self.push_screen_wait(screen)
        finally:
            self.typeahead.hold("action")

    @work(group="action", exit_on_error=False)
    async def _action_flow(self, action: str, target: Target, label: str) -> None:
        try:
            await self._run_action(action, target, label)
        finally:
            self.typeahead.release("action")

    async def _run_action(self, action: str, target: Target, label: str) -> None:
        from synconsole.tui.screens.dialogs import PreviewScreen

        spec = registry.spec(action)
        title = action_title(action, label)
        params: dict = {}
        reason: str | None = None
        if spec.one_at_a_time and len(target.ids) != 1:
            self.notify(f"{spec.label} works on one appointment: open it or move the cursor to it",
                        severity="warning")
            return
        if spec.ask is not None:
            answer = await self._ask(self._asking(spec.ask, title, target))
            if answer is None:
                return
            if spec.ask.param == "reason":
                reason = answer
            else:
                params[spec.ask.param] = answer
        try:
            preview = await asyncio.to_thread(self.actions.preview, action, target, **params)
        except UserError as exc:
            self.notify(str(exc), title=title, severity="error")
            return
        if preview.count == 0:
            why = "; ".join(f"{k}: {v}" for k, v in list(preview.skipped.items())[:3])
            self.notify(f"nothing to {action.replace('_', ' ')}" + (f" ({why})" if why else ""), title=title,
                        severity="warning")
            return
        bulk = preview.count > 1 or target.filter is not None or target.category is not None
        if bulk or spec.confirm_always:
            if not await self._ask(PreviewScreen(preview, title=title, reason=reason)):
                self.notify("nothing changed", title=title)
                return
        try:
            result = await asyncio.to_thread(self.actions.apply, preview, reason=reason, **params)
        except UserError as exc:
            self.notify(str(exc), title=title, severity="error")
            return
        self.notify(result.message, title=title, severity="information" if result.changed else "warning")
        self._after_action()

    def _asking(self, ask: Ask, title: str, target: Target):
        """The dialog that asks what ``ask`` names."""
        from synconsole.tui.screens.dialogs import PromptScreen, SlotPicker, StaffPicker

        if ask.kind == "staff":
            return StaffPicker(self.db, title)
        if ask.kind == "slot":
            return SlotPicker(self, target.ids[0])
        return PromptScreen(title, ask.prompt, required=ask.required, value=ask.value)

    def _after_action(self) -> None:
        after = getattr(self.screen, "after_action", None)
        if after is not None:
            after()

    @work(group="action", exit_on_error=False)
    async def _undo_flow(self) -> None:
        try:
            await self._run_undo()
        finally:
            self.typeahead.release("action")

    async def _run_undo(self) -> None:
        from synconsole.tui.screens.dialogs import PreviewScreen, UndoScreen

        events = await asyncio.to_thread(self.actions.undoable)
        if not events:
            self.notify("nothing to undo: no reversible action (backfill, assign staff, snooze) left",
                        severity="warning")
            return
        event_id = await self._ask(UndoScreen(events))
        if event_id is None:
            return
        try:
            preview = await asyncio.to_thread(self.actions.preview_undo, event_id)
        except UserError as exc:
            self.notify(str(exc), severity="error")
            return
        title = f"Undo event {event_id} ({preview.params.get('undoes_action')})"
        if preview.count == 0:
            why = "; ".join(f"{k}: {v}" for k, v in list(preview.skipped.items())[:3])
            self.notify("nothing to undo" + (f" ({why})" if why else ""), title=title, severity="warning")
            return
        # undoing more than one appointment is a bulk change like any other: the preview, then y
        if preview.count > 1 and not await self._ask(PreviewScreen(preview, title=title)):
            self.notify("nothing changed", title=title)
            return
        try:
            result = await asyncio.to_thread(self.actions.apply, preview)
        except UserError as exc:
            self.notify(str(exc), title=title, severity="error")
            return
        self.notify(result.message, title=title, severity="information" if result.changed else "warning")
        self._after_action()


def action_title(action: str, label: str) -> str:
    """'Assign staff to 2 marked: 740, 741': every dialog and toast of an action names its target."""
    spec = registry.BY_NAME.get(action)
    title = spec.title if spec is not None and spec.title else action.replace("_", " ").capitalize() + " {}"
    return title.format(label)


def run_console(db: Database, settings: Settings, *, jobs: bool = True, client=None) -> None:
    SynconsoleApp(db, settings, jobs=jobs, client=client).run()

