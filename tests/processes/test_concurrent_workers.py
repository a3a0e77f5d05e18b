"""Three worker processes on one database (a SQLite file, a real PostgreSQL): every appointment
is claimed by exactly one of them, booked exactly once, and SQLite never says "database is locked"."""

from __future__ import annotations

import threading
from collections import defaultdict

import pytest
from sqlmodel import select

from synconsole.simulator import Faults
from synconsole.core import clock
from synconsole.core.db import open_database
from synconsole.core.models import JobState
from synconsole.jobs import state

from tests.processes.support import (
    appointment_ids,
    assert_all_booked_once,
    import_rows,
    log_problems,
    run_cli,
    scenario,
    status_json,
    wait_for,
    while_running,
    write_config,
)

N = 300
WORKERS = 3


@pytest.mark.slow
def test_three_workers_claim_every_appointment_exactly_once(db_url, tmp_path, procs, make_sim, view_of):
    sim = make_sim(Faults(latency_s=0.1))
    configs = [
        # a lease far longer than the test: a row can only change hands through a bug, never by expiry
        write_config(tmp_path / f"worker-{n}.toml", db_url=db_url, sim_url=sim.url,
                     log_path=tmp_path / f"worker-{n}.log", sync={"batch_size": 20, "lease_s": 3600})
        for n in range(WORKERS)
    ]
    # The schema first (three processes creating it at once is test_startup's subject), then all
    # three workers start together, then the work arrives: each gets a fair chance to claim.
    created = run_cli("db", "upgrade", "--config", str(configs[0]), cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    workers = [procs.start(f"worker-{n}", "worker", "--config", str(cfg), log=tmp_path / f"worker-{n}.log")
               for n, cfg in enumerate(configs)]
    for w in workers:
        wait_for(lambda: "running:" in w.stderr(), timeout=60, what=f"{w.name} to start", procs=workers)
    ids = appointment_ids(N)
    import_rows(configs[0], scenario(N), tmp_path)
    view = view_of(db_url)
    wait_for(lambda: view.synced() == N, timeout=120, what=f"all {N} appointments synced", procs=workers)

    # From the attempt log: one attempt per appointment, a success, by one worker.
    attempts = view.attempts()
    by_appointment: dict[str, list] = defaultdict(list)
    for a in attempts:
        by_appointment[a.appointment_id].append(a)
    assert sorted(by_appointment) == sorted(ids)
    several = {i: [(a.worker, a.outcome) for a in rows] for i, rows in by_appointment.items() if len(rows) != 1}
    assert not several, f"appointments attempted more than once: {dict(list(several.items())[:5])}"
    assert {a.outcome for a in attempts} == {"success"}
    per_worker: dict[str, int] = defaultdict(int)
    for a in attempts:
        per_worker[a.worker] += 1
    assert len(per_worker) == WORKERS, f"every worker should have taken a share: {dict(per_worker)}"

    # From Cal.com: exactly one booking each, and the uid each row holds is that booking's.
    assert_all_booked_once(view, sim.url, ids)
    assert status_json(configs[0], tmp_path)["pending"] == 0

    for w in workers:
        assert w.stop() == 0, w.describe()
    for n, w in enumerate(workers):
        problems = log_problems(while_running(w.stderr()), (tmp_path / f"worker-{n}.log").read_text())
        assert not problems, f"{w.name}: {problems[:5]}"


def test_two_processes_recording_job_runs_at_once_on_postgresql(pg_url):
    """What three workers starting together do on their first ticks, made dense: two connections
    record runs of the same jobs at the same moment (threads stand in for processes)."""
    db = open_database(pg_url)
    jobs = [f"job-{k}" for k in range(40)]
    barrier = threading.Barrier(2)
    errors: list[str] = []

    def record(worker: str) -> None:
        for job in jobs:
            barrier.wait(timeout=30)
            now = clock.now()
            try:
                state.record_run(db, job, started=now, finished=now, ok=True, result="ok", worker=worker)
            except Exception as exc:  # noqa: BLE001 - the test reports every failure
                errors.append(f"{job}: {type(exc).__name__}")

    threads = [threading.Thread(target=record, args=(f"w{n}",)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert not errors, f"{len(errors)} runs not recorded: {errors[:3]}"
        with db.session() as s:
            runs = {row.id: row.runs for row in s.exec(select(JobState))}
        assert runs == {job: 2 for job in jobs}
    finally:
        db.dispose()
