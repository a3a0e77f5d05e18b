"""How the report says numbers, for the collecting and the rendering alike: before -> after
changes, percentages rounded half up, plurals, counts, lengths of time."""

from __future__ import annotations

import math
from collections import Counter
from datetime import timedelta
from typing import Any


def round_half_up(x: float) -> int:
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def format_value(value: Any, rate: bool) -> str:
    """A count, or a rate as a percentage; ``None``: what an unknown value reads as."""
    if value is None:
        return "n/a" if rate else "unknown"
    return f"{value * 100:.1f}%" if rate else str(value)


def change(before: Any, after: Any, *, rate: bool = False, known: bool = True) -> dict[str, Any]:
    """before -> after with the absolute and the relative change; ``known=False``: no before."""
    if not known:
        return {"before": None, "after": after, "change": None, "change_pct": None,
                "text": f"unknown → {format_value(after, rate)}"}
    text = f"{format_value(before, rate)} → {format_value(after, rate)}"
    if before is None or after is None:
        return {"before": before, "after": after, "change": None, "change_pct": None, "text": text}
    delta = round(after - before, 4) if rate else after - before
    pct = None if before == 0 else round(delta / before * 100, 1)
    if delta == 0:
        text += " (no change)"
    else:
        parts = [f"{delta * 100:+.1f} pp" if rate else f"{delta:+d}"]
        if pct is not None:
            parts.append(f"{round_half_up(pct):+d}%")
        text += f" ({', '.join(parts)})"
    return {"before": before, "after": after, "change": delta, "change_pct": pct, "text": text}


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def join_counts(counter: Counter) -> str:
    """``3 cancelled, 1 booked``: the most frequent first."""
    return ", ".join(f"{n} {word}" for word, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def duration(delta: timedelta) -> str:
    """A period's length: minutes under an hour, hours under two days, then days."""
    seconds = max(0.0, delta.total_seconds())
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    if seconds < 48 * 3600:
        hours = seconds / 3600
        return f"{hours:.0f} h" if hours.is_integer() else f"{hours:.1f} h"
    days = seconds / 86400
    return f"{days:.0f} d" if days.is_integer() else f"{days:.1f} d"
