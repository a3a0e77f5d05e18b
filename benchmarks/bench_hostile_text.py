"""Hostile free text: how long masking (scrub_text) and the category rules take on long inputs.

    .venv/bin/python benchmarks/bench_hostile_text.py

Prints seconds per case. Before issue 11 the email pattern was quadratic: 64 KB of letters took
about 7.6 s, 10 MB for ever."""

from __future__ import annotations

import time

from synconsole.config import CategoryRule
from synconsole.core.classify import classify_response
from synconsole.core.report import scrub_text


def timed(label: str, fn) -> None:
    started = time.perf_counter()
    fn()
    print(f"{label:<48} {time.perf_counter() - started:8.3f} s")


def main() -> None:
    for size in (64 * 1024, 1024 * 1024, 10 * 1024 * 1024):
        text = "a" * size
        timed(f"scrub_text, {size} letters", lambda: scrub_text(text))
        timed(f"scrub_text, {size} letters + emails", lambda: scrub_text(text + " x@example.org " + text))
    body = "x" * (10 * 1024 * 1024) + " gateway"
    for pattern in (".*gateway", ".*.*gateway"):
        rule = CategoryRule(message=pattern, category="transient")
        timed(f"classify, rule {pattern} over a 10 MB message", lambda: classify_response(400, None, body, [rule]))


if __name__ == "__main__":
    main()
