"""TOML data -> a validated :class:`Settings`: every section, ``[[calcom.accounts]]``,
``[[sources]]``, ``[[categories.rules]]`` and ``[ui.keymap]``."""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from synconsole.config.coerce import coerce, show
from synconsole.config.keys import (
    ACCOUNT_ID,
    DEFAULT_ACCOUNT,
    RULE_KEYS,
    SCHEMA,
    SOURCE_KEYS,
    SOURCE_QUERIES,
    plain_number,
)
from synconsole.config.notify import NotifyTarget, parse_notify
from synconsole.config.sections import (
    SECTION_CLASSES,
    CalcomSettings,
    CategoryRule,
    Settings,
    SourceSettings,
)
from synconsole.config.server import ServerSettings, parse_server
from synconsole.config.urls import database_url_problem, http_url_problem, mask_url, source_url_problem
from synconsole.errors import ConfigError
from synconsole.secret import Secret

_SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def parse_settings(data: dict[str, Any], *, source: Path | None = None) -> Settings:
    where = f"{source}: " if source else "config: "

    def fail(key: str, expected: str, got: Any) -> ConfigError:
        return ConfigError(f"{where}{key}: expected {expected}, got {show(got)}")

    sections: dict[str, Any] = {}
    sources: tuple[SourceSettings, ...] = ()
    notify: tuple[NotifyTarget, ...] = ()
    server = ServerSettings()
    for name, value in data.items():
        if name == "sources":
            sources = _parse_sources(value, where)
            continue
        if name == "server":
            server = parse_server(value, where)
            continue
        if name == "notify":
            notify = parse_notify(value, where)
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
            values[key] = coerce(spec, raw, lambda exp, got, label=label: fail(label, exp, got))
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
        raise fail("[sync] backoff_max_s", f"a number >= backoff_base_s ({plain_number(base)})", cap)
    template = sections.get("remediation", {}).get("placeholder_email_template")
    if template is not None:
        _check_template(template, lambda exp, got: fail("[remediation] placeholder_email_template", exp, got))

    built = {name: SECTION_CLASSES[name](**values) for name, values in sections.items()}
    return Settings(**built, sources=sources, source=source, notify=notify, server=server)


def _parse_accounts(raw: Any, where: str, fail) -> tuple[CalcomSettings, ...]:
    """``[[calcom.accounts]]``: each with an ``id`` and the ``[calcom]`` keys (api_key or api_key_env)."""
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise fail("[[calcom.accounts]]", "an array of tables", raw)
    out: list[CalcomSettings] = []
    for i, table in enumerate(raw, start=1):
        ident = table.get("id")
        label = f"[[calcom.accounts]] {ident}" if isinstance(ident, str) else f"[[calcom.accounts]] #{i}"
        if not isinstance(ident, str) or not ACCOUNT_ID.match(ident):
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
            values[key] = coerce(spec, value, lambda exp, got, key=key: fail(f"{label} {key}", exp, got))
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
        raise ConfigError(f"{where}[[sources]]: expected an array of tables, got {show(raw)}")
    out: list[SourceSettings] = []
    for i, table in enumerate(raw, start=1):
        name = table.get("name")
        label = f"[[sources]] #{i}" if not isinstance(name, str) else f"[[sources]] {name}"

        def fail(key: str, expected: str, got: Any, label=label) -> ConfigError:
            return ConfigError(f"{where}{label} {key}: expected {expected}, got {show(got)}")

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
            values[key] = coerce(spec, value, lambda exp, got, key=key: fail(key, exp, got))
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
        raise ConfigError(f"{where}[[categories.rules]]: expected an array of tables, got {show(raw)}")
    rules = []
    for i, item in enumerate(raw, start=1):
        label = f"[[categories.rules]] #{i}"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}{label}: expected a table, got {show(item)}")
        for key in item:
            if key not in RULE_KEYS:
                raise ConfigError(f"{where}{label} {key}: unknown key, expected one of " + ", ".join(RULE_KEYS))
        category = item.get("category")
        if not isinstance(category, str) or category not in CATEGORIES:
            raise ConfigError(
                f"{where}{label} category: expected one of {', '.join(CATEGORIES)}, got {show(category)}"
            )
        status = item.get("status", ())
        if isinstance(status, int) and not isinstance(status, bool):
            status = (status,)
        if not isinstance(status, (list, tuple)) or not all(
            isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599 for s in status
        ):
            raise ConfigError(f"{where}{label} status: expected {RULE_KEYS['status']}, got {show(status)}")
        code = item.get("code")
        if code is not None and not isinstance(code, str):
            raise ConfigError(f"{where}{label} code: expected a string, got {show(code)}")
        message = item.get("message")
        if message is not None:
            if not isinstance(message, str):
                raise ConfigError(f"{where}{label} message: expected a regular expression, got {show(message)}")
            try:
                re.compile(message)
            except re.error as exc:
                raise ConfigError(f"{where}{label} message: expected a valid regular expression ({exc})") from None
        if not status and code is None and message is None:
            raise ConfigError(f"{where}{label}: expected at least one of status, code, message to match on")
        name = item.get("name", f"config rule {i}")
        if not isinstance(name, str):
            raise ConfigError(f"{where}{label} name: expected a string, got {show(name)}")
        rules.append(CategoryRule(category=category, status=tuple(status), code=code, message=message, name=name))
    return tuple(rules)


def _parse_keymap(raw: Any, where: str) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}[ui.keymap]: expected a table of binding id = \"keys\", got {show(raw)}")
    keymap = {}
    for binding_id, keys in raw.items():
        if not isinstance(keys, str) or not keys.strip():
            raise ConfigError(f"{where}[ui.keymap] {binding_id}: expected keys like \"ctrl+r\" or \"r,f5\", "
                              f"got {show(keys)}")
        keymap[binding_id] = keys
    return keymap
