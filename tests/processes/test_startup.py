"""Processes starting on a new SQLite database while another process is creating the schema.

Several `synconsole worker` processes started at once (a fleet restart, a systemd template unit)
all find the database empty and all run the migrations. The first takes SQLite's write lock; the
others must wait for it (busy_timeout), not fail with "database is locked".
"""

from __future__ import annotations

import sqlite3

from tests.processes.support import wait_for, write_config


def test_a_worker_starting_while_another_process_creates_the_schema_waits_for_it(tmp_path, procs):
    path = tmp_path / "fresh.db"
    # Another process is in the middle of creating the schema: it holds the write lock.
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode = WAL")
    holder.execute("BEGIN IMMEDIATE")
    config = write_config(tmp_path / "worker.toml", db_url=f"sqlite:///{path}", sim_url="http://127.0.0.1:9",
                          log_path=tmp_path / "worker.log")
    worker = procs.start("worker", "worker", "--config", str(config))
    try:
        # busy_timeout is 10 s: a correct worker waits for the lock at least this long
        exited = worker.wait(3.0)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert exited is None, f"the worker gave up instead of waiting for the lock:\n{worker.describe()}"
    wait_for(lambda: "running:" in worker.stderr(), timeout=30, what="the worker to start", procs=[worker])
    assert worker.stop() == 0
