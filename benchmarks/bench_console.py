"""Console benchmark on a large database: first paint, keystroke to repaint, peak memory.

Targets (issue 5): first paint under 1 s, keystroke to repaint under 50 ms for filter and scroll,
peak memory under 200 MB, with 1,000,000 appointments.

    .venv/bin/python benchmarks/bench_core.py --keep /tmp/bench1m      # builds the database once
    .venv/bin/python benchmarks/bench_console.py /tmp/bench1m/bench.db
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import time
from pathlib import Path


async def run(db_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    from synconsole.config import parse_settings
    from synconsole.core.db import open_database
    from synconsole.tui.app import SynconsoleApp
    from synconsole.tui.screens.main import MainScreen
    from synconsole.tui.widgets.queue import QueueTable

    db = open_database(f"sqlite:///{db_path}")
    settings = parse_settings({"ui": {"refresh_interval_s": 3600.0}})
    app = SynconsoleApp(db, settings, jobs=False)
    started = time.perf_counter()

    async def painted(pilot, after: float, timeout: float = 10.0) -> float:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            screen = pilot.app.screen
            if isinstance(screen, MainScreen) and screen.painted_at and screen.painted_at > after:
                return (screen.painted_at - after) * 1000
            await asyncio.sleep(0.001)
        raise TimeoutError("no repaint")

    async def counted(pilot) -> int:
        while pilot.app.screen.snapshot.total is None:
            await asyncio.sleep(0.005)
        return pilot.app.screen.snapshot.total

    async with app.run_test(size=(160, 50)) as pilot:
        first = await painted(pilot, started)
        screen = pilot.app.screen
        total = await counted(pilot)
        print(f"first paint: {first:.0f} ms ({total:,} open appointments of the queue, page of "
              f"{len(screen.snapshot.rows)} rows)")

        filters = ["state:failed", "category:host_conflict", "age:>24h", "staff:s-7", "a-99", ""]
        times = []
        for text in filters:
            await pilot.press("slash")
            box = screen.query_one("#filter")
            box.value = text
            t0 = time.perf_counter()
            await pilot.press("enter")
            times.append(await painted(pilot, t0))
            await counted(pilot)
        print(f"filter, enter to repaint: median {statistics.median(times):.1f} ms, max {max(times):.1f} ms "
              f"({len(times)} filters)")

        table = screen.query_one(QueueTable)
        t0 = time.perf_counter()
        await pilot.press("w")  # all appointments: a million rows to page through
        scope_ms = await painted(pilot, t0)
        await counted(pilot)
        print(f"switch to all appointments ({screen.snapshot.total:,} rows, sort start), key to repaint: "
              f"{scope_ms:.0f} ms")
        move = []
        for _ in range(60):
            t0 = time.perf_counter()
            await pilot.press("down")
            move.append((time.perf_counter() - t0) * 1000)
        print(f"cursor down within a page (key to repaint): median {statistics.median(move):.1f} ms, "
              f"max {max(move):.1f} ms")
        pages = []
        for _ in range(10):
            table.move_cursor(row=table.row_count - 1)
            await pilot.pause()
            t0 = time.perf_counter()
            await pilot.press("down")
            pages.append(await painted(pilot, t0))
        print(f"scroll past the page end (next page from SQL, key to repaint): median "
              f"{statistics.median(pages):.1f} ms, max {max(pages):.1f} ms; now at rows "
              f"{screen.row_offset + 1:,}-{screen.row_offset + len(screen.snapshot.rows):,}")
        for sort in ("id", "start"):  # the sorts offered over every appointment (indexed)
            t0 = time.perf_counter()
            screen.sort_by(sort)
            ms = await painted(pilot, t0)
            await counted(pilot)
            print(f"sort by {sort} over all rows, to repaint: {ms:.0f} ms")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS of the process): {peak:.0f} MB")
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db", type=Path, help="a database built by bench_core.py --keep")
    args = parser.parse_args()
    if not args.db.exists():
        raise SystemExit(f"{args.db}: not found; build it with benchmarks/bench_core.py --keep DIR")
    asyncio.run(run(args.db))


if __name__ == "__main__":
    main()
