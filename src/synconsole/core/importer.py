"""Import staff, customers and appointments from NDJSON or CSV (contract.md, "Import format").

The file is streamed: rows are validated one at a time and upserted by ``(kind, id)`` in batches,
so a million appointments never sit in memory. A bad row is reported with its line number and
reason and skipped; the good rows land.
"""

from __future__ import annotations

import csv
import functools
import json
import operator
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from synconsole.config import SCHEMA
from synconsole.core import changes, clock
from synconsole.core.classify import host_key
from synconsole.core.db import Database, refresh_planner_statistics
from synconsole.core.models import (
    SCHEDULED,
    STATUSES,
    Appointment,
    Customer,
    Staff,
    UTCDateTime,
)
from synconsole.errors import UsageError, UserError

BATCH_SIZE = 2000
DEFAULT_ANONYMOUS_PATTERN = SCHEMA["categories"]["anonymous_phone_pattern"].default
MAX_ID_LENGTH = 191
#: Cal.com's uids are short; a longer one is not a uid (and PostgreSQL cannot index 10 KB)
MAX_BOOKING_UID_LENGTH = 255
MAX_DURATION_MINUTES = 24 * 60
#: Cal.com ids (users, event types) are PostgreSQL integers, and so are our columns
MAX_CALCOM_ID = 2**31 - 1
#: no row of the import format comes near this; a longer line is read past, not into memory
MAX_LINE_CHARS = 1024 * 1024
KINDS = ("staff", "customer", "appointment")

FIELDS: dict[str, dict[str, bool]] = {  # kind -> field -> required
    "staff": {"id": True, "name": False, "calcom_username": False, "calcom_user_id": False,
              "event_type_id": False, "event_type_ids": False, "time_zone": False, "active": False,
              "calcom_account": False, "phone_bookings": False},
    "customer": {"id": True, "name": False, "email": False, "phone": False, "time_zone": False},
    "appointment": {"id": True, "customer_id": True, "staff_id": False, "start": True, "duration_minutes": False,
                    "status": False, "service": False, "time_zone": False, "created_at": False,
                    "booking_uid": False},
}


class RowError(ValueError):
    """A bad row: the message says which field and why."""


