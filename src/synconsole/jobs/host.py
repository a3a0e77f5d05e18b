"""Host the background jobs in the running asyncio loop (APScheduler 3.11, in-memory job store).

The console hosts one (unless ``--no-jobs``), ``synconsole worker`` hosts one headless, and the CLI
uses the same entry points for ``jobs run``. APScheduler 3 cannot share a job store across
processes, so each process schedules its own copy and every job is safe to run in several
processes at once (claims with leases; version-checked updates). Pause flags and last runs live
in the database, so a pause from any process holds everywhere.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import datetime, timedelta
from typing import Any, Awaitable, Callable, TypeVar

from synconsole.calcom.client import CalcomClient
from synconsole.calcom.errors import CalcomError
from synconsole.config import DEFAULT_ACCOUNT, Settings
from synconsole.core import accounts, audit, clock
from synconsole.core.clients import calcom_client as make_client
from synconsole.core.db import Database, fault
from synconsole.core.logsetup import log
from synconsole.core import cleanup
from synconsole.errors import ConfigError
from synconsole.jobs import housekeeping, reconcile, state
from synconsole.jobs.registry import JOB_IDS, JOBS, check_job, job_ids
from synconsole.jobs.state import AUTH_PAUSE, JobView
from synconsole.jobs.sync import STOP_GRACE_S, SyncEngine, SyncReport, worker_id

logger = logging.getLogger("synconsole.jobs")
AUTH_PROBE_EVERY = timedelta(seconds=60)


class JobHost:
    def __init__(self, db: Database, settings: Settings, *, worker: str | None = None,
                 client: CalcomClient | None = None) -> None:
        self.db = db
        self.settings = settings
        self.worker = worker or worker_id()
        self._client = client
        self._own_client = client is None
        self._engine: SyncEngine | None = None
        #: with several Cal.com accounts: each one's client and sync engine (its budget, circuit, pause)
        self._clients: dict[str, CalcomClient] = {}
        self._engines: dict[str, SyncEngine] = {}
        self._account_probes: dict[str, datetime] = {}
        self._locks = {j: asyncio.Lock() for j in JOB_IDS}
        self._scheduler = None
        self._last_auth_probe: datetime | None = None
        #: scheduled runs under way, from the first await on (reading the pause flag) to the end
        self._ticks: set[asyncio.Task] = set()
        self._readers: dict[str, Any] = {}  # source name -> SqlSource
        self.stopping = False

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def client(self) -> CalcomClient | None:
        if self._client is None and self._own_client:
            self._client = make_client(self.settings, db=self.db)
        return self._client

    @property
    def engine(self) -> SyncEngine | None:
        """The one sync engine with one account; with several, the default account's."""
        if self.several_accounts:
            return self.engine_for(DEFAULT_ACCOUNT)
        if self._engine is None and self.client is not None:
            self._engine = SyncEngine(self.db, self.settings, self.client, worker=self.worker)
        return self._engine

    @property
    def several_accounts(self) -> bool:
        return len(self.settings.accounts) > 1

    def client_for(self, account: str | None = None) -> CalcomClient | None:
        """The client of one Cal.com account (None: no key, or no such account configured)."""
        account = account or DEFAULT_ACCOUNT
        if account == DEFAULT_ACCOUNT:
            return self.client
        if account not in self._clients:
            try:
                self.settings.account(account)
            except ConfigError:
                return None
            client = make_client(self.settings, account, self.db)
            if client is None:
                return None
            self._clients[account] = client
        return self._clients[account]

    def engine_for(self, account: str) -> SyncEngine | None:
        """With several accounts: the engine claiming only ``account``'s appointments."""
        if account not in self._engines:
            client = self.client_for(account)
            if client is None:
                return None
            self._engines[account] = SyncEngine(self.db, self.settings, client, worker=self.worker, account=account,
                                                clients=self.client_for)
        return self._engines[account]

    def start(self) -> None:
        """Schedule every job; call from inside the running event loop."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        scheduler = AsyncIOScheduler(timezone="UTC")
        first = clock.now()
        for job_id in job_ids(self.settings):
            interval = JOBS[job_id].interval(self.settings)
            start = first if JOBS[job_id].at_once else first + timedelta(seconds=interval)
            scheduler.add_job(self._tick, "interval", seconds=interval, args=[job_id], id=job_id, name=job_id,
                              next_run_time=start, coalesce=True, max_instances=1, misfire_grace_time=None)
        scheduler.start()
        self._scheduler = scheduler
        log(logger, logging.INFO, "jobs started", worker=self.worker)

    async def shutdown(self) -> None:
        """Graceful: stop claiming, let calls in flight finish, release unsent claims, close."""
        self.stopping = True
        if self._scheduler is not None:
            self._scheduler.pause()  # no new runs; the running ones go on
        if self._engine is not None:
            self._engine.stop()
        elif self._client is not None:  # cleanup or reconcile may be on the wire
            self._client.stop(STOP_GRACE_S)
        for engine in self._engines.values():
            engine.stop()
        for account, client in self._clients.items():
            if account not in self._engines:
                client.stop(STOP_GRACE_S)
        ticks = [t for t in self._ticks if t is not asyncio.current_task()]
        if ticks:  # runs that started, whether or not they hold their job's lock yet
            await asyncio.gather(*ticks, return_exceptions=True)
        for lock in self._locks.values():  # and runs started by run_now
            async with lock:
                pass
        if self._scheduler is not None:
            # only now: shutting the executor down cancels what is still running
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self._own_client and self._client is not None:
            await self._client.aclose()
        for client in self._clients.values():
            await client.aclose()
        for reader in self._readers.values():
            reader.close()
        log(logger, logging.INFO, "jobs stopped", worker=self.worker)

    # --- control --------------------------------------------------------------------------------

    def next_run(self, job_id: str) -> datetime | None:
        if self._scheduler is None:
            return None
        job = self._scheduler.get_job(job_id)
        return job.next_run_time if job is not None else None

    def views(self) -> list[JobView]:
        return job_views(self.db, self.settings, next_run=self.next_run, running=lambda j: self._locks[j].locked())

    async def run_now(self, job_id: str) -> tuple[bool, str]:
        """Run a job right away (not waiting for its interval), paused or not. Returns (ok, result)."""
        check_job(job_id)
        return await self._execute(job_id, manual=True)

    # --- running --------------------------------------------------------------------------------

    async def _tick(self, job_id: str) -> None:
        if self.stopping:
            return
        task = asyncio.current_task()
        self._ticks.add(task)
        try:
            await self._run_tick(job_id)
        finally:
            self._ticks.discard(task)

    async def _run_tick(self, job_id: str) -> None:
        current = await asyncio.to_thread(state.get, self.db, job_id)
        if self.stopping:  # shutdown began while the flag was read: start nothing now
            return
        if current.paused:
            if job_id == "sync" and (current.paused_reason or "").startswith(AUTH_PAUSE):
                await self._probe_auth()
            return
        await self._execute(job_id, manual=False)

    async def _execute(self, job_id: str, *, manual: bool) -> tuple[bool, str]:
        lock = self._locks[job_id]
        if lock.locked() and not manual:
            return False, "already running"
        async with lock:
            started = clock.now()
            try:
                result = await JOBS[job_id].run(self)
                ok = True
            except CalcomError as err:
                ok, result = False, f"Cal.com: {err.summary()}"
            except Exception as exc:  # a job must never take the host down; the error is shown
                known = fault(exc, self.db.url)  # locked, disk full, damaged: one line, no traceback
                ok, result = False, str(known) if known is not None else f"{type(exc).__name__}: {exc}"
                if known is None:
                    logger.exception("job %s failed", job_id)
            finished = clock.now()
            try:
                await asyncio.to_thread(state.record_run, self.db, job_id, started=started, finished=finished,
                                        ok=ok, result=result, worker=self.worker)
            except Exception:  # the database may be the problem; the log still says it
                logger.exception("could not record the run of job %s", job_id)
            log(logger, logging.INFO if ok else logging.WARNING, f"job {job_id} {'ran' if ok else 'failed'}",
                result=result, duration_ms=int((finished - started).total_seconds() * 1000))
            return ok, result

    async def _probe_auth(self) -> None:
        now = clock.now()
        if self.client is None or (self._last_auth_probe and now - self._last_auth_probe < AUTH_PROBE_EVERY):
            return
        self._last_auth_probe = now
        try:
            await self.client.ping()
        except CalcomError:
            return
        await asyncio.to_thread(state.resume, self.db, "sync", actor=audit.job_actor("sync"),
                                reason="Cal.com accepts the API key again")
        log(logger, logging.INFO, "sync resumed: Cal.com accepts the API key again")

    async def _run_sync(self) -> str:
        if self.several_accounts:
            return await self._run_sync_accounts()
        engine = self.engine
        if engine is None:
            raise RuntimeError("no Cal.com API key configured ([calcom] api_key or SYNCONSOLE_CALCOM_API_KEY)")
        report = await engine.drain()
        if engine.auth_error is not None:
            error, engine.auth_error = engine.auth_error, None
            await asyncio.to_thread(state.pause, self.db, "sync", actor=audit.job_actor("sync"),
                                    reason=f"{AUTH_PAUSE}: Cal.com refused the API key ({error.summary()})")
            self._last_auth_probe = clock.now()
        return report.summary()

    async def _run_sync_accounts(self) -> str:
        """Every account's sync side by side (one busy account does not hold up another), each
        with its own budget, circuit and pause: a refused key pauses that account only."""
        paused = await asyncio.to_thread(accounts.paused, self.db)
        results: dict[str, str] = {}
        running: list[tuple[str, SyncEngine]] = []
        for account in self.settings.accounts:
            if account.id in paused:
                if (paused[account.id].reason or "").startswith(accounts.AUTH_PAUSE) \
                        and await self._probe_account(account.id):
                    results[account.id] = "resumed (its key is accepted again)"
                else:
                    results[account.id] = "paused"
                continue
            engine = self.engine_for(account.id)
            if engine is None:
                results[account.id] = "no API key"
                continue
            running.append((account.id, engine))
        totals: dict[str, SyncReport] = {account_id: SyncReport() for account_id, _ in running}
        failed: list[BaseException] = []
        # value: (account, engine, idle); an idle task is a relaunch after a drain that found nothing
        tasks = {asyncio.ensure_future(engine.drain()): (account_id, engine, False) for account_id, engine in running}
        interval = JOBS["sync"].interval(self.settings)

        def others_working() -> bool:
            return any(not idle for _, _, idle in tasks.values())

        while tasks:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                account_id, engine, _idle = tasks.pop(task)
                if task.exception() is not None:
                    failed.append(task.exception())
                    continue
                report = task.result()
                if report is None:  # an idle relaunch that found every other account done
                    continue
                totals[account_id].add(report)
                if engine.auth_error is not None:  # at once: the other accounts may run on for long
                    await self._pause_account(account_id, engine)
                elif others_working() and not self.stopping:
                    # another account is still busy: this one goes on on its own schedule meanwhile
                    idle = not report.claimed
                    tasks[asyncio.ensure_future(_after(interval, engine, others_working))] = (account_id, engine, idle)
        for account_id, report in totals.items():
            results[account_id] = report.summary()
        if failed:
            raise failed[0]
        return "; ".join(f"{account}: {result}" for account, result in results.items())

    async def _pause_account(self, account_id: str, engine: SyncEngine) -> None:
        error, engine.auth_error = engine.auth_error, None
        await asyncio.to_thread(
            accounts.pause, self.db, account_id, actor=audit.job_actor("sync"),
            reason=f"{accounts.AUTH_PAUSE}: Cal.com refused the API key of account {account_id} "
                   f"({error.summary()})")
        self._account_probes[account_id] = clock.now()
        log(logger, logging.ERROR, "Cal.com account paused: its API key was refused", account=account_id)

    async def _probe_account(self, account: str) -> bool:
        """Once a minute: does Cal.com accept the paused account's key again? Resumes it if so."""
        now = clock.now()
        last = self._account_probes.get(account)
        client = self.client_for(account)
        if client is None or (last is not None and now - last < AUTH_PROBE_EVERY):
            return False
        self._account_probes[account] = now
        try:
            await client.ping()
        except CalcomError:
            return False
        await asyncio.to_thread(accounts.resume, self.db, account, actor=audit.job_actor("sync"),
                                reason=f"Cal.com accepts the API key of account {account} again")
        log(logger, logging.INFO, "Cal.com account resumed: its API key is accepted again", account=account)
        return True

    async def _run_cleanup(self) -> str:
        mode = self.settings.jobs.cleanup_mode
        items = await asyncio.to_thread(cleanup.plan, self.db, mode=mode)
        done = await asyncio.to_thread(cleanup.apply, self.db, items, mode=mode, actor=audit.job_actor("cleanup"))
        verb = "flagged" if mode == "flag" else "cancelled"
        result = f"{done} past-appointment failure{'s' if done != 1 else ''} {verb}"
        backfilled = await asyncio.to_thread(cleanup.auto_backfill, self.db, self.settings,
                                             actor=audit.job_actor("cleanup"))
        return result + (f"; {backfilled}" if backfilled else "")

    async def _run_alerts(self) -> str:
        result = await asyncio.to_thread(housekeeping.evaluate_alerts, self.db, self.settings)
        if self.settings.notify:  # in the alerts job's own thread: a slow target never holds up the sync
            from synconsole.notify.run import deliver_round

            result += "; " + await asyncio.to_thread(deliver_round, self.db, self.settings, self.worker)
        return result

    async def _run_snapshot(self) -> str:
        return await asyncio.to_thread(housekeeping.take_snapshot, self.db, self.settings)

    async def _run_ingest(self) -> str:
        """Poll every source that is due (one poller per source across processes: a lease)."""
        from synconsole.sources import poll

        if not self.settings.sources:
            return "no sources configured ([[sources]])"
        from synconsole.sources.sql import SqlSource

        results = []
        for source in self.settings.sources:
            if self.stopping:
                break
            if await asyncio.to_thread(poll.due, self.db, source, clock.now()):
                if source.name not in self._readers:  # one connection pool per source, kept between polls
                    self._readers[source.name] = SqlSource(source)
                results.append(await asyncio.to_thread(poll.poll, self.db, self.settings, source, worker=self.worker,
                                                       reader=self._readers[source.name]))
        if any(r.changed for r in results):
            self._wake("sync")  # what just came in goes out now, not at the sync job's next tick
        failed = [r for r in results if not r.ok]
        if failed:
            raise RuntimeError("; ".join(r.summary() for r in failed))
        return "; ".join(r.summary() for r in results) or "no source due"

    def _wake(self, job_id: str) -> None:
        job = self._scheduler.get_job(job_id) if self._scheduler is not None else None
        if job is not None and not self.stopping:
            job.modify(next_run_time=clock.now())

    async def _run_reconcile(self) -> str:
        if self.several_accounts:
            paused = await asyncio.to_thread(accounts.paused, self.db)
            results = []
            for account in self.settings.accounts:
                client = self.client_for(account.id)
                if client is None or account.id in paused:
                    continue
                report = await reconcile.reconcile(self.db, client, actor=audit.job_actor("reconcile"),
                                                   account=account.id)
                results.append(f"{account.id}: {report.summary()}")
            return "; ".join(results) or "no account to check"
        if self.client is None:
            raise RuntimeError("no Cal.com API key configured")
        report = await reconcile.reconcile(self.db, self.client, actor=audit.job_actor("reconcile"))
        return report.summary()


