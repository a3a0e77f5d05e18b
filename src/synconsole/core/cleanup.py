"""Cleanup: failures of appointments whose start has passed cannot be booked any more (the cleanup
job in :mod:`synconsole.jobs.host` runs it; `synconsole cleanup` and `remediate --apply` too).

``cleanup_mode = "cancel"`` cancels them locally, and in Cal.com through the queue where a booking
exists; ``"flag"`` only marks them ``past_appointment``. Dry run: the exact list, nothing changed.

With ``[remediation] auto_backfill_email`` the job also does the other fix that needs no
judgement (:func:`auto_backfill`): customers without a usable contact get the placeholder email
and their ``missing_contact`` failures go back to the queue, through the same action (preview,
version-checked apply, one audit event) a person would use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import select

from synconsole.core import audit, changes, clock
from synconsole.core.classify import fingerprint
from synconsole.core.db import Database
from synconsole.core.models import (
    FAILED,
    SCHEDULED,
    STATUS_CANCELLED,
    Appointment,
)

REASON = "Appointment start has passed: it cannot be booked in Cal.com (synconsole cleanup)"
PAST = "past_appointment"


@dataclass(frozen=True)
class CleanupItem:
    id: str
    version: int
    start: datetime
    category: str | None
    booking_uid: str | None

    def describe(self, mode: str) -> str:
        when = clock.iso(self.start)
        if mode == "flag":
            return f"{self.id}: start {when}, {self.category} -> flag as {PAST}"
        where = " locally and in Cal.com" if self.booking_uid else " locally"
        return f"{self.id}: start {when}, {self.category} -> cancel{where}"


def plan(db: Database, *, mode: str, now: datetime | None = None, limit: int | None = None) -> list[CleanupItem]:
    now = now or clock.now()
    a = Appointment
    stmt = (select(a.id, a.version, a.start_at, a.category, a.booking_uid)
            .where(a.sync_state == FAILED, a.status == SCHEDULED, a.start_at < now)
            .order_by(a.start_at, a.id))
    if mode == "flag":
        stmt = stmt.where(sa.or_(a.category.is_(None), a.category != PAST))
    if limit:
        stmt = stmt.limit(limit)
    with db.session() as session:
        return [CleanupItem(*row) for row in session.exec(stmt)]


def apply(db: Database, items: list[CleanupItem], *, mode: str, actor: str, now: datetime | None = None) -> int:
    """Change what the plan listed, each only if it did not change meanwhile; one audit event.

    A cancel goes through ``changes.requeue``: a booked appointment (or one whose create may have
    reached Cal.com) is queued to be cancelled there, the others are cancelled for good."""
    now = now or clock.now()
    t = Appointment.__table__
    c = t.c
    done: list[CleanupItem] = []
    with db.write() as session:
        for item in items:
            guard = sa.and_(c.id == item.id, c.version == item.version, c.sync_state == FAILED,
                            c.status == SCHEDULED)
            if mode == "flag":
                values = dict(category=PAST, fingerprint=fingerprint(PAST, None, "flagged by cleanup"))
            else:
                values = dict(status=STATUS_CANCELLED, cancel_reason=REASON)
            result = session.execute(sa.update(t).where(guard).values(**values, updated_at=now,
                                                                       version=c.version + 1))
            if result.rowcount == 1:
                done.append(item)
        states = {} if mode == "flag" else changes.requeue(session.connection(), [i.id for i in done], now=now)
        if done:
            audit.record(
                session, actor=actor, action=f"cleanup_{mode}", targets=[i.id for i in done], reason=REASON,
                before={i.id: {"status": SCHEDULED, "sync_state": FAILED, "category": i.category} for i in done},
                after={i.id: ({"category": PAST} if mode == "flag" else
                              {"status": STATUS_CANCELLED, "sync_state": states[i.id]})
                       for i in done},
                result=f"{len(done)} {'flagged' if mode == 'flag' else 'cancelled'}", at=now,
            )
        session.commit()
    return len(done)


def auto_backfill(db: Database, settings, *, actor: str) -> str | None:
    """Placeholder emails for the ``missing_contact`` failures, when the config says so; what it
    did, or None when it is off or there was nothing to do."""
    from synconsole.core.actions import Actions, Target
    from synconsole.core.remediation import BACKFILL_REASON

    if not settings.remediation.auto_backfill_email:
        return None
    actions = Actions(db, settings, actor=actor)
    preview = actions.preview("backfill_email", Target(category="missing_contact"))
    if not preview.ids:
        return None
    return actions.apply(preview, reason=BACKFILL_REASON).message
