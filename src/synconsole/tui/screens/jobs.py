"""The jobs: each one's state, last and next run, last result; pause, resume, run now."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from synconsole.core import audit, clock
from synconsole.jobs import state
from synconsole.tui.format import age, utc
from synconsole.tui.widgets.footer import Footer


class JobsScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("p", "pause", "Pause/resume", id="job_pause"),
        Binding("n", "run_now", "Run now", id="job_run"),
    ]

    def compose(self) -> ComposeResult:
        yield Static(Text("background jobs", "bold"), id="jobs-title")
        yield DataTable(cursor_type="row", id="jobs-table")
        yield Static(id="jobs-info")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in (("job", "job"), ("state", "state"), ("every", "every"), ("last", "last run"),
                           ("took", "took"), ("next", "next run"), ("result", "last result")):
            table.add_column(label, key=key)
        table.focus()
        self.load()
        self.set_interval(1.0, self.load)

    def load(self) -> None:
        self._read()

    @work(thread=True, exclusive=True, group="jobs", exit_on_error=False)
    def _read(self) -> None:
        views = self.app.job_views()
        self.app.call_from_thread(self._show, views)

    def _show(self, views) -> None:
        table = self.query_one(DataTable)
        now = clock.now()
        rows = {}
        for v in views:
            if v.paused:
                st = Text("paused", "bold yellow")
            elif v.running:
                st = Text("running", "cyan")
            elif v.last_ok is False:
                st = Text("failing", "bold red")
            else:
                st = Text("active", "green")
            result = Text(v.last_result or "-", "red" if v.last_ok is False else "")
            rows[v.id] = [v.id, st, f"{v.interval_s:g}s", f"{age(v.last_run_at, now)} ago" if v.last_run_at else "never",
                          f"{v.last_duration_ms} ms" if v.last_duration_ms is not None else "-",
                          utc(v.next_run_at) if v.next_run_at else ("-" if self.app.jobs_hosted else "not hosted"),
                          result]
        keys = ("job", "state", "every", "last", "took", "next", "result")
        if table.row_count != len(rows):
            table.clear()
            for job_id, cells in rows.items():
                table.add_row(*cells, key=job_id)
        else:
            for job_id, cells in rows.items():
                for key, value in zip(keys, cells):
                    table.update_cell(job_id, key, value)
        current = views[table.cursor_row] if 0 <= table.cursor_row < len(views) else None
        info = Text()
        if not self.app.jobs_hosted:
            info.append("this console does not run the jobs (--no-jobs or read-only); a worker may\n", "dim")
        if current is not None and current.paused:
            info.append(f"{current.id} paused by {current.paused_by}", "yellow")
            if current.paused_reason:
                info.append(f": {current.paused_reason}", "yellow")
        self.query_one("#jobs-info", Static).update(info)

    def _current(self) -> str | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        return state.job_ids(self.app.settings)[table.cursor_row]

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
