"""Configuration: TOML file + environment -> one validated :class:`Settings` object.

Discovery order (contract): ``--config PATH``, ``$SYNCONSOLE_CONFIG``, ``./synconsole.toml``, the user
config dir, else built-in defaults. The schema below is the single list of keys: the loader, the
validation messages and ``config.example.toml`` (checked by a test) all follow it.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import string
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from sqlalchemy.engine import make_url

from synconsole.core.text import printable
from synconsole.errors import ConfigError
from synconsole.secret import Secret  # noqa: F401  (config's settings hold their secrets in it)

APP_NAME = "synconsole"
CONFIG_FILENAME = "synconsole.toml"
DEFAULT_ANONYMOUS_PATTERN = r"^anonymous_\d+_[0-9a-f]+$"


# --- schema -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """One config key: its type, default, bounds and the line ``config.example.toml`` shows."""

    type: str  # "str" "int" "float" "bool" "choice" "regex" "keymap"
    default: Any
    doc: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()

    def expected(self) -> str:
        if self.type == "choice":
            return "one of " + ", ".join(f'"{c}"' for c in self.choices)
        if self.type in ("int", "float"):
            kind = "an integer" if self.type == "int" else "a number"
            if self.min is not None and self.max is not None:
                return f"{kind} from {_num(self.min)} to {_num(self.max)}"
            if self.min is not None:
                return f"{kind} >= {_num(self.min)}"
            return kind
        return {
            "str": "a string",
            "bool": "true or false",
            "regex": "a regular expression (string)",
        }.get(self.type, self.type)


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


SCHEMA: dict[str, dict[str, Key]] = {
    "database": {
        "url": Key("str", "", "SQLAlchemy URL; empty = SQLite file in the user data dir. "
                   "PostgreSQL: postgresql+psycopg://user:pass@host/db (pip install 'synconsole[postgres]')"),
        "busy_timeout_ms": Key("int", 10000, "SQLite: how long a writer waits for a lock", min=0, max=600000),
    },
    "calcom": {
        "base_url": Key("str", "https://api.cal.com", "Cal.com API root; /v2/... is appended"),
        "api_key": Key("str", "", "API key (cal_... or cal_live_...); prefer api_key_env or "
                       "SYNCONSOLE_CALCOM_API_KEY"),
        "api_key_env": Key("str", "", "name of an environment variable holding the API key"),
        "timeout_s": Key("float", 30.0, "per-request timeout", min=0.1, max=600),
        "rate_limit_per_minute": Key("int", 120, "request budget per 60 s for this key, shared by every process on the database (Cal.com's default is 120)",
                                     min=1, max=100000),
        "max_concurrency": Key("int", 4, "Cal.com calls in flight at once", min=1, max=64),
    },
    "sync": {
        "batch_size": Key("int", 50, "appointments claimed per batch", min=1, max=10000),
        "max_attempts": Key("int", 10, "attempts before a transient failure becomes failed", min=1, max=1000),
        "backoff_base_s": Key("float", 30.0, "first retry delay of a transient failure", min=0, max=86400),
        "backoff_max_s": Key("float", 3600.0, "cap of the retry delay", min=0, max=604800),
        "lease_s": Key("int", 120, "a claim not finished by then is reclaimed", min=5, max=86400),
    },
    "jobs": {
        "sync_interval_s": Key("float", 5.0, "how often the sync job runs", min=0.1, max=86400),
        "cleanup_interval_s": Key("float", 900.0, "how often the cleanup job runs", min=1, max=604800),
        "alerts_interval_s": Key("float", 30.0, "how often the alert rules are evaluated", min=1, max=86400),
        "snapshot_interval_s": Key("float", 300.0, "how often the metrics are stored", min=1, max=604800),
        "reconcile_interval_s": Key("float", 3600.0, "how often synced bookings are compared with Cal.com",
                                    min=1, max=604800),
        "cleanup_mode": Key("choice", "cancel", "past-appointment failures: cancel them, or only flag them",
                            choices=("cancel", "flag")),
    },
    "remediation": {
        "placeholder_email_template": Key("str", "customer_{id}@placeholder.invalid",
                                          "placeholder email for customers without a usable contact; "
                                          "{id} is the customer id"),
        "auto_backfill_email": Key("bool", False, "backfill placeholder emails automatically "
                                   "(makes missing_contact auto_fix instead of manual)"),
    },
    "categories": {
        "anonymous_phone_pattern": Key("regex", DEFAULT_ANONYMOUS_PATTERN,
                                       "phones matching this count as anonymous (no usable contact)"),
    },
    "alerts": {
        "stuck_pending_minutes": Key("float", 15.0, "pending, never attempted, older than this -> stuck_pending",
                                     min=0, max=100000),
        "ancient_hours": Key("float", 24.0, "manual-review failures older than this -> ancient_actionable",
                             min=0, max=100000),
        "low_success_rate": Key("float", 0.8, "success_rate_24h below this -> low_success_rate", min=0, max=1),
        "low_success_min_appointments": Key("int", 10, "...but only with at least this many appointments",
                                            min=1, max=10**9),
        "outage_consecutive_failures": Key("int", 5, "this many transient failures in a row -> outage",
                                           min=1, max=10000),
        "rate_limit_window_minutes": Key("float", 15.0, "window for rate_limit_pressure", min=1, max=10000),
        "rate_limit_pressure_count": Key("int", 1, "this many 429s in the window -> rate_limit_pressure",
                                         min=1, max=10**9),
    },
    "logging": {
        "path": Key("str", "", "log file; empty = synconsole.log in the user log dir; \"-\" = stderr "
                    "(systemd's journal, containers)"),
        "level": Key("choice", "INFO", "log level", choices=("DEBUG", "INFO", "WARNING", "ERROR")),
        "format": Key("choice", "text", "text: one key=value line per record; json: one JSON object per line",
                      choices=("text", "json")),
    },
    "ui": {
        "refresh_interval_s": Key("float", 2.0, "how often the console re-reads the database", min=0.2, max=3600),
        "theme": Key("str", "textual-dark", "Textual theme name"),
        "read_only": Key("bool", False, "refuse every mutation (also --read-only, SYNCONSOLE_READ_ONLY=1)"),
        "mask_pii": Key("bool", True, "mask emails and phones until revealed"),
    },
}

RULE_KEYS = {
    "category": "a category id",
    "status": "an HTTP status (integer) or a list of them",
    "code": "a Cal.com error code (string)",
    "message": "a regular expression matched against the error message",
    "name": "a label for the rule",
}


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


DEFAULT_ACCOUNT = "default"


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


#: what a ``[[sources]]`` entry may say besides its name, url and queries
SOURCE_KEYS: dict[str, Key] = {
    "kind": Key("choice", "sql", "how the source is read", choices=("sql",)),
    "url_env": Key("str", "", "environment variable holding the URL instead of `url`"),
    "watermark": Key("str", "updated_at", "the column every query selects and filters by (>= :since)"),
    "poll_interval_s": Key("float", 5.0, "how often the source is read", min=0.5, max=86400),
    "overlap_s": Key("float", 60.0, "how far back each poll re-reads (late commits, equal watermarks)",
                     min=0, max=86400),
    "batch_size": Key("int", 1000, "rows per page read from the source", min=1, max=100_000),
    "time_zone": Key("str", "UTC", "IANA zone of the source's timestamps without an offset"),
    "down_after": Key("int", 3, "failed polls in a row before source_down is critical", min=1, max=1000),
    "timeout_s": Key("float", 30.0, "connect and query timeout", min=1, max=3600),
}
SOURCE_QUERIES = ("staff", "customers", "appointments")  # read in this order: references first
_SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


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


def source_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a source's SQLAlchemy URL, or None."""
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - any parse failure is the same answer
        return "a SQLAlchemy URL like mysql+pymysql://user:password@host/db"
    if parsed.get_backend_name() not in ("mysql", "mariadb", "postgresql"):
        return f"a mysql+pymysql:// or postgresql+psycopg:// URL, not {parsed.get_backend_name()}://"
    return None


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


