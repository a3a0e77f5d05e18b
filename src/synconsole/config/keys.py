"""The schema: every setting's :class:`Key` (type, default, bounds, the words ``config.example.toml``
shows). The loader, the validation messages and the example all follow it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

APP_NAME = "synconsole"
CONFIG_FILENAME = "synconsole.toml"
DEFAULT_ANONYMOUS_PATTERN = r"^anonymous_\d+_[0-9a-f]+$"
DEFAULT_ACCOUNT = "default"
#: a ``[[calcom.accounts]]`` id, a ``[[notify]]`` name
ACCOUNT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


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
                return f"{kind} from {plain_number(self.min)} to {plain_number(self.max)}"
            if self.min is not None:
                return f"{kind} >= {plain_number(self.min)}"
            return kind
        return {
            "str": "a string",
            "bool": "true or false",
            "regex": "a regular expression (string)",
        }.get(self.type, self.type)


def plain_number(v: float) -> str:
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


#: what ``[server]`` may say (``synconsole serve``)
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
