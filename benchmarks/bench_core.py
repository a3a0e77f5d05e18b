"""Core benchmark: import 1,000,000 appointments, then time `status` against raw SQL.

Prints: import rows/s (and peak RSS of the import), then the time of the status metrics through
synconsole next to the same counts done by raw SQL through the sqlite3 CLI on the same file.
Targets (issue 2): status within 1.5x of raw SQL and under 300 ms.

    .venv/bin/python benchmarks/bench_core.py [--rows 1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

NOW = datetime(2025, 11, 24, 17, 0, tzinfo=UTC)
STAFF = 60
CUSTOMERS = 200_000


def write_file(path: Path, rows: int, rng: random.Random) -> None:
    with path.open("w") as fh:
        for i in range(STAFF):
            fh.write(json.dumps({"kind": "staff", "id": f"s-{i}", "name": f"Staff {i}", "calcom_username": f"host{i % 50}",
                                 "event_type_id": 100 + i, "time_zone": "Europe/Berlin"}) + "\n")
        for i in range(CUSTOMERS):
            anonymous = i % 40 == 0
            fh.write(json.dumps({"kind": "customer", "id": f"c-{i}", "name": f"Customer {i}",
                                 "email": None if anonymous else f"c{i}@example.com",
                                 "phone": f"anonymous_{1732456789 + i}_ab{i:x}" if anonymous else f"+49151{i:07d}",
                                 "time_zone": "Europe/Berlin"}) + "\n")
        base = NOW - timedelta(days=180)
        for i in range(rows):
            start = base + timedelta(minutes=15 * i // 3)
            row = {"kind": "appointment", "id": f"a-{i}", "customer_id": f"c-{rng.randrange(CUSTOMERS)}",
                   "staff_id": f"s-{rng.randrange(STAFF)}", "start": start.isoformat(), "duration_minutes": 30}
            if rng.random() < 0.97:
                row["booking_uid"] = f"uid-{i}"
            fh.write(json.dumps(row) + "\n")


def shape_states(db_path: Path, rng: random.Random) -> None:
    """Turn a realistic share into failures and give the last 24 h their attempts (plain sqlite3)."""
    import sqlite3

    cats = ["past_appointment"] * 11 + ["host_conflict"] * 3 + ["missing_contact", "unknown", "transient",
                                                                 "validation", "missing_staff"]
    con = sqlite3.connect(db_path)
    ids = [r[0] for r in con.execute("SELECT id FROM appointments WHERE sync_state = 'pending'")]
    rng.shuffle(ids)
    failed, retry = ids[: len(ids) // 3], ids[len(ids) // 3: len(ids) // 3 + 2000]
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    con.executemany(
        "UPDATE appointments SET sync_state='failed', category=?, first_failed_at=?, attempts=1, "
        "last_error='Attempting to book a meeting in the past.' WHERE id=?",
        [(rng.choice(cats), (NOW - timedelta(minutes=rng.randrange(60 * 24 * 30))).strftime(fmt), i) for i in failed],
    )
    con.executemany("UPDATE appointments SET sync_state='retry_scheduled' WHERE id=?", [(i,) for i in retry])
    synced = [r[0] for r in con.execute("SELECT id FROM appointments WHERE sync_state='synced' LIMIT 60000")]
    attempts = []
    for appt in synced + failed[:5000]:
        for _ in range(rng.choice((1, 1, 1, 2))):
            at = (NOW - timedelta(minutes=rng.randrange(60 * 48))).strftime(fmt)
            ok = rng.random() < 0.9
            attempts.append((appt, at, "success" if ok else "retry", 201 if ok else 503,
                             None if ok else "transient"))
    con.executemany("INSERT INTO sync_attempts (appointment_id, at, worker, operation, outcome, http_status, category) "
                    "VALUES (?, ?, 'bench', 'create', ?, ?, ?)", attempts)
    con.commit()
    con.execute("ANALYZE")
    con.close()


RAW_SQL = """
SELECT category, count(*),
  sum(first_failed_at < '{d1}'),
  sum(snoozed_until IS NULL OR snoozed_until <= '{now}'),
  sum((snoozed_until IS NULL OR snoozed_until <= '{now}') AND first_failed_at < '{d1}'),
  sum(first_failed_at >= '{h1}'),
  sum(first_failed_at < '{h1}' AND first_failed_at >= '{d1}'),
  sum(first_failed_at < '{d1}' AND first_failed_at >= '{d7}'),
  sum(first_failed_at < '{d7}'),
  min(first_failed_at)
