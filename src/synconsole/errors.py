"""User-facing errors: each carries the one line to print and the contract's exit code."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3

#: the longest error line we print
MAX_LINE = 1000


class UserError(Exception):
    """An error the user can act on: printed as one line, never as a traceback. The line quotes
    what the user gave (a key, a value, a file's content): its newlines and escape sequences are
    shown, never obeyed, so it stays one line."""

    exit_code = EXIT_FAILED

    def __init__(self, message: object = "", *args: object) -> None:
        from synconsole.core.text import printable

        if isinstance(message, str):
            message = printable(message, single_line=True)
            if len(message) > MAX_LINE:  # a quoted key or value may be a megabyte
                message = message[:MAX_LINE - 3] + "..."
        super().__init__(message, *args)


class ConfigError(UserError):
    exit_code = EXIT_USAGE


class UsageError(UserError):
    exit_code = EXIT_USAGE


class ReadOnlyError(UserError):
    exit_code = EXIT_REFUSED


class NotFoundError(UserError):
    exit_code = EXIT_FAILED
