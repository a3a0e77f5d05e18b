"""Busy blocks: bookings made in Cal.com by someone else, which keep their host busy
(``CalcomBusyBlock``; pre-flight reads them through ``classify.host_conflict``). Filled by the
webhook receiver (``core/webhooks.py``) and, for hosts whose webhooks are missing, by the
reconcile job from the bookings it lists."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from synconsole.core import clock
from synconsole.core.classify import host_key
from synconsole.core.models import CalcomBusyBlock

METADATA_KEY = "synconsole_appointment_id"
ACTIVE = ("accepted", "pending")


def keep(session: Session, uid: str, host: str, start: datetime, end: datetime) -> None:
    session.merge(CalcomBusyBlock(booking_uid=uid, host_key=host, start_at=start, end_at=end))


def drop(session: Session, *uids: str) -> int:
    uids = tuple(u for u in uids if u)
    if not uids:
        return 0
    return session.execute(sa.delete(CalcomBusyBlock).where(CalcomBusyBlock.booking_uid.in_(uids))).rowcount


def known(session: Session, *uids: str) -> set[str]:
    uids = tuple(u for u in uids if u)
    if not uids:
        return set()
    stmt = sa.select(CalcomBusyBlock.booking_uid).where(CalcomBusyBlock.booking_uid.in_(uids))
    return set(session.execute(stmt).scalars())


def from_listed(session: Session, bookings: Iterable[dict[str, Any]]) -> tuple[int, int]:
    """Bookings as Cal.com's API v2 lists them: those without our metadata are kept (active) or
    dropped (cancelled, rejected). Returns (kept, dropped)."""
    kept = dropped = 0
    for booking in bookings:
        metadata = booking.get("metadata") if isinstance(booking.get("metadata"), dict) else {}
        uid = booking.get("uid")
        if metadata.get(METADATA_KEY) or not isinstance(uid, str):
            continue
        if booking.get("status") not in ACTIVE:
            dropped += drop(session, uid)
            continue
        hosts = booking.get("hosts") or []
        first = hosts[0] if hosts and isinstance(hosts[0], dict) else {}
        host = host_key(first.get("username"), first.get("id") if isinstance(first.get("id"), int) else None)
        try:
            start, end = clock.parse_utc(str(booking.get("start"))), clock.parse_utc(str(booking.get("end")))
        except ValueError:
            continue
        if host and end > start:
            keep(session, uid, host, start, end)
            kept += 1
    return kept, dropped
