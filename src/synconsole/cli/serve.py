"""``synconsole serve``: the HTTP face (Cal.com webhooks, /metrics, /v1/appointments, /v1/check)."""

from __future__ import annotations

import click

from synconsole.cli import _merge_common, cli, common
from synconsole.cli.jobs import _start_logging
from synconsole.errors import UserError


@cli.command()
@common
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback by default).")
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True, help="0 picks a free port.")
@click.option("--log-stderr", is_flag=True, help="Log to stderr (as [logging] path = \"-\"): systemd's journal, containers.")
@click.pass_context
def serve(ctx: click.Context, config, read_only, host: str, port: int, log_stderr: bool) -> None:
    """Serve Cal.com webhooks, Prometheus metrics and the ingest API until SIGTERM; prints its URL first."""
    from synconsole.server.run import serve as run

    app = _merge_common(ctx, config, read_only)
    db = app.db()
    _start_logging(app, to_stderr=log_stderr)
    try:
        run(app.settings, db, host=host, port=port)
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    click.echo("synconsole serve: stopped", err=True)