# --- discovery ----------------------------------------------------------------------------------


def user_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / CONFIG_FILENAME


def default_database_url() -> str:
    return f"sqlite:///{user_data_dir() / 'synconsole.db'}"


def default_log_path() -> Path:
    return Path(platformdirs.user_log_dir(APP_NAME)) / "synconsole.log"


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
                      f"got {_show(env[name])} (an unknown value never counts as off)")


def _check_env_now(text: str) -> None:
    from synconsole.core import clock  # late: config stays importable alone

    try:
        clock.parse_utc(text)
    except ValueError as exc:
        raise ConfigError(f"SYNCONSOLE_NOW: expected an ISO 8601 time with a UTC offset "
                          f"(2025-11-24T17:00:00Z), got {_show(text)}: {exc}") from None


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
                              f"got {_show(mask_url(raw))}")
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


# --- validation ---------------------------------------------------------------------------------


def parse_settings(data: dict[str, Any], *, source: Path | None = None) -> Settings:
    where = f"{source}: " if source else "config: "

    def fail(key: str, expected: str, got: Any) -> ConfigError:
        return ConfigError(f"{where}{key}: expected {expected}, got {_show(got)}")

    sections: dict[str, Any] = {}
    sources: tuple[SourceSettings, ...] = ()
    notify: tuple[NotifyTarget, ...] = ()
    server = ServerSettings()
    for name, value in data.items():
        if name == "sources":
            sources = _parse_sources(value, where)
            continue
        if name == "server":
            server = _parse_server(value, where)
            continue
        if name == "notify":
            notify = _parse_notify(value, where)
            continue
        if name not in SCHEMA:
            raise ConfigError(
                f"{where}[{name}]: unknown section, expected one of " + ", ".join(f"[{s}]" for s in SCHEMA)
            )
        if not isinstance(value, dict):
            raise fail(f"[{name}]", "a table", value)
        values: dict[str, Any] = {}
        for key, raw in value.items():
            label = f"[{name}] {key}"
            if name == "categories" and key == "rules":
                values["rules"] = _parse_rules(raw, where)
                continue
            if name == "ui" and key == "keymap":
                values["keymap"] = _parse_keymap(raw, where)
                continue
            if name == "calcom" and key == "accounts":
                values["accounts"] = _parse_accounts(raw, where, fail)
                continue
            spec = SCHEMA[name].get(key)
            if spec is None:
                known = list(SCHEMA[name]) + (["rules"] if name == "categories" else [])
                known += ["keymap"] if name == "ui" else []
                known += ["accounts"] if name == "calcom" else []
                raise ConfigError(f"{where}{label}: unknown key, expected one of " + ", ".join(known))
            values[key] = _coerce(spec, raw, lambda exp, got, label=label: fail(label, exp, got))
        sections[name] = values

    if "calcom" in sections and "api_key" in sections["calcom"] and not isinstance(sections["calcom"]["api_key"], Secret):
        sections["calcom"]["api_key"] = Secret(sections["calcom"]["api_key"])
    if "calcom" in sections and "base_url" in sections["calcom"]:
        url = sections["calcom"]["base_url"].rstrip("/")
        problem = http_url_problem(url)
        if problem is not None:
            raise fail("[calcom] base_url", f"an http(s) URL ({problem})", mask_url(url))
        sections["calcom"]["base_url"] = url
    if "database" in sections and sections["database"].get("url"):
        problem = database_url_problem(sections["database"]["url"])
        if problem is not None:
            raise ConfigError(f"{where}[database] url: expected {problem}")
    sync = sections.get("sync", {})
    base = sync.get("backoff_base_s", SCHEMA["sync"]["backoff_base_s"].default)
    cap = sync.get("backoff_max_s", SCHEMA["sync"]["backoff_max_s"].default)
    if cap < base:
        raise fail("[sync] backoff_max_s", f"a number >= backoff_base_s ({_num(base)})", cap)
    template = sections.get("remediation", {}).get("placeholder_email_template")
    if template is not None:
        _check_template(template, lambda exp, got: fail("[remediation] placeholder_email_template", exp, got))

    built = {name: SECTION_CLASSES[name](**values) for name, values in sections.items()}
    return Settings(**built, sources=sources, source=source, notify=notify, server=server)


