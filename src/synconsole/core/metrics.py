"""The dashboard numbers and the alert rules, computed in set-based SQL.

Definitions are part of the contract (product.md, "Metrics"): every face (CLI, console, report,
snapshots) reads them from here. Each query aggregates in the database; Python only combines the
handful of aggregated rows (one per category at most).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from synconsole.config import Settings
from synconsole.core import accounts, alerthistory, budget, clock
from synconsole.core import categories as cats
from synconsole.core.models import (
    FAILED,
    OUTCOME_PREFLIGHT,
    OUTCOME_SUCCESS,
    PENDING,
    QUEUED_STATES,
    RETRY_SCHEDULED,
    SCHEDULED,
    STATUS_CANCELLED,
    AlertState,
    Appointment,
    MetricSnapshot,
    SourceState,
    Staff,
    SyncAttempt,
    UTCDateTime,
)

CRITICAL = "critical"
WARNING = "warning"

#: alert id -> severity (product.md, "Alerts")
ALERT_RULES: dict[str, str] = {
    "stuck_pending": CRITICAL,
    "auth_failure": CRITICAL,
    "outage": CRITICAL,
    "ancient_actionable": CRITICAL,
    "low_success_rate": WARNING,
    "log_fallback": WARNING,
    "rate_limit_pressure": WARNING,
    "booking_drift": WARNING,
    "retry_off_schedule": WARNING,
    "source_down": CRITICAL,  # a warning until a source failed [[sources]] down_after polls in a row
}
#: alerts raised by events (stored in alert_state) rather than computed from the data
EVENT_ALERTS = ("log_fallback",)

ANCIENT_AFTER = timedelta(hours=24)  # the contract's ancient_failures threshold
#: a retry due further ahead than this was parked by something absurd (a hostile rate-limit reset)
RETRY_AHEAD_LIMIT = timedelta(hours=24)
AGE_BUCKETS = ("<1h", "1-24h", "1-7d", ">7d")


@dataclass
class Alert:
    id: str
    severity: str
    count: int
    message: str
    #: the Cal.com accounts it is about (a refused key); empty: not about one account
    accounts: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        if self.accounts:
            doc["accounts"] = list(self.accounts)
        else:
            del doc["accounts"]
        return doc


@dataclass
class SourceHealth:
    """One configured live source, as the header and ``status`` show it."""

    name: str
    state: str  # ok, down, never read
    failures: int
    lag_s: float | None  # since its last good poll
    down_since: datetime | None
    last_error: str | None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "failures": self.failures, "lag_s": self.lag_s,
                "down_since": clock.iso(self.down_since), "last_error": self.last_error}


@dataclass
class Metrics:
    failed: int
    pending: int
    manual_review: int
    ancient_failures: int
    success_rate_24h: float | None
    critical_alerts: int
    alerts: list[Alert]
    by_category: dict[str, int]
    generated_at: datetime
    by_age: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, int] = field(default_factory=dict)
    oldest_failure_by_category: dict[str, datetime | None] = field(default_factory=dict)
    success_rate_appointments: int = 0
    stuck_pending: int = 0
    sources: list[SourceHealth] = field(default_factory=list)  # [[sources]]: each one's health
    #: every Cal.com account: its shared budget's use and whether its sync is paused
    accounts: list[Any] = field(default_factory=list)

    @property
    def warning_alerts(self) -> int:
        return sum(1 for a in self.alerts if a.severity == WARNING)

    def check_exit_code(self) -> int:
        """Monitoring-plugin style: 0 healthy, 1 warning alerts, 2 critical alerts."""
        if self.critical_alerts:
            return 2
        return 1 if self.warning_alerts else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "failed": self.failed,
            "pending": self.pending,
            "manual_review": self.manual_review,
            "ancient_failures": self.ancient_failures,
            "success_rate_24h": self.success_rate_24h,
            "critical_alerts": self.critical_alerts,
            "alerts": [a.to_json() for a in self.alerts],
            "by_category": self.by_category,
            "generated_at": clock.iso(self.generated_at),
            "by_age": self.by_age,
            "by_kind": self.by_kind,
            "success_rate_appointments": self.success_rate_appointments,
            "oldest_failure_by_category": {k: clock.iso(v) for k, v in self.oldest_failure_by_category.items()},
            **({"sources": [src.to_json() for src in self.sources]} if self.sources else {}),
            "accounts": [a.to_json() for a in self.accounts],
        }


def _count(condition) -> Any:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _failure_groups(session: Session, now: datetime, settings: Settings) -> list[Any]:
    a = Appointment
    first = sa.func.coalesce(a.first_failed_at, sa.literal(now, UTCDateTime()))
    not_snoozed = sa.or_(a.snoozed_until.is_(None), a.snoozed_until <= now)
    actionable_after = now - timedelta(hours=settings.alerts.ancient_hours)
    stmt = (
        sa.select(
            a.category,
            sa.func.count().label("n"),
            _count(first < now - ANCIENT_AFTER).label("ancient"),
            _count(not_snoozed).label("not_snoozed"),
            _count(sa.and_(not_snoozed, first < actionable_after)).label("actionable_old"),
            _count(first >= now - timedelta(hours=1)).label("lt_1h"),
            _count(sa.and_(first < now - timedelta(hours=1), first >= now - timedelta(hours=24))).label("h1_24"),
            _count(sa.and_(first < now - timedelta(hours=24), first >= now - timedelta(days=7))).label("d1_7"),
            _count(first < now - timedelta(days=7)).label("gt_7d"),
            sa.func.min(a.first_failed_at).label("oldest"),
        )
        .where(a.sync_state == FAILED, a.status == SCHEDULED)
        .group_by(a.category)
    )
    return list(session.execute(stmt))


def _queue_counts(session: Session, now: datetime, settings: Settings) -> tuple[int, int]:
    a = Appointment
    stuck_before = now - timedelta(minutes=settings.alerts.stuck_pending_minutes)
    never_attempted = sa.or_(a.last_attempt_at.is_(None), a.last_attempt_at < a.queued_at)
    stmt = sa.select(
        sa.func.count(),
        _count(sa.and_(a.sync_state == PENDING, never_attempted, a.queued_at < stuck_before)),
    ).where(a.sync_state.in_(QUEUED_STATES))
    pending, stuck = session.execute(stmt).one()
    return int(pending), int(stuck)


def _success_rate(session: Session, now: datetime) -> tuple[float | None, int]:
    s = SyncAttempt
    latest = (
        sa.select(s.appointment_id, sa.func.max(s.id).label("mid"))
        .where(s.at >= now - timedelta(hours=24))
        .group_by(s.appointment_id)
        .subquery()
    )
    stmt = sa.select(sa.func.count(), _count(s.outcome == OUTCOME_SUCCESS)).select_from(
        sa.join(s, latest, s.id == latest.c.mid)
    )
    total, ok = session.execute(stmt).one()
    total, ok = int(total), int(ok)
    return (round(ok / total, 4) if total else None), total


def _latest_calls(session: Session, limit: int) -> list[tuple[str | None, int | None, datetime]]:
    s = SyncAttempt
    stmt = (
        sa.select(s.category, s.http_status, s.at)
        .where(s.outcome != OUTCOME_PREFLIGHT)
        .order_by(s.id.desc())
        .limit(limit)
    )
    return [tuple(r) for r in session.execute(stmt)]


def _account_of_latest_call(session: Session) -> str | None:
    s, a = SyncAttempt, Appointment
    stmt = (sa.select(Staff.calcom_account).select_from(s).join(a, a.id == s.appointment_id)
            .outerjoin(Staff, Staff.id == a.staff_id).where(s.outcome != OUTCOME_PREFLIGHT)
            .order_by(s.id.desc()).limit(1))
    return session.execute(stmt).scalar_one_or_none()


def _rate_limited_count(session: Session, now: datetime, settings: Settings) -> int:
    s = SyncAttempt
    since = now - timedelta(minutes=settings.alerts.rate_limit_window_minutes)
    stmt = sa.select(sa.func.count()).where(s.at >= since, s.http_status == 429)
    return int(session.execute(stmt).scalar_one())


def compute(session: Session, settings: Settings, now: datetime | None = None) -> Metrics:
    now = now or clock.now()
    manual = set(cats.manual_categories(auto_backfill_email=settings.remediation.auto_backfill_email))

    failed = ancient = manual_review = actionable_old = 0
    by_category: dict[str, int] = {}
    oldest: dict[str, datetime | None] = {}
    by_age = dict.fromkeys(AGE_BUCKETS, 0)
    by_kind = dict.fromkeys(cats.KINDS, 0)
    for row in _failure_groups(session, now, settings):
        category = row.category or cats.UNKNOWN
        failed += row.n
        ancient += row.ancient
        by_category[category] = by_category.get(category, 0) + row.n
        oldest[category] = row.oldest
        by_kind[cats.kind_of(category)] += row.n
        for bucket, value in zip(AGE_BUCKETS, (row.lt_1h, row.h1_24, row.d1_7, row.gt_7d)):
            by_age[bucket] += value
        if category in manual:
            manual_review += row.not_snoozed
            actionable_old += row.actionable_old

    pending, stuck = _queue_counts(session, now, settings)
    rate, rate_n = _success_rate(session, now)
    sources = source_health(session, settings, now)
    alerts = _alerts(session, settings, now, stuck=stuck, actionable_old=actionable_old, rate=rate, rate_n=rate_n,
                     sources=sources)
    return Metrics(
        failed=failed,
        pending=pending,
        manual_review=manual_review,
        ancient_failures=ancient,
        success_rate_24h=rate,
        critical_alerts=sum(1 for a in alerts if a.severity == CRITICAL),
        alerts=alerts,
        by_category=dict(sorted(by_category.items(), key=lambda kv: (-kv[1], kv[0]))),
        generated_at=now,
        by_age=by_age,
        by_kind=by_kind,
        oldest_failure_by_category=oldest,
        success_rate_appointments=rate_n,
        sources=sources,
        stuck_pending=stuck,
        accounts=budget.account_states(session, settings),
    )


def _alerts(
    session: Session, settings: Settings, now: datetime, *, stuck: int, actionable_old: int,
    rate: float | None, rate_n: int, sources: list[SourceHealth],
) -> list[Alert]:
    cfg = settings.alerts
    alerts: list[Alert] = []

    def add(alert_id: str, count: int, message: str, accounts: tuple[str, ...] = ()) -> None:
        alerts.append(Alert(alert_id, ALERT_RULES[alert_id], count, message, accounts))

    latest = _latest_calls(session, cfg.outage_consecutive_failures)
    refused = sorted(p.account for p in accounts.paused(session).values()
                     if (p.reason or "").startswith(accounts.AUTH_PAUSE))
    if refused:  # several accounts: only these are paused, the others go on
        add("auth_failure", len(refused), f"Cal.com refused the API key of account{'s' if len(refused) > 1 else ''} "
                                          f"{', '.join(refused)}: {'their' if len(refused) > 1 else 'its'} sync is "
                                          "paused until the key is fixed; the other accounts go on", tuple(refused))
    elif latest and latest[0][0] == "auth":
        # the refusal is recorded a moment before the pause: with several accounts, name it already
        account = _account_of_latest_call(session) if len(settings.accounts) > 1 else None
        if account is not None:
            add("auth_failure", 1, f"Cal.com refused the API key of account {account} (HTTP {latest[0][1]}) at "
                                   f"{clock.iso(latest[0][2])}: its sync is paused until the key is fixed; the "
                                   "other accounts go on", (account,))
        else:
            add("auth_failure", 1, f"Cal.com refused the API key (HTTP {latest[0][1]}) at {clock.iso(latest[0][2])}; "
                                   "sync is paused until the key is fixed")
    if len(latest) >= cfg.outage_consecutive_failures and all(c == "transient" for c, _, _ in latest):
        add("outage", len(latest), f"the last {len(latest)} Cal.com calls failed transiently (5xx, timeouts, "
                                   "connection errors): Cal.com may be down; retries back off")
    if stuck:
        add("stuck_pending", stuck, f"{stuck} appointment{'s' if stuck != 1 else ''} pending for more than "
                                    f"{_num(cfg.stuck_pending_minutes)} min without an attempt: is the sync job running?")
    if actionable_old:
        add("ancient_actionable", actionable_old,
            f"{actionable_old} failure{'s' if actionable_old != 1 else ''} needing a human "
            f"{'are' if actionable_old != 1 else 'is'} older than {_num(cfg.ancient_hours)} h")
    if rate is not None and rate_n >= cfg.low_success_min_appointments and rate < cfg.low_success_rate:
        add("low_success_rate", rate_n, f"success rate {rate:.1%} over 24 h ({rate_n} appointments), "
                                        f"below {cfg.low_success_rate:.0%}")
    limited = _rate_limited_count(session, now, settings)
    if limited >= cfg.rate_limit_pressure_count:
        add("rate_limit_pressure", limited, f"{limited} rate-limit answer{'s' if limited != 1 else ''} (429) "
                                            f"in the last {_num(cfg.rate_limit_window_minutes)} min")
    drifted = int(session.execute(sa.select(sa.func.count()).select_from(Appointment).where(
        Appointment.drift.is_not(None), Appointment.status.in_((SCHEDULED, STATUS_CANCELLED)))).scalar_one())
    if drifted:
        add("booking_drift", drifted, f"{drifted} booked appointment{'s' if drifted != 1 else ''} no longer "
                                      "match Cal.com (cancelled or moved there, or still live there after a "
                                      "cancellation); see `synconsole list --drift`")
    overdue, ahead = _off_schedule(session, settings, now)
    if overdue or ahead:
        parts = []
        if overdue:
            parts.append(f"{overdue} retr{'ies' if overdue != 1 else 'y'} overdue by more than "
                         f"{_num(cfg.stuck_pending_minutes)} min (is the sync job running?)")
        if ahead:
            parts.append(f"{ahead} retr{'ies' if ahead != 1 else 'y'} due more than "
                         f"{_num(_retry_ahead_limit(settings).total_seconds() / 3600)} h ahead")
        add("retry_off_schedule", overdue + ahead, "; ".join(parts) + ": see `synconsole list --state retry_scheduled`")
    alerts += _source_alerts(sources, settings)
    for state in session.execute(
        sa.select(AlertState).where(AlertState.source == "event", AlertState.active.is_(True))
    ).scalars():
        alerts.append(Alert(state.id, state.severity, state.count, state.message))
    order = list(ALERT_RULES)
    alerts.sort(key=lambda a: (a.severity != CRITICAL, order.index(a.id) if a.id in order else 99))
    return alerts


def _retry_ahead_limit(settings: Settings) -> timedelta:
    return max(RETRY_AHEAD_LIMIT, timedelta(seconds=2 * settings.sync.backoff_max_s))


def _off_schedule(session: Session, settings: Settings, now: datetime) -> tuple[int, int]:
    """Scheduled retries far overdue (nobody runs the sync) or due absurdly far ahead (parked)."""
    a = Appointment
    overdue_before = now - timedelta(minutes=settings.alerts.stuck_pending_minutes)
    ahead_after = now + _retry_ahead_limit(settings)
    stmt = sa.select(_count(a.next_retry_at < overdue_before), _count(a.next_retry_at > ahead_after)).where(
        a.sync_state == RETRY_SCHEDULED)
    overdue, ahead = session.execute(stmt).one()
    return int(overdue or 0), int(ahead or 0)


def source_health(session: Session, settings: Settings, now: datetime) -> list[SourceHealth]:
    """Every configured source's health, from what its polls recorded."""
    if not settings.sources:
        return []
    names = [src.name for src in settings.sources]
    found = {st.id: st for st in session.execute(sa.select(SourceState).where(SourceState.id.in_(names))).scalars()}
    out = []
    for name in names:
        st = found.get(name)
        if st is None:
            out.append(SourceHealth(name, "never read", 0, None, None, None))
            continue
        state = "down" if st.failures else ("ok" if st.last_ok_at else "never read")
        lag = round((now - st.last_ok_at).total_seconds(), 1) if st.last_ok_at else None
        out.append(SourceHealth(name, state, st.failures, lag, st.down_since, st.last_error))
    return out


