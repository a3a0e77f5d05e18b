"""The console in a real terminal (a pty), stopped by a signal mid-sync: SIGTERM (systemd, ``kill``)
and SIGHUP (the SSH session dropped) quit as ``q`` does. The calls in flight finish and are
recorded, the claims not sent are given back, the terminal is handed back (alternate screen left,
mouse off), and the process exits 0, instead of dying with the terminal in raw mode and its
appointments claimed until their lease runs out."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time

import pytest

from synconsole.simulator import Faults

from tests.processes.support import booking_count, import_rows, scenario, wait_for, write_config

LEAVE_ALTERNATE_SCREEN = b"\x1b[?1049l"


class Terminal:
    """``synconsole tui`` on the slave side of a pty of a fixed size; the master side is read."""

    def __init__(self, config, cwd, cols: int = 100, rows: int = 30) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(cols), "LINES": str(rows)}
        self.popen = subprocess.Popen([sys.executable, "-m", "synconsole", "tui", "--config", str(config)],
                                      stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env,
                                      start_new_session=True)
        os.close(slave)
        self.master = master
        self.screen = b""

    def read(self) -> bytes:
        while select.select([self.master], [], [], 0.05)[0]:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # the slave side is closed: the process is gone
                break
            if not chunk:
                break
            self.screen += chunk
        return self.screen

    def wait(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.read()
            if self.popen.poll() is not None:
                self.read()
                return self.popen.returncode
        return None

    def close(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)
        os.close(self.master)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_quits_the_console_gracefully_mid_sync(sig, sqlite_url, tmp_path, make_sim, view_of):
    sim = make_sim(Faults(latency_s=0.5))
    config = write_config(tmp_path / "console.toml", db_url=sqlite_url, sim_url=sim.url,
                          log_path=tmp_path / "console.log", sync={"batch_size": 20, "lease_s": 600})
    import_rows(config, scenario(60), tmp_path)
    view = view_of(sqlite_url)
    term = Terminal(config, tmp_path)
    try:
        wait_for(lambda: booking_count(sim.url) >= 4, timeout=60, what="the console's sync to book")
        assert b"1049h" in term.read(), "the console is on the alternate screen"
        assert view.states().get("in_flight", 0) > 0, "calls are in flight"

        os.kill(term.popen.pid, sig)
        code = term.wait(15)
        assert code == 0, (code, term.screen[-400:])
        assert LEAVE_ALTERNATE_SCREEN in term.screen[-2000:], term.screen[-400:]
        assert view.states().get("in_flight", 0) == 0
        assert all(a.claimed_by is None and a.lease_until is None for a in view.appointments().values())
        booked = {a.id for a in view.appointments().values() if a.booking_uid}
        assert len(booked) == booking_count(sim.url), "every booking Cal.com made is recorded"
    finally:
        term.close()
