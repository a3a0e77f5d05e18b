"""The report's content, collected from the database as a JSON-ready dict (:func:`build_report`);
:mod:`synconsole.core.report.render` turns it into text. Also what both sides share: the period
parser, the scrubbing of free text, the before -> after changes."""

from __future__ import annotations

import math
import re
from collections import Counter
from datetime import datetime, timedelta
from typing import Any, Iterable

import sqlalchemy as sa
from sqlmodel import Session, select

from synconsole import __version__
from synconsole.config import Settings
from synconsole.core import categories as cats
from synconsole.core import clock, metrics, remediation
from synconsole.core.classify import contact_problem, event_type_for, intervals_overlap, phone_problem
from synconsole.core.models import (
    FAILED,
    OUTCOME_FAILED,
    OUTCOME_PREFLIGHT,
    OUTCOME_SUCCESS,
    SCHEDULED,
    Appointment,
    AuditEvent,
    Customer,
    MetricSnapshot,
    Staff,
    SyncAttempt,
)
from synconsole.core.pii import mask_text
from synconsole.errors import UsageError

TITLE = "Appointment sync report"
CHUNK = 400
EXCERPT = 160
WRAP = 78
MAX_LISTED = 10  # appointments or pairs named in a root-cause paragraph (the JSON has them all)
#: the headline metrics of the before/after table: id -> label
METRICS: dict[str, str] = {
    "failed": "failed syncs",
    "pending": "pending",
    "manual_review": "manual review",
    "ancient_failures": "ancient failures (>24 h)",
    "success_rate_24h": "success rate (24 h)",
    "critical_alerts": "critical alerts",
}
RATE = "success_rate_24h"
FORMATS = ("md", "json")

# --- time ---------------------------------------------------------------------------------------

def parse_when(text: str, now: datetime | None = None, *, option: str = "--since") -> datetime:
    """``WHEN`` of ``--since``: ISO 8601 with an offset (``2025-11-24T14:00:00Z``), a date
    (``2025-11-24``: midnight UTC), or a time ago (``90m``, ``24h``, ``7d``, ``2w``)."""
    now = now or clock.now()
    try:
        value, _ = clock.parse_when((text or "").strip(), now, ago=True, days=True)
    except clock.TimeSyntaxError as exc:
        if exc.reason == clock.BAD_DURATION:
            raise UsageError(f"{option}: {text.strip()[:40]!r}: {exc}") from None
        if exc.reason == clock.NO_OFFSET:
            raise UsageError(f"{option}: {text[:60]!r} has no UTC offset (add Z or +01:00)") from None
        if exc.reason == clock.OUT_OF_RANGE:
            raise UsageError(f"{option}: {exc}") from None
        raise UsageError(f"{option}: expected ISO 8601 (2025-11-24T14:00:00Z) or a time ago (24h, 7d), "
                         f"got {text[:60]!r}") from None
    if value > now:
        raise UsageError(f"{option}: {clock.iso(value)} is in the future (now {clock.iso(now)})")
    return value


def _duration(delta: timedelta) -> str:
    seconds = max(0.0, delta.total_seconds())
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    if seconds < 48 * 3600:
        hours = seconds / 3600
        return f"{hours:.0f} h" if hours.is_integer() else f"{hours:.1f} h"
    days = seconds / 86400
    return f"{days:.0f} d" if days.is_integer() else f"{days:.1f} d"


# --- scrubbing ----------------------------------------------------------------------------------

_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+")
#: anything shaped like a Cal.com API key (another key than the configured one, an old one)
_KEY_SHAPE = re.compile(r"\bcal_(?:live_|test_)?[A-Za-z0-9]{20,}\b")
_MASK = "***"


#: free text longer than this is cut before it is masked (masking 10 MB for a report line is waste)
SCRUB_LIMIT = 100_000


