"""Three real `synconsole worker` processes on one database, an outage in the simulator, a real HTTP
receiver for apprise's ``json://`` posts: exactly one "fired" and one "resolved" message arrive
(issue 18). A receiver that never answers is retried and does not hold the sync up."""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.processes.support import (
    appointment_ids,
    assert_all_booked_once,
    import_rows,
    scenario,
    sim_faults,
    wait_for,
    write_config,
)
from tests.receivers import JsonReceiver

N = 30


def _config(tmp_path: Path, db_url: str, sim_url: str, hook_url: str) -> Path:
    config = write_config(tmp_path / "worker.toml", db_url=db_url, sim_url=sim_url, log_path=tmp_path / "w.log",
                          alerts={"outage_consecutive_failures": 5})
    with config.open("a", encoding="utf-8") as f:
        f.write(f'[[notify]]\nname = "oncall"\nurls = ["{hook_url}"]\nmin_severity = "critical"\n'
                'alerts = ["outage"]\n')
    return config


def _outage_then_recovery(tmp_path, db_url, procs, make_sim, view_of, hook_url: str, workers: int = 3):
    """Cal.com answers 503 until the workers have raised the outage alert, then recovers."""
    sim = make_sim()
    config = _config(tmp_path, db_url, sim.url, hook_url)
    ids = appointment_ids(N)
    import_rows(config, scenario(N), tmp_path)
    view = view_of(db_url)
    sim_faults(sim.url, outage_s=600)  # down from now on, however long the workers take to start
    running = [procs.worker(f"w{i}", config) for i in range(workers)]
    wait_for(lambda: view.scalar("SELECT count(*) FROM alert_events WHERE alert_id = 'outage' AND kind = 'fired'"),
             timeout=60, what="the outage alert", interval=0.2, procs=running)
    started = time.monotonic()
    sim_faults(sim.url, outages=[])  # Cal.com is back
    wait_for(lambda: view.synced() == N, timeout=120, what=f"all {N} appointments synced after the outage",
             procs=running)
    synced_after = time.monotonic() - started
    return sim, config, ids, view, running, synced_after


@pytest.mark.parametrize("db_url", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
                         indirect=True)
def test_three_workers_send_one_fired_and_one_resolved_message(db_url, tmp_path, procs, make_sim, view_of):
    with JsonReceiver() as hook:
        sim, config, ids, view, workers, took = _outage_then_recovery(tmp_path, db_url, procs, make_sim, view_of,
                                                                      hook.url)
        wait_for(lambda: len(hook.titles()) >= 2, timeout=30, what="the resolved message", procs=workers)
        time.sleep(3)  # three more alert rounds on every worker: nothing else may arrive
        titles = hook.titles()
        for w in workers:
            assert w.stop() == 0
    print(f"MEASURE 3 workers: all {N} synced {took:.1f} s after the outage; messages {titles}")
    assert [t.split(" outage")[0] for t in titles] == ["[synconsole] CRITICAL", "[synconsole] RESOLVED"], titles
    assert re.fullmatch(r"\[synconsole\] RESOLVED outage after \d+ s", titles[1]), titles  # not "after 0 min"
    assert_all_booked_once(view, sim.url, ids)
    rows = view.rows("SELECT kind, status FROM notify_outbox ORDER BY id")
    assert [(r.kind, r.status) for r in rows] == [("fired", "sent"), ("resolved", "sent")], rows


class _Silent:
    """A receiver that accepts connections and never answers (a hung webhook endpoint)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.sock.getsockname()[1]}/hook"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def test_a_receiver_that_never_answers_does_not_hold_the_sync_up(sqlite_url, tmp_path, procs, make_sim, view_of):
    silent = _Silent()
    try:
        sim, config, ids, view, workers, took = _outage_then_recovery(tmp_path, sqlite_url, procs, make_sim,
                                                                      view_of, silent.url)
        wait_for(lambda: view.scalar("SELECT count(*) FROM notify_outbox WHERE attempts > 0") >= 1, timeout=60,
                 what="a delivery attempt to the silent receiver", procs=workers)
        for w in workers:
            assert w.stop() == 0
    finally:
        silent.close()
    print(f"MEASURE 3 workers, receiver never answers: all {N} synced {took:.1f} s after the outage")
    assert silent.accepted, "the workers never tried the receiver"
    assert_all_booked_once(view, sim.url, ids)
    rows = view.rows("SELECT kind, status, attempts, last_error FROM notify_outbox ORDER BY id")
    assert rows and all(r.status != "sent" for r in rows), rows
    assert any(r.last_error for r in rows), rows
