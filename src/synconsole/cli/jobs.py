"""The sync and its jobs: sync, worker, snapshot, jobs (pause, resume, run), sources (test, poll)."""

from __future__ import annotations


from synconsole.cli import AppContext, _merge_common, cli, click, common, emit_json
from synconsole.config import Settings
from synconsole.errors import EXIT_FAILED, UsageError, UserError


# --- sync, jobs, worker ---------------------------------------------------------------------------


def _calcom_client(settings: Settings, db=None):
    from synconsole.jobs.host import make_client

    client = make_client(settings, db=db)
    if client is None:
        raise UsageError("no Cal.com API key: set [calcom] api_key, api_key_env or SYNCONSOLE_CALCOM_API_KEY")
    return client


def _start_logging(app: AppContext, *, to_stderr: bool = False):
    from synconsole.core import logsetup

    setup = logsetup.configure(app.settings, to_stderr=to_stderr)
    if setup.fell_back:
        click.echo(f"synconsole: warning: {setup.message()}", err=True)
    logsetup.report_fallback(app.db(), setup)
    return setup


@cli.command()
@common
@click.option("--once", is_flag=True, help="Run until nothing is due now, then exit.")
@click.option("--limit", type=click.IntRange(1, 10_000_000), help="At most this many appointments.")
@click.option("--log-stderr", is_flag=True, help="Log to stderr (as [logging] path = \"-\"): systemd's journal, containers.")
@click.pass_context
def sync(ctx: click.Context, config, read_only, once: bool, limit: int | None, log_stderr: bool) -> None:
    """Push due appointments to Cal.com (the sync job, in the foreground)."""
    import asyncio

    from synconsole.jobs.host import rounds, stop_on_signals
    from synconsole.jobs.sync import SyncEngine, SyncReport

    app = _merge_common(ctx, config, read_only)
    app.refuse_if_read_only("sync")
    db = app.db()
    _start_logging(app, to_stderr=log_stderr)
    if len(app.settings.accounts) > 1:  # [[calcom.accounts]]: each account through its own client
        from synconsole.cli.accounts import sync_accounts

        click.echo(sync_accounts(db, app.settings, once=once, limit=limit))
        return
    client = _calcom_client(app.settings, db)

    async def go() -> tuple[SyncReport, object]:
        stop = stop_on_signals()
        total = SyncReport()
        async with client:
            engine = SyncEngine(db, app.settings, client)

            async def drain() -> None:
                total.add(await engine.drain(None if limit is None else limit - total.claimed))

            def done(_) -> bool:
                return once or engine.auth_error is not None or (limit is not None and total.claimed >= limit)

            await rounds(drain, stop, interrupt=engine.stop, done=done, interval_s=app.settings.jobs.sync_interval_s)
            return total, engine.auth_error

    report, auth_error = asyncio.run(go())
    click.echo(report.summary())
    if auth_error is not None:
        raise UserError(f"Cal.com refused the API key ({auth_error.summary()}); fix it and run `synconsole doctor`")


@cli.command()
@common
@click.pass_context
def snapshot(ctx: click.Context, config, read_only) -> None:
    """Record the metrics now (the snapshot job does this every few minutes)."""
    from synconsole.jobs.housekeeping import take_snapshot

    app = _merge_common(ctx, config, read_only)
    app.refuse_if_read_only("snapshot")
    click.echo(take_snapshot(app.db(), app.settings))


@cli.command()
@common
@click.option("--log-stderr", is_flag=True, help="Log to stderr (as [logging] path = \"-\"): systemd's journal, containers.")
@click.option("--serve", "serve_http", is_flag=True, help="Also serve the HTTP face in this process (as `synconsole serve`).")
@click.option("--serve-host", default="127.0.0.1", show_default=True, help="With --serve: address to listen on.")
@click.option("--serve-port", type=click.IntRange(0, 65535), default=8787, show_default=True,
              help="With --serve: port (0 picks a free one).")
@click.pass_context
def worker(ctx: click.Context, config, read_only, log_stderr: bool, serve_http: bool = False,
           serve_host: str = "127.0.0.1", serve_port: int = 8787) -> None:
    """Run the background jobs headless until SIGTERM/SIGINT (graceful)."""
    import asyncio

    from synconsole.jobs.host import JobHost, host_until, stop_on_signals
    from synconsole.jobs.registry import intervals

    app = _merge_common(ctx, config, read_only)
    app.refuse_if_read_only("worker")
    db = app.db()
    setup = _start_logging(app, to_stderr=log_stderr)

    async def go() -> None:
        stop = stop_on_signals()
        http = _serve_beside(app, serve_host, serve_port) if serve_http else None
        host = JobHost(db, app.settings)

        def started() -> None:
            jobs = ", ".join(f"{j} every {s:g}s" for j, s in intervals(app.settings).items())
            where = setup.path or "stderr"
            click.echo(f"synconsole worker {host.worker} running: {jobs}; logging to {where}", err=True)
            if http is not None:
                click.echo(f"synconsole worker: serving on {http.url}", err=True)

        async def stopping() -> None:
            click.echo("synconsole worker: stopping (finishing calls in flight)", err=True)
            if http is not None:
                await asyncio.to_thread(http.stop)

        await host_until(stop, host, started=started, stopping=stopping)

    asyncio.run(go())
    click.echo("synconsole worker: stopped", err=True)