_ACCOUNT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _parse_accounts(raw: Any, where: str, fail) -> tuple[CalcomSettings, ...]:
    """``[[calcom.accounts]]``: each with an ``id`` and the ``[calcom]`` keys (api_key or api_key_env)."""
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise fail("[[calcom.accounts]]", "an array of tables", raw)
    out: list[CalcomSettings] = []
    for i, table in enumerate(raw, start=1):
        ident = table.get("id")
        label = f"[[calcom.accounts]] {ident}" if isinstance(ident, str) else f"[[calcom.accounts]] #{i}"
        if not isinstance(ident, str) or not _ACCOUNT_ID.match(ident):
            raise fail(f"{label} id", "an id of letters, digits, '_', '.', '-' (at most 64)", ident)
        if ident == DEFAULT_ACCOUNT or any(a.id == ident for a in out):
            raise fail(f"{label} id", f"an id used once (and not {DEFAULT_ACCOUNT!r}, which is [calcom])", ident)
        values: dict[str, Any] = {"id": ident}
        for key, value in table.items():
            if key == "id":
                continue
            spec = SCHEMA["calcom"].get(key)
            if spec is None:
                raise ConfigError(f"{where}{label} {key}: unknown key, expected one of id, "
                                  + ", ".join(SCHEMA["calcom"]))
            values[key] = _coerce(spec, value, lambda exp, got, key=key: fail(f"{label} {key}", exp, got))
        if bool(values.get("api_key")) == bool(values.get("api_key_env")):
            raise fail(f"{label} api_key", "exactly one of api_key or api_key_env", "both" if values.get("api_key")
                       else "neither")
        values["api_key"] = Secret(values.get("api_key", ""))
        if "base_url" in values:
            url = values["base_url"].rstrip("/")
            if http_url_problem(url) is not None:
                raise fail(f"{label} base_url", f"an http(s) URL ({http_url_problem(url)})", mask_url(url))
            values["base_url"] = url
        out.append(CalcomSettings(**values))
    return tuple(out)


