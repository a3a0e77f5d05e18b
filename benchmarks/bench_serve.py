"""`synconsole serve` benchmark: /metrics scrape time at 1M appointments (against status's own
SQL, core.metrics.compute), webhook requests per second and their p95 (answered before
processing), and /v1/check p95 without availability and with the simulator's slots.

Targets (issue 17): scrape under 100 ms and at most 2x status's SQL; /v1/check without
availability p95 under 20 ms.

    .venv/bin/python benchmarks/bench_serve.py [--rows 1000000] [--webhooks 1000] [--checks 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import hashlib
import hmac
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import bench_core  # noqa: E402  (the 1M-appointment database of the core benchmark)

SECRET = "bench-webhook-secret"
TOKEN = "bench-ingest-token"


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def timed(fn, runs: int) -> list[float]:
    fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def webhook_load(url: str, n: int, concurrency: int) -> tuple[float, list[float]]:
    import httpx

    bodies = [json.dumps({"triggerEvent": "BOOKING_CANCELLED", "createdAt": "2025-11-24T17:00:00Z",
                          "payload": {"uid": f"bench-{i}-{random.random()}", "status": "CANCELLED"}}).encode()
              for i in range(n)]
    latencies: list[float] = []
    queue = list(bodies)

    async def worker(client) -> None:
        while queue:
            body = queue.pop()
            sig = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            t0 = time.perf_counter()
            answer = await client.post("/webhooks/calcom", content=body, headers={"x-cal-signature-256": sig,
                                                                                 "content-type": "application/json"})
            latencies.append((time.perf_counter() - t0) * 1000)
            assert answer.status_code == 202, answer.text

    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return n / elapsed, latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--webhooks", type=int, default=1000)
    parser.add_argument("--checks", type=int, default=300)
    parser.add_argument("--keep", type=Path, help="keep (or reuse) the database in this folder")
    args = parser.parse_args()

    import httpx

    from synconsole.simulator import SimulatorServer
    from synconsole.config import parse_settings
    from synconsole.core import clock, metrics
    from synconsole.core.db import open_database
    from synconsole.core.importer import import_file
    from synconsole.server.metrics import registry_for

    work = args.keep or Path(tempfile.mkdtemp(prefix="synconsole-bench-serve-"))
    work.mkdir(parents=True, exist_ok=True)
    db_path = work / "bench.db"
    if not db_path.exists():
        rng = random.Random(42)
        data = work / "appointments.ndjson"
        print(f"building {args.rows:,} appointments in {db_path} ...", flush=True)
        bench_core.write_file(data, args.rows, rng)
        db = open_database(f"sqlite:///{db_path}")
        assert import_file(db, data, now=bench_core.NOW).ok
        db.dispose()
        bench_core.shape_states(db_path, rng)
        data.unlink()
    clock.freeze(bench_core.NOW)
    url = f"sqlite:///{db_path}"
    db = open_database(url)
    with SimulatorServer(api_key="cal_bench", event_types={"100": {"host": "host0", "length": 30}}) as sim:
        settings = parse_settings({"database": {"url": url}, "calcom": {"base_url": sim.url, "api_key": "cal_bench"},
                                   "server": {"webhook_secret": SECRET, "ingest_token": TOKEN,
                                              "max_concurrency": 1000}})
        # the server in a process of its own, as it runs: a client in the same process would share its GIL
        config = work / "serve.toml"
        config.write_text(f'[database]\nurl = "{url}"\n[calcom]\nbase_url = "{sim.url}"\napi_key = "cal_bench"\n'
                          f'[server]\nwebhook_secret = "{SECRET}"\ningest_token = "{TOKEN}"\nmax_concurrency = 1000\n'
                          f'[logging]\npath = "{work / "serve.log"}"\n', encoding="utf-8")
        env = {**os.environ, "SYNCONSOLE_NOW": clock.iso(bench_core.NOW),
               "PYTHONPATH": os.pathsep.join([str(HERE.parent / "src"), os.environ.get("PYTHONPATH", "")])}
        proc = subprocess.Popen([sys.executable, "-m", "synconsole", "serve", "--config", str(config), "--port", "0"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            served_url = proc.stdout.readline().strip()
            assert served_url.startswith("http://"), proc.stderr.read()
            http = httpx.Client(base_url=served_url, timeout=60)

            def status_sql():
                with db.session() as s:
                    metrics.compute(s, settings, bench_core.NOW)

            status_ms = timed(status_sql, 7)
            scrapes, _ = registry_for(db, settings)
            compute_ms = timed(lambda: scrapes.compute(reuse_within_s=0), 7)  # what the background refresh does
            scrape_ms = timed(lambda: http.get("/metrics").raise_for_status(), 30)  # what a scraper waits
            print(f"/metrics at {args.rows:,} appointments: a scrape answers in median "
                  f"{statistics.median(scrape_ms):.1f} ms, p95 {p95(scrape_ms):.1f} ms (target < 100 ms; from the "
                  f"result refreshed every {settings.server.metrics_refresh_s:g} s); one computation median "
                  f"{statistics.median(compute_ms):.1f} ms against status's own SQL (core.metrics.compute) "
                  f"{statistics.median(status_ms):.1f} ms: {statistics.median(compute_ms) / statistics.median(status_ms):.2f}x "
                  f"(target <= 2x)")

            for concurrency in (1, 8):
                rps, lat = asyncio.run(webhook_load(served_url, args.webhooks, concurrency))
                print(f"webhooks ({concurrency} client{'s' if concurrency > 1 else ''}): {rps:,.0f} requests/s, "
                      f"p50 {statistics.median(lat):.1f} ms, p95 {p95(lat):.1f} ms (answered before processing)")

            headers = {"authorization": f"Bearer {TOKEN}"}
            start = (bench_core.NOW + timedelta(days=2)).replace(hour=10, minute=0)
            body = {"appointment": {"id": "bench-new", "customer_id": "c-1", "staff_id": "s-0",
                                    "start": start.isoformat(), "duration_minutes": 30}}
            plain = timed(lambda: http.post("/v1/check", json=body, headers=headers).raise_for_status(), args.checks)
            print(f"/v1/check without availability: p50 {statistics.median(plain):.1f} ms, p95 {p95(plain):.1f} ms "
                  f"(target p95 < 20 ms)")
            slots = timed(lambda: http.post("/v1/check", json={**body, "availability": True},
                                            headers=headers).raise_for_status(), max(20, args.checks // 5))
            print(f"/v1/check with the simulator's slots: p50 {statistics.median(slots):.1f} ms, p95 {p95(slots):.1f} ms")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            db.dispose()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
