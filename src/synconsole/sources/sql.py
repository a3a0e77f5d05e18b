"""Reading a source database: read-only sessions with timeouts, one page of one query at a time,
and the rows turned into the import format.

A query (``[[sources]] queries``) selects columns named like the import format's keys plus the
watermark column, and filters with ``<watermark> >= :since``. It is read page by page in
(watermark, id) order: the query is wrapped as ``SELECT * FROM (query) AS page WHERE …
ORDER BY watermark, id LIMIT n``, so equal watermarks never stall a page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from synconsole.config import SourceSettings, mask_url
from synconsole.errors import ConfigError
from synconsole.core import clock

#: query name -> the import format's kind
KIND_OF = {"staff": "staff", "customers": "customer", "appointments": "appointment"}
#: a watermark older than anything a source holds: the first poll reads everything
BEGINNING = datetime(1970, 1, 1)


class SourceError(Exception):
    """The source could not be read (down, refused, a query that fails): one line, no secrets."""


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]  # as the source gave them
    last: tuple[Any, Any] | None  # (watermark, id) of the last row: where the next page starts


class SqlSource:
    """One source database. Connections are opened on demand, read-only, and bounded in time."""

    def __init__(self, settings: SourceSettings, *, url: str | None = None) -> None:
        self.settings = settings
        self.zone = ZoneInfo(settings.time_zone)
        self._given_url = url
        self._engine: sa.Engine | None = None

    @property
    def _url(self) -> str:
        """Resolved when first needed (``url_env`` may be set after the config was read)."""
        if self._given_url is None:
            try:
                self._given_url = self.settings.resolve_url()
            except ConfigError as exc:
                raise SourceError(str(exc)) from None
        return self._given_url

    @property
    def shown_url(self) -> str:
        return mask_url(self._url)

    def _connect_engine(self) -> sa.Engine:
        if self._engine is None:
            url = make_url(self._url)
            timeout = int(self.settings.timeout_s)
            if url.get_backend_name() in ("mysql", "mariadb"):
                args: dict[str, Any] = {"connect_timeout": timeout, "read_timeout": timeout, "write_timeout": timeout}
                try:
                    import pymysql  # noqa: F401
                except ImportError:
                    raise SourceError(f"source {self.settings.name}: MySQL/MariaDB needs the driver: "
                                      "pip install 'synconsole[mysql]'") from None
            else:
                args = {"connect_timeout": timeout,
                        "options": f"-c statement_timeout={timeout * 1000} -c default_transaction_read_only=on"}
            self._engine = sa.create_engine(url, pool_pre_ping=True, pool_size=1, max_overflow=1,
                                            pool_recycle=300, connect_args=args)
        return self._engine

    def page(self, name: str, since: Any, after: tuple[Any, Any] | None, limit: int) -> Page:
        """One page of the query ``name``: rows whose watermark is >= ``since``, after ``after``."""
        wm = self.settings.watermark
        where = ""
        params: dict[str, Any] = {"since": since, "synconsole_limit": limit}
        if after is not None:
            where = (f" WHERE (synconsole_page.{wm} > :synconsole_wm OR (synconsole_page.{wm} = :synconsole_wm "
                     "AND synconsole_page.id > :synconsole_id))")
            params.update(synconsole_wm=after[0], synconsole_id=after[1])
        sql = (f"SELECT * FROM ({self.settings.queries[name]}) AS synconsole_page{where} "
               f"ORDER BY synconsole_page.{wm}, synconsole_page.id LIMIT :synconsole_limit")
        try:
            with self._connect_engine().connect() as conn:
                if conn.dialect.name in ("mysql", "mariadb"):
                    conn.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")
                rows = [dict(r) for r in conn.execute(sa.text(sql), params).mappings()]
        except sa.exc.SQLAlchemyError as exc:
            raise SourceError(self._describe(name, exc)) from None
        if rows and (wm not in rows[0] or "id" not in rows[0]):
            missing = wm if wm not in rows[0] else "id"
            raise SourceError(f"source {self.settings.name}: query {name} selects no column {missing!r}")
        last = (rows[-1][wm], rows[-1]["id"]) if rows else None
        return Page(rows, last)

    def _describe(self, name: str, exc: Exception) -> str:
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0] if str(exc) else type(exc).__name__
        url = make_url(self._url)
        for secret in (url.password, url.username):  # drivers quote the user name back
            if secret and len(str(secret)) >= 3:
                detail = detail.replace(str(secret), "***")
        return f"source {self.settings.name} ({self.shown_url}): query {name}: {detail[:300]}"

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def to_import_row(name: str, row: Mapping[str, Any], settings: SourceSettings, zone: ZoneInfo) -> dict[str, Any]:
    """A source row as an import-format row: its kind, ids as strings, times with their offset
    (a time without one is in the source's ``time_zone``); the watermark column is left out."""
    out: dict[str, Any] = {"kind": KIND_OF[name]}
    for key, value in row.items():
        if key == settings.watermark and key not in ("created_at",):
            continue
        out[key] = _value(key, value, zone)
    return out


def _value(key: str, value: Any, zone: ZoneInfo) -> Any:
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=zone)
        return clock.iso_precise(moment)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, timedelta):
        return int(value.total_seconds() // 60)
    if key in ("id", "customer_id", "staff_id") and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if key in ("active", "phone_bookings") and isinstance(value, int) and not isinstance(value, bool):
        return bool(value)  # MySQL's BOOLEAN is TINYINT(1)
    return value


def row_id(row: Mapping[str, Any]) -> str:
    value = row.get("id")
    return "?" if value is None else str(value)[:191]


def watermark_text(value: Any) -> str:
    """A watermark as stored: the source's own value, so it can be bound back unchanged."""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def watermark_value(text: str | None) -> Any:
    if not text:
        return BEGINNING
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return text
