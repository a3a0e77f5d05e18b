"""Live sources in real worker processes: a MariaDB that goes down and comes back (nothing lost,
source_down raised then cleared), and two workers polling one source (one poll at a time, each
appointment booked once)."""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest

from synconsole.core import clock

from tests.lifecycle.conftest import start_at
from tests.processes.support import run_cli, status_json, wait_for, write_config
from tests.sources.conftest import source_toml
from tests.sources.platform import Platform

pytestmark = [pytest.mark.mariadb, pytest.mark.slow]


def _config(tmp_path, name: str, platform: Platform, db_url: str, sim_url: str, **source) -> "Path":
    path = write_config(tmp_path / f"{name}.toml", db_url=db_url, sim_url=sim_url, log_path=tmp_path / f"{name}.log",
                        jobs={"sync_interval_s": 0.3, "alerts_interval_s": 1.0})
    path.write_text(path.read_text() + source_toml("platform", platform.url, platform.queries, **source))
    return path


def _booked(sim_url: str) -> dict[str, list[dict]]:
    from tests.processes.support import sim_bookings

    out: dict[str, list[dict]] = {}
    for b in sim_bookings(sim_url)["bookings"]:
        if b["status"] in ("accepted", "pending"):
            out.setdefault(b["metadata"]["synconsole_appointment_id"], []).append(b)
    return out


def _polls(tmp_path) -> list[tuple[datetime, float, int]]:
    """(start, end, worker) of every poll so far, from the two workers' logs."""
    polls = []
    for n in (1, 2):
        log = tmp_path / f"worker-{n}.log"
        for line in (log.read_text().splitlines() if log.exists() else []):
            if "source polled" in line or "source poll failed" in line:
                started = clock.parse_utc(re.search(r"started=(\S+)", line).group(1))
                took = int(re.search(r"duration_ms=(\d+)", line).group(1))
                polls.append((started, started.timestamp() + took / 1000, n))
    return polls


def _alert(config, cwd, alert_id: str):
    return next((a for a in status_json(config, cwd)["alerts"] if a["id"] == alert_id), None)


def test_a_source_outage_loses_nothing_and_raises_then_clears_source_down(tmp_path, procs, make_sim, sqlite_url):
    from tests.conftest import server_or_skip
    from tests.mariadbserver import start_mariadb

    server = server_or_skip(start_mariadb, "MariaDB")  # its own: this test stops and restarts it
    try:
        url = server.url.replace("/mysql", "/platform")
        admin = Platform(server.url)
        admin.run("CREATE DATABASE platform")
        admin.dispose()
        platform = Platform(url).create_schema()
        sim = make_sim()
        config = _config(tmp_path, "worker", platform, sqlite_url, sim.url, poll_interval_s=0.5, down_after=2,
                         overlap_s=5, timeout_s=2)
        fabian = platform.add_staff("Fabian", "fabian", 101)
        anna = platform.add_customer("Anna", email="anna@example.com")
        first = platform.book(anna, fabian, start_at(hour=9))
        worker = procs.worker("worker", config)
        wait_for(lambda: first in _booked(sim.url), timeout=30, what="the first booking", procs=[worker])

        last_before = platform.book(anna, fabian, start_at(hour=11))  # committed, then the source goes down
        platform.dispose()
        server.halt()
        down = wait_for(lambda: (a := _alert(config, tmp_path, "source_down")) and a["severity"] == "critical" and a,
                        timeout=30, what="source_down to turn critical", procs=[worker])
        assert "platform" in down["message"] and "synconsole sources" in down["message"]

        server.restart()
        platform = Platform(url)
        moved = platform.book(anna, fabian, start_at(hour=13))
        platform.move(first, start_at(hour=15))
        wait_for(lambda: _alert(config, tmp_path, "source_down") is None, timeout=30, what="source_down to clear", procs=[worker])
        wait_for(lambda: {first, last_before, moved} <= set(_booked(sim.url))
                 and _booked(sim.url)[first][0]["start"].startswith(start_at(hour=15).strftime("%Y-%m-%dT%H")),
                 timeout=30, what="every appointment (and the move) in Cal.com", procs=[worker])
        assert all(len(v) == 1 for v in _booked(sim.url).values())
        assert worker.stop() == 0
        platform.dispose()
    finally:
        server.stop()


def test_two_workers_polling_one_source_poll_one_at_a_time_and_book_each_once(mariadb_url, tmp_path, procs,
                                                                              make_sim, pg_url):
    platform = Platform(mariadb_url).create_schema()
    sim = make_sim()
    configs = [_config(tmp_path, f"worker-{n}", platform, pg_url, sim.url, poll_interval_s=0.5, overlap_s=5)
               for n in (1, 2)]
    assert run_cli("db", "upgrade", "--config", str(configs[0]), cwd=tmp_path).returncode == 0
    workers = [procs.worker(f"worker-{n}", cfg) for n, cfg in zip((1, 2), configs)]
    fabian = platform.add_staff("Fabian", "fabian", 101)
    maria = platform.add_staff("Maria", "maria", 102)
    anna = platform.add_customer("Anna", email="anna@example.com")
    ids = []
    for batch in range(3):  # written while both poll: each batch after a poll more
        seen = len(_polls(tmp_path))
        wait_for(lambda: len(_polls(tmp_path)) > seen, timeout=30, what="a poll more", procs=workers)
        for i in range(batch * 10, batch * 10 + 10):
            ids.append(platform.book(anna, (fabian, maria)[i % 2], start_at(days=3 + i // 2, hour=10)))
    wait_for(lambda: set(ids) <= set(_booked(sim.url)), timeout=60, what="every appointment booked", procs=workers)
    wait_for(lambda: len(_polls(tmp_path)) >= 6, timeout=30, what="six polls", procs=workers)
    for w in workers:
        assert w.stop() == 0
    assert all(len(_booked(sim.url)[i]) == 1 for i in ids)

    polls = _polls(tmp_path)
    tried = [(tmp_path / f"worker-{n}.log").read_text().count("job ingest ran") for n in (1, 2)]
    assert all(tried), f"both workers ran the ingest job ({tried}); whichever is first polls"
    assert len(polls) >= 6
    polls.sort()
    overlapping = [(a, b) for a, b in zip(polls, polls[1:]) if b[0].timestamp() < a[1]]
    assert not overlapping, overlapping[:3]
    platform.dispose()
