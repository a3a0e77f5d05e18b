"""Active alerts, critical first, with what they mean and who acknowledged them; below, the
history: every alert that fired, when it resolved, who acknowledged it. ``a`` acknowledges the
highlighted active alert with a note."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from synconsole.core import alerthistory, audit, clock, metrics
from synconsole.core.pii import mask_text
from synconsole.tui.format import age, utc
from synconsole.tui.widgets.footer import Footer

MEANING = {
    "stuck_pending": "appointments wait in the queue and nothing picks them up: is any sync job running (j)?",
    "auth_failure": "Cal.com refuses the API key; the sync is paused until a probe succeeds. Fix the key, "
                    "check with `synconsole doctor`.",
    "outage": "Cal.com keeps failing; calls back off and a probe runs until it answers again.",
    "ancient_actionable": "failures that need a human have waited more than a day: filter age:>24h, act or "
                          "snooze them (z) with a note.",
    "low_success_rate": "too few appointments book on their latest attempt in the last 24 h.",
    "log_fallback": "the log path is not writable; logs go to the fallback named here.",
    "rate_limit_pressure": "Cal.com answered 429: lower [calcom] rate_limit_per_minute or ask for a higher limit.",
    "booking_drift": "bookings were cancelled or moved in Cal.com; filter drift:yes and decide per appointment.",
}
HISTORY = 50


class AlertsScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("a", "acknowledge", "Acknowledge", id="alert_ack"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="alerts"):
            yield Static(id="alerts-title")
            yield OptionList(id="alerts-active")
            yield Static(id="alerts-history")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self._read()
        self.set_interval(self.app.settings.ui.refresh_interval_s, self._read)

    @work(thread=True, exclusive=True, group="alerts", exit_on_error=False)
    def _read(self) -> None:
        with self.app.db.session() as session:
            m = metrics.compute(session, self.app.settings)
            acks = alerthistory.acknowledgements(session)
            history = alerthistory.episodes(session, limit=HISTORY)
        self.app.call_from_thread(self._show, m, acks, history)

    def _show(self, m: metrics.Metrics, acks: dict, history: list[alerthistory.Episode]) -> None:
        title = Text()
        if m.alerts:
            title.append(f"{len(m.alerts)} active alert{'s' if len(m.alerts) != 1 else ''}", "bold")
            title.append("  ·  a acknowledge the highlighted one  ·  esc back", "dim")
        else:
            title.append(f"no active alerts ({clock.iso(m.generated_at)})", "green")
            title.append("  ·  esc back", "dim")
        self.query_one("#alerts-title", Static).update(title)
        box = self.query_one(OptionList)
        highlighted = box.highlighted
        box.clear_options()
        box.add_options([Option(self._active(a, acks.get(a.id)), id=a.id) for a in m.alerts])
        box.display = bool(m.alerts)
        if m.alerts:
            box.highlighted = min(highlighted or 0, len(m.alerts) - 1)
        self.query_one("#alerts-history", Static).update(self._history(history, m.generated_at))

    @staticmethod
    def _active(a: metrics.Alert, ack) -> Text:
        t = Text()
        t.append(f" {a.severity.upper()} ", "bold white on red" if a.severity == metrics.CRITICAL else "bold yellow")
        t.append(f" {a.id}", "bold")
        t.append(f" ({a.count})  ")
        t.append(a.message)
        meaning = MEANING.get(a.id)
        if meaning:
            t.append("\n  " + meaning, "dim")
        if ack is not None:
            t.append(f"\n  acknowledged by {ack.acknowledged_by} at {utc(ack.acknowledged_at)}: {mask_text(ack.note)}", "cyan")
        return t

    @staticmethod
    def _history(episodes: list[alerthistory.Episode], now) -> Table | Text:
        if not episodes:
            return Text("\nhistory: no alert has fired yet", "dim")
        table = Table(title="history (newest first)", title_justify="left", expand=True, box=None, padding=(0, 1))
        table.add_column("fired", no_wrap=True)
        table.add_column("alert", no_wrap=True)
        table.add_column("resolved", no_wrap=True)
        table.add_column("acknowledged by", ratio=1)
        for e in episodes:
            sev = "bold red" if e.severity == metrics.CRITICAL else "yellow"
            if e.resolved_at is None:
                resolved = Text(f"active ({age(e.fired_at, now)})", "bold")
            else:
                resolved = Text(f"{e.resolved_at:%H:%M:%S} (after {age(e.fired_at, e.resolved_at)})")
            ack = Text(f"{e.acknowledged_by}: {mask_text(e.note)}" if e.acknowledged_by else "-",
                       "cyan" if e.acknowledged_by else "dim")
            table.add_row(f"{e.fired_at:%Y-%m-%d %H:%M:%S}", Text(e.alert_id, sev), resolved, ack)
        return table

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_acknowledge(self) -> None:
        box = self.query_one(OptionList)
        if box.highlighted is None or box.option_count == 0:
            self.notify("no active alert to acknowledge", severity="warning")
            return
        if self.app.refuse_read_only("acknowledge"):
            return
        self._acknowledge(box.get_option_at_index(box.highlighted).id)

    @work(exit_on_error=False, group="action")
    async def _acknowledge(self, alert_id: str) -> None:
        import asyncio

        from synconsole.errors import UserError
        from synconsole.tui.screens.dialogs import PromptScreen

        note = await self.app.push_screen_wait(PromptScreen(
            f"Acknowledge {alert_id}", "Note (what you are doing about it)", required=True))
        if note is None:
            return
        try:
            message = await asyncio.to_thread(alerthistory.acknowledge, self.app.db, alert_id,
                                              actor=audit.os_actor(), note=note)
        except UserError as exc:
            self.notify(str(exc), severity="error")
            return
        self.notify(message, title="alert acknowledged")
        self._read()
