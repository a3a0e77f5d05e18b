"""Writing validated rows: batched per kind in dependency order, upserted by id through statements
compiled once, appointments with an unknown customer or staff reported, and what changed for
Cal.com handed to :mod:`synconsole.core.changes`."""

from __future__ import annotations

import functools
import json
import operator
from datetime import UTC, datetime
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from synconsole.core import changes
from synconsole.core.db import Database
from synconsole.core.importer.fields import KINDS
from synconsole.core.importer.result import BadRow, ImportResult
from synconsole.core.models import Appointment, Customer, Staff, UTCDateTime

BATCH_SIZE = 2000

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


class Batcher:
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
                self.reject(BadRow(line, "appointment", v["id"],
                                   f"customer_id: customer {v['customer_id']!r} not found"))
            elif v["staff_id"] and v["staff_id"] not in known_staff:
                self.reject(BadRow(line, "appointment", v["id"], f"staff_id: staff {v['staff_id']!r} not found"))
            else:
                good.append((line, v))
        return good

    def reject(self, bad: BadRow) -> None:
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
