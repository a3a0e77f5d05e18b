"""What the console reads: one page of the queue at a time (keyset pagination on an indexed sort
key), the failure categories with their fingerprints, and counts. Never the whole table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from synconsole.config import Settings
from synconsole.core import categories as cats
from synconsole.core.models import (
    ATTENTION,
    ATTENTION_STATES,
    OPEN_WORK,
    FAILED,
    SCHEDULED,
    Appointment,
    Customer,
)
from synconsole.core.pii import mask_email, mask_phone
from synconsole.core.queries import excerpt
from synconsole.core.textsearch import within_open_work

A = Appointment.__table__.c
CU = Customer.__table__.c

#: sort id -> (label, key expression); every key is paired with the id as a tie-breaker
SORTS: dict[str, tuple[str, Any]] = {
    # what needs a human first: failures, then retries, work in flight, the queue, the rest
    "attention": ("attention", ATTENTION),
    "start": ("start", A.start_at),
    "age": ("age", sa.func.coalesce(A.first_failed_at, A.queued_at, A.created_at)),
    "attempts": ("attempts", A.attempts),
    "state": ("state", A.sync_state),
    "id": ("id", A.id),
}
PAGE = 100
#: characters of the last error read per row (the queue shows an excerpt of it)
ERROR_READ = 1000
#: the console's default scope: what still needs Cal.com or a human
OPEN_STATES = ATTENTION_STATES


@dataclass(frozen=True)
class QueueRow:
    id: str
    customer_id: str
    customer: str  # masked contact label unless revealed
    staff_id: str | None
    start_at: datetime
    time_zone: str | None
    status: str
    sync_state: str
    sync_op: str
    category: str | None
    attempts: int
    since: datetime  # when it failed first, or was queued: the age column counts from here
    last_error: str | None
    drift: str | None
    booking_uid: str | None
    snoozed_until: datetime | None
    sort_key: Any

    @property
    def key(self) -> tuple[Any, str]:
        return (self.sort_key, self.id)


def contact_label(name: str | None, email: str | None, phone: str | None, *, reveal: bool) -> str:
    if reveal:
        return email or phone or (name or "")
    if email:
        return mask_email(email) or ""
    if phone:
        return mask_phone(phone) or ""
    return "no contact"


def open_scope(stmt):
    """Only the open work, in the words of the open-work index (so that it serves the query)."""
    return stmt.where(OPEN_WORK)


def _keys(sort: str, condition, open_only: bool):
    """Which appointments, by id and sort key only: over the open work that is the open-work
    index alone, and the rows' other columns are read for one page, not for every match."""
    stmt = sa.select(A.id.label("id"), SORTS[sort][1].label("sort_key")).select_from(Appointment.__table__)
    if condition is not None:
        stmt = stmt.where(within_open_work(condition) if open_only else condition)
    if open_only:
        stmt = open_scope(stmt)
    return stmt


def _page_rows(keys, *, ascending: bool):
    """The rows of a page of keys (a subquery with its LIMIT), customers joined, in key order."""
    page = keys.subquery("page")
    direction = sa.asc if ascending else sa.desc
    return (
        sa.select(
            A.id, A.customer_id, CU.name, CU.email, CU.phone, A.staff_id, A.start_at,
            sa.func.coalesce(A.time_zone, CU.time_zone).label("time_zone"), A.status,
            A.sync_state, A.sync_op, A.category, A.attempts,
            sa.func.coalesce(A.first_failed_at, A.queued_at, A.created_at).label("since"),
            # an excerpt is all a row shows: never read a 10 MB error body for it
            sa.func.substr(A.last_error, 1, ERROR_READ).label("last_error"),
            A.drift, A.booking_uid, A.snoozed_until, page.c.sort_key,
        )
        .select_from(page.join(Appointment.__table__, A.id == page.c.id)
                     .outerjoin(Customer.__table__, CU.id == A.customer_id))
        .order_by(direction(page.c.sort_key), direction(page.c.id))
    )


def page_statement(
    *,
    condition=None,
    sort: str = "start",
    descending: bool = False,
    after: tuple[Any, str] | None = None,
    before: tuple[Any, str] | None = None,
    at: tuple[Any, str] | None = None,
    limit: int = PAGE,
    open_only: bool = False,
):
    """The SQL of one page: the first, the one after ``after``, the one starting at ``at`` itself,
    or the one before ``before`` (that one comes in reverse order)."""
    key = SORTS[sort][1]
    keys = _keys(sort, condition, open_only)
    if at is not None:
        keys = keys.where((sa.tuple_(key, A.id) <= sa.tuple_(*at)) if descending
                          else (sa.tuple_(key, A.id) >= sa.tuple_(*at)))
    if after is not None:
        keys = keys.where((sa.tuple_(key, A.id) < sa.tuple_(*after)) if descending
                          else (sa.tuple_(key, A.id) > sa.tuple_(*after)))
    if before is not None:
        keys = keys.where((sa.tuple_(key, A.id) > sa.tuple_(*before)) if descending
                          else (sa.tuple_(key, A.id) < sa.tuple_(*before)))
    ascending = (before is None) != descending
    direction = sa.asc if ascending else sa.desc
    return _page_rows(keys.order_by(direction(key), direction(A.id)).limit(limit), ascending=ascending)


