"""The one source of "now" (UTC, aware). Tests and demos may freeze it.

``SYNCONSOLE_NOW`` (ISO 8601) freezes the clock for a whole process, so CLI tests run in
subprocesses see the same time as the test that computed the expected numbers.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

_frozen: datetime | None = None


def now() -> datetime:
    if _frozen is not None:
        return _frozen
    env = os.environ.get("SYNCONSOLE_NOW")
    if env:
        return parse_utc(env)
    return datetime.now(UTC)


def freeze(at: datetime | None) -> None:
    """Freeze the clock at ``at`` (aware) for this process; ``None`` unfreezes."""
    global _frozen
    _frozen = None if at is None else to_utc(at)


def to_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: a time zone or UTC offset is required")
    return value.astimezone(UTC)


def parse_utc(text: str) -> datetime:
    """Parse ISO 8601 with an offset (``Z`` allowed) into an aware UTC datetime."""
    value = datetime.fromisoformat(text.strip().replace("z", "Z"))
    return to_utc(value)


def iso_precise(value: datetime) -> str:
    """Like :func:`iso`, keeping microseconds when there are any (a stored time that must round-trip)."""
    return value.astimezone(UTC).isoformat(timespec="microseconds" if value.microsecond else "seconds") \
        .replace("+00:00", "Z")


def iso(value: datetime | None) -> str | None:
    """``2025-11-24T17:00:00Z``: UTC, whole seconds."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
