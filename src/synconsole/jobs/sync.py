"""The sync job: claim -> settle what is in doubt -> next step -> pre-flight -> Cal.com -> record.

Never lose: a claim is a lease, renewed while this worker lives; a crash leaves the row to be
reclaimed. Never double-book: every call is written down (``sent``) before it goes out; a call
whose answer never came is settled by looking up what was *sent* (by ``metadata
.synconsole_appointment_id``, at the start that was sent, for the attendee that was sent) before
anything else is sent. Then :func:`synconsole.core.changes.next_step` says what the appointment
still needs (create, cancel, reschedule, or cancel then create for a new host or attendee), one
call at a time, each step recorded. Never hammer: every call goes through the client's shared rate
limiter, consecutive transient failures open a circuit, and a refused key pauses the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import socket
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Callable

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import select

from synconsole.calcom.client import METADATA_APPOINTMENT_KEY, CalcomClient, valid_uid
from synconsole.calcom.errors import KIND_NOT_SENT, CalcomError
from synconsole.config import Settings
from synconsole.core import categories as cats
from synconsole.core import changes, clock, errorbody, queue
from synconsole.core.changes import Booking
from synconsole.core.classify import MAX_DURATION, Failure, check_before_sending, failure_from_response
from synconsole.core.db import Database
from synconsole.core.logsetup import log
from synconsole.core.models import (
    OP_CANCEL,
    OP_CREATE,
    OP_REBOOK,
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
from synconsole.core.scrub import scrub_text

logger = logging.getLogger("synconsole.sync")

#: what the classifier makes of a cancel's refusal that means there is nothing (more) to cancel: the
#: booking was cancelled already (the first cancel's answer was lost, say) or Cal.com has no such uid
#: (``booking_gone``), or it has ended (``past_appointment``: history, Cal.com cancels no past booking)
NOTHING_TO_CANCEL = ("booking_gone", "past_appointment")
DEFAULT_CANCEL_REASON = "Cancelled in the booking platform"
#: a recurring event type books a series for one appointment: the occurrences after the first go
SERIES_REASON = ("Booked by synconsole for one appointment: only its first occurrence is wanted "
                 "(the event type is a recurring one)")
REBOOK_REASON = "Rebooked by synconsole: the appointment's host or attendee changed"
CONCURRENT_DUPLICATE = "booking_conflict_error"
#: around a start that was sent: a lookup must not depend on the length Cal.com gave the booking
LOOKUP_MARGIN = timedelta(minutes=1)
#: on a stop, how long calls in flight may still take before they are abandoned (left in doubt)
STOP_GRACE_S = 5.0


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


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


class SyncEngine:
    def __init__(self, db: Database, settings: Settings, client: CalcomClient, *, worker: str | None = None,
                 backoff: queue.Backoff | None = None, account: str | None = None,
                 clients: Callable[[str], CalcomClient | None] | None = None) -> None:
        self.db = db
        self.settings = settings
        self.client = client
        #: the Cal.com account whose appointments this engine claims (None: all, the one-account case)
        self.account = account
        self.calcom = settings.account(account)
        #: another account's client (a rebook's cancel goes through the account that booked it)
        self._clients = clients
        self.worker = worker or worker_id()
        self.backoff = backoff or queue.Backoff(settings.sync.backoff_base_s, settings.sync.backoff_max_s)
        self.circuit = Circuit(settings.alerts.outage_consecutive_failures, max(5.0, settings.sync.backoff_base_s))
        self.stopping = False
        self.auth_error: CalcomError | None = None
        #: claimed appointments still waiting for a place for their call (drain claims more below that)
        self._waiting = 0
        self._place_taken = asyncio.Event()
        #: claim tokens with rows still being worked on: their leases are renewed while we live
        self._held: set[str] = set()
        #: appointment id -> a recurring occurrence a lookup found (its series is settled on adoption)
        self._found: dict[str, dict[str, Any]] = {}

    def stop(self) -> None:
        """Stop claiming; calls in flight finish, claims not yet sent are released (also those
        waiting for the rate limit: they fail as not sent instead of waiting out the window). A call
        still on the wire after :data:`STOP_GRACE_S` is abandoned: its row stays in doubt."""
        self.stopping = True
        self.client.stop(STOP_GRACE_S)

    # --- batches --------------------------------------------------------------------------------

    async def run_once(self, limit: int | None = None) -> SyncReport:
        """Claim one batch and see every claimed appointment to a recorded outcome."""
        report = SyncReport()
        async with self._renewing():
            batch = await self._claim(limit, report)
            if batch is not None:
                await self._run(batch, asyncio.Semaphore(self.calcom.max_concurrency), report)
        return report

    @asynccontextmanager
    async def _renewing(self):
        task = asyncio.ensure_future(self._keep_leases())
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _keep_leases(self) -> None:
        """Renew the leases of everything this worker holds, a third of a lease apart, so no other
        worker reclaims a row this one still works on (a row may wait minutes for the rate limit)."""
        lease_s = self.settings.sync.lease_s
        while True:
            await asyncio.sleep(lease_s / 3)
            tokens = sorted(self._held)
            if not tokens:
                continue
            try:
                await asyncio.to_thread(queue.renew, self.db, tokens, lease_s)
            except SQLAlchemyError as exc:
                log(logger, logging.WARNING, "could not renew leases; retrying", error=str(exc)[:200])

    async def drain(self, limit: int | None = None) -> SyncReport:
        """Run batches until nothing is due now (``sync --once``), at most ``limit`` appointments.

        Batches overlap: the next one is claimed as soon as the last appointments of the current
        one have their places, so the ``max_concurrency`` places never wait for a batch's slowest
        call (one batch after the other left them idle at every batch's end). While the circuit
        is open nothing overlaps: the probe's answer decides whether to go on."""
        places = self.calcom.max_concurrency
        gate = asyncio.Semaphore(places)
        reports: list[SyncReport] = []
        tasks: list[asyncio.Task] = []
        claimed = 0
        async with self._renewing():
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
        """Claim a batch and load what its appointments need; ``None`` when there is nothing to send."""
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
                                          lease_s=self.settings.sync.lease_s, now=now, account=self.account)
        report.claimed = len(claimed)
        if not claimed:
            return None
        token = claimed[0].claimed_by
        self._held.add(token)
        batch = await asyncio.to_thread(self._plan, claimed, token)
        for appt, failure, step in batch.refused:
            with contextlib.suppress(_Stop):
                await self._refuse(_Work(appt, None, None, now, None, None), step, failure, report)
        return batch

    def _plan(self, claimed: list[Appointment], token: str) -> _Batch:
        """For the whole batch at once: what each appointment needs next, pre-flight for creates and
        moves (refusals are recorded without taking a place for a call), and the calls written down
        in one transaction before any is sent. Appointments in doubt are planned after settling."""
        ctx = self._context(claimed)
        now = clock.now()
        batch = _Batch([], ctx, token)
        intents: list[tuple[Appointment, dict[str, Any]]] = []
        with self.db.session() as session:
            for appt in claimed:
                work = self._work(appt, ctx)
                step = None if appt.needs_lookup else changes.next_step(appt, work.known, work.want, now)
                if step in (OP_CREATE, OP_RESCHEDULE):
                    failure = check_before_sending(session, appt, work.customer, work.staff, now=now,
                                                   settings=self.settings, move=step == OP_RESCHEDULE)
                    if failure is not None:
                        batch.refused.append((appt, failure, step))
                        continue
                if step is not None and changes.is_call(step):
                    sent = _sent_for(work, step)
                    batch.planned[appt.id] = (step, sent)
                    intents.append((appt, {"sent": sent, "sync_op": step}))
                batch.todo.append(appt)
        written = queue.note_many(self.db, intents)
        batch.planned = {i: plan for i, plan in batch.planned.items() if i in written}
        return batch

    async def _run(self, batch: _Batch, gate: asyncio.Semaphore, report: SyncReport) -> None:
        self._waiting += len(batch.todo)
        try:
            results = await asyncio.gather(*(self._guarded(gate, a, batch.ctx, report, batch.planned)
                                             for a in batch.todo), return_exceptions=True)
        finally:
            self._held.discard(batch.token)
        auth = next((r for r in results if isinstance(r, AuthRefused)), None)
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, AuthRefused):
                raise r
        if auth is not None:
            self.auth_error = auth.error
            report.skipped = f"Cal.com refused the API key ({auth.error.summary()})"

    async def _guarded(self, gate: asyncio.Semaphore, appt: Appointment, ctx: _Context, report: SyncReport,
                       planned: dict[str, tuple[str, dict[str, Any]]]) -> None:
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
            await self._process(appt, ctx, report, planned=planned.get(appt.id))
        finally:
            slot.free()

    def _context(self, claimed: list[Appointment]) -> _Context:
        with self.db.session() as session:
            customer_ids = {a.customer_id for a in claimed}
            staff_ids = {a.staff_id for a in claimed if a.staff_id}
            customers = {c.id: c for c in session.exec(select(Customer).where(Customer.id.in_(customer_ids)))}
            staff = {s.id: s for s in session.exec(select(Staff).where(Staff.id.in_(staff_ids)))} if staff_ids else {}
        return _Context(customers, staff)

    # --- one appointment ------------------------------------------------------------------------

    def _work(self, appt: Appointment, ctx: _Context) -> _Work:
        customer = ctx.customers.get(appt.customer_id)
        staff = ctx.staff.get(appt.staff_id) if appt.staff_id else None
        return _Work(appt, customer, staff, clock.now(), changes.booked_of(appt), changes.wanted(appt, customer, staff))

    async def _process(self, appt: Appointment, ctx: _Context, report: SyncReport, *,
                       planned: tuple[str, dict[str, Any]] | None = None) -> None:
        """Settle what is in doubt, then take the steps :func:`changes.next_step` names (at most a
        cancel and a create), writing each down before it is sent and its outcome after."""
        work = self._work(appt, ctx)
        work.planned = planned
        try:
            if appt.needs_lookup:
                await self._settle(work, report)
            for _ in range(3):
                step = changes.next_step(appt, work.known, work.want, clock.now())
                if not changes.is_call(step):
                    await self._finish(work, step, report)
                    return
                if work.planned is not None and work.planned[0] != step:  # pragma: no cover - same inputs
                    work.planned = None
                if step in (OP_CREATE, OP_RESCHEDULE) and work.planned is None:
                    failure = await asyncio.to_thread(self._check, work, step == OP_RESCHEDULE)
                    if failure is not None:
                        await self._refuse(work, step, failure, report)
                        return
                await self._step(work, step, report)
            raise AssertionError(f"appointment {appt.id}: no final state after three steps")  # pragma: no cover
        except _Stop:
            return
        except (AuthRefused, SQLAlchemyError):
            raise
        except Exception as exc:  # noqa: BLE001 - one appointment's surprise must not stop the batch
            await self._crashed(work, exc, report)

    async def _crashed(self, work: _Work, exc: Exception, report: SyncReport) -> None:
        """Something unexpected while handling this appointment: finish it as failed, with the error,
        so it is neither left in flight nor reclaimed forever; what was sent stays for a lookup."""
        _free_slot()
        now = clock.now()
        message = f"internal error while syncing: {type(exc).__name__}: {str(exc)[:500]}"
        failure = Failure(cats.UNKNOWN, message, None, None)
        values = {**work.pending, **queue.failed(work.appt, failure, now=now, attempted=bool(work.calls))}
        if work.calls:
            values["attempts"] = queue.C.attempts + work.calls
        self._attempt(work, work.appt.sync_op or "sync", None, OUTCOME_FAILED, category=failure.category,
                      error_message=message)
        if await asyncio.to_thread(queue.record, self.db, work.appt, values, work.attempts):
            report.failed += 1
            report.by_category[failure.category] = report.by_category.get(failure.category, 0) + 1
        else:
            report.lost_lease += 1
        log(logger, logging.ERROR, "appointment failed on an internal error", appointment=work.appt.id,
            error=scrub_text(message[:300]))

    def _check(self, work: _Work, move: bool) -> Failure | None:
        with self.db.session() as session:
            return check_before_sending(session, work.appt, work.customer, work.staff, now=clock.now(),
                                        settings=self.settings, move=move)

    # --- settling a call whose answer never came ----------------------------------------------------

    async def _settle(self, work: _Work, report: SyncReport) -> None:
        """Find out what the call in doubt did, from what was sent (not from what the row says now)."""
        sent = work.appt.sent or self._legacy_sent(work)
        before = work.known
        try:
            work.known = await self._outcome_of(work, sent)
        except CalcomError as err:
            await self._failure(work, err, report, operation="lookup", in_doubt=True)
        found = self._found.pop(work.appt.id, None)
        if work.known != before:  # the call in doubt did go through: its outcome, adopted
            op = sent.get("op", OP_CREATE)
            summary = (_summary(sent, work.appt.id) if op == OP_CREATE
                       else {"operation": op, "booking_uid": sent.get("uid")})
            uid = work.known.uid if work.known is not None else sent.get("uid")
            self._attempt(work, op, {**summary, "adopted": True}, OUTCOME_SUCCESS, booking_uid=uid)
            report.adopted += 1
            log(logger, logging.INFO, f"adopted the outcome of an earlier {op}", appointment=work.appt.id,
                booking_uid=uid)
        work.pending.update(self._known_values(work), needs_lookup=False, sent=None)
        if found is not None and work.known is not None and found.get("uid") == work.known.uid:
            await self._settle_series(work, found, None, report)

    def _legacy_sent(self, work: _Work) -> dict[str, Any]:
        """A row in doubt from before calls were written down: what it would have sent."""
        appt = work.appt
        if appt.sync_op == OP_CREATE or not appt.booking_uid:
            return {"op": OP_CREATE, "booking": (work.want or Booking(None, appt.start_at)).to_json()}
        return {"op": appt.sync_op if appt.sync_op != OP_REBOOK else OP_CANCEL, "uid": appt.booking_uid,
                "booking": replace(work.known or Booking(appt.booking_uid, appt.start_at), start=appt.start_at)
                .to_json()}

    async def _outcome_of(self, work: _Work, sent: dict[str, Any]) -> Booking | None:
        """The live booking after the call in ``sent`` (raises CalcomError when Cal.com cannot say)."""
        asked = Booking.from_json(sent.get("booking"))
        if sent.get("op") == OP_CREATE:
            found = await self._find(work.appt.id, asked)
            return asked.with_uid(found["uid"]) if found is not None else work.known
        uid = sent.get("uid") or (work.known.uid if work.known else None)
        if not uid:
            return work.known
        try:
            booking = await self._booked_client(work.known).get_booking(uid)
        except CalcomError as err:
            if err.status == 404:
                return None
            raise
        if booking.get("status") in ("accepted", "pending"):
            return work.known if sent.get("op") == OP_RESCHEDULE else (work.known or asked)
        moved_to = booking.get("rescheduledToUid")
        if sent.get("op") == OP_RESCHEDULE and valid_uid(moved_to) and asked is not None:
            return asked.with_uid(moved_to)
        return None

    async def _find(self, appointment_id: str, asked: Booking | None) -> dict[str, Any] | None:
        """The active booking carrying this appointment's id at the start that was sent: first for
        the attendee and event type that were sent, then (Cal.com matches emails exactly, and only
        shows what the key may see) across every attendee and event type."""
        if asked is None:
            return None
        window = dict(appointment_id=appointment_id, start=asked.start - LOOKUP_MARGIN,
                      end=asked.start + MAX_DURATION + LOOKUP_MARGIN)
        searches = [dict(attendee_email=asked.email, event_type_id=asked.event_type_id), {}]
        if not asked.email and asked.event_type_id is None:
            searches = [{}]
        for filters in searches:
            for found in await self.client.find_bookings(**window, **filters):
                if (found.get("status") in ("accepted", "pending") and _starts_at(found, asked.start)
                        and valid_uid(found.get("uid"))):  # never adopt (store, put in a URL) a non-uid
                    if found.get("recurringBookingUid"):
                        self._found[appointment_id] = found  # its series is settled after adoption
                    return found
        return None

    # --- one Cal.com call -----------------------------------------------------------------------

    async def _step(self, work: _Work, step: str, report: SyncReport) -> None:
        if self.auth_error is not None:  # refused meanwhile: give the claim back unsent
            _free_slot()
            report.released += await asyncio.to_thread(queue.release, self.db, [work.appt])
            raise _Stop()
        if step == OP_CREATE:
            await self._create(work, report)
        elif step == OP_RESCHEDULE:
            await self._reschedule(work, report)
        else:
            await self._cancel(work, report, rebook=step == OP_REBOOK)

    async def _write_ahead(self, work: _Work, step: str, report: SyncReport) -> dict[str, Any]:
        """Write down what is about to be sent, with whatever the last step learned (unless the
        batch's claim wrote it already); returns it."""
        if work.planned is not None:
            sent = work.planned[1]
            work.planned = None
            return sent
        sent = _sent_for(work, step)
        values = {**work.pending, "sent": sent, "sync_op": step}
        if not await asyncio.to_thread(queue.note, self.db, work.appt, values, work.attempts):
            self._lost(work, report)
        work.pending.clear()
        work.attempts = []
        return sent

    async def _create(self, work: _Work, report: SyncReport) -> None:
        want = work.want  # next_step gives create only with something to book; pre-flight passed
        assert want is not None
        sent = await self._write_ahead(work, OP_CREATE, report)
        try:
            answer = await self.client.create_booking(**_request(want, work.appt.id))
        except CalcomError as err:
            if err.outcome_unknown or (err.status == 409 and CONCURRENT_DUPLICATE in err.message):
                found = await self._quietly(self._find(work.appt.id, want), work, err)
                if found is not None:
                    work.known = want.with_uid(found["uid"])
                    self._attempt(work, OP_CREATE, {**_summary(sent, work.appt.id), "adopted": True},
                                  OUTCOME_SUCCESS, booking_uid=found["uid"])
                    report.adopted += 1
                    work.pending.update(self._known_values(work), sent=None, needs_lookup=False)
                    self._found.pop(work.appt.id, None)  # found is at hand here
                    await self._settle_series(work, found, None, report)
                    return
            await self._failure(work, err, report, operation=OP_CREATE, summary=_summary(sent, work.appt.id),
                                in_doubt=err.outcome_unknown)
        series = answer if isinstance(answer, list) else None
        booking = _first_occurrence(series, want.start) if series is not None else answer
        work.known = want.with_uid(booking["uid"])
        self._attempt(work, OP_CREATE, _summary(sent, work.appt.id), OUTCOME_SUCCESS, booking_uid=booking["uid"])
        self._done_log(work, OP_CREATE, booking["uid"])
        work.pending.update(self._known_values(work), sent=None)
        if series is not None or booking.get("recurringBookingUid"):
            await self._settle_series(work, booking, series, report)
        report.synced += 1

    async def _settle_series(self, work: _Work, kept: dict[str, Any], series: list[dict[str, Any]] | None,
                             report: SyncReport) -> None:
        """A recurring event type booked a series for one appointment. Keep the occurrence at the
        appointment's start (``kept``) and cancel every other one now, each an attempt in the log, so
        no booking is left that synconsole does not know of. ``series``: the create's answer; None
        when the booking was adopted by a lookup (its siblings are looked up by ``recurringBookingUid``).
        An occurrence that cannot be cancelled fails the appointment (manual review) with its uid."""
        group = kept.get("recurringBookingUid")
        if series is None:
            if not group:
                return
            try:
                series = await self._siblings(work, kept, group)
            except CalcomError as err:
                series, lookup_error = [], err
            else:
                lookup_error = None
        else:
            lookup_error = None
        extras = [b for b in series if b.get("uid") != kept["uid"] and valid_uid(b.get("uid"))
                  and b.get("status") in ("accepted", "pending")]
        et = work.want.event_type_id if work.want is not None else kept.get("eventTypeId")
        log(logger, logging.WARNING, "recurring event type: Cal.com booked a series for one appointment; "
            "cancelling the other occurrences", appointment=work.appt.id, event_type=et, occurrences=len(extras) + 1)
        left: list[tuple[str, CalcomError]] = []
        for extra in extras:
            summary = {"operation": OP_CANCEL, "booking_uid": extra["uid"], "cancellationReason": SERIES_REASON,
                       "series_of": kept["uid"]}
            try:
                await self.client.cancel_booking(extra["uid"], SERIES_REASON)
            except CalcomError as err:
                category = failure_from_response(err.status, err.code, err.message,
                                                 self.settings.categories.rules).category
                if err.outcome_unknown and await self._quietly(self._cancelled(extra["uid"]), work, err, False):
                    category = NOTHING_TO_CANCEL[0]  # the answer was lost; the cancel went through
                if category not in NOTHING_TO_CANCEL:
                    left.append((extra["uid"], err))
                    self._attempt(work, OP_CANCEL, summary, OUTCOME_FAILED, booking_uid=extra["uid"],
                                  http_status=err.status, error_code=err.code, category=category,
                                  error_message=errorbody.cut_message(err.message))
                    continue
            self._attempt(work, OP_CANCEL, summary, OUTCOME_SUCCESS, booking_uid=extra["uid"])
        if not left and lookup_error is None:
            return
        if lookup_error is not None:
            why = f"its other occurrences could not be looked up ({lookup_error.summary()[:200]})"
        else:
            why = "these occurrences could not be cancelled: " + "; ".join(
                f"{uid} ({err.summary()[:120]})" for uid, err in left)
        failure = Failure("no_event_type",
                          f"Event type {et} is a recurring event type: Cal.com booked a series for one appointment "
                          f"(kept {kept['uid']} at its start); {why}. Cancel them in Cal.com, and map "
                          f"staff {work.appt.staff_id} to an event type that is not recurring.",
                          left[0][1].status if left else None)
        _free_slot()
        now = clock.now()
        values = {**queue.failed(work.appt, failure, now=now, attempted=False), **work.pending,
                  "attempts": queue.C.attempts + work.calls}
        if await asyncio.to_thread(queue.record, self.db, work.appt, values, work.attempts):
            report.failed += 1
            report.by_category[failure.category] = report.by_category.get(failure.category, 0) + 1
        else:
            report.lost_lease += 1
        raise _Stop()

    async def _cancelled(self, uid: str) -> bool:
        booking = await self.client.get_booking(uid)
        return booking.get("status") not in ("accepted", "pending")

    async def _siblings(self, work: _Work, kept: dict[str, Any], group: str) -> list[dict[str, Any]]:
        """The other bookings of a recurring series synconsole made for this appointment (its id in
        the metadata, the same ``recurringBookingUid``), from the kept occurrence's start on."""
        found: list[dict[str, Any]] = []
        email = work.want.email if work.want is not None else None
        filters: dict[str, Any] = {"after_start": clock.parse_utc(str(kept.get("start")))}
        if email:
            filters["attendee_email"] = email
        async for booking in self.client.iter_bookings(take=250, **filters):
            metadata = booking.get("metadata") if isinstance(booking.get("metadata"), dict) else {}
            if (booking.get("recurringBookingUid") == group
                    and str(metadata.get(METADATA_APPOINTMENT_KEY)) == str(work.appt.id)):
                found.append(booking)
        return found

    async def _reschedule(self, work: _Work, report: SyncReport) -> None:
        known = work.known
        assert known is not None and known.uid
        moved = replace(known, start=work.appt.start_at)
        sent = await self._write_ahead(work, OP_RESCHEDULE, report)
        summary = {"operation": OP_RESCHEDULE, "booking_uid": known.uid, "start": clock.iso(moved.start)}
        try:
            booking = await self.client.reschedule_booking(known.uid, moved.start)
        except CalcomError as err:
            if err.outcome_unknown:
                after = await self._quietly(self._outcome_of(work, sent), work, err, default=known)
                if after is not None and after.uid != known.uid:
                    work.known = after
                    self._attempt(work, OP_RESCHEDULE, {**summary, "adopted": True}, OUTCOME_SUCCESS,
                                  booking_uid=after.uid)
                    report.rescheduled += 1
                    work.pending.update(self._known_values(work), sent=None, needs_lookup=False)
                    return
            await self._failure(work, err, report, operation=OP_RESCHEDULE, summary=summary,
                                in_doubt=err.outcome_unknown)
        work.known = moved.with_uid(booking["uid"])
        self._attempt(work, OP_RESCHEDULE, summary, OUTCOME_SUCCESS, booking_uid=booking["uid"])
        report.rescheduled += 1
        self._done_log(work, OP_RESCHEDULE, booking["uid"])
        work.pending.update(self._known_values(work), sent=None)

    async def _cancel(self, work: _Work, report: SyncReport, *, rebook: bool) -> None:
        known = work.known
        assert known is not None and known.uid
        reason = REBOOK_REASON if rebook else (work.appt.cancel_reason or DEFAULT_CANCEL_REASON)
        sent = await self._write_ahead(work, OP_REBOOK if rebook else OP_CANCEL, report)
        summary = {"operation": OP_REBOOK if rebook else OP_CANCEL, "booking_uid": known.uid,
                   "cancellationReason": reason}
        try:
            await self._booked_client(known).cancel_booking(known.uid, reason)
        except CalcomError as err:
            gone = err.status in (400, 404) and failure_from_response(
                err.status, err.code, err.message, self.settings.categories.rules).category in NOTHING_TO_CANCEL
            if gone:
                summary["nothing_to_cancel"] = errorbody.cut_message(err.message)[:300]
            if not gone and err.outcome_unknown:
                gone = await self._quietly(self._outcome_of(work, sent), work, err, default=known) is None
            if not gone:
                await self._failure(work, err, report, operation=summary["operation"], summary=summary,
                                    in_doubt=err.outcome_unknown)
        work.known = None
        self._attempt(work, summary["operation"], summary, OUTCOME_SUCCESS, booking_uid=known.uid)
        if rebook:
            report.rebooked += 1
        else:
            report.cancelled += 1
        self._done_log(work, summary["operation"], known.uid)
        work.pending.update(self._known_values(work), sent=None, needs_lookup=False)

    def _booked_client(self, known: Booking | None) -> CalcomClient:
        """The client of the account ``known`` was booked in: after a staff member moved to another
        account, the old booking is cancelled with the key that made it."""
        if (self.account is None or self._clients is None or known is None or not known.account
                or known.account == self.account):  # one account (self.account None): it made them all
            return self.client
        client = self._clients(known.account)
        if client is None:
            raise RuntimeError(f"booking {known.uid} was made through Cal.com account {known.account}, which has "
                               "no key configured ([[calcom.accounts]]): it cannot be cancelled from here")
        return client

    async def _quietly(self, lookup, work: _Work, err: CalcomError, default: Any = None) -> Any:
        """Right after an unknown outcome: what did the call do? A failing lookup is no answer."""
        try:
            return await lookup
        except CalcomError as lookup_err:
            log(logger, logging.INFO, "lookup after unknown outcome failed", appointment=work.appt.id,
                error=scrub_text(lookup_err.summary()[:300]), first_error=scrub_text(err.summary()[:300]))
            return default

    # --- outcomes -------------------------------------------------------------------------------

    def _known_values(self, work: _Work) -> dict[str, Any]:
        known = work.known
        values: dict[str, Any] = {"booked": known.to_json() if known is not None else None}
        if known is not None:
            values["booking_uid"] = known.uid
        return values

    def _attempt(self, work: _Work, operation: str, summary: dict | None, outcome: str, **fields: Any) -> None:
        now = clock.now()
        work.attempts.append(SyncAttempt(appointment_id=work.appt.id, at=now, worker=self.worker, operation=operation,
                                         request_summary=summary, outcome=outcome,
                                         duration_ms=_ms(work.started, now), **fields))
        if outcome != OUTCOME_PREFLIGHT:
            work.calls += 1

    async def _finish(self, work: _Work, state: str, report: SyncReport) -> None:
        """Nothing more to send: write the final state (synced, cancelled, skipped)."""
        _free_slot()
        now = clock.now()
        if work.calls:
            self.circuit.success()
        else:
            report.settled += 1
        values = {**queue.done(state, now=now), **self._known_values(work), **work.pending}
        if work.calls:
            values.update(attempts=queue.C.attempts + work.calls, last_attempt_at=now)
        if not await asyncio.to_thread(queue.record, self.db, work.appt, values, work.attempts):
            self._lost(work, report)
        if not work.calls:
            log(logger, logging.INFO, f"no Cal.com call needed: {state}", appointment=work.appt.id)

    def _done_log(self, work: _Work, operation: str, booking_uid: str | None) -> None:
        log(logger, logging.INFO, f"{operation} done", appointment=work.appt.id, booking_uid=booking_uid,
            duration_ms=_ms(work.started, clock.now()))

    async def _refuse(self, work: _Work, step: str, failure: Failure, report: SyncReport) -> None:
        """Pre-flight refused the next step: nothing is sent; a booking that exists stays as it is."""
        _free_slot()
        now = clock.now()
        self._attempt(work, step, None, OUTCOME_PREFLIGHT, category=failure.category, error_message=failure.message)
        values = {**queue.failed(work.appt, failure, now=now, attempted=False), **work.pending,
                  "sync_op": step}
        if work.calls:
            values.update(attempts=queue.C.attempts + work.calls, last_attempt_at=now)
        if await asyncio.to_thread(queue.record, self.db, work.appt, values, work.attempts):
            report.preflight += 1
            report.by_category[failure.category] = report.by_category.get(failure.category, 0) + 1
            log(logger, logging.INFO, "refused before sending", appointment=work.appt.id, category=failure.category)
        else:
            self._lost(work, report)

    def _lost(self, work: _Work, report: SyncReport | None) -> None:
        if report is not None:
            report.lost_lease += 1
        log(logger, logging.WARNING, "claim lost before the outcome was written", appointment=work.appt.id)
        raise _Stop()

    async def _failure(self, work: _Work, err: CalcomError, report: SyncReport, *, operation: str,
                       summary: dict | None = None, in_doubt: bool) -> None:
        """Record a failed call (or lookup) and stop. ``in_doubt``: the call may have reached Cal.com;
        what was sent stays written down and is settled first next time."""
        _free_slot()
        appt = work.appt
        if err.kind == KIND_NOT_SENT:  # stopping: nothing reached Cal.com, give the claim back
            report.released += await asyncio.to_thread(queue.release, self.db, [appt])
            raise _Stop()
        now = clock.now()
        message = errorbody.cut_message(err.message)
        failure = failure_from_response(err.status, err.code, message, self.settings.categories.rules)
        policy = cats.get(failure.category)
        if policy.pauses_sync:  # at once, before any await: the rest of the batch is released unsent
            self.auth_error = err
        transient = policy.retried
        if policy.retry == cats.RETRY_BACKOFF:
            self.circuit.failure(now)
        elif policy.retry != cats.RETRY_AFTER_RESET:
            self.circuit.success()  # Cal.com answered: it is up
        attempts_after = appt.attempts + work.calls + 1
        if policy.pauses_sync:
            values = queue.retry_later(appt, failure, now=now, delay_s=0)
            outcome = OUTCOME_RETRY
        elif (transient or in_doubt) and attempts_after < self.settings.sync.max_attempts:
            delay = (self._rate_limit_delay() if policy.retry == cats.RETRY_AFTER_RESET
                     else self.backoff.delay(attempts_after))
            values = queue.retry_later(appt, failure, now=now, delay_s=delay)
            outcome = OUTCOME_UNKNOWN if in_doubt else OUTCOME_RETRY
        else:
            values = queue.failed(appt, failure, now=now)
            outcome = OUTCOME_FAILED
        values.update(work.pending)
        values["attempts"] = queue.C.attempts + work.calls + 1
        values["sync_op"] = operation if operation != "lookup" else appt.sync_op
        if in_doubt:
            values["needs_lookup"] = True
            values.pop("sent", None)  # keep what was sent: it is what the next lookup searches for
        elif operation != "lookup":
            values["sent"] = None
        body = await asyncio.to_thread(errorbody.for_attempt, self.db, appt.id, err.body)
        self._attempt(work, operation, summary, outcome, http_status=err.status, error_code=err.code,
                      error_message=message, error_body=body, category=failure.category)
        ok = await asyncio.to_thread(queue.record, self.db, appt, values, work.attempts)
        if not ok:
            report.lost_lease += 1
        elif outcome == OUTCOME_FAILED:
            report.failed += 1
            report.by_category[failure.category] = report.by_category.get(failure.category, 0) + 1
        else:
            report.retry += 1
        log(logger, logging.INFO if transient else logging.WARNING, f"{operation} failed", appointment=appt.id,
            status=err.status, category=failure.category, outcome=outcome, error=scrub_text(message[:300]))
        if policy.pauses_sync:
            raise AuthRefused(err)
        raise _Stop()

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


