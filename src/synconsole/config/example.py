"""The text of ``config.example.toml`` and the lists of keys the tests hold it to."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from synconsole.config.keys import SCHEMA, SERVER_KEYS, SOURCE_KEYS
from synconsole.config.sections import SECTION_CLASSES


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


def server_example_lines() -> list[str]:
    lines = ["# `synconsole serve`: Cal.com webhooks, /metrics, /v1/appointments, /v1/check (README: Run it as",
             "# a service). Commented out: the defaults.", "# [server]"]
    lines += [f"# {key} = {_toml_value(spec.default)}   # {spec.doc}" for key, spec in SERVER_KEYS.items()]
    lines.append("")
    return lines