def page(
    session: Session,
    *,
    condition=None,
    sort: str = "start",
    descending: bool = False,
    after: tuple[Any, str] | None = None,
    before: tuple[Any, str] | None = None,
    at: tuple[Any, str] | None = None,
    limit: int = PAGE,
    reveal: bool = False,
    open_only: bool = False,
) -> list[QueueRow]:
    """One page in sort order (see :func:`page_statement`; ``at`` keeps a refreshed window in place)."""
    stmt = page_statement(condition=condition, sort=sort, descending=descending, after=after, before=before,
                          at=at, limit=limit, open_only=open_only)
    rows = [_row(r, reveal) for r in session.execute(stmt)]
    return rows if before is None else rows[::-1]


def _row(r, reveal: bool) -> QueueRow:
    return QueueRow(
        id=r.id, customer_id=r.customer_id, customer=contact_label(r.name, r.email, r.phone, reveal=reveal),
        staff_id=r.staff_id, start_at=r.start_at, time_zone=r.time_zone, status=r.status, sync_state=r.sync_state,
        sync_op=r.sync_op, category=r.category, attempts=r.attempts, since=r.since,
        last_error=excerpt(r.last_error, 200, reveal=reveal), drift=r.drift, booking_uid=r.booking_uid,
        snoozed_until=r.snoozed_until, sort_key=r.sort_key,
    )


def count(session: Session, condition=None, *, open_only: bool = False) -> int:
    stmt = sa.select(sa.func.count()).select_from(Appointment.__table__)
    if condition is not None:
        stmt = stmt.where(within_open_work(condition) if open_only else condition)
    if open_only:
        stmt = open_scope(stmt)
    return int(session.execute(stmt).scalar_one())


def count_before(session: Session, key: tuple[Any, str], *, condition=None, sort: str = "start",
                 open_only: bool = False) -> int:
    """How many rows sort before ``key``: where a page that starts at ``key`` is, counted again
    after rows above it came or went."""
    keys = _keys(sort, condition, open_only).where(sa.tuple_(SORTS[sort][1], A.id) < sa.tuple_(*key))
    return int(session.execute(sa.select(sa.func.count()).select_from(keys.subquery())).scalar_one())


@dataclass(frozen=True)
class Fingerprint:
    fingerprint: str | None
    count: int
    example: str
    http_status: int | None


@dataclass(frozen=True)
class CategoryRow:
    id: str
    count: int
    kind: str
    disposition: str
    oldest: datetime | None
    fingerprints: tuple[Fingerprint, ...]


def categories(session: Session, settings: Settings) -> list[CategoryRow]:
    """Failed appointments by category (most first), each with its groups of identical failures."""
    failed = sa.and_(A.sync_state == FAILED, A.status == SCHEDULED)
    by_fp = (
        sa.select(A.category, A.fingerprint, sa.func.count().label("n"), sa.func.min(A.first_failed_at).label("oldest"),
                  sa.func.max(A.last_error).label("example"), sa.func.max(A.last_http_status).label("status"))
        .where(failed)
        .group_by(A.category, A.fingerprint)
    )
    groups: dict[str, list] = {}
    for r in session.execute(by_fp):
        groups.setdefault(r.category or cats.UNKNOWN, []).append(r)
    auto = settings.remediation.auto_backfill_email
    result = []
    for category, rows in groups.items():
        rows.sort(key=lambda r: (-r.n, r.fingerprint or ""))
        oldest = min((r.oldest for r in rows if r.oldest is not None), default=None)
        result.append(CategoryRow(
            id=category, count=sum(r.n for r in rows), kind=cats.kind_of(category),
            disposition=cats.disposition(category, auto_backfill_email=auto), oldest=oldest,
            fingerprints=tuple(Fingerprint(r.fingerprint, r.n, excerpt(r.example, 160) or "", r.status) for r in rows),
        ))
    result.sort(key=lambda c: (-c.count, c.id))
    return result


def queue_condition(filter_text: str, category: str | None, fingerprint: str | None, now: datetime):
    """What the console's queue shows: its ``/`` filter and the category (and fingerprint) picked
    on the left, as one SQL condition; None for everything."""
    from synconsole.core.filters import parse

    parts = []
    if filter_text.strip():
        parts.append(parse(filter_text).condition(now))
    if category is not None:
        parts.append(fingerprint_condition(category, fingerprint))
    return sa.and_(*parts) if parts else None


def fingerprint_condition(category: str, fingerprint: str | None):
    cond = sa.and_(A.sync_state == FAILED, A.status == SCHEDULED, A.category == category)
    return sa.and_(cond, A.fingerprint == fingerprint) if fingerprint else cond
