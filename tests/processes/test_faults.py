"""A worker process against a misbehaving Cal.com: lost answers and 5xx, an outage, a tight rate limit."""

from __future__ import annotations

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
    sim_faults,
    sim_stats,
    start_cli_simulator,
    status_json,
    wait_for,
    while_running,
    write_config,
    write_event_types,
)


@pytest.mark.slow
def test_dropped_answers_and_5xx_every_appointment_booked_exactly_once(sqlite_url, tmp_path, procs, make_sim,
                                                                      view_of):
    n = 60
    sim = make_sim(Faults(drop_after_commit_rate=0.3, error_rate_5xx=0.2, latency_s=0.02, seed=7))
    config = write_config(tmp_path / "worker.toml", db_url=sqlite_url, sim_url=sim.url,
                          log_path=tmp_path / "worker.log")
    ids = appointment_ids(n)
    import_rows(config, scenario(n), tmp_path)
    view = view_of(sqlite_url)
    worker = procs.worker("worker", config)
    wait_for(lambda: view.synced() == n, timeout=120, what=f"all {n} appointments synced", procs=[worker])

    assert_all_booked_once(view, sim.url, ids)
    injected = sim_stats(sim.url)["faults_injected"]
    assert injected.get("drop_after_commit", 0) > 0 and injected.get("error_5xx", 0) > 0, injected
    attempts = view.attempts()
    # Every create whose answer was lost had gone through: each one was found again and adopted.
    adoptions = [a for a in attempts if a.outcome == "success" and adopted(a)]
    assert len(adoptions) == injected["drop_after_commit"]
    assert {a.http_status for a in attempts if a.outcome != "success"} <= {None, 500}
    assert worker.stop() == 0
    assert not log_problems(while_running(worker.stderr()), (tmp_path / "worker.log").read_text())


@pytest.mark.slow
def test_outage_raises_the_alert_while_it_lasts_then_everything_recovers(sqlite_url, tmp_path, procs, make_sim,
                                                                       view_of):
    n = 40
    sim = make_sim()
    config = write_config(tmp_path / "worker.toml", db_url=sqlite_url, sim_url=sim.url,
                          log_path=tmp_path / "worker.log",
                          sync={"backoff_base_s": 0.2, "backoff_max_s": 1.0},
                          alerts={"outage_consecutive_failures": 5})
    ids = appointment_ids(n)
    import_rows(config, scenario(n), tmp_path)
    view = view_of(sqlite_url)

    outage_s = 8
    sim_faults(sim.url, outage_s=outage_s)  # Cal.com answers 503 from now on, for a while
    worker = procs.worker("worker", config)
    during = wait_for(lambda: _alert(status_json(config, tmp_path), "outage"), timeout=3 * outage_s,
                      what="the outage alert", interval=0.2, procs=[worker])
    # Seen before the recovery: nothing could be booked yet (a success would have cleared it).
    assert booking_count(sim.url) == 0
    assert during["severity"] == "critical"

    wait_for(lambda: view.synced() == n, timeout=90, what=f"all {n} appointments synced after the outage",
             procs=[worker])
    after = status_json(config, tmp_path)
    assert after["pending"] == 0 and _alert(after, "outage") is None, after["alerts"]
    assert_all_booked_once(view, sim.url, ids)
    assert sim_stats(sim.url)["faults_injected"].get("outage", 0) >= 5
    statuses = {a.http_status for a in view.attempts() if a.outcome != "success"}
    assert statuses == {503}, statuses
    assert worker.stop() == 0
    assert not log_problems(while_running(worker.stderr()), (tmp_path / "worker.log").read_text())


@pytest.mark.slow
def test_small_rate_limit_is_never_hit(sqlite_url, tmp_path, procs, view_of):
    """Cal.com's limiter at 10 requests per 2 s window (blocking 2 s); the worker's budget matches
    (300/min). It must pace from the X-RateLimit headers: nothing sent while blocked, no 429."""
    n = 40
    limit, window_s, block_s = 10, 2.0, 2.0
    sim, url = start_cli_simulator(procs, "simulator", "--api-key", KEY,
                                   "--event-types", str(write_event_types(tmp_path / "event-types.json")),
                                   "--rate-limit", str(limit), "--rate-window", str(window_s),
                                   "--block", str(block_s), "--latency", "0.05")
    config = write_config(tmp_path / "worker.toml", db_url=sqlite_url, sim_url=url, log_path=tmp_path / "worker.log",
                          calcom={"rate_limit_per_minute": int(limit * 60 / window_s)})
    ids = appointment_ids(n)
    import_rows(config, scenario(n), tmp_path)
    view = view_of(sqlite_url)
    started = time.monotonic()
    worker = procs.worker("worker", config)
    wait_for(lambda: view.synced() == n, timeout=90, what=f"all {n} appointments synced", procs=[worker, sim])
    elapsed = time.monotonic() - started

    throttle = sim_stats(url)["throttle"]
    assert throttle["requests"] >= n > limit  # the budget really was the constraint
    assert elapsed >= (n // limit - 1) * window_s
    assert throttle["received_while_blocked"] == 0, throttle
    windows = int(elapsed / window_s) + 1
    assert throttle["throttled_429"] <= windows, throttle  # at most one per window...
    assert throttle["throttled_429"] == 0, throttle  # ...and in fact none
    assert_all_booked_once(view, url, ids)
    assert not [a for a in view.attempts() if a.http_status == 429]
    assert worker.stop() == 0
    assert not log_problems(while_running(worker.stderr()), (tmp_path / "worker.log").read_text())


def _alert(status: dict, alert_id: str) -> dict | None:
    return next((a for a in status["alerts"] if a["id"] == alert_id), None)
