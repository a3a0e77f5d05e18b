"""Shared job state in the database: pause flags and last runs, seen by every process."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from synconsole.core import audit, clock
from synconsole.core.db import Database, row_for_update
from synconsole.core.models import JobState
from synconsole.jobs.registry import JOB_IDS, check_job

AUTH_PAUSE = "auth"


@dataclass
class JobView:
    id: str
    paused: bool
    paused_by: str | None
    paused_reason: str | None
    interval_s: float
    last_run_at: datetime | None
    last_finished_at: datetime | None
    last_result: str | None
    last_ok: bool | None
    last_duration_ms: int | None
    last_worker: str | None
    runs: int
    next_run_at: datetime | None
    running: bool = False

    def to_json(self) -> dict:
        return {
            "id": self.id, "paused": self.paused, "paused_by": self.paused_by, "paused_reason": self.paused_reason,
            "interval_s": self.interval_s, "last_run_at": clock.iso(self.last_run_at),
            "last_finished_at": clock.iso(self.last_finished_at), "last_result": self.last_result,
            "last_ok": self.last_ok, "last_duration_ms": self.last_duration_ms, "last_worker": self.last_worker,
            "runs": self.runs, "next_run_at": clock.iso(self.next_run_at), "running": self.running,
        }


def _get(session: Session, job_id: str) -> JobState:
    return row_for_update(session, JobState, job_id, paused=False, runs=0)


def get(db: Database, job_id: str) -> JobState:
    with db.session() as session:
        return session.get(JobState, job_id) or JobState(id=job_id)


def all_states(db: Database) -> dict[str, JobState]:
    with db.session() as session:
        found = {s.id: s for s in session.exec(select(JobState))}
    return {j: found.get(j) or JobState(id=j) for j in JOB_IDS}


def pause(db: Database, job_id: str, *, actor: str, reason: str | None = None) -> bool:
    """Pause a job everywhere. Returns False if it was already paused."""
    check_job(job_id)
    with db.write() as session:
        state = _get(session, job_id)
        if state.paused:
            return False
        state.paused, state.paused_by, state.paused_reason = True, actor, reason
        audit.record(session, actor=actor, action="pause_job", reason=reason,
                     before={"job": job_id, "paused": False}, after={"job": job_id, "paused": True})
        session.commit()
    return True


def resume(db: Database, job_id: str, *, actor: str, reason: str | None = None) -> bool:
    check_job(job_id)
    with db.write() as session:
        state = _get(session, job_id)
        if not state.paused:
            return False
        before = {"job": job_id, "paused": True, "paused_by": state.paused_by, "paused_reason": state.paused_reason}
        state.paused, state.paused_by, state.paused_reason = False, None, None
        audit.record(session, actor=actor, action="resume_job", reason=reason, before=before,
                     after={"job": job_id, "paused": False})
        session.commit()
    return True


def record_run(db: Database, job_id: str, *, started: datetime, finished: datetime, ok: bool, result: str,
               worker: str) -> None:
    with db.write() as session:
        state = _get(session, job_id)
        state.last_run_at, state.last_finished_at = started, finished
        state.last_ok, state.last_result = ok, result[:2000]
        state.last_duration_ms = int((finished - started).total_seconds() * 1000)
        state.last_worker = worker
        state.runs = (state.runs or 0) + 1
        session.commit()