def scrub_text(text: str | None, secrets: Iterable[str] = (), limit: int = SCRUB_LIMIT, *,
               mask_pii: bool = True) -> str | None:
    """Free text fit for a report: secrets and bearer tokens removed, emails and phones masked (unless
    ``mask_pii`` is false: text the caller has masked, or the user asked to see unmasked).
    Longer than ``limit``: cut first (at a space, so no half token is left unmasked), then masked."""
    if text is None:
        return None
    for secret in secrets:
        if secret:
            text = text.replace(secret, _MASK)
    if len(text) > limit:
        head = text[:limit]
        space = max(head.rfind(" "), head.rfind("\n"))
        head = head[:space] if space > limit // 2 else head[: limit - 100]
        text = f"{head} … ({len(text) - len(head)} more characters cut)"
    text = _BEARER.sub(lambda m: m.group(1) + _MASK, text)
    text = _KEY_SHAPE.sub("cal_" + _MASK, text)
    return mask_text(text) if mask_pii else text


def _secrets(settings: Settings) -> list[str]:
    key = settings.calcom.api_key.reveal() if settings.calcom.api_key else ""
    return [key] if key else []


def _remove_secrets(value: Any, secrets: list[str]) -> Any:
    """The whole document, with every occurrence of a secret masked (keys and values)."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, _MASK)
        return value
    if isinstance(value, dict):
        return {_remove_secrets(k, secrets): _remove_secrets(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_remove_secrets(v, secrets) for v in value]
    return value


def _excerpt(text: str | None, secrets: list[str], limit: int = EXCERPT) -> str | None:
    if text is None:
        return None
    one_line = scrub_text(" ".join(text[: limit * 8].split()), secrets, limit=limit * 4) or ""
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


# --- changes ------------------------------------------------------------------------------------


def _round_half_up(x: float) -> int:
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def _fmt(value: Any, rate: bool) -> str:
    if value is None:
        return "n/a" if rate else "unknown"
    return f"{value * 100:.1f}%" if rate else str(value)


def change(before: Any, after: Any, *, rate: bool = False, known: bool = True) -> dict[str, Any]:
    """before -> after with the absolute and the relative change; ``known=False``: no before."""
    if not known:
        return {"before": None, "after": after, "change": None, "change_pct": None,
                "text": f"unknown → {_fmt(after, rate)}"}
    text = f"{_fmt(before, rate)} → {_fmt(after, rate)}"
    if before is None or after is None:
        return {"before": before, "after": after, "change": None, "change_pct": None, "text": text}
    delta = round(after - before, 4) if rate else after - before
    pct = None if before == 0 else round(delta / before * 100, 1)
    if delta == 0:
        text += " (no change)"
    else:
        parts = [f"{delta * 100:+.1f} pp" if rate else f"{delta:+d}"]
        if pct is not None:
            parts.append(f"{_round_half_up(pct):+d}%")
        text += f" ({', '.join(parts)})"
    return {"before": before, "after": after, "change": delta, "change_pct": pct, "text": text}


# --- build --------------------------------------------------------------------------------------


def latest_snapshot(session: Session, at_or_before: datetime) -> MetricSnapshot | None:
    s = MetricSnapshot
    return session.exec(
        select(s).where(s.at <= at_or_before).order_by(s.at.desc(), s.id.desc()).limit(1)
    ).first()


def first_snapshot(session: Session, after: datetime, until: datetime) -> MetricSnapshot | None:
    """The earliest snapshot inside the period: where it starts when none is older."""
    s = MetricSnapshot
    return session.exec(
        select(s).where(s.at > after, s.at <= until).order_by(s.at, s.id).limit(1)
    ).first()


def build_report(session: Session, settings: Settings, *, since: datetime, now: datetime | None = None) -> dict:
    """The report's content (what ``--format json`` prints; :func:`render_markdown` renders it)."""
    now = now or clock.now()
    since = clock.to_utc(since)
    secrets = _secrets(settings)
    after = metrics.compute(session, settings, now)
    snap = latest_snapshot(session, since)
    inside = snap is None and (snap := first_snapshot(session, since, now)) is not None

    doc: dict[str, Any] = {
        "title": TITLE,
        "period": {"since": clock.iso(since), "until": clock.iso(now), "length": _duration(now - since)},
        "generated_at": clock.iso(now),
        "generator": f"synconsole {__version__}",
    }
    if snap is None:
        doc["before"] = {"snapshot_at": None, "snapshot_id": None,
                         "note": f"no snapshot at or before {clock.iso(since)}, before values unknown"}
    elif inside:
        doc["before"] = {"snapshot_at": clock.iso(snap.at), "snapshot_id": snap.id,
                         "note": f"snapshot of {clock.iso(snap.at)} (none at or before {clock.iso(since)}: "
                                 "the first one in the period)"}
    else:
        doc["before"] = {"snapshot_at": clock.iso(snap.at), "snapshot_id": snap.id,
                         "note": f"snapshot of {clock.iso(snap.at)} (the latest at or before {clock.iso(since)})"}
    doc["after"] = {"at": clock.iso(now), "note": f"metrics computed at {clock.iso(now)}"}
    doc["metrics"] = _metric_changes(snap, after)
    doc["by_category"] = _category_changes(snap, after)

    failures = _current_failures(session)
    items = remediation.plan(session, settings, now)
    doc["fixes"] = _fixes(session, since, now, secrets)
    doc["remaining"] = _remaining(failures, items, after, now, settings)
    doc["root_causes"] = _root_causes(session, settings, since, now, failures, secrets)
    if len(settings.accounts) > 1:
        doc["by_account"] = _by_account(session, settings, failures, after)
    doc["split"] = _split(after)
    doc["alerts"] = _alerts(snap, after, secrets)
    doc["summary"] = _summary(doc)
    return _remove_secrets(doc, secrets)


