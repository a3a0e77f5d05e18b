"""The one source of "now" (UTC, aware). Tests and demos may freeze it.

``SYNCONSOLE_NOW`` (ISO 8601) freezes the clock for a whole process, so CLI tests run in
subprocesses see the same time as the test that computed the expected numbers.

Also the one place that says which moments and spans are sensible: every time and duration a
user types (a filter's ``age:``, ``--since``, ``--for``, an import row's ``start``) is checked
against :data:`EARLIEST`, :data:`LATEST` and :data:`LONGEST`, so no arithmetic on it can overflow;
and the one parser of them (:func:`parse_when`, :func:`parse_duration`): each caller words the
refusal its own way (:class:`TimeSyntaxError` says why).
"""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime, timedelta

from synconsole.errors import ConfigError

#: the moments synconsole works with: anything outside is a typo or hostile input
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
#: the longest span a duration may name (a snooze, an age, a report period)
LONGEST = timedelta(days=100 * 365)

_frozen: datetime | None = None


def now() -> datetime:
    if _frozen is not None:
        return _frozen
    env = os.environ.get("SYNCONSOLE_NOW")
    if env:
        try:
            return parse_utc(env)
        except ValueError as exc:
            raise ConfigError(f"SYNCONSOLE_NOW: expected an ISO 8601 time with a UTC offset "
                              f"(2025-11-24T17:00:00Z), got {env[:60]!r}: {exc}") from None
    return datetime.now(UTC)


def freeze(at: datetime | None) -> None:
    """Freeze the clock at ``at`` (aware) for this process; ``None`` unfreezes."""
    global _frozen
    _frozen = None if at is None else to_utc(at)


def to_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: a time zone or UTC offset is required")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
        raise ValueError(f"{value.isoformat()} is out of range") from None


def check_range(value: datetime) -> datetime:
    """``value`` (aware) if it lies between :data:`EARLIEST` and :data:`LATEST`, else ValueError."""
    value = to_utc(value)
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"{iso(value)} is out of range (from {EARLIEST.year} to {LATEST.year - 1})")
    return value


def parse_utc(text: str) -> datetime:
    """Parse ISO 8601 with an offset (``Z`` allowed) into an aware UTC datetime within range."""
    try:
        value = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise ValueError(f"not an ISO 8601 time: {text.strip()[:60]!r}") from None
    if value.tzinfo is None:
        raise ValueError(f"{text.strip()[:60]!r} has no UTC offset (add Z or +01:00)")
    return check_range(value)


UNIT_SECONDS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d{1,15}(?:\.\d{1,9})?)\s*(s|min|m|h|d|w)", re.IGNORECASE)


def parse_duration(text: str, units: str = "mhd") -> timedelta:
    """``30m``, ``24h``, ``7d`` (``units``: which of s, m, h, d, w are allowed) -> a positive
    timedelta of at most :data:`LONGEST`; ValueError with a one-line reason otherwise."""
    match = _DURATION.fullmatch((text or "").strip())
    unit = match.group(2).lower() if match else ""
    if unit == "min":
        unit = "m"
    if match is None or unit not in units:
        raise ValueError("expected a duration like 30m, 24h or 7d")
    seconds = float(match.group(1)) * UNIT_SECONDS[unit]
    if seconds <= 0:
        raise ValueError("expected a duration longer than 0")
    if seconds > LONGEST.total_seconds():
        raise ValueError(f"at most {LONGEST.days // 365} years")
    return timedelta(seconds=seconds)


def is_duration(text: str, units: str = "mhd") -> bool:
    """Shaped like a compact duration: a number and one unit letter of ``units`` (``30m``, ``1.5h``)."""
    return re.fullmatch(rf"\d+(?:\.\d+)?[{units}]", text) is not None


#: why :func:`parse_when` refused a text (TimeSyntaxError.reason)
NOT_A_TIME = "not_a_time"
NOT_A_DATE = "not_a_date"
NO_OFFSET = "no_offset"
OUT_OF_RANGE = "out_of_range"
BAD_DURATION = "bad_duration"

_AGO = re.compile(r"(\d+(?:\.\d+)?\s*(?:s|m|min|h|d|w))(?:\s+ago)?", re.IGNORECASE)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_DAY_WORDS = {"today": 0, "tomorrow": 1, "yesterday": -1}


class TimeSyntaxError(ValueError):
    """A typed time refused; ``reason`` is one of NOT_A_TIME, NOT_A_DATE, NO_OFFSET, OUT_OF_RANGE,
    BAD_DURATION, and the message (for the last two) the one-line detail."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason


def parse_when(text: str, at: datetime | None = None, *, ago: bool = False, days: bool = False,
               words: bool = False, z_any_case: bool = True) -> tuple[datetime, bool]:
    """A moment a user typed -> (aware UTC datetime, whether it names a whole day); ``at``: now.

    Always ISO 8601 with an offset; with ``ago`` also a time ago (``90m``, ``24h ago``, ``2w``),
    with ``days`` a date (``2025-11-24``: midnight UTC, a whole day), with ``words`` now, today,
    tomorrow, yesterday. ``text`` is taken as it is (the caller strips it if it wants to)."""
    if ago and (match := _AGO.fullmatch(text)):
        try:
            return (at or now()) - parse_duration(match.group(1), "smhdw"), False
        except ValueError as exc:
            raise TimeSyntaxError(BAD_DURATION, str(exc)) from None
    if words and (text.lower() == "now" or text.lower() in _DAY_WORDS):
        at = at or now()
        if text.lower() == "now":
            return at, False
        today = datetime(at.year, at.month, at.day, tzinfo=UTC)
        return today + timedelta(days=_DAY_WORDS[text.lower()]), True
    if days and _DAY.fullmatch(text):
        try:
            d = date.fromisoformat(text)
        except ValueError:
            raise TimeSyntaxError(NOT_A_DATE) from None
        return _in_range(datetime(d.year, d.month, d.day, tzinfo=UTC)), True
    try:
        value = datetime.fromisoformat(text.replace("z", "Z") if z_any_case else text)
    except ValueError:
        raise TimeSyntaxError(NOT_A_TIME) from None
    if value.tzinfo is None:
        raise TimeSyntaxError(NO_OFFSET)
    return _in_range(value), False


def _in_range(value: datetime) -> datetime:
    try:
        return check_range(value)
    except ValueError as exc:
        raise TimeSyntaxError(OUT_OF_RANGE, str(exc)) from None


def iso_precise(value: datetime) -> str:
    """Like :func:`iso`, keeping microseconds when there are any (a stored time that must round-trip)."""
    return value.astimezone(UTC).isoformat(timespec="microseconds" if value.microsecond else "seconds") \
        .replace("+00:00", "Z")


def iso(value: datetime | None) -> str | None:
    """``2025-11-24T17:00:00Z``: UTC, whole seconds."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def span(delta: timedelta, *, compact: bool = False) -> str:
    """How long, in the largest unit that fits, rounded down: seconds under a minute, minutes under
    an hour, hours under two days, then days. ``compact`` for table cells (``5m``), else words
    (``5 min``), for reports and messages."""
    seconds = max(0, int(delta.total_seconds()))
    for limit, size, unit, word in ((60, 1, "s", " s"), (3600, 60, "m", " min"), (48 * 3600, 3600, "h", " h")):
        if seconds < limit:
            return f"{seconds // size}{unit if compact else word}"
    return f"{seconds // 86400}{'d' if compact else ' d'}"
