"""A worker killed with SIGKILL in the middle of a batch: its leases expire, another worker
reclaims them, looks up what the dead one may have booked, and nothing is lost or booked twice."""

from __future__ import annotations

import signal
from collections import Counter

import pytest

from synconsole.simulator import Faults

from tests.processes.support import (
    adopted,
    appointment_ids,
    assert_all_booked_once,
    booking_count,
    import_rows,
    log_problems,
    scenario,
    sim_bookings,
    sim_faults,
    sim_stats,
    stable,
    wait_for,
    while_running,
    write_config,
)

N = 120
LEASE_S = 5


@pytest.mark.slow
def test_sigkill_mid_batch_then_restart_loses_nothing_and_books_nothing_twice(db_url, tmp_path, procs, make_sim,
                                                                             view_of):
    # 0.3 s per call, most of it after the request was read (commit_delay_s), and one call in ten
    # committed but never answered (it hangs until the client gives up): a kill then leaves
    # bookings that Cal.com made and the worker never recorded.
    sim = make_sim(Faults(latency_s=0.05, commit_delay_s=0.25, timeout_rate=0.1, timeout_after_commit=True))
    config = write_config(tmp_path / "worker.toml", db_url=db_url, sim_url=sim.url, log_path=tmp_path / "worker.log",
                          sync={"batch_size": 20, "lease_s": LEASE_S})
    ids = appointment_ids(N)
    import_rows(config, scenario(N), tmp_path)
    view = view_of(db_url)

    first = procs.worker("worker-1", config)
    wait_for(lambda: booking_count(sim.url) >= 5 and sim_stats(sim.url)["faults_injected"].get("timeout"),
             timeout=60, what="the first bookings and a call left hanging after its commit", procs=[first])
    first.signal(signal.SIGKILL)
    assert first.wait(10) == -signal.SIGKILL

    # The kill left claims behind: rows in flight under the dead worker's lease.
    left = view.appointments()
    in_flight = {i for i, a in left.items() if a.sync_state == "in_flight"}
    assert in_flight, "the kill should have hit a batch in the middle"
    assert {left[i].claimed_by for i in in_flight} != {None}
    # Requests the dead worker had sent still complete in Cal.com (the server does not know the
    # client is gone): bookings whose outcome was never written. Wait until they have landed.
    wait_for(lambda: stable(lambda: booking_count(sim.url), 0.5), timeout=10, what="in-flight requests to land")
    booked_before_restart = set(sim_bookings(sim.url)["by_appointment_id"])
    recorded = {i for i, a in view.appointments().items() if a.sync_state == "synced"}
    orphans = booked_before_restart - recorded  # booked in Cal.com, unknown locally
    assert orphans, "the hanging call at least was booked and not recorded"
    sim_faults(sim.url, timeout_rate=0.0)

    second = procs.worker("worker-2", config)
    wait_for(lambda: view.synced() == N, timeout=120, what=f"all {N} appointments synced", procs=[second])
    assert_all_booked_once(view, sim.url, ids)
    attempts = view.attempts()
    successes = Counter(a.appointment_id for a in attempts if a.outcome == "success")
    assert successes == {i: 1 for i in ids}
    # The reclaimed rows were looked up before anything was sent: exactly the bookings the dead
    # worker left behind were adopted, the other reclaimed rows were created.
    adopted_ids = {a.appointment_id for a in attempts if a.outcome == "success" and adopted(a)}
    assert adopted_ids == orphans

    assert second.stop() == 0
    assert not log_problems(while_running(second.stderr()), (tmp_path / "worker.log").read_text())

