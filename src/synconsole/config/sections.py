"""The typed settings: one frozen dataclass per section, and :class:`Settings` holding them all."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from synconsole.config.keys import DEFAULT_ACCOUNT, DEFAULT_ANONYMOUS_PATTERN
from synconsole.config.notify import NotifyTarget
from synconsole.config.server import ServerSettings
from synconsole.config.urls import source_url_problem
from synconsole.errors import ConfigError
from synconsole.secret import Secret


@dataclass(frozen=True)
class CategoryRule:
    """An extra classification rule from ``[[categories.rules]]``; every given field must match."""

    category: str
    status: tuple[int, ...] = ()
    code: str | None = None
    message: str | None = None
    name: str = ""


@dataclass(frozen=True)
class DatabaseSettings:
    """``[database]`` (keys, bounds and words: ``SCHEMA["database"]``; a test keeps the two alike)."""

    url: str = ""
    busy_timeout_ms: int = 10000


@dataclass(frozen=True)
class SyncSettings:
    """``[sync]`` (keys, bounds and words: ``SCHEMA["sync"]``; a test keeps the two alike)."""

    batch_size: int = 50
    max_attempts: int = 10
    backoff_base_s: float = 30.0
    backoff_max_s: float = 3600.0
    lease_s: int = 120


@dataclass(frozen=True)
class JobsSettings:
    """``[jobs]`` (keys, bounds and words: ``SCHEMA["jobs"]``; a test keeps the two alike)."""

    sync_interval_s: float = 5.0
    cleanup_interval_s: float = 900.0
    alerts_interval_s: float = 30.0
    snapshot_interval_s: float = 300.0
    reconcile_interval_s: float = 3600.0
    cleanup_mode: str = "cancel"


@dataclass(frozen=True)
class RemediationSettings:
    """``[remediation]`` (keys, bounds and words: ``SCHEMA["remediation"]``; a test keeps the two alike)."""

    placeholder_email_template: str = "customer_{id}@placeholder.invalid"
    auto_backfill_email: bool = False


@dataclass(frozen=True)
class AlertSettings:
    """``[alerts]`` (keys, bounds and words: ``SCHEMA["alerts"]``; a test keeps the two alike)."""

    stuck_pending_minutes: float = 15.0
    ancient_hours: float = 24.0
    low_success_rate: float = 0.8
    low_success_min_appointments: int = 10
    outage_consecutive_failures: int = 5
    rate_limit_window_minutes: float = 15.0
    rate_limit_pressure_count: int = 1


@dataclass(frozen=True)
class LoggingSettings:
    """``[logging]`` (keys, bounds and words: ``SCHEMA["logging"]``; a test keeps the two alike)."""

    path: str = ""
    level: str = "INFO"
    format: str = "text"


@dataclass(frozen=True)
class CalcomSettings:
    """One Cal.com account (an API key): ``[calcom]`` is the account ``default``, every
    ``[[calcom.accounts]]`` entry another (one key per company of a multi-tenant platform)."""

    base_url: str = "https://api.cal.com"
    api_key: Secret = field(default_factory=lambda: Secret(""))
    api_key_env: str = ""
    timeout_s: float = 30.0
    rate_limit_per_minute: int = 120
    max_concurrency: int = 4
    id: str = DEFAULT_ACCOUNT
    #: the other accounts (only on the default one: ``[[calcom.accounts]]``)
    accounts: tuple["CalcomSettings", ...] = ()


@dataclass(frozen=True)
class CategorySettings:
    anonymous_phone_pattern: str = DEFAULT_ANONYMOUS_PATTERN
    rules: tuple[CategoryRule, ...] = ()


@dataclass(frozen=True)
class UiSettings:
    refresh_interval_s: float = 2.0
    theme: str = "textual-dark"
    read_only: bool = False
    mask_pii: bool = True
    keymap: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceSettings:
    """One ``[[sources]]`` entry: a database of the booking platform, read by SQL."""

    name: str
    url: Secret = field(default_factory=lambda: Secret(""))
    url_env: str = ""
    kind: str = "sql"
    #: query name (staff, customers, appointments) -> SQL selecting import-format columns, with :since
    queries: dict[str, str] = field(default_factory=dict)
    watermark: str = "updated_at"
    poll_interval_s: float = 5.0
    overlap_s: float = 60.0
    batch_size: int = 1000
    time_zone: str = "UTC"
    down_after: int = 3
    timeout_s: float = 30.0

    def resolve_url(self, env: dict[str, str] | None = None) -> str:
        """The URL to connect with (never shown: it may hold a password)."""
        if self.url:
            return self.url.reveal()
        value = (os.environ if env is None else env).get(self.url_env, "")
        if not value:
            raise ConfigError(f"source {self.name}: environment variable {self.url_env} is not set (url_env)")
        problem = source_url_problem(value)
        if problem:
            raise ConfigError(f"source {self.name}: ${self.url_env}: expected {problem}")
        return value


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    calcom: CalcomSettings = field(default_factory=CalcomSettings)
    sync: SyncSettings = field(default_factory=SyncSettings)
    jobs: JobsSettings = field(default_factory=JobsSettings)
    remediation: RemediationSettings = field(default_factory=RemediationSettings)
    categories: CategorySettings = field(default_factory=CategorySettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    ui: UiSettings = field(default_factory=UiSettings)
    #: ``[[sources]]``: the platform's databases, read continuously
    sources: tuple[SourceSettings, ...] = ()
    #: the file the settings came from, or None for built-in defaults
    source: Path | None = None
    #: ``[[notify]]``: where alert transitions are sent (apprise URLs)
    notify: tuple["NotifyTarget", ...] = ()
    #: ``[server]``: ``synconsole serve`` (webhooks, metrics, the ingest API)
    server: "ServerSettings" = field(default_factory=lambda: ServerSettings())

    @property
    def read_only(self) -> bool:
        return bool(self.ui.read_only)

    @property
    def accounts(self) -> tuple[CalcomSettings, ...]:
        """Every Cal.com account: ``default`` first, then ``[[calcom.accounts]]`` in file order."""
        return (self.calcom, *self.calcom.accounts)

    def account(self, account_id: str | None) -> CalcomSettings:
        for account in self.accounts:
            if account.id == (account_id or DEFAULT_ACCOUNT):
                return account
        raise ConfigError(f"unknown Cal.com account {account_id!r} (accounts: "
                          f"{', '.join(a.id for a in self.accounts)})")

    def with_read_only(self) -> "Settings":
        return replace(self, ui=replace(self.ui, read_only=True))


SECTION_CLASSES = {
    "database": DatabaseSettings,
    "calcom": CalcomSettings,
    "sync": SyncSettings,
    "jobs": JobsSettings,
    "remediation": RemediationSettings,
    "categories": CategorySettings,
    "alerts": AlertSettings,
    "logging": LoggingSettings,
    "ui": UiSettings,
}