async def _after(wait_s: float, engine: SyncEngine, still: Callable[[], bool]) -> SyncReport | None:
    """``engine``'s next drain after ``wait_s``, if ``still()`` then (else None)."""
    await asyncio.sleep(wait_s)
    if not still() or engine.stopping:
        return None
    return await engine.drain()


T = TypeVar("T")


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def stop_on_signals(signals: tuple[int, ...] = STOP_SIGNALS) -> asyncio.Event:
    """An event that SIGTERM and SIGINT set (call inside the running loop): the one graceful stop of
    every process that hosts the jobs or runs the sync. The handler only sets it, so a signal is
    never held up by whatever the loop is waiting on. (Not SIGHUP by default: a worker started with
    ``nohup`` must outlive the session that started it; the console adds it, its terminal is gone.)"""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    return stop


def clear_signals(signals: tuple[int, ...] = STOP_SIGNALS) -> None:
    """Undo :func:`stop_on_signals` on the running loop."""
    loop = asyncio.get_running_loop()
    for sig in signals:
        loop.remove_signal_handler(sig)


async def host_until(stop: asyncio.Event, host: JobHost, *, started: Callable[[], None] | None = None,
                     stopping: Callable[[], Awaitable[None]] | None = None) -> None:
    """Start ``host``'s jobs, wait for ``stop``, then shut them down gracefully: the job-host loop
    of ``worker`` and ``demo --no-tui`` (the console starts its host as it mounts, and shuts it down
    as it quits, also on these signals)."""
    host.start()
    if started is not None:
        started()
    await stop.wait()
    if stopping is not None:
        await stopping()
    await host.shutdown()


