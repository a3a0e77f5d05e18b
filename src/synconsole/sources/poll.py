"""Polling one source: under a lease (one poller per source across every process), each query in
turn (staff, customers, appointments: references first), page by page from its watermark less an
overlap, each page written through the importer with the new watermark in one transaction.

Re-reading the overlap is cheap: an upsert of an unchanged row changes nothing. A failure (the
source down, a query that fails) is recorded on the source (``failures``, ``down_since``, the
error, a backoff before the next poll) and raises the ``source_down`` alert; what was written
before it stays, and the next poll goes on from the last page that landed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import select

from synconsole.config import SOURCE_QUERIES, Settings, SourceSettings
from synconsole.core import clock
from synconsole.core.db import Database
from synconsole.core.importer import BadRow, ImportResult, import_rows
from synconsole.core.logsetup import log
from synconsole.core.models import SourceBadRow, SourceState
from synconsole.sources.sql import (
    Page,
    SourceError,
    SqlSource,
    row_id,
    to_import_row,
    watermark_text,
    watermark_value,
)

logger = logging.getLogger("synconsole.sources")
T = SourceState.__table__
B = SourceBadRow.__table__
MAX_BACKOFF = timedelta(minutes=5)


@dataclass
class PollResult:
    source: str
    rows: int = 0
    changed: int = 0
    bad: int = 0
    pages: int = 0
    skipped: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def summary(self) -> str:
        if self.skipped:
            return f"{self.source}: {self.skipped}"
        text = f"{self.source}: {self.rows} rows read, {self.changed} changed, {self.bad} bad"
        return text + (f"; FAILED: {self.error}" if self.error else "")


@dataclass
class _Poll:
    settings: Settings
    source: SourceSettings
    worker: str
    now: datetime
    result: PollResult
    watermarks: dict[str, str] = field(default_factory=dict)


def due(db: Database, source: SourceSettings, now: datetime) -> bool:
    """Whether a poll of ``source`` is due: its interval passed since the last one, and any backoff."""
    with db.session() as session:
        state = session.get(SourceState, source.name)
    if state is None:
        return True
    if state.next_poll_at is not None and state.next_poll_at > now:
        return False
    # a little early is on time: the job's own ticks come one interval apart, give or take
    interval = timedelta(seconds=source.poll_interval_s * 0.9)
    return state.last_poll_at is None or state.last_poll_at + interval <= now


def poll(db: Database, settings: Settings, source: SourceSettings, *, worker: str, now: datetime | None = None,
         reader: SqlSource | None = None) -> PollResult:
    """Poll ``source`` once if no other process is polling it (else skipped); never raises for the
    source's own failures (they are recorded on it)."""
    now = now or clock.now()
    result = PollResult(source.name)
    lease_s = max(60.0, source.timeout_s * 4)
    watermarks = _lease(db, source.name, worker, now, lease_s)
    if watermarks is None:
        result.skipped = "polled by another worker right now"
        return result
    run = _Poll(settings, source, worker, now, result, watermarks)
    own = reader is None
    try:
        reader = reader or SqlSource(source)
        for name in SOURCE_QUERIES:
            if name in source.queries:
                _read_query(db, reader, run, name, lease_s)
    except SourceError as exc:
        result.error = str(exc)
    finally:
        if own and reader is not None:
            reader.close()
    _finish(db, run)
    level = logging.INFO if result.ok else logging.WARNING
    log(logger, level, "source polled" if result.ok else "source poll failed", source=source.name,
        rows=result.rows, changed=result.changed, bad=result.bad, error=result.error,
        started=clock.iso_precise(now), duration_ms=int((clock.now() - now).total_seconds() * 1000))
    return result


def _lease(db: Database, name: str, worker: str, now: datetime, lease_s: float) -> dict[str, str] | None:
    """Take the source's poll lease (free, expired, or ours already); its watermarks, or None."""
    with db.write() as session:
        conn = session.connection()
        insert = (sqlite.insert if db.is_sqlite else postgresql.insert)(T)
        conn.execute(insert.values(id=name, failures=0, polls=0, rows_seen=0, rows_changed=0, bad_rows=0)
                     .on_conflict_do_nothing(index_elements=["id"]))
        taken = conn.execute(sa.update(T).where(
            T.c.id == name, sa.or_(T.c.lease_until.is_(None), T.c.lease_until < now, T.c.lease_owner == worker))
            .values(lease_owner=worker, lease_until=now + timedelta(seconds=lease_s), last_poll_at=now)
            .returning(T.c.watermarks)).first()
        session.commit()
    return None if taken is None else dict(taken.watermarks or {})


def _read_query(db: Database, reader: SqlSource, run: _Poll, name: str, lease_s: float) -> None:
    source = run.source
    since = watermark_value(run.watermarks.get(name))
    if name in run.watermarks and isinstance(since, datetime):
        since -= timedelta(seconds=source.overlap_s)
    after = None
    while True:
        page = reader.page(name, since, after, source.batch_size)
        if page.rows:
            _write_page(db, run, name, page, lease_s)
        run.result.pages += 1
        if len(page.rows) < source.batch_size:
            return
        after = page.last


