"""A Cal.com that sends its headers and then one byte a second: `sync --once` and `worker` must
stop within 10 s of SIGTERM (and SIGINT), and the appointment in flight stays in doubt (to be
looked up), never marked failed or not booked."""

from __future__ import annotations

import signal
import time

import pytest

from tests.hostile.server import LORIS, empty_list
from tests.processes.support import DbView, import_rows, scenario, wait_for, write_config

STOP_WITHIN_S = 10.0


def loris_creates(method: str, path: str, body: bytes = b""):
    if method == "POST":
        return LORIS
    return empty_list()


def _setup(tmp_path, hostile):
    server = hostile(loris_creates)
    db_url = f"sqlite:///{tmp_path / 'sync.db'}"
    # a per-read timeout (timeout_s) a slow loris never trips: one byte arrives every second
    config = write_config(tmp_path / "c.toml", db_url=db_url, sim_url=server.url, log_path=tmp_path / "s.log",
                          calcom={"timeout_s": 30.0})
    import_rows(config, scenario(2), tmp_path)
    return server, db_url, config


@pytest.mark.parametrize("command,sig", [
    (("sync", "--once"), signal.SIGTERM),
    (("sync", "--once"), signal.SIGINT),
    (("worker",), signal.SIGTERM),
])
def test_stops_within_10_s_of_a_signal_while_cal_com_trickles(tmp_path, hostile, procs, command, sig):
    server, db_url, config = _setup(tmp_path, hostile)
    proc = procs.start("p", *command, "--config", str(config), log=tmp_path / "s.log")
    wait_for(lambda: sum(1 for m, _ in server.seen if m == "POST") >= 1, timeout=30,
             what="a create to reach the trickling server", procs=[proc])
    time.sleep(1.0)
    proc.signal(sig)
    sent = time.monotonic()
    code = proc.wait(STOP_WITHIN_S + 5)
    took = time.monotonic() - sent
    print(f"MEASURE stop after {signal.Signals(sig).name} for {' '.join(command)}: {took:.2f} s")
    assert code is not None, f"still running {STOP_WITHIN_S + 5} s after the signal\n{proc.describe()}"
    assert took <= STOP_WITHIN_S, f"took {took:.1f} s\n{proc.describe()}"
    assert "Traceback" not in proc.stderr() + proc.stdout(), proc.describe()
    view = DbView(db_url)
    try:
        for appt in view.appointments().values():
            assert appt.sync_state != "in_flight" or appt.claimed_by is None, appt
            assert appt.sync_state != "failed", appt
        in_doubt = [a for a in view.appointments().values() if a.needs_lookup]
        assert in_doubt, "the create in flight must stay in doubt (looked up later)"
    finally:
        view.close()


def test_sync_once_ends_by_itself_the_total_deadline_trips(tmp_path, hostile, procs):
    """No signal: each call has a total deadline (twice timeout_s), so a trickle ends as a timeout,
    the row in doubt, and `sync --once` exits on its own."""
    server = hostile(loris_creates)
    db_url = f"sqlite:///{tmp_path / 'sync.db'}"
    config = write_config(tmp_path / "c.toml", db_url=db_url, sim_url=server.url, log_path=tmp_path / "s.log",
                          calcom={"timeout_s": 1.0}, sync={"max_attempts": 1, "batch_size": 20})
    import_rows(config, scenario(2), tmp_path)
    proc = procs.start("p", "sync", "--once", "--config", str(config), log=tmp_path / "s.log")
    code = proc.wait(30)
    assert code == 0, proc.describe()
    assert "Traceback" not in proc.stderr() + proc.stdout(), proc.describe()
    view = DbView(db_url)
    try:
        appts = view.appointments()
        assert all(a.needs_lookup for a in appts.values()), appts
        assert all(a.claimed_by is None for a in appts.values()), appts
    finally:
        view.close()