def _sent_for(work: _Work, step: str) -> dict[str, Any]:
    """What a step sends, as it is written down before it goes out (``Appointment.sent``)."""
    if step == OP_CREATE:
        return {"op": OP_CREATE, "booking": work.want.to_json()}
    if step == OP_RESCHEDULE:
        return {"op": OP_RESCHEDULE, "uid": work.known.uid,
                "booking": replace(work.known, start=work.appt.start_at).to_json()}
    return {"op": OP_CANCEL, "uid": work.known.uid}


def _request(want: Booking, appointment_id: str) -> dict[str, Any]:
    """The create call for ``want`` (changes.wanted): attendee email, else phone."""
    return {
        "start": want.start,
        "event_type_id": want.event_type_id,
        "attendee_name": want.name or f"Customer {want.customer_id}",
        "attendee_time_zone": want.time_zone or "UTC",
        "attendee_email": want.email,
        "attendee_phone": want.phone if not want.email else None,
        "metadata": {METADATA_APPOINTMENT_KEY: appointment_id},
    }


def _summary(sent: dict[str, Any], appointment_id: str) -> dict[str, Any]:
    """What a create sent, for the attempt log: no secrets, contact details masked."""
    from synconsole.core.pii import mask_email, mask_phone

    asked = sent.get("booking") or {}
    return {
        "operation": "create",
        "start": clock.iso(clock.parse_utc(asked["start"])) if asked.get("start") else None,
        "eventTypeId": asked.get("event_type_id"),
        "attendee": {"name": asked.get("name"), "timeZone": asked.get("time_zone"),
                     "email": mask_email(asked.get("email")), "phoneNumber": mask_phone(asked.get("phone"))},
        "metadata": {METADATA_APPOINTMENT_KEY: appointment_id},
    }


def _first_occurrence(series: list[dict[str, Any]], start: datetime) -> dict[str, Any]:
    """The occurrence of a series at the appointment's start (Cal.com's first), else the earliest."""
    at_start = [b for b in series if _starts_at(b, start)]
    return at_start[0] if at_start else min(series, key=lambda b: str(b.get("start")))


def _starts_at(booking: dict[str, Any], start: datetime) -> bool:
    try:
        return clock.parse_utc(str(booking.get("start"))) == start
    except ValueError:
        return False


def _ms(started: datetime, now: datetime) -> int:
    return max(0, int((now - started).total_seconds() * 1000))
