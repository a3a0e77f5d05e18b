"""The operator's actions (preview, confirm, apply, audit): retry, cancel, backfill-email, assign-staff,
reschedule, snooze, undo, remediate, cleanup."""

from __future__ import annotations

from typing import Any, Callable

from synconsole.cli import AppContext, _merge_common, cli, click, common, confirm, emit_json
from synconsole.errors import EXIT_FAILED, UsageError


# --- remediation actions (core/actions/) -----------------------------------------------------------


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


def _target(action: str, ids: tuple[str, ...], category: str | None, filter_text: str | None):
    from synconsole.core.actions import Target, registry
    from synconsole.core.filters import parse_selection

    what = registry.spec(action).cli_command
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
    from synconsole.core import clock

    try:
        return clock.parse_when(text.strip(), z_any_case=False)[0]
    except clock.TimeSyntaxError as exc:
        if exc.reason == clock.NO_OFFSET:
            raise UsageError(f"{option}: {text[:60]!r} has no UTC offset (add Z or +01:00)") from None
        if exc.reason == clock.OUT_OF_RANGE:
            raise UsageError(f"{option}: {exc}") from None
        raise UsageError(f"{option}: expected an ISO 8601 time with a UTC offset "
                         f"(e.g. 2025-11-27T10:00:00+01:00), got {text[:60]!r}") from None


def _duration(text: str, option: str):
    from synconsole.core import clock

    try:
        return clock.parse_duration(text, "mhd")
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}, got {text[:40]!r}") from None


def _run_action(ctx: click.Context, app: AppContext, action: str, make_preview: Callable, *, yes: bool,
                dry_run: bool, **apply_kw: Any) -> None:
    """Preview, print it, ask (or refuse without a terminal), apply; exit 1 if nothing changed."""
    from synconsole.core.actions import REASON_CHANGED, Actions, registry

    if not dry_run:
        app.refuse_if_read_only(registry.spec(action).cli_command)
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
    target = _target("backfill_email", ids, category, filter_text)
    _run_action(ctx, app, "backfill_email", lambda a: a.preview("backfill_email", target), yes=yes,
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
    _run_action(ctx, app, "assign_staff", lambda a: a.preview("assign_staff", target, staff_id=staff_id),
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
