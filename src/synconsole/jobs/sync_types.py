"""What the sync engine passes around: its report, the circuit, the claimed batch and the one
appointment at work, and the place for a Cal.com call each appointment holds while it waits for
the answer (``jobs/sync.py`` runs them)."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from synconsole.calcom.errors import CalcomError
from synconsole.core.changes import Booking
from synconsole.core.classify import Failure
from synconsole.core.logsetup import log
from synconsole.core.models import Appointment, Customer, Staff, SyncAttempt

logger = logging.getLogger("synconsole.sync")


@dataclass
class SyncReport:
    claimed: int = 0
    synced: int = 0
    adopted: int = 0
    cancelled: int = 0
    rescheduled: int = 0
    rebooked: int = 0
    settled: int = 0  # needed no Cal.com call (the booking already matched, or nothing to book)
    failed: int = 0
    retry: int = 0
    preflight: int = 0
    lost_lease: int = 0
    released: int = 0
    skipped: str | None = None  # why nothing was claimed (circuit open, auth pause, stopping)
    by_category: dict[str, int] = field(default_factory=dict)

    def add(self, other: "SyncReport") -> None:
        for name in ("claimed", "synced", "adopted", "cancelled", "rescheduled", "rebooked", "settled", "failed",
                     "retry", "preflight", "lost_lease", "released"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for k, v in other.by_category.items():
            self.by_category[k] = self.by_category.get(k, 0) + v
        self.skipped = other.skipped or self.skipped

    def summary(self) -> str:
        if self.skipped and not self.claimed:
            return f"nothing sent: {self.skipped}"
        parts = [f"{self.claimed} claimed"]
        for name in ("synced", "adopted", "cancelled", "rescheduled", "rebooked", "settled", "retry", "failed",
                     "preflight", "lost_lease", "released"):
            value = getattr(self, name)
            if value:
                label = {"retry": "retry scheduled", "preflight": "refused before sending",
                         "lost_lease": "lease lost", "settled": "needed no call"}.get(name, name)
                parts.append(f"{value} {label}")
        return ", ".join(parts)


class Circuit:
    """Consecutive transient failures open the circuit; while open, one probe per cool-down."""

    def __init__(self, threshold: int, cooldown_s: float) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.consecutive = 0
        self.opened_at: datetime | None = None
        self.last_probe: datetime | None = None

    @property
    def open(self) -> bool:
        return self.opened_at is not None

    def probe_due(self, now: datetime) -> bool:
        since = self.last_probe or self.opened_at
        return since is None or (now - since).total_seconds() >= self.cooldown_s

    def failure(self, now: datetime) -> None:
        self.consecutive += 1
        if self.consecutive >= self.threshold and self.opened_at is None:
            self.opened_at = now
            log(logger, logging.WARNING, "circuit opened: Cal.com keeps failing transiently",
                consecutive=self.consecutive)

    def success(self) -> None:
        if self.opened_at is not None:
            log(logger, logging.INFO, "circuit closed: Cal.com answers again")
        self.consecutive = 0
        self.opened_at = None
        self.last_probe = None


class AuthRefused(Exception):
    """Cal.com refused the key: the whole sync pauses."""

    def __init__(self, error: CalcomError) -> None:
        super().__init__(error.summary())
        self.error = error


@dataclass
class _Context:
    customers: dict[str, Customer]
    staff: dict[str, Staff]


@dataclass
class _Batch:
    todo: list[Appointment]
    ctx: _Context
    token: str
    #: appointment id -> (step, sent): decided, checked and written down when the batch was claimed
    planned: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    #: refused by pre-flight at claim time: (appointment, failure, step)
    refused: list[tuple[Appointment, Failure, str]] = field(default_factory=list)


class _Stop(Exception):
    """This appointment's outcome is written (or its claim was lost): nothing more to do for it."""


@dataclass
class _Work:
    """One claimed appointment on its way through the steps: what is known of Cal.com, what is
    still to be written with the next database write, the attempts made so far."""

    appt: Appointment
    customer: Customer | None
    staff: Staff | None
    started: datetime
    known: Booking | None
    want: Booking | None
    pending: dict[str, Any] = field(default_factory=dict)
    attempts: list[SyncAttempt] = field(default_factory=list)
    calls: int = 0
    #: the first step, already through pre-flight and written down at claim time
    planned: tuple[str, dict[str, Any]] | None = None


class _Slot:
    """One of the ``max_concurrency`` places for Cal.com calls, held by one appointment from its
    first call to its answer. Writing the outcome to the database needs no place: the next
    appointment's call goes out meanwhile (SQLite writes one at a time; held places would wait
    in line for it)."""

    def __init__(self, gate: asyncio.Semaphore) -> None:
        self.gate = gate
        self.held = False

    async def take(self) -> None:
        await self.gate.acquire()
        self.held = True

    def free(self) -> None:
        if self.held:
            self.held = False
            self.gate.release()


_slot: contextvars.ContextVar[_Slot | None] = contextvars.ContextVar("synconsole_sync_slot", default=None)


def _free_slot() -> None:
    slot = _slot.get()
    if slot is not None:
        slot.free()
