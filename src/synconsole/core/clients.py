"""The one factory of Cal.com clients: every face and job builds its client here, from the account's
settings (base URL, key, timeout, pacing) and, given the database, the budget every process shares."""

from __future__ import annotations

from synconsole.calcom.client import CalcomClient
from synconsole.calcom.ratelimit import RateLimiter
from synconsole.config import CalcomSettings, Settings
from synconsole.core.budget import SharedBudget
from synconsole.core.db import Database


def calcom_client(settings: Settings, account: str | None = None, db: Database | None = None, *,
                  timeout_s: float | None = None, max_concurrency: int | None = None) -> CalcomClient | None:
    """The client of one Cal.com account (``None``: ``[calcom]``), or None without a key. With
    ``db`` its requests also draw from the account's budget shared by every process on that
    database (core/budget.py): Cal.com counts per key, whoever sends. ``timeout_s`` caps the
    account's timeout (a quick probe); ``max_concurrency`` overrides its calls in flight."""
    return account_client(settings.account(account), db, timeout_s=timeout_s, max_concurrency=max_concurrency)


def account_client(calcom: CalcomSettings, db: Database | None = None, *, timeout_s: float | None = None,
                   max_concurrency: int | None = None) -> CalcomClient | None:
    """:func:`calcom_client` for an account's settings themselves."""
    if not calcom.api_key:
        return None
    shared = SharedBudget(db, calcom.id, calcom.rate_limit_per_minute) if db is not None else None
    return CalcomClient(calcom.base_url, calcom.api_key.reveal(),
                        timeout_s=calcom.timeout_s if timeout_s is None else min(calcom.timeout_s, timeout_s),
                        max_concurrency=calcom.max_concurrency if max_concurrency is None else max_concurrency,
                        limiter=RateLimiter(calcom.rate_limit_per_minute, shared=shared))
