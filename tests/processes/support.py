"""Real processes for the sync tests: workers and `synconsole` commands as subprocesses, a
simulator as a subprocess, config files, bounded waits, and read-only views of the database and
of the simulator's admin endpoints.

Every wait here is bounded in time (and so in count); nothing sleeps a fixed long time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import sqlalchemy as sa

from synconsole.core.db import Database, open_database

from tests.engine.helpers import EVENT_TYPES as _ENGINE_EVENT_TYPES
from tests.engine.helpers import KEY, appointment, people, soon

T = TypeVar("T")

#: effectively no rate limit (the contract's maximum for rate_limit_per_minute)
NO_LIMIT = 100_000
STAFF = ("s-1", "s-2")  # fabian (101) and maria (102): two Cal.com hosts
CUSTOMERS = ("c-1", "c-2")  # one with an email, one with a phone only (lookups without an email filter)
#: the hosts' event types take phone-only attendees (and the staff rows say so: phone_bookings)
EVENT_TYPES = {k: {**v, "bookingFields": {"email": "optional", "attendeePhoneNumber": "optional"}}
               for k, v in _ENGINE_EVENT_TYPES.items()}


# --- data -----------------------------------------------------------------------------------------


def appointment_ids(n: int, prefix: str = "a") -> list[str]:
    return [f"{prefix}{i:04d}" for i in range(n)]


def scenario(n: int, *, prefix: str = "a") -> list[dict]:
    """Staff, customers and ``n`` appointments in the future of the real clock that never overlap
    per host (the simulator refuses a busy host, pre-flight refuses a local overlap)."""
    base = soon(days=2, hour=6)
    rows = [{**r, "phone_bookings": True} if r["kind"] == "staff" else r
            for r in people() if r["id"] in STAFF + CUSTOMERS]
    for i, ident in enumerate(appointment_ids(n, prefix)):
        start = base + timedelta(minutes=30 * (i // len(STAFF)))
        rows.append(appointment(ident, start, staff=STAFF[i % len(STAFF)], customer=CUSTOMERS[i % len(CUSTOMERS)]))
    return rows


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_event_types(path: Path) -> Path:
    path.write_text(json.dumps(EVENT_TYPES), encoding="utf-8")
    return path


# --- config ---------------------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def write_config(path: Path, *, db_url: str, sim_url: str, log_path: Path, **sections: dict[str, Any]) -> Path:
    """A config file with test defaults: short intervals, small backoff, no effective rate limit."""
    data: dict[str, dict[str, Any]] = {
        "database": {"url": db_url},
        "calcom": {"base_url": sim_url, "api_key": KEY, "rate_limit_per_minute": NO_LIMIT, "timeout_s": 10.0,
                   "max_concurrency": 4},
        "sync": {"batch_size": 20, "lease_s": 60, "backoff_base_s": 0.2, "backoff_max_s": 1.0, "max_attempts": 50},
        "jobs": {"sync_interval_s": 0.2, "alerts_interval_s": 1.0},
        "logging": {"path": str(log_path), "level": "INFO"},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    text = "".join(f"[{name}]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in values.items()) + "\n"
                   for name, values in data.items())
    path.write_text(text, encoding="utf-8")
    return path


# --- processes ------------------------------------------------------------------------------------


@dataclass
class Proc:
    """A subprocess whose stdout and stderr go to files (no pipe can fill up and block it)."""

    name: str
    args: list[str]
    popen: subprocess.Popen
    out: Path
    err: Path
    log: Path | None = None  # its [logging] path, shown when a wait fails
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stdout(self) -> str:
        return self.out.read_text(encoding="utf-8", errors="replace") if self.out.exists() else ""

    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8", errors="replace") if self.err.exists() else ""

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout: float) -> int | None:
        """The exit code, or None if still running after ``timeout`` seconds."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then SIGKILL if it does not exit in time. Returns the exit code."""
        self.signal(signal.SIGTERM)
        code = self.wait(timeout)
        if code is None:
            self.signal(signal.SIGKILL)
            code = self.popen.wait(timeout=10)
        return code

    def describe(self) -> str:
        log = self.log.read_text(errors="replace")[-4000:] if self.log and self.log.exists() else ""
        stderr = "\n".join(line for line in self.stderr().splitlines()
                           if "maximum number of running instances" not in line)
        return (f"{self.name} (pid {self.pid}, exit {self.popen.poll()}): {' '.join(self.args[2:])}\n"
                f"--- stderr ---\n{stderr[-3000:]}\n--- stdout ---\n{self.stdout()[-1000:]}\n--- log ---\n{log}")


