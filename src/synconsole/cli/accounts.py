"""``synconsole sync`` with several Cal.com accounts: every account's sync side by side, each
through its own client, budget and pause (the sync job's own code, jobs/host.py)."""

from __future__ import annotations

import asyncio

from synconsole.config import Settings
from synconsole.core.db import Database
from synconsole.errors import UsageError


def sync_accounts(db: Database, settings: Settings, *, once: bool, limit: int | None) -> str:
    from synconsole.jobs.host import JobHost, rounds, stop_on_signals

    if limit is not None:
        raise UsageError("sync --limit works with one Cal.com account; with [[calcom.accounts]] run it without "
                         "--limit")

    async def go() -> str:
        stop = stop_on_signals()
        host = JobHost(db, settings)
        results: list[str] = []

        async def run() -> None:
            results.append(await host._run_sync_accounts())

        def interrupt() -> None:
            host.stopping = True
            for engine in host._engines.values():
                engine.stop()

        try:
            await rounds(run, stop, interrupt=interrupt, done=lambda _: once, interval_s=settings.jobs.sync_interval_s)
        finally:
            await host.shutdown()
        return results[-1] if len(results) == 1 else f"{len(results)} rounds; last: {results[-1]}"

    return asyncio.run(go())
