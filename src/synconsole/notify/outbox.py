"""Which messages are owed to which target, and who sends each one.

Every worker and console with jobs runs this after evaluating the alerts. Each inserts the rows it
thinks are owed (the unique (target, key) turns the duplicates into no-ops), then claims due rows
one at a time with a conditional UPDATE (a lease): of N processes exactly one sends each message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from synconsole.config import NotifyTarget, Settings
from synconsole.core import alerthistory, clock
from synconsole.core.db import Database
from synconsole.core.models import AlertEvent, NotifyOutbox
from synconsole.notify import messages

PENDING, RETRY, SENT, FAILED, THROTTLED, SKIPPED = "pending", "retry", "sent", "failed", "throttled", "skipped"
DUE = (PENDING, RETRY)
#: a transition older than this when first seen is history, not news (a target added today does not
#: page anyone about last week)
LOOKBACK = timedelta(hours=1)
LEASE = timedelta(seconds=120)
MAX_ATTEMPTS = 8
BACKOFF_BASE_S = 30.0
BACKOFF_MAX_S = 3600.0


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(BACKOFF_BASE_S * 2 ** max(0, attempts - 1), BACKOFF_MAX_S))


def _insert(session: Session, **values) -> bool:
    """Insert the row unless (target, key) exists; True if this call inserted it."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    dialect = session.get_bind().dialect.name
    insert = (sqlite_insert if dialect == "sqlite" else pg_insert)(NotifyOutbox.__table__)
    values.setdefault("status", PENDING)
    values.setdefault("attempts", 0)
    values.setdefault("created_at", clock.now())
    result = session.execute(insert.values(**values).on_conflict_do_nothing(index_elements=["target", "key"]))
    return bool(result.rowcount)


def _throttled(session: Session, target: NotifyTarget, alert_id: str, now: datetime) -> bool:
    if target.throttle_minutes <= 0:
        return False
    since = now - timedelta(minutes=target.throttle_minutes)
    row = session.exec(select(NotifyOutbox.id).where(
        NotifyOutbox.target == target.name, NotifyOutbox.alert_id == alert_id, NotifyOutbox.kind == messages.FIRED,
        NotifyOutbox.status.not_in((THROTTLED, SKIPPED)), NotifyOutbox.created_at >= since).limit(1)).first()
    return row is not None


def enqueue(db: Database, settings: Settings, now: datetime | None = None) -> int:
    """Owed messages into the outbox (idempotent across processes); returns how many this call added."""
    now = now or clock.now()
    if not settings.notify:
        return 0
    added = 0
    with db.write() as session:
        events = list(session.exec(select(AlertEvent).where(
            AlertEvent.kind.in_((alerthistory.FIRED, alerthistory.RESOLVED)), AlertEvent.at >= now - LOOKBACK)
            .order_by(AlertEvent.id)))
        categories = messages.top_categories(session) if events or _any_critical(session) else []
        for event in events:
            about = alerthistory.accounts_of(event if event.kind == alerthistory.FIRED
                                             else _fired_before(session, event))
            for target in settings.notify:
                if not target.wants(event.alert_id, event.severity, about):
                    continue
                added += _enqueue_event(session, target, event, categories, now)
        added += _enqueue_escalations(session, settings, categories, now)
        session.commit()
    return added


def _enqueue_event(session: Session, target: NotifyTarget, event: AlertEvent, categories, now: datetime) -> int:
    key = f"{event.kind}:{event.id}"
    if session.exec(select(NotifyOutbox.id).where(NotifyOutbox.target == target.name,
                                                  NotifyOutbox.key == key)).first() is not None:
        return 0
    if event.kind == alerthistory.FIRED:
        status = THROTTLED if _throttled(session, target, event.alert_id, now) else PENDING
        minutes = None
    else:
        fired = _fired_before(session, event)
        minutes = (event.at - fired.at).total_seconds() / 60 if fired else None
        fired_row = session.exec(select(NotifyOutbox).where(
            NotifyOutbox.target == target.name, NotifyOutbox.key == f"fired:{fired.id}")).first() if fired else None
        # the thread it closes was never opened (throttled, or older than the lookback): stay quiet
        status = PENDING if fired_row is not None and fired_row.status not in (THROTTLED, SKIPPED) else THROTTLED
    msg = messages.compose(event.kind, alert_id=event.alert_id, severity=event.severity, count=event.count,
                           message=event.message, categories=categories, minutes=minutes)
    return int(_insert(session, target=target.name, key=key, alert_id=event.alert_id, kind=event.kind,
                       severity=event.severity, title=msg.title, body=msg.body, next_attempt_at=now, status=status))


