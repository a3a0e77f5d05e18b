"""Three workers SIGKILLed one after the other every 1-2 s while 300 appointments sync and the
platform moves and cancels a third of them by re-import, against a Cal.com that drops answers and
fails now and then. When the dust settles: nothing lost, nothing doubled, every move and every
cancellation in Cal.com."""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from datetime import timedelta

import pytest

from synconsole.simulator import Faults
from synconsole.core import clock

from tests.processes.support import (
    appointment_ids,
    import_rows,
    run_cli,
    scenario,
    sim_bookings,
    sim_faults,
    wait_for,
    write_config,
)

N = 300
WORKERS = 3
STORM_S = 30
MIN_KILLS = STORM_S // 3  # one every 1-2 s, plus the re-imports
LEASE_S = 5
MOVED_BY = timedelta(days=30)  # a moved appointment keeps its place in the grid, a month later: no overlaps


def _final(view) -> bool:
    states = view.states()
    return not any(states.get(s) for s in ("pending", "in_flight", "retry_scheduled"))


@pytest.mark.slow
def test_kill_storm_with_moves_and_cancellations(db_url, tmp_path, procs, make_sim, view_of):
    rng = random.Random(10)
    sim = make_sim(Faults(latency_s=0.03, commit_delay_s=0.05, drop_after_commit_rate=0.05, error_rate_5xx=0.03,
                          list_error_rate=0.1, seed=10))
    configs = [write_config(tmp_path / f"worker-{n}.toml", db_url=db_url, sim_url=sim.url,
                            log_path=tmp_path / f"worker-{n}.log", sync={"batch_size": 10, "lease_s": LEASE_S})
               for n in range(WORKERS)]
    assert run_cli("db", "upgrade", "--config", str(configs[0]), cwd=tmp_path).returncode == 0
    rows = scenario(N)
    people, appts = rows[:4], {r["id"]: r for r in rows[4:]}
    import_rows(configs[0], rows, tmp_path)
    ids = appointment_ids(N)
    changed = rng.sample(ids, N // 3)
    moved, cancelled = set(changed[: N // 6]), set(changed[N // 6:])
    view = view_of(db_url)

    workers = [procs.worker(f"worker-{n}-0", configs[n]) for n in range(WORKERS)]
    kills = 0
    changes_due = [STORM_S * 0.25, STORM_S * 0.5, STORM_S * 0.75]  # the re-imports come in three waves
    waves = [sorted(changed[i::3]) for i in range(3)]
    started = time.monotonic()
    while time.monotonic() - started < STORM_S or kills < MIN_KILLS:  # a loaded machine still gets its storm
        time.sleep(rng.uniform(1.0, 2.0))
        victim = rng.randrange(WORKERS)
        workers[victim].signal(signal.SIGKILL)
        workers[victim].wait(10)
        kills += 1
        # started, not waited for: the next kill may come before it even claimed anything
        workers[victim] = procs.start(f"worker-{victim}-{kills}", "worker", "--config", str(configs[victim]),
                                      log=tmp_path / f"worker-{victim}.log")
        if changes_due and time.monotonic() - started >= changes_due[0]:
            changes_due.pop(0)
            wave = waves.pop(0)
            for ident in wave:
                if ident in moved:
                    start = clock.parse_utc(appts[ident]["start"]) + MOVED_BY
                    appts[ident] = {**appts[ident], "start": start.isoformat()}
                else:
                    appts[ident] = {**appts[ident], "status": "cancelled"}
            import_rows(configs[0], people + [appts[i] for i in wave], tmp_path)
    for wave in waves:  # what the storm did not reach in time
        for ident in wave:
            appts[ident] = ({**appts[ident], "start": (clock.parse_utc(appts[ident]["start"]) + MOVED_BY).isoformat()}
                            if ident in moved else {**appts[ident], "status": "cancelled"})
        import_rows(configs[0], people + [appts[i] for i in wave], tmp_path)

    sim_faults(sim.url, drop_after_commit_rate=0.0, error_rate_5xx=0.0, list_error_rate=0.0)
    for w in workers:
        wait_for(lambda: "running:" in w.stderr(), timeout=30, what=f"{w.name} to start", procs=[w])
    wait_for(lambda: _final(view), timeout=180, what="every appointment settled", interval=0.5, procs=workers)
    for w in workers:
        assert w.stop() == 0, w.describe()

    answer = sim_bookings(sim.url)
    active: dict[str, list[dict]] = {}
    for b in answer["bookings"]:
        if b["status"] in ("accepted", "pending"):
            active.setdefault(b["metadata"]["synconsole_appointment_id"], []).append(b)
    local = view.appointments()
    problems = []
    for ident in ids:
        mine = active.get(ident, [])
        if ident in cancelled:
            if mine or local[ident].sync_state != "cancelled":
                problems.append((ident, "cancelled", local[ident].sync_state, len(mine)))
        elif len(mine) != 1 or clock.parse_utc(mine[0]["start"]) != clock.parse_utc(appts[ident]["start"]) \
                or local[ident].sync_state != "synced" or local[ident].booking_uid != mine[0]["uid"]:
            problems.append((ident, local[ident].sync_state, local[ident].category, len(mine)))
    every = Counter(b["metadata"]["synconsole_appointment_id"] for b in answer["bookings"])
    print(f"kill storm: {kills} kills, {len(moved)} moved, {len(cancelled)} cancelled; bookings made per "
          f"appointment: {dict(sorted(Counter(every.values()).items()))}; active per appointment: "
          f"{dict(sorted(Counter(len(active.get(i, [])) for i in ids).items()))}")
    assert not problems, problems[:10]
