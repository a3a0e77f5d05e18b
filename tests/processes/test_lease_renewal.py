"""A live worker's claims are never taken over: a batch that waits for Cal.com longer than its
lease (a slow Cal.com, one call at a time) keeps its leases renewed, so a second worker finds
nothing due and nothing is sent twice; and once that worker is killed, its rows are reclaimed
within the lease."""

from __future__ import annotations

import signal
import time
from collections import Counter

import pytest

from synconsole.simulator import Faults

from tests.processes.support import (
    appointment_ids,
    assert_all_booked_once,
    import_rows,
    log_problems,
    run_cli,
    scenario,
    wait_for,
    while_running,
    write_config,
)

N = 8
LEASE_S = 5  # the shortest lease the config allows; the batch needs about twice that


@pytest.mark.slow
def test_a_batch_slower_than_its_lease_is_not_reclaimed_by_a_second_worker(db_url, tmp_path, procs, make_sim,
                                                                           view_of):
    sim = make_sim(Faults(latency_s=1.2))  # 8 calls one after the other: about 10 s for the batch
    sync = {"batch_size": N, "lease_s": LEASE_S}
    calcom = {"max_concurrency": 1}
    configs = [write_config(tmp_path / f"worker-{n}.toml", db_url=db_url, sim_url=sim.url,
                            log_path=tmp_path / f"worker-{n}.log", sync=sync, calcom=calcom) for n in (1, 2)]
    assert run_cli("db", "upgrade", "--config", str(configs[0]), cwd=tmp_path).returncode == 0
    ids = appointment_ids(N)
    import_rows(configs[0], scenario(N), tmp_path)
    view = view_of(db_url)

    first = procs.worker("worker-1", configs[0])
    wait_for(lambda: view.states().get("in_flight") == N, timeout=30, what="worker-1 to claim the whole batch",
             procs=[first])
    second = procs.worker("worker-2", configs[1])
    wait_for(lambda: view.synced() == N, timeout=60, what=f"all {N} synced", procs=[first, second])

    assert_all_booked_once(view, sim.url, ids)
    attempts = view.attempts()
    assert Counter(a.appointment_id for a in attempts) == {i: 1 for i in ids}, \
        [(a.appointment_id, a.worker, a.outcome, a.category) for a in attempts]
    assert {a.outcome for a in attempts} == {"success"}
    assert len({a.worker for a in attempts}) == 1  # worker-2 never got any of them
    for w in (first, second):
        assert w.stop() == 0
        assert not log_problems(while_running(w.stderr()), w.log.read_text())


@pytest.mark.slow
def test_a_killed_workers_rows_are_reclaimed_within_the_lease(sqlite_url, tmp_path, procs, make_sim, view_of):
    sim = make_sim(Faults(latency_s=1.0))
    configs = [write_config(tmp_path / f"worker-{n}.toml", db_url=sqlite_url, sim_url=sim.url,
                            log_path=tmp_path / f"worker-{n}.log", sync={"batch_size": N, "lease_s": LEASE_S},
                            calcom={"max_concurrency": 1}) for n in (1, 2)]
    ids = appointment_ids(N)
    import_rows(configs[0], scenario(N), tmp_path)
    view = view_of(sqlite_url)
    first = procs.worker("worker-1", configs[0])
    wait_for(lambda: view.synced() >= 1, timeout=30, what="worker-1's first booking", procs=[first])
    first.signal(signal.SIGKILL)
    assert first.wait(10) == -signal.SIGKILL
    killed_at = time.monotonic()
    dead = {a.claimed_by for a in view.appointments().values() if a.sync_state == "in_flight"}
    assert dead, "the kill should leave claims behind"

    second = procs.worker("worker-2", configs[1])
    wait_for(lambda: not {a.claimed_by for a in view.appointments().values()} & dead, timeout=LEASE_S + 10,
             what="the dead worker's rows to be reclaimed", procs=[second])
    assert time.monotonic() - killed_at < LEASE_S + 10
    wait_for(lambda: view.synced() == N, timeout=60, what=f"all {N} synced", procs=[second])
    assert_all_booked_once(view, sim.url, ids)