async def rounds(run: Callable[[], Awaitable[T]], stop: asyncio.Event, *, interrupt: Callable[[], None],
                 done: Callable[[T], bool], interval_s: float) -> None:
    """Run ``run`` again and again, ``interval_s`` apart, until ``done(result)`` or ``stop``: a stop
    during a round calls ``interrupt`` (stop claiming) and ends the loop once the round is over."""
    while True:
        task = asyncio.ensure_future(run())
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            interrupt()
        result = await task
        stopper.cancel()
        if stop.is_set() or done(result):
            return
        try:
            await asyncio.wait_for(stop.wait(), interval_s)
        except asyncio.TimeoutError:
            pass


def job_views(db: Database, settings: Settings, *, next_run: Callable[[str], datetime | None] = lambda j: None,
              running: Callable[[str], bool] = lambda j: False) -> list[JobView]:
    """Every job these settings run, as the jobs screen and ``synconsole jobs`` show it; without a
    host in this process there is no next run and nothing runs here."""
    states = state.all_states(db)
    return [job_view(settings, states[j], next_run=next_run(j), running=running(j)) for j in job_ids(settings)]


def job_view(settings: Settings, st, *, next_run: datetime | None = None, running: bool = False) -> JobView:
    return JobView(
        id=st.id, paused=bool(st.paused), paused_by=st.paused_by, paused_reason=st.paused_reason,
        interval_s=JOBS[st.id].interval(settings), last_run_at=st.last_run_at, last_finished_at=st.last_finished_at,
        last_result=st.last_result, last_ok=st.last_ok, last_duration_ms=st.last_duration_ms,
        last_worker=st.last_worker, runs=st.runs or 0, next_run_at=next_run, running=running,
    )