def _metric_changes(snap: MetricSnapshot | None, after: metrics.Metrics) -> dict[str, Any]:
    out = {}
    for key, label in METRICS.items():
        before = getattr(snap, key) if snap is not None else None
        c = change(before, getattr(after, key), rate=(key == RATE), known=snap is not None)
        out[key] = {"label": label, **c}
    return out


def _category_changes(snap: MetricSnapshot | None, after: metrics.Metrics) -> dict[str, Any]:
    before_counts: dict[str, int] | None = None
    if snap is not None and isinstance(snap.data, dict) and isinstance(snap.data.get("by_category"), dict):
        before_counts = {str(k): int(v) for k, v in snap.data["by_category"].items()}
    present = set(after.by_category) | set(before_counts or {})
    order = [c for c in cats.CATEGORIES if c in present] + sorted(present - set(cats.CATEGORIES))
    out = {}
    for category in order:
        known = before_counts is not None
        before = (before_counts or {}).get(category, 0) if known else None
        out[category] = change(before, after.by_category.get(category, 0), known=known)
    return out


def _current_failures(session: Session) -> list[Any]:
    a = Appointment
    return list(session.execute(
        sa.select(a.id, a.category, a.start_at, a.end_at, a.first_failed_at, a.snoozed_until, a.staff_id,
                  a.customer_id, a.fingerprint, a.last_error, a.last_http_status, a.service)
        .where(a.sync_state == FAILED, a.status == SCHEDULED)
        .order_by(a.start_at, a.id)
    ).all())


# fixes ------------------------------------------------------------------------------------------

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


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _fix_summary(group: dict[str, Any]) -> str:
    actor, action, n = group["actor"], group["action"], len(group["ids"])
    if action in ("pause_job", "resume_job"):
        verb = "paused" if action == "pause_job" else "resumed"
        jobs = ", ".join(group["jobs"]) or "a job"
        return f"{actor} {verb} job{'s' if len(group['jobs']) > 1 else ''} {jobs}"
    if action == "undo":
        return f"{actor} undid {_plural(group['events'], 'earlier change')} on {_plural(n, 'appointment')}"
    if action in _NOUNS:
        verb, noun = _NOUNS[action]
        return f"{actor} {verb} {_plural(n, noun)}"
    return f"{actor} {action.replace('_', ' ')} on {_plural(n, 'appointment')}"


def _fixes(session: Session, since: datetime, now: datetime, secrets: list[str]) -> dict[str, Any]:
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
            clean = _excerpt(text, secrets, 200)
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
        out["summary"] = (f"the sync job tried {_plural(out['appointments'], 'appointment')}: {', '.join(parts)}; "
                          f"{_plural(out['calls'], 'Cal.com call')}{held_back}")
    return out


# remaining --------------------------------------------------------------------------------------


