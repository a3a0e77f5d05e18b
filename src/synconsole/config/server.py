"""``[server]``: the settings of ``synconsole serve`` (keys: ``SERVER_KEYS``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from synconsole.config.coerce import coerce, show
from synconsole.config.keys import SERVER_KEYS
from synconsole.errors import ConfigError
from synconsole.secret import Secret


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


def parse_server(raw: Any, where: str) -> ServerSettings:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}[server]: expected a table, got {show(raw)}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        spec = SERVER_KEYS.get(key)
        if spec is None:
            raise ConfigError(f"{where}[server] {key}: unknown key, expected one of " + ", ".join(SERVER_KEYS))
        label = f"[server] {key}"
        coerced = coerce(spec, value, lambda exp, got, label=label: ConfigError(
            f"{where}{label}: expected {exp}, got {show(got) if not key.endswith(('secret', 'token')) else '********'}"))
        values[key] = Secret(coerced) if key in ("webhook_secret", "ingest_token") else coerced
    for name in ("webhook_secret", "ingest_token"):
        if values.get(name) and values.get(f"{name}_env"):
            raise ConfigError(f"{where}[server]: give {name} or {name}_env, not both")
    return ServerSettings(**values)
