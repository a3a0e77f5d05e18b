"""Data on its way to a terminal: control characters shown, never obeyed.

Imported names, ids, notes and Cal.com's error bodies are data. An escape sequence in one of
them (OSC 52 sets the operator's clipboard, CSI moves the cursor, C1 controls do the same in one
byte, bidi overrides reorder what is read) must reach the screen as visible text. Every face that
prints data (the CLI, the console, the Markdown report) passes it through :func:`printable`;
JSON is data for machines and keeps the text exactly (JSON escapes C0 itself).
"""

from __future__ import annotations

from typing import Any

#: bidirectional overrides and isolates ("Trojan Source"), and the BOM / zero-width no-break space
_FORMAT = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(code: int) -> str:
    char = chr(code)
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_CONTROLS = [*range(0x00, 0x20), *range(0x7F, 0xA0), *map(ord, _FORMAT)]
_SINGLE_LINE = str.maketrans({c: _escape(c) for c in _CONTROLS})
_MULTI_LINE = str.maketrans({c: _escape(c) for c in _CONTROLS if chr(c) not in "\n\t"})


def printable(text: Any, *, single_line: bool = False) -> str:
    """``text`` with every control character shown as an escape (``\\x1b``); linear in its length.
    ``single_line``: newlines and tabs too (a table cell, an id, a header)."""
    if text is None:
        return ""
    if not isinstance(text, str):
        text = str(text)
    return text.translate(_SINGLE_LINE if single_line else _MULTI_LINE)


def printable_doc(value: Any) -> Any:
    """A JSON-like document with every string made :func:`printable` (single-line keys, multi-line
    values), for a face that shows a whole document (the console's detail view)."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable(k, single_line=True) if isinstance(k, str) else k: printable_doc(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [printable_doc(v) for v in value]
    return value
