"""What was done in the period: the audit log grouped by (actor, action), people and jobs
(``job:*`` actors) apart, and what the sync job itself did (its attempts)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from synconsole.core import clock
from synconsole.core.models import OUTCOME_FAILED, OUTCOME_PREFLIGHT, OUTCOME_SUCCESS, AuditEvent, SyncAttempt
from synconsole.core.report.numbers import plural
from synconsole.core.scrub import excerpt

_NOUNS = {
    "cleanup_cancel": ("cancelled", "past appointment"),
    "cleanup_flag": ("flagged", "past appointment"),
    "retry": ("retried", "appointment"),
    "cancel": ("cancelled", "appointment"),
    "backfill_email": ("backfilled placeholder emails for", "appointment"),
    "assign_staff": ("assigned staff to", "appointment"),
    "reschedule": ("rescheduled", "appointment"),
    "snooze": ("snoozed", "appointment"),
    "reclassify": ("reclassified", "failure"),
    "reconcile_drift": ("flagged Cal.com drift on", "booked appointment"),
    "reconcile_cleared": ("cleared drift on", "appointment"),
    "webhook_drift": ("flagged Cal.com drift (webhook) on", "booked appointment"),
    "webhook_cleared": ("cleared drift (webhook) on", "appointment"),
    "webhook_rebook": ("queued a new booking (cancelled in Cal.com) for", "appointment"),
    "webhook_cancel_locally": ("cancelled (as in Cal.com)", "appointment"),
}


def _fix_summary(group: dict[str, Any]) -> str:
    actor, action, n = group["actor"], group["action"], len(group["ids"])
    if action in ("pause_job", "resume_job"):
        verb = "paused" if action == "pause_job" else "resumed"
        jobs = ", ".join(group["jobs"]) or "a job"
        return f"{actor} {verb} job{'s' if len(group['jobs']) > 1 else ''} {jobs}"
    if action == "undo":
        return f"{actor} undid {plural(group['events'], 'earlier change')} on {plural(n, 'appointment')}"
    if action in _NOUNS:
        verb, noun = _NOUNS[action]
        return f"{actor} {verb} {plural(n, noun)}"
    return f"{actor} {action.replace('_', ' ')} on {plural(n, 'appointment')}"


def fixes(session: Session, since: datetime, now: datetime, secrets: list[str]) -> dict[str, Any]:
    e = AuditEvent
    events = session.exec(select(e).where(e.at >= since, e.at <= now).order_by(e.id)).all()
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for event in events:
        key = (event.actor, event.action)
        g = groups.get(key)
        if g is None:
            g = groups[key] = {"actor": event.actor, "action": event.action, "job": event.actor.startswith("job:"),
                               "events": 0, "ids": [], "results": [], "reasons": [], "jobs": [],
                               "first_at": clock.iso(event.at), "last_at": None}
        g["events"] += 1
        g["last_at"] = clock.iso(event.at)
        seen = set(g["ids"])
        g["ids"] += [str(i) for i in (event.targets or []) if str(i) not in seen and not seen.add(str(i))]
        for field, text in (("results", event.result), ("reasons", event.reason)):
            clean = excerpt(text, secrets, 200)
            if clean and clean not in g[field]:
                g[field].append(clean)
        job = (event.after or {}).get("job") if isinstance(event.after, dict) else None
        if job and job not in g["jobs"]:
            g["jobs"].append(str(job))
    people, jobs = [], []
    for g in groups.values():
        g["appointments"] = len(g["ids"])
        g["summary"] = _fix_summary(g)
        (jobs if g["job"] else people).append(g)
    return {"events": len(events), "people": people, "jobs": jobs, "sync": _sync_activity(session, since, now)}


def _sync_activity(session: Session, since: datetime, now: datetime) -> dict[str, Any]:
    s = SyncAttempt
    in_period = sa.and_(s.at >= since, s.at <= now)
    by_outcome = dict(session.execute(sa.select(s.outcome, sa.func.count()).where(in_period).group_by(s.outcome)).all())
    latest = sa.select(sa.func.max(s.id).label("mid")).where(in_period).group_by(s.appointment_id).subquery()
    last = Counter(dict(session.execute(
        sa.select(s.outcome, sa.func.count()).select_from(sa.join(s, latest, s.id == latest.c.mid))
        .group_by(s.outcome)).all()))
    calls = sum(n for outcome, n in by_outcome.items() if outcome != OUTCOME_PREFLIGHT)
    out = {
        "calls": int(calls),
        "refused_before_sending": int(by_outcome.get(OUTCOME_PREFLIGHT, 0)),
        "appointments": int(sum(last.values())),
        "booked": int(last.get(OUTCOME_SUCCESS, 0)),
        "failed": int(last.get(OUTCOME_FAILED, 0) + last.get(OUTCOME_PREFLIGHT, 0)),
        "to_retry": int(sum(n for o, n in last.items()
                            if o not in (OUTCOME_SUCCESS, OUTCOME_FAILED, OUTCOME_PREFLIGHT))),
    }
    if out["appointments"] == 0:
        out["summary"] = "the sync job made no attempt in the period"
    else:
        parts = [f"{out['booked']} now booked"] if out["booked"] else []
        if out["failed"]:
            parts.append(f"{out['failed']} failed")
        if out["to_retry"]:
            parts.append(f"{out['to_retry']} to be retried")
        held = out["refused_before_sending"]
        held_back = (f"; {held} not sent, because its own checks showed Cal.com would refuse "
                     f"{'them' if held != 1 else 'it'} (no staff, no usable contact, a busy host, a past start)"
                     if held else "")
        out["summary"] = (f"the sync job tried {plural(out['appointments'], 'appointment')}: {', '.join(parts)}; "
                          f"{plural(out['calls'], 'Cal.com call')}{held_back}")
    return out
