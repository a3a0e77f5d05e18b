"""``synconsole alerts [--history] [--json]``, ``alerts ack ID --note``, ``notify test [TARGET]``."""

from __future__ import annotations

from synconsole.cli import _Group, _merge_common, cli, click, common, emit_json
from synconsole.errors import EXIT_FAILED, UsageError, UserError


@cli.group("alerts", cls=_Group, invoke_without_command=True)
@common
@click.option("--history", is_flag=True, help="Every alert that fired: when, when it resolved, who acknowledged it.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine output on stdout.")
@click.pass_context
def alerts(ctx: click.Context, config, read_only, history: bool, limit: int, as_json: bool) -> None:
    """The active alerts (acknowledged ones say so), or with --history every alert that fired."""
    app = _merge_common(ctx, config, read_only)
    if ctx.invoked_subcommand is not None:
        return
    from synconsole.core import alerthistory, clock, metrics
    from synconsole.render import alert_history_table, alerts_table

    with app.db().session() as session:
        if history:
            docs = [e.to_json() for e in alerthistory.episodes(session, limit=limit)]
        else:
            acks = alerthistory.acknowledgements(session)
            docs = []
            for a in metrics.compute(session, app.settings).alerts:
                ack = acks.get(a.id)
                docs.append({**a.to_json(), "acknowledged_by": ack.acknowledged_by if ack else None,
                             "acknowledged_at": clock.iso(ack.acknowledged_at) if ack else None,
                             "note": ack.note if ack else None})
    from synconsole.core.pii import mask_doc

    docs = mask_doc(docs)  # acknowledgement notes are free text
    if as_json:
        emit_json(docs)
    else:
        click.echo(alert_history_table(docs) if history else alerts_table(docs))


@alerts.command("ack")
@common
@click.argument("alert_id", metavar="ID")
@click.option("--note", required=True, help="What you are doing about it (audited).")
@click.pass_context
def alerts_ack(ctx: click.Context, config, read_only, alert_id: str, note: str) -> None:
    """Acknowledge an active alert: it stays visible as acknowledged and stops escalating."""
    from synconsole.core import alerthistory, audit

    app = _merge_common(ctx, config, read_only)
    app.refuse_if_read_only("alerts ack")
    click.echo(alerthistory.acknowledge(app.db(), alert_id, actor=audit.os_actor(), note=note))


@cli.group("notify", cls=_Group)
def notify_group() -> None:
    """The [[notify]] targets alerts are sent to."""


@notify_group.command("test")
@common
@click.argument("target", required=False)
@click.pass_context
def notify_test(ctx: click.Context, config, read_only, target: str | None) -> None:
    """Send a test message to every target (or TARGET); say whether each accepted it; exit 1 if not."""
    from synconsole.notify import messages, send

    app = _merge_common(ctx, config, read_only)
    targets = app.settings.notify
    if not targets:
        raise UserError("no [[notify]] targets in the config (see README: Alerts and notifications)")
    if target is not None:
        targets = tuple(t for t in targets if t.name == target)
        if not targets:
            raise UsageError(f"no [[notify]] target named {target!r} "
                             f"(targets: {', '.join(t.name for t in app.settings.notify)})")
    msg = messages.Message(title="[synconsole] test message",
                           body="synconsole can reach you here: alerts that fire will arrive like this.")
    failed = 0
    for t in targets:
        ok, error = send.deliver(t, msg.title, msg.body)
        where = ", ".join(t.masked_urls)
        click.echo(f"{t.name}: {where}: accepted" if ok else f"{t.name}: {where}: NOT accepted: {error}")
        failed += not ok
    if failed:
        ctx.exit(EXIT_FAILED)
