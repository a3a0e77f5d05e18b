"""The command line: parse, call the core, print. Nothing here decides anything."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import click as _click

from synconsole import __version__
from synconsole.config import Settings, database_url, example_config, load_settings
from synconsole.core.text import printable
from synconsole.errors import EXIT_FAILED, EXIT_USAGE, ReadOnlyError, UsageError, UserError


class _PrintableClick:
    """``click`` itself, except that ``click.echo`` shows control characters as escapes instead of
    handing them to the operator's terminal: every line we print may quote imported data, and an
    escape sequence in a customer name must not set the clipboard. JSON goes out exactly
    (``emit_json``)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_click, name)

    @staticmethod
    def echo(message: Any = None, file: Any = None, nl: bool = True, err: bool = False, color: Any = None) -> None:
        if message is not None and not isinstance(message, (bytes, bytearray)):
            message = printable(message)
        _click.echo(message, file=file, nl=nl, err=err, color=color)


click = _PrintableClick()


@dataclass
class AppContext:
    """What every command needs, built lazily so ``--help`` never reads a config."""

    config_path: str | None = None
    read_only: bool = False
    _settings: Settings | None = field(default=None, repr=False)
    _db: Any = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path, read_only=self.read_only)
        return self._settings

    def db(self):
        from synconsole.core.db import open_database, open_existing

        if self._db is None:
            opener = open_existing if self.settings.read_only else open_database
            self._db = opener(database_url(self.settings), busy_timeout_ms=self.settings.database.busy_timeout_ms)
        return self._db

    def refuse_if_read_only(self, what: str) -> None:
        if self.settings.read_only:
            raise ReadOnlyError(f"refused: {what} changes data and synconsole is read-only "
                                "(--read-only, SYNCONSOLE_READ_ONLY=1 or [ui] read_only)")

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()


def _merge_common(ctx: click.Context, config: str | None, read_only: bool) -> AppContext:
    app: AppContext = ctx.ensure_object(AppContext)
    if config:
        app.config_path = config
    if read_only:
        app.read_only = True
    return app


def common(func: Callable) -> Callable:
    """``--config`` and ``--read-only`` after the command name too (contract: before or after)."""
    func = click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
                        help="Config file (default: $SYNCONSOLE_CONFIG, ./synconsole.toml, user config dir).")(func)
    func = click.option("--read-only", is_flag=True, default=False, help="Refuse every change.")(func)
    return func


def emit_json(value: Any) -> None:
    _click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def confirm(prompt: str, *, yes: bool) -> bool:
    """Ask y/n on a terminal; without one, refuse rather than hang."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError("refusing to change anything without --yes: there is no terminal to ask on "
                         "(use --dry-run to preview)")
    return click.confirm(prompt, default=False, err=True)


class _Command(click.Command):
    def get_short_help_str(self, limit: int = 45) -> str:
        """The whole first sentence in a group's command list (wrapped there), never cut."""
        return super().get_short_help_str(limit=10_000)


class _Group(click.Group):
    command_class = _Command
    group_class = type  # subgroups are _Group too

    def get_short_help_str(self, limit: int = 45) -> str:
        return super().get_short_help_str(limit=10_000)


