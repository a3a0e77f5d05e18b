"""``/healthz`` (the process answers) and ``/readyz`` (the database answers, its schema is the one
this synconsole needs, and no job that used to run has stopped running)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from synconsole.config import Settings
from synconsole.core import clock
from synconsole.core.db import Database, current_revision, head_revision
from synconsole.core.models import JobState

#: a job is stuck when its last run finished longer ago than this many of its intervals
STUCK_INTERVALS = 3
STUCK_MIN_S = 120.0


def job_intervals(settings: Settings) -> dict[str, float]:
    from synconsole.jobs.registry import intervals

    return intervals(settings)


def readiness(db: Database, settings: Settings, now: datetime | None = None) -> tuple[bool, dict]:
    now = now or clock.now()
    checks: dict[str, dict] = {}
    try:
        with db.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        checks["database"] = {"ok": True}
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; the type says enough
        checks["database"] = {"ok": False, "message": f"database unreachable ({type(exc).__name__})"}
        return False, checks
    current, head = current_revision(db), head_revision()
    checks["migrations"] = {"ok": current == head, "current": current, "head": head}
    stuck = []
    with db.session() as session:
        states = {s.id: s for s in session.execute(sa.select(JobState)).scalars()}
    for job, interval in job_intervals(settings).items():
        state = states.get(job)
        if state is None or state.paused or state.last_finished_at is None:
            continue  # never run here (serve alone), or paused on purpose
        age = (now - state.last_finished_at).total_seconds()
        if age > max(STUCK_INTERVALS * interval, STUCK_MIN_S):
            stuck.append({"job": job, "last_finished_s_ago": round(age, 1)})
    checks["jobs"] = {"ok": not stuck, "stuck": stuck}
    return all(c["ok"] for c in checks.values()), checks