def _parse_sources(raw: Any, where: str) -> tuple[SourceSettings, ...]:
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise ConfigError(f"{where}[[sources]]: expected an array of tables, got {_show(raw)}")
    out: list[SourceSettings] = []
    for i, table in enumerate(raw, start=1):
        name = table.get("name")
        label = f"[[sources]] #{i}" if not isinstance(name, str) else f"[[sources]] {name}"

        def fail(key: str, expected: str, got: Any, label=label) -> ConfigError:
            return ConfigError(f"{where}{label} {key}: expected {expected}, got {_show(got)}")

        if not isinstance(name, str) or not _SOURCE_NAME.match(name):
            raise fail("name", "a name of letters, digits, '_', '.', '-' (at most 64)", name)
        if any(s.name == name for s in out):
            raise fail("name", "a name used by one source only", name)
        values: dict[str, Any] = {"name": name}
        for key, value in table.items():
            if key in ("name", "url", "queries"):
                continue
            spec = SOURCE_KEYS.get(key)
            if spec is None:
                known = ["name", "url", "queries", *SOURCE_KEYS]
                raise ConfigError(f"{where}{label} {key}: unknown key, expected one of " + ", ".join(known))
            values[key] = _coerce(spec, value, lambda exp, got, key=key: fail(key, exp, got))
        url = table.get("url")
        if (url is None) == (not values.get("url_env")):
            raise fail("url", "exactly one of url or url_env", mask_url(url) if isinstance(url, str) else url)
        if url is not None:
            if not isinstance(url, str) or source_url_problem(url):
                raise fail("url", source_url_problem(url) if isinstance(url, str) else "a string",
                           mask_url(url) if isinstance(url, str) else url)
            values["url"] = Secret(url)
        if values.get("url_env") and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", values["url_env"]):
            raise fail("url_env", "an environment variable name", values["url_env"])
        if not _IDENTIFIER.match(values.get("watermark", "updated_at")):
            raise fail("watermark", "a column name", values["watermark"])
        try:
            ZoneInfo(values.get("time_zone", "UTC"))
        except (ZoneInfoNotFoundError, ValueError):
            raise fail("time_zone", "an IANA time zone like Europe/Berlin", values.get("time_zone")) from None
        queries = table.get("queries")
        if not isinstance(queries, dict) or not queries:
            raise fail("queries", f"a table of SQL queries ({', '.join(SOURCE_QUERIES)})", queries)
        for key, sql in queries.items():
            if key not in SOURCE_QUERIES:
                raise fail(f"queries.{key}", f"one of {', '.join(SOURCE_QUERIES)}", key)
            if not isinstance(sql, str) or ":since" not in sql:
                raise fail(f"queries.{key}", "an SQL query filtering its watermark by :since", sql)
        values["queries"] = {k: queries[k] for k in SOURCE_QUERIES if k in queries}
        out.append(SourceSettings(**values))
    return tuple(out)


def _coerce(spec: Key, raw: Any, fail) -> Any:
    t = spec.type
    if t == "bool":
        if not isinstance(raw, bool):
            raise fail(spec.expected(), raw)
        return raw
    if t == "int":
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise fail(spec.expected(), raw)
        _check_bounds(spec, raw, fail)
        return raw
    if t == "float":
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or (
                isinstance(raw, float) and not math.isfinite(raw)):
            raise fail(spec.expected(), raw)  # nan passes every range comparison
        _check_bounds(spec, raw, fail)
        return float(raw)
    if not isinstance(raw, str):
        raise fail(spec.expected(), raw)
    if t == "choice" and raw not in spec.choices:
        raise fail(spec.expected(), raw)
    if t == "regex":
        try:
            re.compile(raw)
        except re.error as exc:
            raise fail(f"a valid regular expression ({exc})", raw) from None
    return raw