@click.group(cls=_Group, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@common
@click.version_option(__version__, prog_name="synconsole")
@click.pass_context
def cli(ctx: click.Context, config: str | None, read_only: bool) -> None:
    """synconsole: keep appointment syncs to Cal.com healthy.

    Without a command, opens the console.
    """
    app = _merge_common(ctx, config, read_only)
    ctx.call_on_close(app.close)
    if ctx.invoked_subcommand is None:
        ctx.invoke(tui, config=None, read_only=False, no_jobs=False)


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
            from synconsole.jobs.host import JobHost

            _start_logging(app)

            async def go() -> None:
                stop = asyncio.Event()
                await _until_signalled(stop)
                host = JobHost(running.db, app.settings)
                host.start()
                await stop.wait()
                await host.shutdown()

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


# --- status, list, show -------------------------------------------------------------------------


@cli.command()
@common
@click.option("--json", "as_json", is_flag=True, help="Machine output on stdout.")
@click.option("--check", is_flag=True, help="Monitoring plugin: one line with perfdata; exit 0 OK, 1 warning alerts, "
              "2 critical alerts, 3 unknown (any error: config, database, ...).")
@click.option("--verbose", "-v", is_flag=True, help="With --check: the status table after the plugin line.")
@click.pass_context
def status(ctx: click.Context, config, read_only, as_json: bool, check: bool, verbose: bool) -> None:
    """The health metrics and active alerts."""
    from synconsole.core import metrics

    app = _merge_common(ctx, config, read_only)
    db = app.db()
    with db.session() as session:
        m = metrics.compute(session, app.settings)
    if as_json:
        emit_json(m.to_json())
    elif check:
        from synconsole.core import plugin

        click.echo(plugin.line(m, low_success_rate=app.settings.alerts.low_success_rate))
    if not as_json and (verbose or not check):
        from synconsole.render import status_text

        click.echo(status_text(m))
    if check:
        ctx.exit(m.check_exit_code())


@cli.command("list")
@common
@click.option("--state", help="Sync state: pending, in_flight, retry_scheduled, synced, failed, cancelled, "
                              "skipped, or queued (the first three).")
@click.option("--category", help="Failure category id, e.g. host_conflict.")
@click.option("--staff", "staff_id", help="Staff id.")
@click.option("--drift", is_flag=True, help="Only booked appointments that no longer match Cal.com.")
@click.option("--filter", "filter_text", metavar="FILTER",
              help='The console\'s filter syntax, e.g. "category:host_conflict age:>24h staff:s-1".')
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine output on stdout.")
@click.option("--reveal-pii", is_flag=True, help="Show emails and phones in errors and notes unmasked.")
@click.pass_context
def list_(ctx: click.Context, config, read_only, state, category, staff_id, drift, filter_text, limit,
          as_json, reveal_pii) -> None:
    """Appointments, by start time."""
    from synconsole.core import clock, filters, queries

    app = _merge_common(ctx, config, read_only)
    flt = filters.parse(filter_text) if filter_text is not None else None
    condition = flt.condition(clock.now()) if flt is not None else None
    with app.db().session() as session:
        rows = queries.list_appointments(session, state=state, category=category, staff_id=staff_id,
                                         drift=drift, condition=condition, limit=limit)
        docs = [queries.appointment_json(a, reveal=reveal_pii) for a in rows]
    if as_json:
        emit_json(docs)
        return
    from synconsole.render import appointment_table

    click.echo(appointment_table(docs, width=shutil.get_terminal_size((120, 24)).columns))


@cli.command()
@common
@click.argument("appointment_id")
@click.option("--json", "as_json", is_flag=True, help="Machine output on stdout.")
@click.option("--reveal-pii", is_flag=True, help="Show customer emails and phones unmasked.")
@click.pass_context
def show(ctx: click.Context, config, read_only, appointment_id: str, as_json: bool, reveal_pii: bool) -> None:
    """One appointment: fields, every attempt with its full error, the audit trail."""
    from synconsole.core import queries

    app = _merge_common(ctx, config, read_only)
    with app.db().session() as session:
        doc = queries.show_appointment(session, appointment_id, reveal=reveal_pii)
    if as_json:
        emit_json(doc)
        return
    from synconsole.render import appointment_detail

    click.echo(appointment_detail(doc))


# --- import, reclassify ---------------------------------------------------------------------------


@cli.command("import")
@common
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Validate and count; change nothing.")
@click.pass_context
def import_(ctx: click.Context, config, read_only, file: Path, dry_run: bool) -> None:
    """Load staff, customers and appointments (NDJSON, or CSV with a kind column)."""
    from synconsole.core.importer import import_file

    app = _merge_common(ctx, config, read_only)
    if not dry_run:
        app.refuse_if_read_only("import")
    def report(bad) -> None:
        from synconsole.core.pii import mask_text

        click.echo(f"{file}: {mask_text(str(bad))}", err=True)

    result = import_file(app.db(), file, dry_run=dry_run, report=report,
                         anonymous_pattern=app.settings.categories.anonymous_phone_pattern)
    click.echo(result.summary())
    if not result.ok:
        ctx.exit(EXIT_FAILED)


@cli.command()
@common
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask.")
@click.pass_context
def reclassify(ctx: click.Context, config, read_only, dry_run: bool, yes: bool) -> None:
    """Re-run the classification rules over existing failures."""
    from synconsole.core import audit
    from synconsole.core import reclassify as rc

    app = _merge_common(ctx, config, read_only)
    if not dry_run:
        app.refuse_if_read_only("reclassify")
    db = app.db()
    with db.session() as session:
        changes = rc.plan(session, app.settings)
    if not changes:
        click.echo("nothing to change: every failure already has the category the rules give")
        return
    for ch in changes:
        click.echo(ch.describe())
    if dry_run:
        click.echo(f"would change {len(changes)} failure{'s' if len(changes) != 1 else ''} (dry run)")
        return
    if not confirm(f"Change {len(changes)} failures?", yes=yes):
        click.echo("nothing changed")
        ctx.exit(EXIT_FAILED)
    with db.write() as session:
        done = rc.apply(session, changes, actor=audit.os_actor())
        session.commit()
    click.echo(f"changed {done} failure{'s' if done != 1 else ''}"
               + (f" ({len(changes) - done} changed meanwhile, left alone)" if done < len(changes) else ""))



# --- remediation actions (core/actions.py) ---------------------------------------------------------


def _mutating(func: Callable) -> Callable:
    """``--yes`` and ``--dry-run`` of every remediation command."""
    func = click.option("--dry-run", is_flag=True, help="Print exactly what would change; change nothing.")(func)
    func = click.option("--yes", is_flag=True, help="Do not ask.")(func)
    return func


def _selection(func: Callable) -> Callable:
    """``--category`` and ``--filter``: the alternatives to listing appointment ids."""
    func = click.option("--filter", "filter_text", metavar="FILTER",
                        help='Everything the filter matches, e.g. "category:host_conflict age:>24h".')(func)
    func = click.option("--category", metavar="C", help="Everything failed in this category.")(func)
    return func


def _target(what: str, ids: tuple[str, ...], category: str | None, filter_text: str | None):
    from synconsole.core.actions import Target
    from synconsole.core.filters import parse_selection

    given = sum([bool(ids), category is not None, filter_text is not None])
    if given != 1:
        how = "nothing" if given == 0 else "more than one of them"
        raise UsageError(f"{what}: give appointment ids, --category or --filter (got {how})")
    if category is not None and not category.strip():
        raise UsageError(f"{what}: --category is empty (an unset variable?); a command that changes data "
                         "never reads an empty selection as everything")
    if filter_text is not None:
        parse_selection(filter_text, f"{what}: --filter")
    return Target(ids=tuple(ids), category=category, filter=filter_text)


def _when(text: str, option: str):
    from datetime import datetime

    from synconsole.core import clock

    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{option}: expected an ISO 8601 time with a UTC offset "
                         f"(e.g. 2025-11-27T10:00:00+01:00), got {text[:60]!r}") from None
    if value.tzinfo is None:
        raise UsageError(f"{option}: {text[:60]!r} has no UTC offset (add Z or +01:00)")
    try:
        return clock.check_range(value)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def _duration(text: str, option: str):
    from synconsole.core import clock

    try:
        return clock.parse_duration(text, "mhd")
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}, got {text[:40]!r}") from None


