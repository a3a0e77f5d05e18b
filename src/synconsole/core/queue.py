"""The sync queue: atomic claims with leases, and outcomes written only while the lease is ours.

A pending appointment *is* the queue entry. A worker claims a batch in one short transaction
(PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite: a conditional ``UPDATE … RETURNING`` inside
``BEGIN IMMEDIATE``), calls Cal.com outside any transaction, and records the outcome with a
version check: if its lease expired and someone else reclaimed the row meanwhile, the write is
refused and the other worker's result stands. A reclaimed expired lease marks the appointment
``needs_lookup``: the crashed worker may have created the booking, so the next one looks first.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from synconsole.core import clock
from synconsole.core.classify import Failure
from synconsole.core.db import Database
from synconsole.core.models import (
    CANCELLED,
    FAILED,
    IN_FLIGHT,
    OP_CANCEL,
    OP_CREATE,
    OP_RESCHEDULE,
    PENDING,
    RETRY_SCHEDULED,
    SYNCED,
    Appointment,
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


def claim(db: Database, worker: str, *, limit: int, lease_s: float, now: datetime | None = None) -> list[Appointment]:
    """Claim up to ``limit`` due appointments for ``worker`` atomically; returns them as claimed."""
    now = now or clock.now()
    candidates = sa.select(C.id).where(due_condition(now)).order_by(C.start_at, C.id).limit(limit)
    if db.is_postgres:
        candidates = candidates.with_for_update(skip_locked=True)
    stmt = (
        sa.update(T)
        .where(C.id.in_(candidates.scalar_subquery()))
        .values(
            sync_state=IN_FLIGHT,
            claimed_by=worker,
            lease_until=now + timedelta(seconds=lease_s),
            # an expired lease means a worker died mid-call: its create may have gone through
            needs_lookup=sa.case((C.sync_state == IN_FLIGHT, sa.true()), else_=C.needs_lookup),
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
    return sa.and_(C.id == appt.id, C.version == appt.version, C.claimed_by == appt.claimed_by,
                   C.sync_state == IN_FLIGHT)


def record(db: Database, appt: Appointment, values: dict[str, Any], attempt: SyncAttempt | None = None) -> bool:
    """Write an outcome for a claimed appointment. The attempt is recorded in any case (the call
    happened); the appointment changes only if the lease is still ours. Returns whether it did."""
    values = {**values, "claimed_by": None, "lease_until": None, "version": C.version + 1}
    with db.write() as session:
        if attempt is not None:
            session.add(attempt)
        result = session.execute(sa.update(T).where(_owned(appt)).values(**values))
        session.commit()
    return result.rowcount == 1


def extend(db: Database, appt: Appointment, lease_s: float, now: datetime | None = None) -> bool:
    """Keep a lease during a long call (a lookup over many pages)."""
    now = now or clock.now()
    with db.write() as session:
        result = session.execute(sa.update(T).where(_owned(appt)).values(
            lease_until=now + timedelta(seconds=lease_s), version=C.version + 1))
        session.commit()
    if result.rowcount == 1:
        appt.version += 1
    return result.rowcount == 1


def release(db: Database, appts: list[Appointment], now: datetime | None = None) -> int:
    """Give back claims that were never sent (graceful shutdown), so nobody waits for the lease."""
    if not appts:
        return 0
    now = now or clock.now()
    released = 0
    with db.write() as session:
        for appt in appts:
            result = session.execute(sa.update(T).where(_owned(appt)).values(
                sync_state=PENDING if appt.next_retry_at is None else RETRY_SCHEDULED,
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


def synced(appt: Appointment, *, booking_uid: str | None, now: datetime) -> dict[str, Any]:
    """The values after Cal.com did what the queue entry asked."""
    values: dict[str, Any] = dict(
        category=None, fingerprint=None, last_error=None, last_http_status=None, first_failed_at=None,
        next_retry_at=None, needs_lookup=False, attempts=C.attempts + 1, last_attempt_at=now, updated_at=now,
        synced_at=now, sync_op=OP_CREATE, snoozed_until=None,
    )
    if appt.sync_op == OP_CANCEL:
        values.update(sync_state=CANCELLED, cancel_reason=appt.cancel_reason)
    elif appt.sync_op == OP_RESCHEDULE:
        values.update(sync_state=SYNCED, booking_uid=booking_uid, reschedule_to=None)
        if appt.reschedule_to is not None:
            duration = appt.end_at - appt.start_at
            values.update(start_at=appt.reschedule_to, end_at=appt.reschedule_to + duration)
    else:
        values.update(sync_state=SYNCED, booking_uid=booking_uid)
    return values


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
