"""The sync job: claim -> pre-flight -> Cal.com -> record -> classify -> next state.

Never lose: a claim is a lease; a crash leaves the row to be reclaimed. Never double-book: a create
is sent only when no earlier attempt may have reached Cal.com; otherwise the booking is looked up
by its ``metadata.synconsole_appointment_id`` first and adopted. Never hammer: every call goes
through the client's shared rate limiter, consecutive transient failures open a circuit, and a
refused key pauses the job.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import select

from synconsole.calcom.client import METADATA_APPOINTMENT_KEY, CalcomClient
from synconsole.calcom.errors import KIND_NOT_SENT, CalcomError
from synconsole.config import Settings
from synconsole.core import clock, queue
from synconsole.core.classify import Failure, event_type_for, failure_from_response, preflight, usable_email
from synconsole.core.db import Database
from synconsole.core.logsetup import log
from synconsole.core.models import (
    OP_CANCEL,
    OP_CREATE,
    OP_RESCHEDULE,
    OUTCOME_FAILED,
    OUTCOME_PREFLIGHT,
    OUTCOME_RETRY,
    OUTCOME_SUCCESS,
    OUTCOME_UNKNOWN,
    Appointment,
    Customer,
    Staff,
    SyncAttempt,
)

logger = logging.getLogger("synconsole.sync")

ALREADY_CANCELLED = "This booking has already been cancelled."
DEFAULT_CANCEL_REASON = "Cancelled in the booking platform"
CONCURRENT_DUPLICATE = "booking_conflict_error"


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class SyncReport:
    claimed: int = 0
    synced: int = 0
    adopted: int = 0
    cancelled: int = 0
    rescheduled: int = 0
    failed: int = 0
    retry: int = 0
    preflight: int = 0
    lost_lease: int = 0
    released: int = 0
    skipped: str | None = None  # why nothing was claimed (circuit open, auth pause, stopping)
    by_category: dict[str, int] = field(default_factory=dict)

    def add(self, other: "SyncReport") -> None:
        for name in ("claimed", "synced", "adopted", "cancelled", "rescheduled", "failed", "retry", "preflight",
                     "lost_lease", "released"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for k, v in other.by_category.items():
            self.by_category[k] = self.by_category.get(k, 0) + v
        self.skipped = other.skipped or self.skipped

    def summary(self) -> str:
        if self.skipped and not self.claimed:
            return f"nothing sent: {self.skipped}"
        parts = [f"{self.claimed} claimed"]
        for name in ("synced", "adopted", "cancelled", "rescheduled", "retry", "failed", "preflight",
                     "lost_lease", "released"):
            value = getattr(self, name)
            if value:
                label = {"retry": "retry scheduled", "preflight": "refused before sending",
                         "lost_lease": "lease lost"}.get(name, name)
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
    todo: list[Appointment]  # claimed and through pre-flight
    ctx: _Context


class SyncEngine:
    def __init__(self, db: Database, settings: Settings, client: CalcomClient, *, worker: str | None = None,
                 backoff: queue.Backoff | None = None) -> None:
        self.db = db
        self.settings = settings
        self.client = client
        self.worker = worker or worker_id()
        self.backoff = backoff or queue.Backoff(settings.sync.backoff_base_s, settings.sync.backoff_max_s)
        self.circuit = Circuit(settings.alerts.outage_consecutive_failures, max(5.0, settings.sync.backoff_base_s))
        self.stopping = False
        self.auth_error: CalcomError | None = None
        #: claimed appointments still waiting for a place for their call (drain claims more below that)
        self._waiting = 0
        self._place_taken = asyncio.Event()

    def stop(self) -> None:
        """Stop claiming; calls in flight finish, claims not yet sent are released (also those
        waiting for the rate limit: they fail as not sent instead of waiting out the window)."""
        self.stopping = True
        self.client.abort_unsent()

    # --- batches --------------------------------------------------------------------------------

    async def run_once(self, limit: int | None = None) -> SyncReport:
        """Claim one batch and see every claimed appointment to a recorded outcome."""
        report = SyncReport()
        batch = await self._claim(limit, report)
        if batch is not None:
            await self._run(batch, asyncio.Semaphore(self.settings.calcom.max_concurrency), report)
        return report

    async def drain(self, limit: int | None = None) -> SyncReport:
        """Run batches until nothing is due now (``sync --once``), at most ``limit`` appointments.

        Batches overlap: the next one is claimed as soon as the last appointments of the current
        one have their places, so the ``max_concurrency`` places never wait for a batch's slowest
        call (one batch after the other left them idle at every batch's end). While the circuit
        is open nothing overlaps: the probe's answer decides whether to go on."""
        places = self.settings.calcom.max_concurrency
        gate = asyncio.Semaphore(places)
        reports: list[SyncReport] = []
        tasks: list[asyncio.Task] = []
        claimed = 0
        try:
            while not self.stopping and self.auth_error is None:
                if limit is not None and claimed >= limit:
                    break
                report = SyncReport()
                reports.append(report)
                batch = await self._claim(None if limit is None else limit - claimed, report)
                claimed += report.claimed
                if batch is None:
                    break
                task = asyncio.ensure_future(self._run(batch, gate, report))
                tasks.append(task)
                if self.circuit.open:  # a probe: its answer first
                    await asyncio.wait(tasks)
                while not task.done() and self._waiting >= places:
                    self._place_taken.clear()
                    taken = asyncio.ensure_future(self._place_taken.wait())
                    await asyncio.wait([task, taken], return_when=asyncio.FIRST_COMPLETED)
                    taken.cancel()
                if any(t.done() and not t.cancelled() and t.exception() is not None for t in tasks):
                    break
                if self.circuit.open and not self.circuit.probe_due(clock.now()):
                    break
        finally:
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
        total = SyncReport()
        for report in reports:
            total.add(report)
        for task in tasks:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()
        return total

    async def _claim(self, limit: int | None, report: SyncReport) -> _Batch | None:
        """Claim a batch and refuse what pre-flight refuses; ``None`` when there is nothing to send."""
        if self.stopping:
            report.skipped = "stopping"
            return None
        now = clock.now()
        size = min(limit or self.settings.sync.batch_size, self.settings.sync.batch_size)
        if self.circuit.open:
            if not self.circuit.probe_due(now):
                report.skipped = "circuit open (Cal.com failing); waiting to probe"
                return None
            self.circuit.last_probe = now
            size = 1
        claimed = await asyncio.to_thread(queue.claim, self.db, self.worker, limit=size,
                                          lease_s=self.settings.sync.lease_s, now=now)
        report.claimed = len(claimed)
        if not claimed:
            return None
        ctx, refused = await asyncio.to_thread(self._preflight, claimed, now)
        for appt in claimed:
            if appt.id in refused:
                await asyncio.to_thread(self._record_preflight, appt, refused[appt.id], now, report)
        return _Batch([a for a in claimed if a.id not in refused], ctx)

    async def _run(self, batch: _Batch, gate: asyncio.Semaphore, report: SyncReport) -> None:
        self._waiting += len(batch.todo)
        results = await asyncio.gather(*(self._guarded(gate, a, batch.ctx, report) for a in batch.todo),
                                       return_exceptions=True)
        auth = next((r for r in results if isinstance(r, AuthRefused)), None)
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, AuthRefused):
                raise r
        if auth is not None:
            self.auth_error = auth.error
            report.skipped = f"Cal.com refused the API key ({auth.error.summary()})"

    async def _guarded(self, gate: asyncio.Semaphore, appt: Appointment, ctx: _Context, report: SyncReport) -> None:
        slot = _Slot(gate)
        try:
            await slot.take()
        finally:
            self._waiting -= 1
            self._place_taken.set()
        _slot.set(slot)  # this task's own context: gather runs each appointment in a task
        try:
            if self.stopping or self.auth_error is not None:
                slot.free()
                released = await asyncio.to_thread(queue.release, self.db, [appt])
                report.released += released
                return
            await self._process(appt, ctx, report)
        finally:
            slot.free()

    # --- pre-flight -----------------------------------------------------------------------------

    def _preflight(self, claimed: list[Appointment], now: datetime) -> tuple[_Context, dict[str, Failure]]:
        creates = [a for a in claimed if a.sync_op == OP_CREATE]
        with self.db.session() as session:
            refused = preflight(session, creates, now=now, settings=self.settings)
            customer_ids = {a.customer_id for a in claimed}
            staff_ids = {a.staff_id for a in claimed if a.staff_id}
            customers = {c.id: c for c in session.exec(select(Customer).where(Customer.id.in_(customer_ids)))}
            staff = {s.id: s for s in session.exec(select(Staff).where(Staff.id.in_(staff_ids)))} if staff_ids else {}
        return _Context(customers, staff), refused

    def _record_preflight(self, appt: Appointment, failure: Failure, now: datetime, report: SyncReport) -> None:
        attempt = SyncAttempt(appointment_id=appt.id, at=now, worker=self.worker, operation=appt.sync_op,
                              outcome=OUTCOME_PREFLIGHT, category=failure.category, error_message=failure.message)
        if queue.record(self.db, appt, queue.failed(appt, failure, now=now, attempted=False), attempt):
            report.preflight += 1
            report.by_category[failure.category] = report.by_category.get(failure.category, 0) + 1
            log(logger, logging.INFO, "refused before sending", appointment=appt.id, category=failure.category)
        else:
            report.lost_lease += 1

    # --- one appointment ------------------------------------------------------------------------

    async def _process(self, appt: Appointment, ctx: _Context, report: SyncReport) -> None:
        started = clock.now()
        if appt.sync_op == OP_CANCEL:
            await self._cancel(appt, report, started)
        elif appt.sync_op == OP_RESCHEDULE:
            await self._reschedule(appt, report, started)
        else:
            await self._create(appt, ctx, report, started)

    def _request(self, appt: Appointment, ctx: _Context) -> dict[str, Any]:
        customer = ctx.customers[appt.customer_id]
        staff = ctx.staff[appt.staff_id]  # pre-flight guarantees both
        phone_ok = customer.phone and not usable_email(customer.email)
        return {
            "start": appt.start_at,
            "event_type_id": event_type_for(staff, appt.service),
            "attendee_name": customer.name or f"Customer {customer.id}",
            "attendee_time_zone": appt.time_zone or customer.time_zone or staff.time_zone or "UTC",
            "attendee_email": customer.email.strip() if usable_email(customer.email) else None,
            "attendee_phone": customer.phone.strip() if phone_ok else None,
            "metadata": {METADATA_APPOINTMENT_KEY: appt.id},
        }

    async def _lookup(self, appt: Appointment, request: dict[str, Any]) -> dict[str, Any] | None:
        booking = await self.client.find_booking(
            appointment_id=appt.id, start=appt.start_at - timedelta(minutes=1),
            end=appt.end_at + timedelta(minutes=1), attendee_email=request["attendee_email"],
            attendee_phone=request["attendee_phone"], event_type_id=request["event_type_id"],
        )
        if booking is not None and booking.get("status") in ("accepted", "pending"):
            return booking
        return None

    async def _create(self, appt: Appointment, ctx: _Context, report: SyncReport, started: datetime) -> None:
        request = self._request(appt, ctx)
        summary = _summary(request)
        try:
            if appt.needs_lookup:
                found = await self._lookup(appt, request)
                if found is not None:
                    await self._done(appt, report, started, summary, found["uid"], adopted=True)
                    return
            booking = await self.client.create_booking(**request)
        except CalcomError as err:
            if err.outcome_unknown or (err.status == 409 and CONCURRENT_DUPLICATE in err.message):
                found = await self._lookup_after(appt, request, err)
                if found is not None:
                    await self._done(appt, report, started, summary, found["uid"], adopted=True)
                    return
            await self._failure(appt, err, report, started, summary, may_have_committed=err.outcome_unknown)
            return
        await self._done(appt, report, started, summary, booking["uid"])

    async def _lookup_after(self, appt: Appointment, request: dict[str, Any], err: CalcomError):
        """Right after an unknown outcome: did the create go through? A failing lookup is no answer."""
        try:
            return await self._lookup(appt, request)
        except CalcomError as lookup_err:
            log(logger, logging.INFO, "lookup after unknown outcome failed", appointment=appt.id,
                error=lookup_err.summary(), first_error=err.summary())
            return None

    async def _cancel(self, appt: Appointment, report: SyncReport, started: datetime) -> None:
        reason = appt.cancel_reason or DEFAULT_CANCEL_REASON
        summary = {"operation": "cancel", "booking_uid": appt.booking_uid, "cancellationReason": reason}
        if not appt.booking_uid:
            await self._done(appt, report, started, summary, None)
            return
        try:
            await self.client.cancel_booking(appt.booking_uid, reason)
        except CalcomError as err:
            if err.status == 400 and ALREADY_CANCELLED in err.message:
                await self._done(appt, report, started, summary, appt.booking_uid)
                return
            await self._failure(appt, err, report, started, summary, may_have_committed=False)
            return
        await self._done(appt, report, started, summary, appt.booking_uid)

    async def _reschedule(self, appt: Appointment, report: SyncReport, started: datetime) -> None:
        summary = {"operation": "reschedule", "booking_uid": appt.booking_uid,
                   "start": clock.iso(appt.reschedule_to)}
        try:
            if appt.needs_lookup:
                moved = await self._moved_to(appt)
                if moved is not None:
                    await self._done(appt, report, started, summary, moved, adopted=True)
                    return
            booking = await self.client.reschedule_booking(appt.booking_uid, appt.reschedule_to,
                                                           reason=appt.cancel_reason)
        except CalcomError as err:
            if err.outcome_unknown:
                moved = await self._moved_to_quietly(appt)
                if moved is not None:
                    await self._done(appt, report, started, summary, moved, adopted=True)
                    return
            await self._failure(appt, err, report, started, summary, may_have_committed=err.outcome_unknown)
            return
        await self._done(appt, report, started, summary, booking["uid"])

    async def _moved_to(self, appt: Appointment) -> str | None:
        old = await self.client.get_booking(appt.booking_uid)
        if old.get("status") == "cancelled" and old.get("rescheduledToUid"):
            return old["rescheduledToUid"]
        return None

    async def _moved_to_quietly(self, appt: Appointment) -> str | None:
        try:
            return await self._moved_to(appt)
        except CalcomError:
            return None

    # --- outcomes -------------------------------------------------------------------------------

    async def _done(self, appt: Appointment, report: SyncReport, started: datetime, summary: dict,
                    booking_uid: str | None, *, adopted: bool = False) -> None:
        _free_slot()
        now = clock.now()
        self.circuit.success()
        attempt = SyncAttempt(appointment_id=appt.id, at=now, worker=self.worker, operation=appt.sync_op,
                              request_summary={**summary, **({"adopted": True} if adopted else {})},
                              outcome=OUTCOME_SUCCESS, booking_uid=booking_uid, duration_ms=_ms(started, now))
        ok = await asyncio.to_thread(queue.record, self.db, appt, queue.synced(appt, booking_uid=booking_uid, now=now),
                                     attempt)
        if not ok:
            report.lost_lease += 1
            log(logger, logging.WARNING, "lease lost before the outcome was written", appointment=appt.id,
                booking_uid=booking_uid)
            return
        if adopted:
            report.adopted += 1
        elif appt.sync_op == OP_CANCEL:
            report.cancelled += 1
        elif appt.sync_op == OP_RESCHEDULE:
            report.rescheduled += 1
        else:
            report.synced += 1
        log(logger, logging.INFO, "adopted existing booking" if adopted else f"{appt.sync_op} done",
            appointment=appt.id, booking_uid=booking_uid, duration_ms=_ms(started, now))

    async def _failure(self, appt: Appointment, err: CalcomError, report: SyncReport, started: datetime,
                       summary: dict, *, may_have_committed: bool) -> None:
        _free_slot()
        if err.kind == KIND_NOT_SENT:  # stopping: nothing reached Cal.com, give the claim back
            report.released += await asyncio.to_thread(queue.release, self.db, [appt])
            return
        now = clock.now()
        failure = failure_from_response(err.status, err.code, err.message, self.settings.categories.rules)
        transient = failure.category in ("transient", "rate_limited")
        if failure.category == "transient":
            self.circuit.failure(now)
        elif failure.category != "rate_limited":
            self.circuit.success()  # Cal.com answered: it is up
        attempts_after = appt.attempts + 1
        if failure.category == "auth":
            values = queue.retry_later(appt, failure, now=now, delay_s=0)
            outcome = OUTCOME_RETRY
        elif transient and attempts_after < self.settings.sync.max_attempts:
            delay = self._rate_limit_delay() if failure.category == "rate_limited" else self.backoff.delay(attempts_after)
            values = queue.retry_later(appt, failure, now=now, delay_s=delay,
                                       needs_lookup=True if may_have_committed else None)
            outcome = OUTCOME_UNKNOWN if may_have_committed else OUTCOME_RETRY
        else:
            values = queue.failed(appt, failure, now=now)
            if may_have_committed:
                values["needs_lookup"] = True
            outcome = OUTCOME_FAILED
        attempt = SyncAttempt(appointment_id=appt.id, at=now, worker=self.worker, operation=appt.sync_op,
                              request_summary=summary, http_status=err.status, error_code=err.code,
                              error_message=err.message, error_body=err.body or None, outcome=outcome,
                              category=failure.category, duration_ms=_ms(started, now))
        ok = await asyncio.to_thread(queue.record, self.db, appt, values, attempt)
        if not ok:
            report.lost_lease += 1
        elif outcome == OUTCOME_FAILED:
            report.failed += 1
            report.by_category[failure.category] = report.by_category.get(failure.category, 0) + 1
        else:
            report.retry += 1
        log(logger, logging.INFO if transient else logging.WARNING, f"{appt.sync_op} failed", appointment=appt.id,
            status=err.status, category=failure.category, outcome=outcome, error=err.message[:300])
        if failure.category == "auth":
            raise AuthRefused(err)

    def _rate_limit_delay(self) -> float:
        wait = self.client.limiter.stats().blocked_for_s
        return wait + 1.0 if wait > 0 else 60.0


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


def _summary(request: dict[str, Any]) -> dict[str, Any]:
    """What was sent, for the attempt log: no secrets, contact details masked."""
    from synconsole.core.queries import mask_email, mask_phone

    return {
        "operation": "create",
        "start": clock.iso(request["start"]),
        "eventTypeId": request["event_type_id"],
        "attendee": {"name": request["attendee_name"], "timeZone": request["attendee_time_zone"],
                     "email": mask_email(request["attendee_email"]), "phoneNumber": mask_phone(request["attendee_phone"])},
        "metadata": request["metadata"],
    }


def _ms(started: datetime, now: datetime) -> int:
    return max(0, int((now - started).total_seconds() * 1000))
