"""The header: the numbers an on-call engineer looks at first, critical alerts impossible to miss."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from synconsole.core.metrics import Metrics
from synconsole.tui.format import pct


@dataclass
class JobsBadge:
    hosted: bool
    paused: list[str]
    failing: list[str]

    def text(self) -> tuple[str, str]:
        if not self.hosted:
            return "jobs off", "dim"
        if self.failing:
            return "jobs: " + ",".join(self.failing) + " failing", "bold yellow"
        if self.paused:
            return "jobs: " + ",".join(self.paused) + " paused", "yellow"
        return "jobs on", "green"


class HealthBar(Static):
    DEFAULT_CSS = """
    HealthBar { height: 1; background: $panel; padding: 0 1; }
    HealthBar.-critical { background: $error 30%; }
    """

    def show(self, m: Metrics | None, jobs: JobsBadge, *, read_only: bool, error: str | None = None) -> None:
        """Most important first, so a narrow terminal cuts only the least important."""
        t = Text(no_wrap=True, overflow="ellipsis")
        if read_only:
            t.append(" READ-ONLY ", "bold black on yellow")
            t.append(" ")
        if m is None:
            t.append(error or "loading…", "bold red" if error else "dim")
            self.update(t, layout=False)
            return
        if m.critical_alerts:
            t.append(f" {m.critical_alerts} CRITICAL ", "bold white on red")
            t.append(" ")
        t.append(str(m.failed), "bold red" if m.failed else "bold green")
        t.append(" failed · ", "dim")
        t.append(str(m.manual_review), "bold yellow" if m.manual_review else "bold green")
        t.append(" manual · ", "dim")
        t.append(str(m.pending), "bold")
        t.append(" pending · ", "dim")
        t.append(str(m.ancient_failures), "bold")
        t.append(" >24h · ", "dim")
        rate = m.success_rate_24h
        t.append(pct(rate), "bold green" if rate is None or rate >= 0.95 else ("bold yellow" if rate >= 0.8 else "bold red"))
        t.append(" ok 24h", "dim")
        if m.warning_alerts:
            t.append(f"  {m.warning_alerts} warn", "yellow")
        label, style = jobs.text()
        t.append("  " + label, style)
        if error:
            t.append("  " + error, "bold red")
        self.set_class(bool(m.critical_alerts), "-critical")
        self.update(t, layout=False)