def _q(value: Any) -> str:
    """A value quoted in a message: repr (escapes shown), and short (a row may hold a megabyte)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass
class BadRow:
    line: int
    kind: str | None
    id: str | None
    reason: str

    def __str__(self) -> str:
        what = f"{self.kind} {self.id}: " if self.kind and self.id else (f"{self.kind}: " if self.kind else "")
        return f"line {self.line}: {what}{self.reason}"


@dataclass
class KindCounts:
    inserted: int = 0
    updated: int = 0

    @property
    def total(self) -> int:
        return self.inserted + self.updated


@dataclass
class ImportResult:
    counts: dict[str, KindCounts] = field(default_factory=lambda: {k: KindCounts() for k in KINDS})
    bad: int = 0
    rows: int = 0
    dry_run: bool = False
    #: rows new or changed in what Cal.com should hold (an unchanged re-read changes nothing)
    changed: int = 0

    @property
    def ok(self) -> bool:
        return self.bad == 0

    def summary(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        parts = []
        for kind in KINDS:
            c = self.counts[kind]
            plural = kind if kind == "staff" or c.total == 1 else kind + "s"
            parts.append(f"{c.total} {plural} ({c.inserted} new, {c.updated} updated)")
        bad = f"; {self.bad} bad row{'s' if self.bad != 1 else ''} skipped" if self.bad else ""
        return f"{verb} {', '.join(parts)}{bad}"


# --- reading ------------------------------------------------------------------------------------


def open_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """Yield (line number, row or the reason the line is unreadable), streaming the file."""
    try:
        # utf-8-sig: a BOM (Excel, Windows editors) is not part of the first row
        handle = path.open("r", encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise UsageError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, expected an NDJSON or CSV file") from None
    except PermissionError:
        raise UsageError(f"{path}: not readable (permission denied)") from None
    with handle:
        fmt = _detect_format(path, handle)
        reader = _csv_rows if fmt == "csv" else _ndjson_rows
        try:
            yield from reader(handle)
        except UnicodeDecodeError as exc:
            raise UserError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _detect_format(path: Path, handle: IO[str]) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".ndjson", ".jsonl", ".json"):
        return "ndjson"
    try:
        head = handle.read(4096)
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    handle.seek(0)
    return "ndjson" if head.lstrip().startswith("{") else "csv"


def _lines(handle: IO[str]) -> Iterator[str | None]:
    """The file's lines; ``None`` for a line longer than :data:`MAX_LINE_CHARS`, which is read
    past in pieces instead of into memory."""
    while True:
        line = handle.readline(MAX_LINE_CHARS + 1)
        if not line:
            return
        if len(line) <= MAX_LINE_CHARS or line.endswith("\n"):
            yield line
            continue
        while line and not line.endswith("\n"):
            line = handle.readline(MAX_LINE_CHARS)
        yield None


def _ndjson_rows(handle: IO[str]) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    for number, line in enumerate(_lines(handle), start=1):
        if line is None:
            yield number, RowError(f"line longer than {MAX_LINE_CHARS} characters")
            continue
        if not line.strip():
            continue
        try:
            value = json.loads(line.strip())
        except RecursionError:
            yield number, RowError("not valid JSON (nested too deeply)")
            continue
        except ValueError as exc:
            msg = getattr(exc, "msg", None)
            yield number, RowError(f"not valid JSON ({msg} at column {exc.colno})" if msg else
                                   f"not valid JSON ({str(exc)[:80]})")
            continue
        if not isinstance(value, dict):
            yield number, RowError("expected a JSON object")
            continue
        yield number, value


def _csv_rows(handle: IO[str]) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    reader = csv.reader(handle)
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [h.strip().lstrip("\ufeff") for h in header]
    if "kind" not in header:
        raise UserError("CSV import needs a header row with a 'kind' column")
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a field over csv's limit (128 KB): that row only
            yield reader.line_num, RowError(f"a field longer than {csv.field_size_limit()} characters "
                                            f"({str(exc)[:60]})")
            continue
        number = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            yield number, RowError(f"expected {len(header)} columns, got {len(cells)}")
            continue
        row: dict[str, Any] = {}
        for name, cell in zip(header, cells):
            cell = cell.strip()
            row[name] = None if cell == "" else cell
        yield number, row


# --- validation ---------------------------------------------------------------------------------


def _text(row: dict, key: str, *, required: bool = False, max_len: int | None = None) -> str | None:
    value = row.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise RowError(f"{key}: required")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RowError(f"{key}: expected a string, got {type(value).__name__}")
    if isinstance(value, int) and max_len is not None and abs(value) >= 10**max_len:
        raise RowError(f"{key}: longer than {max_len} characters")
    text = str(value).strip()
    if max_len is not None and len(text) > max_len:
        raise RowError(f"{key}: longer than {max_len} characters")
    if "\x00" in text:
        raise RowError(f"{key}: contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise RowError(f"{key}: not valid Unicode (a lone surrogate)") from None
    return text


def _int(row: dict, key: str, *, minimum: int | None = None, maximum: int | None = None) -> int | None:
    value = row.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        if not re.fullmatch(r"\s*-?\d{1,18}\s*", value):
            raise RowError(f"{key}: expected an integer, got {value[:40]!r}")
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RowError(f"{key}: expected an integer, got {_q(value)}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        bounds = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
        raise RowError(f"{key}: expected an integer {bounds}, got {value}")
    return value


def _bool(row: dict, key: str, default: bool) -> bool:
    value = row.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "yes"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "0", "no"):
        return False
    raise RowError(f"{key}: expected true or false, got {_q(value)}")


_zone_cache: dict[str, bool] = {}


def _zone(row: dict, key: str) -> str | None:
    name = _text(row, key)
    if name is None:
        return None
    valid = _zone_cache.get(name)
    if valid is None:
        try:
            ZoneInfo(name)
            valid = True
        except (ZoneInfoNotFoundError, ValueError, OSError):
            valid = False
        if len(_zone_cache) < 10_000:
            _zone_cache[name] = valid
    if not valid:
        raise RowError(f"{key}: unknown IANA time zone {name[:60]!r}")
    return name


def _time(row: dict, key: str, zone: str | None, *, required: bool = False) -> datetime | None:
    text = _text(row, key, required=required)
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise RowError(f"{key}: expected an ISO 8601 time like 2025-11-26T14:00:00Z, got {text[:60]!r}") from None
    if value.tzinfo is None:
        if zone is None:
            raise RowError(f"{key}: {_q(text)} has no UTC offset and the row has no time_zone")
        value = value.replace(tzinfo=ZoneInfo(zone))
    try:
        return clock.check_range(value)
    except ValueError as exc:
        raise RowError(f"{key}: {exc}") from None


def _check_keys(row: dict, kind: str) -> None:
    known = FIELDS[kind]
    for key, value in row.items():
        if key != "kind" and key not in known and value is not None:
            raise RowError(f"unknown key {_q(key)} for kind {kind!r}")


def validate(row: dict[str, Any], now: datetime) -> tuple[str, dict[str, Any]]:
    kind = row.get("kind")
    if kind not in KINDS:
        shown = "missing" if kind is None else _q(kind)
        raise RowError(f"kind: expected one of staff, customer, appointment, got {shown}")
    _check_keys(row, kind)
    ident = _text(row, "id", required=True, max_len=MAX_ID_LENGTH)
    if kind == "staff":
        event_type_ids = row.get("event_type_ids")
        if isinstance(event_type_ids, str):
            try:
                event_type_ids = json.loads(event_type_ids)
            except (ValueError, RecursionError):
                raise RowError("event_type_ids: expected a JSON object of service -> event type id") from None
        if event_type_ids is not None:
            if not isinstance(event_type_ids, dict) or not all(
                isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_CALCOM_ID
                for v in event_type_ids.values()
            ):
                raise RowError(f"event_type_ids: expected an object of service -> integer from 1 to {MAX_CALCOM_ID}")
            if not all(isinstance(k, str) and len(k) <= 255 for k in event_type_ids):
                raise RowError("event_type_ids: expected service names of at most 255 characters")
        username = _text(row, "calcom_username")
        user_id = _int(row, "calcom_user_id", minimum=1, maximum=MAX_CALCOM_ID)
        return kind, {
            "id": ident,
            "name": _text(row, "name") or "",
            "calcom_username": username,
            "calcom_user_id": user_id,
            "host_key": host_key(username, user_id),
            "event_type_id": _int(row, "event_type_id", minimum=1, maximum=MAX_CALCOM_ID),
            "event_type_ids": event_type_ids or None,
            "time_zone": _zone(row, "time_zone") or "UTC",
            "active": _bool(row, "active", True),
            "calcom_account": _text(row, "calcom_account", max_len=64) or "default",
            "phone_bookings": _bool(row, "phone_bookings", False),
            "created_at": now,
            "updated_at": now,
        }
    if kind == "customer":
        return kind, {
            "id": ident,
            "name": _text(row, "name") or "",
            "email": _text(row, "email"),
            "phone": _text(row, "phone"),
            "time_zone": _zone(row, "time_zone") or "UTC",
            "created_at": now,
            "updated_at": now,
        }
    zone = _zone(row, "time_zone")
    start = _time(row, "start", zone, required=True)
    duration = _int(row, "duration_minutes", minimum=1, maximum=MAX_DURATION_MINUTES) or 30
    status = _text(row, "status") or SCHEDULED
    if status not in STATUSES:
        raise RowError(f"status: expected one of {', '.join(STATUSES)}, got {_q(status)}")
    booking_uid = _text(row, "booking_uid", max_len=MAX_BOOKING_UID_LENGTH)
    created_at = _time(row, "created_at", zone) or now
    customer_id = _text(row, "customer_id", required=True, max_len=MAX_ID_LENGTH)
    staff_id = _text(row, "staff_id", max_len=MAX_ID_LENGTH)
    return kind, {
        "id": ident,
        "customer_id": customer_id,
        "staff_id": staff_id,
        "service": _text(row, "service"),
        "start_at": start,
        "end_at": start + timedelta(minutes=duration),
        "duration_minutes": duration,
        "time_zone": zone,
        "status": status,
        "booking_uid": booking_uid,
        **changes.initial_state(status, booking_uid, start, now, staff_id=staff_id, customer_id=customer_id),
        "attempts": 0,
        "version": 1,
        "revision": 0,
        "needs_lookup": False,
        "queued_at": now,
        "created_at": created_at,
        "updated_at": now,
    }


# --- writing ------------------------------------------------------------------------------------

_TABLES = {"staff": Staff.__table__, "customer": Customer.__table__, "appointment": Appointment.__table__}
_UPDATE_COLUMNS = {
    "staff": ["name", "calcom_username", "calcom_user_id", "host_key", "event_type_id", "event_type_ids",
              "time_zone", "active", "calcom_account", "phone_bookings", "updated_at"],
    "customer": ["name", "email", "phone", "time_zone", "updated_at"],
}
#: staff and customer fields whose change may change what Cal.com should hold for their appointments
_SYNC_FIELDS = {"staff": ("calcom_username", "calcom_user_id", "host_key", "event_type_id", "event_type_ids",
                          "active", "calcom_account", "phone_bookings"),
                "customer": ("name", "email", "phone")}


def _insert(db: Database, kind: str):
    dialect = sqlite if db.is_sqlite else postgresql
    return dialect.insert(_TABLES[kind])


def _upsert_statement(db: Database, kind: str):
    """Insert or update by id. An appointment's sync fields are not written here: what a change
    needs in Cal.com is decided by ``changes.requeue`` after the batch is written."""
    stmt = _insert(db, kind)
    table = _TABLES[kind]
    ex = stmt.excluded
    if kind != "appointment":
        return stmt.on_conflict_do_update(
            index_elements=["id"], set_={c: getattr(ex, c) for c in _UPDATE_COLUMNS[kind]}
        )
    t = table.c
    changed = sa.or_(*[
        sa.not_(getattr(t, c).is_not_distinct_from(getattr(ex, c))) for c in changes.BOOKING_FIELDS
    ])
    # a uid the platform brings for an appointment synconsole never booked: it is booked there
    adopted = sa.and_(t.booking_uid.is_(None), t.booked.is_(None), ex.booking_uid.is_not(None))
    return stmt.on_conflict_do_update(
        index_elements=["id"],
        set_={
            "customer_id": ex.customer_id,
            "staff_id": ex.staff_id,
            "service": ex.service,
            "start_at": ex.start_at,
            "end_at": ex.end_at,
            "duration_minutes": ex.duration_minutes,
            "time_zone": ex.time_zone,
            "status": ex.status,
            "booking_uid": sa.func.coalesce(t.booking_uid, ex.booking_uid),
            "booked": sa.case((adopted, ex.booked), else_=t.booked),
            # version and revision: changes.requeue, for exactly the rows whose change it decides
            "updated_at": sa.case((changed, ex.updated_at), else_=t.updated_at),
        },
    )


class _Bulk:
    """A statement compiled once and run with executemany on the driver, values converted here.

    SQLAlchemy's per-row bind processing cost more than SQLite's own work on a million rows; the
    values are simple (strings, ints, UTC datetimes, JSON), so we convert them ourselves.
    """

    def __init__(self, conn: sa.Connection, stmt, columns: list[str]):
        compiled = stmt.compile(dialect=conn.dialect, column_keys=columns)
        self.conn = conn
        self.sql = compiled.string
        table = stmt.table
        sqlite_dialect = conn.dialect.name == "sqlite"

        @functools.lru_cache(maxsize=256)  # most rows share "now" in three columns
        def to_db_time(value: datetime | None):
            if value is None:
                return None
            naive = value.astimezone(UTC).replace(tzinfo=None)
            return naive.isoformat(" ", "microseconds") if sqlite_dialect else naive

        def getter(name: str) -> Callable[[dict], Any]:
            if name not in columns:
                constant = compiled.params[name]
                return lambda row: constant
            column_type = table.c[name].type
            if isinstance(column_type, sa.JSON):
                return lambda row: None if row[name] is None else json.dumps(row[name])
            if isinstance(column_type, (sa.DateTime, UTCDateTime)):
                return lambda row: to_db_time(row[name])
            return operator.itemgetter(name)

        self.positional = conn.dialect.paramstyle in ("qmark", "format", "numeric")
        names = list(compiled.positiontup) if self.positional else list(compiled.params)
        self.names = names
        self.getters = [getter(n) for n in names]

    def run(self, rows: list[dict[str, Any]]) -> None:
        getters = self.getters
        if self.positional:
            params: list[Any] = [tuple(g(row) for g in getters) for row in rows]
        else:
            params = [{n: g(row) for n, g in zip(self.names, getters)} for row in rows]
        self.conn.exec_driver_sql(self.sql, params)


class _Batcher:
    """Rows waiting to be written, per kind, in dependency order."""

    def __init__(self, db: Database, conn: sa.Connection, result: ImportResult, report: Callable[[BadRow], None],
                 *, now: datetime, anonymous_pattern: str):
        self.db = db
        self.conn = conn
        self.result = result
        self.report = report
        self.now = now
        self.anonymous_pattern = anonymous_pattern
        self.pending: dict[str, list[tuple[int, dict]]] = {k: [] for k in KINDS}
        self.statements: dict[tuple[str, bool], _Bulk] = {}

    def add(self, line: int, kind: str, values: dict) -> None:
        self.pending[kind].append((line, values))
        if len(self.pending[kind]) >= BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        for kind in KINDS:  # staff and customers before the appointments that refer to them
            rows = self.pending[kind]
            if rows:
                self.pending[kind] = []
                self._write(kind, rows)

    def _write(self, kind: str, rows: list[tuple[int, dict]]) -> None:
        rows = _last_wins(rows)
        if kind == "appointment":
            rows = self._check_references(rows)
            if not rows:
                return
        table = _TABLES[kind]
        ids = [v["id"] for _, v in rows]
        fields = (*changes.BOOKING_FIELDS, "booking_uid") if kind == "appointment" else _SYNC_FIELDS[kind]
        before = {r.id: r for r in self.conn.execute(
            sa.select(table.c.id, *(table.c[f] for f in fields)).where(table.c.id.in_(ids)))}
        existing = set(before)
        changed = [v["id"] for _, v in rows if v["id"] in before and _changed(before[v["id"]], v, fields)]
        counts = self.result.counts[kind]
        counts.updated += len(existing)
        counts.inserted += len(rows) - len(existing)
        self.result.changed += len(rows) - len(existing) + len(changed)
        if self.db.is_sqlite:
            # We hold SQLite's write lock (BEGIN IMMEDIATE), so rows not there now cannot appear
            # before we insert them: new rows take the plain INSERT, three times faster than an upsert.
            fresh = [v for _, v in rows if v["id"] not in existing]
            self._run(kind, False, fresh)
            self._run(kind, True, [v for _, v in rows if v["id"] in existing])
        else:
            self._run(kind, True, [v for _, v in rows])
        if changed:
            self._requeue(kind, changed)

    def _requeue(self, kind: str, changed: list[str]) -> None:
        """What the changed rows now need in Cal.com (a move, a cancel, a new host or attendee)."""
        if kind == "appointment":
            changes.requeue(self.conn, changed, now=self.now)
        elif kind == "customer":
            changes.customers_changed(self.conn, changed, now=self.now, anonymous_pattern=self.anonymous_pattern)
        else:
            changes.staff_changed(self.conn, changed, now=self.now)

    def _run(self, kind: str, upsert: bool, values: list[dict]) -> None:
        if not values:
            return
        key = (kind, upsert)
        if key not in self.statements:
            stmt = _upsert_statement(self.db, kind) if upsert else _insert(self.db, kind)
            self.statements[key] = _Bulk(self.conn, stmt, list(values[0]))
        self.statements[key].run(values)

    def _check_references(self, rows: list[tuple[int, dict]]) -> list[tuple[int, dict]]:
        customer_ids = {v["customer_id"] for _, v in rows}
        staff_ids = {v["staff_id"] for _, v in rows if v["staff_id"]}
        c, s = Customer.__table__, Staff.__table__
        known_customers = set(self.conn.execute(sa.select(c.c.id).where(c.c.id.in_(customer_ids))).scalars())
        known_staff = (
            set(self.conn.execute(sa.select(s.c.id).where(s.c.id.in_(staff_ids))).scalars()) if staff_ids else set()
        )
        good = []
        for line, v in rows:
            if v["customer_id"] not in known_customers:
                self._bad(BadRow(line, "appointment", v["id"], f"customer_id: customer {v['customer_id']!r} not found"))
            elif v["staff_id"] and v["staff_id"] not in known_staff:
                self._bad(BadRow(line, "appointment", v["id"], f"staff_id: staff {v['staff_id']!r} not found"))
            else:
                good.append((line, v))
        return good

    def _bad(self, bad: BadRow) -> None:
        self.result.bad += 1
        self.report(bad)


def _changed(before: Any, values: dict[str, Any], fields: tuple[str, ...]) -> bool:
    """Whether an upsert changes what Cal.com should hold (a uid only counts when there was none)."""
    for name in fields:
        if name == "booking_uid":
            if before.booking_uid is None and values["booking_uid"] is not None:
                return True
        elif getattr(before, name) != values[name]:
            return True
    return False


def _last_wins(rows: list[tuple[int, dict]]) -> list[tuple[int, dict]]:
    """The same id twice in one batch: the later row is the one that lands (as if upserted in order)."""
    by_id: dict[str, tuple[int, dict]] = {}
    for line, values in rows:
        by_id.pop(values["id"], None)
        by_id[values["id"]] = (line, values)
    return list(by_id.values())


def import_file(
    db: Database,
    path: Path,
    *,
    dry_run: bool = False,
    report: Callable[[BadRow], None] = lambda bad: None,
    now: datetime | None = None,
    anonymous_pattern: str = DEFAULT_ANONYMOUS_PATTERN,
) -> ImportResult:
    """Stream ``path`` into the database. ``report`` is called for every bad row, in file order
    for unreadable and invalid rows (unknown references are reported when their batch is written)."""
    now = now or clock.now()
    result = ImportResult(dry_run=dry_run)
    with db.engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        conn.begin()
        try:
            import_rows(db, conn, open_rows(path), result, report=report, now=now,
                        anonymous_pattern=anonymous_pattern, commit=None if dry_run else conn.commit)
        except BaseException:
            conn.rollback()
            raise
        if dry_run:
            conn.rollback()
        else:
            conn.commit()
    if not dry_run:
        refresh_planner_statistics(db)
    return result


def import_rows(db: Database, conn: sa.Connection, rows: Iterable[tuple[int, dict[str, Any] | RowError]],
                result: ImportResult, *, report: Callable[[BadRow], None] = lambda bad: None,
                now: datetime, anonymous_pattern: str = DEFAULT_ANONYMOUS_PATTERN,
                commit: Callable[[], Any] | None = None) -> None:
    """Validate and upsert rows of the import format on ``conn``, in its transaction: the one path
    of ``import``, the live sources and the ingest API. Each row is validated on its own; a bad one
    is reported (with its line, or a source's row id) and skipped, the good rows land. ``commit``
    (a file import): called every few batches, so a long file is not one transaction."""
    batcher = _Batcher(db, conn, result, report, now=now, anonymous_pattern=anonymous_pattern)
    for line, row in rows:
        result.rows += 1
        if isinstance(row, RowError):
            batcher._bad(BadRow(line, None, None, str(row)))
            continue
        try:
            kind, values = validate(row, now)
        except RowError as exc:
            ident = row.get("id")
            batcher._bad(BadRow(line, row.get("kind") if row.get("kind") in KINDS else None,
                                str(ident) if isinstance(ident, (str, int)) else None, str(exc)))
            continue
        batcher.add(line, kind, values)
        if commit is not None and result.rows % (BATCH_SIZE * 10) == 0:
            batcher.flush()
            commit()
    batcher.flush()


def import_text(db: Database, text: str, *, suffix: str = ".ndjson", **kwargs) -> ImportResult:
    """Import from a string (tests and the demo); same path as a file."""
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=suffix, delete=False, encoding="utf-8") as tmp:
        tmp.write(text)
        name = tmp.name
    try:
        return import_file(db, Path(name), **kwargs)
    finally:
        Path(name).unlink(missing_ok=True)
