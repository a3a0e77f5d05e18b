"""Setting up: simulator, db upgrade, doctor, config example."""

from __future__ import annotations


from synconsole.cli import _merge_common, cli, click, common
from synconsole.config import database_url, example_config
from synconsole.errors import UsageError, UserError


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
