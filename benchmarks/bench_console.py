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
    # Every frame the compositor renders (headless: rendered, then not written), with the time it
    # was done and where the queue's cursor was: "key to repaint" is key to the first frame that
    # shows the change, not key to the end of the pilot's own idle waits.
    frames: list[tuple[float, int | None]] = []
    display = app._display

    def recording_display(screen, renderable) -> None:
        display(screen, renderable)
        if renderable is not None:
            tables = screen.query(QueueTable)
            frames.append((time.perf_counter(), tables.first().cursor_row if tables else None))

    app._display = recording_display
    started = time.perf_counter()

    async def frame_after(since: float, timeout: float = 10.0, cursor: int | None = None) -> float:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            for at, row in frames:
                if at > since and (cursor is None or row == cursor):
                    return at
            await asyncio.sleep(0.001)
        raise TimeoutError("no frame")

    async def repainted(pilot, key_at: float) -> float:
        """ms from the key to the first frame after the page it asked for reached the screen."""
        deadline = time.perf_counter() + 10.0
        screen = pilot.app.screen
        while not (isinstance(screen, MainScreen) and screen.painted_at > key_at):
            if time.perf_counter() > deadline:
                raise TimeoutError("no repaint")
            await asyncio.sleep(0.001)
            screen = pilot.app.screen
        return (await frame_after(screen.painted_at) - key_at) * 1000

    async def counted(pilot) -> int:
        while pilot.app.screen.snapshot.total is None:
            await asyncio.sleep(0.005)
        return pilot.app.screen.snapshot.total

    async with app.run_test(size=(160, 50)) as pilot:
        first = await repainted(pilot, started)
        screen = pilot.app.screen
        total = await counted(pilot)
        print(f"first paint: {first:.0f} ms ({total:,} open appointments of the queue, page of "
              f"{len(screen.snapshot.rows)} rows)")

        filters = ["state:failed", "category:host_conflict", "age:>24h", "staff:s-7", "a-99", "state:pending",
                   "-state:failed", "state:failed category:host_conflict age:>24h", "status:cancelled",
                   "drift:yes", "snoozed:yes", ""]
        times = []
        for text in filters:
            await pilot.press("slash")
            box = screen.query_one("#filter")
            box.value = text
            await pilot.pause()
            t0 = time.perf_counter()
            await pilot.press("enter")
            times.append(await repainted(pilot, t0))
            matches = await counted(pilot)
            print(f"  filter {text or '(cleared)'!r}: {times[-1]:.1f} ms, {matches:,} matches")
        print(f"filter, enter to repaint: median {statistics.median(times):.1f} ms, max {max(times):.1f} ms "
              f"({len(times)} filters over the open work)")

        table = screen.query_one(QueueTable)
        t0 = time.perf_counter()
        await pilot.press("w")  # all appointments: a million rows to page through
        scope_ms = await repainted(pilot, t0)
        await counted(pilot)
        print(f"switch to all appointments ({screen.snapshot.total:,} rows, sort start), key to repaint: "
              f"{scope_ms:.0f} ms")
        move = []
        for _ in range(60):
            target = table.cursor_row + 1
            t0 = time.perf_counter()
            await pilot.press("down")
            move.append((await frame_after(t0, cursor=target) - t0) * 1000)
        print(f"cursor down within a page (key to repaint): median {statistics.median(move):.1f} ms, "
              f"max {max(move):.1f} ms")
        pages = []
        for _ in range(10):
            table.move_cursor(row=table.row_count - 1)
            await pilot.pause()
            t0 = time.perf_counter()
            await pilot.press("down")
            pages.append(await repainted(pilot, t0))
        print(f"scroll past the page end (next page from SQL, key to repaint): median "
              f"{statistics.median(pages):.1f} ms, max {max(pages):.1f} ms; now at rows "
              f"{screen.row_offset + 1:,}-{screen.row_offset + len(screen.snapshot.rows):,}")
        for sort in ("id", "start"):  # the sorts offered over every appointment (indexed)
            t0 = time.perf_counter()
            screen.sort_by(sort)
            ms = await repainted(pilot, t0)
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
