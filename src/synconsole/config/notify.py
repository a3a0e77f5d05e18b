"""``[[notify]]``: where alert transitions are sent (apprise URLs), and how those URLs are shown."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from synconsole.config.keys import ACCOUNT_ID
from synconsole.errors import ConfigError

NOTIFY_KEYS = {"name", "urls", "min_severity", "alerts", "accounts", "throttle_minutes", "escalate_minutes"}
_CLEAR_HOST_SCHEMES = {"json", "jsons", "xml", "xmls", "form", "forms", "mailto", "mailtos", "ntfy", "ntfys",
                       "matrix", "matrixs"}


@dataclass(frozen=True)
class NotifyTarget:
    """One ``[[notify]]`` entry. ``urls`` are apprise URLs and hold secrets (webhook tokens,
    SMTP passwords): only ``masked_urls`` is ever shown."""

    name: str
    urls: tuple[str, ...] = field(repr=False)
    min_severity: str = "warning"
    alerts: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    throttle_minutes: float = 15.0
    escalate_minutes: tuple[float, ...] = (30.0, 60.0, 120.0)

    @property
    def masked_urls(self) -> tuple[str, ...]:
        return tuple(mask_notify_url(u) for u in self.urls)

    def wants(self, alert_id: str, severity: str, accounts: tuple[str, ...] = ()) -> bool:
        """``accounts``: the Cal.com accounts the alert is about. A target with ``accounts`` hears of
        alerts about one of its accounts, and of those about no account in particular (an outage of
        the database concerns everyone), never of another account's."""
        rank = {"warning": 0, "critical": 1}
        if rank.get(severity, 0) < rank[self.min_severity]:
            return False
        if self.accounts and accounts and not set(accounts) & set(self.accounts):
            return False
        return not self.alerts or alert_id in self.alerts


def mask_notify_url(url: str) -> str:
    """``slack://***``; ``json://host:port/***``; ``mailto://user:***@host``: the scheme and, where it
    is not itself a token, the host, so an operator can tell targets apart."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "***"
    if scheme.lower() not in _CLEAR_HOST_SCHEMES:
        return f"{scheme}://***"
    netloc, slash, path = rest.partition("/")
    netloc = netloc.split("?", 1)[0]
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.split(':', 1)[0]}:***@{host}" if ":" in user else f"{user}@{host}"
    return f"{scheme}://{netloc}" + ("/***" if (path or "?" in rest) else "")


def parse_notify(raw: Any, where: str) -> tuple[NotifyTarget, ...]:
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise ConfigError(f"{where}[[notify]]: expected a list of tables")
    targets: list[NotifyTarget] = []
    for i, entry in enumerate(raw, 1):
        at = f"{where}[[notify]] #{i}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{at}: expected a table")
        unknown = sorted(set(entry) - NOTIFY_KEYS)
        if unknown:
            raise ConfigError(f"{at}: unknown key {unknown[0]!r} (known: {', '.join(sorted(NOTIFY_KEYS))})")
        urls = entry.get("urls")
        if isinstance(urls, str):
            urls = [urls]
        if not urls or not isinstance(urls, list) or not all(isinstance(u, str) and "://" in u for u in urls):
            raise ConfigError(f"{at} urls: expected a list of apprise URLs (slack://…, mailto://…, json://…)")
        name = entry.get("name", f"notify{i}")
        if not isinstance(name, str) or not ACCOUNT_ID.match(name):
            raise ConfigError(f"{at} name: expected a short id (letters, digits, _ . -), got {name!r}")
        if name in {t.name for t in targets}:
            raise ConfigError(f"{at} name: {name!r} is used twice")
        severity = entry.get("min_severity", "warning")
        if severity not in ("warning", "critical"):
            raise ConfigError(f"{at} min_severity: expected \"warning\" or \"critical\", got {severity!r}")
        lists = {}
        for key in ("alerts", "accounts"):
            value = entry.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{at} {key}: expected a list of ids")
            lists[key] = tuple(value)
        throttle = entry.get("throttle_minutes", 15)
        if isinstance(throttle, bool) or not isinstance(throttle, (int, float)) or not 0 <= throttle <= 100000:
            raise ConfigError(f"{at} throttle_minutes: expected a number of minutes from 0 to 100000")
        escalate = entry.get("escalate_minutes", [30, 60, 120])
        if not isinstance(escalate, list) or not all(
                isinstance(m, (int, float)) and not isinstance(m, bool) and m > 0 for m in escalate):
            raise ConfigError(f"{at} escalate_minutes: expected a list of minutes, e.g. [30, 60, 120]")
        targets.append(NotifyTarget(name=name, urls=tuple(urls), min_severity=severity, alerts=lists["alerts"],
                                    accounts=lists["accounts"], throttle_minutes=float(throttle),
                                    escalate_minutes=tuple(sorted(float(m) for m in escalate))))
    return tuple(targets)
