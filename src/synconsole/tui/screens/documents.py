"""The incident report and the remediation plan, in the console: read, write to a file, apply."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static, TextArea

from synconsole.core import audit, clock
from synconsole.tui.widgets.footer import Footer
from synconsole.core.text import printable


class DocumentScreen(Screen):
    """A read-only text (Markdown report or plan) with the keys that go with it; a subclass
    supplies ``render_text()`` (run in a thread)."""

    BINDINGS = [Binding("escape", "back", "Back", id="back")]
    title_text = ""

    def compose(self) -> ComposeResult:
        yield Static(Text(self.title_text, "bold"), id="doc-title")
        yield TextArea("loading…", read_only=True, soft_wrap=True, show_line_numbers=False, id="doc-body")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()
        self._width = 0
        self.call_after_refresh(self._refit)

    def on_resize(self) -> None:
        self.call_after_refresh(self._refit)

    def _refit(self) -> None:
        """Rendered for the width the text area wraps at, so the document's own wrapping is the
        only one (the area wrapping it again left orphan words at 80x24)."""
        width = self.text_width()
        if width != self._width:
            self._width = width
            self.load()

    def text_width(self) -> int:
        """The area's wrapping width with its scrollbar shown (a long document brings it)."""
        area = self.query_one(TextArea)
        width = area.content_region.width - area.styles.scrollbar_size_vertical - 1
        return max(40, width if area.content_region.width else self.size.width - 8)

    def load(self) -> None:
        self._read(self.text_width())

    @work(thread=True, exclusive=True, group="document", exit_on_error=False)
    def _read(self, width: int) -> None:
        try:
            text = self.render_text(width)
        except Exception as exc:  # keep the screen; say what went wrong
            text = f"could not build it: {exc}"
        self.app.call_from_thread(self.query_one(TextArea).load_text, printable(text))  # data's escapes shown

    def action_back(self) -> None:
        self.app.pop_screen()


class ReportScreen(DocumentScreen):
    """The incident report since 24 h ago (or the latest snapshot before); ``w`` writes it."""

    BINDINGS = [*DocumentScreen.BINDINGS, Binding("w", "write", "Write to file", id="report_write")]
    title_text = "incident report (last 24 h)  ·  w write to a file  ·  esc back"

    def render_text(self, width: int) -> str:
        from synconsole.core.report import report_text

        return report_text(self.app.db, self.app.settings, clock.now() - timedelta(hours=24), width=width)

    def action_write(self) -> None:
        self._write()

    @work(exit_on_error=False, group="action")
    async def _write(self) -> None:
        from synconsole.config import user_data_dir
        from synconsole.core.report import WRAP, report_text
        from synconsole.tui.screens.dialogs import PromptScreen

        default = user_data_dir() / "reports" / f"synconsole-report-{clock.now().strftime('%Y%m%d-%H%M%S')}.md"
        name = await self.app.push_screen_wait(PromptScreen("Write the report", "File (in the data directory "
                                                            "unless you give a path)", required=True,
                                                            value=str(default)))
        if name is None:
            return
        path = Path(name).expanduser()
        if not path.is_absolute():
            path = user_data_dir() / "reports" / path
        since = clock.now() - timedelta(hours=24)

        def write() -> None:
            if path.parent == user_data_dir() / "reports":
                path.parent.mkdir(parents=True, exist_ok=True)
            # the file is the report as `synconsole report` writes it, not the screen's wrapping
            path.write_text(report_text(self.app.db, self.app.settings, since, width=WRAP), encoding="utf-8")

        try:
            await asyncio.to_thread(write)
        except OSError as exc:
            self.notify(f"cannot write {path}: {exc.strerror or exc}", severity="error")
            return
        self.notify(f"report written to {path}", timeout=10)


class PlanScreen(DocumentScreen):
    """What every current failure calls for; ``a`` runs the automatic part after a preview."""

    BINDINGS = [*DocumentScreen.BINDINGS, Binding("a", "apply", "Apply the automatic part", id="plan_apply")]
    title_text = "remediation plan  ·  a apply the automatic part (preview first)  ·  esc back"

    def render_text(self, width: int) -> str:
        from synconsole.core.remediation import plan, plan_text

        now = clock.now()
        with self.app.db.session() as session:
            items = plan(session, self.app.settings, now, reveal=self.app.reveal_pii)
        return plan_text(items, now=now, width=width)

    def action_apply(self) -> None:
        if self.app.refuse_read_only("remediate"):
            return
        self._apply()

    @work(exit_on_error=False, group="action")
    async def _apply(self) -> None:
        from synconsole.core.remediation import apply_preview, preview_automatic, preview_text
        from synconsole.tui.screens.dialogs import ConfirmScreen

        app = self.app
        preview = await asyncio.to_thread(preview_automatic, app.db, app.settings)
        if preview.count == 0:
            self.notify("nothing automatic to do: every remaining failure needs a human", severity="warning")
            return
        lines = preview_text(preview)
        if not await app.push_screen_wait(ConfirmScreen(f"apply the automatic part: {preview.count} changes?",
                                                        lines)):
            self.notify("nothing changed")
            return
        result = await asyncio.to_thread(apply_preview, app.db, app.settings, preview, actor=audit.os_actor())
        self.notify(f"applied: {result.changed} appointments changed")
        self.load()
