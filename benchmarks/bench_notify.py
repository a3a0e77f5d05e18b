"""Notification benchmark (issue 18): messages per transition with N workers, delivery latency,
and whether a receiver that hangs slows the sync.

(a) N workers (threads, each with its own connection pool) evaluate the alerts and deliver at
    the same moment, on a SQLite file, for an outage that fires and resolves: messages that
    arrive per transition (target: exactly 1 for every N).
(b) Latency: from the start of the alerts evaluation that sees the transition to the post
    arriving at a loopback json:// receiver (3 workers).
(c) A receiver that accepts the connection and answers only after 8 s: the sync drain of 40
    appointments against the simulator alone, and while a delivery round is stuck on it.

    .venv/bin/python benchmarks/bench_notify.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synconsole.simulator import SimulatorServer  # noqa: E402
from synconsole.config import parse_settings  # noqa: E402
from synconsole.core.db import open_database  # noqa: E402
from synconsole.jobs.sync import SyncEngine  # noqa: E402
from synconsole.notify.run import deliver_round  # noqa: E402
from tests.engine.helpers import EVENT_TYPES, KEY, appointment, client_for, load, people, settings_for, soon  # noqa: E402
from tests.receivers import JsonReceiver  # noqa: E402
from tests.test_notify import _outage, _recover, _settings, _workers  # noqa: E402


def per_transition(n: int) -> tuple[int, int]:
    folder = Path(tempfile.mkdtemp(prefix="bench-notify-"))
    url = f"sqlite:///{folder / 'b.db'}"
    db = open_database(url)
    with JsonReceiver() as hook:
        settings = _settings(hook.url)
        _outage(db)
        _workers(url, settings, n)
        fired = len(hook.posts)
        _recover(db)
        _workers(url, settings, n)
        resolved = len(hook.posts) - fired
    db.dispose()
    return fired, resolved


def latency() -> float:
    folder = Path(tempfile.mkdtemp(prefix="bench-notify-"))
    url = f"sqlite:///{folder / 'b.db'}"
    db = open_database(url)
    with JsonReceiver() as hook:
        settings = _settings(hook.url)
        _outage(db)
        start = time.perf_counter()
        arrived: list[float] = []
        watcher = threading.Thread(target=lambda: _wait(hook, arrived), daemon=True)
        watcher.start()
        _workers(url, settings, 3)
        watcher.join(30)
    db.dispose()
    return (arrived[0] - start) * 1000 if arrived else float("nan")


def _wait(hook, arrived) -> None:
    while not hook.posts:
        time.sleep(0.001)
    arrived.append(time.perf_counter())


class Hanging:
    def __init__(self, seconds: float) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                time.sleep(seconds)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


async def sync_drain(with_stuck_delivery: bool) -> tuple[float, float | None]:
    folder = Path(tempfile.mkdtemp(prefix="bench-notify-"))
    url = f"sqlite:///{folder / 'b.db'}"
    db = open_database(url)
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES) as sim:
        settings = settings_for(sim.url, url)
        t = soon(days=3)
        load(db, folder, people() + [appointment(f"a-{i}", t + timedelta(minutes=30 * (i % 16)) + timedelta(days=i // 16))
                                     for i in range(40)])
        stuck = None
        if with_stuck_delivery:
            hang = Hanging(8.0)
            notify_settings = parse_settings({"database": {"url": url}, "notify": [{"name": "slow", "urls": [hang.url]}]})
            from synconsole.core import metrics

            with db.write() as session:  # an event alert: one fired transition owed to the target
                metrics.raise_event_alert(session, "log_fallback", "bench: the log path is not writable")
                session.commit()
            started = time.perf_counter()
            stuck = asyncio.create_task(asyncio.to_thread(deliver_round, db, notify_settings, "bench"))
            await asyncio.sleep(0.2)  # the delivery is now waiting on the receiver
        async with client_for(settings) as client:
            engine = SyncEngine(db, settings, client, worker="bench")
            t0 = time.perf_counter()
            report = await engine.drain()
            drain = time.perf_counter() - t0
        stuck_for = None
        if stuck is not None:
            await stuck
            stuck_for = time.perf_counter() - started
        assert report.synced >= 40, report.summary()
    db.dispose()
    return drain, stuck_for


def main() -> None:
    print("(a) messages per transition (fired, resolved) with N workers on one SQLite file")
    for n in (1, 3, 5, 8):
        fired, resolved = per_transition(n)
        print(f"    N={n}: fired {fired}, resolved {resolved}")
    samples = sorted(latency() for _ in range(5))
    print(f"(b) delivery latency, evaluation start -> receiver, 3 workers: median {samples[2]:.0f} ms "
          f"(min {samples[0]:.0f}, max {samples[-1]:.0f})")
    alone, _ = asyncio.run(sync_drain(False))
    beside, stuck = asyncio.run(sync_drain(True))
    print(f"(c) sync drain of 40 appointments: alone {alone * 1000:.0f} ms; while a delivery hangs on an 8 s "
          f"receiver {beside * 1000:.0f} ms (the delivery took {stuck:.1f} s)")


if __name__ == "__main__":
    main()
