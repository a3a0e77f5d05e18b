"""Small text helpers for the console (times, ages, states)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from synconsole.core import clock

STATE_STYLE = {
    "failed": "bold red",
    "retry_scheduled": "yellow",
    "in_flight": "cyan",
    "pending": "bright_white",
    "synced": "green",
    "cancelled": "dim",
    "skipped": "dim",
}
STATE_LABEL = {"retry_scheduled": "retrying", "in_flight": "in flight"}


def age(since: datetime | None, now: datetime) -> str:
    return clock.span(now - since, compact=True) if since is not None else "-"


def local(moment: datetime | None, zone: str | None, *, with_zone: bool = False, short: bool = False) -> str:
    if moment is None:
        return "-"
    try:
        tz = ZoneInfo(zone) if zone else ZoneInfo("UTC")
    except Exception:  # an unknown zone in old data: show UTC rather than fail
        tz = ZoneInfo("UTC")
    value = moment.astimezone(tz)
    text = value.strftime("%b %d %H:%M" if short else "%Y-%m-%d %H:%M")
    return f"{text} {value.tzname()}" if with_zone else text


def utc(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%SZ")


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"
