"""Sync benchmark: throughput of the sync engine against the Cal.com simulator over real HTTP.

(a) Latency-bound: the simulator answers after 100 ms and its rate limit is out of reach. The
    engine should keep ``max_concurrency`` calls in flight all the time, so bookings/s should be
    close to the ideal ``max_concurrency / latency`` (target >= 0.8 of it), for 4 and 8.
    Measured in-process (``SyncEngine.drain``) and as ``synconsole sync --once`` (a process:
    start-up and schema check included).
(b) Budget-bound: Cal.com's real limit, 120 requests per 60 s window per key (blocked 60 s past
    it), and the client's ``rate_limit_per_minute = 120``, on a queue larger than the run. Prints
    the sustained bookings per minute over whole limiter cycles (target >= 115/min) and the 429s
    (target 0).

(c) One key, several processes: 1, 2 and 4 ``synconsole worker`` processes on one SQLite database
    and one key at Cal.com's real 120/min (blocked 60 s past it). They share the key's budget in the
    database (core/budget.py). Prints the sustained requests per minute the simulator received
    (target >= 0.95 of the limit, 114/min) and its 429s (target 0) for each worker count, and the
    budget's database cost: reservation transactions per second over the run, and the median time
    one reservation takes on SQLite and on PostgreSQL ($SYNCONSOLE_TEST_POSTGRES_URL, a server URL:
    a scratch database is created on it; skipped without it).

The simulator runs as its own process (``synconsole simulator``), the database is a temporary
SQLite file. Each (a) run also measures bare httpx POSTs against the same simulator ("raw"), which
separates what the engine costs from what the transport and the simulator cost.

    .venv/bin/python benchmarks/bench_sync.py [--quick] [--profile] [--only a|b|c]

``--quick``: fewer appointments for (a), in-process only, and (b) for ~65 s (one limiter cycle)
instead of ~150 s.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from synconsole.calcom.client import CalcomClient  # noqa: E402
from synconsole.config import parse_settings  # noqa: E402
from synconsole.core.db import open_database  # noqa: E402
from synconsole.core.importer import import_file  # noqa: E402
from synconsole.jobs.sync import SyncEngine  # noqa: E402

KEY = "cal_bench_sync"
HOSTS = 20
CUSTOMERS = 50
LATENCY_S = 0.1


# --- scenario -------------------------------------------------------------------------------------


def event_types() -> dict[str, dict]:
    return {str(101 + h): {"host": f"host{h}", "length": 30} for h in range(HOSTS)}


def write_scenario(path: Path, n: int, *, prefix: str, day_offset: int) -> None:
    """``n`` appointments spread over HOSTS hosts, 30 min apart per host, never overlapping."""
    base = (datetime.now(UTC) + timedelta(days=2 + day_offset)).replace(hour=0, minute=0, second=0, microsecond=0)
    with path.open("w") as fh:
        for h in range(HOSTS):
            fh.write(json.dumps({"kind": "staff", "id": f"s-{h}", "name": f"Host {h}", "calcom_username": f"host{h}",
                                 "event_type_id": 101 + h}) + "\n")
        for c in range(CUSTOMERS):
            fh.write(json.dumps({"kind": "customer", "id": f"c-{c}", "name": f"Customer {c}",
                                 "email": f"c{c}@example.com"}) + "\n")
        for i in range(n):
            start = base + timedelta(minutes=30 * (i // HOSTS))
            fh.write(json.dumps({"kind": "appointment", "id": f"{prefix}{i:06d}", "customer_id": f"c-{i % CUSTOMERS}",
                                 "staff_id": f"s-{i % HOSTS}", "start": start.isoformat(),
                                 "duration_minutes": 30}) + "\n")


# --- the simulator process --------------------------------------------------------------------------


class Simulator:
    def __init__(self, workdir: Path, *, rate_limit: int, rate_window_s: float, block_s: float,
                 latency_s: float) -> None:
        types = workdir / "event-types.json"
        types.write_text(json.dumps(event_types()))
        self.out = (workdir / "simulator.stdout").open("w+")
        self.err = (workdir / "simulator.stderr").open("w+")
        python = [sys.executable, "-m", "synconsole"]
        self.proc = subprocess.Popen(
            [*python, "simulator", "--port", "0", "--api-key", KEY,
             "--event-types", str(types), "--rate-limit", str(rate_limit), "--rate-window", str(rate_window_s),
             "--block", str(block_s), "--latency", str(latency_s)],
            stdout=self.out, stderr=self.err, stdin=subprocess.DEVNULL, cwd=workdir)
        self.url = self._first_line(workdir / "simulator.stdout")

    def _first_line(self, path: Path, timeout_s: float = 30) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            text = path.read_text()
            if text.endswith("\n"):
                url = text.splitlines()[0].strip()
                while time.monotonic() < deadline:
                    try:
                        if httpx.get(f"{url}/_sim/health", timeout=2).status_code == 200:
                            return url
                    except httpx.HTTPError:
                        time.sleep(0.05)
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"the simulator did not start: {self.err.name}")

    def stats(self) -> dict:
        return httpx.get(f"{self.url}/_sim/stats", timeout=30).json()

    def bookings(self) -> list[dict]:
        return httpx.get(f"{self.url}/_sim/bookings", timeout=60).json()["bookings"]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


# --- one run --------------------------------------------------------------------------------------


def settings_for(db_url: str, sim_url: str, *, concurrency: int, rate_limit_per_minute: int, batch_size: int = 50):
    return parse_settings({
        "database": {"url": db_url},
        "calcom": {"base_url": sim_url, "api_key": KEY, "max_concurrency": concurrency,
                   "rate_limit_per_minute": rate_limit_per_minute, "timeout_s": 30.0},
        "sync": {"batch_size": batch_size, "lease_s": 600, "backoff_base_s": 1.0, "backoff_max_s": 5.0},
    })


def fresh_db(workdir: Path, name: str, n: int, *, day_offset: int):
    db_url = f"sqlite:///{workdir / (name + '.db')}"
    db = open_database(db_url)
    rows = workdir / f"{name}.ndjson"
    write_scenario(rows, n, prefix=f"{name}-", day_offset=day_offset)
    result = import_file(db, rows)
    assert result.ok, result.summary()
    return db, db_url


def write_config(workdir: Path, name: str, settings_data: dict) -> Path:
    lines = []
    for section, values in settings_data.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path = workdir / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


async def drain(db, settings, *, stop_after_s: float | None = None):
    async with CalcomClient(settings.calcom.base_url, settings.calcom.api_key.reveal(),
                            timeout_s=settings.calcom.timeout_s,
                            rate_limit_per_minute=settings.calcom.rate_limit_per_minute,
                            max_concurrency=settings.calcom.max_concurrency) as client:
        engine = SyncEngine(db, settings, client, worker="bench")
        task = asyncio.ensure_future(engine.drain())
        started = time.perf_counter()
        if stop_after_s is None:
            report = await task
        else:
            done, _ = await asyncio.wait({task}, timeout=stop_after_s)
            if not done:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
            report = task.result() if done else None
        return report, time.perf_counter() - started, client.limiter.stats()


def count_synced(db) -> int:
    import sqlalchemy as sa

    with db.engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM appointments WHERE sync_state = 'synced'")).scalar_one()


# --- (a) latency-bound ----------------------------------------------------------------------------


async def raw_creates(url: str, n: int, concurrency: int, day_offset: int) -> float:
    """The transport alone: ``concurrency`` loops of bare httpx POSTs (no engine, no database)."""
    base = (datetime.now(UTC) + timedelta(days=2 + day_offset)).replace(hour=0, minute=0, second=0, microsecond=0)
    headers = {"Authorization": f"Bearer {KEY}", "cal-api-version": "2024-08-13"}
    todo = list(range(n))
    async with httpx.AsyncClient(base_url=url, limits=httpx.Limits(max_connections=concurrency)) as http:
        async def loop() -> None:
            while todo:
                i = todo.pop()
                start = base + timedelta(minutes=30 * (i // HOSTS))
                body = {"start": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "eventTypeId": 101 + i % HOSTS,
                        "attendee": {"name": "Raw", "timeZone": "UTC", "email": "raw@example.com"},
                        "metadata": {"synconsole_appointment_id": f"raw-{day_offset}-{i}"}}
                response = await http.post("/v2/bookings", json=body, headers=headers)
                assert response.status_code == 201, response.text

        started = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        return n / (time.perf_counter() - started)


def bench_latency(workdir: Path, *, n: int, concurrencies: tuple[int, ...], cli: bool, profile: bool) -> list[dict]:
    sim = Simulator(workdir, rate_limit=1_000_000, rate_window_s=60, block_s=60, latency_s=LATENCY_S)
    results = []
    try:
        day = 0
        for c in concurrencies:
            ideal = c / LATENCY_S
            day += 3
            raw = asyncio.run(raw_creates(sim.url, n, c, day))
            results.append({"mode": "raw httpx", "concurrency": c, "rate": raw, "ideal": ideal})
            print(f"  (a) raw httpx c={c}: {raw:6.1f}/s; ideal {ideal:5.1f}/s; ratio {raw / ideal:.2f} "
                  "(transport and simulator alone, no engine, no database)", flush=True)
            day += 3
            db, db_url = fresh_db(workdir, f"a-inproc-c{c}", n, day_offset=day)
            settings = settings_for(db_url, sim.url, concurrency=c, rate_limit_per_minute=100_000)
            profiler = cProfile.Profile() if profile else None
            if profiler:
                profiler.enable()
            report, elapsed, _ = asyncio.run(drain(db, settings))
            if profiler:
                profiler.disable()
            synced = count_synced(db)
            db.dispose()
            rate = synced / elapsed
            results.append({"mode": "in-process drain", "concurrency": c, "synced": synced, "seconds": elapsed,
                            "rate": rate, "ideal": ideal})
            print(f"  (a) in-process drain c={c}: {synced} bookings in {elapsed:6.2f} s = {rate:6.1f}/s; "
                  f"ideal {ideal:5.1f}/s; ratio {rate / ideal:.2f} "
                  f"{'OK' if rate / ideal >= 0.8 else 'MISSED (< 0.8)'}; {rate / raw:.2f} of raw httpx", flush=True)
            if profiler:
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
                print(out.getvalue())
            if cli:
                day += 3
                db, db_url = fresh_db(workdir, f"a-cli-c{c}", n, day_offset=day)
                db.dispose()
                config = write_config(workdir, f"a-cli-c{c}", {
                    "database": {"url": db_url},
                    "calcom": {"base_url": sim.url, "api_key": KEY, "max_concurrency": c,
                               "rate_limit_per_minute": 100_000},
                    "sync": {"batch_size": 50, "lease_s": 600},
                    "logging": {"path": str(workdir / f"a-cli-c{c}.log")},
                })
                started = time.perf_counter()
                proc = subprocess.run([sys.executable, "-m", "synconsole", "sync", "--once", "--config", str(config)],
                                      capture_output=True, text=True, cwd=workdir, timeout=600)
                elapsed = time.perf_counter() - started
                db = open_database(db_url)
                synced = count_synced(db)
                db.dispose()
                rate = synced / elapsed
                results.append({"mode": "sync --once", "concurrency": c, "synced": synced, "seconds": elapsed,
                                "rate": rate, "ideal": ideal})
                print(f"  (a) sync --once c={c}: {synced} bookings in {elapsed:6.2f} s = {rate:6.1f}/s; "
                      f"ideal {ideal:5.1f}/s; ratio {rate / ideal:.2f} (process start-up included; "
                      f"exit {proc.returncode}: {proc.stdout.strip()})", flush=True)
    finally:
        sim.stop()
    return results


# --- (b) budget-bound -----------------------------------------------------------------------------


def bench_budget(workdir: Path, *, n: int, duration_s: float, concurrency: int = 4) -> dict:
    sim = Simulator(workdir, rate_limit=120, rate_window_s=60, block_s=60, latency_s=LATENCY_S)
    try:
        db, db_url = fresh_db(workdir, "b", n, day_offset=30)
        settings = settings_for(db_url, sim.url, concurrency=concurrency, rate_limit_per_minute=120)
        _, elapsed, limiter = asyncio.run(drain(db, settings, stop_after_s=duration_s))
        db.dispose()
        stats = sim.stats()
        created = sorted(_ms(b["createdAt"]) for b in sim.bookings())
    finally:
        sim.stop()
    total = len(created)
    # Bursts: the limiter spends a window's budget, then waits for the next window.
    starts = [created[0]] + [t for prev, t in zip(created, created[1:]) if t - prev > 5.0] if created else []
    if len(starts) >= 2:
        whole = [t for t in created if t < starts[-1]]
        span = starts[-1] - starts[0]
        sustained = len(whole) / span * 60
        periods = [b - a for a, b in zip(starts, starts[1:])]
    else:
        sustained, periods = None, []
    throttle = stats["throttle"]
    result = {"bookings": total, "seconds": elapsed, "naive_per_min": total / elapsed * 60,
              "sustained_per_min": sustained, "cycle_periods_s": periods, "bursts": len(starts),
              "throttled_429": throttle["throttled_429"], "received_while_blocked": throttle["received_while_blocked"],
              "requests": throttle["requests"], "client_sent": limiter.sent}
    s = "n/a (needs two limiter cycles)" if sustained is None else f"{sustained:6.1f}/min"
    print(f"  (b) 120/min budget, c={concurrency}, {elapsed:.0f} s: {total} bookings "
          f"({total / elapsed * 60:.1f}/min over the run, first window included); sustained over whole cycles: {s} "
          f"{'' if sustained is None else ('OK' if sustained >= 115 else 'MISSED (< 115)')}; cycle periods "
          f"{', '.join(f'{p:.1f} s' for p in periods) or '-'}; 429s: {throttle['throttled_429']} "
          f"{'OK' if throttle['throttled_429'] == 0 else 'MISSED'}; sent while blocked: "
          f"{throttle['received_while_blocked']}", flush=True)
    return result


# --- (c) one key, several worker processes ------------------------------------------------------------


def bench_workers(workdir: Path, *, workers: int, n: int, duration_s: float) -> dict:
    """``workers`` real `synconsole worker` processes on one database and one key at 120/min."""
    import sqlalchemy as sa

    sim = Simulator(workdir, rate_limit=120, rate_window_s=60, block_s=60, latency_s=LATENCY_S)
    name = f"c{workers}"
    procs: list[subprocess.Popen] = []
    try:
        db, db_url = fresh_db(workdir, name, n, day_offset=60 + workers * 10)
        data = {"database": {"url": db_url},
                "calcom": {"base_url": sim.url, "api_key": KEY, "max_concurrency": 4, "rate_limit_per_minute": 120,
                           "timeout_s": 30.0},
                "sync": {"batch_size": 20, "lease_s": 600, "backoff_base_s": 1.0, "backoff_max_s": 5.0},
                "jobs": {"sync_interval_s": 0.5},
                "logging": {"path": str(workdir / f"{name}.log")}}
        config = write_config(workdir, name, data)
        for i in range(workers):
            err = (workdir / f"{name}-worker{i}.stderr").open("w")
            procs.append(subprocess.Popen([sys.executable, "-m", "synconsole", "worker", "--config", str(config)],
                                          stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL,
                                          cwd=workdir))
        deadline = time.monotonic() + 60
        while sim.stats()["throttle"]["requests"] == 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no request within 60 s; see {workdir}/{name}-worker0.stderr")
            time.sleep(0.05)
        first = sim.stats()["throttle"]["requests"]
        started = time.monotonic()
        time.sleep(duration_s)
        throttle = sim.stats()["throttle"]
        elapsed = time.monotonic() - started
        with db.engine.connect() as conn:
            reservations = conn.execute(sa.text("SELECT reservations FROM calcom_accounts WHERE id = 'default'"))\
                .scalar_one()
        db.dispose()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        sim.stop()
    per_min = (throttle["requests"] - first) / elapsed * 60
    ok = per_min >= 0.95 * 120 and throttle["throttled_429"] == 0
    print(f"  (c) {workers} worker{'s' if workers > 1 else ' '} on one key, {elapsed:.0f} s: "
          f"{per_min:6.1f} requests/min = {per_min / 120:.3f} of 120/min; 429s {throttle['throttled_429']}, "
          f"while blocked {throttle['received_while_blocked']}; reservations {reservations} = "
          f"{reservations / elapsed:.2f} transactions/s {'OK' if ok else 'MISSED'}", flush=True)
    return {"workers": workers, "per_min": per_min, "share": per_min / 120, "seconds": elapsed,
            "throttled_429": throttle["throttled_429"], "received_while_blocked": throttle["received_while_blocked"],
            "reservations": reservations, "reservations_per_s": reservations / elapsed}


def bench_reservation_cost(workdir: Path, *, n: int = 400) -> None:
    """The median time of one reservation transaction (``SharedBudget._reserve``) on each backend."""
    import os
    import statistics
    import uuid

    import sqlalchemy as sa

    from synconsole.core.budget import SharedBudget

    urls = [("SQLite", f"sqlite:///{workdir / 'reserve.db'}")]
    server = os.environ.get("SYNCONSOLE_TEST_POSTGRES_URL")
    scratch = None
    if server:
        scratch = "bench_" + uuid.uuid4().hex[:10]
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{scratch}"')
        admin.dispose()
        urls.append(("PostgreSQL", sa.engine.make_url(server).set(database=scratch)
                     .render_as_string(hide_password=False)))
    try:
        for label, url in urls:
            db = open_database(url)
            part = SharedBudget(db, "bench", 100_000)  # never empty: every reservation is a grant
            times = []
            for _ in range(n):
                t = time.perf_counter()
                part._reserve(1)
                times.append(time.perf_counter() - t)
            db.dispose()
            print(f"  (c) one reservation transaction on {label}: median {statistics.median(times) * 1000:.2f} ms, "
                  f"p95 {sorted(times)[int(n * 0.95)] * 1000:.2f} ms ({n} in a row, one process)", flush=True)
        if not server:
            print("  (c) PostgreSQL: skipped (set SYNCONSOLE_TEST_POSTGRES_URL)", flush=True)
    finally:
        if scratch:
            admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
            admin.dispose()


def _ms(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--profile", action="store_true", help="cProfile the in-process drains of (a)")
    parser.add_argument("--only", choices=("a", "b", "c"), help="run one part")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    parser.add_argument("--b-concurrency", type=int, default=4, help="max_concurrency for (b) (default 4)")
    args = parser.parse_args(argv)
    n_a = 240 if args.quick else 800
    duration_b = 65 if args.quick else 150
    n_b = 400 if args.quick else 800
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="bench-sync-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"sync benchmark ({'quick' if args.quick else 'full'}); simulator latency {LATENCY_S * 1000:.0f} ms; "
          f"work dir {workdir}", flush=True)
    if args.only in (None, "a"):
        print(f"(a) latency-bound, rate limit out of reach, {n_a} appointments per run", flush=True)
        bench_latency(workdir, n=n_a, concurrencies=(4, 8), cli=not args.quick, profile=args.profile)
    if args.only in (None, "b"):
        print(f"(b) Cal.com's budget: 120 requests per 60 s window, block 60 s; {n_b} appointments queued; "
              f"stopping after {duration_b} s", flush=True)
        bench_budget(workdir, n=n_b, duration_s=duration_b, concurrency=args.b_concurrency)
    if args.only in (None, "c"):
        duration_c = 65 if args.quick else 125
        print(f"(c) one key at 120/min, 1, 2 and 4 worker processes on one SQLite database; {duration_c} s each "
              "from the first request", flush=True)
        for workers in (1, 2, 4):
            bench_workers(workdir, workers=workers, n=800, duration_s=duration_c)
        bench_reservation_cost(workdir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
