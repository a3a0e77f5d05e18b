"""One delivery round: owed messages into the outbox, then send what this worker claims."""

from __future__ import annotations

import logging

from synconsole.config import Settings
from synconsole.core import clock
from synconsole.core.db import Database
from synconsole.core.logsetup import log
from synconsole.notify import outbox, send

logger = logging.getLogger("synconsole.notify")


def deliver_round(db: Database, settings: Settings, worker: str) -> str:
    if not settings.notify:
        return "no [[notify]] targets"
    outbox.enqueue(db, settings)
    targets = {t.name: t for t in settings.notify}
    sent = 0
    for row in outbox.claim(db, worker):
        target = targets.get(row.target)
        if target is None:  # a target removed from the config: the row stays, nobody sends it
            ok, error = False, f"target {row.target!r} is no longer configured"
        else:
            ok, error = send.deliver(target, row.title, row.body)
        status = outbox.finish(db, row.id, ok=ok, error=error)
        if ok:
            sent += 1
            log(logger, logging.INFO, "notification sent", target=row.target, alert=row.alert_id, kind=row.kind,
                latency_ms=int((clock.now() - row.created_at).total_seconds() * 1000))
        else:
            log(logger, logging.WARNING, "notification not delivered", target=row.target, alert=row.alert_id,
                kind=row.kind, status=status, error=error)
    parts = [f"notify: {sent} sent"]
    backlog = outbox.backlog(db)
    if backlog.retrying or backlog.failed:
        parts.append(f"{backlog.retrying} retrying, {backlog.failed} failed "
                     f"(last: {backlog.target}: {backlog.last_error})")
    return ", ".join(parts)