def _remaining(failures: list[Any], items: list[remediation.PlanItem], after: metrics.Metrics, now: datetime,
               settings: Settings) -> dict[str, Any]:
    by_cat: dict[str, list[Any]] = {}
    for f in failures:
        by_cat.setdefault(f.category or cats.UNKNOWN, []).append(f)
    plan_by_id = {i.id: i for i in items}
    out = []
    for category in after.by_category:  # count desc, then id: the status view's order
        rows = by_cat.get(category, [])
        if not rows:
            continue
        c = cats.get(category)
        oldest = min((r.first_failed_at for r in rows if r.first_failed_at), default=None)
        planned = [plan_by_id[r.id] for r in rows if r.id in plan_by_id]
        next_steps = Counter((i.action, i.automatic) for i in planned)
        snoozed = [r.id for r in rows if r.snoozed_until and r.snoozed_until > now]
        out.append({
            "category": category,
            "title": c.title,
            "kind": c.kind,
            "disposition": cats.disposition(category, auto_backfill_email=settings.remediation.auto_backfill_email),
            "count": len(rows),
            "ids": [r.id for r in rows],
            "oldest_failed_at": clock.iso(oldest),
            "oldest_age": clock.span(now - oldest) if oldest else None,
            "snoozed": snoozed,
            "automatic": sum(1 for i in planned if i.automatic),
            "needs_human": sum(1 for i in planned if not i.automatic),
            "next_steps": [{"action": action, "automatic": auto, "count": n} for (action, auto), n
                           in sorted(next_steps.items(), key=lambda kv: (-kv[1], kv[0]))],
            "cause": c.cause,
            "recommendation": c.recommendation,
        })
    return {"total": len(failures), "categories": out}


# root causes ------------------------------------------------------------------------------------


def _chunked(session: Session, stmt_for, ids: list[str]) -> list[Any]:
    rows: list[Any] = []
    for start in range(0, len(ids), CHUNK):
        rows += session.execute(stmt_for(ids[start:start + CHUNK])).all()
    return rows


def _seen(session: Session, since: datetime, now: datetime, failures: list[Any]) -> dict[str, str]:
    """appointment id -> the category it failed with, for every appointment that failed in the
    period: failing now, touched by an audited action (its category before the action), or with a
    failed attempt in the period."""
    seen: dict[str, str] = {f.id: f.category or cats.UNKNOWN for f in failures}
    unknown: list[str] = []
    e = AuditEvent
    for event in session.exec(select(e).where(e.at >= since, e.at <= now).order_by(e.id)):
        for target in event.targets or []:
            target = str(target)
            if target in seen:
                continue
            before = event.before.get(target) if isinstance(event.before, dict) else None
            category = before.get("category") if isinstance(before, dict) else None
            if category:
                seen[target] = str(category)
            else:
                unknown.append(target)
    s = SyncAttempt
    latest = (sa.select(s.appointment_id, sa.func.max(s.id).label("mid"))
              .where(s.at >= since, s.at <= now, s.category.is_not(None), s.outcome != OUTCOME_SUCCESS)
              .group_by(s.appointment_id).subquery())
    for appointment_id, category in session.execute(
            sa.select(s.appointment_id, s.category).select_from(sa.join(s, latest, s.id == latest.c.mid))):
        seen.setdefault(str(appointment_id), str(category))
    rest = sorted({i for i in unknown if i not in seen})
    a = Appointment
    for appointment_id, category in _chunked(
            session, lambda ids: sa.select(a.id, a.category).where(a.id.in_(ids), a.category.is_not(None)), rest):
        seen.setdefault(appointment_id, category)
    return seen


def _root_causes(session: Session, settings: Settings, since: datetime, now: datetime, failures: list[Any],
                 secrets: list[str]) -> list[dict[str, Any]]:
    seen = _seen(session, since, now, failures)
    if not seen:
        return []
    a = Appointment
    appts = {r.id: r for r in _chunked(session, lambda ids: sa.select(
        a.id, a.category, a.status, a.sync_state, a.start_at, a.end_at, a.staff_id, a.customer_id, a.service,
        a.fingerprint, a.last_error, a.last_http_status).where(a.id.in_(ids)), sorted(seen))}
    failing = {f.id for f in failures}
    by_cat: dict[str, list[str]] = {}
    for appointment_id, category in seen.items():
        by_cat.setdefault(category, []).append(appointment_id)
    out = []
    for category in [c for c in cats.CATEGORIES if c in by_cat] + sorted(set(by_cat) - set(cats.CATEGORIES)):
        rows = sorted((appts[i] for i in by_cat[category] if i in appts), key=lambda r: (r.start_at, r.id))
        ids = [r.id for r in rows]
        still = [i for i in ids if i in failing]
        resolved = Counter(_state_word(r) for r in rows if r.id not in failing)
        details, facts = _details(session, settings, category, rows, since, now, secrets)
        c = cats.get(category)
        head = (f"{_plural(len(ids), 'appointment')} had it during the period; {len(still)} still failing"
                + (f", {len(ids) - len(still)} resolved ({_join_counts(resolved)})" if len(ids) > len(still) else ""))
        text = " ".join([c.cause, head + "."] + [f + "." for f in facts])
        out.append({"category": category, "title": c.title, "kind": c.kind, "appointments": len(ids),
                    "still_failing": len(still), "resolved": dict(resolved), "cause": c.cause,
                    "details": details, "facts": facts, "text": text})
    return out