def _run_action(ctx: click.Context, app: AppContext, command: str, make_preview: Callable, *, yes: bool,
                dry_run: bool, **apply_kw: Any) -> None:
    """Preview, print it, ask (or refuse without a terminal), apply; exit 1 if nothing changed."""
    from synconsole.core.actions import REASON_CHANGED, Actions

    if not dry_run:
        app.refuse_if_read_only(command)
    actions = Actions(app.db(), app.settings)
    preview = make_preview(actions)
    click.echo(preview.describe())
    if preview.ids:
        for line in preview.describe_changes():
            click.echo(f"  {line}")
    for line in preview.describe_skipped():
        click.echo(line)
    if not preview.ids:
        click.echo("nothing changed")
        ctx.exit(EXIT_FAILED)
    if dry_run:
        click.echo("dry run: nothing changed")
        return
    headline = preview.headline()
    if not confirm(f"{headline[:1].upper()}{headline[1:]}?", yes=yes):
        click.echo("nothing changed")
        ctx.exit(EXIT_FAILED)
    result = actions.apply(preview, **apply_kw)
    for i, why in result.skipped.items():
        if why == REASON_CHANGED:
            click.echo(f"skipped {i}: {why}")
    click.echo(result.message)
    if not result.changed:
        ctx.exit(EXIT_FAILED)


@cli.command()
@common
@click.argument("ids", nargs=-1, metavar="[ID]...")
@_selection
@click.option("--reason", help="Why (kept in the audit log).")
@_mutating
@click.pass_context
def retry(ctx: click.Context, config, read_only, ids, category, filter_text, reason, yes, dry_run) -> None:
    """Put failed appointments back in the sync queue (pending now)."""
    app = _merge_common(ctx, config, read_only)
    target = _target("retry", ids, category, filter_text)
    _run_action(ctx, app, "retry", lambda a: a.preview("retry", target), yes=yes, dry_run=dry_run, reason=reason)


@cli.command()
@common
@click.argument("ids", nargs=-1, metavar="ID...")
@_selection
@click.option("--reason", required=True, help="Why (sent to Cal.com as cancellationReason; audited).")
@_mutating
@click.pass_context
def cancel(ctx: click.Context, config, read_only, ids, category, filter_text, reason, yes, dry_run) -> None:
    """Cancel appointments locally, and in Cal.com where they are booked."""
    app = _merge_common(ctx, config, read_only)
    target = _target("cancel", ids, category, filter_text)
    if not reason.strip():
        raise UsageError("cancel: --reason must not be empty")
    _run_action(ctx, app, "cancel", lambda a: a.preview("cancel", target, reason=reason), yes=yes,
                dry_run=dry_run)


