"""The alerts job (evaluate the rules, keep their state and transitions) and the snapshot job."""

from __future__ import annotations

import logging
from datetime import datetime

from synconsole.config import Settings
from synconsole.core import alerthistory, clock, metrics
from synconsole.core.db import Database, refresh_planner_statistics
from synconsole.core.logsetup import log
from synconsole.core.models import AlertState

logger = logging.getLogger("synconsole.alerts")
ACTOR = "job:alerts"


def evaluate_alerts(db: Database, settings: Settings, now: datetime | None = None) -> str:
    """Compute the alerts and record which became active or resolved since the last evaluation."""
    now = now or clock.now()
    with db.write() as session:
        m = metrics.compute(session, settings, now)
        active = {a.id: a for a in m.alerts}
        raised, resolved = [], []
        for alert_id, severity in metrics.ALERT_RULES.items():
            if alert_id in metrics.EVENT_ALERTS:
                continue
            alert = active.get(alert_id)
            if alert is not None:
                state = metrics.alert_row(session, alert_id, source="computed")
                if not state.active:
                    state.first_seen, state.resolved_at = now, None
                    raised.append(alert_id)
                    alerthistory.record(session, alert_id, alerthistory.FIRED, severity=severity, count=alert.count,
                                        message=alert.message, actor=ACTOR, at=now, accounts=alert.accounts)
                state.active, state.count, state.message, state.last_seen = True, alert.count, alert.message, now
            elif session.get(AlertState, alert_id) is not None:
                # locked, so that of several processes evaluating at once only one sees the transition
                state = metrics.alert_row(session, alert_id, source="computed")
                if state.active:
                    state.active, state.resolved_at = False, now
                    resolved.append(alert_id)
                    alerthistory.record(session, alert_id, alerthistory.RESOLVED, severity=severity,
                                        count=state.count, message=state.message, actor=ACTOR, at=now)
        session.commit()
    for alert_id in raised:
        alert = active[alert_id]
        log(logger, logging.WARNING if alert.severity == metrics.CRITICAL else logging.INFO, "alert raised",
            alert=alert_id, severity=alert.severity, count=alert.count, message=alert.message)
    for alert_id in resolved:
        log(logger, logging.INFO, "alert resolved", alert=alert_id)
    parts = [f"{m.critical_alerts} critical, {m.warning_alerts} warning"]
    if raised:
        parts.append("raised " + ", ".join(raised))
    if resolved:
        parts.append("resolved " + ", ".join(resolved))
    return "; ".join(parts)


def take_snapshot(db: Database, settings: Settings, now: datetime | None = None) -> str:
    with db.write() as session:
        m = metrics.compute(session, settings, now)
        metrics.store_snapshot(session, m)
        session.commit()
    refresh_planner_statistics(db)
    rate = "n/a" if m.success_rate_24h is None else f"{m.success_rate_24h:.1%}"
    return (f"stored: failed {m.failed}, pending {m.pending}, manual review {m.manual_review}, "
            f"ancient {m.ancient_failures}, success 24h {rate}, critical alerts {m.critical_alerts}")
