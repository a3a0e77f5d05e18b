"""Shared pieces for sync-engine tests: a simulator, a database with a scenario, a client."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from synconsole.calcom.client import CalcomClient
from synconsole.config import parse_settings
from synconsole.core.importer import import_file

KEY = "cal_test_engine"
EVENT_TYPES = {"101": {"host": "fabian", "length": 30}, "102": {"host": "maria", "length": 30},
               # takes phone-only attendees (phone field shown, email optional); 101 and 102 are defaults
               "103": {"host": "paula", "length": 30,
                       "bookingFields": {"email": "optional", "attendeePhoneNumber": "required"}}}
#: a staff member whose event type takes phone-only attendees
PHONE_STAFF = {"kind": "staff", "id": "s-3", "name": "Paula", "calcom_username": "paula", "event_type_id": 103,
               "phone_bookings": True}


def soon(days: float = 2, hour: int = 10) -> datetime:
    """A start in the future of the real clock (the simulator checks against real time)."""
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=days)
    return base.replace(hour=hour)


def settings_for(url: str, db_url: str, **sections):
    data = {"database": {"url": db_url}, "calcom": {"base_url": url, "api_key": KEY}}
    data["sync"] = {"backoff_base_s": 1.0, "backoff_max_s": 4.0, **sections.pop("sync", {})}
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return parse_settings(data)


def client_for(settings, **kwargs) -> CalcomClient:
    return CalcomClient(settings.calcom.base_url, settings.calcom.api_key.reveal(),
                        timeout_s=kwargs.pop("timeout_s", settings.calcom.timeout_s),
                        rate_limit_per_minute=settings.calcom.rate_limit_per_minute,
                        max_concurrency=settings.calcom.max_concurrency, **kwargs)


def people() -> list[dict]:
    return [
        {"kind": "staff", "id": "s-1", "name": "Fabian Spitzer", "calcom_username": "fabian", "event_type_id": 101},
        {"kind": "staff", "id": "s-1b", "name": "Fabian (2nd record)", "calcom_username": "fabian", "event_type_id": 101},
        {"kind": "staff", "id": "s-2", "name": "Maria", "calcom_username": "maria", "event_type_id": 102},
        {"kind": "customer", "id": "c-1", "name": "Anna", "email": "anna@example.com"},
        {"kind": "customer", "id": "c-2", "name": "Ben", "phone": "+4915112345678"},
        {"kind": "customer", "id": "c-anon", "name": "Caller", "phone": "anonymous_1732456789_ab12cd"},
    ]


def appointment(id: str, start: datetime, *, staff: str | None = "s-2", customer: str = "c-1", **kw) -> dict:
    return {"kind": "appointment", "id": id, "customer_id": customer, "staff_id": staff,
            "start": start.isoformat(), "duration_minutes": kw.pop("minutes", 30), **kw}


def load(db, tmp_path: Path, rows: list[dict]) -> None:
    path = tmp_path / "rows.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = import_file(db, path)
    assert result.ok, result.summary()
