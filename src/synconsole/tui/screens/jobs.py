"""The jobs: each one's state, last and next run, last result; pause, resume, run now."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from synconsole.core import audit, clock
from synconsole.core.pii import mask_text
from synconsole.core.text import printable
from synconsole.jobs import state
from synconsole.tui.format import age, utc
from synconsole.tui.widgets.footer import Footer


class JobsScreen(Screen):
    """One entry per job: state, interval, last and next run on the first line, the whole last
    result wrapped under it (a DataTable cut both at 80 columns)."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("p", "pause", "Pause/resume", id="job_pause"),
        Binding("n", "run_now", "Run now", id="job_run"),
    ]

    _bad: list[str] = []  # the live sources' latest bad rows, read with the jobs

    def compose(self) -> ComposeResult:
        yield Static(Text("background jobs  ·  p pause/resume  ·  n run now  ·  esc back", "bold"), id="jobs-title")
        yield OptionList(id="jobs-list")
        yield Static(id="jobs-info")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self.load()
        self.set_interval(1.0, self.load)

    def load(self) -> None:
        self._read()

    @work(thread=True, exclusive=True, group="jobs", exit_on_error=False)
    def _read(self) -> None:
        views = self.app.job_views()
        self._bad = self._bad_rows()
        self.app.call_from_thread(self._show, views)

    def _bad_rows(self) -> list[str]:
        """The live sources' latest bad rows, under the ingest job: what to fix in the platform."""
        if not self.app.settings.sources:
            return []
        from synconsole.sources import poll

        lines = []
        for source in self.app.settings.sources:
            for bad in poll.bad_rows(self.app.db, source.name, limit=5):
                lines.append(mask_text(f"bad row {source.name} {bad.query} {bad.row_id}: {bad.reason}") or "")
        return lines

    def _entry(self, v, now) -> Text:
        if v.paused:
            st = Text("paused", "bold yellow")
        elif v.running:
            st = Text("running", "cyan")
        elif v.last_ok is False:
            st = Text("failing", "bold red")
        else:
            st = Text("active", "green")
        last = f"{age(v.last_run_at, now)} ago" if v.last_run_at else "never"
        took = f" ({v.last_duration_ms} ms)" if v.last_duration_ms is not None else ""
        nxt = utc(v.next_run_at) if v.next_run_at else ("-" if self.app.jobs_hosted else "not hosted")
        t = Text()
        t.append(f"{v.id:<10}", "bold")
        t.append_text(st)
        t.append(" " * (9 - len(st.plain)))
        t.append(f"every {v.interval_s:g}s · last {last}{took} · next {nxt}", "dim")
        t.append("\n  ")
        t.append(v.last_result or "no run yet", "red" if v.last_ok is False else "")
        if v.id == "ingest":
            for line in self._bad:
                t.append("\n  ")
                t.append(printable(line, single_line=True), "yellow")
        return t

    def _show(self, views) -> None:
        box = self.query_one(OptionList)
        now = clock.now()
        highlighted = box.highlighted if box.highlighted is not None else 0
        entries = [Option(self._entry(v, now), id=v.id) for v in views]
        if box.option_count != len(entries):
            box.clear_options()
            box.add_options(entries)
        else:
            for v, entry in zip(views, entries):
                box.replace_option_prompt(v.id, entry.prompt)
        box.highlighted = min(highlighted, len(entries) - 1) if entries else None
        current = views[box.highlighted] if box.highlighted is not None and box.highlighted < len(views) else None
        info = Text()
        if not self.app.jobs_hosted:
            info.append("this console does not run the jobs (--no-jobs or read-only); a worker may\n", "dim")
        if current is not None and current.paused:
            info.append(f"{current.id} paused by {current.paused_by}", "yellow")
            if current.paused_reason:
                info.append(f": {current.paused_reason}", "yellow")
        self.query_one("#jobs-info", Static).update(info)

    def _current(self) -> str | None:
        box = self.query_one(OptionList)
        if box.option_count == 0 or box.highlighted is None:
            return None
        return box.get_option_at_index(box.highlighted).id

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_pause(self) -> None:
        job = self._current()
        if job is None or self.app.refuse_read_only("pause/resume"):
            return
        self._toggle(job)

    @work(exit_on_error=False)
    async def _toggle(self, job: str) -> None:
        current = await asyncio.to_thread(state.get, self.app.db, job)
        actor = audit.os_actor()
        if current.paused:
            await asyncio.to_thread(state.resume, self.app.db, job, actor=actor)
            self.notify(f"{job} resumed")
        else:
            await asyncio.to_thread(state.pause, self.app.db, job, actor=actor, reason="paused from the console")
            self.notify(f"{job} paused everywhere")
        self.load()

    def action_run_now(self) -> None:
        job = self._current()
        if job is None or self.app.refuse_read_only("run now"):
            return
        if self.app.host is None:
            self.notify("this console does not host the jobs (--no-jobs): use `synconsole jobs run "
                        f"{job}` or a worker", severity="warning")
            return
        self._run(job)

    @work(exit_on_error=False, group="run-now")
    async def _run(self, job: str) -> None:
        self.notify(f"{job}: running…")
        ok, result = await self.app.host.run_now(job)
        self.notify(f"{job}: {result}", severity="information" if ok else "error")
        self.load()