def _source_alerts(health: list[SourceHealth], settings: Settings) -> list[Alert]:
    """``source_down``: configured sources whose last polls failed; critical once one has failed
    ``down_after`` polls in a row."""
    down = [h for h in health if h.failures]
    if not down:
        return []
    limits = {src.name: src.down_after for src in settings.sources}
    critical = any(h.failures >= limits[h.name] for h in down)
    parts = []
    for h in down:
        since = f" since {clock.iso(h.down_since)}" if h.down_since else ""
        parts.append(f"{h.name} ({h.failures} failed poll{'s' if h.failures != 1 else ''}{since}: "
                     f"{(h.last_error or '?')[:160]})")
    message = (f"{len(down)} source{'s' if len(down) != 1 else ''} cannot be read: " + "; ".join(parts)
               + "; see `synconsole sources`")
    return [Alert("source_down", CRITICAL if critical else WARNING, len(down), message)]


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


# --- event alerts -------------------------------------------------------------------------------


def alert_row(session: Session, alert_id: str, *, source: str) -> AlertState:
    """The alert's row, created if missing (safe when several processes do it at once)."""
    from synconsole.core.db import row_for_update

    return row_for_update(session, AlertState, alert_id, severity=ALERT_RULES.get(alert_id, WARNING),
                          source=source, active=False, count=0, message="")


