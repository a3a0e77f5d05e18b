"""Where synconsole's files are by default: the user config file, the SQLite database, the log."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

from synconsole.config.keys import APP_NAME, CONFIG_FILENAME

if TYPE_CHECKING:
    from synconsole.config.sections import Settings


def user_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / CONFIG_FILENAME


def default_database_url() -> str:
    return f"sqlite:///{user_data_dir() / 'synconsole.db'}"


def default_log_path() -> Path:
    return Path(platformdirs.user_log_dir(APP_NAME)) / "synconsole.log"


def database_url(settings: Settings) -> str:
    """The configured URL; without one, SQLite in the user data directory, which is created on
    first use (a directory named in a config is the operator's to create)."""
    if settings.database.url:
        return settings.database.url
    user_data_dir().mkdir(parents=True, exist_ok=True)
    return default_database_url()


def user_data_dir() -> Path:
    """Where synconsole keeps its own files by default: the database, written reports."""
    return Path(platformdirs.user_data_dir(APP_NAME))


def log_path(settings: Settings) -> Path:
    return Path(settings.logging.path) if settings.logging.path else default_log_path()