@cli.command("backfill-email")
@common
@click.argument("ids", nargs=-1, metavar="[ID]...")
@_selection
@click.option("--reason", help="Why (kept in the audit log).")
@_mutating
@click.pass_context
def backfill_email(ctx: click.Context, config, read_only, ids, category, filter_text, reason, yes,
                   dry_run) -> None:
    """Give customers without a usable email the placeholder email ([remediation]); their
    missing_contact failures go back to the queue. Undo restores the emails."""
    app = _merge_common(ctx, config, read_only)
    target = _target("backfill-email", ids, category, filter_text)
    _run_action(ctx, app, "backfill-email", lambda a: a.preview("backfill_email", target), yes=yes,
                dry_run=dry_run, reason=reason)


@cli.command("assign-staff")
@common
@click.argument("appointment_id")
@click.argument("staff_id")
@click.option("--reason", help="Why (kept in the audit log).")
@_mutating
@click.pass_context
def assign_staff(ctx: click.Context, config, read_only, appointment_id, staff_id, reason, yes, dry_run) -> None:
    """Assign a staff member to an appointment not booked yet; a failed one goes back to the queue."""
    from synconsole.core.actions import Target

    app = _merge_common(ctx, config, read_only)
    target = Target(ids=(appointment_id,))
    _run_action(ctx, app, "assign-staff", lambda a: a.preview("assign_staff", target, staff_id=staff_id),
                yes=yes, dry_run=dry_run, reason=reason)


@cli.command()
@common
@click.argument("appointment_id")
@click.argument("start")
@click.option("--reason", help="Why (kept in the audit log).")
@_mutating
@click.pass_context
def reschedule(ctx: click.Context, config, read_only, appointment_id, start, reason, yes, dry_run) -> None:
    """Move an appointment to START (ISO 8601 with offset); a booked one is moved in Cal.com."""
    from synconsole.core.actions import Target

    app = _merge_common(ctx, config, read_only)
    when = _when(start, "START")
    target = Target(ids=(appointment_id,))
    _run_action(ctx, app, "reschedule", lambda a: a.preview("reschedule", target, start=when), yes=yes,
                dry_run=dry_run, reason=reason)


@cli.command()
@common
@click.argument("ids", nargs=-1, metavar="[ID]...")
@_selection
@click.option("--for", "for_", metavar="DURATION", help="How long, e.g. 30m, 24h, 7d (default 24h).")
@click.option("--until", metavar="WHEN", help="Until this time (ISO 8601 with offset).")
@click.option("--note", required=True, help="Why (shown with the failure; audited).")
@_mutating
@click.pass_context
def snooze(ctx: click.Context, config, read_only, ids, category, filter_text, for_, until, note, yes,
           dry_run) -> None:
    """Snooze (acknowledge) failures: out of manual review until the time given."""
    from synconsole.core import clock

    app = _merge_common(ctx, config, read_only)
    target = _target("snooze", ids, category, filter_text)
    if for_ is not None and until is not None:
        raise UsageError("snooze: give --for or --until, not both")
    when = None
    if until is not None:
        when = _when(until, "--until")
    elif for_ is not None:
        when = clock.now() + _duration(for_, "--for")
    if not note.strip():
        raise UsageError("snooze: --note must not be empty")
    _run_action(ctx, app, "snooze", lambda a: a.preview("snooze", target, until=when, note=note), yes=yes,
                dry_run=dry_run)


@cli.command()
@common
@click.argument("event_id", type=click.IntRange(1, 2**63 - 1), required=False)
@click.option("--list", "list_events", is_flag=True, help="List the events that can be undone, newest first.")
@click.option("--reason", help="Why (kept in the audit log).")
@_mutating
@click.pass_context
def undo(ctx: click.Context, config, read_only, event_id, list_events, reason, yes, dry_run) -> None:
    """Undo a backfill-email, assign-staff or snooze (default: your latest one)."""
    from synconsole.core import clock
    from synconsole.core.actions import Actions

    app = _merge_common(ctx, config, read_only)
    if list_events:
        events = Actions(app.db(), app.settings).undoable(limit=50)
        if not events:
            click.echo("nothing to undo")
        for e in events:
            targets = ", ".join((e.targets or [])[:5]) + (" …" if len(e.targets or []) > 5 else "")
            click.echo(f"{e.id:>6}  {clock.iso(e.at)}  {e.actor}  {e.action}  {e.result}  [{targets}]")
        return
    _run_action(ctx, app, "undo", lambda a: a.preview_undo(event_id), yes=yes, dry_run=dry_run, reason=reason)


# --- report, remediate, check, audit (core/report.py, core/remediation.py, core/precheck.py) ------