def _write_page(db: Database, run: _Poll, name: str, page: Page, lease_s: float) -> None:
    """The page's rows through the importer, its bad rows, and the new watermark: one transaction."""
    source = run.source
    zone = ZoneInfo(source.time_zone)
    rows = [to_import_row(name, r, source, zone) for r in page.rows]
    ids = [row_id(r) for r in page.rows]
    bad: list[BadRow] = []
    result = ImportResult()
    with db.engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            import_rows(db, conn, list(enumerate(rows, start=1)), result, report=bad.append, now=clock.now(),
                        anonymous_pattern=run.settings.categories.anonymous_phone_pattern)
            bad_ids = {ids[b.line - 1]: b.reason for b in bad}
            fresh = _record_bad(conn, db, source.name, name, bad_ids, run.now)
            good = [i for i in ids if i not in bad_ids]
            for chunk in range(0, len(good), 500):  # fixed since: no longer a bad row
                conn.execute(sa.delete(B).where(B.c.source == source.name, B.c.query == name,
                                                B.c.row_id.in_(good[chunk:chunk + 500])))
            marks = dict(run.watermarks)
            newest = page.last[0]  # pages come in watermark order; the overlap may re-read older rows
            if name not in marks or _newer(newest, watermark_value(marks[name])):
                marks[name] = watermark_text(newest)
            conn.execute(sa.update(T).where(T.c.id == source.name, T.c.lease_owner == run.worker).values(
                watermarks=marks, lease_until=clock.now() + timedelta(seconds=lease_s),
                rows_seen=T.c.rows_seen + len(rows), rows_changed=T.c.rows_changed + result.changed,
                bad_rows=T.c.bad_rows + len(fresh)))
    run.watermarks = marks
    run.result.rows += len(rows)
    run.result.changed += result.changed
    run.result.bad += len(bad)
    for row, reason in fresh.items():
        log(logger, logging.WARNING, "bad row from source", source=source.name, query=name, row=row, reason=reason)


def _newer(value: Any, than: Any) -> bool:
    try:
        return value > than
    except TypeError:  # an aware time against a stored naive one, say: take the source's word
        return True


def _record_bad(conn: sa.Connection, db: Database, source: str, query: str, bad: dict[str, str],
                now: datetime) -> dict[str, str]:
    """Store the page's bad rows; returns those not seen before with that reason (reported once)."""
    if not bad:
        return {}
    known = {(r.row_id, r.reason) for r in conn.execute(
        sa.select(B.c.row_id, B.c.reason).where(B.c.source == source, B.c.query == query,
                                                B.c.row_id.in_(list(bad))))}
    insert = (sqlite.insert if db.is_sqlite else postgresql.insert)(B)
    for rid, reason in bad.items():
        stmt = insert.values(source=source, query=query, row_id=rid, reason=reason, first_seen=now, last_seen=now,
                             times=1)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["source", "query", "row_id"],
            set_={"reason": stmt.excluded.reason, "last_seen": stmt.excluded.last_seen, "times": B.c.times + 1}))
    return {rid: reason for rid, reason in bad.items() if (rid, reason) not in known}


def _finish(db: Database, run: _Poll) -> None:
    now = clock.now()
    result = run.result
    with db.write() as session:
        state = session.get(SourceState, run.source.name)
        state.polls += 1
        state.last_result = result.summary()[:2000]
        if result.ok:
            state.failures, state.down_since, state.last_error = 0, None, None
            state.last_ok_at, state.next_poll_at = now, None
        else:
            state.failures += 1
            state.down_since = state.down_since or run.now
            state.last_error = (result.error or "")[:2000]
            backoff = min(MAX_BACKOFF, timedelta(seconds=run.source.poll_interval_s * 2 ** min(state.failures, 10)))
            state.next_poll_at = now + backoff
        if state.lease_owner == run.worker:
            state.lease_owner, state.lease_until = None, None
        session.commit()


def states(db: Database) -> dict[str, SourceState]:
    with db.session() as session:
        return {s.id: s for s in session.exec(select(SourceState))}


def bad_rows(db: Database, source: str, *, limit: int = 50) -> list[SourceBadRow]:
    with db.session() as session:
        return list(session.exec(select(SourceBadRow).where(SourceBadRow.source == source)
                                 .order_by(SourceBadRow.last_seen.desc()).limit(limit)))


def describe(state: SourceState | None, source: SourceSettings, now: datetime) -> dict[str, Any]:
    """What ``synconsole sources`` shows of one source."""
    if state is None:
        return {"name": source.name, "state": "never polled", "last_poll": None, "last_ok": None,
                "watermarks": {}, "rows_seen": 0, "rows_changed": 0, "bad_rows": 0, "failures": 0,
                "lag_s": None, "last_error": None, "last_result": None}
    status = "down" if state.failures else ("ok" if state.last_ok_at else "never polled")
    lag = (now - state.last_ok_at).total_seconds() if state.last_ok_at else None
    return {"name": source.name, "state": status, "last_poll": clock.iso(state.last_poll_at),
            "last_ok": clock.iso(state.last_ok_at), "watermarks": state.watermarks or {},
            "rows_seen": state.rows_seen, "rows_changed": state.rows_changed, "bad_rows": state.bad_rows,
            "failures": state.failures, "down_since": clock.iso(state.down_since),
            "lag_s": None if lag is None else round(lag, 1), "last_error": state.last_error,
            "last_result": state.last_result}
