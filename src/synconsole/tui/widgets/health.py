"""The header: the numbers an on-call engineer looks at first, critical alerts impossible to miss.

Line one: the metrics, warnings, the jobs' state (a shorter wording when the terminal is narrow,
so nothing falls off at 80 columns). Line two, red, only while critical alerts are active: their
names, so "2 CRITICAL" never stands alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from synconsole.core.metrics import CRITICAL, Metrics
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
    HealthBar { height: auto; max-height: 2; background: $panel; padding: 0 1; }
    HealthBar.-critical { background: $error 30%; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._last: tuple | None = None

    def show(self, m: Metrics | None, jobs: JobsBadge, *, read_only: bool, error: str | None = None) -> None:
        self._last = (m, jobs, read_only, error)
        self._paint()

    def on_resize(self) -> None:
        if self._last is not None:
            self._paint()

    def _paint(self) -> None:
        m, jobs, read_only, error = self._last
        width = max(20, self.size.width - 2) if self.size.width else 200
        if m is None:
            t = Text(no_wrap=True, overflow="ellipsis")
            if read_only:
                t.append(" READ-ONLY ", "bold black on yellow")
                t.append(" ")
            t.append(error or "loading…", "bold red" if error else "dim")
            self.update(t, layout=False)
            return
        for compact in (False, True):
            line = self._metrics_line(m, jobs, read_only, compact=compact)
            if line.cell_len <= width:
                break
        lines = [line]
        critical = [a for a in m.alerts if a.severity == CRITICAL]
        second = Text()
        if error:  # the numbers above may be stale: why comes first
            second.append(error, "bold red")
        if critical:
            if error:
                second.append("  ")
            second.append(f" {len(critical)} CRITICAL ", "bold white on red")
            second.append(" " + ", ".join(a.id for a in critical), "bold")
            second.append("  ! shows them", "dim")
        if second:
            lines.append(second)
        for text in lines:
            text.truncate(width, overflow="ellipsis")
        self.set_class(bool(critical), "-critical")
        two = len(lines) == 2
        # two lines while a critical alert (or an error) is there, one otherwise: the layout follows
        self.update(Text("\n").join(lines), layout=two != self.has_class("-two-lines"))
        self.set_class(two, "-two-lines")

    @staticmethod
    def _metrics_line(m: Metrics, jobs: JobsBadge, read_only: bool, *, compact: bool) -> Text:
        """Most important first; ``compact`` says the same in fewer cells."""
        t = Text()
        if read_only:
            t.append(" READ-ONLY ", "bold black on yellow")
            t.append(" ")
        sep = " · "
        t.append(str(m.failed), "bold red" if m.failed else "bold green")
        t.append(" failed" + sep, "dim")
        t.append(str(m.manual_review), "bold yellow" if m.manual_review else "bold green")
        t.append(" manual" + sep, "dim")
        t.append(str(m.pending), "bold")
        t.append(" pending" + sep, "dim")
        t.append(str(m.ancient_failures), "bold")
        t.append(" >24h" + sep, "dim")
        rate = m.success_rate_24h
        rate_text = pct(rate) if not compact or rate is None else f"{rate:.0%}"
        t.append(rate_text, "bold green" if rate is None or rate >= 0.95 else ("bold yellow" if rate >= 0.8 else "bold red"))
        t.append(" ok" if compact else " ok 24h", "dim")
        if m.warning_alerts:
            t.append(sep, "dim")
            t.append(f"{m.warning_alerts} warn", "yellow")
        label, style = jobs.text()
        t.append(sep, "dim")
        t.append(label, style)
        if len(m.accounts) > 1:  # several Cal.com accounts: each one's budget use this minute, or paused
            for acc in m.accounts:
                if acc.paused:
                    t.append(sep, "dim")
                    t.append(f"{acc.account} paused", "bold red")
                elif not compact:
                    t.append(sep, "dim")
                    t.append(f"{acc.account} {acc.used_this_minute}/{acc.limit_per_minute}",
                             "yellow" if acc.blocked_for_s > 0 or acc.use >= 0.9 else "")
        down = [s.name for s in m.sources if s.state == "down"]
        if down:
            t.append(sep, "dim")
            t.append(("src " if compact else "source ") + ",".join(down) + " down", "bold red")
        elif m.sources and not compact:  # all is well: worth the room only when there is room
            fine = all(s.state == "ok" for s in m.sources)
            t.append(sep, "dim")
            t.append("sources ok" if fine else "sources not read yet", "green" if fine else "dim")
        return t
