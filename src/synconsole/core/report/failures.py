"""What failed, category by category: what remains failing now (with the plan's next steps), the
root causes of every category seen in the period (the category's cause and the data behind it:
customers without contact, hosts in conflict, staff sharing one Cal.com user, error messages), and
with several Cal.com accounts each one's share."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from synconsole.config import Settings
from synconsole.core import categories as cats
from synconsole.core import clock, metrics, remediation
from synconsole.core.classify import contact_problem, event_type_for, intervals_overlap, phone_problem
from synconsole.core.models import (
    FAILED,
    OUTCOME_SUCCESS,
    SCHEDULED,
    Appointment,
    AuditEvent,
    Customer,
    Staff,
    SyncAttempt,
)
from synconsole.core.report.numbers import join_counts, plural
from synconsole.core.scrub import excerpt

CHUNK = 400
MAX_LISTED = 10  # appointments or pairs named in a root-cause paragraph (the JSON has them all)


def current_failures(session: Session) -> list[Any]:
    a = Appointment
    return list(session.execute(
        sa.select(a.id, a.category, a.start_at, a.end_at, a.first_failed_at, a.snoozed_until, a.staff_id,
                  a.customer_id, a.fingerprint, a.last_error, a.last_http_status, a.service)
        .where(a.sync_state == FAILED, a.status == SCHEDULED)
        .order_by(a.start_at, a.id)
    ).all())


def remaining(failures: list[Any], items: list[remediation.PlanItem], after: metrics.Metrics, now: datetime,
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


def root_causes(session: Session, settings: Settings, since: datetime, now: datetime, failures: list[Any],
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
        head = (f"{plural(len(ids), 'appointment')} had it during the period; {len(still)} still failing"
                + (f", {len(ids) - len(still)} resolved ({join_counts(resolved)})" if len(ids) > len(still) else ""))
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
            facts.append(f"{plural(len(no_staff), 'appointment')} had no staff assigned")
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
        facts = [f"{plural(int(row[0]), 'attempt')} answered so in the period (HTTP {shown})"
                 + (f", the last at {clock.iso(row[1])}" if row[1] else "")]
        return {"attempts": int(row[0]), "statuses": statuses, "last_at": clock.iso(row[1])}, facts
    # validation, unknown, outside_booking_window, and categories from config rules: the messages
    groups: dict[str, list[Any]] = {}
    for r in rows:
        if r.last_error:
            groups.setdefault(r.fingerprint or r.last_error, []).append(r)
    top = sorted(groups.values(), key=lambda g: (-len(g), g[0].id))[:3]
    messages = [{"count": len(g), "http_status": g[0].last_http_status, "ids": [r.id for r in g],
                 "message": excerpt(g[0].last_error, secrets)} for g in top]
    facts = [f"{m['count']}× HTTP {m['http_status'] or '-'} `{_code(m['message'])}` ({', '.join(m['ids'][:5])}"
             f"{' …' if len(m['ids']) > 5 else ''})" for m in messages]
    if facts:
        facts[0] = "Most frequent errors: " + facts[0]
    return {"messages": messages}, facts


def _code(text: str | None) -> str:
    return (text or "").replace("`", "'")


def by_account(session: Session, settings: Settings, failures: list[Any], after: metrics.Metrics) -> list[dict]:
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
    fact = (f"{plural(len(ids), 'distinct customer')} ({', '.join(ids[:10])}{' …' if len(ids) > 10 else ''}) "
            f"had no usable contact: {join_counts(phones)}")
    facts = [fact]
    facts.append(f"{len(usable_now)} of them {'has' if len(usable_now) == 1 else 'have'} a usable contact now "
                 f"(e.g. a placeholder email), {len(still)} still without")
    return {"customers": len(ids), "customer_ids": ids, "phones": dict(phones), "usable_now": usable_now,
            "still_without": still}, facts
