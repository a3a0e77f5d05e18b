"""Handing one message to apprise; what went wrong, without the URL's secrets."""

from __future__ import annotations

import logging

from synconsole.config import NotifyTarget

logging.getLogger("apprise").addHandler(logging.NullHandler())
logging.getLogger("apprise").propagate = False  # its lines quote URLs: we say what failed ourselves


def deliver(target: NotifyTarget, title: str, body: str) -> tuple[bool, str | None]:
    """Send to every URL of the target; (all accepted, the reason if not)."""
    import apprise

    failures = []
    for url, shown in zip(target.urls, target.masked_urls):
        client = apprise.Apprise()
        if not client.add(url):
            failures.append(f"{shown}: not a URL apprise knows")
            continue
        with apprise.LogCapture(level=logging.WARNING) as captured:
            ok = client.notify(title=title, body=body)
        if not ok:
            reason = _last_line(captured.getvalue(), url) or "not accepted"
            failures.append(f"{shown}: {reason}")
    return (not failures), ("; ".join(failures) or None)


def _last_line(text: str, url: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[-1] if lines else ""
    # apprise's lines may quote parts of the URL (tokens, passwords, recipients): drop any of them
    for part in _secret_parts(url):
        line = line.replace(part, "***")
    return line[:300]


def _secret_parts(url: str) -> list[str]:
    import re

    rest = url.partition("://")[2]
    return sorted({p for p in re.split(r"[/:@?&=]", rest) if len(p) >= 4 and not p.isdigit()}
                  - {"localhost", "127.0.0.1"}, key=len, reverse=True)