@cli.command()
@common
@click.option("--since", "since_text", metavar="WHEN", default="24h", show_default=True,
              help="Start of the period: ISO 8601 (2025-11-24T14:00:00Z) or a time ago (24h, 7d). "
                   "'Before' is the latest snapshot at or before it.")
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md", show_default=True)
@click.option("--out", "out_file", type=click.Path(path_type=Path),
              help="Write the report to this file instead of stdout.")
@click.pass_context
def report(ctx: click.Context, config, read_only, since_text: str, fmt: str, out_file: Path | None) -> None:
    """The incident report: before/after metrics, fixes applied, what remains, root causes."""
    from synconsole.core import clock
    from synconsole.core import report as rep

    app = _merge_common(ctx, config, read_only)
    since = rep.parse_when(since_text, clock.now())
    text = rep.report_text(app.db(), app.settings, since, fmt=fmt)
    if out_file is None:
        click.echo(text, nl=False)
        return
    try:
        out_file.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write the report to {out_file}: {exc.strerror or exc}") from None
    click.echo(f"report written to {out_file}", err=True)


@cli.command()
@common
@click.option("--plan", "show_plan", is_flag=True, help="Show what every current failure needs, and who does it.")
@click.option("--apply", "do_apply", is_flag=True, help="Run the automatic part of the plan (audited).")
@click.option("--json", "as_json", is_flag=True, help="With --plan: machine output on stdout.")
@click.option("--reveal-pii", is_flag=True, help="With --plan: show emails and phones in the reasons unmasked.")
@_mutating
@click.pass_context
def remediate(ctx: click.Context, config, read_only, show_plan: bool, do_apply: bool, as_json: bool, yes: bool,
              dry_run: bool, reveal_pii: bool) -> None:
    """The remediation plan (--plan), or run its automatic part (--apply)."""
    from synconsole.core import audit, clock
    from synconsole.core import remediation as rem

    app = _merge_common(ctx, config, read_only)
    if show_plan == do_apply:
        raise UsageError("remediate: give --plan or --apply")
    if show_plan:
        if yes or dry_run:
            raise UsageError("remediate --plan changes nothing: --yes and --dry-run go with --apply")
        now = clock.now()
        with app.db().session() as session:
            items = rem.plan(session, app.settings, now, reveal=reveal_pii)
        if as_json:
            emit_json({"at": clock.iso(now), "automatic": sum(1 for i in items if i.automatic),
                       "needs_human": sum(1 for i in items if not i.automatic),
                       "items": [i.to_json() for i in items]})
        else:
            click.echo(rem.plan_text(items, now=now))
        return
    if as_json:
        raise UsageError("remediate: --json goes with --plan")
    if not dry_run:
        app.refuse_if_read_only("remediate")
    db = app.db()
    preview = rem.preview_automatic(db, app.settings)
    human = f"; {len(preview.human)} need{'s' if len(preview.human) == 1 else ''} a human (synconsole remediate --plan)"
    if preview.count == 0:
        click.echo(f"nothing to do automatically{human if preview.human else ''}")
        return
    for line in rem.preview_text(preview):
        click.echo(line)
    n = preview.count
    if dry_run:
        click.echo(f"dry run: would change {n} appointment{'s' if n != 1 else ''}, nothing changed"
                   + (human if preview.human else ""))
        return
    if not confirm(f"Apply {n} automatic remediation{'s' if n != 1 else ''}?", yes=yes):
        click.echo("nothing changed")
        ctx.exit(EXIT_FAILED)
    result = rem.apply_preview(db, app.settings, preview, actor=audit.os_actor())
    for step in result.steps:
        click.echo(f"{step.action}: {step.message}")
    click.echo(f"changed {result.changed} appointment{'s' if result.changed != 1 else ''}"
               + (human if preview.human else ""))
    if result.changed == 0:
        ctx.exit(EXIT_FAILED)


