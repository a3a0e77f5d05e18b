"""The command line: parse, call the core, print. Nothing here decides anything."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

import click as _click

from synconsole import __version__
from synconsole.config import Settings, database_url, load_settings
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
        from synconsole.cli.console import tui

        ctx.invoke(tui, config=None, read_only=False, no_jobs=False)


# --- entry point --------------------------------------------------------------------------------


# the commands, one module per group (each registers itself on `cli`)
from synconsole.cli import actions, admin, alerts, console, data, jobs, serve  # noqa: E402,F401


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
