"""``synconsole doctor``: is everything this installation needs in place? Never prints the key."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from synconsole.config import Settings, database_url, log_path, mask_url
from synconsole.core.db import (
    current_revision,
    fault,
    head_revision,
    integrity_problem,
    open_database,
    redact_url,
)
from synconsole.core.logpath import writable_problem
from synconsole.errors import UserError

OK = "ok"
WARN = "warn"
FAIL = "fail"


@dataclass
class Check:
    name: str
    status: str
    detail: str

    def line(self) -> str:
        return f"[{self.status:^4}] {self.name}: {self.detail}"


def run(settings: Settings, *, calcom_check: Callable[[Settings], Check] | None = None,
        visibility_check: Callable[[Settings], Check | None] | None = None) -> list[Check]:
    checks = [Check("config", OK, f"{settings.source}" if settings.source else "built-in defaults (no config file)")]

    url = database_url(settings)
    try:
        db = open_database(url, busy_timeout_ms=settings.database.busy_timeout_ms)
    except UserError as exc:
        checks.append(Check("database", FAIL, str(exc)))
    else:
        try:
            rev = current_revision(db)
            damage = integrity_problem(db)
            if damage is not None:
                checks.append(Check("database", FAIL, f"{redact_url(url)} is damaged (SQLite integrity check: "
                                                      f"{damage}); restore it from a backup"))
            else:
                checks.append(Check("database", OK, f"{redact_url(url)} (schema {rev}, current {head_revision()}"
                                                    + (", integrity check ok)" if db.is_sqlite else ")")))
        except Exception as exc:
            known = fault(exc, url)
            if known is None:
                raise
            checks.append(Check("database", FAIL, str(known)))
        finally:
            db.dispose()

    path = log_path(settings)
    problem = None if settings.logging.path == "-" else writable_problem(path)
    if settings.logging.path == "-":
        checks.append(Check("log path", OK, "logging to stderr ([logging] path = \"-\")"))
    elif problem is None:
        checks.append(Check("log path", OK, f"{path} is writable"))
    else:
        checks.append(Check("log path", WARN, f"{problem}; logs will fall back to the user log dir or stderr"))

    if not settings.calcom.api_key:
        checks.append(Check("cal.com key", FAIL, "no API key: set [calcom] api_key, api_key_env or "
                                                 "SYNCONSOLE_CALCOM_API_KEY"))
    else:
        checks.append(_key_shape("cal.com key", settings.calcom.api_key.reveal()))
    if calcom_check is not None and settings.calcom.api_key:
        checks.append(calcom_check(settings))
        if visibility_check is not None and checks[-1].status == OK:
            visible = visibility_check(settings)  # can the key list every host's bookings?
            if visible is not None:
                checks.append(visible)
    for account in settings.calcom.accounts:  # [[calcom.accounts]]: each named by its id, never its key
        checks.append(_key_shape(f"cal.com key {account.id}", account.api_key.reveal()))
        if calcom_check is not None:
            found = calcom_check(replace(settings, calcom=replace(account, accounts=())))
            checks.append(replace(found, name=f"cal.com {account.id}"))
    return checks


def _key_shape(name: str, key: str) -> Check:
    return Check(name, OK if key.startswith("cal_") else WARN,
                 "present (cal_live_ key)" if key.startswith("cal_live_") else
                 "present (test-mode cal_ key)" if key.startswith("cal_") else
                 "present, but does not start with cal_ as Cal.com keys do")


def exit_code(checks: list[Check]) -> int:
    return 1 if any(c.status == FAIL for c in checks) else 0


def check_calcom(settings: Settings) -> Check:
    """One cheap authenticated call: is Cal.com reachable, and does it accept the key?"""
    import asyncio

    from synconsole.calcom.errors import CalcomError
    from synconsole.core.clients import calcom_client

    shown = mask_url(settings.calcom.base_url)  # user:token@ in a URL is a credential too
    client = calcom_client(settings, settings.calcom.id, timeout_s=10.0)
    if client is None:
        return Check("cal.com", FAIL, f"{shown}: no API key to try")

    async def ping() -> float:
        async with client:
            return await client.ping()

    try:
        seconds = asyncio.run(ping())
    except CalcomError as err:
        if err.status in (401, 403):
            return Check("cal.com", FAIL, f"{shown} refused the key (HTTP {err.status})")
        detail = err.summary()[:200].replace(settings.calcom.base_url, shown)
        return Check("cal.com", FAIL, f"{shown} not usable: {detail}")
    return Check("cal.com", OK, f"{shown} reachable, key accepted ({seconds * 1000:.0f} ms)")