@cli.command()
@common
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--availability", is_flag=True, help="Also ask Cal.com's slots endpoint whether each start is free.")
@click.option("--json", "as_json", is_flag=True, help="Machine output on stdout.")
@click.pass_context
def check(ctx: click.Context, config, read_only, file: Path, availability: bool, as_json: bool) -> None:
    """Would these rows (import format) sync? The pre-flight checks before booking; exit 1 on problems."""
    import contextlib

    from synconsole.core import clock, precheck
    from synconsole.core.importer import open_rows

    app = _merge_common(ctx, config, read_only)
    rows = list(_check_read(lambda: list(open_rows(file))))
    appointments = sum(1 for _, r in rows if isinstance(r, dict) and r.get("kind") == "appointment")
    slots = precheck.SlotsAvailability.from_settings(app.settings) if availability else None
    with contextlib.ExitStack() as stack:
        if slots is not None:
            stack.enter_context(slots)
        with app.db().session() as session:
            problems = precheck.check_rows(rows, session, app.settings, now=clock.now(), availability=slots)
    if as_json:
        emit_json({"file": str(file), "appointments": appointments, "ok": not problems,
                   "problems": [p.to_json() for p in problems]})
    else:
        for p in problems:
            click.echo(f"{file}: {p}")
        what = f"checked {appointments} appointment{'s' if appointments != 1 else ''}"
        if slots is not None:
            what += f" ({slots.calls} Cal.com slot quer{'ies' if slots.calls != 1 else 'y'})"
        click.echo(f"{what}: " + (f"{len(problems)} problem{'s' if len(problems) != 1 else ''}" if problems
                                   else "no problems"))
    if problems:
        ctx.exit(EXIT_FAILED)


def _check_read(read: Callable[[], Any]) -> Any:
    """Reading the file to check: an unreadable or malformed file is a usage error (exit 2)."""
    try:
        return read()
    except UsageError:
        raise
    except UserError as exc:
        raise UsageError(str(exc)) from None


@cli.command()
@common
@click.option("--json", "as_json", is_flag=True, help="Machine output on stdout.")
@click.pass_context
def staff(ctx: click.Context, config, read_only, as_json: bool) -> None:
    """The staff ids (for assign-staff), with their Cal.com user and event type."""
    from sqlmodel import select

    from synconsole.core.models import Staff
    from synconsole.render import staff_table

    app = _merge_common(ctx, config, read_only)
    with app.db().session() as session:
        rows = [{"id": s.id, "name": s.name, "calcom_username": s.calcom_username, "calcom_user_id": s.calcom_user_id,
                 "event_type_id": s.event_type_id, "event_type_ids": s.event_type_ids, "time_zone": s.time_zone,
                 "active": s.active} for s in session.exec(select(Staff).order_by(Staff.id))]
    if as_json:
        emit_json(rows)
    else:
        click.echo(staff_table(rows))


@cli.command("audit")
@common
@click.option("--since", "since_text", metavar="WHEN", help="ISO 8601 or a time ago (24h, 7d).")
@click.option("--actor", help='Only this actor, e.g. "job:cleanup" or "ops@host".')
@click.option("--action", help="Only this action, e.g. retry, cancel, cleanup_cancel.")
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=100, show_default=True,
              help="The newest N events (printed oldest first).")
@click.option("--reveal-pii", is_flag=True, help="Show customer emails and phones in before/after unmasked.")
@click.option("--json", "as_json", is_flag=True, help="Machine output on stdout.")
@click.pass_context
def audit_(ctx: click.Context, config, read_only, since_text, actor, action, limit, reveal_pii, as_json) -> None:
    """The audit log, newest last: who did what to which appointments, and why."""
    from synconsole.core import clock
    from synconsole.core import report as rep

    app = _merge_common(ctx, config, read_only)
    since = rep.parse_when(since_text, clock.now()) if since_text is not None else None
    with app.db().session() as session:
        events, total = rep.audit_events(session, since=since, actor=actor, action=action, limit=limit)
        docs = [rep.audit_json(e, app.settings, reveal=reveal_pii) for e in events]
    if total > len(docs):
        click.echo(f"synconsole: showing the newest {len(docs)} of {total} events (--limit)", err=True)
    if as_json:
        emit_json(docs)
        return
    if not docs:
        click.echo("no audit events match")
    for doc in docs:
        click.echo(rep.audit_line(doc))


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


async def _until_signalled(stop) -> None:
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


@cli.command()
@common
@click.option("--once", is_flag=True, help="Run until nothing is due now, then exit.")
@click.option("--limit", type=click.IntRange(1, 10_000_000), help="At most this many appointments.")
@click.option("--log-stderr", is_flag=True, help="Log to stderr (as [logging] path = \"-\"): systemd's journal, containers.")
@click.pass_context
def sync(ctx: click.Context, config, read_only, once: bool, limit: int | None, log_stderr: bool) -> None:
    """Push due appointments to Cal.com (the sync job, in the foreground)."""
    import asyncio

    from synconsole.jobs.sync import SyncEngine, SyncReport

    app = _merge_common(ctx, config, read_only)
    app.refuse_if_read_only("sync")
    db = app.db()
    _start_logging(app, to_stderr=log_stderr)
    if len(app.settings.accounts) > 1:  # [[calcom.accounts]]: each account through its own client
        from synconsole.cli_accounts import sync_accounts

        click.echo(sync_accounts(db, app.settings, once=once, limit=limit))
        return
    client = _calcom_client(app.settings, db)

    async def go() -> tuple[SyncReport, object]:
        stop = asyncio.Event()
        await _until_signalled(stop)
        total = SyncReport()
        async with client:
            engine = SyncEngine(db, app.settings, client)
            while True:
                remaining = None if limit is None else limit - total.claimed
                task = asyncio.ensure_future(engine.drain(remaining))
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if stop.is_set():
                    engine.stop()
                total.add(await task)
                stopper.cancel()
                if once or stop.is_set() or engine.auth_error is not None:
                    return total, engine.auth_error
                if limit is not None and total.claimed >= limit:
                    return total, None
                try:
                    await asyncio.wait_for(stop.wait(), app.settings.jobs.sync_interval_s)
                except asyncio.TimeoutError:
                    pass

    report, auth_error = asyncio.run(go())
    click.echo(report.summary())
    if auth_error is not None:
        raise UserError(f"Cal.com refused the API key ({auth_error.summary()}); fix it and run `synconsole doctor`")