def _fired_before(session: Session, event: AlertEvent) -> AlertEvent | None:
    return session.exec(select(AlertEvent).where(
        AlertEvent.alert_id == event.alert_id, AlertEvent.kind == alerthistory.FIRED, AlertEvent.id < event.id)
        .order_by(AlertEvent.id.desc()).limit(1)).first()


def _any_critical(session: Session) -> bool:
    return any(e.active and e.severity == "critical" for e in alerthistory.episodes(session, limit=200))


def _enqueue_escalations(session: Session, settings: Settings, categories, now: datetime) -> int:
    """An unacknowledged critical is re-sent at each ``escalate_minutes`` mark; marks a stopped
    worker slept through are recorded as skipped, so only the latest one goes out."""
    added = 0
    for episode in alerthistory.episodes(session, limit=200):
        if not episode.active or episode.severity != "critical" or episode.acknowledged_by:
            continue
        fired = session.exec(select(AlertEvent).where(
            AlertEvent.alert_id == episode.alert_id, AlertEvent.kind == alerthistory.FIRED)
            .order_by(AlertEvent.id.desc()).limit(1)).first()
        if fired is None:
            continue
        age_min = (now - fired.at).total_seconds() / 60
        for target in settings.notify:
            if not target.wants(episode.alert_id, episode.severity, alerthistory.accounts_of(fired)):
                continue
            opened = session.exec(select(NotifyOutbox.status).where(
                NotifyOutbox.target == target.name, NotifyOutbox.key == f"fired:{fired.id}")).first()
            if opened is None or opened in (THROTTLED, SKIPPED):
                continue
            due = [m for m in target.escalate_minutes if age_min >= m]
            for mark in due:
                status = PENDING if mark == due[-1] else SKIPPED
                msg = messages.compose(messages.ESCALATED, alert_id=episode.alert_id, severity=episode.severity,
                                       count=episode.count, message=episode.message, categories=categories,
                                       minutes=mark)
                added += int(_insert(session, target=target.name, key=f"escalated:{fired.id}:{mark:g}",
                                     alert_id=episode.alert_id, kind=messages.ESCALATED, severity=episode.severity,
                                     title=msg.title, body=msg.body, next_attempt_at=now, status=status))
    return added


def claim(db: Database, worker: str, now: datetime | None = None, limit: int = 20) -> list[NotifyOutbox]:
    """Due rows this worker now holds a lease on; another worker claiming the same row gets nothing."""
    now = now or clock.now()
    due = sa.and_(NotifyOutbox.status.in_(DUE),
                  sa.or_(NotifyOutbox.next_attempt_at.is_(None), NotifyOutbox.next_attempt_at <= now),
                  sa.or_(NotifyOutbox.claimed_until.is_(None), NotifyOutbox.claimed_until < now))
    mine = []
    with db.write() as session:
        ids = session.exec(select(NotifyOutbox.id).where(due).order_by(NotifyOutbox.id).limit(limit)).all()
        for row_id in ids:
            taken = session.execute(sa.update(NotifyOutbox).where(NotifyOutbox.id == row_id, due)
                                    .values(claimed_by=worker, claimed_until=now + LEASE))
            if taken.rowcount == 1:
                mine.append(row_id)
        session.commit()
        return list(session.exec(select(NotifyOutbox).where(NotifyOutbox.id.in_(mine)).order_by(NotifyOutbox.id))) \
            if mine else []


def finish(db: Database, row_id: int, *, ok: bool, error: str | None, now: datetime | None = None) -> str:
    now = now or clock.now()
    with db.write() as session:
        row = session.get(NotifyOutbox, row_id)
        row.attempts += 1
        row.claimed_until = None
        if ok:
            row.status, row.sent_at, row.last_error = SENT, now, None
        elif row.attempts >= MAX_ATTEMPTS:
            row.status, row.last_error = FAILED, error
        else:
            row.status, row.last_error, row.next_attempt_at = RETRY, error, now + backoff(row.attempts)
        session.add(row)
        session.commit()
        return row.status


@dataclass
class Backlog:
    retrying: int
    failed: int
    last_error: str | None
    target: str | None


def backlog(db: Database) -> Backlog:
    """What the jobs screen shows about delivery that is not going well."""
    with db.session() as session:
        retrying = session.exec(select(sa.func.count()).select_from(NotifyOutbox)
                                .where(NotifyOutbox.status == RETRY)).one()
        failed = session.exec(select(sa.func.count()).select_from(NotifyOutbox)
                              .where(NotifyOutbox.status == FAILED)).one()
        worst = session.exec(select(NotifyOutbox).where(NotifyOutbox.status.in_((RETRY, FAILED)))
                             .order_by(NotifyOutbox.id.desc()).limit(1)).first()
    return Backlog(int(retrying), int(failed), worst.last_error if worst else None, worst.target if worst else None)
