"""The console and the demo: `synconsole` (or `synconsole tui`) and `synconsole demo`."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from synconsole.cli import _merge_common, cli, click, common
from synconsole.cli.jobs import _start_logging
from synconsole.errors import UsageError


# --- the console --------------------------------------------------------------------------------


def _need_terminal() -> None:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("the console needs a terminal (stdin and stdout); for scripts use status, list, show")
    size = shutil.get_terminal_size((0, 0))
    if size.columns and (size.columns < 60 or size.lines < 16):
        raise UsageError(f"the console needs at least 60x16 characters; this terminal is {size.columns}x{size.lines}")


@cli.command()
@common
@click.option("--no-jobs", is_flag=True, help="Do not run the background jobs in this console.")
@click.pass_context
def tui(ctx: click.Context, config, read_only, no_jobs: bool) -> None:
    """The full-screen console (jobs run inside it unless --no-jobs or read-only)."""
    from synconsole.tui.app import SynconsoleApp

    app = _merge_common(ctx, config, read_only)
    _need_terminal()
    db = app.db()
    if not no_jobs and not app.settings.read_only:
        _start_logging(app)
    console = SynconsoleApp(db, app.settings, jobs=not no_jobs)
    console.run()
    if console.return_code:  # the console crashed: not a success, whatever Textual printed
        ctx.exit(console.return_code)


@cli.command()
@common
@click.option("--no-tui", is_flag=True, help="Run the demo headless: jobs and simulator until Ctrl-C.")
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the demo's database, config and log here (default: a temporary folder).")
@click.option("--keep", is_flag=True, help="Keep the temporary folder when the demo ends (it is removed otherwise).")
@click.pass_context
def demo(ctx: click.Context, config, read_only, no_tui: bool, folder: Path | None, keep: bool) -> None:
    """A temporary database, the built-in Cal.com simulator and the seed's incident, live."""
    import asyncio

    from synconsole import demo as scenario

    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        if any(folder.iterdir()):
            raise UsageError(f"--dir {folder}: the folder must be empty (the demo writes a fresh database)")
    if not no_tui:
        _need_terminal()
    running = scenario.start(folder)
    keep = keep or folder is not None
    app = _merge_common(ctx, str(running.config_path), read_only)
    try:
        if no_tui:
            click.echo(f"demo: simulator {running.simulator.url}; database and log in {running.folder}")
            click.echo(f"demo: try `synconsole --config {running.config_path} status` in another terminal; "
                       "Ctrl-C stops")
            click.echo(scenario.NOTICE)
            click.echo(f"demo: alerts notify the [[notify]] target demo-oncall, a built-in receiver writing to "
                       f"{running.folder / 'notifications.log'}")
            from synconsole.jobs.host import JobHost, host_until, stop_on_signals

            _start_logging(app)

            async def go() -> None:
                stop = stop_on_signals()
                await host_until(stop, JobHost(running.db, app.settings))

            asyncio.run(go())
        else:
            from synconsole.tui.app import SynconsoleApp

            _start_logging(app)
            SynconsoleApp(running.db, app.settings, jobs=not app.settings.read_only, notice=scenario.NOTICE).run()
    finally:
        running.close(keep=keep)
    if keep:
        click.echo(f"demo finished; its database, config and log stay in {running.folder}")
    else:
        click.echo(f"demo finished; its folder {running.folder} is removed (--keep keeps it)")