FROM appointments WHERE sync_state = 'failed' AND status = 'scheduled' GROUP BY category;
SELECT count(*), sum(sync_state = 'pending' AND (last_attempt_at IS NULL OR last_attempt_at < queued_at)
  AND queued_at < '{m15}')
FROM appointments WHERE sync_state IN ('pending', 'in_flight', 'retry_scheduled');
SELECT count(*), sum(s.outcome = 'success') FROM sync_attempts s
  JOIN (SELECT appointment_id, max(id) AS mid FROM sync_attempts WHERE at >= '{d1}' GROUP BY appointment_id) l
  ON s.id = l.mid;
SELECT category, http_status, at FROM sync_attempts WHERE outcome != 'preflight' ORDER BY id DESC LIMIT 5;
SELECT count(*) FROM sync_attempts WHERE at >= '{m15}' AND http_status = 429;
SELECT count(*) FROM appointments WHERE drift IS NOT NULL AND status = 'scheduled';
SELECT * FROM alert_state WHERE source = 'event' AND active = 1;
"""


def raw_sql() -> str:
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    t = lambda d: (NOW - d).strftime(fmt)  # noqa: E731
    return RAW_SQL.format(now=NOW.strftime(fmt), d1=t(timedelta(days=1)), h1=t(timedelta(hours=1)),
                          d7=t(timedelta(days=7)), m15=t(timedelta(minutes=15)))


def median_ms(fn, runs: int = 7) -> float:
    fn()  # warm the page cache
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="keep the database and file in this folder")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    from synconsole.config import load_settings
    from synconsole.core import metrics
    from synconsole.core.db import open_database
    from synconsole.core.importer import import_file

    work = args.keep or Path(tempfile.mkdtemp(prefix="synconsole-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(42)
    data, db_path = work / "appointments.ndjson", work / "bench.db"
    for p in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        p.unlink(missing_ok=True)
    print(f"writing {args.rows:,} appointments + {CUSTOMERS:,} customers + {STAFF} staff to {data} ...", flush=True)
    write_file(data, args.rows, rng)
    total_rows = args.rows + CUSTOMERS + STAFF

    db = open_database(f"sqlite:///{db_path}")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    result = import_file(db, data, now=NOW)
    elapsed = time.perf_counter() - t0
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert result.ok, result.summary()
    print(f"import: {total_rows:,} rows in {elapsed:.1f} s = {total_rows / elapsed:,.0f} rows/s "
          f"({args.rows / elapsed:,.0f} appointments/s); peak RSS {rss_after / 1024:.0f} MB "
          f"(+{(rss_after - rss_before) / 1024:.0f} MB during import); file {data.stat().st_size / 1e6:.0f} MB")
    db.dispose()

    shape_states(db_path, rng)
    db = open_database(f"sqlite:///{db_path}")
    settings = load_settings(None, env={})

    def ours():
        with db.session() as s:
            return metrics.compute(s, settings, NOW)

    m = ours()
    ours_ms = median_ms(ours)
    sql = raw_sql()
    sqlite3_bin = shutil.which("sqlite3")
    if sqlite3_bin is None:
        print("sqlite3 CLI not found: raw SQL comparison skipped")
        return
    raw = lambda: subprocess.run([sqlite3_bin, str(db_path)], input=sql, capture_output=True, text=True, check=True)  # noqa: E731
    raw_ms = median_ms(raw)
    startup_ms = median_ms(lambda: subprocess.run([sqlite3_bin, ":memory:"], input=b"SELECT 1;", capture_output=True,
                                                  check=True))
    print(f"status: failed={m.failed:,} pending={m.pending:,} manual_review={m.manual_review:,} "
          f"ancient={m.ancient_failures:,} success_rate_24h={m.success_rate_24h} alerts={[a.id for a in m.alerts]}")
    print(f"status metrics through synconsole: {ours_ms:.1f} ms (median of 7)")
    print(f"same counts, raw SQL via sqlite3 CLI: {raw_ms:.1f} ms (process incl. {startup_ms:.1f} ms start-up); "
          f"ratio {ours_ms / raw_ms:.2f}x; vs raw SQL minus start-up {ours_ms / max(raw_ms - startup_ms, 0.1):.2f}x")
    print(f"targets: under 300 ms -> {'met' if ours_ms < 300 else 'MISSED'}; within 1.5x of raw SQL -> "
          f"{'met' if ours_ms <= 1.5 * raw_ms else 'MISSED'}")
    db.dispose()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
