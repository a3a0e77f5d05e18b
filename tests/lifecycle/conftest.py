"""A world for lifecycle tests: a real database (SQLite file or PostgreSQL), the simulator over real
HTTP, and the user's own commands (`import`, `sync --once`, `cancel`, …) run in-process through
the CLI. Every test looks at Cal.com's side: the active bookings the simulator holds per
appointment."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from synconsole.simulator import Faults, SimulatorServer
from synconsole.core import clock
from synconsole.core.db import open_database
from synconsole.core.models import Appointment, SyncAttempt

from tests.commands import Commands

KEY = "cal_test_lifecycle"
#: 103 is maria's 60-minute event type: a 30-minute appointment becomes a 60-minute booking there
#: all take phone-only attendees (phone field shown, email optional), and the staff say so (phone_bookings)
PHONES = {"bookingFields": {"email": "optional", "attendeePhoneNumber": "optional"}}
EVENT_TYPES = {"101": {"host": "fabian", "length": 30, **PHONES}, "102": {"host": "maria", "length": 30, **PHONES},
               "103": {"host": "maria", "length": 60, **PHONES}}
PEOPLE = [
    {"kind": "staff", "id": "s-1", "name": "Fabian", "calcom_username": "fabian", "event_type_id": 101},
    {"kind": "staff", "id": "s-2", "name": "Maria", "calcom_username": "maria", "event_type_id": 102},
    {"kind": "staff", "id": "s-3", "name": "Maria (long)", "calcom_username": "maria", "event_type_id": 103},
    {"kind": "customer", "id": "c-1", "name": "Anna", "email": "anna@example.com"},
    {"kind": "customer", "id": "c-2", "name": "Ben", "phone": "+4915112345678"},
    {"kind": "customer", "id": "c-anon", "name": "Caller", "phone": "anonymous_1732456789_ab12cd"},
]


def start_at(days: int = 3, hour: int = 10, minute: int = 0) -> datetime:
    """A start days ahead of the real clock (the simulator refuses the past by real time)."""
    base = datetime.now(UTC).replace(hour=hour, minute=minute, second=0, microsecond=0)
    return base + timedelta(days=days)


def appt(id: str, start: datetime, *, staff: str | None = "s-2", customer: str = "c-1", **kw: Any) -> dict:
    return {"kind": "appointment", "id": id, "customer_id": customer, "staff_id": staff,
            "start": clock.iso(start), "duration_minutes": kw.pop("minutes", 30), **kw}


@dataclass
class World(Commands):
    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    _files: int = 0

    def load(self, *rows: dict) -> None:
        self._files += 1
        path = self.config.parent / f"rows-{self._files}.ndjson"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        self.cli("import", str(path))

    def sync(self, *extra: str) -> str:
        return self.cli("sync", "--once", *extra)[1]

    def faults(self, **changes: Any) -> None:
        response = httpx.post(f"{self.sim.url}/_sim/faults", json=changes, timeout=10)
        assert response.status_code == 200, response.text

    def lose_answers(self) -> None:
        """Calls go through but their answers are lost, and so are the lookups right after (lists
        and single bookings answer 500): the outcome stays unknown until a later sync settles it."""
        self.faults(drop_after_commit_rate=1.0, list_error_rate=1.0, get_error_rate=1.0)

    def heal(self) -> None:
        self.faults(drop_after_commit_rate=0.0, list_error_rate=0.0, get_error_rate=0.0, error_rate_5xx=0.0)

    def advance(self, **delta: float) -> None:
        """Move the frozen clock on (retries come due, leases expire)."""
        self.now += timedelta(**delta)
        clock.freeze(self.now)

    def row(self, appointment_id: str) -> Appointment:
        db = open_database(self.db_url)
        try:
            with db.session() as s:
                return s.get(Appointment, appointment_id)
        finally:
            db.dispose()

    def attempts(self, appointment_id: str) -> list[SyncAttempt]:
        db = open_database(self.db_url)
        try:
            with db.session() as s:
                return list(s.exec(select(SyncAttempt).where(SyncAttempt.appointment_id == appointment_id)
                                   .order_by(SyncAttempt.id)))
        finally:
            db.dispose()


def host_of(booking: dict) -> str:
    return booking["hosts"][0]["username"]


def start_of(booking: dict) -> datetime:
    return clock.parse_utc(booking["start"])


@pytest.fixture
def sim():
    with SimulatorServer(api_key=KEY, event_types=EVENT_TYPES, faults=Faults()) as server:
        yield server


@pytest.fixture
def world(db_url, sim, tmp_path, run_cli):
    config = tmp_path / "synconsole.toml"
    config.write_text(f'[logging]\npath = "{tmp_path / "synconsole.log"}"\n', encoding="utf-8")
    w = World(db_url, sim, config, run_cli, KEY)
    clock.freeze(w.now)
    w.load(*PEOPLE)
    yield w
    clock.freeze(None)