def _serve_beside(app: AppContext, host: str, port: int):
    from synconsole.server.run import InThread

    try:
        return InThread(app.settings, app.db(), host=host, port=port).start()
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


@cli.group("jobs", invoke_without_command=True)
@common
@click.option("--json", "as_json", is_flag=True, help="Machine output on stdout.")
@click.pass_context
def jobs_group(ctx: click.Context, config, read_only, as_json: bool) -> None:
    """The background jobs: state, last and next run, last result."""
    if ctx.invoked_subcommand is not None:
        _merge_common(ctx, config, read_only)
        return
    from synconsole.jobs.host import job_views

    app = _merge_common(ctx, config, read_only)
    views = job_views(app.db(), app.settings)
    if as_json:
        emit_json([v.to_json() for v in views])
        return
    from synconsole.render import jobs_table

    click.echo(jobs_table(views))


@cli.group("sources", invoke_without_command=True)
@common
@click.option("--json", "as_json", is_flag=True, help="Machine output on stdout.")
@click.pass_context
def sources_group(ctx: click.Context, config, read_only, as_json: bool) -> None:
    """The live sources ([[sources]]): state, last poll, watermarks, rows, bad rows, lag."""
    if ctx.invoked_subcommand is not None:
        _merge_common(ctx, config, read_only)
        return
    from synconsole.core import clock
    from synconsole.sources import poll

    app = _merge_common(ctx, config, read_only)
    states = poll.states(app.db())
    docs = [poll.describe(states.get(s.name), s, clock.now()) for s in app.settings.sources]
    if as_json:
        emit_json(docs)
        return
    if not docs:
        click.echo("no sources configured: see [[sources]] in `synconsole config example`")
        return
    from synconsole.render import sources_table

    click.echo(sources_table(docs))


def _source(app: AppContext, name: str):
    found = next((s for s in app.settings.sources if s.name == name), None)
    if found is None:
        known = ", ".join(s.name for s in app.settings.sources) or "none configured"
        raise UsageError(f"unknown source {name!r} (sources: {known})")
    return found


@sources_group.command("test")
@common
@click.argument("name")
@click.option("--limit", type=click.IntRange(1, 1000), default=5, show_default=True, help="Rows per query.")
@click.option("--reveal-pii", is_flag=True, help="Show customer emails and phones unmasked.")
@click.pass_context
def sources_test(ctx: click.Context, config, read_only, name: str, limit: int, reveal_pii: bool) -> None:
    """Run a source's queries once (LIMIT), print the mapped rows and every problem; change nothing."""
    from synconsole.sources import check

    app = _merge_common(ctx, config, read_only)
    report = check.try_source(_source(app, name), limit=limit, reveal=reveal_pii)
    click.echo(report.text())
    if not report.ok:
        ctx.exit(EXIT_FAILED)


@sources_group.command("poll")
@common
@click.argument("name")
@click.pass_context
def sources_poll(ctx: click.Context, config, read_only, name: str) -> None:
    """Poll one source now (as the ingest job does), in this process."""
    from synconsole.jobs.sync import worker_id
    from synconsole.sources import poll

    app = _merge_common(ctx, config, read_only)
    source = _source(app, name)
    app.refuse_if_read_only("sources poll")
    _start_logging(app)
    result = poll.poll(app.db(), app.settings, source, worker=worker_id())
    click.echo(result.summary())
    if not result.ok:
        ctx.exit(EXIT_FAILED)


@jobs_group.command("pause")
@common
@click.argument("job")
@click.option("--reason", help="Why (kept in the audit log).")
@click.pass_context
def jobs_pause(ctx: click.Context, config, read_only, job: str, reason: str | None) -> None:
    """Pause a job in every process."""
    from synconsole.core import audit
    from synconsole.jobs import state
    from synconsole.jobs.registry import check_job

    app = _merge_common(ctx, config, read_only)
    check_job(job)
    app.refuse_if_read_only("jobs pause")
    changed = state.pause(app.db(), job, actor=audit.os_actor(), reason=reason)
    click.echo(f"{job}: paused" if changed else f"{job}: already paused")


@jobs_group.command("resume")
@common
@click.argument("job")
@click.pass_context
def jobs_resume(ctx: click.Context, config, read_only, job: str) -> None:
    """Resume a paused job."""
    from synconsole.core import audit
    from synconsole.jobs import state
    from synconsole.jobs.registry import check_job

    app = _merge_common(ctx, config, read_only)
    check_job(job)
    app.refuse_if_read_only("jobs resume")
    changed = state.resume(app.db(), job, actor=audit.os_actor())
    click.echo(f"{job}: resumed" if changed else f"{job}: was not paused")


@jobs_group.command("run")
@common
@click.argument("job")
@click.pass_context
def jobs_run(ctx: click.Context, config, read_only, job: str) -> None:
    """Run a job once now, in this process."""
    import asyncio

    from synconsole.jobs.host import JobHost
    from synconsole.jobs.registry import check_job

    app = _merge_common(ctx, config, read_only)
    check_job(job)
    app.refuse_if_read_only("jobs run")
    db = app.db()
    _start_logging(app)

    async def go():
        host = JobHost(db, app.settings)
        try:
            return await host.run_now(job)
        finally:
            await host.shutdown()

    ok, result = asyncio.run(go())
    click.echo(f"{job}: {result}")
    if not ok:
        ctx.exit(EXIT_FAILED)
