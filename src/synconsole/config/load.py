"""Where the configuration comes from (discovery, the TOML file) and what the environment
overrides: :func:`load_settings`."""

from __future__ import annotations

import os
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

from synconsole.config.coerce import show
from synconsole.config.keys import CONFIG_FILENAME
from synconsole.config.parse import parse_settings
from synconsole.config.paths import user_config_path
from synconsole.config.sections import Settings
from synconsole.config.urls import database_url_problem, http_url_problem, mask_url
from synconsole.errors import ConfigError
from synconsole.secret import Secret


def discover_config_path(explicit: str | os.PathLike[str] | None, env: dict[str, str]) -> tuple[Path | None, bool]:
    """Return (path, required). ``required`` paths must exist; discovered ones are optional."""
    if explicit:
        return Path(explicit), True
    if env.get("SYNCONSOLE_CONFIG"):
        return Path(env["SYNCONSOLE_CONFIG"]), True
    local = Path.cwd() / CONFIG_FILENAME
    if local.is_file():
        return local, True
    user = user_config_path()
    if user.is_file():
        return user, True
    return None, False


def load_settings(
    explicit: str | os.PathLike[str] | None = None,
    *,
    env: dict[str, str] | None = None,
    read_only: bool = False,
) -> Settings:
    """Discover, read and validate the configuration; apply environment overrides."""
    env = dict(os.environ if env is None else env)
    path, _ = discover_config_path(explicit, env)
    data: dict[str, Any] = {}
    if path is not None:
        data = _read_toml(path)
    settings = parse_settings(data, source=path)
    settings = _apply_env(settings, env, path)
    if read_only or env_flag(env, "SYNCONSOLE_READ_ONLY"):
        settings = settings.with_read_only()
    if env.get("SYNCONSOLE_NOW"):
        _check_env_now(env["SYNCONSOLE_NOW"])
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a TOML config file") from None
    except PermissionError:
        raise ConfigError(f"{path}: config file not readable (permission denied)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid UTF-8 text, expected a TOML config file") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


FLAG_TRUE = ("1", "true", "yes", "on")
FLAG_FALSE = ("", "0", "false", "no", "off")


def env_flag(env: dict[str, str], name: str) -> bool:
    """A boolean environment variable. It fails closed: a value that is neither a known yes nor a
    known no is a configuration error, never "off" (``SYNCONSOLE_READ_ONLY=y`` must not write)."""
    value = env.get(name, "").strip().lower()
    if value in FLAG_TRUE:
        return True
    if value in FLAG_FALSE:
        return False
    raise ConfigError(f"{name}: expected 1, true, yes or on, or 0, false, no, off or nothing for off, "
                      f"got {show(env[name])} (an unknown value never counts as off)")


def _check_env_now(text: str) -> None:
    from synconsole.core import clock  # late: config stays importable alone

    try:
        clock.parse_utc(text)
    except ValueError as exc:
        raise ConfigError(f"SYNCONSOLE_NOW: expected an ISO 8601 time with a UTC offset "
                          f"(2025-11-24T17:00:00Z), got {show(text)}: {exc}") from None


def _apply_env(settings: Settings, env: dict[str, str], path: Path | None) -> Settings:
    db_url = env.get("SYNCONSOLE_DATABASE_URL")
    if db_url:
        problem = database_url_problem(db_url)
        if problem is not None:
            raise ConfigError(f"SYNCONSOLE_DATABASE_URL: expected {problem}")
        settings = replace(settings, database=replace(settings.database, url=db_url))
    calcom = settings.calcom
    if env.get("SYNCONSOLE_CALCOM_BASE_URL"):
        raw = env["SYNCONSOLE_CALCOM_BASE_URL"]
        if http_url_problem(raw) is not None:
            raise ConfigError(f"SYNCONSOLE_CALCOM_BASE_URL: expected an http(s) URL ({http_url_problem(raw)}), "
                              f"got {show(mask_url(raw))}")
        calcom = replace(calcom, base_url=raw.strip().rstrip("/"))
    if env.get("SYNCONSOLE_CALCOM_API_KEY"):
        calcom = replace(calcom, api_key=Secret(env["SYNCONSOLE_CALCOM_API_KEY"]))
    elif not calcom.api_key and calcom.api_key_env:
        value = env.get(calcom.api_key_env, "")
        if not value:
            where = f"{path}: " if path else ""
            raise ConfigError(
                f"{where}[calcom] api_key_env: environment variable {calcom.api_key_env} is not set"
            )
        calcom = replace(calcom, api_key=Secret(value))
    accounts = []
    for account in calcom.accounts:  # their keys from the environment, checked as [calcom]'s is
        if not account.api_key:
            value = env.get(account.api_key_env, "")
            if not value:
                where = f"{path}: " if path else ""
                raise ConfigError(f"{where}[[calcom.accounts]] {account.id} api_key_env: environment variable "
                                  f"{account.api_key_env} is not set")
            account = replace(account, api_key=Secret(value))
        accounts.append(account)
    return replace(settings, calcom=replace(calcom, accounts=tuple(accounts)))
