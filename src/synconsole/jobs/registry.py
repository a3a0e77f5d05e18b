"""The one table of background jobs: id, what it does, its interval setting, when it first runs, its runner.

The worker, the demo, the console, ``jobs`` and ``/readyz`` all read it; a new job is one line here
and its runner. Runners are the host's methods, named here and looked up when a job runs (the host
imports this table, so the table cannot import the host).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Awaitable, Callable

from synconsole.config import Settings
from synconsole.errors import UsageError

if TYPE_CHECKING:
    from synconsole.jobs.host import JobHost


@dataclass(frozen=True)
class Job:
    id: str
    description: str
    interval: Callable[[Settings], float]
    #: the JobHost method that runs it once and returns its one-line result
    runner: str
    #: first run as the host starts; the others wait one interval (a fresh console is not a cron)
    at_once: bool = False
    #: only with ``[[sources]]``
    needs_sources: bool = False

    def run(self, host: JobHost) -> Awaitable[str]:
        return getattr(host, self.runner)()


JOBS: dict[str, Job] = {job.id: job for job in (
    Job("sync", "push due appointments to Cal.com", lambda s: s.jobs.sync_interval_s, "_run_sync", at_once=True),
    Job("cleanup", "cancel (or flag) failures whose start has passed; placeholder emails when auto_backfill_email",
        lambda s: s.jobs.cleanup_interval_s, "_run_cleanup"),
    Job("alerts", "evaluate the alert rules", lambda s: s.jobs.alerts_interval_s, "_run_alerts", at_once=True),
    Job("snapshot", "store the metrics for trends and reports", lambda s: s.jobs.snapshot_interval_s,
        "_run_snapshot"),
    Job("reconcile", "compare booked appointments with Cal.com", lambda s: s.jobs.reconcile_interval_s,
        "_run_reconcile"),
    Job("ingest", "read the platform's databases ([[sources]])",
        lambda s: min((src.poll_interval_s for src in s.sources), default=60.0), "_run_ingest", at_once=True,
        needs_sources=True),
)}
JOB_IDS = tuple(JOBS)


def job_ids(settings: Settings) -> tuple[str, ...]:
    """The jobs these settings run: ``ingest`` only when there are ``[[sources]]``."""
    return tuple(j for j, job in JOBS.items() if settings.sources or not job.needs_sources)


def intervals(settings: Settings) -> dict[str, float]:
    """Each job these settings run, and its interval in seconds."""
    return {j: JOBS[j].interval(settings) for j in job_ids(settings)}


def check_job(job_id: str) -> str:
    if job_id not in JOBS:
        raise UsageError(f"unknown job {job_id!r}: expected one of {', '.join(JOB_IDS)}")
    return job_id
