"""Validating one row of the import format: every field checked (type, length, time zone, time,
status) and the row turned into the values its table takes."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from synconsole.core import changes, clock
from synconsole.core.classify import host_key
from synconsole.core.importer.fields import (
    FIELDS,
    KINDS,
    MAX_BOOKING_UID_LENGTH,
    MAX_CALCOM_ID,
    MAX_DURATION_MINUTES,
    MAX_ID_LENGTH,
    RowError,
)
from synconsole.core.models import SCHEDULED, STATUSES


def _q(value: Any) -> str:
    """A value quoted in a message: repr (escapes shown), and short (a row may hold a megabyte)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _text(row: dict, key: str, *, required: bool = False, max_len: int | None = None) -> str | None:
    value = row.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise RowError(f"{key}: required")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RowError(f"{key}: expected a string, got {type(value).__name__}")
    if isinstance(value, int) and max_len is not None and abs(value) >= 10**max_len:
        raise RowError(f"{key}: longer than {max_len} characters")
    text = str(value).strip()
    if max_len is not None and len(text) > max_len:
        raise RowError(f"{key}: longer than {max_len} characters")
    if "\x00" in text:
        raise RowError(f"{key}: contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise RowError(f"{key}: not valid Unicode (a lone surrogate)") from None
    return text


def _int(row: dict, key: str, *, minimum: int | None = None, maximum: int | None = None) -> int | None:
    value = row.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        if not re.fullmatch(r"\s*-?\d{1,18}\s*", value):
            raise RowError(f"{key}: expected an integer, got {value[:40]!r}")
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RowError(f"{key}: expected an integer, got {_q(value)}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        bounds = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
        raise RowError(f"{key}: expected an integer {bounds}, got {value}")
    return value


def _bool(row: dict, key: str, default: bool) -> bool:
    value = row.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "yes"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "0", "no"):
        return False
    raise RowError(f"{key}: expected true or false, got {_q(value)}")


_zone_cache: dict[str, bool] = {}


def _zone(row: dict, key: str) -> str | None:
    name = _text(row, key)
    if name is None:
        return None
    valid = _zone_cache.get(name)
    if valid is None:
        try:
            ZoneInfo(name)
            valid = True
        except (ZoneInfoNotFoundError, ValueError, OSError):
            valid = False
        if len(_zone_cache) < 10_000:
            _zone_cache[name] = valid
    if not valid:
        raise RowError(f"{key}: unknown IANA time zone {name[:60]!r}")
    return name


def _time(row: dict, key: str, zone: str | None, *, required: bool = False) -> datetime | None:
    text = _text(row, key, required=required)
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise RowError(f"{key}: expected an ISO 8601 time like 2025-11-26T14:00:00Z, got {text[:60]!r}") from None
    if value.tzinfo is None:
        if zone is None:
            raise RowError(f"{key}: {_q(text)} has no UTC offset and the row has no time_zone")
        value = value.replace(tzinfo=ZoneInfo(zone))
    try:
        return clock.check_range(value)
    except ValueError as exc:
        raise RowError(f"{key}: {exc}") from None


def _check_keys(row: dict, kind: str) -> None:
    known = FIELDS[kind]
    for key, value in row.items():
        if key != "kind" and key not in known and value is not None:
            raise RowError(f"unknown key {_q(key)} for kind {kind!r}")


def validate(row: dict[str, Any], now: datetime) -> tuple[str, dict[str, Any]]:
    kind = row.get("kind")
    if kind not in KINDS:
        shown = "missing" if kind is None else _q(kind)
        raise RowError(f"kind: expected one of staff, customer, appointment, got {shown}")
    _check_keys(row, kind)
    ident = _text(row, "id", required=True, max_len=MAX_ID_LENGTH)
    if kind == "staff":
        event_type_ids = row.get("event_type_ids")
        if isinstance(event_type_ids, str):
            try:
                event_type_ids = json.loads(event_type_ids)
            except (ValueError, RecursionError):
                raise RowError("event_type_ids: expected a JSON object of service -> event type id") from None
        if event_type_ids is not None:
            if not isinstance(event_type_ids, dict) or not all(
                isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_CALCOM_ID
                for v in event_type_ids.values()
            ):
                raise RowError(f"event_type_ids: expected an object of service -> integer from 1 to {MAX_CALCOM_ID}")
            if not all(isinstance(k, str) and len(k) <= 255 for k in event_type_ids):
                raise RowError("event_type_ids: expected service names of at most 255 characters")
        username = _text(row, "calcom_username")
        user_id = _int(row, "calcom_user_id", minimum=1, maximum=MAX_CALCOM_ID)
        return kind, {
            "id": ident,
            "name": _text(row, "name") or "",
            "calcom_username": username,
            "calcom_user_id": user_id,
            "host_key": host_key(username, user_id),
            "event_type_id": _int(row, "event_type_id", minimum=1, maximum=MAX_CALCOM_ID),
            "event_type_ids": event_type_ids or None,
            "time_zone": _zone(row, "time_zone") or "UTC",
            "active": _bool(row, "active", True),
            "calcom_account": _text(row, "calcom_account", max_len=64) or "default",
            "phone_bookings": _bool(row, "phone_bookings", False),
            "created_at": now,
            "updated_at": now,
        }
    if kind == "customer":
        return kind, {
            "id": ident,
            "name": _text(row, "name") or "",
            "email": _text(row, "email"),
            "phone": _text(row, "phone"),
            "time_zone": _zone(row, "time_zone") or "UTC",
            "created_at": now,
            "updated_at": now,
        }
    zone = _zone(row, "time_zone")
    start = _time(row, "start", zone, required=True)
    duration = _int(row, "duration_minutes", minimum=1, maximum=MAX_DURATION_MINUTES) or 30
    status = _text(row, "status") or SCHEDULED
    if status not in STATUSES:
        raise RowError(f"status: expected one of {', '.join(STATUSES)}, got {_q(status)}")
    booking_uid = _text(row, "booking_uid", max_len=MAX_BOOKING_UID_LENGTH)
    created_at = _time(row, "created_at", zone) or now
    customer_id = _text(row, "customer_id", required=True, max_len=MAX_ID_LENGTH)
    staff_id = _text(row, "staff_id", max_len=MAX_ID_LENGTH)
    return kind, {
        "id": ident,
        "customer_id": customer_id,
        "staff_id": staff_id,
        "service": _text(row, "service"),
        "start_at": start,
        "end_at": start + timedelta(minutes=duration),
        "duration_minutes": duration,
        "time_zone": zone,
        "status": status,
        "booking_uid": booking_uid,
        **changes.initial_state(status, booking_uid, start, now, staff_id=staff_id, customer_id=customer_id),
        "attempts": 0,
        "version": 1,
        "revision": 0,
        "needs_lookup": False,
        "queued_at": now,
        "created_at": created_at,
        "updated_at": now,
    }
