"""Can the API key *list* the bookings of every Cal.com host synconsole books for?

Cal.com's list endpoint shows only what the key's owner may see: the owner's own bookings, those
where the owner is an attendee, and team or organisation bookings only with booking-read
permission. ``GET /v2/bookings/{uid}`` answers regardless. The sync looks up a create whose answer
was lost through the list (there is no uid yet): for a host the key cannot list, that lookup comes
back empty although the booking exists, and the next try books twice or fails as a host conflict.
So ``doctor`` takes one known booking per host and asks the list for it by uid.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import sqlalchemy as sa

from synconsole.config import Settings, database_url, mask_url
from synconsole.core.models import SCHEDULED, SYNCED, Appointment, Staff

#: hosts checked at most (one or two calls each)
MAX_HOSTS = 50


@dataclass(frozen=True)
class Probe:
    account: str
    host: str
    uid: str


@dataclass(frozen=True)
class Finding:
    probe: Probe
    listed: bool | None  # None: the booking is gone (404), nothing to tell


def probes(db) -> list[Probe]:
    """One booking per (account, host): the one with the latest start synconsole holds as booked."""
    a, s = Appointment, Staff
    stmt = (sa.select(s.calcom_account, s.host_key, a.booking_uid)
            .select_from(a).join(s, s.id == a.staff_id)
            .where(a.booking_uid.is_not(None), a.sync_state == SYNCED, a.status == SCHEDULED,
                   s.host_key.is_not(None))
            .order_by(a.start_at.desc()))
    seen: dict[tuple[str, str], Probe] = {}
    with db.session() as session:
        for account, host, uid in session.execute(stmt):
            if (account, host) not in seen:
                seen[(account, host)] = Probe(account or "default", host, uid)
                if len(seen) >= MAX_HOSTS:
                    break
    return sorted(seen.values(), key=lambda p: (p.account, p.host))


async def find(settings: Settings, found: list[Probe]) -> list[Finding]:
    from synconsole.calcom.client import valid_uid
    from synconsole.core.clients import calcom_client
    from synconsole.calcom.errors import CalcomError

    results: list[Finding] = []
    for account_id in sorted({p.account for p in found}):
        account = settings.account(account_id)
        if not account.api_key:
            continue
        async with calcom_client(settings, account_id, timeout_s=10.0) as client:
            for probe in (p for p in found if p.account == account_id and valid_uid(p.uid)):
                items, _ = await client.list_bookings(booking_uid=probe.uid, take=1)
                if any(item.get("uid") == probe.uid for item in items):
                    results.append(Finding(probe, True))
                    continue
                try:
                    await client.get_booking(probe.uid)
                except CalcomError as err:
                    if err.status == 404:
                        results.append(Finding(probe, None))
                        continue
                    raise
                results.append(Finding(probe, False))
    return results


def check(settings: Settings):
    """The ``doctor`` line: ok, or a warning naming the hosts whose bookings the key cannot list."""
    from synconsole.calcom.errors import CalcomError
    from synconsole.core.db import open_database
    from synconsole.core.doctor import OK, WARN, Check
    from synconsole.errors import UserError

    name = "cal.com visibility"
    try:
        db = open_database(database_url(settings), busy_timeout_ms=settings.database.busy_timeout_ms)
    except UserError:
        return None  # the database line says why
    try:
        found = probes(db)
    except sa.exc.SQLAlchemyError:
        return None
    finally:
        db.dispose()
    if not found:
        return Check(name, OK, "not checked yet: no booked appointment to look for")
    try:
        findings = asyncio.run(find(settings, found))
    except CalcomError as err:
        detail = err.summary()[:200].replace(settings.calcom.base_url, mask_url(settings.calcom.base_url))
        return Check(name, WARN, f"could not check whether the key lists every host's bookings: {detail}")
    hidden = [f.probe for f in findings if f.listed is False]
    listed = [f.probe for f in findings if f.listed]
    if hidden:
        hosts = ", ".join(f"{p.host} (booking {p.uid})" + ("" if p.account == "default" else f" [{p.account}]")
                          for p in hidden)
        return Check(name, WARN,
                     f"the key cannot list the bookings of {hosts}: they exist (found by uid), but the list "
                     "does not show them, so a create whose answer was lost cannot be looked up for these "
                     "hosts; give the key's owner booking-read permission on the team or organisation, or "
                     "book them through a key of their own ([[calcom.accounts]])")
    return Check(name, OK, f"the key lists the bookings of every host checked ({len(listed)}: "
                           f"{', '.join(p.host for p in listed)})" if listed else "no booking left to check")