class Procs:
    """Starts subprocesses for one test and makes sure none outlives it."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[Proc] = []

    def start(self, name: str, *args: str, log: Path | None = None) -> Proc:
        cmd = [sys.executable, "-m", "synconsole", *args]
        out, err = self.workdir / f"{name}.stdout", self.workdir / f"{name}.stderr"
        with out.open("wb") as fo, err.open("wb") as fe:
            popen = subprocess.Popen(cmd, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL, cwd=self.workdir,
                                     start_new_session=True)
        proc = Proc(name, cmd, popen, out, err, log)
        self.started.append(proc)
        return proc

    def worker(self, name: str, config: Path, *, ready_timeout: float = 30.0) -> Proc:
        """Start `synconsole worker` and wait until it says it is running."""
        proc = self.start(name, "worker", "--config", str(config), log=config_log_path(config))
        wait_for(lambda: "running:" in proc.stderr(), timeout=ready_timeout, what=f"{name} to start",
                 procs=[proc])
        return proc

    def cleanup(self) -> None:
        for proc in self.started:
            if proc.alive():
                proc.signal(signal.SIGKILL)
                try:
                    proc.popen.wait(timeout=10)
                except subprocess.TimeoutExpired:  # pragma: no cover - the kernel always reaps
                    pass


def config_log_path(config: Path) -> Path | None:
    import tomllib

    path = tomllib.loads(config.read_text(encoding="utf-8")).get("logging", {}).get("path")
    return Path(path) if path else None


def run_cli(*args: str, cwd: Path, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """Run one `synconsole` command to completion (bounded)."""
    return subprocess.run([sys.executable, "-m", "synconsole", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, stdin=subprocess.DEVNULL)


def import_rows(config: Path, rows: list[dict], cwd: Path) -> None:
    path = write_rows(cwd / f"import-{time.monotonic_ns()}.ndjson", rows)
    result = run_cli("import", str(path), "--config", str(config), cwd=cwd)
    assert result.returncode == 0, result.stderr + result.stdout


def status_json(config: Path, cwd: Path) -> dict:
    result = run_cli("status", "--json", "--config", str(config), cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def start_cli_simulator(procs: Procs, name: str, *args: str, timeout: float = 30.0) -> tuple[Proc, str]:
    """`synconsole simulator --port 0 …` as a subprocess; returns it and the URL of its first line."""
    proc = procs.start(name, "simulator", "--port", "0", *args)
    url = wait_for(lambda: (proc.stdout().splitlines() or [""])[0].strip() if proc.stdout().endswith("\n") else "",
                   timeout=timeout, what="the simulator's URL", procs=[proc])
    assert url.startswith("http://127.0.0.1:"), url
    wait_for(lambda: _health(url), timeout=timeout, what="the simulator to answer", procs=[proc])
    return proc, url


def _health(url: str) -> bool:
    try:
        return httpx.get(f"{url}/_sim/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


# --- waiting --------------------------------------------------------------------------------------


def wait_for(predicate: Callable[[], T], *, timeout: float, what: str, interval: float = 0.1,
             procs: list[Proc] = ()) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds, or at
    once when one of ``procs`` (expected to keep running) has exited."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        for proc in procs:
            if not proc.alive():
                raise AssertionError(f"{proc.name} exited while waiting for {what}:\n{proc.describe()}")
        if time.monotonic() > deadline:
            details = "\n".join(p.describe() for p in procs)
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{details}")
        time.sleep(interval)


def stable(read: Callable[[], Any], settle_s: float) -> bool:
    """True when ``read()`` gives the same value twice ``settle_s`` apart (one short, bounded look)."""
    before = read()
    time.sleep(settle_s)
    return read() == before


# --- what the simulator holds -----------------------------------------------------------------------


def sim_bookings(url: str) -> dict:
    return httpx.get(f"{url}/_sim/bookings", timeout=10).json()


def sim_stats(url: str) -> dict:
    return httpx.get(f"{url}/_sim/stats", timeout=10).json()


def sim_faults(url: str, **changes: Any) -> dict:
    response = httpx.post(f"{url}/_sim/faults", json=changes, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def booking_count(url: str) -> int:
    return int(sim_stats(url)["bookings"])


def uid_by_appointment(url: str) -> dict[str, str]:
    """appointment id -> uid of its active booking (only meaningful when there is one each)."""
    return {b["metadata"]["synconsole_appointment_id"]: b["uid"] for b in sim_bookings(url)["bookings"]
            if b.get("status") in ("accepted", "pending") and "synconsole_appointment_id" in (b.get("metadata") or {})}


# --- what the database holds ------------------------------------------------------------------------


class DbView:
    """Read-only SQL over the database the workers write (a separate connection pool)."""

    def __init__(self, url: str) -> None:
        self.db: Database = open_database(url)

    def close(self) -> None:
        self.db.dispose()

    def rows(self, sql: str, **params: Any) -> list[sa.Row]:
        with self.db.engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params))

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.db.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar_one()

    def states(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self.rows("SELECT sync_state, count(*) FROM appointments GROUP BY sync_state")}

    def synced(self) -> int:
        return self.states().get("synced", 0)

    def appointments(self) -> dict[str, sa.Row]:
        return {r.id: r for r in self.rows(
            "SELECT id, sync_state, booking_uid, claimed_by, lease_until, needs_lookup, category, last_error "
            "FROM appointments")}

    def attempts(self) -> list[sa.Row]:
        return self.rows("SELECT id, appointment_id, worker, outcome, http_status, category, booking_uid, "
                         "request_summary FROM sync_attempts ORDER BY id")


def adopted(attempt: sa.Row) -> bool:
    summary = attempt.request_summary
    if isinstance(summary, str):
        summary = json.loads(summary)
    return bool(summary and summary.get("adopted"))


def assert_all_booked_once(view: DbView, sim_url: str, ids: list[str]) -> None:
    """None lost, none booked twice: every appointment synced with the uid of its one booking."""
    appts = view.appointments()
    assert sorted(appts) == sorted(ids)
    not_synced = {i: (a.sync_state, a.category, a.last_error) for i, a in appts.items()
                  if a.sync_state != "synced" or not a.booking_uid}
    assert not not_synced, f"{len(not_synced)} not synced: {dict(list(not_synced.items())[:5])}"
    answer = sim_bookings(sim_url)
    twice = {i: n for i, n in answer["by_appointment_id"].items() if n != 1}
    assert not twice, f"booked more than once: {twice}"
    assert sorted(answer["by_appointment_id"]) == sorted(ids)
    assert answer["count"] == len(ids)
    assert answer["active_by_appointment_id"] == {i: 1 for i in ids}
    uids = uid_by_appointment(sim_url)
    wrong = {i: (a.booking_uid, uids.get(i)) for i, a in appts.items() if a.booking_uid != uids.get(i)}
    assert not wrong, f"local booking uid differs from Cal.com's: {dict(list(wrong.items())[:5])}"
    assert all(a.claimed_by is None and a.lease_until is None for a in appts.values())


def log_problems(*texts: str) -> list[str]:
    """Lines that must never appear in a worker's log or stderr while it runs."""
    bad = ("database is locked", "Traceback", "job sync failed", "could not record the run")
    return [line for text in texts for line in text.splitlines() if any(b in line for b in bad)]



def while_running(stderr: str) -> str:
    """A worker's stderr up to its "stopping" line (what its shutdown prints is test_shutdown's)."""
    return stderr.split("synconsole worker: stopping", 1)[0]
