"""Whether one Cal.com account's sync is paused (its key refused), seen by every process.

With one account, a refused key pauses the sync job as it always did (jobs/state.py). With several
(``[[calcom.accounts]]``), it pauses only that account's row in ``calcom_accounts``: the other
accounts' appointments go on. A pause and a resume are audited; the reason never holds the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from synconsole.core import audit, clock
from synconsole.core.db import Database, row_for_update
from synconsole.core.models import RateBudget

AUTH_PAUSE = "auth"


@dataclass(frozen=True)
class AccountPause:
    account: str
    reason: str | None
    since: datetime | None


def _row(session, account: str) -> RateBudget:
    return row_for_update(session, RateBudget, account, limit_per_minute=120, burst=4, tokens=0.0,
                          refreshed_at=0.0, blocked_until=0.0, reservations=0, requests_429=0, granted=0,
                          paused=False, window_start=0.0, window_granted=0)


def pause(db: Database, account: str, *, actor: str, reason: str) -> bool:
    """Pause one account's sync everywhere. Returns False if it was already paused."""
    with db.write() as session:
        row = _row(session, account)
        if row.paused:
            return False
        row.paused, row.paused_reason, row.paused_at = True, reason, clock.now()
        audit.record(session, actor=actor, action="pause_account", reason=reason,
                     before={"account": account, "paused": False}, after={"account": account, "paused": True})
        session.commit()
    return True


def resume(db: Database, account: str, *, actor: str, reason: str | None = None) -> bool:
    with db.write() as session:
        row = _row(session, account)
        if not row.paused:
            return False
        before = {"account": account, "paused": True, "paused_reason": row.paused_reason}
        row.paused, row.paused_reason, row.paused_at = False, None, None
        audit.record(session, actor=actor, action="resume_account", reason=reason, before=before,
                     after={"account": account, "paused": False})
        session.commit()
    return True


def paused(db_or_session) -> dict[str, AccountPause]:
    """Every paused account (a Database or an open session)."""
    stmt = sa.select(RateBudget.id, RateBudget.paused_reason, RateBudget.paused_at).where(RateBudget.paused)
    if isinstance(db_or_session, Database):
        with db_or_session.session() as session:
            rows = session.execute(stmt).all()
    else:
        rows = db_or_session.execute(stmt).all()
    return {r[0]: AccountPause(r[0], r[1], r[2]) for r in rows}