def _state_word(r: Any) -> str:
    if r.status != SCHEDULED:
        return r.status
    if r.sync_state == FAILED:
        return f"now {r.category or cats.UNKNOWN}"
    return r.sync_state


def _join_counts(counter: Counter) -> str:
    return ", ".join(f"{n} {word}" for word, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def _details(session: Session, settings: Settings, category: str, rows: list[Any], since: datetime, now: datetime,
             secrets: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Category-specific data (JSON) and the sentences saying it."""
    if not rows:
        return {}, []
    if category == "past_appointment":
        first, last = min(r.start_at for r in rows), max(r.start_at for r in rows)
        return ({"first_start": clock.iso(first), "last_start": clock.iso(last)},
                [f"Their starts run from {clock.iso(first)} to {clock.iso(last)}, all before {clock.iso(now)}"])
    if category == "host_conflict":
        return _host_details(session, rows)
    if category == "missing_contact":
        return _contact_details(session, settings, rows)
    if category == "missing_staff":
        no_staff = [r.id for r in rows if not r.staff_id]
        staff = _staff(session, {r.staff_id for r in rows if r.staff_id})
        inactive = sorted({r.staff_id for r in rows
                           if r.staff_id and r.staff_id in staff and not staff[r.staff_id].active})
        facts = []
        if no_staff:
            facts.append(f"{_plural(len(no_staff), 'appointment')} had no staff assigned")
        if inactive:
            facts.append(f"inactive staff: {', '.join(inactive)}")
        return {"without_staff": no_staff, "inactive_staff": inactive}, facts
    if category == "no_event_type":
        staff = _staff(session, {r.staff_id for r in rows if r.staff_id})
        no_et = sorted({r.staff_id for r in rows
                        if r.staff_id in staff and event_type_for(staff[r.staff_id], r.service) is None})
        no_user = sorted({r.staff_id for r in rows if r.staff_id in staff and not staff[r.staff_id].host_key})
        facts = []
        if no_et:
            facts.append(f"staff without a Cal.com event type mapped now: {', '.join(no_et)}")
        if no_user:
            facts.append(f"staff without a Cal.com user mapped now: {', '.join(no_user)}")
        if not facts:
            facts.append("every staff member involved has an event type and a Cal.com user mapped now")
        return {"staff_without_event_type": no_et, "staff_without_calcom_user": no_user}, facts
    if category in ("auth", "rate_limited", "transient"):
        s = SyncAttempt
        row = session.execute(
            sa.select(sa.func.count(), sa.func.max(s.at))
            .where(s.at >= since, s.at <= now, s.category == category)).one()
        statuses = sorted({st for (st,) in session.execute(
            sa.select(s.http_status).where(s.at >= since, s.at <= now, s.category == category).distinct())},
            key=lambda x: (x is None, x or 0))
        shown = ", ".join("no answer" if st is None else str(st) for st in statuses) or "-"
        facts = [f"{_plural(int(row[0]), 'attempt')} answered so in the period (HTTP {shown})"
                 + (f", the last at {clock.iso(row[1])}" if row[1] else "")]
        return {"attempts": int(row[0]), "statuses": statuses, "last_at": clock.iso(row[1])}, facts
    # validation, unknown, outside_booking_window, and categories from config rules: the messages
    groups: dict[str, list[Any]] = {}
    for r in rows:
        if r.last_error:
            groups.setdefault(r.fingerprint or r.last_error, []).append(r)
    top = sorted(groups.values(), key=lambda g: (-len(g), g[0].id))[:3]
    messages = [{"count": len(g), "http_status": g[0].last_http_status, "ids": [r.id for r in g],
                 "message": _excerpt(g[0].last_error, secrets)} for g in top]
    facts = [f"{m['count']}× HTTP {m['http_status'] or '-'} `{_code(m['message'])}` ({', '.join(m['ids'][:5])}"
             f"{' …' if len(m['ids']) > 5 else ''})" for m in messages]
    if facts:
        facts[0] = "Most frequent errors: " + facts[0]
    return {"messages": messages}, facts


def _code(text: str | None) -> str:
    return (text or "").replace("`", "'")


def _by_account(session: Session, settings: Settings, failures: list[Any], after: metrics.Metrics) -> list[dict]:
    """Several Cal.com accounts: each one's remaining failures by category, and its budget and pause."""
    staff = _staff(session, {f.staff_id for f in failures if f.staff_id})
    failed: dict[str, Counter] = {a.id: Counter() for a in settings.accounts}
    for f in failures:
        account = staff[f.staff_id].calcom_account if f.staff_id in staff else "default"
        failed.setdefault(account, Counter())[f.category or cats.UNKNOWN] += 1
    states = {a.account: a for a in after.accounts}
    out = []
    for account, counts in failed.items():
        st = states.get(account)
        out.append({"account": account, "failed": sum(counts.values()), "by_category": dict(counts.most_common()),
                    "paused": bool(st and st.paused), "paused_reason": st.paused_reason if st else None,
                    "used_this_minute": st.used_this_minute if st else 0,
                    "limit_per_minute": st.limit_per_minute if st else None,
                    "configured": account in states})
    return out


def _staff(session: Session, ids: set[str]) -> dict[str, Staff]:
    found: dict[str, Staff] = {}
    ordered = sorted(i for i in ids if i)
    for start in range(0, len(ordered), CHUNK):
        for s in session.exec(select(Staff).where(Staff.id.in_(ordered[start:start + CHUNK]))):
            found[s.id] = s
    return found


def _host_details(session: Session, rows: list[Any]) -> tuple[dict[str, Any], list[str]]:
    staff = _staff(session, {r.staff_id for r in rows if r.staff_id})
    by_host: dict[str, list[Any]] = {}
    for r in rows:
        member = staff.get(r.staff_id or "")
        host = member.host_key if member is not None and member.host_key else "(no Cal.com user)"
        by_host.setdefault(host, []).append(r)
    hosts, facts = [], []
    for host, group in sorted(by_host.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        records = []
        if not host.startswith("("):
            records = list(session.exec(select(Staff).where(Staff.host_key == host).order_by(Staff.id)))
        pairs = []  # group is in start order: compare each with the ones starting before it ends
        for i, x in enumerate(group):
            for y in group[i + 1:]:
                if y.start_at >= x.end_at:
                    break
                if intervals_overlap(x.start_at, x.end_at, y.start_at, y.end_at):
                    pairs.append([x.id, y.id, clock.iso(max(x.start_at, y.start_at))])
        listing = ", ".join(f"{r.id} at {clock.iso(r.start_at)} (staff {r.staff_id or '-'})"
                            for r in group[:MAX_LISTED])
        if len(group) > MAX_LISTED:
            listing += f" … and {len(group) - MAX_LISTED} more"
        fact = f"Cal.com user {host}: {listing}"
        if len(records) > 1:
            named = [f"{s.id} ({s.name})" if s.name else s.id for s in records]
            fact += (f"; staff records {', '.join(named[:-1])} and {named[-1]} "
                     f"{'both' if len(records) == 2 else 'all'} map to this one Cal.com user, so their "
                     "appointments take the same host's time")
        if pairs:
            fact += "; overlapping each other: " + ", ".join(f"{p[0]} and {p[1]} at {p[2]}"
                                                             for p in pairs[:MAX_LISTED])
            if len(pairs) > MAX_LISTED:
                fact += f" … and {len(pairs) - MAX_LISTED} more pairs"
        facts.append(fact)
        hosts.append({"host": host, "appointments": [r.id for r in group],
                      "staff": [{"id": s.id, "name": s.name} for s in records],
                      "shared_by_staff_records": len(records) > 1, "overlapping_pairs": pairs})
    if len(facts) > MAX_LISTED:
        facts = facts[:MAX_LISTED] + [f"… and {len(facts) - MAX_LISTED} more Cal.com users"]
    return {"hosts": hosts}, facts


def _contact_details(session: Session, settings: Settings, rows: list[Any]) -> tuple[dict[str, Any], list[str]]:
    pattern = settings.categories.anonymous_phone_pattern
    ids = sorted({r.customer_id for r in rows})
    customers: dict[str, Customer] = {}
    for start in range(0, len(ids), CHUNK):
        for c in session.exec(select(Customer).where(Customer.id.in_(ids[start:start + CHUNK]))):
            customers[c.id] = c
    phones = Counter(phone_problem(customers[i].phone, pattern) or "usable phone" for i in ids if i in customers)
    usable_now = sorted(i for i in ids if i in customers and contact_problem(customers[i], pattern) is None)
    still = sorted(i for i in ids if i not in usable_now)
    fact = (f"{_plural(len(ids), 'distinct customer')} ({', '.join(ids[:10])}{' …' if len(ids) > 10 else ''}) "
            f"had no usable contact: {_join_counts(phones)}")
    facts = [fact]
    facts.append(f"{len(usable_now)} of them {'has' if len(usable_now) == 1 else 'have'} a usable contact now "
                 f"(e.g. a placeholder email), {len(still)} still without")
    return {"customers": len(ids), "customer_ids": ids, "phones": dict(phones), "usable_now": usable_now,
            "still_without": still}, facts


# split, alerts, summary ---------------------------------------------------------------------------


def _split(after: metrics.Metrics) -> dict[str, Any]:
    total = after.failed
    kinds = {k: {"count": after.by_kind.get(k, 0),
                 "share": round(after.by_kind.get(k, 0) / total, 4) if total else None} for k in cats.KINDS}
    if not total:
        text = "No failures remain."
    else:
        parts = [f"{v['count']}/{total} {k}" for k, v in kinds.items() if v["count"]]
        tech = kinds[cats.TECHNICAL]["count"]
        text = (f"{', '.join(parts)}. Technical failures (validation, unknown): {tech}/{total} "
                f"({_round_half_up(100 * tech / total)}%); the rest follow from the data, the business or the "
                "configuration.")
    return {"total": total, "kinds": kinds, "text": text}


def _alerts(snap: MetricSnapshot | None, after: metrics.Metrics, secrets: list[str]) -> dict[str, Any]:
    active = [{**a.to_json(), "message": scrub_text(a.message, secrets)} for a in after.alerts]
    out: dict[str, Any] = {"active": active}
    if snap is not None and isinstance(snap.data, dict) and isinstance(snap.data.get("alerts"), list):
        before_ids = [str(a.get("id")) for a in snap.data["alerts"] if isinstance(a, dict)]
        now_ids = [a.id for a in after.alerts]
        out["cleared"] = [i for i in before_ids if i not in now_ids]
        out["new"] = [i for i in now_ids if i not in before_ids]
    return out


def _summary(doc: dict[str, Any]) -> list[str]:
    m = doc["metrics"]
    lines = [f"{m[k]['label'][:1].upper()}{m[k]['label'][1:]}: {m[k]['text']}"
             for k in ("failed", "manual_review", "critical_alerts")]
    fixes = doc["fixes"]
    n_people = sum(len(g["ids"]) for g in fixes["people"])
    n_jobs = sum(len(g["ids"]) for g in fixes["jobs"])
    lines.append(f"Fixes: {_plural(fixes['events'], 'audited action')} in the period "
                 f"(people on {_plural(n_people, 'appointment')}, jobs on {_plural(n_jobs, 'appointment')}); "
                 f"{fixes['sync']['summary']}")
    rem = doc["remaining"]
    human = sum(c["needs_human"] for c in rem["categories"])
    snoozed = sum(len(c["snoozed"]) for c in rem["categories"])
    lines.append(f"Remaining: {_plural(rem['total'], 'failure')}, {human} needing a human"
                 + (f" ({snoozed} of them snoozed)" if snoozed else "") + f". {doc['split']['text']}")
    return lines