def raise_event_alert(session: Session, alert_id: str, message: str, *, now: datetime | None = None) -> bool:
    """Activate an event alert (e.g. log_fallback). Returns True if it was not active before."""
    now = now or clock.now()
    state = alert_row(session, alert_id, source="event")
    was_active = state.active
    state.active = True
    state.count = (state.count if was_active else 0) + 1
    state.message = message
    state.last_seen = now
    state.resolved_at = None
    if not was_active:
        state.first_seen = now
        alerthistory.record(session, alert_id, alerthistory.FIRED, severity=state.severity, count=state.count,
                            message=message, at=now)
    return not was_active


def clear_event_alert(session: Session, alert_id: str, *, now: datetime | None = None) -> bool:
    state = session.get(AlertState, alert_id)
    if state is None or not state.active:
        return False
    state.active = False
    state.resolved_at = now or clock.now()
    alerthistory.record(session, alert_id, alerthistory.RESOLVED, severity=state.severity, count=state.count,
                        message=state.message, at=state.resolved_at)
    return True


# --- snapshots ----------------------------------------------------------------------------------


def store_snapshot(session: Session, metrics: Metrics) -> MetricSnapshot:
    snap = MetricSnapshot(
        at=metrics.generated_at,
        failed=metrics.failed,
        pending=metrics.pending,
        manual_review=metrics.manual_review,
        ancient_failures=metrics.ancient_failures,
        success_rate_24h=metrics.success_rate_24h,
        critical_alerts=metrics.critical_alerts,
        data=metrics.to_json(),
    )
    session.add(snap)
    return snap
