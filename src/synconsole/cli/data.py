"""Reading and loading: status, list, show, import, reclassify, check, staff, report, audit."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

from synconsole.cli import _merge_common, cli, click, common, confirm, emit_json
from synconsole.errors import EXIT_FAILED, UsageError, UserError


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
    # the slot queries draw from the key's shared budget; read-only writes nothing, not even that
    slots = (precheck.SlotsAvailability.from_settings(app.settings, db=None if app.settings.read_only else app.db())
             if availability else None)
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
