"""``GET /metrics``: Prometheus exposition. A custom collector reads the database at each scrape:
the dashboard numbers from :func:`synconsole.core.metrics.compute` (the very function behind
``synconsole status --json``), and set-based counts of attempts, Cal.com call durations, rate
budgets, jobs, sources and webhook events. Names follow Prometheus conventions: ``synconsole_``,
base units (seconds, ratios), ``_total`` for counters."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Iterator
from datetime import datetime

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from synconsole.config import Settings
from synconsole.core import budget, clock, metrics, webhooks
from synconsole.core.db import Database
from synconsole.core.models import JobState, SyncAttempt

#: Cal.com call duration buckets, seconds
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _attempt_counts(session) -> list[tuple[str, str, int]]:
    s = SyncAttempt
    rows = session.execute(sa.select(s.outcome, s.category, sa.func.count()).group_by(s.outcome, s.category))
    return [(outcome, category or "none", int(n)) for outcome, category, n in rows]


def _durations(session) -> tuple[list[int], int, float]:
    """Cumulative counts per bucket, the count and the sum (seconds) of calls with a duration."""
    d = SyncAttempt.duration_ms
    cols = [sa.func.coalesce(sa.func.sum(sa.case((d <= int(b * 1000), 1), else_=0)), 0) for b in BUCKETS]
    row = session.execute(sa.select(*cols, sa.func.count(d), sa.func.coalesce(sa.func.sum(d), 0))
                          .where(d.is_not(None))).one()
    return [int(v) for v in row[:len(BUCKETS)]], int(row[len(BUCKETS)]), float(row[-1]) / 1000.0


class StatusCollector(Collector):
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def describe(self):  # no describe-time scrape: the registry must not query the database on register
        return []

    def collect(self) -> Iterator:
        now = clock.now()
        yield _gauge("synconsole_metrics_computed_timestamp_seconds", "When these numbers were read from the "
                     "database (Unix time; /metrics answers from a result refreshed every [server] "
                     "metrics_refresh_s)", time.time())
        with self.db.session() as session:
            m = metrics.compute(session, self.settings, now)
            yield from _status_families(m)
            yield from _attempt_families(session)
            yield from _job_families(session, now)
        yield from _budget_families(self.db)
        yield from _webhook_families(self.db)


def _gauge(name: str, doc: str, value: float | None, labels: dict[str, str] | None = None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=list(labels or {}))
    if value is not None:
        family.add_metric(list((labels or {}).values()), value)
    return family


def _status_families(m: metrics.Metrics) -> Iterator:
    yield _gauge("synconsole_appointments_failed", "Failed appointments (scheduled, failed)", m.failed)
    yield _gauge("synconsole_appointments_pending", "Appointments waiting for the sync", m.pending)
    yield _gauge("synconsole_appointments_manual_review", "Failures that need a human", m.manual_review)
    yield _gauge("synconsole_appointments_ancient_failures", "Failures older than 24 h", m.ancient_failures)
    yield _gauge("synconsole_appointments_stuck_pending", "Pending without an attempt for too long", m.stuck_pending)
    yield _gauge("synconsole_success_rate_24h_ratio", "Share of appointments whose latest attempt in 24 h succeeded "
                 "(absent without attempts)", m.success_rate_24h)
    yield _gauge("synconsole_success_rate_24h_appointments", "Appointments the success rate is computed over",
                 m.success_rate_appointments)
    yield _gauge("synconsole_alerts_critical", "Active critical alerts", m.critical_alerts)
    family = GaugeMetricFamily("synconsole_failures", "Failed appointments by category", labels=["category"])
    for category, n in m.by_category.items():
        family.add_metric([category], n)
    yield family
    family = GaugeMetricFamily("synconsole_failures_by_age", "Failed appointments by age of the first failure",
                               labels=["age"])
    for age, n in m.by_age.items():
        family.add_metric([age], n)
    yield family
    family = GaugeMetricFamily("synconsole_failures_by_kind", "Failed appointments by kind of category",
                               labels=["kind"])
    for kind, n in m.by_kind.items():
        family.add_metric([kind], n)
    yield family
    active = GaugeMetricFamily("synconsole_alert_active", "1 for every active alert", labels=["alert", "severity"])
    count = GaugeMetricFamily("synconsole_alert_count", "What an active alert counts", labels=["alert", "severity"])
    for alert in m.alerts:
        active.add_metric([alert.id, alert.severity], 1)
        count.add_metric([alert.id, alert.severity], alert.count)
    yield active
    yield count
    lag = GaugeMetricFamily("synconsole_source_lag_seconds", "Seconds since a source's last good poll",
                            labels=["source"])
    failures = GaugeMetricFamily("synconsole_source_failures", "Failed polls in a row", labels=["source"])
    for src in m.sources:
        lag.add_metric([src.name], src.lag_s if src.lag_s is not None else math.nan)
        failures.add_metric([src.name], src.failures)
    yield lag
    yield failures


def _attempt_families(session) -> Iterator:
    family = CounterMetricFamily("synconsole_sync_attempts", "Sync attempts by outcome and category",
                                 labels=["outcome", "category"])
    for outcome, category, n in _attempt_counts(session):
        family.add_metric([outcome, category], n)
    yield family
    buckets, count, total = _durations(session)
    histogram = HistogramMetricFamily("synconsole_calcom_request_duration_seconds", "Duration of Cal.com calls")
    histogram.add_metric([], [*((str(b), n) for b, n in zip(BUCKETS, buckets)), ("+Inf", count)], total)
    yield histogram


def _job_families(session, now: datetime) -> Iterator:
    age = GaugeMetricFamily("synconsole_job_last_run_age_seconds", "Seconds since a job's last run finished",
                            labels=["job"])
    ok = GaugeMetricFamily("synconsole_job_last_run_ok", "1 if a job's last run succeeded, 0 if it failed",
                           labels=["job"])
    paused = GaugeMetricFamily("synconsole_job_paused", "1 if a job is paused", labels=["job"])
    runs = CounterMetricFamily("synconsole_job_runs", "Runs of a job", labels=["job"])
    for state in session.execute(sa.select(JobState).order_by(JobState.id)).scalars():
        if state.last_finished_at is not None:
            age.add_metric([state.id], max(0.0, (now - state.last_finished_at).total_seconds()))
        if state.last_ok is not None:
            ok.add_metric([state.id], 1 if state.last_ok else 0)
        paused.add_metric([state.id], 1 if state.paused else 0)
        runs.add_metric([state.id], state.runs or 0)
    yield from (age, ok, paused, runs)


def _budget_families(db: Database) -> Iterator:
    tokens = GaugeMetricFamily("synconsole_calcom_rate_budget_tokens", "Requests an account may send now",
                               labels=["account"])
    limit = GaugeMetricFamily("synconsole_calcom_rate_limit_per_minute", "An account's request budget per minute",
                              labels=["account"])
    blocked = GaugeMetricFamily("synconsole_calcom_blocked_seconds", "Seconds an account stays blocked by Cal.com",
                                labels=["account"])
    limited = CounterMetricFamily("synconsole_calcom_rate_limited", "429 answers Cal.com gave an account",
                                  labels=["account"])
    for account, state in sorted(budget.states(db).items()):
        tokens.add_metric([account], state.tokens)
        limit.add_metric([account], state.limit_per_minute)
        blocked.add_metric([account], state.blocked_for_s)
        limited.add_metric([account], state.requests_429)
    yield from (tokens, limit, blocked, limited)


def _webhook_families(db: Database) -> Iterator:
    family = CounterMetricFamily("synconsole_webhook_events", "Cal.com webhook events recorded, by trigger and "
                                 "outcome (unknown: no appointment has the booking)", labels=["trigger", "outcome"])
    for (trigger, outcome), n in sorted(webhooks.counts_by_outcome(db).items()):
        family.add_metric([trigger, outcome], n)
    yield family


def registry_for(db: Database, settings: Settings) -> tuple["Scrapes", Counter]:
    """What ``/metrics`` answers (registries of its own, not the process-global one), and the
    counter of webhook requests by result, which counts refusals that never reach the database."""
    database = CollectorRegistry(auto_describe=False)
    database.register(StatusCollector(db, settings))
    live = CollectorRegistry(auto_describe=False)
    requests = Counter("synconsole_webhook_requests", "Webhook requests by result (accepted, duplicate, "
                       "missing_signature, bad_signature, unsigned, too_large, bad_body, read_only)", ["result"],
                       registry=live)
    return Scrapes(database, live, settings.server.metrics_refresh_s), requests


class Scrapes:
    """What ``/metrics`` answers. At a million appointments one computation reads the whole
    appointment and attempt tables (about a second): done at every scrape, it would make each
    scrape that slow and let several scrapers multiply the database's load. So, with
    ``refresh_s`` > 0, the exposition is recomputed in the background every ``refresh_s`` while
    someone scrapes, and a scrape answers at once from the last result (its age is in
    ``synconsole_metrics_computed_timestamp_seconds``). Nobody scraping for five minutes: no work;
    the next scrape computes afresh. ``refresh_s`` = 0 computes at every scrape."""

    #: no scrape for this long: the refresh rests (a scraper every 60 s keeps it going)
    IDLE_S = 300.0

    def __init__(self, registry: CollectorRegistry, live: CollectorRegistry, refresh_s: float) -> None:
        self.registry = registry  # read from the database: cached
        self.live = live  # the process's own counters: as they are at each scrape
        self.refresh_s = refresh_s
        self._body: bytes | None = None
        self._at = 0.0
        self._asked = 0.0
        self._lock = threading.Lock()

    def _fresh(self, now: float) -> bool:
        return self._body is not None and now - self._at <= 2 * self.refresh_s

    def answer(self) -> bytes:
        """The exposition (blocking: call it in a thread)."""
        now = time.monotonic()
        self._asked = now
        body = self._body if self.refresh_s > 0 and self._fresh(now) else None
        return (body or self.compute(reuse_within_s=0.5 if self.refresh_s > 0 else 0)) + generate_latest(self.live)

    def compute(self, *, reuse_within_s: float = 0.5) -> bytes:
        """Read the database now; a result another thread got while this one waited for the lock
        (less than ``reuse_within_s`` old) is taken instead."""
        with self._lock:
            if self._body is not None and time.monotonic() - self._at < reuse_within_s:
                return self._body
            body = generate_latest(self.registry)
            self._body, self._at = body, time.monotonic()
            return body

    async def refresh(self) -> None:
        """The background loop (cancelled with the server)."""
        if self.refresh_s <= 0:
            return
        while True:
            await asyncio.sleep(self.refresh_s)
            if self._body is not None and time.monotonic() - self._asked <= max(self.IDLE_S, 5 * self.refresh_s):
                try:
                    await asyncio.to_thread(self.compute)
                except Exception:  # noqa: BLE001 - the next scrape computes (and reports) it itself
                    self._body = None
