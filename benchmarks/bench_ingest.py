"""Ingest benchmark: a live source on a real MariaDB (the seed platform's kind).

(a) Latency: a `synconsole worker` polls the source every 2 s and syncs every 1 s; appointments are
    committed in the platform's database one by one at random moments, and each one's latency is
    the time from its commit to its booking in the simulator (the booking's createdAt). Prints p50
    and p95 (target: p95 under poll + sync interval + 1 s = 4 s).
(b) Throughput: the platform's appointments table holds 100,000 and then 1,000,000 rows, all read
    before; 5,000 of them change (a move each) and one poll reads them in. Prints changed rows per
    second at each size: the cost must not grow with the table (the watermark index does the work).

    .venv/bin/python benchmarks/bench_ingest.py [--quick] [--only a|b]

MariaDB: ``SYNCONSOLE_BENCH_MYSQL_URL`` (a server you point it at), else a throwaway one from
Debian's mariadb-server (as the tests start it). ``--quick``: 15 appointments for (a), 100k only for (b).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from synconsole.config import parse_settings  # noqa: E402
from synconsole.core import clock  # noqa: E402
from synconsole.core.db import open_database  # noqa: E402
from synconsole.core.models import SourceState  # noqa: E402
from synconsole.sources import poll  # noqa: E402
from synconsole.sources.sql import SqlSource  # noqa: E402
from tests.sources.platform import Platform  # noqa: E402

from bench_sync import KEY, Simulator  # noqa: E402

POLL_S, SYNC_S = 2.0, 1.0


def source_block(url: str, queries: dict[str, str], **extra) -> str:
    lines = ["[[sources]]", 'name = "platform"', f'url = "{url}"', *(f"{k} = {json.dumps(v)}" for k, v in extra.items()),
             "[sources.queries]", *(f"{k} = '''{v}'''" for k, v in queries.items())]
    return "\n".join(lines) + "\n"


def new_platform(server_url: str) -> Platform:
    name = "bench_" + uuid.uuid4().hex[:8]
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    return Platform(sa.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)) \
        .create_schema()


# --- (a) latency ------------------------------------------------------------------------------------


def latency(server_url: str, work: Path, n: int) -> None:
    platform = new_platform(server_url)
    sim = Simulator(work, rate_limit=100_000, rate_window_s=60, block_s=60, latency_s=0.0)
    config = work / "worker.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{work / "ingest.db"}"\n'
        f'[calcom]\nbase_url = "{sim.url}"\napi_key = "{KEY}"\nrate_limit_per_minute = 100000\n'
        f'[jobs]\nsync_interval_s = {SYNC_S}\n[logging]\npath = "{work / "worker.log"}"\n'
        + source_block(platform.url, platform.queries, poll_interval_s=POLL_S, overlap_s=5))
    staff = [platform.add_staff(f"Host {h}", f"host{h}", 101 + h) for h in range(4)]
    customer = platform.add_customer("Anna", email="anna@example.com")
    worker = subprocess.Popen([sys.executable, "-m", "synconsole", "worker", "--config", str(config)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)
    try:
        time.sleep(3)  # the worker starts and reads the staff and customer
        rng = random.Random(7)
        committed: dict[str, float] = {}
        base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=3)
        for i in range(n):
            time.sleep(rng.uniform(0.2, 1.5))
            ident = platform.book(customer, staff[i % 4], base + timedelta(minutes=30 * i))
            committed[ident] = time.time()
        deadline = time.monotonic() + 30
        created: dict[str, float] = {}
        while time.monotonic() < deadline and len(created) < n:
            for b in sim.bookings():
                key = b["metadata"].get("synconsole_appointment_id")
                if key in committed:
                    created[key] = clock.parse_utc(b["createdAt"]).timestamp()
            time.sleep(0.5)
        lat = sorted(created[k] - committed[k] for k in created)
        p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
        verdict = "OK" if p95 < POLL_S + SYNC_S + 1 else "MISSED"
        print(f"(a) commit -> booking, poll {POLL_S:g} s, sync {SYNC_S:g} s: {len(lat)}/{n} booked; "
              f"p50 {statistics.median(lat):.2f} s, p95 {p95:.2f} s, max {lat[-1]:.2f} s "
              f"(target p95 < {POLL_S + SYNC_S + 1:g} s: {verdict})")
    finally:
        worker.terminate()
        worker.wait(30)
        sim.stop()
        platform.dispose()


# --- (b) throughput -----------------------------------------------------------------------------------


def throughput(server_url: str, work: Path, sizes: list[int], changed: int) -> None:
    for size in sizes:
        platform = new_platform(server_url)
        staff = [platform.add_staff(f"Host {h}", f"host{h}", 101 + h) for h in range(20)]
        customers = [platform.add_customer(f"C{c}", email=f"c{c}@example.com") for c in range(50)]
        t0 = time.perf_counter()
        with platform.engine.connect() as conn:  # the table, written long ago (updated_at in the past)
            conn.exec_driver_sql(
                "INSERT INTO appointments (id, customer_id, staff_id, starts_at, ends_at, status, created_at, updated_at) "
                f"SELECT UUID(), {customers[0]} + MOD(seq, 50), ELT(1 + MOD(seq, 20), {', '.join(repr(s) for s in staff)}), "
                "TIMESTAMPADD(MINUTE, 30 * seq, '2027-01-01 08:00:00'), "
                "TIMESTAMPADD(MINUTE, 30 * seq + 30, '2027-01-01 08:00:00'), 'scheduled', "
                f"'2026-01-01 00:00:00', '2026-01-01 00:00:00' FROM seq_1_to_{size}")
            conn.exec_driver_sql("ANALYZE TABLE appointments")
        built = time.perf_counter() - t0
        db = open_database(f"sqlite:///{work / f'throughput-{size}.db'}")
        settings = parse_settings({"database": {"url": db.url}, "sources": [{
            "name": "platform", "url": platform.url, "queries": platform.queries, "overlap_s": 5,
            "batch_size": 1000}]})
        (source,) = settings.sources
        reader = SqlSource(source)
        with db.write() as session:  # the old appointments count as read long ago: their watermark
            session.add(SourceState(id="platform", watermarks={"appointments": "2026-06-01T00:00:00"}))
            session.commit()
        poll.poll(db, settings, source, worker="bench", reader=reader)  # staff and customers, for real
        with db.session() as session:
            pages_before = session.get(SourceState, "platform").rows_seen
        platform.run(f"UPDATE appointments SET starts_at = TIMESTAMPADD(DAY, 1, starts_at), "
                     f"ends_at = TIMESTAMPADD(DAY, 1, ends_at), updated_at = CURRENT_TIMESTAMP "
                     f"ORDER BY id LIMIT {changed}")
        t0 = time.perf_counter()
        result = poll.poll(db, settings, source, worker="bench", reader=reader)
        took = time.perf_counter() - t0
        with platform.engine.connect() as conn:
            plan = " | ".join(str(r) for r in conn.exec_driver_sql(
                "EXPLAIN SELECT * FROM (" + platform.queries["appointments"].replace(":since", "'2026-06-01'")
                + ") AS p ORDER BY p.updated_at, p.id LIMIT 1000"))
        print(f"(b) {size:>9,} rows in the table (built in {built:.0f} s, first poll read {pages_before:,}): "
              f"{result.rows:,} changed rows read in {took:.2f} s = {result.rows / took:,.0f} rows/s "
              f"({result.changed:,} new here); plan: {'index' if 'updated_at' in plan else plan[:200]}")
        reader.close()
        db.dispose()
        platform.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=("a", "b"))
    args = parser.parse_args()
    server_url = os.environ.get("SYNCONSOLE_BENCH_MYSQL_URL")
    server = None
    if not server_url:
        from tests.mariadbserver import start_mariadb

        server = start_mariadb()
        server_url = server.url
    try:
        with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
            work = Path(tmp)
            print(f"ingest benchmark{' (quick)' if args.quick else ''}; MariaDB {server_url.split('@')[-1]}")
            if args.only in (None, "a"):
                latency(server_url, work, 15 if args.quick else 40)
            if args.only in (None, "b"):
                throughput(server_url, work, [100_000] if args.quick else [100_000, 1_000_000], 5_000)
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