def _check_bounds(spec: Key, value: float, fail) -> None:
    if (spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max):
        raise fail(spec.expected(), value)


def _check_template(template: str, fail) -> None:
    expected = "a template whose only placeholder is {id}"
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(template)
                  if name is not None]
    except ValueError:
        raise fail(expected, template) from None
    # "{id:>99999999999}" would render a 100 GB string: no format spec, no conversion, no attribute
    if any(name != "id" or spec or conversion for name, spec, conversion in fields):
        raise fail(expected + " (no format spec or conversion)", template)
    rendered = template.format(id="1013")
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", rendered):
        raise fail("a template that renders an email address", template)


def _parse_rules(raw: Any, where: str) -> tuple[CategoryRule, ...]:
    from synconsole.core.categories import CATEGORIES  # late: config stays importable alone

    if not isinstance(raw, list):
        raise ConfigError(f"{where}[[categories.rules]]: expected an array of tables, got {_show(raw)}")
    rules = []
    for i, item in enumerate(raw, start=1):
        label = f"[[categories.rules]] #{i}"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}{label}: expected a table, got {_show(item)}")
        for key in item:
            if key not in RULE_KEYS:
                raise ConfigError(f"{where}{label} {key}: unknown key, expected one of " + ", ".join(RULE_KEYS))
        category = item.get("category")
        if not isinstance(category, str) or category not in CATEGORIES:
            raise ConfigError(
                f"{where}{label} category: expected one of {', '.join(CATEGORIES)}, got {_show(category)}"
            )
        status = item.get("status", ())
        if isinstance(status, int) and not isinstance(status, bool):
            status = (status,)
        if not isinstance(status, (list, tuple)) or not all(
            isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599 for s in status
        ):
            raise ConfigError(f"{where}{label} status: expected {RULE_KEYS['status']}, got {_show(status)}")
        code = item.get("code")
        if code is not None and not isinstance(code, str):
            raise ConfigError(f"{where}{label} code: expected a string, got {_show(code)}")
        message = item.get("message")
        if message is not None:
            if not isinstance(message, str):
                raise ConfigError(f"{where}{label} message: expected a regular expression, got {_show(message)}")
            try:
                re.compile(message)
            except re.error as exc:
                raise ConfigError(f"{where}{label} message: expected a valid regular expression ({exc})") from None
        if not status and code is None and message is None:
            raise ConfigError(f"{where}{label}: expected at least one of status, code, message to match on")
        name = item.get("name", f"config rule {i}")
        if not isinstance(name, str):
            raise ConfigError(f"{where}{label} name: expected a string, got {_show(name)}")
        rules.append(CategoryRule(category=category, status=tuple(status), code=code, message=message, name=name))
    return tuple(rules)


def _parse_keymap(raw: Any, where: str) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}[ui.keymap]: expected a table of binding id = \"keys\", got {_show(raw)}")
    keymap = {}
    for binding_id, keys in raw.items():
        if not isinstance(keys, str) or not keys.strip():
            raise ConfigError(f"{where}[ui.keymap] {binding_id}: expected keys like \"ctrl+r\" or \"r,f5\", "
                              f"got {_show(keys)}")
        keymap[binding_id] = keys
    return keymap


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return f"{str(value).lower()} (boolean)"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f'"{printable(shown, single_line=True)}" (string)'
    if isinstance(value, int):
        if abs(value) >= 10**18:  # str() of a 5000-digit TOML integer is refused (or a page long)
            return "an integer of more than 18 digits"
        return f"{value} (integer)"
    if isinstance(value, float):
        return f"{value} (number)"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "nothing"
    return type(value).__name__


_HOST_NAME = re.compile(r"(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?")


