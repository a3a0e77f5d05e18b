"""``status --check`` as a monitoring plugin (Nagios / Icinga / Sensu plugin API).

One line ``SYNCONSOLE STATE - summary | perfdata`` and exit 0/1/2/3 = OK/WARNING/CRITICAL/UNKNOWN.
UNKNOWN is for "the check itself could not run" (bad config, no database, anything): an agent
must never read a broken config as a CRITICAL sync or a missing database as a WARNING.
"""

from __future__ import annotations

import re

from synconsole.core.metrics import CRITICAL, WARNING, Metrics

OK, WARN, CRIT, UNKNOWN = 0, 1, 2, 3
STATES = {OK: "OK", WARN: "WARNING", CRIT: "CRITICAL", UNKNOWN: "UNKNOWN"}
_USERINFO = re.compile(r"(://[^/\s:@]*:)[^@\s/]+@")


def exit_code(m: Metrics) -> int:
    return m.check_exit_code()


def line(m: Metrics, *, low_success_rate: float) -> str:
    """The plugin line for computed metrics."""
    code = exit_code(m)
    parts = []
    for severity, word in ((CRITICAL, "critical"), (WARNING, "warning")):
        ids = [a.id for a in m.alerts if a.severity == severity]
        if ids:
            parts.append(f"{len(ids)} {word} ({', '.join(ids)})")
    if not parts:
        parts.append("no alerts")
    parts.append(f"{m.failed} failed")
    return f"SYNCONSOLE {STATES[code]} - {', '.join(parts)} | {perfdata(m, low_success_rate=low_success_rate)}"


def perfdata(m: Metrics, *, low_success_rate: float) -> str:
    """``label=value[UOM];warn;crit;min;max`` each; thresholds in the plugin range syntax, where
    they are ours (a count that alerts above 0 is ``0``; a rate that warns below 80 is ``80:``)."""
    rate = "U" if m.success_rate_24h is None else f"{round(m.success_rate_24h * 100, 1):g}%"
    fields = [
        f"failed={m.failed};;;0",
        f"pending={m.pending};;;0",
        f"manual_review={m.manual_review};;;0",
        f"ancient_failures={m.ancient_failures};;;0",
        f"stuck_pending={m.stuck_pending};;0;0",
        f"success_rate_24h={rate};{low_success_rate * 100:g}:;;0;100",
        f"critical_alerts={m.critical_alerts};;0;0",
        f"warning_alerts={m.warning_alerts};0;;0",
    ]
    return " ".join(fields)


def unknown_line(reason: str) -> str:
    """The UNKNOWN line: the reason on one line, with any URL password masked."""
    text = " ".join(str(reason).split()) or "the check could not run"
    text = _USERINFO.sub(r"\1***@", text)
    return f"SYNCONSOLE UNKNOWN - {text}"
