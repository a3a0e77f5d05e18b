"""Configuration: TOML file + environment -> one validated :class:`Settings` object.

Discovery order (contract): ``--config PATH``, ``$SYNCONSOLE_CONFIG``, ``./synconsole.toml``, the user
config dir, else built-in defaults. The schema (``keys``) is the single list of keys: the loader
(``load``), the validation messages (``parse``) and ``config.example.toml`` (``example``, checked by a
test) all follow it. This package's names are imported from here, never from its modules.
"""

from __future__ import annotations

from synconsole.config.example import all_keys, example_config, section_fields, server_example_lines
from synconsole.config.keys import (
    APP_NAME,
    CONFIG_FILENAME,
    DEFAULT_ACCOUNT,
    DEFAULT_ANONYMOUS_PATTERN,
    RULE_KEYS,
    SCHEMA,
    SERVER_KEYS,
    SOURCE_KEYS,
    SOURCE_QUERIES,
    Key,
)
from synconsole.config.load import FLAG_FALSE, FLAG_TRUE, discover_config_path, env_flag, load_settings
from synconsole.config.notify import NOTIFY_KEYS, NotifyTarget, mask_notify_url
from synconsole.config.parse import parse_settings
from synconsole.config.paths import (
    database_url,
    default_database_url,
    default_log_path,
    log_path,
    user_config_path,
    user_data_dir,
)
from synconsole.config.sections import (
    SECTION_CLASSES,
    AlertSettings,
    CalcomSettings,
    CategoryRule,
    CategorySettings,
    DatabaseSettings,
    JobsSettings,
    LoggingSettings,
    RemediationSettings,
    Settings,
    SourceSettings,
    SyncSettings,
    UiSettings,
)
from synconsole.config.server import ServerSettings
from synconsole.config.urls import database_url_problem, http_url_problem, mask_url, source_url_problem
from synconsole.secret import Secret  # config's settings hold their secrets in it

__all__ = [
    "APP_NAME", "CONFIG_FILENAME", "DEFAULT_ACCOUNT", "DEFAULT_ANONYMOUS_PATTERN", "FLAG_FALSE", "FLAG_TRUE",
    "NOTIFY_KEYS", "RULE_KEYS", "SCHEMA", "SECTION_CLASSES", "SERVER_KEYS", "SOURCE_KEYS", "SOURCE_QUERIES",
    "AlertSettings", "CalcomSettings", "CategoryRule", "CategorySettings", "DatabaseSettings", "JobsSettings",
    "Key", "LoggingSettings", "NotifyTarget", "RemediationSettings", "Secret", "ServerSettings", "Settings",
    "SourceSettings", "SyncSettings", "UiSettings",
    "all_keys", "database_url", "database_url_problem", "default_database_url", "default_log_path",
    "discover_config_path", "env_flag", "example_config", "http_url_problem", "load_settings", "log_path",
    "mask_notify_url", "mask_url", "parse_settings", "section_fields", "server_example_lines",
    "source_url_problem", "user_config_path", "user_data_dir",
]
