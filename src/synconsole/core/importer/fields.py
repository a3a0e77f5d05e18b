"""The import format (contract.md, "Import format"): its kinds, each kind's fields (required or
not), the limits a value must keep, and the error a bad row raises."""

from __future__ import annotations

MAX_ID_LENGTH = 191
#: Cal.com's uids are short; a longer one is not a uid (and PostgreSQL cannot index 10 KB)
MAX_BOOKING_UID_LENGTH = 255
MAX_DURATION_MINUTES = 24 * 60
#: Cal.com ids (users, event types) are PostgreSQL integers, and so are our columns
MAX_CALCOM_ID = 2**31 - 1
KINDS = ("staff", "customer", "appointment")

FIELDS: dict[str, dict[str, bool]] = {  # kind -> field -> required
    "staff": {"id": True, "name": False, "calcom_username": False, "calcom_user_id": False,
              "event_type_id": False, "event_type_ids": False, "time_zone": False, "active": False,
              "calcom_account": False, "phone_bookings": False},
    "customer": {"id": True, "name": False, "email": False, "phone": False, "time_zone": False},
    "appointment": {"id": True, "customer_id": True, "staff_id": False, "start": True, "duration_minutes": False,
                    "status": False, "service": False, "time_zone": False, "created_at": False,
                    "booking_uid": False},
}


class RowError(ValueError):
    """A bad row: the message says which field and why."""
