"""Re-run the classification rules over existing failures (after a rule or config change, or a fix
made outside synconsole)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from synconsole.config import Settings
from synconsole.core import audit, clock
from synconsole.core.classify import classify_response, fingerprint, preflight
from synconsole.core.models import (
    FAILED,
    OUTCOME_PREFLIGHT,
    PENDING,
    SCHEDULED,
    Appointment,
    SyncAttempt,
)

CHUNK = 500


@dataclass(frozen=True)
class Change:
    appointment_id: str
    version: int
    category_before: str | None
    category_after: str | None
    state_before: str
    state_after: str
    fingerprint_after: str | None
    message_after: str | None

    def describe(self) -> str:
        if self.state_after != self.state_before:
            return f"{self.appointment_id}: {self.category_before} -> {self.state_after} (problem gone)"
        return f"{self.appointment_id}: {self.category_before} -> {self.category_after}"


def plan(session: Session, settings: Settings, now: datetime | None = None) -> list[Change]:
    """What reclassify would change; changes nothing."""
    now = now or clock.now()
    rules = settings.categories.rules
    changes: list[Change] = []
    failed_ids = list(
        session.exec(
            select(Appointment.id).where(Appointment.sync_state == FAILED, Appointment.status == SCHEDULED)
            .order_by(Appointment.id)
        )
    )
    for start in range(0, len(failed_ids), CHUNK):
        ids = failed_ids[start:start + CHUNK]
        appts = list(session.exec(select(Appointment).where(Appointment.id.in_(ids)).order_by(Appointment.id)))
        latest_ids = (
            sa.select(sa.func.max(SyncAttempt.id)).where(SyncAttempt.appointment_id.in_(ids))
            .group_by(SyncAttempt.appointment_id)
        )
        latest = {s.appointment_id: s for s in session.exec(select(SyncAttempt).where(SyncAttempt.id.in_(latest_ids)))}
        local = [a for a in appts if a.id not in latest or latest[a.id].outcome == OUTCOME_PREFLIGHT]
        local_ids = {a.id for a in local}
        local_failures = preflight(session, local, now=now, settings=settings)
        for appt in appts:
            attempt = latest.get(appt.id)
            if appt.id in local_ids:
                failure = local_failures.get(appt.id)
                if failure is None:
                    changes.append(Change(appt.id, appt.version, appt.category, None, FAILED, PENDING, None, None))
                    continue
                category, status, message = failure.category, None, failure.message
            else:
                message = attempt.error_message or ""
                status = attempt.http_status
                category = classify_response(status, attempt.error_code, message, rules)
            fp = fingerprint(category, status, message)
            if category != appt.category or fp != appt.fingerprint:
                changes.append(Change(appt.id, appt.version, appt.category, category, FAILED, FAILED, fp, message))
    return changes


def apply(session: Session, changes: list[Change], *, actor: str, now: datetime | None = None) -> int:
    """Write the changes (each only if the appointment did not change meanwhile) and audit them."""
    now = now or clock.now()
    a = Appointment.__table__.c
    applied: list[Change] = []
    for ch in changes:
        values = {"category": ch.category_after, "fingerprint": ch.fingerprint_after, "updated_at": now,
                  "version": a.version + 1}
        if ch.state_after == PENDING:
            values.update(sync_state=PENDING, queued_at=now, next_retry_at=None, first_failed_at=None)
        elif ch.message_after is not None:
            values["last_error"] = ch.message_after
        result = session.execute(
            sa.update(Appointment.__table__)
            .where(a.id == ch.appointment_id, a.version == ch.version, a.sync_state == FAILED)
            .values(**values)
        )
        if result.rowcount == 1:
            applied.append(ch)
    if applied:
        audit.record(
            session, actor=actor, action="reclassify", targets=[c.appointment_id for c in applied],
            reason="re-ran the classification rules",
            before={c.appointment_id: {"category": c.category_before, "sync_state": c.state_before} for c in applied},
            after={c.appointment_id: {"category": c.category_after, "sync_state": c.state_after} for c in applied},
            result=f"{len(applied)} changed", at=now,
        )
    return len(applied)