def http_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a Cal.com API root, or None. Everything a request would trip over
    later (a port out of range, an unclosed IPv6 bracket, spaces) is refused here, once."""
    from urllib.parse import urlsplit

    if not isinstance(url, str) or not url.strip():
        return "empty"
    url = url.strip()
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        return "spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in ("http", "https"):
        return "the scheme must be http:// or https://"
    host = parts.hostname or ""
    if not host:
        return "no host"
    if port == 0:
        return "port 0"
    if host.startswith("[") or ":" in host:
        try:
            ipaddress.IPv6Address(host.strip("[]"))
        except ValueError:
            return f"not an IPv6 address: {host}"
    elif not _HOST_NAME.fullmatch(host):
        return f"not a host name: {host}"
    if parts.query or parts.fragment:
        return "no query or fragment (/v2/... is appended)"
    return None


def database_url_problem(url: str) -> str | None:
    """What a database URL should be, when ``url`` is not one synconsole can keep data in."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    shape = "a SQLAlchemy URL like sqlite:///path/to.db or postgresql+psycopg://user@host/db"
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return f"{shape}, got {_show(mask_url(url))}"
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        return f"a sqlite:// or postgresql+psycopg:// URL, got {backend}://"
    if backend == "sqlite":
        database = parsed.database or ""
        if not database or database == ":memory:" or "mode=memory" in url or database.startswith("file::memory:"):
            return ("a SQLite file path (sqlite:///path/to.db): an in-memory database is empty for every "
                    "connection and gone when the process ends")
    return None


def mask_url(url: str) -> str:
    """``url`` with its userinfo (``user:password@``) masked: it may be a token (``cal_live_…``)."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@", r"\1***@", url.strip()) if isinstance(url, str) else url


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


def example_config() -> str:
    """The text of ``config.example.toml``: every key with its default and meaning."""
    lines = [
        "# synconsole configuration: every key with its default.",
        "# Found in this order: --config PATH, $SYNCONSOLE_CONFIG, ./synconsole.toml, the user config dir.",
        "# Environment overrides: SYNCONSOLE_DATABASE_URL, SYNCONSOLE_CALCOM_BASE_URL, SYNCONSOLE_CALCOM_API_KEY;",
        "# SYNCONSOLE_READ_ONLY=1 refuses every mutation.",
        "",
    ]
    for section, keys in SCHEMA.items():
        lines.append(f"[{section}]")
        for key, spec in keys.items():
            lines.append(f"# {spec.doc}")
            lines.append(f"{key} = {_toml_value(spec.default)}")
        if section == "categories":
            lines += [
                "",
                "# Extra classification rules, tried before the built-in ones; first match wins.",
                "# Every given field must match: status (int or list), code (Cal.com error code),",
                "# message (regular expression searched in the error message).",
                "# [[categories.rules]]",
                '# name = "gateway timeouts from our proxy"',
                '# category = "transient"',
                "# status = [502, 504]",
                '# message = "(?i)gateway"',
            ]
        if section == "ui":
            lines += [
                "",
                "# Remap console keys: binding id = \"keys\" (comma-separated). Ids are listed in the help (?).",
                "[ui.keymap]",
                '# retry = "r"',
            ]
        lines.append("")
    lines += [
        "# More Cal.com accounts (one API key per company of a multi-tenant platform). [calcom] above is",
        "# the account \"default\". A staff row's calcom_account (import key; default \"default\") says",
        "# which account its appointments sync through. Each account has its own rate budget (shared by",
        "# every worker and console on this database), circuit breaker and auth pause: a refused key",
        "# pauses that account only. Keys are never printed; doctor and status name accounts by id.",
        "# [[calcom.accounts]]",
        '# id = "acme"',
        '# api_key_env = "ACME_CALCOM_API_KEY"   # or api_key = "cal_live_..."',
        '# base_url = "https://api.cal.com"',
        "# rate_limit_per_minute = 120   # this key's budget per 60 s, across all processes",
        "# max_concurrency = 4",
        "# timeout_s = 30.0",
        "",
        "# Live sources: the booking platform's own database, read continuously (README: Connect your",
        "# platform). Each query selects import-format columns plus the watermark column and filters",
        "# it by :since; the ingest job reads new and changed rows into the sync queue.",
        "# [[sources]]",
        '# name = "platform"',
        '# url_env = "PLATFORM_DATABASE_URL"   # or url = "mysql+pymysql://user:password@host/db"',
    ]
    lines += [f"# {key} = {_toml_value(spec.default)}   # {spec.doc}" for key, spec in SOURCE_KEYS.items()
              if key != "url_env"]
    lines += [
        "# [sources.queries]",
        "# staff = '''SELECT id, name, calcom_username, event_type_id, active, updated_at FROM staff",
        "#            WHERE updated_at >= :since'''",
        "# customers = '''SELECT id, name, email, phone, updated_at FROM customers WHERE updated_at >= :since'''",
        "# appointments = '''SELECT id, customer_id, staff_id, starts_at AS start, duration_minutes, status,",
        "#                  updated_at FROM appointments WHERE updated_at >= :since'''",
        "",
    ]
    lines += server_example_lines()
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def all_keys() -> list[str]:
    """Every ``section.key`` name, for tests that check the example documents them all."""
    keys = [f"{s}.{k}" for s, ks in SCHEMA.items() for k in ks]
    return keys + ["categories.rules", "ui.keymap", "sources.queries"]


def section_fields(section: str) -> list[str]:
    return [f.name for f in fields(SECTION_CLASSES[section])]


# --- [[notify]] ---------------------------------------------------------------------------------

NOTIFY_KEYS = {"name", "urls", "min_severity", "alerts", "accounts", "throttle_minutes", "escalate_minutes"}
_CLEAR_HOST_SCHEMES = {"json", "jsons", "xml", "xmls", "form", "forms", "mailto", "mailtos", "ntfy", "ntfys",
                       "matrix", "matrixs"}


@dataclass(frozen=True)
class NotifyTarget:
    """One ``[[notify]]`` entry. ``urls`` are apprise URLs and hold secrets (webhook tokens,
    SMTP passwords): only ``masked_urls`` is ever shown."""

    name: str
    urls: tuple[str, ...] = field(repr=False)
    min_severity: str = "warning"
    alerts: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    throttle_minutes: float = 15.0
    escalate_minutes: tuple[float, ...] = (30.0, 60.0, 120.0)

    @property
    def masked_urls(self) -> tuple[str, ...]:
        return tuple(mask_notify_url(u) for u in self.urls)

    def wants(self, alert_id: str, severity: str, accounts: tuple[str, ...] = ()) -> bool:
        """``accounts``: the Cal.com accounts the alert is about. A target with ``accounts`` hears of
        alerts about one of its accounts, and of those about no account in particular (an outage of
        the database concerns everyone), never of another account's."""
        rank = {"warning": 0, "critical": 1}
        if rank.get(severity, 0) < rank[self.min_severity]:
            return False
        if self.accounts and accounts and not set(accounts) & set(self.accounts):
            return False
        return not self.alerts or alert_id in self.alerts


