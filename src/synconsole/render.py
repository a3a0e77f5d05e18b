"""Plain-text renderings for the CLI's human output (the JSON shapes live in core)."""

from __future__ import annotations

from typing import Any

from synconsole.core import categories as cats
from synconsole.core import clock
from synconsole.core.metrics import Metrics
from synconsole.core.text import printable


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def status_text(m: Metrics) -> str:
    lines = [
        f"synconsole status at {clock.iso(m.generated_at)}",
        "",
        f"  failed            {m.failed:>7}      manual review     {m.manual_review:>7}",
        f"  pending           {m.pending:>7}      ancient (>24 h)   {m.ancient_failures:>7}",
        f"  success rate 24h  {_pct(m.success_rate_24h):>7}      critical alerts   {m.critical_alerts:>7}",
    ]
    if m.by_category:
        lines += ["", f"  {'category':<24}{'failed':>7}  {'kind':<11}{'disposition':<13}oldest"]
        for category, count in m.by_category.items():
            c = cats.get(category)
            oldest = clock.iso(m.oldest_failure_by_category.get(category)) or "-"
            lines.append(f"  {category:<24}{count:>7}  {c.kind:<11}{c.disposition:<13}{oldest}")
    if m.failed:
        ages = "  ".join(f"{bucket} {n}" for bucket, n in m.by_age.items())
        kinds = "  ".join(f"{kind} {n}" for kind, n in m.by_kind.items() if n)
        lines += ["", f"  by age:  {ages}", f"  by kind: {kinds}"]
    if m.sources:
        lines.append("")
        for src in m.sources:
            lag = f", last read {src.lag_s:g} s ago" if src.lag_s is not None else ""
            lines.append(f"  source {_one(src.name)}: {src.state}{lag}")
    if len(m.accounts) > 1:
        lines.append("")
        for acc in m.accounts:
            state = f"paused ({_cut(acc.paused_reason, 80)})" if acc.paused else (
                f"blocked for {acc.blocked_for_s:.0f} s" if acc.blocked_for_s > 0 else "running")
            lines.append(f"  account {_one(acc.account):<16} budget {acc.used_this_minute:>4}/{acc.limit_per_minute:<5}"
                         f" this minute  {state}")
    lines.append("")
    if m.alerts:
        lines.append("  alerts:")
        for alert in m.alerts:
            lines.append(f"    {alert.severity.upper():<8} {alert.id} ({alert.count}): {alert.message}")
    else:
        lines.append("  alerts: none")
    return "\n".join(lines)


def _one(value: Any) -> str:
    """A value that must stay on its line (an id, a name, a cell): newlines and escapes shown."""
    return printable(value, single_line=True)


def _cut(text: str | None, width: int) -> str:
    text = _one(text or "")
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def appointment_table(docs: list[dict[str, Any]], *, width: int = 120) -> str:
    if not docs:
        return "no appointments match"
    header = f"{'id':<10} {'start (UTC)':<17} {'state':<15} {'category':<22} {'att':>3} {'staff':<8} last error"
    lines = [header]
    error_width = max(10, width - len(header) + len("last error"))
    for d in docs:
        start = (d["start"] or "").replace("T", " ")[:16]
        lines.append(
            f"{_cut(d['id'], 10):<10} {start:<17} {d['sync_state']:<15} {_cut(d['category'] or '', 22):<22} "
            f"{d['attempts']:>3} {_cut(d['staff_id'] or '-', 8):<8} {_cut(d['last_error'] or '', error_width)}"
        )
    return "\n".join(lines)


def appointment_detail(doc: dict[str, Any]) -> str:
    lines = [f"appointment {_one(doc['id'])}"]
    fields = ("status", "sync_state", "sync_op", "category", "start", "end", "duration_minutes", "time_zone",
              "service", "staff_id", "customer_id", "booking_uid", "attempts", "first_failed_at",
              "last_attempt_at", "next_retry_at", "snoozed_until", "note", "fingerprint", "created_at",
              "updated_at", "version")
    for name in fields:
        value = doc.get(name)
        if value is not None:
            lines.append(f"  {name:<17} {_one(value)}")
    customer = doc.get("customer")
    if customer:
        lines.append(f"  {'customer':<17} {_one(customer['name'])} email={_one(customer['email'] or '-')} "
                     f"phone={_one(customer['phone'] or '-')} tz={_one(customer['time_zone'])}")
    staff = doc.get("staff")
    if staff:
        lines.append(f"  {'staff':<17} {_one(staff['name'])} "
                     f"cal.com={_one(staff['calcom_username'] or staff['calcom_user_id'])} "
                     f"event_type={staff['event_type_id']}")
    if doc.get("booked") or doc.get("in_doubt"):
        lines.append(f"  {'in Cal.com':<17} {calcom_state(doc)}")
    if doc.get("remediation"):
        lines += ["", f"  suggested: {doc['remediation']}"]
    if doc.get("last_error"):
        lines += ["", "  last error:",
                  *("    " + ln for ln in _shown_error(str(doc["last_error"]), doc.get("id")).splitlines())]
    lines += ["", f"  {attempts_heading(doc)}:"]
    for a in doc["attempts_detail"]:
        lines.append(f"    {a['at']}  {a['operation']:<10} {a['outcome']:<9} {answer(a)}  {a['category'] or ''}")
        if a["error"]:
            lines += ["      " + ln for ln in _shown_error(str(a["error"]), doc.get("id")).splitlines()]
    lines += ["", f"  audit ({len(doc['audit'])}):"]
    for e in doc["audit"]:
        reason = f" reason: {_one(e['reason'])}" if e["reason"] else ""
        lines.append(f"    {e['at']}  {_one(e['actor'])}  {e['action']}  {_one(e['result'])}{reason}")
    return "\n".join(lines)


