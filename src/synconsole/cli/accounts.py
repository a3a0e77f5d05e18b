"""``synconsole sync`` with several Cal.com accounts: every account's sync side by side, each
through its own client, budget and pause (the sync job's own code, jobs/host.py)."""

from __future__ import annotations

import asyncio

from synconsole.config import Settings
from synconsole.core.db import Database
from synconsole.errors import UsageError


def sync_accounts(db: Database, settings: Settings, *, once: bool, limit: int | None) -> str:
    from synconsole.jobs.host import JobHost

    if limit is not None:
        raise UsageError("sync --limit works with one Cal.com account; with [[calcom.accounts]] run it without "
                         "--limit")

    async def go() -> str:
        import signal

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        host = JobHost(db, settings)
        results: list[str] = []
        try:
            while True:
                task = asyncio.ensure_future(host._run_sync_accounts())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if stop.is_set():
                    host.stopping = True
                    for engine in host._engines.values():
                        engine.stop()
                results.append(await task)
                stopper.cancel()
                if once or stop.is_set():
                    return results[-1] if len(results) == 1 else f"{len(results)} rounds; last: {results[-1]}"
                try:
                    await asyncio.wait_for(stop.wait(), settings.jobs.sync_interval_s)
                except asyncio.TimeoutError:
                    pass
        finally:
            await host.shutdown()

    return asyncio.run(go())