def mask_notify_url(url: str) -> str:
    """``slack://***``; ``json://host:port/***``; ``mailto://user:***@host``: the scheme and, where it
    is not itself a token, the host, so an operator can tell targets apart."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "***"
    if scheme.lower() not in _CLEAR_HOST_SCHEMES:
        return f"{scheme}://***"
    netloc, slash, path = rest.partition("/")
    netloc = netloc.split("?", 1)[0]
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.split(':', 1)[0]}:***@{host}" if ":" in user else f"{user}@{host}"
    return f"{scheme}://{netloc}" + ("/***" if (path or "?" in rest) else "")


def _parse_notify(raw: Any, where: str) -> tuple[NotifyTarget, ...]:
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise ConfigError(f"{where}[[notify]]: expected a list of tables")
    targets: list[NotifyTarget] = []
    for i, entry in enumerate(raw, 1):
        at = f"{where}[[notify]] #{i}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{at}: expected a table")
        unknown = sorted(set(entry) - NOTIFY_KEYS)
        if unknown:
            raise ConfigError(f"{at}: unknown key {unknown[0]!r} (known: {', '.join(sorted(NOTIFY_KEYS))})")
        urls = entry.get("urls")
        if isinstance(urls, str):
            urls = [urls]
        if not urls or not isinstance(urls, list) or not all(isinstance(u, str) and "://" in u for u in urls):
            raise ConfigError(f"{at} urls: expected a list of apprise URLs (slack://…, mailto://…, json://…)")
        name = entry.get("name", f"notify{i}")
        if not isinstance(name, str) or not _ACCOUNT_ID.match(name):
            raise ConfigError(f"{at} name: expected a short id (letters, digits, _ . -), got {name!r}")
        if name in {t.name for t in targets}:
            raise ConfigError(f"{at} name: {name!r} is used twice")
        severity = entry.get("min_severity", "warning")
        if severity not in ("warning", "critical"):
            raise ConfigError(f"{at} min_severity: expected \"warning\" or \"critical\", got {severity!r}")
        lists = {}
        for key in ("alerts", "accounts"):
            value = entry.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{at} {key}: expected a list of ids")
            lists[key] = tuple(value)
        throttle = entry.get("throttle_minutes", 15)
        if isinstance(throttle, bool) or not isinstance(throttle, (int, float)) or not 0 <= throttle <= 100000:
            raise ConfigError(f"{at} throttle_minutes: expected a number of minutes from 0 to 100000")
        escalate = entry.get("escalate_minutes", [30, 60, 120])
        if not isinstance(escalate, list) or not all(
                isinstance(m, (int, float)) and not isinstance(m, bool) and m > 0 for m in escalate):
            raise ConfigError(f"{at} escalate_minutes: expected a list of minutes, e.g. [30, 60, 120]")
        targets.append(NotifyTarget(name=name, urls=tuple(urls), min_severity=severity, alerts=lists["alerts"],
                                    accounts=lists["accounts"], throttle_minutes=float(throttle),
                                    escalate_minutes=tuple(sorted(float(m) for m in escalate))))
    return tuple(targets)


# --- [server] -----------------------------------------------------------------------------------

SERVER_KEYS: dict[str, Key] = {
    "webhook_secret": Key("str", "", "the secret of the Cal.com webhook (X-Cal-Signature-256); prefer "
                          "webhook_secret_env"),
    "webhook_secret_env": Key("str", "", "environment variable holding the webhook secret"),
    "ingest_token": Key("str", "", "bearer token of /v1/appointments and /v1/check; prefer ingest_token_env"),
    "ingest_token_env": Key("str", "", "environment variable holding the ingest token"),
    "on_calcom_cancel": Key("choice", "flag", "a booking cancelled in Cal.com: flag it as drift, rebook it, "
                            "or cancel the appointment locally", choices=("flag", "rebook", "cancel_locally")),
    "max_body_bytes": Key("int", 1_048_576, "requests with a larger body are refused (413)", min=1024,
                          max=1_073_741_824),
    "allow_unsigned": Key("bool", False, "accept webhooks Cal.com sends without a secret (no-secret-provided)"),
    "max_concurrency": Key("int", 64, "requests handled at once; more are refused (503)", min=1, max=10_000),
    "check_timeout_s": Key("float", 2.0, "default and cap of /v1/check's Cal.com slots lookup", min=0.1,
                           max=60),
    "metrics_refresh_s": Key("float", 10.0, "/metrics is recomputed in the background this often while it is "
                             "scraped, and a scrape answers from the last result (0: compute at every scrape)",
                             min=0, max=3600),
}


@dataclass(frozen=True)
class ServerSettings:
    """``[server]``: ``synconsole serve``. The secret and the token are resolved when the server
    starts (``*_env`` names a variable), so commands that do not serve need neither."""

    webhook_secret: Secret = field(default_factory=lambda: Secret(""))
    webhook_secret_env: str = ""
    ingest_token: Secret = field(default_factory=lambda: Secret(""))
    ingest_token_env: str = ""
    on_calcom_cancel: str = "flag"
    max_body_bytes: int = 1_048_576
    allow_unsigned: bool = False
    max_concurrency: int = 64
    check_timeout_s: float = 2.0
    metrics_refresh_s: float = 10.0

    def resolve(self, name: str, env: dict[str, str] | None = None) -> Secret:
        """``webhook_secret`` or ``ingest_token``: the value, from the file or its ``_env`` variable
        (an empty Secret when neither is set)."""
        value: Secret = getattr(self, name)
        if value:
            return value
        var = getattr(self, f"{name}_env")
        if not var:
            return Secret("")
        found = (os.environ if env is None else env).get(var, "")
        if not found:
            raise ConfigError(f"[server] {name}_env: environment variable {var} is not set")
        return Secret(found)


def _parse_server(raw: Any, where: str) -> ServerSettings:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}[server]: expected a table, got {_show(raw)}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        spec = SERVER_KEYS.get(key)
        if spec is None:
            raise ConfigError(f"{where}[server] {key}: unknown key, expected one of " + ", ".join(SERVER_KEYS))
        label = f"[server] {key}"
        coerced = _coerce(spec, value, lambda exp, got, label=label: ConfigError(
            f"{where}{label}: expected {exp}, got {_show(got) if not key.endswith(('secret', 'token')) else '********'}"))
        values[key] = Secret(coerced) if key in ("webhook_secret", "ingest_token") else coerced
    for name in ("webhook_secret", "ingest_token"):
        if values.get(name) and values.get(f"{name}_env"):
            raise ConfigError(f"{where}[server]: give {name} or {name}_env, not both")
    return ServerSettings(**values)


def server_example_lines() -> list[str]:
    lines = ["# `synconsole serve`: Cal.com webhooks, /metrics, /v1/appointments, /v1/check (README: Run it as",
             "# a service). Commented out: the defaults.", "# [server]"]
    lines += [f"# {key} = {_toml_value(spec.default)}   # {spec.doc}" for key, spec in SERVER_KEYS.items()]
    lines.append("")
    return lines
