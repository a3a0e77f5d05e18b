"""User-facing errors: each carries the one line to print and the contract's exit code."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3


class UserError(Exception):
    """An error the user can act on: printed as one line, never as a traceback."""

    exit_code = EXIT_FAILED


class ConfigError(UserError):
    exit_code = EXIT_USAGE


class UsageError(UserError):
    exit_code = EXIT_USAGE


class ReadOnlyError(UserError):
    exit_code = EXIT_REFUSED


class NotFoundError(UserError):
    exit_code = EXIT_FAILED
