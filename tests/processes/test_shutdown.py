"""SIGTERM to a worker in the middle of a batch: calls in flight finish and are recorded, claims not
yet sent are given back, the process exits 0 within seconds, and nothing is lost."""

from __future__ import annotations

import signal
import time

import pytest

from synconsole.simulator import Faults

from tests.processes.support import (
    KEY,
    adopted,
    appointment_ids,
    assert_all_booked_once,
    booking_count,
    import_rows,
    log_problems,
    scenario,
    sim_bookings,
    sim_stats,
    stable,
    start_cli_simulator,
    uid_by_appointment,
    wait_for,
    write_config,
    write_event_types,
)


@pytest.mark.slow
def test_sigterm_mid_batch_finishes_calls_releases_claims_and_exits_0(sqlite_url, tmp_path, procs, make_sim,
                                                                     view_of):
    n = 60
    sim = make_sim(Faults(latency_s=0.5))
    config = write_config(tmp_path / "worker.toml", db_url=sqlite_url, sim_url=sim.url,
                          log_path=tmp_path / "worker.log", sync={"batch_size": 20, "lease_s": 600})
    ids = appointment_ids(n)
    import_rows(config, scenario(n), tmp_path)
    view = view_of(sqlite_url)
    first = procs.worker("worker-1", config)
    wait_for(lambda: booking_count(sim.url) >= 4, timeout=60, what="the first bookings", procs=[first])
    assert view.states().get("in_flight", 0) > 4  # a batch is being worked on

    signalled = time.monotonic()
    first.signal(signal.SIGTERM)
    code = first.wait(15)
    took = time.monotonic() - signalled
    assert code == 0, first.describe()
    assert took < 5, f"graceful stop took {took:.1f} s (calls take 0.5 s)"
    assert "stopped" in first.stderr()

    # Nothing left claimed: finished calls were recorded, unsent claims released (no waiting for
    # the 600 s lease).
    appts = view.appointments()
    assert view.states().get("in_flight", 0) == 0
    assert all(a.claimed_by is None and a.lease_until is None for a in appts.values())
    # Everything Cal.com booked is recorded locally with its uid; nothing is booked but unknown.
    booked = uid_by_appointment(sim.url)
    synced = {i: a.booking_uid for i, a in appts.items() if a.sync_state == "synced"}
    assert synced == booked
    assert 0 < len(synced) < n
    assert all(a.sync_state == "pending" and not a.needs_lookup for i, a in appts.items() if i not in synced)

    second = procs.worker("worker-2", config)
    wait_for(lambda: view.synced() == n, timeout=60, what=f"all {n} appointments synced", procs=[second])
    assert_all_booked_once(view, sim.url, ids)
    # a clean stop leaves nothing to look up: no booking had to be adopted
    assert not [a for a in view.attempts() if adopted(a)]
    assert second.stop() == 0
    # the whole stderr, shutdown included
    assert not log_problems(first.stderr(), second.stderr(),
                            (tmp_path / "worker.log").read_text())


@pytest.mark.slow
def test_sigterm_while_waiting_for_the_rate_limit_exits_promptly(sqlite_url, tmp_path, procs, view_of):
    """The budget is spent and the next slot is most of a minute away: SIGTERM must not wait for it
    (nothing is in flight), and the claims must be given back."""
    sim, url = start_cli_simulator(procs, "simulator", "--api-key", KEY,
                                   "--event-types", str(write_event_types(tmp_path / "event-types.json")),
                                   "--rate-limit", "5", "--rate-window", "60", "--block", "60")
    config = write_config(tmp_path / "worker.toml", db_url=sqlite_url, sim_url=url, log_path=tmp_path / "worker.log",
                          calcom={"rate_limit_per_minute": 5}, sync={"batch_size": 10, "lease_s": 600})
    n = 10
    import_rows(config, scenario(n), tmp_path)
    view = view_of(sqlite_url)
    worker = procs.worker("worker", config)
    # The key's shared budget (a bucket of 1 at 5/min, refilled at 4 per 60 s) lets a request out,
    # then holds the other claims until the next token, 15 s away. (Before the shared budget the
    # client spent the window's 5 at once and waited for the window's end instead.)
    wait_for(lambda: view.synced() >= 1 and view.states().get("in_flight", 0) > 0
             and stable(view.synced, 1.0), timeout=30, what="the budget spent", procs=[worker, sim])
    synced = view.synced()

    signalled = time.monotonic()
    worker.signal(signal.SIGTERM)
    code = worker.wait(10)
    took = time.monotonic() - signalled
    if code is None:
        worker.signal(signal.SIGKILL)
        worker.wait(10)
    assert code == 0, f"still running {took:.0f} s after SIGTERM (waiting for the rate limit to send more)"
    assert view.states() == {"synced": synced, "pending": n - synced}  # the claims were given back
    assert sim_stats(url)["throttle"]["throttled_429"] == 0
    assert len(sim_bookings(url)["by_appointment_id"]) == synced


def test_sigterm_while_a_job_run_is_starting_waits_for_it_instead_of_cancelling_it(pg_url, tmp_path, procs,
                                                                                   view_of):
    """Runs that are reading their job's pause flag when SIGTERM comes are held there by a lock on
    job_state (PostgreSQL makes the moment last); stopping must let them finish, not cancel them."""
    view = view_of(pg_url)  # creates the schema
    config = write_config(tmp_path / "worker.toml", db_url=pg_url, sim_url="http://127.0.0.1:9",
                          log_path=tmp_path / "worker.log")
    blocker = view.db.engine.connect()
    try:
        blocker.begin()
        blocker.exec_driver_sql("LOCK TABLE job_state IN ACCESS EXCLUSIVE MODE")
        worker = procs.worker("worker", config)
        wait_for(lambda: view.scalar("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                     "AND datname = current_database()") >= 1,
                 timeout=30, what="a job run waiting for job_state", procs=[worker])
        worker.signal(signal.SIGTERM)
        # bounded: a correct worker waits for its runs, so this may well time out
        worker.wait(3.0)
    finally:
        blocker.rollback()
        blocker.close()
    code = worker.wait(20)
    assert code == 0, worker.describe()
    assert "Traceback" not in worker.stderr(), worker.stderr()[-2000:]

