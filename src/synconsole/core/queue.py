"""The sync queue: atomic claims with leases, renewed while their worker lives, and outcomes
written only while the claim is still the worker's.

A pending appointment *is* the queue entry. A worker claims a batch in one short transaction
(PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite: a conditional ``UPDATE … RETURNING`` inside
``BEGIN IMMEDIATE``) under a claim token of its own, renews the lease of everything it holds while
it lives (:func:`renew`; also while a row waits for a place or the rate limiter), calls Cal.com
outside any transaction, and writes each step (:func:`note`) and the outcome (:func:`record`) only
while the token is still on the row. A dead worker's rows are reclaimed when the lease runs out;
a reclaimed row is marked ``needs_lookup``: the dead worker may have sent what it wrote down in
``sent`` before it died, so the next one looks first.

A change of what Cal.com should hold while a row is in flight (a re-import, say) raises its
``revision``; the outcome written for the older revision then puts the row back in the queue
instead of calling it done (:func:`record`).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from synconsole.config import DEFAULT_ACCOUNT
from synconsole.core import clock
from synconsole.core.classify import Failure
from synconsole.core.db import Database
from synconsole.core.models import (
    FAILED,
    IN_FLIGHT,
    PENDING,
    RETRY_SCHEDULED,
    Appointment,
    Staff,
    SyncAttempt,
)

T = Appointment.__table__
C = T.c


def due_condition(now: datetime):
    return sa.or_(
        C.sync_state == PENDING,
        sa.and_(C.sync_state == RETRY_SCHEDULED, C.next_retry_at <= now),
        sa.and_(C.sync_state == IN_FLIGHT, C.lease_until < now),
    )


def count_due(session: Session, now: datetime | None = None) -> int:
    now = now or clock.now()
    return int(session.execute(sa.select(sa.func.count()).select_from(T).where(due_condition(now))).scalar_one())


def next_due_at(session: Session) -> datetime | None:
    """When the earliest retry or lease comes due (for `sync --once` and the console's jobs pane)."""
    stmt = sa.select(sa.func.min(sa.case(
        (C.sync_state == RETRY_SCHEDULED, C.next_retry_at),
        (C.sync_state == IN_FLIGHT, C.lease_until),
    ))).where(C.sync_state.in_((RETRY_SCHEDULED, IN_FLIGHT)))
    return session.execute(stmt).scalar_one()


_claims = itertools.count(1)


def account_condition(account: str):
    """Appointments booked through ``account``: their staff's ``calcom_account`` (no staff row: default)."""
    staff_account = sa.select(Staff.calcom_account).where(Staff.id == C.staff_id).scalar_subquery()
    return sa.func.coalesce(staff_account, DEFAULT_ACCOUNT) == account


def claim(db: Database, worker: str, *, limit: int, lease_s: float, now: datetime | None = None,
          account: str | None = None) -> list[Appointment]:
    """Claim up to ``limit`` due appointments for ``worker`` atomically; returns them as claimed,
    all under one new claim token (``claimed_by``: the worker id and a sequence number).
    ``account``: only those of that Cal.com account (a batch never mixes two accounts' budgets)."""
    now = now or clock.now()
    token = f"{worker}/{next(_claims)}"
    where = due_condition(now) if account is None else sa.and_(due_condition(now), account_condition(account))
    candidates = sa.select(C.id).where(where).order_by(C.start_at, C.id).limit(limit)
    if db.is_postgres:
        candidates = candidates.with_for_update(skip_locked=True)
    stmt = (
        sa.update(T)
        .where(C.id.in_(candidates.scalar_subquery()))
        .values(
            sync_state=IN_FLIGHT,
            claimed_by=token,
            lease_until=now + timedelta(seconds=lease_s),
            # an expired lease means a worker died: what it wrote down in ``sent`` may have gone out
            needs_lookup=sa.case((sa.and_(C.sync_state == IN_FLIGHT, C.sent.is_not(None)), sa.true()),
                                 else_=C.needs_lookup),
            version=C.version + 1,
        )
        .returning(*T.c)
    )
    with db.write() as session:
        rows = session.execute(stmt).mappings().all()
        session.commit()
    claimed = [Appointment.model_validate(dict(r)) for r in rows]
    claimed.sort(key=lambda a: (a.start_at, a.id))
    return claimed


def _owned(appt: Appointment):
    return sa.and_(C.id == appt.id, C.claimed_by == appt.claimed_by, C.sync_state == IN_FLIGHT)


def record(db: Database, appt: Appointment, values: dict[str, Any], attempts: Iterable[SyncAttempt] = ()) -> bool:
    """Write the outcome of a claimed appointment and release the claim. The attempt is recorded in
    any case (the call happened); the appointment changes only while the claim is ours. When what
    Cal.com should hold changed during the call (a newer revision), what was learned about Cal.com
    is kept and the row goes back to the queue for its next step. Returns whether it was written."""
    values = {**values, "claimed_by": None, "lease_until": None, "version": C.version + 1}
    changed = C.revision != appt.revision
    requeued = {"sync_state": PENDING, "next_retry_at": None, "category": None, "fingerprint": None,
                "queued_at": values.get("updated_at", clock.now())}
    for name, value in requeued.items():
        values[name] = sa.case((changed, _typed(name, value)), else_=_typed(name, values.get(name, C[name])))
    with db.write() as session:
        session.add_all(attempts)
        result = session.execute(sa.update(T).where(_owned(appt)).values(**values))
        session.commit()
    return result.rowcount == 1


def _typed(name: str, value: Any) -> Any:
    """A value as a typed SQL expression (the branches of a CASE need their column's type)."""
    return value if isinstance(value, sa.ColumnElement) else sa.literal(value, type_=C[name].type)


def note(db: Database, appt: Appointment, values: dict[str, Any], attempts: Iterable[SyncAttempt] = ()) -> bool:
    """Write a step of a claimed appointment (what is about to be sent, what a lookup found, a
    booking cancelled before the new one is made) and keep the claim."""
    with db.write() as session:
        session.add_all(attempts)
        result = session.execute(sa.update(T).where(_owned(appt)).values(**values))
        session.commit()
    return result.rowcount == 1


def note_many(db: Database, steps: list[tuple[Appointment, dict[str, Any]]]) -> set[str]:
    """:func:`note` for many claimed appointments in one transaction; returns the ids written."""
    written: set[str] = set()
    if not steps:
        return written
    with db.write() as session:
        for appt, values in steps:
            if session.execute(sa.update(T).where(_owned(appt)).values(**values)).rowcount == 1:
                written.add(appt.id)
        session.commit()
    return written


def renew(db: Database, tokens: list[str], lease_s: float, now: datetime | None = None) -> int:
    """Extend the lease of every row still held under these claim tokens (a live worker's)."""
    if not tokens:
        return 0
    now = now or clock.now()
    with db.write() as session:
        result = session.execute(sa.update(T).where(C.claimed_by.in_(tokens), C.sync_state == IN_FLIGHT)
                                 .values(lease_until=now + timedelta(seconds=lease_s)))
        session.commit()
    return result.rowcount


def release(db: Database, appts: list[Appointment], now: datetime | None = None) -> int:
    """Give back claims whose call was never sent (graceful shutdown), so nobody waits for the
    lease. A call written down but not sent is forgotten; an earlier one in doubt is kept."""
    if not appts:
        return 0
    now = now or clock.now()
    released = 0
    with db.write() as session:
        for appt in appts:
            result = session.execute(sa.update(T).where(_owned(appt)).values(
                sync_state=PENDING if appt.next_retry_at is None else RETRY_SCHEDULED,
                sent=sa.case((C.needs_lookup, C.sent), else_=sa.null()),
                claimed_by=None, lease_until=None, version=C.version + 1, updated_at=now))
            released += result.rowcount
        session.commit()
    return released


# --- outcomes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backoff:
    base_s: float
    max_s: float
    rng: random.Random | None = None

    def delay(self, attempts: int) -> float:
        """Exponential with "equal jitter": half fixed, half random, so retries spread out."""
        raw = min(self.max_s, self.base_s * (2 ** max(0, attempts - 1)))
        rng = self.rng or random
        return raw / 2 + rng.uniform(0, raw / 2)


def done(state: str, *, now: datetime) -> dict[str, Any]:
    """The values of an appointment that needs nothing more from Cal.com (``state``: synced,
    cancelled or skipped); the Cal.com side (booked, booking_uid) is the caller's."""
    return dict(
        sync_state=state, category=None, fingerprint=None, last_error=None, last_http_status=None,
        first_failed_at=None, next_retry_at=None, needs_lookup=False, sent=None, updated_at=now,
        synced_at=now, sync_op="create", snoozed_until=None,
    )


def failed(appt: Appointment, failure: Failure, *, now: datetime, attempted: bool = True) -> dict[str, Any]:
    return dict(
        sync_state=FAILED, category=failure.category, fingerprint=failure.fingerprint,
        last_error=failure.message, last_http_status=failure.http_status,
        first_failed_at=appt.first_failed_at or now, next_retry_at=None,
        attempts=C.attempts + (1 if attempted else 0), last_attempt_at=now, updated_at=now,
    )


def retry_later(appt: Appointment, failure: Failure, *, now: datetime, delay_s: float,
                needs_lookup: bool | None = None) -> dict[str, Any]:
    values = dict(
        sync_state=RETRY_SCHEDULED, category=failure.category, fingerprint=failure.fingerprint,
        last_error=failure.message, last_http_status=failure.http_status,
        first_failed_at=appt.first_failed_at or now, next_retry_at=now + timedelta(seconds=delay_s),
        attempts=C.attempts + 1, last_attempt_at=now, updated_at=now,
    )
    if needs_lookup is not None:
        values["needs_lookup"] = needs_lookup
    return values