@cli.command()
@common
@click.option("--dry-run", is_flag=True, help="Print exactly what would change; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask.")
@click.option("--mode", type=click.Choice(["cancel", "flag"]), help="Override [jobs] cleanup_mode.")
@click.pass_context
def cleanup(ctx: click.Context, config, read_only, dry_run: bool, yes: bool, mode: str | None) -> None:
    """Cancel (or flag) failed appointments whose start has passed."""
    from synconsole.core import audit
    from synconsole.core import cleanup as job

    app = _merge_common(ctx, config, read_only)
    if not dry_run:
        app.refuse_if_read_only("cleanup")
    mode = mode or app.settings.jobs.cleanup_mode
    items = job.plan(app.db(), mode=mode)
    if not items:
        click.echo("nothing to clean up: no failed appointment has a start in the past")
        return
    for item in items:
        click.echo(item.describe(mode))
    verb = "flag" if mode == "flag" else "cancel"
    if dry_run:
        click.echo(f"would {verb} {len(items)} appointment{'s' if len(items) != 1 else ''} (dry run)")
        return
    if not confirm(f"{verb.capitalize()} {len(items)} appointments?", yes=yes):
        click.echo("nothing changed")
        ctx.exit(EXIT_FAILED)
    done = job.apply(app.db(), items, mode=mode, actor=audit.os_actor())
    click.echo(f"{'flagged' if mode == 'flag' else 'cancelled'} {done} appointment{'s' if done != 1 else ''}"
               + (f" ({len(items) - done} changed meanwhile, left alone)" if done < len(items) else ""))


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

    from synconsole.jobs.host import SPECS, JobHost
    from synconsole.jobs.state import job_ids

    app = _merge_common(ctx, config, read_only)
    app.refuse_if_read_only("worker")
    db = app.db()
    setup = _start_logging(app, to_stderr=log_stderr)

    async def go() -> None:
        stop = asyncio.Event()
        await _until_signalled(stop)
        http = _serve_beside(app, serve_host, serve_port) if serve_http else None
        host = JobHost(db, app.settings)
        host.start()
        jobs = ", ".join(f"{j} every {SPECS[j].interval(app.settings):g}s" for j in job_ids(app.settings))
        where = setup.path or "stderr"
        click.echo(f"synconsole worker {host.worker} running: {jobs}; logging to {where}", err=True)
        if http is not None:
            click.echo(f"synconsole worker: serving on {http.url}", err=True)
        await stop.wait()
        click.echo("synconsole worker: stopping (finishing calls in flight)", err=True)
        if http is not None:
            await asyncio.to_thread(http.stop)
        await host.shutdown()

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
    from synconsole.jobs import state
    from synconsole.jobs.host import job_view

    app = _merge_common(ctx, config, read_only)
    states = state.all_states(app.db())
    views = [job_view(app.settings, states[j]) for j in state.job_ids(app.settings)]
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

    app = _merge_common(ctx, config, read_only)
    state.check_job(job)
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

    app = _merge_common(ctx, config, read_only)
    state.check_job(job)
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

    from synconsole.jobs import state
    from synconsole.jobs.host import JobHost

    app = _merge_common(ctx, config, read_only)
    state.check_job(job)
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


# --- simulator ----------------------------------------------------------------------------------


@cli.command()
@common
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="0 picks a free port.")
@click.option("--api-key", help="The only key accepted (default: any key starting cal_).")
@click.option("--event-types", type=click.Path(dir_okay=False), help='JSON {"101": {"host": "fabian", "length": 30}}.')
@click.option("--rate-limit", type=click.IntRange(1, 1_000_000), default=120, show_default=True,
              help="Requests per window per key.")
@click.option("--rate-window", type=click.FloatRange(0.1, 3600), default=60.0, show_default=True, help="Seconds.")
@click.option("--block", "block_s", type=click.FloatRange(0, 3600), default=60.0, show_default=True,
              help="Seconds a key stays blocked after going over the limit.")
