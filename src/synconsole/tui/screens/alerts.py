"""Active alerts, critical first, with what they mean."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from synconsole.core import clock, metrics
from synconsole.tui.widgets.footer import Footer

MEANING = {
    "stuck_pending": "appointments wait in the queue and nothing picks them up: is any sync job running (j)?",
    "auth_failure": "Cal.com refuses the API key; the sync is paused until a probe succeeds. Fix the key, "
                    "check with `synconsole doctor`.",
    "outage": "Cal.com keeps failing; calls back off and a probe runs until it answers again.",
    "ancient_actionable": "failures that need a human have waited more than a day: filter age:>24h.",
    "low_success_rate": "too few appointments book on their latest attempt in the last 24 h.",
    "log_fallback": "the log path is not writable; logs go to the fallback named here.",
    "rate_limit_pressure": "Cal.com answered 429: lower [calcom] rate_limit_per_minute or ask for a higher limit.",
    "booking_drift": "bookings were cancelled or moved in Cal.com; filter drift:yes and decide per appointment.",
}


class AlertsScreen(Screen):
    BINDINGS = [Binding("escape", "back", "Back", id="back")]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(id="alerts-body")
        yield Footer()

    def on_mount(self) -> None:
        self._read()
        self.set_interval(self.app.settings.ui.refresh_interval_s, self._read)

    @work(thread=True, exclusive=True, group="alerts", exit_on_error=False)
    def _read(self) -> None:
        with self.app.db.session() as session:
            m = metrics.compute(session, self.app.settings)
        self.app.call_from_thread(self._show, m)

    def _show(self, m: metrics.Metrics) -> None:
        body = self.query_one("#alerts-body", Static)
        if not m.alerts:
            body.update(Text(f"no active alerts ({clock.iso(m.generated_at)})", "green"))
            return
        table = Table(expand=True, show_lines=True, title=f"{len(m.alerts)} active alerts")
        table.add_column("severity", no_wrap=True)
        table.add_column("alert", no_wrap=True)
        table.add_column("count", justify="right")
        table.add_column("what it says, and what to do", ratio=1)
        for a in m.alerts:
            sev = Text(a.severity.upper(), "bold white on red" if a.severity == metrics.CRITICAL else "bold yellow")
            table.add_row(sev, a.id, str(a.count), Text(a.message + "\n") + Text(MEANING.get(a.id, ""), "dim"))
        body.update(table)

    def action_back(self) -> None:
        self.app.pop_screen()
