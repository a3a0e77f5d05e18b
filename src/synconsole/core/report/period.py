"""The report's period and its two ends: ``--since`` parsed, the metrics snapshot that stands for
"before" (the latest at or before ``since``, else the first inside the period), and the headline
metrics and category counts before -> after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from synconsole.core import categories as cats
from synconsole.core import clock, metrics
from synconsole.core.models import MetricSnapshot
from synconsole.core.report.numbers import change
from synconsole.errors import UsageError

#: the headline metrics of the before/after table: id -> label
METRICS: dict[str, str] = {
    "failed": "failed syncs",
    "pending": "pending",
    "manual_review": "manual review",
    "ancient_failures": "ancient failures (>24 h)",
    "success_rate_24h": "success rate (24 h)",
    "critical_alerts": "critical alerts",
}
RATE = "success_rate_24h"


def parse_when(text: str, now: datetime | None = None, *, option: str = "--since") -> datetime:
    """``WHEN`` of ``--since``: ISO 8601 with an offset (``2025-11-24T14:00:00Z``), a date
    (``2025-11-24``: midnight UTC), or a time ago (``90m``, ``24h``, ``7d``, ``2w``)."""
    now = now or clock.now()
    try:
        value, _ = clock.parse_when((text or "").strip(), now, ago=True, days=True)
    except clock.TimeSyntaxError as exc:
        if exc.reason == clock.BAD_DURATION:
            raise UsageError(f"{option}: {text.strip()[:40]!r}: {exc}") from None
        if exc.reason == clock.NO_OFFSET:
            raise UsageError(f"{option}: {text[:60]!r} has no UTC offset (add Z or +01:00)") from None
        if exc.reason == clock.OUT_OF_RANGE:
            raise UsageError(f"{option}: {exc}") from None
        raise UsageError(f"{option}: expected ISO 8601 (2025-11-24T14:00:00Z) or a time ago (24h, 7d), "
                         f"got {text[:60]!r}") from None
    if value > now:
        raise UsageError(f"{option}: {clock.iso(value)} is in the future (now {clock.iso(now)})")
    return value


def latest_snapshot(session: Session, at_or_before: datetime) -> MetricSnapshot | None:
    s = MetricSnapshot
    return session.exec(
        select(s).where(s.at <= at_or_before).order_by(s.at.desc(), s.id.desc()).limit(1)
    ).first()


def first_snapshot(session: Session, after: datetime, until: datetime) -> MetricSnapshot | None:
    """The earliest snapshot inside the period: where it starts when none is older."""
    s = MetricSnapshot
    return session.exec(
        select(s).where(s.at > after, s.at <= until).order_by(s.at, s.id).limit(1)
    ).first()


def metric_changes(snap: MetricSnapshot | None, after: metrics.Metrics) -> dict[str, Any]:
    out = {}
    for key, label in METRICS.items():
        before = getattr(snap, key) if snap is not None else None
        c = change(before, getattr(after, key), rate=(key == RATE), known=snap is not None)
        out[key] = {"label": label, **c}
    return out


def category_changes(snap: MetricSnapshot | None, after: metrics.Metrics) -> dict[str, Any]:
    before_counts: dict[str, int] | None = None
    if snap is not None and isinstance(snap.data, dict) and isinstance(snap.data.get("by_category"), dict):
        before_counts = {str(k): int(v) for k, v in snap.data["by_category"].items()}
    present = set(after.by_category) | set(before_counts or {})
    order = [c for c in cats.CATEGORIES if c in present] + sorted(present - set(cats.CATEGORIES))
    out = {}
    for category in order:
        known = before_counts is not None
        before = (before_counts or {}).get(category, 0) if known else None
        out[category] = change(before, after.by_category.get(category, 0), known=known)
    return out