@click.option("--latency", type=click.FloatRange(0, 60), default=0.0, help="Seconds added to every answer.")
@click.option("--error-rate", type=click.FloatRange(0, 1), default=0.0, help="Share of requests answered 500.")
@click.option("--drop-rate", type=click.FloatRange(0, 1), default=0.0,
              help="Share of creates committed, then the connection dropped.")
@click.pass_context
def simulator(ctx: click.Context, config, read_only, host, port, api_key, event_types, rate_limit, rate_window,
              block_s, latency, error_rate, drop_rate) -> None:
    """Serve the built-in Cal.com simulator on loopback; prints its URL as the first line."""
    from synconsole.simulator import Faults, serve

    faults = Faults(latency_s=latency, error_rate_5xx=error_rate, drop_after_commit_rate=drop_rate)
    try:
        serve(host=host, port=port, api_key=api_key, event_types=event_types, rate_limit=rate_limit,
              rate_window_s=rate_window, block_s=block_s, faults=faults)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


# --- db, doctor, config ---------------------------------------------------------------------------


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@common
@click.pass_context
def db_upgrade(ctx: click.Context, config, read_only) -> None:
    """Apply schema migrations."""
    from synconsole.core import db as dbmod

    app = _merge_common(ctx, config, read_only)
    app.refuse_if_read_only("db upgrade")
    database = dbmod.open_database(database_url(app.settings), upgrade_empty=False,
                                   busy_timeout_ms=app.settings.database.busy_timeout_ms)
    try:
        before, after = dbmod.upgrade(database)
    finally:
        database.dispose()
    if before == after:
        click.echo(f"schema already current ({after})")
    else:
        click.echo(f"schema upgraded: {before or 'empty'} -> {after}")


@cli.command()
@common
@click.pass_context
def doctor(ctx: click.Context, config, read_only) -> None:
    """Check config, database, log path and the Cal.com key (never prints the key)."""
    from synconsole.core import doctor as doc

    app = _merge_common(ctx, config, read_only)
    from synconsole.core import visibility

    checks = doc.run(app.settings, calcom_check=doc.check_calcom, visibility_check=visibility.check)
    for check in checks:
        click.echo(check.line())
    ctx.exit(doc.exit_code(checks))


@cli.group("config")
def config_group() -> None:
    """Configuration helpers."""


@config_group.command("example")
def config_example() -> None:
    """Print a config file documenting every key with its default."""
    click.echo(example_config(), nl=False)


from synconsole import cli_alerts  # noqa: E402,F401  (registers alerts, alerts ack, notify test)
from synconsole import cli_serve  # noqa: E402,F401  (registers serve)


# --- entry point --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; user errors become one line on stderr and the contract's exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    if "status" in args and "--check" in args:
        _plugin_main(args)
    _main(args)


def _plugin_main(args: list[str]) -> None:
    """``status --check``: the monitoring-plugin API, so whatever stops the check is UNKNOWN (3)
    with one line on stdout, never the contract's 1 or 2 (which an agent reads as WARNING/CRITICAL)."""
    from synconsole.core import plugin

    try:
        code = cli.main(args=args, prog_name="synconsole", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(plugin.UNKNOWN)
    except (UserError, click.ClickException) as exc:
        reason = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
    except KeyboardInterrupt:
        reason = "interrupted"
    except Exception as exc:  # the plugin API: anything that stops the check is UNKNOWN
        from synconsole.core.db import fault

        known = fault(exc)
        reason = str(known) if known is not None else f"internal error ({type(exc).__name__})"
    else:
        sys.exit(code if isinstance(code, int) else plugin.OK)
    click.echo(plugin.unknown_line(reason))
    sys.exit(plugin.UNKNOWN)


def _main(argv: list[str]) -> None:
    try:
        code = cli.main(args=argv, prog_name="synconsole", standalone_mode=False)
    except UserError as exc:
        click.echo(f"synconsole: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        sys.exit(EXIT_USAGE)
    except click.UsageError as exc:
        hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx else ""
        click.echo(f"synconsole: error: {exc.format_message()}{hint}", err=True)
        sys.exit(EXIT_USAGE)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("synconsole: aborted", err=True)
        sys.exit(EXIT_FAILED)
    except click.ClickException as exc:
        click.echo(f"synconsole: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("synconsole: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(EXIT_FAILED)
    except Exception as exc:
        from synconsole.core.db import fault

        known = fault(exc)  # locked past busy_timeout, disk full, damaged file: one line, not a traceback
        if known is None:
            raise
        click.echo(f"synconsole: error: {known}", err=True)
        sys.exit(known.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
