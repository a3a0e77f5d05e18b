"""A TOML value checked against its :class:`Key`, and a value shown in an error message."""

from __future__ import annotations

import math
import re
from typing import Any

from synconsole.config.keys import Key
from synconsole.core.text import printable


def coerce(spec: Key, raw: Any, fail) -> Any:
    t = spec.type
    if t == "bool":
        if not isinstance(raw, bool):
            raise fail(spec.expected(), raw)
        return raw
    if t == "int":
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise fail(spec.expected(), raw)
        _check_bounds(spec, raw, fail)
        return raw
    if t == "float":
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or (
                isinstance(raw, float) and not math.isfinite(raw)):
            raise fail(spec.expected(), raw)  # nan passes every range comparison
        _check_bounds(spec, raw, fail)
        return float(raw)
    if not isinstance(raw, str):
        raise fail(spec.expected(), raw)
    if t == "choice" and raw not in spec.choices:
        raise fail(spec.expected(), raw)
    if t == "regex":
        try:
            re.compile(raw)
        except re.error as exc:
            raise fail(f"a valid regular expression ({exc})", raw) from None
    return raw


def _check_bounds(spec: Key, value: float, fail) -> None:
    if (spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max):
        raise fail(spec.expected(), value)


def show(value: Any) -> str:
    if isinstance(value, bool):
        return f"{str(value).lower()} (boolean)"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f'"{printable(shown, single_line=True)}" (string)'
    if isinstance(value, int):
        if abs(value) >= 10**18:  # str() of a 5000-digit TOML integer is refused (or a page long)
            return "an integer of more than 18 digits"
        return f"{value} (integer)"
    if isinstance(value, float):
        return f"{value} (number)"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "nothing"
    return type(value).__name__
