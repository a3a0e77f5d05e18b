"""What a Cal.com answer must look like before the client trusts it, and the shapes of what it
sends: booking uids, ISO times. Pure functions, no I/O."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from .errors import KIND_INVALID_RESPONSE, CalcomError

#: Cal.com's booking uids are about 22 characters; anything longer (or with a slash, a space, a
#: control character) is not one, and must not reach a URL path or a database index
MAX_UID_LENGTH = 255


def iso_utc(moment: datetime) -> str:
    """``2025-11-26T14:00:00Z`` (milliseconds only when present). Naive datetimes are refused."""
    if not isinstance(moment, datetime):
        raise TypeError("expected a datetime")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware (UTC is expected)")
    utc = moment.astimezone(timezone.utc)
    if utc.microsecond:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_param(value: datetime | date | str) -> str:
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def valid_uid(uid: object) -> bool:
    return (isinstance(uid, str) and 0 < len(uid) <= MAX_UID_LENGTH and uid not in (".", "..")
            and not any(c == "/" or c.isspace() or not c.isprintable() for c in uid))


def checked_uid(uid: str) -> str:
    if not valid_uid(uid):
        raise ValueError("invalid booking uid")
    return uid


NOT_A_UID = "the booking uid is not a Cal.com uid"


def check_booking(envelope: dict[str, Any]) -> str | None:
    data = envelope["data"]
    if not isinstance(data, dict) or not isinstance(data.get("uid"), str):
        return "'data' is not a booking"
    if not valid_uid(data["uid"]):
        return (f"{NOT_A_UID} ({len(data['uid'])} characters; at most {MAX_UID_LENGTH}, "
                "no slash, space or control character)")
    return None


def check_created(envelope: dict[str, Any]) -> str | None:
    """One booking, or a recurring event type's series: a non-empty list of bookings."""
    data = envelope["data"]
    if not isinstance(data, list):
        return check_booking(envelope)
    if not data:
        return "'data' is an empty list of bookings"
    for item in data:
        problem = check_booking({"data": item})
        if problem:
            return problem
    return None


def check_list(envelope: dict[str, Any]) -> str | None:
    items = envelope["data"]
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return "bookings list: 'data' is not a list of bookings"
    if not isinstance(envelope.get("pagination"), dict):
        return "bookings list: 'pagination' is missing"
    return None


def check_slots(envelope: dict[str, Any]) -> str | None:
    data = envelope["data"]
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        return "slots: 'data' is not a map of days to slot lists"
    return None


def invalid_response(status: int, message: str, raw: str) -> CalcomError:
    """A 2xx whose body is not what the API promises; the str() shows a short excerpt only."""
    excerpt = " ".join(raw[:400].split())[:200]
    return CalcomError(
        status=status,
        message=f"{message}: {excerpt}" if excerpt else message,
        body=raw,
        kind=KIND_INVALID_RESPONSE,
    )