def calcom_state(doc: dict[str, Any]) -> str:
    """What Cal.com holds as far as synconsole knows, and a call whose answer never came."""
    booked = doc.get("booked")
    if booked:
        where = f"host {booked['host']}" if booked.get("host") else f"staff {booked.get('staff_id') or '?'}"
        text = f"booked {booked.get('uid') or '?'} at {booked['start']} ({where})"
    else:
        text = "no live booking"
    doubt = doc.get("in_doubt")
    if doubt:
        text += (f"; the last {doubt['op']} may have reached Cal.com without an answer: it is looked up "
                 "before anything else is sent")
    return text


def answer(attempt: dict[str, Any]) -> str:
    """What Cal.com answered: ``HTTP 400``, or why there was no answer."""
    if attempt.get("http_status") is not None:
        return f"HTTP {attempt['http_status']}"
    if attempt.get("outcome") == "preflight":
        return "not sent (refused before sending)"
    return "no HTTP answer"


def attempts_heading(doc: dict[str, Any]) -> str:
    """'attempts (3)', or 'attempts (1 of 3 on record)' when the count says more than is kept."""
    recorded, counted = len(doc["attempts_detail"]), doc.get("attempts") or 0
    if counted > recorded:
        return f"attempts ({recorded} of {counted} on record)"
    return f"attempts ({recorded})"


def alerts_table(alerts: list[dict[str, Any]]) -> str:
    if not alerts:
        return "no active alerts"
    lines = []
    for a in alerts:
        lines.append(f"{a['severity'].upper():<8} {a['id']} ({a['count']}): {a['message']}")
        if a.get("acknowledged_by"):
            lines.append(f"{'':<9}acknowledged by {a['acknowledged_by']} at {a['acknowledged_at']}: {a['note']}")
    return "\n".join(lines)


def alert_history_table(episodes: list[dict[str, Any]]) -> str:
    if not episodes:
        return "no alert has fired yet"
    lines = [f"{'fired (UTC)':<20} {'resolved (UTC)':<20} {'severity':<8} {'alert':<20} acknowledged by"]
    for e in episodes:
        resolved = (e["resolved_at"] or "still active").replace("T", " ")
        ack = e["acknowledged_by"] or "-"
        if e["note"]:
            ack += f": {e['note']}"
        lines.append(f"{e['fired_at'].replace('T', ' '):<20} {resolved:<20} {e['severity']:<8} {e['alert']:<20} {ack}")
        lines.append(f"{'':<20} {e['message']}")
    return "\n".join(lines)


def staff_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no staff: import staff rows (synconsole import FILE)"
    lines = [f"{'id':<12} {'name':<28} {'Cal.com user':<16} {'event type':<10} active"]
    for r in rows:
        user = r["calcom_username"] or (str(r["calcom_user_id"]) if r["calcom_user_id"] else "-")
        lines.append(f"{_cut(r['id'], 12):<12} {_cut(r['name'], 28):<28} {_cut(user, 16):<16} "
                     f"{str(r['event_type_id'] or '-'):<10} {'yes' if r['active'] else 'no'}")
    return "\n".join(lines)


def jobs_table(views) -> str:
    lines = [f"{'job':<10} {'state':<8} {'every':>7}  {'last run':<21} {'took':>7}  last result"]
    for v in views:
        st = "paused" if v.paused else ("running" if v.running else "active")
        took = f"{v.last_duration_ms} ms" if v.last_duration_ms is not None else "-"
        result = v.last_result or "-"
        if v.last_ok is False:
            result = "FAILED: " + result
        lines.append(f"{v.id:<10} {st:<8} {v.interval_s:>6g}s  {clock.iso(v.last_run_at) or 'never':<21} "
                     f"{took:>7}  {result}")
        if v.paused:
            lines.append(f"{'':<10} paused by {v.paused_by or '?'}" + (f": {v.paused_reason}" if v.paused_reason else ""))
    return "\n".join(lines)


def sources_table(docs: list[dict[str, Any]]) -> str:
    """``synconsole sources``: one block per source."""
    lines = [f"{'source':<16} {'state':<12} {'last poll':<21} {'lag':>8} {'rows':>9} {'changed':>8} {'bad':>5}"]
    for d in docs:
        lag = "-" if d["lag_s"] is None else f"{d['lag_s']:g}s"
        lines.append(f"{_cut(d['name'], 16):<16} {d['state']:<12} {d['last_poll'] or 'never':<21} {lag:>8} "
                     f"{d['rows_seen']:>9} {d['rows_changed']:>8} {d['bad_rows']:>5}")
        for query, mark in (d["watermarks"] or {}).items():
            lines.append(f"{'':<16} watermark {query}: {mark}")
        if d["last_error"]:
            lines.append(f"{'':<16} failing ({d['failures']} in a row since {d.get('down_since') or '?'}): "
                         f"{d['last_error']}")
    return "\n".join(lines)


#: `show` prints this much of an error body; the rest stays in the database (and in --json)
SHOWN_ERROR = 20_000


def _shown_error(text: str, appointment_id: object) -> str:
    """Cut first, then keys and tokens removed; emails and phones are masked (or revealed) by
    :func:`synconsole.core.queries.show_appointment` already."""
    from synconsole.core.scrub import scrub_text

    if len(text) <= SHOWN_ERROR:
        return scrub_text(text, mask_pii=False) or ""
    return (f"{scrub_text(text[:SHOWN_ERROR], mask_pii=False)}\n… cut here: {len(text) - SHOWN_ERROR} more characters "
            f"(`synconsole show {appointment_id} --json` has all that is stored)")
