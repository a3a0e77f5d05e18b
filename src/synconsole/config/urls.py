"""What a URL in the configuration must look like (Cal.com's API root, the database, a source), and
a URL masked for messages."""

from __future__ import annotations

import ipaddress
import re

from sqlalchemy.engine import make_url

from synconsole.config.coerce import show


def source_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a source's SQLAlchemy URL, or None."""
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - any parse failure is the same answer
        return "a SQLAlchemy URL like mysql+pymysql://user:password@host/db"
    if parsed.get_backend_name() not in ("mysql", "mariadb", "postgresql"):
        return f"a mysql+pymysql:// or postgresql+psycopg:// URL, not {parsed.get_backend_name()}://"
    return None


_HOST_NAME = re.compile(r"(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?")


def http_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a Cal.com API root, or None. Everything a request would trip over
    later (a port out of range, an unclosed IPv6 bracket, spaces) is refused here, once."""
    from urllib.parse import urlsplit

    if not isinstance(url, str) or not url.strip():
        return "empty"
    url = url.strip()
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        return "spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in ("http", "https"):
        return "the scheme must be http:// or https://"
    host = parts.hostname or ""
    if not host:
        return "no host"
    if port == 0:
        return "port 0"
    if host.startswith("[") or ":" in host:
        try:
            ipaddress.IPv6Address(host.strip("[]"))
        except ValueError:
            return f"not an IPv6 address: {host}"
    elif not _HOST_NAME.fullmatch(host):
        return f"not a host name: {host}"
    if parts.query or parts.fragment:
        return "no query or fragment (/v2/... is appended)"
    return None


def database_url_problem(url: str) -> str | None:
    """What a database URL should be, when ``url`` is not one synconsole can keep data in."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    shape = "a SQLAlchemy URL like sqlite:///path/to.db or postgresql+psycopg://user@host/db"
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return f"{shape}, got {show(mask_url(url))}"
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        return f"a sqlite:// or postgresql+psycopg:// URL, got {backend}://"
    if backend == "sqlite":
        database = parsed.database or ""
        if not database or database == ":memory:" or "mode=memory" in url or database.startswith("file::memory:"):
            return ("a SQLite file path (sqlite:///path/to.db): an in-memory database is empty for every "
                    "connection and gone when the process ends")
    return None


def mask_url(url: str) -> str:
    """``url`` with its userinfo (``user:password@``) masked: it may be a token (``cal_live_…``)."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@", r"\1***@", url.strip()) if isinstance(url, str) else url
